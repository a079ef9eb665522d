// SPDX-License-Identifier: GPL-2.0

//! The dump plan: which bytes of RAM go where on the coredump disk.
//!
//! The disk layout (all regions 4 KiB-aligned, so no write tears across two
//! of them):
//!
//! | offset            | size     | region                                    |
//! |-------------------|----------|-------------------------------------------|
//! | 0                 | 4 KiB    | label (`label.rs`), never rewritten       |
//! | 32 KiB            | 16 KiB   | dump header copy A (`header.rs`)          |
//! | 64 KiB            | 16 KiB   | dump header copy B                        |
//! | 96 KiB            | 4 KiB    | heartbeat block (the live owner's writes) |
//! | 100 KiB           | 4 KiB    | key block (encrypted dumps, `dumpkey.rs`) |
//! | 1 MiB             | n × 4 B  | chunk checksum table, one CRC-32C a chunk (n × 32 B: the chunk table of a compressed dump) |
//! | next 4 KiB        | 2 × m    | page map (filtered dumps only): a bitmap a pass |
//! | data offset       | capacity | the dump: RAM ranges back to back         |
//!
//! The data offset is the first 1 MiB boundary after the checksum table (and
//! the page map, when there is one). A filtered dump's stream holds only the
//! pages its filter keeps, packed (see `header.rs`, version 2); its capacity
//! is still at most the RAM's size, and its checksum table as large.
//! The *stream* is the RAM ranges in physical order, concatenated; it is cut
//! into chunks of the chunk size (the last may be shorter), each checksummed.
//! When the disk is too small, the stream is cut at the capacity.
//! A compressed dump (version 3) plans a chunk table and a page map; its
//! capacity is the whole stream, and its chunks take what they take of the
//! data area ([`room`](Plan::room)).

use super::header::{chunk_count, RamRange, MAX_RANGES};

pub const PAGE_SIZE: u64 = 4096;
/// Where the heartbeat block lives.
pub const HEARTBEAT_OFFSET: u64 = 96 << 10;
/// Where the chunk checksum table starts.
pub const CRC_TABLE_OFFSET: u64 = 1 << 20;
/// The dump data starts on a boundary of this.
pub const DATA_ALIGN: u64 = 1 << 20;
/// Chunks are at most this large (one bio each).
pub const MAX_CHUNK: u32 = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// No System RAM was found.
    NoRam,
    /// More RAM ranges than the header can describe.
    TooManyRanges,
    /// Ranges out of order or overlapping.
    Unsorted,
    /// The chunk size is zero, not page-aligned, or above `MAX_CHUNK`.
    ChunkSize,
    /// Not even one page of dump data fits on the disk.
    DiskTooSmall { need: u64, have: u64 },
    /// Sizes overflow 64 bits.
    Overflow,
}

impl core::fmt::Display for PlanError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoRam => f.write_str("no System RAM ranges"),
            Self::TooManyRanges => write!(f, "more than {MAX_RANGES} System RAM ranges"),
            Self::Unsorted => f.write_str("RAM ranges unsorted or overlapping"),
            Self::ChunkSize => f.write_str("invalid chunk size"),
            Self::DiskTooSmall { need, have } => {
                write!(f, "disk too small: {have} bytes, the dump area starts at {need}")
            }
            Self::Overflow => f.write_str("sizes overflow"),
        }
    }
}

const fn align_down(v: u64, a: u64) -> u64 {
    v - v % a
}

/// Collects System RAM ranges, given as (first byte, last byte) in ascending
/// order, into `out`: each widened to whole pages, touching or overlapping
/// ones merged. Returns how many ranges `out` holds.
pub fn collect_ranges(
    raw: impl IntoIterator<Item = (u64, u64)>,
    out: &mut [RamRange; MAX_RANGES],
) -> Result<usize, PlanError> {
    let mut n = 0usize;
    for (first, last) in raw {
        if last < first {
            return Err(PlanError::Unsorted);
        }
        let phys = align_down(first, PAGE_SIZE);
        let end = align_down(last, PAGE_SIZE).checked_add(PAGE_SIZE).ok_or(PlanError::Overflow)?;
        if let Some(prev) = n.checked_sub(1).and_then(|i| out.get_mut(i)) {
            let prev_end = prev.phys + prev.len;
            if phys < prev.phys {
                return Err(PlanError::Unsorted);
            }
            if phys <= prev_end {
                prev.len = end.max(prev_end) - prev.phys;
                continue;
            }
        }
        let slot = out.get_mut(n).ok_or(PlanError::TooManyRanges)?;
        *slot = RamRange { phys, len: end - phys, disk_offset: 0 };
        n += 1;
    }
    if n == 0 {
        return Err(PlanError::NoRam);
    }
    Ok(n)
}

/// Where every byte of the dump goes, for a disk of a given size.
#[derive(Debug)]
pub struct Plan<'a> {
    ranges: &'a [RamRange],
    chunk_size: u32,
    crc_table_offset: u64,
    data_offset: u64,
    dump_bytes: u64,
    capacity: u64,
    /// The page map's offset and the bytes of each pass's bitmap.
    page_map: Option<(u64, u64)>,
    /// Bytes of the data area.
    room: u64,
    /// Bytes of a table entry: 4 (checksum table) or 32 (chunk table).
    entry_bytes: u64,
}

/// Bytes of one pass's bitmap for `pages` pages: whole 4 KiB pages.
pub const fn page_map_pass_bytes(pages: u64) -> u64 {
    pages.div_ceil(8).div_ceil(PAGE_SIZE) * PAGE_SIZE
}

impl<'a> Plan<'a> {
    /// Plans the dump of `ranges` (sorted, disjoint, page-aligned; their disk
    /// offsets are filled in here) onto a disk of `disk_bytes`.
    pub fn new(ranges: &'a mut [RamRange], chunk_size: u32, disk_bytes: u64) -> Result<Self, PlanError> {
        Self::build(ranges, chunk_size, disk_bytes, false, false)
    }

    /// As [`new`](Self::new), for a filtered dump: with a page map.
    pub fn with_page_map(ranges: &'a mut [RamRange], chunk_size: u32, disk_bytes: u64) -> Result<Self, PlanError> {
        Self::build(ranges, chunk_size, disk_bytes, true, false)
    }

    /// As [`with_page_map`](Self::with_page_map), for a compressed dump:
    /// with a chunk table, and the whole stream as its capacity.
    pub fn with_chunk_table(ranges: &'a mut [RamRange], chunk_size: u32, disk_bytes: u64) -> Result<Self, PlanError> {
        Self::build(ranges, chunk_size, disk_bytes, true, true)
    }

    fn build(ranges: &'a mut [RamRange], chunk_size: u32, disk_bytes: u64, with_map: bool, chunk_table: bool) -> Result<Self, PlanError> {
        let entry_bytes = if chunk_table { super::codec::ENTRY_SIZE as u64 } else { 4 };
        if ranges.is_empty() {
            return Err(PlanError::NoRam);
        }
        if ranges.len() > MAX_RANGES {
            return Err(PlanError::TooManyRanges);
        }
        if chunk_size == 0 || u64::from(chunk_size) % PAGE_SIZE != 0 || chunk_size > MAX_CHUNK {
            return Err(PlanError::ChunkSize);
        }
        let mut dump_bytes = 0u64;
        let mut prev_end = 0u64;
        for r in ranges.iter() {
            if r.len == 0 || r.phys % PAGE_SIZE != 0 || r.len % PAGE_SIZE != 0 || r.phys < prev_end {
                return Err(PlanError::Unsorted);
            }
            prev_end = r.phys.checked_add(r.len).ok_or(PlanError::Overflow)?;
            dump_bytes = dump_bytes.checked_add(r.len).ok_or(PlanError::Overflow)?;
        }
        let table_len = chunk_count(dump_bytes, chunk_size).checked_mul(entry_bytes).ok_or(PlanError::Overflow)?;
        let table_end = CRC_TABLE_OFFSET.checked_add(table_len).ok_or(PlanError::Overflow)?;
        let page_map = if with_map {
            let offset = table_end.checked_next_multiple_of(PAGE_SIZE).ok_or(PlanError::Overflow)?;
            Some((offset, page_map_pass_bytes(dump_bytes / PAGE_SIZE)))
        } else {
            None
        };
        let data_offset = page_map
            .map_or(Some(table_end), |(offset, bytes)| offset.checked_add(bytes.checked_mul(2)?))
            .and_then(|end| end.checked_next_multiple_of(DATA_ALIGN))
            .ok_or(PlanError::Overflow)?;
        let room = align_down(disk_bytes.saturating_sub(data_offset), PAGE_SIZE);
        if room == 0 {
            return Err(PlanError::DiskTooSmall { need: data_offset + PAGE_SIZE, have: disk_bytes });
        }
        let mut disk = data_offset;
        for r in ranges.iter_mut() {
            r.disk_offset = disk;
            disk = disk.checked_add(r.len).ok_or(PlanError::Overflow)?;
        }
        Ok(Self {
            ranges,
            chunk_size,
            crc_table_offset: CRC_TABLE_OFFSET,
            data_offset,
            dump_bytes,
            capacity: if chunk_table { dump_bytes } else { dump_bytes.min(room) },
            page_map,
            room,
            entry_bytes,
        })
    }

    /// The page map's offset and the bytes of each pass's bitmap, if any.
    pub fn page_map(&self) -> Option<(u64, u64)> {
        self.page_map
    }

    pub fn ranges(&self) -> &[RamRange] {
        self.ranges
    }
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }
    pub fn crc_table_offset(&self) -> u64 {
        self.crc_table_offset
    }
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }
    /// Bytes of all RAM ranges.
    pub fn dump_bytes(&self) -> u64 {
        self.dump_bytes
    }
    /// Bytes of the stream that fit on the disk.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }
    /// Whether all of RAM fits (uncompressed).
    pub fn fits(&self) -> bool {
        self.room >= self.dump_bytes
    }
    /// Bytes of the data area.
    pub fn room(&self) -> u64 {
        self.room
    }
    /// Bytes of a table entry (4: checksum; 32: chunk table).
    pub fn entry_bytes(&self) -> u64 {
        self.entry_bytes
    }
    /// Chunks within the capacity.
    pub fn chunks(&self) -> u64 {
        chunk_count(self.capacity, self.chunk_size)
    }
}

/// The physical pages of the stream, in order, up to a byte limit: what the
/// panic path copies, page after page, into its bounce buffers.
pub struct PageCursor<'a> {
    ranges: &'a [RamRange],
    range: usize,
    offset: u64,
    pages_left: u64,
}

impl<'a> PageCursor<'a> {
    /// Pages of `ranges` up to `limit` bytes of stream.
    pub fn new(ranges: &'a [RamRange], limit: u64) -> Self {
        Self { ranges, range: 0, offset: 0, pages_left: limit / PAGE_SIZE }
    }
}

impl Iterator for PageCursor<'_> {
    /// The physical address of the next page.
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        if self.pages_left == 0 {
            return None;
        }
        loop {
            let r = self.ranges.get(self.range)?;
            if self.offset < r.len {
                let phys = r.phys.checked_add(self.offset)?;
                self.offset += PAGE_SIZE;
                self.pages_left -= 1;
                return Some(phys);
            }
            self.range += 1;
            self.offset = 0;
        }
    }
}

/// The pages of the RAM ranges in the order a filtered dump visits them:
/// every page for pass 0, then every page again for pass 1. Yields
/// `(pass, index of the page in the ranges, physical address)`.
pub struct ScanCursor<'a> {
    ranges: &'a [RamRange],
    pass: usize,
    range: usize,
    offset: u64,
    index: u64,
    total: u64,
}

impl<'a> ScanCursor<'a> {
    pub fn new(ranges: &'a [RamRange]) -> Self {
        let total = ranges.iter().map(|r| r.len / PAGE_SIZE).sum();
        Self { ranges, pass: 0, range: 0, offset: 0, index: 0, total }
    }

    /// Pages each pass has visited so far.
    pub fn scanned(&self) -> [u64; 2] {
        match self.pass {
            0 => [self.index, 0],
            1 => [self.total, self.index],
            _ => [self.total, self.total],
        }
    }

    /// The pass it is in and the pages of it visited (pass 2: both done).
    pub fn at(&self) -> super::scheme::Position {
        super::scheme::Position { pass: self.pass.min(2), visited: if self.pass >= 2 { 0 } else { self.index } }
    }

    /// Ends the scan: pass 1 has nothing to visit (a kernel-only filter
    /// keeps no page of it); both passes count as done.
    pub fn finish(&mut self) {
        self.pass = 2;
    }

    /// Whether both passes have visited every page.
    pub fn finished(&self) -> bool {
        self.scanned() == [self.total, self.total]
    }
}

impl Iterator for ScanCursor<'_> {
    type Item = (usize, u64, u64);

    fn next(&mut self) -> Option<(usize, u64, u64)> {
        loop {
            if self.pass >= 2 {
                return None;
            }
            let Some(r) = self.ranges.get(self.range) else {
                self.pass += 1;
                (self.range, self.offset, self.index) = (0, 0, 0);
                continue;
            };
            if self.offset < r.len {
                let item = (self.pass, self.index, r.phys.checked_add(self.offset)?);
                self.offset += PAGE_SIZE;
                self.index += 1;
                return Some(item);
            }
            self.range += 1;
            self.offset = 0;
        }
    }
}

/// How many bytes of range `r` lie below `watermark` bytes of stream.
pub fn saved_bytes(r: &RamRange, data_offset: u64, watermark: u64) -> u64 {
    let start = r.disk_offset.saturating_sub(data_offset);
    watermark.saturating_sub(start).min(r.len)
}

/// The RAM address of byte `offset` of the dump stream (0 if no range holds it).
pub fn phys_of(ranges: &[RamRange], data_offset: u64, offset: u64) -> u64 {
    let Some(disk) = data_offset.checked_add(offset) else { return 0 };
    ranges
        .iter()
        .find(|r| disk >= r.disk_offset && disk - r.disk_offset < r.len)
        .map_or(0, |r| r.phys.saturating_add(disk - r.disk_offset))
}

/// Where the `len` bytes of RAM at `phys` are on the disk, if one range
/// holds them all and they are below the watermark (saved).
pub fn disk_offset_of(ranges: &[RamRange], data_offset: u64, watermark: u64, phys: u64, len: u64) -> Option<u64> {
    let r = ranges.iter().find(|r| phys >= r.phys && phys - r.phys < r.len)?;
    let within = phys - r.phys;
    if len > r.len - within {
        return None;
    }
    let disk = r.disk_offset.checked_add(within)?;
    let end = disk.checked_add(len)?.checked_sub(data_offset)?;
    (end <= watermark).then_some(disk)
}

/// The checksum table of a dump, as read from the disk: one little-endian
/// CRC-32C per chunk below the watermark.
#[derive(Clone, Copy, Debug)]
pub struct ChecksumTable<'a> {
    entries: &'a [u8],
    chunk_size: u32,
    watermark: u64,
}

/// Why a checksum table cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableError {
    /// The header's chunk size is zero although data was recorded.
    NoChunkSize,
    /// Fewer bytes than the chunks below the watermark need.
    Short { needed: u64, got: u64 },
}

impl core::fmt::Display for TableError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoChunkSize => f.write_str("the header records data but no chunk size"),
            Self::Short { needed, got } => write!(f, "the checksum table needs {needed} bytes, {got} were read"),
        }
    }
}

/// One chunk of the dump stream and its recorded checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Offset in the stream (from the data area's start).
    pub start: u64,
    /// Bytes of the chunk below the watermark.
    pub len: u64,
    pub crc: u32,
}

impl<'a> ChecksumTable<'a> {
    /// The table for `watermark` bytes written in chunks of `chunk_size`.
    pub fn new(entries: &'a [u8], chunk_size: u32, watermark: u64) -> Result<Self, TableError> {
        if chunk_size == 0 && watermark > 0 {
            return Err(TableError::NoChunkSize);
        }
        let needed = chunk_count(watermark, chunk_size).saturating_mul(4);
        if (entries.len() as u64) < needed {
            return Err(TableError::Short { needed, got: entries.len() as u64 });
        }
        Ok(Self { entries, chunk_size, watermark })
    }

    /// Chunks below the watermark.
    pub fn len(&self) -> u64 {
        chunk_count(self.watermark, self.chunk_size)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Chunk `index`, if below the watermark.
    pub fn chunk(&self, index: u64) -> Option<Chunk> {
        if index >= self.len() {
            return None;
        }
        let start = index * u64::from(self.chunk_size);
        let len = u64::from(self.chunk_size).min(self.watermark - start);
        let at = usize::try_from(index).ok()?.checked_mul(4)?;
        let crc = u32::from_le_bytes(self.entries.get(at..at + 4)?.try_into().ok()?);
        Some(Chunk { start, len, crc })
    }
}

/// The page map of a filtered dump, as read from the disk: which pages of
/// the RAM ranges the stream holds, and in what order.
#[derive(Clone, Copy, Debug)]
pub struct PageMap<'a> {
    ranges: &'a [RamRange],
    passes: [&'a [u8]; 2],
    scanned: [u64; 2],
}

/// Pages of RAM that lie back to back both in RAM and in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub phys: u64,
    pub pages: u64,
    /// Index of the run's first page in the stream.
    pub stream_page: u64,
}

impl<'a> PageMap<'a> {
    /// The map of `ranges` from the two bitmaps (at least `scanned[p]` bits
    /// each), of which the first `scanned[p]` bits count. None if a bitmap
    /// is too short or a pass scanned beyond the ranges.
    pub fn new(ranges: &'a [RamRange], passes: [&'a [u8]; 2], scanned: [u64; 2]) -> Option<Self> {
        let pages: u64 = ranges.iter().map(|r| r.len / PAGE_SIZE).sum();
        for (bits, s) in passes.iter().zip(scanned) {
            if s > pages || (bits.len() as u64).saturating_mul(8) < s {
                return None;
            }
        }
        Some(Self { ranges, passes, scanned })
    }

    fn bit(&self, pass: usize, page: u64) -> bool {
        let Some(bits) = self.passes.get(pass) else { return false };
        usize::try_from(page / 8).ok().and_then(|i| bits.get(i)).is_some_and(|b| b & (1 << (page % 8)) != 0)
    }

    /// Pages the stream holds (set bits below the scanned counts).
    pub fn pages(&self) -> u64 {
        self.runs().map(|r| r.pages).sum()
    }

    /// The runs, in stream order.
    pub fn runs(&self) -> Runs<'_> {
        Runs { map: self, pass: 0, index: 0, range: 0, range_first: 0, packed: 0 }
    }
}

/// The runs of a [`PageMap`], in stream order.
pub struct Runs<'m> {
    map: &'m PageMap<'m>,
    pass: usize,
    index: u64,
    range: usize,
    range_first: u64,
    packed: u64,
}

impl Iterator for Runs<'_> {
    type Item = Run;

    fn next(&mut self) -> Option<Run> {
        loop {
            let scanned = *self.map.scanned.get(self.pass)?;
            if self.index >= scanned {
                self.pass += 1;
                (self.index, self.range, self.range_first) = (0, 0, 0);
                continue;
            }
            if !self.map.bit(self.pass, self.index) {
                // Whole empty bytes at once.
                let byte = usize::try_from(self.index / 8).ok().and_then(|i| self.map.passes.get(self.pass)?.get(i).copied());
                self.index += if self.index % 8 == 0 && byte == Some(0) { 8 } else { 1 };
                continue;
            }
            // The range that holds page `index`.
            let r = loop {
                let r = self.map.ranges.get(self.range)?;
                let pages = r.len / PAGE_SIZE;
                if self.index < self.range_first + pages {
                    break r;
                }
                self.range += 1;
                self.range_first += pages;
            };
            let range_end = self.range_first + r.len / PAGE_SIZE;
            let first = self.index;
            while self.index < scanned && self.index < range_end && self.map.bit(self.pass, self.index) {
                self.index += 1;
            }
            let run = Run {
                phys: r.phys + (first - self.range_first) * PAGE_SIZE,
                pages: self.index - first,
                stream_page: self.packed,
            };
            self.packed += run.pages;
            return Some(run);
        }
    }
}
