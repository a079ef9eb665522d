// SPDX-License-Identifier: GPL-2.0

//! `coretakeover apply`, `boot` and `stop`: the node configured from
//! `/etc/coretakeover.conf`, as the boot service (`coretakeover.service`)
//! runs them.
//!
//! `apply` checks the whole configuration before it changes anything: the
//! file (`config.rs`), then every disk it names (present, a block device,
//! the coredump disks labeled for this node and for the partner, no service
//! disk carrying a coredump label). Only then does it tell the module, in
//! the order that keeps the node protected: the kernel's register saving,
//! the policy knobs, the ids, arming (the heartbeat starts), the partner
//! (watched), and last this node's own service disks. Whatever already is
//! as the file says is left alone, so `apply` can run again at any time
//! (`systemctl reload coretakeover`). Own service disks that the partner
//! holds (it took them over, and has not given them back yet) are reported,
//! not an error: the node is armed and watched, and after the giveback
//! `apply` reserves them.
//!
//! `boot` first saves an unsaved dump of this node's coredump disk under
//! `dump.crash_dir` (a panic's dump is otherwise refused by arming), then
//! applies. `stop` disarms: the heartbeat says "stopped", and the partner
//! never takes over a node that stopped on purpose.

use crate::config::{Config, BY_LABEL, DEFAULT_PATH};
use crate::coredump::Inspection;
use crate::crc::HostCrc;
use crate::disk::Disk;
use crate::error::Error;
use crate::genl::{self, cmd, Attr, Client, Message};
use crate::output::{emit, Report};
use crate::status::SYSFS_DIR;
use coretakeover_core::ids::{ClusterId, NodeId};
use coretakeover_core::label::{Label, LABEL_OFFSET, LABEL_SIZE};
use serde::Serialize;
use std::io::Write;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// Configure the module from the configuration file.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The configuration file.
    #[arg(long, default_value = DEFAULT_PATH)]
    config: PathBuf,
    /// Check the file and the disks it names, change nothing.
    #[arg(long)]
    check: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Stop protecting this node on purpose: disarm its coredump disk.
#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// One thing `apply` looked at, and what it did.
#[derive(Debug, Serialize)]
struct Step {
    what: String,
    /// "set", "unchanged", "checked", "waiting" (for a giveback).
    result: &'static str,
    detail: Option<String>,
}

#[derive(Debug, Serialize)]
struct ApplyReport {
    config: String,
    dump_disk: String,
    partner_dump_disk: Option<String>,
    steps: Vec<Step>,
    /// Set when this node's service disks are held by the partner.
    waiting_for_giveback: Option<String>,
}

impl Report for ApplyReport {
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for s in &self.steps {
            match &s.detail {
                Some(d) => writeln!(out, "{:<28} {} ({d})", s.what, s.result)?,
                None => writeln!(out, "{:<28} {}", s.what, s.result)?,
            }
        }
        if let Some(why) = &self.waiting_for_giveback {
            writeln!(out, "service disks held by the partner: {why}; after its giveback, run coretakeover apply again")?;
        }
        Ok(())
    }
}

/// The disks the configuration names, found and checked.
struct Disks {
    dump: PathBuf,
    partner_dump: Option<PathBuf>,
}

/// The coredump label on `path`, if it carries one.
fn label_of(path: &Path) -> Result<Option<Label>, Error> {
    let disk = Disk::open(path, false)?;
    let block = disk.read(LABEL_OFFSET, LABEL_SIZE)?;
    Ok(Label::decode(&block, &HostCrc).ok())
}

/// Every whole disk of the machine (no partitions), as /dev paths, but
/// removable ones (`sysfs_block`: /sys/class/block).
fn whole_disks(sysfs_block: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(sysfs_block) else { return vec![] };
    let mut disks: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.path().join("partition").exists() && removable(&e.path()).is_none())
        .map(|e| Path::new("/dev").join(e.file_name()))
        .collect();
    disks.sort();
    disks
}

/// Why the disk at `sys` (its /sys/class/block entry) is removable, if it
/// is: it says so (`removable`), or it hangs off a USB bus (USB disks often
/// say they are fixed). A coredump disk is never one: a disk someone plugs
/// in, carrying a copy of a label, must not receive a node's RAM.
fn removable(sys: &Path) -> Option<&'static str> {
    if std::fs::read_to_string(sys.join("removable")).is_ok_and(|r| r.trim() == "1") {
        return Some("a removable disk");
    }
    let device = std::fs::canonicalize(sys).ok()?;
    device.components().any(|c| c.as_os_str().to_str().is_some_and(|c| c.starts_with("usb"))).then_some("a USB disk")
}

/// The disk's own identity, read from sysfs (`sys`: its /sys/class/block
/// entry): its WWID (SCSI, NVMe), a device-mapper map's UUID (a multipath
/// map: "mpath-" and the WWID), or its serial (virtio). What a copy of the
/// label cannot carry.
fn disk_id(sys: &Path) -> Option<String> {
    ["wwid", "device/wwid", "dm/uuid", "serial"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(sys.join(f)).ok())
        .map(|t| t.trim().to_string())
        .find(|t| !t.is_empty())
}

/// The /sys/class/block entry of the block device at `path`.
fn sysfs_entry(path: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let rdev = std::fs::metadata(path).ok()?.rdev();
    let link = PathBuf::from(format!("/sys/dev/block/{}:{}", libc::major(rdev), libc::minor(rdev)));
    std::fs::canonicalize(link).ok()
}

/// The one disk labeled for (cluster, node); with several (the paths of a
/// multipathed disk), the device-mapper one.
pub fn find_labeled(cluster: ClusterId, node: NodeId, id: Option<&str>) -> Result<PathBuf, Error> {
    let sys = Path::new("/sys/class/block");
    let mut found: Vec<PathBuf> = whole_disks(sys)
        .into_iter()
        .filter(|d| matches!(label_of(d), Ok(Some(l)) if l.belongs_to(cluster, node)))
        .filter(|d| id.is_none_or(|id| d.file_name().and_then(|n| disk_id(&sys.join(n))).as_deref() == Some(id)))
        .collect();
    let mapped: Vec<&PathBuf> = found.iter().filter(|d| d.to_string_lossy().starts_with("/dev/dm-")).collect();
    if found.len() > 1 && mapped.len() == 1 {
        return Ok(mapped[0].clone());
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::Refused {
            path: PathBuf::from("/sys/class/block"),
            reason: match id {
                Some(id) => format!("no fixed disk with id {id:?} carries the coredump label of cluster {cluster} node {node}"),
                None => format!("no fixed disk carries the coredump label of cluster {cluster} node {node} (coretakeover label)"),
            },
        }),
        _ => Err(Error::Refused {
            path: found[0].clone(),
            reason: format!(
                "{} disks carry the coredump label of cluster {cluster} node {node} ({}): give the path",
                found.len(),
                found.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

/// A configured path: it must exist and be a block device.
fn block_device(name: &str, path: &Path) -> Result<(), Error> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    if !meta.file_type().is_block_device() {
        return Err(Error::Refused { path: path.to_path_buf(), reason: format!("{name}: not a block device") });
    }
    Ok(())
}

/// A coredump disk reference (a path or "label") for (cluster, node), and
/// the disk's own identity (`disk_id`) if the configuration pins it. Never
/// a removable or USB disk.
fn coredump_disk(name: &str, given: &str, cluster: ClusterId, node: NodeId, id: Option<&str>) -> Result<PathBuf, Error> {
    if given == BY_LABEL {
        return find_labeled(cluster, node, id);
    }
    let path = PathBuf::from(given);
    block_device(name, &path)?;
    let sys = sysfs_entry(&path);
    if let Some(why) = sys.as_deref().and_then(removable) {
        return Err(Error::Refused { path, reason: format!("{name}: {why}: never a coredump disk") });
    }
    let found = sys.as_deref().and_then(disk_id);
    match label_of(&path)? {
        Some(l) if l.belongs_to(cluster, node) && id.is_some_and(|id| found.as_deref() != Some(id)) => Err(Error::Refused {
            reason: format!(
                "{name}: this disk's id is {}, the configuration pins {:?}: a copy of the label, not the coredump disk",
                found.map_or("unknown".to_string(), |f| format!("{f:?}")),
                id.unwrap_or_default()
            ),
            path,
        }),
        Some(l) if l.belongs_to(cluster, node) => Ok(path),
        Some(l) => Err(Error::Refused {
            path,
            reason: format!("{name}: labeled for cluster {} node {}, not cluster {cluster} node {node}", l.cluster, l.node),
        }),
        None => Err(Error::NotCoredumpDisk { path, reason: format!("{name}: no coredump label") }),
    }
}

/// Everything the configuration names, checked on the disks themselves.
fn check_disks(config: &Config) -> Result<Disks, Error> {
    let cluster = ClusterId::new(config.cluster_id).ok_or_else(|| Error::InvalidArgument { what: "cluster_id", reason: "0".into() })?;
    let node = NodeId::new(config.node_id).ok_or_else(|| Error::InvalidArgument { what: "node_id", reason: "0".into() })?;
    let dump = coredump_disk("dump.disk", &config.dump.disk, cluster, node, config.dump.disk_id.as_deref())?;
    let mut partner_dump = None;
    let mut service = config.service.disks.iter().map(|d| ("service.disks", d)).collect::<Vec<_>>();
    if let Some(p) = &config.partner {
        let partner = NodeId::new(p.node_id).ok_or_else(|| Error::InvalidArgument { what: "partner.node_id", reason: "0".into() })?;
        if let Some(disk) = &p.dump_disk {
            partner_dump = Some(coredump_disk("partner.dump_disk", disk, cluster, partner, p.dump_disk_id.as_deref())?);
        }
        service.extend(p.disks.iter().map(|d| ("partner.disks", d)));
    }
    for (name, disk) in service {
        block_device(name, disk)?;
        if let Some(l) = label_of(disk)? {
            return Err(Error::Refused {
                path: disk.clone(),
                reason: format!("{name}: it carries the coredump label of cluster {} node {}", l.cluster, l.node),
            });
        }
    }
    Ok(Disks { dump, partner_dump })
}

/// Writes `value` to knob `name` of the module's sysfs directory.
fn write_knob(name: &str, value: &str) -> Result<(), Error> {
    let path = Path::new(SYSFS_DIR).join(name);
    std::fs::write(&path, value).map_err(|source| Error::Io { path, source })
}

/// The public key the coredump disk's key block says its armed dump is
/// sealed for, if the disk holds one.
fn armed_for(disk: &Path) -> Option<[u8; 32]> {
    use coretakeover_core::dumpkey::{KeyBlock, KEY_BLOCK_OFFSET, KEY_BLOCK_SIZE};
    let d = crate::disk::Disk::open(disk, false).ok()?;
    let raw = d.read(KEY_BLOCK_OFFSET, KEY_BLOCK_SIZE).ok()?;
    KeyBlock::decode(&raw, &crate::crc::HostCrc).ok().map(|b| b.public)
}

fn read_knob(name: &str) -> Option<String> {
    std::fs::read_to_string(Path::new(SYSFS_DIR).join(name)).ok().map(|s| s.trim().to_string())
}

/// The same disk, whatever path names it.
fn same_disk(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The paths of the module's disk list `name` (get-status).
fn listed(status: &Message, name: &str) -> Vec<PathBuf> {
    status.nests(name).iter().filter_map(|d| d["path"].as_str().map(PathBuf::from)).collect()
}

fn same_list(a: &[PathBuf], b: &[PathBuf]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.iter().any(|y| same_disk(x, y)))
}

fn step(what: &str, result: &'static str, detail: Option<String>) -> Step {
    Step { what: what.to_string(), result, detail }
}

/// Applies `config` to the module.
fn apply(config: &Config, disks: &Disks, steps: &mut Vec<Step>) -> Result<Option<String>, Error> {
    let mut client = Client::connect()?;
    let status = client.request(cmd::GET_STATUS, vec![])?;
    let set = |client: &mut Client, attrs: Vec<Attr>| client.request(cmd::SET_CONFIG, attrs).map(drop);

    // The registers of the CPUs a panic stops.
    let param = Path::new("/sys/module/kernel/parameters/crash_kexec_post_notifiers");
    if config.dump.cpu_registers {
        let on = std::fs::read_to_string(param).map(|v| v.trim() == "Y").unwrap_or(false);
        if !on {
            std::fs::write(param, "Y").map_err(|source| Error::Io { path: param.to_path_buf(), source })?;
        }
        steps.push(step("crash_kexec_post_notifiers", if on { "unchanged" } else { "set" }, Some("Y".into())));
    }

    // The policy knobs (bios in flight, the checksum, the page filter and the
    // budget are taken when a disk is armed: a change re-arms it).
    let knobs = [
        ("interval_ms", config.policy.interval_ms.map(|v| v.to_string())),
        ("watch_interval_ms", config.policy.watch_interval_ms.map(|v| v.to_string())),
        ("stale_timeout_ms", config.policy.stale_timeout_ms.map(|v| v.to_string())),
        ("auto_takeover", config.policy.auto_takeover.map(|v| u8::from(v).to_string())),
        ("auto_takeover_on_stale", config.policy.auto_takeover_on_stale.map(|v| u8::from(v).to_string())),
        ("self_fence", config.policy.self_fence.clone()),
        ("dump_bios_in_flight", config.dump.bios_in_flight.map(|v| v.to_string())),
        ("dump_checksum", config.dump.checksum.clone()),
        ("dump_filter", config.dump.filter.clone()),
        ("dump_budget_ms", config.dump.budget_ms.map(|v| v.to_string())),
        ("dump_codec", config.dump.codec.clone()),
        ("dump_encrypt", Some(u8::from(config.dump.encrypt_to.is_some()).to_string())),
    ];
    let mut rearm = false;
    for (name, value) in knobs {
        let Some(value) = value else { continue };
        if read_knob(name).as_deref() == Some(value.as_str()) {
            steps.push(step(name, "unchanged", Some(value)));
        } else {
            write_knob(name, &value)?;
            rearm |= matches!(name, "dump_bios_in_flight" | "dump_checksum" | "dump_filter" | "dump_budget_ms" | "dump_codec" | "dump_encrypt");
            steps.push(step(name, "set", Some(value)));
        }
    }

    // Encrypted dumps: the public key every arming's data key is sealed
    // for; an armed disk sealed for another one is armed again.
    let encrypt_to = match &config.dump.encrypt_to {
        Some(path) => Some(crate::dumpkey::read_public(path)?),
        None => None,
    };
    if let Some(public) = &encrypt_to {
        if armed_for(&disks.dump).is_some_and(|armed| &armed != public.as_bytes()) {
            rearm = true;
            steps.push(step("dump_key", "changed", Some(crate::dumpkey::hex(public.as_bytes()))));
        }
    }

    // The ids: they cannot change while a disk is armed for the old ones.
    let armed = status.str("dump-state") == Some("armed");
    let ids_match = status.num("cluster-id") == Some(u64::from(config.cluster_id)) && status.num("node-id") == Some(u64::from(config.node_id));
    let disk_matches = armed && status.str("dump-disk").is_some_and(|d| same_disk(Path::new(d), &disks.dump));
    if armed && (!ids_match || !disk_matches || rearm) {
        write_knob("dump_disk", "none")?;
        steps.push(step("dump_disk", "disarmed", Some("to change what it was armed with".into())));
    }
    if ids_match {
        steps.push(step("ids", "unchanged", Some(format!("cluster {} node {}", config.cluster_id, config.node_id))));
    } else {
        set(&mut client, vec![Attr::U32(genl::number("cluster-id"), config.cluster_id), Attr::U32(genl::number("node-id"), u32::from(config.node_id))])?;
        steps.push(step("ids", "set", Some(format!("cluster {} node {}", config.cluster_id, config.node_id))));
    }

    // Arming: from here the heartbeat moves and a panic is dumped.
    if armed && ids_match && disk_matches && !rearm {
        steps.push(step("dump_disk", "unchanged", Some(disks.dump.display().to_string())));
    } else {
        if let Some(public) = &encrypt_to {
            // A fresh data key for this arming, sealed for the administrator.
            write_knob("dump_key", &crate::dumpkey::fresh_key_line(public)?)?;
            steps.push(step("dump_key", "set", Some(format!("sealed for {}", crate::dumpkey::hex(public.as_bytes())))));
        }
        write_knob("dump_disk", &disks.dump.to_string_lossy())?;
        steps.push(step("dump_disk", "armed", Some(disks.dump.display().to_string())));
    }

    // The partner: registered on its disks, its coredump disk watched.
    if let Some(p) = &config.partner {
        let watching = status.str("partner-dump-disk").map(PathBuf::from);
        if status.num("partner-id") == Some(u64::from(p.node_id)) {
            steps.push(step("partner_id", "unchanged", Some(p.node_id.to_string())));
        } else {
            if watching.is_some() {
                set(&mut client, vec![Attr::Str(genl::number("partner-dump-disk"), "none".into())])?;
            }
            set(&mut client, vec![Attr::U32(genl::number("partner-id"), u32::from(p.node_id))])?;
            steps.push(step("partner_id", "set", Some(p.node_id.to_string())));
        }
        if same_list(&listed(&status, "partner-disk"), &p.disks) {
            steps.push(step("partner_disks", "unchanged", Some(format!("{} disks", p.disks.len()))));
        } else if !p.disks.is_empty() {
            register_on_paths(config, &p.disks, steps)?;
            let attrs = p.disks.iter().map(|d| genl::disk_path("partner-disk", &d.to_string_lossy())).collect();
            set(&mut client, attrs)?;
            steps.push(step("partner_disks", "set", Some(format!("{} disks, registered", p.disks.len()))));
        }
        if let Some(disk) = &disks.partner_dump {
            let unchanged = status.num("partner-id") == Some(u64::from(p.node_id)) && watching.as_deref().is_some_and(|w| same_disk(w, disk));
            if unchanged {
                steps.push(step("partner_dump_disk", "unchanged", Some(disk.display().to_string())));
            } else {
                set(&mut client, vec![Attr::Str(genl::number("partner-dump-disk"), disk.to_string_lossy().into_owned())])?;
                steps.push(step("partner_dump_disk", "set", Some(disk.display().to_string())));
            }
        }
    }

    // This node's own service disks, reserved last: the partner may hold
    // them (a takeover it has not given back).
    let own = &config.service.disks;
    let fenced = status.str("takeover-state") == Some("fenced");
    if own.is_empty() {
        return Ok(None);
    }
    if same_list(&listed(&status, "service-disk"), own) && !fenced {
        steps.push(step("service_disks", "unchanged", Some(format!("{} disks", own.len()))));
        return Ok(None);
    }
    if let Some(why) = crate::agent::fenced_in_this_boot(Path::new(crate::agent::STATE)) {
        steps.push(step("service_disks", "waiting", Some(why.clone())));
        return Ok(Some(why));
    }
    register_on_paths(config, own, steps)?;
    let attrs = own.iter().map(|d| genl::disk_path("service-disk", &d.to_string_lossy())).collect();
    match set(&mut client, attrs) {
        Ok(()) => {
            steps.push(step("service_disks", "set", Some(format!("{} disks, reserved", own.len()))));
            Ok(None)
        }
        // EBUSY from reserving: another node holds them (the module's log
        // and the reason name it).
        Err(Error::Module { errno, message }) if errno == libc::EBUSY => {
            let why = message.unwrap_or_else(|| "held by another node".into());
            steps.push(step("service_disks", "waiting", Some(why.clone())));
            Ok(Some(why))
        }
        Err(e) => Err(e),
    }
}

/// Whether `disk` is a dm-multipath map (its device-mapper uuid starts
/// with `mpath-`, as multipathd names its maps).
pub fn multipath_map(disk: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(disk) else { return false };
    let (major, minor) = (libc::major(meta.rdev()), libc::minor(meta.rdev()));
    std::fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/dm/uuid")).is_ok_and(|u| u.starts_with("mpath-"))
}

/// Registers this node's key on every working path of each multipath map
/// among `disks`, with multipath-tools' `mpathpersist` (REGISTER AND IGNORE
/// EXISTING KEY, path by path). The kernel cannot do it safely: dm
/// registers on every path or, if one fails, unregisters from all. With
/// `reservation_key file` in multipath.conf, mpathpersist also gives the key
/// to multipathd, which registers it on a path that comes back.
fn register_on_paths(config: &Config, disks: &[PathBuf], steps: &mut Vec<Step>) -> Result<(), Error> {
    let maps: Vec<&PathBuf> = disks.iter().filter(|d| multipath_map(d)).collect();
    if maps.is_empty() {
        return Ok(());
    }
    let (Some(cluster), Some(node)) = (ClusterId::new(config.cluster_id), NodeId::new(config.node_id)) else {
        return Err(Error::InvalidArgument { what: "ids", reason: "cluster_id and node_id must be set".into() });
    };
    let key = coretakeover_core::keys::RegistrationKey::derive(cluster, node);
    for map in maps {
        let out = std::process::Command::new("mpathpersist")
            .args(["--out", "--register-ignore", &format!("--param-sark={key}")])
            .arg(map)
            .output()
            .map_err(|e| Error::Refused { path: map.clone(), reason: format!("a multipath map, and mpathpersist (multipath-tools) cannot run: {e}") })?;
        if !out.status.success() {
            let said = String::from_utf8_lossy(&out.stderr);
            let said = said.trim();
            return Err(Error::Refused {
                path: map.clone(),
                reason: format!("mpathpersist could not register {key} on its paths: {}", if said.is_empty() { "no message" } else { said }),
            });
        }
        steps.push(step("multipath", "registered", Some(format!("{}: {key} on every working path (mpathpersist)", map.display()))));
    }
    Ok(())
}

fn run_apply(config_path: &Path, check_only: bool, json: bool, out: &mut dyn Write) -> Result<(), Error> {
    let config = Config::load(config_path)?;
    let disks = check_disks(&config)?;
    let mut steps = vec![step("configuration", "checked", Some(config_path.display().to_string()))];
    // A coredump disk found by its label alone: pin it (what a copy of the
    // label on another disk could not match).
    if config.dump.disk_id.is_none() {
        match sysfs_entry(&disks.dump).as_deref().and_then(disk_id) {
            Some(id) => steps.push(step("dump.disk_id", "not pinned", Some(format!("add disk_id = {id:?} to [dump]")))),
            None => steps.push(step("dump.disk_id", "not pinned", Some("the disk has no WWID or serial to pin".into()))),
        }
    }
    let waiting = if check_only { None } else { apply(&config, &disks, &mut steps)? };
    let report = ApplyReport {
        config: config_path.display().to_string(),
        dump_disk: disks.dump.display().to_string(),
        partner_dump_disk: disks.partner_dump.as_ref().map(|p| p.display().to_string()),
        steps,
        waiting_for_giveback: waiting,
    };
    emit(&report, json, out)
}

pub fn run(args: &Args, out: &mut dyn Write) -> Result<(), Error> {
    run_apply(&args.config, args.check, args.json, out)
}

/// `boot`: save an unsaved dump of this node's coredump disk, then apply.
/// A dump that cannot be saved still lets the rest be applied (the partner
/// is watched; arming is refused while the dump is unsaved), and then fails.
pub fn run_boot(args: &Args, out: &mut dyn Write) -> Result<(), Error> {
    let config = Config::load(&args.config)?;
    let disks = check_disks(&config)?;
    let unsaved = {
        let disk = Disk::open(&disks.dump, false)?;
        Inspection::read(&disk)?.header().is_some_and(|h| h.state().holds_unsaved_dump())
    };
    let saved = if unsaved && !args.check {
        crate::savecore::save_to_crash_dir(&disks.dump, &config.dump.crash_dir, args.json, out)
    } else {
        Ok(())
    };
    let applied = run_apply(&args.config, args.check, args.json, out);
    saved.and(applied)
}

#[derive(Debug, Serialize)]
struct StopReport {
    disarmed: Option<String>,
}

impl Report for StopReport {
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        match &self.disarmed {
            Some(d) => writeln!(out, "disarmed {d}: the heartbeat says stopped; the partner will not take over"),
            None => writeln!(out, "no coredump disk was armed"),
        }
    }
}

/// `stop`: disarm, so that the partner sees "stopped" and never takes over.
pub fn run_stop(args: &StopArgs, out: &mut dyn Write) -> Result<(), Error> {
    if !Path::new(SYSFS_DIR).is_dir() {
        return Err(Error::NotLoaded(SYSFS_DIR.into()));
    }
    let armed = read_knob("dump_disk").filter(|d| !d.is_empty());
    if armed.is_some() {
        write_knob("dump_disk", "none")?;
    }
    emit(&StopReport { disarmed: armed }, args.json, out)
}

/// Identify a coredump disk by its label (for udev).
#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// The disk.
    disk: PathBuf,
    /// Print KEY=value lines for udev's IMPORT{program} (nothing for a disk
    /// without a coredump label).
    #[arg(long)]
    udev: bool,
}

/// `probe`: what coredump label a disk carries.
pub fn run_probe(args: &ProbeArgs, out: &mut dyn Write) -> Result<(), Error> {
    let label = match label_of(&args.disk) {
        Ok(label) => label,
        // udev asks about every disk, and some cannot be read (an empty
        // CD drive): for udev they simply carry no label.
        Err(_) if args.udev => None,
        Err(e) => return Err(e),
    };
    match (label, args.udev) {
        (Some(l), true) => {
            writeln!(out, "CORETAKEOVER_CLUSTER={}", l.cluster)?;
            writeln!(out, "CORETAKEOVER_NODE={}", l.node)?;
            writeln!(out, "CORETAKEOVER_UUID={}", coretakeover_core::label::UuidText(&l.disk_uuid))?;
            if let Some(id) = sysfs_entry(&args.disk).as_deref().and_then(disk_id).filter(|id| id.chars().all(|c| c.is_ascii_graphic())) {
                writeln!(out, "CORETAKEOVER_DISK_ID={id}")?;
            }
        }
        (None, true) => {}
        (Some(l), false) => writeln!(
            out,
            "{}: coredump disk of cluster {} node {}, id {}",
            args.disk.display(),
            l.cluster,
            l.node,
            sysfs_entry(&args.disk).as_deref().and_then(disk_id).map_or("unknown (no WWID or serial)".into(), |id| format!("{:?}", crate::output::printable(&id)))
        )?,
        (None, false) => writeln!(out, "{}: no coredump label", args.disk.display())?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removable_and_usb_disks_are_never_coredump_disks() {
        let root = std::env::temp_dir().join(format!("ct-sysblock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let devices = root.join("devices");
        let fixed = devices.join("pci0000:00/0000:00:05.0/virtio3/block/vdb");
        let usb = devices.join("pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sdc");
        let card = devices.join("pci0000:00/0000:00:1e.0/mmc_host/mmc0/block/mmcblk0");
        for d in [&fixed, &usb, &card] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join("removable"), "0\n").unwrap();
        }
        std::fs::write(card.join("removable"), "1\n").unwrap();
        let block = root.join("class/block");
        std::fs::create_dir_all(&block).unwrap();
        for d in [&fixed, &usb, &card] {
            std::os::unix::fs::symlink(d, block.join(d.file_name().unwrap())).unwrap();
        }
        assert_eq!(removable(&block.join("vdb")), None);
        assert_eq!(removable(&block.join("sdc")), Some("a USB disk"));
        assert_eq!(removable(&block.join("mmcblk0")), Some("a removable disk"));
        assert_eq!(whole_disks(&block), vec![PathBuf::from("/dev/vdb")]);
        std::fs::write(fixed.join("serial"), "coredump-a\n").unwrap();
        assert_eq!(disk_id(&block.join("vdb")).as_deref(), Some("coredump-a"));
        std::fs::create_dir_all(usb.join("device")).unwrap();
        std::fs::write(usb.join("device/wwid"), "naa.6001405c0ffee\n").unwrap();
        assert_eq!(disk_id(&block.join("sdc")).as_deref(), Some("naa.6001405c0ffee"));
        assert_eq!(disk_id(&block.join("mmcblk0")), None);
        std::fs::remove_dir_all(root).unwrap();
    }
}
