// SPDX-License-Identifier: GPL-2.0

//! CRC-32C (Castagnoli), the checksum of every on-disk structure.
//!
//! The core does not compute it: the module supplies the kernel's `crc32c()`
//! and userspace a maintained crate, through [`Crc32c`]. Test vectors
//! (`tests/crc_vectors.rs`, and the module writing headers that userspace
//! verifies) prove that both agree.

/// A CRC-32C implementation.
pub trait Crc32c {
    /// Continues a *raw* CRC (no final inversion) over `data`, like the
    /// kernel's `crc32c(crc, data, len)`.
    fn update(&self, crc: u32, data: &[u8]) -> u32;

    /// The standard CRC-32C of `data` (initial value and final XOR of all
    /// ones): `checksum(b"123456789") == 0xe306_9283`.
    fn checksum(&self, data: &[u8]) -> u32 {
        !self.update(!0, data)
    }

    /// The standard CRC-32C of `a` followed by `b`.
    fn checksum2(&self, a: &[u8], b: &[u8]) -> u32 {
        !self.update(self.update(!0, a), b)
    }
}

/// The CRC-32C check value of the ASCII string "123456789".
pub const CHECK_VALUE: u32 = 0xe306_9283;
