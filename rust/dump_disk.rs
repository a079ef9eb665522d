// SPDX-License-Identifier: GPL-2.0

//! Arming and disarming the coredump disk (process context).
//!
//! Arming checks everything the panic path will rely on, so that nothing can
//! be found wrong after a panic: the label (this cluster, this node), polled
//! I/O, no I/O scheduler, the queue limits (which size the unsplittable
//! bios), no unsaved dump on the disk. It then preallocates everything the
//! panic path needs (`PanicState`), chooses the chunk checksum by measuring
//! both, rehearses the first 8 MiB of the dump through the panic path's own
//! pipeline (its rate predicts the dump's time), records the RAM ranges, the
//! VMCOREINFO note, the plan and the prediction in the header, and writes it
//! with state `armed`. Any failure leaves the label, header and heartbeat as
//! they were (the rehearsal writes only into the data area, which holds no
//! unsaved dump).

use crate::bdev::{allocated, BlockDevice, IoBuf, NamedDisk, PAGE};
use crate::crc::KernelCrc;
use crate::compress::Compressor;
use crate::ct_core::checksum::{ChecksumChoice, ChunkChecksum};
use crate::ct_core::codec::{Codec, CodecChoice};
use crate::ct_core::dumpkey::{DumpKey, KeyBlock, KEY_BLOCK_OFFSET};
use crate::ct_core::config::NodeConfig;
use crate::ct_core::header::{flags, newest, DumpState, Header, RamRange, HEADER_COPY_OFFSETS, HEADER_SIZE, MAX_CPUS, MAX_RANGES, MAX_VMCOREINFO};
use crate::ct_core::heartbeat::{Heartbeat, Liveness, HEARTBEAT_SIZE};
use crate::ct_core::keys::RegistrationKey;
use crate::ct_core::label::{Label, LabelError, LABEL_OFFSET};
use crate::ct_core::pagefilter::{Class, Filter, PageLayout, Walker};
use crate::ct_core::scheme::{calibrated_rate, calibration_x1024, Model};
use crate::ct_core::plan::{collect_ranges, Plan, HEARTBEAT_OFFSET};
use crate::panic_dump::{self, Bitmap, DumpTarget, Encryption, Filtering, MemmapReader, PanicState, Rehearsal, Slot, MAP_BIO_PAGES};
use crate::polled_bio::PolledBio;
use crate::refusal::{Outcome, Refusal};
use crate::shims;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::bindings;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;
use kernel::c_str;
use kernel::fmt;
use kernel::str::{CStr, CString};

/// The most bios in flight at once in the panic path (the
/// `dump_bios_in_flight` knob is 1..=this).
pub(crate) const MAX_BIOS_IN_FLIGHT: u32 = 8;
/// The largest chunk (one bio) the panic path writes, in pages.
pub(crate) const MAX_CHUNK_PAGES: u32 = 32;

/// The holder of our exclusive opens: any unique address will do.
static HOLDER: u8 = 0;

/// The heartbeat's sequence number: it only grows, across armings too.
static HEARTBEAT_SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// An armed coredump disk and everything the panic path needs for it. While
/// it lives, its target is the panic path's: dropping it withdraws the
/// target first.
pub(crate) struct DumpContext {
    disk: NamedDisk,
    reserved_bytes: usize,
    /// The chunk checksum and the rates it was chosen by.
    checksum: ChecksumProbe,
    target: DumpTarget,
    /// The model's table, for a dump with a page map.
    plan: Option<PlanTable>,
    /// A compressed dump's codec; whether the dump is encrypted.
    codec: Option<Codec>,
    encrypted: bool,
}

/// The model's predictions at arming, filter by filter (by number).
pub(crate) struct PlanTable {
    pub(crate) rows: [Option<PlanRow>; 4],
    pub(crate) budget_ms: u32,
    /// From the disk's earlier dump: (its predicted ms, its measured ms,
    /// the factor ×1024 applied to this arming's writes).
    pub(crate) calibration: Option<(u32, u32, u32)>,
    /// A compressed dump's codecs, as measured and predicted (by number).
    pub(crate) codecs: [Option<CodecRow>; 3],
}

/// A codec arming measured, and the model's choice with it.
pub(crate) struct CodecRow {
    pub(crate) codec: Codec,
    /// Stored bytes per stream byte ×1024, by `scheme::Bucket` (kernel
    /// pages, page cache and user pages, free pages).
    pub(crate) store_x1024: [u64; 3],
    /// Its rate on the kernel pages' sample (the slowest), MiB/s.
    pub(crate) mib_s: u64,
    pub(crate) stack_bytes: u64,
    /// The filter the model chose with it, and its prediction.
    pub(crate) filter: Filter,
    pub(crate) ms: u64,
    pub(crate) mib: u64,
    pub(crate) chosen: bool,
}

pub(crate) struct PlanRow {
    pub(crate) filter: Filter,
    pub(crate) ms: u64,
    pub(crate) mib: u64,
    pub(crate) verdict: &'static str,
}

/// The chunk checksum chosen at arming, and what the probe measured.
#[derive(Clone, Copy)]
pub(crate) struct ChecksumProbe {
    pub(crate) chosen: ChunkChecksum,
    pub(crate) crc32c_mib_s: u32,
    pub(crate) xxh64_mib_s: u32,
}

/// Bytes each round of the checksum probe covers, and the rounds: the
/// fastest round counts, so a round slowed by an interrupt or preemption
/// does not.
const PROBE_BYTES: usize = 1 << 20;
const PROBE_ROUNDS: usize = 4;
/// The bytes of the dump that each round of arming's rehearsal writes, and
/// the rounds.
const REHEARSAL_BYTES: u64 = 8 << 20;
const REHEARSAL_ROUNDS: usize = 2;

/// Measures what CRC-32C and xxh64 cost on this node, over `buf` (a bounce
/// buffer of the panic path, filled here with varied bytes), in MiB/s.
fn probe_checksums(buf: &mut [u8]) -> (u32, u32) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = ((i as u32).wrapping_mul(2_654_435_761) >> 24) as u8;
    }
    let buf: &[u8] = buf;
    let rate = |f: ChunkChecksum| -> u32 {
        if buf.is_empty() {
            return 0;
        }
        let mut best = u64::MAX;
        for _ in 0..PROBE_ROUNDS {
            // SAFETY: Reads the clock.
            let start = unsafe { bindings::ktime_get() };
            let mut done = 0;
            let mut sink = 0u32;
            while done < PROBE_BYTES {
                sink ^= f.compute(&KernelCrc, buf);
                done += buf.len();
            }
            core::hint::black_box(sink);
            // SAFETY: Reads the clock.
            let ns = unsafe { bindings::ktime_get() }.saturating_sub(start).max(1) as u64;
            best = best.min(ns * (PROBE_BYTES as u64) / done as u64);
        }
        // MiB/s = PROBE_BYTES / best ns, scaled.
        u32::try_from((PROBE_BYTES as u64 * 1_000_000_000 / best.max(1)) >> 20).unwrap_or(u32::MAX)
    };
    (rate(ChunkChecksum::Crc32c), rate(ChunkChecksum::Xxh64))
}

impl DumpContext {
    /// The path the administrator gave.
    pub(crate) fn path(&self) -> &str {
        self.disk.path()
    }

    /// The chunk checksum of this arming and the probe's figures.
    pub(crate) fn checksum(&self) -> ChecksumProbe {
        self.checksum
    }

    /// The model's table (a dump with a page map only).
    pub(crate) fn plan(&self) -> Option<&PlanTable> {
        self.plan.as_ref()
    }

    /// Memory held while armed, as kmalloc gave it: bounce buffers, header
    /// and table buffers, bios, the range table, this context.
    /// A compressed (or encrypted) dump's codec in force.
    pub(crate) fn codec(&self) -> Option<Codec> {
        self.codec
    }

    /// Whether the armed dump is encrypted.
    pub(crate) fn encrypted(&self) -> bool {
        self.encrypted
    }

    pub(crate) fn reserved_bytes(&self) -> usize {
        self.reserved_bytes
    }

    /// Writes this node's next heartbeat, saying `liveness` and the interval
    /// at which the next ones come (process context).
    /// Writes this node's heartbeat: `holds_disks_of` names the partner
    /// whose disks this node holds after a takeover (0: none), so that a
    /// partner fenced while hung learns it as soon as it runs again.
    pub(crate) fn write_heartbeat(&self, key: RegistrationKey, liveness: Liveness, interval_ms: u32, holds_disks_of: u16) -> Result {
        let (cluster, node) = key.decode().map_or((0, 0), |(c, n)| (c.get(), n.get()));
        let beat = Heartbeat {
            cluster,
            node,
            liveness,
            interval_ms,
            sequence: HEARTBEAT_SEQUENCE.fetch_add(1, Ordering::Relaxed) + 1,
            written_ns: wall_ns(),
            holds_disks_of,
        };
        let mut block = IoBuf::new(PAGE)?;
        if let Some(dst) = block.as_mut_slice().get_mut(..HEARTBEAT_SIZE) {
            dst.copy_from_slice(&beat.encode(&KernelCrc));
        }
        self.disk.dev.write(HEARTBEAT_OFFSET, &mut block)
    }
}

impl Drop for DumpContext {
    fn drop(&mut self) {
        // Before the disk closes and the buffers go.
        panic_dump::withdraw(&self.target);
    }
}

/// Reads the coredump label of `dev`: an I/O error, or what the label
/// block holds.
pub(crate) fn read_label(dev: &BlockDevice) -> Result<core::result::Result<Label, LabelError>> {
    let mut block = IoBuf::new(PAGE)?;
    dev.read(LABEL_OFFSET, &mut block)?;
    Ok(Label::decode(block.as_slice(), &KernelCrc))
}

/// The wall clock (process context), noted for the panic path's own
/// (`panic_dump::note_wall_clock`).
fn wall_ns() -> u64 {
    // SAFETY: Lock-free clock read.
    let ns = unsafe { bindings::ktime_get_real_fast_ns() };
    crate::panic_dump::note_wall_clock(ns);
    ns
}

/// Whether `dev` carries a coretakeover coredump label (of any node).
pub(crate) fn carries_label(dev: &BlockDevice) -> bool {
    matches!(read_label(dev), Ok(Ok(_)))
}

/// Whether `dev` carries a coredump label, or `None` if it cannot be read.
pub(crate) fn label_present(dev: &BlockDevice) -> Option<bool> {
    read_label(dev).ok().map(|l| l.is_ok())
}

/// An errno that `kernel::error::code` does not name.
fn errno(code: u32) -> Error {
    Error::from_errno(-(code as c_int))
}

/// Logs why arming failed and returns the error.
fn refuse(e: Error, path: &str, why: core::fmt::Arguments<'_>) -> Refusal {
    crate::refusal::refuse!(e, "dump_disk: refused {}: {}", path, why)
}

/// Reads both header copies; returns the newest valid one's state and
/// generation (an unarmed disk has none: `(Empty, 0)`).
/// The newest header's state and generation, and what its dump, if one was
/// saved whole, says of the prediction (`Header::finished_dump_timing`).
fn read_newest_header(disk: &BlockDevice) -> Result<(DumpState, u64, Option<(u32, u32)>)> {
    let mut bufs = [IoBuf::new(HEADER_SIZE)?, IoBuf::new(HEADER_SIZE)?];
    for (buf, off) in bufs.iter_mut().zip(HEADER_COPY_OFFSETS) {
        disk.read(off, buf)?;
    }
    let copies = [Header::parse(bufs[0].as_slice(), &KernelCrc), Header::parse(bufs[1].as_slice(), &KernelCrc)];
    Ok(match newest([&copies[0], &copies[1]]).and_then(|i| copies[i].as_ref().ok()) {
        Some(h) => (h.state(), h.generation(), h.finished_dump_timing()),
        None => (DumpState::Empty, 0, None),
    })
}

/// Collects the System RAM resources as (first byte, last byte).
fn system_ram() -> Result<KVec<(u64, u64)>> {
    unsafe extern "C" fn visit(res: *mut bindings::resource, arg: *mut c_void) -> c_int {
        // SAFETY: `arg` is the vector passed below; `res` is valid during the walk.
        let (ranges, res) = unsafe { (&mut *arg.cast::<KVec<(u64, u64)>>(), &*res) };
        match ranges.push((res.start, res.end), GFP_KERNEL) {
            Ok(()) => 0,
            Err(_) => -(bindings::ENOMEM as c_int),
        }
    }
    let mut ranges = KVec::new();
    let flags = (bindings::IORESOURCE_SYSTEM_RAM | bindings::IORESOURCE_BUSY) as u64;
    // SAFETY: `visit` matches the callback type and only uses `ranges`,
    // which outlives the walk.
    let ret = unsafe {
        bindings::walk_iomem_res_desc(
            bindings::IORES_DESC_NONE as usize,
            flags as usize,
            0,
            u64::MAX,
            (&mut ranges as *mut KVec<(u64, u64)>).cast(),
            Some(visit),
        )
    };
    // -EINVAL: no System RAM at all, which `collect_ranges` reports.
    if ret < 0 && ret != -(bindings::EINVAL as c_int) {
        return Err(Error::from_errno(ret));
    }
    Ok(ranges)
}

/// The VMCOREINFO ELF note: its physical address and its bytes in the
/// direct map (header, name and descriptor, each 4-byte padded).
fn vmcoreinfo_note() -> Option<(u64, &'static [u8])> {
    // SAFETY: Returns the physical address of a static buffer of the kernel.
    let phys = unsafe { shims::paddr_vmcoreinfo_note() };
    // SAFETY: The note buffer is kernel memory in the direct map, set up at boot.
    let va = unsafe { shims::ct_phys_to_virt(phys) }.cast::<u8>();
    // SAFETY: The buffer starts with the 12-byte ELF note header.
    let head = unsafe { core::slice::from_raw_parts(va, 12) };
    let word = |i: usize| u32::from_ne_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]) as usize;
    let len = 12usize.checked_add(word(0).next_multiple_of(4))?.checked_add(word(4).next_multiple_of(4))?;
    if len > MAX_VMCOREINFO {
        return None;
    }
    // SAFETY: The note buffer (VMCOREINFO_NOTE_SIZE, above 4 KiB) holds the
    // note, whose length we just bounded; it lives as long as the kernel.
    Some((phys, unsafe { core::slice::from_raw_parts(va, len) }))
}

/// Reads a small sysfs attribute as text (trimmed), into `buf`.
fn read_text<'a>(path: &CStr, buf: &'a mut [u8]) -> Option<&'a str> {
    let n = crate::sysfs::read_attribute(path, buf).ok()?;
    core::str::from_utf8(buf.get(..n)?).ok().map(str::trim)
}

/// Where each CPU's `crash_notes` buffer is (CPU 0 first; 0: none), its
/// size, and whether the kernel saves the registers of the CPUs it stops in
/// a panic into them (`crash_kexec_post_notifiers`).
pub(crate) struct CpuNotes {
    phys: KVec<u64>,
    size: u32,
    stopped_cpus_saved: bool,
}

/// The CPU notes, from sysfs, as kexec-tools reads them: neither
/// `crash_notes` nor the flag is exported. The panic path writes the
/// panicking CPU's registers at its note's address, so the files are read
/// by a kernel worker (`kthread::in_kernel_worker`), in the initial mount
/// namespace: a process that mounts a file of its own over one of them
/// changes nothing. Each address is then checked as the kernel allocates
/// the notes (`crash_notes_memory_init`): aligned to the note's size
/// rounded up to a power of two (a page at most), within one page, one per
/// CPU; anything else leaves that CPU without a note. Read before the
/// arming lock is taken: reading a sysfs file takes its seq_file lock,
/// which a reader of our own attributes holds while it waits for the
/// arming lock (lockdep sees the two orders in one lock class).
pub(crate) fn cpu_notes() -> Result<CpuNotes> {
    let mut notes = crate::kthread::in_kernel_worker(read_cpu_notes).ok_or(ENOMEM)??;
    let size = u64::from(notes.size);
    let align = size.next_power_of_two().clamp(1, PAGE as u64);
    let mut refused = KVec::with_capacity(notes.phys.len(), GFP_KERNEL)?;
    for (cpu, &phys) in notes.phys.iter().enumerate() {
        let plausible = size != 0
            && phys % align == 0
            && (phys % PAGE as u64) + size <= PAGE as u64
            && notes.phys.iter().enumerate().all(|(other, &p)| other == cpu || p != phys);
        refused.push(phys != 0 && !plausible, GFP_KERNEL)?;
    }
    for (cpu, (phys, refused)) in notes.phys.iter_mut().zip(refused.iter()).enumerate() {
        if *refused {
            pr_warn!("cpu {}: crash_notes at {:#x} ({} bytes) is not a CPU note the kernel would allocate: no note for it\n", cpu, *phys, size);
            *phys = 0;
        }
    }
    Ok(notes)
}

/// `cpu_notes`' reads, in a kernel worker.
fn read_cpu_notes() -> Result<CpuNotes> {
    // SAFETY: Set at boot, before any module loads.
    let cpus = (unsafe { bindings::nr_cpu_ids } as usize).min(MAX_CPUS);
    let mut buf = [0u8; 32];
    let mut notes = KVec::with_capacity(cpus, GFP_KERNEL)?;
    for cpu in 0..cpus {
        let path = CString::try_from_fmt(fmt!("/sys/devices/system/cpu/cpu{}/crash_notes", cpu))?;
        let phys = read_text(&path, &mut buf).and_then(|t| u64::from_str_radix(t, 16).ok()).unwrap_or(0);
        notes.push(phys, GFP_KERNEL)?;
    }
    let size = read_text(c_str!("/sys/devices/system/cpu/cpu0/crash_notes_size"), &mut buf)
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let saved = read_text(c_str!("/sys/module/kernel/parameters/crash_kexec_post_notifiers"), &mut buf) == Some("Y");
    Ok(CpuNotes { phys: notes, size, stopped_cpus_saved: saved })
}

fn kernel_release() -> &'static str {
    // SAFETY: The release string of the initial UTS namespace is static.
    let release = unsafe { CStr::from_char_ptr(shims::ct_kernel_release()) };
    release.to_str().unwrap_or("?")
}

/// Opens a coredump disk exclusively, for this module.
fn open_exclusive(path: &CStr) -> Result<BlockDevice> {
    BlockDevice::open_exclusive(path, (&HOLDER as *const u8).cast_mut().cast())
}

/// Arms the disk at `path` for this node, with `in_flight` bios in flight in
/// the panic path (1..=`MAX_BIOS_IN_FLIGHT`), the CPU notes `cpus`
/// (`cpu_notes`) and the chunk checksum `checksum` resolves to, and
/// publishes it to the panic path.
pub(crate) fn arm(
    path: &str,
    config: NodeConfig,
    in_flight: u32,
    cpus: CpuNotes,
    checksum: ChecksumChoice,
    filter: Filter,
    codec: CodecChoice,
    budget_ms: u32,
    key: Option<&DumpKey>,
) -> Outcome<KBox<DumpContext>> {
    let (Some(cluster), Some(node)) = (config.cluster, config.node) else {
        return Err(refuse(EINVAL, path, format_args!("set cluster_id and node_id first")));
    };
    let named = NamedDisk::open(path, open_exclusive)
        .map_err(|e| refuse(e, path, format_args!("cannot open it exclusively (error {})", e.to_errno())))?;
    let disk = &named.dev;
    if disk.is_partition() {
        return Err(refuse(EINVAL, path, format_args!("a partition; give the whole disk")));
    }

    let label = read_label(disk)?.map_err(|e| match e {
        LabelError::NotLabeled => refuse(errno(bindings::EMEDIUMTYPE), path, format_args!("not a coredump disk (no label; see `coretakeover label`)")),
        other => refuse(errno(bindings::EMEDIUMTYPE), path, format_args!("{}", other)),
    })?;
    if !label.belongs_to(cluster, node) {
        return Err(refuse(
            EACCES,
            path,
            format_args!(
                "labeled for cluster {} node {}, this is cluster {} node {}",
                label.cluster, label.node, cluster, node
            ),
        ));
    }
    if !disk.polls() {
        let driver = disk.driver();
        return Err(match crate::ct_core::drivers::poll_setting(driver) {
            Some(setting) => refuse(
                errno(bindings::EOPNOTSUPP),
                path,
                format_args!("no polled I/O: its driver, {}, has no poll queues (set {})", driver, setting),
            ),
            None => refuse(
                errno(bindings::EOPNOTSUPP),
                path,
                format_args!("no polled I/O: its driver, {}, cannot poll (see the admin guide for the controllers that can)", if driver.is_empty() { "unknown" } else { driver }),
            ),
        });
    }
    if disk.virtio_indirect() {
        pr_warn!(
            "dump disk {}: virtio with indirect descriptors: its driver allocates memory for every write of the dump, which is unsafe in a panic from an NMI (start the device with indirect_desc=off)\n",
            path
        );
    }
    if disk.has_scheduler() {
        return Err(refuse(EINVAL, path, format_args!("an I/O scheduler is attached (set queue/scheduler to none)")));
    }
    let limits = disk.limits();
    if limits.max_segment_size < PAGE as u32 || limits.logical_block_size > PAGE as u32 {
        return Err(refuse(EINVAL, path, format_args!("queue limits too small for page-sized segments")));
    }
    // Every chunk is one bio that the block layer never has to split.
    let pages = MAX_CHUNK_PAGES
        .min(limits.max_segments)
        .min(limits.max_sectors / (PAGE as u32 >> 9));
    if pages == 0 {
        return Err(refuse(EINVAL, path, format_args!("queue limits allow no full page per bio")));
    }
    // Bounce buffers are power-of-two kmalloc buffers.
    let pages = 1u32 << (31 - pages.leading_zeros());
    let chunk_size = pages * PAGE as u32;

    let raw = system_ram()?;
    let mut ranges = KVec::from_elem(RamRange::default(), MAX_RANGES, GFP_KERNEL)?;
    let table: &mut [RamRange; MAX_RANGES] = ranges.as_mut_slice().try_into().map_err(|_| EINVAL)?;
    let n = collect_ranges(raw.iter().copied(), table)
        .map_err(|e| refuse(EINVAL, path, format_args!("{}", e)))?;
    // A filtered dump, or one with a time budget (which may drop pages to
    // meet it), has a page map; a compressed one a chunk table too.
    // An encrypted dump has a chunk table too (its tags are there).
    let encrypted = key.is_some();
    let compressed = codec != CodecChoice::Fixed(Codec::None) || encrypted;
    let plan = if compressed {
        Plan::with_chunk_table(&mut table[..n], chunk_size, disk.size_bytes())
    } else if filter.filters() || budget_ms > 0 {
        Plan::with_page_map(&mut table[..n], chunk_size, disk.size_bytes())
    } else {
        Plan::new(&mut table[..n], chunk_size, disk.size_bytes())
    }
    .map_err(|e| refuse(ENOSPC, path, format_args!("{}", e)))?;
    let (note_phys, note) = vmcoreinfo_note().ok_or_else(|| refuse(EINVAL, path, format_args!("no VMCOREINFO note (CONFIG_CRASH_DUMP)")))?;
    // A filtered dump decodes `struct page` with the offsets VMCOREINFO
    // gives (as savecore's readers will), checked against this kernel's.
    let filtering = match plan.page_map() {
        Some((map_offset, pass_bytes)) => {
            let layout = PageLayout::from_vmcoreinfo(note)
                .map_err(|e| refuse(EINVAL, path, format_args!("page filter {}: {}", filter.as_str(), e)))?;
            // SAFETY: Reads constants.
            let (memmap, size) = unsafe { (shims::ct_memmap_base() as u64, shims::ct_struct_page_size() as usize) };
            if layout.size != size {
                return Err(refuse(EINVAL, path, format_args!("page filter {}: VMCOREINFO says struct page has {} bytes, the kernel {}", filter.as_str(), layout.size, size)));
            }
            Some(Filtering {
                filter,
                walker: Walker::new(layout, memmap),
                map_offset,
                pass_bytes,
                bitmaps: [Bitmap::new(pass_bytes)?, Bitmap::new(pass_bytes)?],
                bio: PolledBio::new(MAP_BIO_PAGES as u16)?,
                census: [0; 5],
                flushed: [0; 2],
                model: None,
                budget_ms: u64::from(budget_ms),
                switches: 0,
                memmap: MemmapReader::new()?,
            })
        }
        None => None,
    };

    let (state, generation, earlier) = read_newest_header(&disk)?;
    if state.holds_unsaved_dump() {
        return Err(refuse(
            EBUSY,
            path,
            format_args!("it holds an unsaved dump (state {}): run `coretakeover savecore` first", state.as_str()),
        ));
    }

    // Everything the panic path needs, before anything is written.
    let in_flight = in_flight.clamp(1, MAX_BIOS_IN_FLIGHT) as usize;
    let mut slots = KVec::with_capacity(in_flight, GFP_KERNEL)?;
    for _ in 0..in_flight {
        slots.push(Slot::new(pages as u16, chunk_size as usize, compressed, encrypted)?, GFP_KERNEL)?;
    }
    // What each chunk checksum costs here, on a chunk-sized buffer.
    let (crc32c_mib_s, xxh64_mib_s) = match slots.get_mut(0) {
        Some(slot) => probe_checksums(slot.bounce_mut()),
        None => (0, 0),
    };
    let probe = ChecksumProbe {
        chosen: checksum.resolve(u64::from(crc32c_mib_s), u64::from(xxh64_mib_s)),
        crc32c_mib_s,
        xxh64_mib_s,
    };
    let mut header_buf = IoBuf::new(HEADER_SIZE)?;
    let mut header = Header::new(header_buf.as_mut_slice()).ok_or(EINVAL)?;
    header.set_state(DumpState::Armed);
    header.set_generation(generation);
    header.set_identity(&label.disk_uuid, cluster.get(), node.get());
    header.set_plan(&plan).map_err(|_| EINVAL)?;
    // SAFETY: Reads a constant.
    header.set_page_offset(unsafe { shims::ct_page_offset() } as u64);
    header.set_vmcoreinfo(note_phys, note).map_err(|_| EINVAL)?;
    if let Some((offset, pass_bytes)) = plan.page_map() {
        header.set_page_map(filter, offset, pass_bytes);
    }
    if compressed {
        header.set_chunk_table(Codec::None);
    }
    header.set_kernel_release(kernel_release());
    let CpuNotes { phys: notes, size: note_size, stopped_cpus_saved: stopped_cpu_registers } = cpus;
    // CPUs past the last one with a buffer are not listed.
    let listed = notes.iter().rposition(|&phys| phys != 0).map_or(0, |last| last + 1);
    header.set_cpu_notes(note_size, notes.get(..listed).unwrap_or(&[])).map_err(|_| EINVAL)?;
    let armed_ns = wall_ns();
    header.set_armed_ns(armed_ns);
    let disk_uuid = header.disk_uuid();
    let mut header_flags = 0;
    if disk.write_cache() {
        header_flags |= flags::VOLATILE_CACHE;
    }
    if !plan.fits() {
        header_flags |= flags::DISK_TOO_SMALL;
    }
    if stopped_cpu_registers {
        header_flags |= flags::STOPPED_CPU_REGISTERS;
    }
    if encrypted {
        header_flags |= flags::ENCRYPTED;
    }
    header.set_flags(header_flags);
    header.set_chunk_checksum(probe.chosen, crc32c_mib_s, xxh64_mib_s);
    let copy = header.next_generation(&KernelCrc);
    let (capacity, dump_bytes, data_offset) = (plan.capacity(), plan.dump_bytes(), plan.data_offset());
    // What the dump's bytes must fit in: the data area for a compressed
    // dump, whose stream may be larger.
    let room = if compressed { plan.room() } else { capacity };

    let mut kept_ranges = KVec::with_capacity(n, GFP_KERNEL)?;
    kept_ranges.extend_from_slice(&table[..n], GFP_KERNEL)?;
    let panic = PanicState {
        header: header_buf,
        header_bio: PolledBio::new((HEADER_SIZE / PAGE) as u16)?,
        crc_page: IoBuf::new(PAGE)?,
        crc_bio: PolledBio::new(1)?,
        slots,
        ranges: kept_ranges,
        pages_per_chunk: pages as usize,
        checksum: probe.chosen,
        filtering,
        chunk_table: compressed.then_some(room),
        compressor: None,
        encryption: key.map(|k| Encryption { key: crate::secret::arming_key(&k.key, &disk_uuid, armed_ns) }),
    };
    let target = DumpTarget::new(disk, panic);
    let mut ctx = KBox::new(DumpContext { disk: named, reserved_bytes: 0, checksum: probe, target, plan: None, codec: compressed.then_some(Codec::None), encrypted }, GFP_KERNEL)?;
    // What arming holds, counted allocation by allocation (not computed
    // from the sizes asked for: slabs round up, and bios carry more than
    // their vectors).
    ctx.reserved_bytes = ctx.target.state_mut().allocated() + allocated(&*ctx as *const DumpContext) + ctx.disk.allocated();

    // The rehearsal: the first bytes of the dump through the panic path's
    // own pipeline, into the data area (which holds no unsaved dump: that
    // was refused above). Its rate predicts the dump's time.
    // The faster of two rounds (by steady rate): the first also pays for
    // warming up (the bounce buffers' and bios' first use), which a whole
    // dump amortizes. The steady rate, after the first chunk completed,
    // predicts a long dump; the whole rehearsal's rate would count the
    // pipeline's fill once per 8 MiB.
    let rehearsed = {
        let DumpContext { disk, target, .. } = &mut *ctx;
        let bdev = disk.dev.raw();
        let state = target.state_mut();
        (0..REHEARSAL_ROUNDS).try_fold(Rehearsal::default(), |best, _| {
            let r = state.rehearse(bdev, data_offset, u64::from(chunk_size), REHEARSAL_BYTES)?;
            Ok::<_, crate::polled_bio::PollError>(if r.steady_bytes_per_ms() > best.steady_bytes_per_ms() { r } else { best })
        })
    };
    // A filtered dump writes what its filter keeps, and visits every page
    // twice: a census now tells how much it would keep and what a visit costs.
    let census = {
        let state = ctx.target.state_mut();
        let ranges = core::mem::take(&mut state.ranges);
        let census = state.filtering.as_mut().map(|f| f.census_now(&ranges));
        state.ranges = ranges;
        census
    };
    // A compressed dump: each candidate codec compresses a sample of this
    // node's kernel pages, of its page cache and user pages, and of its free
    // pages, as the panic path would (stored raw unless a page is saved):
    // its share and rate on each, and its stack.
    let mut codecs: KVec<(Codec, Option<Compressor>, [u64; 3], [u64; 3], u64)> = KVec::new();
    if compressed {
        let chunk = chunk_size as usize;
        let mut samples = [KVec::from_elem(0u8, chunk, GFP_KERNEL)?, KVec::from_elem(0u8, chunk, GFP_KERNEL)?, KVec::from_elem(0u8, chunk, GFP_KERNEL)?];
        let mut out = KVec::from_elem(0u8, chunk, GFP_KERNEL)?;
        let state = ctx.target.state_mut();
        let ranges = core::mem::take(&mut state.ranges);
        let filled = {
            let [k, o, f] = &mut samples;
            state.filtering.as_mut().map(|fl| fl.sample(&ranges, [k.as_mut_slice(), o.as_mut_slice(), f.as_mut_slice()]))
        };
        state.ranges = ranges;
        let filled = filled.unwrap_or([0; 3]);
        for c in codec.candidates() {
            let mut compressor = Compressor::new(c, chunk)?;
            let mut store = [1024u64; 3];
            let mut rate = [0u64; 3];
            let mut stack = 0u64;
            if let Some(comp) = compressor.as_mut() {
                for (i, sample) in samples.iter().enumerate() {
                    let Some(sample) = sample.get(..filled[i]).filter(|s| !s.is_empty()) else { continue };
                    let cap = sample.len().saturating_sub(PAGE);
                    // The faster of two rounds: the first also pays for the
                    // code's and workspace's first use (an emulator
                    // translates the code then), which a dump pays once.
                    let first = comp.measure(sample, out.get_mut(..cap).unwrap_or(&mut []));
                    let m = comp.measure(sample, out.get_mut(..cap).unwrap_or(&mut []));
                    store[i] = m.output.saturating_mul(1024) / m.input.max(1);
                    rate[i] = m.input.saturating_mul(1_000_000).checked_div(m.ns.min(first.ns).max(1)).unwrap_or(0);
                    stack = stack.max(m.stack).max(first.stack);
                }
                // A bucket without a sample costs what the kernel pages do.
                for i in 1..3 {
                    if filled[i] == 0 {
                        rate[i] = rate[0];
                    }
                }
            }
            codecs.push((c, compressor, store, rate, stack), GFP_KERNEL)?;
        }
    }
    let rehearsal = match rehearsed {
        Ok(r) => r,
        Err(e) => {
            return Err(refuse(
                errno(bindings::EIO),
                path,
                format_args!("the rehearsal of the dump failed ({:?}): the panic path could not write either", e),
            ))
        }
    };
    // The disk's earlier dump, saved whole, says how far off its prediction
    // was (it ran in a panic, with the other CPUs stopped, where the
    // rehearsal ran beside them): its factor scales this arming's writes.
    let calibration = earlier.and_then(|(predicted, measured)| Some((predicted, measured, calibration_x1024(predicted, measured)?)));
    let factor = calibration.map_or(1024, |(_, _, f)| f);
    let per_ms = rehearsal.steady_bytes_per_ms().map(|r| calibrated_rate(r, factor));
    let rehearsal_mib_s = rehearsal.steady_bytes_per_ms().map_or(0, |r| u32::try_from((r * 1000) >> 20).unwrap_or(u32::MAX));
    let mut predicted_ms = rehearsal
        .predict_ms(capacity)
        .map_or(0, |ms| u32::try_from(ms.saturating_mul(u64::from(factor)) / 1024).unwrap_or(u32::MAX));
    if let Some((predicted, measured, f)) = calibration {
        ctx.target.state_mut().record_calibration(predicted, measured, f);
        pr_info!(
            "dump disk {}: its earlier dump took {} ms against {} ms predicted: predictions scaled by {}/1024\n",
            path,
            measured,
            predicted,
            f
        );
    }
    if let (Some((c, ns)), Some(per_ms)) = (&census, per_ms) {
        // The model: the richest filter no richer than dump_filter whose
        // predicted time fits the budget and whose bytes fit the disk.
        let base = Model::new(dump_bytes / PAGE as u64, *c, *ns, per_ms);
        // With a codec: the one that lets the richest filter fit, and the
        // fastest of those (the leanest filter's fastest when none fits).
        let mut best: Option<(usize, Filter, bool, u64)> = None;
        let mut codec_rows: [Option<CodecRow>; 3] = [None, None, None];
        for (i, (c, _, store, rate, stack)) in codecs.iter().enumerate() {
            let m = base.with_codec(*store, *rate);
            let (f, fits) = m.choose(filter, u64::from(budget_ms), room);
            let ms = m.predict_ms(f);
            let better = best.map_or(true, |(_, bf, bfits, bms)| (!fits, f as u32, ms) < (!bfits, bf as u32, bms));
            if better {
                best = Some((i, f, fits, ms));
            }
            codec_rows[*c as usize] = Some(CodecRow {
                codec: *c,
                store_x1024: *store,
                mib_s: rate[0].saturating_mul(1000) >> 20,
                stack_bytes: *stack,
                filter: f,
                ms,
                mib: m.stored_bytes(f) >> 20,
                chosen: false,
            });
        }
        let model = match best.and_then(|(i, ..)| codecs.get_mut(i)) {
            Some((c, compressor, store, rate, stack)) => {
                let m = base.with_codec(*store, *rate);
                if let Some(row) = codec_rows[*c as usize].as_mut() {
                    row.chosen = true;
                }
                ctx.codec = Some(*c);
                let state = ctx.target.state_mut();
                state.compressor = compressor.take();
                let f = m.choose(filter, u64::from(budget_ms), room).0;
                let share = m.stored_bytes(f).saturating_mul(1024).checked_div(m.bytes(f)).unwrap_or(1024);
                let mut h = Header::from_unchecked(state.header_buf_mut().as_mut_slice());
                h.set_codec(*c);
                h.set_codec_probe(u32::try_from(share).unwrap_or(u32::MAX), u32::try_from(rate[0].saturating_mul(1000) >> 20).unwrap_or(u32::MAX), u32::try_from(*stack).unwrap_or(u32::MAX));
                pr_info!(
                    "dump disk {}: codec {} (asked {}): stores {}/1024 of kernel pages at {} MiB/s, {}/1024 of page cache and user pages at {} MiB/s, {}/1024 of free pages at {} MiB/s; {} bytes of stack\n",
                    path,
                    c.as_str(),
                    codec.as_str(),
                    store[0],
                    rate[0].saturating_mul(1000) >> 20,
                    store[1],
                    rate[1].saturating_mul(1000) >> 20,
                    store[2],
                    rate[2].saturating_mul(1000) >> 20,
                    stack
                );
                m
            }
            None => base,
        };
        let (chosen, fits) = model.choose(filter, u64::from(budget_ms), room);
        let mut ms = [0u32; 4];
        let mut mib = [0u32; 4];
        let mut rows: [Option<PlanRow>; 4] = [None, None, None, None];
        for f in Filter::ALL.into_iter().filter(|f| *f as u32 >= filter as u32) {
            let (t, b) = (model.predict_ms(f), model.stored_bytes(f));
            ms[f as usize] = u32::try_from(t).unwrap_or(u32::MAX);
            mib[f as usize] = u32::try_from(b >> 20).unwrap_or(u32::MAX);
            let over_budget = budget_ms > 0 && t > u64::from(budget_ms);
            let too_large = b > room;
            let verdict = match (f == chosen, over_budget, too_large) {
                (true, false, false) => "chosen",
                (true, _, _) => "chosen: the leanest, yet it does not fit",
                (false, true, true) => "over the budget and larger than the disk",
                (false, true, false) => "over the budget",
                (false, false, true) => "larger than the disk",
                (false, false, false) if (f as u32) < (chosen as u32) => "fits",
                (false, false, false) => "fits (a leaner fallback)",
            };
            rows[f as usize] = Some(PlanRow { filter: f, ms: t, mib: b >> 20, verdict });
        }
        predicted_ms = ms[chosen as usize];
        let state = ctx.target.state_mut();
        if let Some(f) = state.filtering.as_mut() {
            f.filter = chosen;
            f.model = Some(model);
        }
        state.record_model(chosen, budget_ms, &ms, &mib);
        pr_info!(
            "dump disk {}: page filter {} (asked {}{}): {} MiB in {} ms predicted{} (pages now: kernel {}, cache {}, user {}, free {} MiB; census took {} ms)\n",
            path,
            chosen.as_str(),
            filter.as_str(),
            if budget_ms > 0 { ", within a budget" } else { "" },
            mib[chosen as usize],
            predicted_ms,
            if fits { "" } else { ": over the budget or the disk even so" },
            c[Class::Kernel as usize] >> 8,
            c[Class::Cache as usize] >> 8,
            c[Class::User as usize] >> 8,
            c[Class::Free as usize] >> 8,
            ns / 1_000_000
        );
        ctx.plan = Some(PlanTable { rows, budget_ms, calibration, codecs: codec_rows });
    }
    ctx.target.state_mut().record_rehearsal(rehearsal_mib_s, predicted_ms);
    if let Some((c, _)) = &census {
        ctx.target.state_mut().record_census(c);
    }

    // An encrypted dump: the sealed key and whom it is sealed for, bound to
    // this arming, before the header says "armed".
    if let Some(k) = key {
        let (disk_uuid, armed_ns) = {
            let h = Header::from_unchecked(ctx.target.state_mut().header_buf_mut().as_mut_slice());
            (h.disk_uuid(), h.armed_ns())
        };
        let mut block = IoBuf::new(PAGE)?;
        KeyBlock { disk_uuid, armed_ns, public: k.public, sealed: k.sealed, per_arming: true }.encode(block.as_mut_slice(), &KernelCrc);
        ctx.disk.dev.write(KEY_BLOCK_OFFSET, &mut block)?;
    }
    // The last step: the header says "armed".
    {
        let DumpContext { disk, target, .. } = &mut *ctx;
        disk.dev.write(HEADER_COPY_OFFSETS[copy], target.state_mut().header_buf_mut())?;
    }
    // SAFETY: The context is boxed (it never moves) and unchanged from here;
    // its `Drop` withdraws the target before anything in it goes.
    unsafe { ctx.target.publish() };
    pr_info!(
        "dump disk {} armed: {} MiB of RAM in {} ranges, {} MiB fit, {} KiB chunks, {} in flight, {} KiB reserved; chunk checksum {} ({}: crc32c {} MiB/s, xxh64 {} MiB/s); rehearsal {} MiB/s, a dump would take {} ms{}\n",
        path,
        dump_bytes >> 20,
        n,
        capacity >> 20,
        chunk_size >> 10,
        in_flight,
        ctx.reserved_bytes >> 10,
        probe.chosen.as_str(),
        checksum.as_str(),
        crc32c_mib_s,
        xxh64_mib_s,
        rehearsal_mib_s,
        predicted_ms,
        if header_flags & flags::VOLATILE_CACHE != 0 { "; warning: volatile write cache, not flushed after a panic" } else { "" },
    );
    if !stopped_cpu_registers {
        pr_warn!(
            "dump disk {}: crash_kexec_post_notifiers is off: a dump will hold the registers of the panicking CPU only (boot with crash_kexec_post_notifiers)\n",
            path
        );
    }
    Ok(ctx)
}

/// Disarms: the panic path forgets the disk, the heartbeat says `stopped`
/// (silence that follows is no failure), the header says `empty` again,
/// then everything is released.
pub(crate) fn disarm(mut ctx: KBox<DumpContext>, key: Option<RegistrationKey>, interval_ms: u32, holds_disks_of: u16) {
    panic_dump::withdraw(&ctx.target);
    if let Some(key) = key {
        if let Err(e) = ctx.write_heartbeat(key, Liveness::Stopped, interval_ms, holds_disks_of) {
            pr_warn!("disarming: the heartbeat could not say stopped (error {})\n", e.to_errno());
        }
    }
    let DumpContext { disk, target, .. } = &mut *ctx;
    let state = target.state_mut();
    let copy = state.mark_disarmed();
    if let Err(e) = disk.dev.write(HEADER_COPY_OFFSETS[copy], state.header_buf_mut()) {
        pr_warn!("dump disk disarmed, but its header could not be updated (error {})\n", e.to_errno());
    }
    pr_info!("dump disk {} disarmed\n", disk.path());
}
