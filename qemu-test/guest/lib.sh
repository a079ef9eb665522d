# Shell functions for the harness's commands in a test guest. Sourced.

# cmdline_arg NAME: the value of NAME=value on the kernel command line.
cmdline_arg() {
    for word in $(cat /proc/cmdline); do
        case $word in "$1="*) echo "${word#*=}"; return 0 ;; esac
    done
    return 1
}

# lun_dev I: the block device of service LUN I (its first path). The harness
# attaches LUN I as SCSI target id I on the node's virtio-scsi bus.
lun_dev() {
    lun_path_dev "$1" 0
}

# lun_path_dev I P: the block device of path P of service LUN I: SCSI target
# id I + 64 P (the multipath scenarios give each LUN two paths, one per
# target port of the array).
lun_path_dev() {
    for d in /sys/bus/scsi/devices/*:0:"$(($1 + 64 * $2))":0/block/*; do
        [ -e "$d" ] && { echo "/dev/${d##*/}"; return 0; }
    done
    echo "no block device for path $2 of service LUN $1" >&2
    return 1
}

# hold_writes I MS (the array, booted with ct.hold=1): from now on, every
# write that reaches LUN I is held MS milliseconds before it goes to the
# disk (reads are not held). MS 0 lets them through at once.
hold_writes() {
    dev=$(lun_dev "$1") && sectors=$(cat "/sys/block/${dev##*/}/size") &&
        DM_DISABLE_UDEV=1 chroot /host dmsetup load "ct-hold-$1" --noudevsync \
            --table "0 $sectors delay $dev 0 0 $dev 0 $2" &&
        DM_DISABLE_UDEV=1 chroot /host dmsetup resume "ct-hold-$1" --noudevsync
}

# held_writes I: how many writes to LUN I the array holds right now.
held_writes() {
    set -- $(DM_DISABLE_UDEV=1 chroot /host dmsetup status "ct-hold-$1")
    echo "$5"
}

# wait_luns N [PATHS]: waits (at most 60 s) until service LUNs 0..N-1 have
# block devices, on each of their PATHS (default 1) paths.
wait_luns() {
    tries=0
    while :; do
        missing=
        p=0
        while [ "$p" -lt "${2:-1}" ]; do
            i=0
            while [ "$i" -lt "$1" ]; do
                lun_path_dev "$i" "$p" >/dev/null 2>&1 || missing="$missing $i/$p"
                i=$((i + 1))
            done
            p=$((p + 1))
        done
        [ -z "$missing" ] && return 0
        tries=$((tries + 1))
        [ "$tries" -ge 120 ] && { echo "service LUNs (LUN/path) missing:$missing" >&2; return 1; }
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
        [ -r "$s" ] || continue
        [ "$(cat "$s")" = "coredump-$1" ] && { d=${s%/serial}; echo "/dev/${d##*/}"; return 0; }
    done
    # On NVMe the serial is the controller's, padded with spaces.
    for s in /sys/block/nvme*/device/serial; do
        [ -r "$s" ] || continue
        read -r v < "$s"
        [ "$v" = "coredump-$1" ] && { d=${s%/device/serial}; echo "/dev/${d##*/}"; return 0; }
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
        # As the rule: never a removable disk.
        [ "$(cat "$b/removable" 2>/dev/null)" = 1 ] && continue
        vars=$(coretakeover probe --udev "/dev/${b##*/}") || continue
        [ -n "$vars" ] || continue
        eval "$vars"
        echo none > "$b/queue/scheduler"
        ln -sf "../../${b##*/}" "/dev/disk/by-coretakeover/cluster-$CORETAKEOVER_CLUSTER-node-$CORETAKEOVER_NODE"
    done
}

# boot_service start|reload|stop: runs coretakeover.service's commands for
# that action, in order, as systemd would (ExecStartPre then ExecStart; a
# command prefixed with '-' may fail), after the unit's condition. The
# outcome also goes to /tmp/coretakeover.service.ACTION ("done", "failed
# (...)", "condition failed"), which the harness reads: on the console a
# kernel message can cut the line in two.
boot_service_outcome() {
    echo "coretakeover.service: $1 $2"
    echo "$2" > "/tmp/coretakeover.service.$1.new" && mv "/tmp/coretakeover.service.$1.new" "/tmp/coretakeover.service.$1"
}
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
        echo "condition failed" > "/tmp/coretakeover.service.$1"
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
                    boot_service_outcome "$1" "failed ($key exited $status)"
                    return 1 ;;
                esac
            fi
        done
    done
    boot_service_outcome "$1" done
}

# userland_up: the node's (or client's) own userland for what a real node
# runs from its root filesystem (the agent, its hooks, knfsd's daemons,
# mount.nfs, Pacemaker): the host's Debian root made writable by an overlay on tmpfs,
# with what `make install` puts on a node, as the root of a mount namespace
# kept at /ct-ns/mnt. `userland CMD...` runs a command there. Idempotent.
userland_up() {
    [ -e /ct-ns/mnt ] && return 0
    mkdir -p /sysroot /ct-upper /ct-ns
    mount -t tmpfs -o mode=0755 ct-upper /ct-upper && mkdir -p /ct-upper/u /ct-upper/w &&
        mount -t overlay overlay -o lowerdir=/host,upperdir=/ct-upper/u,workdir=/ct-upper/w /sysroot ||
        { echo "userland: no overlay over the host root" >&2; return 1; }
    mount -t proc proc /sysroot/proc
    mount -t sysfs sysfs /sysroot/sys
    mount --rbind /dev /sysroot/dev
    mount -t tmpfs -o mode=0755 tmpfs /sysroot/run
    mount -t tmpfs tmpfs /sysroot/tmp
    mkdir -p /sysroot/results && mount --bind /results /sysroot/results
    # Installed as `make install` installs them.
    cp /bin/coretakeover /sysroot/usr/sbin/coretakeover
    mkdir -p /sysroot/usr/lib/coretakeover/hooks /sysroot/usr/lib/systemd/system /sysroot/usr/local/bin
    cp /usr/lib/coretakeover/hooks/* /sysroot/usr/lib/coretakeover/hooks/
    cp /usr/sbin/fence_coretakeover /sysroot/usr/sbin/
    mkdir -p /sysroot/usr/lib/ocf/resource.d/coretakeover
    cp /usr/lib/ocf/resource.d/coretakeover/coretakeover /sysroot/usr/lib/ocf/resource.d/coretakeover/
    cp /lib/systemd/system/coretakeover*.service /sysroot/usr/lib/systemd/system/
    cp /ct/ct-nfs-load /sysroot/usr/local/bin/ct-nfs-load
    # The node's configuration (persistent, in the results directory).
    if [ -d "$(node_etc)" ]; then
        cp "$(node_etc)/coretakeover.conf" /sysroot/etc/ 2>/dev/null
        # Root's, as an installed /etc is (the agent runs no hook that
        # another user could change; the harness may run as one).
        [ -d "$(node_etc)/coretakeover" ] && cp -a "$(node_etc)/coretakeover" /sysroot/etc/ &&
            chown -R -h 0:0 /sysroot/etc/coretakeover
    fi
    mount --bind /ct-ns /ct-ns && mount --make-private /ct-ns && touch /ct-ns/mnt &&
        unshare --mount=/ct-ns/mnt --propagation private mount --move /sysroot / ||
        { echo "userland: cannot make its mount namespace" >&2; return 1; }
    # A node's programs sit in its page cache: read the ones a failover
    # runs, with their libraries, once (a first exec over 9p under TCG
    # costs up to a second).
    userland sh -c 'for b in "$@"; do p=$(command -v "$b") || continue; cat "$p" >/dev/null;
        ldd "$p" 2>/dev/null | awk "/=> \\// { print \$3 }" | xargs -r cat >/dev/null; done' warm \
        /lib64/ld-linux-x86-64.so.2 ip ss nsenter unshare mount umount mountpoint hostname stat awk sed sort cmp dd \
        sync mv mkdir touch cat sh seq readlink basename date rm sleep wc env grep rpc.nfsd rpc.mountd exportfs \
        nfsdcld rpcbind rpc.statd sm-notify mount.nfs ct-nfs-load coretakeover \
        /usr/libexec/heartbeat/send_arp /usr/libexec/heartbeat/tickle_tcp
}

userland() {
    nsenter --mount=/ct-ns/mnt -- /usr/bin/env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

# agent_start / agent_stop: coretakeover-agent.service (its ExecStart; the
# agent logs to the console, as to the journal). Stopping waits for it to
# stop its services (SIGTERM, as systemd sends).
agent_start() {
    userland_up || return 1
    nsenter --mount=/ct-ns/mnt -- /usr/bin/env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        $(sed -n 's/^ExecStart=//p' /lib/systemd/system/coretakeover-agent.service) </dev/null >/dev/console 2>&1 &
    echo $! > /tmp/agent.pid
}

agent_stop() {
    [ -f /tmp/agent.pid ] || return 0
    pid=$(cat /tmp/agent.pid)
    kill "$pid" 2>/dev/null
    wait_gone "$pid" 60 "the agent" || return 1
    rm -f /tmp/agent.pid
}

# wait_gone PID SECONDS WHAT: waits until process PID has exited.
wait_gone() {
    i=0
    while kill -0 "$1" 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -ge "$(($2 * 10))" ] && { echo "$3 did not stop in $2 s" >&2; return 1; }
        sleep 0.1
    done
}

# load_start DIR TAG [WRITERS]: the client's workload on DIR (ct-nfs-load,
# its lines on the console, stamped by the harness); load_stop TAG ends it
# and waits until it has.
load_start() {
    userland sh -c 'ct-nfs-load run "$1" "$2" "$3" 50 </dev/null >/dev/console 2>&1 & echo $! > "/run/ct-load-$2.pid"' load "$1" "$2" "${3:-2}"
}

load_stop() {
    pid=$(userland cat "/run/ct-load-$1.pid") || return 1
    kill "$pid"
    wait_gone "$pid" 120 "the workload $1"
}

# multipath_up: dm-multipath as a node runs it, in the node's userland
# (userland_up): udevd (multipathd learns its paths and their WWIDs from
# udev), then multipathd with the pair's multipath.conf (the admin guide's);
# waits until every service LUN is a map of two paths. Idempotent.
multipath_up() {
    userland_up || return 1
    if ! userland test -e /run/ct-multipath; then
        # Written with printf: the harness sends one line per command, but
        # this file is read by the guest's shell.
        printf '%s\n' \
            '# multipath.conf of a coretakeover node (see the admin guide)' \
            'defaults {' \
            '    user_friendly_names no' \
            '    find_multipaths yes' \
            '    polling_interval 1' \
            '    detect_prio no' \
            '    detect_checker no' \
            '    # coretakeover apply registers keys with mpathpersist, which' \
            '    # gives them to multipathd: a path that comes back is registered.' \
            '    reservation_key file' \
            '}' \
            'blacklist {' \
            '    devnode "^(vd|nvme)"' \
            '}' \
            'devices {' \
            '    device {' \
            '        vendor "LIO-ORG"' \
            '        product ".*"' \
            '        # this test kernel has no SCSI device handlers (CONFIG_SCSI_DH)' \
            '        hardware_handler "0"' \
            '        prio const' \
            '        path_grouping_policy multibus' \
            '        path_selector "round-robin 0"' \
            '        path_checker tur' \
            '        no_path_retry 30' \
            '    }' \
            '}' | userland sh -c 'cat > /etc/multipath.conf' || return 1
        # udevadm refuses to work "in a chroot" (the userland's root is not
        # PID 1's) unless told otherwise.
        userland env SYSTEMD_IGNORE_CHROOT=1 sh -c '/lib/systemd/systemd-udevd --daemon >/dev/null 2>&1 && udevadm trigger --action=add && udevadm settle --timeout=60' ||
            { echo "multipath_up: udevd did not start" >&2; return 1; }
        # In the foreground (-d) with its log in /run/ct-multipathd.log, as
        # systemd runs it with its log in the journal.
        userland sh -c 'multipathd -d -s -v3 </dev/null >/run/ct-multipathd.log 2>&1 & echo $! > /run/multipathd.pid' ||
            { echo "multipath_up: multipathd did not start" >&2; return 1; }
        userland touch /run/ct-multipath
    fi
    luns=$(cmdline_arg ct.luns)
    tries=0
    while :; do
        i=0
        while [ "$i" -lt "$luns" ] && [ "$(mpath_paths "$i" 2>/dev/null)" = 2 ]; do i=$((i + 1)); done
        [ "$i" -ge "$luns" ] && return 0
        tries=$((tries + 1))
        [ "$tries" -ge 120 ] && { echo "multipath_up: LUN $i is no map of two paths" >&2; userland multipath -ll >&2; return 1; }
        sleep 0.5
    done
}

# mpath_name I: the dm device (dm-N) of service LUN I's multipath map.
mpath_name() {
    for p in 0 1; do
        sd=$(lun_path_dev "$1" "$p" 2>/dev/null) || continue
        for h in /sys/block/"${sd#/dev/}"/holders/dm-*; do
            [ -e "$h/dm/uuid" ] && grep -q '^mpath-' "$h/dm/uuid" && { echo "${h##*/}"; return 0; }
        done
    done
    echo "service LUN $1 is in no multipath map" >&2
    return 1
}

# mpath_dev I: service LUN I's multipath map, by the name an administrator
# writes (/dev/mapper/WWID).
mpath_dev() {
    dm=$(mpath_name "$1") || return 1
    echo "/dev/mapper/$(cat /sys/block/"$dm"/dm/name)"
}

# mpath_paths I: how many paths service LUN I's map has.
mpath_paths() {
    dm=$(mpath_name "$1") || return 1
    ls /sys/block/"$dm"/slaves | wc -l
}

# path_state I P STATE: sets the SCSI device state of path P of service LUN
# I: offline (every command fails at once, as with a cable pulled) or
# running.
path_state() {
    sd=$(lun_path_dev "$1" "$2") || return 1
    echo "$3" > /sys/block/"${sd#/dev/}"/device/state
}

# pacemaker_up: corosync and Pacemaker as a node runs them (Debian's), in
# the node's userland: corosync over the nodes' private network (knet, the
# two nodes of the pair, two_node quorum), then pacemakerd; with
# fence_coretakeover and the coretakeover OCF agent installed as `make
# install` installs them. Logs: /var/log/corosync/corosync.log and
# /var/log/pacemaker/pacemaker.log in the userland. Idempotent.
pacemaker_up() {
    userland_up || return 1
    userland test -e /run/ct-pacemaker && return 0
    printf '%s\n' \
        '# corosync.conf of a coretakeover pair (see the admin guide)' \
        'totem {' \
        '    version: 2' \
        '    cluster_name: coretakeover' \
        '    transport: knet' \
        '    crypto_cipher: none' \
        '    crypto_hash: none' \
        '    token: 1000' \
        '}' \
        'nodelist {' \
        '    node {' \
        '        name: node-a' \
        '        nodeid: 1' \
        '        ring0_addr: 10.0.0.1' \
        '    }' \
        '    node {' \
        '        name: node-b' \
        '        nodeid: 2' \
        '        ring0_addr: 10.0.0.2' \
        '    }' \
        '}' \
        'quorum {' \
        '    provider: corosync_votequorum' \
        '    two_node: 1' \
        '}' \
        'logging {' \
        '    to_logfile: yes' \
        '    logfile: /var/log/corosync/corosync.log' \
        '    to_syslog: no' \
        '    to_stderr: no' \
        '    timestamp: on' \
        '}' | userland sh -c 'mkdir -p /etc/corosync /var/log/corosync && cat > /etc/corosync/corosync.conf' || return 1
    # libqb's IPC lives in /dev/shm.
    userland sh -c 'mkdir -p /dev/shm && { mountpoint -q /dev/shm || mount -t tmpfs -o mode=1777 shm /dev/shm; }' || return 1
    userland corosync || { echo "pacemaker_up: corosync did not start" >&2; userland tail -n 20 /var/log/corosync/corosync.log >&2; return 1; }
    userland sh -c 'pacemakerd </dev/null >/run/ct-pacemakerd.out 2>&1 & echo $! > /run/ct-pacemakerd.pid'
    userland touch /run/ct-pacemaker
}

# pacemaker_online N: waits (at most 180 s) until N nodes are online.
pacemaker_online() {
    i=0
    until [ "$(userland crm_node -l 2>/dev/null | grep -c ' member')" -ge "$1" ] &&
        userland crm_mon -1 2>/dev/null | grep -q 'Online: \[ node-a node-b \]\|Online: \[ node-b node-a \]'; do
        i=$((i + 1))
        [ "$i" -ge 900 ] && { echo "pacemaker_online: not $1 nodes online" >&2; userland crm_mon -1 >&2; return 1; }
        sleep 0.2
    done
}

# nfs_server_up: knfsd for the Pacemaker scenarios (NFSv3; the exports are
# Pacemaker's exportfs resources), in the node's userland.
nfs_server_up() {
    userland_up || return 1
    userland sh -c 'mkdir -p /run/rpcbind /var/lib/nfs/rpc_pipefs /var/lib/nfs/sm /var/lib/nfs/sm.bak &&
        { mountpoint -q /proc/fs/nfsd || mount -t nfsd nfsd /proc/fs/nfsd; } &&
        rpcbind -w && rpc.mountd && rpc.nfsd -N 4 -N 4.1 -N 4.2 8'
}
