// SPDX-License-Identifier: GPL-2.0

//! `coretakeover savecore`: turns the dump on a coredump disk into an ELF
//! vmcore that drgn and crash open.
//!
//! The vmcore has one PT_NOTE and one PT_LOAD per saved RAM range, at its
//! physical address and its direct-map virtual address, as kdump's
//! `/proc/vmcore` has them. Every chunk is checked against its checksum as
//! it is copied.
//!
//! A filtered dump (format version 2) becomes an ELF file *with holes*: one
//! PT_LOAD per run of pages that are consecutive both in RAM and in the
//! dump's stream, sorted by address; a page the filter dropped lies in no
//! PT_LOAD, so drgn and crash report it as absent instead of reading zeros.
//! The file data is the stream as the dump wrote it (kernel pages first),
//! so its size is the bytes the dump kept. makedumpfile's kdump-compressed
//! format would hold the same with a bitmap, but only libkdumpfile-enabled
//! drgn builds read it; ELF is read by every tool. Beyond 65534 runs the
//! program header count moves to section header 0 (`PN_XNUM`), which drgn
//! (libelf) and crash read. The PT_NOTE holds, as kdump's does:
//!
//! - one `NT_PRSTATUS` note per CPU whose registers are known, in CPU order:
//!   the panicking CPU's from the registers the panic path put in the dump
//!   header, every other CPU's from its `crash_notes` buffer in the dump
//!   (the kernel fills it when it stops the CPU, with
//!   `crash_kexec_post_notifiers`); a CPU whose buffer is empty has no note;
//! - the VMCOREINFO note the module copied into the dump header, with the
//!   `CRASHTIME=` line kdump adds (the panic's time, in seconds).
//!
//! What savecore writes is private: see `private_file.rs`.
//!
//! The header is marked `saved` only after the vmcore is on stable storage,
//! and never when anything was wrong: a damaged or unfinished dump stays on
//! the disk as it was.

use crate::coredump::{write_next_generation, Inspection};
use crate::crc::HostCrc;
use crate::disk::{AlignedBuf, Disk, ALIGN};
use crate::error::Error;
use crate::output::{emit, Report};
use crate::private_file::{self, Policy, PrivateFile};
use coretakeover_core::header::{flags, DumpState, Header, RamRange};
use coretakeover_core::notes::{note_registers, parse_crash_note, prstatus_note, PRSTATUS_NOTE_SIZE, RIP, RSP};
use coretakeover_core::codec::{ChunkTable, ChunkTableError, Codec, ENTRY_SIZE};
use coretakeover_core::dumpkey::{associated_data, nonce96, KeyBlock, KEY_BLOCK_OFFSET, KEY_BLOCK_SIZE};
use coretakeover_core::plan::{saved_bytes, ChecksumTable, PageMap, Run, TableError, PAGE_SIZE};
use object::elf;
use object::write::elf::{FileHeader, ProgramHeader, Writer};
use object::write::StreamingBuffer;
use serde::Serialize;
use std::io::{BufWriter, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Save the dump on a coredump disk as an ELF vmcore.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The coredump disk (block device or image file).
    #[arg(long)]
    disk: PathBuf,
    /// Where to write the vmcore (mode 0600; an existing file is refused).
    #[arg(short, long, required_unless_present_any = ["crash_dir", "discard"], conflicts_with = "crash_dir")]
    output: Option<PathBuf>,
    /// Save under DIR/<panic time>/ instead: the vmcore, dmesg.txt (the
    /// dumped kernel's log) and savecore.json (directories made 0700), as
    /// the boot service does with /var/crash.
    #[arg(long, value_name = "DIR")]
    crash_dir: Option<PathBuf>,
    /// Replace an existing vmcore (a new file is renamed over it once complete).
    #[arg(long)]
    force: bool,
    /// Accept an output directory that others can write to.
    #[arg(long)]
    shared_dir: bool,
    /// Leave the dump header as it is (do not mark the dump saved).
    #[arg(long)]
    keep: bool,
    /// Write nothing: mark the dump saved, as one nobody needs (the disk
    /// may be armed again; a whole dump's timing still calibrates the next
    /// arming's model).
    #[arg(long, conflicts_with_all = ["output", "crash_dir", "keep", "key"])]
    discard: bool,
    /// An encrypted dump: the private key its data key is sealed for
    /// (`coretakeover dump-key new`).
    #[arg(long, value_name = "PRIVATE")]
    key: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

impl Args {
    /// `savecore --disk DISK -o OUTPUT --keep --json`: what the fuzz target
    /// over savecore's read path runs (it never marks a header saved).
    pub fn for_image(disk: PathBuf, output: PathBuf) -> Self {
        Self { disk, output: Some(output), crash_dir: None, force: false, shared_dir: false, keep: true, discard: false, key: None, json: true }
    }
}

#[derive(Debug, Serialize)]
struct SaveReport {
    vmcore: String,
    disk: String,
    dump_state: &'static str,
    complete: bool,
    saved_bytes: u64,
    dump_bytes: u64,
    segments: usize,
    /// The dump's page filter ("all": every page).
    filter: &'static str,
    /// The chunk codec ("none": stored as they are), and the bytes the
    /// chunks took on the disk.
    codec: &'static str,
    stored_bytes: u64,
    /// Whether the chunks were encrypted (and decrypted with --key).
    encrypted: bool,
    chunks_verified: u64,
    kernel_release: String,
    panic_message: String,
    /// The panic's time, seconds since the Unix epoch (CRASHTIME).
    crash_time: u64,
    crashed_cpu: Option<u16>,
    /// Every CPU the dump knows of, and whether its registers are in the vmcore.
    cpus: Vec<CpuRegisters>,
    /// With --crash-dir: the dumped kernel's log, or why there is none.
    dmesg: Option<Result<String, String>>,
    marked_saved: bool,
}

/// Whether the vmcore has a CPU's registers, and where they came from.
#[derive(Debug, Serialize)]
struct CpuRegisters {
    cpu: usize,
    /// "panic-path" (the dump header), "crash_notes", or null.
    source: Option<&'static str>,
    pid: Option<u32>,
    rip: Option<String>,
    rsp: Option<String>,
    /// Why there are none.
    missing: Option<String>,
}

impl Report for SaveReport {
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let what = if self.complete { "complete dump" } else { "truncated dump" };
        writeln!(
            out,
            "saved {what} of {} ({} of {} MiB, page filter {}, codec {} ({} MiB on the disk), {} segments, {} chunks verified) to {}",
            crate::output::printable(&self.kernel_release),
            self.saved_bytes >> 20,
            self.dump_bytes >> 20,
            self.filter,
            self.codec,
            self.stored_bytes >> 20,
            self.segments,
            self.chunks_verified,
            self.vmcore
        )?;
        writeln!(out, "panic: {}", crate::output::printable(&self.panic_message))?;
        let saved: Vec<String> = self.cpus.iter().filter(|c| c.source.is_some()).map(|c| c.cpu.to_string()).collect();
        writeln!(out, "registers of CPU {} saved ({} CPUs known)", if saved.is_empty() { "none".into() } else { saved.join(", ") }, self.cpus.len())?;
        for cpu in self.cpus.iter().filter(|c| c.source.is_none()) {
            writeln!(out, "CPU {}: no registers: {}", cpu.cpu, cpu.missing.as_deref().unwrap_or("unknown"))?;
        }
        match &self.dmesg {
            Some(Ok(path)) => writeln!(out, "kernel log: {path}")?,
            Some(Err(why)) => writeln!(out, "kernel log: not written: {why}")?,
            None => {}
        }
        if self.marked_saved {
            writeln!(out, "{}: dump header marked saved", self.disk)?;
        }
        Ok(())
    }
}

/// A chunk that failed its check, the RAM it holds, and why.
struct BadChunk {
    index: u64,
    phys: u64,
    why: String,
}

/// The physical address of byte `offset` of the stream.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<(), Error> {
    let disk = Disk::open(&args.disk, !args.keep)?;
    let inspection = Inspection::read(&disk)?;
    let label = *inspection.require_label(&disk)?;
    let no_dump = |reason: String| Error::NoDump { path: disk.path.clone(), reason };
    let Some(header) = inspection.header() else {
        let why = |c: &Result<Header<Vec<u8>>, _>| c.as_ref().err().map_or(String::new(), |e| format!("{e}"));
        return Err(no_dump(format!(
            "no valid dump header (copy A: {}; copy B: {})",
            why(&inspection.copies[0]),
            why(&inspection.copies[1])
        )));
    };
    if header.disk_uuid() != label.disk_uuid {
        return Err(Error::Damaged {
            path: disk.path.clone(),
            reason: "the dump header belongs to another disk (UUID differs from the label's)".into(),
            saved: "nothing saved".into(),
        });
    }
    let state = header.state();
    if matches!(state, DumpState::Empty | DumpState::Armed) {
        return Err(no_dump(format!("state {}: the owner has not panicked since it was armed", state.as_str())));
    }
    let watermark = header.watermark();
    if watermark == 0 {
        return Err(no_dump(format!("state {}: the dump stopped before any data was recorded", state.as_str())));
    }

    if args.discard {
        let complete = dump_complete(header);
        let marked = mark_saved(&disk, header, complete)?;
        let report = DiscardReport { disk: args.disk.display().to_string(), dump_state: state.as_str(), complete, dump_bytes: watermark, marked_saved: marked };
        return emit(&report, args.json, out);
    }
    if header.flags() & flags::ENCRYPTED != 0 && args.key.is_none() {
        if let Some(crash_dir) = &args.crash_dir {
            // No key here (it stays off the nodes): the encrypted dump is
            // copied as it is, to be opened where the key is.
            return save_encrypted_copy(&disk, header, crash_dir, args, out);
        }
    }
    let ranges: Vec<RamRange> = header.ranges().collect();
    let chunks = header.chunks_written();
    let stream = Stream::open(&disk, header, args.key.as_deref())?;
    let layout = Layout::read(&disk, header, &ranges, watermark)?;

    let (prstatus, cpus) = cpu_registers(&stream, &layout)?;
    let mut note = prstatus;
    note.extend_from_slice(&vmcoreinfo_with_crashtime(header.vmcoreinfo(), header.panic_ns() / 1_000_000_000));

    let policy = Policy { force: args.force, shared_dir: args.shared_dir };
    let (output, dir) = match (&args.output, &args.crash_dir) {
        (Some(output), _) => (output.clone(), None),
        (None, Some(crash_dir)) => {
            let dir = crash_subdir(crash_dir, header.panic_ns(), policy)?;
            (dir.join("vmcore"), Some(dir))
        }
        (None, None) => return Err(Error::InvalidArgument { what: "output", reason: "give -o FILE or --crash-dir DIR".into() }),
    };
    let mut vmcore = PrivateFile::create(&output, policy)?;
    let mut buffer = StreamingBuffer::new(BufWriter::with_capacity(4 << 20, vmcore.file()));
    let mut bad = Vec::new();
    {
        let mut writer = Writer::new(object::Endianness::Little, true, &mut buffer);
        let phnum = u32::try_from(1 + layout.runs.len()).map_err(|_| Error::Damaged {
            path: disk.path.clone(),
            reason: "more RAM runs than an ELF file can describe".into(),
            saved: "nothing saved".into(),
        })?;
        writer.reserve_file_header();
        writer.reserve_program_headers(phnum);
        if phnum >= u32::from(elf::PN_XNUM) {
            writer.reserve_null_section_index();
            writer.reserve_section_headers();
        }
        let note_offset = writer.reserve(note.len() as u64, 4);
        let first_load = writer.reserve(watermark, 4096);
        writer
            .write_file_header(&FileHeader {
                os_abi: elf::ELFOSABI_NONE,
                abi_version: 0,
                e_type: elf::ET_CORE,
                e_machine: elf::EM_X86_64,
                e_entry: 0,
                e_flags: elf::FileFlags(0),
            })
            .map_err(|e| Error::Io { path: output.clone(), source: std::io::Error::other(e.to_string()) })?;
        writer.write_align_program_headers();
        writer.write_program_header(&ProgramHeader {
            p_type: elf::PT_NOTE,
            p_flags: elf::ProgramFlags(0),
            p_offset: note_offset,
            p_vaddr: 0,
            p_paddr: 0,
            p_filesz: note.len() as u64,
            p_memsz: 0,
            p_align: 0,
        });
        for run in &layout.runs {
            let bytes = run.pages * PAGE_SIZE;
            writer.write_program_header(&ProgramHeader {
                p_type: elf::PT_LOAD,
                p_flags: elf::PF_R | elf::PF_W | elf::PF_X,
                p_offset: first_load + run.stream_page * PAGE_SIZE,
                p_vaddr: header.page_offset().wrapping_add(run.phys),
                p_paddr: run.phys,
                p_filesz: bytes,
                p_memsz: bytes,
                p_align: 0,
            });
        }
        if phnum >= u32::from(elf::PN_XNUM) {
            writer.write_null_section_header();
        }
        writer.pad_until(note_offset);
        writer.write(&note);
        writer.pad_until(first_load);

        // A bar for people; none with --json, whose reader is a program.
        let target = if args.json {
            indicatif::ProgressDrawTarget::hidden()
        } else {
            indicatif::ProgressDrawTarget::stderr()
        };
        let progress = indicatif::ProgressBar::with_draw_target(Some(watermark), target).with_style(
            indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        for index in 0..chunks {
            let (start, data, verdict) = stream.chunk(index)?;
            if let Err(why) = verdict {
                bad.push(BadChunk { index, phys: layout.phys_of(start), why });
            }
            writer.write(&data);
            progress.inc(data.len() as u64);
        }
        progress.finish_and_clear();
    }
    let io = |source| Error::Io { path: output.clone(), source };
    buffer.result().map_err(io)?;
    buffer.into_inner().into_inner().map_err(|e| io(e.into_error()))?;
    let output = vmcore.commit()?;

    let complete = dump_complete(header);
    if !bad.is_empty() {
        let list: Vec<String> =
            bad.iter().take(8).map(|b| format!("chunk {} (RAM at {:#x}: {})", b.index, b.phys, b.why)).collect();
        return Err(Error::Damaged {
            path: disk.path.clone(),
            reason: format!(
                "{} of {chunks} chunks fail their check: {}{}",
                bad.len(),
                list.join(", "),
                if bad.len() > 8 { ", ..." } else { "" }
            ),
            saved: format!(
                "{} holds all {} MiB as read, damaged chunks included (a compressed one as zeros); the dump header is left unsaved",
                output.display(),
                watermark >> 20
            ),
        });
    }

    let marked = !args.keep && mark_saved(&disk, header, complete)?;
    let report = SaveReport {
        vmcore: output.display().to_string(),
        disk: args.disk.display().to_string(),
        dump_state: state.as_str(),
        complete,
        saved_bytes: watermark,
        dump_bytes: header.dump_bytes(),
        segments: layout.runs.len(),
        filter: header.filter().as_str(),
        codec: header.codec().as_str(),
        stored_bytes: header.stored_bytes(),
        encrypted: header.flags() & flags::ENCRYPTED != 0,
        chunks_verified: chunks,
        kernel_release: String::from_utf8_lossy(header.kernel_release()).into_owned(),
        panic_message: String::from_utf8_lossy(header.panic_message()).into_owned(),
        crash_time: header.panic_ns() / 1_000_000_000,
        crashed_cpu: Some(header.panic_cpu()).filter(|&c| c != coretakeover_core::header::NO_CPU),
        cpus,
        dmesg: None,
        marked_saved: marked,
    };
    let mut report = report;
    if let Some(dir) = dir {
        let ram = DumpRam::new(&stream, &layout);
        let text = crate::dmesg::vmcoreinfo_text(header.vmcoreinfo());
        report.dmesg = Some(match crate::dmesg::read(&text, &ram, header.page_offset()) {
            Ok(log) => PrivateFile::write_all(&dir.join("dmesg.txt"), policy, log.as_bytes()).map(|p| p.display().to_string()).map_err(|e| e.to_string()),
            Err(why) => Err(why.to_string()),
        });
        let json = serde_json::to_vec_pretty(&report).map_err(std::io::Error::from)?;
        PrivateFile::write_all(&dir.join("savecore.json"), policy, &json)?;
    }
    emit(&report, args.json, out)
}

#[derive(Debug, Serialize)]
struct DiscardReport {
    disk: String,
    dump_state: &'static str,
    complete: bool,
    dump_bytes: u64,
    marked_saved: bool,
}

impl Report for DiscardReport {
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let what = if self.complete { "complete" } else { "truncated" };
        if self.marked_saved {
            writeln!(out, "{}: discarded the {what} dump ({} MiB): marked saved, nothing written", self.disk, self.dump_bytes >> 20)
        } else {
            writeln!(out, "{}: the dump was saved already", self.disk)
        }
    }
}

#[derive(Debug, Serialize)]
struct EncryptedCopyReport {
    copy: String,
    disk: String,
    dump_state: &'static str,
    /// The public key the dump's data key is sealed for.
    sealed_for: String,
    stored_bytes: u64,
    marked_saved: bool,
}

impl Report for EncryptedCopyReport {
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "copied the encrypted dump ({} MiB, sealed for {}) to {}", self.stored_bytes >> 20, self.sealed_for, self.copy)?;
        writeln!(out, "open it where the private key is: coretakeover savecore --disk {} --key PRIVATE -o vmcore", self.copy)?;
        if self.marked_saved {
            writeln!(out, "{}: dump header marked saved", self.disk)?;
        }
        Ok(())
    }
}

/// Copies an encrypted dump, as the disk holds it (label, headers, key
/// block, tables, and the chunks below the watermark), to
/// `crash_dir/<panic time>/coredump.ctd` (0600), then marks the disk's dump
/// saved: the boot service's savecore, which has no key.
fn save_encrypted_copy(disk: &Disk, header: &Header<Vec<u8>>, crash_dir: &Path, args: &Args, out: &mut dyn Write) -> Result<(), Error> {
    let raw = disk.read(KEY_BLOCK_OFFSET, KEY_BLOCK_SIZE)?;
    let block = KeyBlock::decode(&raw, &HostCrc).map_err(|e| Error::Damaged {
        path: disk.path.clone(),
        reason: format!("encrypted, but its key block is unreadable: {e}"),
        saved: "nothing saved".into(),
    })?;
    let policy = Policy { force: args.force, shared_dir: args.shared_dir };
    let dir = crash_subdir(crash_dir, header.panic_ns(), policy)?;
    let path = dir.join("coredump.ctd");
    let end = header.data_offset().saturating_add(header.stored_bytes()).next_multiple_of(ALIGN as u64).min(disk.size());
    let mut copy = PrivateFile::create(&path, policy)?;
    let piece = 4usize << 20;
    let mut at = 0u64;
    while at < end {
        let len = piece.min((end - at) as usize);
        let buf = disk.read(at, len)?;
        copy.file().write_all(&buf[..len]).map_err(|source| Error::Io { path: path.clone(), source })?;
        at += len as u64;
    }
    let copied = copy.commit()?;
    let state = header.state();
    let marked = !args.keep && mark_saved(disk, header, dump_complete(header))?;
    let report = EncryptedCopyReport {
        copy: copied.display().to_string(),
        disk: args.disk.display().to_string(),
        dump_state: state.as_str(),
        sealed_for: crate::dumpkey::hex(&block.public),
        stored_bytes: header.stored_bytes(),
        marked_saved: marked,
    };
    emit(&report, args.json, out)
}

/// Whether the dump is whole: complete, or saved and not truncated.
fn dump_complete(header: &Header<Vec<u8>>) -> bool {
    let state = header.state();
    state == DumpState::Complete || (state == DumpState::Saved && header.flags() & flags::SAVED_TRUNCATED == 0)
}

/// Marks the dump saved (the header's next generation), flagged truncated
/// unless `complete`. False when it was saved already.
fn mark_saved(disk: &Disk, header: &Header<Vec<u8>>, complete: bool) -> Result<bool, Error> {
    if header.state() == DumpState::Saved {
        return Ok(false);
    }
    let mut saved = Header::from_unchecked(header.as_bytes().to_vec());
    saved.set_state(DumpState::Saved);
    if !complete {
        saved.add_flags(flags::SAVED_TRUNCATED);
    }
    write_next_generation(disk, &mut saved)?;
    Ok(true)
}

/// Saves the dump on `disk` under `crash_dir` (the boot service's savecore).
pub fn save_to_crash_dir(disk: &Path, crash_dir: &Path, json: bool, out: &mut dyn Write) -> Result<(), Error> {
    let args = Args {
        disk: disk.to_path_buf(),
        output: None,
        crash_dir: Some(crash_dir.to_path_buf()),
        force: false,
        shared_dir: false,
        keep: false,
        json,
        key: None,
        discard: false,
    };
    run(&args, out)
}

/// The dumped RAM, read from the disk page by page (and kept: the log's
/// walk reads the same pages many times).
struct DumpRam<'a> {
    stream: &'a Stream<'a>,
    layout: &'a Layout,
    pages: std::cell::RefCell<std::collections::HashMap<u64, Option<Vec<u8>>>>,
}

impl<'a> DumpRam<'a> {
    fn new(stream: &'a Stream<'a>, layout: &'a Layout) -> Self {
        Self { stream, layout, pages: Default::default() }
    }

    fn page(&self, phys: u64) -> Option<Vec<u8>> {
        let page = phys & !(ALIGN as u64 - 1);
        let mut pages = self.pages.borrow_mut();
        pages
            .entry(page)
            .or_insert_with(|| read_ram(self.stream, self.layout, page, ALIGN).ok().flatten())
            .clone()
    }
}

impl crate::dmesg::Ram for DumpRam<'_> {
    fn read(&self, phys: u64, len: usize) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(len);
        let mut at = phys;
        while out.len() < len {
            let page = self.page(at)?;
            let offset = (at % ALIGN as u64) as usize;
            let take = (ALIGN - offset).min(len - out.len());
            out.extend_from_slice(page.get(offset..offset + take)?);
            at += take as u64;
        }
        Some(out)
    }
}

/// The `NT_PRSTATUS` notes of every CPU whose registers the dump holds, in
/// CPU order, and what is known of each CPU.
fn cpu_registers(stream: &Stream<'_>, layout: &Layout) -> Result<(Vec<u8>, Vec<CpuRegisters>), Error> {
    let header = stream.header;
    let panic_cpu = Some(usize::from(header.panic_cpu())).filter(|&c| c != usize::from(coretakeover_core::header::NO_CPU));
    let count = header.cpu_count().max(panic_cpu.map_or(0, |c| c + 1));
    let note_size = (header.cpu_note_size() as usize).clamp(PRSTATUS_NOTE_SIZE, ALIGN);
    let stopped_expected = header.flags() & flags::STOPPED_CPU_REGISTERS != 0;
    let mut notes = Vec::new();
    let mut cpus = Vec::new();
    for cpu in 0..count {
        let found: Result<(Vec<u8>, &'static str), String> = if Some(cpu) == panic_cpu {
            header
                .panic_registers()
                .map(|r| (prstatus_note(&r).to_vec(), "panic-path"))
                .ok_or_else(|| "the panic path saved none (a dump made before registers were saved)".to_string())
        } else if let Some(phys) = header.cpu_note(cpu) {
            read_ram(stream, layout, phys, note_size)?
                .ok_or_else(|| format!("its crash_notes at {phys:#x} are not in the saved part of the dump"))
                .and_then(|buf| {
                    parse_crash_note(&buf).map(|n| (n.to_vec(), "crash_notes")).map_err(|e| {
                        let hint = if stopped_expected { "" } else { " (crash_kexec_post_notifiers was off when armed)" };
                        format!("crash_notes {e}{hint}")
                    })
                })
        } else {
            Err("no crash_notes recorded for it".into())
        };
        cpus.push(match found {
            Ok((note, source)) => {
                let regs = note_registers(&note);
                notes.extend_from_slice(&note);
                CpuRegisters {
                    cpu,
                    source: Some(source),
                    pid: regs.map(|r| r.pid),
                    rip: regs.map(|r| format!("{:#x}", r.regs[RIP])),
                    rsp: regs.map(|r| format!("{:#x}", r.regs[RSP])),
                    missing: None,
                }
            }
            Err(why) => CpuRegisters { cpu, source: None, pid: None, rip: None, rsp: None, missing: Some(why) },
        });
    }
    Ok((notes, cpus))
}

/// `len` bytes of RAM at `phys` as the dump holds them, if saved.
fn read_ram(stream: &Stream<'_>, layout: &Layout, phys: u64, len: usize) -> Result<Option<Vec<u8>>, Error> {
    let Some(at) = layout.stream_offset(phys, len as u64) else { return Ok(None) };
    stream.read(at, len)
}

/// The dump's stream as the disk holds it: as it is, with a checksum table
/// (versions 1 and 2), or chunk by chunk, stored or compressed, with a
/// chunk table (version 3).
struct Stream<'a> {
    disk: &'a Disk,
    header: &'a Header<Vec<u8>>,
    /// The table's entries below the watermark.
    entries: AlignedBuf,
    /// Version 3: the chunk decompressed last (random reads come in runs).
    last: std::cell::RefCell<Option<(u64, Vec<u8>)>>,
    /// An encrypted dump's data key.
    key: Option<crate::dumpkey::DataKey>,
}

impl<'a> Stream<'a> {
    fn open(disk: &'a Disk, header: &'a Header<Vec<u8>>, private: Option<&Path>) -> Result<Self, Error> {
        let damaged = |reason: String| Error::Damaged { path: disk.path.clone(), reason, saved: "nothing saved".into() };
        // Everything the header places must lie on this disk before
        // anything is read (or allocated) for it: the tables and the page
        // map lie below the data offset, the data above it.
        let size = disk.size();
        if header.data_offset() > size {
            return Err(damaged(format!("the header puts the data at byte {}, beyond the disk's {size}", header.data_offset())));
        }
        if !header.has_chunk_table() && header.watermark() > size - header.data_offset() {
            return Err(damaged(format!("the header says {} bytes were written, the disk's data area has {}", header.watermark(), size - header.data_offset())));
        }
        let chunks = header.chunks_written();
        let entries = disk.read(header.crc_table_offset(), (chunks * header.table_entry_size()) as usize)?;
        let key = if header.flags() & flags::ENCRYPTED != 0 {
            if !header.has_chunk_table() {
                return Err(damaged("the header says encrypted but has no chunk table".into()));
            }
            let raw = disk.read(KEY_BLOCK_OFFSET, KEY_BLOCK_SIZE)?;
            let block = KeyBlock::decode(&raw, &HostCrc).map_err(|e| damaged(format!("encrypted, but its key block is unreadable: {e}")))?;
            if block.disk_uuid != header.disk_uuid() || block.armed_ns != header.armed_ns() {
                return Err(damaged("encrypted, but the key block belongs to another arming than the dump header".into()));
            }
            let Some(private) = private else {
                return Err(Error::Refused {
                    path: disk.path.clone(),
                    reason: format!(
                        "the dump is encrypted, its data key sealed for public key {}: give --key with the matching private key",
                        crate::dumpkey::hex(&block.public)
                    ),
                });
            };
            Some(crate::dumpkey::DataKey::open(&block, private).map_err(|reason| Error::Refused { path: disk.path.clone(), reason })?.for_chunks(&block))
        } else {
            if private.is_some() {
                return Err(Error::InvalidArgument { what: "--key", reason: "the dump is not encrypted".into() });
            }
            None
        };
        let stream = Self { disk, header, entries, last: Default::default(), key };
        if header.has_chunk_table() {
            let area = disk.size().saturating_sub(header.data_offset());
            if header.stored_bytes() > area {
                return Err(damaged(format!("the chunks take {} bytes, the disk's data area has {area}", header.stored_bytes())));
            }
            stream.chunk_table().map_err(|e| damaged(format!("{e}")))?;
        } else {
            stream.checksum_table().map_err(|e| damaged(format!("{e}")))?;
        }
        Ok(stream)
    }

    fn checksum_table(&self) -> Result<ChecksumTable<'_>, TableError> {
        ChecksumTable::new(&self.entries, self.header.chunk_size(), self.header.watermark())
    }

    fn chunk_table(&self) -> Result<ChunkTable<'_>, ChunkTableError> {
        ChunkTable::new(&self.entries, self.header.chunk_size(), self.header.watermark(), self.header.stored_bytes())
    }

    /// Chunk `index`: its stream offset, its stream bytes, and whether they
    /// passed their checks (a chunk that fails is given as read; a
    /// compressed one that fails, as zeros).
    fn chunk(&self, index: u64) -> Result<(u64, Vec<u8>, Result<(), String>), Error> {
        let h = self.header;
        let chunk = u64::from(h.chunk_size());
        let start = index * chunk;
        let len = chunk.min(h.watermark().saturating_sub(start)) as usize;
        let checksum = h.chunk_checksum();
        if !h.has_chunk_table() {
            let c = self.checksum_table().ok().and_then(|t| t.chunk(index));
            let buf = self.disk.read(h.data_offset() + start, len)?;
            let data = buf[..len].to_vec();
            let verdict = match c {
                Some(c) if checksum.compute(&HostCrc, &data) == c.crc => Ok(()),
                _ => Err("fails its checksum".to_string()),
            };
            return Ok((start, data, verdict));
        }
        let failed = |why: String| Ok((start, vec![0u8; len], Err(why)));
        let c = match self.chunk_table().ok().and_then(|t| t.chunk(index)) {
            Some(Ok(c)) => c,
            Some(Err(e)) => return failed(format!("{e}")),
            None => return failed("beyond the chunk table".into()),
        };
        let stored_len = c.entry.stored_len as usize;
        let buf = self.disk.read(h.data_offset() + c.disk, stored_len)?;
        let stored = &buf[..stored_len];
        if checksum.compute(&HostCrc, stored) != c.entry.checksum {
            return failed(format!("its {} stored bytes fail their checksum", stored_len));
        }
        let mut plain;
        let stored: &[u8] = match &self.key {
            Some(key) => {
                use chacha20poly1305::aead::{AeadInPlace, KeyInit};
                let mut raw = [0u8; ENTRY_SIZE];
                c.entry.encode(&mut raw);
                let cipher = chacha20poly1305::ChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(&key.0));
                plain = stored.to_vec();
                let nonce = nonce96(index);
                let authentic = cipher.decrypt_in_place_detached(
                    chacha20poly1305::Nonce::from_slice(&nonce),
                    &associated_data(&raw),
                    &mut plain,
                    chacha20poly1305::Tag::from_slice(&c.entry.tag),
                );
                if authentic.is_err() {
                    return failed("fails authentication: tampered with (or its entry was)".into());
                }
                &plain
            }
            None => stored,
        };
        let mut data = vec![0u8; len];
        let decoded = match c.entry.codec {
            Codec::None => {
                data.copy_from_slice(stored);
                Ok(len)
            }
            Codec::Lz4 => lz4_flex::block::decompress_into(stored, &mut data).map_err(|e| e.to_string()),
            Codec::Zstd => ruzstd::decoding::FrameDecoder::new().decode_all(stored, &mut data).map_err(|e| e.to_string()),
        };
        match decoded {
            Ok(n) if n == len => Ok((start, data, Ok(()))),
            Ok(n) => failed(format!("{} decompresses to {n} bytes, not {len}", c.entry.codec.as_str())),
            Err(e) => failed(format!("{} does not decompress: {e}", c.entry.codec.as_str())),
        }
    }

    /// `len` bytes of the stream at `offset`, if every chunk they lie in
    /// passed its checks (version 3; versions 1 and 2 read as they are).
    fn read(&self, offset: u64, len: usize) -> Result<Option<Vec<u8>>, Error> {
        let h = self.header;
        if !h.has_chunk_table() {
            let at = h.data_offset() + offset;
            let start = at - at % ALIGN as u64;
            let skip = (at - start) as usize;
            let buf = self.disk.read(start, skip + len)?;
            return Ok(buf.get(skip..skip + len).map(<[u8]>::to_vec));
        }
        let chunk = u64::from(h.chunk_size()).max(1);
        let mut out = Vec::with_capacity(len);
        let mut at = offset;
        while out.len() < len {
            let index = at / chunk;
            let cached = matches!(&*self.last.borrow(), Some((i, _)) if *i == index);
            if !cached {
                let (_, data, verdict) = self.chunk(index)?;
                if verdict.is_err() {
                    return Ok(None);
                }
                *self.last.borrow_mut() = Some((index, data));
            }
            let last = self.last.borrow();
            let Some((_, data)) = last.as_ref() else { return Ok(None) };
            let within = (at - index * chunk) as usize;
            let take = (data.len().saturating_sub(within)).min(len - out.len());
            if take == 0 {
                return Ok(None);
            }
            out.extend_from_slice(&data[within..within + take]);
            at += take as u64;
        }
        Ok(Some(out))
    }
}

/// Where the saved RAM lies in the dump's stream: runs of pages, sorted by
/// address. A version 1 dump has one run per saved RAM range; a filtered
/// one, what its page map says.
struct Layout {
    runs: Vec<Run>,
}

impl Layout {
    fn read(disk: &Disk, header: &Header<Vec<u8>>, ranges: &[RamRange], watermark: u64) -> Result<Self, Error> {
        let damaged = |reason: String| Error::Damaged { path: disk.path.clone(), reason, saved: "nothing saved".into() };
        let data_offset = header.data_offset();
        let mut runs: Vec<Run> = if header.has_page_map() {
            let (offset, pass_bytes) = header.page_map();
            let len = usize::try_from(pass_bytes).map_err(|_| damaged("page map too large".into()))?;
            let map = disk.read(offset, 2 * len)?;
            let (pass0, pass1) = map.split_at(len);
            let map = PageMap::new(ranges, [pass0, &pass1[..len]], header.scanned())
                .ok_or_else(|| damaged("the page map does not match the RAM ranges".into()))?;
            // The runs are collected only as far as the watermark: a page
            // map that lists more pages than were written stops here, its
            // list never longer than the pages on the disk.
            let written = watermark / PAGE_SIZE;
            let mut runs = Vec::new();
            let mut pages = 0u64;
            for run in map.runs() {
                pages = pages.saturating_add(run.pages);
                if pages > written {
                    return Err(damaged(format!("the page map lists more pages than the watermark's {written}")));
                }
                runs.push(run);
            }
            if pages != written || watermark % PAGE_SIZE != 0 {
                return Err(damaged(format!(
                    "the page map lists {pages} pages, the watermark {} bytes ({} pages)",
                    watermark,
                    watermark / PAGE_SIZE
                )));
            }
            runs
        } else {
            ranges
                .iter()
                .map(|r| (r, saved_bytes(r, data_offset, watermark)))
                .filter(|(_, saved)| *saved > 0)
                .map(|(r, saved)| Run { phys: r.phys, pages: saved / PAGE_SIZE, stream_page: (r.disk_offset - data_offset) / PAGE_SIZE })
                .collect()
        };
        runs.sort_by_key(|r| r.phys);
        Ok(Self { runs })
    }

    /// The stream offset of the `len` bytes of RAM at `phys`, if one run
    /// holds them all.
    fn stream_offset(&self, phys: u64, len: u64) -> Option<u64> {
        let i = self.runs.partition_point(|r| r.phys <= phys).checked_sub(1)?;
        let r = self.runs.get(i)?;
        let within = phys - r.phys;
        (within.checked_add(len)? <= r.pages * PAGE_SIZE).then(|| r.stream_page * PAGE_SIZE + within)
    }

    /// The RAM address of byte `offset` of the stream (0 if no run holds it).
    fn phys_of(&self, offset: u64) -> u64 {
        let page = offset / PAGE_SIZE;
        self.runs
            .iter()
            .find(|r| (r.stream_page..r.stream_page + r.pages).contains(&page))
            .map_or(0, |r| r.phys + (page - r.stream_page) * PAGE_SIZE + offset % PAGE_SIZE)
    }
}

/// The VMCOREINFO note with the `CRASHTIME=` line kdump adds at the panic.
fn vmcoreinfo_with_crashtime(note: &[u8], crash_time: u64) -> Vec<u8> {
    let word = |at: usize| note.get(at..at + 4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let (namesz, descsz) = (word(0), word(4));
    let desc_at = 12 + namesz.next_multiple_of(4);
    let (Some(head), Some(desc)) = (note.get(..desc_at), note.get(desc_at..desc_at + descsz)) else { return note.to_vec() };
    if crash_time == 0 || desc.windows(10).any(|w| w == b"CRASHTIME=") {
        return note.to_vec();
    }
    let mut text = desc.to_vec();
    text.extend_from_slice(format!("CRASHTIME={crash_time}\n").as_bytes());
    let mut out = head.to_vec();
    out[4..8].copy_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(&text);
    out.resize(out.len().next_multiple_of(4), 0);
    out
}

/// DIR/<panic time, UTC>/, made 0700 (and DIR itself if it is missing); a
/// second dump of the same second gets a suffix.
fn crash_subdir(crash_dir: &Path, panic_ns: u64, policy: Policy) -> Result<PathBuf, Error> {
    private_file::create_dir(crash_dir, policy)?;
    let stamp = utc_stamp(panic_ns / 1_000_000_000);
    for n in 0..100 {
        let dir = if n == 0 { crash_dir.join(&stamp) } else { crash_dir.join(format!("{stamp}-{n}")) };
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(Error::Io { path: dir, source }),
        }
    }
    Err(Error::Refused { path: crash_dir.to_path_buf(), reason: format!("100 dumps saved at {stamp} already") })
}

/// `YYYYMMDD-HHMMSS` (UTC) of a Unix time, as kdump-tools names its
/// directories (with seconds).
fn utc_stamp(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Days to a civil date (Howard Hinnant's algorithm, proleptic Gregorian).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}-{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_directories_are_named_by_the_utc_time() {
        assert_eq!(utc_stamp(0), "19700101-000000");
        assert_eq!(utc_stamp(951_782_400), "20000229-000000");
        assert_eq!(utc_stamp(1_796_182_245), "20261202-033045");
    }

    #[test]
    fn crashtime_is_appended_once_and_the_note_stays_aligned() {
        let desc = b"OSRELEASE=6.12\n";
        let mut note = Vec::new();
        note.extend_from_slice(&11u32.to_le_bytes());
        note.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        note.extend_from_slice(&0u32.to_le_bytes());
        note.extend_from_slice(b"VMCOREINFO\0\0");
        note.extend_from_slice(desc);
        note.resize(note.len().next_multiple_of(4), 0);
        let with = vmcoreinfo_with_crashtime(&note, 1_796_182_245);
        let text = b"OSRELEASE=6.12\nCRASHTIME=1796182245\n";
        assert_eq!(u32::from_le_bytes(with[4..8].try_into().unwrap()) as usize, text.len());
        assert_eq!(&with[24..24 + text.len()], text);
        assert_eq!(with.len() % 4, 0);
        assert_eq!(vmcoreinfo_with_crashtime(&with, 5), with, "a second CRASHTIME");
        assert_eq!(vmcoreinfo_with_crashtime(&note, 0), note, "no panic time");
    }
}
