// SPDX-License-Identifier: GPL-2.0

//! How a node judges its partner from what the partner's coredump disk says,
//! without any network message.
//!
//! The surviving node reads the partner's dump header and heartbeat block at
//! a fixed interval and feeds each reading to [`PartnerWatch::observe`]:
//!
//! 1. a header in state `dumping`, `complete` or `truncated` is the *panic
//!    beacon*: the partner panicked ([`Verdict::Panicked`]), whatever its
//!    heartbeat says;
//! 2. a heartbeat saying `stopped` means the partner stopped on purpose
//!    (disarmed, unloaded, handing its disks back): [`Verdict::Stopped`];
//! 3. a heartbeat whose sequence number moved since the last reading proves
//!    the partner alive ([`Verdict::Alive`]);
//! 4. otherwise the partner is silent. Silence longer than the stale timeout,
//!    measured on this node's monotonic clock from the last movement, makes
//!    it [`Verdict::Stale`] - but only once it has been seen alive: a partner
//!    never seen beating (not armed yet, or a wrong disk) is
//!    [`Verdict::Unknown`] and is never taken over automatically.
//!
//! A damaged heartbeat (a block that reads but does not verify) counts as
//! silence. A disk that cannot be read at all is not silence: this node has
//! lost its path to the partner's disk and can see neither heartbeat nor
//! beacon, so the partner is [`Verdict::Unreachable`] and is never taken over
//! automatically; an administrator may still take over by command. When the
//! disk reads again, the watch starts anew from that moment (a partner whose
//! heartbeat then stays still turns stale after the timeout, counted from
//! then). [`decide`] turns a verdict into an action under the node's policy.

use super::header::DumpState;
use super::heartbeat::{Heartbeat, Liveness};

/// What one reading of the partner's coredump disk found. `None` where the
/// structure could not be read or did not verify.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reading {
    pub header_state: Option<DumpState>,
    pub heartbeat: Option<Heartbeat>,
}

/// The judgement of one reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not seen alive yet: no automatic takeover.
    Unknown,
    /// The heartbeat moves.
    Alive,
    /// The panic beacon is on the partner's disk.
    Panicked,
    /// Seen alive before, silent for `silent_ms` (beyond the stale timeout).
    Stale { silent_ms: u64 },
    /// The partner said it stopped on purpose.
    Stopped,
    /// The partner's disk cannot be read from this node (path lost).
    Unreachable,
}

impl Verdict {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Alive => "alive",
            Self::Panicked => "panicked",
            Self::Stale { .. } => "stale",
            Self::Stopped => "stopped",
            Self::Unreachable => "unreachable",
        }
    }
}

/// The watch of one partner: the last heartbeat sequence and when it moved.
#[derive(Clone, Debug)]
pub struct PartnerWatch {
    last_sequence: Option<u64>,
    last_progress_ms: u64,
    seen_alive: bool,
    unreachable: bool,
}

impl PartnerWatch {
    /// Starts watching at `now_ms` (this node's monotonic clock).
    pub const fn new(now_ms: u64) -> Self {
        Self { last_sequence: None, last_progress_ms: now_ms, seen_alive: false, unreachable: false }
    }

    /// Records that the partner's disk could not be read at all at `now_ms`.
    pub fn unreadable(&mut self, _now_ms: u64) -> Verdict {
        self.unreachable = true;
        Verdict::Unreachable
    }

    /// Judges one reading taken at `now_ms`; `stale_after_ms` is the longest
    /// silence of a live partner.
    pub fn observe(&mut self, reading: &Reading, now_ms: u64, stale_after_ms: u64) -> Verdict {
        if core::mem::take(&mut self.unreachable) {
            // The path is back: what happened meanwhile is unknown, so the
            // heartbeat's baseline and the silence are taken anew from now.
            self.last_sequence = None;
            self.last_progress_ms = now_ms;
        }
        if matches!(reading.header_state, Some(DumpState::Dumping | DumpState::Complete | DumpState::Truncated)) {
            return Verdict::Panicked;
        }
        if let Some(beat) = reading.heartbeat {
            if beat.liveness == Liveness::Stopped {
                self.last_sequence = Some(beat.sequence);
                self.seen_alive = false;
                self.last_progress_ms = now_ms;
                return Verdict::Stopped;
            }
            if self.last_sequence != Some(beat.sequence) {
                // The first reading only sets the baseline: a heartbeat that
                // was on the disk before we looked proves nothing yet.
                let moved = self.last_sequence.is_some();
                self.last_sequence = Some(beat.sequence);
                if moved {
                    self.seen_alive = true;
                    self.last_progress_ms = now_ms;
                    return Verdict::Alive;
                }
            }
        }
        let silent_ms = now_ms.saturating_sub(self.last_progress_ms);
        match (self.seen_alive, silent_ms > stale_after_ms) {
            (false, _) => Verdict::Unknown,
            (true, false) => Verdict::Alive,
            (true, true) => Verdict::Stale { silent_ms },
        }
    }
}

/// Why a takeover starts. The numbers are the netlink spec's `reason` enum
/// (Documentation/netlink/specs/coretakeover.yaml).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    PanicBeacon = 0,
    StaleHeartbeat = 1,
    Command = 2,
}

impl Reason {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PanicBeacon => "panic-beacon",
            Self::StaleHeartbeat => "stale-heartbeat",
            Self::Command => "command",
        }
    }
}

/// Where this node's takeover of its partner stands, as `takeover_state`
/// reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No partner coredump disk is watched.
    Idle,
    /// Watching the partner's coredump disk.
    Watching,
    /// Preempting the partner's disks.
    TakingOver,
    /// The last takeover holds every partner disk, each verified.
    Holding,
    /// The last takeover failed on some or all partner disks; a takeover
    /// command tries again (what is held stays held).
    Partial,
    /// The partner fenced this node (it holds our own service disks): this
    /// node lost, and takes nothing over. Left when the service disks are
    /// set again.
    Fenced,
}

impl Phase {
    /// The name reported to userspace; part of the sysfs ABI.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Watching => "watching",
            Self::TakingOver => "taking-over",
            Self::Holding => "holding",
            Self::Partial => "partial",
            Self::Fenced => "fenced",
        }
    }

    /// The number of the netlink spec's `takeover-state` enum.
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// Whether a takeover happened since the partner was last watched anew
    /// (whatever it held): no automatic takeover starts again.
    pub const fn took_over(self) -> bool {
        matches!(self, Self::TakingOver | Self::Holding | Self::Partial)
    }

    /// The phase a takeover ends in: holding if every disk is held.
    pub const fn after_takeover(held: usize, total: usize) -> Self {
        if held == total {
            Self::Holding
        } else {
            Self::Partial
        }
    }
}

impl Verdict {
    /// The number of the netlink spec's `partner-state` enum.
    /// Whether two verdicts are the same judgement (a stale partner stays
    /// stale as its silence grows: that is no news to log or notify).
    pub const fn same_judgement(self, other: Self) -> bool {
        self.code() == other.code()
    }

    pub const fn code(self) -> u32 {
        match self {
            Self::Unknown => 0,
            Self::Alive => 1,
            Self::Panicked => 2,
            Self::Stale { .. } => 3,
            Self::Stopped => 4,
            Self::Unreachable => 5,
        }
    }
}

/// How a partner disk was taken: the netlink spec's `method` enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// PREEMPT AND ABORT of the partner's key.
    PreemptAbort = 0,
    /// PREEMPT, where the array lacks PREEMPT AND ABORT.
    Preempt = 1,
    /// This node held it already.
    AlreadyHeld = 2,
    /// Nobody held it (the array lost its PR state): reserved.
    Reserve = 3,
}

impl Method {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PreemptAbort => "preempt-abort",
            Self::Preempt => "preempt",
            Self::AlreadyHeld => "already-held",
            Self::Reserve => "reserve",
        }
    }
}

/// Which verdicts the kernel acts on by itself (`auto_takeover`,
/// `auto_takeover_on_stale`). Under a cluster manager (Pacemaker) the kernel
/// acts alone only on the panic beacon, which cannot be mistaken, and leaves
/// a silent partner to quorum and fencing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoTakeover {
    pub on_panic: bool,
    pub on_stale: bool,
}

impl AutoTakeover {
    /// On the panic beacon and on a stale heartbeat: the default.
    pub const ALL: Self = Self { on_panic: true, on_stale: true };
    /// Only on the panic beacon.
    pub const PANIC_ONLY: Self = Self { on_panic: true, on_stale: false };
    /// Never by itself: every takeover is a command.
    pub const NONE: Self = Self { on_panic: false, on_stale: false };

    /// From the two knobs: a stale heartbeat acts only with automatic
    /// takeover on at all.
    pub const fn from_knobs(auto_takeover: bool, on_stale: bool) -> Self {
        Self { on_panic: auto_takeover, on_stale: auto_takeover && on_stale }
    }
}

/// Whether a verdict starts a takeover: only if the policy acts on it, and
/// only if the partner's disks are not already held.
pub fn decide(verdict: Verdict, auto: AutoTakeover, holding: bool) -> Option<Reason> {
    if holding {
        return None;
    }
    match verdict {
        Verdict::Panicked if auto.on_panic => Some(Reason::PanicBeacon),
        Verdict::Stale { .. } if auto.on_stale => Some(Reason::StaleHeartbeat),
        Verdict::Panicked | Verdict::Stale { .. } => None,
        Verdict::Unknown | Verdict::Alive | Verdict::Stopped | Verdict::Unreachable => None,
    }
}

/// Whether a stale partner is due to be fenced, `silent_ms` into its
/// silence. The node with the lower id waits one more stale timeout: when
/// each node believes the other dead (heartbeats lost both ways, both alive),
/// the higher id fences first, and the lower id, checking its own disks
/// before it fences, finds that it lost.
pub fn stale_fence_due(silent_ms: u64, stale_after_ms: u64, ours: u16, partner: u16) -> bool {
    let delay = if ours < partner { stale_after_ms } else { 0 };
    silent_ms > stale_after_ms.saturating_add(delay)
}

/// What a node does once it knows that its partner took its service disks
/// over while it still ran (it was fenced while hung, and resumed): it must
/// stop at once, before it answers a client from what it cached (as
/// fence_scsi's watchdog and sbd's poison pill do). The numbers are the
/// `self_fence` knob's encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelfFence {
    /// Nothing (the default): the node goes on, its writes refused.
    Off = 0,
    /// `panic()`: the node stops and dumps its memory, as on any panic.
    Panic = 1,
    /// An immediate restart, without syncing anything.
    Reboot = 2,
}

impl SelfFence {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Panic => "panic",
            Self::Reboot => "reboot",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "off" => Some(Self::Off),
            "panic" => Some(Self::Panic),
            "reboot" => Some(Self::Reboot),
            _ => None,
        }
    }

    pub const fn from_u32(v: u32) -> Option<Self> {
        match v {
            0 => Some(Self::Off),
            1 => Some(Self::Panic),
            2 => Some(Self::Reboot),
            _ => None,
        }
    }
}

/// What this node knows of itself when it asks whether it was fenced.
#[derive(Clone, Copy, Debug)]
pub struct SelfView {
    /// `self_fence`.
    pub mode: SelfFence,
    /// This node's id.
    pub node: u16,
    /// It reserved its own service disks (it believes it owns them).
    pub owns_disks: bool,
    /// Its coredump disk is armed and its heartbeat says alive: it has not
    /// stopped on purpose (a planned stop disarms first, so that losing the
    /// disks afterwards is expected).
    pub running: bool,
}

/// Whether this node must read its own disks' reservation now: the
/// partner's heartbeat says it holds this node's disks, or the periodic
/// check (`periodic_due`) is due. Never for a node that expects to lose
/// its disks, or has none, or does not self-fence.
pub fn fence_check_due(me: SelfView, partner_holds_disks_of: Option<u16>, periodic_due: bool) -> bool {
    me.mode != SelfFence::Off
        && me.owns_disks
        && me.running
        && (periodic_due || partner_holds_disks_of == Some(me.node))
}

/// Whether this node must stop now because its own heartbeat lapsed: the
/// last heartbeat it wrote saying alive began `beat_age_ms` ago (None: none
/// since it armed), and its partner may take its disks over once that
/// heartbeat has not moved for `stale_timeout_ms` (the partner counts from
/// when it saw the heartbeat land, never earlier than the write began). A
/// node that hung that long (interrupts off, its CPUs stalled) must not
/// answer a client before it knows: it acts at once, without reading a
/// disk, as sbd's watchdog does. The same limits as `fence_check_due`: never
/// for a node that stopped on purpose, owns no disks, or does not
/// self-fence.
pub fn lapse_fence_due(me: SelfView, beat_age_ms: Option<u64>, stale_timeout_ms: u32) -> bool {
    me.mode != SelfFence::Off && me.owns_disks && me.running && beat_age_ms.is_some_and(|age| age >= u64::from(stale_timeout_ms))
}

/// Whether the reservation read from one of this node's own disks proves
/// that it was fenced: held, by a key that is not ours. (Held by nobody: a
/// giveback or a release in progress, not a fence.)
pub fn fenced_by_holder(holder: Option<u64>, ours: u64) -> bool {
    holder.is_some_and(|k| k != ours)
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_growing_silence_is_the_same_judgement() {
        assert!(Verdict::Stale { silent_ms: 2000 }.same_judgement(Verdict::Stale { silent_ms: 90_000 }));
        assert!(!Verdict::Stale { silent_ms: 2000 }.same_judgement(Verdict::Alive));
        assert!(Verdict::Alive.same_judgement(Verdict::Alive));
        assert!(!Verdict::Panicked.same_judgement(Verdict::Unreachable));
    }

    use super::*;

    #[test]
    fn a_lapsed_heartbeat_fences_only_a_running_owner_that_self_fences() {
        let me = SelfView { mode: SelfFence::Reboot, node: 2, owns_disks: true, running: true };
        assert!(lapse_fence_due(me, Some(2000), 2000), "at the partner's earliest takeover");
        assert!(lapse_fence_due(me, Some(u64::MAX), 2000));
        assert!(!lapse_fence_due(me, Some(1999), 2000));
        assert!(!lapse_fence_due(me, None, 2000), "no heartbeat since arming: the partner saw it stopped");
        assert!(!lapse_fence_due(SelfView { running: false, ..me }, Some(9000), 2000), "a planned stop");
        assert!(!lapse_fence_due(SelfView { owns_disks: false, ..me }, Some(9000), 2000));
        assert!(!lapse_fence_due(SelfView { mode: SelfFence::Off, ..me }, Some(9000), 2000));
    }

    fn beat(sequence: u64, liveness: Liveness) -> Reading {
        Reading {
            header_state: Some(DumpState::Armed),
            heartbeat: Some(Heartbeat { cluster: 7, node: 1, liveness, interval_ms: 100, sequence, written_ns: 0, holds_disks_of: 0 }),
        }
    }

    #[test]
    fn a_moving_heartbeat_is_alive_and_silence_turns_stale() {
        let mut w = PartnerWatch::new(0);
        assert_eq!(w.observe(&beat(5, Liveness::Alive), 0, 1000), Verdict::Unknown);
        assert_eq!(w.observe(&beat(6, Liveness::Alive), 100, 1000), Verdict::Alive);
        assert_eq!(w.observe(&beat(6, Liveness::Alive), 1000, 1000), Verdict::Alive);
        assert_eq!(w.observe(&beat(6, Liveness::Alive), 1101, 1000), Verdict::Stale { silent_ms: 1001 });
        assert_eq!(w.observe(&Reading::default(), 2000, 1000), Verdict::Stale { silent_ms: 1900 });
        assert_eq!(w.observe(&beat(7, Liveness::Alive), 2100, 1000), Verdict::Alive);
    }

    #[test]
    fn the_beacon_wins_and_a_partner_never_seen_alive_is_unknown() {
        let mut w = PartnerWatch::new(0);
        assert_eq!(w.observe(&Reading::default(), 60_000, 1000), Verdict::Unknown);
        let mut panicked = beat(9, Liveness::Alive);
        panicked.header_state = Some(DumpState::Dumping);
        assert_eq!(w.observe(&panicked, 60_100, 1000), Verdict::Panicked);
        assert_eq!(decide(Verdict::Panicked, AutoTakeover::ALL, false), Some(Reason::PanicBeacon));
        assert_eq!(decide(Verdict::Panicked, AutoTakeover::NONE, false), None);
        assert_eq!(decide(Verdict::Panicked, AutoTakeover::ALL, true), None);
        // Under a cluster manager: the beacon acts, silence does not.
        assert_eq!(decide(Verdict::Panicked, AutoTakeover::PANIC_ONLY, false), Some(Reason::PanicBeacon));
        assert_eq!(decide(Verdict::Stale { silent_ms: 60_000 }, AutoTakeover::PANIC_ONLY, false), None);
        assert_eq!(AutoTakeover::from_knobs(true, false), AutoTakeover::PANIC_ONLY);
        assert_eq!(AutoTakeover::from_knobs(false, true), AutoTakeover::NONE);
        assert_eq!(AutoTakeover::from_knobs(true, true), AutoTakeover::ALL);
        assert_eq!(decide(Verdict::Unknown, AutoTakeover::ALL, false), None);
    }

    #[test]
    fn an_unreadable_disk_is_never_a_reason_and_the_watch_starts_anew() {
        let mut w = PartnerWatch::new(0);
        w.observe(&beat(1, Liveness::Alive), 0, 1000);
        assert_eq!(w.observe(&beat(2, Liveness::Alive), 100, 1000), Verdict::Alive);
        // Lost for far longer than the stale timeout: still no takeover.
        for t in (200..60_000).step_by(100) {
            assert_eq!(w.unreadable(t), Verdict::Unreachable);
        }
        assert_eq!(decide(Verdict::Unreachable, AutoTakeover::ALL, false), None);
        // Back, with the same sequence: a baseline, not silence since 100 ms.
        assert_eq!(w.observe(&beat(2, Liveness::Alive), 60_000, 1000), Verdict::Alive);
        assert_eq!(w.observe(&beat(2, Liveness::Alive), 60_900, 1000), Verdict::Alive);
        assert_eq!(w.observe(&beat(2, Liveness::Alive), 61_001, 1000), Verdict::Stale { silent_ms: 1001 });
        // Back and moving: alive.
        w.unreadable(62_000);
        w.observe(&beat(2, Liveness::Alive), 62_100, 1000);
        assert_eq!(w.observe(&beat(3, Liveness::Alive), 62_200, 1000), Verdict::Alive);
    }

    #[test]
    fn the_lower_id_waits_one_more_timeout_before_fencing() {
        assert!(stale_fence_due(1001, 1000, 2, 1));
        assert!(!stale_fence_due(1001, 1000, 1, 2));
        assert!(!stale_fence_due(2000, 1000, 1, 2));
        assert!(stale_fence_due(2001, 1000, 1, 2));
        assert!(!stale_fence_due(u64::MAX, u64::MAX, 1, 2));
    }

    #[test]
    fn phase_names_are_the_abi() {
        let phases = [Phase::Idle, Phase::Watching, Phase::TakingOver, Phase::Holding, Phase::Partial, Phase::Fenced];
        assert_eq!(phases.map(Phase::as_str), ["idle", "watching", "taking-over", "holding", "partial", "fenced"]);
        assert_eq!(phases.map(Phase::code), [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_takeover_holds_only_when_every_disk_is_held() {
        assert_eq!(Phase::after_takeover(2, 2), Phase::Holding);
        assert_eq!(Phase::after_takeover(1, 2), Phase::Partial);
        assert_eq!(Phase::after_takeover(0, 2), Phase::Partial);
        assert!(Phase::Partial.took_over() && Phase::Holding.took_over() && !Phase::Watching.took_over());
        // A partial takeover is not started again on its own: the command retries.
        assert_eq!(decide(Verdict::Panicked, AutoTakeover::ALL, Phase::Partial.took_over()), None);
    }

    #[test]
    fn a_stopped_partner_is_not_taken_over() {
        let mut w = PartnerWatch::new(0);
        w.observe(&beat(1, Liveness::Alive), 0, 1000);
        w.observe(&beat(2, Liveness::Alive), 100, 1000);
        assert_eq!(w.observe(&beat(3, Liveness::Stopped), 200, 1000), Verdict::Stopped);
        assert_eq!(w.observe(&beat(3, Liveness::Stopped), 60_000, 1000), Verdict::Stopped);
        assert_eq!(decide(Verdict::Stopped, AutoTakeover::ALL, false), None);
    }

    #[test]
    fn a_node_checks_its_disks_only_when_it_could_have_been_fenced() {
        let me = SelfView { mode: SelfFence::Panic, node: 1, owns_disks: true, running: true };
        assert!(fence_check_due(me, Some(1), false));
        assert!(!fence_check_due(me, Some(2), false));
        assert!(!fence_check_due(me, None, false));
        assert!(fence_check_due(me, None, true));
        // A planned stop, no disks of its own, or the knob off: never.
        assert!(!fence_check_due(SelfView { running: false, ..me }, Some(1), true));
        assert!(!fence_check_due(SelfView { owns_disks: false, ..me }, Some(1), true));
        assert!(!fence_check_due(SelfView { mode: SelfFence::Off, ..me }, Some(1), true));
    }

    #[test]
    fn only_a_reservation_held_by_another_key_is_a_fence() {
        assert!(fenced_by_holder(Some(0xbb), 0xaa));
        assert!(!fenced_by_holder(Some(0xaa), 0xaa));
        assert!(!fenced_by_holder(None, 0xaa));
    }

    #[test]
    fn self_fence_modes_round_trip() {
        for m in [SelfFence::Off, SelfFence::Panic, SelfFence::Reboot] {
            assert_eq!(SelfFence::parse(m.as_str()), Some(m));
            assert_eq!(SelfFence::from_u32(m as u32), Some(m));
        }
        assert_eq!(SelfFence::parse("poweroff"), None);
        assert_eq!(SelfFence::from_u32(3), None);
    }
}
