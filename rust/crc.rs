// SPDX-License-Identifier: GPL-2.0

//! The kernel's CRC-32C (`lib/libcrc32c.c`) and xxh64 (`lib/xxhash.c`)
//! for the functional core.

use crate::ct_core::checksum::{ChunkChecksum, Xxh64, XXH64_CHECK_VALUE};
use crate::ct_core::crc::{Crc32c, CHECK_VALUE};
use crate::shims;
use kernel::prelude::*;

/// The kernel's `crc32c()` and `xxh64()`; usable in any context, including
/// the panic path.
pub(crate) struct KernelCrc;

impl Crc32c for KernelCrc {
    fn update(&self, crc: u32, data: &[u8]) -> u32 {
        // The on-disk structures are far below 4 GiB; larger inputs are fed in pieces.
        // In NMI context (a panic from an NMI) the crypto API's crc32c may
        // not use the FPU and says so with a warning: use the library's
        // table-driven CRC-32C there, which needs neither FPU nor lock.
        // SAFETY: Reads the preempt count.
        if unsafe { shims::ct_in_nmi() } {
            // SAFETY: `data` is valid for reads of its length; only read.
            return unsafe { shims::__crc32c_le(crc, data.as_ptr(), data.len()) };
        }
        let mut crc = crc;
        for piece in data.chunks(1 << 30) {
            // SAFETY: `piece` is valid for reads of its length; `crc32c` only reads it.
            crc = unsafe { shims::crc32c(crc, piece.as_ptr().cast(), piece.len() as u32) };
        }
        crc
    }
}

impl Xxh64 for KernelCrc {
    fn xxh64(&self, data: &[u8], seed: u64) -> u64 {
        // SAFETY: `data` is valid for reads of its length; `xxh64` only reads it.
        unsafe { shims::xxh64(data.as_ptr().cast(), data.len(), seed) }
    }
}

/// Checks that the kernel computes the standard check values, as the host
/// crates do (`rust/core/tests/crc_vectors.rs`, `rust/core/tests/ondisk.rs`).
pub(crate) fn self_test() -> Result {
    let got = KernelCrc.checksum(b"123456789");
    // SAFETY: The string is valid for reads of its length; only read.
    let table = !unsafe { shims::__crc32c_le(!0, b"123456789".as_ptr(), 9) };
    if got != CHECK_VALUE || table != CHECK_VALUE {
        pr_err!("crc32c self-test: got {:#010x} and {:#010x} (tables), expected {:#010x}\n", got, table, CHECK_VALUE);
        return Err(EINVAL);
    }
    let got = KernelCrc.xxh64(b"123456789", 0);
    if got != XXH64_CHECK_VALUE || ChunkChecksum::Xxh64.compute(&KernelCrc, b"123456789") != XXH64_CHECK_VALUE as u32 {
        pr_err!("xxh64 self-test: got {:#018x}, expected {:#018x}\n", got, XXH64_CHECK_VALUE);
        return Err(EINVAL);
    }
    Ok(())
}
