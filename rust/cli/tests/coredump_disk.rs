// SPDX-License-Identifier: GPL-2.0

//! `coretakeover label`, `status --disk` and `savecore` against image files,
//! with dumps written here through the functional core exactly as the
//! module's panic path lays them out.

use coretakeover_core::crc::Crc32c;
use coretakeover_core::header::{copy_for, flags, DumpState, Header, RamRange, HEADER_COPY_OFFSETS, HEADER_SIZE, MAX_RANGES};
use coretakeover_core::label::Label;
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
    let disk = OpenOptions::new().read(true).write(true).open(path).unwrap();
    let mut block = vec![0u8; 128];
    disk.read_exact_at(&mut block, 0).unwrap();
    let label = Label::decode(&block, &Crc).unwrap();
    let mut ranges = [RamRange::default(); MAX_RANGES];
    let n = collect_ranges([(0x1000, 0x9fbff), (0x100000, 0x2fffff)], &mut ranges).unwrap();
    let plan = Plan::new(&mut ranges[..n], CHUNK, disk.metadata().unwrap().len()).unwrap();
    let mut h = Header::new(vec![0u8; HEADER_SIZE]).unwrap();
    h.set_identity(&label.disk_uuid, label.cluster.get(), label.node.get());
    h.set_plan(&plan).unwrap();
    h.set_page_offset(0xffff_8880_0000_0000);
    h.set_vmcoreinfo(0x22e000, &note()).unwrap();
    h.set_kernel_release("6.12.117");
    h.set_panic_message("sysrq triggered crash");
    h.set_panic_cpu(0);
    let watermark = stop.unwrap_or(plan.capacity());
    let pages: Vec<u64> = PageCursor::new(plan.ranges(), watermark).collect();
    let mut stream = Vec::new();
    for phys in pages {
        stream.extend((0..4096).map(|i| ram_byte(phys + i)));
    }
    for (i, chunk) in stream.chunks(CHUNK as usize).enumerate() {
        disk.write_all_at(chunk, plan.data_offset() + i as u64 * u64::from(CHUNK)).unwrap();
        disk.write_all_at(&Crc.checksum(chunk).to_le_bytes(), plan.crc_table_offset() + 4 * i as u64).unwrap();
    }
    h.set_state(state);
    h.set_watermark(watermark);
    h.set_generation(10);
    let copy = h.next_generation(&Crc);
    disk.write_all_at(h.as_bytes(), HEADER_COPY_OFFSETS[copy]).unwrap();
    h
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
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("labeled for cluster 7 node 1") && out.contains("--force"), "{out}");

    let ext4 = dir.join("ext4.img");
    File::create(&ext4).unwrap().set_len(64 << 20).unwrap();
    OpenOptions::new().write(true).open(&ext4).unwrap().write_all_at(&[0x53, 0xef], 1080).unwrap();
    let e = ext4.to_str().unwrap();
    let (code, out) = cli(&["label", "--disk", e, "--cluster", "7", "--node", "2"]);
    assert_eq!(code, 1, "{out}");
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
