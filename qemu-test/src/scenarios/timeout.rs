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
use anyhow::{ensure, Result};
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
    let kept = a.wait_console(mark, "may still complete: its", Duration::from_secs(10), deadline)?;
    ctx.step(&format!("A: {}", failed.text.split("coretakeover: ").nth(1).unwrap_or(&failed.text)));
    ctx.step(&format!("A: {}", kept.text.split("coretakeover: ").nth(1).unwrap_or(&kept.text)));
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
