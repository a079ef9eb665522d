# Shared by the scripts under scripts/: where things live, how to say what we do.
# Sourced, not run.

CT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Build products that outlive a clone (the test kernel, the test venv) go here.
CT_CACHE=${CORETAKEOVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/coretakeover}
# Debian's rustc ships rust-src, which the kernel needs; rustup's may not.
CT_RUSTC=${CT_RUSTC:-/usr/bin/rustc}
CT_BINDGEN_VERSION=0.71.1
CT_CARGO_BIN=${CARGO_HOME:-$HOME/.cargo}/bin
CT_BINDGEN=${CT_BINDGEN:-$CT_CARGO_BIN/bindgen}
CT_KERNEL_TARBALL=/usr/src/linux-source-6.12.tar.xz

step() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Kernel flavours: "default" (scripts/kernel.config) and "debug" (the same plus
# scripts/kernel-debug.config: lockdep, KASAN, UBSAN, ...). Rust with KASAN
# needs a clang-built kernel, so the debug flavour is compiled with CC=clang;
# the flags are recorded in <kdir>/.coretakeover-make-args for module builds.
CT_KERNEL_FLAVOR=${CT_KERNEL_FLAVOR:-default}
case $CT_KERNEL_FLAVOR in
    default) CT_KERNEL_FRAGMENTS=("$CT_ROOT/scripts/kernel.config"); CT_KERNEL_MAKE_ARGS=() ;;
    debug) CT_KERNEL_FRAGMENTS=("$CT_ROOT/scripts/kernel.config" "$CT_ROOT/scripts/kernel-debug.config")
           CT_KERNEL_MAKE_ARGS=(CC=clang) ;;
    *) die "unknown CT_KERNEL_FLAVOR $CT_KERNEL_FLAVOR (default or debug)" ;;
esac

# The directory of the cached test kernel for the current fragments and tools.
# Key: Debian package version + hash of (fragments, rustc version, bindgen
# version, and for the debug flavour the C compiler's version).
ct_kernel_dir() {
    local pkgver hash name
    pkgver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null) || pkgver=unknown
    if [ "$CT_KERNEL_FLAVOR" = default ]; then
        hash=$( { cat "$CT_ROOT/scripts/kernel.config"; "$CT_RUSTC" --version 2>/dev/null; \
                  echo "bindgen $CT_BINDGEN_VERSION"; } | sha256sum | cut -c1-12)
        name=linux-$pkgver-$hash
    else
        hash=$( { cat "${CT_KERNEL_FRAGMENTS[@]}"; "$CT_RUSTC" --version 2>/dev/null; \
                  echo "bindgen $CT_BINDGEN_VERSION"; echo "${CT_KERNEL_MAKE_ARGS[*]}"; \
                  clang --version 2>/dev/null | head -1; } | sha256sum | cut -c1-12)
        name=linux-$pkgver-$CT_KERNEL_FLAVOR-$hash
    fi
    printf '%s/kernel/%s\n' "$CT_CACHE" "$name"
}

# The flavour a cached kernel directory's name belongs to (debug or default),
# or nothing when the name is not one of ours.
ct_kernel_dir_flavor() {
    case ${1##*/} in
        linux-*-debug-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]) echo debug ;;
        linux-*-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]) echo default ;;
    esac
}

# crash, the kdump reader most kernel engineers start with: Debian 13's
# (8.0.6; Debian 12's 8.0.2 cannot read a 6.4+ dump) in a debootstrap root of
# its own under the cache, fetched once per machine, never in this machine's
# apt sources. The stamp names what the root holds.
CT_CRASH_ROOT=$CT_CACHE/crash-trixie
CT_CRASH_STAMP="trixie minbase + crash"

# The Debian mirror this machine's apt sources use for bookworm (for
# debootstrap), or nothing.
ct_debian_mirror() {
    local mirror
    mirror=$(awk '/^URIs:/ { uri = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") { print uri; exit } }' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
    printf '%s\n' "$mirror"
}

# Bytes allocated under a path (0 when it is missing), and the same for people.
ct_disk_bytes() { du -sB1 "$1" 2>/dev/null | cut -f1 || echo 0; }
ct_human() { numfmt --to=iec-i --suffix=B --format=%.1f "${1:-0}"; }

# Removes the cached builds of this flavour that the current fragments and
# tools can no longer use (their hash differs), saying what went and how much
# it freed. A build another process holds locked (building it now) is left.
ct_evict_stale_kernels() {
    local keep=$1 dir freed
    for dir in "$CT_CACHE"/kernel/linux-*; do
        [ -d "$dir" ] && [ "$dir" != "$keep" ] || continue
        # An unpack left by an interrupted build of the same flavour goes too.
        [ "$(ct_kernel_dir_flavor "${dir%.unpack}")" = "$CT_KERNEL_FLAVOR" ] || continue
        if ! flock -n "${dir%.unpack}.lock" true 2>/dev/null; then
            step "kernel cache: ${dir##*/} is being built by another process; left"
            continue
        fi
        freed=$(ct_disk_bytes "$dir")
        rm -rf "$dir" "${dir%.unpack}.lock"
        step "kernel cache: removed the stale $CT_KERNEL_FLAVOR build ${dir##*/} ($(ct_human "$freed") freed)"
    done
}
