// SPDX-License-Identifier: GPL-2.0

//! The userspace CRC-32C, as the CLI uses it.

use coretakeover_core::crc::Crc32c;

pub struct HostCrc;

impl Crc32c for HostCrc {
    fn update(&self, crc: u32, data: &[u8]) -> u32 {
        !crc32c::crc32c_append(!crc, data)
    }
}

/// `data` as the first bytes of a dump header with a valid magic, version,
/// size and checksum, so that parsing reaches the consistency checks. The
/// version is every one the format has, chosen by the input's byte 8 (the
/// version checks, the page map's and the chunk table's, are reached).
#[allow(dead_code)] // not every target seals headers
pub fn sealed_header(data: &[u8]) -> Vec<u8> {
    use coretakeover_core::header::{Header, HEADER_SIZE};
    let mut buf = vec![0u8; HEADER_SIZE];
    let n = data.len().min(HEADER_SIZE - 4);
    buf[..n].copy_from_slice(&data[..n]);
    buf[..8].copy_from_slice(b"CTDUMPHD");
    // A version the format has stays (a real header as a seed); any other
    // byte picks one.
    let last = coretakeover_core::header::HEADER_VERSION_CHUNK_TABLE;
    let version = match u32::from(data.get(8).copied().unwrap_or(0)) {
        v @ 1.. if v <= last => v,
        v => 1 + v % last,
    };
    buf[8..12].copy_from_slice(&version.to_le_bytes());
    buf[12..16].copy_from_slice(&(HEADER_SIZE as u32).to_le_bytes());
    let mut h = Header::from_unchecked(buf);
    h.seal(&HostCrc);
    h.into_inner()
}
