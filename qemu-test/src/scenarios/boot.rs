// SPDX-License-Identifier: GPL-2.0

//! A pair run the way it is deployed: each node has /etc/coretakeover.conf
//! and coretakeover.service (scripts/deploy/), whose commands the test
//! guests run as systemd would at boot (`boot_service` in
//! `qemu-test/guest/lib.sh`; the guests have no systemd). A node that
//! panicked comes back protected with no command typed.

use super::dump::CLUSTER_ID;
use super::takeover::last_takeover;
use super::Ctx;
use crate::array::ArrayKind;
use crate::cluster::{Cluster, NodeName};
use anyhow::{ensure, Context, Result};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

const SYSFS: &str = "/sys/kernel/coretakeover";

/// The by-path link (as udev names it) of service LUN `lun`, on `node`.
pub(crate) fn by_path(cluster: &mut Cluster, node: NodeName, lun: usize) -> Result<String> {
    let link = cluster.node(node)?.ok(&format!(
        "disk_links && for l in /dev/disk/by-path/*; do [ \"$(readlink -f $l)\" = \"$(lun_dev {lun})\" ] && echo $l; done; true"
    ))?;
    let link = link.trim().to_string();
    ensure!(link.starts_with("/dev/disk/by-path/pci-") && link.contains("-scsi-0:0:"), "no by-path link for LUN {lun}: {link:?}");
    Ok(link)
}

/// `node`'s /etc/coretakeover.conf: its LUNs, the partner's, both coredump
/// disks (its own by label, the partner's by the name the udev rule makes).
fn write_config(cluster: &mut Cluster, node: NodeName, partner: NodeName) -> Result<String> {
    let quoted = |links: Vec<String>| links.iter().map(|l| format!("\"{l}\"")).collect::<Vec<_>>().join(", ");
    let own: Vec<String> = (0..cluster.luns_per_node).map(|k| by_path(cluster, node, cluster.lun_of(node, k))).collect::<Result<_>>()?;
    let theirs: Vec<String> =
        (0..cluster.luns_per_node).map(|k| by_path(cluster, node, cluster.lun_of(partner, k))).collect::<Result<_>>()?;
    // The coredump disk pinned by its own id, as the admin guide says.
    let probe = cluster.node(node)?.ok(&format!("coretakeover probe --udev $(coredump_dev {})", node.letter()))?;
    let id = probe.lines().find_map(|l| l.strip_prefix("CORETAKEOVER_DISK_ID=")).with_context(|| format!("no disk id: {probe}"))?.trim().to_string();
    let config = format!(
        "# coretakeover.conf of node {}, written by the boot-flow scenario\n\
         cluster_id = {CLUSTER_ID}\nnode_id = {}\n\n[dump]\ndisk = \"label\"\ndisk_id = \"{id}\"\ncrash_dir = \"/results/crash-{}\"\n\n\
         [service]\ndisks = [{}]\n\n[partner]\nnode_id = {}\ndisks = [{}]\n\
         dump_disk = \"/dev/disk/by-coretakeover/cluster-{CLUSTER_ID}-node-{}\"\n\n[policy]\nstale_timeout_ms = 2000\n",
        node.letter(),
        node.id(),
        node.letter(),
        quoted(own),
        partner.id(),
        quoted(theirs),
        partner.id(),
    );
    // The harness sends one line per command: the file goes as printf %b
    // escapes (the text has no quote or backslash of its own).
    ensure!(!config.contains('\'') && !config.contains('\\'), "the configuration needs escaping");
    let escaped = config.replace('\n', "\\n");
    let n = cluster.node(node)?;
    n.ok(&format!("mkdir -p $(node_etc) && printf '%b' '{escaped}' > $(node_etc)/coretakeover.conf"))?;
    Ok(config)
}

/// Waits until `node`'s partner_state reads `state`.
fn partner_is(cluster: &mut Cluster, node: NodeName, state: &str) -> Result<()> {
    cluster
        .node(node)?
        .ok(&format!("i=0; until [ \"$(cat {SYSFS}/partner_state)\" = {state} ]; do i=$((i+1)); [ $i -gt 150 ] && exit 1; sleep 0.1; done"))
        .with_context(|| format!("{node:?}'s partner never turned {state}"))
        .map(drop)
}

/// Waits until the boot-time coretakeover.service of a guest that just
/// booted has started, and returns its outcome ("done", "failed (...)",
/// "condition failed"), from the file the guest's unit runner writes: its
/// console line can be cut in two by a kernel message.
pub(crate) fn boot_service_started(n: &mut crate::guest::Guest, timeout: Duration) -> Result<String> {
    let tries = timeout.as_millis() / 500;
    let out = n
        .shell
        .ok(
            &format!(
                "i=0; until [ -s /tmp/coretakeover.service.start ]; do i=$((i+1)); [ $i -gt {tries} ] && exit 1; sleep 0.5; done; \
                 cat /tmp/coretakeover.service.start"
            ),
            timeout + Duration::from_secs(30),
        )
        .context("coretakeover.service did not finish starting")?;
    Ok(out.trim().to_string())
}

pub fn boot_flow(ctx: &mut Ctx<'_>) -> Result<()> {
    let spec = super::takeover::pair(ArrayKind::Lio, 2);
    ctx.step("booting the LIO array and nodes A and B");
    let mut cluster = Cluster::start(&spec, ctx.env, &ctx.dir, ctx.deadline)?;
    let deadline = cluster.deadline;

    ctx.step("the administrator labels each coredump disk and writes /etc/coretakeover.conf (by-path names, the coredump disks by label)");
    for (node, partner) in [(NodeName::A, NodeName::B), (NodeName::B, NodeName::A)] {
        cluster.node(node)?.ok(&format!(
            "coretakeover label --disk $(coredump_dev {}) --cluster {CLUSTER_ID} --node {}",
            node.letter(),
            node.id()
        ))?;
        write_config(&mut cluster, node, partner)?;
    }
    let a = cluster.node(NodeName::A)?;
    // On a node, udev ran the coretakeover rule when the disks appeared.
    let checked = a.ok("disk_links && coredump_rule && cp $(node_etc)/coretakeover.conf /etc/ && coretakeover apply --check --json")?;
    ensure!(checked.contains("\"checked\""), "apply --check: {checked}");
    let broken = a.ok("sed 's/stale_timeout_ms/stale_timout_ms/' /etc/coretakeover.conf > /tmp/typo.conf; coretakeover apply --config /tmp/typo.conf; echo \"exit=$?\"")?;
    ensure!(broken.contains("stale_timout_ms") && broken.trim_end().ends_with("exit=2"), "a typo in the configuration: {broken}");
    ensure!(a.fails(&format!("test -d {SYSFS}")).is_ok(), "apply --check loaded the module");
    ctx.step("apply --check reads both files and disks and changes nothing; a typo is refused (exit 2)");

    ctx.step("the service starts on both nodes (systemctl start coretakeover: modprobe, coretakeover boot)");
    for node in [NodeName::A, NodeName::B] {
        let out = cluster.node(node)?.shell.ok("boot_service start", Duration::from_secs(120))?;
        ensure!(out.contains("coretakeover.service: start done"), "{node:?}'s service: {out}");
    }
    partner_is(&mut cluster, NodeName::A, "alive")?;
    partner_is(&mut cluster, NodeName::B, "alive")?;
    let again = cluster.node(NodeName::A)?.ok("coretakeover apply --json")?;
    let again: serde_json::Value = serde_json::from_str(&again).with_context(|| format!("apply: {again}"))?;
    let changed: Vec<&serde_json::Value> = again["steps"].as_array().into_iter().flatten().filter(|s| s["result"] != "unchanged" && s["result"] != "checked").collect();
    ensure!(changed.is_empty(), "a second apply changed something: {changed:?}");
    ctx.step("both armed and watching each other; a second apply changes nothing");
    for k in 0..2 {
        let lun = cluster.lun_of(NodeName::A, k);
        cluster.node(NodeName::A)?.ok(&format!("dd if=/dev/zero of=$(lun_dev {lun}) bs=4096 count=1 oflag=direct"))?;
        super::refused_by_reservation(cluster.node(NodeName::B)?, &format!("dd if=/dev/zero of=$(lun_dev {lun}) bs=4096 count=1 oflag=direct"))?;
    }

    ctx.step("A panics; B takes over while A dumps");
    let a_mark = cluster.node(NodeName::A)?.console.mark();
    let b_mark = cluster.node(NodeName::B)?.console.mark();
    cluster.node(NodeName::A)?.ok("(sleep 1; echo c > /proc/sysrq-trigger) >/dev/null 2>&1 &")?;
    let done = cluster.node(NodeName::B)?.wait_console(b_mark, "coretakeover: takeover done", Duration::from_secs(60), deadline)?;
    ensure!(done.text.contains("2 of 2 disks held"), "{}", done.text);
    let end = cluster.node(NodeName::A)?.wait_console(a_mark, "coretakeover: dump ", Duration::from_secs(300), deadline)?;
    ensure!(end.text.contains("dump complete"), "A's dump: {}", end.text);

    ctx.step("A boots again; with no command typed, its service saves the dump, applies and arms");
    cluster.restart(NodeName::A, 512)?;
    let a = cluster.node(NodeName::A)?;
    let outcome = boot_service_started(a, ctx.env.scaled(Duration::from_secs(600)))?;
    ensure!(outcome == "done", "A's service at boot: {outcome}");
    ensure!(a.ok(&format!("cat {SYSFS}/dump_state"))?.trim() == "armed", "A is not armed after its boot");
    let waiting = a.console.find(0, "service disks held by the partner");
    ensure!(waiting.is_some(), "A's boot did not say its service disks wait for a giveback");
    partner_is(&mut cluster, NodeName::B, "alive")?;
    ctx.step("A is armed and beating (B sees it alive); its service disks wait for B's giveback");

    let crash = ctx.dir.join("crash-a");
    let saved: Vec<_> = std::fs::read_dir(&crash).with_context(|| format!("{} missing", crash.display()))?.collect::<Result<_, _>>()?;
    ensure!(saved.len() == 1, "expected one saved dump in {}: {saved:?}", crash.display());
    let dir = saved[0].path();
    let mode = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o7777);
    ensure!(mode(&dir)? == 0o700 && mode(&crash)? == 0o700, "crash directories not 0700");
    for file in ["vmcore", "dmesg.txt", "savecore.json"] {
        ensure!(mode(&dir.join(file))? == 0o600, "{file} is not 0600");
    }
    let dmesg = std::fs::read_to_string(dir.join("dmesg.txt"))?;
    let panic_line = dmesg.lines().find(|l| l.contains("Kernel panic - not syncing: sysrq triggered crash"));
    ensure!(panic_line.is_some(), "dmesg.txt has no panic line ({} lines)", dmesg.lines().count());
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("savecore.json"))?)?;
    ensure!(report["complete"] == true && report["cpus"][0]["source"].is_string(), "savecore.json: {report}");
    ctx.step(&format!(
        "{}: vmcore, dmesg.txt ({} lines, {:?}), savecore.json; 0700/0600",
        dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        dmesg.lines().count(),
        panic_line.unwrap_or("").trim()
    ));
    let status = cluster.node(NodeName::B)?.ok("coretakeover status --disk $(coredump_dev a) --json")?;
    ensure!(status.contains("\"state\":\"armed\""), "A's coredump disk after the boot: {status}");

    ctx.step("giveback on B; A's service reloads (systemctl reload: coretakeover apply) and reserves its LUNs");
    let gave: serde_json::Value = serde_json::from_str(&cluster.node(NodeName::B)?.ok("coretakeover giveback --json")?)?;
    ensure!(gave["takeover_state"] == "watching", "giveback: {gave}");
    let out = cluster.node(NodeName::A)?.shell.ok("boot_service reload", Duration::from_secs(120))?;
    ensure!(out.contains("reload done") && out.contains("service_disks") && out.contains("set"), "A's reload: {out}");
    for k in 0..2 {
        let lun = cluster.lun_of(NodeName::A, k);
        cluster.node(NodeName::A)?.ok(&format!("retry 3 dd if=/dev/zero of=$(lun_dev {lun}) bs=4096 count=1 oflag=direct"))?;
        super::refused_by_reservation(cluster.node(NodeName::B)?, &format!("dd if=/dev/zero of=$(lun_dev {lun}) bs=4096 count=1 oflag=direct"))?;
    }
    let last = last_takeover(cluster.node(NodeName::B)?)?;
    ensure!(last["disks_held"] == 2, "B's last takeover: {last}");

    ctx.step("B stops its service (systemctl stop: coretakeover stop): A sees it stopped and takes nothing over");
    let out = cluster.node(NodeName::B)?.ok("boot_service stop")?;
    ensure!(out.contains("stop done"), "B's stop: {out}");
    partner_is(&mut cluster, NodeName::A, "stopped")?;
    std::thread::sleep(Duration::from_secs(5));
    let a = cluster.node(NodeName::A)?;
    ensure!(a.ok(&format!("cat {SYSFS}/takeover_state"))?.trim() == "watching", "A took over a partner that stopped on purpose");
    ensure!(a.ok(&format!("cat {SYSFS}/partner_state"))?.trim() == "stopped", "A's partner_state");
    std::fs::remove_dir_all(&crash).ok();
    Ok(())
}

/// The OCF resource agent (issue: Pacemaker) under `ocf-tester`, as
/// Pacemaker runs it on node A (Debian's resource-agents and ocf-tester):
/// meta-data against ra-api-1.dtd, validate-all, start, monitor, stop,
/// starting a started and stopping a stopped resource. Then, beside B:
/// started, B sees A alive; stopped, B sees A "stopped" and takes nothing;
/// a broken configuration is OCF_ERR_CONFIGURED.
pub fn ocf_agent(ctx: &mut Ctx<'_>) -> Result<()> {
    let spec = super::takeover::pair(ArrayKind::Lio, 1);
    ctx.step("booting the LIO array and nodes A and B; both configured by /etc/coretakeover.conf, B's service started");
    let mut cluster = Cluster::start(&spec, ctx.env, &ctx.dir, ctx.deadline)?;
    let deadline = cluster.deadline;
    for (node, partner) in [(NodeName::A, NodeName::B), (NodeName::B, NodeName::A)] {
        cluster.node(node)?.ok(&format!(
            "coretakeover label --disk $(coredump_dev {}) --cluster {CLUSTER_ID} --node {}",
            node.letter(),
            node.id()
        ))?;
        write_config(&mut cluster, node, partner)?;
    }
    let b = cluster.node(NodeName::B)?;
    let out = b.shell.ok("disk_links && coredump_rule && cp $(node_etc)/coretakeover.conf /etc/ && boot_service start", Duration::from_secs(120))?;
    ensure!(out.contains("coretakeover.service: start done"), "B's service: {out}");

    // Pacemaker runs the agent from the node's root (Debian's ocf-shellfuncs
    // and ocf-tester): the agent, the command and the configuration where
    // that root sees them. The module is loaded (the node's modprobe would
    // find it under /lib/modules; the host root's cannot).
    let a = cluster.node(NodeName::A)?;
    a.ok("disk_links && coredump_rule && insmod /ct/coretakeover.ko")?;
    a.ok("cp /usr/lib/ocf/resource.d/coretakeover/coretakeover /tmp/ocf-coretakeover && cp /bin/coretakeover /tmp/ && sed 's|^crash_dir = .*|crash_dir = \"/tmp/crash\"|' $(node_etc)/coretakeover.conf > /tmp/ct.conf")?;
    let tester = "host env OCF_ROOT=/usr/lib/ocf ocf-tester -n ct -o config=/tmp/ct.conf -o binary=/tmp/coretakeover /tmp/ocf-coretakeover";
    ctx.step("ocf-tester on A: meta-data, validate-all, start, monitor, stop, and the repeated ones");
    let out = a.shell.ok(&format!("{tester} 2>&1; echo exit=$?"), Duration::from_secs(300))?;
    ensure!(out.trim_end().ends_with("exit=0") && out.contains("passed all tests"), "ocf-tester: {out}");
    ctx.step(out.lines().find(|l| l.contains("passed all tests")).unwrap_or("").trim());

    let agent = |action: &str| format!("host env OCF_ROOT=/usr/lib/ocf OCF_RESKEY_config=/tmp/ct.conf OCF_RESKEY_binary=/tmp/coretakeover __OCF_ACTION={action} /tmp/ocf-coretakeover {action}; echo rc=$?");
    ctx.step("start: armed, B sees A alive; stop: B sees A stopped and takes nothing");
    let out = a.shell.ok(&agent("start"), Duration::from_secs(120))?;
    ensure!(out.contains("rc=0"), "start: {out}");
    ensure!(a.ok(&agent("monitor"))?.contains("rc=0"), "monitor after start");
    let wait_partner = |cluster: &mut Cluster, state: &str| -> Result<()> {
        cluster
            .node(NodeName::B)?
            .ok(&format!("i=0; until [ \"$(cat {SYSFS}/partner_state)\" = {state} ]; do i=$((i+1)); [ $i -gt 150 ] && exit 1; sleep 0.1; done"))
            .with_context(|| format!("B never saw A {state}"))
            .map(drop)
    };
    wait_partner(&mut cluster, "alive")?;
    let b_mark = cluster.node(NodeName::B)?.console.mark();
    let a = cluster.node(NodeName::A)?;
    ensure!(a.ok(&agent("stop"))?.contains("rc=0"), "stop");
    ensure!(a.ok(&agent("monitor"))?.contains("rc=7"), "monitor after stop: not running (7)");
    wait_partner(&mut cluster, "stopped")?;
    std::thread::sleep(Duration::from_secs(3));
    let b = cluster.node(NodeName::B)?;
    ensure!(b.console.find(b_mark, "coretakeover: takeover").is_none(), "B took over a partner that stopped on purpose");
    let _ = deadline;

    ctx.step("a configuration with a typo: validate-all and start say OCF_ERR_CONFIGURED (6)");
    let a = cluster.node(NodeName::A)?;
    a.ok("sed 's/stale_timeout_ms/stale_timout_ms/' /tmp/ct.conf > /tmp/typo.conf")?;
    let bad = |action: &str| format!("host env OCF_ROOT=/usr/lib/ocf OCF_RESKEY_config=/tmp/typo.conf OCF_RESKEY_binary=/tmp/coretakeover __OCF_ACTION={action} /tmp/ocf-coretakeover {action}; echo rc=$?");
    ensure!(a.ok(&bad("validate-all"))?.contains("rc=6"), "validate-all of a typo");
    ensure!(a.shell.ok(&bad("start"), Duration::from_secs(60))?.contains("rc=6"), "start with a typo");
    ensure!(a.ok(&agent("monitor"))?.contains("rc=7"), "a refused start armed nothing");
    Ok(())
}

/// A copy of node A's coredump label on another disk (as on a USB disk
/// someone plugs in, or a clone made with dd: it carries the label's disk
/// UUID too): with the coredump disk's own identity (its serial here; a
/// WWID on an array) pinned in `[dump] disk_id`, `apply` finds the real
/// coredump disk by label and refuses the copy when the configuration names
/// it by path; with nothing pinned it refuses to choose.
pub fn label_copy(ctx: &mut Ctx<'_>) -> Result<()> {
    let spec = super::takeover::pair(ArrayKind::Lio, 2);
    ctx.step("booting the LIO array and nodes A and B; A labels its coredump disk");
    let mut cluster = Cluster::start(&spec, ctx.env, &ctx.dir, ctx.deadline)?;
    let spare = cluster.lun_of(NodeName::A, 1);
    ctx.step("A boots again with a removable disk (a SCSI disk whose INQUIRY says removable, as a USB stick's)");
    cluster.add_removable_disk(NodeName::A, "removable-a", 64)?;
    cluster.restart(NodeName::A, 512)?;
    let a = cluster.node(NodeName::A)?;
    a.ok(&format!("coretakeover label --disk $(coredump_dev a) --cluster {CLUSTER_ID} --node 1"))?;
    let probe = a.ok("coretakeover probe --udev $(coredump_dev a)")?;
    let id = probe.lines().find_map(|l| l.strip_prefix("CORETAKEOVER_DISK_ID=")).with_context(|| format!("no disk id: {probe}"))?.trim().to_string();
    ctx.step(&format!("A's coredump disk is {id:?}; its label is copied byte for byte onto another of A's disks (LUN {spare})"));
    a.ok(&format!("dd if=$(coredump_dev a) of=$(lun_dev {spare}) bs=4096 count=1 conv=notrunc oflag=direct 2>/dev/null"))?;
    let copied = a.ok(&format!("coretakeover probe --udev $(lun_dev {spare})"))?;
    ensure!(copied.contains("CORETAKEOVER_NODE=1") && !copied.contains(&format!("CORETAKEOVER_DISK_ID={id}\n")), "the copy: {copied}");
    let write = |a: &mut crate::guest::Guest, disk: &str, pin: &str| {
        let text = format!("cluster_id = {CLUSTER_ID}\\nnode_id = 1\\n[dump]\\ndisk = \"{disk}\"\\n{pin}");
        a.ok(&format!("printf '%b' '{text}' > /tmp/copy.conf")).map(drop)
    };
    write(a, "label", "")?;
    let unpinned = a.ok("coretakeover apply --check --config /tmp/copy.conf; echo \"exit=$?\"")?;
    ensure!(unpinned.contains("2 disks carry") && !unpinned.trim_end().ends_with("exit=0"), "two disks with the label, nothing pinned: {unpinned}");
    ctx.step("nothing pinned: apply refuses to choose between the two");
    write(a, "label", &format!("disk_id = \"{id}\"\\n"))?;
    let pinned = a.ok("coretakeover apply --check --json --config /tmp/copy.conf")?;
    let pinned: serde_json::Value = serde_json::from_str(&pinned).with_context(|| format!("apply --check: {pinned}"))?;
    let real = a.ok("readlink -f $(coredump_dev a)")?;
    ensure!(pinned["dump_disk"].as_str() == Some(real.trim()), "pinned, apply found {} (the coredump disk is {})", pinned["dump_disk"], real.trim());
    ctx.step(&format!("by label with disk_id pinned: apply finds {} and leaves the copy alone", real.trim()));
    let copy_dev = a.ok(&format!("lun_dev {spare}"))?;
    write(a, copy_dev.trim(), &format!("disk_id = \"{id}\"\\n"))?;
    let refused = a.ok("coretakeover apply --check --config /tmp/copy.conf; echo \"exit=$?\"")?;
    ensure!(refused.contains("a copy of the label") && !refused.trim_end().ends_with("exit=0"), "the copy named by path, disk_id pinned: {refused}");
    ctx.step("the copy named by path: refused (its id is not the pinned one)");

    let stick = a.ok("for b in /sys/block/sd*; do [ \"$(cat $b/removable)\" = 1 ] && echo /dev/${b##*/}; done | head -n 1")?;
    let stick = stick.trim().to_string();
    ensure!(stick.starts_with("/dev/sd"), "A sees no removable disk (sysfs removable = 1)");
    a.ok(&format!("dd if=$(coredump_dev a) of={stick} bs=4096 count=1 conv=notrunc oflag=direct 2>/dev/null"))?;
    ctx.step(&format!("the label copied onto the removable disk {stick} too (its sysfs says removable = 1)"));
    write(a, "label", "")?;
    let unpinned = a.ok("coretakeover apply --check --config /tmp/copy.conf; echo \"exit=$?\"")?;
    ensure!(unpinned.contains("2 disks carry") && !unpinned.contains(&stick), "the removable copy counts among the label's disks: {unpinned}");
    write(a, &stick, "")?;
    let by_path = a.ok("coretakeover apply --check --config /tmp/copy.conf; echo \"exit=$?\"")?;
    ensure!(by_path.contains("removable") && !by_path.trim_end().ends_with("exit=0"), "the removable copy named by path: {by_path}");
    a.ok("coredump_rule")?;
    let links = a.ok("readlink -f /dev/disk/by-coretakeover/* 2>/dev/null; true")?;
    ensure!(!links.lines().any(|l| l.trim() == stick), "the udev rule's stand-in linked the removable disk: {links}");
    ctx.step("apply leaves the removable copy out of the label's disks and refuses it by path; the rule links it nowhere");
    Ok(())
}
