#!/usr/bin/env bash
# Proves that the README's two commands work the first time on a fresh
# Debian 12 machine, whatever this machine already has: it makes a new
# bookworm root with debootstrap, gives it only what every machine of the
# project's kind comes with (make, CA certificates, the rustup toolchain),
# clones this repository into it and runs `make demo` then `make check`
# there, with an empty cache. Not part of `make check` (it builds the test
# kernel from scratch: about half an hour on 2 cores).
#
#   scripts/first-run-proof.sh [--keep] [WORKDIR]
#
# WORKDIR (default: a new directory under ${TMPDIR:-/tmp}) holds the root;
# it is removed at the end unless --keep is given. Must run as root. Ends
# with the time of each step and "N passed, N failed" over the two commands.
set -euo pipefail
. "$(dirname "$0")/common.sh"

keep=0
if [ "${1:-}" = --keep ]; then keep=1; shift; fi
[ "$(id -u)" = 0 ] || die "run as root (debootstrap, chroot, mounts)"
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/ct-first-run.XXXXXX")}
root=$work/root
mkdir -p "$root"

mounts=()
cleanup() {
    local i
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
        umount -l "${mounts[i]}" 2>/dev/null || true
    done
    # Never remove through a mount that is still there (/dev is bound in).
    if grep -qF " $work/" /proc/mounts; then
        step "mounts under $work remain; not removing it"
    elif [ "$keep" = 0 ]; then
        rm -rf "$work"
    else
        step "kept $work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
bind() { mkdir -p "$2"; mount --bind "$1" "$2"; mounts+=("$2"); }

# The machine's own default suites: bookworm's mirror for debootstrap, and
# its source lists (with bookworm-updates and bookworm-security) in the root.
mirror=$(ct_debian_mirror)
[ -n "$mirror" ] || die "no bookworm mirror in this machine's apt sources"

if ! command -v debootstrap >/dev/null; then
    step "apt: installing debootstrap"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >/dev/null
fi

t0=$(date +%s)
step "debootstrap: a minimal bookworm root in $root"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log"; die "debootstrap failed"; }
rm -f "$root/etc/apt/sources.list"
mkdir -p "$root/etc/apt/sources.list.d"
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && cp "$f" "$root$f"
done
cp /etc/resolv.conf "$root/etc/resolv.conf"

bind /proc "$root/proc"
bind /sys "$root/sys"
bind /dev "$root/dev"
bind /dev/pts "$root/dev/pts"
mkdir -p "$root/dev/shm"
mount -t tmpfs tmpfs "$root/dev/shm"; mounts+=("$root/dev/shm")

# What every machine of this kind has before anyone runs anything: make, CA
# certificates (with the local authorities this machine trusts, through
# which the package registries are reached), and the rustup toolchain
# (cargo, rustc), which cannot be fetched. Its proxies are copied; the
# toolchains are shared read-only.
step "the machine kind's own tools: make, ca-certificates, rustup's cargo"
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c 'apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends make ca-certificates >/dev/null'
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null 2>&1
fi
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$root/etc/pip.conf"
# The machine's network settings travel in its environment (CA bundles,
# proxies); the commands get those and nothing else of this shell's.
net_env=()
while IFS='=' read -r name value; do
    case $name in
        *_proxy|*_PROXY|SSL_CERT_*|*CA_BUNDLE*|*_CA_CERTS*|PIP_CERT|GIT_SSL_CAINFO) net_env+=("$name=$value") ;;
    esac
done < <(env)
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
mkdir -p "$root/root/.cargo/bin"
for tool in cargo rustc rustup rustdoc rustfmt cargo-clippy clippy-driver; do
    [ -e "$CT_CARGO_BIN/$tool" ] && cp -a "$CT_CARGO_BIN/$tool" "$root/root/.cargo/bin/"
done
bind "$rustup_home" "$root/root/.rustup"
mount -o remount,bind,ro "$root/root/.rustup"
t_root=$(date +%s)

step "a clone of this repository's HEAD"
git clone -q "$CT_ROOT" "$root/root/coretakeover"

passed=0 failed=0 times=()
for target in demo check; do
    step "chroot: make $target (logs: $work/make-$target.log)"
    start=$(date +%s)
    if chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb ${net_env[@]+"${net_env[@]}"} \
        PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        bash -c "cd /root/coretakeover && make $target" >"$work/make-$target.log" 2>&1; then
        passed=$((passed + 1)) result=passed
    else
        failed=$((failed + 1)) result=FAILED
        keep=1
    fi
    times+=("make $target: $result in $(( $(date +%s) - start )) s")
    tail -n 12 "$work/make-$target.log" | sed 's/^/    /'
done

echo
echo "fresh root made in $((t_root - t0)) s"
printf '%s\n' "${times[@]}"
[ "$failed" = 0 ] || echo "logs and the root kept in $work"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
