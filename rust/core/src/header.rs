// SPDX-License-Identifier: GPL-2.0

//! The dump header: what the coredump disk holds and how far the dump got.
//!
//! Two copies live on the disk ([`HEADER_COPY_OFFSETS`]); generation `g` is
//! always written to copy `g % 2`, so a write torn by a power loss can only
//! damage the copy holding generation `g - 2`, and the newest copy that
//! verifies ([`newest`]) is at worst one generation old.
//!
//! [`Header`] is a view over the 16 KiB of one copy: it reads and writes the
//! fields in place, so neither the module nor its panic path ever builds a
//! 16 KiB value on the stack. All integers are little-endian.
//!
//! | offset | size | field                                                  |
//! |--------|------|--------------------------------------------------------|
//! | 0      | 8    | magic `"CTDUMPHD"`                                     |
//! | 8      | 4    | format version (1; 2 with a page map; 3 compressed, see below) |
//! | 12     | 4    | header size in bytes (16384)                           |
//! | 16     | 4    | state ([`DumpState`])                                  |
//! | 20     | 4    | flags ([`flags`])                                      |
//! | 24     | 8    | generation, +1 on every write                          |
//! | 32     | 16   | disk UUID (as in the label)                            |
//! | 48     | 4    | cluster id                                             |
//! | 52     | 2    | node id                                                |
//! | 54     | 2    | CPU that panicked (0xffff: none yet)                   |
//! | 56     | 8    | armed at, ns since the Unix epoch                      |
//! | 64     | 8    | panicked at, ns since the Unix epoch (0: no panic)     |
//! | 72     | 8    | dump ended at, ns since the Unix epoch (0: not ended)  |
//! | 80     | 4    | chunk size in bytes (one checksum per chunk)           |
//! | 84     | 4    | number of RAM ranges (at most 128)                     |
//! | 88     | 8    | byte offset of the chunk checksum table on the disk    |
//! | 96     | 8    | byte offset of the dump data on the disk               |
//! | 104    | 8    | dump size: bytes of all RAM ranges                     |
//! | 112    | 8    | capacity: bytes of the dump that fit on the disk       |
//! | 120    | 8    | watermark: bytes written, checksummed and recorded     |
//! | 128    | 8    | kernel direct-map base (virtual address of phys 0)     |
//! | 136    | 8    | physical address of the VMCOREINFO note                |
//! | 144    | 4    | length of the VMCOREINFO note copy                     |
//! | 148    | 4    | pages that could not be read (written as zeros)        |
//! | 152    | 8    | ns from entering the notifier to the beacon on disk    |
//! | 160    | 64   | kernel release, NUL-padded                             |
//! | 224    | 256  | panic message, NUL-padded                              |
//! | 480    | 4    | chunk checksum ([`ChunkChecksum`]: 0 CRC-32C, 1 xxh64) |
//! | 484    | 4    | CRC-32C rate measured at arming, MiB/s (0: not measured) |
//! | 488    | 4    | xxh64 rate measured at arming, MiB/s (0: not measured) |
//! | 492    | 4    | arming's rehearsal of the dump pipeline, MiB/s (0: none) |
//! | 496    | 4    | the dump's time predicted from it, ms (0: none)        |
//! | 500    | 4    | the codec's stored bytes per stream byte on sampled RAM at arming, ×1024 (0: no codec) |
//! | 504    | 4    | the codec's rate measured at arming, MiB/s of input (0: none) |
//! | 508    | 4    | the codec's stack use measured at arming, bytes (0: not measured) |
//! | 512    | 4096 | RAM ranges: 128 × {phys u64, len u64, disk offset u64, reserved u64} |
//! | 4608   | 8192 | copy of the VMCOREINFO ELF note                        |
//! | 12800  | 4    | 1 if the panicking CPU's registers follow, else 0      |
//! | 12804  | 4    | PID of the task that panicked                          |
//! | 12808  | 216  | its registers: 27 × u64 in `user_regs_struct` order (r15 … gs) |
//! | 13024  | 4    | bytes of each CPU's `crash_notes` buffer               |
//! | 13028  | 4    | CPUs listed below (at most 384)                        |
//! | 13032  | 3072 | 384 × u64: physical address of CPU n's `crash_notes` (0: none) |
//! | 16104  | 4    | page filter ([`Filter`]; 0 in version 1)               |
//! | 16108  | 4    | codec ([`Codec`]; version 3, 0 before)                 |
//! | 16112  | 8    | byte offset of the page map on the disk (version 2)    |
//! | 16120  | 8    | bytes of each pass's bitmap in the page map            |
//! | 16128  | 16   | 2 × u64: stream pages each pass has scanned (its bitmap is final below) |
//! | 16144  | 40   | census: 5 × u64 pages by class (kernel, cache, user, free, zero) |
//! | 16184  | 4    | dump time budget, ms (0: none)                         |
//! | 16188  | 4    | the filter arming chose (the dump starts with it)      |
//! | 16192  | 16   | 4 × u32: predicted ms of each filter (by number; 0: not considered) |
//! | 16208  | 16   | 4 × u32: predicted MiB of each filter                  |
//! | 16224  | 4    | re-plans during the dump (the first 8 are logged)      |
//! | 16228  | 128  | 8 × re-plan: {ms into the dump u32, from u8, to u8, pass u8, 0 u8, pages of the pass visited u32, projected ms u32} |
//! | 16356  | 4    | the earlier dump's predicted ms (arming read it from this disk; 0: none) |
//! | 16360  | 4    | the earlier dump's measured ms                         |
//! | 16364  | 4    | the calibration taken from it, ×1024 (0: none)         |
//! | 16368  | 8    | bytes of the data area the chunks below the watermark take (version 3) |
//! | 16376  | 4    | reserved, zero                                         |
//! | 16380  | 4    | CRC-32C of bytes 0..16380                              |
//!
//! Bytes 12800..16104 and 480..500 were reserved (zero) before they got their
//! meaning, so a header written before reads as "no registers, no CPUs" and
//! "chunks checked with CRC-32C, no rates measured": the format version
//! stays 1.
//!
//! **Version 2** is a filtered dump ([`Filter`] other than `all`): the
//! stream holds only the pages the filter kept, kernel pages first (pass 0,
//! in physical order), then the others it keeps (pass 1, in physical
//! order), packed. The page map, between the checksum table and the data,
//! holds one bitmap per pass, one bit per page of the RAM ranges (bit `i %
//! 8` of byte `i / 8` is page `i`); a set bit means the page is the next
//! one of the stream. Only the bits below a pass's scanned count are
//! meaningful, and they account for exactly the watermark's pages. A reader
//! of version 1 refuses version 2, which it would misread.
//!
//! **Version 3** is a compressed dump: a version 2 stream and page map
//! (every filter, `all` included), whose chunks are compressed one by one
//! and stored back to back in the data area; the checksum table becomes the
//! chunk table (`codec.rs`: 32 bytes a chunk, where each chunk is and how it
//! was stored). The capacity is the whole stream; what limits it is the data
//! area, and the dump ends `truncated` when the next chunk might not fit.

use super::checksum::ChunkChecksum;
use super::codec::{Codec, ENTRY_SIZE};
use super::crc::Crc32c;
use super::pagefilter::{Census, Filter};
use super::wire::{get_bytes, get_str, get_u16, get_u32, get_u64, put_bytes, put_str, put_u16, put_u32, put_u64};
use core::fmt;

pub const HEADER_MAGIC: [u8; 8] = *b"CTDUMPHD";
pub const HEADER_VERSION: u32 = 1;
/// The format version of a filtered dump (with a page map).
pub const HEADER_VERSION_PAGE_MAP: u32 = 2;
/// The format version of a compressed dump (with a chunk table).
pub const HEADER_VERSION_CHUNK_TABLE: u32 = 3;
pub const HEADER_SIZE: usize = 16384;
/// Byte offsets of header copies A and B on the disk.
pub const HEADER_COPY_OFFSETS: [u64; 2] = [32 << 10, 64 << 10];
pub const MAX_RANGES: usize = 128;
pub const MAX_VMCOREINFO: usize = 8192;
pub const RELEASE_LEN: usize = 64;
pub const PANIC_MESSAGE_LEN: usize = 256;
/// CPU number recorded before any panic.
pub const NO_CPU: u16 = 0xffff;
const PAGE: u64 = 4096;

/// Registers in an x86-64 `elf_gregset_t` (`user_regs_struct`).
pub const ELF_NGREG: usize = 27;
/// The most CPUs whose `crash_notes` address the header records.
pub const MAX_CPUS: usize = 384;

const RANGES_OFFSET: usize = 512;
const RANGE_SIZE: usize = 32;
const VMCOREINFO_OFFSET: usize = 4608;
const RESERVED_TAIL: usize = VMCOREINFO_OFFSET + MAX_VMCOREINFO;
const REGISTERS_OFFSET: usize = 12800;
const CPU_NOTES_OFFSET: usize = 13024;
const CPU_TABLE_OFFSET: usize = 13032;
const CRC_OFFSET: usize = HEADER_SIZE - 4;
const CHECKSUM_OFFSET: usize = 480;
const FILTER_OFFSET: usize = 16104;
const PAGE_MAP_OFFSET: usize = 16112;
const SCANNED_OFFSET: usize = 16128;
const CENSUS_OFFSET: usize = 16144;
const BUDGET_OFFSET: usize = 16184;
const SWITCHES_OFFSET: usize = 16224;
/// Re-plans the header logs (more are counted).
pub const MAX_SWITCHES: usize = 8;
const SWITCH_SIZE: usize = 16;
const CALIBRATION_OFFSET: usize = 16356;
const CODEC_OFFSET: usize = 16108;
const CODEC_PROBE_OFFSET: usize = 500;
const STORED_OFFSET: usize = 16368;

/// Bits of the flags field.
pub mod flags {
    /// The disk had a volatile write cache when armed: the panic path cannot
    /// flush it, so the dump's durability depends on the device.
    pub const VOLATILE_CACHE: u32 = 1 << 0;
    /// A second panic happened while dumping (the dump went on).
    pub const SECOND_PANIC: u32 = 1 << 1;
    /// The dump stopped early: an I/O error or a wait that ran out.
    pub const IO_ERROR: u32 = 1 << 2;
    /// Not all of RAM fits on the disk.
    pub const DISK_TOO_SMALL: u32 = 1 << 3;
    /// Set with state `saved` when the saved dump was truncated.
    pub const SAVED_TRUNCATED: u32 = 1 << 4;
    /// When armed, the kernel was set to save the registers of the CPUs it
    /// stops in a panic (`crash_kexec_post_notifiers`): their `crash_notes`
    /// should hold them.
    pub const STOPPED_CPU_REGISTERS: u32 = 1 << 5;
    /// The dump stopped at its time budget (what it wrote, kernel pages
    /// first, is valid).
    pub const BUDGET_CUT: u32 = 1 << 6;
    /// The chunks are encrypted (version 3): the key block at 100 KiB
    /// holds the data key, sealed for the administrator (`dumpkey.rs`).
    pub const ENCRYPTED: u32 = 1 << 7;
    pub const KNOWN: u32 =
        VOLATILE_CACHE | SECOND_PANIC | IO_ERROR | DISK_TOO_SMALL | SAVED_TRUNCATED | STOPPED_CPU_REGISTERS | BUDGET_CUT | ENCRYPTED;
}

/// Where the dump stands. The numbers are the on-disk encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpState {
    /// Nothing armed, nothing dumped.
    Empty = 0,
    /// The owner armed the disk and is alive (as far as this header knows).
    Armed = 1,
    /// The owner panicked and is writing its dump: the panic beacon.
    Dumping = 2,
    /// The whole dump is on the disk.
    Complete = 3,
    /// The dump ended early; `watermark` bytes are valid.
    Truncated = 4,
    /// savecore saved the dump; the disk may be armed again.
    Saved = 5,
}

impl DumpState {
    pub const fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            0 => Self::Empty,
            1 => Self::Armed,
            2 => Self::Dumping,
            3 => Self::Complete,
            4 => Self::Truncated,
            5 => Self::Saved,
            _ => return None,
        })
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Armed => "armed",
            Self::Dumping => "dumping",
            Self::Complete => "complete",
            Self::Truncated => "truncated",
            Self::Saved => "saved",
        }
    }

    /// Whether the disk holds dump data that savecore has not saved yet.
    pub const fn holds_unsaved_dump(self) -> bool {
        matches!(self, Self::Dumping | Self::Complete | Self::Truncated)
    }
}

/// One range of System RAM and where its bytes are on the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RamRange {
    /// Physical start address, page-aligned.
    pub phys: u64,
    /// Length in bytes, a multiple of the page size.
    pub len: u64,
    /// Byte offset of the range's first byte on the disk.
    pub disk_offset: u64,
}

/// The registers of the task that panicked, on the CPU that panicked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PanicRegisters {
    pub pid: u32,
    /// `elf_gregset_t` order: r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8,
    /// rax, rcx, rdx, rsi, rdi, orig_rax, rip, cs, eflags, rsp, ss, fs_base,
    /// gs_base, ds, es, fs, gs.
    pub regs: [u64; ELF_NGREG],
}

/// Why 16 KiB are not a valid header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    Short,
    /// No header magic: never armed (or not a coredump disk).
    NoHeader,
    Version(u32),
    Checksum { stored: u32, computed: u32 },
    Malformed(&'static str),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Short => f.write_str("too short for a dump header"),
            Self::NoHeader => f.write_str("no dump header"),
            Self::Version(v) => write!(f, "dump header format version {v} is not supported"),
            Self::Checksum { stored, computed } => {
                write!(f, "dump header checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")
            }
            Self::Malformed(what) => write!(f, "malformed dump header: {what}"),
        }
    }
}

/// A dump header in a buffer of `HEADER_SIZE` bytes.
pub struct Header<B> {
    buf: B,
}

impl<B: AsRef<[u8]>> Header<B> {
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }

    // Field readers. `parse` has checked the buffer's size, so every field
    // exists; the fallbacks are never taken.
    fn u16_at(&self, off: usize) -> u16 {
        get_u16(self.b(), off).unwrap_or(0)
    }
    fn u32_at(&self, off: usize) -> u32 {
        get_u32(self.b(), off).unwrap_or(0)
    }
    fn u64_at(&self, off: usize) -> u64 {
        get_u64(self.b(), off).unwrap_or(0)
    }

    /// Verifies `buf` and returns a view of it.
    pub fn parse(buf: B, crc: &impl Crc32c) -> Result<Self, HeaderError> {
        let header = Self { buf };
        header.check(crc)?;
        Ok(header)
    }

    fn check(&self, crc: &impl Crc32c) -> Result<(), HeaderError> {
        let b = self.b();
        let b = b.get(..HEADER_SIZE).ok_or(HeaderError::Short)?;
        if get_bytes::<8>(b, 0) != Some(HEADER_MAGIC) {
            return Err(HeaderError::NoHeader);
        }
        let version = self.u32_at(8);
        if !(HEADER_VERSION..=HEADER_VERSION_CHUNK_TABLE).contains(&version) {
            return Err(HeaderError::Version(version));
        }
        let stored = self.u32_at(CRC_OFFSET);
        let computed = crc.checksum(b.get(..CRC_OFFSET).ok_or(HeaderError::Short)?);
        if stored != computed {
            return Err(HeaderError::Checksum { stored, computed });
        }
        let bad = HeaderError::Malformed;
        if self.generation() > MAX_GENERATION {
            return Err(bad("generation beyond the limit"));
        }
        if self.u32_at(12) != HEADER_SIZE as u32 {
            return Err(bad("size field"));
        }
        if DumpState::from_u32(self.u32_at(16)).is_none() {
            return Err(bad("unknown state"));
        }
        if self.vmcoreinfo_len() > MAX_VMCOREINFO {
            return Err(bad("VMCOREINFO length"));
        }
        let n = self.u32_at(84) as usize;
        if n > MAX_RANGES {
            return Err(bad("too many RAM ranges"));
        }
        if self.u32_at(CPU_NOTES_OFFSET + 4) as usize > MAX_CPUS {
            return Err(bad("too many CPUs"));
        }
        if ChunkChecksum::from_u32(self.u32_at(CHECKSUM_OFFSET)).is_none() {
            return Err(bad("unknown chunk checksum"));
        }
        if self.u32_at(REGISTERS_OFFSET) > 1 {
            return Err(bad("register marker"));
        }
        let chunk = u64::from(self.chunk_size());
        if n > 0 && (chunk == 0 || chunk % PAGE != 0 || chunk > u64::from(super::plan::MAX_CHUNK)) {
            return Err(bad("chunk size"));
        }
        // No RAM ranges, no dump: nothing may claim bytes a reader would
        // then have to hold.
        if n == 0 && (self.dump_bytes() != 0 || self.stored_bytes() != 0) {
            return Err(bad("a dump size without RAM ranges"));
        }
        // The ranges are sorted, disjoint and page-aligned, and lie back to
        // back on the disk from the data offset on.
        let mut next_disk = self.data_offset();
        let mut prev_end = 0u64;
        let mut total = 0u64;
        for i in 0..n {
            let r = self.range(i).ok_or(bad("range table"))?;
            let end = r.phys.checked_add(r.len).ok_or(bad("range overflows"))?;
            if r.len == 0 || r.phys % PAGE != 0 || r.len % PAGE != 0 || (i > 0 && r.phys < prev_end) {
                return Err(bad("RAM ranges not sorted, disjoint and page-aligned"));
            }
            if r.disk_offset != next_disk {
                return Err(bad("range disk offsets"));
            }
            next_disk = next_disk.checked_add(r.len).ok_or(bad("range overflows"))?;
            total = total.checked_add(r.len).ok_or(bad("range overflows"))?;
            prev_end = end;
        }
        if n > 0 && total != self.dump_bytes() {
            return Err(bad("dump size differs from the sum of ranges"));
        }
        if self.capacity() > self.dump_bytes() || self.watermark() > self.capacity() {
            return Err(bad("watermark beyond capacity or capacity beyond dump size"));
        }
        if n > 0 {
            let table_end = chunk_count(self.capacity(), self.chunk_size())
                .checked_mul(self.table_entry_size())
                .and_then(|len| self.crc_table_offset().checked_add(len))
                .ok_or(bad("checksum table overflows"))?;
            if self.crc_table_offset() < HEADER_COPY_OFFSETS[1] + HEADER_SIZE as u64
                || table_end > self.data_offset()
            {
                return Err(bad("checksum table overlaps header or data"));
            }
            if version == HEADER_VERSION_CHUNK_TABLE && Codec::from_u32(self.u32_at(CODEC_OFFSET)).is_none() {
                return Err(bad("unknown codec"));
            }
            if self.has_page_map() {
                if Filter::from_u32(self.u32_at(FILTER_OFFSET)).is_none() || Filter::from_u32(self.u32_at(BUDGET_OFFSET + 4)).is_none() {
                    return Err(bad("page filter"));
                }
                let pages = self.dump_bytes() / PAGE;
                let (offset, bytes) = self.page_map();
                let map_end = bytes.checked_mul(2).and_then(|b| b.checked_add(offset)).ok_or(bad("page map overflows"))?;
                if offset < table_end || map_end > self.data_offset() || offset % PAGE != 0 || bytes % PAGE != 0 {
                    return Err(bad("page map overlaps the checksum table or data"));
                }
                if bytes != super::plan::page_map_pass_bytes(pages) {
                    return Err(bad("page map not sized for the RAM ranges"));
                }
                if self.scanned().iter().any(|&s| s > pages) {
                    return Err(bad("scanned beyond the RAM ranges"));
                }
            }
        } else if self.has_page_map() {
            return Err(bad("page map without RAM ranges"));
        }
        Ok(())
    }

    pub fn state(&self) -> DumpState {
        DumpState::from_u32(self.u32_at(16)).unwrap_or(DumpState::Empty)
    }
    pub fn flags(&self) -> u32 {
        self.u32_at(20)
    }
    pub fn generation(&self) -> u64 {
        self.u64_at(24)
    }
    pub fn disk_uuid(&self) -> [u8; 16] {
        get_bytes(self.b(), 32).unwrap_or([0; 16])
    }
    pub fn cluster_id(&self) -> u32 {
        self.u32_at(48)
    }
    pub fn node_id(&self) -> u16 {
        self.u16_at(52)
    }
    pub fn panic_cpu(&self) -> u16 {
        self.u16_at(54)
    }
    pub fn armed_ns(&self) -> u64 {
        self.u64_at(56)
    }
    pub fn panic_ns(&self) -> u64 {
        self.u64_at(64)
    }
    pub fn end_ns(&self) -> u64 {
        self.u64_at(72)
    }
    pub fn chunk_size(&self) -> u32 {
        self.u32_at(80)
    }
    pub fn range_count(&self) -> usize {
        (self.u32_at(84) as usize).min(MAX_RANGES)
    }
    pub fn crc_table_offset(&self) -> u64 {
        self.u64_at(88)
    }
    pub fn data_offset(&self) -> u64 {
        self.u64_at(96)
    }
    pub fn dump_bytes(&self) -> u64 {
        self.u64_at(104)
    }
    pub fn capacity(&self) -> u64 {
        self.u64_at(112)
    }
    pub fn watermark(&self) -> u64 {
        self.u64_at(120)
    }
    pub fn page_offset(&self) -> u64 {
        self.u64_at(128)
    }
    pub fn vmcoreinfo_phys(&self) -> u64 {
        self.u64_at(136)
    }
    pub fn vmcoreinfo_len(&self) -> usize {
        self.u32_at(144) as usize
    }
    pub fn unreadable_pages(&self) -> u32 {
        self.u32_at(148)
    }
    pub fn beacon_latency_ns(&self) -> u64 {
        self.u64_at(152)
    }
    /// The function of the chunk checksums (CRC-32C in a header that does
    /// not parse: `parse` rejects an unknown one).
    pub fn chunk_checksum(&self) -> ChunkChecksum {
        ChunkChecksum::from_u32(self.u32_at(CHECKSUM_OFFSET)).unwrap_or(ChunkChecksum::Crc32c)
    }
    /// The rates of CRC-32C and xxh64 measured when the disk was armed, in
    /// MiB/s (0: not measured).
    pub fn checksum_rates_mib_s(&self) -> (u32, u32) {
        (self.u32_at(CHECKSUM_OFFSET + 4), self.u32_at(CHECKSUM_OFFSET + 8))
    }
    /// What arming's rehearsal of the dump measured (MiB/s through the
    /// whole pipeline) and the dump time it predicts (ms); 0 for none.
    pub fn rehearsal(&self) -> (u32, u32) {
        (self.u32_at(CHECKSUM_OFFSET + 12), self.u32_at(CHECKSUM_OFFSET + 16))
    }
    /// The format version (1, or 2 with a page map).
    pub fn version(&self) -> u32 {
        self.u32_at(8)
    }
    /// Whether the dump has a page map (version 2 or 3).
    pub fn has_page_map(&self) -> bool {
        matches!(self.version(), HEADER_VERSION_PAGE_MAP | HEADER_VERSION_CHUNK_TABLE)
    }
    /// Whether the dump is compressed, with a chunk table (version 3).
    pub fn has_chunk_table(&self) -> bool {
        self.version() == HEADER_VERSION_CHUNK_TABLE
    }
    /// Bytes of a checksum table (4) or chunk table (32) entry.
    pub fn table_entry_size(&self) -> u64 {
        if self.has_chunk_table() { ENTRY_SIZE as u64 } else { 4 }
    }
    /// The codec (`None` before version 3).
    pub fn codec(&self) -> Codec {
        if !self.has_chunk_table() {
            return Codec::None;
        }
        Codec::from_u32(self.u32_at(CODEC_OFFSET)).unwrap_or(Codec::None)
    }
    /// What arming measured of the codec: stored bytes per stream byte
    /// ×1024, MiB/s of input, and stack bytes (0: not measured).
    pub fn codec_probe(&self) -> (u32, u32, u32) {
        let at = CODEC_PROBE_OFFSET;
        (self.u32_at(at), self.u32_at(at + 4), self.u32_at(at + 8))
    }
    /// Bytes of the data area the chunks below the watermark take
    /// (version 3; the watermark itself before).
    pub fn stored_bytes(&self) -> u64 {
        if self.has_chunk_table() { self.u64_at(STORED_OFFSET) } else { self.watermark() }
    }
    /// The time budget (ms, 0: none), the filter arming chose, and what the
    /// model predicted for each filter (ms, MiB; by filter number).
    pub fn budget(&self) -> (u32, Filter, [u32; 4], [u32; 4]) {
        let initial = Filter::from_u32(self.u32_at(BUDGET_OFFSET + 4)).unwrap_or(Filter::All);
        let ms = core::array::from_fn(|i| self.u32_at(BUDGET_OFFSET + 8 + 4 * i));
        let mib = core::array::from_fn(|i| self.u32_at(BUDGET_OFFSET + 24 + 4 * i));
        (self.u32_at(BUDGET_OFFSET), initial, ms, mib)
    }
    /// What this header's dump, if it is a finished one, says of the
    /// model: (predicted ms, measured ms). Only a dump savecore saved whole,
    /// that neither re-planned nor stopped at a deadline, and whose clocks
    /// make sense: a fair comparison of the prediction with the time taken.
    pub fn finished_dump_timing(&self) -> Option<(u32, u32)> {
        let f = self.flags();
        if self.state() != DumpState::Saved || f & (flags::SAVED_TRUNCATED | flags::BUDGET_CUT | flags::IO_ERROR) != 0 {
            return None;
        }
        if self.has_page_map() && self.switch_count() > 0 {
            return None;
        }
        let predicted = self.rehearsal().1;
        let measured = self.end_ns().checked_sub(self.panic_ns()).filter(|_| self.panic_ns() > 0)? / 1_000_000;
        let measured = u32::try_from(measured).ok().filter(|&m| m > 0)?;
        (predicted > 0).then_some((predicted, measured))
    }
    /// The calibration arming took from the disk's earlier dump:
    /// (its predicted ms, its measured ms, the factor ×1024), if any.
    pub fn calibration(&self) -> Option<(u32, u32, u32)> {
        let at = CALIBRATION_OFFSET;
        let factor = self.u32_at(at + 8);
        (factor > 0).then(|| (self.u32_at(at), self.u32_at(at + 4), factor))
    }
    /// Re-plans during the dump (all of them, logged or not).
    pub fn switch_count(&self) -> u32 {
        self.u32_at(SWITCHES_OFFSET)
    }
    /// Logged re-plan `i`.
    pub fn switch(&self, i: usize) -> Option<SwitchRecord> {
        if i >= MAX_SWITCHES || i >= self.switch_count() as usize {
            return None;
        }
        let at = SWITCHES_OFFSET + 4 + i * SWITCH_SIZE;
        let b = self.b().get(at..at + SWITCH_SIZE)?;
        Some(SwitchRecord {
            at_ms: self.u32_at(at),
            from: Filter::from_u32(u32::from(b[4]))?,
            to: Filter::from_u32(u32::from(b[5]))?,
            pass: b[6],
            visited: self.u32_at(at + 8),
            projected_ms: self.u32_at(at + 12),
        })
    }
    /// The page filter (`All` in version 1; the one in force at the end,
    /// after any re-plan, in version 2).
    pub fn filter(&self) -> Filter {
        if !self.has_page_map() {
            return Filter::All;
        }
        Filter::from_u32(self.u32_at(FILTER_OFFSET)).unwrap_or(Filter::All)
    }
    /// The page map's byte offset and the bytes of each pass's bitmap
    /// (version 2; zeros otherwise).
    pub fn page_map(&self) -> (u64, u64) {
        (self.u64_at(PAGE_MAP_OFFSET), self.u64_at(PAGE_MAP_OFFSET + 8))
    }
    /// Stream pages each pass has scanned, as of the watermark.
    pub fn scanned(&self) -> [u64; 2] {
        [self.u64_at(SCANNED_OFFSET), self.u64_at(SCANNED_OFFSET + 8)]
    }
    /// Pages by class (`Class as usize`), as the dump's scan counted them.
    pub fn census(&self) -> Census {
        core::array::from_fn(|i| self.u64_at(CENSUS_OFFSET + 8 * i))
    }
    pub fn kernel_release(&self) -> &[u8] {
        get_str(self.b(), 160, RELEASE_LEN).unwrap_or(&[])
    }
    pub fn panic_message(&self) -> &[u8] {
        get_str(self.b(), 224, PANIC_MESSAGE_LEN).unwrap_or(&[])
    }
    pub fn vmcoreinfo(&self) -> &[u8] {
        let len = self.vmcoreinfo_len().min(MAX_VMCOREINFO);
        self.b().get(VMCOREINFO_OFFSET..VMCOREINFO_OFFSET + len).unwrap_or(&[])
    }

    /// The registers saved by the panicking CPU, if any.
    pub fn panic_registers(&self) -> Option<PanicRegisters> {
        if self.u32_at(REGISTERS_OFFSET) != 1 {
            return None;
        }
        let mut regs = [0u64; ELF_NGREG];
        for (i, r) in regs.iter_mut().enumerate() {
            *r = get_u64(self.b(), REGISTERS_OFFSET + 8 + 8 * i)?;
        }
        Some(PanicRegisters { pid: self.u32_at(REGISTERS_OFFSET + 4), regs })
    }

    /// The size of each CPU's `crash_notes` buffer.
    pub fn cpu_note_size(&self) -> u32 {
        self.u32_at(CPU_NOTES_OFFSET)
    }

    /// The number of CPUs whose `crash_notes` address is recorded.
    pub fn cpu_count(&self) -> usize {
        (self.u32_at(CPU_NOTES_OFFSET + 4) as usize).min(MAX_CPUS)
    }

    /// The physical address of CPU `cpu`'s `crash_notes`, if recorded.
    pub fn cpu_note(&self, cpu: usize) -> Option<u64> {
        if cpu >= self.cpu_count() {
            return None;
        }
        get_u64(self.b(), CPU_TABLE_OFFSET + 8 * cpu).filter(|&phys| phys != 0)
    }

    /// RAM range `i`, if `i < range_count()`.
    pub fn range(&self, i: usize) -> Option<RamRange> {
        if i >= self.u32_at(84) as usize || i >= MAX_RANGES {
            return None;
        }
        let off = RANGES_OFFSET + i * RANGE_SIZE;
        Some(RamRange {
            phys: get_u64(self.b(), off)?,
            len: get_u64(self.b(), off + 8)?,
            disk_offset: get_u64(self.b(), off + 16)?,
        })
    }

    /// The RAM ranges in order.
    pub fn ranges(&self) -> impl Iterator<Item = RamRange> + '_ {
        (0..self.range_count()).filter_map(|i| self.range(i))
    }

    /// The number of chunks below the watermark (whose checksums are valid).
    pub fn chunks_written(&self) -> u64 {
        chunk_count(self.watermark(), self.chunk_size())
    }

    /// The buffer, e.g. to write it to the disk.
    pub fn as_bytes(&self) -> &[u8] {
        self.b()
    }

    pub fn into_inner(self) -> B {
        self.buf
    }
}

/// The number of `chunk`-byte chunks that `bytes` bytes make (the last one
/// may be partial).
/// A re-plan, as the header logs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwitchRecord {
    /// Milliseconds into the dump (from the beacon).
    pub at_ms: u32,
    pub from: Filter,
    pub to: Filter,
    pub pass: u8,
    /// Pages of the pass visited then.
    pub visited: u32,
    /// The dump's projected time under `from`, which overran the budget.
    pub projected_ms: u32,
}

pub const fn chunk_count(bytes: u64, chunk: u32) -> u64 {
    if chunk == 0 {
        return 0;
    }
    bytes.div_ceil(chunk as u64)
}

/// Why a header cannot take a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetError {
    TooManyRanges,
    VmcoreinfoTooLong,
    TooManyCpus,
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Header<B> {
    fn m(&mut self) -> &mut [u8] {
        self.buf.as_mut()
    }

    /// A fresh header (state empty, generation 0) in `buf`, which must hold
    /// at least `HEADER_SIZE` bytes; everything else is zeroed.
    pub fn new(mut buf: B) -> Option<Self> {
        let b = buf.as_mut().get_mut(..HEADER_SIZE)?;
        b.fill(0);
        put_bytes(b, 0, &HEADER_MAGIC);
        put_u32(b, 8, HEADER_VERSION);
        put_u32(b, 12, HEADER_SIZE as u32);
        put_u16(b, 54, NO_CPU);
        Some(Self { buf })
    }

    /// Takes over a buffer without verifying it; `seal` before writing it.
    pub fn from_unchecked(buf: B) -> Self {
        Self { buf }
    }

    pub fn set_state(&mut self, state: DumpState) {
        put_u32(self.m(), 16, state as u32);
    }
    pub fn set_flags(&mut self, flags: u32) {
        put_u32(self.m(), 20, flags);
    }
    pub fn add_flags(&mut self, flags: u32) {
        let f = self.flags() | flags;
        self.set_flags(f);
    }
    pub fn set_generation(&mut self, generation: u64) {
        put_u64(self.m(), 24, generation);
    }
    pub fn set_identity(&mut self, disk_uuid: &[u8; 16], cluster: u32, node: u16) {
        put_bytes(self.m(), 32, disk_uuid);
        put_u32(self.m(), 48, cluster);
        put_u16(self.m(), 52, node);
    }
    pub fn set_panic_cpu(&mut self, cpu: u16) {
        put_u16(self.m(), 54, cpu);
    }
    pub fn set_armed_ns(&mut self, ns: u64) {
        put_u64(self.m(), 56, ns);
    }
    pub fn set_panic_ns(&mut self, ns: u64) {
        put_u64(self.m(), 64, ns);
    }
    pub fn set_end_ns(&mut self, ns: u64) {
        put_u64(self.m(), 72, ns);
    }
    pub fn set_watermark(&mut self, bytes: u64) {
        put_u64(self.m(), 120, bytes);
    }
    pub fn set_page_offset(&mut self, base: u64) {
        put_u64(self.m(), 128, base);
    }
    pub fn set_unreadable_pages(&mut self, pages: u32) {
        put_u32(self.m(), 148, pages);
    }
    pub fn set_beacon_latency_ns(&mut self, ns: u64) {
        put_u64(self.m(), 152, ns);
    }
    /// Records the chunk checksum and the rates (MiB/s) it was chosen by.
    pub fn set_chunk_checksum(&mut self, checksum: ChunkChecksum, crc32c_mib_s: u32, xxh64_mib_s: u32) {
        put_u32(self.m(), CHECKSUM_OFFSET, checksum as u32);
        put_u32(self.m(), CHECKSUM_OFFSET + 4, crc32c_mib_s);
        put_u32(self.m(), CHECKSUM_OFFSET + 8, xxh64_mib_s);
    }
    /// Records the rehearsal's rate (MiB/s) and the dump time it predicts (ms).
    pub fn set_rehearsal(&mut self, mib_s: u32, predicted_ms: u32) {
        put_u32(self.m(), CHECKSUM_OFFSET + 12, mib_s);
        put_u32(self.m(), CHECKSUM_OFFSET + 16, predicted_ms);
    }
    /// Makes this a version 2 header: a dump filtered by `filter`, whose
    /// page map is at `offset`, `pass_bytes` a pass.
    pub fn set_page_map(&mut self, filter: Filter, offset: u64, pass_bytes: u64) {
        put_u32(self.m(), 8, HEADER_VERSION_PAGE_MAP);
        put_u32(self.m(), FILTER_OFFSET, filter as u32);
        put_u64(self.m(), PAGE_MAP_OFFSET, offset);
        put_u64(self.m(), PAGE_MAP_OFFSET + 8, pass_bytes);
    }
    /// Makes this a version 3 header (after [`set_page_map`](Self::set_page_map)):
    /// a dump compressed with `codec`, whose table holds chunk table entries.
    pub fn set_chunk_table(&mut self, codec: Codec) {
        put_u32(self.m(), 8, HEADER_VERSION_CHUNK_TABLE);
        put_u32(self.m(), CODEC_OFFSET, codec as u32);
    }
    /// The codec in force (arming's choice).
    pub fn set_codec(&mut self, codec: Codec) {
        put_u32(self.m(), CODEC_OFFSET, codec as u32);
    }
    /// What arming measured of the codec (see [`codec_probe`](Header::codec_probe)).
    pub fn set_codec_probe(&mut self, store_x1024: u32, mib_s: u32, stack_bytes: u32) {
        let at = CODEC_PROBE_OFFSET;
        put_u32(self.m(), at, store_x1024);
        put_u32(self.m(), at + 4, mib_s);
        put_u32(self.m(), at + 8, stack_bytes);
    }
    /// Bytes of the data area taken, recorded with the watermark (version 3).
    pub fn set_stored_bytes(&mut self, bytes: u64) {
        put_u64(self.m(), STORED_OFFSET, bytes);
    }
    /// Records the calibration taken from the disk's earlier dump.
    pub fn set_calibration(&mut self, predicted_ms: u32, measured_ms: u32, factor_x1024: u32) {
        put_u32(self.m(), CALIBRATION_OFFSET, predicted_ms);
        put_u32(self.m(), CALIBRATION_OFFSET + 4, measured_ms);
        put_u32(self.m(), CALIBRATION_OFFSET + 8, factor_x1024);
    }
    /// The filter in force (a re-plan changes it).
    pub fn set_filter(&mut self, filter: Filter) {
        put_u32(self.m(), FILTER_OFFSET, filter as u32);
    }
    /// The time budget, the filter chosen for it and the model's table.
    pub fn set_budget(&mut self, budget_ms: u32, chosen: Filter, predicted_ms: &[u32; 4], predicted_mib: &[u32; 4]) {
        put_u32(self.m(), BUDGET_OFFSET, budget_ms);
        put_u32(self.m(), BUDGET_OFFSET + 4, chosen as u32);
        for i in 0..4 {
            put_u32(self.m(), BUDGET_OFFSET + 8 + 4 * i, predicted_ms[i]);
            put_u32(self.m(), BUDGET_OFFSET + 24 + 4 * i, predicted_mib[i]);
        }
    }
    /// Logs a re-plan (the first `MAX_SWITCHES`; every one is counted) and
    /// makes its filter the one in force.
    pub fn add_switch(&mut self, record: &SwitchRecord) {
        let n = self.switch_count() as usize;
        if n < MAX_SWITCHES {
            let at = SWITCHES_OFFSET + 4 + n * SWITCH_SIZE;
            put_u32(self.m(), at, record.at_ms);
            put_bytes(self.m(), at + 4, &[record.from as u8, record.to as u8, record.pass, 0]);
            put_u32(self.m(), at + 8, record.visited);
            put_u32(self.m(), at + 12, record.projected_ms);
        }
        put_u32(self.m(), SWITCHES_OFFSET, (n as u32).saturating_add(1));
        self.set_filter(record.to);
    }
    pub fn set_scanned(&mut self, scanned: [u64; 2]) {
        put_u64(self.m(), SCANNED_OFFSET, scanned[0]);
        put_u64(self.m(), SCANNED_OFFSET + 8, scanned[1]);
    }
    pub fn set_census(&mut self, census: &Census) {
        for (i, n) in census.iter().enumerate() {
            put_u64(self.m(), CENSUS_OFFSET + 8 * i, *n);
        }
    }
    pub fn set_kernel_release(&mut self, release: &str) {
        put_str(self.m(), 160, RELEASE_LEN, release);
    }
    /// Stores the panic message (truncated to 255 bytes at a character boundary).
    pub fn set_panic_message(&mut self, message: &str) {
        put_str(self.m(), 224, PANIC_MESSAGE_LEN - 1, message);
    }

    /// Stores a copy of the VMCOREINFO ELF note and where it lives in RAM.
    pub fn set_vmcoreinfo(&mut self, phys: u64, note: &[u8]) -> Result<(), SetError> {
        if note.len() > MAX_VMCOREINFO {
            return Err(SetError::VmcoreinfoTooLong);
        }
        put_u64(self.m(), 136, phys);
        put_u32(self.m(), 144, note.len() as u32);
        if let Some(dst) = self.m().get_mut(VMCOREINFO_OFFSET..RESERVED_TAIL) {
            dst.fill(0);
        }
        put_bytes(self.m(), VMCOREINFO_OFFSET, note);
        Ok(())
    }

    /// Stores the registers of the task that panicked.
    pub fn set_panic_registers(&mut self, registers: &PanicRegisters) {
        put_u32(self.m(), REGISTERS_OFFSET, 1);
        put_u32(self.m(), REGISTERS_OFFSET + 4, registers.pid);
        for (i, r) in registers.regs.iter().enumerate() {
            put_u64(self.m(), REGISTERS_OFFSET + 8 + 8 * i, *r);
        }
    }

    /// Stores where each CPU's `crash_notes` buffer (`note_size` bytes) is
    /// in RAM, CPU 0 first (0 for a CPU without one).
    pub fn set_cpu_notes(&mut self, note_size: u32, phys: &[u64]) -> Result<(), SetError> {
        if phys.len() > MAX_CPUS {
            return Err(SetError::TooManyCpus);
        }
        put_u32(self.m(), CPU_NOTES_OFFSET, note_size);
        put_u32(self.m(), CPU_NOTES_OFFSET + 4, phys.len() as u32);
        if let Some(table) = self.m().get_mut(CPU_TABLE_OFFSET..CPU_TABLE_OFFSET + 8 * MAX_CPUS) {
            table.fill(0);
        }
        for (cpu, p) in phys.iter().enumerate() {
            put_u64(self.m(), CPU_TABLE_OFFSET + 8 * cpu, *p);
        }
        Ok(())
    }

    /// Stores the dump plan: ranges, chunking and where things are on disk.
    pub fn set_plan(&mut self, plan: &super::plan::Plan<'_>) -> Result<(), SetError> {
        let ranges = plan.ranges();
        if ranges.len() > MAX_RANGES {
            return Err(SetError::TooManyRanges);
        }
        put_u32(self.m(), 80, plan.chunk_size());
        put_u32(self.m(), 84, ranges.len() as u32);
        put_u64(self.m(), 88, plan.crc_table_offset());
        put_u64(self.m(), 96, plan.data_offset());
        put_u64(self.m(), 104, plan.dump_bytes());
        put_u64(self.m(), 112, plan.capacity());
        if let Some(table) = self.m().get_mut(RANGES_OFFSET..VMCOREINFO_OFFSET) {
            table.fill(0);
        }
        for (i, r) in ranges.iter().enumerate() {
            let off = RANGES_OFFSET + i * RANGE_SIZE;
            put_u64(self.m(), off, r.phys);
            put_u64(self.m(), off + 8, r.len);
            put_u64(self.m(), off + 16, r.disk_offset);
        }
        Ok(())
    }

    /// Computes the checksum; the header is then ready to be written.
    pub fn seal(&mut self, crc: &impl Crc32c) {
        let sum = match self.b().get(..CRC_OFFSET) {
            Some(covered) => crc.checksum(covered),
            None => return,
        };
        put_u32(self.m(), CRC_OFFSET, sum);
    }

    /// Advances the generation and seals; returns the copy (0: A, 1: B) that
    /// this generation must be written to.
    pub fn next_generation(&mut self, crc: &impl Crc32c) -> usize {
        // Never past the limit (a valid copy is at most there): an honest
        // writer, at a thousand writes a second, would need 8900 years.
        let generation = self.generation().saturating_add(1).min(MAX_GENERATION);
        self.set_generation(generation);
        self.seal(crc);
        copy_for(generation)
    }
}

/// The highest generation a valid header copy has. A copy above it is
/// malformed: a forged or corrupt copy with a generation near `u64::MAX`
/// would otherwise stay the newest for ever (the next honest write wraps).
pub const MAX_GENERATION: u64 = 1 << 48;

/// The copy (0: A, 1: B) that generation `generation` is written to.
pub const fn copy_for(generation: u64) -> usize {
    (generation % 2) as usize
}

/// Whether `header` is of the coredump disk whose label says `disk_uuid`,
/// `cluster` and `node`: a copy of another disk's header (copied, forged)
/// is no header of this disk, whatever it says.
pub fn belongs_to<A: AsRef<[u8]>>(header: &Header<A>, disk_uuid: &[u8; 16], cluster: u32, node: u16) -> bool {
    header.disk_uuid() == *disk_uuid && header.cluster_id() == cluster && header.node_id() == node
}

/// Of the two copies as read from the disk, the index of the valid one with
/// the highest generation, if any is valid.
pub fn newest<A: AsRef<[u8]>>(copies: [&Result<Header<A>, HeaderError>; 2]) -> Option<usize> {
    match (copies[0], copies[1]) {
        (Ok(a), Ok(b)) => Some(if b.generation() > a.generation() { 1 } else { 0 }),
        (Ok(_), Err(_)) => Some(0),
        (Err(_), Ok(_)) => Some(1),
        (Err(_), Err(_)) => None,
    }
}
