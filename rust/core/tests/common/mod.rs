// SPDX-License-Identifier: GPL-2.0

//! Shared by the integration tests: the userspace CRC-32C (the `crc32c` crate).

use coretakeover_core::crc::Crc32c;

pub struct HostCrc;

impl Crc32c for HostCrc {
    fn update(&self, crc: u32, data: &[u8]) -> u32 {
        // crc32c_append continues a finished CRC; a raw CRC is its inverse.
        !crc32c::crc32c_append(!crc, data)
    }
}
