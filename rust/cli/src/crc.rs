// SPDX-License-Identifier: GPL-2.0

//! CRC-32C from the `crc32c` crate, for the functional core.

use coretakeover_core::crc::Crc32c;

pub struct HostCrc;

impl Crc32c for HostCrc {
    fn update(&self, crc: u32, data: &[u8]) -> u32 {
        // `crc32c_append` continues a finished CRC; a raw CRC is its inverse.
        !crc32c::crc32c_append(!crc, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        assert_eq!(HostCrc.checksum(b"123456789"), coretakeover_core::crc::CHECK_VALUE);
    }
}
