// SPDX-License-Identifier: GPL-2.0

//! `coretakeover status`: what the module reports in sysfs or, with
//! `--disk`, what a coredump disk holds (label and dump header).

use crate::coredump::Inspection;
use crate::disk::Disk;
use crate::error::Error;
use crate::output::{emit, Report};
use crate::takeover::TakeoverSummary;
use coretakeover_core::pagefilter::Filter;
use coretakeover_core::header::{flags, Header, MAX_SWITCHES};
use coretakeover_core::label::UuidText;
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the module's sysfs directory is.
pub const SYSFS_DIR: &str = "/sys/kernel/coretakeover";

/// Show the module's state (over generic netlink), or a coredump disk's.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Read the module's sysfs directory (or this one) instead of netlink.
    #[arg(long, num_args = 0..=1, default_missing_value = SYSFS_DIR)]
    sysfs: Option<PathBuf>,
    /// Show the label and dump header of this coredump disk instead.
    #[arg(long)]
    disk: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct HeaderReport {
    state: &'static str,
    generation: u64,
    flags: Vec<&'static str>,
    kernel_release: String,
    panic_message: String,
    panic_cpu: Option<u16>,
    panic_ns: u64,
    /// Each CPU's `crash_notes` buffer (physical address, CPU 0 first; null:
    /// none), as arming found it in the kernel.
    cpu_notes: Vec<Option<String>>,
    dump_bytes: u64,
    capacity: u64,
    watermark: u64,
    percent: f64,
    unreadable_pages: u32,
    ranges: usize,
    /// The RAM ranges in dump order: where each starts in the dump stream
    /// (the bytes the watermark counts).
    ram_ranges: Vec<RangeReport>,
    chunk_size: u32,
    /// The function of the chunk checksums, and the rates (MiB/s) measured
    /// when the disk was armed (0: not measured).
    chunk_checksum: &'static str,
    crc32c_mib_s: u32,
    xxh64_mib_s: u32,
    /// Arming's rehearsal of the dump pipeline (MiB/s) and the dump time it
    /// predicts (ms); 0 for none.
    rehearsal_mib_s: u32,
    predicted_dump_ms: u32,
    /// The page filter ("all": every page, format version 1).
    filter: &'static str,
    /// Pages by class (kernel, cache, user, free; zero: dropped as zero):
    /// arming's census while armed, the dump's scan after a panic.
    census: Option<CensusReport>,
    /// The model's plan at arming (a dump with a page map): the budget, the
    /// filter chosen, every filter's predicted time and size; then the
    /// dump's re-plans.
    plan: Option<PlanReport>,
    /// From the disk's earlier dump, saved whole: its predicted and measured
    /// ms, and the factor (×1024) this arming's predictions were scaled by.
    calibration: Option<(u32, u32, u32)>,
    /// A compressed dump (format version 3): its codec and what it stored.
    codec: Option<CodecReport>,
    /// Byte offset of the dump data on the disk.
    data_offset: u64,
    beacon_latency_us: u64,
    /// The dumped kernel's direct-map base (KASLR moves it at every boot).
    page_offset: u64,
}

#[derive(Debug, Serialize)]
struct PlanReport {
    budget_ms: u32,
    chosen: &'static str,
    predictions: Vec<Prediction>,
    replans: u32,
    switches: Vec<SwitchReport>,
}

#[derive(Debug, Serialize)]
struct Prediction {
    filter: &'static str,
    ms: u32,
    mib: u32,
}

#[derive(Debug, Serialize)]
struct SwitchReport {
    at_ms: u32,
    from: &'static str,
    to: &'static str,
    pass: u8,
    pages_visited: u32,
    projected_ms: u32,
}

#[derive(Debug, Serialize)]
struct CodecReport {
    codec: &'static str,
    /// Bytes of the data area the chunks below the watermark take.
    stored_bytes: u64,
    /// At arming: stored bytes per stream byte ×1024 for the chosen filter,
    /// the codec's rate (MiB/s) and the stack one compression took.
    share_x1024: u32,
    mib_s: u32,
    stack_bytes: u32,
}

#[derive(Debug, Serialize)]
struct CensusReport {
    kernel_pages: u64,
    cache_pages: u64,
    user_pages: u64,
    free_pages: u64,
    zero_pages: u64,
}

#[derive(Debug, Serialize)]
struct RangeReport {
    phys: u64,
    len: u64,
    stream_offset: u64,
}

#[derive(Debug, Serialize)]
struct DiskReport {
    disk: String,
    label: Result<LabelInfo, String>,
    header: Option<HeaderReport>,
    header_copies: [Result<u64, String>; 2],
    /// An encrypted dump: the public key its data key is sealed for (or
    /// why the key block cannot be read).
    sealed_for: Option<Result<String, String>>,
    /// The key its chunks are encrypted with: "per-arming" (derived from
    /// the data key for this arming: key block version 2) or "data-key"
    /// (the data key itself, as modules before version 2 of the key block
    /// did: a replayed dump_key would reuse its keystream).
    chunk_key: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct LabelInfo {
    cluster_id: u32,
    node_id: u16,
    disk_uuid: String,
    usable_bytes: u64,
    created_unix: u64,
}

pub fn flag_names(bits: u32) -> Vec<&'static str> {
    let names = [
        (flags::VOLATILE_CACHE, "volatile-write-cache"),
        (flags::SECOND_PANIC, "second-panic"),
        (flags::IO_ERROR, "io-error"),
        (flags::DISK_TOO_SMALL, "disk-too-small"),
        (flags::SAVED_TRUNCATED, "saved-truncated"),
        (flags::STOPPED_CPU_REGISTERS, "stopped-cpu-registers"),
        (flags::BUDGET_CUT, "budget-cut"),
        (flags::ENCRYPTED, "encrypted"),
    ];
    names.iter().filter(|(bit, _)| bits & bit != 0).map(|(_, name)| *name).collect()
}

fn header_report(h: &Header<Vec<u8>>) -> HeaderReport {
    let percent = if h.capacity() == 0 { 0.0 } else { 100.0 * h.watermark() as f64 / h.dump_bytes() as f64 };
    HeaderReport {
        state: h.state().as_str(),
        generation: h.generation(),
        flags: flag_names(h.flags()),
        kernel_release: String::from_utf8_lossy(h.kernel_release()).into_owned(),
        panic_message: String::from_utf8_lossy(h.panic_message()).into_owned(),
        panic_cpu: (h.panic_cpu() != coretakeover_core::header::NO_CPU).then_some(h.panic_cpu()),
        panic_ns: h.panic_ns(),
        cpu_notes: (0..h.cpu_count()).map(|c| h.cpu_note(c).map(|p| format!("{p:#x}"))).collect(),
        dump_bytes: h.dump_bytes(),
        capacity: h.capacity(),
        watermark: h.watermark(),
        percent: (percent * 10.0).round() / 10.0,
        unreadable_pages: h.unreadable_pages(),
        ranges: h.range_count(),
        ram_ranges: h
            .ranges()
            .map(|r| RangeReport { phys: r.phys, len: r.len, stream_offset: r.disk_offset.saturating_sub(h.data_offset()) })
            .collect(),
        chunk_size: h.chunk_size(),
        chunk_checksum: h.chunk_checksum().as_str(),
        crc32c_mib_s: h.checksum_rates_mib_s().0,
        xxh64_mib_s: h.checksum_rates_mib_s().1,
        rehearsal_mib_s: h.rehearsal().0,
        predicted_dump_ms: h.rehearsal().1,
        filter: h.filter().as_str(),
        census: h.has_page_map().then(|| {
            let c = h.census();
            CensusReport { kernel_pages: c[0], cache_pages: c[1], user_pages: c[2], free_pages: c[3], zero_pages: c[4] }
        }),
        plan: h.has_page_map().then(|| {
            let (budget_ms, chosen, ms, mib) = h.budget();
            PlanReport {
                budget_ms,
                chosen: chosen.as_str(),
                predictions: Filter::ALL
                    .iter()
                    .filter(|f| ms[**f as usize] > 0 || mib[**f as usize] > 0)
                    .map(|f| Prediction { filter: f.as_str(), ms: ms[*f as usize], mib: mib[*f as usize] })
                    .collect(),
                replans: h.switch_count(),
                switches: (0..MAX_SWITCHES)
                    .filter_map(|i| h.switch(i))
                    .map(|s| SwitchReport {
                        at_ms: s.at_ms,
                        from: s.from.as_str(),
                        to: s.to.as_str(),
                        pass: s.pass,
                        pages_visited: s.visited,
                        projected_ms: s.projected_ms,
                    })
                    .collect(),
            }
        }),
        calibration: h.calibration(),
        codec: h.has_chunk_table().then(|| {
            let (share, mib_s, stack_bytes) = h.codec_probe();
            CodecReport { codec: h.codec().as_str(), stored_bytes: h.stored_bytes(), share_x1024: share, mib_s, stack_bytes }
        }),
        beacon_latency_us: h.beacon_latency_ns() / 1000,
        data_offset: h.data_offset(),
        page_offset: h.page_offset(),
    }
}

impl Report for DiskReport {
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "disk:             {}", self.disk)?;
        match &self.label {
            Ok(l) => writeln!(
                out,
                "label:            cluster {} node {}, uuid {}, {} MiB",
                l.cluster_id,
                l.node_id,
                l.disk_uuid,
                l.usable_bytes >> 20
            )?,
            Err(e) => writeln!(out, "label:            none ({e})")?,
        }
        for (name, copy) in ["A", "B"].iter().zip(&self.header_copies) {
            match copy {
                Ok(generation) => writeln!(out, "header copy {name}:    generation {generation}")?,
                Err(e) => writeln!(out, "header copy {name}:    {e}")?,
            }
        }
        let Some(h) = &self.header else {
            return writeln!(out, "dump header:      none");
        };
        writeln!(out, "dump state:       {} (generation {})", h.state, h.generation)?;
        match &self.sealed_for {
            Some(Ok(key)) => writeln!(
                out,
                "encrypted for:    {key} ({})",
                if self.chunk_key == Some("per-arming") { "chunk key derived for this arming" } else { "chunks under the data key itself: an older module" }
            )?,
            Some(Err(e)) => writeln!(out, "encrypted for:    unknown ({e})")?,
            None => {}
        }
        if !h.flags.is_empty() {
            writeln!(out, "flags:            {}", h.flags.join(", "))?;
        }
        writeln!(out, "kernel:           {}", crate::output::printable(&h.kernel_release))?;
        if let Some(cpu) = h.panic_cpu {
            writeln!(out, "panic:            \"{}\" on CPU {cpu}", crate::output::printable(&h.panic_message))?;
        }
        writeln!(
            out,
            "dump:             {} of {} MiB written ({}%), {} MiB fit on the disk",
            h.watermark >> 20,
            h.dump_bytes >> 20,
            h.percent,
            h.capacity >> 20
        )?;
        write!(out, "layout:           {} RAM ranges, {} KiB chunks, {} checksums", h.ranges, h.chunk_size >> 10, h.chunk_checksum)?;
        if h.crc32c_mib_s > 0 || h.xxh64_mib_s > 0 {
            write!(out, " (measured at arming: crc32c {} MiB/s, xxh64 {} MiB/s)", h.crc32c_mib_s, h.xxh64_mib_s)?;
        }
        writeln!(out)?;
        if let Some(c) = &h.codec {
            writeln!(
                out,
                "codec:            {} ({} MiB on the disk; at arming: {}/1024 of the bytes stored, {} MiB/s, {} bytes of stack)",
                c.codec,
                c.stored_bytes >> 20,
                c.share_x1024,
                c.mib_s,
                c.stack_bytes
            )?;
        }
        if let Some(c) = &h.census {
            writeln!(
                out,
                "page filter:      {} (pages: kernel {} MiB, cache {} MiB, user {} MiB, free {} MiB; {} zero pages dropped)",
                h.filter,
                c.kernel_pages >> 8,
                c.cache_pages >> 8,
                c.user_pages >> 8,
                c.free_pages >> 8,
                c.zero_pages
            )?;
        }
        if let Some(p) = &h.plan {
            let table: Vec<String> = p.predictions.iter().map(|x| format!("{} {} ms {} MiB", x.filter, x.ms, x.mib)).collect();
            let budget = if p.budget_ms > 0 { format!("budget {} ms", p.budget_ms) } else { "no budget".into() };
            writeln!(out, "dump plan:        {budget}; chose {} ({})", p.chosen, table.join(", "))?;
            for s in &p.switches {
                writeln!(
                    out,
                    "re-planned:       at {} ms (pass {}, {} pages visited): {} -> {}, projected {} ms",
                    s.at_ms, s.pass, s.pages_visited, s.from, s.to, s.projected_ms
                )?;
            }
            if p.replans as usize > p.switches.len() {
                writeln!(out, "re-planned:       {} more times (not logged)", p.replans as usize - p.switches.len())?;
            }
        }
        if let Some((predicted, measured, factor)) = h.calibration {
            writeln!(out, "calibration:      the earlier dump took {measured} ms against {predicted} ms predicted: predictions scaled by {factor}/1024")?;
        }
        if h.rehearsal_mib_s > 0 {
            writeln!(
                out,
                "prediction:       {} MiB/s in arming's rehearsal: the whole dump in {:.1} s",
                h.rehearsal_mib_s,
                f64::from(h.predicted_dump_ms) / 1000.0
            )?;
        }
        Ok(())
    }
}

fn read_disk(path: &Path) -> Result<DiskReport, Error> {
    let disk = Disk::open(path, false)?;
    let inspection = Inspection::read(&disk)?;
    let label = inspection.label.as_ref().map_err(|e| e.to_string()).map(|l| LabelInfo {
        cluster_id: l.cluster.get(),
        node_id: l.node.get(),
        disk_uuid: UuidText(&l.disk_uuid).to_string(),
        usable_bytes: l.usable_bytes,
        created_unix: l.created_unix,
    });
    let copy = |c: &Result<Header<Vec<u8>>, _>| match c {
        Ok(h) => Ok(h.generation()),
        Err(e) => Err(format!("{e}")),
    };
    let sealed_for = inspection.header().filter(|h| h.flags() & flags::ENCRYPTED != 0).map(|h| {
        use coretakeover_core::dumpkey::{KeyBlock, KEY_BLOCK_OFFSET, KEY_BLOCK_SIZE};
        let raw = disk.read(KEY_BLOCK_OFFSET, KEY_BLOCK_SIZE).map_err(|e| e.to_string())?;
        let block = KeyBlock::decode(&raw, &crate::crc::HostCrc).map_err(|e| e.to_string())?;
        if block.disk_uuid != h.disk_uuid() || block.armed_ns != h.armed_ns() {
            return Err("the key block belongs to another arming".to_string());
        }
        Ok((crate::dumpkey::hex(&block.public), if block.per_arming { "per-arming" } else { "data-key" }))
    });
    let (sealed_for, chunk_key) = match sealed_for {
        Some(Ok((public, chunk_key))) => (Some(Ok(public)), Some(chunk_key)),
        Some(Err(e)) => (Some(Err(e)), None),
        None => (None, None),
    };
    Ok(DiskReport {
        disk: path.display().to_string(),
        label,
        sealed_for,
        chunk_key,
        header: inspection.header().map(header_report),
        header_copies: [copy(&inspection.copies[0]), copy(&inspection.copies[1])],
    })
}

#[derive(Debug, Serialize, PartialEq, Default)]
struct StatusReport {
    version: String,
    state: String,
    cluster_id: Option<String>,
    node_id: Option<String>,
    registration_key: Option<String>,
    partner_id: Option<String>,
    dump_state: Option<String>,
    dump_disk: Option<String>,
    takeover_state: Option<String>,
    partner_state: Option<String>,
    service_disks: Vec<String>,
    partner_disks: Vec<String>,
    partner_dump_disk: Option<String>,
    /// The armed dump's plan: its budget and every filter the model
    /// considered (netlink only; a dump with a page map).
    dump_budget_ms: Option<u64>,
    /// The armed dump's codec (format version 3) and whether it is encrypted.
    dump_codec: Option<String>,
    dump_encrypted: Option<bool>,
    dump_plan: Vec<serde_json::Map<String, serde_json::Value>>,
    /// What the last takeover did (netlink only).
    last_takeover: Option<TakeoverSummary>,
    /// The services `coretakeover agent` runs here (its state file).
    services: Option<serde_json::Value>,
}

impl Report for StatusReport {
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let unset = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let list = |v: &[String]| if v.is_empty() { "-".to_string() } else { v.join(" ") };
        writeln!(out, "module version:   {}", self.version)?;
        writeln!(out, "state:            {}", self.state)?;
        writeln!(out, "cluster id:       {}", unset(&self.cluster_id))?;
        writeln!(out, "node id:          {}", unset(&self.node_id))?;
        writeln!(out, "registration key: {}", unset(&self.registration_key))?;
        writeln!(out, "dump disk:        {} {}", unset(&self.dump_state), self.dump_disk.as_deref().unwrap_or(""))?;
        if self.dump_codec.is_some() || self.dump_encrypted == Some(true) {
            writeln!(
                out,
                "dump format:      codec {}{}",
                self.dump_codec.as_deref().unwrap_or("none"),
                if self.dump_encrypted == Some(true) { ", encrypted" } else { "" }
            )?;
        }
        if !self.dump_plan.is_empty() {
            let budget = match self.dump_budget_ms {
                Some(b) if b > 0 => format!("budget {b} ms"),
                _ => "no budget".into(),
            };
            writeln!(out, "dump plan:        {budget}")?;
            for row in &self.dump_plan {
                let text = |k: &str| row.get(k).and_then(serde_json::Value::as_str).unwrap_or("?").to_string();
                let num = |k: &str| row.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
                writeln!(out, "  {:<9} {:>7} ms {:>6} MiB  {}", text("filter"), num("predicted_ms"), num("predicted_mib"), text("verdict"))?;
            }
        }
        writeln!(out, "service disks:    {}", list(&self.service_disks))?;
        writeln!(out, "partner id:       {}", unset(&self.partner_id))?;
        writeln!(out, "partner disks:    {}", list(&self.partner_disks))?;
        writeln!(out, "partner dump:     {}", unset(&self.partner_dump_disk))?;
        writeln!(out, "partner:          {}", unset(&self.partner_state))?;
        writeln!(out, "takeover:         {}", unset(&self.takeover_state))?;
        if let Some(t) = &self.last_takeover {
            writeln!(
                out,
                "last takeover:    {} of {} disks held in {} us ({})",
                t.disks_held.unwrap_or(0),
                t.disks_total.unwrap_or(0),
                t.duration_us.unwrap_or(0),
                t.reason.as_deref().unwrap_or("?")
            )?;
            t.write_disks(out, "  ")?;
        }
        for s in self.services.as_ref().and_then(|v| v.as_array()).into_iter().flatten() {
            let text = |k: &str| s.get(k).and_then(serde_json::Value::as_str).unwrap_or("?").to_string();
            let why = s.get("why").and_then(serde_json::Value::as_str).map_or(String::new(), |w| format!(": {w}"));
            writeln!(out, "service {} ({}): {}{why} [{}]", text("name"), text("role"), text("state"), text("reason"))?;
        }
        Ok(())
    }
}

/// The agent's services, if an agent runs.
fn agent_services() -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(crate::agent::STATE).ok()?;
    serde_json::from_str::<serde_json::Value>(&text).ok()?.get("services").cloned()
}

/// The status over generic netlink (`get-status`).
fn read_netlink() -> Result<StatusReport, Error> {
    let mut client = crate::genl::Client::connect()?;
    let m = client.request(crate::genl::cmd::GET_STATUS, vec![])?;
    let text = |name: &str| m.str(name).map(str::to_string);
    let number = |name: &str| m.num(name).map(|n| n.to_string());
    let paths = |name: &str| m.nests(name).iter().filter_map(|d| d["path"].as_str().map(str::to_string)).collect();
    Ok(StatusReport {
        version: text("version").unwrap_or_default(),
        state: text("state").unwrap_or_default(),
        cluster_id: number("cluster-id"),
        node_id: number("node-id"),
        registration_key: m.num("registration-key").map(|k| format!("{k:#018x}")),
        partner_id: number("partner-id"),
        dump_state: text("dump-state"),
        dump_disk: text("dump-disk"),
        takeover_state: text("takeover-state"),
        partner_state: text("partner-state"),
        service_disks: paths("service-disk"),
        partner_disks: paths("partner-disk"),
        partner_dump_disk: text("partner-dump-disk"),
        dump_budget_ms: m.num("dump-budget-ms"),
        dump_codec: text("dump-codec"),
        dump_encrypted: m.num("dump-encrypted").map(|v| v == 1),
        dump_plan: m.nests("dump-plan-row"),
        last_takeover: TakeoverSummary::of(&m),
        services: agent_services(),
    })
}

/// Reads one attribute; the module writes an empty line for an unset value.
fn attribute(dir: &Path, name: &str) -> Result<Option<String>, Error> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path, source })?;
    let text = text.trim();
    Ok((!text.is_empty()).then(|| text.to_string()))
}

fn read(dir: &Path) -> Result<StatusReport, Error> {
    if !dir.is_dir() {
        return Err(Error::NotLoaded(dir.to_path_buf()));
    }
    let required = |name| attribute(dir, name).map(Option::unwrap_or_default);
    let optional = |name| attribute(dir, name).or(Ok::<_, Error>(None));
    Ok(StatusReport {
        version: required("version")?,
        state: required("state")?,
        cluster_id: attribute(dir, "cluster_id")?,
        node_id: attribute(dir, "node_id")?,
        registration_key: attribute(dir, "registration_key")?,
        partner_id: optional("partner_id")?,
        dump_state: optional("dump_state")?,
        dump_disk: optional("dump_disk")?,
        takeover_state: optional("takeover_state")?,
        partner_state: optional("partner_state")?,
        service_disks: optional("service_disks")?.map(|l| l.split_whitespace().map(str::to_string).collect()).unwrap_or_default(),
        partner_disks: optional("partner_disks")?.map(|l| l.split_whitespace().map(str::to_string).collect()).unwrap_or_default(),
        partner_dump_disk: optional("partner_dump_disk")?,
        dump_budget_ms: None,
        dump_codec: None,
        dump_encrypted: None,
        dump_plan: Vec::new(),
        last_takeover: None,
        services: None,
    })
}

pub fn run(args: &Args, out: &mut dyn Write) -> Result<(), Error> {
    match (&args.disk, &args.sysfs) {
        (Some(disk), _) => emit(&read_disk(disk)?, args.json, out),
        (None, Some(dir)) => emit(&read(dir)?, args.json, out),
        (None, None) => emit(&read_netlink()?, args.json, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_sysfs(test: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("coretakeover-status-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn reads_a_configured_node() {
        let dir = fake_sysfs("configured", &[
            ("version", "0.1.0\n"),
            ("state", "configured\n"),
            ("cluster_id", "7\n"),
            ("node_id", "1\n"),
            ("registration_key", "0x4354000000070001\n"),
        ]);
        let report = read(&dir).unwrap();
        assert_eq!(report.state, "configured");
        assert_eq!(report.registration_key.as_deref(), Some("0x4354000000070001"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unset_values_are_none_and_missing_module_is_reported() {
        let dir = fake_sysfs("unset", &[
            ("version", "0.1.0\n"),
            ("state", "unconfigured\n"),
            ("cluster_id", "\n"),
            ("node_id", "\n"),
            ("registration_key", "\n"),
        ]);
        assert_eq!(read(&dir).unwrap().cluster_id, None);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(read(&dir), Err(Error::NotLoaded(_))));
    }
}
