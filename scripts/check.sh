#!/usr/bin/env bash
# `make check`: the host tests of every crate, a short fuzz of every parser,
# then every QEMU scenario.
# Ends with one line "N passed, N failed" counting both.
#   scripts/check.sh HARNESS HARNESS-ARGS...
set -uo pipefail
. "$(dirname "$0")/common.sh"
harness=("$@")

step "host tests: cargo test (functional core, CLI, harness)"
log=$(mktemp)
cargo test --locked --workspace 2>&1 | tee "$log"
host_rc=${PIPESTATUS[0]}
read -r host_passed host_failed < <(awk '/^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i + 1) ~ /^passed/) p += $i
            if ($(i + 1) ~ /^failed/) f += $i
        }
    } END { print p + 0, f + 0 }' "$log")
rm -f "$log"
# A build failure runs no test but must still count as a failure, and so
# does a run that ran no test at all.
if [ "$host_rc" != 0 ] && [ "$host_failed" = 0 ]; then host_failed=1; fi
if [ "$host_passed" = 0 ] && [ "$host_failed" = 0 ]; then host_failed=1; fi

step "generated netlink tables match Documentation/netlink/specs/coretakeover.yaml"
if "$CT_ROOT/scripts/netlink-gen.sh" --check; then gen_passed=1 gen_failed=0; else gen_passed=0 gen_failed=1; fi

step "module layers: every file of the module uses only its own layer and those below"
if python3 "$CT_ROOT/scripts/module-layers.py" "$CT_ROOT"; then layers_passed=1 layers_failed=0; else layers_passed=0 layers_failed=1; fi

step "deployment: systemd-analyze verify of scripts/deploy's unit (a planted mistake must be caught)"
if "$CT_ROOT/scripts/verify-units.sh" "$CT_ROOT/target/x86_64-unknown-linux-gnu/release/coretakeover"; then units_passed=1 units_failed=0; else units_passed=0 units_failed=1; fi

step "fuzz smoke: every parser target, 20000 runs each (make fuzz runs more)"
log=$(mktemp)
"$CT_ROOT/scripts/fuzz.sh" 20000 2>&1 | tee "$log"
read -r fuzz_passed fuzz_failed < <(awk '/^[0-9]+ passed, [0-9]+ failed$/ { p = $1; f = $3 } END { print p + 0, f + 0 }' "$log")
rm -f "$log"
if [ "$fuzz_passed" = 0 ] && [ "$fuzz_failed" = 0 ]; then fuzz_failed=1; fi

step "QEMU scenarios: ${harness[*]} check"
log=$(mktemp)
"${harness[@]}" check 2>&1 | tee "$log"
qemu_rc=${PIPESTATUS[0]}
read -r qemu_passed qemu_failed < <(awk '/^[0-9]+ passed, [0-9]+ failed$/ { p = $1; f = $3 } END { print p + 0, f + 0 }' "$log")
rm -f "$log"
if [ "$qemu_rc" != 0 ] && [ "$qemu_failed" = 0 ]; then qemu_failed=1; fi
if [ "$qemu_passed" = 0 ] && [ "$qemu_failed" = 0 ]; then qemu_failed=1; fi

echo
echo "host tests:     $host_passed passed, $host_failed failed"
echo "netlink tables: $gen_passed passed, $gen_failed failed"
echo "module layers:  $layers_passed passed, $layers_failed failed"
echo "systemd units:  $units_passed passed, $units_failed failed"
echo "fuzz smoke:     $fuzz_passed passed, $fuzz_failed failed"
echo "QEMU scenarios: $qemu_passed passed, $qemu_failed failed"
# The disk line comes just before the count, which stays the last line.
"$CT_ROOT/scripts/disk-use.sh"
passed=$((host_passed + gen_passed + layers_passed + units_passed + fuzz_passed + qemu_passed))
failed=$((host_failed + gen_failed + layers_failed + units_failed + fuzz_failed + qemu_failed))
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
