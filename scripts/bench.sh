#!/usr/bin/env bash
# `make bench`: takeover and dump figures from one run of the cluster harness,
# turned into bench/results.json, bench/report.md and PNG plots.
#   scripts/bench.sh OUT HARNESS HARNESS-ARGS...
# BENCH_ARGS (e.g. "--runs 3 --baseline-runs 1") shortens a trial run.
set -euo pipefail
. "$(dirname "$0")/common.sh"
out=$1
shift
step "bench: samples into $out/samples.json (about 15 min on 2 cores)"
# shellcheck disable=SC2086
"$@" bench --out "$out" ${BENCH_ARGS:-}
step "bench: results.json, report.md and plots"
"$CT_CACHE/venv/bin/python" "$CT_ROOT/qemu-test/bench_report.py" "$out"
step "bench: report in $out/report.md"
