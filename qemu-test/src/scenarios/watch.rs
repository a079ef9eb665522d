// SPDX-License-Identifier: GPL-2.0

//! A watch that never stops: nothing A does with its own coredump disk may
//! delay its watch of B by more than a watch interval.
//!
//! - `arming`: B panics while A arms its coredump disk with `dump_codec
//!   auto` (the rehearsal, the codec probes, the page census: seconds under
//!   emulation, all under the arming lock). A must hold B's LUN before its
//!   own arming ends: its takeover-done line comes before its armed line.
//! - `disk-hang`: A's coredump disk stops taking writes (QEMU throttles it
//!   to 1 byte/s), so A's heartbeat write hangs; then B panics. A must hold
//!   B's LUN within the usual takeover time.
//!
//! In both, A's `watch_gap_max_ms` (the longest gap between two turns of
//! its watch) is reported and must stay within a few watch intervals.
//! B does not watch A (A's heartbeat stops on purpose here).

use super::dump::{configure, label_and_arm};
use super::takeover::{last_takeover, pair};
use super::Ctx;
use crate::array::ArrayKind;
use crate::cluster::{Cluster, ClusterSpec, NodeName};
use anyhow::{ensure, Context, Result};
use std::time::Duration;

const SYSFS: &str = "/sys/kernel/coretakeover";
/// A's RAM: the more, the longer its arming (the page census).
const A_MIB: u32 = 1536;
/// The longest acceptable gap between two watch turns, and the longest
/// acceptable takeover after B's panic line, under TCG on a loaded
/// machine (watch_interval_ms is 20; a takeover takes tens of ms).
const GAP_LIMIT_MS: u64 = 1000;
const TAKEOVER_LIMIT: Duration = Duration::from_secs(3);
/// A's coredump disk while it arms: the rehearsal writes 8 MiB through the
/// panic path, so at this rate the arming lock is held for 4 s or more.
const ARMING_DISK_BYTES_S: u64 = 2_000_000;

/// The guest's own time stamp of a console line (`[   5.213808] ...`), in
/// seconds: the same clock for two lines of one node, whatever the console
/// delivered late.
fn guest_time(text: &str) -> Option<f64> {
    text.trim_start().strip_prefix('[')?.split(']').next()?.trim().parse().ok()
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Arming,
    DiskHang,
}

/// The pair: B armed and owning its LUN; A registered on it and watching
/// B. A is not armed yet.
fn start(ctx: &mut Ctx<'_>) -> Result<(Cluster, usize)> {
    ctx.step(&format!("booting the LIO array, node A ({A_MIB} MiB) watching B, and node B owning its LUN"));
    let spec = ClusterSpec { memory_of: vec![(NodeName::A, A_MIB)], ..pair(ArrayKind::Lio, 1) };
    let mut cluster = Cluster::start(&spec, ctx.env, &ctx.dir, ctx.deadline)?;
    let b_lun = cluster.lun_of(NodeName::B, 0);
    let b = cluster.node(NodeName::B)?;
    configure(b, NodeName::B)?;
    label_and_arm(b, NodeName::B)?;
    b.ok(&format!("echo $(lun_dev {b_lun}) > {SYSFS}/service_disks"))?;
    let a = cluster.node(NodeName::A)?;
    configure(a, NodeName::A)?;
    a.ok(&format!(
        "dev=$(coredump_dev a) && dump_ready $dev && coretakeover label --disk $dev --cluster {} --node 1",
        super::dump::CLUSTER_ID
    ))?;
    a.ok(&format!(
        "echo 2 > {SYSFS}/partner_id && echo $(lun_dev {b_lun}) > {SYSFS}/partner_disks && echo $(coredump_dev b) > {SYSFS}/partner_dump_disk"
    ))?;
    a.ok(&format!("i=0; until [ \"$(cat {SYSFS}/partner_state)\" = alive ]; do i=$((i+1)); [ $i -gt 150 ] && exit 1; sleep 0.1; done"))
        .context("A never saw B's heartbeat move")?;
    Ok((cluster, b_lun))
}

pub fn run(ctx: &mut Ctx<'_>, case: Case) -> Result<()> {
    let (mut cluster, _) = start(ctx)?;
    let deadline = cluster.deadline;
    let a_mark = cluster.node(NodeName::A)?.console.mark();
    match case {
        Case::Arming => {
            ctx.step(&format!(
                "A arms its coredump disk with dump_codec auto, the disk slowed to {} MB/s so that the rehearsal's writes take seconds; B panics while A arms",
                ARMING_DISK_BYTES_S / 1_000_000
            ));
            let a = cluster.node(NodeName::A)?;
            a.ok(&format!("echo auto > {SYSFS}/dump_codec && echo 0 > {SYSFS}/watch_gap_max_ms"))?;
            a.throttle_writes("coredump-a", ARMING_DISK_BYTES_S)?;
            a.ok(&format!("(echo $(coredump_dev a) > {SYSFS}/dump_disk) </dev/null >/tmp/arm.out 2>&1 &"))?;
        }
        Case::DiskHang => {
            label_and_arm(cluster.node(NodeName::A)?, NodeName::A)?;
            ctx.step("A's coredump disk stops taking writes (throttled to 1 byte/s): A's heartbeat write hangs; then B panics");
            let a = cluster.node(NodeName::A)?;
            a.ok(&format!("echo 0 > {SYSFS}/watch_gap_max_ms"))?;
            a.throttle_writes("coredump-a", 1)?;
            // A heartbeat write is now stuck (interval_ms 100).
            a.ok("sleep 1")?;
        }
    }
    let b_mark = cluster.node(NodeName::B)?.console.mark();
    let b = cluster.node(NodeName::B)?;
    b.ok("(sleep 0.5; echo c > /proc/sysrq-trigger) >/dev/null 2>&1 &")?;
    let panicked = b.wait_console(b_mark, "Kernel panic - not syncing", Duration::from_secs(30), deadline)?;
    let a = cluster.node(NodeName::A)?;
    let done = a.wait_console(a_mark, "coretakeover: takeover done", Duration::from_secs(60), deadline)?;
    let takeover = done.at.saturating_sub(panicked.at);
    ctx.step(&format!(
        "A: {} ({:.0} ms after B's panic line, host clock)",
        done.text.split("coretakeover: ").nth(1).unwrap_or(""),
        takeover.as_secs_f64() * 1e3
    ));
    ctx.fact("takeover_ms", takeover.as_secs_f64() * 1e3);
    match case {
        Case::Arming => {
            let armed = a.wait_console(a_mark, "armed:", Duration::from_secs(300), deadline)?;
            let (Some(t_done), Some(t_armed)) = (guest_time(&done.text), guest_time(&armed.text)) else {
                anyhow::bail!("no guest time stamps on A's lines: {} / {}", done.text, armed.text);
            };
            ctx.step(&format!("A's arming ended {:.0} ms after its takeover (A's own clock)", (t_armed - t_done) * 1e3));
            ensure!(t_armed > t_done, "A's arming ended before its takeover: the watch waited for the arming ({})", armed.text);
            ensure!(a.ok(&format!("cat {SYSFS}/dump_state"))?.trim() == "armed", "A did not arm: {}", a.ok("cat /tmp/arm.out")?);
        }
        Case::DiskHang => {
            // The heartbeat thread is still stuck in its write.
            let stuck = a.ok("for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = coretakeover ] && cat $p/wchan; done; echo")?;
            ctx.step(&format!("A's heartbeat thread (coretakeover) waits in {}", stuck.trim()));
            // Let the stuck write go: what reads the armed disk's state
            // (status) waits for the heartbeat's lock.
            a.throttle_writes("coredump-a", 0)?;
        }
    }
    let gap: u64 = a.ok(&format!("cat {SYSFS}/watch_gap_max_ms"))?.trim().parse().context("watch_gap_max_ms")?;
    ctx.fact("watch_gap_max_ms", gap);
    ctx.step(&format!("the longest gap between two turns of A's watch: {gap} ms (watch_interval_ms 20)"));
    ensure!(gap <= GAP_LIMIT_MS, "A's watch stopped for {gap} ms");
    ensure!(takeover <= TAKEOVER_LIMIT, "A took over {:.0} ms after B's panic", takeover.as_secs_f64() * 1e3);
    let last = last_takeover(cluster.node(NodeName::A)?)?;
    ensure!(last["disks_held"] == 1, "A's takeover: {last}");
    Ok(())
}
