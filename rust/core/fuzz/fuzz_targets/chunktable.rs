// SPDX-License-Identifier: GPL-2.0

//! A compressed dump's chunk table (format version 3) as savecore reads it,
//! from a header that parses: never panics; every chunk below the watermark
//! is either refused as malformed or lies within the stored bytes, holds
//! at most its stream bytes, and a raw one exactly them; the chunks tile
//! the stream; entries round-trip.
#![no_main]

mod common;
use common::HostCrc;
use coretakeover_core::codec::{ChunkEntry, ChunkTable, Codec, ENTRY_SIZE};
use coretakeover_core::header::Header;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<u8>, Vec<u8>)| {
    let (head, table) = input;
    for raw in table.chunks_exact(ENTRY_SIZE) {
        if let Some(e) = ChunkEntry::decode(raw) {
            let mut again = [0u8; ENTRY_SIZE];
            e.encode(&mut again);
            assert_eq!(&again[..], raw, "an entry that decodes encodes to the same bytes");
        }
    }
    let sealed = common::sealed_header(&head);
    let Ok(h) = Header::parse(sealed.as_slice(), &HostCrc) else { return };
    let Ok(t) = ChunkTable::new(&table, h.chunk_size(), h.watermark(), h.stored_bytes()) else { return };
    assert_eq!(t.len(), h.chunks_written());
    let mut next = 0u64;
    for index in 0..t.len().min(4096) {
        match t.chunk(index).expect("a chunk below the watermark") {
            Ok(c) => {
                assert_eq!(c.start, next);
                assert!(c.len > 0 && c.len <= u64::from(h.chunk_size()));
                let stored = u64::from(c.entry.stored_len);
                assert!(stored > 0 && stored <= c.len);
                assert!(c.entry.codec != Codec::None || stored == c.len);
                assert!(c.disk % 4096 == 0 && c.disk + stored <= h.stored_bytes());
                assert_eq!(t.chunk_at(c.start).and_then(Result::ok), Some(c));
            }
            Err(_) => {}
        }
        next = (index + 1) * u64::from(h.chunk_size());
    }
    assert!(t.chunk(t.len()).is_none());
});
