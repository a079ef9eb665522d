// SPDX-License-Identifier: GPL-2.0

//! Scenario: SCSI-3 persistent reservations between the two nodes, end to end
//! through QEMU's iSCSI initiator and the array. The keys are the ones the
//! module derives. With `sg_persist` (from the host, through the guest's 9p
//! view of it):
//!
//! 1. A registers on its LUN and reserves it Write Exclusive;
//! 2. B can read the LUN, but its write fails with a reservation conflict;
//! 3. B registers and preempts A (PREEMPT AND ABORT, or PREEMPT on tgt);
//! 4. B holds the reservation, B's write lands, A's write fails;
//! 5. on the host, the LUN's image holds B's bytes and none of A's.

use super::Ctx;
use crate::array::ArrayKind;
use crate::cluster::{Cluster, ClusterSpec, NodeName};
use crate::guest::Guest;
use anyhow::{ensure, Context, Result};
use std::io::{Read, Seek, SeekFrom};
use std::time::Instant;

const SYSFS: &str = "/sys/kernel/coretakeover";
const CLUSTER_ID: u32 = 7;
/// Where the test writes: 1 MiB into the LUN, one 4 KiB block.
const BLOCK: u64 = 256;

/// Loads the module on `node`, configures it, and returns its registration key.
fn configure(node: &mut Guest, id: u16) -> Result<String> {
    node.ok(&format!(
        "insmod /ct/coretakeover.ko && echo {CLUSTER_ID} > {SYSFS}/cluster_id && echo {id} > {SYSFS}/node_id"
    ))?;
    Ok(node.ok(&format!("cat {SYSFS}/registration_key"))?.trim().to_string())
}

/// The text the node writes; `yes` repeats it with newlines, as on the host below.
fn pattern_text(node: NodeName) -> String {
    format!("coretakeover write from node {}", node.letter())
}

fn pattern_bytes(node: NodeName) -> Vec<u8> {
    let line = format!("{}\n", pattern_text(node));
    line.bytes().cycle().take(4096).collect()
}

/// Writes the node's pattern to block `BLOCK` of `dev` with O_DIRECT.
fn write_cmd(node: NodeName, dev: &str) -> String {
    format!(
        "pattern '{}' /tmp/pat && dd if=/tmp/pat of={dev} bs=4096 seek={BLOCK} count=1 oflag=direct conv=notrunc",
        pattern_text(node)
    )
}

fn read_image_block(path: &std::path::Path) -> Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(BLOCK * 4096))?;
    let mut block = vec![0; 4096];
    file.read_exact(&mut block)?;
    Ok(block)
}

pub fn run(ctx: &mut Ctx<'_>, kind: ArrayKind) -> Result<()> {
    let spec = ClusterSpec {
        array: Some(kind),
        luns_per_node: 1,
        nodes: vec![NodeName::A, NodeName::B],
        node_memory_mib: 512,
        memory_of: vec![],
        coredump_mib: 64,
        clients: 0,
        network: false,
        nvme_coredump: false,
        paths: 1,
        hold_writes: false,
    };
    ctx.step(&format!("booting the {} array, then nodes A and B", kind.name()));
    let mut cluster = Cluster::start(&spec, ctx.env, &ctx.dir, ctx.deadline)?;
    for (name, at) in &cluster.boot_times {
        ctx.step(&format!("{name} ready after {:.1} s", at.as_secs_f64()));
    }
    let lun = cluster.lun_of(NodeName::A, 0);
    let image = cluster.lun_image(lun).to_path_buf();
    let key_a = configure(cluster.node(NodeName::A)?, NodeName::A.id())?;
    let key_b = configure(cluster.node(NodeName::B)?, NodeName::B.id())?;
    ctx.step(&format!("module loaded on both nodes: key A {key_a}, key B {key_b}"));
    ctx.fact("kernel_release", cluster.node(NodeName::A)?.ok("uname -r")?.trim());
    let dev = format!("$(lun_dev {lun})");
    let persist = |args: &str| format!("retry 5 host sg_persist -n {args} {dev}");

    ctx.step(&format!("A registers on its LUN {lun} and reserves it Write Exclusive"));
    let a = cluster.node(NodeName::A)?;
    a.ok(&persist(&format!("--out --register-ignore --param-sark={key_a}")))?;
    a.ok(&persist(&format!("--out --reserve --param-rk={key_a} --prout-type=1")))?;
    a.ok(&write_cmd(NodeName::A, &dev))?;

    let b = cluster.node(NodeName::B)?;
    let reservation = b.ok(&persist("--in --read-reservation"))?;
    ensure!(
        reservation.contains(key_a.as_str()) && reservation.contains("Write Exclusive"),
        "B should see A's Write Exclusive reservation:\n{reservation}"
    );
    ctx.step("B reads A's LUN: allowed");
    b.ok(&format!("dd if={dev} of=/dev/null bs=4096 count=16 iflag=direct"))?;
    ctx.step("B writes A's LUN: refused with a reservation conflict");
    super::refused_by_reservation(b, &write_cmd(NodeName::B, &dev))?;

    ctx.step("B registers on A's LUN");
    b.ok(&persist(&format!("--out --register-ignore --param-sark={key_b}")))?;
    let preempt = if kind.has_preempt_abort() {
        "--preempt-abort"
    } else {
        // tgt answers PREEMPT AND ABORT with ILLEGAL REQUEST: prove it, as the
        // module's fallback to PREEMPT depends on telling this case apart.
        let out = b.fails(&format!("host sg_persist -n --out --preempt-abort --param-rk={key_b} --param-sark={key_a} --prout-type=1 {dev}"))?;
        ensure!(out.to_lowercase().contains("illegal request"), "tgt rejected PREEMPT AND ABORT how? {out}");
        ctx.step("tgt rejects PREEMPT AND ABORT with ILLEGAL REQUEST; using PREEMPT");
        "--preempt"
    };
    let started = Instant::now();
    b.ok(&persist(&format!("--out {preempt} --param-rk={key_b} --param-sark={key_a} --prout-type=1")))?;
    let preempt_ms = started.elapsed().as_secs_f64() * 1e3;
    ctx.step(&format!("B preempted A ({preempt}) in {preempt_ms:.0} ms, measured from the host"));
    ctx.fact("preempt_command", preempt.trim_start_matches('-'));
    ctx.fact("preempt_ms_host", preempt_ms);

    let reservation = b.ok(&persist("--in --read-reservation"))?;
    ensure!(reservation.contains(key_b.as_str()), "B should now hold the reservation:\n{reservation}");
    let keys = b.ok(&persist("--in --read-keys"))?;
    ensure!(keys.contains(key_b.as_str()) && !keys.contains(key_a.as_str()), "A's key must be gone:\n{keys}");

    ctx.step("B writes the LUN: allowed");
    b.ok(&write_cmd(NodeName::B, &dev))?;
    ctx.step("A writes the LUN: refused, A is fenced");
    let a = cluster.node(NodeName::A)?;
    super::refused_by_reservation(a, &write_cmd(NodeName::A, &dev))?;

    ctx.step("the LUN's image on the host holds B's bytes, none of A's second write");
    let block = read_image_block(&image).with_context(|| format!("reading {}", image.display()))?;
    ensure!(block == pattern_bytes(NodeName::B), "block {BLOCK} of {} is not B's pattern", image.display());
    ctx.fact("pr_sanity", "passed");
    ctx.fact("array", kind.name());
    Ok(())
}
