// SPDX-License-Identifier: GPL-2.0

//! Scenarios of the dying node's half: arming the coredump disk, the dump
//! at panic time, and savecore.

use super::Ctx;
use crate::cluster::{Cluster, ClusterSpec, NodeName};
use crate::guest::Guest;
use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

const SYSFS: &str = "/sys/kernel/coretakeover";
pub(crate) const CLUSTER_ID: u32 = 7;
/// Node RAM for the dump scenarios.
const NODE_MIB: u32 = 512;

pub(crate) fn spec(nodes: Vec<NodeName>) -> ClusterSpec {
    ClusterSpec { array: None, luns_per_node: 0, nodes, node_memory_mib: NODE_MIB, memory_of: vec![], coredump_mib: 1024, clients: 0, network: false, nvme_coredump: false, paths: 1, hold_writes: false }
}

/// Loads and configures the module on `node`.
pub fn configure(node: &mut Guest, name: NodeName) -> Result<()> {
    node.ok(&format!(
        "insmod /ct/coretakeover.ko && echo {CLUSTER_ID} > {SYSFS}/cluster_id && echo {} > {SYSFS}/node_id",
        name.id()
    ))
    .map(drop)
}

/// Labels `name`'s coredump disk for it and arms it on `node`.
pub fn label_and_arm(node: &mut Guest, name: NodeName) -> Result<()> {
    let l = name.letter();
    node.ok(&format!(
        "dev=$(coredump_dev {l}) && dump_ready $dev && coretakeover label --disk $dev --cluster {CLUSTER_ID} --node {} && echo $dev > {SYSFS}/dump_disk",
        name.id()
    ))?;
    ensure!(node.ok(&format!("cat {SYSFS}/dump_state"))?.trim() == "armed", "dump disk not armed");
    Ok(())
}

/// `coretakeover status --disk` of `owner`'s coredump disk, run on `node`.
pub fn disk_status(node: &mut Guest, owner: NodeName) -> Result<Value> {
    let out = node.ok(&format!("coretakeover status --disk $(coredump_dev {}) --json", owner.letter()))?;
    serde_json::from_str(&out).with_context(|| format!("status output: {out}"))
}

/// Parses the module's "dump complete: N MiB in T ms" line (or "dump
/// truncated: ...").
pub(crate) fn parse_dump_line(text: &str) -> Option<(u64, u64)> {
    let rest = text.split("dump complete: ").nth(1).or_else(|| text.split("dump truncated: ").nth(1))?;
    let mut words = rest.split_whitespace();
    let mib = words.next()?.parse().ok()?;
    let ms = words.nth(2)?.parse().ok()?;
    Some((mib, ms))
}

/// The prediction in the module's dump line ("... (predicted at arming: T ms ...").
pub(crate) fn parse_predicted(text: &str) -> Option<u64> {
    text.split("(predicted at arming: ").nth(1)?.split_whitespace().next()?.parse().ok()
}

/// Reads the test module's kernel pattern on `node` and saves it as
/// `vmcore_pattern.py` wants it (physical addresses, from the direct map
/// at `page_offset`); returns that file.
fn place_kernel_pattern(ctx: &Ctx<'_>, node: &mut Guest, page_offset: u64) -> Result<std::path::PathBuf> {
    let kernel: Value = serde_json::from_str(&node.ok("cat /sys/kernel/ct_panic_trigger/kernel_pattern")?)?;
    let pages: Vec<u64> = kernel["virt"].as_array().context("kernel pattern")?.iter().filter_map(Value::as_u64).map(|v| v - page_offset).collect();
    let path = ctx.dir.join("kernel.json");
    std::fs::write(&path, serde_json::json!({"magic": kernel["magic"], "pages": pages}).to_string())?;
    Ok(path)
}

/// Parses the "T0 T1" nanosecond clock readings around a timed command.
pub(crate) fn parse_elapsed(text: &str) -> Option<f64> {
    let mut words = text.split_whitespace().rev();
    let t1: u64 = words.next()?.parse().ok()?;
    let t0: u64 = words.next()?.parse().ok()?;
    Some(t1.checked_sub(t0)? as f64 / 1e9)
}

/// CRC-32C for the functional core, on the host.
pub(crate) struct HostCrc;

impl coretakeover_core::crc::Crc32c for HostCrc {
    fn update(&self, crc: u32, data: &[u8]) -> u32 {
        !crc32c::crc32c_append(!crc, data)
    }
}

/// Puts a header saying "complete" (an unsaved dump) on a coredump disk
/// image, as a panic would have left it.
fn write_unsaved_header(image: &std::path::Path) -> Result<()> {
    use coretakeover_core::header::{DumpState, Header, HEADER_COPY_OFFSETS, HEADER_SIZE};
    use std::os::unix::fs::FileExt;
    let mut h = Header::new(vec![0u8; HEADER_SIZE]).context("header buffer")?;
    h.set_state(DumpState::Complete);
    h.set_generation(41);
    let copy = h.next_generation(&HostCrc);
    let file = std::fs::OpenOptions::new().write(true).open(image)?;
    file.write_all_at(h.as_bytes(), HEADER_COPY_OFFSETS[copy])?;
    file.sync_all()?;
    Ok(())
}

/// Panics `node` with sysrq-c, returning at once (the node never answers again).
fn panic_sysrq(node: &mut Guest) -> Result<()> {
    node.ok("(sleep 1; echo c > /proc/sysrq-trigger) >/dev/null 2>&1 &").map(drop)
}

/// Runs drgn on the host against `vmcore`, with the modules' debug info;
/// returns its findings.
pub(crate) fn drgn(ctx: &Ctx<'_>, vmcore: &std::path::Path, panic_text: &str, pattern: Option<&std::path::Path>) -> Result<Value> {
    let mut cmd = Command::new(&ctx.env.python);
    cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/drgn_check.py"));
    cmd.arg(vmcore).arg(&ctx.env.vmlinux).arg(panic_text);
    if let Some(p) = pattern {
        cmd.arg("--pattern").arg(p);
    }
    for module in &ctx.env.modules {
        cmd.arg("--module").arg(module);
    }
    let out = cmd.output().context("running drgn")?;
    if !out.status.success() {
        bail!("drgn failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Opens `vmcore` with crash (Debian 13's, see `crash_tool`) and checks that
/// it shows what a kernel engineer starts with: `sys` with the panic, the
/// panic task's `bt` through `panic_frames`, `bt -a` with a stack for every
/// CPU (each stopped one in one of `stopped_frames`), `kmem -i`, `kmem -s`
/// and the panic in `log`. crash's outputs stay in the scenario's directory.
pub(crate) fn crash(ctx: &mut Ctx<'_>, vmcore: &std::path::Path, what: &str, expect: &crate::crash_tool::Expect<'_>) -> Result<String> {
    let root = ctx.env.crash_root.clone().context("no --crash-root given: crash cannot open the vmcore (make check passes scripts/setup.sh's root)")?;
    let run = crate::crash_tool::run(&root, vmcore, &ctx.env.vmlinux, ctx.env.scaled(Duration::from_secs(300)))
        .with_context(|| format!("crash on {what}"))?;
    let record = format!(
        "== console\n{}\n== sys\n{}\n== bt\n{}\n== bt -a\n{}\n== kmem -i\n{}\n== kmem -s (first lines)\n{}\n== log (last lines)\n{}\n",
        run.console,
        run.sys,
        run.bt,
        run.bt_all,
        run.kmem_i,
        run.kmem_s.lines().take(12).collect::<Vec<_>>().join("\n"),
        run.log.lines().rev().take(12).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    );
    std::fs::write(ctx.dir.join(format!("crash-{}.txt", what.replace(' ', "-"))), record)?;
    let summary = crate::crash_tool::check(&run, expect).with_context(|| format!("crash on {what}"))?;
    ctx.step(&format!("{what}: {summary}"));
    Ok(summary)
}

/// What crash must show of a sysrq-c panic: the panic task through
/// `vpanic` (panic's body) from sysrq's dispatcher, and each other CPU
/// stopped by the panic's NMI. (crash's unwinder names no frame for
/// `panic` and `sysrq_handle_crash`: each ends in a call that does not
/// return, so their return addresses lie past their ends; drgn shows them.)
pub(crate) const SYSRQ_CRASH: crate::crash_tool::Expect<'static> = crate::crash_tool::Expect {
    panic_text: "sysrq triggered crash",
    panic_frames: &["vpanic", "__handle_sysrq"],
    stopped_frames: &["crash_nmi_callback"],
};

/// The stacks drgn read: the crashed thread's must run from `through` (the
/// code that panicked, then `panic` itself, in that order towards the top of
/// the stack), and every other online CPU's, stopped by the panic, must
/// unwind too. Returns the crashed thread's first frames, for the report.
pub(crate) fn check_stacks(ctx: &Ctx<'_>, found: &Value, through: &str) -> Result<Vec<String>> {
    let frames: Vec<String> = found["crashed_frames"]
        .as_array()
        .with_context(|| format!("drgn found no crashed thread: {}", found["crashed_error"]))?
        .iter()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect();
    let at = |name: &str| frames.iter().position(|f| f == name);
    // panic() is a wrapper of vpanic() in 6.12; a caller may reach vpanic()
    // through a tail call, with no panic() frame.
    let (Some(panic), Some(origin)) = (at("panic").or_else(|| at("vpanic")), at(through)) else {
        bail!("the crashed thread's stack does not run from {through} through panic(): {frames:?}");
    };
    ensure!(panic < origin, "panic() is not above {through} on the crashed thread's stack: {frames:?}");
    let cpus = found["cpus"].as_object().context("drgn: no other CPUs")?;
    ensure!(!cpus.is_empty(), "drgn sees no other online CPU: {found}");
    for (cpu, entry) in cpus {
        let stopped = entry["frames"].as_array().map_or(0, Vec::len);
        ensure!(stopped > 0, "CPU {cpu}'s stack cannot be read: {entry}");
        ctx.step(&format!(
            "CPU {cpu} was stopped in {} ({}): {}",
            entry["comm"].as_str().unwrap_or("?"),
            entry["pid"],
            entry["frames"].as_array().into_iter().flatten().take(4).filter_map(|f| f.as_str()).collect::<Vec<_>>().join(" < ")
        ));
    }
    let head: Vec<String> = frames.iter().take(panic + 2).cloned().collect();
    ctx.step(&format!("crashed thread (pid {}, {}): {}", found["crashed_pid"], found["crashed_comm"], head.join(" < ")));
    Ok(head)
}

/// Node A (512 MiB) armed, a known pattern in RAM, panic via sysrq-c; node B
/// saves A's dump; drgn reads the release, the panic line and the pattern.
pub fn sysrq(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.step("booting nodes A and B (512 MiB each, both coredump disks shared)");
    let mut cluster = Cluster::start(&spec(vec![NodeName::A, NodeName::B]), ctx.env, &ctx.dir, ctx.deadline)?;
    let deadline = cluster.deadline;
    configure(cluster.node(NodeName::A)?, NodeName::A)?;
    configure(cluster.node(NodeName::B)?, NodeName::B)?;
    let a = cluster.node(NodeName::A)?;

    ctx.step("baseline: dd of 512 MiB of zeros to A's coredump disk with O_DIRECT");
    let dd = a.ok(
        "dev=$(coredump_dev a) && dump_ready $dev && t0=$(host date +%s%N) && dd if=/dev/zero of=$dev bs=1M count=512 oflag=direct 2>/dev/null && t1=$(host date +%s%N) && echo $t0 $t1",
    )?;
    let dd_secs = parse_elapsed(&dd).with_context(|| format!("dd timing: {dd}"))?;
    let dd_mib_s = 512.0 / dd_secs;

    ctx.step("label A's coredump disk and arm it (chunk checksum: auto)");
    label_and_arm(a, NodeName::A)?;
    let reserved: u64 = a.ok(&format!("cat {SYSFS}/dump_reserved_bytes"))?.trim().parse()?;
    let (checksum, crc32c_mib_s, xxh64_mib_s) = armed_checksum(a)?;
    let faster = if xxh64_mib_s > crc32c_mib_s { "xxh64" } else { "crc32c" };
    ensure!(checksum == faster, "auto chose {checksum}, but crc32c ran at {crc32c_mib_s} MiB/s and xxh64 at {xxh64_mib_s}");
    ctx.step(&format!("auto chose {checksum}: crc32c {crc32c_mib_s} MiB/s, xxh64 {xxh64_mib_s} MiB/s at arming"));
    let release = a.ok("uname -r")?.trim().to_string();
    let b = cluster.node(NodeName::B)?;
    let status = disk_status(b, NodeName::A)?;
    ensure!(status["header"]["state"] == "armed", "B sees A's header as {}", status["header"]);

    ctx.step("a process on A fills 4 MiB with a pattern and reports its physical pages");
    let a = cluster.node(NodeName::A)?;
    let pattern_path = place_pattern(ctx, a, None)?;

    ctx.step("A panics (sysrq-c)");
    let mark = a.console.mark();
    panic_sysrq(a)?;
    let panicked = a.wait_console(mark, "Kernel panic - not syncing", Duration::from_secs(30), deadline)?;
    let a = cluster.node(NodeName::A)?;
    let beacon = a.wait_panic_line(mark, "coretakeover: panic beacon written", Duration::from_secs(30), deadline)?;
    let done = a.wait_console(mark, "coretakeover: dump ", Duration::from_secs(600), deadline)?;
    ensure!(done.text.contains("dump complete"), "the dump did not complete: {}", done.text);
    let (mib, ms) = parse_dump_line(&done.text).with_context(|| format!("dump line: {}", done.text))?;
    let dump_mib_s = mib as f64 / (ms.max(1) as f64 / 1000.0);
    let predicted_ms = parse_predicted(&done.text).with_context(|| format!("no prediction in the dump line: {}", done.text))?;
    ensure!(predicted_ms > 0, "arming's rehearsal predicted nothing: {}", done.text);
    ctx.step(&format!(
        "beacon {:.0} ms after the panic line (host clock); {mib} MiB dumped in {ms} ms ({dump_mib_s:.0} MiB/s; dd {dd_mib_s:.0} MiB/s); arming predicted {predicted_ms} ms",
        (beacon.at - panicked.at).as_secs_f64() * 1e3
    ));

    ctx.step("B reads A's disk: complete; savecore writes the vmcore");
    let b = cluster.node(NodeName::B)?;
    let status = disk_status(b, NodeName::A)?;
    let header = &status["header"];
    ensure!(header["state"] == "complete", "A's header: {header}");
    ensure!(header["chunk_checksum"] == checksum.as_str(), "the header's chunk checksum: {}", header["chunk_checksum"]);
    ensure!(header["panic_message"].as_str().is_some_and(|m| m.contains("sysrq triggered crash")), "{header}");
    let saved = b.shell.ok("coretakeover savecore --disk $(coredump_dev a) -o /results/vmcore --json", Duration::from_secs(600))?;
    let saved: Value = serde_json::from_str(&saved).with_context(|| format!("savecore: {saved}"))?;
    ensure!(saved["complete"] == true && saved["marked_saved"] == true, "savecore: {saved}");
    ensure!(disk_status(b, NodeName::A)?["header"]["state"] == "saved", "header not marked saved");

    ctx.step("drgn opens the vmcore with vmlinux");
    let vmcore = ctx.dir.join("vmcore");
    let found = drgn(ctx, &vmcore, "sysrq triggered crash", Some(&pattern_path))?;
    ensure!(found["release"] == release.as_str(), "drgn release {} vs {release}", found["release"]);
    ensure!(found["panic_line"].is_string(), "no panic line in the dmesg drgn read: {found}");
    ensure!(found["pattern_bad_pages"].as_array().is_some_and(|b| b.is_empty()), "pattern damaged: {found}");
    ctx.step(&format!("drgn: {} ; pattern: {} pages intact", found["panic_line"], found["pattern_pages"]));
    let crashed = check_stacks(ctx, &found, "sysrq_handle_crash")?;
    ctx.fact("crashed_frames", crashed);
    ensure!(saved["cpus"].as_array().is_some_and(|c| c.iter().all(|c| c["source"].is_string())), "savecore left CPUs without registers: {saved}");
    let (offset, base) = kaslr_of(&found, header)?;
    ctx.step(&format!("KASLR: kernel text at offset {offset:#x}, direct map at {base:#x}, {} NUMA nodes", found["numa_nodes"]));
    let crash_full = crash(ctx, &vmcore, "the full vmcore", &SYSRQ_CRASH)?;
    let shrunk = makedumpfile(ctx, &vmcore)?;
    let shrunk_bytes = std::fs::metadata(&shrunk)?.len();
    crash(ctx, &shrunk, "makedumpfile's copy", &SYSRQ_CRASH)?;
    std::fs::remove_file(&shrunk)?;
    ctx.fact("crash_full_vmcore", crash_full);
    ctx.fact("makedumpfile_bytes", shrunk_bytes);
    ctx.fact("kaslr_offset", format!("{offset:#x}"));
    ctx.fact("direct_map_base", format!("{base:#x}"));

    ctx.fact("kernel_release", release);
    ctx.fact("vmlinux", ctx.env.vmlinux.display().to_string());
    ctx.fact("vmcore", vmcore.display().to_string());
    ctx.fact("panic_node", "a");
    ctx.fact("dump_bytes", saved["saved_bytes"].clone());
    ctx.fact("dump_seconds", ms as f64 / 1000.0);
    ctx.fact("dump_state_final", header["state"].clone());
    ctx.fact("savecore_ok", true);
    ctx.fact("drgn_panic_line", found["panic_line"].clone());
    ctx.fact("dump_mib_per_s", dump_mib_s);
    ctx.fact("dd_mib_per_s", dd_mib_s);
    ctx.fact("dump_throughput_ratio_vs_dd", dump_mib_s / dd_mib_s);
    ctx.fact("panic_to_beacon_ms_host", (beacon.at - panicked.at).as_secs_f64() * 1e3);
    ctx.fact("beacon_latency_us", header["beacon_latency_us"].clone());
    ctx.fact("reserved_bytes", reserved);
    ctx.fact("chunk_checksum", checksum);
    ctx.fact("dump_predicted_ms", predicted_ms);
    ctx.fact("rehearsal_mib_per_s", header["rehearsal_mib_s"].clone());
    ctx.fact("crc32c_mib_per_s_at_arming", crc32c_mib_s);
    ctx.fact("xxh64_mib_per_s_at_arming", xxh64_mib_s);
    Ok(())
}

/// Shrinks `vmcore` as kdump users do: makedumpfile (Debian 12's) into its
/// compressed format without zero, cache and free pages (`-c -d 23`);
/// returns the copy, which must be smaller. Not `-d 31`: makedumpfile 1.7.2
/// takes 6.12's slab pages for user pages and drops them with bit 8 (crash
/// then finds task structs missing and slab free pointers invalid), from
/// kdump's vmcore as from ours.
fn makedumpfile(ctx: &mut Ctx<'_>, vmcore: &std::path::Path) -> Result<std::path::PathBuf> {
    let out = ctx.dir.join("vmcore.makedumpfile");
    let _ = std::fs::remove_file(&out);
    let run = Command::new("makedumpfile").args(["-c", "-d", "23", "--message-level", "1"]).arg(vmcore).arg(&out).output().context("running makedumpfile")?;
    ensure!(run.status.success(), "makedumpfile -c -d 23: {}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    let (full, shrunk) = (std::fs::metadata(vmcore)?.len(), std::fs::metadata(&out)?.len());
    ensure!(shrunk < full / 4, "makedumpfile -c -d 23 kept {shrunk} of {full} bytes");
    ctx.step(&format!("makedumpfile -c -d 23: {} MiB of the {} MiB vmcore", shrunk >> 20, full >> 20));
    Ok(out)
}

/// The armed disk's chunk checksum and the rates arming measured, from
/// `dump_checksum_armed` ("xxh64 crc32c=88 xxh64=1480").
pub(crate) fn armed_checksum(node: &mut Guest) -> Result<(String, u64, u64)> {
    let line = node.ok(&format!("cat {SYSFS}/dump_checksum_armed"))?;
    let mut words = line.split_whitespace();
    let chosen = words.next().with_context(|| format!("dump_checksum_armed: {line:?}"))?.to_string();
    let mut rate = |name: &str| -> Result<u64> {
        let word = words.next().with_context(|| format!("dump_checksum_armed: {line:?}"))?;
        let value = word.strip_prefix(name).and_then(|v| v.strip_prefix('=')).with_context(|| format!("dump_checksum_armed: {line:?}"))?;
        Ok(value.parse()?)
    };
    let crc = rate("crc32c")?;
    let xxh = rate("xxh64")?;
    ensure!(crc > 0 && xxh > 0, "a checksum rate of 0: {line:?}");
    Ok((chosen, crc, xxh))
}

/// x86-64's direct-map bases without memory randomization:
/// `__PAGE_OFFSET_BASE_L4` and, with 5-level paging, `__PAGE_OFFSET_BASE_L5`.
const FIXED_DIRECT_MAP: [u64; 2] = [0xffff_8880_0000_0000, 0xff11_0000_0000_0000];

/// The kernel text's KASLR offset and the direct-map base of a dump, from
/// drgn's findings, checked against each other: VMCOREINFO's KERNELOFFSET
/// must match where `_text` is, and the direct-map base the module put in
/// the dump header (savecore's PT_LOAD addresses) must match the kernel's
/// own `page_offset_base`.
fn kaslr_of(found: &Value, header: &Value) -> Result<(u64, u64)> {
    let offset = found["text_offset"].as_u64().context("drgn: no _text offset")?;
    ensure!(found["vmcoreinfo_kerneloffset"].as_u64() == Some(offset), "KERNELOFFSET in VMCOREINFO {} but _text is at offset {offset:#x}", found["vmcoreinfo_kerneloffset"]);
    let base = found["page_offset_base"].as_u64().context("drgn: no page_offset_base")?;
    ensure!(header["page_offset"].as_u64() == Some(base), "the dump header's direct-map base {} is not the kernel's {base:#x}", header["page_offset"]);
    Ok((offset, base))
}

/// KASLR is real and savecore follows it: node A (512 MiB, two NUMA nodes)
/// panics, its dump is saved and read by drgn; A boots again and does the
/// same. The two boots must show different kernel-text offsets and
/// direct-map bases, each read correctly. Two boots draw the same text
/// offset about once in 480 (1 GiB of 2 MiB slots): then a third boot is
/// drawn, so the scenario fails only if the offset never changes.
///
/// A KASAN kernel (the debug flavour) keeps the direct map where it is:
/// x86's `kaslr_memory_enabled()` is false with `CONFIG_KASAN`, because
/// the shadow is laid out for a fixed direct map. There the scenario
/// requires the fixed base on every boot, and the text offset to move.
pub fn kaslr(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.step("booting node A (512 MiB, two NUMA nodes)");
    let mut cluster = armed_a(ctx, &spec(vec![NodeName::A]))?;
    let deadline = cluster.deadline;
    let image = cluster.coredump_image(NodeName::A);
    let mut seen: Vec<(u64, u64)> = Vec::new();
    let kasan = cluster.node(NodeName::A)?.ok("dmesg | grep -c 'KernelAddressSanitizer initialized' || true")?.trim() != "0";
    if kasan {
        ctx.step("A's kernel has KASAN: the direct map stays at its fixed base; only the text moves");
    }
    for boot in 1..=3 {
        let a = cluster.node(NodeName::A)?;
        let nodes = a.ok("ls -d /sys/devices/system/node/node* | wc -l")?;
        ensure!(nodes.trim() == "2", "A sees {} NUMA nodes, not 2", nodes.trim());
        let release = a.ok("uname -r")?.trim().to_string();
        let mark = a.console.mark();
        panic_sysrq(a)?;
        let done = cluster.node(NodeName::A)?.wait_console(mark, "coretakeover: dump ", Duration::from_secs(600), deadline)?;
        ensure!(done.text.contains("dump complete"), "boot {boot}: the dump did not complete: {}", done.text);
        let header = host_status(ctx, &image)?["header"].clone();
        let vmcore = ctx.dir.join("vmcore");
        let saved = host_savecore(ctx, &image, &vmcore)?;
        ensure!(saved["complete"] == true, "boot {boot}: savecore: {saved}");
        let found = drgn(ctx, &vmcore, "sysrq triggered crash", None)?;
        std::fs::remove_file(&vmcore)?;
        ensure!(found["release"] == release.as_str() && found["panic_line"].is_string(), "boot {boot}: drgn read {found}");
        ensure!(found["numa_nodes"].as_u64() == Some(2), "boot {boot}: drgn sees {} NUMA nodes", found["numa_nodes"]);
        let (offset, base) = kaslr_of(&found, &header)?;
        ctx.step(&format!("boot {boot}: text offset {offset:#x}, direct map {base:#x}; drgn read the release and the panic line"));
        ensure!(
            !kasan || (FIXED_DIRECT_MAP.contains(&base) && seen.iter().all(|s| s.1 == base)),
            "boot {boot}: a KASAN kernel's direct map at {base:#x}, not at one fixed base {FIXED_DIRECT_MAP:#x?} (earlier boots {seen:#x?})"
        );
        seen.push((offset, base));
        let offsets: std::collections::BTreeSet<u64> = seen.iter().map(|s| s.0).collect();
        let bases: std::collections::BTreeSet<u64> = seen.iter().map(|s| s.1).collect();
        if offsets.len() > 1 && (kasan || bases.len() > 1) {
            ctx.fact("kaslr_boots", seen.len());
            return Ok(());
        }
        if boot < 3 {
            ctx.step("A boots again on the same disk");
            cluster.restart(NodeName::A, NODE_MIB)?;
            let a = cluster.node(NodeName::A)?;
            configure(a, NodeName::A)?;
            label_and_arm(a, NodeName::A)?;
        }
    }
    bail!("three boots, and the kernel did not move: {seen:x?}")
}

/// What arming refuses, and that a refusal writes nothing.
pub fn refusals(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.step("booting nodes A and B");
    let mut cluster = Cluster::start(&spec(vec![NodeName::A, NodeName::B]), ctx.env, &ctx.dir, ctx.deadline)?;
    configure(cluster.node(NodeName::A)?, NodeName::A)?;
    configure(cluster.node(NodeName::B)?, NodeName::B)?;
    let a = cluster.node(NodeName::A)?;
    let arm = |dev: &str| format!("echo {dev} > {SYSFS}/dump_disk");

    ctx.step("an unlabeled disk is refused and left untouched");
    a.ok("dump_ready $(coredump_dev a)")?;
    let out = a.fails(&arm("$(coredump_dev a)"))?;
    ensure!(out.contains("Wrong medium type"), "unlabeled disk: {out}");
    a.ok("cmp -n 1048576 $(coredump_dev a) /dev/zero")?;
    ensure!(a.ok("dmesg | tail -n 3")?.contains("not a coredump disk"), "no log line for the unlabeled disk");

    ctx.step("another node's disk is refused and left untouched");
    let b = cluster.node(NodeName::B)?;
    b.ok(&format!("coretakeover label --disk $(coredump_dev b) --cluster {CLUSTER_ID} --node 2"))?;
    let a = cluster.node(NodeName::A)?;
    let before = a.ok("dd if=$(coredump_dev b) bs=4096 count=64 iflag=direct 2>/dev/null | md5sum")?;
    a.ok("dump_ready $(coredump_dev b)")?;
    let out = a.fails(&arm("$(coredump_dev b)"))?;
    ensure!(out.contains("Permission denied"), "B's disk: {out}");
    ensure!(a.ok("dmesg | tail -n 3")?.contains("labeled for cluster 7 node 2"), "no log line for B's disk");
    ensure!(a.ok("dd if=$(coredump_dev b) bs=4096 count=64 iflag=direct 2>/dev/null | md5sum")? == before, "B's disk changed");

    ctx.step("the CLI refuses to label a disk with a file system signature, and another node's disk");
    a.ok("printf '\\123\\357' | dd of=$(coredump_dev a) bs=1 seek=1080 conv=notrunc 2>/dev/null && sync")?;
    let out = a.fails(&format!("coretakeover label --disk $(coredump_dev a) --cluster {CLUSTER_ID} --node 1"))?;
    ensure!(out.contains("ext2/3/4"), "signature: {out}");
    let out = a.fails(&format!("coretakeover label --disk $(coredump_dev b) --cluster {CLUSTER_ID} --node 1"))?;
    ensure!(out.contains("labeled for cluster 7 node 2"), "foreign label: {out}");

    ctx.step("a disk holding an unsaved dump is refused");
    a.ok(&format!("coretakeover label --disk $(coredump_dev a) --cluster {CLUSTER_ID} --node 1 --force"))?;
    let image = cluster.coredump_image(NodeName::A);
    write_unsaved_header(&image)?;
    let a = cluster.node(NodeName::A)?;
    a.ok("dump_ready $(coredump_dev a)")?;
    let out = a.fails(&arm("$(coredump_dev a)"))?;
    ensure!(out.contains("busy"), "unsaved dump: {out}");
    ensure!(a.ok("dmesg | tail -n 2")?.contains("unsaved dump"), "no log line for the unsaved dump");

    ctx.step("an I/O scheduler is refused; bad paths are refused");
    a.ok(&format!("coretakeover label --disk $(coredump_dev a) --cluster {CLUSTER_ID} --node 1 --force"))?;
    a.ok("echo mq-deadline > /sys/block/$(basename $(coredump_dev a))/queue/scheduler")?;
    let out = a.fails(&arm("$(coredump_dev a)"))?;
    ensure!(out.contains("Invalid argument"), "scheduler: {out}");
    ensure!(a.ok("dmesg | tail -n 2")?.contains("I/O scheduler"), "no log line for the scheduler");
    for (path, error) in [("vda", "Invalid argument"), ("/dev/nonexistent", "No such file"), ("'/dev/a b'", "Invalid argument")] {
        let out = a.fails(&arm(path))?;
        ensure!(out.contains(error), "{path}: {out}");
    }
    ensure!(a.ok(&format!("cat {SYSFS}/dump_state"))?.trim() == "disarmed", "refusals armed something");

    ctx.step("arm; while armed, a second disk and a new node id are refused");
    a.ok("dump_ready $(coredump_dev a)")?;
    a.ok(&arm("$(coredump_dev a)"))?;
    ensure!(a.ok(&format!("cat {SYSFS}/dump_disk"))?.trim().starts_with("/dev/vd"), "dump_disk path");
    ensure!(a.fails(&arm("$(coredump_dev b)"))?.contains("busy"), "second arming");
    ensure!(a.fails(&format!("echo 3 > {SYSFS}/node_id"))?.contains("busy"), "node id change while armed");
    let b = cluster.node(NodeName::B)?;
    ensure!(disk_status(b, NodeName::A)?["header"]["state"] == "armed", "B does not see A armed");

    ctx.step("disarm, re-arm, rmmod while armed: the header says empty each time");
    let a = cluster.node(NodeName::A)?;
    a.ok(&format!("echo none > {SYSFS}/dump_disk"))?;
    let b = cluster.node(NodeName::B)?;
    ensure!(disk_status(b, NodeName::A)?["header"]["state"] == "empty", "disarm left the header");
    let a = cluster.node(NodeName::A)?;
    a.ok(&arm("$(coredump_dev a)"))?;
    a.ok("rmmod coretakeover")?;
    let b = cluster.node(NodeName::B)?;
    ensure!(disk_status(b, NodeName::A)?["header"]["state"] == "empty", "rmmod left the header armed");
    let a = cluster.node(NodeName::A)?;
    configure(a, NodeName::A)?;
    a.ok(&arm("$(coredump_dev a)"))?;
    ensure!(a.ok(&format!("cat {SYSFS}/dump_state"))?.trim() == "armed", "re-arm after reload");
    let bad = a.console.find(0, "BUG").or_else(|| a.console.find(0, "WARNING"));
    ensure!(bad.is_none(), "kernel complained: {:?}", bad.map(|l| l.text));
    Ok(())
}

/// A panic raised in interrupt context (`softirq` or `hardirq`) is dumped
/// completely; the dump is saved on the host from the disk image, as a
/// rebooted node would.
pub fn interrupt(ctx: &mut Ctx<'_>, context: &str) -> Result<()> {
    // Each context dumps with one fixed chunk checksum, so that both
    // functions' panic paths run in every check (dump-sysrq takes auto).
    let checksum = if context == "softirq" { "crc32c" } else { "xxh64" };
    ctx.step(&format!("booting node A; chunk checksum {checksum}"));
    let mut cluster = Cluster::start(&spec(vec![NodeName::A]), ctx.env, &ctx.dir, ctx.deadline)?;
    let a = cluster.node(NodeName::A)?;
    configure(a, NodeName::A)?;
    a.ok(&format!("echo {checksum} > {SYSFS}/dump_checksum"))?;
    label_and_arm(a, NodeName::A)?;
    let (armed, _, _) = armed_checksum(a)?;
    ensure!(armed == checksum, "armed with {armed}, asked for {checksum}");
    let deadline = cluster.deadline;
    let image = cluster.coredump_image(NodeName::A);
    let a = cluster.node(NodeName::A)?;
    a.ok("insmod /ct/ct_panic_trigger.ko")?;
    ctx.step(&format!("A panics from a {context} timer callback"));
    let mark = a.console.mark();
    a.ok(&format!("echo {context} > /sys/kernel/ct_panic_trigger/panic"))?;
    let a = cluster.node(NodeName::A)?;
    let panic = a.wait_console(mark, "Kernel panic - not syncing", Duration::from_secs(30), deadline)?;
    ensure!(panic.text.contains(&format!("panic from a {}", if context == "softirq" { "timer softirq" } else { "hard interrupt" })), "{}", panic.text);
    let a = cluster.node(NodeName::A)?;
    let done = a.wait_console(mark, "coretakeover: dump ", Duration::from_secs(600), deadline)?;
    ensure!(done.text.contains("dump complete"), "the dump did not complete: {}", done.text);
    let message = done.text.trim_start_matches(|c: char| "[ .]".contains(c) || c.is_ascii_digit());
    ctx.step(message);

    ctx.step("savecore on the host, from A's disk image");
    let header = host_status(ctx, &image)?;
    ensure!(header["header"]["chunk_checksum"] == checksum, "the header's chunk checksum: {}", header["header"]);
    let vmcore = ctx.dir.join("vmcore");
    let out = Command::new(&ctx.env.cli)
        .args(["savecore", "--json", "--disk"])
        .arg(&image)
        .arg("-o")
        .arg(&vmcore)
        .output()?;
    ensure!(out.status.success(), "savecore: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let saved: Value = serde_json::from_slice(&out.stdout)?;
    ensure!(saved["complete"] == true, "savecore: {saved}");
    let found = drgn(ctx, &vmcore, "ct_panic_trigger: panic from", None)?;
    ensure!(found["panic_line"].is_string(), "drgn: {found}");
    // The kernel's code that ran the trigger's callback.
    check_stacks(ctx, &found, if context == "softirq" { "call_timer_fn" } else { "__hrtimer_run_queues" })?;
    std::fs::remove_file(&vmcore)?;
    Ok(())
}

/// Both coredump disks on QEMU's NVMe controller, polled through
/// `nvme.poll_queues`, instead of virtio-blk: A dumps through the NVMe poll
/// queue (sysrq-c), B reads A's header through its own controller on the
/// shared image, savecore and drgn read the dump.
pub fn nvme(ctx: &mut Ctx<'_>) -> Result<()> {
    let mut spec = spec(vec![NodeName::A, NodeName::B]);
    spec.nvme_coredump = true;
    ctx.step("booting nodes A and B, both coredump disks on NVMe controllers (nvme.poll_queues=1)");
    let mut cluster = Cluster::start(&spec, ctx.env, &ctx.dir, ctx.deadline)?;
    let deadline = cluster.deadline;
    configure(cluster.node(NodeName::A)?, NodeName::A)?;
    configure(cluster.node(NodeName::B)?, NodeName::B)?;
    let a = cluster.node(NodeName::A)?;
    let dev = a.ok("coredump_dev a")?.trim().to_string();
    ensure!(dev.starts_with("/dev/nvme"), "A's coredump disk is {dev}, not an NVMe namespace");
    let polls = a.ok(&format!("cat /sys/block/{}/queue/io_poll", dev.trim_start_matches("/dev/")))?;
    ensure!(polls.trim() == "1", "{dev} has no poll queue: io_poll {polls}");
    label_and_arm(a, NodeName::A)?;
    let armed = a.ok("dmesg | grep 'dump disk .* armed' | tail -n 1")?;
    ctx.step(&format!("armed {dev}: {}", armed.split("armed: ").nth(1).unwrap_or(&armed).trim()));

    ctx.step("A panics (sysrq-c) and dumps through the NVMe poll queue");
    let mark = a.console.mark();
    panic_sysrq(a)?;
    let a = cluster.node(NodeName::A)?;
    a.wait_console(mark, "Kernel panic - not syncing", Duration::from_secs(30), deadline)?;
    let a = cluster.node(NodeName::A)?;
    a.wait_panic_line(mark, "coretakeover: panic beacon written", Duration::from_secs(30), deadline)?;
    let a = cluster.node(NodeName::A)?;
    let done = a.wait_console(mark, "coretakeover: dump ", Duration::from_secs(600), deadline)?;
    ensure!(done.text.contains("dump complete"), "the dump did not complete: {}", done.text);
    ctx.step(done.text.split("coretakeover: ").nth(1).unwrap_or(&done.text));

    ctx.step("B reads A's NVMe disk: complete; savecore on the host; drgn reads the panic");
    let b = cluster.node(NodeName::B)?;
    let status = disk_status(b, NodeName::A)?;
    ensure!(status["header"]["state"] == "complete", "A's header as B reads it: {}", status["header"]);
    let image = cluster.coredump_image(NodeName::A);
    let vmcore = ctx.dir.join("vmcore");
    let saved = host_savecore(ctx, &image, &vmcore)?;
    ensure!(saved["complete"] == true, "savecore: {saved}");
    let found = drgn(ctx, &vmcore, "sysrq triggered crash", None)?;
    ensure!(found["panic_line"].is_string(), "drgn: {found}");
    check_stacks(ctx, &found, "sysrq_handle_crash")?;
    std::fs::remove_file(&vmcore)?;

    ctx.step("B boots again with nvme.poll_queues=0: arming its NVMe disk is refused, naming the driver and the setting");
    cluster.set_boot_args(NodeName::B, "nvme.poll_queues=0");
    cluster.restart(NodeName::B, NODE_MIB)?;
    let b = cluster.node(NodeName::B)?;
    configure(b, NodeName::B)?;
    let out = b.fails(&format!(
        "dev=$(coredump_dev b) && dump_ready $dev && coretakeover label --disk $dev --cluster {CLUSTER_ID} --node 2 >/dev/null && echo $dev > {SYSFS}/dump_disk"
    ))?;
    ensure!(out.contains("not supported"), "arming a disk without poll queues: {out}");
    let why = b.ok("dmesg | grep 'no polled I/O' | tail -n 1")?;
    ensure!(why.contains("its driver, nvme, has no poll queues (set nvme.poll_queues=1)"), "the refusal: {why}");
    ctx.step(why.split("coretakeover: ").nth(1).unwrap_or(&why).trim());
    Ok(())
}

/// A coredump disk smaller than RAM: the dump ends `truncated` at the disk's
/// capacity, and savecore saves that much and says so.
pub fn truncated(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.step("booting node A with a 256 MiB coredump disk for 512 MiB of RAM");
    let spec = ClusterSpec { coredump_mib: 256, ..spec(vec![NodeName::A]) };
    let mut cluster = armed_a(ctx, &spec)?;
    let deadline = cluster.deadline;
    let image = cluster.coredump_image(NodeName::A);
    let a = cluster.node(NodeName::A)?;
    let mark = a.console.mark();
    panic_sysrq(a)?;
    let a = cluster.node(NodeName::A)?;
    let done = a.wait_console(mark, "coretakeover: dump ", Duration::from_secs(600), deadline)?;
    ensure!(done.text.contains("dump truncated"), "expected a truncated dump: {}", done.text);
    ctx.step(done.text.trim_start_matches(|c: char| "[ .]".contains(c) || c.is_ascii_digit()));

    ctx.step("savecore on the host saves what fits and says it is truncated");
    let vmcore = ctx.dir.join("vmcore");
    let saved = host_savecore(ctx, &image, &vmcore)?;
    ensure!(saved["complete"] == false && saved["dump_state"] == "truncated", "savecore: {saved}");
    let (bytes, total) = (saved["saved_bytes"].as_u64().unwrap_or(0), saved["dump_bytes"].as_u64().unwrap_or(0));
    ensure!(bytes > 200 << 20 && bytes < 256 << 20 && total > 500 << 20, "saved {bytes} of {total}");
    let status = Command::new(&ctx.env.cli).args(["status", "--json", "--disk"]).arg(&image).output()?;
    let status: Value = serde_json::from_slice(&status.stdout)?;
    let flags = &status["header"]["flags"];
    ensure!(status["header"]["state"] == "saved", "header after savecore: {status}");
    ensure!(flags.as_array().is_some_and(|f| f.iter().any(|x| x == "disk-too-small") && f.iter().any(|x| x == "saved-truncated")), "flags: {flags}");
    std::fs::remove_file(&vmcore)?;
    Ok(())
}

/// Starts qemu-test/guest/pattern.py on `node` (4 MiB of known pages, locked)
/// and saves where its pages lie; returns that file.
fn place_pattern(ctx: &Ctx<'_>, node: &mut Guest, cpu: Option<u32>) -> Result<std::path::PathBuf> {
    let cpu = cpu.map(|c| c.to_string()).unwrap_or_default();
    place_pattern_as(ctx, node, "pattern", &cpu)
}

/// As `place_pattern`, under `name` (its JSON file), with `args` after the
/// output file (CPU, `--file PATH`).
fn place_pattern_as(ctx: &Ctx<'_>, node: &mut Guest, name: &str, args: &str) -> Result<std::path::PathBuf> {
    node.ok(&format!("cp /ct/pattern.py /tmp/ && (host python3 /tmp/pattern.py /tmp/{name}.json {args} > /tmp/{name}.log 2>&1 </dev/null &)"))?;
    let pattern = node.shell.ok(
        &format!("i=0; while [ ! -f /tmp/{name}.json ] && [ $i -lt 240 ]; do sleep 0.5; i=$((i+1)); done; cat /tmp/{name}.json || cat /tmp/{name}.log"),
        Duration::from_secs(150),
    )?;
    let path = ctx.dir.join(format!("{name}.json"));
    std::fs::write(&path, pattern.trim())?;
    Ok(path)
}

/// What `vmcore_pattern.py` finds of the pattern `pattern` in `vmcore`.
fn vmcore_pattern(ctx: &Ctx<'_>, vmcore: &std::path::Path, pattern: &std::path::Path) -> Result<Value> {
    let out = Command::new(&ctx.env.python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/vmcore_pattern.py"))
        .arg(vmcore)
        .arg(pattern)
        .output()?;
    ensure!(out.status.success(), "vmcore_pattern: {}", String::from_utf8_lossy(&out.stderr));
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// A filtered dump (`filter`: no-free, no-cache or kernel) of node A with
/// three known patterns in its RAM: 4 MiB of anonymous user memory, 4 MiB
/// of a file's page cache, 64 KiB of a kernel allocation (the test module's).
/// Each pattern's pages must be in the vmcore, intact, exactly when the
/// filter keeps their class, and absent (in no PT_LOAD) otherwise; drgn
/// reads the panic and every CPU's stack from what is kept.
pub fn filtered(ctx: &mut Ctx<'_>, filter: &str) -> Result<()> {
    let (keeps_cache, keeps_user) = match filter {
        "no-free" => (true, true),
        "no-cache" => (false, true),
        "kernel" => (false, false),
        other => bail!("no such filter in this scenario: {other}"),
    };
    ctx.step(&format!("booting node A (512 MiB); page filter {filter}"));
    let mut cluster = Cluster::start(&spec(vec![NodeName::A]), ctx.env, &ctx.dir, ctx.deadline)?;
    let deadline = cluster.deadline;
    let image = cluster.coredump_image(NodeName::A);
    let a = cluster.node(NodeName::A)?;
    configure(a, NodeName::A)?;
    a.fails(&format!("echo kernel-only > {SYSFS}/dump_filter"))?;
    a.ok(&format!("echo {filter} > {SYSFS}/dump_filter"))?;
    ensure!(a.ok(&format!("cat {SYSFS}/dump_filter"))?.trim() == filter, "dump_filter does not read back {filter}");
    a.ok("insmod /ct/ct_panic_trigger.ko")?;

    ctx.step("patterns: 4 MiB of user memory, 4 MiB of page cache, 64 KiB of kernel memory");
    let user = place_pattern_as(ctx, a, "user", "")?;
    let cache = place_pattern_as(ctx, a, "cache", "'' --file /tmp/ct-cache-pattern")?;
    label_and_arm(a, NodeName::A)?;
    let armed = host_status(ctx, &image)?;
    let header = &armed["header"];
    ensure!(header["filter"] == filter, "the armed header's filter: {header}");
    let census = &header["census"];
    let page_offset = header["page_offset"].as_u64().context("page offset")?;
    ctx.step(&format!(
        "armed; arming's census: kernel {} MiB, cache {} MiB, user {} MiB, free {} MiB; a dump would take {} ms",
        census["kernel_pages"].as_u64().unwrap_or(0) >> 8,
        census["cache_pages"].as_u64().unwrap_or(0) >> 8,
        census["user_pages"].as_u64().unwrap_or(0) >> 8,
        census["free_pages"].as_u64().unwrap_or(0) >> 8,
        header["predicted_dump_ms"]
    ));
    ensure!(census["kernel_pages"].as_u64().unwrap_or(0) > 0 && census["user_pages"].as_u64().unwrap_or(0) >= 1024, "census: {census}");
    let a = cluster.node(NodeName::A)?;
    let kernel_path = place_kernel_pattern(ctx, a, page_offset)?;

    ctx.step("A panics (sysrq-c)");
    let mark = a.console.mark();
    panic_sysrq(a)?;
    let a = cluster.node(NodeName::A)?;
    let done = a.wait_console(mark, "coretakeover: dump ", Duration::from_secs(600), deadline)?;
    ensure!(done.text.contains("dump complete"), "the dump did not complete: {}", done.text);
    let (mib, ms) = parse_dump_line(&done.text).with_context(|| format!("dump line: {}", done.text))?;
    let a = cluster.node(NodeName::A)?;
    let kept = a.wait_console(mark, "coretakeover: dump filter", Duration::from_secs(30), deadline)?;
    ctx.step(kept.text.trim_start_matches(|c: char| "[ .]".contains(c) || c.is_ascii_digit()));

    ctx.step("savecore on the host: an ELF vmcore with holes");
    let status = host_status(ctx, &image)?;
    ensure!(status["header"]["state"] == "complete" && status["header"]["filter"] == filter, "A's header: {}", status["header"]);
    let vmcore = ctx.dir.join("vmcore");
    let saved = host_savecore(ctx, &image, &vmcore)?;
    ensure!(saved["complete"] == true && saved["filter"] == filter, "savecore: {saved}");
    let saved_bytes = saved["saved_bytes"].as_u64().context("saved bytes")?;
    let ram = saved["dump_bytes"].as_u64().context("dump bytes")?;
    ensure!(saved_bytes < ram, "a filtered dump kept {saved_bytes} of {ram} bytes");
    ensure!(std::fs::metadata(&vmcore)?.len() < saved_bytes + (16 << 20), "the vmcore is larger than the pages kept");

    let expect = [("kernel", &kernel_path, true, 16u64), ("user", &user, keeps_user, 1024), ("cache", &cache, keeps_cache, 1024)];
    check_kept_patterns(ctx, &vmcore, filter, &expect)?;
    let fraction = saved_bytes as f64 / ram as f64;
    ctx.step(&format!("{filter}: kept {} of {} MiB ({:.3} of RAM) in {ms} ms ({mib} MiB)", saved_bytes >> 20, ram >> 20, fraction));
    ctx.fact("filter", filter);
    ctx.fact("kept_fraction_of_ram", fraction);
    ctx.fact("dump_ms", ms);
    std::fs::remove_file(&vmcore)?;
    Ok(())
}

/// Each pattern (name, JSON file, whether `filter` keeps it, its pages)
/// is whole in `vmcore` when kept and in no PT_LOAD when dropped; then drgn
/// reads the panic and every CPU's stack from what was kept.
fn check_kept_patterns(ctx: &mut Ctx<'_>, vmcore: &std::path::Path, filter: &str, expect: &[(&str, &std::path::PathBuf, bool, u64)]) -> Result<()> {
    for &(name, path, kept, pages) in expect {
        let found = vmcore_pattern(ctx, vmcore, path)?;
        let inside = found["inside"].as_u64().unwrap_or(u64::MAX);
        if kept {
            ensure!(inside == pages && found["intact"] == pages && found["first_bad"].is_null(), "the {name} pattern, kept by {filter}: {found}");
        } else {
            ensure!(inside == 0, "the {name} pattern, dropped by {filter}, is in the vmcore: {found}");
        }
        ctx.step(&format!("{name} pattern: {inside} of {pages} pages in the vmcore, {} intact", found["intact"]));
    }
    ctx.step("drgn reads the panic and every CPU's stack from the kept pages");
    let found = drgn(ctx, vmcore, "sysrq triggered crash", None)?;
    ensure!(found["panic_line"].is_string(), "drgn: {found}");
    check_stacks(ctx, &found, "sysrq_handle_crash")?;
    crash(ctx, vmcore, &format!("the vmcore filtered by {filter}"), &SYSRQ_CRASH)?;
    Ok(())
}

/// A compressed dump (format version 3): node A dumps with `codec` (none,
/// lz4, zstd or auto) and page filter `filter`; the chunks take less of the
/// disk than the stream they hold, savecore decompresses every one, the
/// patterns the filter keeps are intact in the vmcore, and drgn reads it.
pub fn compressed(ctx: &mut Ctx<'_>, codec: &str, filter: &str) -> Result<()> {
    let (keeps_cache, keeps_user) = match filter {
        "all" | "no-free" => (true, true),
        "kernel" => (false, false),
        other => bail!("no such filter in this scenario: {other}"),
    };
    ctx.step(&format!("booting node A (512 MiB); codec {codec}, page filter {filter}"));
    let mut cluster = Cluster::start(&spec(vec![NodeName::A]), ctx.env, &ctx.dir, ctx.deadline)?;
    let deadline = cluster.deadline;
    let image = cluster.coredump_image(NodeName::A);
    let a = cluster.node(NodeName::A)?;
    configure(a, NodeName::A)?;
    a.fails(&format!("echo gzip > {SYSFS}/dump_codec"))?;
    a.ok(&format!("echo {codec} > {SYSFS}/dump_codec && echo {filter} > {SYSFS}/dump_filter"))?;
    ensure!(a.ok(&format!("cat {SYSFS}/dump_codec"))?.trim() == codec, "dump_codec does not read back {codec}");
    a.ok("insmod /ct/ct_panic_trigger.ko")?;
    let user = place_pattern_as(ctx, a, "user", "")?;
    let cache = place_pattern_as(ctx, a, "cache", "'' --file /tmp/ct-cache-pattern")?;
    label_and_arm(a, NodeName::A)?;
    let plan = a.ok(&format!("cat {SYSFS}/dump_plan"))?;
    let codec_lines: Vec<&str> = plan.lines().filter(|l| l.starts_with("codec ")).collect();
    for line in &codec_lines {
        ctx.step(&format!("dump_plan: {line}"));
    }
    let chosen_line = codec_lines.iter().find(|l| l.ends_with(" chosen")).with_context(|| format!("no codec chosen: {plan}"))?;
    let chosen = chosen_line.split_whitespace().nth(1).unwrap_or("").to_string();
    let expected = if codec == "auto" { 3 } else { 1 };
    ensure!(codec_lines.len() == expected, "{expected} codecs measured for {codec}: {plan}");
    ensure!(codec == "auto" || chosen == codec, "asked {codec}, chose {chosen}");
    let armed = host_status(ctx, &image)?;
    let header = &armed["header"];
    ensure!(header["codec"]["codec"] == chosen.as_str(), "the armed header's codec: {header}");
    if chosen != "none" {
        let stack = header["codec"]["stack_bytes"].as_u64().unwrap_or(0);
        ensure!(stack > 0 && stack < 16384, "the codec's stack use measured at arming: {stack} bytes");
        ctx.fact("codec_stack_bytes", stack);
    }
    let page_offset = header["page_offset"].as_u64().context("page offset")?;
    let a = cluster.node(NodeName::A)?;
    let kernel_path = place_kernel_pattern(ctx, a, page_offset)?;

    ctx.step("A panics (sysrq-c)");
    let mark = a.console.mark();
    panic_sysrq(a)?;
    let a = cluster.node(NodeName::A)?;
    // The dump's last line (the complete, codec and re-plan lines come before).
    a.wait_console(mark, "coretakeover: dump filter", Duration::from_secs(600), deadline)?;
    let a = cluster.node(NodeName::A)?;
    let done = a.console.find(mark, "coretakeover: dump complete").context("the dump did not complete")?;
    let (mib, ms) = parse_dump_line(&done.text).with_context(|| format!("dump line: {}", done.text))?;
    let line = a.console.find(mark, "coretakeover: dump codec").context("no codec line")?;
    ctx.step(line.text.trim_start_matches(|c: char| "[ .]".contains(c) || c.is_ascii_digit()));

    ctx.step("savecore on the host decompresses every chunk");
    let status = host_status(ctx, &image)?;
    ensure!(status["header"]["state"] == "complete" && status["header"]["codec"]["codec"] == chosen.as_str(), "A's header: {}", status["header"]);
    let vmcore = ctx.dir.join("vmcore");
    let saved = host_savecore(ctx, &image, &vmcore)?;
    ensure!(saved["complete"] == true && saved["codec"] == chosen.as_str() && saved["filter"] == filter, "savecore: {saved}");
    let saved_bytes = saved["saved_bytes"].as_u64().context("saved bytes")?;
    let stored = saved["stored_bytes"].as_u64().context("stored bytes")?;
    if chosen != "none" {
        ensure!(stored < saved_bytes, "{chosen} stored {stored} bytes for {saved_bytes} of stream");
    }
    let expect = [("kernel", &kernel_path, true, 16u64), ("user", &user, keeps_user, 1024), ("cache", &cache, keeps_cache, 1024)];
    check_kept_patterns(ctx, &vmcore, filter, &expect)?;
    let share = stored as f64 / saved_bytes as f64;
    ctx.step(&format!("{chosen}: {} MiB of stream in {} MiB on the disk ({share:.3}), {ms} ms ({mib} MiB)", saved_bytes >> 20, stored >> 20));
    ctx.fact("codec", chosen.as_str());
    ctx.fact("stored_fraction_of_stream", share);
    ctx.fact("dump_ms", ms);
    std::fs::remove_file(&vmcore)?;
    Ok(())
}

/// How many times the 8-byte magic of the pattern in `pattern` (a JSON file
/// of `pattern.py`'s or the kernel pattern's) occurs anywhere in `image`.
fn magic_occurrences(image: &std::path::Path, pattern: &std::path::Path) -> Result<usize> {
    use std::io::Read;
    let p: Value = serde_json::from_str(&std::fs::read_to_string(pattern)?)?;
    let magic = p["magic"].as_u64().context("pattern magic")?.to_le_bytes();
    let mut f = std::fs::File::open(image)?;
    let mut buf = vec![0u8; 16 << 20];
    let mut carry = 0usize;
    let mut found = 0;
    loop {
        let n = f.read(&mut buf[carry..])?;
        if n == 0 {
            break;
        }
        let end = carry + n;
        found += buf[..end].windows(8).filter(|w| *w == magic).count();
        // Keep the last 7 bytes: a match may straddle two reads.
        let keep = end.min(7);
        buf.copy_within(end - keep..end, 0);
        carry = keep;
    }
    Ok(found)
}

/// An encrypted dump (issue: private dumps): the administrator's key pair
/// made on the host, A armed with a fresh data key sealed for it (lz4,
/// without free pages) and its disk slowed to 10 MB/s; A panics. B, the
/// partner, sees the beacon, "dumping" and the watermark grow, then
/// "complete", without the key; no pattern byte is anywhere on the raw
/// disk; savecore without the key refuses and names the public key, with
/// it saves a vmcore where every pattern is intact and drgn reads; a byte
/// flipped on the disk is found.
pub fn encrypted(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.step("the administrator's key pair, on the host: the private key never reaches the nodes");
    std::fs::create_dir_all(&ctx.dir)?;
    let private = ctx.dir.join("admin.key");
    let made = Command::new(&ctx.env.cli).args(["dump-key", "new", "--json", "--private"]).arg(&private).output()?;
    ensure!(made.status.success(), "dump-key new: {}", String::from_utf8_lossy(&made.stderr));
    let made: Value = serde_json::from_slice(&made.stdout)?;
    let public_hex = made["public_key"].as_str().context("public key")?.to_string();

    ctx.step("booting nodes A and B (512 MiB each); B watches A's coredump disk");
    let mut cluster = Cluster::start(&spec(vec![NodeName::A, NodeName::B]), ctx.env, &ctx.dir, ctx.deadline)?;
    let deadline = cluster.deadline;
    let image = cluster.coredump_image(NodeName::A);
    configure(cluster.node(NodeName::A)?, NodeName::A)?;
    configure(cluster.node(NodeName::B)?, NodeName::B)?;
    let a = cluster.node(NodeName::A)?;
    a.ok("insmod /ct/ct_panic_trigger.ko")?;
    a.ok(&format!("echo lz4 > {SYSFS}/dump_codec && echo no-free > {SYSFS}/dump_filter && echo 1 > {SYSFS}/dump_encrypt"))?;
    let user = place_pattern_as(ctx, a, "user", "")?;

    ctx.step("bad inputs: arming without a key, a malformed key; both refused, nothing armed");
    a.ok(&format!("dev=$(coredump_dev a) && dump_ready $dev && coretakeover label --force --disk $dev --cluster {CLUSTER_ID} --node 1 >/dev/null"))?;
    let out = a.fails(&format!("echo $(coredump_dev a) > {SYSFS}/dump_disk"))?;
    ensure!(out.contains("key"), "arming without a key: {out}");
    ensure!(a.ok("dmesg | tail -n 3")?.contains("no fresh key"), "no log line for the missing key");
    a.fails(&format!("echo 00 11 22 > {SYSFS}/dump_key"))?;
    ensure!(a.ok(&format!("cat {SYSFS}/dump_disk"))?.trim().is_empty(), "a refused arming left a disk armed");

    ctx.step("A arms with a fresh data key sealed for the administrator");
    let armed = a.ok("coretakeover dump-key arm --public /results/admin.key.pub")?;
    ctx.step(armed.trim());
    a.ok(&format!("echo $(coredump_dev a) > {SYSFS}/dump_disk"))?;
    let status = host_status(ctx, &image)?;
    let header = &status["header"];
    ensure!(header["flags"].as_array().is_some_and(|f| f.iter().any(|x| x == "encrypted")), "the armed header: {header}");
    // The chunks go under a key derived for this arming (a replayed
    // dump_key cannot reuse a keystream): savecore decrypting the dump
    // below shows the kernel derived it as userspace does.
    ensure!(status["chunk_key"] == "per-arming", "the key block of the armed disk: chunk key {}", status["chunk_key"]);
    let page_offset = header["page_offset"].as_u64().context("page offset")?;
    let a = cluster.node(NodeName::A)?;
    let kernel_path = place_kernel_pattern(ctx, a, page_offset)?;
    a.ok(&format!("echo none > {SYSFS}/dump_disk"))?;
    ensure!(a.fails(&format!("echo $(coredump_dev a) > {SYSFS}/dump_disk"))?.contains("key"), "a data key was used twice");
    a.ok("coretakeover dump-key arm --public /results/admin.key.pub")?;
    a.ok(&format!("echo $(coredump_dev a) > {SYSFS}/dump_disk"))?;

    let b = cluster.node(NodeName::B)?;
    b.ok(&format!("echo 0 > {SYSFS}/auto_takeover && echo 1 > {SYSFS}/partner_id && echo $(coredump_dev a) > {SYSFS}/partner_dump_disk"))?;
    let a = cluster.node(NodeName::A)?;
    a.throttle_writes("coredump-a", 10_000_000)?;

    ctx.step("A panics (sysrq-c); its disk writes 10 MB/s");
    let a_mark = a.console.mark();
    let b_mark = cluster.node(NodeName::B)?.console.mark();
    panic_sysrq(cluster.node(NodeName::A)?)?;
    let b = cluster.node(NodeName::B)?;
    b.wait_console(b_mark, "coretakeover: partner is panicked", Duration::from_secs(60), deadline)?;
    let during = disk_status(b, NodeName::A)?;
    ensure!(during["header"]["state"] == "dumping", "B, during the dump, without the key: {}", during["header"]);
    let mut seen = vec![during["header"]["watermark"].as_u64().unwrap_or(0)];
    // The watermark moves while A dumps (each progress point, 16 MiB of stream).
    for _ in 0..40 {
        let now = disk_status(b, NodeName::A)?;
        if now["header"]["state"] != "dumping" {
            break;
        }
        let w = now["header"]["watermark"].as_u64().unwrap_or(0);
        if w > seen[seen.len() - 1] {
            seen.push(w);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let a = cluster.node(NodeName::A)?;
    a.wait_console(a_mark, "coretakeover: dump filter", Duration::from_secs(600), deadline)?;
    let a = cluster.node(NodeName::A)?;
    let done = a.console.find(a_mark, "coretakeover: dump complete").context("the dump did not complete")?;
    let b = cluster.node(NodeName::B)?;
    let after = disk_status(b, NodeName::A)?;
    seen.push(after["header"]["watermark"].as_u64().unwrap_or(0));
    ensure!(after["header"]["state"] == "complete" && seen.len() >= 3, "B after the dump: {} (watermarks seen while dumping and after: {seen:?})", after["header"]);
    let mib: Vec<u64> = seen.iter().map(|w| w >> 20).collect();
    ctx.step(&format!("B without the key: dumping, watermark {mib:?} MiB, then complete"));
    let (mib, ms) = parse_dump_line(&done.text).with_context(|| format!("dump line: {}", done.text))?;

    ctx.step("the raw coredump disk holds no byte of either pattern");
    for (name, path) in [("user", &user), ("kernel", &kernel_path)] {
        let n = magic_occurrences(&image, path)?;
        ensure!(n == 0, "the {name} pattern's magic is on the encrypted disk {n} times");
    }
    ctx.step("savecore without the key refuses and names the public key");
    let out = Command::new(&ctx.env.cli).args(["savecore", "--keep", "-o"]).arg(ctx.dir.join("vmcore-nokey")).arg("--disk").arg(&image).output()?;
    let text = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.code() == Some(4) && text.contains("encrypted") && text.contains(&public_hex), "savecore without the key: {text}");

    ctx.step("savecore with the key: every pattern intact, drgn reads it");
    let vmcore = ctx.dir.join("vmcore");
    let out = Command::new(&ctx.env.cli).args(["savecore", "--json", "-o"]).arg(&vmcore).arg("--key").arg(&private).arg("--disk").arg(&image).output()?;
    let saved: Value = serde_json::from_slice(&out.stdout).with_context(|| format!("savecore: {}", String::from_utf8_lossy(&out.stderr)))?;
    ensure!(saved["complete"] == true && saved["encrypted"] == true && saved["codec"] == "lz4", "savecore: {saved}");
    for (name, path, pages) in [("user", &user, 1024u64), ("kernel", &kernel_path, 16)] {
        let found = vmcore_pattern(ctx, &vmcore, path)?;
        ensure!(found["inside"] == pages && found["intact"] == pages, "the {name} pattern in the decrypted vmcore: {found}");
    }
    let found = drgn(ctx, &vmcore, "sysrq triggered crash", None)?;
    ensure!(found["panic_line"].is_string(), "drgn: {found}");
    check_stacks(ctx, &found, "sysrq_handle_crash")?;
    crash(ctx, &vmcore, "the decrypted vmcore", &SYSRQ_CRASH)?;

    ctx.step("a byte flipped in the first chunk on the disk: savecore finds it, nothing passes as data");
    let data_offset = status["header"]["data_offset"].as_u64().context("data offset")?;
    {
        use std::io::{Read, Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().read(true).write(true).open(&image)?;
        let mut b = [0u8; 1];
        f.seek(SeekFrom::Start(data_offset + 100))?;
        f.read_exact(&mut b)?;
        b[0] ^= 0x10;
        f.seek(SeekFrom::Start(data_offset + 100))?;
        f.write_all(&b)?;
    }
    let out = Command::new(&ctx.env.cli).args(["savecore", "-o"]).arg(ctx.dir.join("vmcore-damaged")).arg("--key").arg(&private).arg("--disk").arg(&image).output()?;
    let text = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.code() == Some(1) && text.contains("chunk 0 (RAM at"), "savecore of the damaged dump: {text}");
    ctx.step(&format!("{mib} MiB encrypted and dumped in {ms} ms at 10 MB/s"));
    ctx.fact("dump_ms", ms);
    for f in ["vmcore", "vmcore-damaged"] {
        let _ = std::fs::remove_file(ctx.dir.join(f));
    }
    Ok(())
}

/// Node A alone (`spec`), the module configured and its coredump disk armed.
fn armed_a(ctx: &Ctx<'_>, spec: &ClusterSpec) -> Result<Cluster> {
    let mut cluster = Cluster::start(spec, ctx.env, &ctx.dir, ctx.deadline)?;
    let a = cluster.node(NodeName::A)?;
    configure(a, NodeName::A)?;
    label_and_arm(a, NodeName::A)?;
    Ok(cluster)
}

/// `coretakeover status --disk` of a coredump disk image, on the host.
fn host_status(ctx: &Ctx<'_>, image: &std::path::Path) -> Result<Value> {
    let out = Command::new(&ctx.env.cli).args(["status", "--json", "--disk"]).arg(image).output()?;
    serde_json::from_slice(&out.stdout).with_context(|| format!("status: {}", String::from_utf8_lossy(&out.stderr)))
}

/// `coretakeover savecore` of a coredump disk image into `vmcore`, on the host.
pub(crate) fn host_savecore(ctx: &Ctx<'_>, image: &std::path::Path, vmcore: &std::path::Path) -> Result<Value> {
    let out = Command::new(&ctx.env.cli).args(["savecore", "--json", "--disk"]).arg(image).arg("-o").arg(vmcore).output()?;
    ensure!(out.status.success(), "savecore: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// A dump under a time budget whose disk slows down after arming: node A
/// (512 MiB) arms with every page allowed and a budget that the full dump
/// meets at the disk's speed (the model chooses `all`); then A's coredump
/// disk is throttled to 20 MB/s and A panics. The dump must see that it
/// will overrun, switch to a leaner filter (logged in the header and on the
/// console), and end within the budget plus 10 %; savecore and drgn read it.
/// `Slowdown::PowerLoss`: the disk is throttled to 10 MB/s instead and A's
/// power fails after the switch, once a watermark step is on the disk:
/// savecore saves the cut dump, every chunk and the page map consistent
/// with it. `Slowdown::Deadline`: 5 MB/s, and the power stays on: even
/// kernel pages do not fit, so the dump stops at its budget (a deadline),
/// truncated and flagged, and savecore saves what it wrote.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Slowdown {
    Replan,
    PowerLoss,
    Deadline,
}

pub fn replan(ctx: &mut Ctx<'_>, how: Slowdown) -> Result<()> {
    let power_loss = how == Slowdown::PowerLoss;
    // 10 MB/s with a power loss: the first watermark step (16 MiB) lands
    // well before the budget's deadline.
    let rate: u64 = match how {
        Slowdown::Replan => 20_000_000,
        Slowdown::PowerLoss => 10_000_000,
        Slowdown::Deadline => 5_000_000,
    };
    ctx.step("booting node A (512 MiB); dump_filter all");
    let mut cluster = Cluster::start(&spec(vec![NodeName::A]), ctx.env, &ctx.dir, ctx.deadline)?;
    let deadline = cluster.deadline;
    let image = cluster.coredump_image(NodeName::A);
    let a = cluster.node(NodeName::A)?;
    configure(a, NodeName::A)?;
    a.fails(&format!("echo 3600001 > {SYSFS}/dump_budget_ms"))?;
    a.ok("insmod /ct/ct_panic_trigger.ko")?;
    let user = place_pattern_as(ctx, a, "user", "")?;
    // The budget follows this node's speed (a debug kernel dumps several
    // times slower): arm once with the largest budget to read the model's
    // predictions, then with the budget the test needs: twice the full
    // dump's predicted time, at least 3 s, so that the model chooses every
    // page at the disk's full speed; for the re-plan to complete, also room
    // for the kernel pages at the throttled rate (half as much again).
    a.ok(&format!("echo 3600000 > {SYSFS}/dump_budget_ms && echo all > {SYSFS}/dump_filter"))?;
    label_and_arm(a, NodeName::A)?;
    let probe = a.ok(&format!("cat {SYSFS}/dump_plan"))?;
    let row = |name: &str| -> Option<(u64, u64)> {
        let w: Vec<&str> = probe.lines().find(|l| l.split_whitespace().next() == Some(name))?.split_whitespace().collect();
        Some((w.get(1)?.parse().ok()?, w.get(2)?.parse().ok()?))
    };
    let (all_ms, _) = row("all").with_context(|| format!("no prediction for all: {probe}"))?;
    let (_, kernel_mib) = row("kernel").with_context(|| format!("no prediction for kernel: {probe}"))?;
    let mut budget_ms = (2 * all_ms).max(3000);
    if how == Slowdown::Replan {
        budget_ms = budget_ms.max((kernel_mib << 20) * 1000 / rate * 3 / 2);
    }
    let budget_line = format!("budget {budget_ms} ms");
    a.ok(&format!("echo none > {SYSFS}/dump_disk && echo {budget_ms} > {SYSFS}/dump_budget_ms && echo $(coredump_dev a) > {SYSFS}/dump_disk"))?;
    let plan = a.ok(&format!("cat {SYSFS}/dump_plan"))?;
    for line in plan.lines() {
        ctx.step(&format!("dump_plan: {line}"));
    }
    let chosen = plan.lines().find(|l| l.ends_with(" chosen")).and_then(|l| l.split_whitespace().next()).unwrap_or("");
    ensure!(chosen == "all", "at the disk's full speed the model should choose every page within {budget_ms} ms: {plan}");
    let status = a.ok("coretakeover status")?;
    ensure!(
        status.contains(&format!("dump plan:        {budget_line}")) && status.lines().any(|l| l.trim_start().starts_with("all ") && l.ends_with("chosen")),
        "netlink status does not show the plan: {status}"
    );
    let page_offset = host_status(ctx, &image)?["header"]["page_offset"].as_u64().context("page offset")?;
    let a = cluster.node(NodeName::A)?;
    let kernel_path = place_kernel_pattern(ctx, a, page_offset)?;

    ctx.step(&format!("A's coredump disk slows to {} MB/s; A panics (sysrq-c)", rate / 1_000_000));
    a.throttle_writes("coredump-a", rate)?;
    let mark = a.console.mark();
    panic_sysrq(a)?;
    let a = cluster.node(NodeName::A)?;
    let switched = a.wait_panic_line(mark, "coretakeover: dump re-planned", Duration::from_secs(60), deadline)?;
    ctx.step(switched.text.trim_start_matches(|c: char| "[ .]".contains(c) || c.is_ascii_digit()));

    if power_loss {
        ctx.step("the power fails once the header records the re-plan and a watermark step");
        loop {
            ensure!(std::time::Instant::now() < deadline, "the dump never recorded its re-plan and a watermark");
            std::thread::sleep(Duration::from_millis(100));
            let header = &host_status(ctx, &image)?["header"];
            ensure!(header["state"] == "dumping", "the dump ended before the power loss: {header}");
            if header["plan"]["replans"].as_u64().unwrap_or(0) > 0 && header["watermark"].as_u64().unwrap_or(0) > 0 {
                break;
            }
        }
        cluster.node(NodeName::A)?.kill();
        let header = host_status(ctx, &image)?["header"].clone();
        let watermark = header["watermark"].as_u64().context("watermark")?;
        ensure!(header["state"] == "dumping" && header["filter"] != "all", "after the power loss: {header}");
        let vmcore = ctx.dir.join("vmcore");
        let saved = host_savecore(ctx, &image, &vmcore)?;
        ensure!(saved["complete"] == false && saved["saved_bytes"].as_u64() == Some(watermark), "savecore: {saved}");
        let chunk = header["chunk_size"].as_u64().context("chunk size")?;
        ensure!(saved["chunks_verified"].as_u64() == Some(watermark.div_ceil(chunk)), "chunks verified: {saved}");
        for path in [&kernel_path, &user] {
            let found = vmcore_pattern(ctx, &vmcore, path)?;
            ensure!(found["first_bad"].is_null() && found["inside"] == found["intact"], "pattern pages in the cut dump: {found}");
        }
        ctx.step(&format!(
            "savecore: {} MiB saved of a dump cut after its re-plan to {} (page map and {} chunks consistent)",
            watermark >> 20,
            header["filter"],
            saved["chunks_verified"]
        ));
        std::fs::remove_file(&vmcore)?;
        return Ok(());
    }

    // The dump's last line (re-plan lines start alike: wait for this one).
    let kept = a.wait_console(mark, "coretakeover: dump filter", Duration::from_secs(120), deadline)?;
    ctx.step(kept.text.trim_start_matches(|c: char| "[ .]".contains(c) || c.is_ascii_digit()));
    let a = cluster.node(NodeName::A)?;
    if how == Slowdown::Deadline {
        let cut = a.console.find(mark, "coretakeover: dump stopped at its budget").context("the dump did not stop at its budget")?;
        ctx.step(cut.text.trim_start_matches(|c: char| "[ .]".contains(c) || c.is_ascii_digit()));
        let end = a.console.find(mark, "coretakeover: dump truncated").context("the dump stopped at its budget is not truncated")?;
        let (mib, ms) = parse_dump_line(&end.text).with_context(|| format!("dump line: {}", end.text))?;
        ensure!(ms <= budget_ms * 11 / 10, "the dump took {ms} ms ({mib} MiB), over its budget of {budget_ms} ms + 10 %");
        let header = host_status(ctx, &image)?["header"].clone();
        let flags = &header["flags"];
        ensure!(
            header["state"] == "truncated" && flags.as_array().is_some_and(|f| f.iter().any(|x| x == "budget-cut")),
            "A's header after the deadline: {header}"
        );
        let watermark = header["watermark"].as_u64().context("watermark")?;
        let vmcore = ctx.dir.join("vmcore");
        let saved = host_savecore(ctx, &image, &vmcore)?;
        ensure!(saved["complete"] == false && saved["saved_bytes"].as_u64() == Some(watermark), "savecore: {saved}");
        let found = vmcore_pattern(ctx, &vmcore, &kernel_path)?;
        ensure!(found["first_bad"].is_null() && found["inside"] == found["intact"], "kernel pattern pages in the cut dump: {found}");
        ctx.step(&format!("{mib} MiB in {ms} ms: stopped at the {budget_ms} ms budget, truncated and flagged; savecore saved {} MiB, consistent", watermark >> 20));
        std::fs::remove_file(&vmcore)?;
        return Ok(());
    }
    let done = a.console.find(mark, "coretakeover: dump complete").context("the dump did not complete")?;
    let (mib, ms) = parse_dump_line(&done.text).with_context(|| format!("dump line: {}", done.text))?;
    ensure!(ms <= budget_ms * 11 / 10, "the dump took {ms} ms ({mib} MiB), over its budget of {budget_ms} ms + 10 %");

    let status = host_status(ctx, &image)?;
    let header = &status["header"];
    let plan = &header["plan"];
    ensure!(plan["chosen"] == "all" && plan["replans"].as_u64().unwrap_or(0) >= 1, "the header's plan: {plan}");
    let last = plan["switches"].as_array().and_then(|s| s.last()).context("no re-plan logged")?;
    ensure!(last["to"] == header["filter"] && header["filter"] != "all", "the filter in force {} and the last re-plan {last}", header["filter"]);
    let vmcore = ctx.dir.join("vmcore");
    let saved = host_savecore(ctx, &image, &vmcore)?;
    ensure!(saved["complete"] == true, "savecore: {saved}");
    let filter = header["filter"].as_str().unwrap_or("");
    let keeps_user = filter == "no-free" || filter == "no-cache";
    let found = vmcore_pattern(ctx, &vmcore, &kernel_path)?;
    ensure!(found["inside"] == 16 && found["intact"] == 16, "the kernel pattern: {found}");
    let found = vmcore_pattern(ctx, &vmcore, &user)?;
    let inside = found["inside"].as_u64().unwrap_or(0);
    ensure!(found["first_bad"].is_null() && inside == if keeps_user { 1024 } else { 0 }, "the user pattern under {filter}: {found}");
    let found = drgn(ctx, &vmcore, "sysrq triggered crash", None)?;
    ensure!(found["panic_line"].is_string(), "drgn: {found}");
    check_stacks(ctx, &found, "sysrq_handle_crash")?;
    ctx.step(&format!("{mib} MiB in {ms} ms within the {budget_ms} ms budget, after a re-plan to {filter}; drgn reads it"));
    ctx.fact("replan_dump_ms", ms);
    ctx.fact("replan_filter", filter);
    std::fs::remove_file(&vmcore)?;
    Ok(())
}

/// What arming learns from the disk's earlier dump: node A dumps (kernel
/// pages), savecore saves it whole, A boots again and arms the same disk.
/// Its plan must carry the earlier dump's predicted time and its measured
/// one, and scale its predictions by their ratio (bounded to 1/4..4); then
/// a second dump, whose prediction error is reported beside the first's.
pub fn calibrated(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.step("booting node A (512 MiB); dump_filter kernel");
    let mut cluster = Cluster::start(&spec(vec![NodeName::A]), ctx.env, &ctx.dir, ctx.deadline)?;
    let deadline = cluster.deadline;
    let image = cluster.coredump_image(NodeName::A);
    let mut errors = Vec::new();
    let mut earlier: Option<(u64, u64)> = None;
    for round in 1..=2 {
        if round == 2 {
            ctx.step("A boots again and arms the same disk, whose header holds the saved dump");
            cluster.restart(NodeName::A, NODE_MIB)?;
        }
        let a = cluster.node(NodeName::A)?;
        configure(a, NodeName::A)?;
        a.ok(&format!("echo kernel > {SYSFS}/dump_filter"))?;
        if round == 1 {
            label_and_arm(a, NodeName::A)?;
        } else {
            a.ok(&format!("echo $(coredump_dev a) > {SYSFS}/dump_disk"))?;
        }
        let plan = a.ok(&format!("cat {SYSFS}/dump_plan"))?;
        let calibration = plan.lines().find(|l| l.starts_with("calibration ")).unwrap_or("").to_string();
        ctx.step(&format!("dump_plan: {calibration}"));
        match earlier {
            None => ensure!(calibration == "calibration none", "a first arming has nothing to calibrate by: {plan}"),
            Some((predicted, measured)) => {
                let header = host_status(ctx, &image)?["header"].clone();
                let c = header["calibration"].as_array().context("no calibration in the header")?;
                let (p, m, f) = (c[0].as_u64().unwrap_or(0), c[1].as_u64().unwrap_or(0), c[2].as_u64().unwrap_or(0));
                ensure!(p == predicted, "the calibration's prediction {p} ms is not the earlier dump's {predicted} ms");
                ensure!(m >= measured && m <= measured + 2000, "the calibration's measured {m} ms against the dump line's {measured} ms");
                ensure!(f == (m * 1024 / p).clamp(256, 4096), "calibration factor {f} from {m} ms over {p} ms");
                ensure!(calibration.starts_with(&format!("calibration {f}/1024")), "dump_plan: {calibration}");
            }
        }
        ctx.step(&format!("dump {round}: A panics (sysrq-c)"));
        let mark = a.console.mark();
        panic_sysrq(a)?;
        let a = cluster.node(NodeName::A)?;
        a.wait_console(mark, "coretakeover: dump filter", Duration::from_secs(120), deadline)?;
        let a = cluster.node(NodeName::A)?;
        let done = a.console.find(mark, "coretakeover: dump complete").context("the dump did not complete")?;
        let (mib, ms) = parse_dump_line(&done.text).with_context(|| format!("dump line: {}", done.text))?;
        let predicted = parse_predicted(&done.text).with_context(|| format!("no prediction in the dump line: {}", done.text))?;
        let error = (predicted as f64 - ms as f64).abs() / ms.max(1) as f64;
        ctx.step(&format!("dump {round}: {mib} MiB in {ms} ms, predicted {predicted} ms (error {error:.2})"));
        errors.push(error);
        let vmcore = ctx.dir.join("vmcore");
        let saved = host_savecore(ctx, &image, &vmcore)?;
        ensure!(saved["complete"] == true && saved["marked_saved"] == true, "savecore: {saved}");
        std::fs::remove_file(&vmcore)?;
        earlier = Some((predicted, ms));
    }
    ctx.fact("prediction_error_uncalibrated", errors[0]);
    ctx.fact("prediction_error_calibrated", errors[1]);
    Ok(())
}

/// How far the dump's watermark moves at a time (`PROGRESS_BYTES` of
/// rust/panic_dump.rs): a cut can only fall on such a step.
const PROGRESS_STEP: u64 = 16 << 20;

/// Where each pattern page is in the dump stream (the bytes the watermark
/// counts), from the RAM ranges a header records.
fn pattern_offsets(pattern: &std::path::Path, header: &Value) -> Result<Vec<u64>> {
    let pattern: Value = serde_json::from_str(&std::fs::read_to_string(pattern)?)?;
    let ranges = header["ram_ranges"].as_array().context("no RAM ranges in the header")?;
    let mut offsets = Vec::new();
    for page in pattern["pages"].as_array().context("no pattern pages")? {
        let phys = page.as_u64().context("a pattern page")?;
        let range = ranges.iter().find(|r| {
            let (start, len) = (r["phys"].as_u64().unwrap_or(0), r["len"].as_u64().unwrap_or(0));
            phys >= start && phys - start < len
        });
        let r = range.with_context(|| format!("pattern page {phys:#x} lies in no RAM range the header records"))?;
        offsets.push(r["stream_offset"].as_u64().unwrap_or(0) + phys - r["phys"].as_u64().unwrap_or(0));
    }
    offsets.sort_unstable();
    Ok(offsets)
}

/// Power loss in the middle of a dump: A's QEMU is killed once its header
/// says the dump has passed half of the pattern pages (placed from CPU 0,
/// so in the first NUMA node's memory, well before the end of the stream).
/// savecore reports the dump as cut short at the exact extent the header
/// recorded, every saved chunk passes its checksum, and the pattern pages
/// inside the saved part (there must be some) are intact.
pub fn power_loss(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.step("booting node A (512 MiB); its coredump disk is throttled to 20 MB/s");
    let mut cluster = armed_a(ctx, &spec(vec![NodeName::A]))?;
    let deadline = cluster.deadline;
    let image = cluster.coredump_image(NodeName::A);
    let a = cluster.node(NodeName::A)?;
    let pattern_path = place_pattern(ctx, a, Some(0))?;
    let armed = host_status(ctx, &image)?;
    let offsets = pattern_offsets(&pattern_path, &armed["header"])?;
    let dump_bytes = armed["header"]["dump_bytes"].as_u64().context("dump bytes")?;
    let cut = offsets[offsets.len() / 2] + 4096;
    ensure!(
        cut + 2 * PROGRESS_STEP < dump_bytes,
        "half the pattern lies below {} MiB of a {} MiB dump: a cut there cannot be told from its end",
        cut >> 20,
        dump_bytes >> 20
    );
    let a = cluster.node(NodeName::A)?;
    a.throttle_writes("coredump-a", 20_000_000)?;
    let mark = a.console.mark();
    panic_sysrq(a)?;
    cluster.node(NodeName::A)?.wait_panic_line(mark, "coretakeover: panic beacon written", Duration::from_secs(30), deadline)?;

    ctx.step(&format!(
        "the power fails once the header's watermark passes {} MiB (half the pattern pages: they lie at {}..{} MiB of the stream)",
        cut >> 20,
        offsets[0] >> 20,
        offsets[offsets.len() - 1] >> 20
    ));
    loop {
        ensure!(std::time::Instant::now() < deadline, "the dump never got to {} MiB", cut >> 20);
        std::thread::sleep(Duration::from_millis(100));
        let header = &host_status(ctx, &image)?["header"];
        if header["watermark"].as_u64().unwrap_or(0) >= cut || header["state"] != "dumping" {
            break;
        }
    }
    cluster.node(NodeName::A)?.kill();
    let status = host_status(ctx, &image)?;
    let header = &status["header"];
    ensure!(header["state"] == "dumping", "A's header after the power loss: {header}");
    let watermark = header["watermark"].as_u64().context("watermark")?;
    let dump_bytes = header["dump_bytes"].as_u64().context("dump bytes")?;
    ensure!(watermark > 0 && watermark < dump_bytes, "watermark {watermark} of {dump_bytes}");
    ctx.step(&format!("A's header: dumping, {} of {} MiB saved ({:.0} %)", watermark >> 20, dump_bytes >> 20, header["percent"]));

    ctx.step("savecore: the dump is cut short at that extent; every saved chunk checks out");
    let vmcore = ctx.dir.join("vmcore");
    let saved = host_savecore(ctx, &image, &vmcore)?;
    ensure!(saved["complete"] == false && saved["dump_state"] == "dumping", "savecore: {saved}");
    ensure!(saved["saved_bytes"].as_u64() == Some(watermark), "savecore saved {} bytes, the header says {watermark}", saved["saved_bytes"]);
    let chunk = header["chunk_size"].as_u64().context("chunk size")?;
    ensure!(saved["chunks_verified"].as_u64() == Some(watermark.div_ceil(chunk)), "chunks verified: {saved}");
    let after = host_status(ctx, &image)?;
    let flags = &after["header"]["flags"];
    ensure!(after["header"]["state"] == "saved" && flags.as_array().is_some_and(|f| f.iter().any(|x| x == "saved-truncated")), "header after savecore: {}", after["header"]);

    ctx.step("the pattern pages inside the saved part are intact");
    let out = Command::new(&ctx.env.python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/vmcore_pattern.py"))
        .arg(&vmcore)
        .arg(&pattern_path)
        .output()?;
    ensure!(out.status.success(), "vmcore_pattern: {}", String::from_utf8_lossy(&out.stderr));
    let found: Value = serde_json::from_slice(&out.stdout)?;
    ensure!(found["first_bad"].is_null() && found["inside"] == found["intact"], "pattern pages: {found}");
    let expected = offsets.iter().filter(|o| **o + 4096 <= watermark).count() as u64;
    ensure!(found["inside"].as_u64() == Some(expected) && expected > offsets.len() as u64 / 2, "{expected} pattern pages lie below the watermark: {found}");
    ctx.step(&format!("{} of 1024 pattern pages lie in the saved part, all intact; {} lie beyond it", found["inside"], found["outside"]));
    ctx.fact("power_loss_saved_bytes", watermark);
    std::fs::remove_file(&vmcore)?;
    Ok(())
}

/// A panic inside the dump (the test hook in debugfs panics the dumping
/// CPU once 64 MiB are on the disk): no second dump, no hang (the node
/// reboots as panic= says), and the header keeps the last watermark, which
/// savecore saves as an interrupted dump.
pub fn nested_panic(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.step("booting node A (512 MiB)");
    let mut cluster = armed_a(ctx, &spec(vec![NodeName::A]))?;
    let deadline = cluster.deadline;
    let image = cluster.coredump_image(NodeName::A);
    let a = cluster.node(NodeName::A)?;
    a.ok("mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug; echo 64 > /sys/kernel/debug/coretakeover/test_panic_after_mib")?;
    ctx.step("A panics; at 64 MiB the dump panics again");
    let mark = a.console.mark();
    panic_sysrq(a)?;
    let a = cluster.node(NodeName::A)?;
    a.wait_panic_line(mark, "coretakeover test: panic inside the dump", Duration::from_secs(120), deadline)?;
    let nested = a.wait_panic_line(mark, "coretakeover: panic inside the dump", Duration::from_secs(30), deadline)?;
    ctx.step(nested.text.split("coretakeover: ").nth(1).unwrap_or(""));
    let started = std::time::Instant::now();
    while !cluster.node(NodeName::A)?.has_exited() {
        ensure!(started.elapsed() < Duration::from_secs(60), "A hangs after the panic inside the dump");
        std::thread::sleep(Duration::from_millis(200));
    }
    let a = cluster.node(NodeName::A)?;
    let beacons = a.console.tail(5000).iter().filter(|l| l.contains("coretakeover: panic beacon written")).count();
    ensure!(beacons == 1, "{beacons} dumps started");
    ensure!(!a.console.tail(5000).iter().any(|l| l.contains("coretakeover: dump complete")), "a dump completed");
    ctx.step(&format!("A rebooted {:.1} s after the nested panic; one dump started", started.elapsed().as_secs_f64()));

    ctx.step("the header keeps the last watermark; savecore saves it as an interrupted dump");
    let status = host_status(ctx, &image)?;
    let header = &status["header"];
    let watermark = header["watermark"].as_u64().unwrap_or(0);
    ensure!(header["state"] == "dumping" && watermark >= 64 << 20 && watermark < header["dump_bytes"].as_u64().unwrap_or(0), "A's header: {header}");
    let vmcore = ctx.dir.join("vmcore");
    let saved = host_savecore(ctx, &image, &vmcore)?;
    ensure!(saved["complete"] == false && saved["saved_bytes"].as_u64() == Some(watermark), "savecore: {saved}");
    std::fs::remove_file(&vmcore)?;
    ctx.step(&format!("{} MiB saved, every chunk verified", watermark >> 20));
    Ok(())
}

/// The same panic dumped twice, by this module and by kdump, and what tells
/// the two vmcores apart: node A (512 MiB, booted with `crashkernel=128M`)
/// armed, with a kdump capture kernel loaded (`kexec -p`, Debian's
/// kexec-tools). A panics (sysrq-c): the panic notifiers run first
/// (`crash_kexec_post_notifiers`), so this module dumps to A's coredump disk,
/// then the kernel enters the capture kernel, whose init copies /proc/vmcore
/// to the other coredump disk. savecore saves ours; the host reads kdump's
/// back. Their ELF program headers, notes and VMCOREINFO are compared
/// (`vmcore_compare.py`), and crash, drgn and makedumpfile open both: every
/// reader must read ours as it reads kdump's.
pub fn versus_kdump(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.step("booting nodes A and B (512 MiB each); A again with crashkernel=128M");
    let mut cluster = Cluster::start(&spec(vec![NodeName::A, NodeName::B]), ctx.env, &ctx.dir, ctx.deadline)?;
    let deadline = cluster.deadline;
    cluster.set_boot_args(NodeName::A, "crashkernel=128M");
    cluster.restart(NodeName::A, NODE_MIB)?;
    let a = cluster.node(NodeName::A)?;
    configure(a, NodeName::A)?;
    label_and_arm(a, NodeName::A)?;

    ctx.step("A loads a kdump capture kernel (the test kernel, an initramfs that copies /proc/vmcore to coredump-b)");
    let capture = ctx.dir.join("kdump.cpio");
    crate::initramfs::build_kdump(&capture, &ctx.env.busybox)?;
    let append = format!("console=ttyS0 reset_devices nr_cpus=1 irqpoll nousb panic=-1 loglevel=7 ct.vmcore_disk=coredump-b {}", ctx.env.kernel_args);
    let a = cluster.node(NodeName::A)?;
    // kexec runs from the host's root, where /tmp is the guest's own: the
    // kernel and initramfs go there through the results directory.
    std::fs::copy(&ctx.env.kernel, ctx.dir.join("kdump-bzImage"))?;
    let loaded = a.ok(&format!(
        "cp /results/kdump-bzImage /results/kdump.cpio /tmp/ && host kexec -p /tmp/kdump-bzImage --initrd=/tmp/kdump.cpio --append=\"{}\" && cat /sys/kernel/kexec_crash_loaded",
        append.trim()
    ))?;
    ensure!(loaded.trim() == "1", "A's capture kernel is not loaded: {loaded}");

    ctx.step("A panics (sysrq-c): our dump first, then kdump's capture kernel");
    let mark = a.console.mark();
    panic_sysrq(a)?;
    let done = a.wait_console(mark, "coretakeover: dump ", Duration::from_secs(600), deadline)?;
    ensure!(done.text.contains("dump complete"), "our dump did not complete: {}", done.text);
    let up = a.wait_console(mark, "ct-kdump: capture kernel userspace up", Duration::from_secs(300), deadline)?;
    let size: u64 = up
        .text
        .split("/proc/vmcore ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("the capture kernel's /proc/vmcore: {}", up.text))?;
    let saved = a.wait_console(mark, "ct-kdump: vmcore ", Duration::from_secs(600), deadline)?;
    ensure!(saved.text.contains("vmcore saved"), "kdump: {}", saved.text);
    ctx.step(&format!("kdump: {}", saved.text.split("ct-kdump: ").nth(1).unwrap_or("").trim()));

    ctx.step("the host: savecore saves ours; kdump's is read back from coredump-b");
    let ours = ctx.dir.join("vmcore");
    let saved = host_savecore(ctx, &cluster.coredump_image(NodeName::A), &ours)?;
    ensure!(saved["complete"] == true, "savecore: {saved}");
    let theirs = ctx.dir.join("vmcore.kdump");
    {
        use std::io::Read;
        let image = std::fs::File::open(cluster.coredump_image(NodeName::B))?;
        let mut out = std::fs::File::create(&theirs)?;
        let copied = std::io::copy(&mut image.take(size), &mut out)?;
        ensure!(copied == size, "kdump's vmcore: {copied} of {size} bytes on coredump-b");
    }

    ctx.step("the two vmcores side by side (vmcore_compare.py)");
    let out = Command::new(&ctx.env.python).arg(concat!(env!("CARGO_MANIFEST_DIR"), "/vmcore_compare.py")).arg(&ours).arg(&theirs).output()?;
    ensure!(out.status.success(), "vmcore_compare.py: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(ctx.dir.join("vmcore-compare.json"), &out.stdout)?;
    let cmp: Value = serde_json::from_slice(&out.stdout)?;
    for side in ["ours", "kdump"] {
        let s = &cmp[side];
        ctx.step(&format!(
            "{side}: {} PT_LOADs (p_align {}), kernel text segment {}, {} MiB of direct map, notes {}, NT_PRSTATUS pids {}",
            s["loads"],
            s["aligns"],
            s["kernel_text"],
            s["direct_map_bytes"].as_u64().unwrap_or(0) >> 20,
            s["notes"],
            s["prstatus"].as_array().map(|p| p.iter().map(|n| n["pid"].to_string()).collect::<Vec<_>>().join(",")).unwrap_or_default()
        ));
    }
    let info = &cmp["vmcoreinfo"];
    ctx.step(&format!("VMCOREINFO: {} entries against {}; only ours {}, only kdump's {}, different {}", info["entries"][0], info["entries"][1], info["only_ours"], info["only_kdump"], info["different"]));
    // What every reader relies on, the same in both.
    ensure!(cmp["ours"]["first_load_align"] == 0, "our first PT_LOAD's p_align is not 0: crash would not take it as a kdump vmcore: {}", cmp["ours"]);
    ensure!(
        cmp["ours"]["prstatus"].as_array().map(Vec::len) == cmp["kdump"]["prstatus"].as_array().map(Vec::len),
        "NT_PRSTATUS notes: ours {} kdump's {}",
        cmp["ours"]["prstatus"],
        cmp["kdump"]["prstatus"]
    );
    ensure!(info["only_kdump"].as_array().is_some_and(Vec::is_empty), "VMCOREINFO entries only kdump's has: {}", info["only_kdump"]);
    let different: Vec<&String> = info["different"].as_object().map(|d| d.keys().filter(|k| k.as_str() != "CRASHTIME").collect()).unwrap_or_default();
    ensure!(different.is_empty(), "VMCOREINFO entries that differ (beyond CRASHTIME): {}", info["different"]);
    ctx.fact("vmcore_compare", cmp.clone());

    ctx.step("crash, drgn and makedumpfile on both");
    for (what, vmcore) in [("our vmcore", &ours), ("kdump's vmcore", &theirs)] {
        crash(ctx, vmcore, what, &SYSRQ_CRASH)?;
        let found = drgn(ctx, vmcore, "sysrq triggered crash", None)?;
        ensure!(found["panic_line"].is_string(), "drgn on {what}: {found}");
        check_stacks(ctx, &found, "sysrq_handle_crash")?;
        let shrunk = makedumpfile(ctx, vmcore)?;
        crash(ctx, &shrunk, &format!("makedumpfile's copy of {what}"), &SYSRQ_CRASH)?;
        std::fs::remove_file(&shrunk)?;
    }
    for file in [&ours, &theirs, &capture, &ctx.dir.join("kdump-bzImage")] {
        std::fs::remove_file(file)?;
    }
    Ok(())
}
