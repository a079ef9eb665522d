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
//! | 1 MiB             | n × 4 B  | chunk checksum table, one CRC-32C a chunk |
//! | data offset       | capacity | the dump: RAM ranges back to back         |
//!
//! The data offset is the first 1 MiB boundary after the checksum table.
//! The *stream* is the RAM ranges in physical order, concatenated; it is cut
//! into chunks of the chunk size (the last may be shorter), each checksummed.
//! When the disk is too small, the stream is cut at the capacity.

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
}

impl<'a> Plan<'a> {
    /// Plans the dump of `ranges` (sorted, disjoint, page-aligned; their disk
    /// offsets are filled in here) onto a disk of `disk_bytes`.
    pub fn new(ranges: &'a mut [RamRange], chunk_size: u32, disk_bytes: u64) -> Result<Self, PlanError> {
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
        let table_len = chunk_count(dump_bytes, chunk_size).checked_mul(4).ok_or(PlanError::Overflow)?;
        let data_offset = CRC_TABLE_OFFSET
            .checked_add(table_len)
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
            capacity: dump_bytes.min(room),
        })
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
    /// Whether all of RAM fits.
    pub fn fits(&self) -> bool {
        self.capacity == self.dump_bytes
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
