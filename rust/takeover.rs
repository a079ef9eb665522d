// SPDX-License-Identifier: GPL-2.0

//! The takeover engine, the surviving node's side: it watches the partner's
//! coredump disk and takes over the partner's service disks with persistent
//! reservations - at once on the partner's panic beacon, after the stale
//! timeout on a silent heartbeat, or on command - and gives them back.
//!
//! The node's thread (`node.rs`) calls [`watch_partner`] every
//! `watch_interval_ms`: it reads the partner's dump header copies and
//! heartbeat block with direct bios (no page cache), judges them
//! (`ct_core::partner`) and, if the policy says so, takes over.
//!
//! Takeover, for every partner service disk in parallel (one work item per
//! disk on the unbound workqueue), holds only what fences: one PREEMPT AND
//! ABORT of the partner's key with ours per disk (on a multipath map
//! through one of its live paths; a plain PREEMPT, reported as `preempt`,
//! where the target rejects ABORT, as tgt does, or no path takes it), whose
//! GOOD status is the fence (SPC-3): the array completes it only once the
//! partner's queued commands are aborted or done. Then
//! the drop of what this node's page cache holds of the disk (the partner
//! wrote it since). A disk that carries a coredump label is never touched:
//! the labels are checked when the disks are configured and again in the
//! background (the `coretakeover-labels` thread: [`labels_due`],
//! [`read_identity`] without the pairing, `ct_core::identity`), and read on the path
//! only where no recent check vouches for a disk. Each disk's outcome and
//! latency is kept (the `TakeoverResult` netlink reports), and the end is
//! logged at KERN_WARNING, so it reaches a console booted with `quiet`.
//! Then, off the critical path, every preempted disk's reservation is read
//! back; a disk that is not ours after all raises an alarm (KERN_ERR line,
//! the disk's result turned to a failure, the phase to `partial` with its
//! event). What happens is told as events (`events.rs`); this file knows
//! nothing of the interfaces that listen.

use crate::bdev::{BlockDevice, IoBuf, NamedDisk, PAGE};
use crate::crc::KernelCrc;
use crate::ct_core::header::{belongs_to, newest, DumpState, Header, HeaderError, HEADER_COPY_OFFSETS, HEADER_SIZE};
use crate::ct_core::heartbeat::Heartbeat;
use crate::ct_core::identity::{due_this_turn, Identity, PathCheck, CHECKS_PER_TURN};
use crate::ct_core::ids::NodeId;
use crate::ct_core::keys::RegistrationKey;
use crate::ct_core::partner::{decide, fence_check_due, fenced_by_holder, stale_fence_due, AutoTakeover, Method, PartnerWatch, Phase, Reading, Reason, SelfFence, SelfView, Verdict};
use crate::ct_core::plan::HEARTBEAT_OFFSET;
use crate::ct_core::retry::{Retry, RetryWindow};
use crate::dump_disk::{carries_label, label_present};
use crate::events::{emit, DiskResult, Event, Failure, Taken, TakeoverResult};
use crate::polled_bio::now_ns;
use crate::pr::{PathPreempt, PrError};
use crate::refusal::{refuse, Outcome, Text};
use crate::shims;
use core::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use kernel::bindings;
use kernel::prelude::*;

/// What the watch needs to know of the node's policy, read at every watch.
#[derive(Clone, Copy)]
pub(crate) struct WatchPolicy {
    /// Which verdicts start a takeover by themselves.
    pub(crate) auto: AutoTakeover,
    /// The longest silence of a live partner (milliseconds).
    pub(crate) stale_timeout_ms: u32,
    /// What this node does once it knows its partner fenced it.
    pub(crate) self_fence: SelfFence,
    /// This node's coredump disk is armed, its heartbeat alive: it has not
    /// stopped on purpose.
    pub(crate) running: bool,
}

/// The pairing: the partner, its disks, and the watch. The node (`node.rs`)
/// owns it behind a mutex and changes it only through this file's functions
/// or its own checked operations.
pub(crate) struct Pairing {
    pub(crate) partner: Option<NodeId>,
    pub(crate) partner_dump: Option<NamedDisk>,
    /// The identity of the partner's coredump disk as its label said when
    /// the watch started: every header copy and heartbeat read from it must
    /// carry it, or it is ignored (a copy of another disk's, or forged).
    partner_identity: Option<DiskIdentity>,
    /// Something foreign was seen on it since the watch started (logged once).
    foreign_seen: bool,
    pub(crate) partner_disks: KVec<NamedDisk>,
    /// The last label check of each partner disk (same order).
    partner_ids: KVec<Identity>,
    pub(crate) service_disks: KVec<NamedDisk>,
    pub(crate) watch: Option<PartnerWatch>,
    pub(crate) verdict: Verdict,
    pub(crate) phase: Phase,
    /// The partner's dump progress last reported (events every 10 %).
    pub(crate) last_percent: Option<u64>,
    /// What the last takeover did.
    pub(crate) last: Option<TakeoverResult>,
    /// When this node last read its own disks' reservation (`check_fenced`).
    last_self_check_ms: u64,
    /// This node reserved its service disks and has not found them held by
    /// another key since it last armed: losing them now is a fence, not
    /// the expected end of a planned stop.
    owns: bool,
}

impl Pairing {
    pub(crate) fn new() -> Self {
        Self {
            partner: None,
            partner_dump: None,
            partner_identity: None,
            foreign_seen: false,
            partner_disks: KVec::new(),
            partner_ids: KVec::new(),
            service_disks: KVec::new(),
            watch: None,
            verdict: Verdict::Unknown,
            phase: Phase::Idle,
            last_percent: None,
            last: None,
            last_self_check_ms: 0,
            owns: false,
        }
    }

    /// Moves to `phase`, telling the listeners; the heartbeat says whose
    /// disks this node holds from its next write.
    pub(crate) fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        let holds = if phase.took_over() { self.partner.map_or(0, |n| n.get()) } else { 0 };
        HOLDS_DISKS_OF.store(holds, Ordering::Relaxed);
        emit(&Event::TakeoverState(phase));
    }

    /// Starts watching the partner through `disk`, whose label says
    /// `identity`, from now on.
    pub(crate) fn watch_through(&mut self, disk: NamedDisk, identity: DiskIdentity) {
        self.partner_dump = Some(disk);
        self.partner_identity = Some(identity);
        self.foreign_seen = false;
        self.watch_anew();
        if self.phase == Phase::Idle {
            self.enter(Phase::Watching);
        }
    }

    /// Stops watching the partner.
    pub(crate) fn stop_watching(&mut self) {
        self.partner_dump = None;
        self.partner_identity = None;
        self.watch = None;
        if self.phase == Phase::Watching {
            self.enter(Phase::Idle);
        }
    }

    /// Judges the partner afresh from now on (what was seen so far proves
    /// nothing about what comes).
    fn watch_anew(&mut self) {
        self.watch = self.partner_dump.as_ref().map(|_| PartnerWatch::new(now_ms()));
        self.verdict = Verdict::Unknown;
    }

    /// This node's own service disks are set anew: if the partner had
    /// fenced this node, they are ours again and the partner is watched
    /// anew.
    pub(crate) fn set_service_disks(&mut self, disks: KVec<NamedDisk>) {
        self.set_owns(!disks.is_empty());
        self.service_disks = disks;
        if self.phase == Phase::Fenced {
            self.watch_anew();
            self.enter(if self.watch.is_some() { Phase::Watching } else { Phase::Idle });
        }
    }

    /// Sets the partner's service disks, which the caller found unlabeled
    /// just now.
    pub(crate) fn set_partner_disks(&mut self, disks: KVec<NamedDisk>) -> Result {
        let mut ids = KVec::with_capacity(disks.len(), GFP_KERNEL)?;
        let now = now_ms();
        for _ in disks.iter() {
            ids.push(Identity::Service { at_ms: now }, GFP_KERNEL)?;
        }
        self.partner_disks = disks;
        self.partner_ids = ids;
        Ok(())
    }

    /// This node has just armed: if its first service disk is held by
    /// another key (the partner took the disks while this node was
    /// stopped on purpose), it does not own them until it reserves them
    /// again, and losing them is no reason to self-fence.
    pub(crate) fn armed_again(&mut self, key: u64) {
        if let Some(disk) = self.service_disks.first() {
            if let Ok(holder) = disk.dev.pr_holder() {
                if fenced_by_holder(holder.map(|(k, _)| k), key) {
                    pr_info!("armed while {} is held by another key: this node owns its disks again only once it reserves them\n", disk.path());
                    self.set_owns(false);
                }
            }
        }
    }

    /// Whether this node owns its own disks, for the watch and for the
    /// lapse check (which reads it without the lock).
    fn set_owns(&mut self, owns: bool) {
        self.owns = owns;
        OWNS.store(owns, Ordering::Relaxed);
    }

    /// Whether this node holds, or is taking, (some of) the partner's disks.
    pub(crate) fn holds_partner_disks(&self) -> bool {
        self.phase.took_over()
    }
}

/// The partner whose disks this node holds after a takeover (0: none), for
/// the heartbeat, which is written without the pairing's lock.
static HOLDS_DISKS_OF: AtomicU16 = AtomicU16::new(0);

/// Whose disks this node holds after a takeover (0: none).
pub(crate) fn holds_disks_of() -> u16 {
    HOLDS_DISKS_OF.load(Ordering::Relaxed)
}

/// How often a node that self-fences reads the reservation of its first
/// service disk without a sign from its partner (whose coredump disk it may
/// not be able to read).
const SELF_CHECK_MS: u64 = 1000;

/// Set once the self-fence acted: it acts once.
static SELF_FENCED: AtomicBool = AtomicBool::new(false);

/// `Pairing::owns`, for the lapse check.
static OWNS: AtomicBool = AtomicBool::new(false);

/// When the last heartbeat saying alive that reached the disk began
/// (monotonic ns; 0: none since this node armed).
static LAST_BEAT_NS: AtomicU64 = AtomicU64::new(0);

/// A heartbeat saying alive that began at `started_ns` reached the disk;
/// 0: the node disarmed (its heartbeat says stopped, or nothing).
pub(crate) fn beat_landed(started_ns: u64) {
    LAST_BEAT_NS.store(started_ns, Ordering::Relaxed);
}

/// How often every CPU checks the lapse. After a hang longer than this,
/// the check's timer has expired when the CPU takes interrupts again.
pub(crate) const LAPSE_TICK_MS: u64 = 100;

/// What the lapse check reads of the takeover's state, without a lock:
/// whether this node owns its disks, and when its last alive heartbeat
/// that reached the disk began (None: none since it armed).
pub(crate) fn lapse_view() -> (bool, Option<u64>) {
    let beat = LAST_BEAT_NS.load(Ordering::Relaxed);
    (OWNS.load(Ordering::Relaxed), (beat != 0).then_some(beat))
}

/// Takes the one self-fence a node gets (false: it already acted).
pub(crate) fn claim_self_fence() -> bool {
    !SELF_FENCED.swap(true, Ordering::AcqRel)
}

/// Whether this node was fenced by its partner while it ran (it hung, was
/// fenced, and runs again), and if so, stops it as `self_fence` says: at
/// once when the partner's heartbeat says it holds this node's disks
/// (`partner_holds`, from this turn's watch), and within `SELF_CHECK_MS`
/// otherwise. The reservation read from this node's own disks decides; a
/// node that stopped on purpose or has no disks of its own never acts
/// (`ct_core::partner::fence_check_due`).
pub(crate) fn check_fenced(p: &mut Pairing, ours: Option<RegistrationKey>, policy: WatchPolicy, partner_holds: Option<u16>) {
    let Some((key, node)) = ours.and_then(|k| k.decode().map(|(_, n)| (k.get(), n.get()))) else { return };
    let now = now_ms();
    let periodic = now.saturating_sub(p.last_self_check_ms) >= SELF_CHECK_MS;
    let me = SelfView { mode: policy.self_fence, node, owns_disks: p.owns, running: policy.running };
    if !fence_check_due(me, partner_holds, periodic) || SELF_FENCED.load(Ordering::Relaxed) {
        return;
    }
    p.last_self_check_ms = now;
    let suspected = partner_holds == Some(node);
    // Without a sign from the partner only the first disk is read: a
    // takeover preempts every disk at once.
    let found = p.service_disks.iter().take(if suspected { usize::MAX } else { 1 }).find_map(|d| match d.dev.pr_holder() {
        Ok(holder) if fenced_by_holder(holder.map(|(k, _)| k), key) => Some((Text::<96>::of(format_args!("{}", d.path())), holder.map_or(0, |(k, _)| k))),
        _ => None,
    });
    let Some((disk, holder)) = found else { return };
    if SELF_FENCED.swap(true, Ordering::AcqRel) {
        return;
    }
    pr_emerg!(
        "self-fence ({}): {} is held by key {:#018x}, not ours: the partner took this node's disks over while it ran ({}); stopping this node now\n",
        policy.self_fence.as_str(),
        disk.as_str(),
        holder,
        if suspected { "its heartbeat says so" } else { "periodic check" }
    );
    if p.phase != Phase::Fenced {
        p.enter(Phase::Fenced);
    }
    stop_node(policy.self_fence, kernel::c_str!("coretakeover: self-fence: the partner holds this node's disks"));
}

/// The self-fence's action: `panic(why)` (which dumps) or an immediate
/// restart; nothing for `off`. Any context (the lapse check calls it from a
/// hard-interrupt timer); it does not return unless `mode` is off.
pub(crate) fn stop_node(mode: SelfFence, why: &'static kernel::str::CStr) {
    match mode {
        // SAFETY: `why` is NUL-terminated and has no format directive;
        // `panic` does not return.
        SelfFence::Panic => unsafe { bindings::panic(why.as_char_ptr()) },
        // SAFETY: Any context, as sysrq-b uses it; it does not return.
        SelfFence::Reboot => unsafe { shims::emergency_restart() },
        SelfFence::Off => {}
    }
}

/// Milliseconds on this node's monotonic clock.
fn now_ms() -> u64 {
    now_ns() / 1_000_000
}

/// The identity of a coredump disk, from its label.
#[derive(Clone, Copy)]
pub(crate) struct DiskIdentity {
    pub(crate) disk_uuid: [u8; 16],
    pub(crate) cluster: u32,
    pub(crate) node: u16,
}

/// Reads the partner's dump header (newest valid copy of this disk, `id`)
/// and heartbeat (of the partner). Returns the reading, the dump's
/// progress in percent if dumping, whether nothing at all could be read
/// (the path to the disk is lost), and whether a copy or heartbeat of
/// another disk or node was found (and ignored).
fn read_partner(dev: &BlockDevice, id: Option<DiskIdentity>) -> (Reading, Option<u64>, bool, bool) {
    let mut reading = Reading::default();
    let mut percent = None;
    let mut foreign = false;
    let (Ok(mut a), Ok(mut b), Ok(mut beat)) = (IoBuf::new(HEADER_SIZE), IoBuf::new(HEADER_SIZE), IoBuf::new(PAGE)) else {
        return (reading, percent, false, false);
    };
    let ok_a = dev.read(HEADER_COPY_OFFSETS[0], &mut a).is_ok();
    let ok_b = dev.read(HEADER_COPY_OFFSETS[1], &mut b).is_ok();
    if ok_a || ok_b {
        let copies = [
            of_disk(Header::parse(a.as_slice(), &KernelCrc), id, &mut foreign),
            of_disk(Header::parse(b.as_slice(), &KernelCrc), id, &mut foreign),
        ];
        if let Some(h) = newest([&copies[0], &copies[1]]).and_then(|i| copies[i].as_ref().ok()) {
            reading.header_state = Some(h.state());
            if h.state().holds_unsaved_dump() {
                // No division that could panic (and none objtool misreads).
                percent = h.watermark().saturating_mul(100).checked_div(h.dump_bytes());
            }
        }
    }
    let ok_beat = dev.read(HEARTBEAT_OFFSET, &mut beat).is_ok();
    if ok_beat {
        reading.heartbeat = Heartbeat::decode(beat.as_slice(), &KernelCrc).ok().filter(|h| {
            let mine = id.map_or(true, |id| h.cluster == id.cluster && h.node == id.node);
            foreign |= !mine;
            mine
        });
    }
    (reading, percent, !(ok_a || ok_b || ok_beat), foreign)
}

/// A header copy, if valid and of the disk `id` (a valid copy of another
/// disk counts as no copy, and sets `foreign`).
fn of_disk<'a>(parsed: Result<Header<&'a [u8]>, HeaderError>, id: Option<DiskIdentity>, foreign: &mut bool) -> Result<Header<&'a [u8]>, HeaderError> {
    match (parsed, id) {
        (Ok(h), Some(id)) if !belongs_to(&h, &id.disk_uuid, id.cluster, id.node) => {
            *foreign = true;
            Err(HeaderError::Malformed("another disk's header"))
        }
        (parsed, _) => parsed,
    }
}

/// One watch of the partner; takes over if the policy says so. Returns
/// whose disks the partner's heartbeat says it holds (`check_fenced`).
pub(crate) fn watch_partner(p: &mut Pairing, ours: Option<RegistrationKey>, policy: WatchPolicy) -> Option<u16> {
    let (Some(dump), Some(watch)) = (&p.partner_dump, &mut p.watch) else { return None };
    let stale = u64::from(policy.stale_timeout_ms);
    let (reading, percent, unreadable, foreign) = read_partner(&dump.dev, p.partner_identity);
    if foreign && !p.foreign_seen {
        pr_warn!("partner's coredump disk holds a dump header copy or heartbeat of another disk or node: ignored (copied or forged?)\n");
    }
    p.foreign_seen |= foreign;
    let holds = reading.heartbeat.map(|h| h.holds_disks_of);
    let verdict = if unreadable { watch.unreadable(now_ms()) } else { watch.observe(&reading, now_ms(), stale) };
    // A change of judgement is logged and notified; a stale partner's
    // growing silence is not one.
    let changed = !verdict.same_judgement(p.verdict);
    p.verdict = verdict;
    if changed {
        if verdict == Verdict::Unreachable {
            pr_warn!("partner is unreachable: its coredump disk cannot be read; no automatic takeover until it can\n");
        } else {
            pr_warn!("partner is {}\n", verdict.as_str());
        }
        emit(&Event::PartnerState { verdict, dump_percent: percent });
    }
    if let Some(pct) = percent.filter(|_| verdict == Verdict::Panicked) {
        if p.last_percent.map_or(true, |last| pct / 10 > last / 10) {
            p.last_percent = Some(pct);
            emit(&Event::DumpProgress { percent: pct });
        }
    }
    if p.phase == Phase::Fenced {
        return holds;
    }
    // After a takeover, holding or partial, nothing starts again on its own.
    let Some(reason) = decide(verdict, policy.auto, p.phase.took_over()) else { return holds };
    if let Verdict::Stale { silent_ms } = verdict {
        // A silent partner may be alive and believe the same of us: the
        // lower id waits longer, and nobody fences after being fenced.
        let ids = ours.and_then(|k| k.decode()).map(|(_, n)| n.get()).zip(p.partner.map(|n| n.get()));
        if let Some((our_id, partner_id)) = ids {
            if !stale_fence_due(silent_ms, stale, our_id, partner_id) {
                return holds;
            }
        }
        if let Some((disk, holder)) = ours.and_then(|k| fenced_by(p, k.get())) {
            pr_warn!(
                "fenced: {} is held by key {:#018x}, not ours: the partner fenced this node first; this node lost and takes nothing over\n",
                disk, holder
            );
            p.enter(Phase::Fenced);
            return holds;
        }
    }
    take_over(p, ours, reason, percent);
    holds
}

/// Whether someone else holds one of our own service disks: the first such
/// disk's path and the holder's key.
fn fenced_by(p: &Pairing, key: u64) -> Option<(&str, u64)> {
    p.service_disks.iter().find_map(|d| match d.dev.pr_holder() {
        Ok(Some((k, _))) if k != key => Some((d.path(), k)),
        _ => None,
    })
}

/// The partner disks whose labels are due to be read again (a few per
/// call; `ct_core::identity`): their indices and device numbers.
pub(crate) fn labels_due(p: &Pairing) -> ([(usize, u32); CHECKS_PER_TURN], usize) {
    let mut out = [(0, 0); CHECKS_PER_TURN];
    if p.phase == Phase::TakingOver {
        return (out, 0);
    }
    let mut due = [0; CHECKS_PER_TURN];
    let n = due_this_turn(&p.partner_ids, now_ms(), &mut due);
    let mut k = 0;
    for &i in &due[..n] {
        if let Some(disk) = p.partner_disks.get(i) {
            out[k] = (i, disk.dev.dev());
            k += 1;
        }
    }
    (out, k)
}

/// Reads the label of partner disk `dev` through a handle of its own,
/// without the pairing: a read that waits (a multipath map suspended, or
/// queueing with no path) holds up nothing but the next label check.
pub(crate) fn read_identity(dev: u32) -> Identity {
    let now = now_ms();
    match BlockDevice::open_read_only_by_dev(dev) {
        Ok(handle) => Identity::read(now, label_present(&handle)),
        Err(_) => Identity::read(now, None),
    }
}

/// Records what `read_identity` found for partner disk `i`, if it is still
/// the disk `dev` (the list may have changed meanwhile), and says when a
/// disk's identity changed.
pub(crate) fn record_identity(p: &mut Pairing, i: usize, dev: u32, found: Identity) {
    if p.partner_disks.get(i).map(|d| d.dev.dev()) != Some(dev) || p.phase == Phase::TakingOver {
        return;
    }
    let (Some(disk), Some(id)) = (p.partner_disks.get(i), p.partner_ids.get(i).copied()) else { return };
    if core::mem::discriminant(&found) != core::mem::discriminant(&id) && id != Identity::Unchecked {
        match found {
            Identity::Labeled { .. } => pr_warn!("partner disk {} now carries a coredump label: a takeover leaves it untouched\n", disk.path()),
            Identity::Unreadable { .. } => pr_warn!("partner disk {}: its label cannot be read: a takeover reads it first\n", disk.path()),
            _ => pr_info!("partner disk {}: {} before, no coredump label now\n", disk.path(), id.as_str()),
        }
    }
    if let Some(slot) = p.partner_ids.get_mut(i) {
        *slot = found;
    }
}

/// Takes over every partner service disk. Idempotent: a disk we already
/// hold is only checked.
pub(crate) fn take_over(p: &mut Pairing, ours: Option<RegistrationKey>, reason: Reason, percent: Option<u64>) -> (usize, usize) {
    let (Some(ours), Some(partner)) = (ours, p.partner) else {
        pr_warn!("takeover ({}) impossible: cluster_id, node_id or partner_id unset\n", reason.as_str());
        return (0, p.partner_disks.len());
    };
    let Some(cluster) = ours.decode().map(|(c, _)| c) else { return (0, p.partner_disks.len()) };
    let victim = RegistrationKey::derive(cluster, partner).get();
    let key = ours.get();
    p.enter(Phase::TakingOver);
    emit(&Event::TakeoverStarted { reason, disks: p.partner_disks.len() });
    let started = now_ns();
    let total = p.partner_disks.len();
    let mut disks = KVec::new();
    let _ = disks.reserve(total, GFP_KERNEL);
    let mut checks = KVec::new();
    let now = now_ms();
    for i in 0..total {
        let check = p.partner_ids.get(i).map_or(PathCheck::ReadLabel, |id| id.on_path(now));
        // Without memory the disks are checked on the path, as before.
        let _ = checks.push(check, GFP_KERNEL);
    }
    for (disk, (outcome, us, queued_us)) in p.partner_disks.iter().zip(take_all(&p.partner_disks, &checks, key, victim)) {
        let outcome = outcome.map_err(|e| {
            pr_warn!("takeover: {}: {} ({} us)\n", disk.path(), e, us);
            Failure { errno: e.errno(), message: Text::of(format_args!("{}", e)), attempts: e.attempts() }
        });
        // Without memory for a disk's line the count still says it.
        let _ = DiskResult::new(disk.path(), outcome, us, queued_us).and_then(|r| disks.push(r, GFP_KERNEL).map_err(Into::into));
    }
    let held = disks.iter().filter(|d| d.held()).count();
    let duration_us = (now_ns() - started) / 1000;
    let ms = duration_us / 1000;
    let result = TakeoverResult { reason, held, total, duration_us, dump_percent: percent, disks };
    emit(&Event::TakeoverDone(&result));
    p.enter(Phase::after_takeover(held, total));
    match percent {
        Some(pct) => pr_warn!(
            "takeover done: {} of {} disks held in {} ms ({}); partner dump at {}%\n",
            held, total, ms, reason.as_str(), pct
        ),
        None => pr_warn!("takeover done: {} of {} disks held in {} ms ({})\n", held, total, ms, reason.as_str()),
    }
    let (result, held) = verify(&p.partner_disks, result, key);
    p.last = Some(result);
    if held != total && p.phase == Phase::Holding {
        p.enter(Phase::Partial);
    }
    (held, total)
}

/// Off the critical path: reads back the reservation of every disk the
/// takeover preempted (its GOOD status said we hold it). A disk held by
/// someone else, or by nobody, raises the alarm: a KERN_ERR line and the
/// disk's result turned into a failure. Returns the result and how many
/// disks are held. A read-back that fails leaves the disk counted held (the
/// PREEMPT's GOOD stands) and says so.
fn verify(partner_disks: &[NamedDisk], mut result: TakeoverResult, key: u64) -> (TakeoverResult, usize) {
    let t0 = now_ns();
    let mut checked = 0;
    let mut alarms = 0;
    for (disk, r) in partner_disks.iter().zip(result.disks.iter_mut()) {
        if !matches!(r.outcome, Ok(Taken { method: Method::PreemptAbort | Method::Preempt, .. })) {
            continue;
        }
        checked += 1;
        match disk.dev.pr_holder() {
            Ok(Some((k, _))) if k == key => {}
            Ok(holder) => {
                alarms += 1;
                let attempts = r.outcome.as_ref().map_or(1, |t| t.attempts);
                let message = match holder {
                    Some((k, _)) => Text::of(format_args!("ALARM: preempted, but read back held by key {:#x}", k)),
                    None => Text::of(format_args!("ALARM: preempted, but read back held by nobody")),
                };
                pr_err!("takeover ALARM: {}: PREEMPT said GOOD, but the reservation read back is not ours ({:?}): not held\n", disk.path(), holder.map(|h| h.0));
                r.outcome = Err(Failure { errno: bindings::EBUSY, message, attempts });
            }
            Err(e) => pr_warn!("takeover: {}: reading the reservation back failed ({}); the PREEMPT's GOOD stands\n", disk.path(), e),
        }
    }
    let held = result.disks.iter().filter(|d| d.held()).count();
    result.held = held;
    let us = (now_ns() - t0) / 1000;
    if alarms == 0 {
        pr_info!("takeover verified: {} preempted disks read back ours in {} us\n", checked, us);
    } else {
        pr_err!("takeover ALARM: {} of {} preempted disks are not ours on reading back ({} us): {} of {} held\n", alarms, checked, us, held, result.total);
    }
    (result, held)
}

/// Gives the partner's disks back: releases our reservation on each, so the
/// returning partner can reserve them again, and watches it anew. Refused
/// unless the partner is alive (its heartbeat moves) and done dumping.
pub(crate) fn give_back(p: &mut Pairing, ours: Option<RegistrationKey>) -> Outcome {
    let Some(ours) = ours else { return Err(refuse!(EINVAL, "giveback: refused: set cluster_id and node_id first")) };
    if !p.phase.took_over() {
        return Err(refuse!(EINVAL, "giveback: refused: not holding the partner's disks"));
    }
    if let Some(dump) = &p.partner_dump {
        let (reading, _, _, _) = read_partner(&dump.dev, p.partner_identity);
        if let Some(state) = reading.header_state.filter(|s| *s == DumpState::Dumping) {
            return Err(refuse!(EBUSY, "giveback: refused: the partner is still dumping (header {})", state.as_str()));
        }
    }
    if p.verdict != Verdict::Alive {
        return Err(refuse!(EAGAIN, "giveback: refused: the partner is {}, not alive (its heartbeat must move)", p.verdict.as_str()));
    }
    // A disk this node still uses (its filesystem mounted: the service not
    // stopped yet, as a cluster manager's unfencing can come before the
    // stop) would have two writers once the partner reserves it.
    if let Some(disk) = p.partner_disks.iter().find(|d| d.dev.claimed()) {
        pr_warn!("giveback: {} is in use on this node (a filesystem mounted on it, or dm or md holding it): stop what uses it, then give back\n", disk.path());
        return Err(refuse!(EBUSY, "giveback: refused: {} in use on this node (mounted?)", disk.path()));
    }
    // The takeover's PREEMPT AND ABORT removed the partner's registration.
    // It registers again when it asks for its disks: at its next boot, or
    // (a node not fenced) by asking. A node fenced after a hang does not
    // ask before it reboots: a filesystem it still has mounted holds the
    // state of before the fence (its journal, its caches), and must never
    // reach the disks again. Giving the disks back to it would leave them
    // to nobody.
    if let (Some(partner), Some((cluster, _))) = (p.partner, ours.decode()) {
        let theirs = RegistrationKey::derive(cluster, partner).get();
        for disk in p.partner_disks.iter() {
            match disk.dev.pr_key_registered(theirs) {
                Ok(true) => {}
                Ok(false) => {
                    // The extack holds 80 bytes: the log line says more.
                    pr_warn!("giveback: node {} has not registered on {} since the takeover: it registers when it asks for its disks (a node fenced after a hang asks after its reboot)\n", partner, disk.path());
                    return Err(refuse!(EAGAIN, "giveback: refused: node {} not registered on {} again", partner, disk.path()));
                }
                Err(e) => return Err(refuse!(EIO, "giveback: {}: cannot read the registrations: {}", disk.path(), e)),
            }
        }
    }
    let mut released = 0;
    for disk in p.partner_disks.iter() {
        match disk.dev.pr_holder() {
            Ok(Some((k, _))) if k == ours.get() => match disk.dev.pr_release(ours.get()) {
                Ok(()) => released += 1,
                Err(e) => return Err(refuse!(EIO, "giveback: {}: release failed: {}", disk.path(), e)),
            },
            Ok(_) => {}
            Err(e) => return Err(refuse!(EIO, "giveback: {}: cannot read the reservation: {}", disk.path(), e)),
        }
    }
    // What we cached of them goes stale as the partner writes.
    for disk in p.partner_disks.iter() {
        disk.dev.drop_cache();
    }
    p.watch_anew();
    p.enter(Phase::Watching);
    emit(&Event::GivebackDone { disks: p.partner_disks.len() });
    pr_warn!("giveback done: released {} of {} disks; the partner may reserve them\n", released, p.partner_disks.len());
    Ok(())
}

/// One disk's takeover, run on the unbound workqueue.
#[repr(C)]
struct Job {
    // First, so that the work pointer is the job pointer.
    work: bindings::work_struct,
    dev: *const BlockDevice,
    check: PathCheck,
    key: u64,
    victim: u64,
    outcome: core::result::Result<Taken, DiskError>,
    us: u64,
    /// When `take_all` started queueing, and how long this job waited for a
    /// worker after that.
    queued_ns: u64,
    queued_us: u64,
    remaining: *const core::sync::atomic::AtomicUsize,
    done: *mut bindings::completion,
}

unsafe extern "C" fn job_run(work: *mut bindings::work_struct) {
    // SAFETY: `work` is the first field of a `Job` queued by `take_all`,
    // which waits for every job before the job or anything it points to goes.
    let job = unsafe { &mut *work.cast::<Job>() };
    let t0 = now_ns();
    job.queued_us = t0.saturating_sub(job.queued_ns) / 1000;
    // SAFETY: As above: the device outlives the job.
    job.outcome = take_disk(unsafe { &*job.dev }, job.check, job.key, job.victim);
    job.us = (now_ns() - t0) / 1000;
    // SAFETY: As above.
    if unsafe { &*job.remaining }.fetch_sub(1, Ordering::AcqRel) == 1 {
        // SAFETY: As above; the last job wakes the waiter.
        unsafe { bindings::complete(job.done) };
    }
}

/// A disk's outcome, its latency and how long it waited for a worker (µs).
type JobResult = (core::result::Result<Taken, DiskError>, u64, u64);

/// Takes every disk in parallel (one work item each on the unbound
/// workqueue) and waits for all; each disk's outcome, latency and wait for
/// a worker, in order.
/// `checks[i]` says what the path does about disk i's label (a disk without
/// one reads it). Falls back to one disk after the other if the jobs cannot
/// be allocated.
fn take_all(disks: &[NamedDisk], checks: &[PathCheck], key: u64, victim: u64) -> KVec<JobResult> {
    let check = |i: usize| checks.get(i).copied().unwrap_or(PathCheck::ReadLabel);
    let mut results = KVec::new();
    let remaining = core::sync::atomic::AtomicUsize::new(disks.len());
    // SAFETY: All-zero is a valid initial state; `ct_init_completion` sets it up.
    let mut done: bindings::completion = unsafe { core::mem::zeroed() };
    let mut jobs: KVec<Job> = KVec::new();
    if jobs.reserve(disks.len(), GFP_KERNEL).is_err() || results.reserve(disks.len(), GFP_KERNEL).is_err() {
        let start = now_ns();
        for (i, disk) in disks.iter().enumerate() {
            let t0 = now_ns();
            let outcome = take_disk(&disk.dev, check(i), key, victim);
            let _ = results.push((outcome, (now_ns() - t0) / 1000, (t0 - start) / 1000), GFP_KERNEL);
        }
        return results;
    }
    // SAFETY: `done` lives on this stack frame until every job completed.
    unsafe { shims::ct_init_completion(&mut done) };
    for (i, disk) in disks.iter().enumerate() {
        let job = Job {
            // SAFETY: Set up by `ct_init_work` below, before queueing.
            work: unsafe { core::mem::zeroed() },
            dev: &disk.dev,
            check: check(i),
            key,
            victim,
            outcome: Err(DiskError::NotHeld),
            us: 0,
            queued_ns: 0,
            queued_us: 0,
            remaining: &remaining,
            done: &mut done,
        };
        // Capacity was reserved: the vector never moves while jobs run.
        let _ = jobs.push(job, GFP_KERNEL);
    }
    let start = now_ns();
    for job in jobs.iter_mut() {
        job.queued_ns = start;
        // SAFETY: The job stays in place (reserved vector) until the wait
        // below returns; `job_run` matches `work_func_t`.
        unsafe {
            shims::ct_init_work(&mut job.work, Some(job_run));
            shims::ct_queue_work_unbound(&mut job.work);
        }
    }
    if !disks.is_empty() {
        // SAFETY: Every job completes `done` once the last one finishes.
        unsafe { bindings::wait_for_completion(&mut done) };
    }
    for job in jobs.iter_mut() {
        let outcome = core::mem::replace(&mut job.outcome, Err(DiskError::NotHeld));
        let _ = results.push((outcome, job.us, job.queued_us), GFP_KERNEL);
    }
    results
}

/// The pause between two attempts on a disk whose PR command failed.
const RETRY_PAUSE_MS: u32 = 200;

/// Takes one disk: how, or why not. Retries a failed PR command (the array
/// restarting, a path failing over: `ct_core::retry`) until the same
/// failure has repeated for `retry::QUIET_NS`, or `retry::MAX_NS` have
/// passed, logging each failed attempt; a disk that someone other than the
/// victim holds, or a coredump disk, is refused at once. `check`: whether
/// the disk's label is known (from the background checks) or must be read
/// first.
fn take_disk(dev: &BlockDevice, check: PathCheck, key: u64, victim: u64) -> core::result::Result<Taken, DiskError> {
    match check {
        PathCheck::Refuse => return Err(DiskError::CoredumpDisk),
        PathCheck::ReadLabel if carries_label(dev) => return Err(DiskError::CoredumpDisk),
        PathCheck::ReadLabel | PathCheck::Preempt => {}
    }
    let started = now_ns();
    let mut window = RetryWindow::new(started);
    let mut attempts = 1;
    loop {
        let t0 = now_ns();
        match take_disk_once(dev, key, victim) {
            Ok(how) => {
                // The partner wrote it since we last read it: nothing this
                // node cached of it may be read again.
                dev.drop_cache();
                return Ok(Taken { attempts, ..how });
            }
            Err(DiskError::Pr(e, _)) => {
                let now = now_ns();
                let verdict = window.failed(now, e.code());
                pr_info!(
                    "takeover: disk {}:{}: attempt {} failed after {} ms: {} ({} ms since the takeover of it began, {} ms without a new answer){}\n",
                    dev.dev() >> 20, dev.dev() & 0xfffff, attempts, (now - t0) / 1_000_000, e, (now - started) / 1_000_000, window.quiet_ms(now),
                    match verdict {
                        Retry::Again { .. } => "; retrying",
                        Retry::Quiet => "; the same failure for too long: giving up",
                        Retry::TooLong => "; retried for too long: giving up",
                    }
                );
                if !matches!(verdict, Retry::Again { .. }) {
                    return Err(DiskError::Pr(e, attempts));
                }
                attempts += 1;
                // SAFETY: A work item's process context may sleep.
                unsafe { bindings::msleep(RETRY_PAUSE_MS) };
                // An array that lost its PR state lost our registration too.
                let _ = dev.pr_register(key);
            }
            Err(e) => return Err(e),
        }
    }
}

/// One attempt. The preempting command goes first and is the whole of it
/// when it succeeds: its GOOD status is the fence, and the reservation is
/// read back later, off the critical path (`verify`). Only when it fails do
/// we look at the reservation: ours already, or nobody's (the victim
/// released it, or the array lost its PR state), which we then reserve and
/// read back.
fn take_disk_once(dev: &BlockDevice, key: u64, victim: u64) -> core::result::Result<Taken, DiskError> {
    let t0 = now_ns();
    let pr = |e| DiskError::Pr(e, 1);
    let preempted = if dev.is_device_mapper() {
        preempt_map(dev, key, victim)
    } else {
        match dev.pr_preempt(key, victim, true) {
            Ok(()) => Ok(Method::PreemptAbort),
            Err(e) if e.is_unsupported() => dev.pr_preempt(key, victim, false).map(|()| Method::Preempt),
            Err(e) => Err(e),
        }
    };
    let pr_us = (now_ns() - t0) / 1000;
    if let Ok(method) = preempted {
        return Ok(Taken { method, pr_us, attempts: 1 });
    }
    let mut holder = dev.pr_holder().map_err(pr)?.map(|(k, _)| k);
    let method = match preempted {
        Ok(method) => method,
        Err(_) if holder == Some(key) => return Ok(Taken { method: Method::AlreadyHeld, pr_us: 0, attempts: 1 }),
        Err(_) if holder.is_none() => {
            dev.pr_reserve(key).map_err(pr)?;
            holder = dev.pr_holder().map_err(pr)?.map(|(k, _)| k);
            Method::Reserve
        }
        Err(e) if holder == Some(victim) => return Err(pr(e)),
        Err(_) => return Err(DiskError::NotHeld),
    };
    match holder {
        Some(k) if k == key => Ok(Taken { method, pr_us, attempts: 1 }),
        _ => Err(DiskError::NotHeld),
    }
}

/// Preempts `victim` on a multipath map: PREEMPT AND ABORT through one of
/// its live paths (6.12's dm would drop the abort, `pr.rs`). Where the
/// array has no PREEMPT AND ABORT, or no path takes it, a plain PREEMPT
/// through the map: the partner then sends nothing new, but what the array
/// queued for it may still land, so the result says `preempt`, never
/// `preempt-abort` (a weaker fence, flagged by every interface).
fn preempt_map(dev: &BlockDevice, key: u64, victim: u64) -> core::result::Result<Method, PrError> {
    let why: Text<96> = match dev.pr_preempt_abort_through_paths(key, victim) {
        PathPreempt::Done(path) => {
            pr_info!("takeover: PREEMPT AND ABORT through path {}:{} of map {}:{}\n", path >> 20, path & 0xfffff, dev.dev() >> 20, dev.dev() & 0xfffff);
            return Ok(Method::PreemptAbort);
        }
        PathPreempt::Unsupported(e) => Text::of(format_args!("the array has no PREEMPT AND ABORT ({})", e)),
        PathPreempt::NoPath { live, last: Some(e) } => Text::of(format_args!("no path of {} took PREEMPT AND ABORT (last: {})", live, e)),
        PathPreempt::NoPath { live, last: None } => Text::of(format_args!("no path of {} could be opened", live)),
    };
    let preempted = dev.pr_preempt(key, victim, false);
    if preempted.is_ok() {
        pr_warn!(
            "takeover: map {}:{}: {}: plain PREEMPT through the map, a weaker fence: commands of the partner queued in the array are not aborted\n",
            dev.dev() >> 20, dev.dev() & 0xfffff, why.as_str()
        );
    }
    preempted.map(|()| Method::Preempt)
}

/// Why a disk was not taken.
enum DiskError {
    CoredumpDisk,
    /// A PR command failed, after this many attempts.
    Pr(PrError, u32),
    NotHeld,
}

impl DiskError {
    /// The positive errno that says it.
    fn errno(&self) -> u32 {
        match self {
            Self::CoredumpDisk => bindings::EMEDIUMTYPE,
            Self::Pr(e, _) => e.errno(),
            Self::NotHeld => bindings::EBUSY,
        }
    }

    fn attempts(&self) -> u32 {
        match self {
            Self::Pr(_, n) => *n,
            _ => 1,
        }
    }
}

impl core::fmt::Display for DiskError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::CoredumpDisk => f.write_str("carries a coredump label, left untouched"),
            Self::Pr(e, 1) => write!(f, "{}", e),
            Self::Pr(e, n) => write!(f, "{} ({} attempts)", e, n),
            Self::NotHeld => f.write_str("held by a third node (neither ours nor the partner's), or not held after preempting"),
        }
    }
}

