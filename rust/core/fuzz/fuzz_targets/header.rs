// SPDX-License-Identifier: GPL-2.0

//! Dump header parsing: never panics, and a header that parses is
//! consistent (what savecore and the partner rely on).
#![no_main]

mod common;
use common::HostCrc;
use coretakeover_core::header::{Header, MAX_RANGES};
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
    // The fuzz input as the first bytes of a valid-looking header.
    check(&common::sealed_header(data));
});
