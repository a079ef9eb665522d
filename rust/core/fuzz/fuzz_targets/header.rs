// SPDX-License-Identifier: GPL-2.0

//! Dump header parsing: never panics, and a header that parses is
//! consistent (what savecore and the partner rely on).
#![no_main]

mod common;
use common::HostCrc;
use coretakeover_core::header::{Header, HEADER_SIZE, MAX_RANGES};
use coretakeover_core::plan::saved_bytes;
use libfuzzer_sys::fuzz_target;

fn check(buf: &[u8]) {
    let Ok(h) = Header::parse(buf, &HostCrc) else { return };
    assert!(h.watermark() <= h.capacity() && h.capacity() <= h.dump_bytes());
    assert!(h.range_count() <= MAX_RANGES);
    let saved: u64 = h.ranges().map(|r| saved_bytes(&r, h.data_offset(), h.watermark())).sum();
    if h.range_count() > 0 {
        assert_eq!(saved, h.watermark());
    }
    let _ = (h.vmcoreinfo(), h.panic_message(), h.kernel_release(), h.chunks_written());
}

fuzz_target!(|data: &[u8]| {
    check(data);
    // The fuzz input as the first bytes of a header with a valid magic,
    // version and checksum, to reach the consistency checks.
    let mut buf = vec![0u8; HEADER_SIZE];
    let n = data.len().min(HEADER_SIZE - 4);
    buf[..n].copy_from_slice(&data[..n]);
    buf[..8].copy_from_slice(b"CTDUMPHD");
    buf[8..12].copy_from_slice(&1u32.to_le_bytes());
    buf[12..16].copy_from_slice(&(HEADER_SIZE as u32).to_le_bytes());
    let mut h = Header::from_unchecked(buf);
    h.seal(&HostCrc);
    check(h.as_bytes());
});
