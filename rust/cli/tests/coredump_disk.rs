// SPDX-License-Identifier: GPL-2.0

//! `coretakeover label`, `status --disk` and `savecore` against image files,
//! with dumps written here through the functional core exactly as the
//! module's panic path lays them out.

use coretakeover_core::checksum::{ChunkChecksum, Xxh64};
use coretakeover_core::crc::Crc32c;
use coretakeover_core::header::{
    copy_for, flags, DumpState, Header, PanicRegisters, RamRange, ELF_NGREG, HEADER_COPY_OFFSETS, HEADER_SIZE, MAX_RANGES,
};
use coretakeover_core::notes::{prstatus_note, NT_PRSTATUS};
use std::os::unix::fs::PermissionsExt;
use coretakeover_core::label::Label;
use coretakeover_core::header::SwitchRecord;
use coretakeover_core::pagefilter::Filter;
use coretakeover_core::plan::{collect_ranges, PageCursor, Plan};
use object::read::elf::{ElfFile64, ProgramHeader as _};
use object::{Endianness, Object};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Crc;
impl Crc32c for Crc {
    fn update(&self, crc: u32, data: &[u8]) -> u32 {
        !crc32c::crc32c_append(!crc, data)
    }
}
impl Xxh64 for Crc {
    fn xxh64(&self, data: &[u8], seed: u64) -> u64 {
        xxhash_rust::xxh64::xxh64(data, seed)
    }
}

const CHUNK: u32 = 128 << 10;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ct-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn image(dir: &Path, mib: u64) -> PathBuf {
    let path = dir.join("coredump.img");
    File::create(&path).unwrap().set_len(mib << 20).unwrap();
    path
}

fn cli(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_coretakeover")).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// The byte of RAM at physical address `phys` in the simulated machine.
fn ram_byte(phys: u64) -> u8 {
    ((phys >> 12) as u8) ^ (phys as u8).wrapping_mul(31)
}

/// A VMCOREINFO note as the kernel lays it out.
fn note() -> Vec<u8> {
    let desc = b"OSRELEASE=6.12.117\nPAGESIZE=4096\n";
    let mut n = Vec::new();
    n.extend_from_slice(&11u32.to_le_bytes());
    n.extend_from_slice(&(desc.len() as u32).to_le_bytes());
    n.extend_from_slice(&0u32.to_le_bytes());
    n.extend_from_slice(b"VMCOREINFO\0\0");
    n.extend_from_slice(desc);
    while n.len() % 4 != 0 {
        n.push(0);
    }
    n
}

/// Writes a dump of the simulated RAM, up to `stop` bytes of the stream,
/// with its header in `state`. Returns the header.
fn write_dump(path: &Path, state: DumpState, stop: Option<u64>) -> Header<Vec<u8>> {
    write_dump_with(path, state, stop, &[], |_| {})
}

/// As `write_dump`, with the chunks checked by `checksum`.
fn write_dump_checked(path: &Path, checksum: ChunkChecksum) -> Header<Vec<u8>> {
    write_dump_with(path, DumpState::Complete, None, &[], |h| h.set_chunk_checksum(checksum, 90, 400))
}

/// As `write_dump`, with `overlay` (physical address, bytes) written into
/// the RAM and `edit` applied to the header before it is sealed.
fn write_dump_with(
    path: &Path,
    state: DumpState,
    stop: Option<u64>,
    overlay: &[(u64, &[u8])],
    edit: impl FnOnce(&mut Header<Vec<u8>>),
) -> Header<Vec<u8>> {
    let disk = OpenOptions::new().read(true).write(true).open(path).unwrap();
    let mut ranges = [RamRange::default(); MAX_RANGES];
    let n = collect_ranges([(0x1000, 0x9fbff), (0x100000, 0x2fffff)], &mut ranges).unwrap();
    let plan = Plan::new(&mut ranges[..n], CHUNK, disk.metadata().unwrap().len()).unwrap();
    let mut h = panicked_header(&disk, &plan);
    let watermark = stop.unwrap_or(plan.capacity());
    let pages: Vec<u64> = PageCursor::new(plan.ranges(), watermark).collect();
    let mut stream = Vec::new();
    for phys in pages {
        let start = stream.len();
        stream.extend((0..4096).map(|i| ram_byte(phys + i)));
        for (at, bytes) in overlay {
            if *at >= phys && *at < phys + 4096 {
                let off = start + (*at - phys) as usize;
                stream[off..off + bytes.len()].copy_from_slice(bytes);
            }
        }
    }
    h.set_state(state);
    h.set_watermark(watermark);
    h.set_generation(10);
    edit(&mut h);
    write_stream(&disk, &plan, &mut h, &stream);
    h
}

/// The header of a dump on `disk` (its label's identity), laid out by
/// `plan`, as the panic path leaves it after the beacon.
fn panicked_header(disk: &File, plan: &Plan<'_>) -> Header<Vec<u8>> {
    let mut block = vec![0u8; 128];
    disk.read_exact_at(&mut block, 0).unwrap();
    let label = Label::decode(&block, &Crc).unwrap();
    let mut h = Header::new(vec![0u8; HEADER_SIZE]).unwrap();
    h.set_identity(&label.disk_uuid, label.cluster.get(), label.node.get());
    h.set_plan(plan).unwrap();
    h.set_page_offset(0xffff_8880_0000_0000);
    h.set_vmcoreinfo(0x22e000, &note()).unwrap();
    h.set_kernel_release("6.12.117");
    h.set_panic_message("sysrq triggered crash");
    h.set_panic_cpu(0);
    h
}

/// Writes `stream` in chunks with their checksums, then `h` (next
/// generation), as the panic path does.
fn write_stream(disk: &File, plan: &Plan<'_>, h: &mut Header<Vec<u8>>, stream: &[u8]) {
    let checksum = h.chunk_checksum();
    for (i, chunk) in stream.chunks(CHUNK as usize).enumerate() {
        disk.write_all_at(chunk, plan.data_offset() + i as u64 * u64::from(CHUNK)).unwrap();
        disk.write_all_at(&checksum.compute(&Crc, chunk).to_le_bytes(), plan.crc_table_offset() + 4 * i as u64).unwrap();
    }
    let copy = h.next_generation(&Crc);
    disk.write_all_at(h.as_bytes(), HEADER_COPY_OFFSETS[copy]).unwrap();
}

fn header_on_disk(path: &Path) -> Header<Vec<u8>> {
    let disk = File::open(path).unwrap();
    let read = |off| {
        let mut b = vec![0u8; HEADER_SIZE];
        disk.read_exact_at(&mut b, off).unwrap();
        Header::parse(b, &Crc)
    };
    let copies = [read(HEADER_COPY_OFFSETS[0]), read(HEADER_COPY_OFFSETS[1])];
    let best = coretakeover_core::header::newest([&copies[0], &copies[1]]).unwrap();
    let [a, b] = copies;
    if best == 0 { a.unwrap() } else { b.unwrap() }
}

#[test]
fn label_refuses_foreign_and_signed_disks() {
    let dir = scratch("label");
    let img = image(&dir, 64);
    let p = img.to_str().unwrap();
    let (code, out) = cli(&["label", "--disk", p, "--cluster", "7", "--node", "1"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("labeled as the coredump disk of cluster 7 node 1"), "{out}");
    let (code, out) = cli(&["label", "--disk", p, "--cluster", "7", "--node", "1"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("already labeled"), "{out}");
    let (code, out) = cli(&["label", "--disk", p, "--cluster", "7", "--node", "2"]);
    assert_eq!(code, 4, "a refusal exits 4: {out}");
    assert!(out.contains("labeled for cluster 7 node 1") && out.contains("--force"), "{out}");

    let ext4 = dir.join("ext4.img");
    File::create(&ext4).unwrap().set_len(64 << 20).unwrap();
    OpenOptions::new().write(true).open(&ext4).unwrap().write_all_at(&[0x53, 0xef], 1080).unwrap();
    let e = ext4.to_str().unwrap();
    let (code, out) = cli(&["label", "--disk", e, "--cluster", "7", "--node", "2"]);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("ext2/3/4 file system"), "{out}");
    let (code, out) = cli(&["label", "--disk", e, "--cluster", "7", "--node", "2", "--force"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = cli(&["status", "--disk", e, "--json"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["label"]["Ok"]["node_id"], 2);
    assert!(v["header"].is_null());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn savecore_writes_a_core_with_the_ram_at_its_addresses_and_marks_it_saved() {
    let dir = scratch("save");
    let img = image(&dir, 64);
    let p = img.to_str().unwrap();
    assert_eq!(cli(&["label", "--disk", p, "--cluster", "7", "--node", "1"]).0, 0);
    let (code, out) = cli(&["savecore", "--disk", p, "-o", dir.join("none").to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no dump to save"), "{out}");

    write_dump(&img, DumpState::Complete, None);
    let (code, out) = cli(&["status", "--disk", p]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("dump state:       complete"), "{out}");
    let vmcore = dir.join("vmcore");
    let (code, out) = cli(&["savecore", "--disk", p, "-o", vmcore.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["complete"], true);
    assert_eq!(report["marked_saved"], true);

    let data = std::fs::read(&vmcore).unwrap();
    let elf = ElfFile64::<Endianness>::parse(&*data).unwrap();
    assert_eq!(elf.kind(), object::ObjectKind::Core);
    let phdrs = elf.elf_program_headers();
    assert_eq!(phdrs[0].p_type(Endianness::Little), object::elf::PT_NOTE);
    let note_at = phdrs[0].p_offset(Endianness::Little) as usize;
    assert_eq!(&data[note_at + 12..note_at + 22], b"VMCOREINFO");
    let loads: Vec<_> = phdrs.iter().filter(|p| p.p_type(Endianness::Little) == object::elf::PT_LOAD).collect();
    assert_eq!(loads.len(), 2);
    for load in loads {
        let (paddr, off, size) = (load.p_paddr(Endianness::Little), load.p_offset(Endianness::Little), load.p_filesz(Endianness::Little));
        assert_eq!(load.p_vaddr(Endianness::Little), 0xffff_8880_0000_0000 + paddr);
        for probe in [0, 4095, 4096, size / 2, size - 1] {
            assert_eq!(data[(off + probe) as usize], ram_byte(paddr + probe), "byte at phys {:#x}", paddr + probe);
        }
    }
    assert_eq!(header_on_disk(&img).state(), DumpState::Saved);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_damaged_chunk_is_reported_and_the_dump_left_unsaved() {
    let dir = scratch("damaged");
    let img = image(&dir, 64);
    let p = img.to_str().unwrap();
    assert_eq!(cli(&["label", "--disk", p, "--cluster", "7", "--node", "1"]).0, 0);
    let h = write_dump(&img, DumpState::Complete, None);
    let disk = OpenOptions::new().write(true).open(&img).unwrap();
    disk.write_all_at(b"bit rot", h.data_offset() + 3 * u64::from(CHUNK) + 100).unwrap();
    let (code, out) = cli(&["savecore", "--disk", p, "-o", dir.join("vmcore").to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("1 of") && out.contains("chunk 3"), "{out}");
    assert!(out.contains("left unsaved"), "{out}");
    let after = header_on_disk(&img);
    assert_eq!((after.state(), after.generation()), (DumpState::Complete, h.generation()));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn savecore_verifies_each_dump_with_its_own_chunk_checksum() {
    let dir = scratch("xxh64");
    let img = image(&dir, 64);
    let p = img.to_str().unwrap();
    assert_eq!(cli(&["label", "--disk", p, "--cluster", "7", "--node", "1"]).0, 0);
    let h = write_dump_checked(&img, ChunkChecksum::Xxh64);
    let (code, out) = cli(&["status", "--disk", p]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("xxh64 checksums (measured at arming: crc32c 90 MiB/s, xxh64 400 MiB/s)"), "{out}");
    // A table of xxh64 values read as CRC-32C would fail every chunk: the
    // header says which function wrote them.
    let vmcore = dir.join("vmcore");
    let (code, out) = cli(&["savecore", "--disk", p, "-o", vmcore.to_str().unwrap(), "--keep"]);
    assert_eq!(code, 0, "{out}");
    // A flipped byte in chunk 5 is found by xxh64 as by CRC-32C.
    let disk = OpenOptions::new().write(true).open(&img).unwrap();
    disk.write_all_at(b"\xff", h.data_offset() + 5 * u64::from(CHUNK) + 4321).unwrap();
    let (code, out) = cli(&["savecore", "--disk", p, "-o", dir.join("vmcore2").to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("1 of") && out.contains("chunk 5"), "{out}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_interrupted_dump_is_saved_as_far_as_it_went() {
    let dir = scratch("interrupted");
    let img = image(&dir, 64);
    let p = img.to_str().unwrap();
    assert_eq!(cli(&["label", "--disk", p, "--cluster", "7", "--node", "1"]).0, 0);
    write_dump(&img, DumpState::Dumping, Some(1 << 20));
    let vmcore = dir.join("vmcore");
    let (code, out) = cli(&["savecore", "--disk", p, "-o", vmcore.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["complete"], false);
    assert_eq!(report["saved_bytes"], 1 << 20);
    let after = header_on_disk(&img);
    assert_eq!(after.state(), DumpState::Saved);
    assert_ne!(after.flags() & flags::SAVED_TRUNCATED, 0);
    // The torn-write rule: the new generation went to the other copy.
    assert_eq!(copy_for(after.generation()), (after.generation() % 2) as usize);
    std::fs::remove_dir_all(dir).unwrap();
}

fn regs(seed: u64) -> PanicRegisters {
    let mut regs = [0u64; ELF_NGREG];
    for (i, r) in regs.iter_mut().enumerate() {
        *r = seed + i as u64;
    }
    PanicRegisters { pid: seed as u32, regs }
}

/// The notes of the vmcore's PT_NOTE: (type, name, descriptor).
fn notes(data: &[u8]) -> Vec<(u32, Vec<u8>, Vec<u8>)> {
    let elf = ElfFile64::<Endianness>::parse(data).unwrap();
    let note = elf.elf_program_headers()[0];
    let (mut at, end) = (note.p_offset(Endianness::Little) as usize, (note.p_offset(Endianness::Little) + note.p_filesz(Endianness::Little)) as usize);
    let word = |i: usize| u32::from_le_bytes(data[i..i + 4].try_into().unwrap()) as usize;
    let mut out = Vec::new();
    while at < end {
        let (namesz, descsz, kind) = (word(at), word(at + 4), word(at + 8) as u32);
        let name = data[at + 12..at + 12 + namesz].to_vec();
        let desc_at = at + 12 + namesz.next_multiple_of(4);
        out.push((kind, name, data[desc_at..desc_at + descsz].to_vec()));
        at = desc_at + descsz.next_multiple_of(4);
    }
    out
}

#[test]
fn savecore_writes_every_saved_cpus_registers_and_the_crash_time() {
    let dir = scratch("registers");
    let img = image(&dir, 64);
    let p = img.to_str().unwrap();
    assert_eq!(cli(&["label", "--disk", p, "--cluster", "7", "--node", "1"]).0, 0);
    // CPU 1 was stopped and saved by the kernel (its crash_notes in RAM);
    // CPU 2's buffer is empty; CPU 0 panicked (registers in the header).
    let cpu1 = prstatus_note(&regs(0x2000));
    let empty = [0u8; 512];
    write_dump_with(&img, DumpState::Complete, None, &[(0x10_0800, &cpu1), (0x20_0000, &empty)], |h| {
        h.set_panic_registers(&regs(0x1000));
        h.set_cpu_notes(1024, &[0x10_0400, 0x10_0800, 0x20_0000]).unwrap();
        h.add_flags(flags::STOPPED_CPU_REGISTERS);
        h.set_panic_ns(1_796_182_245_000_000_000);
    });
    let vmcore = dir.join("vmcore");
    let (code, out) = cli(&["savecore", "--disk", p, "-o", vmcore.to_str().unwrap(), "--keep", "--json"]);
    assert_eq!(code, 0, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["crashed_cpu"], 0, "{report}");
    assert_eq!(report["crash_time"], 1_796_182_245u64);
    assert_eq!(report["cpus"][0]["source"], "panic-path");
    assert_eq!(report["cpus"][0]["rip"], format!("{:#x}", 0x1000 + 16));
    assert_eq!(report["cpus"][1]["source"], "crash_notes");
    assert_eq!(report["cpus"][1]["pid"], 0x2000);
    assert!(report["cpus"][2]["source"].is_null() && report["cpus"][2]["missing"].as_str().unwrap().contains("empty"), "{report}");
    assert_eq!(std::fs::metadata(&vmcore).unwrap().permissions().mode() & 0o7777, 0o600);

    let data = std::fs::read(&vmcore).unwrap();
    let found = notes(&data);
    assert_eq!(found.len(), 3, "two NT_PRSTATUS and VMCOREINFO");
    for (i, seed) in [0x1000u64, 0x2000].into_iter().enumerate() {
        let (kind, name, desc) = &found[i];
        assert_eq!((*kind, name.as_slice(), desc.len()), (NT_PRSTATUS, &b"CORE\0"[..], 336));
        assert_eq!(&desc[32..36], &(seed as u32).to_le_bytes(), "pr_pid of note {i}");
        assert_eq!(&desc[112 + 128..112 + 136], &(seed + 16).to_le_bytes(), "rip of note {i}");
    }
    let (_, name, desc) = &found[2];
    assert_eq!(name.as_slice(), b"VMCOREINFO\0");
    assert!(String::from_utf8_lossy(desc).ends_with("PAGESIZE=4096\nCRASHTIME=1796182245\n"), "{}", String::from_utf8_lossy(desc));

    // An existing vmcore is refused, and replaced whole with --force.
    let (code, out) = cli(&["savecore", "--disk", p, "-o", vmcore.to_str().unwrap(), "--keep"]);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("exists") && out.contains("--force"), "{out}");
    let (code, out) = cli(&["savecore", "--disk", p, "-o", vmcore.to_str().unwrap(), "--keep", "--force"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(std::fs::read(&vmcore).unwrap(), data);

    // The boot service's layout: DIR/<panic time>/vmcore and savecore.json.
    let crash = dir.join("crash");
    let (code, out) = cli(&["savecore", "--disk", p, "--crash-dir", crash.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{out}");
    let saved = crash.join("20261202-033045");
    assert_eq!(std::fs::metadata(&crash).unwrap().permissions().mode() & 0o7777, 0o700);
    assert_eq!(std::fs::metadata(&saved).unwrap().permissions().mode() & 0o7777, 0o700);
    assert_eq!(std::fs::read(saved.join("vmcore")).unwrap(), data);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(saved.join("savecore.json")).unwrap()).unwrap();
    assert_eq!(json["cpus"][1]["source"], "crash_notes");
    assert_eq!(header_on_disk(&img).state(), DumpState::Saved);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn savecore_never_writes_through_a_planted_link_or_into_a_shared_directory() {
    let dir = scratch("hostile");
    let img = image(&dir, 64);
    let p = img.to_str().unwrap();
    assert_eq!(cli(&["label", "--disk", p, "--cluster", "7", "--node", "1"]).0, 0);
    write_dump(&img, DumpState::Complete, None);
    let victim = dir.join("shadow");
    std::fs::write(&victim, b"root:x:0:0").unwrap();
    let link = dir.join("vmcore");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let (code, out) = cli(&["savecore", "--disk", p, "-o", link.to_str().unwrap()]);
    assert_eq!(code, 4, "{out}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"root:x:0:0");
    assert_eq!(header_on_disk(&img).state(), DumpState::Complete, "a refused save marked the dump saved");

    let shared = dir.join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let (code, out) = cli(&["savecore", "--disk", p, "-o", shared.join("vmcore").to_str().unwrap()]);
    assert_eq!(code, 4, "{out}");
    // With --json the error is JSON too, on standard output.
    let (code, out) = cli(&["savecore", "--disk", p, "-o", shared.join("vmcore").to_str().unwrap(), "--json"]);
    assert_eq!(code, 4, "{out}");
    let json: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).expect("an error as JSON");
    assert_eq!((json["error"]["kind"].as_str(), json["error"]["exit_code"].as_u64()), (Some("refused"), Some(4)), "{json}");
    assert!(out.contains("writable by others") && !shared.join("vmcore").exists(), "{out}");
    let (code, out) = cli(&["savecore", "--disk", p, "-o", shared.join("vmcore").to_str().unwrap(), "--shared-dir", "--keep"]);
    assert_eq!(code, 0, "{out}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Writes a filtered dump (format version 2) of the simulated RAM, as the
/// panic path lays it out: pass 0 keeps the pages whose index is a multiple
/// of 3, pass 1 those one above; the rest are dropped. `scanned` overrides
/// the passes' scanned counts in the header (a damaged map). Returns the
/// header and the kept pages' addresses.
fn write_filtered_dump(path: &Path, scanned: Option<[u64; 2]>) -> (Header<Vec<u8>>, Vec<u64>) {
    let disk = OpenOptions::new().read(true).write(true).open(path).unwrap();
    let mut ranges = [RamRange::default(); MAX_RANGES];
    let n = collect_ranges([(0x1000, 0x9fbff), (0x100000, 0x2fffff)], &mut ranges).unwrap();
    let plan = Plan::with_page_map(&mut ranges[..n], CHUNK, disk.metadata().unwrap().len()).unwrap();
    let (map_offset, pass_bytes) = plan.page_map().unwrap();
    let mut h = panicked_header(&disk, &plan);
    h.set_page_map(Filter::Kernel, map_offset, pass_bytes);
    let all: Vec<u64> = PageCursor::new(plan.ranges(), u64::MAX).collect();
    let mut bitmaps = vec![vec![0u8; pass_bytes as usize]; 2];
    let mut kept = Vec::new();
    for pass in 0..2 {
        for (i, phys) in all.iter().enumerate() {
            if i % 3 == pass {
                bitmaps[pass][i / 8] |= 1 << (i % 8);
                kept.push(*phys);
            }
        }
    }
    let stream: Vec<u8> = kept.iter().flat_map(|&phys| (0..4096).map(move |i| ram_byte(phys + i))).collect();
    for (pass, bitmap) in bitmaps.iter().enumerate() {
        disk.write_all_at(bitmap, map_offset + pass as u64 * pass_bytes).unwrap();
    }
    h.set_state(DumpState::Complete);
    h.set_watermark(stream.len() as u64);
    h.set_scanned(scanned.unwrap_or([all.len() as u64; 2]));
    h.set_census(&[all.len() as u64 / 3, 0, 0, 0, 0]);
    h.set_budget(3000, Filter::All, &[9000, 2000, 1500, 900], &[600, 300, 200, 100]);
    h.add_switch(&SwitchRecord { at_ms: 312, from: Filter::All, to: Filter::Kernel, pass: 0, visited: 100, projected_ms: 9100 });
    h.set_generation(10);
    write_stream(&disk, &plan, &mut h, &stream);
    (h, kept)
}

#[test]
fn savecore_of_a_filtered_dump_writes_the_kept_pages_only_at_their_addresses() {
    let dir = scratch("filtered");
    let img = image(&dir, 64);
    let p = img.to_str().unwrap();
    assert_eq!(cli(&["label", "--disk", p, "--cluster", "7", "--node", "1"]).0, 0);
    let (h, kept) = write_filtered_dump(&img, None);
    let (code, out) = cli(&["status", "--disk", p]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("page filter:      kernel"), "{out}");
    assert!(out.contains("dump plan:        budget 3000 ms; chose all (all 9000 ms 600 MiB, no-free 2000 ms 300 MiB"), "{out}");
    assert!(out.contains("re-planned:       at 312 ms (pass 0, 100 pages visited): all -> kernel, projected 9100 ms"), "{out}");
    let vmcore = dir.join("vmcore");
    let (code, out) = cli(&["savecore", "--disk", p, "-o", vmcore.to_str().unwrap(), "--json", "--keep"]);
    assert_eq!(code, 0, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((report["complete"].clone(), report["filter"].clone()), (true.into(), "kernel".into()));
    assert_eq!(report["saved_bytes"], h.watermark());

    let data = std::fs::read(&vmcore).unwrap();
    let elf = ElfFile64::<Endianness>::parse(&*data).unwrap();
    let loads: Vec<_> = elf.elf_program_headers().iter().filter(|p| p.p_type(Endianness::Little) == object::elf::PT_LOAD).collect();
    assert_eq!(report["segments"], loads.len());
    // Sorted by address, disjoint; every byte is the RAM's.
    let mut covered = std::collections::BTreeSet::new();
    let mut prev_end = 0;
    for load in &loads {
        let (paddr, off, size) = (load.p_paddr(Endianness::Little), load.p_offset(Endianness::Little), load.p_filesz(Endianness::Little));
        assert!(paddr >= prev_end, "PT_LOADs unsorted or overlapping at {paddr:#x}");
        prev_end = paddr + size;
        for page in (0..size).step_by(4096) {
            covered.insert(paddr + page);
            for probe in [0, 1, 4095] {
                assert_eq!(data[(off + page + probe) as usize], ram_byte(paddr + page + probe), "phys {:#x}", paddr + page + probe);
            }
        }
    }
    let expected: std::collections::BTreeSet<u64> = kept.iter().copied().collect();
    assert_eq!(covered, expected, "the PT_LOADs hold exactly the kept pages");
    assert!((data.len() as u64) < h.watermark() + (1 << 20), "the vmcore holds the kept pages, not all RAM");

    // A map that accounts for fewer pages than the watermark is damaged.
    let (_, _) = write_filtered_dump(&img, Some([671, 600]));
    let (code, out) = cli(&["savecore", "--disk", p, "-o", dir.join("vmcore2").to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("the page map lists") && out.contains("nothing saved"), "{out}");
    assert!(!dir.join("vmcore2").exists());
    assert_eq!(header_on_disk(&img).state(), DumpState::Complete);
    std::fs::remove_dir_all(dir).unwrap();
}

/// How `write_compressed_dump` damages its dump.
#[derive(Clone, Copy, PartialEq)]
enum Damage {
    None,
    /// A byte of chunk 1's stored bytes flipped (after its checksum).
    StoredByte,
    /// Chunk 1's entry names the wrong codec (its checksum still matches).
    WrongCodec,
    /// An encrypted dump: a byte of chunk 1's ciphertext flipped and its
    /// checksum recomputed (only the tag can tell).
    Tampered,
}

/// Writes a compressed dump (format version 3) of the simulated RAM as the
/// panic path lays it out: the filtered dump's pages, chunk `i` stored
/// with lz4, zstd, or as it is, by `i % 3`; each chunk on a 4 KiB boundary
/// of the data area, its entry in the chunk table. Returns the header and
/// the kept pages' addresses.
fn write_compressed_dump(path: &Path, damage: Damage) -> (Header<Vec<u8>>, Vec<u64>) {
    write_compressed_dump_for(path, damage, None)
}

/// As `write_compressed_dump`, encrypted for `recipient` when given, as the
/// panic path does it (ChaCha20-Poly1305 over each chunk's stored bytes,
/// nonce the chunk's index, the entry's bytes 4..13 authenticated, the
/// tag in the entry; the sealed key in the key block).
fn write_compressed_dump_for(path: &Path, damage: Damage, recipient: Option<&crypto_box::PublicKey>) -> (Header<Vec<u8>>, Vec<u64>) {
    use chacha20poly1305::aead::{AeadInPlace, KeyInit};
    use coretakeover_core::codec::{ChunkEntry, Codec, ENTRY_SIZE};
    use coretakeover_core::dumpkey::{associated_data, nonce96, KeyBlock, KEY_BLOCK_OFFSET, KEY_BLOCK_SIZE};
    let disk = OpenOptions::new().read(true).write(true).open(path).unwrap();
    let mut ranges = [RamRange::default(); MAX_RANGES];
    let n = collect_ranges([(0x1000, 0x9fbff), (0x100000, 0x2fffff)], &mut ranges).unwrap();
    let plan = Plan::with_chunk_table(&mut ranges[..n], CHUNK, disk.metadata().unwrap().len()).unwrap();
    let (map_offset, pass_bytes) = plan.page_map().unwrap();
    let mut h = panicked_header(&disk, &plan);
    h.set_page_map(Filter::All, map_offset, pass_bytes);
    h.set_chunk_table(Codec::Lz4);
    h.set_armed_ns(1_700_000_000_000_000_000);
    let data_key = [0x5au8; 32];
    if let Some(public) = recipient {
        h.add_flags(flags::ENCRYPTED);
        let sealed = public.seal(&mut rand_core::OsRng, &data_key).unwrap();
        let block = KeyBlock { disk_uuid: h.disk_uuid(), armed_ns: h.armed_ns(), public: *public.as_bytes(), sealed: sealed.try_into().unwrap(), per_arming: true };
        let mut b = vec![0u8; KEY_BLOCK_SIZE];
        block.encode(&mut b, &Crc);
        disk.write_all_at(&b, KEY_BLOCK_OFFSET).unwrap();
    }
    // As the module does: the chunks under the key derived for this arming
    // (key block version 2), never the data key itself.
    let chunk_key = {
        use chacha20::cipher::consts::U10;
        let [first, second] = coretakeover_core::dumpkey::arming_inputs(&h.disk_uuid(), h.armed_ns());
        let step = chacha20::hchacha::<U10>((&data_key).into(), (&first).into());
        let key: [u8; 32] = chacha20::hchacha::<U10>(&step, (&second).into()).into();
        key
    };
    let all: Vec<u64> = PageCursor::new(plan.ranges(), u64::MAX).collect();
    let mut bitmaps = vec![vec![0u8; pass_bytes as usize]; 2];
    let mut kept = Vec::new();
    for pass in 0..2 {
        for (i, phys) in all.iter().enumerate() {
            if i % 2 == pass {
                bitmaps[pass][i / 8] |= 1 << (i % 8);
                kept.push(*phys);
            }
        }
    }
    for (pass, bitmap) in bitmaps.iter().enumerate() {
        disk.write_all_at(bitmap, map_offset + pass as u64 * pass_bytes).unwrap();
    }
    let stream: Vec<u8> = kept.iter().flat_map(|&phys| (0..4096).map(move |i| ram_byte(phys + i))).collect();
    let checksum = h.chunk_checksum();
    let mut stored = 0u64;
    for (i, chunk) in stream.chunks(CHUNK as usize).enumerate() {
        let (codec, mut bytes) = match i % 3 {
            0 => (Codec::Lz4, lz4_flex::block::compress(chunk)),
            1 => (Codec::Zstd, ruzstd::encoding::compress_to_vec(chunk, ruzstd::encoding::CompressionLevel::Fastest)),
            _ => (Codec::None, chunk.to_vec()),
        };
        assert!(codec == Codec::None || bytes.len() + 4096 <= chunk.len(), "the simulated RAM compresses");
        let mut entry = ChunkEntry { checksum: 0, stored_len: bytes.len() as u32, disk_page: (stored / 4096) as u32, codec, tag: [0; 16] };
        if recipient.is_some() {
            let mut raw = [0u8; ENTRY_SIZE];
            entry.encode(&mut raw);
            let cipher = chacha20poly1305::ChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(&chunk_key));
            let tag = cipher.encrypt_in_place_detached(chacha20poly1305::Nonce::from_slice(&nonce96(i as u64)), &associated_data(&raw), &mut bytes).unwrap();
            entry.tag = tag.into();
        }
        entry.checksum = checksum.compute(&Crc, &bytes);
        if i == 1 {
            match damage {
                Damage::StoredByte => {
                    let mid = bytes.len() / 2;
                    bytes[mid] ^= 0x40;
                }
                Damage::WrongCodec => entry.codec = Codec::Lz4,
                Damage::Tampered => {
                    bytes[7] ^= 1;
                    entry.checksum = checksum.compute(&Crc, &bytes);
                }
                Damage::None => {}
            }
        }
        disk.write_all_at(&bytes, plan.data_offset() + stored).unwrap();
        let mut e = [0u8; ENTRY_SIZE];
        entry.encode(&mut e);
        disk.write_all_at(&e, plan.crc_table_offset() + (i * ENTRY_SIZE) as u64).unwrap();
        stored += entry.padded_len();
    }
    h.set_state(DumpState::Complete);
    h.set_watermark(stream.len() as u64);
    h.set_stored_bytes(stored);
    h.set_scanned([all.len() as u64; 2]);
    h.set_census(&[all.len() as u64 / 2, 0, 0, 0, 0]);
    h.set_generation(10);
    let copy = h.next_generation(&Crc);
    disk.write_all_at(h.as_bytes(), HEADER_COPY_OFFSETS[copy]).unwrap();
    (h, kept)
}

#[test]
fn savecore_of_a_compressed_dump_decompresses_every_chunk_to_its_addresses() {
    let dir = scratch("compressed");
    let img = image(&dir, 64);
    let p = img.to_str().unwrap();
    assert_eq!(cli(&["label", "--disk", p, "--cluster", "7", "--node", "1"]).0, 0);
    let (h, kept) = write_compressed_dump(&img, Damage::None);
    assert!(h.stored_bytes() < h.watermark() / 2, "stored {} of {}", h.stored_bytes(), h.watermark());
    let (code, out) = cli(&["status", "--disk", p]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("codec:            lz4"), "{out}");
    let vmcore = dir.join("vmcore");
    let (code, out) = cli(&["savecore", "--disk", p, "-o", vmcore.to_str().unwrap(), "--json", "--keep"]);
    assert_eq!(code, 0, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((report["complete"].clone(), report["codec"].clone()), (true.into(), "lz4".into()));
    assert_eq!(report["stored_bytes"], h.stored_bytes());
    let data = std::fs::read(&vmcore).unwrap();
    let elf = ElfFile64::<Endianness>::parse(&*data).unwrap();
    let mut covered = std::collections::BTreeSet::new();
    for load in elf.elf_program_headers().iter().filter(|p| p.p_type(Endianness::Little) == object::elf::PT_LOAD) {
        let (paddr, off, size) = (load.p_paddr(Endianness::Little), load.p_offset(Endianness::Little), load.p_filesz(Endianness::Little));
        for page in (0..size).step_by(4096) {
            covered.insert(paddr + page);
            assert_eq!(&data[(off + page) as usize..(off + page + 4096) as usize], &(0..4096).map(|i| ram_byte(paddr + page + i)).collect::<Vec<_>>()[..]);
        }
    }
    assert_eq!(covered, kept.iter().copied().collect(), "the PT_LOADs hold exactly the kept pages");

    for (damage, expect) in [(Damage::StoredByte, "stored bytes fail their checksum"), (Damage::WrongCodec, "lz4 d")] {
        write_compressed_dump(&img, damage);
        let out_path = dir.join("vmcore-damaged");
        let (code, out) = cli(&["savecore", "--disk", p, "-o", out_path.to_str().unwrap()]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("1 of ") && out.contains("chunk 1 (RAM at") && out.contains(expect), "{out}");
        assert_eq!(header_on_disk(&img).state(), DumpState::Complete, "a damaged dump stays unsaved");
        std::fs::remove_file(&out_path).unwrap();
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_encrypted_dump_saves_only_with_its_key_and_a_tampered_chunk_is_caught() {
    let dir = scratch("encrypted");
    let img = image(&dir, 64);
    let p = img.to_str().unwrap();
    assert_eq!(cli(&["label", "--disk", p, "--cluster", "7", "--node", "1"]).0, 0);
    let private = dir.join("admin.key");
    let (code, out) = cli(&["dump-key", "new", "--private", private.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{out}");
    let made: serde_json::Value = serde_json::from_str(&out).unwrap();
    let public_hex = made["public_key"].as_str().unwrap().to_string();
    assert_eq!(std::fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(dir.join("admin.key.pub")).unwrap().trim(), public_hex);
    let public_bytes: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&public_hex[2 * i..2 * i + 2], 16).unwrap()).collect();
    let public = crypto_box::PublicKey::from(<[u8; 32]>::try_from(public_bytes.as_slice()).unwrap());
    let (h, kept) = write_compressed_dump_for(&img, Damage::None, Some(&public));

    // The RAM's bytes appear nowhere on the disk.
    let raw = std::fs::read(&img).unwrap();
    let probe: Vec<u8> = (0..64).map(|i| ram_byte(kept[5] + 512 + i)).collect();
    assert!(!raw.windows(probe.len()).any(|w| w == probe.as_slice()), "RAM in clear on an encrypted dump's disk");
    let (code, out) = cli(&["status", "--disk", p]);
    assert!(code == 0 && out.contains("encrypted") && out.contains(&format!("encrypted for:    {public_hex}")), "{out}");

    let vmcore = dir.join("vmcore");
    let (code, out) = cli(&["savecore", "--disk", p, "-o", vmcore.to_str().unwrap(), "--keep"]);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("encrypted") && out.contains(&public_hex) && out.contains("--key"), "{out}");
    assert!(!vmcore.exists());
    let other = dir.join("other.key");
    assert_eq!(cli(&["dump-key", "new", "--private", other.to_str().unwrap()]).0, 0);
    let (code, out) = cli(&["savecore", "--disk", p, "-o", vmcore.to_str().unwrap(), "--keep", "--key", other.to_str().unwrap()]);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("is not the key this dump is sealed for"), "{out}");

    let (code, out) = cli(&["savecore", "--disk", p, "-o", vmcore.to_str().unwrap(), "--keep", "--json", "--key", private.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((report["complete"].clone(), report["encrypted"].clone()), (true.into(), true.into()));
    assert_eq!(report["saved_bytes"], h.watermark());
    let data = std::fs::read(&vmcore).unwrap();
    assert!(data.windows(probe.len()).any(|w| w == probe.as_slice()), "the RAM is in the vmcore saved with the key");

    // The boot service has no key: it copies the encrypted dump aside and
    // marks the disk saved; the copy opens where the key is.
    let crash = dir.join("crash");
    let (code, out) = cli(&["savecore", "--disk", p, "--crash-dir", crash.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{out}");
    let copied: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((copied["marked_saved"].clone(), copied["sealed_for"].clone()), (true.into(), public_hex.clone().into()));
    assert_eq!(header_on_disk(&img).state(), DumpState::Saved);
    let copy = copied["copy"].as_str().unwrap().to_string();
    assert_eq!(std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777, 0o600);
    let copy_bytes = std::fs::read(&copy).unwrap();
    assert!(!copy_bytes.windows(probe.len()).any(|w| w == probe.as_slice()), "RAM in clear in the copy");
    let vmcore3 = dir.join("vmcore3");
    let (code, out) = cli(&["savecore", "--disk", &copy, "-o", vmcore3.to_str().unwrap(), "--key", private.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(std::fs::read(&vmcore3).unwrap(), data, "the copy saves the same vmcore");

    // A fresh disk (the saved header would be newer than the one written next).
    assert_eq!(cli(&["label", "--force", "--disk", p, "--cluster", "7", "--node", "1"]).0, 0);
    write_compressed_dump_for(&img, Damage::Tampered, Some(&public));
    let (code, out) = cli(&["savecore", "--disk", p, "-o", dir.join("vmcore2").to_str().unwrap(), "--key", private.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("chunk 1 (RAM at") && out.contains("fails authentication"), "{out}");
    assert_eq!(header_on_disk(&img).state(), DumpState::Complete, "a tampered dump stays unsaved");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn discard_marks_the_dump_saved_and_writes_nothing() {
    let dir = scratch("discard");
    let img = image(&dir, 64);
    let p = img.to_str().unwrap();
    assert_eq!(cli(&["label", "--disk", p, "--cluster", "7", "--node", "1"]).0, 0);
    let (code, out) = cli(&["savecore", "--disk", p, "--discard"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no dump"), "{out}");
    write_dump_with(&img, DumpState::Complete, None, &[], |h| {
        h.set_panic_ns(1_700_000_000_000_000_000);
        h.set_end_ns(1_700_000_000_900_000_000);
        h.set_rehearsal(400, 800);
    });
    let (code, out) = cli(&["savecore", "--disk", p, "--discard", "-o", dir.join("x").to_str().unwrap()]);
    assert_eq!(code, 2, "--discard with -o is a usage error: {out}");
    let (code, out) = cli(&["savecore", "--disk", p, "--discard", "--json"]);
    assert_eq!(code, 0, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((report["complete"].clone(), report["marked_saved"].clone()), (true.into(), true.into()));
    let h = header_on_disk(&img);
    assert_eq!(h.state(), DumpState::Saved);
    // A whole dump, discarded: its timing still calibrates the next arming.
    assert_eq!(h.finished_dump_timing(), Some((800, 900)));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "nothing but the image");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn status_and_savecore_print_no_control_character_of_the_dump() {
    let dir = scratch("escape");
    let img = image(&dir, 64);
    let p = img.to_str().unwrap();
    assert_eq!(cli(&["label", "--disk", p, "--cluster", "7", "--node", "1"]).0, 0);
    write_dump(&img, DumpState::Complete, None);
    // A crafted header: a panic message and a release that would retitle
    // the terminal and clear it.
    let mut h = header_on_disk(&img);
    h.set_panic_message("evil\x1b]0;owned\x07\x1b[2J\u{9b}H");
    h.set_kernel_release("6.12\x1b[31m");
    let copy = h.next_generation(&Crc);
    OpenOptions::new().write(true).open(&img).unwrap().write_all_at(h.as_bytes(), HEADER_COPY_OFFSETS[copy]).unwrap();
    let (code, out) = cli(&["status", "--disk", p]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains('\x1b') && !out.contains('\x07') && !out.contains('\u{9b}'), "{out:?}");
    assert!(out.contains("evil\\x1b]0;owned\\x07\\x1b[2J\\u{9b}H") && out.contains("6.12\\x1b[31m"), "{out}");
    let (code, out) = cli(&["savecore", "--disk", p, "-o", dir.join("vmcore").to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out:?}");
    assert!(out.contains("panic: evil\\x1b]0;owned"), "{out}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// `savecore` of `disk` under a 256 MiB address-space limit (as a boot
/// service could run it): its exit status (None: killed by a signal, an
/// allocation it could not make) and its output.
fn savecore_limited(disk: &Path, out: &Path) -> (Option<i32>, String) {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coretakeover"));
    cmd.args(["savecore", "--disk", disk.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs here.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: 256 << 20, rlim_max: 256 << 20 };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    let o = cmd.output().unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
}

/// The first header copy of `img`, as it is on the disk.
fn header_copy_bytes(img: &Path) -> Vec<u8> {
    let mut b = vec![0u8; HEADER_SIZE];
    File::open(img).unwrap().read_exact_at(&mut b, HEADER_COPY_OFFSETS[0]).unwrap();
    b
}

/// Writes `raw`, sealed, as both header copies of `img` (with one valid
/// copy left, a reader rightly takes that one).
fn write_crafted(img: &Path, raw: Vec<u8>) {
    let mut h = Header::from_unchecked(raw);
    let disk = OpenOptions::new().write(true).open(img).unwrap();
    for _ in HEADER_COPY_OFFSETS {
        let copy = h.next_generation(&Crc);
        disk.write_all_at(h.as_bytes(), HEADER_COPY_OFFSETS[copy]).unwrap();
    }
}

/// The crafted images a review ran against savecore (each allocated
/// gigabytes): a chunk of 1 GiB, a dump of 1 TiB without RAM ranges, a
/// 16 MiB page map of alternating pages. Each is refused as damaged, under
/// a memory limit, with nothing written. The images stay in
/// `rust/core/fuzz/corpus/savecore` as the fuzz targets' regression corpus.
#[test]
fn crafted_headers_are_refused_within_bounded_memory() {
    let dir = scratch("crafted");
    let mut cases: Vec<(&str, Box<dyn Fn(&Path)>)> = Vec::new();
    cases.push((
        "chunk-1g",
        Box::new(|img| {
            write_dump(img, DumpState::Complete, None);
            let mut raw = header_on_disk(img).as_bytes().to_vec();
            raw[80..84].copy_from_slice(&(1u32 << 30).to_le_bytes());
            write_crafted(img, raw);
        }),
    ));
    cases.push((
        "no-ranges-1t",
        Box::new(|img| {
            write_dump(img, DumpState::Complete, None);
            let mut raw = header_on_disk(img).as_bytes().to_vec();
            raw[84..88].copy_from_slice(&0u32.to_le_bytes());
            for at in [104, 112, 120] {
                raw[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
            }
            write_crafted(img, raw);
        }),
    ));
    cases.push((
        "page-map-16m",
        Box::new(|img| {
            write_filtered_dump(img, None);
            let h = header_on_disk(img);
            let (map_offset, _) = h.page_map();
            let ram = 512u64 << 30;
            let pages = ram / 4096;
            let pass = coretakeover_core::plan::page_map_pass_bytes(pages);
            let data = (map_offset + 2 * pass).next_multiple_of(1 << 20);
            let mut raw = h.as_bytes().to_vec();
            raw[84..88].copy_from_slice(&1u32.to_le_bytes());
            raw[96..104].copy_from_slice(&data.to_le_bytes());
            raw[104..112].copy_from_slice(&ram.to_le_bytes());
            raw[512..520].copy_from_slice(&0u64.to_le_bytes());
            raw[520..528].copy_from_slice(&ram.to_le_bytes());
            raw[528..536].copy_from_slice(&data.to_le_bytes());
            let mut h = Header::from_unchecked(raw);
            h.set_page_map(Filter::Kernel, map_offset, pass);
            h.set_scanned([pages; 2]);
            let disk = OpenOptions::new().write(true).open(img).unwrap();
            disk.set_len(data + (8 << 20)).unwrap();
            let alternate = vec![0x55u8; 1 << 20];
            for at in (map_offset..map_offset + 2 * pass).step_by(1 << 20) {
                disk.write_all_at(&alternate, at).unwrap();
            }
            write_crafted(img, h.as_bytes().to_vec());
        }),
    ));
    for (name, craft) in &cases {
        let img = dir.join(format!("{name}.img"));
        File::create(&img).unwrap().set_len(64 << 20).unwrap();
        let p = img.to_str().unwrap();
        assert_eq!(cli(&["label", "--disk", p, "--cluster", "7", "--node", "1"]).0, 0);
        craft(&img);
        // The crafted headers, as seeds of the header fuzz target (see
        // rust/core/fuzz/seeds/header).
        if let Some(seeds) = std::env::var_os("CT_FUZZ_SEEDS") {
            let copy = header_copy_bytes(&img);
            std::fs::write(Path::new(&seeds).join(format!("crafted-{name}")), copy).unwrap();
        }
        let out = dir.join(format!("{name}.vmcore"));
        let (code, text) = savecore_limited(&img, &out);
        eprintln!("{name}: exit {code:?}: {}", text.lines().next().unwrap_or(""));
        assert!(code.is_some(), "{name}: savecore was killed (out of memory?): {text}");
        assert_ne!(code, Some(0), "{name}: a crafted dump was saved: {text}");
        assert!(text.contains("damaged") || text.contains("no valid") || text.contains("malformed") || text.contains("no dump"), "{name}: {text}");
        assert!(!out.exists(), "{name}: savecore wrote {}", out.display());
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Small real dumps (version 1 cut after 16 pages, and version 2), which
/// savecore saves, as the seeds of the fuzz target over savecore's read
/// path, in its input layout: the header, then the disk from 1 MiB on
/// (`rust/core/fuzz/fuzz_targets/savecore.rs`). With CT_FUZZ_SAVECORE_SEEDS
/// set to a directory they are written there (`rust/core/fuzz/seeds/savecore`).
#[test]
fn savecore_fuzz_seeds_are_dumps_savecore_saves() {
    let dir = scratch("savecore-seeds");
    let seeds = std::env::var_os("CT_FUZZ_SAVECORE_SEEDS").map(PathBuf::from);
    for name in ["truncated-v1", "filtered-v2"] {
        let img = dir.join(format!("{name}.img"));
        File::create(&img).unwrap().set_len(16 << 20).unwrap();
        let p = img.to_str().unwrap();
        assert_eq!(cli(&["label", "--disk", p, "--cluster", "7", "--node", "1"]).0, 0);
        let h = if name == "truncated-v1" { write_dump(&img, DumpState::Truncated, Some(16 * 4096)) } else { write_filtered_dump(&img, None).0 };
        let end = h.data_offset() + h.watermark();
        // The copy written last (the other is the armed one before it).
        let newest = HEADER_COPY_OFFSETS.iter().map(|&at| {
            let mut b = vec![0u8; HEADER_SIZE];
            File::open(&img).unwrap().read_exact_at(&mut b, at).unwrap();
            b
        }).find(|b| b.as_slice() == h.as_bytes()).expect("the dump's header on the disk");
        let out = dir.join(format!("{name}.vmcore"));
        let (code, text) = cli(&["savecore", "--disk", p, "-o", out.to_str().unwrap(), "--keep"]);
        assert_eq!(code, 0, "{name}: {text}");
        if let Some(seeds) = &seeds {
            let mut seed = newest.clone();
            let mut body = vec![0u8; (end - (1 << 20)) as usize];
            File::open(&img).unwrap().read_exact_at(&mut body, 1 << 20).unwrap();
            seed.extend_from_slice(&body);
            std::fs::write(seeds.join(name), seed).unwrap();
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}
