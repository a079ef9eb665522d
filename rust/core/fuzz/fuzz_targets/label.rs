// SPDX-License-Identifier: GPL-2.0

//! Label parsing: never panics; whatever parses re-encodes to the same bytes.
#![no_main]

mod common;
use common::HostCrc;
use coretakeover_core::label::{Label, LABEL_SIZE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Raw bytes, and the same bytes with a correct checksum, so the fuzzer
    // also reaches the checks behind the CRC.
    if let Ok(label) = Label::decode(data, &HostCrc) {
        assert_eq!(&label.encode(&HostCrc)[..], &data[..LABEL_SIZE]);
    }
    if data.len() >= LABEL_SIZE {
        let mut sealed = [0u8; LABEL_SIZE];
        sealed.copy_from_slice(&data[..LABEL_SIZE]);
        sealed[..8].copy_from_slice(b"CTLABEL\0");
        let sum = coretakeover_core::crc::Crc32c::checksum(&HostCrc, &sealed[..LABEL_SIZE - 4]);
        sealed[LABEL_SIZE - 4..].copy_from_slice(&sum.to_le_bytes());
        if let Ok(label) = Label::decode(&sealed, &HostCrc) {
            assert_eq!(label.encode(&HostCrc), sealed);
        }
    }
});
