#!/bin/sh
# The array: exports its N virtio-scsi disks (target ids 0..N-1, backed by
# sparse images on the host) as LUNs 0..N-1 of one iSCSI target, through LIO,
# the kernel's SCSI target, configured in configfs. Persistent reservations
# are LIO's own SPC-3 implementation. Like a dual-controller array, it has
# two target ports (target portal groups 1 and 2, on TCP ports 3260 and
# 3261), each exporting every LUN: an initiator that logs in to both reaches
# each LUN over two I_T nexuses (the multipath scenarios). QEMU forwards only
# the iSCSI ports.
set -e
. /ct/lib.sh
luns=$1
iqn=iqn.2026-11.org.coretakeover:array
t=/sys/kernel/config/target

# LIO keeps persistent-reservation metadata (APTPL) here.
mkdir -p /var/target/pr /etc/target
ifconfig lo 127.0.0.1 up
ifconfig eth0 10.0.2.15 netmask 255.255.255.0 up

wait_luns "$luns"
# ct.hold=1: every LUN goes through a dm-delay device (no delay until a
# scenario sets one with hold_writes), so that writes can be held in the
# array before they reach the disk. dmsetup is the host's, over 9p.
hold=$(cmdline_arg ct.hold || echo 0)
if [ "$hold" = 1 ]; then
    mkdir -p /host
    mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=524288 hostroot /host
    mount -o bind /proc /host/proc && mount -o bind /sys /host/sys && mount -o bind /dev /host/dev
fi
i=0
while [ "$i" -lt "$luns" ]; do
    dev=$(lun_dev "$i")
    if [ "$hold" = 1 ]; then
        sectors=$(cat "/sys/block/${dev##*/}/size")
        DM_DISABLE_UDEV=1 chroot /host dmsetup create "ct-hold-$i" --noudevsync \
            --table "0 $sectors delay $dev 0 0 $dev 0 0"
        dev=/dev/$(ls "/sys/block/${dev##*/}/holders/")
    fi
    so=$t/core/iblock_$i/lun$i
    mkdir -p "$so"
    echo "udev_path=$dev" > "$so/control"
    echo "coretakeover-lun$i" > "$so/wwn/vpd_unit_serial"
    echo 1 > "$so/enable"
    i=$((i + 1))
done
for port in 1 2; do
    tpg=$t/iscsi/$iqn/tpgt_$port
    mkdir -p "$tpg"
    i=0
    while [ "$i" -lt "$luns" ]; do
        mkdir -p "$tpg/lun/lun_$i"
        ln -s "$t/core/iblock_$i/lun$i" "$tpg/lun/lun_$i/backstore"
        i=$((i + 1))
    done
    mkdir -p "$tpg/np/0.0.0.0:$((3259 + port))"
    # Demo mode: any initiator may log in and sees every LUN (the test
    # network is QEMU's private user network, reachable only through the
    # forwarded ports).
    echo 1 > "$tpg/attrib/generate_node_acls"
    echo 1 > "$tpg/attrib/cache_dynamic_acls"
    echo 0 > "$tpg/attrib/demo_mode_write_protect"
    echo 0 > "$tpg/attrib/authentication"
    echo 1 > "$tpg/enable"
done
echo "coretakeover-array: exporting $luns LUNs as $iqn on two target ports"
