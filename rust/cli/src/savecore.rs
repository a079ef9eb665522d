// SPDX-License-Identifier: GPL-2.0

//! `coretakeover savecore`: turns the dump on a coredump disk into an ELF
//! vmcore that drgn and crash open.
//!
//! The vmcore has one PT_NOTE (the VMCOREINFO note the module copied into
//! the dump header) and one PT_LOAD per saved RAM range, at its physical
//! address and its direct-map virtual address, as kdump's `/proc/vmcore`
//! has them. Every chunk is checked against its CRC-32C as it is copied.
//!
//! The header is marked `saved` only after the vmcore is on stable storage,
//! and never when anything was wrong: a damaged or unfinished dump stays on
//! the disk as it was.

use crate::coredump::{write_next_generation, Inspection};
use crate::crc::HostCrc;
use crate::disk::{AlignedBuf, Disk};
use crate::error::Error;
use crate::output::{emit, Report};
use coretakeover_core::crc::Crc32c;
use coretakeover_core::header::{flags, DumpState, Header, RamRange};
use coretakeover_core::plan::{phys_of, saved_bytes, ChecksumTable};
use object::elf;
use object::write::elf::{FileHeader, ProgramHeader, Writer};
use object::write::StreamingBuffer;
use serde::Serialize;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// Save the dump on a coredump disk as an ELF vmcore.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The coredump disk (block device or image file).
    #[arg(long)]
    disk: PathBuf,
    /// Where to write the vmcore.
    #[arg(short, long)]
    output: PathBuf,
    /// Leave the dump header as it is (do not mark the dump saved).
    #[arg(long)]
    keep: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
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
    chunks_verified: u64,
    kernel_release: String,
    panic_message: String,
    marked_saved: bool,
}

impl Report for SaveReport {
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let what = if self.complete { "complete dump" } else { "truncated dump" };
        writeln!(
            out,
            "saved {what} of {} ({} of {} MiB, {} segments, {} chunks verified) to {}",
            self.kernel_release,
            self.saved_bytes >> 20,
            self.dump_bytes >> 20,
            self.segments,
            self.chunks_verified,
            self.vmcore
        )?;
        writeln!(out, "panic: {}", self.panic_message)?;
        if self.marked_saved {
            writeln!(out, "{}: dump header marked saved", self.disk)?;
        }
        Ok(())
    }
}

/// A chunk whose checksum did not match, and the RAM it holds.
struct BadChunk {
    index: u64,
    phys: u64,
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

    let ranges: Vec<RamRange> = header.ranges().collect();
    let data_offset = header.data_offset();
    let chunk = u64::from(header.chunk_size());
    let chunks = header.chunks_written();
    let entries = disk.read(header.crc_table_offset(), (chunks * 4) as usize)?;
    let table = ChecksumTable::new(&entries, header.chunk_size(), watermark).map_err(|e| Error::Damaged {
        path: disk.path.clone(),
        reason: format!("{e}"),
        saved: "nothing saved".into(),
    })?;
    let segments: Vec<(RamRange, u64)> = ranges
        .iter()
        .map(|r| (*r, saved_bytes(r, data_offset, watermark)))
        .filter(|(_, saved)| *saved > 0)
        .collect();

    let file = std::fs::File::create(&args.output).map_err(|source| Error::Io { path: args.output.clone(), source })?;
    let mut buffer = StreamingBuffer::new(BufWriter::with_capacity(4 << 20, file));
    let mut bad = Vec::new();
    {
        let mut writer = Writer::new(object::Endianness::Little, true, &mut buffer);
        writer.reserve_file_header();
        writer.reserve_program_headers(1 + segments.len() as u32);
        let note = header.vmcoreinfo();
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
            .map_err(|e| Error::Io { path: args.output.clone(), source: std::io::Error::other(e.to_string()) })?;
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
        let mut offset = first_load;
        for (r, saved) in &segments {
            writer.write_program_header(&ProgramHeader {
                p_type: elf::PT_LOAD,
                p_flags: elf::PF_R | elf::PF_W | elf::PF_X,
                p_offset: offset,
                p_vaddr: header.page_offset().wrapping_add(r.phys),
                p_paddr: r.phys,
                p_filesz: *saved,
                p_memsz: *saved,
                p_align: 0,
            });
            offset += saved;
        }
        writer.pad_until(note_offset);
        writer.write(note);
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
        let mut buf = AlignedBuf::new(chunk as usize);
        for index in 0..chunks {
            let Some(c) = table.chunk(index) else { break };
            disk.read_into(data_offset + c.start, &mut buf)?;
            let data = &buf[..c.len as usize];
            if HostCrc.checksum(data) != c.crc {
                bad.push(BadChunk { index, phys: phys_of(&ranges, data_offset, c.start) });
            }
            writer.write(data);
            progress.inc(c.len);
        }
        progress.finish_and_clear();
    }
    let io = |source| Error::Io { path: args.output.clone(), source };
    buffer.result().map_err(io)?;
    let file = buffer.into_inner().into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;

    let complete = state == DumpState::Complete || (state == DumpState::Saved && header.flags() & flags::SAVED_TRUNCATED == 0);
    if !bad.is_empty() {
        let list: Vec<String> =
            bad.iter().take(8).map(|b| format!("chunk {} (RAM at {:#x})", b.index, b.phys)).collect();
        return Err(Error::Damaged {
            path: disk.path.clone(),
            reason: format!(
                "{} of {chunks} chunks fail their checksum: {}{}",
                bad.len(),
                list.join(", "),
                if bad.len() > 8 { ", ..." } else { "" }
            ),
            saved: format!(
                "{} holds all {} MiB as read, damaged chunks included; the dump header is left unsaved",
                args.output.display(),
                watermark >> 20
            ),
        });
    }

    let mut marked = false;
    if !args.keep && state != DumpState::Saved {
        let mut saved = Header::from_unchecked(header.as_bytes().to_vec());
        saved.set_state(DumpState::Saved);
        if !complete {
            saved.add_flags(flags::SAVED_TRUNCATED);
        }
        write_next_generation(&disk, &mut saved)?;
        marked = true;
    }
    let report = SaveReport {
        vmcore: args.output.display().to_string(),
        disk: args.disk.display().to_string(),
        dump_state: state.as_str(),
        complete,
        saved_bytes: watermark,
        dump_bytes: header.dump_bytes(),
        segments: segments.len(),
        chunks_verified: chunks,
        kernel_release: String::from_utf8_lossy(header.kernel_release()).into_owned(),
        panic_message: String::from_utf8_lossy(header.panic_message()).into_owned(),
        marked_saved: marked,
    };
    emit(&report, args.json, out)
}
