// SPDX-License-Identifier: GPL-2.0

//! Keys in kernel memory: zeroed when they go.

use crate::ct_core::dumpkey::DumpKey;
use core::sync::atomic::{compiler_fence, Ordering};

/// Overwrites `bytes` with zeros in a way the compiler keeps.
pub(crate) fn zeroize(bytes: &mut [u8]) {
    for b in bytes.iter_mut() {
        // SAFETY: `b` is a valid, exclusive reference.
        unsafe { core::ptr::write_volatile(b, 0) };
    }
    compiler_fence(Ordering::SeqCst);
}

/// A data key for the next arming (`dump_key`), zeroed when dropped.
pub(crate) struct SecretDumpKey(pub(crate) DumpKey);

impl Drop for SecretDumpKey {
    fn drop(&mut self) {
        zeroize(&mut self.0.key);
    }
}
