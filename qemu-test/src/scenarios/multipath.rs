// SPDX-License-Identifier: GPL-2.0

//! Takeover over dm-multipath: every service LUN reaches each node over two
//! I_T nexuses (the array's two target ports), which Debian's multipathd,
//! run on each node from its userland, maps into one device. The nodes are
//! configured as an administrator would (the admin guide's multipath.conf,
//! /etc/coretakeover.conf naming the maps, `coretakeover apply`, which
//! registers keys path by path with mpathpersist).
//!
//! What is checked on the array's side goes through each path's own `sd`
//! device with sg_persist (READ FULL STATUS lists every registration with
//! its relative target port): whose key is registered through which port,
//! who holds the reservation and of what type.

use super::dump::CLUSTER_ID;
use super::takeover::{disk_lines, last_takeover};
use super::Ctx;
use crate::array::ArrayKind;
use crate::cluster::{Cluster, ClusterSpec, NodeName};
use crate::guest::Guest;
use anyhow::{ensure, Context, Result};
use std::time::Duration;

const SYSFS: &str = "/sys/kernel/coretakeover";
const LUNS_PER_NODE: usize = 2;

/// A node's registration key (`rust/core/src/keys.rs`: "CT", cluster, node).
fn key_of(node: NodeName) -> String {
    format!("{:#018x}", (0x4354u64 << 48) | (u64::from(CLUSTER_ID) << 16) | u64::from(node.id()))
}

/// One registration of READ FULL STATUS.
#[derive(Debug)]
struct Registration {
    key: String,
    port: String,
    holder: bool,
    /// The reservation type, on the holder's entry.
    typ: String,
}

/// READ FULL STATUS of path `path` of LUN `lun`, read on `node`.
fn full_status(node: &mut Guest, lun: usize, path: usize) -> Result<Vec<Registration>> {
    let out = node.ok(&format!("retry 3 host sg_persist --no-inquiry --in --read-full-status $(lun_path_dev {lun} {path})"))?;
    let mut regs: Vec<Registration> = Vec::new();
    for line in out.lines().map(str::trim) {
        if let Some(key) = line.strip_prefix("Key=") {
            regs.push(Registration { key: key.to_lowercase(), port: String::new(), holder: false, typ: String::new() });
        } else if let Some(reg) = regs.last_mut() {
            if let Some(port) = line.strip_prefix("Relative port address:") {
                reg.port = port.trim().to_string();
            } else if line.contains("Reservation holder") {
                reg.holder = true;
            } else if let Some(typ) = line.split("type:").nth(1) {
                reg.typ = typ.trim().to_string();
            }
        }
    }
    Ok(regs)
}

/// The target ports through which `key` is registered on LUN `lun`.
fn ports_of(regs: &[Registration], key: &str) -> Vec<String> {
    let mut ports: Vec<String> = regs.iter().filter(|r| r.key == key).map(|r| r.port.clone()).collect();
    ports.sort();
    ports.dedup();
    ports
}

/// Checks, through every path of each of `owner`'s LUNs (read on `node`),
/// that `holder`'s key holds it Write Exclusive - Registrants Only and is
/// registered through both target ports, and that `gone`'s key is not
/// registered at all.
fn check_held(cluster: &mut Cluster, node: NodeName, owner: NodeName, holder: NodeName, gone: Option<NodeName>) -> Result<()> {
    for k in 0..LUNS_PER_NODE {
        let lun = cluster.lun_of(owner, k);
        for path in 0..2 {
            let regs = full_status(cluster.node(node)?, lun, path)?;
            let holders: Vec<&Registration> = regs.iter().filter(|r| r.holder).collect();
            ensure!(
                holders.len() == 1 && holders[0].key == key_of(holder),
                "LUN {lun} through path {path}: the reservation holder is not {holder:?}'s key: {regs:?}"
            );
            ensure!(holders[0].typ.to_lowercase().contains("registrants only"), "LUN {lun}: reservation type {:?}", holders[0].typ);
            let ports = ports_of(&regs, &key_of(holder));
            ensure!(ports.len() == 2, "LUN {lun}: {holder:?}'s key is registered through ports {ports:?}, not both: {regs:?}");
            if let Some(gone) = gone {
                ensure!(ports_of(&regs, &key_of(gone)).is_empty(), "LUN {lun}: {gone:?}'s key is still registered: {regs:?}");
            }
        }
    }
    Ok(())
}

/// How a node's configuration names the service LUNs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Disks {
    /// The multipath maps (/dev/mapper/WWID, as multipathd names them).
    Maps,
    /// Each LUN's first path alone (its `sd` device): the single-path
    /// takeover on the same fabric, for the bench's side-by-side figure.
    FirstPath,
}

/// `node`'s /etc/coretakeover.conf (in the results directory, which the
/// node's userland sees as /results): its LUNs and the partner's, as `disks`
/// says.
fn write_config(cluster: &mut Cluster, node: NodeName, partner: NodeName, disks: Disks) -> Result<String> {
    let maps = |owner: NodeName, cluster: &mut Cluster| -> Result<String> {
        let mut names = Vec::new();
        for k in 0..LUNS_PER_NODE {
            let lun = cluster.lun_of(owner, k);
            let name = match disks {
                Disks::Maps => cluster.node(node)?.ok(&format!("mpath_dev {lun}"))?.trim().to_string(),
                Disks::FirstPath => cluster.node(node)?.ok(&format!("lun_path_dev {lun} 0"))?.trim().to_string(),
            };
            ensure!(name.starts_with("/dev/mapper/") || disks == Disks::FirstPath, "LUN {lun}: no map name: {name}");
            names.push(format!("\"{name}\""));
        }
        Ok(names.join(", "))
    };
    let own = maps(node, cluster)?;
    let theirs = maps(partner, cluster)?;
    let partner_dump = cluster.node(node)?.ok(&format!("coredump_dev {}", partner.letter()))?.trim().to_string();
    let config = format!(
        "# coretakeover.conf of node {}, written by the multipath scenarios\n\
         cluster_id = {CLUSTER_ID}\nnode_id = {}\n\n[dump]\ndisk = \"label\"\n\n\
         [service]\ndisks = [{own}]\n\n[partner]\nnode_id = {}\ndisks = [{theirs}]\ndump_disk = \"{partner_dump}\"\n\n\
         [policy]\nstale_timeout_ms = 2000\n",
        node.letter(),
        node.id(),
        partner.id(),
    );
    ensure!(!config.contains('\'') && !config.contains('\\'), "the configuration needs escaping");
    let path = format!("/results/coretakeover-{}.conf", node.letter());
    cluster.node(node)?.ok(&format!("printf '%b' '{}' > {path}", config.replace('\n', "\\n")))?;
    Ok(path)
}

/// The pair over two paths per LUN, multipathd on both nodes. `before_apply`
/// runs once the maps are up and before either node registers anything;
/// then each node applies its configuration, and B watches A.
pub(crate) fn start(ctx: &mut Ctx<'_>, disks: Disks, before_apply: impl FnOnce(&mut Ctx<'_>, &mut Cluster) -> Result<()>) -> Result<Cluster> {
    start_with(ctx, ClusterSpec { paths: 2, ..super::takeover::pair(ArrayKind::Lio, LUNS_PER_NODE) }, disks, before_apply)
}

/// As `start`, on a cluster of `spec` (two paths per LUN).
pub(crate) fn start_with(
    ctx: &mut Ctx<'_>,
    spec: ClusterSpec,
    disks: Disks,
    before_apply: impl FnOnce(&mut Ctx<'_>, &mut Cluster) -> Result<()>,
) -> Result<Cluster> {
    ctx.step("booting the LIO array (two target ports) and nodes A and B, each LUN over two iSCSI sessions");
    let mut cluster = Cluster::start(&spec, ctx.env, &ctx.dir, ctx.deadline)?;
    for node in [NodeName::A, NodeName::B] {
        let n = cluster.node(node)?;
        n.ok(&format!(
            "insmod /ct/coretakeover.ko && dev=$(coredump_dev {}) && dump_ready $dev && coretakeover label --disk $dev --cluster {CLUSTER_ID} --node {}",
            node.letter(),
            node.id()
        ))?;
        n.shell.ok("multipath_up", Duration::from_secs(240)).with_context(|| format!("multipathd on {node:?}"))?;
    }
    let maps = cluster.node(NodeName::B)?.ok("userland multipath -ll")?;
    ctx.step(&format!("udevd and multipathd run on both nodes; B sees {} maps of two paths", maps.matches("dm-").count()));
    before_apply(ctx, &mut cluster)?;
    for (node, partner) in [(NodeName::A, NodeName::B), (NodeName::B, NodeName::A)] {
        let config = write_config(&mut cluster, node, partner, disks)?;
        let out = cluster.node(node)?.ok(&format!("userland coretakeover apply --config {config} --json"))?;
        let report: serde_json::Value = serde_json::from_str(&out).with_context(|| format!("apply on {node:?}: {out}"))?;
        let registered = report["steps"].as_array().into_iter().flatten().filter(|s| s["what"] == "multipath" && s["result"] == "registered").count();
        let maps = if disks == Disks::Maps { 2 * LUNS_PER_NODE } else { 0 };
        ensure!(registered == maps, "apply on {node:?} registered through mpathpersist on {registered} maps: {report}");
    }
    ctx.step("each node applied /etc/coretakeover.conf naming its maps: keys registered path by path (mpathpersist), own maps reserved");
    let b = cluster.node(NodeName::B)?;
    b.ok(&format!("i=0; until [ \"$(cat {SYSFS}/partner_state)\" = alive ]; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done"))
        .context("B never saw A's heartbeat move")?;
    Ok(cluster)
}

/// A's LUNs as B holds them: both paths registered, held by B, A gone; B
/// writes through each path and through the map.
fn check_taken(ctx: &mut Ctx<'_>, cluster: &mut Cluster, method: &str) -> Result<()> {
    let b = cluster.node(NodeName::B)?;
    let last = last_takeover(b)?;
    let held = last["disks"].as_array().into_iter().flatten().filter(|d| d["held"] == 1 && d["method"] == method).count();
    ensure!(held == LUNS_PER_NODE && last["disks_held"] == LUNS_PER_NODE, "last takeover (expected {method} on every map): {last}");
    ctx.fact("takeover_report", disk_lines(&last).join("\n"));
    check_held(cluster, NodeName::B, NodeName::A, NodeName::B, Some(NodeName::A))?;
    for k in 0..LUNS_PER_NODE {
        let lun = cluster.lun_of(NodeName::A, k);
        let b = cluster.node(NodeName::B)?;
        for path in 0..2 {
            b.ok(&format!("dd if=/dev/zero of=$(lun_path_dev {lun} {path}) bs=4096 count=1 seek=8 oflag=direct"))
                .with_context(|| format!("B's write to LUN {lun} through path {path}"))?;
        }
        b.ok(&format!("dd if=/dev/zero of=$(mpath_dev {lun}) bs=4096 count=16 oflag=direct"))?;
    }
    ctx.step("through both paths of each of A's LUNs: B's key registered, B holds it (Registrants Only), A's key gone; B writes through each path and the map");
    Ok(())
}

/// Panics A, waits for B's takeover; returns panic line to takeover-done
/// line in ms (host clock, as the takeover scenarios measure it).
fn panic_a(cluster: &mut Cluster) -> Result<f64> {
    panic_a_timed(cluster).map(|(ms, _)| ms)
}

/// As `panic_a`, and the module's own figure ("... disks held in N ms").
fn panic_a_timed(cluster: &mut Cluster) -> Result<(f64, Option<u64>)> {
    let deadline = cluster.deadline;
    let a_mark = cluster.node(NodeName::A)?.console.mark();
    let b_mark = cluster.node(NodeName::B)?.console.mark();
    cluster.node(NodeName::A)?.ok("(sleep 1; echo c > /proc/sysrq-trigger) >/dev/null 2>&1 &")?;
    let panicked = cluster.node(NodeName::A)?.wait_console(a_mark, "Kernel panic - not syncing", Duration::from_secs(30), deadline)?;
    let done = cluster.node(NodeName::B)?.wait_console(b_mark, "coretakeover: takeover done", Duration::from_secs(60), deadline)?;
    let module_ms = done.text.split(" disks held in ").nth(1).and_then(|t| t.split_whitespace().next()?.parse().ok());
    Ok((done.at.saturating_sub(panicked.at).as_secs_f64() * 1e3, module_ms))
}

/// One bench sample (`make bench`): a fresh pair over two paths per LUN,
/// configured with the maps or with each LUN's first path; A panics.
/// Returns the takeover time as the takeover scenarios measure it (host
/// clock, A's panic line to B's takeover-done line) and the module's own.
pub(crate) fn takeover_sample(ctx: &mut Ctx<'_>, disks: Disks) -> Result<(f64, Option<u64>)> {
    let mut cluster = start(ctx, disks, |_, _| Ok(()))?;
    let sample = panic_a_timed(&mut cluster)?;
    let b = cluster.node(NodeName::B)?;
    let last = last_takeover(b)?;
    ensure!(last["disks_held"] == LUNS_PER_NODE, "last takeover: {last}");
    Ok(sample)
}

/// A panics; B takes A's maps over: PREEMPT AND ABORT through one path of
/// each (6.12's dm would drop the abort), B's key through both target
/// ports, A's gone.
pub fn takeover(ctx: &mut Ctx<'_>) -> Result<()> {
    let mut cluster = start(ctx, Disks::Maps, |_, _| Ok(()))?;
    ctx.step("before: A holds its LUNs through both paths (Registrants Only), B is registered through both");
    check_held(&mut cluster, NodeName::B, NodeName::A, NodeName::A, None)?;
    for k in 0..LUNS_PER_NODE {
        let lun = cluster.lun_of(NodeName::A, k);
        let regs = full_status(cluster.node(NodeName::B)?, lun, 0)?;
        ensure!(ports_of(&regs, &key_of(NodeName::B)).len() == 2, "LUN {lun}: B is not registered through both ports: {regs:?}");
    }
    ctx.step("A panics");
    let ms = panic_a(&mut cluster)?;
    ctx.step(&format!("B took over {ms:.0} ms after A's panic line (host clock)"));
    ctx.fact("multipath_takeover_ms", ms);
    check_taken(ctx, &mut cluster, "preempt-abort")
}

/// B takes over from a live A (the control path, as for a hung node): A's
/// writes fail with a reservation conflict through every path and through
/// the map, and no path of A's maps is failed for it.
pub fn fence(ctx: &mut Ctx<'_>) -> Result<()> {
    let mut cluster = start(ctx, Disks::Maps, |_, _| Ok(()))?;
    ctx.step("B takes A's LUNs over while A runs (coretakeover takeover)");
    let b = cluster.node(NodeName::B)?;
    let took: serde_json::Value = serde_json::from_str(&b.ok("coretakeover takeover --json")?)?;
    ensure!(took["takeover_state"] == "holding", "coretakeover takeover: {took}");
    check_taken(ctx, &mut cluster, "preempt-abort")?;
    for k in 0..LUNS_PER_NODE {
        let lun = cluster.lun_of(NodeName::A, k);
        let a = cluster.node(NodeName::A)?;
        for path in 0..2 {
            super::refused_by_reservation(a, &format!("dd if=/dev/zero of=$(lun_path_dev {lun} {path}) bs=4096 count=1 oflag=direct"))
                .with_context(|| format!("A's write to LUN {lun} through path {path}"))?;
        }
        super::refused_by_reservation(a, &format!("dd if=/dev/zero of=$(mpath_dev {lun}) bs=4096 count=1 oflag=direct"))
            .with_context(|| format!("A's write to LUN {lun} through its map"))?;
    }
    ctx.step("A's writes fail with a reservation conflict through each path and through each map");
    // multipathd checks every path each second: give it three rounds.
    cluster.node(NodeName::A)?.ok("sleep 3")?;
    for k in 0..LUNS_PER_NODE {
        let lun = cluster.lun_of(NodeName::A, k);
        let a = cluster.node(NodeName::A)?;
        // `dmsetup status`: each path is "MAJOR:MINOR STATE FAILCOUNT ...".
        let status = a.ok(&format!("userland dmsetup status $(cat /sys/block/$(mpath_name {lun})/dm/name)"))?;
        let words: Vec<&str> = status.split_whitespace().collect();
        let paths: Vec<(&str, &str)> = words.windows(3).filter(|w| w[0].contains(':') && (w[1] == "A" || w[1] == "F")).map(|w| (w[1], w[2])).collect();
        ensure!(
            paths.len() == 2 && paths.iter().all(|(state, fails)| *state == "A" && *fails == "0"),
            "LUN {lun} on A: a reservation conflict failed a path: {status}"
        );
    }
    ctx.step("no path of A's maps was failed by the conflicts (dmsetup status: both active, no failure counted), no write queued");
    Ok(())
}

/// B's first path to each of A's LUNs is down before B registers: B's key
/// goes through the other port only. A panics; B takes over through the
/// path that works. The path comes back: multipathd registers B's key
/// through it (`reservation_key file`), and B writes through it.
pub fn path_down(ctx: &mut Ctx<'_>) -> Result<()> {
    let mut cluster = start(ctx, Disks::Maps, |ctx, cluster| {
        ctx.step("B's path 0 to each of A's LUNs goes offline (and multipathd fails it) before anyone registers");
        for k in 0..LUNS_PER_NODE {
            let lun = cluster.lun_of(NodeName::A, k);
            cluster.node(NodeName::B)?.ok(&format!("path_state {lun} 0 offline"))?;
        }
        let b = cluster.node(NodeName::B)?;
        b.ok("i=0; until [ \"$(userland multipath -ll | grep -c 'failed faulty')\" -ge 2 ]; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done")
            .context("multipathd did not fail B's offline paths")?;
        Ok(())
    })?;
    for k in 0..LUNS_PER_NODE {
        let lun = cluster.lun_of(NodeName::A, k);
        let regs = full_status(cluster.node(NodeName::A)?, lun, 0)?;
        let ports = ports_of(&regs, &key_of(NodeName::B));
        ensure!(ports.len() == 1, "LUN {lun}: with one path down B should be registered through one port: {regs:?}");
    }
    ctx.step("B's key is registered through one target port of each of A's LUNs");
    ctx.step("A panics");
    let ms = panic_a(&mut cluster)?;
    ctx.step(&format!("B took over through the path that works, {ms:.0} ms after A's panic line"));
    let b = cluster.node(NodeName::B)?;
    let last = last_takeover(b)?;
    ensure!(last["disks_held"] == LUNS_PER_NODE, "last takeover: {last}");
    ctx.fact("takeover_report", disk_lines(&last).join("\n"));

    ctx.step("B's path 0 comes back; multipathd reinstates it and registers B's key through it");
    for k in 0..LUNS_PER_NODE {
        let lun = cluster.lun_of(NodeName::A, k);
        cluster.node(NodeName::B)?.ok(&format!("path_state {lun} 0 running"))?;
    }
    let b = cluster.node(NodeName::B)?;
    b.ok("i=0; until [ \"$(userland multipath -ll | grep -c 'failed')\" -eq 0 ]; do i=$((i+1)); [ $i -gt 150 ] && exit 1; sleep 0.1; done")
        .with_context(|| format!("multipathd did not reinstate B's paths: {}", b.ok("userland multipath -ll").unwrap_or_default()))?;
    let until = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match check_held(&mut cluster, NodeName::B, NodeName::A, NodeName::B, Some(NodeName::A)) {
            Ok(()) => break,
            Err(e) if std::time::Instant::now() >= until => return Err(e.context("multipathd did not register B's key through the path that came back")),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
    for k in 0..LUNS_PER_NODE {
        let lun = cluster.lun_of(NodeName::A, k);
        cluster
            .node(NodeName::B)?
            .ok(&format!("dd if=/dev/zero of=$(lun_path_dev {lun} 0) bs=4096 count=1 seek=8 oflag=direct"))
            .with_context(|| format!("B's write to LUN {lun} through the path that came back"))?;
    }
    ctx.step("B's key is registered through both ports again and B writes through the path that came back");
    Ok(())
}

/// B's maps of A's LUNs are being reloaded when A panics (suspended, as
/// multipathd suspends a map to reload it: dm answers -EAGAIN), and B loses
/// its path 0 to each of them meanwhile (the SCSI devices removed, which
/// makes multipathd reload the maps without them). The takeover goes
/// through a path of each map, which a suspended map does not stop, and
/// holds every LUN; the paths are found again (a SCSI rescan), multipathd
/// adds them and registers B's key through them.
pub fn path_lost(ctx: &mut Ctx<'_>) -> Result<()> {
    let mut cluster = start(ctx, Disks::Maps, |_, _| Ok(()))?;
    let mut maps = Vec::new();
    let mut remove = Vec::new();
    for k in 0..LUNS_PER_NODE {
        let lun = cluster.lun_of(NodeName::A, k);
        let b = cluster.node(NodeName::B)?;
        maps.push(b.ok(&format!("cat /sys/block/$(mpath_name {lun})/dm/name"))?.trim().to_string());
        remove.push(format!("echo 1 > /sys/block/$(basename $(lun_path_dev {lun} 0))/device/delete"));
    }
    ctx.step("B's maps of A's LUNs are suspended (a reload in progress); A panics; 3 s later B loses path 0 of each (SCSI devices removed)");
    let b = cluster.node(NodeName::B)?;
    for map in &maps {
        b.ok(&format!("userland dmsetup suspend {map}"))?;
    }
    b.ok("sleep 1.5")?;
    for map in &maps {
        let state = b.ok(&format!("userland dmsetup info {map}"))?;
        ensure!(state.contains("SUSPENDED"), "map {map} is not suspended: {state}");
    }
    let resume: Vec<String> = maps.iter().map(|m| format!("userland dmsetup resume {m}")).collect();
    b.ok(&format!("(sleep 3; {}; sleep 3; {}) >/dev/null 2>&1 &", remove.join("; "), resume.join("; ")))?;
    let deadline = cluster.deadline;
    let b_mark = cluster.node(NodeName::B)?.console.mark();
    cluster.node(NodeName::A)?.ok("(sleep 1; echo c > /proc/sysrq-trigger) >/dev/null 2>&1 &")?;
    cluster.node(NodeName::B)?.wait_console(b_mark, "coretakeover: takeover done", Duration::from_secs(60), deadline)?;
    let b = cluster.node(NodeName::B)?;
    let last = last_takeover(b)?;
    ensure!(last["disks_held"] == LUNS_PER_NODE, "last takeover: {last}");
    ctx.fact("takeover_report", disk_lines(&last).join("\n"));
    let attempts: u64 = last["disks"].as_array().into_iter().flatten().filter_map(|d| d["attempts"].as_u64()).sum();
    ctx.fact("takeover_attempts", attempts);
    let aborted = last["disks"].as_array().into_iter().flatten().filter(|d| d["method"] == "preempt-abort").count();
    ensure!(aborted == LUNS_PER_NODE, "the takeover of suspended maps (expected PREEMPT AND ABORT through a path of each): {last}");
    let b = cluster.node(NodeName::B)?;
    let mut suspended = 0;
    for m in &maps {
        suspended += usize::from(b.ok(&format!("userland dmsetup info {m}"))?.contains("SUSPENDED"));
    }
    ctx.fact("maps_suspended_at_takeover_done", suspended);
    ctx.step(&format!(
        "B held every LUN by PREEMPT AND ABORT through a path of each map ({attempts} PR attempts in all; {suspended} of {} maps still suspended when it was seen done)",
        maps.len()
    ));
    for k in 0..LUNS_PER_NODE {
        let lun = cluster.lun_of(NodeName::A, k);
        let b = cluster.node(NodeName::B)?;
        b.ok(&format!("i=0; until [ \"$(mpath_paths {lun})\" = 1 ]; do i=$((i+1)); [ $i -gt 150 ] && exit 1; sleep 0.1; done"))
            .with_context(|| format!("LUN {lun}'s map on B did not lose its removed path"))?;
        let regs = full_status(b, lun, 1)?;
        ensure!(regs.iter().any(|r| r.holder && r.key == key_of(NodeName::B)), "LUN {lun}: B does not hold it: {regs:?}");
        ensure!(ports_of(&regs, &key_of(NodeName::A)).is_empty(), "LUN {lun}: A's key is still registered: {regs:?}");
        b.ok(&format!("dd if=/dev/zero of=$(mpath_dev {lun}) bs=4096 count=16 oflag=direct"))?;
    }
    ctx.step("B holds A's LUNs through the remaining path; its maps have one path each and take writes");

    ctx.step("B's SCSI hosts are rescanned: the paths are found again, multipathd adds them and registers B's key");
    let b = cluster.node(NodeName::B)?;
    b.ok("for h in /sys/class/scsi_host/host*; do echo '- - -' > $h/scan; done")?;
    b.ok(&format!("wait_luns {} 2", 2 * LUNS_PER_NODE))?;
    for k in 0..LUNS_PER_NODE {
        let lun = cluster.lun_of(NodeName::A, k);
        cluster
            .node(NodeName::B)?
            .ok(&format!("i=0; until [ \"$(mpath_paths {lun})\" = 2 ]; do i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 0.1; done"))
            .with_context(|| format!("multipathd did not add LUN {lun}'s path back to its map"))?;
    }
    let until = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match check_held(&mut cluster, NodeName::B, NodeName::A, NodeName::B, Some(NodeName::A)) {
            Ok(()) => break,
            Err(e) if std::time::Instant::now() >= until => return Err(e.context("multipathd did not register B's key through the path found again")),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
    ctx.step("B's key is registered through both ports again; B holds every LUN");
    Ok(())
}
