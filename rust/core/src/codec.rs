// SPDX-License-Identifier: GPL-2.0

//! The chunk codec, and the chunk table of a compressed dump (format
//! version 3).
//!
//! A compressed dump compresses every chunk of its stream on its own with
//! the kernel's own compressor (`lib/lz4`, `lib/zstd`), into a preallocated
//! buffer, and writes what came out back to back in the data area, each
//! chunk starting on a 4 KiB boundary. A chunk that does not shrink by at
//! least one page is written as it is (codec `none` in its entry), so a
//! chunk never takes more room than the stream it holds.
//!
//! Where each chunk went is in the chunk table, which replaces version 1
//! and 2's checksum table: one 32-byte entry a chunk, little-endian:
//!
//! | offset | size | field                                                      |
//! |--------|------|------------------------------------------------------------|
//! | 0      | 4    | checksum of the stored bytes (the dump's chunk checksum)   |
//! | 4      | 4    | stored bytes (exact; the padding to 4 KiB is not counted)  |
//! | 8      | 4    | where they start: 4 KiB pages from the data offset         |
//! | 12     | 1    | codec of this chunk ([`Codec`]: 0 none, 1 lz4, 2 zstd)     |
//! | 13     | 3    | reserved, zero                                             |
//! | 16     | 16   | an encrypted dump's Poly1305 tag (`dumpkey.rs`; else zero) |
//!
//! An lz4 chunk is one LZ4 block (`LZ4_compress_fast`, no frame); a zstd
//! chunk one zstd frame (`zstd_compress_cctx`). Either decompresses to
//! exactly the chunk's stream bytes (the chunk size, or what is left of the
//! watermark for the last chunk).

use super::plan::PAGE_SIZE;
use super::wire::{get_u32, put_u32};

/// A chunk codec. The numbers are the on-disk encoding (dump header, offset
/// 16108, and each chunk table entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    None = 0,
    Lz4 = 1,
    Zstd = 2,
}

impl Codec {
    /// Every codec, in encoding order.
    pub const ALL: [Self; 3] = [Self::None, Self::Lz4, Self::Zstd];

    pub const fn from_u32(v: u32) -> Option<Self> {
        match v {
            0 => Some(Self::None),
            1 => Some(Self::Lz4),
            2 => Some(Self::Zstd),
            _ => None,
        }
    }

    /// The name used in sysfs, netlink, the CLI and the documentation.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// How the codec is chosen when the disk is armed (`dump_codec`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodecChoice {
    /// Each codec is measured at arming on sampled RAM; the model takes the
    /// one that lets the richest filter fit, and the fastest of those.
    Auto,
    Fixed(Codec),
}

impl CodecChoice {
    /// Parses a sysfs or configuration value: `auto`, `none`, `lz4` or
    /// `zstd`, surrounding white space ignored.
    pub fn parse(input: &str) -> Option<Self> {
        match input.trim() {
            "auto" => Some(Self::Auto),
            name => Codec::from_name(name).map(Self::Fixed),
        }
    }

    /// A number for an atomic cell: 0 for `Auto`, 1 + the codec's.
    pub const fn encode(self) -> u32 {
        match self {
            Self::Auto => 0,
            Self::Fixed(c) => 1 + c as u32,
        }
    }

    pub const fn decode(v: u32) -> Option<Self> {
        match v {
            0 => Some(Self::Auto),
            _ => match Codec::from_u32(v - 1) {
                Some(c) => Some(Self::Fixed(c)),
                None => None,
            },
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Fixed(c) => c.as_str(),
        }
    }

    /// The codecs arming measures for this choice.
    pub fn candidates(self) -> impl Iterator<Item = Codec> {
        Codec::ALL.into_iter().filter(move |c| match self {
            Self::Auto => true,
            Self::Fixed(f) => f == *c,
        })
    }
}

/// Bytes of one chunk table entry.
pub const ENTRY_SIZE: usize = 32;
/// Entries in one 4 KiB page of the table.
pub const ENTRIES_PER_PAGE: u64 = PAGE_SIZE / ENTRY_SIZE as u64;

/// One chunk table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkEntry {
    pub checksum: u32,
    pub stored_len: u32,
    /// 4 KiB pages from the data offset to the stored bytes.
    pub disk_page: u32,
    pub codec: Codec,
    /// An encrypted dump's authentication tag (zeros otherwise).
    pub tag: [u8; 16],
}

impl ChunkEntry {
    /// Writes the entry into `out` (at least `ENTRY_SIZE` bytes; the
    /// reserved bytes are zeroed).
    pub fn encode(&self, out: &mut [u8]) {
        if let Some(e) = out.get_mut(..ENTRY_SIZE) {
            e.fill(0);
            put_u32(e, 0, self.checksum);
            put_u32(e, 4, self.stored_len);
            put_u32(e, 8, self.disk_page);
            e[12] = self.codec as u8;
            e[16..32].copy_from_slice(&self.tag);
        }
    }

    pub fn decode(b: &[u8]) -> Option<Self> {
        let e = b.get(..ENTRY_SIZE)?;
        if e[13..16].iter().any(|&x| x != 0) {
            return None;
        }
        Some(Self {
            checksum: get_u32(e, 0)?,
            stored_len: get_u32(e, 4)?,
            disk_page: get_u32(e, 8)?,
            codec: Codec::from_u32(u32::from(e[12]))?,
            tag: e[16..32].try_into().ok()?,
        })
    }

    /// Bytes of the data area the chunk takes (its stored bytes, padded).
    pub const fn padded_len(&self) -> u64 {
        (self.stored_len as u64).div_ceil(PAGE_SIZE) * PAGE_SIZE
    }
}

/// Why a chunk table, or one of its entries, cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkTableError {
    /// The header records data but no chunk size.
    NoChunkSize,
    /// Fewer bytes than the chunks below the watermark need.
    Short { needed: u64, got: u64 },
    /// Entry `index` is malformed: an unknown codec, reserved bytes set,
    /// a stored length of zero, beyond its stream bytes, or different from
    /// them while stored raw, or bytes outside what the header recorded.
    Entry { index: u64 },
}

impl core::fmt::Display for ChunkTableError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoChunkSize => f.write_str("the header records data but no chunk size"),
            Self::Short { needed, got } => write!(f, "the chunk table needs {needed} bytes, {got} were read"),
            Self::Entry { index } => write!(f, "chunk table entry {index} is malformed"),
        }
    }
}

/// A chunk of a compressed dump: where its stream bytes are and how they
/// were stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredChunk {
    /// Offset in the stream.
    pub start: u64,
    /// Stream bytes of the chunk below the watermark (what it decompresses to).
    pub len: u64,
    /// Offset of its stored bytes from the data offset.
    pub disk: u64,
    pub entry: ChunkEntry,
}

/// The chunk table of a version 3 dump, as read from the disk.
#[derive(Clone, Copy, Debug)]
pub struct ChunkTable<'a> {
    entries: &'a [u8],
    chunk_size: u32,
    watermark: u64,
    stored: u64,
}

impl<'a> ChunkTable<'a> {
    /// The table of a dump whose watermark is `watermark` stream bytes,
    /// `stored` bytes of data area, in chunks of `chunk_size`.
    pub fn new(entries: &'a [u8], chunk_size: u32, watermark: u64, stored: u64) -> Result<Self, ChunkTableError> {
        if chunk_size == 0 && watermark > 0 {
            return Err(ChunkTableError::NoChunkSize);
        }
        let needed = super::header::chunk_count(watermark, chunk_size).saturating_mul(ENTRY_SIZE as u64);
        if (entries.len() as u64) < needed {
            return Err(ChunkTableError::Short { needed, got: entries.len() as u64 });
        }
        Ok(Self { entries, chunk_size, watermark, stored })
    }

    /// Chunks below the watermark.
    pub fn len(&self) -> u64 {
        super::header::chunk_count(self.watermark, self.chunk_size)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Chunk `index`; `None` beyond the watermark.
    pub fn chunk(&self, index: u64) -> Option<Result<StoredChunk, ChunkTableError>> {
        if index >= self.len() {
            return None;
        }
        let start = index * u64::from(self.chunk_size);
        let len = u64::from(self.chunk_size).min(self.watermark - start);
        let bad = Err(ChunkTableError::Entry { index });
        let Some(entry) = usize::try_from(index)
            .ok()
            .and_then(|i| i.checked_mul(ENTRY_SIZE))
            .and_then(|at| self.entries.get(at..at + ENTRY_SIZE))
            .and_then(ChunkEntry::decode)
        else {
            return Some(bad);
        };
        let stored = u64::from(entry.stored_len);
        let disk = u64::from(entry.disk_page) * PAGE_SIZE;
        let raw_mismatch = entry.codec == Codec::None && stored != len;
        if stored == 0 || stored > len || raw_mismatch || disk.saturating_add(stored) > self.stored {
            return Some(bad);
        }
        Some(Ok(StoredChunk { start, len, disk, entry }))
    }

    /// The chunk holding stream byte `offset`.
    pub fn chunk_at(&self, offset: u64) -> Option<Result<StoredChunk, ChunkTableError>> {
        self.chunk(offset.checked_div(u64::from(self.chunk_size))?)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::{vec, vec::Vec};

    #[test]
    fn names_round_trip() {
        for c in Codec::ALL {
            assert_eq!(Codec::from_u32(c as u32), Some(c));
            assert_eq!(CodecChoice::parse(c.as_str()), Some(CodecChoice::Fixed(c)));
            assert_eq!(CodecChoice::decode(CodecChoice::Fixed(c).encode()), Some(CodecChoice::Fixed(c)));
        }
        assert_eq!(CodecChoice::parse(" auto\n"), Some(CodecChoice::Auto));
        assert_eq!(CodecChoice::decode(0), Some(CodecChoice::Auto));
        assert_eq!(CodecChoice::decode(4), None);
        assert_eq!(CodecChoice::parse("gzip"), None);
        assert_eq!(Codec::from_u32(3), None);
        assert_eq!(CodecChoice::Auto.candidates().count(), 3);
        assert_eq!(CodecChoice::Fixed(Codec::Zstd).candidates().collect::<Vec<_>>(), [Codec::Zstd]);
    }

    fn table_bytes(entries: &[ChunkEntry]) -> Vec<u8> {
        let mut out = vec![0u8; entries.len() * ENTRY_SIZE];
        for (e, slot) in entries.iter().zip(out.chunks_exact_mut(ENTRY_SIZE)) {
            e.encode(slot);
        }
        out
    }

    #[test]
    fn entries_round_trip_and_locate_their_bytes() {
        let chunk = 64 << 10;
        let entries = [
            ChunkEntry { checksum: 1, stored_len: 5000, disk_page: 0, codec: Codec::Lz4, tag: [0; 16] },
            ChunkEntry { checksum: 2, stored_len: chunk, disk_page: 2, codec: Codec::None, tag: [0; 16] },
            ChunkEntry { checksum: 3, stored_len: 100, disk_page: 18, codec: Codec::Zstd, tag: [0; 16] },
        ];
        let bytes = table_bytes(&entries);
        let stored = 18 * 4096 + 100;
        let t = ChunkTable::new(&bytes, chunk, 2 * u64::from(chunk) + 8192, stored).unwrap();
        assert_eq!(t.len(), 3);
        let c = t.chunk(2).unwrap().unwrap();
        assert_eq!((c.start, c.len, c.disk, c.entry), (2 * u64::from(chunk), 8192, 18 * 4096, entries[2]));
        assert_eq!(t.chunk_at(u64::from(chunk) + 5).unwrap().unwrap().entry, entries[1]);
        assert!(t.chunk(3).is_none());
        assert_eq!(entries[0].padded_len(), 8192);
    }

    #[test]
    fn malformed_entries_are_refused() {
        let chunk = 16 << 10;
        let ok = ChunkEntry { checksum: 0, stored_len: 4000, disk_page: 0, codec: Codec::Lz4, tag: [0; 16] };
        let cases = [
            ChunkEntry { stored_len: 0, ..ok },
            ChunkEntry { stored_len: chunk + 1, ..ok },
            ChunkEntry { stored_len: 4000, codec: Codec::None, ..ok },
            ChunkEntry { disk_page: 100, ..ok },
        ];
        for bad in cases {
            let bytes = table_bytes(&[bad]);
            let t = ChunkTable::new(&bytes, chunk, u64::from(chunk), 8192).unwrap();
            assert_eq!(t.chunk(0), Some(Err(ChunkTableError::Entry { index: 0 })), "{bad:?}");
        }
        let mut bytes = table_bytes(&[ok]);
        bytes[12] = 9;
        assert!(ChunkTable::new(&bytes, chunk, u64::from(chunk), 8192).unwrap().chunk(0).unwrap().is_err());
        bytes[12] = 1;
        bytes[14] = 1;
        assert!(ChunkTable::new(&bytes, chunk, u64::from(chunk), 8192).unwrap().chunk(0).unwrap().is_err());
        assert!(matches!(ChunkTable::new(&bytes[..16], chunk, u64::from(chunk), 8192), Err(ChunkTableError::Short { .. })));
        assert_eq!(ChunkTable::new(&[], 0, 1, 0).err(), Some(ChunkTableError::NoChunkSize));
    }
}
