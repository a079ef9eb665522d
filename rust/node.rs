// SPDX-License-Identifier: GPL-2.0

//! The node: the one owner of its state and of the operations on it.
//!
//! | state    | what                                                       | kept in         |
//! |----------|------------------------------------------------------------|-----------------|
//! | identity | cluster id and node id, hence the registration key         | one atomic word |
//! | arming   | this node's coredump disk, armed or not                    | a mutex         |
//! | pairing  | partner id, service disks, the partner's disks and coredump disk, the takeover | a mutex |
//! | policy   | intervals, stale timeout, automatic takeover, bios in flight | atomics       |
//!
//! The functions of this file are the only way to change any of it. They
//! take typed values - the interfaces (`knobs.rs` for sysfs, `netlink.rs`)
//! parse text and attributes into them - check everything they can before
//! they change anything, log why they refuse, and return the errno. The
//! engines below do the work: `dump_disk.rs` arms the coredump disk,
//! `takeover.rs` watches the partner and takes over. What changes is told
//! through `events.rs`; this file never calls an interface.
//!
//! Three kernel threads turn: `coretakeover` writes the heartbeat every
//! `interval_ms` while the coredump disk is armed (under the arming lock),
//! `coretakeover-watch` watches the partner every `watch_interval_ms`
//! while a partner coredump disk is set (under the pairing lock), and
//! `coretakeover-labels` reads the partner disks' labels again. Nothing
//! that holds one lock - arming, a coredump disk that hangs, a label read
//! on a suspended map - delays what runs under another.
//!
//! The two mutexes are never held together.

use crate::bdev::{BlockDevice, NamedDisk};
use crate::ct_core::checksum::ChecksumChoice;
use crate::ct_core::codec::{Codec, CodecChoice};
use crate::ct_core::dumpkey::DumpKey;
use crate::secret::SecretDumpKey;
use crate::shims;
use crate::ct_core::pagefilter::Filter;
use crate::ct_core::config::NodeConfig;
use crate::ct_core::ids::{ClusterId, NodeId};
use crate::ct_core::keys::RegistrationKey;
use crate::ct_core::heartbeat::Liveness;
use crate::ct_core::partner::{lapse_fence_due, AutoTakeover, Phase, Reason, SelfFence, SelfView};
use crate::dump_disk::{self, DumpContext, MAX_BIOS_IN_FLIGHT};
use crate::kthread::{Loop, Thread};
use crate::polled_bio::now_ns;
use crate::refusal::{refuse, Outcome};
use crate::takeover::{self, DiskIdentity, Pairing, WatchPolicy};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use kernel::bindings;
use kernel::c_str;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;

/// The longest device path accepted.
pub(crate) const MAX_PATH: usize = 256;
/// The most service disks per node.
pub(crate) const MAX_DISKS: usize = 64;

/// The node's identity, packed as `NodeConfig::pack` describes, so readers
/// never see half of an update and need no lock.
static IDENTITY: AtomicU64 = AtomicU64::new(0);

/// Whether the coredump disk is armed (the heartbeat says alive), read by
/// the watch without the arming lock.
static ARMED: AtomicBool = AtomicBool::new(false);

/// `self_fence` (`SelfFence as u32`).
static SELF_FENCE: AtomicU32 = AtomicU32::new(SelfFence::Off as u32);

pub(crate) fn self_fence() -> SelfFence {
    SelfFence::from_u32(SELF_FENCE.load(Ordering::Relaxed)).unwrap_or(SelfFence::Off)
}

/// What this node does once it knows its partner fenced it while it ran,
/// or that its own heartbeat lapsed (the lapse check runs on every CPU while
/// `self_fence` is not off).
pub(crate) fn set_self_fence(mode: SelfFence) -> Outcome {
    if mode == SelfFence::Off {
        SELF_FENCE.store(mode as u32, Ordering::Relaxed);
        // SAFETY: Process context; waits for a running check.
        unsafe { shims::ct_lapse_stop() };
    } else {
        // SAFETY: Process context; `lapse_tick` is safe in any context and
        // the module stops the check before it goes (`Registration`).
        let err = unsafe { shims::ct_lapse_start(takeover::LAPSE_TICK_MS * 1_000_000, Some(lapse_tick)) };
        if err < 0 {
            return Err(refuse!(Error::from_errno(err), "self_fence: refused {}: the lapse check could not start (error {})", mode.as_str(), err));
        }
        SELF_FENCE.store(mode as u32, Ordering::Relaxed);
    }
    pr_info!("self_fence set to {}\n", mode.as_str());
    Ok(())
}

/// The lapse check, from each CPU's hard-interrupt timer
/// (`shims::ct_lapse_start`): if this node's own heartbeat has not reached
/// its disk for a stale timeout, its partner may hold its disks by now, so
/// it stops as `self_fence` says before anything else runs on this CPU
/// (`ct_core::partner::lapse_fence_due`). Reads atomics only, takes no
/// lock, does no I/O: after a hang with interrupts off, it runs in the
/// first timer interrupt, before any device interrupt of the CPU.
unsafe extern "C" fn lapse_tick() {
    let mode = self_fence();
    let (owns_disks, beat) = takeover::lapse_view();
    let me = SelfView { mode, node: 0, owns_disks, running: ARMED.load(Ordering::Relaxed) };
    let age_ms = beat.map(|b| now_ns().saturating_sub(b) / 1_000_000);
    let stale = setting(Setting::StaleTimeoutMs);
    if !lapse_fence_due(me, age_ms, stale) || !takeover::claim_self_fence() {
        return;
    }
    pr_emerg!(
        "self-fence ({}): this node's heartbeat last reached its disk {} ms ago (stale_timeout_ms {}): it hung, and its partner may hold its disks; stopping this node now\n",
        mode.as_str(),
        age_ms.unwrap_or(0),
        stale
    );
    takeover::stop_node(mode, c_str!("coretakeover: self-fence: this node's heartbeat lapsed"));
}

/// This node's coredump disk.
struct Arming {
    armed: Option<KBox<DumpContext>>,
    /// The data key for the next arming (`dump_key`), used once.
    pending_key: Option<KBox<SecretDumpKey>>,
    /// When the next heartbeat is due (monotonic nanoseconds).
    next_beat_ns: u64,
}

/// The state behind the mutexes, reached through `STATE` while the
/// `Registration` that owns it lives.
#[pin_data]
struct State {
    #[pin]
    arming: Mutex<Arming>,
    #[pin]
    pairing: Mutex<Pairing>,
}

/// Set once the state exists, cleared before it goes (see `Registration`).
static STATE: AtomicPtr<State> = AtomicPtr::new(core::ptr::null_mut());

fn state() -> Result<&'static State> {
    let state = STATE.load(Ordering::Acquire);
    // SAFETY: `STATE` is non-null only while `Registration` owns the state;
    // it is cleared, and every caller (interfaces, the thread) gone, before
    // the state is freed.
    unsafe { state.as_ref() }.ok_or(ENODEV)
}

fn with_arming<T>(f: impl FnOnce(&mut Arming) -> Outcome<T>) -> Outcome<T> {
    f(&mut state()?.arming.lock())
}

fn with_pairing<T>(f: impl FnOnce(&mut Pairing) -> Outcome<T>) -> Outcome<T> {
    f(&mut state()?.pairing.lock())
}

/// Reads the armed coredump disk, if any.
pub(crate) fn read_arming<T>(f: impl FnOnce(Option<&DumpContext>) -> Result<T>) -> Result<T> {
    f(state()?.arming.lock().armed.as_deref())
}

/// Reads the pairing (partner, disks, takeover). Waits while a takeover runs.
pub(crate) fn read_pairing<T>(f: impl FnOnce(&Pairing) -> Result<T>) -> Result<T> {
    f(&state()?.pairing.lock())
}

// Identity.

/// Who this node is.
pub(crate) fn identity() -> NodeConfig {
    NodeConfig::unpack(IDENTITY.load(Ordering::Acquire))
}

/// Applies `change` to the identity, unless a disk is armed for the current one.
fn update_identity(name: &str, change: impl Fn(NodeConfig) -> NodeConfig) -> Outcome {
    with_arming(|arming| {
        if arming.armed.is_some() {
            return Err(refuse!(EBUSY, "{}: refused: disarm the dump disk first (it was checked against the current ids)", name));
        }
        IDENTITY.store(change(identity()).pack(), Ordering::Release);
        Ok(())
    })
}

pub(crate) fn set_cluster(id: ClusterId) -> Outcome {
    update_identity("cluster_id", |c| NodeConfig { cluster: Some(id), ..c })?;
    pr_info!("cluster id set to {}\n", id);
    Ok(())
}

pub(crate) fn set_node(id: NodeId) -> Outcome {
    update_identity("node_id", |c| NodeConfig { node: Some(id), ..c })?;
    pr_info!("node id set to {}\n", id);
    Ok(())
}

/// Sets the partner's id; refused while the partner is watched.
pub(crate) fn set_partner(id: NodeId) -> Outcome {
    if identity().node == Some(id) {
        return Err(refuse!(EINVAL, "partner_id: refused {}: that is this node's id", id));
    }
    with_pairing(|p| {
        if p.partner_dump.is_some() {
            return Err(refuse!(EBUSY, "partner_id: refused: stop watching first (partner_dump_disk none)"));
        }
        p.partner = Some(id);
        Ok(())
    })
}

// Paths.

/// Checks the shape of one device path given for `name`.
fn check_path(name: &str, path: &str) -> Outcome {
    let why = if !path.starts_with('/') {
        "is not an absolute path"
    } else if path.len() > MAX_PATH {
        "is longer than 256 bytes"
    } else if path.contains(|c: char| c.is_whitespace() || c == '\0') {
        "is not one device path"
    } else {
        return Ok(());
    };
    let shown = path.get(..path.len().min(40)).unwrap_or("");
    Err(refuse!(EINVAL, "{}: refused {:?}{}: it {}", name, shown, if shown.len() < path.len() { "..." } else { "" }, why))
}

/// Checks a list of device paths given for `name`.
fn check_paths(name: &str, paths: &[&str]) -> Outcome {
    if paths.len() > MAX_DISKS {
        return Err(refuse!(EINVAL, "{}: refused: {} paths, {} at most", name, paths.len(), MAX_DISKS));
    }
    paths.iter().try_for_each(|path| check_path(name, path))
}

// Arming.

/// Arms the coredump disk at `path` for this node.
pub(crate) fn arm(path: &str) -> Outcome {
    if path.len() > MAX_PATH || path.contains(|c: char| c.is_whitespace() || c == '\0') {
        return Err(refuse!(EINVAL, "dump_disk: refused: not a device path"));
    }
    if !path.starts_with('/') {
        return Err(refuse!(EINVAL, "dump_disk: refused {:?}: give an absolute device path, or none", path));
    }
    // Read outside the arming lock (see `cpu_notes`).
    let cpus = dump_disk::cpu_notes()?;
    with_arming(|arming| {
        if arming.armed.is_some() {
            return Err(refuse!(EBUSY, "dump_disk: refused {}: a disk is armed; write none first", path));
        }
        let key = arming.pending_key.as_deref().map(|k| &k.0);
        if key.is_none() && setting(Setting::DumpEncrypt) == 1 {
            return Err(refuse!(
                Error::from_errno(-(bindings::ENOKEY as i32)),
                "dump_disk: refused {}: dump_encrypt is 1 and no fresh key was given (write one to dump_key, e.g. with `coretakeover dump-key arm`)",
                path
            ));
        }
        arming.armed = Some(dump_disk::arm(path, identity(), setting(Setting::DumpBiosInFlight), cpus, dump_checksum(), dump_filter(), dump_codec(), setting(Setting::DumpBudgetMs), key)?);
        // Used: the next arming needs a new one.
        arming.pending_key = None;
        Ok(())
    })?;
    // Not under the arming lock (the two are never held together).
    if let Some(key) = identity().registration_key() {
        with_pairing(|p| {
            p.armed_again(key.get());
            Ok(())
        })?;
    }
    ARMED.store(true, Ordering::Relaxed);
    Ok(())
}

/// Takes the data key for the next arming (replacing any not yet used).
pub(crate) fn set_dump_key(key: DumpKey) -> Outcome {
    let boxed = KBox::new(SecretDumpKey(key), GFP_KERNEL).map_err(|_| refuse!(ENOMEM, "dump_key: out of memory"))?;
    with_arming(|arming| {
        arming.pending_key = Some(boxed);
        Ok(())
    })
}

/// Disarms the coredump disk, if one is armed.
pub(crate) fn disarm() -> Outcome {
    with_arming(|arming| {
        if let Some(ctx) = arming.armed.take() {
            ARMED.store(false, Ordering::Relaxed);
            takeover::beat_landed(0);
            dump_disk::disarm(ctx, identity().registration_key(), setting(Setting::IntervalMs), takeover::holds_disks_of());
        }
        Ok(())
    })
}

// Pairing.

/// Opens the service disks at `paths`, refusing coredump disks, and
/// registers on each. With `reserve`, this node then reserves each (its own
/// disks); without, it registers only (the partner's, so that a takeover is
/// one PREEMPT). Every disk is registered before any is reserved: a node
/// whose disks the partner holds is registered on all of them when this
/// fails with EBUSY, which is how the partner knows it may give them back.
fn open_service_disks(name: &str, paths: &[&str], reserve: bool) -> Outcome<KVec<NamedDisk>> {
    check_paths(name, paths)?;
    let Some(key) = identity().registration_key() else {
        return Err(refuse!(EINVAL, "{}: refused: set cluster_id and node_id first", name));
    };
    let mut disks = KVec::with_capacity(paths.len(), GFP_KERNEL)?;
    for path in paths {
        let disk = NamedDisk::open(path, BlockDevice::open_shared)
            .map_err(|e| refuse!(e, "{}: refused {}: cannot open it (error {})", name, path, e.to_errno()))?;
        if disk.dev.is_partition() {
            return Err(refuse!(EINVAL, "{}: refused {}: a partition; give the whole disk", name, path));
        }
        if dump_disk::carries_label(&disk.dev) {
            return Err(refuse!(EINVAL, "{}: refused {}: it carries a coredump label", name, path));
        }
        disks.push(disk, GFP_KERNEL)?;
    }
    for disk in disks.iter() {
        register(name, disk, key, reserve)?;
    }
    if reserve {
        for disk in disks.iter() {
            take_reservation(name, disk, key)?;
            // Our own disk, back from the partner that wrote it meanwhile.
            disk.dev.drop_cache();
        }
    }
    Ok(disks)
}

/// Registers `key` on `disk` (`own`: one of this node's own disks).
fn register(name: &str, disk: &NamedDisk, key: RegistrationKey, own: bool) -> Outcome {
    // The kernel's SCSI registration always asks for APTPL, which some
    // arrays refuse: a key registered beforehand (e.g. with sg_persist) is
    // then used as it is.
    let registered = disk.dev.pr_register(key.get()).or_else(|e| match disk.dev.pr_key_registered(key.get()) {
        Ok(true) => {
            pr_info!("{}: {}: registering failed ({}), but our key is registered already: using it\n", name, disk.path(), e);
            Ok(())
        }
        _ => Err(e),
    });
    let Err(e) = registered else { return Ok(()) };
    // Our own disk held by the partner says more than why we could not
    // register (an array that refuses APTPL, our key preempted).
    match holder_node(disk, key) {
        Some(node) if own => Err(refuse!(EBUSY, "{}: refused {}: node {} holds it (ask it to give back)", name, disk.path(), node)),
        // dm registers on every path or on none: a path down fails it.
        _ if disk.dev.is_device_mapper() => Err(refuse!(
            EIO,
            "{}: refused {}: registering through the multipath map failed ({}): a path down? register on the paths that work with mpathpersist (coretakeover apply does)",
            name,
            disk.path(),
            e
        )),
        _ => Err(refuse!(EIO, "{}: refused {}: persistent reservation failed: {}", name, disk.path(), e)),
    }
}

/// The node (of our cluster or another) whose key holds `disk`, if not ours.
fn holder_node(disk: &NamedDisk, key: RegistrationKey) -> Option<NodeId> {
    let holder = disk.dev.pr_holder().ok().flatten().map(|(k, _)| k).filter(|k| *k != key.get());
    holder.and_then(|k| RegistrationKey::from_raw(k).decode()).map(|(_, node)| node)
}

/// Reserves `disk` with `key` (registered).
fn take_reservation(name: &str, disk: &NamedDisk, key: RegistrationKey) -> Outcome {
    let Err(e) = disk.dev.pr_reserve(key.get()) else { return Ok(()) };
    Err(match holder_node(disk, key) {
        Some(node) => refuse!(EBUSY, "{}: refused {}: node {} holds it (ask it to give back)", name, disk.path(), node),
        None => refuse!(EBUSY, "{}: refused {}: persistent reservation failed: {}", name, disk.path(), e),
    })
}

/// Sets this node's own service disks: registers and reserves each.
pub(crate) fn set_service_disks(paths: &[&str]) -> Outcome {
    let disks = open_service_disks("service_disks", paths, true)?;
    with_pairing(|p| {
        let maps = disks.iter().filter(|d| d.dev.is_device_mapper()).count();
        pr_info!(
            "service_disks: {} disks registered and reserved (Write Exclusive; {} multipath maps Registrants Only)\n",
            disks.len(),
            maps
        );
        p.set_service_disks(disks);
        Ok(())
    })
}

/// Sets the partner's service disks: registers on each, so that a takeover
/// is one command per disk. Refused while they are held.
pub(crate) fn set_partner_disks(paths: &[&str]) -> Outcome {
    if read_pairing(|p| Ok(p.holds_partner_disks()))? {
        return Err(refuse!(EBUSY, "partner_disks: refused: holding the partner's disks"));
    }
    let disks = open_service_disks("partner_disks", paths, false)?;
    with_pairing(|p| {
        if p.holds_partner_disks() {
            return Err(refuse!(EBUSY, "partner_disks: refused: holding the partner's disks"));
        }
        pr_info!("partner_disks: registered on {} disks\n", disks.len());
        p.set_partner_disks(disks)?;
        Ok(())
    })
}

/// An errno that `kernel::error::code` does not name.
fn errno(code: u32) -> Error {
    Error::from_errno(-(code as i32))
}

/// Watches the partner through its coredump disk at `path`, which must carry
/// the partner's label; `None` stops watching.
pub(crate) fn watch_partner_disk(path: Option<&str>) -> Outcome {
    let Some(path) = path else {
        return with_pairing(|p| {
            p.stop_watching();
            Ok(())
        });
    };
    if path.split_whitespace().nth(1).is_some() {
        return Err(refuse!(EINVAL, "partner_dump_disk: refused: give one device path, or none"));
    }
    check_path("partner_dump_disk", path)?;
    let (Some(cluster), Some(partner)) = (identity().cluster, read_pairing(|p| Ok(p.partner))?) else {
        return Err(refuse!(EINVAL, "partner_dump_disk: refused: set cluster_id and partner_id first"));
    };
    let disk = NamedDisk::open(path, BlockDevice::open_read_only)
        .map_err(|e| refuse!(e, "partner_dump_disk: refused {}: cannot open it (error {})", path, e.to_errno()))?;
    if disk.dev.is_partition() {
        return Err(refuse!(EINVAL, "partner_dump_disk: refused {}: a partition; give the whole disk", path));
    }
    let identity = match dump_disk::read_label(&disk.dev)? {
        Ok(label) if label.belongs_to(cluster, partner) => {
            DiskIdentity { disk_uuid: label.disk_uuid, cluster: cluster.get(), node: partner.get() }
        }
        Ok(label) => {
            return Err(refuse!(EACCES, "partner_dump_disk: refused {}: labeled for cluster {} node {}, the partner is cluster {} node {}",
                path, label.cluster, label.node, cluster, partner));
        }
        Err(why) => {
            return Err(refuse!(errno(bindings::EMEDIUMTYPE), "partner_dump_disk: refused {}: {}", path, why));
        }
    };
    with_pairing(|p| {
        if p.partner != Some(partner) {
            return Err(refuse!(EAGAIN, "partner_dump_disk: refused: partner_id changed meanwhile"));
        }
        pr_info!("watching partner {} through {}\n", partner, path);
        p.watch_through(disk, identity);
        Ok(())
    })
}

/// A change of several settings at once (netlink `set-config`).
#[derive(Default)]
pub(crate) struct ConfigChange<'a> {
    pub(crate) cluster: Option<ClusterId>,
    pub(crate) node: Option<NodeId>,
    pub(crate) partner: Option<NodeId>,
    pub(crate) service_disks: Option<&'a [&'a str]>,
    pub(crate) partner_disks: Option<&'a [&'a str]>,
    /// `Some(None)` stops watching the partner.
    pub(crate) partner_dump_disk: Option<Option<&'a str>>,
}

/// Applies `change` in the order: cluster id, node id, partner id, service
/// disks, partner disks, partner coredump disk; each with the checks and
/// effects of its own operation. Everything that can be checked without an
/// effect - the paths, and that every named disk opens - is checked before
/// anything is applied; then it stops at the first refusal.
pub(crate) fn set_config(change: &ConfigChange<'_>) -> Outcome {
    let lists = [
        ("service_disks", change.service_disks),
        ("partner_disks", change.partner_disks),
        ("partner_dump_disk", change.partner_dump_disk.as_ref().and_then(Option::as_ref).map(core::slice::from_ref)),
    ];
    for (name, paths) in lists {
        let Some(paths) = paths else { continue };
        check_paths(name, paths)?;
        for path in paths {
            NamedDisk::open(path, BlockDevice::open_read_only)
                .map(drop)
                .map_err(|e| refuse!(e, "{}: refused {}: cannot open it (error {})", name, path, e.to_errno()))?;
        }
    }
    if let Some(id) = change.cluster {
        set_cluster(id)?;
    }
    if let Some(id) = change.node {
        set_node(id)?;
    }
    if let Some(id) = change.partner {
        set_partner(id)?;
    }
    if let Some(paths) = change.service_disks {
        set_service_disks(paths)?;
    }
    if let Some(paths) = change.partner_disks {
        set_partner_disks(paths)?;
    }
    if let Some(path) = change.partner_dump_disk {
        watch_partner_disk(path)?;
    }
    Ok(())
}

// Policy.

/// A numeric policy setting.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Setting {
    /// How often the heartbeat is written (milliseconds).
    IntervalMs,
    /// How often the partner's coredump disk is read (milliseconds): how
    /// late a panic beacon may be seen. Reads only.
    WatchIntervalMs,
    /// The longest silence of a live partner (milliseconds).
    StaleTimeoutMs,
    /// Bios in flight in the panic path, taken when a disk is armed.
    DumpBiosInFlight,
    /// The dump's time budget (milliseconds, 0: none), taken when a disk is
    /// armed: the model picks the richest page filter that fits it.
    DumpBudgetMs,
    /// 1: arming refuses without a fresh key in `dump_key` (no dump is
    /// ever written in clear by mistake).
    DumpEncrypt,
}

static INTERVAL_MS: AtomicU32 = AtomicU32::new(100);
static WATCH_INTERVAL_MS: AtomicU32 = AtomicU32::new(20);
static STALE_TIMEOUT_MS: AtomicU32 = AtomicU32::new(2000);
static DUMP_BIOS_IN_FLIGHT: AtomicU32 = AtomicU32::new(4);
static DUMP_BUDGET_MS: AtomicU32 = AtomicU32::new(0);
static DUMP_ENCRYPT: AtomicU32 = AtomicU32::new(0);
static AUTO_TAKEOVER: AtomicBool = AtomicBool::new(true);

impl Setting {
    /// The name of its knob.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::IntervalMs => "interval_ms",
            Self::WatchIntervalMs => "watch_interval_ms",
            Self::StaleTimeoutMs => "stale_timeout_ms",
            Self::DumpBiosInFlight => "dump_bios_in_flight",
            Self::DumpBudgetMs => "dump_budget_ms",
            Self::DumpEncrypt => "dump_encrypt",
        }
    }

    /// The values it accepts.
    pub(crate) const fn range(self) -> core::ops::RangeInclusive<u32> {
        match self {
            Self::IntervalMs | Self::WatchIntervalMs => 10..=10_000,
            Self::StaleTimeoutMs => 100..=600_000,
            Self::DumpBiosInFlight => 1..=MAX_BIOS_IN_FLIGHT,
            Self::DumpBudgetMs => 0..=3_600_000,
            Self::DumpEncrypt => 0..=1,
        }
    }

    fn cell(self) -> &'static AtomicU32 {
        match self {
            Self::IntervalMs => &INTERVAL_MS,
            Self::WatchIntervalMs => &WATCH_INTERVAL_MS,
            Self::StaleTimeoutMs => &STALE_TIMEOUT_MS,
            Self::DumpBiosInFlight => &DUMP_BIOS_IN_FLIGHT,
            Self::DumpBudgetMs => &DUMP_BUDGET_MS,
            Self::DumpEncrypt => &DUMP_ENCRYPT,
        }
    }
}

pub(crate) fn setting(s: Setting) -> u32 {
    s.cell().load(Ordering::Relaxed)
}

/// Sets `s` to `value`, if in its range. An armed disk keeps the bios in
/// flight it was armed with.
pub(crate) fn set_setting(s: Setting, value: u32) -> Outcome {
    let range = s.range();
    if !range.contains(&value) {
        return Err(refuse!(EINVAL, "{}: refused {}: give a number in {}..={}", s.name(), value, range.start(), range.end()));
    }
    s.cell().store(value, Ordering::Relaxed);
    Ok(())
}

/// The chunk checksum asked for (`ChecksumChoice::encode`), taken when a
/// disk is armed.
static DUMP_CHECKSUM: AtomicU32 = AtomicU32::new(0);

pub(crate) fn dump_checksum() -> ChecksumChoice {
    ChecksumChoice::decode(DUMP_CHECKSUM.load(Ordering::Relaxed)).unwrap_or(ChecksumChoice::Auto)
}

/// Sets the chunk checksum of the next arming; an armed disk keeps its own.
pub(crate) fn set_dump_checksum(choice: ChecksumChoice) {
    DUMP_CHECKSUM.store(choice.encode(), Ordering::Relaxed);
}

/// The page filter asked for (`Filter as u32`), taken when a disk is armed.
static DUMP_FILTER: AtomicU32 = AtomicU32::new(Filter::All as u32);

pub(crate) fn dump_filter() -> Filter {
    Filter::from_u32(DUMP_FILTER.load(Ordering::Relaxed)).unwrap_or(Filter::All)
}

/// Sets the page filter of the next arming; an armed disk keeps its own.
pub(crate) fn set_dump_filter(filter: Filter) {
    DUMP_FILTER.store(filter as u32, Ordering::Relaxed);
}

/// The codec asked for (`CodecChoice::encode`; 1 = none, the default),
/// taken when a disk is armed.
static DUMP_CODEC: AtomicU32 = AtomicU32::new(1);

pub(crate) fn dump_codec() -> CodecChoice {
    CodecChoice::decode(DUMP_CODEC.load(Ordering::Relaxed)).unwrap_or(CodecChoice::Fixed(Codec::None))
}

/// Sets the codec of the next arming; an armed disk keeps its own.
pub(crate) fn set_dump_codec(choice: CodecChoice) {
    DUMP_CODEC.store(choice.encode(), Ordering::Relaxed);
}

pub(crate) fn auto_takeover() -> bool {
    AUTO_TAKEOVER.load(Ordering::Relaxed)
}

/// Whether a stale heartbeat, too, starts a takeover (with `auto_takeover`).
static AUTO_TAKEOVER_ON_STALE: AtomicBool = AtomicBool::new(true);

pub(crate) fn auto_takeover_on_stale() -> bool {
    AUTO_TAKEOVER_ON_STALE.load(Ordering::Relaxed)
}

/// Whether a stale heartbeat starts a takeover by itself (a panic beacon
/// still does, with `auto_takeover`): off under a cluster manager, which
/// judges silence with quorum and fencing.
pub(crate) fn set_auto_takeover_on_stale(on: bool) {
    AUTO_TAKEOVER_ON_STALE.store(on, Ordering::Relaxed);
}

/// Whether a panic beacon or a stale heartbeat starts a takeover.
pub(crate) fn set_auto_takeover(on: bool) {
    AUTO_TAKEOVER.store(on, Ordering::Relaxed);
}

fn watch_policy() -> WatchPolicy {
    WatchPolicy {
        auto: AutoTakeover::from_knobs(auto_takeover(), auto_takeover_on_stale()),
        stale_timeout_ms: setting(Setting::StaleTimeoutMs),
        self_fence: self_fence(),
        running: ARMED.load(Ordering::Relaxed),
    }
}

// Commands.

/// The errno of a takeover that did not hold every disk.
pub(crate) fn partial_takeover() -> Error {
    Error::from_errno(-(bindings::EREMOTEIO as i32))
}

/// Takes over the partner's service disks now. Succeeds only when every
/// partner disk is held and verified; otherwise EREMOTEIO, naming the first
/// disk that failed (the takeover's result has them all).
pub(crate) fn takeover() -> Outcome {
    let ours = identity().registration_key();
    with_pairing(|p| {
        if p.partner.is_none() || p.partner_disks.is_empty() {
            return Err(refuse!(EINVAL, "takeover: refused: set partner_id and partner_disks first"));
        }
        let (held, total) = takeover::take_over(p, ours, Reason::Command, None);
        if held == total {
            return Ok(());
        }
        let failed = p.last.as_ref().and_then(|last| last.disks.iter().find(|d| !d.held()));
        Err(match failed.map(|d| (d.path(), &d.outcome)) {
            Some((path, Err(why))) => refuse!(
                partial_takeover(),
                "takeover: {} of {} disks held; {}: {}", held, total, path, why.message.as_str()
            ),
            _ => refuse!(partial_takeover(), "takeover: {} of {} disks held", held, total),
        })
    })
}

/// Gives the partner's service disks back (see `takeover::give_back`).
pub(crate) fn giveback() -> Outcome {
    let ours = identity().registration_key();
    with_pairing(|p| takeover::give_back(p, ours))
}

/// The takeover phase.
pub(crate) fn phase() -> Result<Phase> {
    read_pairing(|p| Ok(p.phase))
}

// The thread.

/// When the watcher's current turn began (monotonic ns; 0: not watching),
/// and the longest gap between the starts of two turns while the partner
/// was watched (`watch_gap_max_ms`).
static WATCH_LAST_NS: AtomicU64 = AtomicU64::new(0);
static WATCH_GAP_MAX_NS: AtomicU64 = AtomicU64::new(0);

/// The longest gap between two turns of the partner's watch, in ms, since
/// the module was loaded (or the figure was last reset).
pub(crate) fn watch_gap_max_ms() -> u64 {
    WATCH_GAP_MAX_NS.load(Ordering::Relaxed) / 1_000_000
}

/// Starts the figure of `watch_gap_max_ms` afresh.
pub(crate) fn reset_watch_gap() {
    WATCH_GAP_MAX_NS.store(0, Ordering::Relaxed);
}

/// One turn of the `coretakeover` thread: the heartbeat, when due. Its own
/// thread, under the arming lock only: arming (which holds that lock for
/// the rehearsal, the probes and the census) and a coredump disk that
/// stops answering delay the heartbeat, never the watch of the partner.
struct Beat;

impl Loop for Beat {
    fn turn() -> u32 {
        let interval = setting(Setting::IntervalMs);
        let ours = identity().registration_key();
        let _ = with_arming(|arming| {
            let now = now_ns();
            if now < arming.next_beat_ns {
                return Ok(());
            }
            arming.next_beat_ns = now + u64::from(interval) * 1_000_000;
            if let (Some(ctx), Some(key)) = (&arming.armed, ours) {
                match ctx.write_heartbeat(key, Liveness::Alive, interval, takeover::holds_disks_of()) {
                    Ok(()) => takeover::beat_landed(now),
                    Err(e) => pr_warn!("heartbeat write failed (error {})\n", e.to_errno()),
                }
            }
            Ok(())
        });
        interval
    }
}

/// One turn of the `coretakeover-watch` thread: the partner's watch, under
/// the pairing lock only.
struct Watcher;

impl Loop for Watcher {
    fn turn() -> u32 {
        let now = now_ns();
        let last = WATCH_LAST_NS.swap(now, Ordering::Relaxed);
        let ours = identity().registration_key();
        let watching = with_pairing(|p| {
            let policy = watch_policy();
            let partner_beat = takeover::watch_partner(p, ours, policy);
            takeover::check_fenced(p, ours, policy, partner_beat);
            Ok(p.partner_dump.is_some())
        });
        if matches!(watching, Ok(true)) {
            if last != 0 {
                WATCH_GAP_MAX_NS.fetch_max(now.saturating_sub(last), Ordering::Relaxed);
            }
        } else {
            WATCH_LAST_NS.store(0, Ordering::Relaxed);
        }
        setting(Setting::WatchIntervalMs)
    }
}

/// One turn of the `coretakeover-labels` thread: reads again the labels of
/// the partner disks due for it (`takeover::labels_due`). Not on the
/// watcher's thread: a read of a partner service disk can wait as long as
/// the disk's path does (a multipath map queueing, or suspended while
/// multipathd reloads it), and must never hold up this node's heartbeat or
/// the watch of the partner. The reads run without the pairing's lock.
struct LabelChecker;

impl Loop for LabelChecker {
    fn turn() -> u32 {
        let Ok((due, n)) = read_pairing(|p| Ok(takeover::labels_due(p))) else { return LABEL_TURN_MS };
        for &(i, dev) in &due[..n] {
            let found = takeover::read_identity(dev);
            let _ = with_pairing(|p| {
                takeover::record_identity(p, i, dev, found);
                Ok(())
            });
        }
        LABEL_TURN_MS
    }
}

/// How often the label checker looks for disks due (each disk is due far
/// less often: `ct_core::identity`).
const LABEL_TURN_MS: u32 = 100;

/// The node's state and its thread, for the module root. Dropping it stops
/// the thread, then disarms and closes every disk. The interfaces must be
/// gone before (the module root drops them first).
pub(crate) struct Registration {
    beat: Option<Thread>,
    watch: Option<Thread>,
    labels: Option<Thread>,
    state: Pin<KBox<State>>,
}

impl Registration {
    pub(crate) fn new() -> Result<Self> {
        let state = KBox::pin_init(
            pin_init!(State {
                arming <- new_mutex!(Arming { armed: None, pending_key: None, next_beat_ns: 0 }, "coretakeover::arming"),
                pairing <- new_mutex!(Pairing::new(), "coretakeover::pairing"),
            }),
            GFP_KERNEL,
        )?;
        STATE.store((&*state as *const State).cast_mut(), Ordering::Release);
        let mut registration = Self { beat: None, watch: None, labels: None, state };
        registration.beat = Some(Thread::start::<Beat>(c_str!("coretakeover"))?);
        registration.watch = Some(Thread::start::<Watcher>(c_str!("coretakeover-watch"))?);
        registration.labels = Some(Thread::start::<LabelChecker>(c_str!("coretakeover-labels"))?);
        Ok(registration)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: Process context; no lapse check runs after this.
        unsafe { shims::ct_lapse_stop() };
        // No turn of any thread runs after this.
        self.labels = None;
        self.watch = None;
        self.beat = None;
        STATE.store(core::ptr::null_mut(), Ordering::Release);
        // The disks close when the pairing's lists drop with the state.
        let mut arming = self.state.arming.lock();
        if let Some(ctx) = arming.armed.take() {
            dump_disk::disarm(ctx, identity().registration_key(), setting(Setting::IntervalMs), takeover::holds_disks_of());
        }
    }
}
