#!/usr/bin/env bash
# Opens a vmcore with Debian 13's crash (8.0.6; Debian 12's 8.0.2 cannot read
# a 6.4+ dump), from the root scripts/setup.sh keeps under the cache (fetched
# once per machine, never in this machine's apt sources), and runs what a
# kernel engineer starts with: sys, the panic task's bt, bt -a, kmem -i, the
# slab caches (kmem -s, which needs the full SLUB layout) and the end of the
# log. Prints crash's output; exits 1 if crash cannot open the dump, says
# nothing of the panic, shows a CPU without a stack, or reports an error.
# make check runs the same checks in its dump scenarios (qemu-test's
# crash_tool); this script is for a vmcore at hand, such as the demo's.
#   scripts/crash-check.sh VMCORE VMLINUX [CRASH-ARGS...]
set -euo pipefail
. "$(dirname "$0")/common.sh"
vmcore=${1:?vmcore} vmlinux=${2:?vmlinux}
shift 2
[ "$(id -u)" = 0 ] || die "run as root (chroot)"
[ -x "$CT_CRASH_ROOT/usr/bin/crash" ] || "$CT_ROOT/scripts/setup.sh"
work=$(mktemp -d "$CT_CRASH_ROOT/tmp/check.XXXXXX")
trap 'rm -rf "$work"' EXIT
in=/tmp/${work##*/}
ln "$vmcore" "$work/vmcore" 2>/dev/null || cp "$vmcore" "$work/vmcore"
ln "$vmlinux" "$work/vmlinux" 2>/dev/null || cp "$vmlinux" "$work/vmlinux"
# crash pipes through a shell it may not find in a minimal root: long
# outputs go to files, whose ends are shown here.
cat > "$work/commands" <<CMDS
sys
bt
bt -a
kmem -i
kmem -s > $in/kmem-s.txt
log > $in/log.txt
exit
CMDS
chroot "$CT_CRASH_ROOT" crash --version | grep -m 1 '^crash'
step "crash -s vmlinux vmcore $*"
chroot "$CT_CRASH_ROOT" crash -s "$@" -i "$in/commands" "$in/vmlinux" "$in/vmcore" </dev/null 2>&1 | tee "$work/out.txt"
step "kmem -s: $(($(wc -l < "$work/kmem-s.txt" 2>/dev/null || echo 1) - 1)) slab caches; the first ones:"
head -n 6 "$work/kmem-s.txt" 2>/dev/null || true
step "log: the last lines"
tail -n 5 "$work/log.txt" 2>/dev/null || true
bad=0
grep -q '^ *PANIC: "' "$work/out.txt" || { echo "crash: no PANIC line in sys" >&2; bad=1; }
grep -q ' vpanic at ' "$work/out.txt" || { echo "crash: no vpanic() frame (panic's body) in bt" >&2; bad=1; }
cpus=$(awk '$1 == "CPUS:" { print $2; exit }' "$work/out.txt")
for ((cpu = 0; cpu < ${cpus:-0}; cpu++)); do
    # bt -a: each CPU's block starts with "PID: ... CPU: N" and has frames.
    awk -v cpu="$cpu" '/^PID: / { on = ($0 ~ "CPU: " cpu " ") } on && /^ *#1 / { found = 1 } END { exit !found }' "$work/out.txt" ||
        { echo "crash: bt -a shows no stack on CPU $cpu" >&2; bad=1; }
done
[ "${cpus:-0}" -ge 1 ] || { echo "crash: sys shows no CPUS line" >&2; bad=1; }
[ "$(wc -l < "$work/kmem-s.txt" 2>/dev/null || echo 0)" -gt 10 ] || { echo "crash: kmem -s listed no caches" >&2; bad=1; }
if grep -E '^(crash|bt|sys|kmem): ' "$work/out.txt" >&2; then bad=1; fi
[ "$bad" = 0 ] && step "crash read the dump" || die "crash could not read the dump"
