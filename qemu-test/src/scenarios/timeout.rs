// SPDX-License-Identifier: GPL-2.0

//! A coredump disk that holds a rehearsal write past its timeout.
//!
//! Arming rehearses the dump through the panic path's polled bios. Here
//! QEMU throttles A's coredump disk to 1 byte/s first, so the rehearsal's
//! first write cannot complete within the 30 s every panic-path wait allows:
//! arming fails with EIO. The write is still in the device's hands. Then
//! the disk is let go and A arms again: the new rehearsal polls the same
//! poll queue, which reaps the old write too and runs its `end_io`. That
//! bio's box, and the buffer pages the device read, must still be
//! allocated: a use-after-free otherwise, which the debug kernel's KASAN
//! reports (`make check-debug`, or `CT_SCENARIOS=rehearsal-timeout`). On
//! every kernel the module must say that it kept them, and arm again.

use super::dump::{configure, CLUSTER_ID};
use super::Ctx;
use crate::cluster::{Cluster, NodeName};
use anyhow::{ensure, Context, Result};
use std::time::Duration;

const SYSFS: &str = "/sys/kernel/coretakeover";

pub fn rehearsal_timeout(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.step("booting node A");
    let spec = super::dump::spec(vec![NodeName::A]);
    let mut cluster = Cluster::start(&spec, ctx.env, &ctx.dir, ctx.deadline)?;
    let deadline = cluster.deadline;
    let a = cluster.node(NodeName::A)?;
    configure(a, NodeName::A)?;
    a.ok(&format!("dev=$(coredump_dev a) && dump_ready $dev && coretakeover label --disk $dev --cluster {CLUSTER_ID} --node 1"))?;

    ctx.step("A's coredump disk takes 1 byte/s: arming's rehearsal write cannot complete in 30 s");
    a.throttle_writes("coredump-a", 1)?;
    let mark = a.console.mark();
    let out = a.shell.fails(&format!("echo $(coredump_dev a) > {SYSFS}/dump_disk"), Duration::from_secs(180))?;
    ensure!(out.contains("Input/output error"), "arming on a disk that holds its writes: {out}");
    let a = cluster.node(NodeName::A)?;
    let failed = a.wait_console(mark, "the rehearsal of the dump failed (Timeout)", Duration::from_secs(10), deadline)?;
    ctx.step(&format!("A: {}", failed.text.split("coretakeover: ").nth(1).unwrap_or(&failed.text)));
    ensure!(a.ok(&format!("cat {SYSFS}/dump_state"))?.trim() != "armed", "A armed on a disk whose writes time out");

    ctx.step("the disk answers again; A arms again: its rehearsal reaps the old write, whose bio and buffers are still there");
    a.throttle_writes("coredump-a", 0)?;
    a.ok(&format!("echo $(coredump_dev a) > {SYSFS}/dump_disk"))?;
    ensure!(a.ok(&format!("cat {SYSFS}/dump_state"))?.trim() == "armed", "A did not arm once its disk answered");
    a.ok("sleep 1")?;
    let log = a.ok("dmesg")?;
    for bad in ["KASAN", "BUG:", "Oops", "general protection", "WARNING:"] {
        ensure!(!log.contains(bad), "A's kernel log has {bad} after the late completion:\n{log}");
    }
    let kept = a.wait_console(mark, "may still complete: its", Duration::from_secs(10), deadline)?;
    ctx.step(&format!("A said, when arming failed: {}", kept.text.split("coretakeover: ").nth(1).unwrap_or(&kept.text)));
    ctx.step("A is armed; its kernel log has no report (KASAN on the debug kernel)");
    Ok(())
}

/// The panic path writes the panicking CPU's registers at the address of
/// its `crash_notes` buffer, which arming reads from sysfs. A process in a
/// mount namespace of its own mounts a file saying 0x1000 over CPU 0's
/// `crash_notes` and arms from there: the module must read the kernel's
/// own files (in a kernel worker), and record the real address.
pub fn crash_notes_namespace(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.step("booting node A");
    let spec = super::dump::spec(vec![NodeName::A]);
    let mut cluster = Cluster::start(&spec, ctx.env, &ctx.dir, ctx.deadline)?;
    let a = cluster.node(NodeName::A)?;
    configure(a, NodeName::A)?;
    a.ok(&format!("dev=$(coredump_dev a) && dump_ready $dev && coretakeover label --disk $dev --cluster {CLUSTER_ID} --node 1"))?;
    let real = a.ok("cat /sys/devices/system/cpu/cpu0/crash_notes")?.trim().to_string();
    ctx.step(&format!("CPU 0's crash_notes is at {real}; a process in its own mount namespace mounts a file saying 1000 over it, and arms"));
    let seen = a.ok(&format!(
        "echo 1000 > /tmp/fake-notes && dev=$(coredump_dev a) && unshare -m sh -c \
         'mount --bind /tmp/fake-notes /sys/devices/system/cpu/cpu0/crash_notes && cat /sys/devices/system/cpu/cpu0/crash_notes && echo '$dev' > {SYSFS}/dump_disk'"
    ))?;
    ensure!(seen.trim() == "1000", "the namespace did not see its own file: {seen}");
    let a = cluster.node(NodeName::A)?;
    ensure!(a.ok(&format!("cat {SYSFS}/dump_state"))?.trim() == "armed", "A did not arm");
    let status: serde_json::Value = serde_json::from_str(&a.ok("coretakeover status --disk $(coredump_dev a) --json")?)?;
    let recorded = status["header"]["cpu_notes"][0].as_str().unwrap_or("").to_string();
    let want = format!("{:#x}", u64::from_str_radix(&real, 16)?);
    ensure!(recorded == want, "CPU 0's note recorded at {recorded}, the kernel's is {want}: {}", status["header"]);
    ctx.step(&format!("the header records CPU 0's note at {recorded}, the kernel's own, not 0x1000"));
    Ok(())
}

/// Forged or copied header copies on the partner's coredump disk. B
/// watches A; on A's coredump disk the host puts a header copy saying
/// "dumping" (a panic beacon) that is not A's: first one with the identity
/// of another disk (as a copy of another node's disk would have), then one
/// of A's own identity with a generation of `u64::MAX` (which would stay
/// the newest for ever). B must ignore both, say so, and not take over; A
/// then arms again (its next header write) and B still sees it alive.
pub fn forged_header(ctx: &mut Ctx<'_>) -> Result<()> {
    use coretakeover_core::header::{DumpState, Header, HEADER_COPY_OFFSETS, HEADER_SIZE};
    use std::os::unix::fs::FileExt;
    ctx.step("booting nodes A and B; A armed, B watching A's coredump disk");
    let spec = super::dump::spec(vec![NodeName::A, NodeName::B]);
    let mut cluster = Cluster::start(&spec, ctx.env, &ctx.dir, ctx.deadline)?;
    for node in [NodeName::A, NodeName::B] {
        configure(cluster.node(node)?, node)?;
    }
    super::dump::label_and_arm(cluster.node(NodeName::A)?, NodeName::A)?;
    let b = cluster.node(NodeName::B)?;
    b.ok(&format!("echo 1 > {SYSFS}/partner_id && echo $(coredump_dev a) > {SYSFS}/partner_dump_disk"))?;
    let alive = format!("i=0; until [ \"$(cat {SYSFS}/partner_state)\" = alive ]; do i=$((i+1)); [ $i -gt 150 ] && exit 1; sleep 0.1; done");
    b.ok(&alive)?;
    let image = cluster.coredump_image(NodeName::A);
    let file = std::fs::OpenOptions::new().read(true).write(true).open(&image)?;
    // A's newest header copy, as A wrote it.
    let read_copy = |i: usize| -> Result<Vec<u8>> {
        let mut buf = vec![0u8; HEADER_SIZE];
        file.read_exact_at(&mut buf, HEADER_COPY_OFFSETS[i])?;
        Ok(buf)
    };
    let copies = [read_copy(0)?, read_copy(1)?];
    let (newest, generation) = copies
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Header::parse(&c[..], &super::dump::HostCrc).ok().map(|h| (i, h.generation())))
        .max_by_key(|(_, g)| *g)
        .context("A's coredump disk has no valid header copy")?;
    let other = 1 - newest;
    let forge = |uuid: Option<[u8; 16]>, generation: u64| -> Result<()> {
        let mut h = Header::from_unchecked(copies[newest].clone());
        if let Some(uuid) = uuid {
            let (cluster, node) = (h.cluster_id(), h.node_id());
            h.set_identity(&uuid, cluster, node);
        }
        h.set_state(DumpState::Dumping);
        h.set_generation(generation);
        h.seal(&super::dump::HostCrc);
        file.write_all_at(h.as_bytes(), HEADER_COPY_OFFSETS[other])?;
        file.sync_all()?;
        Ok(())
    };
    for (what, uuid, gen) in [
        ("another disk's identity (a copied header) saying dumping, one generation ahead", Some(*b"not-this-disk!!!"), generation + 1),
        ("A's identity saying dumping, generation u64::MAX", None, u64::MAX),
    ] {
        ctx.step(&format!("the host writes a header copy on A's coredump disk: {what}"));
        let b_mark = cluster.node(NodeName::B)?.console.mark();
        forge(uuid, gen)?;
        let b = cluster.node(NodeName::B)?;
        b.ok("sleep 3")?;
        let state = b.ok(&format!("cat {SYSFS}/partner_state {SYSFS}/takeover_state"))?;
        ensure!(state.split_whitespace().collect::<Vec<_>>() == ["alive", "watching"], "B after a forged beacon ({what}): {state}");
        ensure!(b.console.find(b_mark, "takeover done").is_none(), "B took over on a forged beacon ({what})");
        if uuid.is_some() {
            b.wait_console(b_mark, "of another disk or node: ignored", Duration::from_secs(5), deadline_of(ctx))?;
        }
        ctx.step("B: partner alive, still watching, no takeover");
    }
    ctx.step("A disarms and arms again: its header writes go on past the forged copy, and B still sees it alive");
    let a = cluster.node(NodeName::A)?;
    a.ok(&format!("echo none > {SYSFS}/dump_disk && echo $(coredump_dev a) > {SYSFS}/dump_disk"))?;
    let b = cluster.node(NodeName::B)?;
    b.ok(&alive)?;
    let status: serde_json::Value = serde_json::from_str(&b.ok("coretakeover status --disk $(coredump_dev a) --json")?)?;
    ensure!(status["header"]["state"] == "armed", "A's header as B reads it: {}", status["header"]);
    Ok(())
}

fn deadline_of(ctx: &Ctx<'_>) -> std::time::Instant {
    ctx.deadline
}
