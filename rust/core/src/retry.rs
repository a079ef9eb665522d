// SPDX-License-Identifier: GPL-2.0

//! When a disk's takeover stops retrying a failed persistent-reservation
//! command.
//!
//! An array that restarts, or whose controller fails over, first answers
//! nothing (a command waits for the transport), then NOT READY or a unit
//! attention for seconds, then a reservation conflict (it forgot the PR
//! state, our registration with it), and only then takes a command. Each of
//! these is transient. A deadline counted from the takeover's start leaves
//! no retries to an array whose first command waited out its restart; one
//! counted from the *last change* does not: every new kind of answer is a
//! sign that the array is moving, and restarts the quiet window.
//!
//! - An attempt that fails with the same outcome as the one before is no
//!   progress: after [`QUIET_NS`] without a change, the disk is given up.
//! - Whatever happens, no disk is retried past [`MAX_NS`] from the first
//!   attempt: every takeover finishes.

/// How long the same failure may repeat before the disk is given up
/// (nanoseconds, from the end of the attempt whose outcome was new).
pub const QUIET_NS: u64 = 30_000_000_000;
/// The longest a disk is retried, from its first attempt (nanoseconds).
pub const MAX_NS: u64 = 300_000_000_000;

/// The retry state of one disk's takeover.
#[derive(Clone, Copy, Debug)]
pub struct RetryWindow {
    started_ns: u64,
    changed_ns: u64,
    last: Option<u32>,
}

/// Whether a failed attempt is tried again, and why not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Try again; the outcome was new (the quiet window starts again).
    Again { progress: bool },
    /// The same failure for `QUIET_NS`.
    Quiet,
    /// `MAX_NS` since the first attempt.
    TooLong,
}

impl RetryWindow {
    /// A disk whose first attempt starts at `now_ns`.
    pub const fn new(now_ns: u64) -> Self {
        Self { started_ns: now_ns, changed_ns: now_ns, last: None }
    }

    /// Records an attempt that ended at `now_ns` with failure `outcome` (a
    /// code that tells failures apart: an errno or a device status), and
    /// says whether to try again.
    pub fn failed(&mut self, now_ns: u64, outcome: u32) -> Retry {
        let progress = self.last != Some(outcome);
        if progress {
            self.last = Some(outcome);
            self.changed_ns = now_ns;
        }
        if now_ns.saturating_sub(self.started_ns) >= MAX_NS {
            Retry::TooLong
        } else if now_ns.saturating_sub(self.changed_ns) >= QUIET_NS {
            Retry::Quiet
        } else {
            Retry::Again { progress }
        }
    }

    /// Milliseconds since the last change (for the log).
    pub fn quiet_ms(&self, now_ns: u64) -> u64 {
        now_ns.saturating_sub(self.changed_ns) / 1_000_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn the_same_failure_is_given_up_after_the_quiet_window() {
        let mut w = RetryWindow::new(0);
        assert_eq!(w.failed(S, 2), Retry::Again { progress: true });
        assert_eq!(w.failed(10 * S, 2), Retry::Again { progress: false });
        assert_eq!(w.failed(S + QUIET_NS - 1, 2), Retry::Again { progress: false });
        assert_eq!(w.failed(S + QUIET_NS, 2), Retry::Quiet);
    }

    #[test]
    fn a_first_attempt_that_waited_out_a_restart_still_leaves_retries() {
        // The array restarting: the first PREEMPT waits 19 s, then the
        // array forgot our registration (conflict), then NOT READY for a
        // while, then it takes the command.
        let mut w = RetryWindow::new(0);
        assert_eq!(w.failed(19 * S, 0x18), Retry::Again { progress: true });
        assert_eq!(w.failed(19 * S + S / 5, 2), Retry::Again { progress: true });
        for i in 1..100 {
            assert_eq!(w.failed(19 * S + S / 5 + i * S / 5, 2), Retry::Again { progress: false });
        }
    }

    #[test]
    fn every_new_outcome_restarts_the_window_but_never_past_the_cap() {
        let mut w = RetryWindow::new(0);
        let mut t = 0;
        let mut outcome = 0;
        loop {
            t += QUIET_NS / 2;
            outcome ^= 1;
            match w.failed(t, outcome) {
                Retry::Again { progress } => assert!(progress),
                Retry::TooLong => break,
                Retry::Quiet => panic!("alternating outcomes are progress"),
            }
        }
        assert!(t >= MAX_NS && t < MAX_NS + QUIET_NS);
    }

    #[test]
    fn a_clock_that_goes_backwards_never_panics() {
        let mut w = RetryWindow::new(10 * S);
        assert_eq!(w.failed(S, 5), Retry::Again { progress: true });
        assert_eq!(w.quiet_ms(0), 0);
    }
}
