// SPDX-License-Identifier: GPL-2.0

//! The service fails over: NFS clients keep working through a panic, a hang
//! and a giveback, and nothing they were told is on stable storage is lost.
//!
//! Each node serves an ext4 filesystem on its service LUN over NFS (knfsd,
//! Debian's nfs-utils) from an instance of its own (the `nfs` hook of
//! `scripts/deploy/hooks/`, run by `coretakeover agent`), on a floating
//! address: nfs-a on 10.0.0.11, nfs-b on 10.0.0.12. A client guest on the
//! nodes' private network mounts nfs-a twice, NFSv3 and NFSv4.1, and runs
//! `ct-nfs-load` on both mounts: writers whose every acknowledged record
//! went through fsync, and a create/rename/read/unlink mix. Every line the
//! client prints is stamped with the host's clock as it arrives, on the
//! same clock as the nodes' consoles.
//!
//! The stall of a version is the longest gap between a writer's last
//! acknowledgement before the event (the panic's sysrq line, the pause, the
//! giveback's stop) and its first one after. Acknowledged records are read
//! back after each failover and must all be there, intact.

use super::boot::by_path;
use super::dump::CLUSTER_ID;
use super::Ctx;
use crate::array::ArrayKind;
use crate::cluster::{Cluster, ClusterSpec, NodeName};
use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The mounts of the client: tag, mount point, mount options, the path on
/// the server. The service's filesystem is its instance's NFSv4 root
/// (fsid=0): NFSv4 clients mount "/", NFSv3 clients the real path.
pub(crate) const MOUNTS: [(&str, &str, &str, &str); 2] =
    [("v3", "/mnt/v3", "vers=3,nolock,proto=tcp", "/srv/nfs-a"), ("v41", "/mnt/v41", "vers=4.1,proto=tcp", "/")];
/// Writers per mount.
const WRITERS: u32 = 2;
/// Node RAM: small, so a panicked node's dump and reboot are quick.
pub(crate) const NODE_MIB: u32 = 384;

fn service(node: NodeName) -> String {
    format!("nfs-{}", node.letter())
}

/// The floating address of `node`'s service.
pub(crate) fn service_address(node: NodeName) -> String {
    format!("10.0.0.{}", 10 + node.id())
}

fn other(node: NodeName) -> NodeName {
    match node {
        NodeName::A => NodeName::B,
        NodeName::B => NodeName::A,
    }
}

/// One acknowledged record, as the client printed it.
#[derive(Debug, Clone)]
pub(crate) struct Ack {
    pub at: Duration,
    pub tag: String,
    pub writer: u32,
    pub seq: u64,
}

/// What one event (a panic, a hang, a giveback) did to the clients.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub(crate) struct Outcome {
    pub event: String,
    /// Per mount tag: the longest gap between acknowledgements spanning
    /// the event, in ms.
    pub stall_ms: BTreeMap<String, u64>,
    /// Errors returned to the application (anything).
    pub failed_ops: Vec<String>,
    /// Non-idempotent operations answered as replays.
    pub replayed_ops: Vec<String>,
    /// Acknowledged records missing or damaged when read back.
    pub lost_acked_writes: u64,
    /// Acknowledged operations the server no longer had (a renamed file
    /// gone before the client removed it).
    pub lost_acked_ops: Vec<String>,
    /// The listings of the operations' directory the client took when an
    /// operation failed or was lost.
    pub listings: Vec<String>,
    /// From the event to the service running on its new node, in ms.
    pub service_ms: Option<u64>,
}

impl Outcome {
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// What a scenario adds to the usual pair.
#[derive(Default)]
pub(crate) struct Extra {
    /// Clients beyond the first (which runs the workload).
    pub more_clients: usize,
    /// `[policy] self_fence` of these nodes.
    pub self_fence: Vec<(NodeName, &'static str)>,
}

/// The pair serving NFS, and its client.
pub(crate) struct NfsPair {
    pub cluster: Cluster,
    /// The client console's position where the current workload started.
    load_mark: usize,
    /// The highest sequence number acknowledged so far, per (tag, writer).
    acked: BTreeMap<(String, u32), u64>,
    /// The kernel's slowness (`Env::slow`): the long waits scale with it.
    slow: u32,
}

pub(crate) fn parse_ack(line: &crate::console::Line) -> Option<Ack> {
    let mut words = line.text.split_whitespace().skip_while(|w| *w != "@@ACK").skip(1);
    let tag = words.next()?.to_string();
    let writer = words.next()?.strip_prefix('w')?.parse().ok()?;
    let seq = words.next()?.parse().ok()?;
    Some(Ack { at: line.at, tag, writer, seq })
}

/// The longest gap between two acknowledgements of one writer of `tag`
/// that overlaps the failover window, from `event` (the panic, the pause,
/// the giveback's first step) to `settled` (the service running on its new
/// node): the client's stall. None if a writer has no acknowledgement on
/// both sides of the window.
pub(crate) fn stall(acks: &[Ack], tag: &str, event: Duration, settled: Duration) -> Option<Duration> {
    let mut worst: Option<Duration> = None;
    for w in 0..WRITERS {
        let mut times: Vec<Duration> = acks.iter().filter(|a| a.tag == tag && a.writer == w).map(|a| a.at).collect();
        times.sort();
        times.iter().find(|t| **t <= event)?;
        times.iter().find(|t| **t > settled.max(event))?;
        let gap = times
            .windows(2)
            .filter(|p| p[1] > event && p[0] <= settled.max(event))
            .map(|p| p[1] - p[0])
            .max()?;
        worst = Some(worst.map_or(gap, |g| g.max(gap)));
    }
    worst
}

impl NfsPair {
    /// Boots the array, A, B and a client; formats and configures both
    /// services; starts the boot service and the agent on both nodes; the
    /// client mounts nfs-a (NFSv3 and NFSv4.1) and starts its workload.
    pub fn start(ctx: &mut Ctx<'_>) -> Result<Self> {
        Self::start_with(ctx, &Extra::default())
    }

    /// `start`, with `extra`'s clients and policy.
    pub fn start_with(ctx: &mut Ctx<'_>, extra: &Extra) -> Result<Self> {
        let spec = ClusterSpec {
            array: Some(ArrayKind::Lio),
            luns_per_node: 1,
            nodes: vec![NodeName::A, NodeName::B],
            node_memory_mib: NODE_MIB,
            memory_of: vec![],
            coredump_mib: 512,
            clients: 1 + extra.more_clients,
            network: false,
            nvme_coredump: false,
            paths: 1,
            hold_writes: false,
        };
        ctx.step("booting the LIO array, nodes A and B, and a client on their private network");
        let mut cluster = Cluster::start(&spec, ctx.env, &ctx.dir, ctx.deadline)?;
        ctx.step("each node: coredump label, ext4 on its LUN, /etc/coretakeover.conf with [hooks], the nfs hook and its services' files");
        for node in [NodeName::A, NodeName::B] {
            let n = cluster.node(node)?;
            n.ok(&format!("coretakeover label --disk $(coredump_dev {}) --cluster {CLUSTER_ID} --node {}", node.letter(), node.id()))?;
            let lun = cluster.lun_of(node, 0);
            cluster.node(node)?.shell.ok(
                &format!("host mkfs.ext4 -q -F -E nodiscard -L {} $(lun_dev {lun})", service(node)),
                Duration::from_secs(120),
            )?;
        }
        for node in [NodeName::A, NodeName::B] {
            write_node_files(&mut cluster, ctx, node, extra.self_fence.iter().find(|(n, _)| *n == node).map(|(_, m)| *m))?;
        }
        ctx.step("coretakeover.service, then coretakeover-agent.service, on both nodes");
        for node in [NodeName::A, NodeName::B] {
            let out = cluster.node(node)?.shell.ok("boot_service start", Duration::from_secs(120))?;
            ensure!(out.contains("coretakeover.service: start done"), "{node:?}'s service: {out}");
        }
        for node in [NodeName::A, NodeName::B] {
            // The first start reads the failover's programs over 9p into
            // the page cache (lib.sh's userland_up): 100 s on the debug
            // kernel of one machine, 200 s and over 480 s (the second node,
            // while the first starts its service) on a slower one.
            cluster.node(node)?.shell.ok("agent_start", ctx.env.scaled(Duration::from_secs(480)))?;
        }
        for node in [NodeName::A, NodeName::B] {
            let needle = format!("{} (own): running", service(node));
            let n = cluster.node(node)?;
            n.wait_console(0, &needle, ctx.env.scaled(Duration::from_secs(180)), cluster_deadline(ctx))
                .with_context(|| format!("{node:?}'s agent never ran {}", service(node)))?;
        }
        ctx.step("the client mounts nfs-a over NFSv3 and NFSv4.1 and starts its workload on both");
        let c = cluster.client(0)?;
        // As for the nodes' agents: 120 s was not enough on the debug kernel.
        c.shell.ok("userland_up", ctx.env.scaled(Duration::from_secs(480)))?;
        for (_, dir, opts, path) in MOUNTS {
            c.shell.ok(
                &format!("userland mkdir -p {dir} && userland mount -t nfs -o {opts} {}:{path} {dir}", service_address(NodeName::A)),
                Duration::from_secs(120),
            )?;
        }
        let slow = cluster.slow;
        let mut pair = Self { cluster, load_mark: 0, acked: BTreeMap::new(), slow };
        pair.start_load()?;
        // That state is beside the export, never in it: the client (root,
        // no_root_squash) can neither read it nor plant a link there.
        for (_, dir, _, _) in MOUNTS {
            let seen = pair.cluster.client(0)?.ok(&format!("userland ls -a {dir}"))?;
            ensure!(!seen.contains(".coretakeover-nfs") && !seen.contains("var-lib-nfs"), "the client sees the server's state in {dir}: {seen}");
        }
        // The connections A's service recorded (its monitor, every second):
        // after a failover, the new owner tickles exactly these.
        let a = pair.cluster.node(NodeName::A)?;
        a.shell
            .ok(
                "i=0; until [ \"$(userland nsenter --mount=/run/coretakeover/nfs/nfs-a/mnt cat /run/ct-nfs/fs/.coretakeover-nfs/connections 2>/dev/null | wc -l)\" -ge 2 ]; do i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 0.2; done",
                Duration::from_secs(90),
            )
            .context("A's nfs-a never recorded the client's two connections")?;
        Ok(pair)
    }

    /// What starting a program costs on `node` (its userland, 20 runs of
    /// /bin/true), in ms: the unit of a hook's time under emulation.
    pub fn exec_ms(&mut self, node: NodeName) -> Result<f64> {
        let out = self.cluster.node(node)?.ok(
            "userland sh -c 't0=$(date +%s%N); for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do /bin/true; done; echo $(( ($(date +%s%N) - t0) / 20000 ))'",
        )?;
        let us: f64 = out.trim().parse().with_context(|| format!("exec cost: {out}"))?;
        Ok(us / 1000.0)
    }

    /// Starts the workload on both mounts (appending to what is there) and
    /// waits for acknowledgements from both.
    pub fn start_load(&mut self) -> Result<()> {
        let c = self.cluster.client(0)?;
        self.load_mark = c.console.mark();
        for (tag, dir, _, _) in MOUNTS {
            c.shell.ok(&format!("load_start {dir} {tag} {WRITERS}"), Duration::from_secs(60))?;
        }
        // Every writer of every mount has had a record acknowledged before
        // this returns: an event right after must find each on both sides
        // (waiting for the last writer alone let a hang come between its
        // first acknowledgement and another writer's).
        self.wait_resumed(Duration::ZERO, Duration::from_secs(120) * self.slow)
    }

    /// Every acknowledgement since the workload started.
    pub fn acks(&mut self) -> Result<Vec<Ack>> {
        let mark = self.load_mark;
        let lines = self.cluster.client(0)?.console.lines_from(mark);
        let acks: Vec<Ack> = lines.iter().filter_map(parse_ack).collect();
        for a in &acks {
            let e = self.acked.entry((a.tag.clone(), a.writer)).or_insert(0);
            *e = (*e).max(a.seq);
        }
        Ok(acks)
    }

    /// Waits until every writer of every mount has acknowledged a record
    /// after `event`.
    pub fn wait_resumed(&mut self, event: Duration, timeout: Duration) -> Result<()> {
        let until = self.cluster.until(timeout);
        loop {
            let acks = self.acks()?;
            let resumed = MOUNTS.iter().all(|(tag, _, _, _)| (0..WRITERS).all(|w| acks.iter().any(|a| a.tag == *tag && a.writer == w && a.at > event)));
            if resumed {
                return Ok(());
            }
            if Instant::now() >= until {
                let waiting: Vec<String> = MOUNTS
                    .iter()
                    .flat_map(|(tag, _, _, _)| (0..WRITERS).map(move |w| (tag, w)))
                    .filter(|(tag, w)| !acks.iter().any(|a| a.tag == **tag && a.writer == *w && a.at > event))
                    .map(|(tag, w)| format!("{tag} w{w}"))
                    .collect();
                bail!("the client's writers {} did not resume within {} s; client console tail:\n{}", waiting.join(", "), timeout.as_secs(), self.cluster.client(0)?.console.tail(10).join("\n"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// What the client printed since the workload started: errors,
    /// replays, lost acknowledged operations, and its directory listings.
    pub(crate) fn errors(&mut self) -> Result<(Vec<String>, Vec<String>, Vec<String>, Vec<String>)> {
        let mark = self.load_mark;
        let lines = self.cluster.client(0)?.console.lines_from(mark);
        let pick = |kind: &str| -> Vec<String> {
            lines.iter().filter_map(|l| l.text.find(kind).map(|i| l.text[i..].trim().to_string())).collect()
        };
        Ok((pick("@@ERR "), pick("@@REPLAY "), pick("@@LOST "), pick("@@DIAG ")))
    }

    /// Stops the workload and reads every writer's file back: the number of
    /// acknowledged records missing or damaged.
    pub fn stop_and_verify(&mut self) -> Result<u64> {
        let c = self.cluster.client(0)?;
        for (tag, _, _, _) in MOUNTS {
            c.shell.ok(&format!("load_stop {tag}"), Duration::from_secs(150) * self.slow)?;
        }
        self.acks()?;
        let mut lost = 0;
        for (tag, dir, _, _) in MOUNTS {
            let out = self.cluster.client(0)?.shell.ok(&format!("userland ct-nfs-load verify {dir} {tag} {WRITERS}"), Duration::from_secs(120) * self.slow)?;
            for w in 0..WRITERS {
                let line = out
                    .lines()
                    .find(|l| l.starts_with(&format!("@@VERIFY {tag} w{w} ")))
                    .with_context(|| format!("no verification of {tag} w{w}: {out}"))?;
                let good: u64 = line
                    .split_whitespace()
                    .find_map(|f| f.strip_prefix("good="))
                    .and_then(|g| g.parse().ok())
                    .with_context(|| format!("cannot read {line:?}"))?;
                let acked = self.acked.get(&(tag.to_string(), w)).map_or(0, |s| s + 1);
                if good < acked {
                    println!("      {tag} w{w}: {acked} records acknowledged, only the first {good} read back intact ({line})");
                    lost += acked - good;
                }
            }
        }
        Ok(lost)
    }

    /// The end of an event: the workload stops, every acknowledged record
    /// is read back, and the errors and replays the client saw up to then
    /// are the event's.
    pub fn finish(&mut self, mut o: Outcome) -> Result<Outcome> {
        o.lost_acked_writes = self.stop_and_verify()?;
        (o.failed_ops, o.replayed_ops, o.lost_acked_ops, o.listings) = self.errors()?;
        Ok(o)
    }

    /// Panics node `node` (sysrq-c) and waits for its service to run on the
    /// partner and for every writer to resume.
    pub fn panic(&mut self, node: NodeName) -> Result<Outcome> {
        let survivor = other(node);
        let s_mark = self.cluster.node(survivor)?.console.mark();
        let n_mark = self.cluster.node(node)?.console.mark();
        self.cluster.node(node)?.ok("(sleep 1; echo c > /proc/sysrq-trigger) >/dev/null 2>&1 &")?;
        let deadline = self.cluster.deadline;
        let at = self.cluster.node(node)?.wait_console(n_mark, "sysrq: Trigger a crash", Duration::from_secs(30), deadline)?.at;
        // Its dump runs on emulated CPUs that share the host's two cores
        // with the survivor: on real machines each node has its own.
        self.cluster.node(node)?.yield_host_cpu()?;
        self.after_failover("panic", node, survivor, at, s_mark)
    }

    /// Stops node `node`'s vCPUs (it hangs); its partner fences it and
    /// serves. Resumed later by `resume_fenced`.
    pub fn hang(&mut self, node: NodeName) -> Result<Outcome> {
        let survivor = other(node);
        let s_mark = self.cluster.node(survivor)?.console.mark();
        let at = self.cluster.now();
        self.cluster.node(node)?.pause()?;
        self.after_failover("hang", node, survivor, at, s_mark)
    }

    pub(crate) fn after_failover(&mut self, event: &str, node: NodeName, survivor: NodeName, at: Duration, s_mark: usize) -> Result<Outcome> {
        let deadline = self.cluster.deadline;
        let needle = format!("{} (partner): running", service(node));
        let running = self.cluster.node(survivor)?.wait_console(s_mark, &needle, Duration::from_secs(180) * self.slow, deadline)?;
        self.wait_resumed(running.at, Duration::from_secs(240) * self.slow)?;
        // A little more traffic on the new owner.
        std::thread::sleep(Duration::from_secs(2));
        self.outcome(event, at, Some(running.at))
    }

    fn outcome(&mut self, event: &str, at: Duration, service_at: Option<Duration>) -> Result<Outcome> {
        let acks = self.acks()?;
        let mut out = Outcome { event: event.to_string(), ..Outcome::default() };
        let settled = service_at.unwrap_or(at);
        for (tag, _, _, _) in MOUNTS {
            let gap = stall(&acks, tag, at, settled).with_context(|| format!("no acknowledgements of {tag} on both sides of the {event}"))?;
            out.stall_ms.insert(tag.to_string(), gap.as_millis() as u64);
        }
        out.service_ms = service_at.map(|s| s.saturating_sub(at).as_millis() as u64);
        (out.failed_ops, out.replayed_ops, out.lost_acked_ops, out.listings) = self.errors()?;
        Ok(out)
    }

    /// A resumed node that was fenced while it hung: its agent finds its
    /// disks held by the partner and stops serving.
    pub fn resume_fenced(&mut self, node: NodeName) -> Result<()> {
        let mark = self.cluster.node(node)?.console.mark();
        self.cluster.node(node)?.resume()?;
        let deadline = self.cluster.deadline;
        let needle = format!("{}: stopped in", service(node));
        let n = self.cluster.node(node)?;
        n.wait_console(mark, "this node no longer holds it; stopping now", Duration::from_secs(60) * self.slow, deadline)
            .context("the resumed node never noticed it was fenced")?;
        n.wait_console(mark, &needle, Duration::from_secs(120) * self.slow, deadline).context("the fenced node did not stop its service")?;
        n.wait_console(mark, &format!("{} (own): waiting: fenced in this boot", service(node)), Duration::from_secs(30), deadline)
            .context("the fenced node's agent does not say it waits for a reboot")?;
        Ok(())
    }

    /// Waits until `survivor` sees its partner alive (the module refuses a
    /// giveback before), and returns it.
    fn survivor_sees_alive(&mut self, survivor: NodeName) -> Result<&mut crate::guest::Guest> {
        let s = self.cluster.node(survivor)?;
        s.shell.ok(
            "i=0; until [ \"$(cat /sys/kernel/coretakeover/partner_state)\" = alive ]; do i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 0.1; done",
            Duration::from_secs(60) * self.slow,
        )?;
        Ok(s)
    }

    /// A giveback to `node`, fenced and not rebooted, is refused before the
    /// survivor stops anything: the service keeps running there.
    pub fn giveback_refused(&mut self, node: NodeName) -> Result<()> {
        let survivor = other(node);
        let slow = self.slow;
        let s = self.survivor_sees_alive(survivor)?;
        let mark = s.console.mark();
        let out = s.shell.fails("userland coretakeover giveback", Duration::from_secs(60) * slow)?;
        ensure!(out.contains("has not registered"), "giveback to a fenced node: {out}");
        let s = self.cluster.node(survivor)?;
        ensure!(s.console.find(mark, "stopping (giveback)").is_none(), "the survivor stopped the service for a refused giveback");
        let state = s.ok("cat /sys/kernel/coretakeover/takeover_state")?;
        ensure!(state.trim() == "holding", "the survivor after a refused giveback: {state}");
        Ok(())
    }

    /// Boots a panicked `node` again: its boot service saves the dump and
    /// arms, its agent waits for its disks.
    pub fn reboot(&mut self, node: NodeName) -> Result<()> {
        self.cluster.restart(node, NODE_MIB)?;
        let deadline = self.cluster.deadline;
        let slow = self.cluster.slow;
        let n = self.cluster.node(node)?;
        let outcome = super::boot::boot_service_started(n, Duration::from_secs(600) * self.slow * slow)?;
        ensure!(outcome == "done", "{node:?}'s boot service: {outcome}");
        n.wait_console(0, &format!("{} (own): waiting", service(node)), Duration::from_secs(120) * self.slow, deadline)
            .context("the agent of the rebooted node does not wait for its disks")?;
        Ok(())
    }

    /// The partner gives `node`'s service back (the agent stops it there,
    /// then the disks go back); `node`'s agent reserves them and serves.
    pub fn giveback(&mut self, node: NodeName) -> Result<Outcome> {
        let survivor = other(node);
        let deadline = self.cluster.deadline;
        let s = self.survivor_sees_alive(survivor)?;
        let s_mark = s.console.mark();
        let n_mark = self.cluster.node(node)?.console.mark();
        let s = self.cluster.node(survivor)?;
        let out = s.shell.ok("userland coretakeover giveback --json", Duration::from_secs(240) * self.slow)?;
        let reply: Value = serde_json::from_str(out.trim()).with_context(|| format!("giveback: {out}"))?;
        ensure!(reply["takeover_state"] == "watching", "giveback: {reply}");
        let at = s.wait_console(s_mark, &format!("{} (partner): stopping (giveback)", service(node)), Duration::from_secs(5), deadline)?.at;
        let running =
            self.cluster.node(node)?.wait_console(n_mark, &format!("{} (own): running", service(node)), Duration::from_secs(120) * self.slow, deadline)?;
        self.wait_resumed(running.at, Duration::from_secs(240) * self.slow)?;
        std::thread::sleep(Duration::from_secs(2));
        self.outcome("giveback", at, Some(running.at))
    }
}

fn cluster_deadline(ctx: &Ctx<'_>) -> Instant {
    ctx.deadline
}

/// `node`'s configuration, in its persistent /etc (the results directory,
/// /results/etc/node-X in the guest): coretakeover.conf with both services
/// and [hooks]; hooks.d/50-nfs, the installed hook; nfs/nfs-a.conf and
/// nfs/nfs-b.conf, the services' filesystems as this node names them.
fn write_node_files(cluster: &mut Cluster, ctx: &Ctx<'_>, node: NodeName, self_fence: Option<&str>) -> Result<()> {
    let partner = other(node);
    let own = by_path(cluster, node, cluster.lun_of(node, 0))?;
    let theirs = by_path(cluster, node, cluster.lun_of(partner, 0))?;
    let etc = ctx.dir.join(format!("etc/node-{}", node.letter()));
    std::fs::create_dir_all(etc.join("coretakeover/hooks.d"))?;
    std::fs::create_dir_all(etc.join("coretakeover/nfs"))?;
    // Whatever the harness's umask: the agent refuses a hooks directory
    // that its group or others can write.
    for d in ["coretakeover", "coretakeover/hooks.d", "coretakeover/nfs"] {
        std::fs::set_permissions(etc.join(d), std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    }
    let config = format!(
        "# coretakeover.conf of node {l}, written by the NFS scenarios\n\
         cluster_id = {CLUSTER_ID}\nnode_id = {id}\n\n[dump]\ndisk = \"label\"\ncrash_dir = \"/results/crash-{l}\"\n\n\
         [service]\nname = \"{own_svc}\"\ndisks = [\"{own}\"]\n\n\
         [partner]\nnode_id = {pid}\nservice = \"{their_svc}\"\ndisks = [\"{theirs}\"]\n\
         dump_disk = \"/dev/disk/by-coretakeover/cluster-{CLUSTER_ID}-node-{pid}\"\n\n\
         [policy]\nstale_timeout_ms = 2000\n{self_fence}\n[hooks]\nmonitor_interval_s = 2\n{limits}",
        self_fence = self_fence.map_or(String::new(), |m| format!("self_fence = \"{m}\"\n")),
        l = node.letter(),
        // On a KASAN kernel the hook's programs run several times slower
        // (its start took over 120 s, the default limit): the agent's
        // limits scale with the kernel's slowness.
        limits = if ctx.env.slow > 1 {
            format!("start_timeout_s = {t}\nstop_timeout_s = {t}\nmonitor_timeout_s = {m}\n", t = 120 * ctx.env.slow, m = 20 * ctx.env.slow)
        } else {
            String::new()
        },
        id = node.id(),
        own_svc = service(node),
        pid = partner.id(),
        their_svc = service(partner),
    );
    std::fs::write(etc.join("coretakeover.conf"), config)?;
    let link = etc.join("coretakeover/hooks.d/50-nfs");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink("/usr/lib/coretakeover/hooks/nfs", &link)?;
    for (owner, device) in [(node, &own), (partner, &theirs)] {
        let text = format!(
            "# The {svc} service (the same file on both nodes, but for the name of the disk)\n\
             DEVICE={device}\nFSTYPE=ext4\nMOUNTPOINT=/srv/{svc}\n\
             EXPORTS='/srv/{svc} 10.0.0.0/24(rw,sync,no_subtree_check,no_root_squash,fsid=0)'\n\
             ADDRESS={addr}/24\nINTERFACE=eth0\n",
            svc = service(owner),
            addr = service_address(owner),
        );
        std::fs::write(etc.join(format!("coretakeover/nfs/{}.conf", service(owner))), text)?;
    }
    Ok(())
}

/// Fails on anything lost or any error an application saw; reports
/// replays.
pub(crate) fn judge(ctx: &mut Ctx<'_>, o: &Outcome) -> Result<()> {
    let lost = o.lost_acked_writes;
    let stalls: Vec<String> = o.stall_ms.iter().map(|(t, ms)| format!("{t} {:.1} s", *ms as f64 / 1000.0)).collect();
    ctx.step(&format!(
        "{}: the clients stalled {} (service running {} after the event); {} failed operations, {} replayed, {} acknowledged records lost",
        o.event,
        stalls.join(", "),
        o.service_ms.map_or("?".into(), |ms| format!("{:.1} s", ms as f64 / 1000.0)),
        o.failed_ops.len(),
        o.replayed_ops.len(),
        lost
    ));
    ctx.fact(&format!("nfs_{}", o.event), json!({ "outcome": o.to_json(), "lost_acked_writes": lost }));
    ensure!(!o.stall_ms.is_empty(), "no stall measured for the {}", o.event);
    ensure!(lost == 0, "{lost} acknowledged records lost after the {}", o.event);
    ensure!(o.lost_acked_ops.is_empty(), "acknowledged operations lost during the {}: {:?}; listings {:?}", o.event, o.lost_acked_ops, o.listings);
    ensure!(o.failed_ops.is_empty(), "operations failed for the application during the {}: {:?}; listings {:?}", o.event, o.failed_ops, o.listings);
    Ok(())
}

/// A panics mid-workload; B serves nfs-a; A boots, and gets it back.
pub fn panic_and_giveback(ctx: &mut Ctx<'_>) -> Result<()> {
    let mut pair = NfsPair::start(ctx)?;
    ctx.step("A panics while the client writes: B takes A's LUN over and starts nfs-a (journal replay, nfsd, address, ARP, tickles)");
    let o = pair.panic(NodeName::A)?;
    let o = pair.finish(o)?;
    judge(ctx, &o)?;

    ctx.step("A boots, saves its dump, arms; its agent waits for its disk; the client writes on");
    pair.reboot(NodeName::A)?;
    pair.start_load()?;
    let g = pair.giveback(NodeName::A)?;
    let g = pair.finish(g)?;
    judge(ctx, &g)
}

/// A hangs: B fences it and serves nfs-a; A resumes, finds itself fenced,
/// stops serving and will not take its disk back before a reboot (B's
/// giveback is refused until then); A reboots; giveback returns nfs-a.
pub fn hang_and_giveback(ctx: &mut Ctx<'_>) -> Result<()> {
    let mut pair = NfsPair::start(ctx)?;
    ctx.step("A hangs (its vCPUs stop): B fences it after the 2 s heartbeat timeout and serves nfs-a");
    let o = pair.hang(NodeName::A)?;
    ctx.step("A resumes: its agent sees its disk reserved by B, stops nfs-a at once (address first), and waits for a reboot");
    pair.resume_fenced(NodeName::A)?;
    std::thread::sleep(Duration::from_secs(3));
    let o = pair.finish(o)?;
    judge(ctx, &o)?;

    ctx.step("B's giveback is refused (A has not registered since it was fenced); B keeps serving nfs-a");
    pair.giveback_refused(NodeName::A)?;
    ctx.step("A reboots, as a fenced node must: its boot service registers it on its disk, its agent waits");
    pair.reboot(NodeName::A)?;

    pair.start_load()?;
    let g = pair.giveback(NodeName::A)?;
    let g = pair.finish(g)?;
    judge(ctx, &g)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(ms: u64, tag: &str, writer: u32, seq: u64) -> Ack {
        Ack { at: Duration::from_millis(ms), tag: tag.into(), writer, seq }
    }

    #[test]
    fn the_stall_is_the_worst_writers_gap_in_the_failover_window() {
        let acks = [
            ack(100, "v3", 0, 0),
            ack(900, "v3", 0, 1),
            ack(2500, "v3", 0, 2),
            ack(950, "v3", 1, 0),
            ack(3950, "v3", 1, 1),
            ack(990, "v41", 0, 0),
            ack(1500, "v41", 0, 1),
            ack(990, "v41", 1, 0),
            ack(1100, "v41", 1, 1),
            ack(1200, "v41", 1, 2),
        ];
        let ms = Duration::from_millis;
        assert_eq!(stall(&acks, "v3", ms(1000), ms(1000)), Some(ms(3000)));
        assert_eq!(stall(&acks, "v41", ms(1000), ms(1000)), Some(ms(510)));
        assert_eq!(stall(&acks, "v3", ms(5000), ms(5000)), None, "nothing after the event");
        // A giveback: acknowledgements go on for a while after its first
        // step; the outage comes later, before the service runs again.
        let later = [ack(0, "v3", 0, 0), ack(100, "v3", 0, 1), ack(200, "v3", 0, 2), ack(4200, "v3", 0, 3), ack(4300, "v3", 0, 4)];
        let two = [later.to_vec(), later.iter().map(|a| Ack { writer: 1, ..a.clone() }).collect()].concat();
        assert_eq!(stall(&two, "v3", ms(50), ms(4000)), Some(ms(4000)));
        assert_eq!(stall(&two, "v3", ms(50), ms(4350)), None, "not resumed after the service came up");
    }

    #[test]
    fn ack_lines_parse_even_after_other_output() {
        let line = crate::console::Line { at: Duration::from_millis(5), text: "[  3.1] x @@ACK v41 w1 77".into() };
        let a = parse_ack(&line).unwrap();
        assert_eq!((a.tag.as_str(), a.writer, a.seq), ("v41", 1, 77));
        assert!(parse_ack(&crate::console::Line { at: Duration::ZERO, text: "@@ACK v3".into() }).is_none());
    }
}
