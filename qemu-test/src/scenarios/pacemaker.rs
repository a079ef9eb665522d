// SPDX-License-Identifier: GPL-2.0

//! The pair under Pacemaker: Debian's corosync and Pacemaker on both nodes
//! over their private network, `ocf:coretakeover:coretakeover` as a clone,
//! `fence_coretakeover` as each node's fencing device (level 1 of the
//! fencing topology), and node A's NFS service as Pacemaker resources: its
//! filesystem (`ocf:heartbeat:Filesystem`), its export
//! (`ocf:heartbeat:exportfs`) and its address (`ocf:heartbeat:IPaddr2`),
//! served by knfsd (NFSv3) on both nodes. A client on the network writes
//! through the address with `ct-nfs-load`.
//!
//! The module acts alone only on the panic beacon (`auto_takeover_on_stale
//! = false`): silence is Pacemaker's, through corosync's membership and
//! fencing.

use super::boot::by_path;
use super::dump::{disk_status, CLUSTER_ID};
use super::nfs::{parse_ack, stall, Ack};
use super::Ctx;
use crate::array::ArrayKind;
use crate::cluster::{Cluster, ClusterSpec, NodeName};
use anyhow::{bail, ensure, Context, Result};
use std::time::{Duration, Instant};

const SYSFS: &str = "/sys/kernel/coretakeover";
/// The service's address, filesystem and mount on the client.
pub(crate) const ADDRESS: &str = "10.0.0.11";
pub(crate) const EXPORT: &str = "/srv/nfs-a";
const MOUNT: &str = "/mnt/v3";
const TAG: &str = "v3";
const WRITERS: u32 = 2;

fn other(node: NodeName) -> NodeName {
    match node {
        NodeName::A => NodeName::B,
        NodeName::B => NodeName::A,
    }
}

/// The CIB's resources and constraints: the coretakeover clone, one fencing
/// device per node (never run on the node it fences), A's service group
/// (preferring A, after the clone), and the fencing topology.
fn cib(device_a: &str) -> (String, String, String) {
    let resources = format!(
        "<resources>\
         <clone id=\"cl-coretakeover\"><primitive id=\"coretakeover\" class=\"ocf\" provider=\"coretakeover\" type=\"coretakeover\">\
         <operations><op id=\"ct-mon\" name=\"monitor\" interval=\"10s\" timeout=\"20s\"/><op id=\"ct-start\" name=\"start\" interval=\"0\" timeout=\"120s\"/></operations>\
         </primitive></clone>\
         <primitive id=\"fence-node-a\" class=\"stonith\" type=\"fence_coretakeover\"><instance_attributes id=\"fa-ia\">\
         <nvpair id=\"fa-hosts\" name=\"pcmk_host_list\" value=\"node-a\"/><nvpair id=\"fa-map\" name=\"node_map\" value=\"node-a:1,node-b:2\"/>\
         </instance_attributes><meta_attributes id=\"fa-meta\"><nvpair id=\"fa-unfence\" name=\"provides\" value=\"unfencing\"/></meta_attributes>\
         <operations><op id=\"fa-mon\" name=\"monitor\" interval=\"60s\"/></operations></primitive>\
         <primitive id=\"fence-node-b\" class=\"stonith\" type=\"fence_coretakeover\"><instance_attributes id=\"fb-ia\">\
         <nvpair id=\"fb-hosts\" name=\"pcmk_host_list\" value=\"node-b\"/><nvpair id=\"fb-map\" name=\"node_map\" value=\"node-a:1,node-b:2\"/>\
         </instance_attributes><meta_attributes id=\"fb-meta\"><nvpair id=\"fb-unfence\" name=\"provides\" value=\"unfencing\"/></meta_attributes>\
         <operations><op id=\"fb-mon\" name=\"monitor\" interval=\"60s\"/></operations></primitive>\
         <group id=\"svc-a\">\
         <primitive id=\"fs-a\" class=\"ocf\" provider=\"heartbeat\" type=\"Filesystem\"><instance_attributes id=\"fs-a-ia\">\
         <nvpair id=\"fs-a-dev\" name=\"device\" value=\"{device_a}\"/><nvpair id=\"fs-a-dir\" name=\"directory\" value=\"{EXPORT}\"/>\
         <nvpair id=\"fs-a-type\" name=\"fstype\" value=\"ext4\"/></instance_attributes>\
         <operations><op id=\"fs-a-mon\" name=\"monitor\" interval=\"10s\" timeout=\"40s\"/></operations></primitive>\
         <primitive id=\"export-a\" class=\"ocf\" provider=\"heartbeat\" type=\"exportfs\"><instance_attributes id=\"ex-a-ia\">\
         <nvpair id=\"ex-a-dir\" name=\"directory\" value=\"{EXPORT}\"/><nvpair id=\"ex-a-cl\" name=\"clientspec\" value=\"10.0.0.0/24\"/>\
         <nvpair id=\"ex-a-opt\" name=\"options\" value=\"rw,sync,no_root_squash\"/><nvpair id=\"ex-a-fsid\" name=\"fsid\" value=\"1\"/>\
         </instance_attributes><operations><op id=\"ex-a-mon\" name=\"monitor\" interval=\"10s\" timeout=\"20s\"/></operations></primitive>\
         <primitive id=\"ip-a\" class=\"ocf\" provider=\"heartbeat\" type=\"IPaddr2\"><instance_attributes id=\"ip-a-ia\">\
         <nvpair id=\"ip-a-ip\" name=\"ip\" value=\"{ADDRESS}\"/><nvpair id=\"ip-a-mask\" name=\"cidr_netmask\" value=\"24\"/>\
         <nvpair id=\"ip-a-nic\" name=\"nic\" value=\"eth0\"/></instance_attributes>\
         <operations><op id=\"ip-a-mon\" name=\"monitor\" interval=\"10s\" timeout=\"20s\"/></operations></primitive>\
         <primitive id=\"tickle-a\" class=\"ocf\" provider=\"heartbeat\" type=\"portblock\"><instance_attributes id=\"tk-a-ia\">\
         <nvpair id=\"tk-a-act\" name=\"action\" value=\"unblock\"/><nvpair id=\"tk-a-ip\" name=\"ip\" value=\"{ADDRESS}\"/>\
         <nvpair id=\"tk-a-port\" name=\"portno\" value=\"2049\"/><nvpair id=\"tk-a-proto\" name=\"protocol\" value=\"tcp\"/>\
         <nvpair id=\"tk-a-dir\" name=\"tickle_dir\" value=\"{EXPORT}/.tickle\"/></instance_attributes>\
         <operations><op id=\"tk-a-mon\" name=\"monitor\" interval=\"2s\" timeout=\"20s\"/></operations></primitive>\
         </group></resources>"
    );
    let constraints = "<constraints>\
         <rsc_location id=\"fa-not-a\" rsc=\"fence-node-a\" node=\"node-a\" score=\"-INFINITY\"/>\
         <rsc_location id=\"fb-not-b\" rsc=\"fence-node-b\" node=\"node-b\" score=\"-INFINITY\"/>\
         <rsc_location id=\"svc-a-prefers-a\" rsc=\"svc-a\" node=\"node-a\" score=\"100\"/>\
         <rsc_order id=\"ct-before-svc-a\" first=\"cl-coretakeover\" then=\"svc-a\"/>\
         <rsc_colocation id=\"svc-a-with-ct\" rsc=\"svc-a\" with-rsc=\"cl-coretakeover\" score=\"INFINITY\"/>\
         </constraints>"
        .to_string();
    let topology = "<fencing-topology>\
         <fencing-level id=\"fl-a-1\" target=\"node-a\" index=\"1\" devices=\"fence-node-a\"/>\
         <fencing-level id=\"fl-b-1\" target=\"node-b\" index=\"1\" devices=\"fence-node-b\"/>\
         </fencing-topology>"
        .to_string();
    (resources, constraints, topology)
}

/// The node that runs A's service, as `crm_resource --locate` of its last
/// member says, read on `node`.
fn service_node(cluster: &mut Cluster, node: NodeName) -> Result<Option<String>> {
    let out = cluster.node(node)?.ok("userland crm_resource --locate --resource tickle-a 2>&1; true")?;
    Ok(out.split("is running on: ").nth(1).map(|n| n.trim().to_string()))
}

/// A node's stack as its boot brings it up: the coredump disk's udev name,
/// the module, knfsd, then (with `apply`, as coretakeover.service does
/// before pacemaker.service) the configuration applied, then corosync and
/// Pacemaker.
fn node_up(ctx: &Ctx<'_>, cluster: &mut Cluster, node: NodeName, booted: bool) -> Result<()> {
    let n = cluster.node(node)?;
    if booted {
        // A node that boots with its /etc/coretakeover.conf runs
        // coretakeover.service (ordered before pacemaker.service): the
        // module loaded, the configuration applied, its disks asked for.
        let outcome = super::boot::boot_service_started(n, Duration::from_secs(180))?;
        ctx.step(&format!("{node:?}: coretakeover.service at boot: {outcome}"));
    }
    n.ok("disk_links && coredump_rule && { [ -d /sys/module/coretakeover ] || insmod /ct/coretakeover.ko; }")?;
    n.shell.ok("userland_up && nfs_server_up", ctx.env.scaled(Duration::from_secs(480)))?;
    Ok(())
}

/// corosync and Pacemaker on `node`.
fn pacemaker_up(cluster: &mut Cluster, node: NodeName) -> Result<()> {
    cluster.node(node)?.shell.ok("pacemaker_up", Duration::from_secs(120)).with_context(|| format!("corosync and Pacemaker on {node:?}")).map(drop)
}

/// The pair under Pacemaker, A serving, the client writing through A's
/// address.
pub(crate) struct Pair {
    pub cluster: Cluster,
    load_mark: usize,
}

fn start(ctx: &mut Ctx<'_>) -> Result<Pair> {
    start_with(ctx, 0, None)
}

/// `start`, with `more_clients` clients beyond the one that writes, and
/// node A's `[policy] self_fence`.
pub(crate) fn start_with(ctx: &mut Ctx<'_>, more_clients: usize, self_fence_a: Option<&str>) -> Result<Pair> {
    let spec = ClusterSpec {
        array: Some(ArrayKind::Lio),
        luns_per_node: 1,
        nodes: vec![NodeName::A, NodeName::B],
        node_memory_mib: 512,
        memory_of: vec![],
        coredump_mib: 1024,
        clients: 1 + more_clients,
        network: true,
        nvme_coredump: false,
        paths: 1,
        hold_writes: false,
    };
    ctx.step("booting the LIO array, nodes A and B and a client on their private network");
    let mut cluster = Cluster::start(&spec, ctx.env, &ctx.dir, ctx.deadline)?;
    ctx.step("each node: coredump label, /etc/coretakeover.conf (the kernel acts alone on a panic only), knfsd, corosync and Pacemaker");
    let lun_a = cluster.lun_of(NodeName::A, 0);
    cluster.node(NodeName::A)?.shell.ok(&format!("host mkfs.ext4 -q -F -E nodiscard -L nfs-a $(lun_dev {lun_a})"), Duration::from_secs(120))?;
    // portblock's tickle directory, on the service's own filesystem: the
    // owner's monitor records the clients' connections there, and the new
    // owner tickles them (a TCP challenge ACK: the client reconnects at
    // once instead of at its next retransmission).
    cluster.node(NodeName::A)?.ok(&format!("mkdir -p /tmp/fs && mount $(lun_dev {lun_a}) /tmp/fs && mkdir /tmp/fs/.tickle && umount /tmp/fs"))?;
    let device_a = by_path(&mut cluster, NodeName::A, lun_a)?;
    for node in [NodeName::A, NodeName::B] {
        let partner = other(node);
        let (own_lun, their_lun) = (cluster.lun_of(node, 0), cluster.lun_of(partner, 0));
        let own = by_path(&mut cluster, node, own_lun)?;
        let theirs = by_path(&mut cluster, node, their_lun)?;
        let config = format!(
            "# coretakeover.conf of node {l}, written by the Pacemaker scenarios\n\
             cluster_id = {CLUSTER_ID}\nnode_id = {id}\n\n[dump]\ndisk = \"label\"\ncrash_dir = \"/results/crash-{l}\"\n\n\
             [service]\ndisks = [\"{own}\"]\n\n[partner]\nnode_id = {pid}\ndisks = [\"{theirs}\"]\n\
             dump_disk = \"/dev/disk/by-coretakeover/cluster-{CLUSTER_ID}-node-{pid}\"\n\n\
             [policy]\nstale_timeout_ms = 2000\nauto_takeover = true\nauto_takeover_on_stale = false\n{self_fence}",
            self_fence = match (node, self_fence_a) {
                (NodeName::A, Some(m)) => format!("self_fence = \"{m}\"\n"),
                _ => String::new(),
            },
            l = node.letter(),
            id = node.id(),
            pid = partner.id(),
        );
        let etc = ctx.dir.join(format!("etc/node-{}", node.letter()));
        std::fs::create_dir_all(&etc)?;
        std::fs::write(etc.join("coretakeover.conf"), config)?;
        let n = cluster.node(node)?;
        n.ok(&format!("coretakeover label --disk $(coredump_dev {}) --cluster {CLUSTER_ID} --node {}", node.letter(), node.id()))?;
    }
    for node in [NodeName::A, NodeName::B] {
        node_up(ctx, &mut cluster, node, false)?;
        pacemaker_up(&mut cluster, node)?;
    }
    cluster.node(NodeName::A)?.shell.ok("pacemaker_online 2", Duration::from_secs(200))?;
    ctx.step("corosync and Pacemaker run, both nodes online; A loads the CIB: the clone, the fencing devices and topology, svc-a");
    let (resources, constraints, topology) = cib(&device_a);
    let a = cluster.node(NodeName::A)?;
    for (name, value) in [("stonith-enabled", "true"), ("stonith-timeout", "60s"), ("no-quorum-policy", "ignore")] {
        a.ok(&format!("userland crm_attribute --type crm_config --name {name} --update {value}"))?;
    }
    for (scope, xml) in [("resources", &resources), ("constraints", &constraints)] {
        a.shell.ok(&format!("userland cibadmin --replace --scope {scope} --xml-text '{xml}'"), Duration::from_secs(60))?;
    }
    a.shell.ok(&format!("userland cibadmin --create --scope configuration --xml-text '{topology}'"), Duration::from_secs(60))?;
    let until = cluster.until(Duration::from_secs(300));
    loop {
        if service_node(&mut cluster, NodeName::A)?.as_deref() == Some("node-a") {
            break;
        }
        if Instant::now() >= until {
            let mon = cluster.node(NodeName::A)?.ok("userland crm_mon -1 -r; userland tail -n 30 /var/log/pacemaker/pacemaker.log")?;
            bail!("svc-a never ran on node-a:\n{mon}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    for node in [NodeName::A, NodeName::B] {
        let state = cluster.node(node)?.ok(&format!("cat {SYSFS}/dump_state"))?;
        ensure!(state.trim() == "armed", "{node:?}: the clone did not arm the coredump disk: {state}");
    }
    let b = cluster.node(NodeName::B)?;
    b.ok(&format!("i=0; until [ \"$(cat {SYSFS}/partner_state)\" = alive ]; do i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 0.1; done"))
        .context("B never saw A's heartbeat move")?;
    ctx.step("Pacemaker runs the clone on both nodes (both armed) and svc-a on A (its filesystem, export and address)");

    ctx.step("the client mounts nfs-a over NFSv3 and writes through it");
    let c = cluster.client(0)?;
    c.shell.ok("userland_up", ctx.env.scaled(Duration::from_secs(480)))?;
    c.shell.ok(
        &format!("userland mkdir -p {MOUNT} && userland mount -t nfs -o vers=3,nolock,proto=tcp {ADDRESS}:{EXPORT} {MOUNT}"),
        Duration::from_secs(120),
    )?;
    let load_mark = c.console.mark();
    c.shell.ok(&format!("load_start {MOUNT} {TAG} {WRITERS}"), Duration::from_secs(60))?;
    let mut pair = Pair { cluster, load_mark };
    pair.wait_acks(Duration::ZERO, Duration::from_secs(120))?;
    Ok(pair)
}

impl Pair {
    fn acks(&mut self) -> Result<Vec<Ack>> {
        let lines = self.cluster.client(0)?.console.lines_from(self.load_mark);
        Ok(lines.iter().filter_map(parse_ack).collect())
    }

    /// Waits until every writer has an acknowledgement after `after`.
    pub(crate) fn wait_acks(&mut self, after: Duration, timeout: Duration) -> Result<()> {
        let until = self.cluster.until(timeout);
        loop {
            let acks = self.acks()?;
            if (0..WRITERS).all(|w| acks.iter().any(|a| a.writer == w && a.at > after)) {
                return Ok(());
            }
            if Instant::now() >= until {
                bail!("the client's writers did not resume; client console:\n{}", self.cluster.client(0)?.console.tail(10).join("\n"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops the workload and reads every writer's file back: how many
    /// acknowledged records are missing or damaged.
    pub(crate) fn stop_and_verify(&mut self) -> Result<u64> {
        let c = self.cluster.client(0)?;
        c.shell.ok(&format!("load_stop {TAG}"), Duration::from_secs(150))?;
        let out = c.shell.ok(&format!("userland ct-nfs-load verify {MOUNT} {TAG} {WRITERS}"), Duration::from_secs(120))?;
        let acks = self.acks()?;
        let mut lost = 0;
        for w in 0..WRITERS {
            let acked = acks.iter().filter(|a| a.writer == w).map(|a| a.seq + 1).max().unwrap_or(0);
            let line = out.lines().find(|l| l.starts_with(&format!("@@VERIFY {TAG} w{w} "))).with_context(|| format!("no verification of w{w}: {out}"))?;
            let good: u64 = line.split_whitespace().find_map(|f| f.strip_prefix("good=")).and_then(|g| g.parse().ok()).with_context(|| format!("cannot read {line:?}"))?;
            lost += acked.saturating_sub(good);
        }
        Ok(lost)
    }
}

/// Seconds since midnight of a Pacemaker log line ("Dec 03 08:27:06.772 node-b ...").
fn log_time(line: &str) -> Option<f64> {
    let t = line.split_whitespace().nth(2)?;
    let mut parts = t.split(':');
    let (h, m, s): (f64, f64, f64) = (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
    Some(h * 3600.0 + m * 60.0 + s)
}

/// Where Pacemaker's part of a failover went, from B's pacemaker.log (B's
/// clock): each step's time after corosync told Pacemaker A was lost.
fn phases(log: &str) -> Vec<(&'static str, f64)> {
    let Some(from) = log.lines().position(|l| l.contains("Node node-a state is now lost")) else { return Vec::new() };
    let Some(lost) = log.lines().nth(from).and_then(log_time) else { return Vec::new() };
    // What follows A's loss only (the unfencing at start-up also ran the
    // agent against node-a).
    let first = |needle: &str| log.lines().skip(from).find(|l| l.contains(needle)).and_then(log_time);
    [
        ("fencing decided", "node-a will be fenced"),
        ("fenced (fence_coretakeover off)", "targeting node-a using fence-node-a returned 0"),
        ("filesystem mounted", "Result of start operation for fs-a on node-b"),
        ("exported", "Result of start operation for export-a on node-b"),
        ("address up", "Result of start operation for ip-a on node-b"),
        ("connections tickled", "Result of start operation for tickle-a on node-b"),
    ]
    .into_iter()
    .filter_map(|(what, needle)| first(needle).map(|t| (what, (t - lost) * 1e3)))
    .collect()
}

/// What one failover under Pacemaker measured (host clock from A's panic
/// line, but `phases`, on B's clock from A's loss).
#[derive(Debug, serde::Serialize)]
pub(crate) struct Failover {
    pub takeover_ms: f64,
    pub failover_ms: f64,
    pub client_stall_ms: u64,
    pub phases_ms: Vec<(&'static str, f64)>,
}

/// A panics while the client writes; its dump is slowed so that it runs
/// well past the failover. B's module takes A's LUN on the panic beacon;
/// corosync loses A; Pacemaker fences A through fence_coretakeover (the LUN
/// is held already: at once) and starts svc-a on B while A still dumps.
/// Measured on the host clock: A's panic line to B's line that svc-a's last
/// member (its address) runs; and the client's stall. Nothing acknowledged
/// is lost.
pub fn failover(ctx: &mut Ctx<'_>) -> Result<()> {
    let f = measure_failover(ctx)?;
    ctx.fact("pacemaker_failover_ms", f.failover_ms);
    ctx.fact("pacemaker_takeover_ms", f.takeover_ms);
    ctx.fact("pacemaker_client_stall_ms", f.client_stall_ms);
    Ok(())
}

/// The body of `failover`, for the bench as well.
pub(crate) fn measure_failover(ctx: &mut Ctx<'_>) -> Result<Failover> {
    let mut pair = start(ctx)?;
    // 511 MiB at 5 MB/s: the dump takes well over a minute, longer than
    // Pacemaker's failover under emulation (about 25 s with portblock).
    ctx.step("A's coredump disk is throttled to 5 MB/s; A panics");
    let deadline = pair.cluster.deadline;
    pair.cluster.node(NodeName::A)?.throttle_writes("coredump-a", 5_000_000)?;
    // B says on its console when the address runs there (host clock).
    pair.cluster.node(NodeName::B)?.ok(
        "(until userland crm_resource --locate --resource tickle-a 2>/dev/null | grep -q 'running on: node-b'; do sleep 0.05; done; echo 'ct-pcmk: svc-a running on node-b' > /dev/console) >/dev/null 2>&1 &",
    )?;
    let a_mark = pair.cluster.node(NodeName::A)?.console.mark();
    let b_mark = pair.cluster.node(NodeName::B)?.console.mark();
    pair.cluster.node(NodeName::A)?.ok("(sleep 1; echo c > /proc/sysrq-trigger) >/dev/null 2>&1 &")?;
    let panicked = pair.cluster.node(NodeName::A)?.wait_console(a_mark, "Kernel panic - not syncing", Duration::from_secs(30), deadline)?;
    let taken = pair.cluster.node(NodeName::B)?.wait_console(b_mark, "coretakeover: takeover done", Duration::from_secs(60), deadline)?;
    let running = pair
        .cluster
        .node(NodeName::B)?
        .wait_console(b_mark, "ct-pcmk: svc-a running on node-b", Duration::from_secs(120), deadline)
        .with_context(|| "svc-a never ran on node-b".to_string())?;
    let since = |at: Duration| at.saturating_sub(panicked.at).as_secs_f64() * 1e3;
    let (takeover_ms, failover_ms) = (since(taken.at), since(running.at));
    ctx.step(&format!("B's module held A's LUN {takeover_ms:.0} ms after A's panic line; Pacemaker ran svc-a on B {failover_ms:.0} ms after it"));
    let b = pair.cluster.node(NodeName::B)?;
    let header = disk_status(b, NodeName::A)?["header"].clone();
    ensure!(header["state"] == "dumping", "A's dump should still run when svc-a runs on B: {header}");
    let fenced = b.ok("userland stonith_admin --history node-a 2>&1; true")?;
    ensure!(fenced.contains("successful") || fenced.contains("was able to turn off"), "Pacemaker did not fence A: {fenced}");
    ctx.step("A is still dumping; Pacemaker fenced A (stonith_admin --history) through fence_coretakeover");
    pair.wait_acks(running.at, Duration::from_secs(180))?;
    // Pacemaker's and corosync's own logs, beside the consoles.
    pair.cluster.node(NodeName::B)?.ok("userland cp /var/log/pacemaker/pacemaker.log /results/pacemaker-b.log; userland cp /var/log/corosync/corosync.log /results/corosync-b.log; true")?;
    let acks = pair.acks()?;
    let stalled = stall(&acks, TAG, panicked.at, running.at).context("no client stall measured")?;
    let lost = pair.stop_and_verify()?;
    ensure!(lost == 0, "{lost} acknowledged records lost");
    ctx.step(&format!("the client's writers resumed; stall {} ms; every acknowledged record read back", stalled.as_millis()));
    let log = std::fs::read_to_string(ctx.dir.join("pacemaker-b.log")).unwrap_or_default();
    let phases_ms = phases(&log);
    ctx.step(&format!(
        "on B's clock after corosync lost A: {}",
        phases_ms.iter().map(|(what, ms)| format!("{what} {ms:.0} ms")).collect::<Vec<_>>().join(", ")
    ));
    Ok(Failover { takeover_ms, failover_ms, client_stall_ms: stalled.as_millis() as u64, phases_ms })
}

/// A hangs (its vCPUs stopped). The kernel does not act on silence here
/// (`auto_takeover_on_stale = false`): corosync loses A, Pacemaker fences A
/// through fence_coretakeover (the module's takeover, reason "command") and
/// runs svc-a on B. A resumes: its writes fail on the reservation, and the
/// administrator reboots it. A asks for its disks at boot
/// (coretakeover.service); unfencing A (fence_coretakeover on: the
/// giveback) is refused while svc-a's filesystem is mounted on B; the
/// administrator stops svc-a and starts Pacemaker on A: the unfencing goes
/// through, A runs the clone and, started again, svc-a. The client's writes
/// survive it all.
pub fn hang(ctx: &mut Ctx<'_>) -> Result<()> {
    let mut pair = start(ctx)?;
    let lun_a = pair.cluster.lun_of(NodeName::A, 0);
    ctx.step("A hangs (its vCPUs stopped)");
    let deadline = pair.cluster.deadline;
    pair.cluster.node(NodeName::B)?.ok(
        "(until userland crm_resource --locate --resource tickle-a 2>/dev/null | grep -q 'running on: node-b'; do sleep 0.05; done; echo 'ct-pcmk: svc-a running on node-b' > /dev/console) >/dev/null 2>&1 &",
    )?;
    let b_mark = pair.cluster.node(NodeName::B)?.console.mark();
    let hung_at = pair.cluster.now();
    pair.cluster.node(NodeName::A)?.pause()?;
    let running = pair.cluster.node(NodeName::B)?.wait_console(b_mark, "ct-pcmk: svc-a running on node-b", Duration::from_secs(180), deadline)?;
    let b = pair.cluster.node(NodeName::B)?;
    let last = super::takeover::last_takeover(b)?;
    ensure!(last["reason"] == "command" && last["disks_held"] == 1, "B's takeover should be Pacemaker's fencing (reason command): {last}");
    let fenced = b.ok("userland stonith_admin --history node-a 2>&1; true")?;
    ensure!(fenced.contains("was able to turn off") || fenced.contains("successful"), "Pacemaker did not fence A: {fenced}");
    let ms = running.at.saturating_sub(hung_at).as_secs_f64() * 1e3;
    ctx.step(&format!("Pacemaker fenced A through fence_coretakeover (the module's takeover, reason command) and ran svc-a on B {ms:.0} ms after the hang"));
    ctx.fact("pacemaker_hang_failover_ms", ms);
    pair.wait_acks(running.at, Duration::from_secs(180))?;

    ctx.step("A resumes: its writes fail on the reservation; the administrator reboots it (a node fenced at the fabric is rebooted, by hand or by power fencing at level 2)");
    pair.cluster.node(NodeName::A)?.resume()?;
    let a = pair.cluster.node(NodeName::A)?;
    // Its filesystem's own writes meet the conflicts first (so many that
    // the kernel's rate limit may swallow the line of this one).
    a.fails(&format!("dd if=/dev/zero of=$(lun_dev {lun_a}) bs=4096 seek=300 count=1 oflag=direct"))?;
    let conflicts = a.ok("dmesg | grep -c 'reservation conflict' || true")?;
    ensure!(conflicts.trim().parse::<u64>().unwrap_or(0) > 0, "A's writes failed, but not with a reservation conflict");
    pair.cluster.restart(NodeName::A, 512)?;
    ctx.step("A boots: coretakeover.service asks for its disks (held by B); Pacemaker not started yet");
    node_up(ctx, &mut pair.cluster, NodeName::A, true)?;
    let until = pair.cluster.until(Duration::from_secs(240));
    while service_node(&mut pair.cluster, NodeName::B)?.as_deref() != Some("node-b") {
        ensure!(Instant::now() < until, "svc-a does not run on B: {}", pair.cluster.node(NodeName::B)?.ok("userland crm_mon -1 -r")?);
        std::thread::sleep(Duration::from_millis(500));
    }
    // Unfencing A (fence_coretakeover on: the giveback) is refused while
    // svc-a's filesystem is mounted on B.
    let b = pair.cluster.node(NodeName::B)?;
    let out = b.ok("userland stonith_admin --unfence node-a 2>&1; echo rc=$?")?;
    ensure!(!out.trim_end().ends_with("rc=0"), "unfencing A while svc-a is mounted on B: {out}");
    ensure!(b.ok("dmesg | tail -n 20")?.contains("in use on this node"), "no giveback refused for a mounted disk on B");
    ensure!(b.ok(&format!("cat {SYSFS}/takeover_state"))?.trim() == "holding", "B let A's LUN go while svc-a ran on it");
    ctx.step("unfencing A (the giveback) is refused while svc-a's filesystem is mounted on B: the LUN never has two writers");

    ctx.step("the administrator stops svc-a (B unmounts), then starts Pacemaker on A: the unfencing gives A's LUN back, A runs the clone; svc-a started again runs on A");
    let b = pair.cluster.node(NodeName::B)?;
    b.ok("userland crm_resource --resource svc-a --meta --set-parameter target-role --parameter-value Stopped")?;
    let until = pair.cluster.until(Duration::from_secs(180));
    while service_node(&mut pair.cluster, NodeName::B)?.is_some() {
        ensure!(Instant::now() < until, "svc-a did not stop: {}", pair.cluster.node(NodeName::B)?.ok("userland crm_mon -1 -r")?);
        std::thread::sleep(Duration::from_millis(500));
    }
    pacemaker_up(&mut pair.cluster, NodeName::A)?;
    let b = pair.cluster.node(NodeName::B)?;
    b.shell
        .ok(&format!("i=0; until [ \"$(cat {SYSFS}/takeover_state)\" = watching ]; do i=$((i+1)); [ $i -gt 900 ] && exit 1; sleep 0.2; done"), Duration::from_secs(240))
        .with_context(|| "B never gave A's LUN back".to_string())?;
    let a = pair.cluster.node(NodeName::A)?;
    a.shell
        .ok(&format!("i=0; until [ -n \"$(cat {SYSFS}/service_disks)\" ]; do i=$((i+1)); [ $i -gt 900 ] && exit 1; sleep 0.2; done"), Duration::from_secs(240))
        .context("A never reserved its LUN (the clone's start)")?;
    let b = pair.cluster.node(NodeName::B)?;
    b.ok("userland crm_resource --resource svc-a --meta --set-parameter target-role --parameter-value Started")?;
    let until = pair.cluster.until(Duration::from_secs(240));
    while service_node(&mut pair.cluster, NodeName::B)?.as_deref() != Some("node-a") {
        ensure!(Instant::now() < until, "svc-a never ran on A again: {}", pair.cluster.node(NodeName::B)?.ok("userland crm_mon -1 -r")?);
        std::thread::sleep(Duration::from_millis(500));
    }
    let back = pair.cluster.now();
    pair.wait_acks(back, Duration::from_secs(240))?;
    let lost = pair.stop_and_verify()?;
    ensure!(lost == 0, "{lost} acknowledged records lost");
    ctx.step("svc-a runs on A again on its LUN, which A holds; the client's writers resumed, every acknowledged record read back");
    Ok(())
}
