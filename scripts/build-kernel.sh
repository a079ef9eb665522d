#!/usr/bin/env bash
# Builds the Rust-enabled 6.12 test kernel into the cache, keyed by the Debian
# package version and a hash of the config fragment and toolchain, and reuses
# it when present. Prints the kernel directory (usable as KDIR) on stdout.
#
#   scripts/build-kernel.sh              build if missing, print the directory
#   scripts/build-kernel.sh --print-kdir print the directory, build nothing
set -euo pipefail
. "$(dirname "$0")/common.sh"

kdir=$(ct_kernel_dir)
if [ "${1:-}" = --print-kdir ]; then echo "$kdir"; exit 0; fi

stamp=$kdir/.coretakeover-complete
if [ -f "$stamp" ]; then
    step "test kernel: cached ($kdir)"
    echo "$kdir"
    exit 0
fi

[ -f "$CT_KERNEL_TARBALL" ] || die "$CT_KERNEL_TARBALL missing: run scripts/setup.sh"
mkdir -p "$(dirname "$kdir")"
exec 9>"$kdir.lock"
flock 9
[ -f "$stamp" ] && { echo "$kdir"; exit 0; }

kmake() {
    make -C "$kdir" -s -j"$(nproc)" RUSTC="$CT_RUSTC" HOSTRUSTC="$CT_RUSTC" BINDGEN="$CT_BINDGEN" \
        ${CT_KERNEL_MAKE_ARGS[@]+"${CT_KERNEL_MAKE_ARGS[@]}"} "$@"
}

start=$(date +%s)
if [ ! -f "$kdir/Makefile" ]; then
    step "test kernel: unpacking $CT_KERNEL_TARBALL"
    tmp=$kdir.unpack
    rm -rf "$tmp" && mkdir -p "$tmp"
    tar -xf "$CT_KERNEL_TARBALL" -C "$tmp" --strip-components=1
    mv "$tmp" "$kdir"
fi

step "test kernel ($CT_KERNEL_FLAVOR): configuring (tinyconfig + ${CT_KERNEL_FRAGMENTS[*]##*/})"
kmake tinyconfig >/dev/null
cat "${CT_KERNEL_FRAGMENTS[@]}" > "$kdir/kernel/configs/coretakeover.config"
kmake coretakeover.config >/dev/null
# Every option of the fragments must have survived dependency resolution.
lost=0
while IFS= read -r line; do
    case $line in CONFIG_*=*) ;; *) continue ;; esac
    grep -qx "$line" "$kdir/.config" || { echo "  not applied: $line" >&2; lost=1; }
done < "$kdir/kernel/configs/coretakeover.config"
[ $lost = 0 ] || die "the config fragment did not apply; fix ${CT_KERNEL_FRAGMENTS[*]##*/}"
# Out-of-tree modules must be built with the same compiler flags.
echo "${CT_KERNEL_MAKE_ARGS[*]}" > "$kdir/.coretakeover-make-args"
kmake rustavailable >/dev/null || die "Rust is not available for this kernel (rustc $CT_RUSTC, bindgen $CT_BINDGEN)"

step "test kernel ($CT_KERNEL_FLAVOR): building bzImage, vmlinux, Rust crates (takes minutes the first time)"
kmake all
touch "$stamp"
step "test kernel ($CT_KERNEL_FLAVOR): built in $(( $(date +%s) - start )) s ($kdir)"
echo "$kdir"
