// SPDX-License-Identifier: GPL-2.0

//! Bad input: every row of Documentation/coretakeover/bad-input.rst, as
//! root and as an unprivileged user, against a configured node.

use super::dump::{configure, label_and_arm};
use super::Ctx;
use crate::array::ArrayKind;
use crate::cluster::{Cluster, ClusterSpec, NodeName};
use anyhow::{ensure, Context, Result};
use std::time::Duration;

const SYSFS: &str = "/sys/kernel/coretakeover";

/// Node A alone on the LIO array with two LUNs of its own (0: reserved as a
/// service disk, 1: unconfigured) and two of its partner's (2: a partner
/// disk, 3: labeled as node 2's coredump disk); A's coredump disk armed.
pub fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let spec = ClusterSpec {
        array: Some(ArrayKind::Lio),
        luns_per_node: 2,
        nodes: vec![NodeName::A],
        node_memory_mib: 512,
        memory_of: vec![],
        coredump_mib: 1024,
        clients: 0,
        network: false,
        nvme_coredump: false,
        paths: 1,
        hold_writes: false,
    };
    ctx.step("booting the LIO array and node A");
    let mut cluster = Cluster::start(&spec, ctx.env, &ctx.dir, ctx.deadline)?;
    let a = cluster.node(NodeName::A)?;
    configure(a, NodeName::A)?;
    label_and_arm(a, NodeName::A)?;
    ctx.step("A: service disk LUN 0, partner 2 with LUN 2; LUN 3 labeled as node 2's coredump disk");
    a.ok("retry 3 coretakeover label --disk $(lun_dev 3) --cluster 7 --node 2 >/dev/null")?;
    a.ok(&format!(
        "echo $(lun_dev 0) > {SYSFS}/service_disks && echo 2 > {SYSFS}/partner_id && echo $(lun_dev 2) > {SYSFS}/partner_disks"
    ))?;

    ctx.step("LUN 1 gets a partition table with one partition (the rows that name a partition)");
    a.ok(
        "d=$(lun_dev 1) && host python3 -c \"import os,struct,sys; f=os.open(sys.argv[1],os.O_WRONLY); \
         os.pwrite(f,struct.pack('<B3sB3sII',0,bytes(3),0x83,bytes(3),2048,8192)+bytes(48)+b'\\x55\\xaa',446); os.fsync(f)\" $d && \
         blockdev --rereadpt $d && i=0; until [ -b ${d}1 ]; do i=$((i+1)); [ $i -gt 50 ] && exit 1; sleep 0.1; done",
    )?;

    ctx.step("every row of the bad-input table, as root, as uid 65534, as root with CAP_NET_ADMIN alone, and from another network namespace");
    // Every disk in it is also checked unchanged after each row: the
    // service disk (reserved), the partner's (registered), the spare LUN
    // and both labeled disks.
    let subst = a.ok(
        "printf '{\"lun\": \"%s\", \"lun_part\": \"%s1\", \"coredump_own\": \"%s\", \"coredump_foreign\": \"%s\", \"service_lun\": \"%s\", \"partner_lun\": \"%s\"}' $(lun_dev 1) $(lun_dev 1) $(coredump_dev a) $(lun_dev 3) $(lun_dev 0) $(lun_dev 2)",
    )?;
    let out = a.shell.ok(
        &format!("cp /ct/badinput.py /ct/bad-input.rst /tmp/ && host python3 /tmp/badinput.py /tmp/bad-input.rst '{}'", subst.trim()),
        Duration::from_secs(300),
    )?;
    std::fs::write(ctx.dir.join("badinput.jsonl"), &out)?;
    let summary = out.lines().last().context("no output from badinput.py")?;
    let mut failures = Vec::new();
    for line in out.lines().filter(|l| l.starts_with('{')) {
        let row: serde_json::Value = serde_json::from_str(line)?;
        if row["ok"] != true {
            failures.push(format!(
                "{} {} {} {:?}: {}",
                row["who"], row["interface"], row["target"], row["input"].as_str().unwrap_or(""),
                row["problems"]
            ));
        }
    }
    ensure!(failures.is_empty(), "{summary}\n{}", failures.join("\n"));
    let count: usize = summary.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
    ensure!(count >= 60, "only {count} rows ran: {summary}");
    ctx.step(summary);
    ctx.fact("bad_input_rows", count);
    Ok(())
}
