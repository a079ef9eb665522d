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
