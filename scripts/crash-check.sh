#!/usr/bin/env bash
# Opens a vmcore with Debian 13's crash (8.0.6; Debian 12's 8.0.2 cannot read
# a 6.4+ dump) in a throw-away trixie chroot, without touching this machine's
# apt sources, and runs what a kernel engineer starts with: sys, the panic
# task's bt, bt -a, kmem -i, the slab caches (kmem -s, which needs the full
# SLUB layout) and the end of the log. Prints crash's output; exits 1 if
# crash cannot open the dump, says nothing of the panic or reports an error.
# Not part of make check (it fetches about 100 MB from Debian's mirror).
#   scripts/crash-check.sh VMCORE VMLINUX [CRASH-ARGS...]
set -euo pipefail
. "$(dirname "$0")/common.sh"
vmcore=${1:?vmcore} vmlinux=${2:?vmlinux}
shift 2
[ "$(id -u)" = 0 ] || die "run as root (debootstrap, chroot)"
mirror=$(awk '/^URIs:/ { uri = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") { print uri; exit } }' \
    /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || die "no Debian mirror in this machine's apt sources"
command -v debootstrap >/dev/null || die "debootstrap missing (apt-get install debootstrap)"
root=$(mktemp -d "${TMPDIR:-/tmp}/ct-crash.XXXXXX")
trap 'rm -rf "$root"' EXIT
step "debootstrap: trixie (minbase + crash) in $root"
debootstrap --variant=minbase --include=crash trixie "$root" "$mirror" >"$root.log" 2>&1 ||
    { tail -n 20 "$root.log"; rm -f "$root.log"; die "debootstrap failed"; }
rm -f "$root.log"
cp "$vmlinux" "$root/vmlinux"
ln "$vmcore" "$root/vmcore" 2>/dev/null || cp "$vmcore" "$root/vmcore"
# crash pipes through a shell it may not find in a minimal root: long
# outputs go to files, whose ends are shown here.
cat > "$root/commands" <<'CMDS'
sys
bt
bt -a
kmem -i
kmem -s > /kmem-s.txt
log > /log.txt
exit
CMDS
chroot "$root" crash --version | head -n 1
step "crash -s vmlinux vmcore $*"
chroot "$root" crash -s "$@" -i /commands /vmlinux /vmcore </dev/null 2>&1 | tee "$root/out.txt"
step "kmem -s: $(($(wc -l < "$root/kmem-s.txt") - 1)) slab caches; the first ones:"
head -n 6 "$root/kmem-s.txt"
step "log: the last lines"
tail -n 5 "$root/log.txt"
bad=0
grep -q '^ *PANIC: "' "$root/out.txt" || { echo "crash: no PANIC line in sys" >&2; bad=1; }
grep -q ' panic at ' "$root/out.txt" || { echo "crash: no panic() frame in bt" >&2; bad=1; }
[ "$(wc -l < "$root/kmem-s.txt")" -gt 10 ] || { echo "crash: kmem -s listed no caches" >&2; bad=1; }
if grep '^crash: ' "$root/out.txt" >&2; then bad=1; fi
[ "$bad" = 0 ] && step "crash read the dump" || die "crash could not read the dump"
