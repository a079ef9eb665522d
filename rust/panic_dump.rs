// SPDX-License-Identifier: GPL-2.0

//! The dying node: the panic notifier and the polled dump of all RAM.
//!
//! Nothing here sleeps, takes a sleeping lock or allocates: everything was
//! prepared by `dump_disk::arm`. Every wait is bounded (`IO_TIMEOUT_NS` per
//! bio). The notifier runs at most once (`STARTED`). By the time panic
//! notifiers run, every other CPU has been stopped and interrupts are off on
//! this one, so the armed context cannot change under us.
//!
//! The order of writes:
//!
//! 1. the header, state `dumping`, with the panic's time, CPU and message:
//!    the *panic beacon* the partner watches for;
//! 2. the RAM, chunk by chunk through bounce buffers (`dump_bios_in_flight` bios in
//!    flight), each chunk's checksum (CRC-32C or xxh64, as armed) into the
//!    checksum table;
//! 3. every `PROGRESS_BYTES`: the checksum table page, then the header with
//!    the new watermark (only bytes whose bios completed and whose checksums
//!    are on the disk count);
//! 4. the header, state `complete` (or `truncated` when the disk is too small
//!    or an I/O failed or timed out).
//!
//! Pages are copied with `copy_from_kernel_nofault`: a page that is not
//! mapped (secret memory, debug page allocation) is written as zeros and
//! counted, instead of faulting inside the panic.

use crate::bdev::{allocated, BlockDevice, IoBuf, PAGE, SECTOR_SHIFT};
use crate::crc::KernelCrc;
use crate::ct_core::checksum::ChunkChecksum;
use crate::ct_core::header::{flags, DumpState, Header, PanicRegisters, RamRange, ELF_NGREG, HEADER_COPY_OFFSETS, NO_CPU};
use crate::ct_core::notes::{crash_note, CRASH_NOTE_SIZE};
use crate::ct_core::plan::PageCursor;
use crate::polled_bio::{panic_clock_ns, PollError, PolledBio};
use crate::shims;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use kernel::bindings;
use kernel::ffi::{c_int, c_ulong, c_void};
use kernel::prelude::*;
use kernel::types::Opaque;

/// TIMEOUT: the longest wait for one bio; then the dump ends `truncated`.
const IO_TIMEOUT_NS: u64 = 30_000_000_000;
/// How often the watermark is advanced on the disk.
const PROGRESS_BYTES: u64 = 16 << 20;
/// Checksums per table page.
const CRCS_PER_PAGE: u64 = (PAGE / 4) as u64;

/// The published target, for the panic path: set after arming completed,
/// cleared before disarming starts (see `DumpTarget::publish`).
static ARMED: AtomicPtr<DumpTarget> = AtomicPtr::new(core::ptr::null_mut());
/// Whether the panic path has started; it never runs twice.
static STARTED: AtomicBool = AtomicBool::new(false);
/// Test hook (debugfs `coretakeover/test_panic_after_mib`, 0 = off): the
/// dump panics once this many MiB are on the disk, as a fault inside the
/// dump path would.
static TEST_PANIC_AFTER_MIB: AtomicU32 = AtomicU32::new(0);

/// What the panic path dumps with: the armed disk and everything prepared
/// for it. Arming (`dump_disk.rs`) builds it and publishes it; this file
/// never looks at how it was armed.
///
/// # Invariants
///
/// `bdev` is the block device of an open file that outlives the target.
pub(crate) struct DumpTarget {
    bdev: *mut bindings::block_device,
    /// Touched only while the target is not published (through `&mut`) and
    /// by the panic path, which runs once, with every other CPU stopped.
    state: UnsafeCell<PanicState>,
}

// SAFETY: `state` is only accessed as described on the field; `bdev` is used
// only by the panic path.
unsafe impl Sync for DumpTarget {}
// SAFETY: Nothing in it is tied to a thread.
unsafe impl Send for DumpTarget {}

impl DumpTarget {
    /// The target for `disk`, which must stay open while the target lives.
    pub(crate) fn new(disk: &BlockDevice, state: PanicState) -> Self {
        // INVARIANT: The caller keeps `disk` open (the arming context owns
        // both and drops the target first).
        Self { bdev: disk.raw(), state: UnsafeCell::new(state) }
    }

    /// The panic state, while the target is not published.
    pub(crate) fn state_mut(&mut self) -> &mut PanicState {
        self.state.get_mut()
    }

    /// Makes this the panic path's target.
    ///
    /// # Safety
    ///
    /// The target must stay where it is, unchanged, until [`withdraw`] with
    /// it has returned.
    pub(crate) unsafe fn publish(&self) {
        ARMED.store((self as *const Self).cast_mut(), Ordering::Release);
    }

    /// Whether this is the panic path's target.
    fn published(&self) -> bool {
        core::ptr::eq(ARMED.load(Ordering::Acquire), self)
    }
}

/// Withdraws `target` from the panic path, if it is published; a panic from
/// now on dumps nothing.
pub(crate) fn withdraw(target: &DumpTarget) {
    if target.published() {
        ARMED.store(core::ptr::null_mut(), Ordering::Release);
    }
}

/// One bio in flight and the bounce buffer it writes from.
pub(crate) struct Slot {
    bio: KBox<PolledBio>,
    bounce: IoBuf,
}

impl Slot {
    pub(crate) fn new(pages: u16, bytes: usize) -> Result<Self> {
        Ok(Self { bio: PolledBio::new(pages)?, bounce: IoBuf::new(bytes)? })
    }

    /// The bounce buffer, while nothing is in flight (arming's probe).
    pub(crate) fn bounce_mut(&mut self) -> &mut [u8] {
        self.bounce.as_mut_slice()
    }

    /// Copies the next pages of `cursor`, at most `max` of them, into the
    /// bounce buffer (whose bio must be complete); returns how many. A page
    /// that cannot be read becomes zeros and counts in `unreadable`.
    fn fill(&mut self, cursor: &mut PageCursor<'_>, max: usize, unreadable: &mut u32) -> usize {
        let mut pages = 0;
        while pages < max {
            let Some(phys) = cursor.next() else { break };
            if let Some(dst) = self.bounce.as_mut_slice().get_mut(pages * PAGE..(pages + 1) * PAGE) {
                // SAFETY: `phys` lies in System RAM, which is in the direct map;
                // `copy_from_kernel_nofault` survives unmapped pages.
                let copied = unsafe {
                    let src = shims::ct_phys_to_virt(phys);
                    bindings::copy_from_kernel_nofault(dst.as_mut_ptr().cast(), src, PAGE)
                };
                if copied != 0 {
                    dst.fill(0);
                    *unreadable = unreadable.saturating_add(1);
                }
            }
            pages += 1;
        }
        pages
    }
}

/// Everything the panic path writes with, preallocated when armed.
pub(crate) struct PanicState {
    /// The dump header (16 KiB), kept current from arming on.
    pub(crate) header: IoBuf,
    pub(crate) header_bio: KBox<PolledBio>,
    /// The checksum table page being filled.
    pub(crate) crc_page: IoBuf,
    pub(crate) crc_bio: KBox<PolledBio>,
    pub(crate) slots: KVec<Slot>,
    pub(crate) ranges: KVec<RamRange>,
    pub(crate) pages_per_chunk: usize,
    /// The function of the chunk checksums (also in the header).
    pub(crate) checksum: ChunkChecksum,
}

impl PanicState {
    /// The memory all of this takes, allocation by allocation as kmalloc
    /// gave it (`ksize`): what arming reserves for the panic path.
    pub(crate) fn allocated(&self) -> usize {
        let slots: usize = self.slots.iter().map(|s| s.bio.allocated() + s.bounce.allocated()).sum();
        self.header.allocated()
            + self.header_bio.allocated()
            + self.crc_page.allocated()
            + self.crc_bio.allocated()
            + slots
            + allocated(self.slots.as_ptr())
            + allocated(self.ranges.as_ptr())
    }

    pub(crate) fn header_buf_mut(&mut self) -> &mut IoBuf {
        &mut self.header
    }

    fn header(&mut self) -> Header<&mut [u8]> {
        Header::from_unchecked(self.header.as_mut_slice())
    }

    /// Prepares the header saying the disk is no longer armed; returns the
    /// copy to write it to.
    pub(crate) fn mark_disarmed(&mut self) -> usize {
        let mut h = self.header();
        h.set_state(DumpState::Empty);
        h.next_generation(&KernelCrc)
    }

    /// Puts the panicking CPU's registers into its `crash_notes` buffer, as
    /// `crash_save_cpu()` does for the CPUs the kernel stopped: debuggers
    /// (drgn) read every CPU's registers from there, in the dump. The
    /// buffer's address is the one arming recorded for this CPU.
    fn save_crash_note(&mut self, registers: &PanicRegisters) {
        let (target, size) = {
            let h = self.header();
            // SAFETY: Reads this CPU's number.
            let cpu = unsafe { shims::ct_processor_id() } as usize;
            (h.cpu_note(cpu), h.cpu_note_size() as usize)
        };
        let Some(phys) = target.filter(|_| size >= CRASH_NOTE_SIZE) else { return };
        let note = crash_note(registers);
        // SAFETY: `phys` is this CPU's `crash_notes` buffer, as the kernel
        // showed it in sysfs when the disk was armed: kernel RAM of at least
        // `size` bytes, in the direct map, reserved for exactly this note,
        // and nothing else writes it now (every other CPU is stopped).
        unsafe {
            let dst = shims::ct_phys_to_virt(phys).cast::<u8>();
            core::ptr::copy_nonoverlapping(note.as_ptr(), dst, CRASH_NOTE_SIZE);
        }
    }

    /// Writes the header (next generation) and waits for it.
    fn write_header(&mut self, bdev: *mut bindings::block_device) -> Result<(), PollError> {
        let copy = {
            let mut h = self.header();
            h.next_generation(&KernelCrc)
        };
        let sector = HEADER_COPY_OFFSETS[copy] >> SECTOR_SHIFT;
        let pages = (0..self.header.len() / PAGE).map(|i| self.header.page(i * PAGE));
        // SAFETY: The disk is open and polls (checked when armed); the header
        // buffer is ours and untouched until `wait` returns.
        unsafe { self.header_bio.submit_write(bdev, sector, pages)? };
        self.header_bio.wait(panic_clock_ns() + IO_TIMEOUT_NS)
    }

    /// Writes table page `index` of the checksum table and waits for it.
    fn write_crc_page(&mut self, bdev: *mut bindings::block_device, table_offset: u64, index: u64) -> Result<(), PollError> {
        let sector = (table_offset + index * PAGE as u64) >> SECTOR_SHIFT;
        let page = self.crc_page.page(0);
        // SAFETY: As in `write_header`, for the table page.
        unsafe { self.crc_bio.submit_write(bdev, sector, core::iter::once(page))? };
        self.crc_bio.wait(panic_clock_ns() + IO_TIMEOUT_NS)
    }

    fn drain(&mut self) -> Result<(), PollError> {
        let mut result = Ok(());
        for slot in self.slots.iter_mut() {
            if let Err(e) = slot.bio.wait(panic_clock_ns() + IO_TIMEOUT_NS) {
                result = Err(e);
            }
        }
        result
    }

    /// Arming's rehearsal of the dump: the first `bytes` of the stream go
    /// through the panic path's own pipeline (copy, chunk checksum, polled
    /// writes with every slot in flight) into the data area, where the dump
    /// would put them; nothing else is written (the watermark stays 0, so no
    /// reader takes these bytes for a dump). Returns the bytes written and
    /// the nanoseconds it took. Process context: interrupts and other CPUs
    /// run, so a panic (which has neither) is at least as fast.
    pub(crate) fn rehearse(&mut self, bdev: *mut bindings::block_device, data_offset: u64, chunk_size: u64, bytes: u64) -> Result<(u64, u64), PollError> {
        let slots = self.slots.len() as u64;
        if chunk_size == 0 || slots == 0 {
            return Ok((0, 0));
        }
        let ranges = core::mem::take(&mut self.ranges);
        let limit = bytes.min(ranges.iter().map(|r| r.len).sum());
        let mut cursor = PageCursor::new(&ranges, limit);
        let (mut written, mut unreadable, mut sink) = (0u64, 0u32, 0u32);
        let started = panic_clock_ns();
        let mut outcome = Ok(());
        for chunk in 0..limit.div_ceil(chunk_size) {
            let Some(slot) = self.slots.get_mut((chunk % slots) as usize) else { break };
            if let Err(e) = slot.bio.wait(panic_clock_ns() + IO_TIMEOUT_NS) {
                outcome = Err(e);
                break;
            }
            let pages = slot.fill(&mut cursor, self.pages_per_chunk, &mut unreadable);
            if pages == 0 {
                break;
            }
            sink ^= self.checksum.compute(&KernelCrc, slot.bounce.as_slice().get(..pages * PAGE).unwrap_or(&[]));
            let sector = (data_offset + chunk * chunk_size) >> SECTOR_SHIFT;
            let bounce = &slot.bounce;
            // SAFETY: As in `dump_ram`: the bounce pages are untouched until
            // this slot's bio is reaped.
            if let Err(e) = unsafe { slot.bio.submit_write(bdev, sector, (0..pages).map(|p| bounce.page(p * PAGE))) } {
                outcome = Err(e);
                break;
            }
            written += (pages * PAGE) as u64;
        }
        let drained = self.drain();
        let ns = panic_clock_ns().saturating_sub(started);
        core::hint::black_box(sink);
        self.ranges = ranges;
        outcome.and(drained).map(|()| (written, ns))
    }

    /// Records the rehearsal's figures in the header (not yet written).
    pub(crate) fn record_rehearsal(&mut self, mib_s: u32, predicted_ms: u32) {
        let mut h = self.header();
        h.set_rehearsal(mib_s, predicted_ms);
        h.seal(&KernelCrc);
    }

    /// The whole dump. Returns nothing: what happened is in the header.
    fn dump(&mut self, bdev: *mut bindings::block_device, message: &str, registers: &PanicRegisters, entered_ns: u64) {
        let (capacity, chunk_size, data_offset, table_offset, fits) = {
            let h = self.header();
            (h.capacity(), u64::from(h.chunk_size()), h.data_offset(), h.crc_table_offset(), h.capacity() == h.dump_bytes())
        };
        {
            let mut h = self.header();
            h.set_state(DumpState::Dumping);
            h.set_panic_ns(panic_wall_ns());
            // SAFETY: Reads this CPU's number.
            let cpu = unsafe { shims::ct_processor_id() };
            h.set_panic_cpu(u16::try_from(cpu).unwrap_or(NO_CPU));
            h.set_panic_message(message);
            h.set_panic_registers(registers);
            h.set_watermark(0);
        }
        // SAFETY: `bdev` is the armed disk, open while armed.
        unsafe { shims::ct_bdev_panic_no_iostat(bdev) };
        if let Err(e) = self.write_header(bdev) {
            pr_emerg!("cannot write the panic beacon ({:?}); no dump\n", e);
            return;
        }
        self.save_crash_note(registers);
        let beacon_ns = panic_clock_ns().saturating_sub(entered_ns);
        self.header().set_beacon_latency_ns(beacon_ns);
        pr_emerg!(
            "panic beacon written in {} us; dumping {} MiB\n",
            beacon_ns / 1000,
            capacity >> 20
        );

        let started = panic_clock_ns();
        let result = self.dump_ram(bdev, capacity, chunk_size, data_offset, table_offset);
        let drained = self.drain();
        let (watermark, stop) = match (result, drained) {
            (Ok(w), Ok(())) => (w, None),
            (Ok(w), Err(e)) | (Err((w, e)), _) => (w, Some(e)),
        };
        let elapsed_ms = panic_clock_ns().saturating_sub(started) / 1_000_000;
        let predicted_ms = self.header().rehearsal().1;
        {
            let mut h = self.header();
            let complete = stop.is_none() && fits && watermark == capacity;
            h.set_state(if complete { DumpState::Complete } else { DumpState::Truncated });
            if stop.is_some() {
                h.add_flags(flags::IO_ERROR);
            }
            h.set_watermark(watermark);
            h.set_end_ns(panic_wall_ns());
        }
        let state = self.header().state();
        if let Err(e) = self.write_header(bdev) {
            pr_emerg!("dump ended but the final header write failed ({:?})\n", e);
            return;
        }
        pr_emerg!(
            "dump {}: {} MiB in {} ms (predicted at arming: {} ms for {} MiB){}\n",
            state.as_str(),
            watermark >> 20,
            elapsed_ms,
            predicted_ms,
            capacity >> 20,
            match stop {
                Some(PollError::Timeout) => " (a write timed out)",
                Some(_) => " (a write failed)",
                None => "",
            }
        );
    }

    /// Writes the RAM up to `capacity`; returns the final watermark, or the
    /// watermark reached and why it stopped.
    fn dump_ram(
        &mut self,
        bdev: *mut bindings::block_device,
        capacity: u64,
        chunk_size: u64,
        data_offset: u64,
        table_offset: u64,
    ) -> core::result::Result<u64, (u64, PollError)> {
        let chunks = capacity.div_ceil(chunk_size);
        let slots = self.slots.len() as u64;
        let mut watermark = 0u64;
        let mut unreadable = 0u32;
        let mut next_progress = PROGRESS_BYTES;
        self.crc_page.as_mut_slice().fill(0);
        // The cursor borrows the ranges; the slots and buffers are other fields.
        let ranges = core::mem::take(&mut self.ranges);
        let mut cursor = PageCursor::new(&ranges, capacity);
        let mut outcome = Ok(0);
        for chunk in 0..chunks {
            let Some(slot) = self.slots.get_mut((chunk % slots) as usize) else { break };
            if let Err(e) = slot.bio.wait(panic_clock_ns() + IO_TIMEOUT_NS) {
                outcome = Err((watermark, e));
                break;
            }
            let pages = slot.fill(&mut cursor, self.pages_per_chunk, &mut unreadable);
            let data = slot.bounce.as_slice().get(..pages * PAGE).unwrap_or(&[]);
            let crc = self.checksum.compute(&KernelCrc, data);
            let index = chunk % CRCS_PER_PAGE;
            if index == 0 && chunk > 0 {
                if let Err(e) = self.write_crc_page(bdev, table_offset, chunk / CRCS_PER_PAGE - 1) {
                    outcome = Err((watermark, e));
                    break;
                }
                self.crc_page.as_mut_slice().fill(0);
            }
            let at = index as usize * 4;
            if let Some(entry) = self.crc_page.as_mut_slice().get_mut(at..at + 4) {
                entry.copy_from_slice(&crc.to_le_bytes());
            }
            let Some(slot) = self.slots.get_mut((chunk % slots) as usize) else { break };
            let sector = (data_offset + chunk * chunk_size) >> SECTOR_SHIFT;
            let bounce = &slot.bounce;
            // SAFETY: The disk polls; the bounce pages are untouched until
            // this slot's bio is reaped (next use of the slot, or `drain`).
            let submitted = unsafe { slot.bio.submit_write(bdev, sector, (0..pages).map(|p| bounce.page(p * PAGE))) };
            if let Err(e) = submitted {
                outcome = Err((watermark, e));
                break;
            }
            let written = ((chunk + 1) * chunk_size).min(capacity);
            if written >= next_progress || written == capacity {
                let progress = self.drain().and_then(|()| self.write_crc_page(bdev, table_offset, chunk / CRCS_PER_PAGE));
                if let Err(e) = progress {
                    outcome = Err((watermark, e));
                    break;
                }
                watermark = written;
                outcome = Ok(watermark);
                {
                    let mut h = self.header();
                    h.set_watermark(watermark);
                    h.set_unreadable_pages(unreadable);
                }
                if written < capacity {
                    if let Err(e) = self.write_header(bdev) {
                        outcome = Err((watermark, e));
                        break;
                    }
                }
                let test_panic = u64::from(TEST_PANIC_AFTER_MIB.load(Ordering::Relaxed)) << 20;
                if test_panic != 0 && written >= test_panic {
                    // SAFETY: A test hook: a panic inside the dump, on purpose.
                    unsafe { bindings::panic(kernel::c_str!("coretakeover test: panic inside the dump").as_char_ptr()) }
                }
                next_progress = written + PROGRESS_BYTES;
            }
        }
        self.header().set_unreadable_pages(unreadable);
        self.ranges = ranges;
        outcome
    }
}

/// `struct notifier_block` for the panic notifier chain.
#[repr(transparent)]
struct Notifier(Opaque<bindings::notifier_block>);

// SAFETY: The notifier chain code owns the block while registered; we never
// touch it otherwise.
unsafe impl Sync for Notifier {}

static NOTIFIER: Notifier = Notifier(Opaque::new(bindings::notifier_block {
    notifier_call: Some(on_panic),
    next: core::ptr::null_mut(),
    // Run first: the beacon is what the partner waits for.
    priority: i32::MAX,
}));

/// The panic notifier's registration; unregistered on drop.
pub(crate) struct Registration(());

impl Registration {
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: `NOTIFIER` is static and registered once (the module root
        // creates one `Registration`).
        kernel::error::to_result(unsafe { shims::ct_panic_notifier_register(NOTIFIER.0.get()) })?;
        // SAFETY: The hook's value is a static; the file goes in `drop`.
        unsafe { shims::ct_debugfs_init(TEST_PANIC_AFTER_MIB.as_ptr()) };
        Ok(Self(()))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: Created in `new`.
        unsafe { shims::ct_debugfs_exit() };
        // SAFETY: Registered in `new`; unregistering waits for running callbacks.
        unsafe { shims::ct_panic_notifier_unregister(NOTIFIER.0.get()) };
    }
}

/// The panic message handed to the notifier, as text (at most 255 bytes).
///
/// # Safety
///
/// `data` is null or a NUL-terminated string.
unsafe fn panic_message<'a>(data: *mut c_void) -> &'a str {
    if data.is_null() {
        return "";
    }
    let bytes = data.cast::<u8>();
    let mut len = 0;
    // SAFETY: The string is NUL-terminated; we stop at the NUL or at 255.
    while len < 255 && unsafe { *bytes.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` bytes were just read.
    let slice = unsafe { core::slice::from_raw_parts(bytes, len) };
    match core::str::from_utf8(slice) {
        Ok(s) => s,
        Err(e) => core::str::from_utf8(slice.get(..e.valid_up_to()).unwrap_or(&[])).unwrap_or(""),
    }
}

// `pt_regs` is the head of `elf_gregset_t` (see `on_panic`).
const _: () = assert!(core::mem::size_of::<bindings::pt_regs>() == 21 * 8 && ELF_NGREG >= 21);

/// The wall clock at the last heartbeat (or arming) and this CPU's clock
/// then: the panic path's wall clock is the first plus the second's
/// advance, so that it never reads the clocksource (see
/// `polled_bio::panic_clock_ns`). Off by at most a heartbeat interval (the
/// two are stored one after the other) and the CPUs' clock skew.
static WALL_BASE_NS: AtomicU64 = AtomicU64::new(0);
static LOCAL_BASE_NS: AtomicU64 = AtomicU64::new(0);

/// Notes the wall clock `wall_ns` (read just now in process context) for the
/// panic path.
pub(crate) fn note_wall_clock(wall_ns: u64) {
    LOCAL_BASE_NS.store(panic_clock_ns(), Ordering::Relaxed);
    WALL_BASE_NS.store(wall_ns, Ordering::Relaxed);
}

/// The wall clock in the panic path (0 if none was ever noted).
fn panic_wall_ns() -> u64 {
    let (wall, local) = (WALL_BASE_NS.load(Ordering::Relaxed), LOCAL_BASE_NS.load(Ordering::Relaxed));
    if wall == 0 {
        return 0;
    }
    wall.saturating_add(panic_clock_ns().saturating_sub(local))
}

/// The panic notifier.
///
/// # Safety
///
/// Called by `panic()` through the notifier chain, with `data` the panic
/// message.
unsafe extern "C" fn on_panic(_nb: *mut bindings::notifier_block, _action: c_ulong, data: *mut c_void) -> c_int {
    let entered = panic_clock_ns();
    // First, before anything else runs on this stack: the registers a
    // debugger unwinds the panicking task from (every other CPU's were saved
    // by the kernel when it stopped them, with crash_kexec_post_notifiers).
    let mut registers = PanicRegisters { pid: 0, regs: [0; ELF_NGREG] };
    // SAFETY: An x86-64 `elf_gregset_t` (`user_regs_struct`) starts with the
    // 21 words of `struct pt_regs`, in the same order (r15 ... ss); the
    // array has 27 aligned words, and the shim writes the first 21. The
    // rest (fs/gs bases and selectors) mean nothing in kernel context and
    // stay 0.
    unsafe { shims::ct_panic_registers(registers.regs.as_mut_ptr().cast::<bindings::pt_regs>()) };
    if STARTED.swap(true, Ordering::AcqRel) {
        // A panic inside the dump (the dump path faulted, or a test hook):
        // the header keeps the last watermark, which is all it can vouch for.
        // SAFETY: The notifier's contract: `data` is the panic message.
        pr_emerg!("panic inside the dump ({}): not dumping again; the header keeps the last watermark\n", unsafe {
            panic_message(data)
        });
        return bindings::NOTIFY_DONE as c_int;
    }
    let target = ARMED.load(Ordering::Acquire);
    if target.is_null() {
        return bindings::NOTIFY_DONE as c_int;
    }
    // From here this CPU drives the disk alone, by polling, with every other
    // CPU stopped wherever it was: lockdep's rules no longer describe the
    // machine, and submit_bio's might_sleep() (our bios never sleep: they
    // are REQ_NOWAIT) would be reported against the notifier chain's RCU
    // read lock. panic() turns lock debugging off right after the notifiers
    // for the same reason; we do it before our first bio.
    // SAFETY: Always callable; it only clears the debug flag.
    unsafe { bindings::debug_locks_off() };
    // SAFETY: `ARMED` points to a live, fully armed target: it is cleared
    // before a context is disarmed, and every other CPU is stopped now.
    let target = unsafe { &*target };
    // SAFETY: `STARTED` makes this the only access to the panic state from
    // here on; arming finished before the context was published.
    let state = unsafe { &mut *target.state.get() };
    // SAFETY: The notifier's contract: `data` is the panic message.
    let message = unsafe { panic_message(data) };
    // A panic that interrupted a task with a block plug must not capture our
    // bios in that plug: send them to the device directly.
    // SAFETY: `current` is valid; the plug pointer is restored below.
    let task = unsafe { bindings::get_current() };
    // SAFETY: As above.
    let plug = unsafe { core::ptr::replace(&raw mut (*task).plug, core::ptr::null_mut()) };
    // SAFETY: As above; the PID of the task that panicked.
    registers.pid = u32::try_from(unsafe { (*task).pid }).unwrap_or(0);
    state.dump(target.bdev, message, &registers, entered);
    // SAFETY: As above.
    unsafe { (*task).plug = plug };
    bindings::NOTIFY_DONE as c_int
}
