#!/usr/bin/env bash
# The one line of disk use that `make check`, `bench`, `check-debug` and
# `demo` print at their end: what the runs keep under results/ (and demo-out/,
# bench/) and the size of the cache outside the repository.
#   scripts/disk-use.sh
set -uo pipefail
. "$(dirname "$0")/common.sh"
cd "$CT_ROOT" || exit 0
runs=$(find results -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l)
line="disk: results/ keeps $(ct_human "$(ct_disk_bytes results)") ($runs runs)"
[ -d demo-out ] && line+=", demo-out/ $(ct_human "$(ct_disk_bytes demo-out)")"
kernels=$(find "$CT_CACHE/kernel" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l)
line+="; cache $(ct_human "$(ct_disk_bytes "$CT_CACHE")") in $CT_CACHE ($kernels kernel builds $(ct_human "$(ct_disk_bytes "$CT_CACHE/kernel")"), venv $(ct_human "$(ct_disk_bytes "$CT_CACHE/venv")"))"
echo "$line"
