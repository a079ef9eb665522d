// SPDX-License-Identifier: GPL-2.0

//! Keys in kernel memory: zeroed when they go.

use crate::ct_core::dumpkey::{arming_inputs, DumpKey, KEY_SIZE};
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

/// The chunk key of one arming: the data key run through HChaCha20 with the
/// disk's UUID, then with the arming time (`ct_core::dumpkey::arming_inputs`),
/// so that a data key written again never encrypts two dumps alike.
pub(crate) fn arming_key(key: &[u8; KEY_SIZE], disk_uuid: &[u8; 16], armed_ns: u64) -> [u8; KEY_SIZE] {
    let [first, second] = arming_inputs(disk_uuid, armed_ns);
    let mut step = [0u8; KEY_SIZE];
    let mut out = [0u8; KEY_SIZE];
    // SAFETY: 32-byte keys and outputs, 16-byte inputs, all ours.
    unsafe {
        crate::shims::ct_hchacha20(key.as_ptr(), first.as_ptr(), step.as_mut_ptr());
        crate::shims::ct_hchacha20(step.as_ptr(), second.as_ptr(), out.as_mut_ptr());
    }
    zeroize(&mut step);
    out
}
