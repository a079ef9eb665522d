// SPDX-License-Identifier: GPL-2.0

//! The key block of an encrypted dump (read by savecore and status from
//! whatever the disk holds): never panics; whatever decodes re-encodes to
//! the same bytes, with or without a correct checksum.
#![no_main]

mod common;
use common::HostCrc;
use coretakeover_core::crc::Crc32c;
use coretakeover_core::dumpkey::{KeyBlock, KEY_BLOCK_SIZE, KEY_MAGIC};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let check = |b: &[u8]| {
        if let Ok(block) = KeyBlock::decode(b, &HostCrc) {
            let mut out = [0u8; KEY_BLOCK_SIZE];
            block.encode(&mut out, &HostCrc);
            assert_eq!(KeyBlock::decode(&out, &HostCrc), Ok(block));
        }
    };
    check(data);
    if data.len() >= KEY_BLOCK_SIZE {
        let mut sealed = [0u8; KEY_BLOCK_SIZE];
        sealed.copy_from_slice(&data[..KEY_BLOCK_SIZE]);
        sealed[..8].copy_from_slice(&KEY_MAGIC);
        // Versions 1 and 2, the algorithm right: the fields behind them.
        sealed[8..12].copy_from_slice(&(1 + u32::from(data[8] & 1)).to_le_bytes());
        sealed[12..16].copy_from_slice(&1u32.to_le_bytes());
        let sum = HostCrc.checksum(&sealed[..KEY_BLOCK_SIZE - 4]);
        sealed[KEY_BLOCK_SIZE - 4..].copy_from_slice(&sum.to_le_bytes());
        assert!(KeyBlock::decode(&sealed, &HostCrc).is_ok(), "a sealed block of a known version decodes");
        check(&sealed);
    }
});
