# Shell functions for the harness's commands in a test guest. Sourced.

# cmdline_arg NAME: the value of NAME=value on the kernel command line.
cmdline_arg() {
    for word in $(cat /proc/cmdline); do
        case $word in "$1="*) echo "${word#*=}"; return 0 ;; esac
    done
    return 1
}

# lun_dev I: the block device of service LUN I. The harness attaches LUN I as
# SCSI target id I on the node's virtio-scsi bus.
lun_dev() {
    for d in /sys/bus/scsi/devices/*:0:"$1":0/block/*; do
        [ -e "$d" ] && { echo "/dev/${d##*/}"; return 0; }
    done
    echo "no block device for service LUN $1" >&2
    return 1
}

# wait_luns N: waits (at most 60 s) until service LUNs 0..N-1 have block devices.
wait_luns() {
    tries=0
    while :; do
        i=0
        while [ "$i" -lt "$1" ] && lun_dev "$i" >/dev/null 2>&1; do i=$((i + 1)); done
        [ "$i" -ge "$1" ] && return 0
        tries=$((tries + 1))
        [ "$tries" -ge 120 ] && { echo "only $i of $1 service LUNs appeared" >&2; return 1; }
        sleep 0.5
    done
}

# host CMD...: runs one of the host's programs (read-only root over 9p).
# Through the host's env: busybox's chroot would run its own applet of the
# same name (dd, date, ...) instead of the host's program.
host() {
    chroot /host /usr/bin/env "$@"
}

# retry N CMD...: runs CMD up to N times, a second apart, until it succeeds.
# The first PR command after an iSCSI login may meet a unit attention.
retry() {
    n=$1
    shift
    i=1
    until "$@"; do
        [ "$i" -ge "$n" ] && return 1
        i=$((i + 1))
        sleep 1
    done
}

# pattern TEXT FILE: a 4 KiB file filled with TEXT, to write with O_DIRECT.
pattern() {
    yes "$1" | head -c 4096 > "$2"
}

# coredump_dev a|b: the block device of node a's or b's coredump disk (the
# harness gives it the virtio serial "coredump-a" / "coredump-b").
coredump_dev() {
    for s in /sys/block/vd*/serial; do
        [ "$(cat "$s")" = "coredump-$1" ] && { d=${s%/serial}; echo "/dev/${d##*/}"; return 0; }
    done
    echo "no coredump disk of node $1" >&2
    return 1
}

# dump_ready DEV: what the panic path needs from the queue: no scheduler.
dump_ready() {
    echo none > "/sys/block/${1##*/}/queue/scheduler"
}

# node_etc: this node's persistent /etc (the test guests' root is an
# initramfs; the scenario's results directory keeps it across reboots).
node_etc() {
    echo "/results/etc/node-$(cmdline_arg ct.node)"
}

# disk_links: the /dev/disk/by-path names udev gives SCSI disks
# (pci-DOMAIN:BUS:SLOT.FN-scsi-H:C:T:L); the test guests run no udevd.
disk_links() {
    mkdir -p /dev/disk/by-path
    for b in /sys/block/sd*; do
        [ -e "$b" ] || continue
        dev=$(readlink -f "$b/device")
        pci=$(echo "$dev" | tr / '\n' | grep -E '^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-9a-f]$' | tail -n 1)
        ln -sf "../../${b##*/}" "/dev/disk/by-path/pci-$pci-scsi-${dev##*/}"
    done
}

# coredump_rule: what scripts/deploy/60-coretakeover.rules makes udev do for
# a disk with a coredump label (`coretakeover probe --udev`): no I/O
# scheduler, and /dev/disk/by-coretakeover/cluster-C-node-N.
coredump_rule() {
    mkdir -p /dev/disk/by-coretakeover
    for b in /sys/block/vd* /sys/block/sd*; do
        [ -e "$b" ] || continue
        vars=$(coretakeover probe --udev "/dev/${b##*/}") || continue
        [ -n "$vars" ] || continue
        eval "$vars"
        echo none > "$b/queue/scheduler"
        ln -sf "../../${b##*/}" "/dev/disk/by-coretakeover/cluster-$CORETAKEOVER_CLUSTER-node-$CORETAKEOVER_NODE"
    done
}

# boot_service start|reload|stop: runs coretakeover.service's commands for
# that action, in order, as systemd would (ExecStartPre then ExecStart; a
# command prefixed with '-' may fail), after the unit's condition.
boot_service() {
    unit=/lib/systemd/system/coretakeover.service
    case $1 in
    start) keys="ExecStartPre ExecStart" ;;
    reload) keys="ExecReload" ;;
    stop) keys="ExecStop" ;;
    *) echo "boot_service: start, reload or stop" >&2; return 2 ;;
    esac
    cp "$(node_etc)/coretakeover.conf" /etc/coretakeover.conf 2>/dev/null
    if [ ! -f /etc/coretakeover.conf ]; then
        echo "coretakeover.service: condition failed: no /etc/coretakeover.conf"
        return 0
    fi
    luns=$(cmdline_arg ct.luns) && [ "$luns" -gt 0 ] && wait_luns "$luns"
    disk_links
    coredump_rule
    for key in $keys; do
        for cmd in $(sed -n "s/^$key=//p" "$unit" | tr ' ' '\037'); do
            cmd=$(echo "$cmd" | tr '\037' ' ')
            echo "coretakeover.service: $key=$cmd"
            ${cmd#-}
            status=$?
            if [ "$status" -ne 0 ]; then
                case $cmd in -*) ;; *)
                    echo "coretakeover.service: $1 failed ($key exited $status)"
                    return 1 ;;
                esac
            fi
        done
    done
    echo "coretakeover.service: $1 done"
}
