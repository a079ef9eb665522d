// SPDX-License-Identifier: GPL-2.0

//! SCSI-3 / NVMe persistent reservations through the block layer's
//! `pr_ops`, so that SCSI disks and NVMe namespaces behave the same.
//!
//! Every operation retries what the first command after a (re)login tends
//! to meet - NOT READY or a unit attention, which `sd` reports as an I/O
//! error status - a few times before giving up.
//!
//! A device-mapper device (a multipath map) forwards these operations to
//! its paths (6.12's `drivers/md/dm.c`): REGISTER to every path, all or
//! nothing (a path that fails makes dm unregister the key from every path,
//! including where it was registered before); the others to the first path
//! that answers; -EAGAIN while the map is suspended. So on a map:
//!
//! - the reservation is Write Exclusive - Registrants Only: the holder of a
//!   plain Write Exclusive reservation is one I_T nexus, and the map writes
//!   through all of its paths;
//! - a key registered already is left as it is, never registered again
//!   through dm (registration per path is userspace's: `mpathpersist`, and
//!   multipathd's `reservation_key file` for a path that comes back);
//! - PREEMPT AND ABORT cannot go through dm: 6.12's `dm_pr_preempt` drops
//!   the abort flag. It is sent through one of the map's live paths
//!   instead ([`BlockDevice::pr_preempt_abort_through_paths`]): the `sd`
//!   device's own `pr_ops` keep it, and the array aborts the preempted
//!   key's commands on every I_T nexus, whichever path carried it. Only
//!   where no path can send it does the takeover fall back to a plain
//!   PREEMPT through the map, and report that weaker method.

use crate::bdev::BlockDevice;
use crate::shims;
use core::fmt;
use kernel::bindings;
use kernel::prelude::*;

/// `PR_WRITE_EXCLUSIVE` (include/uapi/linux/pr.h): only the holder writes.
pub(crate) const WRITE_EXCLUSIVE: u32 = 1;
/// `PR_WRITE_EXCLUSIVE_REG_ONLY`: every registered I_T nexus writes.
pub(crate) const WRITE_EXCLUSIVE_REG_ONLY: u32 = 3;
/// `PR_FL_IGNORE_KEY`: REGISTER AND IGNORE EXISTING KEY.
const IGNORE_KEY: u32 = 1 << 0;
/// `PR_STS_IOERR` and `PR_STS_RESERVATION_CONFLICT`.
const STS_IOERR: i32 = 0x2;
const STS_RESERVATION_CONFLICT: i32 = 0x18;
/// Attempts per operation, and the pause between them.
const ATTEMPTS: u32 = 5;
const RETRY_MS: u32 = 100;
/// The most paths of one multipath map tried for PREEMPT AND ABORT.
const MAX_PATHS: usize = 8;

/// How PREEMPT AND ABORT went through the paths of a multipath map.
#[derive(Clone, Copy, Debug)]
pub(crate) enum PathPreempt {
    /// GOOD through the path with this device number.
    Done(u32),
    /// The array does not implement PREEMPT AND ABORT.
    Unsupported(PrError),
    /// No path took it: how many live paths the map has, and the last
    /// error (none: no path could be opened, or there is none).
    NoPath { live: usize, last: Option<PrError> },
}

/// How a persistent reservation operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PrError {
    /// A negative errno (`EINVAL`: the target rejected the command, e.g. an
    /// unsupported PREEMPT AND ABORT; `EOPNOTSUPP`: no `pr_ops`).
    Errno(i32),
    /// A positive `PR_STS_*` status from the device.
    Status(i32),
}

impl PrError {
    /// The positive errno that says it (a reservation conflict is EBADE, as
    /// the block layer reports it).
    pub(crate) fn errno(self) -> u32 {
        match self {
            Self::Errno(e) => e.unsigned_abs(),
            Self::Status(STS_RESERVATION_CONFLICT) => bindings::EBADE,
            Self::Status(_) => bindings::EIO,
        }
    }

    /// A code that tells failures apart (`ct_core::retry`): the device
    /// status, or the errno with the top bit set.
    pub(crate) fn code(self) -> u32 {
        match self {
            Self::Errno(e) => e.unsigned_abs() | 1 << 31,
            Self::Status(s) => s.unsigned_abs(),
        }
    }

    pub(crate) fn is_unsupported(self) -> bool {
        self == Self::Errno(-(bindings::EINVAL as i32)) || self == Self::Errno(-(bindings::EOPNOTSUPP as i32))
    }
}

impl fmt::Display for PrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Errno(e) => write!(f, "error {}", e),
            Self::Status(STS_RESERVATION_CONFLICT) => f.write_str("reservation conflict"),
            Self::Status(STS_IOERR) => f.write_str("I/O error"),
            Self::Status(s) => write!(f, "status {:#x}", s),
        }
    }
}

fn check(ret: i32) -> Result<(), PrError> {
    match ret {
        0 => Ok(()),
        e if e < 0 => Err(PrError::Errno(e)),
        s => Err(PrError::Status(s)),
    }
}

/// Runs `op` until it succeeds, fails for good, or the attempts run out.
fn retrying(mut op: impl FnMut() -> i32) -> Result<(), PrError> {
    let mut attempt = 1;
    loop {
        match check(op()) {
            Err(PrError::Status(STS_IOERR)) if attempt < ATTEMPTS => {
                attempt += 1;
                // SAFETY: Process context; sleeping is allowed.
                unsafe { bindings::msleep(RETRY_MS) };
            }
            other => return other,
        }
    }
}

impl BlockDevice {
    /// The reservation type this node takes on the device: Write Exclusive,
    /// or on a multipath map Write Exclusive - Registrants Only.
    pub(crate) fn reservation_type(&self) -> u32 {
        if self.is_device_mapper() {
            WRITE_EXCLUSIVE_REG_ONLY
        } else {
            WRITE_EXCLUSIVE
        }
    }


    /// Registers `key` (REGISTER AND IGNORE EXISTING KEY: idempotent). On a
    /// multipath map only a key that READ KEYS (the logical unit's whole
    /// list) shows registered through no path at all: dm's undoing of a
    /// failed registration then removes nothing that was there before. A
    /// key registered already is left alone (see above).
    pub(crate) fn pr_register(&self, key: u64) -> Result<(), PrError> {
        if self.is_device_mapper() && self.pr_key_registered(key)? {
            return Ok(());
        }
        // SAFETY: The device is open (type invariant of `BlockDevice`).
        retrying(|| unsafe { shims::ct_pr_register(self.raw(), 0, key, IGNORE_KEY) })
    }

    /// Whether `key` is registered on the disk (READ KEYS).
    pub(crate) fn pr_key_registered(&self, key: u64) -> Result<bool, PrError> {
        // SAFETY: As in `pr_register`.
        match unsafe { shims::ct_pr_key_registered(self.raw(), key) } {
            ret if ret < 0 => check(ret).map(|()| false),
            ret => Ok(ret == 1),
        }
    }

    /// Takes the reservation (`reservation_type`) with `key` (registered).
    pub(crate) fn pr_reserve(&self, key: u64) -> Result<(), PrError> {
        let typ = self.reservation_type();
        // SAFETY: As in `pr_register`.
        retrying(|| unsafe { shims::ct_pr_reserve(self.raw(), key, typ, 0) })
    }

    /// Releases the reservation held with `key`.
    pub(crate) fn pr_release(&self, key: u64) -> Result<(), PrError> {
        let typ = self.reservation_type();
        // SAFETY: As in `pr_register`.
        retrying(|| unsafe { shims::ct_pr_release(self.raw(), key, typ) })
    }

    /// Removes `victim`'s registration (and with `abort` its queued
    /// commands) and takes the reservation with `key`.
    pub(crate) fn pr_preempt(&self, key: u64, victim: u64, abort: bool) -> Result<(), PrError> {
        // `pr_preempt(old_key, new_key)` sends old_key as the RESERVATION
        // KEY (the issuer's own) and new_key as the SERVICE ACTION
        // RESERVATION KEY (the one preempted), in sd and nvme alike.
        let typ = self.reservation_type();
        // SAFETY: As in `pr_register`.
        retrying(|| unsafe { shims::ct_pr_preempt(self.raw(), key, victim, typ, abort) })
    }

    /// PREEMPT AND ABORT of `victim` with `key`, on a multipath map, sent
    /// through its live paths one after the other until one answers GOOD
    /// (a path through which this node is not registered answers with a
    /// reservation conflict, a failing one with an error). The reservation
    /// stays the map's type. The caller reads it back through the map.
    pub(crate) fn pr_preempt_abort_through_paths(&self, key: u64, victim: u64) -> PathPreempt {
        let mut devs: [bindings::dev_t; MAX_PATHS] = [0; MAX_PATHS];
        // SAFETY: The device is open (type invariant); `devs` holds
        // `MAX_PATHS` entries, the most the shim writes.
        let n = unsafe { shims::ct_dm_live_paths(self.raw(), devs.as_mut_ptr(), MAX_PATHS as i32) };
        let live = usize::try_from(n).unwrap_or(0);
        let typ = self.reservation_type();
        let mut last = None;
        for &dev in devs.iter().take(live) {
            let Ok(path) = BlockDevice::open_shared_by_dev(dev) else { continue };
            // SAFETY: `path` is open for the length of the call.
            match retrying(|| unsafe { shims::ct_pr_preempt(path.raw(), key, victim, typ, true) }) {
                Ok(()) => return PathPreempt::Done(dev),
                Err(e) if e.is_unsupported() => return PathPreempt::Unsupported(e),
                Err(e) => last = Some(e),
            }
        }
        PathPreempt::NoPath { live, last }
    }

    /// The reservation holder's key and the reservation type, if reserved.
    pub(crate) fn pr_holder(&self) -> Result<Option<(u64, u32)>, PrError> {
        let (mut key, mut typ) = (0u64, 0u32);
        // SAFETY: As in `pr_register`; the shim writes both outputs.
        retrying(|| unsafe { shims::ct_pr_read_reservation(self.raw(), &mut key, &mut typ) })?;
        Ok((key != 0).then_some((key, typ)))
    }
}
