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
