// SPDX-License-Identifier: GPL-2.0

//! The on-disk format: pinned byte layouts, round trips, damage detection,
//! torn header writes, and the dump plan.

mod common;
use common::HostCrc;
use coretakeover_core::checksum::{ChunkChecksum, Xxh64, XXH64_CHECK_VALUE};
use coretakeover_core::crc::Crc32c;
use coretakeover_core::header::{
    copy_for, flags, newest, DumpState, Header, HeaderError, PanicRegisters, RamRange, SetError, ELF_NGREG, HEADER_SIZE, MAX_CPUS,
    MAX_RANGES,
};
use coretakeover_core::ids::{ClusterId, NodeId};
use coretakeover_core::label::{Label, LabelError, LABEL_SIZE};
use coretakeover_core::pagefilter::Filter;
use coretakeover_core::plan::{collect_ranges, disk_offset_of, page_map_pass_bytes, saved_bytes, PageCursor, PageMap, Plan, PlanError, Run, ScanCursor};

fn label() -> Label {
    Label {
        cluster: ClusterId::new(0x0a0b_0c0d).unwrap(),
        node: NodeId::new(2).unwrap(),
        disk_uuid: *b"0123456789abcdef",
        usable_bytes: 0x1122_3344_5566_7788,
        created_unix: 1_795_000_000,
    }
}

#[test]
fn label_layout_is_pinned() {
    let bytes = label().encode(&HostCrc);
    assert_eq!(bytes.len(), LABEL_SIZE);
    assert_eq!(&bytes[0..8], b"CTLABEL\0");
    assert_eq!(&bytes[8..12], &1u32.to_le_bytes());
    assert_eq!(&bytes[12..16], &128u32.to_le_bytes());
    assert_eq!(&bytes[16..20], &[0x0d, 0x0c, 0x0b, 0x0a]);
    assert_eq!(&bytes[20..22], &[2, 0]);
    assert_eq!(&bytes[22..24], &[0, 0]);
    assert_eq!(&bytes[24..40], b"0123456789abcdef");
    assert_eq!(&bytes[40..48], &0x1122_3344_5566_7788u64.to_le_bytes());
    assert_eq!(&bytes[48..56], &1_795_000_000u64.to_le_bytes());
    assert!(bytes[56..124].iter().all(|&b| b == 0));
    assert_eq!(&bytes[124..128], &HostCrc.checksum(&bytes[..124]).to_le_bytes());
}

#[test]
fn label_round_trips_and_detects_damage() {
    let bytes = label().encode(&HostCrc);
    assert_eq!(Label::decode(&bytes, &HostCrc), Ok(label()));
    assert_eq!(Label::decode(&[0u8; 4096], &HostCrc), Err(LabelError::NotLabeled));
    assert_eq!(Label::decode(&bytes[..100], &HostCrc), Err(LabelError::Short));
    for i in 8..LABEL_SIZE {
        let mut damaged = bytes;
        damaged[i] ^= 0x40;
        assert!(Label::decode(&damaged, &HostCrc).is_err(), "flip at byte {i} undetected");
    }
    let mut v2 = bytes;
    v2[8] = 2;
    assert_eq!(Label::decode(&v2, &HostCrc), Err(LabelError::Version(2)));
}

const GIB: u64 = 1 << 30;

fn sample_ranges() -> ([RamRange; MAX_RANGES], usize) {
    let mut ranges = [RamRange::default(); MAX_RANGES];
    // As /proc/iomem shows a 512 MiB x86 guest: first and last byte of each.
    let raw = [(0x1000, 0x9fbff), (0x100000, 0x1ffdffff)];
    let n = collect_ranges(raw, &mut ranges).unwrap();
    (ranges, n)
}

#[test]
fn ranges_are_page_rounded_and_merged() {
    let (ranges, n) = sample_ranges();
    assert_eq!(n, 2);
    assert_eq!(ranges[0], RamRange { phys: 0x1000, len: 0x9f000, disk_offset: 0 });
    assert_eq!(ranges[1], RamRange { phys: 0x100000, len: 0x1fee0000, disk_offset: 0 });
    let mut out = [RamRange::default(); MAX_RANGES];
    assert_eq!(collect_ranges([(0, 0xfff), (0x1000, 0x1fff), (0x1800, 0x2fff)], &mut out), Ok(1));
    assert_eq!(out[0].len, 0x3000);
    assert_eq!(collect_ranges([(0x5000, 0x5fff), (0x1000, 0x1fff)], &mut out), Err(PlanError::Unsorted));
    assert_eq!(collect_ranges([], &mut out), Err(PlanError::NoRam));
    let many = (0..=MAX_RANGES as u64).map(|i| (i * 0x10000, i * 0x10000 + 0xfff));
    assert_eq!(collect_ranges(many, &mut out), Err(PlanError::TooManyRanges));
}

#[test]
fn plan_places_ranges_back_to_back_after_the_table() {
    let (mut ranges, n) = sample_ranges();
    let plan = Plan::new(&mut ranges[..n], 128 << 10, 2 * GIB).unwrap();
    let total = 0x9f000 + 0x1fee0000;
    assert_eq!(plan.dump_bytes(), total);
    assert!(plan.fits());
    assert_eq!(plan.crc_table_offset(), 1 << 20);
    assert_eq!(plan.data_offset(), 2 << 20);
    assert_eq!(plan.ranges()[0].disk_offset, 2 << 20);
    assert_eq!(plan.ranges()[1].disk_offset, (2 << 20) + 0x9f000);
    assert_eq!(plan.chunks(), total.div_ceil(128 << 10));
}

#[test]
fn plan_truncates_to_a_small_disk_and_refuses_a_tiny_one() {
    let (mut ranges, n) = sample_ranges();
    let plan = Plan::new(&mut ranges[..n], 128 << 10, 64 << 20).unwrap();
    assert!(!plan.fits());
    assert_eq!(plan.capacity(), (64 << 20) - plan.data_offset());
    let (mut ranges, n) = sample_ranges();
    assert!(matches!(Plan::new(&mut ranges[..n], 128 << 10, 2 << 20), Err(PlanError::DiskTooSmall { .. })));
    let (mut ranges, n) = sample_ranges();
    assert_eq!(Plan::new(&mut ranges[..n], 1000, GIB).unwrap_err(), PlanError::ChunkSize);
}

#[test]
fn page_cursor_walks_the_stream_and_stops_at_the_limit() {
    let ranges = [
        RamRange { phys: 0x1000, len: 0x2000, disk_offset: 0 },
        RamRange { phys: 0x10000, len: 0x1000, disk_offset: 0 },
    ];
    let pages: Vec<u64> = PageCursor::new(&ranges, u64::MAX).collect();
    assert_eq!(pages, [0x1000, 0x2000, 0x10000]);
    let pages: Vec<u64> = PageCursor::new(&ranges, 0x2000).collect();
    assert_eq!(pages, [0x1000, 0x2000]);
    let r = RamRange { phys: 0, len: 0x3000, disk_offset: (1 << 20) + 0x1000 };
    assert_eq!(saved_bytes(&r, 1 << 20, 0x2000), 0x1000);
    assert_eq!(saved_bytes(&r, 1 << 20, 0x800), 0);
    assert_eq!(saved_bytes(&r, 1 << 20, 1 << 30), 0x3000);
}

#[test]
fn ram_is_found_on_the_disk_only_when_saved_and_within_one_range() {
    let d = 1u64 << 20;
    let ranges = [
        RamRange { phys: 0x1000, len: 0x2000, disk_offset: d },
        RamRange { phys: 0x10_0000, len: 0x4000, disk_offset: d + 0x2000 },
    ];
    // In the second range, saved.
    assert_eq!(disk_offset_of(&ranges, d, 1 << 30, 0x10_1000, 0x400), Some(d + 0x3000));
    // Beyond the watermark.
    assert_eq!(disk_offset_of(&ranges, d, 0x3000, 0x10_1000, 0x400), None);
    assert_eq!(disk_offset_of(&ranges, d, 0x3400, 0x10_1000, 0x400), Some(d + 0x3000));
    // Across the end of a range, in a hole, past the end of RAM.
    assert_eq!(disk_offset_of(&ranges, d, 1 << 30, 0x2f00, 0x200), None);
    assert_eq!(disk_offset_of(&ranges, d, 1 << 30, 0x8000, 1), None);
    assert_eq!(disk_offset_of(&ranges, d, 1 << 30, u64::MAX, 2), None);
}

fn armed_header() -> Header<Vec<u8>> {
    let (mut ranges, n) = sample_ranges();
    let plan = Plan::new(&mut ranges[..n], 128 << 10, 2 * GIB).unwrap();
    let mut h = Header::new(vec![0u8; HEADER_SIZE]).unwrap();
    h.set_state(DumpState::Armed);
    h.set_identity(b"0123456789abcdef", 7, 1);
    h.set_plan(&plan).unwrap();
    h.set_page_offset(0xffff_8880_0000_0000);
    h.set_vmcoreinfo(0x22e000, b"\x0b\0\0\0\x10\0\0\0\0\0\0\0VMCOREINFO\0\0OSRELEASE=6.12\n\0\0").unwrap();
    h.set_kernel_release("6.12.117");
    h.set_armed_ns(1);
    h.next_generation(&HostCrc);
    h
}

#[test]
fn header_layout_is_pinned() {
    let mut h = armed_header();
    h.set_state(DumpState::Dumping);
    h.set_panic_message("sysrq triggered crash");
    h.set_panic_cpu(1);
    h.set_watermark(128 << 10);
    h.add_flags(flags::VOLATILE_CACHE);
    h.seal(&HostCrc);
    let b = h.as_bytes();
    assert_eq!(&b[0..8], b"CTDUMPHD");
    assert_eq!(&b[12..16], &16384u32.to_le_bytes());
    assert_eq!(&b[16..20], &2u32.to_le_bytes());
    assert_eq!(&b[20..24], &1u32.to_le_bytes());
    assert_eq!(&b[24..32], &1u64.to_le_bytes());
    assert_eq!(&b[48..52], &7u32.to_le_bytes());
    assert_eq!(&b[54..56], &1u16.to_le_bytes());
    assert_eq!(&b[80..84], &(128u32 << 10).to_le_bytes());
    assert_eq!(&b[84..88], &2u32.to_le_bytes());
    assert_eq!(&b[96..104], &(2u64 << 20).to_le_bytes());
    assert_eq!(&b[120..128], &(128u64 << 10).to_le_bytes());
    assert_eq!(&b[160..168], b"6.12.117");
    assert_eq!(&b[224..245], b"sysrq triggered crash");
    assert_eq!(&b[512..520], &0x1000u64.to_le_bytes());
    assert_eq!(&b[512 + 32 + 16..512 + 32 + 24], &((2u64 << 20) + 0x9f000).to_le_bytes());
    assert_eq!(&b[4608 + 12..4608 + 22], b"VMCOREINFO");
    assert_eq!(&b[16380..16384], &HostCrc.checksum(&b[..16380]).to_le_bytes());
}

#[test]
fn register_and_cpu_note_fields_are_pinned() {
    let mut h = armed_header();
    assert_eq!(h.panic_registers(), None, "a header armed before has no registers");
    assert_eq!((h.cpu_count(), h.cpu_note(0)), (0, None));
    let mut regs = [0u64; ELF_NGREG];
    regs[16] = 0xffff_ffff_8100_1234; // rip
    regs[19] = 0xffff_c900_0001_3e58; // rsp
    h.set_panic_registers(&PanicRegisters { pid: 77, regs });
    h.set_cpu_notes(1024, &[0x7fc1_9000, 0, 0x7fc3_9000]).unwrap();
    h.seal(&HostCrc);
    let b = h.as_bytes();
    assert_eq!(&b[12800..12804], &1u32.to_le_bytes());
    assert_eq!(&b[12804..12808], &77u32.to_le_bytes());
    assert_eq!(&b[12808 + 128..12808 + 136], &regs[16].to_le_bytes());
    assert_eq!(&b[13024..13028], &1024u32.to_le_bytes());
    assert_eq!(&b[13028..13032], &3u32.to_le_bytes());
    assert_eq!(&b[13032 + 16..13032 + 24], &0x7fc3_9000u64.to_le_bytes());
    let parsed = Header::parse(b, &HostCrc).unwrap();
    assert_eq!(parsed.panic_registers(), Some(PanicRegisters { pid: 77, regs }));
    assert_eq!(parsed.cpu_note_size(), 1024);
    assert_eq!((parsed.cpu_note(0), parsed.cpu_note(1), parsed.cpu_note(2), parsed.cpu_note(3)), (Some(0x7fc1_9000), None, Some(0x7fc3_9000), None));
    assert_eq!(h.set_cpu_notes(1024, &[1; MAX_CPUS + 1]), Err(SetError::TooManyCpus));
    let mut bytes = armed_header().into_inner();
    bytes[13028..13032].copy_from_slice(&(MAX_CPUS as u32 + 1).to_le_bytes());
    let mut bad = Header::from_unchecked(bytes);
    bad.seal(&HostCrc);
    assert_eq!(Header::parse(bad.as_bytes(), &HostCrc).err(), Some(HeaderError::Malformed("too many CPUs")));
}

#[test]
fn chunk_checksum_field_is_pinned_and_old_headers_read_as_crc32c() {
    let mut h = armed_header();
    assert_eq!(h.chunk_checksum(), ChunkChecksum::Crc32c, "a header written before the field: CRC-32C");
    assert_eq!(h.checksum_rates_mib_s(), (0, 0));
    h.set_chunk_checksum(ChunkChecksum::Xxh64, 91, 412);
    h.seal(&HostCrc);
    let b = h.as_bytes();
    assert_eq!(&b[480..484], &1u32.to_le_bytes());
    assert_eq!(&b[484..488], &91u32.to_le_bytes());
    assert_eq!(&b[488..492], &412u32.to_le_bytes());
    assert!(b[492..512].iter().all(|&x| x == 0));
    assert_eq!(h.rehearsal(), (0, 0));
    h.set_rehearsal(150, 6800);
    h.seal(&HostCrc);
    let b = h.as_bytes();
    assert_eq!(&b[492..496], &150u32.to_le_bytes());
    assert_eq!(&b[496..500], &6800u32.to_le_bytes());
    assert!(b[500..512].iter().all(|&x| x == 0));
    let parsed = Header::parse(b, &HostCrc).unwrap();
    assert_eq!(parsed.chunk_checksum(), ChunkChecksum::Xxh64);
    assert_eq!(parsed.checksum_rates_mib_s(), (91, 412));
    assert_eq!(parsed.rehearsal(), (150, 6800));
    let mut bytes = h.into_inner();
    bytes[480..484].copy_from_slice(&2u32.to_le_bytes());
    let mut bad = Header::from_unchecked(bytes);
    bad.seal(&HostCrc);
    assert_eq!(Header::parse(bad.as_bytes(), &HostCrc).err(), Some(HeaderError::Malformed("unknown chunk checksum")));
}

/// The `xxhash-rust` crate, as savecore uses it.
struct HostXxh;
impl Crc32c for HostXxh {
    fn update(&self, crc: u32, data: &[u8]) -> u32 {
        HostCrc.update(crc, data)
    }
}
impl Xxh64 for HostXxh {
    fn xxh64(&self, data: &[u8], seed: u64) -> u64 {
        xxhash_rust::xxh64::xxh64(data, seed)
    }
}

#[test]
fn chunk_checksums_are_the_standard_functions() {
    assert_eq!(HostXxh.xxh64(b"123456789", 0), XXH64_CHECK_VALUE);
    assert_eq!(HostXxh.xxh64(b"", 0), 0xef46_db37_51d8_e999);
    assert_eq!(ChunkChecksum::Crc32c.compute(&HostXxh, b"123456789"), coretakeover_core::crc::CHECK_VALUE);
    assert_eq!(ChunkChecksum::Xxh64.compute(&HostXxh, b"123456789"), XXH64_CHECK_VALUE as u32);
    // Either detects a flipped bit anywhere in a chunk.
    let chunk: Vec<u8> = (0..128u32 << 10).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    for c in ChunkChecksum::ALL {
        let good = c.compute(&HostXxh, &chunk);
        for at in (0..chunk.len()).step_by(4099) {
            let mut bad = chunk.clone();
            bad[at] ^= 0x10;
            assert_ne!(c.compute(&HostXxh, &bad), good, "{} missed a flip at {at}", c.as_str());
        }
    }
}

#[test]
fn header_round_trips_and_detects_damage() {
    let h = armed_header();
    let bytes = h.as_bytes().to_vec();
    let parsed = Header::parse(&bytes[..], &HostCrc).unwrap();
    assert_eq!(parsed.state(), DumpState::Armed);
    assert_eq!(parsed.generation(), 1);
    assert_eq!(parsed.ranges().count(), 2);
    assert_eq!(parsed.kernel_release(), b"6.12.117");
    assert!(parsed.vmcoreinfo().windows(9).any(|w| w == b"OSRELEASE"));
    for i in (0..HEADER_SIZE).step_by(97) {
        let mut damaged = bytes.clone();
        damaged[i] ^= 1;
        assert!(Header::parse(&damaged[..], &HostCrc).is_err(), "flip at byte {i} undetected");
    }
    assert_eq!(Header::parse(&vec![0u8; HEADER_SIZE][..], &HostCrc).err(), Some(HeaderError::NoHeader));
    assert_eq!(Header::parse(&bytes[..1000], &HostCrc).err(), Some(HeaderError::Short));
}

#[test]
fn a_sealed_but_inconsistent_header_is_refused() {
    let mut h = armed_header();
    h.set_watermark(u64::MAX);
    h.seal(&HostCrc);
    assert!(matches!(Header::parse(h.as_bytes(), &HostCrc), Err(HeaderError::Malformed(_))));
}

#[test]
fn a_torn_write_leaves_the_previous_generation() {
    // Generations 1 and 2 are on the disk, in copies B and A.
    let mut h = armed_header();
    let mut disk = [vec![0u8; HEADER_SIZE], vec![0u8; HEADER_SIZE]];
    disk[copy_for(1)] = h.as_bytes().to_vec();
    h.set_state(DumpState::Dumping);
    let copy = h.next_generation(&HostCrc);
    assert_eq!(copy, 0);
    disk[copy] = h.as_bytes().to_vec();
    // Generation 3 goes to copy B, and only its first 4 KiB make it.
    h.set_state(DumpState::Complete);
    h.set_watermark(h.capacity());
    let copy = h.next_generation(&HostCrc);
    assert_eq!(copy, 1);
    disk[copy][..4096].copy_from_slice(&h.as_bytes()[..4096]);
    let copies = [Header::parse(&disk[0][..], &HostCrc), Header::parse(&disk[1][..], &HostCrc)];
    let best = newest([&copies[0], &copies[1]]).unwrap();
    let best = copies[best].as_ref().unwrap();
    assert_eq!((best.generation(), best.state()), (2, DumpState::Dumping));
}

#[test]
fn checksum_table_tiles_the_stream_and_refuses_short_tables() {
    use coretakeover_core::plan::{phys_of, Chunk, ChecksumTable, TableError};
    use coretakeover_core::header::RamRange;
    // 2.5 chunks of 128 KiB: three entries.
    let entries: Vec<u8> = [0x11u32, 0x22, 0x33].iter().flat_map(|c| c.to_le_bytes()).collect();
    let t = ChecksumTable::new(&entries, 128 << 10, 320 << 10).unwrap();
    assert_eq!(t.len(), 3);
    assert_eq!(t.chunk(0), Some(Chunk { start: 0, len: 128 << 10, crc: 0x11 }));
    assert_eq!(t.chunk(2), Some(Chunk { start: 256 << 10, len: 64 << 10, crc: 0x33 }));
    assert_eq!(t.chunk(3), None);
    assert_eq!(
        ChecksumTable::new(&entries[..8], 128 << 10, 320 << 10).unwrap_err(),
        TableError::Short { needed: 12, got: 8 }
    );
    assert_eq!(ChecksumTable::new(&entries, 0, 1).unwrap_err(), TableError::NoChunkSize);
    assert!(ChecksumTable::new(&[], 0, 0).unwrap().is_empty());
    let ranges = [RamRange { phys: 0x100000, len: 0x2000, disk_offset: 0x10000 }];
    assert_eq!(phys_of(&ranges, 0x10000, 0x1800), 0x101800);
    assert_eq!(phys_of(&ranges, 0x10000, 0x2000), 0);
    assert_eq!(phys_of(&ranges, u64::MAX, 1), 0);
}

#[test]
fn a_filtered_plan_puts_the_page_map_between_table_and_data() {
    let (mut ranges, n) = sample_ranges();
    let pages = (0x9f000 + 0x1fee0000) / 4096u64;
    let plan = Plan::with_page_map(&mut ranges[..n], 1 << 20, 2 * GIB).unwrap();
    let (offset, bytes) = plan.page_map().unwrap();
    // 512 chunks × 4 bytes of checksums, then the map on the next page.
    assert_eq!(offset, (1 << 20) + 4096);
    assert_eq!(bytes, page_map_pass_bytes(pages));
    assert_eq!(bytes, 16 << 10);
    assert_eq!(plan.data_offset(), 2 << 20);
    assert!(Plan::new(&mut sample_ranges().0[..n], 1 << 20, 2 * GIB).unwrap().page_map().is_none());
}

fn filtered_header() -> Header<Vec<u8>> {
    let (mut ranges, n) = sample_ranges();
    let plan = Plan::with_page_map(&mut ranges[..n], 1 << 20, 2 * GIB).unwrap();
    let mut h = armed_header();
    h.set_plan(&plan).unwrap();
    let (offset, bytes) = plan.page_map().unwrap();
    h.set_page_map(Filter::Kernel, offset, bytes);
    h.seal(&HostCrc);
    h
}

#[test]
fn page_map_fields_are_pinned_and_make_version_2() {
    let mut h = filtered_header();
    h.set_scanned([7, 9]);
    h.set_census(&[1, 2, 3, 4, 5]);
    h.seal(&HostCrc);
    let b = h.as_bytes();
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    assert_eq!(u32_at(8), 2);
    assert_eq!(u32_at(16104), 3);
    assert_eq!(u64_at(16112), (1 << 20) + 4096);
    assert_eq!(u64_at(16120), 16 << 10);
    assert_eq!((u64_at(16128), u64_at(16136)), (7, 9));
    assert_eq!((u64_at(16144), u64_at(16176)), (1, 5));
    let parsed = Header::parse(b, &HostCrc).unwrap();
    assert_eq!(parsed.version(), 2);
    assert_eq!(parsed.filter(), Filter::Kernel);
    assert_eq!(parsed.scanned(), [7, 9]);
    assert_eq!(parsed.census(), [1, 2, 3, 4, 5]);
    // Version 1 reads as unfiltered.
    assert_eq!(armed_header().filter(), Filter::All);
}

#[test]
fn an_inconsistent_page_map_is_refused() {
    let bad = |edit: &dyn Fn(&mut Header<Vec<u8>>)| {
        let mut h = filtered_header();
        edit(&mut h);
        h.seal(&HostCrc);
        matches!(Header::parse(h.as_bytes(), &HostCrc), Err(HeaderError::Malformed(_)))
    };
    assert!(!bad(&|_| ()));
    assert!(bad(&|h| h.set_scanned([u64::MAX, 0])));
    assert!(!bad(&|h| h.set_page_map(Filter::All, (1 << 20) + 4096, 16 << 10)));
    assert!(bad(&|h| h.set_page_map(Filter::Kernel, 1 << 20, 16 << 10)));
    assert!(bad(&|h| h.set_page_map(Filter::Kernel, (1 << 20) + 4096, 4096)));
    assert!(bad(&|h| h.set_page_map(Filter::Kernel, (1 << 20) + 4096, 1 << 20)));
    assert!(bad(&|h| h.set_page_map(Filter::Kernel, u64::MAX - 4095, 16 << 10)));
}

#[test]
fn the_page_map_lists_runs_in_stream_order() {
    let ranges = [
        RamRange { phys: 0x1000, len: 0x4000, disk_offset: 0 },
        RamRange { phys: 0x10000, len: 0x10000, disk_offset: 0 },
    ];
    // 20 pages: 4 in the first range, 16 in the second.
    let mut pass0 = [0u8; 3];
    let mut pass1 = [0u8; 3];
    let set = |bits: &mut [u8], i: usize| bits[i / 8] |= 1 << (i % 8);
    for i in [0, 2, 3, 4, 5, 19] {
        set(&mut pass0, i);
    }
    for i in [1, 6, 7] {
        set(&mut pass1, i);
    }
    let map = PageMap::new(&ranges, [&pass0, &pass1], [20, 20]).unwrap();
    let runs: Vec<Run> = map.runs().collect();
    assert_eq!(
        runs,
        [
            Run { phys: 0x1000, pages: 1, stream_page: 0 },
            // Pages 2 and 3 end the first range; 4 and 5 start the second.
            Run { phys: 0x3000, pages: 2, stream_page: 1 },
            Run { phys: 0x10000, pages: 2, stream_page: 3 },
            Run { phys: 0x1f000, pages: 1, stream_page: 5 },
            Run { phys: 0x2000, pages: 1, stream_page: 6 },
            Run { phys: 0x12000, pages: 2, stream_page: 7 },
        ]
    );
    assert_eq!(map.pages(), 9);
    // Bits beyond a pass's scanned count do not count.
    let map = PageMap::new(&ranges, [&pass0, &pass1], [6, 0]).unwrap();
    assert_eq!(map.pages(), 5);
    // A bitmap shorter than its count, or a count beyond the ranges.
    assert!(PageMap::new(&ranges, [&pass0[..1], &pass1], [20, 0]).is_none());
    assert!(PageMap::new(&ranges, [&pass0, &pass1], [21, 0]).is_none());
}

#[test]
fn the_scan_visits_every_page_twice_and_counts_its_passes() {
    let ranges = [
        RamRange { phys: 0x1000, len: 0x2000, disk_offset: 0 },
        RamRange { phys: 0x10000, len: 0x1000, disk_offset: 0 },
    ];
    let mut scan = ScanCursor::new(&ranges);
    assert_eq!(scan.scanned(), [0, 0]);
    let first: Vec<_> = scan.by_ref().take(4).collect();
    assert_eq!(first, [(0, 0, 0x1000), (0, 1, 0x2000), (0, 2, 0x10000), (1, 0, 0x1000)]);
    assert_eq!(scan.scanned(), [3, 1]);
    assert!(!scan.finished());
    assert_eq!(scan.by_ref().count(), 2);
    assert!(scan.finished());
    assert_eq!(scan.scanned(), [3, 3]);
    assert_eq!(ScanCursor::new(&[]).next(), None);
}

#[test]
fn budget_model_and_replans_are_pinned() {
    use coretakeover_core::header::{SwitchRecord, MAX_SWITCHES};
    let mut h = filtered_header();
    h.set_budget(3000, Filter::NoFree, &[9000, 2900, 1000, 400], &[1024, 200, 100, 40]);
    for i in 0..MAX_SWITCHES as u32 + 2 {
        h.add_switch(&SwitchRecord { at_ms: 10 + i, from: Filter::NoFree, to: Filter::Kernel, pass: 1, visited: 77, projected_ms: 5000 });
    }
    h.seal(&HostCrc);
    let b = h.as_bytes();
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    assert_eq!((u32_at(16184), u32_at(16188), u32_at(16192), u32_at(16220)), (3000, 1, 9000, 40));
    assert_eq!(u32_at(16224), 10);
    assert_eq!((u32_at(16228), b[16232], b[16233], b[16234], u32_at(16236), u32_at(16240)), (10, 1, 3, 1, 77, 5000));
    assert_eq!(u32_at(16228 + 7 * 16), 17);
    assert!(b[16368..16380].iter().all(|&x| x == 0));
    let p = Header::parse(b, &HostCrc).unwrap();
    assert_eq!(p.filter(), Filter::Kernel);
    assert_eq!(p.budget(), (3000, Filter::NoFree, [9000, 2900, 1000, 400], [1024, 200, 100, 40]));
    assert_eq!(p.switch_count(), 10);
    assert_eq!(p.switch(7).map(|s| s.at_ms), Some(17));
    assert_eq!(p.switch(8), None);
    // An unknown filter number there is refused.
    let mut h = filtered_header();
    h.set_budget(3000, Filter::NoFree, &[0; 4], &[0; 4]);
    let mut raw = h.as_bytes().to_vec();
    raw[16188] = 9;
    let mut h = Header::from_unchecked(raw);
    h.seal(&HostCrc);
    assert!(matches!(Header::parse(h.as_bytes(), &HostCrc), Err(HeaderError::Malformed(_))));
}

#[test]
fn a_saved_whole_dump_calibrates_the_next_arming() {
    let mut h = filtered_header();
    h.set_rehearsal(500, 1200);
    h.set_panic_ns(10_000_000_000);
    h.set_end_ns(10_900_000_000);
    // Not saved yet: no comparison.
    h.set_state(DumpState::Complete);
    assert_eq!(h.finished_dump_timing(), None);
    h.set_state(DumpState::Saved);
    assert_eq!(h.finished_dump_timing(), Some((1200, 900)));
    // Saved truncated, cut at a deadline, or re-planned: no fair comparison.
    for f in [flags::SAVED_TRUNCATED, flags::BUDGET_CUT, flags::IO_ERROR] {
        let mut g = Header::from_unchecked(h.as_bytes().to_vec());
        g.add_flags(f);
        assert_eq!(g.finished_dump_timing(), None);
    }
    let mut g = Header::from_unchecked(h.as_bytes().to_vec());
    g.add_switch(&coretakeover_core::header::SwitchRecord { at_ms: 1, from: Filter::All, to: Filter::Kernel, pass: 0, visited: 0, projected_ms: 2 });
    assert_eq!(g.finished_dump_timing(), None);
    // Clocks that make no sense.
    h.set_end_ns(9_000_000_000);
    assert_eq!(h.finished_dump_timing(), None);

    assert_eq!(h.calibration(), None);
    h.set_calibration(1200, 900, 768);
    h.seal(&HostCrc);
    let b = h.as_bytes();
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    assert_eq!((u32_at(16356), u32_at(16360), u32_at(16364)), (1200, 900, 768));
    assert!(b[16368..16380].iter().all(|&x| x == 0));
    assert_eq!(Header::parse(b, &HostCrc).unwrap().calibration(), Some((1200, 900, 768)));
}

#[test]
fn heartbeat_layout_is_pinned() {
    use coretakeover_core::heartbeat::{Heartbeat, HeartbeatError, Liveness, HEARTBEAT_SIZE};
    let beat = Heartbeat {
        cluster: 0x0a0b_0c0d,
        node: 2,
        liveness: Liveness::Alive,
        interval_ms: 100,
        sequence: 0x1122_3344_5566_7788,
        written_ns: 0x99aa_bbcc_ddee_ff00,
        holds_disks_of: 1,
    };
    let bytes = beat.encode(&HostCrc);
    assert_eq!(bytes.len(), HEARTBEAT_SIZE);
    assert_eq!(&bytes[0..8], b"CTHEARTB");
    assert_eq!(&bytes[8..12], &1u32.to_le_bytes());
    assert_eq!(&bytes[12..16], &[0x0d, 0x0c, 0x0b, 0x0a]);
    assert_eq!(&bytes[16..18], &[2, 0]);
    assert_eq!(&bytes[18..20], &[1, 0]);
    assert_eq!(&bytes[20..24], &100u32.to_le_bytes());
    assert_eq!(&bytes[24..32], &0x1122_3344_5566_7788u64.to_le_bytes());
    assert_eq!(&bytes[32..40], &0x99aa_bbcc_ddee_ff00u64.to_le_bytes());
    assert_eq!(&bytes[40..42], &[1, 0]);
    assert!(bytes[42..60].iter().all(|&b| b == 0));
    assert_eq!(&bytes[60..64], &HostCrc.checksum(&bytes[..60]).to_le_bytes());
    // A heartbeat of before the field (bytes 40..42 zero) holds nobody's disks.
    let before = Heartbeat { holds_disks_of: 0, ..beat }.encode(&HostCrc);
    assert_eq!(Heartbeat::decode(&before, &HostCrc).map(|b| b.holds_disks_of), Ok(0));
    // The bytes still reserved must stay zero.
    let mut bad = bytes;
    bad[42] = 1;
    let sum = HostCrc.checksum(&bad[..60]);
    bad[60..64].copy_from_slice(&sum.to_le_bytes());
    assert_eq!(Heartbeat::decode(&bad, &HostCrc), Err(HeartbeatError::Malformed("reserved bytes not zero")));
}

#[test]
fn a_copy_with_a_generation_beyond_the_limit_is_no_header_and_never_the_newest() {
    use coretakeover_core::header::{belongs_to, MAX_GENERATION};
    // An honest copy, and a forged (or corrupt) one at u64::MAX, sealed.
    let honest = armed_header();
    let mut forged = armed_header();
    forged.set_state(DumpState::Dumping);
    forged.set_generation(u64::MAX);
    forged.seal(&HostCrc);
    let copies = [Header::parse(forged.as_bytes(), &HostCrc), Header::parse(honest.as_bytes(), &HostCrc)];
    assert_eq!(copies[0].as_ref().err(), Some(&HeaderError::Malformed("generation beyond the limit")));
    assert_eq!(newest([&copies[0], &copies[1]]), Some(1));
    // A writer at the limit stays there: no copy it writes is refused.
    let mut h = armed_header();
    h.set_generation(MAX_GENERATION);
    h.next_generation(&HostCrc);
    assert_eq!(h.generation(), MAX_GENERATION);
    assert!(Header::parse(h.as_bytes(), &HostCrc).is_ok());
    // Identity: the disk, cluster and node of the label, or it is no header
    // of this disk.
    assert!(belongs_to(&honest, b"0123456789abcdef", 7, 1));
    assert!(!belongs_to(&honest, b"0123456789abcdef", 7, 2));
    assert!(!belongs_to(&honest, b"0123456789abcdeF", 7, 1));
    assert!(!belongs_to(&honest, b"0123456789abcdef", 8, 1));
}
