// SPDX-License-Identifier: GPL-2.0

//! Preallocated bios completed by polling: the panic path's only I/O.
//!
//! After a panic, interrupts are off and no workqueue runs, so a bio must be
//! submitted with `REQ_POLLED` to a poll queue and reaped with `bio_poll()`.
//! Three rules keep that from hanging:
//!
//! - every bio is sized within the queue's limits (the caller's plan), since
//!   a bio the block layer splits silently loses `REQ_POLLED` and then waits
//!   for an interrupt that never comes;
//! - `bio_poll()` is called with `BLK_POLL_ONESHOT`: without it, it spins
//!   until `need_resched()`, which never turns true here;
//! - every wait has a deadline on the NMI-safe monotonic clock.
//!
//! A `PolledBio` allocates nothing once created.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use crate::shims;
use kernel::bindings;
use kernel::prelude::*;

/// `BLK_POLL_ONESHOT` (include/linux/blkdev.h): poll once, do not spin.
const BLK_POLL_ONESHOT: u32 = 1 << 0;

/// How a polled bio ended, if not well.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PollError {
    /// The device reported an error (`blk_status_t`).
    Io(u8),
    /// No completion before the deadline.
    Timeout,
    /// More pages than the bio was sized for.
    TooManyPages,
}

/// Nanoseconds on the NMI-safe monotonic clock, for process context. Not
/// after a panic: it reads the clocksource, which may spin forever then
/// (see [`panic_clock_ns`]).
pub(crate) fn now_ns() -> u64 {
    // SAFETY: Lock-free and usable in any context.
    unsafe { bindings::ktime_get_mono_fast_ns() }
}

/// Nanoseconds on `sched_clock()` (the TSC on x86), the only clock the
/// panic path reads. The timekeeping clocks read the clocksource, and
/// HPET's read waits for a lock that a CPU stopped by the panic may hold
/// forever: the debug kernel under TCG, which runs on HPET, hung there
/// before the beacon. (`local_clock()` would not advance: it is clamped to
/// a tick past the last tick.) Monotonic on one CPU, which is all a
/// deadline needs; where sched_clock falls back to jiffies (no TSC) it
/// stops after a panic, and [`PolledBio::wait`] is bounded without it.
pub(crate) fn panic_clock_ns() -> u64 {
    // SAFETY: Lock-free, callable in any context.
    unsafe { shims::ct_panic_clock_ns() }
}

/// A bio with room for `max_pages` pages, reusable for write after write.
///
/// # Invariants
///
/// `bio` was allocated by `bio_kmalloc` with `max_pages` inline vectors and
/// initialised; while `in_flight`, the block layer owns it and its
/// `bi_private` points to this (boxed, so never moving) value.
pub(crate) struct PolledBio {
    bio: NonNull<bindings::bio>,
    max_pages: u16,
    in_flight: bool,
    done: AtomicBool,
    status: AtomicU8,
}

// SAFETY: The bio is only touched by the owner of the `PolledBio` and, while
// in flight, by the block layer's completion, which only writes the atomics.
unsafe impl Send for PolledBio {}
// SAFETY: See `Send`; `&PolledBio` gives access to the atomics only.
unsafe impl Sync for PolledBio {}

impl PolledBio {
    pub(crate) fn new(max_pages: u16) -> Result<KBox<Self>> {
        // SAFETY: Allocates a bio with inline vectors, or returns null.
        let bio = unsafe { bindings::bio_kmalloc(max_pages, bindings::GFP_KERNEL) };
        let bio = NonNull::new(bio).ok_or(ENOMEM)?;
        // SAFETY: `bio` is fresh, with `max_pages` inline vectors; no device yet.
        unsafe {
            let vecs = (*bio.as_ptr()).bi_inline_vecs.as_mut_ptr();
            bindings::bio_init(bio.as_ptr(), core::ptr::null_mut(), vecs, max_pages, 0);
        }
        // INVARIANT: Allocated and initialised as required; not in flight.
        Ok(KBox::new(
            Self { bio, max_pages, in_flight: false, done: AtomicBool::new(false), status: AtomicU8::new(0) },
            GFP_KERNEL,
        )?)
    }

    /// Whether the block layer may still own the bio: submitted, and not
    /// reaped (a write that timed out). Its box, and every page it writes
    /// from, must then never be freed (see `DumpTarget`'s `Drop`).
    pub(crate) fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// The memory this bio takes: the bio with its vectors, and the box
    /// holding this value (a `PolledBio` only exists boxed: `new`).
    pub(crate) fn allocated(&self) -> usize {
        crate::bdev::allocated(self.bio.as_ptr()) + crate::bdev::allocated(self as *const Self)
    }

    /// Submits a polled write of `pages` (full pages) at `sector` of `bdev`.
    ///
    /// # Safety
    ///
    /// `bdev` must be an open block device whose queue polls; every page must
    /// stay allocated and unchanged until the bio is reaped by `wait`.
    pub(crate) unsafe fn submit_write(
        &mut self,
        bdev: *mut bindings::block_device,
        sector: u64,
        pages: impl Iterator<Item = *mut bindings::page>,
    ) -> core::result::Result<(), PollError> {
        if self.in_flight {
            return Err(PollError::TooManyPages);
        }
        // REQ_NOWAIT: where the block layer would sleep for a tag, it fails
        // the bio instead (an I/O error the dump reports), since nothing may
        // sleep after a panic.
        let opf = bindings::req_op_REQ_OP_WRITE
            | (1 << bindings::req_flag_bits___REQ_SYNC)
            | (1 << bindings::req_flag_bits___REQ_POLLED)
            | (1 << bindings::req_flag_bits___REQ_NOWAIT);
        let bio = self.bio.as_ptr();
        // SAFETY: By the type invariant `bio` is initialised and not in flight,
        // so it may be reset; `bdev` is valid by the caller's guarantee.
        unsafe {
            bindings::bio_reset(bio, bdev, opf);
            (*bio).bi_iter.bi_sector = sector;
            (*bio).bi_end_io = Some(end_io);
            (*bio).bi_private = (self as *mut Self).cast();
        }
        let mut added = 0u16;
        for page in pages {
            if added == self.max_pages {
                return Err(PollError::TooManyPages);
            }
            // SAFETY: The bio has room for `max_pages` vectors; the page is
            // valid by the caller's guarantee.
            if unsafe { bindings::bio_add_page(bio, page, 4096, 0) } != 4096 {
                return Err(PollError::TooManyPages);
            }
            added += 1;
        }
        self.done.store(false, Ordering::Relaxed);
        self.status.store(0, Ordering::Relaxed);
        self.in_flight = true;
        // SAFETY: The bio is complete; from here the block layer owns it until
        // `end_io` runs. `self` is boxed, so `bi_private` stays valid.
        unsafe { bindings::submit_bio(bio) };
        Ok(())
    }

    /// Polls until the write completes or `deadline_ns` (see
    /// [`panic_clock_ns`]) passes.
    pub(crate) fn wait(&mut self, deadline_ns: u64) -> core::result::Result<(), PollError> {
        if !self.in_flight {
            return Ok(());
        }
        // Bounded even by a clock that stopped: each turn waits at least a
        // microsecond (a calibrated busy wait), so this many turns take at
        // least the time to the deadline.
        let mut turns = deadline_ns.saturating_sub(panic_clock_ns()) / 1000 + 1;
        while !self.done.load(Ordering::Acquire) {
            if panic_clock_ns() > deadline_ns || turns == 0 {
                // The bio stays in flight: it must never be reused or freed.
                return Err(PollError::Timeout);
            }
            turns -= 1;
            // SAFETY: The bio is in flight on a polling queue; one-shot polling
            // reaps completions (running `end_io`) and returns.
            unsafe { bindings::bio_poll(self.bio.as_ptr(), core::ptr::null_mut(), BLK_POLL_ONESHOT) };
            // SAFETY: A busy wait, callable in any context.
            unsafe { shims::ct_udelay(1) };
        }
        self.in_flight = false;
        match self.status.load(Ordering::Relaxed) {
            0 => Ok(()),
            status => Err(PollError::Io(status)),
        }
    }
}

/// Completion of a polled bio: records the status, nothing else.
///
/// # Safety
///
/// Called by the block layer for a bio submitted by `submit_write`, whose
/// `bi_private` points to the live `PolledBio`.
unsafe extern "C" fn end_io(bio: *mut bindings::bio) {
    // SAFETY: See the function's safety requirements.
    let this = unsafe { &*((*bio).bi_private as *const PolledBio) };
    // SAFETY: `bio` is valid during its completion.
    this.status.store(unsafe { (*bio).bi_status }, Ordering::Relaxed);
    this.done.store(true, Ordering::Release);
}

impl Drop for PolledBio {
    fn drop(&mut self) {
        if self.in_flight {
            // A write that timed out: the device may still complete it. The
            // owner of the panic state keeps this box and the pages for
            // ever (`DumpTarget`'s `Drop`); the bio itself is never freed
            // either, whoever drops this.
            return;
        }
        // SAFETY: By the type invariant the bio is ours and idle.
        unsafe {
            bindings::bio_uninit(self.bio.as_ptr());
            bindings::kfree(self.bio.as_ptr().cast());
        }
    }
}
