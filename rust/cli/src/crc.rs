// SPDX-License-Identifier: GPL-2.0

//! CRC-32C from the `crc32c` crate and xxh64 from `xxhash-rust`, for the
//! functional core.

use coretakeover_core::checksum::Xxh64;
use coretakeover_core::crc::Crc32c;

pub struct HostCrc;

impl Crc32c for HostCrc {
    fn update(&self, crc: u32, data: &[u8]) -> u32 {
        // `crc32c_append` continues a finished CRC; a raw CRC is its inverse.
        !crc32c::crc32c_append(!crc, data)
    }
}

impl Xxh64 for HostCrc {
    fn xxh64(&self, data: &[u8], seed: u64) -> u64 {
        xxhash_rust::xxh64::xxh64(data, seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        assert_eq!(HostCrc.checksum(b"123456789"), coretakeover_core::crc::CHECK_VALUE);
        assert_eq!(HostCrc.xxh64(b"123456789", 0), coretakeover_core::checksum::XXH64_CHECK_VALUE);
    }
}
