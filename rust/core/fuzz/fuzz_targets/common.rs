// SPDX-License-Identifier: GPL-2.0

//! The userspace CRC-32C, as the CLI uses it.

use coretakeover_core::crc::Crc32c;

pub struct HostCrc;

impl Crc32c for HostCrc {
    fn update(&self, crc: u32, data: &[u8]) -> u32 {
        !crc32c::crc32c_append(!crc, data)
    }
}
