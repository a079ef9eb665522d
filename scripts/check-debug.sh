#!/usr/bin/env bash
# `make check-debug`: every QEMU scenario on the debug kernel (lockdep, KASAN,
# UBSAN, DEBUG_ATOMIC_SLEEP, DEBUG_LIST), then every console log is searched
# for a report of those checkers, a WARNING or a BUG, from the moment one of
# our modules (coretakeover, or the test-only ct_panic_trigger) is loaded in
# that boot. The one BUG a scenario causes on purpose (sysrq-c's NULL
# dereference) is allowed, and so is nfsd's warning for EBADE on a node that
# was fenced (see below); nothing else is. Reports from before the first
# load (the kernel's own boot) are printed but do not count.
# Ends with one line "N passed, N failed": the scenarios, plus one count for
# the log scan.
#   scripts/check-debug.sh HARNESS HARNESS-ARGS...
# CT_SCENARIOS="a b" runs only those scenarios (make check-debug CT_SCENARIOS=...).
set -uo pipefail
. "$(dirname "$0")/common.sh"

step "QEMU scenarios on the debug kernel: $* check"
log=$(mktemp)
# shellcheck disable=SC2086 # the names are words
"$@" --run-kind check-debug check ${CT_SCENARIOS:-} 2>&1 | tee "$log"
qemu_rc=${PIPESTATUS[0]}
read -r passed failed < <(awk '/^[0-9]+ passed, [0-9]+ failed$/ { p = $1; f = $3 } END { print p + 0, f + 0 }' "$log")
results=$(sed -n 's/^results: \(.*\) ([^)]*)$/\1/p; t; s/^results: //p' "$log" | tail -n 1)
rm -f "$log"
if [ "$qemu_rc" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi

step "console logs: no WARNING, BUG, KASAN, UBSAN, lockdep or list report"
reports='WARNING:|BUG:|KASAN|UBSAN|possible circular locking|inconsistent lock state|possible recursive locking|suspicious RCU usage|lock held when returning|list_add corruption|list_del corruption|sleeping function called from invalid context|scheduling while atomic|DEBUG_LOCKS_WARN_ON'
allowed='BUG: kernel NULL pointer dereference, address: 0000000000000000'
found=0
if [ -z "$results" ] || [ ! -d "$results" ]; then
    echo "no results directory from the scenarios" >&2
    found=1
else
    while IFS= read -r console; do
        # Only what happens once one of our modules is loaded counts: the
        # kernel's own boot before that (and the array guest, which never
        # loads one) is not our code; its reports are shown, not counted.
        start=$(grep -n -m1 -E 'coretakeover: version .* loaded|ct_panic_trigger' "$console" | cut -d: -f1)
        before=$(head -n "$(( ${start:-0} > 0 ? start - 1 : 1000000000 ))" "$console" | grep -E "$reports")
        if [ -n "$before" ]; then
            echo "${console#"$results"/} (before any coretakeover module was loaded; not counted):"
            printf '%s\n' "$before" | head -n 5 | sed 's/^/    /'
        fi
        [ -n "$start" ] || continue
        ours=$(tail -n "+$start" "$console")
        hits=$(printf '%s\n' "$ours" | grep -E "$reports" | grep -vF "$allowed")
        # sysrq-c's NULL dereference is allowed only where sysrq-c was used.
        if printf '%s\n' "$ours" | grep -qF "$allowed" && ! printf '%s\n' "$ours" | grep -q 'sysrq: Trigger a crash'; then
            hits+=$'\n'"$(printf '%s\n' "$ours" | grep -F "$allowed")"
        fi
        # A fenced node's writes fail with EBADE (reservation conflict), and
        # 6.12's nfsd has no entry for EBADE in nfserrno(): it answers
        # NFSERR_IO and warns once. That is the fence working (the write never
        # reached the disk), so it is allowed on a node whose own console
        # showed a reservation conflict before the warning; not elsewhere.
        nfsd_warn='at fs/nfsd/vfs.c:[0-9]+ nfserrno'
        if printf '%s\n' "$hits" | grep -qE "$nfsd_warn"; then
            conflict=$(printf '%s\n' "$ours" | grep -n -m1 'reservation conflict error' | cut -d: -f1)
            nonstd=$(printf '%s\n' "$ours" | grep -n -m1 'nfsd: non-standard errno: -52$' | cut -d: -f1)
            if [ -n "$conflict" ] && [ -n "$nonstd" ] && [ "$conflict" -lt "$nonstd" ]; then
                echo "${console#"$results"/}: nfsd's EBADE warning after a reservation conflict (the node was fenced): allowed"
                hits=$(printf '%s\n' "$hits" | grep -vE "$nfsd_warn")
            fi
        fi
        hits=$(printf '%s\n' "$hits" | sed '/^$/d')
        if [ -n "$hits" ]; then
            echo "${console#"$results"/}:"
            printf '%s\n' "$hits" | head -n 20 | sed 's/^/    /'
            found=1
        fi
    done < <(find "$results" -name '*.console.log' | sort)
    echo "scanned $(find "$results" -name '*.console.log' | wc -l) console logs under $results"
fi
if [ "$found" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
"$CT_ROOT/scripts/disk-use.sh"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
