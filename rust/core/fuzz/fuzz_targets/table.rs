// SPDX-License-Identifier: GPL-2.0

//! The dump's checksum table as savecore reads it, from a header that
//! parses: never panics; the chunks tile the stream below the watermark
//! exactly; every byte maps into a RAM range or to nothing.
#![no_main]

mod common;
use common::HostCrc;
use coretakeover_core::header::Header;
use coretakeover_core::plan::{phys_of, ChecksumTable};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<u8>, Vec<u8>)| {
    let (head, table) = input;
    let sealed = common::sealed_header(&head);
    let Ok(h) = Header::parse(sealed.as_slice(), &HostCrc) else { return };
    let Ok(t) = ChecksumTable::new(&table, h.chunk_size(), h.watermark()) else {
        return;
    };
    assert_eq!(t.len(), h.chunks_written());
    let ranges: Vec<_> = h.ranges().collect();
    // Walk at most 4096 chunks: the table itself bounds a real one.
    let mut next = 0u64;
    for index in 0..t.len().min(4096) {
        let c = t.chunk(index).expect("a chunk below the watermark");
        assert_eq!(c.start, next);
        assert!(c.len > 0 && c.len <= u64::from(h.chunk_size()));
        next = c.start + c.len;
        let phys = phys_of(&ranges, h.data_offset(), c.start);
        assert!(phys == 0 || ranges.iter().any(|r| phys >= r.phys && phys - r.phys < r.len));
    }
    if t.len() <= 4096 {
        assert_eq!(next, h.watermark());
        assert!(t.chunk(t.len()).is_none());
    }
});
