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

# The directory of the cached test kernel for the current fragment and tools.
# Key: Debian package version + hash of (fragment, rustc version, bindgen version).
ct_kernel_dir() {
    local pkgver hash
    pkgver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null) || pkgver=unknown
    hash=$( { cat "$CT_ROOT/scripts/kernel.config"; "$CT_RUSTC" --version 2>/dev/null; \
              echo "bindgen $CT_BINDGEN_VERSION"; } | sha256sum | cut -c1-12)
    printf '%s/kernel/linux-%s-%s\n' "$CT_CACHE" "$pkgver" "$hash"
}
