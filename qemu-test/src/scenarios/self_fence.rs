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
