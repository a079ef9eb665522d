#!/usr/bin/env bash
# `make bench`: takeover and dump figures from one run of the cluster harness,
# turned into bench/results.json, bench/report.md and PNG plots.
#   scripts/bench.sh OUT HARNESS HARNESS-ARGS...
# BENCH_ARGS (e.g. "--runs 3 --baseline-runs 1") shortens a trial run.
set -euo pipefail
. "$(dirname "$0")/common.sh"
out=$1
shift
# The report says which code it measured.
CT_BENCH_COMMIT=$(git -C "$CT_ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ "$CT_BENCH_COMMIT" != unknown ] && ! git -C "$CT_ROOT" diff --quiet HEAD -- 2>/dev/null; then
    CT_BENCH_COMMIT="$CT_BENCH_COMMIT+changes"
fi
export CT_BENCH_COMMIT
step "bench: samples into $out/samples.json (about 15 min on 2 cores), code $CT_BENCH_COMMIT"
# shellcheck disable=SC2086
"$@" bench --out "$out" ${BENCH_ARGS:-}
step "bench: results.json, report.md and plots"
"$CT_CACHE/venv/bin/python" "$CT_ROOT/qemu-test/bench_report.py" "$out"
step "bench: report in $out/report.md"
