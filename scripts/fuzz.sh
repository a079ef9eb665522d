#!/usr/bin/env bash
# Fuzzes the functional core's parsers (label, dump header of every
# version, heartbeat, RAM ranges, the dump's checksum table, a compressed
# dump's chunk table, a filtered dump's page map, the key block, the
# dump_key line), savecore's walk of the kernel log in dumped RAM and
# savecore's whole read path over a crafted disk image, with cargo-fuzz
# (libFuzzer), on the same code the module and the command run.
#   scripts/fuzz.sh [RUNS-PER-TARGET]     default 1000000
# Prints each target's executions and ends "N passed, N failed".
set -uo pipefail
. "$(dirname "$0")/common.sh"
runs=${1:-1000000}
version=0.13.1
if ! cargo fuzz --version 2>/dev/null | grep -q " $version"; then
    step "cargo: installing cargo-fuzz $version from crates.io"
    cargo install -q cargo-fuzz --version "$version" --locked || die "cargo-fuzz install failed"
fi
cd "$CT_ROOT/rust/core/fuzz"
# libFuzzer's instrumentation needs unstable rustc flags; the stable
# toolchain accepts them with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
passed=0 failed=0 total=0
for target in label header heartbeat ranges table notes pagemap chunktable keyblock dumpkey dmesg savecore; do
    target_runs=$runs max_len=20000
    mkdir -p "corpus/$target"
    # The committed seeds (crafted inputs that once did harm) run first.
    if [ -d "seeds/$target" ]; then
        cp -n seeds/"$target"/* "corpus/$target/"
    fi
    if [ "$target" = savecore ]; then
        # Whole disk images, each written and read with O_DIRECT: about
        # 200 runs a second, so a quarter of the runs. Seeds: the crafted
        # headers, and small real dumps (a cut version 1, a version 2)
        # that the CLI's tests write in this target's layout.
        target_runs=$((runs / 4)) max_len=4194304
        cp -n seeds/header/* "corpus/$target/"
        CT_FUZZ_SAVECORE_SEEDS="$PWD/corpus/$target" cargo test -q --locked --manifest-path "$CT_ROOT/Cargo.toml" \
            -p coretakeover-cli --test coredump_disk savecore_fuzz_seeds >/dev/null 2>&1 ||
            { echo "  $target: FAILED (the seed dumps could not be written)"; failed=$((failed + 1)); continue; }
    fi
    step "fuzz: $target, $target_runs runs"
    log=$(mktemp)
    if cargo fuzz run -O "$target" "corpus/$target" -- -runs="$target_runs" -max_len="$max_len" -rss_limit_mb=512 >"$log" 2>&1; then
        execs=$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' | tail -1)
        if [ "${execs:-0}" -gt 0 ]; then
            echo "  $target: $execs executions, no crash"
            total=$((total + execs))
            passed=$((passed + 1))
        else
            # A target that ran nothing (no "Done N runs" from libFuzzer)
            # proves nothing: it fails.
            tail -n 30 "$log"
            echo "  $target: FAILED (libFuzzer reported no runs)"
            failed=$((failed + 1))
        fi
    else
        tail -n 30 "$log"
        echo "  $target: FAILED (the crashing input is under rust/core/fuzz/artifacts/$target/)"
        failed=$((failed + 1))
    fi
    rm -f "$log"
done
echo "fuzz executions in total: $total"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
