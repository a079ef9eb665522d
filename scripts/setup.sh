#!/usr/bin/env bash
# Installs what building and testing coretakeover needs, and nothing twice.
# Debian packages come from the machine's default suites only (no backports,
# testing or sid: they upgrade libc and break the machine).
set -euo pipefail
. "$(dirname "$0")/common.sh"

APT_PACKAGES=(
    # Kernel source and a Rust toolchain with rust-src, plus libclang for bindgen.
    linux-source-6.12 rustc-web rust-web-src libclang-dev clang
    # Kernel build dependencies.
    bc flex bison libelf-dev libssl-dev cpio dwarves xz-utils kmod make gcc
    # The cluster: QEMU with its iSCSI initiator, tgt as the light array type.
    qemu-system-x86 qemu-block-extra tgt
    # Guest userland and test tools.
    busybox-static sg3-utils libiscsi-bin python3 python3-venv python3-yaml
    # systemd-analyze, to verify the unit scripts/deploy ships.
    systemd
    # The NFS scenarios' guests run knfsd's userland (nfs-utils), ext4's
    # mkfs, and resource-agents' send_arp and tickle_tcp from this machine's
    # root: installed here, never started here (see below).
    nfs-kernel-server e2fsprogs iproute2 resource-agents
    # The bench's kdump baseline: kexec on node A, fence_kdump (the listener,
    # on B) and fence_kdump_send (in A's capture initramfs), all Debian's;
    # fence-agents' fencing.py also runs fence_coretakeover in the guests.
    kexec-tools fence-agents
    # ocf-tester (resource-agents) validates the OCF agent's meta-data with it.
    libxml2-utils
    # The multipath scenarios' nodes run multipathd, mpathpersist and udevd
    # (which multipath-tools pulls in) from this machine's root.
    multipath-tools
    # The array guest's dm-delay under its LUNs (scenarios held-writes*):
    # the host's dmsetup (multipath-tools pulls it in too; named here since
    # the array uses it directly).
    dmsetup
    # The Pacemaker scenarios' nodes run corosync and Pacemaker, Debian's,
    # and resource-agents' portblock, which needs iptables.
    corosync pacemaker pacemaker-cli-utils iptables
    # The vmcore checks: makedumpfile shrinks a saved vmcore (as kdump users
    # do); debootstrap fetches the root crash runs in (below).
    makedumpfile debootstrap
)
# Packages whose daemons must not run on this machine: the guests run them.
NO_START=(nfs-server.service rpcbind.service rpcbind.socket kexec-load.service kexec.service multipathd.service multipathd.socket corosync.service pacemaker.service)
# Python packages for the test venv (pinned); drgn reads vmcores, matplotlib
# draws the benchmark plots.
VENV_PACKAGES=(drgn==0.3.0 PyYAML==6.0.3 jsonschema==4.26.0 matplotlib==3.10.7)

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    [ "$(id -u)" = 0 ] || die "missing packages (${missing[*]}); run this script as root"
    step "apt: installing ${missing[*]}"
    apt-get update -q >/dev/null
    # No service of these packages starts here (Debian's policy-rc.d
    # mechanism, only for this install, if the machine has none of its own),
    # and none is enabled for the next boot.
    own_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\n# coretakeover setup: start no service while installing\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    # kexec-tools must never take over this machine's reboots.
    echo "kexec-tools kexec-tools/load_kexec boolean false" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
        { [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d; die "apt-get install failed"; }
    [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
    if [ -d /run/systemd/system ]; then
        systemctl disable -q "${NO_START[@]}" 2>/dev/null || true
        step "apt: ${NO_START[*]} disabled on this machine (the test guests run them)"
    fi
else
    step "apt: all ${#APT_PACKAGES[@]} packages present"
fi

command -v cargo >/dev/null || die "cargo not found (the userspace crates use the machine's rustup toolchain)"
if [ -x "$CT_BINDGEN" ] && "$CT_BINDGEN" --version 2>/dev/null | grep -q " $CT_BINDGEN_VERSION\$"; then
    step "bindgen $CT_BINDGEN_VERSION present"
else
    step "cargo: installing bindgen-cli $CT_BINDGEN_VERSION from crates.io"
    cargo install -q bindgen-cli --version "$CT_BINDGEN_VERSION" --locked
fi

venv=$CT_CACHE/venv
stamp=$venv/.packages
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${VENV_PACKAGES[*]}" ]; then
    step "test venv present ($venv)"
else
    step "python: creating test venv $venv (${VENV_PACKAGES[*]})"
    mkdir -p "$CT_CACHE"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "${VENV_PACKAGES[@]}"
    echo "${VENV_PACKAGES[*]}" > "$stamp"
fi

# crash's root (scripts/common.sh says why a root of its own): about 230 MB
# from Debian's mirror, under a minute here, once per machine.
if [ -f "$CT_CRASH_ROOT/.coretakeover" ] && [ "$(cat "$CT_CRASH_ROOT/.coretakeover")" = "$CT_CRASH_STAMP" ] &&
    [ -x "$CT_CRASH_ROOT/usr/bin/crash" ]; then
    step "crash root present ($CT_CRASH_ROOT)"
else
    [ "$(id -u)" = 0 ] || die "crash's root ($CT_CRASH_ROOT) is missing; run this script as root (debootstrap)"
    mirror=$(ct_debian_mirror)
    [ -n "$mirror" ] || die "no Debian mirror in this machine's apt sources (for debootstrap)"
    step "debootstrap: Debian 13 (minbase + crash) into $CT_CRASH_ROOT, about 230 MB, once per machine"
    rm -rf "$CT_CRASH_ROOT.new"
    mkdir -p "$CT_CACHE"
    debootstrap --variant=minbase --include=crash trixie "$CT_CRASH_ROOT.new" "$mirror" >"$CT_CACHE/crash-debootstrap.log" 2>&1 ||
        { tail -n 20 "$CT_CACHE/crash-debootstrap.log" >&2; rm -rf "$CT_CRASH_ROOT.new"; die "debootstrap of crash's root failed"; }
    rm -f "$CT_CACHE/crash-debootstrap.log"
    # Only what crash needs stays: no package cache.
    rm -rf "$CT_CRASH_ROOT.new/var/cache/apt/archives/"*.deb
    echo "$CT_CRASH_STAMP" > "$CT_CRASH_ROOT.new/.coretakeover"
    rm -rf "$CT_CRASH_ROOT"
    mv "$CT_CRASH_ROOT.new" "$CT_CRASH_ROOT"
    step "crash root ready: $(chroot "$CT_CRASH_ROOT" crash --version 2>/dev/null | grep -m 1 "^crash")"
fi
