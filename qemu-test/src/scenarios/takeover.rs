// SPDX-License-Identifier: GPL-2.0

//! Scenarios of the surviving node's half: takeover on the panic beacon
//! while the partner is still dumping.

use super::dump::{check_stacks, configure, disk_status, drgn, host_savecore, label_and_arm};
use super::Ctx;
use crate::array::ArrayKind;
use crate::cluster::{Cluster, ClusterSpec, NodeName};
use anyhow::{ensure, Context, Result};
use std::time::Duration;

const SYSFS: &str = "/sys/kernel/coretakeover";

/// The node's own LUNs, as the shell lists them.
fn luns(cluster: &Cluster, owner: NodeName) -> String {
    (0..cluster.luns_per_node).map(|k| format!("$(lun_dev {})", cluster.lun_of(owner, k))).collect::<Vec<_>>().join(" ")
}

/// Nodes A and B (512 MiB each) with `luns_per_node` LUNs each on a `kind` array.
pub(crate) fn pair(kind: ArrayKind, luns_per_node: usize) -> ClusterSpec {
    ClusterSpec {
        array: Some(kind),
        luns_per_node,
        nodes: vec![NodeName::A, NodeName::B],
        node_memory_mib: 512,
        memory_of: vec![],
        coredump_mib: 1024,
        clients: 0,
        network: false,
        nvme_coredump: false,
        paths: 1,
        hold_writes: false,
    }
}

/// What `node` says of its last takeover (`coretakeover status --json`):
/// held, total, and each disk's result.
pub(crate) fn last_takeover(node: &mut crate::guest::Guest) -> Result<serde_json::Value> {
    let status: serde_json::Value = serde_json::from_str(&node.ok("coretakeover status --json")?).context("coretakeover status --json")?;
    let last = status["last_takeover"].clone();
    ensure!(last.is_object(), "no last takeover in coretakeover status: {status}");
    Ok(last)
}

/// The disks of a takeover, one line each, for the log.
pub(crate) fn disk_lines(last: &serde_json::Value) -> Vec<String> {
    last["disks"].as_array().into_iter().flatten().map(|d| match d["held"].as_u64() {
        Some(1) => format!("{} {} in {} us (pr {} us, {} attempts)", d["path"].as_str().unwrap_or("?"), d["method"].as_str().unwrap_or("?"), d["latency_us"], d["pr_us"], d["attempts"]),
        _ => format!("{} NOT HELD: {} (errno {})", d["path"].as_str().unwrap_or("?"), d["message"].as_str().unwrap_or("?"), d["error"]),
    }).collect()
}

/// On tgt, which refuses the APTPL bit the kernel's SCSI registration always
/// sets, registers `node`'s key on `devs` from userspace (sg_persist, no
/// APTPL); the module then finds its key registered and uses it.
fn register_for_tgt(cluster: &mut Cluster, kind: ArrayKind, node: NodeName, devs: &str) -> Result<()> {
    if kind.has_preempt_abort() {
        return Ok(());
    }
    let n = cluster.node(node)?;
    n.ok(&format!(
        "k=$(cat {SYSFS}/registration_key) && for d in {devs}; do retry 3 host sg_persist --no-inquiry --out --register-ignore --param-sark=$k $d >/dev/null || exit 1; done"
    ))
    .map(drop)
}

/// Node A (1 GiB) panics with its coredump disk throttled so that the dump
/// takes well over 15 s; node B holds all of A's LUNs while A's header still
/// says `dumping`. Measured on the host clock: A's panic line to B's
/// takeover-done line.
pub fn during_dump(ctx: &mut Ctx<'_>, kind: ArrayKind) -> Result<()> {
    let spec = ClusterSpec {
        array: Some(kind),
        luns_per_node: 2,
        nodes: vec![NodeName::A, NodeName::B],
        node_memory_mib: 1024,
        memory_of: vec![],
        coredump_mib: 2048,
        clients: 0,
        network: false,
        nvme_coredump: false,
        paths: 1,
        hold_writes: false,
    };
    ctx.step(&format!("booting the {} array and nodes A and B (1 GiB each)", kind.name()));
    let mut cluster = Cluster::start(&spec, ctx.env, &ctx.dir, ctx.deadline)?;
    let deadline = cluster.deadline;
    let (a_luns, a_luns_on_b) = (luns(&cluster, NodeName::A), luns(&cluster, NodeName::A));
    let b_luns = luns(&cluster, NodeName::B);
    let a_first = cluster.lun_of(NodeName::A, 0);
    configure(cluster.node(NodeName::A)?, NodeName::A)?;
    configure(cluster.node(NodeName::B)?, NodeName::B)?;

    ctx.step("A arms its coredump disk and reserves its LUNs; B reserves its own");
    register_for_tgt(&mut cluster, kind, NodeName::A, &a_luns)?;
    register_for_tgt(&mut cluster, kind, NodeName::B, &format!("{b_luns} {a_luns_on_b}"))?;
    let a = cluster.node(NodeName::A)?;
    label_and_arm(a, NodeName::A)?;
    a.ok(&format!("echo \"{a_luns}\" > {SYSFS}/service_disks"))?;
    let b = cluster.node(NodeName::B)?;
    b.ok(&format!("echo \"{b_luns}\" > {SYSFS}/service_disks"))?;

    ctx.step("B registers on A's LUNs and watches A's coredump disk: set-config through the kernel's ynl cli");
    // The tree's tools/net/ynl and our spec travel in the initramfs (ct/ynl);
    // /tmp is where the host's python sees the guest's files. The request
    // is built in the guest's shell (device names are the guest's) and
    // handed to ynl as a file.
    let ynl = "host python3 /tmp/ynl/cli.py --no-schema --spec /tmp/ynl/coretakeover.yaml";
    let b = cluster.node(NodeName::B)?;
    b.shell.ok(
        &format!(
            "cp -r /ct/ynl /tmp/ && disks=\"\" && for d in {a_luns_on_b}; do disks=\"$disks${{disks:+, }}{{\\\"path\\\": \\\"$d\\\"}}\"; done && \
             echo \"{{\\\"partner-id\\\": 1, \\\"partner-disk\\\": [$disks], \\\"partner-dump-disk\\\": \\\"$(coredump_dev a)\\\"}}\" > /tmp/set-config.json && \
             {ynl} --do set-config --json \"$(cat /tmp/set-config.json)\""
        ),
        Duration::from_secs(120),
    )?;
    ensure!(b.ok(&format!("cat {SYSFS}/partner_id"))?.trim() == "1", "set-config did not set the partner");
    if ctx.env.slow > 1 {
        // On a KASAN kernel, A's oops and the stop of its other CPU take
        // longer than 2 s of heartbeat silence before the panic notifier runs:
        // B would fence A as stale before it reads the beacon this scenario
        // is about.
        b.ok(&format!("echo {} > {SYSFS}/stale_timeout_ms", 2000 * ctx.env.slow))?;
    }
    b.ok(&format!(
        "i=0; until [ \"$(cat {SYSFS}/partner_state)\" = alive ]; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done"
    ))
    .context("B never saw A's heartbeat move")?;
    ensure!(b.ok(&format!("cat {SYSFS}/takeover_state"))?.trim() == "watching", "B's takeover state");
    super::refused_by_reservation(b, &format!("dd if=/dev/zero of=$(lun_dev {a_first}) bs=4096 count=1 oflag=direct"))
        .context("B's write to A's LUN before any takeover")?;

    ctx.step("the kernel's own ynl cli reads B's status over netlink; a ynl subscriber waits for events");
    let b = cluster.node(NodeName::B)?;
    let status = b.shell.ok(&format!("{ynl} --do get-status --output-json"), Duration::from_secs(120))?;
    let status: serde_json::Value = serde_json::from_str(status.trim()).with_context(|| format!("ynl get-status: {status}"))?;
    ensure!(status["takeover-state"] == "watching" && status["partner-id"] == 1, "ynl get-status: {status}");
    let partner_disks = status["partner-disk"].as_array().map_or(0, Vec::len);
    ensure!(partner_disks == 2, "ynl get-status lists {partner_disks} partner disks: {status}");
    b.ok("cp /ct/ynl_events.py /tmp/ && (host python3 /tmp/ynl_events.py /tmp/ynl /tmp/ynl/coretakeover.yaml 40 /tmp/ynl.ready > /tmp/ynl.out 2>&1 &)")?;
    b.shell.ok("i=0; until [ -f /tmp/ynl.ready ]; do i=$((i+1)); [ $i -gt 600 ] && exit 1; sleep 0.1; done", Duration::from_secs(90))?;
    b.ok("(coretakeover watch --json > /tmp/watch.out 2>&1 &) ; sleep 0.5")?;

    ctx.step("A's coredump disk is throttled to 40 MB/s; A panics");
    let a = cluster.node(NodeName::A)?;
    a.throttle_writes("coredump-a", 40_000_000)?;
    let a_mark = a.console.mark();
    let b_mark = cluster.node(NodeName::B)?.console.mark();
    cluster.node(NodeName::A)?.ok("(sleep 1; echo c > /proc/sysrq-trigger) >/dev/null 2>&1 &")?;
    let panicked = cluster.node(NodeName::A)?.wait_console(a_mark, "Kernel panic - not syncing", Duration::from_secs(30), deadline)?;
    let done = cluster.node(NodeName::B)?.wait_console(b_mark, "coretakeover: takeover done", Duration::from_secs(60), deadline);
    let done = match done {
        Ok(done) => done,
        // Where was A? (its vCPUs' registers, if its panic path is stuck)
        Err(e) => return Err(cluster.node(NodeName::A)?.wait_panic_line(a_mark, "coretakeover: panic beacon written", Duration::ZERO, deadline).err().unwrap_or(e)),
    };
    let takeover_ms = (done.at.saturating_sub(panicked.at)).as_secs_f64() * 1e3;
    ctx.step(&format!("B: {} ({takeover_ms:.0} ms after A's panic line, host clock)", done.text.split("coretakeover: ").nth(1).unwrap_or("")));

    ctx.step("B holds A's LUNs while A's header still says dumping");
    let b = cluster.node(NodeName::B)?;
    let status = disk_status(b, NodeName::A)?;
    let header = &status["header"];
    ensure!(header["state"] == "dumping", "A's dump should still run: {header}");
    let last = last_takeover(b)?;
    // LIO implements PREEMPT AND ABORT; tgt rejects it and the module falls back.
    let how = if kind.has_preempt_abort() { "preempt-abort" } else { "preempt" };
    let held = last["disks"].as_array().into_iter().flatten().filter(|d| d["held"] == 1 && d["method"] == how).count();
    ensure!(held == 2 && last["disks_held"] == 2, "last takeover (expected {how} on both LUNs): {last}");
    ensure!(b.ok(&format!("cat {SYSFS}/takeover_state"))?.trim() == "holding", "B's takeover state");
    for k in 0..2 {
        let lun = cluster.lun_of(NodeName::A, k);
        let b = cluster.node(NodeName::B)?;
        b.ok(&format!("dd if=/dev/zero of=$(lun_dev {lun}) bs=4096 count=1 oflag=direct"))?;
    }
    ctx.step("giveback while A still dumps: refused (EBUSY), and B keeps A's LUNs");
    let b = cluster.node(NodeName::B)?;
    let out = b.fails(&format!("echo 1 > {SYSFS}/giveback"))?;
    ensure!(out.contains("busy"), "giveback during the dump: {out}");
    ensure!(b.ok("dmesg | tail -n 3")?.contains("still dumping"), "no log line for the refused giveback");
    let out = b.fails("coretakeover giveback")?;
    ensure!(out.to_lowercase().contains("busy"), "coretakeover giveback during the dump: {out}");
    ensure!(b.ok(&format!("cat {SYSFS}/takeover_state"))?.trim() == "holding", "B let go of A's LUNs");
    let percent: f64 = done.text.rsplit("partner dump at ").next().and_then(|p| p.trim_end_matches('%').trim().parse().ok()).unwrap_or(-1.0);
    ctx.fact("takeover_ms", takeover_ms);
    ctx.fact("luns_taken_over", held);
    ctx.fact("dump_percent_at_takeover", percent);
    ctx.fact("takeover_report", disk_lines(&last).join("\n"));
    let b = cluster.node(NodeName::B)?;
    let events = b.shell.ok("i=0; until grep -q takeover-done /tmp/ynl.out; do i=$((i+1)); [ $i -gt 300 ] && break; sleep 0.1; done; cat /tmp/ynl.out", Duration::from_secs(60))?;
    for name in ["partner-state-ntf", "takeover-started-ntf", "takeover-done-ntf"] {
        ensure!(events.contains(&format!("\"name\": \"{name}\"")), "no {name} notification through ynl:\n{events}");
    }
    ensure!(events.contains("\"partner-state\": \"panicked\""), "ynl: no partner-state panicked:\n{events}");
    ctx.step("the ynl subscriber received partner-state-ntf (panicked), takeover-started-ntf and takeover-done-ntf");
    let watched = b.ok("cat /tmp/watch.out")?;
    let done: Option<serde_json::Value> = watched.lines().filter_map(|l| serde_json::from_str(l).ok()).find(|v: &serde_json::Value| v["event"] == "takeover-done");
    let done = done.with_context(|| format!("coretakeover watch saw no takeover-done:\n{watched}"))?;
    ensure!(done["disks_held"] == 2 && done["takeover_disks"].as_array().map_or(0, Vec::len) == 2, "coretakeover watch: {done}");
    let status: serde_json::Value = serde_json::from_str(&b.ok("coretakeover status --json")?)?;
    ensure!(status["takeover_state"] == "holding" && status["partner_state"] == "panicked", "coretakeover status: {status}");
    ctx.step("coretakeover watch saw the same events; coretakeover status says holding");

    ctx.step("A's dump goes on to the end");
    let a = cluster.node(NodeName::A)?;
    let end = a.wait_console(a_mark, "coretakeover: dump ", Duration::from_secs(120), deadline)?;
    ensure!(end.text.contains("dump complete"), "A's dump: {}", end.text);
    ctx.step(&format!("A: {}", end.text.split("coretakeover: ").nth(1).unwrap_or("")));
    Ok(())
}

/// Node A hangs (vCPUs stopped through the monitor) without panicking: B
/// fences it after the heartbeat timeout. When A resumes, its next write to
/// its LUN fails with a reservation conflict and none of its bytes reach the
/// LUN's backing file. Then giveback returns the disks and B watches A's
/// heartbeat again. Also: a coredump disk listed as a service disk by mistake
/// is refused and left alone.
pub fn hung_partner(ctx: &mut Ctx<'_>, kind: ArrayKind) -> Result<()> {
    let spec = pair(kind, 2);
    ctx.step(&format!("booting the {} array and nodes A and B", kind.name()));
    let mut cluster = Cluster::start(&spec, ctx.env, &ctx.dir, ctx.deadline)?;
    let deadline = cluster.deadline;
    let a_luns = luns(&cluster, NodeName::A);
    let lun = cluster.lun_of(NodeName::A, 1);
    let image = cluster.lun_image(lun).to_path_buf();
    configure(cluster.node(NodeName::A)?, NodeName::A)?;
    configure(cluster.node(NodeName::B)?, NodeName::B)?;
    register_for_tgt(&mut cluster, kind, NodeName::A, &a_luns)?;
    register_for_tgt(&mut cluster, kind, NodeName::B, &a_luns)?;
    let a = cluster.node(NodeName::A)?;
    label_and_arm(a, NodeName::A)?;
    a.ok(&format!("echo \"{a_luns}\" > {SYSFS}/service_disks"))?;

    ctx.step("B refuses A's coredump disk as a service disk by mistake");
    let b = cluster.node(NodeName::B)?;
    b.ok(&format!("echo 1 > {SYSFS}/partner_id"))?;
    let before = b.ok("dd if=$(coredump_dev a) bs=4096 count=1 iflag=direct 2>/dev/null | md5sum")?;
    let out = b.fails(&format!("echo \"{a_luns} $(coredump_dev a)\" > {SYSFS}/partner_disks"))?;
    ensure!(out.contains("Invalid argument"), "coredump disk as service disk: {out}");
    ensure!(b.ok("dmesg | tail -n 2")?.contains("carries a coredump label"), "no log line for the coredump disk");
    ensure!(b.ok(&format!("cat {SYSFS}/partner_disks"))?.trim().is_empty(), "a refused list changed partner_disks");
    ensure!(b.ok("dd if=$(coredump_dev a) bs=4096 count=1 iflag=direct 2>/dev/null | md5sum")? == before, "the label block changed");

    ctx.step("B registers on A's LUNs and watches A (stale timeout 2 s)");
    b.ok(&format!("echo \"{a_luns}\" > {SYSFS}/partner_disks && echo 2000 > {SYSFS}/stale_timeout_ms"))?;
    b.ok(&format!("echo $(coredump_dev a) > {SYSFS}/partner_dump_disk"))?;
    b.ok(&format!("i=0; until [ \"$(cat {SYSFS}/partner_state)\" = alive ]; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done"))
        .context("B never saw A's heartbeat move")?;

    ctx.step("a process on B waits in poll(2) for takeover_state to change; another listens for uevents, as udev does");
    b.ok(&format!(
        "cp /ct/poll_attr.py /tmp/ && (host python3 /tmp/poll_attr.py {SYSFS}/takeover_state 60 /tmp/poll.ready > /tmp/poll.out 2>&1 &)"
    ))?;
    b.ok("cp /ct/uevent_listen.py /tmp/ && (host python3 /tmp/uevent_listen.py 60 /tmp/uevent.ready holding > /tmp/uevent.out 2>&1 &)")?;
    b.shell.ok(
        "i=0; until [ -f /tmp/poll.ready ] && [ -f /tmp/uevent.ready ]; do i=$((i+1)); [ $i -gt 600 ] && exit 1; sleep 0.1; done",
        Duration::from_secs(90),
    )?;

    ctx.step("A hangs: its vCPUs are stopped");
    let b_mark = cluster.node(NodeName::B)?.console.mark();
    let a = cluster.node(NodeName::A)?;
    a.pause()?;
    let b = cluster.node(NodeName::B)?;
    let stale = b.wait_console(b_mark, "coretakeover: partner is stale", Duration::from_secs(30), deadline)?;
    let done = b.wait_console(b_mark, "coretakeover: takeover done", Duration::from_secs(30), deadline)?;
    ensure!(done.text.contains("2 of 2 disks held") && done.text.contains("stale-heartbeat"), "{}", done.text);
    ctx.step(&format!("B: {}", done.text.split("coretakeover: ").nth(1).unwrap_or("")));
    ctx.fact("stale_to_fenced_ms", (done.at.saturating_sub(stale.at)).as_secs_f64() * 1e3);
    // tgt has no PREEMPT AND ABORT: its disks are held by a plain PREEMPT,
    // and every interface says that this fence is weaker.
    let b = cluster.node(NodeName::B)?;
    let last = last_takeover(b)?;
    let weak: Vec<&str> = last["weak_fence_disks"].as_array().into_iter().flatten().filter_map(|d| d.as_str()).collect();
    ensure!(weak.len() == if kind.has_preempt_abort() { 0 } else { 2 }, "weaker fences reported on the {} array: {last}", kind.name());
    if !kind.has_preempt_abort() {
        let text = b.ok("coretakeover status")?;
        ensure!(text.contains("WEAKER FENCE"), "coretakeover status does not say the fence is weaker:\n{text}");
        ctx.step("coretakeover status: WEAKER FENCE on both LUNs (tgt took a plain PREEMPT: A's queued writes were not aborted)");
    }
    let b = cluster.node(NodeName::B)?;
    let woke = b.shell.ok("i=0; until grep -q changed /tmp/poll.out; do i=$((i+1)); [ $i -gt 100 ] && break; sleep 0.1; done; cat /tmp/poll.out", Duration::from_secs(30))?;
    ensure!(woke.contains("changed: taking-over") || woke.contains("changed: holding"), "the poller: {woke}");
    let heard = b.shell.ok("i=0; until grep -q holding /tmp/uevent.out; do i=$((i+1)); [ $i -gt 100 ] && break; sleep 0.1; done; cat /tmp/uevent.out", Duration::from_secs(30))?;
    let uevents: Vec<serde_json::Value> = heard.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let saw = |attribute: &str, value: &str| {
        uevents.iter().any(|u| {
            u["header"] == "change@/module/coretakeover" && u["SUBSYSTEM"] == "module" && u["ACTION"] == "change"
                && u["CORETAKEOVER_ATTRIBUTE"] == attribute && u["CORETAKEOVER_VALUE"] == value
        })
    };
    for (attribute, value) in [("partner_state", "stale"), ("takeover_state", "taking-over"), ("takeover_state", "holding")] {
        ensure!(saw(attribute, value), "no change uevent for {attribute}={value}; the listener heard:\n{heard}");
    }
    ctx.step("the uevent listener heard partner_state=stale, takeover_state=taking-over, then holding");

    ctx.step("A resumes: its write to its LUN fails, and nothing of it reaches the LUN");
    let a = cluster.node(NodeName::A)?;
    a.resume()?;
    let a = cluster.node(NodeName::A)?;
    super::refused_by_reservation(
        a,
        &format!("pattern 'fenced write from node a' /tmp/pat && dd if=/tmp/pat of=$(lun_dev {lun}) bs=4096 seek=300 count=1 oflag=direct"),
    )?;
    let data = std::fs::read(&image).with_context(|| format!("reading {}", image.display()))?;
    ensure!(!data.windows(24).any(|w| w == b"fenced write from node a"), "A's bytes reached the LUN");
    let b = cluster.node(NodeName::B)?;
    b.ok(&format!("dd if=/dev/zero of=$(lun_dev {lun}) bs=4096 seek=300 count=1 oflag=direct"))?;

    ctx.step("giveback: refused while A, alive again, has not asked for its disks (its key is gone since the takeover)");
    let b = cluster.node(NodeName::B)?;
    b.ok(&format!("i=0; until [ \"$(cat {SYSFS}/partner_state)\" = alive ]; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done"))
        .context("B never saw A's heartbeat resume")?;
    let out = b.fails("coretakeover giveback")?;
    ensure!(out.contains("not registered"), "giveback to a partner that did not ask: {out}");
    ensure!(b.ok(&format!("cat {SYSFS}/takeover_state"))?.trim() == "holding", "B after a refused giveback");

    ctx.step("A asks for its disks: registered on each, but cannot reserve while B holds; B gives back; A reserves");
    register_for_tgt(&mut cluster, kind, NodeName::A, &a_luns)?;
    let a = cluster.node(NodeName::A)?;
    let out = a.fails(&format!("echo \"{a_luns}\" > {SYSFS}/service_disks"))?;
    ensure!(out.contains("busy"), "A reserving held disks: {out}");
    ensure!(a.ok("dmesg | tail -n 1")?.contains("node 2 holds it"), "no log line naming the holder");
    let b = cluster.node(NodeName::B)?;
    let b_mark = b.console.mark();
    let gave: serde_json::Value = serde_json::from_str(&b.ok("coretakeover giveback --json")?)?;
    ensure!(gave["takeover_state"] == "watching", "coretakeover giveback: {gave}");
    b.wait_console(b_mark, "coretakeover: giveback done: released 2 of 2", Duration::from_secs(10), deadline)?;
    ensure!(b.ok(&format!("cat {SYSFS}/takeover_state"))?.trim() == "watching", "B after giveback");
    // B's preempt removed A's registration; on tgt A registers again by hand.
    register_for_tgt(&mut cluster, kind, NodeName::A, &a_luns)?;
    let a = cluster.node(NodeName::A)?;
    a.ok(&format!("echo \"{a_luns}\" > {SYSFS}/service_disks"))?;
    a.ok(&format!("dd if=/dev/zero of=$(lun_dev {lun}) bs=4096 seek=301 count=1 oflag=direct"))?;
    let b = cluster.node(NodeName::B)?;
    super::refused_by_reservation(b, &format!("dd if=/dev/zero of=$(lun_dev {lun}) bs=4096 seek=302 count=1 oflag=direct"))?;
    b.ok(&format!("i=0; until [ \"$(cat {SYSFS}/partner_state)\" = alive ]; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done"))
        .context("B does not watch A's heartbeat after giveback")?;
    ctx.step("A holds its LUNs again and B watches its heartbeat");
    Ok(())
}

/// The LIO array and nodes A and B with one LUN each: A armed and holding
/// its LUN, B (after `b_first`, shell commands run before anything else on
/// B) watching A with a stale timeout of 2 s (scaled on a slow kernel)
/// until it sees A alive. Returns the cluster and A's LUN list.
fn watched_pair(ctx: &mut Ctx<'_>, b_first: &str) -> Result<(Cluster, String)> {
    watched_pair_on(ctx, &pair(ArrayKind::Lio, 1), b_first)
}

/// As `watched_pair`, on a cluster of `spec`.
pub(crate) fn watched_pair_on(ctx: &mut Ctx<'_>, spec: &ClusterSpec, b_first: &str) -> Result<(Cluster, String)> {
    let mut cluster = Cluster::start(spec, ctx.env, &ctx.dir, ctx.deadline)?;
    let a_luns = luns(&cluster, NodeName::A);
    configure(cluster.node(NodeName::A)?, NodeName::A)?;
    configure(cluster.node(NodeName::B)?, NodeName::B)?;
    let a = cluster.node(NodeName::A)?;
    label_and_arm(a, NodeName::A)?;
    a.ok(&format!("echo \"{a_luns}\" > {SYSFS}/service_disks"))?;
    let b = cluster.node(NodeName::B)?;
    b.ok(&format!(
        "{b_first}echo 1 > {SYSFS}/partner_id && echo \"{a_luns}\" > {SYSFS}/partner_disks && echo {} > {SYSFS}/stale_timeout_ms && echo $(coredump_dev a) > {SYSFS}/partner_dump_disk",
        2000 * ctx.env.slow
    ))?;
    b.ok(&format!("i=0; until [ \"$(cat {SYSFS}/partner_state)\" = alive ]; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done"))
        .context("B never saw A's heartbeat move")?;
    Ok((cluster, a_luns))
}

/// The fencing agent (issue: Pacemaker), as Pacemaker's fencer would run it
/// on B with `auto_takeover` 0 (the cluster manager decides): options on the
/// command line and on standard input, a node map, `list`, `status`,
/// `monitor`; refusals (this node, an unknown node) that change nothing; A
/// hangs and `off` fences it, verified (A's write fails on the
/// reservation), `off` again succeeds at once; `on` is refused until A asks
/// for its disks, then gives them back.
pub fn fence_agent(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.step("booting the LIO array and nodes A and B (1 LUN each); B: auto_takeover 0");
    let (mut cluster, a_luns) = watched_pair(ctx, &format!("echo 0 > {SYSFS}/auto_takeover && "))?;
    let lun = cluster.lun_of(NodeName::A, 0);
    let b = cluster.node(NodeName::B)?;
    // Pacemaker runs the agent from the node's root: Debian's python3 and
    // fencing.py, the agent and the command as installed.
    b.ok("cp /usr/sbin/fence_coretakeover /bin/coretakeover /tmp/")?;
    let agent = "host /usr/bin/python3 /tmp/fence_coretakeover --coretakeover-path=/tmp/coretakeover --node-map=node-a:1,node-b:2";
    let out = b.ok(&format!("{agent} -o list"))?;
    ensure!(out.lines().any(|l| l.starts_with("node-a")), "list: {out}");
    let out = b.ok(&format!("{agent} -o status -n node-a"))?;
    ensure!(out.contains("Status: ON"), "status of a live partner: {out}");
    b.ok(&format!("{agent} -o monitor"))?;
    let out = b.ok("printf 'action=status\\nplug=1\\ncoretakeover_path=/tmp/coretakeover\\n' | host /usr/bin/python3 /tmp/fence_coretakeover")?;
    ensure!(out.contains("Status: ON"), "status from standard input: {out}");

    ctx.step("refused: fencing this node, an unknown node; nothing changes");
    for (plug, why) in [("node-b", "cannot fence itself"), ("node-c", "not in --node-map"), ("7", "not this node's partner")] {
        let out = b.fails(&format!("{agent} -o off -n {plug}"))?;
        ensure!(out.contains(why), "off -n {plug}: {out}");
    }
    ensure!(b.ok(&format!("cat {SYSFS}/takeover_state"))?.trim() == "watching", "a refused fencing changed B");

    ctx.step("A hangs; Pacemaker's fencer runs off on B: A's disks are preempted and verified");
    cluster.node(NodeName::A)?.pause()?;
    let b = cluster.node(NodeName::B)?;
    let t = b.ok(&format!("t0=$(host date +%s%N); {agent} -o off -n node-a >/tmp/off.out 2>&1; rc=$?; t1=$(host date +%s%N); cat /tmp/off.out; echo rc=$rc $t0 $t1"))?;
    ensure!(t.contains("rc=0"), "off: {t}");
    let ms = crate::scenarios::dump::parse_elapsed(&t).map(|s| s * 1e3).context("off timing")?;
    // A fence agent's status exits 2 for "off".
    let out = b.ok(&format!("{agent} -o status -n node-a; echo rc=$?"))?;
    ensure!(out.contains("Status: OFF") && out.contains("rc=2"), "status after off: {out}");
    let last = last_takeover(b)?;
    ensure!(last["disks_held"] == 1 && last["reason"] == "command", "the agent's takeover: {last}");
    ctx.step(&format!("off took {ms:.0} ms (the agent, the command, the preempt and its verification)"));
    ctx.fact("fence_off_ms", ms);
    let out = b.ok(&format!("{agent} -o off -n node-a"))?;
    ensure!(out.contains("Success") && out.contains("Already OFF"), "off of a fenced node: {out}");

    ctx.step("A resumes: its write fails on the reservation");
    cluster.node(NodeName::A)?.resume()?;
    let a = cluster.node(NodeName::A)?;
    super::refused_by_reservation(a, &format!("dd if=/dev/zero of=$(lun_dev {lun}) bs=4096 seek=300 count=1 oflag=direct"))?;

    ctx.step("on (unfencing) is refused until A asks for its disks; then it gives them back");
    let b = cluster.node(NodeName::B)?;
    b.ok(&format!("i=0; until [ \"$(cat {SYSFS}/partner_state)\" = alive ]; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done"))
        .context("B never saw A's heartbeat resume")?;
    let out = b.fails(&format!("{agent} -o on -n node-a"))?;
    ensure!(out.contains("giveback refused"), "on before A asked: {out}");
    let a = cluster.node(NodeName::A)?;
    a.fails(&format!("echo \"{a_luns}\" > {SYSFS}/service_disks"))?;
    let b = cluster.node(NodeName::B)?;
    let out = b.ok(&format!("{agent} -o on -n node-a"))?;
    ensure!(out.contains("Success"), "on: {out}");
    ensure!(b.ok(&format!("{agent} -o status -n node-a"))?.contains("Status: ON"), "status after on");
    let a = cluster.node(NodeName::A)?;
    a.ok(&format!("echo \"{a_luns}\" > {SYSFS}/service_disks"))?;
    a.ok(&format!("dd if=/dev/zero of=$(lun_dev {lun}) bs=4096 seek=301 count=1 oflag=direct"))?;
    ctx.step("A holds its LUN again");
    Ok(())
}

/// B with `auto_takeover_on_stale` 0, as under a cluster manager: A hangs
/// (QMP stop) for three stale timeouts and B, which sees it stale, takes
/// nothing; A resumes and is alive again, its disks its own; then A panics
/// and B takes over on the beacon, by itself.
pub fn panic_only(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.step("booting the LIO array and nodes A and B (1 LUN each); B: auto_takeover 1, auto_takeover_on_stale 0");
    let (mut cluster, _) = watched_pair(ctx, &format!("echo 0 > {SYSFS}/auto_takeover_on_stale && "))?;
    let deadline = cluster.deadline;
    let stale_ms = 2000 * ctx.env.slow;
    let b = cluster.node(NodeName::B)?;
    ensure!(b.ok(&format!("cat {SYSFS}/auto_takeover {SYSFS}/auto_takeover_on_stale"))?.split_whitespace().collect::<Vec<_>>() == ["1", "0"], "B's knobs");

    ctx.step(&format!("A hangs for three stale timeouts ({} s): B sees it stale and takes nothing", 3 * stale_ms / 1000));
    let b_mark = cluster.node(NodeName::B)?.console.mark();
    cluster.node(NodeName::A)?.pause()?;
    let b = cluster.node(NodeName::B)?;
    b.wait_console(b_mark, "coretakeover: partner is stale", Duration::from_secs(60), deadline)?;
    std::thread::sleep(Duration::from_millis(u64::from(3 * stale_ms)));
    let b = cluster.node(NodeName::B)?;
    ensure!(b.console.find(b_mark, "coretakeover: takeover").is_none(), "B took over a silent partner with auto_takeover_on_stale 0");
    let state = b.ok(&format!("cat {SYSFS}/partner_state {SYSFS}/takeover_state"))?;
    ensure!(state.split_whitespace().collect::<Vec<_>>() == ["stale", "watching"], "B: {state}");

    ctx.step("A resumes: alive again, and its LUN is still its own");
    cluster.node(NodeName::A)?.resume()?;
    let b = cluster.node(NodeName::B)?;
    b.ok(&format!("i=0; until [ \"$(cat {SYSFS}/partner_state)\" = alive ]; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done"))
        .context("B never saw A's heartbeat resume")?;
    let lun = cluster.lun_of(NodeName::A, 0);
    cluster.node(NodeName::A)?.ok(&format!("dd if=/dev/zero of=$(lun_dev {lun}) bs=4096 seek=300 count=1 oflag=direct"))?;

    ctx.step("A panics: B takes over on the beacon, by itself");
    let b_mark = cluster.node(NodeName::B)?.console.mark();
    cluster.node(NodeName::A)?.ok("(sleep 1; echo c > /proc/sysrq-trigger) >/dev/null 2>&1 &")?;
    let b = cluster.node(NodeName::B)?;
    let done = b.wait_console(b_mark, "coretakeover: takeover done", Duration::from_secs(60), deadline)?;
    ensure!(done.text.contains("1 of 1 disks held") && done.text.contains("panic-beacon"), "{}", done.text);
    ctx.step(&format!("B: {}", done.text.split("coretakeover: ").nth(1).unwrap_or("")));
    Ok(())
}

/// A hangs with interrupts off on every CPU (the test module's `hang`: a
/// pinned hard-interrupt timer per CPU that spins forever), so nothing of A
/// runs but NMIs. B fences A on the stale heartbeat. Then the NMI an
/// operator or a BMC would send (QMP `inject-nmi`, with
/// `kernel.unknown_nmi_panic=1`): A panics in NMI context and dumps from
/// there; B sees the dump complete and keeps A's disk; drgn reads the
/// panicking CPU's stack through the NMI and a hung CPU's spin loop.
pub fn nmi_dump(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.step("booting the LIO array and nodes A and B (1 LUN each)");
    let (mut cluster, _) = watched_pair(ctx, "")?;
    let deadline = cluster.deadline;
    cluster.node(NodeName::A)?.ok("insmod /ct/ct_panic_trigger.ko && echo 1 > /proc/sys/kernel/unknown_nmi_panic")?;

    ctx.step("A hangs: every CPU spins in a hard-interrupt timer, interrupts off");
    let b_mark = cluster.node(NodeName::B)?.console.mark();
    let a = cluster.node(NodeName::A)?;
    let a_mark = a.console.mark();
    a.ok("echo hang > /sys/kernel/ct_panic_trigger/panic")?;
    let b = cluster.node(NodeName::B)?;
    b.wait_console(b_mark, "coretakeover: partner is stale", Duration::from_secs(60), deadline)?;
    let done = b.wait_console(b_mark, "coretakeover: takeover done", Duration::from_secs(30), deadline)?;
    ensure!(done.text.contains("1 of 1 disks held") && done.text.contains("stale-heartbeat"), "{}", done.text);
    ctx.step(&format!("B: {}", done.text.split("coretakeover: ").nth(1).unwrap_or("")));
    let a = cluster.node(NodeName::A)?;
    ensure!(a.console.find(a_mark, "Kernel panic").is_none(), "A panicked before the NMI");

    ctx.step("an NMI to A (QMP inject-nmi): A panics in NMI context and dumps");
    a.inject_nmi()?;
    let panicked = a.wait_console(a_mark, "Kernel panic - not syncing", Duration::from_secs(30), deadline)?;
    ensure!(panicked.text.contains("NMI"), "not the NMI's panic: {}", panicked.text);
    let a = cluster.node(NodeName::A)?;
    let beacon = a.wait_panic_line(a_mark, "coretakeover: panic beacon written", Duration::from_secs(30), deadline)?;
    let a = cluster.node(NodeName::A)?;
    let end = a.wait_console(a_mark, "coretakeover: dump ", Duration::from_secs(600), deadline)?;
    ensure!(end.text.contains("dump complete"), "A's dump from NMI context: {}", end.text);
    ctx.step(&format!(
        "beacon {:.0} ms after the panic line; {}",
        (beacon.at - panicked.at).as_secs_f64() * 1e3,
        end.text.split("coretakeover: ").nth(1).unwrap_or("")
    ));

    ctx.step("B: A's dump is complete, and B still holds A's disk");
    let b = cluster.node(NodeName::B)?;
    let status = disk_status(b, NodeName::A)?;
    let header = &status["header"];
    ensure!(header["state"] == "complete", "A's header as B reads it: {header}");
    ensure!(header["panic_message"].as_str().is_some_and(|m| m.contains("NMI")), "panic message: {header}");
    ensure!(b.ok(&format!("cat {SYSFS}/takeover_state"))?.trim() == "holding", "B let go of A's disk");

    ctx.step("savecore on the host; drgn reads the stacks");
    let image = cluster.coredump_image(NodeName::A);
    let vmcore = ctx.dir.join("vmcore");
    let saved = host_savecore(ctx, &image, &vmcore)?;
    ensure!(saved["complete"] == true, "savecore: {saved}");
    let found = drgn(ctx, &vmcore, "NMI: Not continuing", None)?;
    check_stacks(ctx, &found, "exc_nmi")?;
    crate::scenarios::dump::crash(
        ctx,
        &vmcore,
        "the vmcore of a panic in NMI context",
        &crate::crash_tool::Expect { panic_text: "NMI: Not continuing", panic_frames: &["vpanic"], stopped_frames: &["crash_nmi_callback"] },
    )?;
    // The hung context: a CPU's stack (the panicking one's below its NMI, or
    // one stopped by the panic) runs through the test module's spin loop.
    let mut stacks = vec![found["crashed_frames"].clone()];
    stacks.extend(found["cpus"].as_object().into_iter().flatten().map(|(_, c)| c["frames"].clone()));
    let hung = stacks.iter().filter(|f| f.as_array().is_some_and(|f| f.iter().any(|n| n.as_str().is_some_and(|n| n.contains("hang_fired"))))).count();
    ensure!(hung > 0, "no stack runs through the hung CPUs' spin loop (hang_fired): {found}");
    ctx.step(&format!("{hung} of {} stacks run through the spin loop the NMI interrupted", stacks.len()));
    std::fs::remove_file(&vmcore)?;
    Ok(())
}

/// B loses its path to A's coredump disk (the device is removed under it)
/// while A is healthy: B judges A unreachable, never takes over on its own
/// however long that lasts, and A keeps writing; an administrator's takeover
/// by command still works and fences A.
pub fn partner_disk_lost(ctx: &mut Ctx<'_>) -> Result<()> {
    let spec = pair(ArrayKind::Lio, 1);
    ctx.step("booting the LIO array and nodes A and B");
    let mut cluster = Cluster::start(&spec, ctx.env, &ctx.dir, ctx.deadline)?;
    let deadline = cluster.deadline;
    let lun = cluster.lun_of(NodeName::A, 0);
    configure(cluster.node(NodeName::A)?, NodeName::A)?;
    configure(cluster.node(NodeName::B)?, NodeName::B)?;
    let a = cluster.node(NodeName::A)?;
    label_and_arm(a, NodeName::A)?;
    a.ok(&format!("echo $(lun_dev {lun}) > {SYSFS}/service_disks"))?;
    let b = cluster.node(NodeName::B)?;
    b.ok(&format!("echo 1 > {SYSFS}/partner_id && echo $(lun_dev {lun}) > {SYSFS}/partner_disks && echo 2000 > {SYSFS}/stale_timeout_ms"))?;
    b.ok(&format!("echo $(coredump_dev a) > {SYSFS}/partner_dump_disk"))?;
    b.ok(&format!("i=0; until [ \"$(cat {SYSFS}/partner_state)\" = alive ]; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done"))
        .context("B never saw A's heartbeat move")?;

    ctx.step("B's path to A's coredump disk is lost: its PCI device is removed in B");
    let b_mark = b.console.mark();
    b.ok("d=$(coredump_dev a) && echo 1 > /sys/block/${d#/dev/}/device/../remove")?;
    let b = cluster.node(NodeName::B)?;
    b.wait_console(b_mark, "coretakeover: partner is unreachable", Duration::from_secs(10), deadline)?;
    ensure!(b.ok(&format!("cat {SYSFS}/partner_state"))?.trim() == "unreachable", "B's partner_state");

    ctx.step("6 s later (3 stale timeouts): no takeover, and A still writes its LUN");
    std::thread::sleep(Duration::from_secs(6));
    let b = cluster.node(NodeName::B)?;
    ensure!(!b.console.tail(400).iter().any(|l| l.contains("takeover done") || l.contains("partner is stale")), "B took over A on a lost path");
    ensure!(b.ok(&format!("cat {SYSFS}/takeover_state"))?.trim() == "watching", "B's takeover state");
    ensure!(b.ok(&format!("cat {SYSFS}/partner_state"))?.trim() == "unreachable", "B's partner_state");
    let a = cluster.node(NodeName::A)?;
    a.ok(&format!("dd if=/dev/zero of=$(lun_dev {lun}) bs=4096 count=1 oflag=direct"))?;

    ctx.step("the administrator takes over by command: B holds the LUN, A's writes fail");
    let b = cluster.node(NodeName::B)?;
    let took: serde_json::Value = serde_json::from_str(&b.ok("coretakeover takeover --json")?)?;
    ensure!(took["takeover_state"] == "holding", "coretakeover takeover: {took}");
    b.ok(&format!("dd if=/dev/zero of=$(lun_dev {lun}) bs=4096 count=1 oflag=direct"))?;
    let a = cluster.node(NodeName::A)?;
    super::refused_by_reservation(a, &format!("dd if=/dev/zero of=$(lun_dev {lun}) bs=4096 count=1 oflag=direct"))?;
    Ok(())
}

/// rmmod while a takeover is in flight: the array stops answering (its
/// vCPUs are stopped), B starts a takeover by command, then B's module is
/// removed. rmmod waits for the takeover; when the array answers again both
/// finish: the takeover holds the LUNs, the module is gone, nothing oopsed.
pub fn rmmod_in_flight(ctx: &mut Ctx<'_>) -> Result<()> {
    let spec = pair(ArrayKind::Lio, 2);
    ctx.step("booting the LIO array and nodes A and B; A reserves its 2 LUNs, B registers on them");
    let mut cluster = Cluster::start(&spec, ctx.env, &ctx.dir, ctx.deadline)?;
    let deadline = cluster.deadline;
    let a_luns = luns(&cluster, NodeName::A);
    configure(cluster.node(NodeName::A)?, NodeName::A)?;
    configure(cluster.node(NodeName::B)?, NodeName::B)?;
    cluster.node(NodeName::A)?.ok(&format!("echo \"{a_luns}\" > {SYSFS}/service_disks"))?;
    cluster.node(NodeName::B)?.ok(&format!("echo 1 > {SYSFS}/partner_id && echo \"{a_luns}\" > {SYSFS}/partner_disks"))?;

    ctx.step("the array stops answering; B starts a takeover, then rmmod");
    cluster.array_guest()?.pause()?;
    let b = cluster.node(NodeName::B)?;
    let b_mark = b.console.mark();
    b.ok(&format!("(echo 1 > {SYSFS}/takeover; echo \"takeover $?\" > /tmp/takeover.rc) </dev/null >/dev/null 2>&1 &"))?;
    b.ok("sleep 1; (rmmod coretakeover; echo \"rmmod $?\" > /tmp/rmmod.rc) </dev/null >/dev/null 2>&1 &")?;
    std::thread::sleep(Duration::from_secs(2));
    let b = cluster.node(NodeName::B)?;
    ensure!(b.ok("ls /tmp/rmmod.rc /tmp/takeover.rc 2>/dev/null | wc -l")?.trim() == "0", "rmmod or the takeover returned while the array was silent");
    ensure!(b.ok("[ -d /sys/module/coretakeover ] && echo loaded")?.trim() == "loaded", "the module went away under a takeover");

    ctx.step("the array answers again: the takeover completes, then rmmod");
    cluster.array_guest()?.resume()?;
    let b = cluster.node(NodeName::B)?;
    let done = b.wait_console(b_mark, "coretakeover: takeover done", Duration::from_secs(120), deadline)?;
    ensure!(done.text.contains("2 of 2 disks held"), "{}", done.text);
    let rc = b.shell.ok("i=0; until [ -f /tmp/rmmod.rc ]; do i=$((i+1)); [ $i -gt 600 ] && exit 1; sleep 0.1; done; cat /tmp/takeover.rc /tmp/rmmod.rc", Duration::from_secs(90))?;
    ensure!(rc.contains("takeover 0") && rc.contains("rmmod 0"), "exit statuses: {rc}");
    ensure!(b.ok("[ -d /sys/module/coretakeover ] || echo gone")?.trim() == "gone", "the module is still loaded");
    let log = b.ok("dmesg")?;
    for bad in ["BUG", "Oops", "WARNING", "general protection"] {
        ensure!(!log.contains(bad), "B's kernel log has {bad}:\n{log}");
    }
    ctx.step(&format!("B: {}; rmmod returned after it", done.text.split("coretakeover: ").nth(1).unwrap_or("")));
    Ok(())
}

/// Both nodes alive, each believing the other dead: every heartbeat write
/// goes to a private overlay of the writer's coredump disk, so each partner
/// sees a heartbeat that stopped. B (the higher id) fences A at once; A waits
/// one more stale timeout, checks its own LUN before fencing, finds B holding
/// it, and says it lost. At the end every LUN has exactly one owner, B.
pub fn split_brain(ctx: &mut Ctx<'_>) -> Result<()> {
    let spec = pair(ArrayKind::Lio, 1);
    ctx.step("booting the LIO array and nodes A and B; each arms, reserves its LUN and watches the other");
    let mut cluster = Cluster::start(&spec, ctx.env, &ctx.dir, ctx.deadline)?;
    let deadline = cluster.deadline;
    let (lun_a, lun_b) = (cluster.lun_of(NodeName::A, 0), cluster.lun_of(NodeName::B, 0));
    for (me, other, mine, theirs) in [(NodeName::A, NodeName::B, lun_a, lun_b), (NodeName::B, NodeName::A, lun_b, lun_a)] {
        let node = cluster.node(me)?;
        configure(node, me)?;
        label_and_arm(node, me)?;
        node.ok(&format!(
            "echo $(lun_dev {mine}) > {SYSFS}/service_disks && echo {} > {SYSFS}/partner_id && echo $(lun_dev {theirs}) > {SYSFS}/partner_disks && echo 2000 > {SYSFS}/stale_timeout_ms",
            other.id()
        ))?;
    }
    for (me, other) in [(NodeName::A, NodeName::B), (NodeName::B, NodeName::A)] {
        let node = cluster.node(me)?;
        node.ok(&format!("echo $(coredump_dev {}) > {SYSFS}/partner_dump_disk", other.letter()))?;
    }
    for me in [NodeName::A, NodeName::B] {
        cluster
            .node(me)?
            .ok(&format!("i=0; until [ \"$(cat {SYSFS}/partner_state)\" = alive ]; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done"))
            .with_context(|| format!("node {} never saw its partner's heartbeat", me.letter()))?;
    }

    ctx.step("both heartbeat paths break: each node's writes to its coredump disk stay private");
    let a_mark = cluster.node(NodeName::A)?.console.mark();
    let b_mark = cluster.node(NodeName::B)?.console.mark();
    for me in [NodeName::A, NodeName::B] {
        let overlay = ctx.dir.join(format!("overlay-{}.qcow2", me.letter()));
        cluster.node(me)?.divert_writes(&format!("coredump-{}", me.letter()), &overlay)?;
    }
    let b = cluster.node(NodeName::B)?;
    let done = b.wait_console(b_mark, "coretakeover: takeover done", Duration::from_secs(30), deadline)?;
    ensure!(done.text.contains("1 of 1 disks held") && done.text.contains("stale-heartbeat"), "{}", done.text);
    ctx.step(&format!("B: {}", done.text.split("coretakeover: ").nth(1).unwrap_or("")));
    let a = cluster.node(NodeName::A)?;
    let lost = a.wait_console(a_mark, "coretakeover: fenced:", Duration::from_secs(30), deadline)?;
    ctx.step(&format!("A: {}", lost.text.split("coretakeover: ").nth(1).unwrap_or("")));
    std::thread::sleep(Duration::from_secs(4));

    ctx.step("the end: B holds both LUNs, A holds none and knows it lost");
    let a = cluster.node(NodeName::A)?;
    ensure!(a.ok(&format!("cat {SYSFS}/takeover_state"))?.trim() == "fenced", "A's takeover state");
    ensure!(!a.console.tail(400).iter().any(|l| l.contains("takeover done")), "A took over too");
    for lun in [lun_a, lun_b] {
        super::refused_by_reservation(a, &format!("dd if=/dev/zero of=$(lun_dev {lun}) bs=4096 count=1 oflag=direct"))?;
    }
    let b = cluster.node(NodeName::B)?;
    let b_key = b.ok(&format!("cat {SYSFS}/registration_key"))?.trim().trim_start_matches("0x").trim_start_matches('0').to_string();
    ensure!(b.ok(&format!("cat {SYSFS}/takeover_state"))?.trim() == "holding", "B's takeover state");
    for lun in [lun_a, lun_b] {
        b.ok(&format!("dd if=/dev/zero of=$(lun_dev {lun}) bs=4096 count=1 oflag=direct"))?;
        let holder = b.ok(&format!("host sg_persist --no-inquiry --read-reservation $(lun_dev {lun})"))?;
        ensure!(holder.to_lowercase().contains(&format!("key=0x{b_key}")), "LUN {lun}'s reservation:\n{holder}");
    }
    Ok(())
}

/// The array loses power just as B takes over, stays off for `off`, and
/// boots again without its persistent-reservation state: B's takeover keeps
/// trying (until the same failure repeated for 30 s, `ct_core::retry`),
/// then holds every LUN - reserving where nobody holds one any more - and
/// says so per disk, each failed attempt logged. A, whose registration the
/// array forgot, cannot write.
pub fn array_restart(ctx: &mut Ctx<'_>, off: Duration) -> Result<()> {
    let spec = pair(ArrayKind::Lio, 2);
    ctx.step("booting the LIO array and nodes A and B; A reserves its 2 LUNs, B registers on them");
    let mut cluster = Cluster::start(&spec, ctx.env, &ctx.dir, ctx.deadline)?;
    let deadline = cluster.deadline;
    let a_luns = luns(&cluster, NodeName::A);
    let first = cluster.lun_of(NodeName::A, 0);
    configure(cluster.node(NodeName::A)?, NodeName::A)?;
    configure(cluster.node(NodeName::B)?, NodeName::B)?;
    cluster.node(NodeName::A)?.ok(&format!("echo \"{a_luns}\" > {SYSFS}/service_disks"))?;
    cluster.node(NodeName::B)?.ok(&format!("echo 1 > {SYSFS}/partner_id && echo \"{a_luns}\" > {SYSFS}/partner_disks"))?;

    ctx.step(&format!("the array loses power; B starts a takeover; the array stays off {} s, then boots again (its PR state is gone)", off.as_secs()));
    let lost = std::time::Instant::now();
    cluster.array_guest()?.kill();
    let b = cluster.node(NodeName::B)?;
    let b_mark = b.console.mark();
    b.ok(&format!("(echo 1 > {SYSFS}/takeover) </dev/null >/dev/null 2>&1 &"))?;
    std::thread::sleep(off);
    cluster.restart_array(ctx.env)?;
    let outage = lost.elapsed();
    ctx.fact("array_outage_s", outage.as_secs_f64());
    ctx.step(&format!("the array answers again {:.1} s after it lost power", outage.as_secs_f64()));
    let b = cluster.node(NodeName::B)?;
    let done = b.wait_console(b_mark, "coretakeover: takeover done", Duration::from_secs(240), deadline)?;
    let last = last_takeover(b)?;
    ctx.step(&format!("B: {}", done.text.split("coretakeover: ").nth(1).unwrap_or("")));
    let attempts = b.ok("dmesg | grep -c 'coretakeover: takeover: disk .* attempt' || true")?;
    ctx.step(&format!("B's log has a line for each of {} failed attempts", attempts.trim()));
    for line in disk_lines(&last) {
        ctx.step(&format!("  {line}"));
    }
    ensure!(done.text.contains("2 of 2 disks held"), "B's takeover after the array restart: {last}");
    // The per-disk report says what happened: the array forgot every
    // registration, so B's first attempt on each disk failed (its key was
    // gone too), it registered again and retried, and found the disk
    // reserved by nobody: "reserve", in two attempts or more.
    let disks = last["disks"].as_array().context("no per-disk report")?;
    ensure!(disks.len() == 2, "{} disks in the report: {last}", disks.len());
    for d in disks {
        ensure!(d["held"].as_u64() == Some(1) && d["method"] == "reserve", "a disk not reserved anew after the array forgot its PRs: {d}");
        ensure!(d["attempts"].as_u64().is_some_and(|n| n >= 2), "a disk taken at the first attempt, though B's key was gone: {d}");
    }

    ctx.step("one owner per LUN: B writes A's LUNs, A cannot");
    for k in 0..2 {
        let lun = cluster.lun_of(NodeName::A, k);
        cluster.node(NodeName::B)?.ok(&format!("retry 3 dd if=/dev/zero of=$(lun_dev {lun}) bs=4096 count=1 oflag=direct"))?;
        super::refused_by_reservation(cluster.node(NodeName::A)?, &format!("dd if=/dev/zero of=$(lun_dev {lun}) bs=4096 count=1 oflag=direct"))?;
    }
    let b = cluster.node(NodeName::B)?;
    let key = b.ok(&format!("cat {SYSFS}/registration_key"))?.trim().to_lowercase();
    let holder = b.ok(&format!("host sg_persist --no-inquiry --read-reservation $(lun_dev {first})"))?;
    ensure!(holder.to_lowercase().contains(&format!("key={key}")), "LUN {first}'s reservation:\n{holder}");
    Ok(())
}

/// A takeover that cannot hold every disk says so: one of A's two LUNs is
/// held under a key that is neither A's nor B's (a third party, simulated by
/// A re-registering that LUN under a foreign key). B's takeover holds the
/// other LUN, ends `partial`, and the command fails with exit status 3, the
/// module's reason naming the disk, and each disk's result in its JSON;
/// netlink answers EREMOTEIO with an extended ack. Once the third party lets
/// go, the takeover command holds both and succeeds.
pub fn partial(ctx: &mut Ctx<'_>) -> Result<()> {
    let spec = pair(ArrayKind::Lio, 2);
    ctx.step("booting the LIO array and nodes A and B; A reserves its 2 LUNs, B registers on them");
    let mut cluster = Cluster::start(&spec, ctx.env, &ctx.dir, ctx.deadline)?;
    let a_luns = luns(&cluster, NodeName::A);
    let (first, second) = (cluster.lun_of(NodeName::A, 0), cluster.lun_of(NodeName::A, 1));
    configure(cluster.node(NodeName::A)?, NodeName::A)?;
    configure(cluster.node(NodeName::B)?, NodeName::B)?;
    cluster.node(NodeName::A)?.ok(&format!("echo \"{a_luns}\" > {SYSFS}/service_disks"))?;
    cluster.node(NodeName::B)?.ok(&format!("echo 1 > {SYSFS}/partner_id && echo \"{a_luns}\" > {SYSFS}/partner_disks"))?;

    ctx.step("a third party holds A's second LUN: it is reserved under key 0xdeadbeef");
    let a = cluster.node(NodeName::A)?;
    a.ok(&format!(
        "d=$(lun_dev {second}) && k=$(cat {SYSFS}/registration_key) && \
         retry 3 host sg_persist --no-inquiry --out --release --param-rk=$k --prout-type=1 $d >/dev/null && \
         retry 3 host sg_persist --no-inquiry --out --register --param-rk=$k --param-sark=0xdeadbeef $d >/dev/null && \
         retry 3 host sg_persist --no-inquiry --out --reserve --param-rk=0xdeadbeef --prout-type=1 $d >/dev/null"
    ))?;

    ctx.step("B takes over by command: exit status 3, the failed disk named, each disk's result in the JSON");
    let b = cluster.node(NodeName::B)?;
    let out = b.ok("coretakeover takeover --json; echo \"exit=$?\"")?;
    ensure!(out.trim_end().ends_with("exit=3"), "coretakeover takeover should exit 3 (partial): {out}");
    // The shell merges the error line (standard error) with the JSON.
    let json_line = out.lines().find(|l| l.starts_with('{')).unwrap_or("");
    let json: serde_json::Value = serde_json::from_str(json_line).with_context(|| format!("takeover JSON: {out}"))?;
    let error = &json["error"];
    ensure!(error["kind"] == "partial-takeover" && error["errno"] == 121 && error["exit_code"] == 3, "the error: {json}");
    ensure!(error["reason"].as_str().is_some_and(|r| r.contains("1 of 2 disks held")), "the extended ack: {json}");
    let report = &error["report"];
    ensure!(report["takeover_state"] == "partial" && report["disks_held"] == 1, "the report: {json}");
    let disks = report["disks"].as_array().context("no disks in the report")?;
    let failed: Vec<&serde_json::Value> = disks.iter().filter(|d| d["held"] == 0).collect();
    ensure!(failed.len() == 1 && failed[0]["error"].as_u64().is_some(), "one disk should have failed: {json}");
    ensure!(failed[0]["message"].as_str().is_some_and(|m| m.contains("third node")), "why it failed: {json}");
    for line in disk_lines(report) {
        ctx.step(&format!("  {line}"));
    }
    ensure!(b.ok(&format!("cat {SYSFS}/takeover_state"))?.trim() == "partial", "B's takeover_state");
    let text = b.fails("coretakeover takeover")?;
    ensure!(text.contains("NOT HELD") && text.contains("1 of 2 disks held"), "coretakeover takeover (text): {text}");
    ctx.step("B's takeover_state says partial; the text output names the disk NOT HELD");
    ensure!(b.ok("echo 1 > /sys/kernel/coretakeover/takeover; echo \"exit=$?\"")?.contains("exit=1"), "the sysfs takeover knob succeeded");
    ensure!(b.ok("dmesg | tail -n 3")?.contains("disks held"), "no log line for the partial takeover");

    ctx.step("the third party lets go; the takeover command holds both LUNs and succeeds");
    let a = cluster.node(NodeName::A)?;
    a.ok(&format!(
        "d=$(lun_dev {second}) && retry 3 host sg_persist --no-inquiry --out --release --param-rk=0xdeadbeef --prout-type=1 $d >/dev/null"
    ))?;
    let b = cluster.node(NodeName::B)?;
    let took: serde_json::Value = serde_json::from_str(&b.ok("coretakeover takeover --json")?)?;
    ensure!(took["takeover_state"] == "holding" && took["disks_held"] == 2, "the second takeover: {took}");
    for lun in [first, second] {
        b.ok(&format!("retry 3 dd if=/dev/zero of=$(lun_dev {lun}) bs=4096 count=1 oflag=direct"))?;
    }
    Ok(())
}

/// The label check is off the takeover's critical path, and still no disk
/// that became a coredump disk is ever preempted. B watches A and has A's two
/// LUNs in its partner list, all checked when configured. A then writes a
/// coredump label on its second LUN (a disk repurposed under a configured
/// list): B's background check says so within a few seconds; the label is
/// wiped (B says so) and written again (B says so). A panics: B's takeover
/// on the beacon holds the first LUN with one PR command, leaves the second
/// untouched (A's reservation stays, read from B with sg_persist), ends
/// `partial`, and reads the preempted reservation back after its done line.
pub fn label_change(ctx: &mut Ctx<'_>) -> Result<()> {
    let spec = pair(ArrayKind::Lio, 2);
    ctx.step("booting the LIO array and nodes A and B; A arms and reserves its 2 LUNs; B registers on them and watches A");
    let mut cluster = Cluster::start(&spec, ctx.env, &ctx.dir, ctx.deadline)?;
    let deadline = cluster.deadline;
    let a_luns = luns(&cluster, NodeName::A);
    let (first, second) = (cluster.lun_of(NodeName::A, 0), cluster.lun_of(NodeName::A, 1));
    configure(cluster.node(NodeName::A)?, NodeName::A)?;
    configure(cluster.node(NodeName::B)?, NodeName::B)?;
    let a = cluster.node(NodeName::A)?;
    label_and_arm(a, NodeName::A)?;
    a.ok(&format!("echo \"{a_luns}\" > {SYSFS}/service_disks"))?;
    let key_a = a.ok(&format!("cat {SYSFS}/registration_key"))?.trim().to_string();
    let b = cluster.node(NodeName::B)?;
    b.ok(&format!("echo 1 > {SYSFS}/partner_id && echo \"{a_luns}\" > {SYSFS}/partner_disks && echo $(coredump_dev a) > {SYSFS}/partner_dump_disk"))?;
    b.ok(&format!(
        "i=0; until [ \"$(cat {SYSFS}/partner_state)\" = alive ]; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done"
    ))
    .context("B never saw A's heartbeat move")?;

    // Each change of the second LUN's identity, and how long B took to say it.
    let change = |ctx: &mut Ctx<'_>, cluster: &mut Cluster, what: &str, command: String, says: &str| -> Result<()> {
        let mark = cluster.node(NodeName::B)?.console.mark();
        let t0 = std::time::Instant::now();
        cluster.node(NodeName::A)?.ok(&command)?;
        let line = cluster.node(NodeName::B)?.wait_console(mark, says, Duration::from_secs(20), deadline)
            .with_context(|| format!("B did not notice: {what}"))?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        ctx.step(&format!("{what}: B noticed within {ms:.0} ms: {}", line.text.split("coretakeover: ").nth(1).unwrap_or(&line.text)));
        ctx.fact(&format!("noticed_ms_{}", what.split_whitespace().next().unwrap_or("change")), ms);
        Ok(())
    };
    let label = format!("d=$(lun_dev {second}) && retry 3 coretakeover label --disk $d --cluster 7 --node 2 >/dev/null");
    let wipe = format!("d=$(lun_dev {second}) && dd if=/dev/zero of=$d bs=4096 count=1 oflag=direct 2>/dev/null");
    change(ctx, &mut cluster, "labeled: A writes a coredump label on its second LUN", label.clone(), "now carries a coredump label")?;
    change(ctx, &mut cluster, "wiped: A zeroes the label block", wipe, "no coredump label now")?;
    change(ctx, &mut cluster, "relabeled: A labels it again", label, "now carries a coredump label")?;

    ctx.step("A panics; B takes over on the beacon");
    let a_mark = cluster.node(NodeName::A)?.console.mark();
    let b_mark = cluster.node(NodeName::B)?.console.mark();
    cluster.node(NodeName::A)?.ok("(sleep 1; echo c > /proc/sysrq-trigger) >/dev/null 2>&1 &")?;
    cluster.node(NodeName::A)?.wait_panic_line(a_mark, "coretakeover: panic beacon written", Duration::from_secs(30), deadline)?;
    let b = cluster.node(NodeName::B)?;
    let done = b.wait_console(b_mark, "coretakeover: takeover done", Duration::from_secs(60), deadline)?;
    ensure!(done.text.contains("1 of 2 disks held") && done.text.contains("panic-beacon"), "{}", done.text);
    let verified = b.wait_console(b_mark, "coretakeover: takeover verified", Duration::from_secs(30), deadline)?;
    ensure!(verified.at >= done.at && verified.text.contains("1 preempted disks read back ours"), "{}", verified.text);
    ctx.step(&format!("B: {}", done.text.split("coretakeover: ").nth(1).unwrap_or("")));
    ctx.step(&format!("then, off the path: {}", verified.text.split("coretakeover: ").nth(1).unwrap_or("")));
    let last = last_takeover(b)?;
    for line in disk_lines(&last) {
        ctx.step(&format!("  {line}"));
    }
    let disks = last["disks"].as_array().context("no disks in the last takeover")?;
    ensure!(disks.len() == 2, "{last}");
    ensure!(disks[0]["held"] == 1 && disks[0]["method"] == "preempt-abort", "the first LUN: {last}");
    ensure!(disks[1]["held"] == 0 && disks[1]["message"].as_str().is_some_and(|m| m.contains("coredump label")), "the labeled LUN: {last}");
    ensure!(b.ok(&format!("cat {SYSFS}/takeover_state"))?.trim() == "partial", "B's takeover_state");

    ctx.step("the labeled LUN was never preempted: A's Write Exclusive reservation is still on it; the first LUN is B's");
    let reservation = b.ok(&format!("host sg_persist --no-inquiry --in --read-reservation $(lun_dev {second})"))?;
    ensure!(reservation.contains(key_a.as_str()), "A's key {key_a} should still hold the labeled LUN:\n{reservation}");
    let key_b = b.ok(&format!("cat {SYSFS}/registration_key"))?.trim().to_string();
    let reservation = b.ok(&format!("host sg_persist --no-inquiry --in --read-reservation $(lun_dev {first})"))?;
    ensure!(reservation.contains(key_b.as_str()), "B's key {key_b} should hold the first LUN:\n{reservation}");
    b.ok(&format!("retry 3 dd if=/dev/zero of=$(lun_dev {first}) bs=4096 count=1 seek=1 oflag=direct 2>/dev/null"))?;
    Ok(())
}

/// Below NFS: what a filesystem on A's LUN acknowledged survives A's panic
/// and B's takeover, twice: the second time after B had mounted the
/// filesystem itself and given it back (as in every failover after the
/// first). A runs ext4 on its LUN and a loop that creates a file, fsyncs
/// it, renames it, fsyncs the directory (what knfsd's `sync` export does for
/// a client's rename) and then prints `@@FS N` on its console: from that
/// line on, file N is on stable storage. A panics mid-loop; B takes the LUN
/// over, mounts it (the journal replays) and must find every file whose
/// line A printed.
pub fn filesystem(ctx: &mut Ctx<'_>) -> Result<()> {
    let spec = pair(ArrayKind::Lio, 1);
    ctx.step("booting the LIO array and nodes A and B; A arms and reserves its LUN, B watches A");
    let mut cluster = Cluster::start(&spec, ctx.env, &ctx.dir, ctx.deadline)?;
    let deadline = cluster.deadline;
    let lun_a = cluster.lun_of(NodeName::A, 0);
    for me in [NodeName::A, NodeName::B] {
        let node = cluster.node(me)?;
        configure(node, me)?;
        label_and_arm(node, me)?;
    }
    cluster.node(NodeName::A)?.ok(&format!("echo $(lun_dev {lun_a}) > {SYSFS}/service_disks"))?;
    let b = cluster.node(NodeName::B)?;
    b.ok(&format!("echo 1 > {SYSFS}/partner_id && echo $(lun_dev {lun_a}) > {SYSFS}/partner_disks && echo $(coredump_dev a) > {SYSFS}/partner_dump_disk"))?;
    let alive = format!("i=0; until [ \"$(cat {SYSFS}/partner_state)\" = alive ]; do i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 0.1; done");
    b.ok(&alive).context("B never saw A's heartbeat")?;
    cluster.node(NodeName::A)?.ok(&format!("host mkfs.ext4 -q -F -E nodiscard $(lun_dev {lun_a})"))?;

    for round in 1..=2 {
        ctx.step(&format!("round {round}: A mounts ext4 on its LUN; a loop creates, fsyncs, renames, fsyncs the directory, then says so"));
        let a = cluster.node(NodeName::A)?;
        a.ok(&format!("mkdir -p /mnt/fs && mount -t ext4 $(lun_dev {lun_a}) /mnt/fs && mkdir -p /mnt/fs/d{round} && sync /mnt/fs /mnt/fs/d{round}"))?;
        let mark = a.console.mark();
        a.ok(&format!(
            "(i=0; while :; do echo $i > /mnt/fs/d{round}/t$i && sync /mnt/fs/d{round}/t$i && mv /mnt/fs/d{round}/t$i /mnt/fs/d{round}/f$i && sync /mnt/fs/d{round} && echo \"@@FS $i\" > /dev/console || break; i=$((i+1)); done) >/dev/null 2>&1 &"
        ))?;
        a.wait_console(mark, "@@FS 30", Duration::from_secs(300), deadline)?;

        ctx.step("A panics mid-loop; B takes its LUN over");
        let b_mark = cluster.node(NodeName::B)?.console.mark();
        let a = cluster.node(NodeName::A)?;
        // A second, so the reply leaves before the panic (check-debug's
        // kernel once panicked first at 0.3 s).
        a.ok("(sleep 1; echo c > /proc/sysrq-trigger) >/dev/null 2>&1 &")?;
        a.wait_console(mark, "Kernel panic - not syncing", Duration::from_secs(30), deadline)?;
        cluster.node(NodeName::B)?.wait_console(b_mark, "coretakeover: takeover done", Duration::from_secs(60), deadline)?;
        let acked: Vec<u64> = cluster
            .node(NodeName::A)?
            .console
            .lines_from(mark)
            .iter()
            .filter_map(|l| l.text.split("@@FS ").nth(1).and_then(|n| n.trim().parse().ok()))
            .collect();
        let last = *acked.iter().max().context("A acknowledged nothing")?;

        ctx.step(&format!("B mounts A's filesystem (its journal replays) and must find d{round}/f0..=f{last}"));
        let b = cluster.node(NodeName::B)?;
        // What B reads through its page cache must be what is on the disk
        // (the superblock and the first group descriptors): B read this
        // LUN before (round 2: it had it mounted), A wrote it since.
        let sums = b.ok(&format!(
            "dd if=$(lun_dev {lun_a}) bs=4096 count=2 2>/dev/null | md5sum; dd if=$(lun_dev {lun_a}) bs=4096 count=2 iflag=direct 2>/dev/null | md5sum"
        ))?;
        let sums: Vec<&str> = sums.lines().map(|l| l.split_whitespace().next().unwrap_or("")).collect();
        ensure!(sums.len() == 2 && sums[0] == sums[1], "round {round}: B's page cache holds stale blocks of A's LUN (buffered read {sums:?}[0], direct read [1])");
        let listing = b.ok(&format!("mkdir -p /mnt/fs && mount -t ext4 $(lun_dev {lun_a}) /mnt/fs && ls /mnt/fs/d{round}"))?;
        let names: std::collections::BTreeSet<&str> = listing.split_whitespace().collect();
        let missing: Vec<u64> = (0..=last).filter(|i| !names.contains(format!("f{i}").as_str())).collect();
        let dmesg = b.ok("dmesg | grep -i -e ext4 -e jbd2 | tail -4")?;
        ensure!(
            missing.is_empty(),
            "round {round}: B lacks acknowledged files {missing:?} (A acknowledged up to {last}); B lists {listing}; B's kernel: {dmesg}"
        );
        ctx.step(&format!("B's buffered reads of the LUN match the disk; B has every acknowledged file (0..={last})"));
        if round == 2 {
            b.ok("umount /mnt/fs")?;
            break;
        }

        ctx.step("B serves it a while (writes and fsyncs), unmounts it; A boots again, registers; B gives the LUN back");
        b.ok("for i in 0 1 2 3 4 5 6 7; do echo $i > /mnt/fs/b$i && sync /mnt/fs/b$i; done && sync /mnt/fs && umount /mnt/fs")?;
        cluster.restart(NodeName::A, 512)?;
        let a = cluster.node(NodeName::A)?;
        configure(a, NodeName::A)?;
        a.ok(&format!("coretakeover label --force --disk $(coredump_dev a) --cluster {} --node 1 >/dev/null && echo $(coredump_dev a) > {SYSFS}/dump_disk", super::dump::CLUSTER_ID))?;
        // B holds the LUN: A registers on it and is refused the reservation.
        a.fails(&format!("echo $(lun_dev {lun_a}) > {SYSFS}/service_disks"))?;
        let b = cluster.node(NodeName::B)?;
        b.ok(&alive).context("B never saw A alive again")?;
        b.ok(&format!("echo 1 > {SYSFS}/giveback"))?;
        cluster.node(NodeName::A)?.ok(&format!("echo $(lun_dev {lun_a}) > {SYSFS}/service_disks"))?;
    }
    Ok(())
}
