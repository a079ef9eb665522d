// SPDX-License-Identifier: GPL-2.0

//! `/etc/coretakeover.conf`: a node's whole configuration in one file (TOML),
//! as `coretakeover apply` and the boot service read it.
//!
//! ```toml
//! cluster_id = 7
//! node_id = 1
//!
//! [dump]
//! disk = "label"              # or a path: /dev/disk/by-coretakeover/cluster-7-node-1
//! disk_id = "coredump-a"      # the disk's own WWID or serial (coretakeover probe): pinned
//! crash_dir = "/var/crash"    # where an unsaved dump is saved at boot
//! bios_in_flight = 4
//! checksum = "auto"           # of each chunk: auto (the faster here), crc32c, xxh64
//! filter = "all"              # pages kept: all, no-free, no-cache, kernel
//! budget_ms = 0               # the dump's time budget: a leaner filter to meet it
//! codec = "none"              # chunk compression: none, lz4, zstd, auto
//! encrypt_to = "/etc/coretakeover/dump-key.pub"  # encrypted dumps (optional)
//! cpu_registers = true        # crash_kexec_post_notifiers
//!
//! [service]
//! disks = ["/dev/disk/by-id/wwn-0x6001405a...", "/dev/disk/by-id/wwn-0x6001405b..."]
//!
//! [partner]
//! node_id = 2
//! disks = ["/dev/disk/by-id/wwn-0x6001405c..."]
//! dump_disk = "label"
//! dump_disk_id = "naa.6001405c..."  # the partner's coredump disk's WWID or serial
//!
//! [policy]
//! interval_ms = 100
//! watch_interval_ms = 20
//! stale_timeout_ms = 2000
//! auto_takeover = true
//! auto_takeover_on_stale = true   # false under Pacemaker: silence is its call
//! self_fence = "panic"           # fenced while hung, then running again: off, panic, reboot
//!
//! [hooks]                     # what `coretakeover agent` runs
//! dir = "/etc/coretakeover/hooks.d"
//! start_timeout_s = 120
//! stop_timeout_s = 120
//! monitor_interval_s = 2
//! monitor_timeout_s = 20
//! ```
//!
//! With `[hooks]`, `service.name` and `partner.service` name the services
//! the hooks start and stop (the same names on both nodes).
//!
//! Every field is documented in the admin guide. An unknown key is an error
//! (a typo must not silently leave a default). [`Config::check`] finds
//! everything wrong that can be found without touching a disk; the module
//! checks the same again when it is told.

use crate::error::Error;
use coretakeover_core::checksum::ChecksumChoice;
use coretakeover_core::codec::CodecChoice;
use coretakeover_core::pagefilter::Filter;
use coretakeover_core::partner::SelfFence;
use coretakeover_core::ids::{ClusterId, NodeId};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where the configuration lives.
pub const DEFAULT_PATH: &str = "/etc/coretakeover.conf";
/// A coredump disk given as this is found by its label.
pub const BY_LABEL: &str = "label";
/// The most service disks per node (as the module).
pub const MAX_DISKS: usize = 64;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub cluster_id: u32,
    pub node_id: u16,
    pub dump: Dump,
    #[serde(default)]
    pub service: Service,
    pub partner: Option<Partner>,
    #[serde(default)]
    pub policy: Policy,
    pub hooks: Option<Hooks>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dump {
    /// This node's coredump disk: a path, or "label".
    pub disk: String,
    /// The disk's own identity, as `coretakeover probe` prints it (its WWID,
    /// or its serial): a disk carrying a copy of the label (a USB disk, a
    /// clone) is refused.
    pub disk_id: Option<String>,
    #[serde(default = "default_crash_dir")]
    pub crash_dir: PathBuf,
    pub bios_in_flight: Option<u32>,
    /// The chunk checksum: "auto", "crc32c" or "xxh64" (`dump_checksum`).
    pub checksum: Option<String>,
    /// The page filter: "all", "no-free", "no-cache" or "kernel" (`dump_filter`):
    /// the richest the dump may keep.
    pub filter: Option<String>,
    /// The dump's time budget in ms, 0 for none (`dump_budget_ms`).
    pub budget_ms: Option<u32>,
    /// The chunk codec: "none", "lz4", "zstd" or "auto" (`dump_codec`).
    pub codec: Option<String>,
    /// Encrypt every dump for the administrator's X25519 public key in
    /// this file (`coretakeover dump-key new`): a fresh data key, sealed
    /// for it, at every arming (`dump_encrypt` 1, `dump_key`).
    pub encrypt_to: Option<PathBuf>,
    /// Save every CPU's registers in a panic (crash_kexec_post_notifiers).
    #[serde(default = "yes")]
    pub cpu_registers: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// The service these disks carry, for the hooks.
    pub name: Option<String>,
    #[serde(default)]
    pub disks: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Partner {
    pub node_id: u16,
    /// The service the partner's disks carry, for the hooks.
    pub service: Option<String>,
    #[serde(default)]
    pub disks: Vec<PathBuf>,
    /// The partner's coredump disk, watched: a path, or "label".
    pub dump_disk: Option<String>,
    /// The partner's coredump disk's identity, as `dump.disk_id`.
    pub dump_disk_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub interval_ms: Option<u32>,
    pub watch_interval_ms: Option<u32>,
    pub stale_timeout_ms: Option<u32>,
    pub auto_takeover: Option<bool>,
    /// With `auto_takeover`, whether a stale heartbeat too starts a takeover.
    pub auto_takeover_on_stale: Option<bool>,
    /// What the node does once it knows its partner took its disks over
    /// while it ran: "off", "panic" or "reboot" (`self_fence`).
    pub self_fence: Option<String>,
}

/// The hook programs `coretakeover agent` runs, and their time limits.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    /// A directory of executables, run in name order (stop: reverse order).
    #[serde(default = "default_hooks_dir")]
    pub dir: PathBuf,
    #[serde(default = "default_start_timeout")]
    pub start_timeout_s: u32,
    #[serde(default = "default_start_timeout")]
    pub stop_timeout_s: u32,
    #[serde(default = "default_monitor_interval")]
    pub monitor_interval_s: u32,
    #[serde(default = "default_monitor_timeout")]
    pub monitor_timeout_s: u32,
    /// Consecutive failed monitors that mark a service failed.
    #[serde(default = "default_monitor_failures")]
    pub monitor_failures: u32,
}

impl Default for Hooks {
    fn default() -> Self {
        Self {
            dir: default_hooks_dir(),
            start_timeout_s: default_start_timeout(),
            stop_timeout_s: default_start_timeout(),
            monitor_interval_s: default_monitor_interval(),
            monitor_timeout_s: default_monitor_timeout(),
            monitor_failures: default_monitor_failures(),
        }
    }
}

fn default_hooks_dir() -> PathBuf {
    PathBuf::from("/etc/coretakeover/hooks.d")
}

fn default_start_timeout() -> u32 {
    120
}

fn default_monitor_interval() -> u32 {
    2
}

fn default_monitor_timeout() -> u32 {
    20
}

fn default_monitor_failures() -> u32 {
    3
}

/// A service name: what hooks get as an argument and use in file names.
pub fn check_service_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?}: a service name is 1 to 15 letters, digits, '-' or '_', starting with a letter or digit"))
    }
}

fn default_crash_dir() -> PathBuf {
    PathBuf::from("/var/crash")
}

fn yes() -> bool {
    true
}

/// A numeric policy setting: its sysfs knob and the values the module takes.
pub struct Knob {
    pub name: &'static str,
    pub min: u32,
    pub max: u32,
}

pub const INTERVAL: Knob = Knob { name: "interval_ms", min: 10, max: 10_000 };
pub const WATCH_INTERVAL: Knob = Knob { name: "watch_interval_ms", min: 10, max: 10_000 };
pub const STALE_TIMEOUT: Knob = Knob { name: "stale_timeout_ms", min: 100, max: 600_000 };
pub const BIOS_IN_FLIGHT: Knob = Knob { name: "dump_bios_in_flight", min: 1, max: 8 };
pub const BUDGET: Knob = Knob { name: "dump_budget_ms", min: 0, max: 3_600_000 };

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        let config = Self::parse(&text).map_err(|reason| Error::Config { path: path.to_path_buf(), reason })?;
        Ok(config)
    }

    /// Parses and checks a configuration's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.message().to_string() + &location(text, e.span()))?;
        config.check()?;
        Ok(config)
    }

    /// Everything that can be wrong without looking at a disk.
    pub fn check(&self) -> Result<(), String> {
        ClusterId::new(self.cluster_id).ok_or("cluster_id: 0 is not a cluster id")?;
        NodeId::new(self.node_id).ok_or("node_id: 0 is not a node id")?;
        check_disk_ref("dump.disk", &self.dump.disk)?;
        if let Some(id) = &self.dump.disk_id {
            check_disk_id(id).map_err(|e| format!("dump.disk_id: {e}"))?;
        }
        if let Some(c) = &self.dump.checksum {
            if ChecksumChoice::parse(c).is_none() || c.trim() != c {
                return Err(format!("dump.checksum: {c:?} is not one of \"auto\", \"crc32c\", \"xxh64\""));
            }
        }
        if let Some(f) = &self.dump.filter {
            if Filter::parse(f).is_none() || f.trim() != f {
                return Err(format!("dump.filter: {f:?} is not one of \"all\", \"no-free\", \"no-cache\", \"kernel\""));
            }
        }
        if let Some(m) = self.policy.self_fence.as_deref().filter(|m| SelfFence::parse(m).is_none()) {
            return Err(format!("policy.self_fence: {m:?} is not one of \"off\", \"panic\", \"reboot\""));
        }
        if let Some(c) = &self.dump.codec {
            if CodecChoice::parse(c).is_none() || c.trim() != c {
                return Err(format!("dump.codec: {c:?} is not one of \"none\", \"lz4\", \"zstd\", \"auto\""));
            }
        }
        if self.dump.encrypt_to.as_ref().is_some_and(|p| !p.is_absolute()) {
            return Err("dump.encrypt_to: give an absolute path".into());
        }
        if !self.dump.crash_dir.is_absolute() {
            return Err(format!("dump.crash_dir: {} is not an absolute path", self.dump.crash_dir.display()));
        }
        check_paths("service.disks", &self.service.disks)?;
        if let Some(p) = &self.partner {
            NodeId::new(p.node_id).ok_or("partner.node_id: 0 is not a node id")?;
            if p.node_id == self.node_id {
                return Err(format!("partner.node_id: {} is this node's own id", p.node_id));
            }
            check_paths("partner.disks", &p.disks)?;
            if let Some(disk) = &p.dump_disk {
                check_disk_ref("partner.dump_disk", disk)?;
            }
            if let Some(id) = &p.dump_disk_id {
                check_disk_id(id).map_err(|e| format!("partner.dump_disk_id: {e}"))?;
                if p.dump_disk.is_none() {
                    return Err("partner.dump_disk_id: give partner.dump_disk too".into());
                }
            }
            if let Some(both) = p.disks.iter().find(|d| self.service.disks.contains(d)) {
                return Err(format!("{} is both a service disk and a partner disk", both.display()));
            }
        }
        if let Some(name) = &self.service.name {
            check_service_name(name).map_err(|e| format!("service.name: {e}"))?;
        }
        if let Some(name) = self.partner.as_ref().and_then(|p| p.service.as_ref()) {
            check_service_name(name).map_err(|e| format!("partner.service: {e}"))?;
            if self.service.name.as_ref() == Some(name) {
                return Err(format!("partner.service: {name:?} is also this node's service.name"));
            }
        }
        if let Some(h) = &self.hooks {
            if !h.dir.is_absolute() {
                return Err(format!("hooks.dir: {} is not an absolute path", h.dir.display()));
            }
            let limits = [
                ("hooks.start_timeout_s", h.start_timeout_s, 1, 3600),
                ("hooks.stop_timeout_s", h.stop_timeout_s, 1, 3600),
                ("hooks.monitor_interval_s", h.monitor_interval_s, 1, 3600),
                ("hooks.monitor_timeout_s", h.monitor_timeout_s, 1, 3600),
                ("hooks.monitor_failures", h.monitor_failures, 1, 100),
            ];
            for (name, v, min, max) in limits {
                if !(min..=max).contains(&v) {
                    return Err(format!("{name}: {v} is not in {min}..={max}"));
                }
            }
            if self.service.name.is_some() && self.service.disks.is_empty() {
                return Err("service.name: a service needs its disks (service.disks)".into());
            }
            if self.partner.as_ref().is_some_and(|p| p.service.is_some() && p.disks.is_empty()) {
                return Err("partner.service: a service needs its disks (partner.disks)".into());
            }
        }
        let knobs = [
            (&INTERVAL, self.policy.interval_ms),
            (&WATCH_INTERVAL, self.policy.watch_interval_ms),
            (&STALE_TIMEOUT, self.policy.stale_timeout_ms),
            (&BIOS_IN_FLIGHT, self.dump.bios_in_flight),
            (&BUDGET, self.dump.budget_ms),
        ];
        for (knob, value) in knobs {
            if let Some(v) = value.filter(|v| !(knob.min..=knob.max).contains(v)) {
                return Err(format!("{}: {v} is not in {}..={}", knob.name, knob.min, knob.max));
            }
        }
        Ok(())
    }
}

/// "line L, column C" of a byte span, for a parse error.
fn location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else { return String::new() };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!(" (line {line}, column {column})")
}

fn check_disk_ref(name: &str, disk: &str) -> Result<(), String> {
    if disk != BY_LABEL && !disk.starts_with('/') {
        return Err(format!("{name}: {disk:?} is neither an absolute path nor \"{BY_LABEL}\""));
    }
    Ok(())
}

fn check_paths(name: &str, paths: &[PathBuf]) -> Result<(), String> {
    if paths.len() > MAX_DISKS {
        return Err(format!("{name}: {} disks, {MAX_DISKS} at most", paths.len()));
    }
    for (i, p) in paths.iter().enumerate() {
        if !p.is_absolute() {
            return Err(format!("{name}: {} is not an absolute path", p.display()));
        }
        if paths[..i].contains(p) {
            return Err(format!("{name}: {} is listed twice", p.display()));
        }
    }
    Ok(())
}

/// A disk identity as `coretakeover probe` prints it: printable, short.
fn check_disk_id(id: &str) -> Result<(), String> {
    if id.trim().is_empty() || id.len() > 256 || id.chars().any(char::is_control) || id.trim() != id {
        return Err(format!("{id:?} is not a disk identity (give what coretakeover probe prints as its id)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
cluster_id = 7
node_id = 1

[dump]
disk = "label"
crash_dir = "/var/crash"
bios_in_flight = 4

[service]
disks = ["/dev/disk/by-id/wwn-0x1", "/dev/disk/by-id/wwn-0x2"]

[partner]
node_id = 2
disks = ["/dev/disk/by-id/wwn-0x3"]
dump_disk = "/dev/disk/by-coretakeover/cluster-7-node-2"

[policy]
stale_timeout_ms = 3000
auto_takeover = true
"#;

    #[test]
    fn a_full_configuration_parses_with_its_defaults() {
        let c = Config::parse(FULL).unwrap();
        assert_eq!((c.cluster_id, c.node_id), (7, 1));
        assert_eq!(c.dump.disk, "label");
        assert!(c.dump.cpu_registers, "registers are saved unless said otherwise");
        assert_eq!(c.service.disks.len(), 2);
        let p = c.partner.unwrap();
        assert_eq!((p.node_id, p.dump_disk.as_deref()), (2, Some("/dev/disk/by-coretakeover/cluster-7-node-2")));
        assert_eq!(c.policy.stale_timeout_ms, Some(3000));
        assert_eq!(c.policy.interval_ms, None);
        assert_eq!(c.dump.checksum, None);
        let c = Config::parse(&FULL.replace("bios_in_flight = 4", "checksum = \"xxh64\"")).unwrap();
        assert_eq!(c.dump.checksum.as_deref(), Some("xxh64"));
        let c = Config::parse(&FULL.replace("bios_in_flight = 4", "filter = \"kernel\"")).unwrap();
        assert_eq!(c.dump.filter.as_deref(), Some("kernel"));
        let c = Config::parse(&FULL.replace("stale_timeout_ms = 3000", "stale_timeout_ms = 3000\nself_fence = \"reboot\"")).unwrap();
        assert_eq!(c.policy.self_fence.as_deref(), Some("reboot"));
        let e = Config::parse(&FULL.replace("stale_timeout_ms = 3000", "stale_timeout_ms = 3000\nself_fence = \"poweroff\"")).unwrap_err();
        assert!(e.contains("policy.self_fence"), "{e}");
        let c = Config::parse(&FULL.replace("bios_in_flight = 4", "codec = \"zstd\"")).unwrap();
        assert_eq!(c.dump.codec.as_deref(), Some("zstd"));
        assert!(Config::parse(&FULL.replace("bios_in_flight = 4", "codec = \"gzip\"")).unwrap_err().contains("dump.codec"));
    }

    #[test]
    fn the_shipped_example_is_a_valid_configuration() {
        let example = include_str!("../../../scripts/deploy/coretakeover.conf.example");
        let c = Config::parse(example).unwrap();
        assert_eq!((c.cluster_id, c.node_id, c.partner.map(|p| p.node_id)), (7, 1, Some(2)));
    }

    #[test]
    fn services_and_hooks() {
        let with = FULL.replace("[service]\n", "[service]\nname = \"nfs-a\"\n").replace("[partner]\nnode_id = 2\n", "[partner]\nnode_id = 2\nservice = \"nfs-b\"\n")
            + "\n[hooks]\nmonitor_interval_s = 1\n";
        let c = Config::parse(&with).unwrap();
        assert_eq!(c.service.name.as_deref(), Some("nfs-a"));
        assert_eq!(c.partner.as_ref().and_then(|p| p.service.as_deref()), Some("nfs-b"));
        let h = c.hooks.unwrap();
        assert_eq!((h.monitor_interval_s, h.start_timeout_s, h.monitor_failures), (1, 120, 3));
        assert_eq!(h.dir, PathBuf::from("/etc/coretakeover/hooks.d"));
        let bad = [
            (with.replace("\"nfs-b\"", "\"nfs-a\""), "also this node's service.name"),
            (with.replace("\"nfs-a\"", "\"nfs a\""), "service.name"),
            (with.replace("\"nfs-a\"", "\"-nfs\""), "starting with a letter"),
            (with.replace("monitor_interval_s = 1", "monitor_interval_s = 0"), "hooks.monitor_interval_s"),
            (with.replace("monitor_interval_s = 1", "dir = \"hooks.d\""), "hooks.dir"),
            (with.replace("monitor_interval_s = 1", "monitor_intervall_s = 1"), "monitor_intervall_s"),
        ];
        for (text, want) in bad {
            let e = Config::parse(&text).unwrap_err();
            assert!(e.contains(want), "expected {want:?} in {e:?}");
        }
    }

    #[test]
    fn a_minimal_node_needs_only_its_ids_and_dump_disk() {
        let c = Config::parse("cluster_id = 7\nnode_id = 1\n[dump]\ndisk = \"/dev/vdb\"\n").unwrap();
        assert_eq!(c.dump.crash_dir, PathBuf::from("/var/crash"));
        assert!(c.partner.is_none() && c.service.disks.is_empty());
    }

    #[test]
    fn mistakes_are_refused_with_where_they_are() {
        let typo = FULL.replace("stale_timeout_ms", "stale_timout_ms");
        let e = Config::parse(&typo).unwrap_err();
        assert!(e.contains("stale_timout_ms") && e.contains("line 19"), "{e}");
        let bad = [
            (FULL.replace("cluster_id = 7", "cluster_id = 0"), "cluster_id"),
            (FULL.replace("node_id = 2", "node_id = 1"), "this node's own id"),
            (FULL.replace("node_id = 1\n", "node_id = 70000\n"), "line 3"),
            (FULL.replace("\"label\"", "\"vdb\""), "dump.disk"),
            (FULL.replace("wwn-0x3", "wwn-0x1"), "both a service disk and a partner disk"),
            (FULL.replace("wwn-0x2", "wwn-0x1"), "listed twice"),
            (FULL.replace("stale_timeout_ms = 3000", "stale_timeout_ms = 50"), "100..=600000"),
            (FULL.replace("bios_in_flight = 4", "bios_in_flight = 9"), "1..=8"),
            (FULL.replace("bios_in_flight = 4", "bios_in_flight = 4\nchecksum = \"crc32\""), "dump.checksum"),
            (FULL.replace("bios_in_flight = 4", "bios_in_flight = 4\nchecksum = \" xxh64\""), "dump.checksum"),
            (FULL.replace("bios_in_flight = 4", "bios_in_flight = 4\nfilter = \"kernel-only\""), "dump.filter"),
            (FULL.replace("bios_in_flight = 4", "bios_in_flight = 4\nbudget_ms = 3600001"), "0..=3600000"),
            (FULL.replace("\"/var/crash\"", "\"crash\""), "crash_dir"),
        ];
        for (text, want) in bad {
            let e = Config::parse(&text).unwrap_err();
            assert!(e.contains(want), "expected {want:?} in {e:?}");
        }
    }

    #[test]
    fn a_pinned_coredump_disk_id_is_printable() {
        let base = "cluster_id = 7\nnode_id = 1\n[dump]\ndisk = \"label\"\n";
        let c = Config::parse(&format!("{base}disk_id = \"naa.6001405abc\"\n")).unwrap();
        assert_eq!(c.dump.disk_id.as_deref(), Some("naa.6001405abc"));
        assert!(Config::parse(&format!("{base}disk_id = \"\"\n")).unwrap_err().contains("dump.disk_id"));
        assert!(Config::parse(&format!("{base}disk_id = \"a\\u001bb\"\n")).unwrap_err().contains("dump.disk_id"));
        let partner = "[partner]\nnode_id = 2\ndump_disk_id = \"coredump-b\"\n";
        assert!(Config::parse(&format!("{base}{partner}")).unwrap_err().contains("give partner.dump_disk too"));
    }
}
