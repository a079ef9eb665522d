// SPDX-License-Identifier: GPL-2.0

//! A node fenced while it hung fences itself as soon as it runs again.
//!
//! Both nodes are armed, own one LUN each and watch each other. A's
//! `self_fence` is `panic`. First the expected case: A stops on purpose
//! (disarms: its heartbeat says stopped) and B takes A's LUN over by
//! command; A, armed again while B holds it, does nothing: it lost its disk
//! on purpose. Then, A's disk given back and reserved again, A hangs (its
//! vCPUs stopped), B fences it when its heartbeat goes stale, and B's
//! heartbeat now says it holds A's disks. A resumes: its first turn of the
//! watch reads that, confirms that its own LUN is held by B's key, and
//! panics (and dumps) before it does anything else with its disk. Measured
//! on the host clock, from the moment A's vCPUs resume to A's self-fence
//! line.

use super::dump::{configure, label_and_arm};
use super::takeover::pair;
use super::Ctx;
use crate::array::ArrayKind;
use crate::cluster::{Cluster, NodeName};
use anyhow::{ensure, Context, Result};
use std::time::Duration;

const SYSFS: &str = "/sys/kernel/coretakeover";
/// The longest A may take from resuming to fencing itself.
const SELF_FENCE_BOUND: Duration = Duration::from_secs(5);

fn wait_alive(cluster: &mut Cluster, node: NodeName) -> Result<()> {
    cluster
        .node(node)?
        .ok(&format!("i=0; until [ \"$(cat {SYSFS}/partner_state)\" = alive ]; do i=$((i+1)); [ $i -gt 150 ] && exit 1; sleep 0.1; done"))
        .with_context(|| format!("{node:?} never saw its partner's heartbeat move"))
        .map(drop)
}

pub fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.step("booting the LIO array and nodes A and B (one LUN each), both armed, each owning its LUN and watching the other");
    let mut cluster = Cluster::start(&pair(ArrayKind::Lio, 1), ctx.env, &ctx.dir, ctx.deadline)?;
    let deadline = cluster.deadline;
    let (a_lun, b_lun) = (cluster.lun_of(NodeName::A, 0), cluster.lun_of(NodeName::B, 0));
    for (node, own) in [(NodeName::A, a_lun), (NodeName::B, b_lun)] {
        let g = cluster.node(node)?;
        configure(g, node)?;
        label_and_arm(g, node)?;
        g.ok(&format!("echo $(lun_dev {own}) > {SYSFS}/service_disks"))?;
    }
    for (node, theirs, partner) in [(NodeName::A, b_lun, NodeName::B), (NodeName::B, a_lun, NodeName::A)] {
        cluster.node(node)?.ok(&format!(
            "echo {} > {SYSFS}/partner_id && echo $(lun_dev {theirs}) > {SYSFS}/partner_disks && \
             echo 2000 > {SYSFS}/stale_timeout_ms && echo $(coredump_dev {}) > {SYSFS}/partner_dump_disk",
            partner.id(),
            partner.letter()
        ))?;
    }
    let a = cluster.node(NodeName::A)?;
    a.ok(&format!("echo panic > {SYSFS}/self_fence"))?;
    ensure!(a.ok(&format!("cat {SYSFS}/self_fence"))?.trim() == "panic", "self_fence does not read back panic");
    a.fails(&format!("echo poweroff > {SYSFS}/self_fence")).context("self_fence took a mode it does not have")?;
    wait_alive(&mut cluster, NodeName::A)?;
    wait_alive(&mut cluster, NodeName::B)?;

    ctx.step("the expected case: A stops on purpose (disarms), B takes A's LUN over by command; A, armed again, stays up");
    let a_mark = cluster.node(NodeName::A)?.console.mark();
    cluster.node(NodeName::A)?.ok(&format!("echo none > {SYSFS}/dump_disk"))?;
    let b = cluster.node(NodeName::B)?;
    b.ok(&format!("i=0; until [ \"$(cat {SYSFS}/partner_state)\" = stopped ]; do i=$((i+1)); [ $i -gt 150 ] && exit 1; sleep 0.1; done"))
        .context("B never saw A's heartbeat say stopped")?;
    b.ok(&format!("echo 1 > {SYSFS}/takeover"))?;
    let a = cluster.node(NodeName::A)?;
    a.ok("sleep 2")?;
    a.ok(&format!("echo $(coredump_dev a) > {SYSFS}/dump_disk"))?;
    a.ok("sleep 3")?;
    let a = cluster.node(NodeName::A)?;
    ensure!(a.console.find(a_mark, "self-fence").is_none(), "A fenced itself after a planned stop");
    ensure!(a.ok("echo up")?.trim() == "up", "A does not answer");
    ctx.step("A is up 3 s after arming again while B holds its LUN: no self-fence after a planned stop");

    ctx.step("A asks for its LUN (registers; B holds it), B gives it back, A reserves it again");
    let a = cluster.node(NodeName::A)?;
    let out = a.fails(&format!("echo $(lun_dev {a_lun}) > {SYSFS}/service_disks"))?;
    ensure!(out.contains("busy"), "A's service_disks while B holds its LUN: {out}");
    wait_alive(&mut cluster, NodeName::B)?;
    cluster.node(NodeName::B)?.ok(&format!("echo 1 > {SYSFS}/giveback"))?;
    cluster.node(NodeName::A)?.ok(&format!("echo $(lun_dev {a_lun}) > {SYSFS}/service_disks"))?;
    wait_alive(&mut cluster, NodeName::B)?;

    ctx.step("A hangs (vCPUs stopped); B fences it when A's heartbeat goes stale");
    let b_mark = cluster.node(NodeName::B)?.console.mark();
    let a_mark = cluster.node(NodeName::A)?.console.mark();
    cluster.node(NodeName::A)?.pause()?;
    let b = cluster.node(NodeName::B)?;
    let done = b.wait_console(b_mark, "coretakeover: takeover done", Duration::from_secs(60), deadline)?;
    ensure!(done.text.contains("1 of 1 disks held") && done.text.contains("stale-heartbeat"), "{}", done.text);
    // B's heartbeat says so from its next write (interval_ms).
    b.ok("sleep 0.5")?;

    ctx.step("A resumes: it must fence itself (self_fence panic) before anything else");
    let resumed = cluster.now();
    cluster.node(NodeName::A)?.resume()?;
    let a = cluster.node(NodeName::A)?;
    let fenced = a.wait_console(a_mark, "coretakeover: self-fence (panic)", SELF_FENCE_BOUND, deadline)?;
    let ms = fenced.at.saturating_sub(resumed).as_secs_f64() * 1e3;
    ensure!(fenced.text.contains("its heartbeat says so"), "A's self-fence did not come from B's heartbeat: {}", fenced.text);
    let panicked = a.wait_console(a_mark, "Kernel panic - not syncing: coretakeover: self-fence", Duration::from_secs(30), deadline)?;
    ctx.fact("self_fence_ms_after_resume", ms);
    ctx.step(&format!("A: {} ({ms:.0} ms after its vCPUs resumed, host clock)", fenced.text.split("coretakeover: ").nth(1).unwrap_or("")));
    let a = cluster.node(NodeName::A)?;
    let end = a.wait_console(a_mark, "coretakeover: dump ", Duration::from_secs(180), deadline)?;
    ensure!(end.text.contains("dump complete"), "A's dump after its self-fence: {}", end.text);
    ctx.step(&format!("A panicked ({}) and dumped: {}", panicked.text.trim(), end.text.split("coretakeover: ").nth(1).unwrap_or("")));
    ensure!(cluster.node(NodeName::B)?.ok(&format!("cat {SYSFS}/takeover_state"))?.trim() == "holding", "B let go of A's LUN");
    Ok(())
}

/// A client that still reaches a service's address at its old owner, as a
/// client behind a stale ARP cache or a slow switch does: its neighbour
/// entry for the address is pinned to the owner's MAC address. It mounts
/// the service over NFSv3 (soft, 2 s per try, 2 tries) and probes it
/// every 100 ms with one O_DIRECT read and one O_DIRECT write of its own
/// file (which the owner has in its page cache). Each probe prints `@@STALE
/// read|write rc=RC ms=MS N` on its console (stamped with the host's clock
/// on arrival). A probe was answered if it succeeded, or failed in less
/// than a try's timeout: an error the server sent (a fenced node's
/// filesystem failing is still an answer from it); one that failed after
/// the timeout got no answer.
pub(crate) struct StaleClient {
    index: usize,
    mark: usize,
}

/// Where the stale client mounts the service.
const STALE_MOUNT: &str = "/mnt/stale";

impl StaleClient {
    /// `mac` prints, on `owner`, the MAC address of the link that holds
    /// the service's address.
    pub fn start(cluster: &mut Cluster, index: usize, owner: NodeName, mac: &str, address: &str, export: &str, slow: u32) -> Result<Self> {
        let mac = cluster.node(owner)?.ok(mac)?.trim().to_string();
        ensure!(mac.len() == 17, "the MAC address of {address} on {owner:?}: {mac:?}");
        let c = cluster.client(index)?;
        c.shell.ok("userland_up", Duration::from_secs(480) * slow)?;
        c.ok(&format!("userland ip neigh replace {address} lladdr {mac} dev eth0 nud permanent"))?;
        // Soft: a probe that gets no answer fails after a few seconds and
        // the next one is sent (each one on the connection to the owner).
        c.shell.ok(
            &format!("userland mkdir -p {STALE_MOUNT} && userland mount -t nfs -o vers=3,nolock,proto=tcp,soft,timeo=20,retrans=1 {address}:{export} {STALE_MOUNT}"),
            Duration::from_secs(120),
        )?;
        c.ok(&format!("userland dd if=/dev/urandom of={STALE_MOUNT}/stale-probe bs=4096 count=4 oflag=direct conv=fsync 2>&1"))?;
        let mark = c.console.mark();
        c.ok(&format!(
            "userland sh -c 'i=0; while :; do t=$(date +%s%N); dd if={m}/stale-probe of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null; rc=$?; echo \"@@STALE read rc=$rc ms=$((($(date +%s%N) - t) / 1000000)) $i\"; t=$(date +%s%N); dd if=/dev/zero of={m}/stale-probe bs=4096 seek=1 count=1 oflag=direct conv=notrunc 2>/dev/null; rc=$?; echo \"@@STALE write rc=$rc ms=$((($(date +%s%N) - t) / 1000000)) $i\"; i=$((i+1)); sleep 0.1; done </dev/null >/dev/console 2>&1 & echo $! > /run/ct-stale.pid'",
            m = STALE_MOUNT
        ))?;
        let mut me = Self { index, mark };
        // The probe works: the owner answers it before anything happens.
        let until = cluster.until(Duration::from_secs(60));
        while me.answered(cluster, Duration::ZERO)?.len() < 6 {
            ensure!(std::time::Instant::now() < until, "the stale client's probes were never answered: {:?}", cluster.client(index)?.console.tail(6));
            std::thread::sleep(Duration::from_millis(200));
        }
        me.mark = mark;
        Ok(me)
    }

    /// The probes that ended after `after`, as (line, answered).
    fn probes(&self, cluster: &mut Cluster, after: Duration) -> Result<Vec<(crate::console::Line, bool)>> {
        let lines = cluster.client(self.index)?.console.lines_from(self.mark);
        Ok(lines.into_iter().filter(|l| l.at > after).filter_map(|l| probe_answered(&l.text).map(|a| (l, a))).collect())
    }

    /// The probes answered (with data or an error) that ended after `after`.
    pub fn answered(&self, cluster: &mut Cluster, after: Duration) -> Result<Vec<crate::console::Line>> {
        Ok(self.probes(cluster, after)?.into_iter().filter(|(_, a)| *a).map(|(l, _)| l).collect())
    }

    /// The probes that got no answer (timed out) after `after`.
    pub fn refused(&self, cluster: &mut Cluster, after: Duration) -> Result<usize> {
        Ok(self.probes(cluster, after)?.iter().filter(|(_, a)| !*a).count())
    }

    /// Ends the probe loop (by its PID).
    pub fn stop(&self, cluster: &mut Cluster) -> Result<()> {
        cluster.client(self.index)?.ok("kill $(userland cat /run/ct-stale.pid) 2>/dev/null; true").map(drop)
    }
}

/// Whether a probe's line (`@@STALE read rc=1 ms=4012 7`) says it was
/// answered: it succeeded, or failed sooner than one try's timeout (2 s).
/// None if the line is not a probe's.
fn probe_answered(text: &str) -> Option<bool> {
    let mut words = text.split_whitespace().skip_while(|w| *w != "@@STALE").skip(1);
    let _op = words.next().filter(|op| *op == "read" || *op == "write")?;
    let rc: i32 = words.next()?.strip_prefix("rc=")?.parse().ok()?;
    let ms: u64 = words.next()?.strip_prefix("ms=")?.parse().ok()?;
    Some(rc == 0 || ms < 1500)
}

/// Seconds on the kernel's clock of a console line ("[  136.533161] ...").
fn kernel_secs(text: &str) -> Option<f64> {
    let open = text.find('[')?;
    let close = open + text[open..].find(']')?;
    text[open + 1..close].trim().parse().ok()
}

/// How long node A hangs with interrupts off, on its own clock: longer than
/// the stale timeout (2 s) of the scenarios.
const HANG_MS: u64 = 4000;

/// A hangs with every CPU's interrupts off (the test module's `hang MS`);
/// while it spins, the host stops its vCPUs too, so that the hang lasts, on
/// the host, until `until_held` says B holds its disks (however long the
/// failover takes on this machine), and `HANG_MS` on A's own clock. Returns
/// when A was hung (host clock) and its line saying when the hang began.
fn hang_a(cluster: &mut Cluster, deadline: std::time::Instant) -> Result<(Duration, crate::console::Line)> {
    let a = cluster.node(NodeName::A)?;
    a.ok("[ -d /sys/module/ct_panic_trigger ] || insmod /ct/ct_panic_trigger.ko")?;
    let mark = a.console.mark();
    a.ok(&format!("echo 'hang {HANG_MS}' > /sys/kernel/ct_panic_trigger/panic"))?;
    let hung = a.wait_console(mark, "CPUs hang with interrupts off", Duration::from_secs(30), deadline)?;
    let began = a.console.find(mark, "the hang begins").context("no line says when the hang began")?;
    cluster.node(NodeName::A)?.pause()?;
    Ok((hung.at, began))
}

/// A resumes (its CPUs spin out the rest of the hang): it must fence
/// itself from its lapse check before it answers anything, and the stale
/// client must get no answer from it after `held` (B's takeover done).
/// Returns the self-fence's delay after the hang's end, on A's clock (ms):
/// the hang began at `began`'s kernel time stamp and lasted `HANG_MS`.
fn resume_and_judge(ctx: &mut Ctx<'_>, cluster: &mut Cluster, stale: &StaleClient, held: Duration, (hung, began): (Duration, crate::console::Line)) -> Result<f64> {
    let deadline = cluster.deadline;
    let before = stale.answered(cluster, Duration::ZERO)?.iter().filter(|l| l.at <= hung).count();
    let a_mark = cluster.node(NodeName::A)?.console.mark();
    cluster.node(NodeName::A)?.resume()?;
    // Without a self-fence, A would answer the client's next retransmission
    // (seconds away, after its backoff): the wait is long enough for it.
    let a = cluster.node(NodeName::A)?;
    let fenced = a.wait_console(a_mark, "coretakeover: self-fence (", Duration::from_secs(60), deadline).ok();
    let panicked = match &fenced {
        Some(_) => Some(a.wait_console(a_mark, "Kernel panic - not syncing: coretakeover: self-fence", Duration::from_secs(30), deadline)?),
        None => None,
    };
    // Anything A still answered would reach the client within a few
    // seconds (its probes wait 2 s for an answer).
    std::thread::sleep(Duration::from_secs(5));
    let late = stale.answered(cluster, held)?;
    let refused = stale.refused(cluster, hung)?;
    stale.stop(cluster)?;
    ctx.fact("stale_client", serde_json::json!({ "answered_before_hang": before, "failed_after_hang": refused, "answered_after_takeover": late.len() }));
    ensure!(before > 0, "the stale client's probes were never answered before the hang: the check could not see an answer");
    ensure!(
        late.is_empty(),
        "A answered {} of the stale client's probes (with data or an error) after B held its disks: {:?}",
        late.len(),
        late.iter().map(|l| format!("{:.3} s {}", l.at.as_secs_f64(), l.text.trim())).collect::<Vec<_>>()
    );
    let (Some(fenced), Some(panicked)) = (fenced, panicked) else { anyhow::bail!("A never fenced itself") };
    // The hang ended HANG_MS after it began, on A's clock.
    let ms = match (kernel_secs(&began.text), kernel_secs(&fenced.text)) {
        (Some(b), Some(f)) => (f - b) * 1e3 - HANG_MS as f64,
        _ => anyhow::bail!("no kernel time stamps: {} / {}", began.text, fenced.text),
    };
    ctx.step(&format!(
        "A: {} ({ms:.1} ms after the hang's end on A's clock); {}",
        fenced.text.split("coretakeover: ").nth(1).unwrap_or("").trim(),
        panicked.text.trim()
    ));
    ctx.fact("self_fence_after_hang_ms", ms);
    ensure!(fenced.text.contains("heartbeat last reached its disk"), "A's self-fence did not come from its lapse check: {}", fenced.text);
    ensure!(ms < 1000.0, "A fenced itself {ms:.0} ms after its hang ended");
    ctx.step(&format!(
        "the stale client (its ARP entry pinned to A): {before} probes answered by A before the hang, {refused} without an answer after it, none answered (not even with an error) after B held the disks"
    ));
    Ok(ms)
}

/// Under `coretakeover agent` (the NFS pair): A (self_fence panic) hangs
/// with interrupts off; B fences it on the stale heartbeat and serves
/// nfs-a; A resumes and panics from its lapse check before it answers the
/// client that still reaches nfs-a's address at A; the workload's client
/// loses nothing.
pub fn under_agent(ctx: &mut Ctx<'_>) -> Result<()> {
    use super::nfs::{judge, service_address, Extra, NfsPair};
    let extra = Extra { more_clients: 1, self_fence: vec![(NodeName::A, "panic")] };
    let mut pair = NfsPair::start_with(ctx, &extra)?;
    let slow = ctx.env.slow;
    ctx.step("a second client pins nfs-a's address to A's MAC address, mounts it and probes it (an O_DIRECT read and write every 100 ms)");
    // The address is on a macvlan of its own, in the service's network
    // namespace (the nfs hook).
    let mac = "userland ip -n ct-nfs-a -o link show | sed -n 's/.*link\\/ether \\([0-9a-f:]*\\).*/\\1/p' | head -n 1";
    let stale = StaleClient::start(&mut pair.cluster, 1, NodeName::A, mac, &service_address(NodeName::A), "/srv/nfs-a", slow)?;
    ensure!(pair.cluster.node(NodeName::A)?.ok(&format!("cat {SYSFS}/self_fence"))?.trim() == "panic", "A's self_fence is not panic");
    
    ctx.step(&format!("A hangs with every CPU's interrupts off ({HANG_MS} ms on its clock; held until B serves nfs-a)"));
    let b_mark = pair.cluster.node(NodeName::B)?.console.mark();
    let deadline = pair.cluster.deadline;
    let hang = hang_a(&mut pair.cluster, deadline)?;
    let hung = hang.0;
    let held = pair.cluster.node(NodeName::B)?.wait_console(b_mark, "coretakeover: takeover done", Duration::from_secs(60) * slow, deadline)?;
    ensure!(held.text.contains("1 of 1 disks held"), "B's takeover: {}", held.text);
    let o = pair.after_failover("hang", NodeName::A, NodeName::B, hung, b_mark)?;
    ctx.step("B holds A's LUN and serves nfs-a; A resumes");
    resume_and_judge(ctx, &mut pair.cluster, &stale, held.at, hang)?;
    let o = pair.finish(o)?;
    judge(ctx, &o)
}

/// Under Pacemaker (the kernel acts alone on a panic only): A (self_fence
/// panic) hangs with interrupts off; corosync loses it, Pacemaker fences it
/// through fence_coretakeover and runs svc-a on B; A resumes and panics
/// from its lapse check before it answers the client that still reaches
/// svc-a's address at A; the writing client loses nothing.
pub fn under_pacemaker(ctx: &mut Ctx<'_>) -> Result<()> {
    use super::pacemaker::{start_with, ADDRESS, EXPORT};
    let mut pair = start_with(ctx, 1, Some("panic"))?;
    let slow = ctx.env.slow;
    ctx.step("a second client pins svc-a's address to A's MAC address, mounts it and probes it (an O_DIRECT read and write every 100 ms)");
    // IPaddr2 puts the address on eth0 itself.
    let stale = StaleClient::start(&mut pair.cluster, 1, NodeName::A, "cat /sys/class/net/eth0/address", ADDRESS, EXPORT, slow)?;
    ensure!(pair.cluster.node(NodeName::A)?.ok(&format!("cat {SYSFS}/self_fence"))?.trim() == "panic", "A's self_fence is not panic");
    
    pair.cluster.node(NodeName::B)?.ok(
        "(until userland crm_resource --locate --resource tickle-a 2>/dev/null | grep -q 'running on: node-b'; do sleep 0.05; done; echo 'ct-pcmk: svc-a running on node-b' > /dev/console) >/dev/null 2>&1 &",
    )?;
    ctx.step(&format!("A hangs with every CPU's interrupts off ({HANG_MS} ms on its clock; held until svc-a runs on B)"));
    let b_mark = pair.cluster.node(NodeName::B)?.console.mark();
    let deadline = pair.cluster.deadline;
    let hang = hang_a(&mut pair.cluster, deadline)?;
    let hung = hang.0;
    let b = pair.cluster.node(NodeName::B)?;
    let held = b.wait_console(b_mark, "coretakeover: takeover done", Duration::from_secs(180) * slow, deadline)?;
    let running = b.wait_console(b_mark, "ct-pcmk: svc-a running on node-b", Duration::from_secs(180) * slow, deadline)?;
    let last = super::takeover::last_takeover(b)?;
    ensure!(last["reason"] == "command" && last["disks_held"] == 1, "B's takeover should be Pacemaker's fencing (reason command): {last}");
    pair.wait_acks(running.at, Duration::from_secs(180) * slow)?;
    ctx.step(&format!(
        "Pacemaker fenced A through fence_coretakeover ({:.1} s after the hang) and runs svc-a on B; the client writes on; A resumes",
        held.at.saturating_sub(hung).as_secs_f64()
    ));
    resume_and_judge(ctx, &mut pair.cluster, &stale, held.at, hang)?;
    let lost = pair.stop_and_verify()?;
    ensure!(lost == 0, "{lost} acknowledged records lost");
    ctx.step("every record the client was told is on stable storage read back");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::probe_answered;

    #[test]
    fn a_probe_is_answered_by_data_or_by_a_quick_error() {
        assert_eq!(probe_answered("[ 1.0] @@STALE read rc=0 ms=3 7"), Some(true));
        assert_eq!(probe_answered("[ 1.0] @@STALE write rc=1 ms=12 7"), Some(true), "an error the server sent");
        assert_eq!(probe_answered("@@STALE read rc=1 ms=4012 8"), Some(false), "timed out");
        assert_eq!(probe_answered("@@STALE read 8"), None);
        assert_eq!(probe_answered("something else"), None);
    }
}
