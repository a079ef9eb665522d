// SPDX-License-Identifier: GPL-2.0

//! Scenario: the module loads, creates `/sys/kernel/coretakeover/`, refuses
//! bad writes without changing anything, derives the same registration key as
//! the CLI and the host, and unloads cleanly (twice, to catch leftovers).

use super::Ctx;
use crate::cluster::{Cluster, ClusterSpec, NodeName};
use anyhow::{ensure, Result};
use coretakeover_core::ids::{ClusterId, NodeId};
use coretakeover_core::keys::RegistrationKey;
use std::time::Duration;

const SYSFS: &str = "/sys/kernel/coretakeover";

pub fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let spec = ClusterSpec {
        array: None,
        luns_per_node: 0,
        nodes: vec![NodeName::A],
        node_memory_mib: 512,
        memory_of: vec![],
        coredump_mib: 64,
        clients: 0,
        network: false,
        nvme_coredump: false,
        paths: 1,
        hold_writes: false,
    };
    ctx.step("booting node A");
    let mut cluster = Cluster::start(&spec, ctx.env, &ctx.dir, ctx.deadline)?;
    let until = cluster.until(Duration::from_secs(30));
    let a = cluster.node(NodeName::A)?;

    for round in 1..=2 {
        ctx.step(&format!("round {round}: insmod coretakeover.ko"));
        let mark = a.console.mark();
        a.ok("insmod /ct/coretakeover.ko")?;
        a.console.wait_for(mark, &format!("coretakeover: version {} loaded", coretakeover_core::VERSION), until)?;

        let version = a.ok(&format!("cat {SYSFS}/version"))?;
        ensure!(version.trim() == coretakeover_core::VERSION, "version reads {version:?}");
        let state = a.ok(&format!("cat {SYSFS}/state"))?;
        ensure!(state.trim() == "unconfigured", "fresh module state is {state:?}");
        ensure!(a.ok(&format!("cat {SYSFS}/registration_key"))?.trim().is_empty(), "key without ids");

        ctx.step("bad writes are refused and change nothing");
        for (attr, value) in [
            ("cluster_id", "0"),
            ("cluster_id", "4294967296"),
            ("cluster_id", "seven"),
            ("node_id", "70000"),
            ("node_id", "-1"),
            ("node_id", "''"),
        ] {
            let out = a.fails(&format!("echo {value} > {SYSFS}/{attr}"))?;
            ensure!(out.contains("Invalid argument"), "writing {value} to {attr}: {out:?}");
        }
        a.console.wait_for(mark, "coretakeover: node_id: refused", until)?;
        ensure!(a.ok(&format!("cat {SYSFS}/state"))?.trim() == "unconfigured", "state changed by bad writes");
        ensure!(a.ok(&format!("cat {SYSFS}/cluster_id"))?.trim().is_empty(), "cluster id set by bad writes");
        a.fails(&format!("echo 1 > {SYSFS}/version"))?;

        ctx.step("configure cluster 7, node 1; the key matches the CLI's and the host's");
        a.ok(&format!("echo 7 > {SYSFS}/cluster_id && echo 1 > {SYSFS}/node_id"))?;
        ensure!(a.ok(&format!("cat {SYSFS}/state"))?.trim() == "configured", "state after configuration");
        let module_key = a.ok(&format!("cat {SYSFS}/registration_key"))?.trim().to_string();
        let cli_key = a.ok("coretakeover key --cluster 7 --node 1")?.trim().to_string();
        let host_key = RegistrationKey::derive(ClusterId::new(7).unwrap(), NodeId::new(1).unwrap()).to_string();
        ensure!(module_key == host_key && cli_key == host_key, "keys differ: module {module_key}, CLI {cli_key}, host {host_key}");
        let status: serde_json::Value = serde_json::from_str(&a.ok("coretakeover status --json")?)?;
        ensure!(status["state"] == "configured" && status["registration_key"] == host_key.as_str(), "status: {status}");
        ctx.fact("registration_key_node_a", host_key);

        ctx.step("rmmod: the sysfs directory goes away");
        let mark = a.console.mark();
        a.ok("rmmod coretakeover")?;
        a.console.wait_for(mark, "coretakeover: unloaded", until)?;
        a.fails(&format!("test -e {SYSFS}"))?;
        let out = a.fails("coretakeover status --sysfs")?;
        ensure!(out.contains("module not loaded"), "status without module: {out:?}");
    }

    ctx.step("the first request for the netlink family loads the module (MODULE_ALIAS_GENL_FAMILY)");
    let status: serde_json::Value = serde_json::from_str(&a.ok("coretakeover status --json")?)?;
    ensure!(status["state"] == "unconfigured", "status after autoload: {status}");
    ensure!(a.ok("lsmod")?.contains("coretakeover"), "the module was not loaded by its alias");
    a.ok("rmmod coretakeover")?;
    let bad = a.console.find(0, "BUG").or_else(|| a.console.find(0, "WARNING"));
    ensure!(bad.is_none(), "kernel complained: {:?}", bad.map(|l| l.text));

    ctx.step("the monitor stops the node's vCPUs: a command waits until they resume");
    a.pause()?;
    ensure!(a.run_state()? == "paused", "node A did not pause");
    ensure!(a.shell.run("echo still-running", Duration::from_secs(3)).is_err(), "a paused node answered");
    a.resume()?;
    ensure!(a.run_state()? == "running", "node A did not resume");
    ensure!(a.ok("echo back")?.trim() == "back", "node A after resume");

    ctx.step("the monitor's kill ends the node at once");
    a.kill();
    ensure!(a.has_exited(), "node A's QEMU still runs after kill");
    Ok(())
}
