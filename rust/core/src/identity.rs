// SPDX-License-Identifier: GPL-2.0

//! What the survivor knows of each partner service disk's identity, so that
//! the takeover's critical path holds only what fences (one PR command per
//! disk) and still never preempts a disk that became a coredump disk.
//!
//! A partner disk is checked for a coredump label when it is configured
//! (a labeled disk is refused then), and again in the background by the
//! node's thread: every turn re-reads the labels of the disks whose last
//! check is older than the recheck interval, a bounded number per turn.
//! At takeover, [`on_path`] decides from the last check what the critical
//! path must do with the disk: nothing more (a service disk checked
//! recently), refuse it without I/O (it carries a label), or read the label
//! there as before (never checked, unreadable at the last check, or its
//! last check too old, as when the thread could not run).
//!
//! The window this leaves: a label written on a configured disk less than
//! one recheck interval before a takeover is not seen by it. Writing a
//! label on a disk the partner holds needs the partner's write access; the
//! coredump disk a node arms was labeled long before (arming refuses an
//! unlabeled disk), so it is known well before any takeover.

/// The last check of a disk's label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    /// Never read.
    Unchecked,
    /// No coredump label, at `at_ms` (the node's monotonic clock).
    Service { at_ms: u64 },
    /// A coredump label, at `at_ms`.
    Labeled { at_ms: u64 },
    /// The read failed at `at_ms`.
    Unreadable { at_ms: u64 },
}

/// What the takeover's critical path does with a disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathCheck {
    /// Preempt it: a recent check found no label.
    Preempt,
    /// Refuse it without touching it: it carries a coredump label.
    Refuse,
    /// Read its label first, as no recent check vouches for it.
    ReadLabel,
}

/// How often each partner disk's label is read again in the background.
pub const RECHECK_MS: u64 = 1000;

/// How old a "no label" may be and still spare the critical path its read:
/// a few recheck intervals, so a thread late by a turn or two does not
/// slow a takeover, and one that stopped does not leave it unchecked.
pub const TRUST_MS: u64 = 5 * RECHECK_MS;

/// At most this many label reads per turn of the node's thread, so that
/// many disks cannot delay the watch of the partner by more than a few
/// reads (the others wait for the next turns).
pub const CHECKS_PER_TURN: usize = 4;

impl Identity {
    /// When it was last read, if ever.
    pub fn checked_at_ms(self) -> Option<u64> {
        match self {
            Self::Unchecked => None,
            Self::Service { at_ms } | Self::Labeled { at_ms } | Self::Unreadable { at_ms } => Some(at_ms),
        }
    }

    /// Whether the background check should read it again at `now_ms`.
    pub fn due(self, now_ms: u64) -> bool {
        match self.checked_at_ms() {
            None => true,
            Some(at) => now_ms.saturating_sub(at) >= RECHECK_MS,
        }
    }

    /// What a takeover at `now_ms` does with the disk.
    pub fn on_path(self, now_ms: u64) -> PathCheck {
        match self {
            Self::Labeled { .. } => PathCheck::Refuse,
            Self::Service { at_ms } if now_ms.saturating_sub(at_ms) <= TRUST_MS => PathCheck::Preempt,
            _ => PathCheck::ReadLabel,
        }
    }

    /// The result of a read at `now_ms`: `Some(labeled)`, or `None` if the
    /// read failed.
    pub fn read(now_ms: u64, labeled: Option<bool>) -> Self {
        match labeled {
            Some(true) => Self::Labeled { at_ms: now_ms },
            Some(false) => Self::Service { at_ms: now_ms },
            None => Self::Unreadable { at_ms: now_ms },
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unchecked => "unchecked",
            Self::Service { .. } => "service",
            Self::Labeled { .. } => "coredump-label",
            Self::Unreadable { .. } => "unreadable",
        }
    }
}

/// The disks a turn checks: the indices of `disks` that are due at
/// `now_ms`, oldest check first (never checked before any), at most
/// [`CHECKS_PER_TURN`]. Writes them to `out` and returns how many.
pub fn due_this_turn(disks: &[Identity], now_ms: u64, out: &mut [usize; CHECKS_PER_TURN]) -> usize {
    let mut n = 0;
    // Selection of the oldest few without allocating: CHECKS_PER_TURN passes.
    while n < CHECKS_PER_TURN {
        let mut best: Option<(usize, u64)> = None;
        for (i, d) in disks.iter().enumerate() {
            if !d.due(now_ms) || out[..n].contains(&i) {
                continue;
            }
            let age_key = d.checked_at_ms().map_or(0, |at| at.saturating_add(1));
            if best.is_none_or(|(_, b)| age_key < b) {
                best = Some((i, age_key));
            }
        }
        let Some((i, _)) = best else { break };
        out[n] = i;
        n += 1;
    }
    n
}

/// Whether a label written at `written_ms` on a disk is seen by a takeover
/// at `takeover_ms`, given checks at the turns in `turns_ms` (each turn
/// checks that disk if due). Used by the tests to state the window.
#[cfg(test)]
fn seen_by(written_ms: u64, takeover_ms: u64, turns_ms: &[u64]) -> bool {
    let mut id = Identity::Unchecked;
    for &t in turns_ms.iter().filter(|&&t| t <= takeover_ms) {
        if id.due(t) {
            id = Identity::read(t, Some(t >= written_ms));
        }
    }
    match id.on_path(takeover_ms) {
        PathCheck::Refuse => true,
        PathCheck::ReadLabel => takeover_ms >= written_ms,
        PathCheck::Preempt => false,
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    #[test]
    fn a_labeled_disk_is_refused_however_old_the_check() {
        for at in [0, 10, 1_000_000] {
            assert_eq!(Identity::Labeled { at_ms: at }.on_path(at + 10 * TRUST_MS), PathCheck::Refuse);
        }
    }

    #[test]
    fn only_a_recent_service_check_spares_the_read() {
        assert_eq!(Identity::Service { at_ms: 100 }.on_path(100 + TRUST_MS), PathCheck::Preempt);
        assert_eq!(Identity::Service { at_ms: 100 }.on_path(101 + TRUST_MS), PathCheck::ReadLabel);
        assert_eq!(Identity::Unchecked.on_path(0), PathCheck::ReadLabel);
        assert_eq!(Identity::Unreadable { at_ms: 5 }.on_path(5), PathCheck::ReadLabel);
        // A clock that went backwards (it does not, but) counts as fresh.
        assert_eq!(Identity::Service { at_ms: 100 }.on_path(50), PathCheck::Preempt);
    }

    #[test]
    fn due_after_the_recheck_interval() {
        assert!(Identity::Unchecked.due(0));
        assert!(!Identity::Service { at_ms: 10 }.due(10 + RECHECK_MS - 1));
        assert!(Identity::Service { at_ms: 10 }.due(10 + RECHECK_MS));
        assert!(Identity::Labeled { at_ms: 10 }.due(10 + RECHECK_MS));
    }

    #[test]
    fn a_turn_checks_the_oldest_few() {
        let now = 100_000;
        let disks = [
            Identity::Service { at_ms: now - 1500 },
            Identity::Service { at_ms: now - 10 },
            Identity::Unchecked,
            Identity::Unreadable { at_ms: now - 5000 },
            Identity::Labeled { at_ms: now - 2000 },
            Identity::Service { at_ms: now - 3000 },
        ];
        let mut out = [usize::MAX; CHECKS_PER_TURN];
        let n = due_this_turn(&disks, now, &mut out);
        assert_eq!(&out[..n], &[2, 3, 5, 4]);
    }

    #[test]
    fn every_disk_is_checked_within_a_bounded_number_of_turns() {
        // 32 disks, 100 ms turns: every disk is read again at least every
        // RECHECK_MS + (32 / CHECKS_PER_TURN) turns.
        let mut disks = [Identity::Unchecked; 32];
        let mut last = [0u64; 32];
        let mut worst = 0;
        for turn in 0..1000u64 {
            let now = turn * 100;
            let mut out = [0; CHECKS_PER_TURN];
            let n = due_this_turn(&disks, now, &mut out);
            for &i in &out[..n] {
                if disks[i] != Identity::Unchecked {
                    worst = worst.max(now - last[i]);
                }
                disks[i] = Identity::read(now, Some(false));
                last[i] = now;
            }
        }
        assert!(worst <= RECHECK_MS + (32 / CHECKS_PER_TURN) as u64 * 100, "worst gap {worst} ms");
        assert!(worst < TRUST_MS, "a 32-disk list would fall back to the read on the path");
    }

    #[test]
    fn the_window_is_one_recheck_interval() {
        let turns: Vec<u64> = (0..200).map(|t| t * 100).collect();
        // A label written long enough before the takeover is always seen.
        for written in (1000..10_000).step_by(37) {
            assert!(seen_by(written, written + RECHECK_MS + 100, &turns), "written at {written}");
        }
        // And never wrongly: a disk labeled after the takeover is not refused.
        assert!(!seen_by(20_000, 15_000, &turns));
    }
}
