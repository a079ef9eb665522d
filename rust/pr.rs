// SPDX-License-Identifier: GPL-2.0

//! SCSI-3 / NVMe persistent reservations through the block layer's
//! `pr_ops`, so that SCSI disks and NVMe namespaces behave the same.
//!
//! Every operation retries what the first command after a (re)login tends
//! to meet - NOT READY or a unit attention, which `sd` reports as an I/O
//! error status - a few times before giving up.

use crate::bdev::BlockDevice;
use crate::shims;
use core::fmt;
use kernel::bindings;
use kernel::prelude::*;

/// `PR_WRITE_EXCLUSIVE` (include/uapi/linux/pr.h): only the holder writes.
pub(crate) const WRITE_EXCLUSIVE: u32 = 1;
/// `PR_FL_IGNORE_KEY`: REGISTER AND IGNORE EXISTING KEY.
const IGNORE_KEY: u32 = 1 << 0;
/// `PR_STS_IOERR` and `PR_STS_RESERVATION_CONFLICT`.
const STS_IOERR: i32 = 0x2;
const STS_RESERVATION_CONFLICT: i32 = 0x18;
/// Attempts per operation, and the pause between them.
const ATTEMPTS: u32 = 5;
const RETRY_MS: u32 = 100;

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
    /// Registers `key` (REGISTER AND IGNORE EXISTING KEY: idempotent).
    pub(crate) fn pr_register(&self, key: u64) -> Result<(), PrError> {
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

    /// Takes a Write Exclusive reservation with `key` (registered).
    pub(crate) fn pr_reserve(&self, key: u64) -> Result<(), PrError> {
        // SAFETY: As in `pr_register`.
        retrying(|| unsafe { shims::ct_pr_reserve(self.raw(), key, WRITE_EXCLUSIVE, 0) })
    }

    /// Releases the Write Exclusive reservation held with `key`.
    pub(crate) fn pr_release(&self, key: u64) -> Result<(), PrError> {
        // SAFETY: As in `pr_register`.
        retrying(|| unsafe { shims::ct_pr_release(self.raw(), key, WRITE_EXCLUSIVE) })
    }

    /// Removes `victim`'s registration (and with `abort` its queued
    /// commands) and takes the reservation with `key`.
    pub(crate) fn pr_preempt(&self, key: u64, victim: u64, abort: bool) -> Result<(), PrError> {
        // `pr_preempt(old_key, new_key)` sends old_key as the RESERVATION
        // KEY (the issuer's own) and new_key as the SERVICE ACTION
        // RESERVATION KEY (the one preempted), in sd and nvme alike.
        // SAFETY: As in `pr_register`.
        retrying(|| unsafe { shims::ct_pr_preempt(self.raw(), key, victim, WRITE_EXCLUSIVE, abort) })
    }

    /// The reservation holder's key and the reservation type, if reserved.
    pub(crate) fn pr_holder(&self) -> Result<Option<(u64, u32)>, PrError> {
        let (mut key, mut typ) = (0u64, 0u32);
        // SAFETY: As in `pr_register`; the shim writes both outputs.
        retrying(|| unsafe { shims::ct_pr_read_reservation(self.raw(), &mut key, &mut typ) })?;
        Ok((key != 0).then_some((key, typ)))
    }
}
