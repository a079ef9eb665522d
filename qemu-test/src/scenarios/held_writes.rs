// SPDX-License-Identifier: GPL-2.0

//! Writes of the old owner held in the array when the takeover happens.
//!
//! The array holds every write that reaches one of A's LUNs for `HOLD_MS`
//! before it goes to the disk (a dm-delay device under LIO's block
//! backstore, `hold_writes` in `guest/lib.sh`), while A writes stamped
//! blocks to that LUN from several threads with O_DIRECT, so that several
//! of its writes are in the array's hands at any moment. Then A panics (or
//! hangs, and B fences it after the stale timeout) and B takes over.
//!
//! The criterion is the moment B's takeover says the disk is held: the
//! host reads the LUN's backing file then, and again once the hold has
//! passed twice over. No block may change between the two reads: every
//! write of A's landed before B held the disk, or never. (Comparing A's
//! stamps with writes B makes afterwards could not fail: one delay queue
//! keeps their order.) PREEMPT AND ABORT passes this: LIO completes it only
//! once the preempted key's queued commands are drained. A plain PREEMPT
//! (6.12's dm-multipath before this check existed) does not: the held
//! writes land seconds after it.

use super::multipath::{start_with, Disks};
use super::takeover::{last_takeover, pair, watched_pair_on};
use super::Ctx;
use crate::array::ArrayKind;
use crate::cluster::{Cluster, ClusterSpec, NodeName};
use anyhow::{ensure, Context, Result};
use std::time::Duration;

/// How long the array holds each write to A's LUN.
const HOLD_MS: u64 = 8000;
/// A's writer threads: writes in flight at once.
const THREADS: usize = 8;
/// Where A's stamped blocks go (4 KiB blocks from here; `SPAN` per thread).
const BASE_BLOCK: u64 = 1024;
const SPAN: u64 = 64;
const BLOCK: usize = 4096;

/// How the old owner stops.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// A panics: B takes over on the beacon.
    Panic,
    /// A hangs with interrupts off on every CPU (the test module's `hang`),
    /// QEMU still carrying its I/O: B fences it after the stale timeout.
    Hang,
}

/// The fabric between the nodes and the array.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Fabric {
    /// One path per LUN; the service disks are the `sd` devices.
    OnePath,
    /// Two paths per LUN; the service disks are dm-multipath maps.
    Multipath,
}

/// A's region of stamped blocks in the LUN's backing file, block by block.
fn read_region(cluster: &Cluster, lun: usize) -> Result<Vec<Vec<u8>>> {
    use std::io::{Read, Seek, SeekFrom};
    let image = cluster.lun_image(lun);
    let mut f = std::fs::File::open(image).with_context(|| format!("opening {}", image.display()))?;
    f.seek(SeekFrom::Start(BASE_BLOCK * BLOCK as u64))?;
    let mut region = vec![0u8; THREADS * SPAN as usize * BLOCK];
    f.read_exact(&mut region).with_context(|| format!("reading {}", image.display()))?;
    Ok(region.chunks(BLOCK).map(<[u8]>::to_vec).collect())
}

/// The stamp of a block: (node, thread, sequence), if it holds one.
fn stamp(block: &[u8]) -> Option<(char, u32, u64)> {
    let record = block.get(..32)?;
    if record.get(..8)? != b"ctstamp:" {
        return None;
    }
    let node = char::from(*record.get(8)?);
    let thread = u32::from_le_bytes(record.get(12..16)?.try_into().ok()?);
    let seq = u64::from_le_bytes(record.get(16..24)?.try_into().ok()?);
    Some((node, thread, seq))
}

/// The pair on `fabric`, every LUN on a dm-delay device in the array, B
/// watching A (stale timeout 2 s). Returns the cluster, A's LUN and the
/// device A writes to (shell word).
fn start(ctx: &mut Ctx<'_>, fabric: Fabric) -> Result<(Cluster, usize, String)> {
    match fabric {
        Fabric::OnePath => {
            ctx.step("booting the LIO array (each LUN on a dm-delay device) and nodes A and B, one path per LUN");
            let spec = ClusterSpec { hold_writes: true, ..pair(ArrayKind::Lio, 1) };
            let (cluster, _) = watched_pair_on(ctx, &spec, "")?;
            let lun = cluster.lun_of(NodeName::A, 0);
            Ok((cluster, lun, format!("$(lun_dev {lun})")))
        }
        Fabric::Multipath => {
            let spec = ClusterSpec { paths: 2, hold_writes: true, ..pair(ArrayKind::Lio, 2) };
            let cluster = start_with(ctx, spec, Disks::Maps, |_, _| Ok(()))?;
            let lun = cluster.lun_of(NodeName::A, 0);
            Ok((cluster, lun, format!("$(mpath_dev {lun})")))
        }
    }
}

/// What one run measured (`make bench` keeps them).
#[derive(Debug, serde::Serialize)]
pub struct HeldSample {
    pub fabric: &'static str,
    pub case: &'static str,
    /// A's writes the array held when A stopped.
    pub held_at_trigger: u64,
    /// How long B's PREEMPT (AND ABORT) took: the wait for the held writes.
    pub takeover_pr_ms: f64,
    pub method: String,
    /// A's blocks that landed before B's takeover said held, and after.
    pub landed_before: usize,
    pub landed_after: usize,
}

/// The scenario: see the file's doc.
pub fn run(ctx: &mut Ctx<'_>, fabric: Fabric, case: Case) -> Result<()> {
    measure(ctx, fabric, case).map(drop)
}

/// The scenario, returning what it measured.
pub fn measure(ctx: &mut Ctx<'_>, fabric: Fabric, case: Case) -> Result<HeldSample> {
    let (mut cluster, lun, dev) = start(ctx, fabric)?;
    let deadline = cluster.deadline;
    if case == Case::Hang {
        cluster.node(NodeName::A)?.ok("insmod /ct/ct_panic_trigger.ko")?;
    }
    let before = read_region(&cluster, lun)?;
    ensure!(before.iter().all(|b| stamp(b).is_none()), "LUN {lun} holds stamps before A wrote any");

    ctx.step(&format!("the array holds every write to A's LUN {lun} for {HOLD_MS} ms; A writes stamped blocks to {dev} from {THREADS} threads (O_DIRECT)"));
    cluster.array_guest()?.ok(&format!("hold_writes {lun} {HOLD_MS}"))?;
    let a = cluster.node(NodeName::A)?;
    a.ok(&format!("cp /ct/stamp_writer.py /tmp/ && (host python3 /tmp/stamp_writer.py {dev} a {THREADS} {BASE_BLOCK} >/dev/null 2>&1 &)"))?;
    // Wait until A's writes fill the array's queue: every thread has one held.
    let array = cluster.array_guest()?;
    let wait = format!("i=0; until [ \"$(held_writes {lun})\" -ge {THREADS} ]; do i=$((i+1)); [ $i -gt 600 ] && exit 1; sleep 0.1; done");
    array.shell.ok(&wait, Duration::from_secs(120)).context("A's writes never filled the array's hold")?;
    // Some have landed by now, as a full hold has passed for the first ones.
    let held_at_trigger: u64 = array.ok(&format!("held_writes {lun}"))?.trim().parse().context("held_writes")?;

    let b_mark = cluster.node(NodeName::B)?.console.mark();
    let a = cluster.node(NodeName::A)?;
    let a_mark = a.console.mark();
    let trigger = match case {
        Case::Panic => {
            ctx.step(&format!("A panics with {held_at_trigger} of its writes held in the array"));
            a.ok("(sleep 0.5; echo c > /proc/sysrq-trigger) >/dev/null 2>&1 &")?;
            a.wait_console(a_mark, "Kernel panic - not syncing", Duration::from_secs(30), deadline)?
        }
        Case::Hang => {
            ctx.step(&format!("A hangs (every CPU spins with interrupts off) with {held_at_trigger} of its writes held in the array; B fences it when its heartbeat goes stale"));
            a.ok("(sleep 0.5; echo hang > /sys/kernel/ct_panic_trigger/panic) >/dev/null 2>&1 &")?;
            cluster.node(NodeName::B)?.wait_console(b_mark, "coretakeover: partner is stale", Duration::from_secs(60), deadline)?
        }
    };
    let b = cluster.node(NodeName::B)?;
    let done = b.wait_console(b_mark, "coretakeover: takeover done", Duration::from_secs(90), deadline)?;
    // The criterion's first read: now that B's takeover said held.
    let at_takeover = read_region(&cluster, lun)?;
    let still_held: u64 = cluster.array_guest()?.ok(&format!("held_writes {lun}"))?.trim().parse().unwrap_or(u64::MAX);
    ctx.step(&format!(
        "B: {} ({:.0} ms after {}); the array still holds {still_held} writes to LUN {lun}",
        done.text.split("coretakeover: ").nth(1).unwrap_or(""),
        done.at.saturating_sub(trigger.at).as_secs_f64() * 1e3,
        if case == Case::Panic { "A's panic line" } else { "B's stale line" }
    ));
    let b = cluster.node(NodeName::B)?;
    let last = last_takeover(b)?;
    let disk = last["disks"].as_array().into_iter().flatten().find(|d| d["held"] == 1 && d["path"].as_str().is_some_and(|p| !p.is_empty()));
    let (method, pr_us) = disk.map_or(("?".to_string(), 0), |d| (d["method"].as_str().unwrap_or("?").to_string(), d["pr_us"].as_u64().unwrap_or(0)));

    ctx.step(&format!("waiting twice the hold ({} s), then reading the LUN again", 2 * HOLD_MS / 1000));
    std::thread::sleep(Duration::from_millis(2 * HOLD_MS));
    let after = read_region(&cluster, lun)?;
    let landed_before = at_takeover.iter().filter(|b| stamp(b).is_some_and(|s| s.0 == 'a')).count();
    let changed: Vec<String> = at_takeover
        .iter()
        .zip(&after)
        .enumerate()
        .filter(|(_, (x, y))| x != y)
        .map(|(i, (x, y))| format!("block {}: {:?} -> {:?}", BASE_BLOCK + i as u64, stamp(x), stamp(y)))
        .collect();
    ctx.fact("held_writes_at_trigger", held_at_trigger);
    ctx.fact("held_writes_at_takeover_done", still_held);
    ctx.fact("a_blocks_landed_by_takeover", landed_before);
    ctx.fact("a_blocks_landed_after_takeover", changed.len());
    ctx.fact("takeover_method", method.clone());
    ctx.fact("takeover_pr_ms", pr_us as f64 / 1e3);
    ensure!(
        changed.is_empty(),
        "{} of A's writes landed on LUN {lun} after B's takeover said it held the disk (method {method}, PR {} ms):\n{}",
        changed.len(),
        pr_us / 1000,
        changed.join("\n")
    );
    ensure!(landed_before > 0, "no write of A's landed at all: the check saw nothing to compare");
    ensure!(method == "preempt-abort", "the takeover's method: {method} ({last})");
    ctx.step(&format!(
        "no block changed after the takeover: {landed_before} of A's blocks landed before it, none after; B's PREEMPT AND ABORT took {} ms (waiting for the held writes)",
        pr_us / 1000
    ));
    Ok(HeldSample {
        fabric: if fabric == Fabric::OnePath { "one-path" } else { "multipath" },
        case: if case == Case::Panic { "panic" } else { "hang" },
        held_at_trigger,
        takeover_pr_ms: pr_us as f64 / 1e3,
        method,
        landed_before,
        landed_after: changed.len(),
    })
}
