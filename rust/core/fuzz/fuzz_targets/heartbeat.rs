// SPDX-License-Identifier: GPL-2.0

//! Heartbeat parsing: never panics; whatever parses re-encodes identically.
#![no_main]

mod common;
use common::HostCrc;
use coretakeover_core::heartbeat::{Heartbeat, HEARTBEAT_SIZE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(beat) = Heartbeat::decode(data, &HostCrc) {
        assert_eq!(&beat.encode(&HostCrc)[..], &data[..HEARTBEAT_SIZE]);
    }
    if data.len() >= HEARTBEAT_SIZE {
        let mut sealed = [0u8; HEARTBEAT_SIZE];
        sealed.copy_from_slice(&data[..HEARTBEAT_SIZE]);
        sealed[..8].copy_from_slice(b"CTHEARTB");
        let sum = coretakeover_core::crc::Crc32c::checksum(&HostCrc, &sealed[..HEARTBEAT_SIZE - 4]);
        sealed[HEARTBEAT_SIZE - 4..].copy_from_slice(&sum.to_le_bytes());
        if let Ok(beat) = Heartbeat::decode(&sealed, &HostCrc) {
            assert_eq!(beat.encode(&HostCrc), sealed);
        }
    }
});
