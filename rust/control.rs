// SPDX-License-Identifier: GPL-2.0

//! The node's control directory, `/sys/kernel/coretakeover/`.
//!
//! Every attribute is documented in
//! `Documentation/ABI/testing/sysfs-kernel-coretakeover`. Writable ones are
//! root-only (mode 0644); a bad write returns an errno, logs why, and changes
//! nothing.

use crate::ct_core::config::NodeConfig;
use crate::ct_core::ids::{ClusterId, NodeId, ParseIdError};
use crate::ct_core::VERSION;
use crate::ct_core::heartbeat::Liveness;
use crate::ct_core::partner::{PartnerWatch, Reason, Verdict};
use crate::dump_disk::{self, DumpContext};
use crate::panic_dump::ARMED;
use crate::sysfs::{Attribute, AttributeList, Directory, Group, Page, Show, Store};
use crate::takeover::{self, is_coredump_disk, open_named, NamedDisk, Pairing, Phase, MAX_DISKS};
use crate::bdev::BlockDevice;
use core::pin::Pin;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use kernel::bindings;
use kernel::c_str;
use kernel::ffi::{c_int, c_void};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;

/// The node's identity, packed as `NodeConfig::pack` describes, so readers
/// never see half of an update and no lock is needed.
static CONFIG: AtomicU64 = AtomicU64::new(0);

/// The armed coredump disk, if any. Arming and disarming sleep (disk I/O), so
/// they are serialised by a mutex; the panic path reads `ARMED` instead.
pub(crate) struct Arming {
    armed: Option<KBox<DumpContext>>,
}

/// The module's `Arming`, for the sysfs callbacks. Set before the control
/// directory exists and cleared after it is gone (see `Control`).
static ARMING: AtomicPtr<Mutex<Arming>> = AtomicPtr::new(core::ptr::null_mut());

fn with_arming<T>(f: impl FnOnce(&mut Arming) -> Result<T>) -> Result<T> {
    let arming = ARMING.load(Ordering::Acquire);
    if arming.is_null() {
        return Err(ENODEV);
    }
    // SAFETY: `ARMING` is non-null only while `Control` owns the mutex, and
    // callers are sysfs callbacks of the directory `Control` removes first.
    let arming = unsafe { &*arming };
    let mut guard = arming.lock();
    f(&mut guard)
}

/// The pairing with the partner; see `takeover.rs`. Same lifetime rules as
/// `ARMING`.
static PAIRING: AtomicPtr<Mutex<Pairing>> = AtomicPtr::new(core::ptr::null_mut());

fn with_pairing<T>(f: impl FnOnce(&mut Pairing) -> Result<T>) -> Result<T> {
    let pairing = PAIRING.load(Ordering::Acquire);
    if pairing.is_null() {
        return Err(ENODEV);
    }
    // SAFETY: As for `ARMING`: non-null only while `Control` owns the mutex,
    // and the thread and the callbacks are gone before `Control` frees it.
    let pairing = unsafe { &*pairing };
    let mut guard = pairing.lock();
    f(&mut guard)
}

/// The control directory's kobject, for `state_changed`. Set once the
/// directory exists, cleared before it is removed (after the thread stopped).
static KOBJECT: AtomicPtr<bindings::kobject> = AtomicPtr::new(core::ptr::null_mut());

/// Wakes pollers of attribute `name` and sends a change uevent.
pub(crate) fn state_changed(name: &kernel::str::CStr) {
    let kobj = KOBJECT.load(Ordering::Acquire);
    if !kobj.is_null() {
        // SAFETY: `KOBJECT` is cleared before the directory goes, and its
        // callers (the thread, sysfs callbacks) are gone by then.
        unsafe { crate::sysfs::changed(kobj, name) };
    }
}

fn config() -> NodeConfig {
    NodeConfig::unpack(CONFIG.load(Ordering::Acquire))
}

/// Applies `change` unless a disk is armed for the current identity.
fn update(name: &str, change: impl Fn(NodeConfig) -> NodeConfig) -> Result {
    with_arming(|arming| {
        if arming.armed.is_some() {
            pr_warn!("{}: refused: disarm the dump disk first (it was checked against the current ids)\n", name);
            return Err(EBUSY);
        }
        let next = change(config()).pack();
        CONFIG.store(next, Ordering::Release);
        Ok(())
    })
}

/// Logs a refused write and returns the errno for it.
fn refuse(attribute: &str, input: &str, why: ParseIdError) -> Error {
    pr_warn!("{}: refused {:?}: {}\n", attribute, input.trim_end(), why);
    EINVAL
}

struct Version;

impl Show for Version {
    fn show(out: &mut Page<'_>) -> Result {
        out.line(format_args!("{}", VERSION))
    }
}

struct State;

impl Show for State {
    fn show(out: &mut Page<'_>) -> Result {
        out.line(format_args!("{}", config().state().as_str()))
    }
}

struct Cluster;

impl Show for Cluster {
    fn show(out: &mut Page<'_>) -> Result {
        match config().cluster {
            Some(id) => out.line(format_args!("{}", id)),
            None => out.line(format_args!("")),
        }
    }
}

impl Store for Cluster {
    fn store(input: &str) -> Result {
        set_cluster(ClusterId::parse(input).map_err(|e| refuse("cluster_id", input, e))?)
    }
}

fn set_cluster(id: ClusterId) -> Result {
    update("cluster_id", |c| NodeConfig { cluster: Some(id), ..c })?;
    pr_info!("cluster id set to {}\n", id);
    Ok(())
}

struct Node;

impl Show for Node {
    fn show(out: &mut Page<'_>) -> Result {
        match config().node {
            Some(id) => out.line(format_args!("{}", id)),
            None => out.line(format_args!("")),
        }
    }
}

impl Store for Node {
    fn store(input: &str) -> Result {
        set_node(NodeId::parse(input).map_err(|e| refuse("node_id", input, e))?)
    }
}

fn set_node(id: NodeId) -> Result {
    update("node_id", |c| NodeConfig { node: Some(id), ..c })?;
    pr_info!("node id set to {}\n", id);
    Ok(())
}

struct Key;

impl Show for Key {
    fn show(out: &mut Page<'_>) -> Result {
        match config().registration_key() {
            Some(key) => out.line(format_args!("{}", key)),
            None => out.line(format_args!("")),
        }
    }
}

/// The longest path accepted for `dump_disk`.
const MAX_PATH: usize = 256;

struct DumpDisk;

impl Show for DumpDisk {
    fn show(out: &mut Page<'_>) -> Result {
        with_arming(|arming| match &arming.armed {
            Some(ctx) => out.line(format_args!("{}", core::str::from_utf8(ctx.path()).unwrap_or("?"))),
            None => out.line(format_args!("")),
        })
    }
}

impl Store for DumpDisk {
    fn store(input: &str) -> Result {
        let path = input.trim_end_matches('\n');
        if path.len() > MAX_PATH || path.contains(|c: char| c.is_whitespace() || c == '\0') {
            pr_warn!("dump_disk: refused: not a device path\n");
            return Err(EINVAL);
        }
        with_arming(|arming| {
            if path.is_empty() || path == "none" {
                if let Some(ctx) = arming.armed.take() {
                    ARMED.store(core::ptr::null_mut(), Ordering::Release);
                    dump_disk::disarm(ctx, config().registration_key());
                }
                return Ok(());
            }
            if !path.starts_with('/') {
                pr_warn!("dump_disk: refused {:?}: give an absolute device path, or none\n", path);
                return Err(EINVAL);
            }
            if arming.armed.is_some() {
                pr_warn!("dump_disk: refused {}: a disk is armed; write none first\n", path);
                return Err(EBUSY);
            }
            let ctx = dump_disk::arm(path, config())?;
            let ctx = arming.armed.insert(ctx);
            ARMED.store(&**ctx as *const DumpContext as *mut DumpContext, Ordering::Release);
            Ok(())
        })
    }
}

struct DumpState;

impl Show for DumpState {
    fn show(out: &mut Page<'_>) -> Result {
        let armed = with_arming(|arming| Ok(arming.armed.is_some()))?;
        out.line(format_args!("{}", if armed { "armed" } else { "disarmed" }))
    }
}

struct DumpReserved;

impl Show for DumpReserved {
    fn show(out: &mut Page<'_>) -> Result {
        let bytes = with_arming(|arming| Ok(arming.armed.as_ref().map_or(0, |ctx| ctx.reserved_bytes())))?;
        out.line(format_args!("{}", bytes))
    }
}

/// Splits a written list of device paths; every one absolute.
fn parse_paths<'a>(name: &str, input: &'a str) -> Result<KVec<&'a str>> {
    let mut paths = KVec::new();
    for path in input.split_whitespace() {
        let why = if !path.starts_with('/') {
            "is not an absolute path"
        } else if path.len() > MAX_PATH {
            "is longer than 256 bytes"
        } else if paths.len() == MAX_DISKS {
            "is one path too many (64 at most)"
        } else {
            paths.push(path, GFP_KERNEL)?;
            continue;
        };
        let shown = path.get(..path.len().min(40)).unwrap_or("");
        pr_warn!("{}: refused {:?}{}: it {}\n", name, shown, if shown.len() < path.len() { "..." } else { "" }, why);
        return Err(EINVAL);
    }
    Ok(paths)
}

fn show_paths(out: &mut Page<'_>, disks: &[NamedDisk]) -> Result {
    let mut first = true;
    for d in disks {
        out.put(format_args!("{}{}", if first { "" } else { " " }, d.path_str()))?;
        first = false;
    }
    out.line(format_args!(""))
}

/// Opens the listed service disks; refuses coredump disks. With `reserve`,
/// this node registers and reserves each (its own disks); without, it
/// registers only (the partner's, so that a takeover is one PREEMPT).
fn open_service_disks(name: &str, input: &str, reserve: bool) -> Result<KVec<NamedDisk>> {
    let Some(key) = config().registration_key() else {
        pr_warn!("{}: refused: set cluster_id and node_id first\n", name);
        return Err(EINVAL);
    };
    let mut disks = KVec::new();
    for path in parse_paths(name, input)?.iter() {
        let disk = open_named(path, BlockDevice::open_shared).inspect_err(|e| {
            pr_warn!("{}: refused {}: cannot open it (error {})\n", name, path, e.to_errno());
        })?;
        if is_coredump_disk(&disk.dev) {
            pr_warn!("{}: refused {}: it carries a coredump label\n", name, path);
            return Err(EINVAL);
        }
        // The kernel's SCSI registration always asks for APTPL, which some
        // arrays refuse: a key registered beforehand (e.g. with sg_persist)
        // is then used as it is.
        let registered = disk.dev.pr_register(key.get()).or_else(|e| match disk.dev.pr_key_registered(key.get()) {
            Ok(true) => {
                pr_info!("{}: {}: registering failed ({}), but our key is registered already: using it\n", name, path, e);
                Ok(())
            }
            _ => Err(e),
        });
        let reserved = if reserve { registered.and_then(|()| disk.dev.pr_reserve(key.get())) } else { registered };
        if let Err(e) = reserved {
            let holder = disk.dev.pr_holder().ok().flatten().map(|(k, _)| k).filter(|k| *k != key.get());
            match holder.and_then(|k| crate::ct_core::keys::RegistrationKey::from_raw(k).decode()) {
                Some((_, node)) if reserve => pr_warn!(
                    "{}: refused {}: node {} holds it (ask it to give back)\n",
                    name, path, node
                ),
                _ => pr_warn!("{}: refused {}: persistent reservation failed: {}\n", name, path, e),
            }
            return Err(if reserve { EBUSY } else { EIO });
        }
        disks.push(disk, GFP_KERNEL)?;
    }
    Ok(disks)
}

struct ServiceDisks;

impl Show for ServiceDisks {
    fn show(out: &mut Page<'_>) -> Result {
        with_pairing(|p| show_paths(out, &p.service_disks))
    }
}

impl Store for ServiceDisks {
    fn store(input: &str) -> Result {
        let disks = open_service_disks("service_disks", input, true)?;
        with_pairing(|p| {
            pr_info!("service_disks: {} disks registered and reserved Write Exclusive\n", disks.len());
            p.service_disks = disks;
            if p.phase == Phase::Fenced {
                // Our disks are ours again: watch the partner anew.
                p.phase = if p.watch.is_some() { Phase::Watching } else { Phase::Idle };
                p.watch = p.watch.as_ref().map(|_| PartnerWatch::new(takeover::now_ms()));
                p.verdict = Verdict::Unknown;
                state_changed(c_str!("takeover_state"));
            }
            Ok(())
        })
    }
}

struct PartnerDisks;

impl Show for PartnerDisks {
    fn show(out: &mut Page<'_>) -> Result {
        with_pairing(|p| show_paths(out, &p.partner_disks))
    }
}

impl Store for PartnerDisks {
    fn store(input: &str) -> Result {
        let disks = open_service_disks("partner_disks", input, false)?;
        with_pairing(|p| {
            if p.phase == Phase::Holding || p.phase == Phase::TakingOver {
                pr_warn!("partner_disks: refused: holding the partner's disks\n");
                return Err(EBUSY);
            }
            pr_info!("partner_disks: registered on {} disks\n", disks.len());
            p.partner_disks = disks;
            Ok(())
        })
    }
}

struct PartnerId;

impl Show for PartnerId {
    fn show(out: &mut Page<'_>) -> Result {
        with_pairing(|p| match p.partner {
            Some(id) => out.line(format_args!("{}", id)),
            None => out.line(format_args!("")),
        })
    }
}

impl Store for PartnerId {
    fn store(input: &str) -> Result {
        set_partner(NodeId::parse(input).map_err(|e| refuse("partner_id", input, e))?)
    }
}

fn set_partner(id: NodeId) -> Result {
    if config().node == Some(id) {
        pr_warn!("partner_id: refused {}: that is this node's id\n", id);
        return Err(EINVAL);
    }
    with_pairing(|p| {
        if p.partner_dump.is_some() {
            pr_warn!("partner_id: refused: stop watching first (partner_dump_disk none)\n");
            return Err(EBUSY);
        }
        p.partner = Some(id);
        Ok(())
    })
}

struct PartnerDump;

impl Show for PartnerDump {
    fn show(out: &mut Page<'_>) -> Result {
        with_pairing(|p| match &p.partner_dump {
            Some(d) => out.line(format_args!("{}", d.path_str())),
            None => out.line(format_args!("")),
        })
    }
}

impl Store for PartnerDump {
    fn store(input: &str) -> Result {
        let path = input.trim_end_matches('\n');
        if path.is_empty() || path == "none" {
            return with_pairing(|p| {
                p.partner_dump = None;
                p.watch = None;
                if p.phase == Phase::Watching {
                    p.phase = Phase::Idle;
                    state_changed(c_str!("takeover_state"));
                }
                Ok(())
            });
        }
        let paths = parse_paths("partner_dump_disk", path)?;
        let [path] = paths.as_slice() else {
            pr_warn!("partner_dump_disk: refused: give one device path, or none\n");
            return Err(EINVAL);
        };
        let (Some(cluster), Some(partner)) = (config().cluster, with_pairing(|p| Ok(p.partner))?) else {
            pr_warn!("partner_dump_disk: refused: set cluster_id and partner_id first\n");
            return Err(EINVAL);
        };
        let disk = open_named(path, BlockDevice::open_read_only).inspect_err(|e| {
            pr_warn!("partner_dump_disk: refused {}: cannot open it (error {})\n", path, e.to_errno());
        })?;
        let mut block = crate::bdev::IoBuf::new(crate::bdev::PAGE)?;
        disk.dev.read(0, &mut block)?;
        match crate::ct_core::label::Label::decode(block.as_slice(), &crate::crc::KernelCrc) {
            Ok(label) if label.belongs_to(cluster, partner) => {}
            Ok(label) => {
                pr_warn!("partner_dump_disk: refused {}: labeled for cluster {} node {}, the partner is cluster {} node {}\n",
                    path, label.cluster, label.node, cluster, partner);
                return Err(EACCES);
            }
            Err(e) => {
                pr_warn!("partner_dump_disk: refused {}: {}\n", path, e);
                return Err(Error::from_errno(-(bindings::EMEDIUMTYPE as i32)));
            }
        }
        with_pairing(|p| {
            pr_info!("watching partner {} through {}\n", partner, path);
            p.partner_dump = Some(disk);
            p.watch = Some(PartnerWatch::new(takeover::now_ms()));
            p.verdict = Verdict::Unknown;
            if p.phase == Phase::Idle {
                p.phase = Phase::Watching;
                state_changed(c_str!("takeover_state"));
            }
            Ok(())
        })
    }
}

/// A number attribute with bounds, stored in an atomic.
fn store_number(name: &str, input: &str, min: u32, max: u32, into: &AtomicU32) -> Result {
    let value = crate::ct_core::ids::parse_number(input).ok().and_then(|v| u32::try_from(v).ok());
    match value {
        Some(v) if (min..=max).contains(&v) => {
            into.store(v, Ordering::Relaxed);
            Ok(())
        }
        _ => {
            pr_warn!("{}: refused {:?}: give a number in {}..={}\n", name, input.trim_end(), min, max);
            Err(EINVAL)
        }
    }
}

struct Interval;

impl Show for Interval {
    fn show(out: &mut Page<'_>) -> Result {
        out.line(format_args!("{}", takeover::INTERVAL_MS.load(Ordering::Relaxed)))
    }
}

impl Store for Interval {
    fn store(input: &str) -> Result {
        store_number("interval_ms", input, 10, 10_000, &takeover::INTERVAL_MS)
    }
}

struct WatchInterval;

impl Show for WatchInterval {
    fn show(out: &mut Page<'_>) -> Result {
        out.line(format_args!("{}", takeover::WATCH_INTERVAL_MS.load(Ordering::Relaxed)))
    }
}

impl Store for WatchInterval {
    fn store(input: &str) -> Result {
        store_number("watch_interval_ms", input, 10, 10_000, &takeover::WATCH_INTERVAL_MS)
    }
}

struct StaleTimeout;

impl Show for StaleTimeout {
    fn show(out: &mut Page<'_>) -> Result {
        out.line(format_args!("{}", takeover::STALE_TIMEOUT_MS.load(Ordering::Relaxed)))
    }
}

impl Store for StaleTimeout {
    fn store(input: &str) -> Result {
        store_number("stale_timeout_ms", input, 100, 600_000, &takeover::STALE_TIMEOUT_MS)
    }
}

struct BiosInFlight;

impl Show for BiosInFlight {
    fn show(out: &mut Page<'_>) -> Result {
        out.line(format_args!("{}", crate::dump_disk::BIOS_IN_FLIGHT.load(Ordering::Relaxed)))
    }
}

impl Store for BiosInFlight {
    fn store(input: &str) -> Result {
        // Taken when a disk is armed: an armed disk keeps what it was armed with.
        store_number("dump_bios_in_flight", input, 1, crate::dump_disk::MAX_BIOS_IN_FLIGHT, &crate::dump_disk::BIOS_IN_FLIGHT)
    }
}

struct AutoTakeover;

impl Show for AutoTakeover {
    fn show(out: &mut Page<'_>) -> Result {
        out.line(format_args!("{}", u8::from(takeover::AUTO_TAKEOVER.load(Ordering::Relaxed))))
    }
}

impl Store for AutoTakeover {
    fn store(input: &str) -> Result {
        match input.trim() {
            "0" => takeover::AUTO_TAKEOVER.store(false, Ordering::Relaxed),
            "1" => takeover::AUTO_TAKEOVER.store(true, Ordering::Relaxed),
            other => {
                pr_warn!("auto_takeover: refused {:?}: give 0 or 1\n", other);
                return Err(EINVAL);
            }
        }
        Ok(())
    }
}

struct TakeoverCommand;

impl Store for TakeoverCommand {
    fn store(input: &str) -> Result {
        if input.trim() != "1" {
            pr_warn!("takeover: refused {:?}: write 1\n", input.trim_end());
            return Err(EINVAL);
        }
        let ours = config().registration_key();
        with_pairing(|p| {
            if p.partner.is_none() || p.partner_disks.is_empty() {
                pr_warn!("takeover: refused: set partner_id and partner_disks first\n");
                return Err(EINVAL);
            }
            takeover::take_over(p, ours, Reason::Command, None);
            Ok(())
        })
    }
}

struct GivebackCommand;

impl Store for GivebackCommand {
    fn store(input: &str) -> Result {
        if input.trim() != "1" {
            pr_warn!("giveback: refused {:?}: write 1\n", input.trim_end());
            return Err(EINVAL);
        }
        let ours = config().registration_key();
        with_pairing(|p| takeover::give_back(p, ours))
    }
}

struct TakeoverState;

impl Show for TakeoverState {
    fn show(out: &mut Page<'_>) -> Result {
        let phase = with_pairing(|p| Ok(p.phase))?;
        out.line(format_args!("{}", phase.as_str()))
    }
}

struct PartnerState;

impl Show for PartnerState {
    fn show(out: &mut Page<'_>) -> Result {
        let verdict = with_pairing(|p| Ok(p.verdict))?;
        out.line(format_args!("{}", verdict.as_str()))
    }
}

struct TakeoverReport;

impl Show for TakeoverReport {
    fn show(out: &mut Page<'_>) -> Result {
        with_pairing(|p| out.put(format_args!("{}", core::str::from_utf8(&p.report).unwrap_or(""))))
    }
}

static VERSION_ATTR: Attribute = Attribute::read_only::<Version>(c_str!("version"));
static STATE_ATTR: Attribute = Attribute::read_only::<State>(c_str!("state"));
static CLUSTER_ATTR: Attribute = Attribute::read_write::<Cluster>(c_str!("cluster_id"));
static NODE_ATTR: Attribute = Attribute::read_write::<Node>(c_str!("node_id"));
static KEY_ATTR: Attribute = Attribute::read_only::<Key>(c_str!("registration_key"));
static DUMP_DISK_ATTR: Attribute = Attribute::read_write::<DumpDisk>(c_str!("dump_disk"));
static DUMP_STATE_ATTR: Attribute = Attribute::read_only::<DumpState>(c_str!("dump_state"));
static DUMP_RESERVED_ATTR: Attribute = Attribute::read_only::<DumpReserved>(c_str!("dump_reserved_bytes"));

static SERVICE_DISKS_ATTR: Attribute = Attribute::read_write::<ServiceDisks>(c_str!("service_disks"));
static PARTNER_ID_ATTR: Attribute = Attribute::read_write::<PartnerId>(c_str!("partner_id"));
static PARTNER_DISKS_ATTR: Attribute = Attribute::read_write::<PartnerDisks>(c_str!("partner_disks"));
static PARTNER_DUMP_ATTR: Attribute = Attribute::read_write::<PartnerDump>(c_str!("partner_dump_disk"));
static INTERVAL_ATTR: Attribute = Attribute::read_write::<Interval>(c_str!("interval_ms"));
static WATCH_INTERVAL_ATTR: Attribute = Attribute::read_write::<WatchInterval>(c_str!("watch_interval_ms"));
static STALE_ATTR: Attribute = Attribute::read_write::<StaleTimeout>(c_str!("stale_timeout_ms"));
static IN_FLIGHT_ATTR: Attribute = Attribute::read_write::<BiosInFlight>(c_str!("dump_bios_in_flight"));
static AUTO_ATTR: Attribute = Attribute::read_write::<AutoTakeover>(c_str!("auto_takeover"));
static TAKEOVER_ATTR: Attribute = Attribute::write_only::<TakeoverCommand>(c_str!("takeover"));
static GIVEBACK_ATTR: Attribute = Attribute::write_only::<GivebackCommand>(c_str!("giveback"));
static TAKEOVER_STATE_ATTR: Attribute = Attribute::read_only::<TakeoverState>(c_str!("takeover_state"));
static PARTNER_STATE_ATTR: Attribute = Attribute::read_only::<PartnerState>(c_str!("partner_state"));
static TAKEOVER_REPORT_ATTR: Attribute = Attribute::read_only::<TakeoverReport>(c_str!("takeover_report"));

static ATTRS: AttributeList<22> = AttributeList::new([
    &VERSION_ATTR,
    &STATE_ATTR,
    &CLUSTER_ATTR,
    &NODE_ATTR,
    &KEY_ATTR,
    &DUMP_DISK_ATTR,
    &DUMP_STATE_ATTR,
    &DUMP_RESERVED_ATTR,
    &IN_FLIGHT_ATTR,
    &SERVICE_DISKS_ATTR,
    &PARTNER_ID_ATTR,
    &PARTNER_DISKS_ATTR,
    &PARTNER_DUMP_ATTR,
    &INTERVAL_ATTR,
    &WATCH_INTERVAL_ATTR,
    &STALE_ATTR,
    &AUTO_ATTR,
    &TAKEOVER_ATTR,
    &GIVEBACK_ATTR,
    &TAKEOVER_STATE_ATTR,
    &PARTNER_STATE_ATTR,
    &TAKEOVER_REPORT_ATTR,
]);
static GROUP: Group = Group::new(&ATTRS);

/// The `get-status` reply (netlink).
pub(crate) fn fill_status(m: &mut crate::netlink::Message) -> Result {
    use crate::netlink::Attr;
    let c = config();
    m.str(Attr::Version, VERSION)?.str(Attr::State, c.state().as_str())?;
    if let Some(id) = c.cluster {
        m.u32(Attr::ClusterId, id.get())?;
    }
    if let Some(id) = c.node {
        m.u32(Attr::NodeId, id.get().into())?;
    }
    if let Some(key) = c.registration_key() {
        m.uint(Attr::RegistrationKey, key.get())?;
    }
    let armed = with_arming(|a| Ok(a.armed.is_some()))?;
    m.str(Attr::DumpState, if armed { "armed" } else { "disarmed" })?;
    with_pairing(|p| {
        if let Some(id) = p.partner {
            m.u32(Attr::PartnerId, id.get().into())?;
        }
        m.str(Attr::TakeoverState, p.phase.as_str())?.str(Attr::PartnerState, p.verdict.as_str())?;
        m.str(Attr::TakeoverReport, core::str::from_utf8(&p.report).unwrap_or(""))?;
        Ok(())
    })
}

/// The reply of `takeover` and `giveback` (netlink).
pub(crate) fn fill_takeover(m: &mut crate::netlink::Message) -> Result {
    use crate::netlink::Attr;
    with_pairing(|p| {
        m.str(Attr::TakeoverState, p.phase.as_str())?;
        m.str(Attr::TakeoverReport, core::str::from_utf8(&p.report).unwrap_or(""))?;
        Ok(())
    })
}

/// `set-config` (netlink): the same checks and effects as the sysfs knobs,
/// in the order of the spec; stops at the first refusal.
pub(crate) fn set_config(cluster: Option<u32>, node: Option<u32>, partner: Option<u32>, disks: [Option<&str>; 3]) -> Result {
    // Numbers from netlink get the range checks of the text written to sysfs.
    let refused = |name: &str, v: u32, why: ParseIdError| {
        pr_warn!("netlink set-config: {}: refused {}: {}\n", name, v, why);
        EINVAL
    };
    let node_id = |name: &str, v: u32| {
        let id = u16::try_from(v).ok().and_then(NodeId::new);
        id.ok_or_else(|| refused(name, v, if v == 0 { ParseIdError::Zero } else { ParseIdError::OutOfRange { max: u16::MAX.into() } }))
    };
    // Everything that can be checked without an effect is checked before
    // anything is applied: the ids, and that every named disk opens.
    let cluster = cluster.map(|v| ClusterId::new(v).ok_or_else(|| refused("cluster_id", v, ParseIdError::Zero))).transpose()?;
    let node = node.map(|v| node_id("node_id", v)).transpose()?;
    let partner = partner.map(|v| node_id("partner_id", v)).transpose()?;
    for (name, list) in [("service_disks", disks[0]), ("partner_disks", disks[1]), ("partner_dump_disk", disks[2])] {
        let Some(list) = list.filter(|l| !(name == "partner_dump_disk" && l.trim() == "none")) else { continue };
        let paths = parse_paths(name, list)?;
        if name == "partner_dump_disk" && paths.len() > 1 {
            pr_warn!("netlink set-config: partner_dump_disk: refused: give one device path\n");
            return Err(EINVAL);
        }
        for path in paths.iter() {
            open_named(path, BlockDevice::open_read_only).map(drop).inspect_err(|e| {
                pr_warn!("netlink set-config: {}: refused {}: cannot open it (error {})\n", name, path, e.to_errno());
            })?;
        }
    }
    if let Some(id) = cluster {
        set_cluster(id)?;
    }
    if let Some(id) = node {
        set_node(id)?;
    }
    if let Some(id) = partner {
        set_partner(id)?;
    }
    let [service, partner_disks, partner_dump] = disks;
    if let Some(list) = service {
        <ServiceDisks as Store>::store(list)?;
    }
    if let Some(list) = partner_disks {
        <PartnerDisks as Store>::store(list)?;
    }
    if let Some(path) = partner_dump {
        <PartnerDump as Store>::store(path)?;
    }
    Ok(())
}

pub(crate) fn command_takeover() -> Result {
    <TakeoverCommand as Store>::store("1")
}

pub(crate) fn command_giveback() -> Result {
    <GivebackCommand as Store>::store("1")
}

/// One tick of the `coretakeover` thread: heartbeat (when due), then the partner.
fn tick(beat: bool) {
    let ours = config().registration_key();
    if let Some(key) = ours.filter(|_| beat) {
        let _ = with_arming(|arming| {
            if let Some(ctx) = &arming.armed {
                if let Err(e) = ctx.write_heartbeat(&takeover::next_heartbeat(key, Liveness::Alive)) {
                    pr_warn!("heartbeat write failed (error {})\n", e.to_errno());
                }
            }
            Ok(())
        });
    }
    let _ = with_pairing(|p| {
        takeover::watch_partner(p, ours);
        Ok(())
    });
}

unsafe extern "C" fn thread_main(_data: *mut c_void) -> c_int {
    // SAFETY: Called in the thread's own context.
    let mut next_beat_ns = 0u64;
    while !unsafe { bindings::kthread_should_stop() } {
        let interval = takeover::INTERVAL_MS.load(Ordering::Relaxed);
        let now = crate::polled_bio::now_ns();
        let beat = now >= next_beat_ns;
        if beat {
            next_beat_ns = now + u64::from(interval) * 1_000_000;
        }
        tick(beat);
        let watch = takeover::WATCH_INTERVAL_MS.load(Ordering::Relaxed);
        // SAFETY: Process context; `kthread_stop` waits at most one interval.
        unsafe { bindings::msleep_interruptible(watch.min(interval)) };
    }
    0
}

/// The control directory and the state behind it. Dropping it stops the
/// thread, removes the directory (waiting for running callbacks), then
/// disarms and closes every disk.
pub(crate) struct Control {
    thread: *mut bindings::task_struct,
    directory: Option<Directory>,
    arming: Pin<KBox<Mutex<Arming>>>,
    pairing: Pin<KBox<Mutex<Pairing>>>,
}

// SAFETY: The thread pointer is only used to stop the thread, from any context.
unsafe impl Send for Control {}
// SAFETY: `&Control` gives access to nothing.
unsafe impl Sync for Control {}

impl Control {
    pub(crate) fn new() -> Result<Self> {
        let arming = KBox::pin_init(new_mutex!(Arming { armed: None }, "coretakeover::arming"), GFP_KERNEL)?;
        ARMING.store(&*arming as *const Mutex<Arming> as *mut Mutex<Arming>, Ordering::Release);
        let pairing = KBox::pin_init(new_mutex!(Pairing::new(), "coretakeover::pairing"), GFP_KERNEL)?;
        PAIRING.store(&*pairing as *const Mutex<Pairing> as *mut Mutex<Pairing>, Ordering::Release);
        let mut control = Self { thread: core::ptr::null_mut(), directory: None, arming, pairing };
        // SAFETY: `thread_main` only uses the statics set above, which stay
        // valid until `drop` has stopped the thread.
        let thread = unsafe { crate::shims::ct_kthread_run(Some(thread_main), core::ptr::null_mut(), c_str!("coretakeover").as_char_ptr()) };
        control.thread = kernel::error::from_err_ptr(thread)?;
        let directory = Directory::create(c_str!("coretakeover"), &GROUP)?;
        KOBJECT.store(directory.kobject(), Ordering::Release);
        control.directory = Some(directory);
        Ok(control)
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        if !self.thread.is_null() {
            // SAFETY: The thread was started in `new` and only returns when stopped.
            unsafe { bindings::kthread_stop(self.thread) };
        }
        // No callback runs once the directory is gone.
        KOBJECT.store(core::ptr::null_mut(), Ordering::Release);
        self.directory = None;
        PAIRING.store(core::ptr::null_mut(), Ordering::Release);
        drop(self.pairing.lock());
        ARMING.store(core::ptr::null_mut(), Ordering::Release);
        let mut arming = self.arming.lock();
        if let Some(ctx) = arming.armed.take() {
            ARMED.store(core::ptr::null_mut(), Ordering::Release);
            dump_disk::disarm(ctx, config().registration_key());
        }
    }
}
