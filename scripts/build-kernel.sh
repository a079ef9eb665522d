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
    ct_evict_stale_kernels "$kdir"
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

# Once vmlinux and bzImage exist, the kernel's own objects are dead weight:
# an out-of-tree module build reads the headers, .config, Module.symvers,
# scripts/ (modpost, fixdep) and the Rust crates' metadata under rust/, and
# the tests read vmlinux, bzImage and tools/net/ynl. Measured on the default
# flavour: 3.1 GiB before, 2.1 GiB after, and coretakeover.ko and the test
# module still build. The tree is never rebuilt in place (the stamp below
# says it is finished), so nothing needs the objects again.
trim_build_tree() {
    local before after
    before=$(ct_disk_bytes "$kdir")
    find "$kdir" \( -path "$kdir/rust" -o -path "$kdir/scripts" -o -path "$kdir/tools" \) -prune -o \
        \( -name '*.o' -o -name '*.ko' \) -type f -print0 | xargs -0r rm -f
    rm -f "$kdir"/.tmp_vmlinux*
    after=$(ct_disk_bytes "$kdir")
    step "test kernel ($CT_KERNEL_FLAVOR): removed the kernel's own objects ($(ct_human "$before") -> $(ct_human "$after"))"
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
trim_build_tree
touch "$stamp"
step "test kernel ($CT_KERNEL_FLAVOR): built in $(( $(date +%s) - start )) s ($kdir, $(ct_human "$(ct_disk_bytes "$kdir")"))"
ct_evict_stale_kernels "$kdir"
echo "$kdir"
