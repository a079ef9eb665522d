// SPDX-License-Identifier: GPL-2.0

//! The kernel's CRC-32C (`lib/libcrc32c.c`) for the functional core.

use crate::ct_core::crc::{Crc32c, CHECK_VALUE};
use crate::shims;
use kernel::prelude::*;

/// The kernel's `crc32c()`; usable in any context, including the panic path.
pub(crate) struct KernelCrc;

impl Crc32c for KernelCrc {
    fn update(&self, crc: u32, data: &[u8]) -> u32 {
        // The on-disk structures are far below 4 GiB; larger inputs are fed in pieces.
        let mut crc = crc;
        for piece in data.chunks(1 << 30) {
            // SAFETY: `piece` is valid for reads of its length; `crc32c` only reads it.
            crc = unsafe { shims::crc32c(crc, piece.as_ptr().cast(), piece.len() as u32) };
        }
        crc
    }
}

/// Checks that the kernel computes the standard check value, as the host
/// crate does (`rust/core/tests/crc_vectors.rs`).
pub(crate) fn self_test() -> Result {
    let got = KernelCrc.checksum(b"123456789");
    if got != CHECK_VALUE {
        pr_err!("crc32c self-test: got {:#010x}, expected {:#010x}\n", got, CHECK_VALUE);
        return Err(EINVAL);
    }
    Ok(())
}
