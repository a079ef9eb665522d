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
//! A filtered dump (a page filter, or a time budget) visits the RAM twice:
//! pass 0 copies the kernel pages, pass 1 the others its filter keeps (a
//! kernel-only filter skips pass 1); each page's class comes from its
//! `struct page` (`core/src/pagefilter.rs`), the memory map read a page at a
//! time. Kept pages are packed into the chunks; each is marked in its pass's
//! bitmap, and the bitmaps' changed pages are written at step 3 with the
//! checksum table. With a budget, after every chunk the rest is projected
//! (`core/src/scheme.rs`) and the dump may switch to a leaner filter.
//!
//! A compressed dump (format version 3) is a filtered dump whose chunks
//! are compressed one by one (`compress.rs`) into the slot's second buffer
//! and written back to back; the checksum covers the stored bytes, and each
//! chunk's place, length and codec go into the chunk table in place of the
//! checksum table.
//!
//! Pages are copied with `copy_from_kernel_nofault`: a page that is not
//! mapped (secret memory, debug page allocation) is written as zeros and
//! counted, instead of faulting inside the panic.

use crate::bdev::{allocated, BlockDevice, IoBuf, PAGE, SECTOR_SHIFT};
use crate::crc::KernelCrc;
use crate::compress::Compressor;
use crate::ct_core::checksum::ChunkChecksum;
use crate::ct_core::codec::{ChunkEntry, Codec, ENTRIES_PER_PAGE, ENTRY_SIZE};
use crate::ct_core::dumpkey::{associated_data, KEY_SIZE, TAG_SIZE};
use crate::ct_core::header::{flags, DumpState, Header, PanicRegisters, RamRange, ELF_NGREG, HEADER_COPY_OFFSETS, NO_CPU};
use crate::ct_core::notes::{crash_note, CRASH_NOTE_SIZE};
use crate::ct_core::pagefilter::{Census, Class, Filter, Walker};
use crate::ct_core::plan::{PageCursor, ScanCursor};
use crate::ct_core::header::SwitchRecord;
use crate::ct_core::scheme::{replan, Bucket, Model};
use crate::polled_bio::{panic_clock_ns, PollError, PolledBio};
use crate::shims;
use core::cell::UnsafeCell;
use core::mem::ManuallyDrop;
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
    /// Dropped only if no bio of it may still be in the device's hands
    /// (see `Drop`).
    state: UnsafeCell<ManuallyDrop<PanicState>>,
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
        Self { bdev: disk.raw(), state: UnsafeCell::new(ManuallyDrop::new(state)) }
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

impl Drop for DumpTarget {
    /// Frees the panic state, unless a write of it timed out (arming's
    /// rehearsal, on a disk that stopped answering): the disk may still
    /// complete it, run its `end_io` on the bio's box and read the buffer's
    /// pages. All of it then stays allocated for ever: a leak the log
    /// states, never memory a device can touch after it was freed.
    fn drop(&mut self) {
        let state = self.state.get_mut();
        if state.device_may_touch() {
            pr_warn!(
                "a write to the coredump disk timed out and may still complete: its {} KiB of buffers and bios stay allocated for good\n",
                state.allocated() >> 10
            );
            return;
        }
        // SAFETY: Dropped once, here; the target (and so the state) is not
        // used after its drop.
        unsafe { ManuallyDrop::drop(state) };
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
    /// A compressed dump's: what the codec made of the bounce buffer.
    out: Option<IoBuf>,
}

impl Slot {
    /// A slot for chunks of `bytes`; a compressed dump's has an output
    /// buffer, twice as large when encrypted (a chunk stored as it is and
    /// its tag, as the cipher writes them).
    pub(crate) fn new(pages: u16, bytes: usize, compressed: bool, encrypted: bool) -> Result<Self> {
        let out = match (compressed, encrypted) {
            (_, true) => Some(IoBuf::new(2 * bytes)?),
            (true, false) => Some(IoBuf::new(bytes)?),
            (false, false) => None,
        };
        Ok(Self { bio: PolledBio::new(pages)?, bounce: IoBuf::new(bytes)?, out })
    }

    /// The memory it holds.
    fn allocated(&self) -> usize {
        self.bio.allocated() + self.bounce.allocated() + self.out.as_ref().map_or(0, IoBuf::allocated)
    }

    /// Compresses the first `len` bytes of the bounce buffer into the
    /// output buffer, if that saves at least a page. Returns the codec and
    /// the bytes to store; the stored pages' tail past them is zeroed.
    fn compress(&mut self, compressor: Option<&mut Compressor>, len: usize) -> (Codec, usize) {
        let (Some(c), Some(out)) = (compressor, self.out.as_mut()) else { return (Codec::None, len) };
        let (Some(src), Some(dst)) = (self.bounce.as_slice().get(..len), out.as_mut_slice().get_mut(..len.saturating_sub(PAGE))) else {
            return (Codec::None, len);
        };
        match c.compress(src, dst) {
            Some(n) => {
                if let Some(tail) = out.as_mut_slice().get_mut(n..n.next_multiple_of(PAGE)) {
                    tail.fill(0);
                }
                (c.codec(), n)
            }
            None => (Codec::None, len),
        }
    }

    /// Encrypts the chunk's `len` stored bytes (after `compress`) into the
    /// output buffer with `key`, nonce `index` and associated data `ad`;
    /// returns the tag. The output's tail past them, to the page, is zeroed.
    fn encrypt(&mut self, codec: Codec, len: usize, key: &[u8; KEY_SIZE], index: u64, ad: &[u8]) -> Option<[u8; TAG_SIZE]> {
        let out = self.out.as_mut()?;
        let end = len.checked_add(TAG_SIZE)?;
        if end > out.len() {
            return None;
        }
        let src: *const u8 = match codec {
            Codec::None => self.bounce.as_slice().get(..len)?.as_ptr(),
            // In place: the cipher reads each block before it writes it.
            _ => out.as_slice().get(..len)?.as_ptr(),
        };
        let dst = out.as_mut_slice().as_mut_ptr();
        // SAFETY: `src` is valid for `len` bytes; `dst` for `len + 16`
        // (checked above), either the same buffer (in place, which the
        // kernel's ChaCha20 supports) or disjoint; `ad` and `key` are valid.
        unsafe { shims::chacha20poly1305_encrypt(dst, src, len, ad.as_ptr(), ad.len(), index, key.as_ptr()) };
        let mut tag = [0u8; TAG_SIZE];
        tag.copy_from_slice(out.as_slice().get(len..end)?);
        if let Some(tail) = out.as_mut_slice().get_mut(len..len.next_multiple_of(PAGE)) {
            tail.fill(0);
        }
        Some(tag)
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

impl Slot {
    /// As [`fill`](Self::fill), for a filtered dump: visits the pages of
    /// `scan` until `max` pages are kept (or the scan ends), keeping those
    /// `filtering` keeps; each kept page's bit is set in its pass's bitmap.
    fn fill_filtered(&mut self, scan: &mut ScanCursor<'_>, filtering: &mut Filtering, max: usize, unreadable: &mut u32) -> usize {
        let mut pages = 0;
        while pages < max {
            if scan.at().pass == 1 && filtering.filter == Filter::Kernel {
                // Pass 1 would keep nothing: skip it.
                scan.finish();
                break;
            }
            let Some((pass, index, phys)) = scan.next() else { break };
            if index == 0 {
                filtering.walker.reset();
            }
            let Filtering { walker, memmap, .. } = filtering;
            let class = walker.class(phys / PAGE as u64, &mut |addr, buf| memmap.read(addr, buf));
            if pass == 0 {
                if let Some(n) = filtering.census.get_mut(class as usize) {
                    *n += 1;
                }
            }
            let keep = if pass == 0 { class == Class::Kernel } else { class != Class::Kernel && filtering.filter.keeps(class) };
            if !keep {
                continue;
            }
            let Some(dst) = self.bounce.as_mut_slice().get_mut(pages * PAGE..(pages + 1) * PAGE) else { break };
            // SAFETY: As in `fill`.
            let copied = unsafe {
                let src = shims::ct_phys_to_virt(phys);
                bindings::copy_from_kernel_nofault(dst.as_mut_ptr().cast(), src, PAGE)
            };
            if copied != 0 {
                dst.fill(0);
                *unreadable = unreadable.saturating_add(1);
            } else if pass != 0 && !filtering.filter.keeps(Class::Zero) && dst.chunks_exact(8).all(|w| w == [0u8; 8]) {
                // Only pages of pass 1 are dropped for being zero. A kernel
                // page that is all zeros is still data a reader needs (the
                // sparse memory model's root table is mostly zeros, and
                // crash reads all of it); a dropped page lies in no PT_LOAD
                // of the vmcore, which readers take for "missing", not zero.
                if let Some(n) = filtering.census.get_mut(Class::Zero as usize) {
                    *n += 1;
                }
                continue;
            }
            if let Some(bitmap) = filtering.bitmaps.get_mut(pass) {
                bitmap.set(index);
            }
            pages += 1;
        }
        pages
    }
}

/// The buffer a chunk stored with `codec` is written from: the codec's
/// output, or the bounce buffer for a chunk stored as it is.
fn stored_buffer<'a>(bounce: &'a IoBuf, out: &'a Option<IoBuf>, codec: Codec) -> &'a IoBuf {
    match (out, codec) {
        (Some(out), Codec::Lz4 | Codec::Zstd) => out,
        _ => bounce,
    }
}

/// The buffer a chunk is written from: an encrypted one's is always the
/// output buffer (the ciphertext).
fn written_buffer<'a>(bounce: &'a IoBuf, out: &'a Option<IoBuf>, codec: Codec, encrypted: bool) -> &'a IoBuf {
    match (out, encrypted) {
        (Some(out), true) => out,
        _ => stored_buffer(bounce, out, codec),
    }
}

/// An encrypted dump's data key, for this arming only; zeroed when dropped.
pub(crate) struct Encryption {
    pub(crate) key: [u8; KEY_SIZE],
}

impl Drop for Encryption {
    fn drop(&mut self) {
        crate::secret::zeroize(&mut self.key);
    }
}

/// Reads `buf.len()` bytes of kernel memory at `addr`, if they can be read.
fn read_nofault(addr: u64, buf: &mut [u8]) -> bool {
    // SAFETY: `copy_from_kernel_nofault` checks the address and survives a
    // fault; `buf` is ours.
    unsafe { bindings::copy_from_kernel_nofault(buf.as_mut_ptr().cast(), addr as *const c_void, buf.len()) == 0 }
}

/// The memory map, read a page at a time: one no-fault copy serves the 64
/// `struct page`s of a 4 KiB page of the map, in the order the walk visits
/// them, instead of one copy each.
pub(crate) struct MemmapReader {
    page: IoBuf,
    /// The address of the map page `page` holds (`u64::MAX`: none; 1: it
    /// could not be read).
    cached: u64,
}

impl MemmapReader {
    pub(crate) fn new() -> Result<Self> {
        Ok(Self { page: IoBuf::new(PAGE)?, cached: u64::MAX })
    }

    fn allocated(&self) -> usize {
        self.page.allocated()
    }

    /// Forgets the cached page (the map may have changed: a new census).
    fn forget(&mut self) {
        self.cached = u64::MAX;
    }

    /// The `struct page` at `addr` into `buf`.
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        let base = addr & !(PAGE as u64 - 1);
        let offset = (addr - base) as usize;
        if offset + buf.len() > PAGE {
            // Straddles two pages of the map: read it alone.
            return read_nofault(addr, buf);
        }
        if self.cached != base {
            self.cached = if read_nofault(base, self.page.as_mut_slice()) { base } else { 1 };
        }
        if self.cached != base {
            // The page as a whole could not be read: try the entry alone.
            return read_nofault(addr, buf);
        }
        match self.page.as_slice().get(offset..offset + buf.len()) {
            Some(src) => {
                buf.copy_from_slice(src);
                true
            }
            None => false,
        }
    }
}

/// One pass's bitmap of the page map: one bit per page of the RAM ranges,
/// in kmalloc segments (whole pages, each under kmalloc's largest size).
pub(crate) struct Bitmap {
    segments: KVec<IoBuf>,
    /// log2 of each segment's bytes (shifts: no division in the panic path).
    segment_shift: u32,
}

/// The largest segment of a bitmap.
const BITMAP_SEGMENT: usize = 1 << 20;
/// Pages of the page map written by one bio.
pub(crate) const MAP_BIO_PAGES: usize = 16;

impl Bitmap {
    /// A zeroed bitmap of `bytes` (a multiple of `PAGE`).
    pub(crate) fn new(bytes: u64) -> Result<Self> {
        let bytes = usize::try_from(bytes).map_err(|_| EINVAL)?;
        let segment_bytes = bytes.next_power_of_two().clamp(PAGE, BITMAP_SEGMENT);
        let count = bytes.div_ceil(segment_bytes);
        let mut segments = KVec::with_capacity(count, GFP_KERNEL)?;
        for _ in 0..count {
            segments.push(IoBuf::new(segment_bytes)?, GFP_KERNEL)?;
        }
        Ok(Self { segments, segment_shift: segment_bytes.trailing_zeros() })
    }

    fn allocated(&self) -> usize {
        self.segments.iter().map(IoBuf::allocated).sum::<usize>() + allocated(self.segments.as_ptr())
    }

    fn clear(&mut self) {
        for s in self.segments.iter_mut() {
            s.as_mut_slice().fill(0);
        }
    }

    /// Segment index and offset in it of byte `byte`.
    fn locate(&self, byte: usize) -> (usize, usize) {
        (byte >> self.segment_shift, byte & ((1 << self.segment_shift) - 1))
    }

    fn set(&mut self, bit: u64) {
        let (segment, offset) = self.locate((bit / 8) as usize);
        if let Some(b) = self.segments.get_mut(segment).and_then(|s| s.as_mut_slice().get_mut(offset)) {
            *b |= 1 << (bit % 8);
        }
    }

    /// The page holding bitmap page `index`, if the bitmap has it.
    fn page(&self, index: usize) -> Option<*mut bindings::page> {
        let (segment, offset) = self.locate(index * PAGE);
        Some(self.segments.get(segment)?.page(offset))
    }
}

/// What a filtered dump needs beyond an unfiltered one, prepared at arming.
pub(crate) struct Filtering {
    pub(crate) filter: Filter,
    pub(crate) walker: Walker,
    /// The page map's byte offset on the disk, and one bitmap's bytes there.
    pub(crate) map_offset: u64,
    pub(crate) pass_bytes: u64,
    pub(crate) bitmaps: [Bitmap; 2],
    pub(crate) bio: KBox<PolledBio>,
    pub(crate) census: Census,
    /// Bitmap pages of each pass that are final on the disk.
    pub(crate) flushed: [usize; 2],
    /// The time model (arming's census and rates) and the budget it must
    /// keep (ms, 0: none); re-plans so far.
    pub(crate) model: Option<Model>,
    pub(crate) budget_ms: u64,
    pub(crate) switches: u32,
    pub(crate) memmap: MemmapReader,
}

impl Filtering {
    pub(crate) fn allocated(&self) -> usize {
        self.bitmaps.iter().map(Bitmap::allocated).sum::<usize>() + self.bio.allocated() + self.memmap.allocated()
    }

    /// Ready for a dump (or a census): nothing kept, nothing counted.
    fn begin(&mut self) {
        for b in self.bitmaps.iter_mut() {
            b.clear();
        }
        self.census = [0; 5];
        self.flushed = [0; 2];
        self.walker.reset();
        self.memmap.forget();
    }

    /// Writes the bitmap pages that changed up to `scanned` pages of each
    /// pass (the last, partial, page again next time) and waits for them.
    fn flush(&mut self, bdev: *mut bindings::block_device, scanned: [u64; 2]) -> Result<(), PollError> {
        for pass in 0..2 {
            let bits = scanned[pass];
            let end = (bits.div_ceil(8).div_ceil(PAGE as u64)) as usize;
            let mut first = self.flushed[pass];
            while first < end {
                let n = (end - first).min(MAP_BIO_PAGES);
                let sector = (self.map_offset + pass as u64 * self.pass_bytes + (first * PAGE) as u64) >> SECTOR_SHIFT;
                let bitmap = &self.bitmaps[pass];
                // SAFETY: The disk polls; the bitmap pages are untouched until
                // `wait` returns.
                unsafe { self.bio.submit_write(bdev, sector, (first..first + n).filter_map(|i| bitmap.page(i)))? };
                self.bio.wait(panic_clock_ns() + IO_TIMEOUT_NS)?;
                first += n;
            }
            self.flushed[pass] = (bits / 8 / PAGE as u64) as usize;
        }
        Ok(())
    }

    /// Classifies every page of `ranges` now, as the dump's first pass would
    /// (process context, while the node runs: an estimate); returns the
    /// census and the nanoseconds it took.
    pub(crate) fn census_now(&mut self, ranges: &[RamRange]) -> (Census, u64) {
        let started = panic_clock_ns();
        self.walker.reset();
        self.memmap.forget();
        let mut census = [0u64; 5];
        for (pass, _, phys) in ScanCursor::new(ranges) {
            if pass > 0 {
                break;
            }
            let Self { walker, memmap, .. } = self;
            let class = walker.class(phys / PAGE as u64, &mut |addr, buf| memmap.read(addr, buf));
            if let Some(n) = census.get_mut(class as usize) {
                *n += 1;
            }
        }
        (census, panic_clock_ns().saturating_sub(started))
    }
}

impl Filtering {
    /// Fills `buffers` (by `scheme::Bucket`: kernel pages; page cache and
    /// user pages; free pages) with pages of RAM of each kind, picked at a
    /// stride through the RAM ranges, zero pages included as often as they
    /// come: arming's sample for the codec probe. Returns the bytes of
    /// each filled.
    pub(crate) fn sample(&mut self, ranges: &[RamRange], buffers: [&mut [u8]; 3]) -> [usize; 3] {
        let total: u64 = ranges.iter().map(|r| r.len / PAGE as u64).sum();
        // About 32 chunks' worth of pages visited: a few percent of
        // kernel pages still fill most of a chunk.
        let want = (buffers[0].len() / PAGE) as u64 * 32;
        let stride = (total / want.max(1)).max(1);
        self.walker.reset();
        self.memmap.forget();
        let mut filled = [0usize; 3];
        let mut buffers = buffers;
        for (pass, index, phys) in ScanCursor::new(ranges) {
            if pass > 0 || filled.iter().zip(buffers.iter()).all(|(f, b)| *f >= b.len()) {
                break;
            }
            if index % stride != 0 {
                continue;
            }
            let Self { walker, memmap, .. } = self;
            let class = walker.class(phys / PAGE as u64, &mut |addr, buf| memmap.read(addr, buf));
            let bucket = match class {
                Class::Kernel => Bucket::Kernel,
                Class::Free => Bucket::Free,
                _ => Bucket::Other,
            } as usize;
            let (Some(buf), Some(at)) = (buffers.get_mut(bucket), filled.get_mut(bucket)) else { continue };
            let Some(dst) = buf.get_mut(*at..*at + PAGE) else { continue };
            // SAFETY: `phys` lies in System RAM, in the direct map.
            let src = unsafe { shims::ct_phys_to_virt(phys) } as u64;
            if read_nofault(src, dst) {
                *at += PAGE;
            }
        }
        self.walker.reset();
        self.memmap.forget();
        filled
    }
}

/// What a rehearsal measured (see `PanicState::rehearse`).
#[derive(Clone, Copy, Default)]
pub(crate) struct Rehearsal {
    pub(crate) bytes: u64,
    pub(crate) ns: u64,
    pub(crate) first_done_ns: u64,
    pub(crate) first_chunk: u64,
}

impl Rehearsal {
    /// The steady rate, bytes per millisecond: what completed after the
    /// first chunk, over the time since (the whole rehearsal's rate if the
    /// first completion was not seen).
    pub(crate) fn steady_bytes_per_ms(&self) -> Option<u64> {
        let (bytes, ns) = match self.first_done_ns {
            0 => (self.bytes, self.ns),
            first => (self.bytes.saturating_sub(self.first_chunk), self.ns.saturating_sub(first)),
        };
        // At most 8 MiB × 10^6: no overflow.
        (bytes > 0).then(|| (bytes.saturating_mul(1_000_000) / ns.max(1)).max(1))
    }

    /// The time to write `total` bytes: the pipeline's fill, then the rest
    /// at the steady rate.
    pub(crate) fn predict_ms(&self, total: u64) -> Option<u64> {
        let rate = self.steady_bytes_per_ms()?;
        let fill_ms = if self.first_done_ns == 0 { 0 } else { self.first_done_ns / 1_000_000 };
        let rest = if self.first_done_ns == 0 { total } else { total.saturating_sub(self.first_chunk) };
        Some(fill_ms + rest / rate)
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
    /// The page filter's state, for a filtered dump.
    pub(crate) filtering: Option<Filtering>,
    /// A compressed dump (format version 3): a chunk table, and the bytes
    /// of its data area.
    pub(crate) chunk_table: Option<u64>,
    /// Its codec (none: every chunk stored as it is).
    pub(crate) compressor: Option<Compressor>,
    /// An encrypted dump's key.
    pub(crate) encryption: Option<Encryption>,
}

impl PanicState {
    /// The memory all of this takes, allocation by allocation as kmalloc
    /// gave it (`ksize`): what arming reserves for the panic path.
    pub(crate) fn allocated(&self) -> usize {
        let slots: usize = self.slots.iter().map(Slot::allocated).sum();
        self.header.allocated()
            + self.header_bio.allocated()
            + self.crc_page.allocated()
            + self.crc_bio.allocated()
            + slots
            + allocated(self.slots.as_ptr())
            + allocated(self.ranges.as_ptr())
            + self.filtering.as_ref().map_or(0, Filtering::allocated)
            + self.compressor.as_ref().map_or(0, Compressor::allocated)
    }

    /// Whether a bio of this state may still be in the device's hands (a
    /// write that timed out).
    pub(crate) fn device_may_touch(&self) -> bool {
        self.header_bio.in_flight()
            || self.crc_bio.in_flight()
            || self.slots.iter().any(|s| s.bio.in_flight())
            || self.filtering.as_ref().is_some_and(|f| f.bio.in_flight())
    }

    /// Table entries in a page: chunk table entries, or checksums.
    fn entries_per_page(&self) -> u64 {
        if self.chunk_table.is_some() { ENTRIES_PER_PAGE } else { CRCS_PER_PAGE }
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

    /// Reaps every slot's bio, all within one `IO_TIMEOUT_NS`: a disk that
    /// stopped answering costs one timeout, not one per bio in flight.
    fn drain(&mut self) -> Result<(), PollError> {
        let mut result = Ok(());
        let deadline = panic_clock_ns() + IO_TIMEOUT_NS;
        for slot in self.slots.iter_mut() {
            if let Err(e) = slot.bio.wait(deadline) {
                result = Err(e);
            }
        }
        result
    }

    /// Arming's rehearsal of the dump: the first `bytes` of the stream go
    /// through the panic path's own pipeline (copy, chunk checksum, polled
    /// writes with every slot in flight) into the data area, where the dump
    /// would put them; nothing else is written (the watermark stays 0, so no
    /// reader takes these bytes for a dump). Returns the bytes written, the
    /// nanoseconds it took, and when the first chunk was seen complete (0
    /// if the rehearsal had no more chunks than slots): the pipeline's fill
    /// time, after which the rest ran at its steady rate. Process context:
    /// interrupts and other CPUs run, so a panic (which has neither) is at
    /// least as fast.
    pub(crate) fn rehearse(&mut self, bdev: *mut bindings::block_device, data_offset: u64, chunk_size: u64, bytes: u64) -> Result<Rehearsal, PollError> {
        let slots = self.slots.len() as u64;
        if chunk_size == 0 || slots == 0 {
            return Ok(Rehearsal::default());
        }
        let mut first_done_ns = 0;
        let ranges = core::mem::take(&mut self.ranges);
        let limit = bytes.min(ranges.iter().map(|r| r.len).sum());
        let mut cursor = PageCursor::new(&ranges, limit);
        let (mut written, mut unreadable, mut sink) = (0u64, 0u32, 0u32);
        let started = panic_clock_ns();
        let mut outcome = Ok(());
        for chunk in 0..limit.div_ceil(chunk_size) {
            let Some(slot) = self.slots.get_mut(chunk.checked_rem(slots).unwrap_or(0) as usize) else { break };
            if let Err(e) = slot.bio.wait(panic_clock_ns() + IO_TIMEOUT_NS) {
                outcome = Err(e);
                break;
            }
            if chunk == slots {
                // Chunk 0's bio was just reaped.
                first_done_ns = panic_clock_ns().saturating_sub(started);
            }
            let pages = slot.fill(&mut cursor, self.pages_per_chunk, &mut unreadable);
            if pages == 0 {
                break;
            }
            if self.encryption.is_some() {
                // An encrypted dump's disk never holds RAM in clear: the
                // rehearsal writes zeros (the rate is the disk's either way).
                if let Some(b) = slot.bounce.as_mut_slice().get_mut(..pages * PAGE) {
                    b.fill(0);
                }
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
        outcome.and(drained).map(|()| Rehearsal { bytes: written, ns, first_done_ns, first_chunk: chunk_size.min(written) })
    }

    /// Records the model's choice in the header (not yet written).
    pub(crate) fn record_model(&mut self, chosen: Filter, budget_ms: u32, ms: &[u32; 4], mib: &[u32; 4]) {
        let mut h = self.header();
        h.set_filter(chosen);
        h.set_budget(budget_ms, chosen, ms, mib);
        h.seal(&KernelCrc);
    }

    /// Records the calibration from the disk's earlier dump (not yet written).
    pub(crate) fn record_calibration(&mut self, predicted_ms: u32, measured_ms: u32, factor_x1024: u32) {
        let mut h = self.header();
        h.set_calibration(predicted_ms, measured_ms, factor_x1024);
        h.seal(&KernelCrc);
    }

    /// Records arming's census in the header (not yet written).
    pub(crate) fn record_census(&mut self, census: &Census) {
        let mut h = self.header();
        h.set_census(census);
        h.seal(&KernelCrc);
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
        let (watermark, ended, stop) = match (result, drained) {
            (Ok((w, ended)), Ok(())) => (w, ended, None),
            (Ok((w, _)), Err(e)) | (Err((w, e)), _) => (w, false, Some(e)),
        };
        let filter = self.filtering.as_ref().map(|f| (f.filter, f.census, f.switches));
        let elapsed_ms = panic_clock_ns().saturating_sub(started) / 1_000_000;
        let predicted_ms = self.header().rehearsal().1;
        {
            let mut h = self.header();
            let complete = stop.is_none()
                && match filter {
                    // A filtered stream is complete when every page was visited.
                    Some(_) => ended,
                    None => fits && watermark == capacity,
                };
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
        if self.chunk_table.is_some() {
            let (codec, stored) = {
                let h = self.header();
                (h.codec(), h.stored_bytes())
            };
            pr_emerg!(
                "dump codec {}: {} MiB of stream stored in {} MiB ({} KiB)\n",
                codec.as_str(),
                watermark >> 20,
                stored >> 20,
                stored >> 10
            );
        }
        if let Some((filter, census, switches)) = filter {
            pr_emerg!(
                "dump filter {}: kept {} of {} MiB of RAM (kernel {}, cache {}, user {}, free {} MiB; {} zero pages dropped; {} re-plans)\n",
                filter.as_str(),
                watermark >> 20,
                self.header().dump_bytes() >> 20,
                census[Class::Kernel as usize] >> 8,
                census[Class::Cache as usize] >> 8,
                census[Class::User as usize] >> 8,
                census[Class::Free as usize] >> 8,
                census[Class::Zero as usize],
                switches,
            );
        }
    }

    /// Writes the RAM (the pages the filter keeps, for a filtered dump) up to
    /// `capacity` bytes of stream; returns the final watermark and whether
    /// the stream ended (every page visited) before the capacity, or the
    /// watermark reached and why it stopped.
    fn dump_ram(
        &mut self,
        bdev: *mut bindings::block_device,
        capacity: u64,
        chunk_size: u64,
        data_offset: u64,
        table_offset: u64,
    ) -> core::result::Result<(u64, bool), (u64, PollError)> {
        let slots = self.slots.len() as u64;
        let mut watermark = 0u64;
        let mut unreadable = 0u32;
        let mut next_progress = PROGRESS_BYTES;
        self.crc_page.as_mut_slice().fill(0);
        // The cursors borrow the ranges; the slots and buffers are other fields.
        let ranges = core::mem::take(&mut self.ranges);
        let mut filtering = self.filtering.take();
        if let Some(f) = filtering.as_mut() {
            f.begin();
        }
        let mut cursor = PageCursor::new(&ranges, capacity);
        let mut scan = ScanCursor::new(&ranges);
        let mut written = 0u64;
        let mut chunk = 0u64;
        let mut ended = false;
        let started = panic_clock_ns();
        let mut exact_census = false;
        let mut budget_cut = false;
        let mut outcome = Ok(());
        let dump_bytes = self.header().dump_bytes();
        let per_page = self.entries_per_page();
        // A compressed dump: bytes of the data area taken, and its size.
        let mut stored = 0u64;
        let room = self.chunk_table.unwrap_or(u64::MAX);
        loop {
            let mut max = (chunk_size.min(capacity - written) / PAGE as u64) as usize;
            if stored.saturating_add(chunk_size) > room {
                // The next chunk might not fit (stored as it is).
                max = 0;
            }
            if max == 0 {
                // The disk is full. A filtered stream may have ended right
                // there, and has if it holds every page (each page is kept
                // in one pass at most).
                ended = filtering.is_none() || scan.finished() || written == dump_bytes;
                break;
            }
            if let Some(f) = filtering.as_ref().filter(|f| f.budget_ms > 0) {
                // The budget is a deadline: stop while what is in flight
                // (at the rate so far) still lands within it.
                let elapsed_ms = panic_clock_ns().saturating_sub(started) / 1_000_000;
                let in_flight = written.min(slots.saturating_mul(chunk_size));
                let drain_ms = in_flight.saturating_mul(elapsed_ms).checked_div(written).unwrap_or(0);
                if elapsed_ms.saturating_add(drain_ms) >= f.budget_ms {
                    budget_cut = true;
                    break;
                }
            }
            let Some(slot) = self.slots.get_mut(chunk.checked_rem(slots).unwrap_or(0) as usize) else { break };
            if let Err(e) = slot.bio.wait(panic_clock_ns() + IO_TIMEOUT_NS) {
                outcome = Err(e);
                break;
            }
            let pages = match filtering.as_mut() {
                Some(f) => slot.fill_filtered(&mut scan, f, max, &mut unreadable),
                None => slot.fill(&mut cursor, max, &mut unreadable),
            };
            if pages == 0 {
                ended = true;
                break;
            }
            let (codec, stored_len) = slot.compress(self.compressor.as_mut(), pages * PAGE);
            let mut entry = ChunkEntry { checksum: 0, stored_len: stored_len as u32, disk_page: (stored / PAGE as u64) as u32, codec, tag: [0; TAG_SIZE] };
            let encrypted = self.encryption.is_some();
            if let Some(e) = self.encryption.as_ref() {
                let mut raw = [0u8; ENTRY_SIZE];
                entry.encode(&mut raw);
                match slot.encrypt(codec, stored_len, &e.key, chunk, &associated_data(&raw)) {
                    Some(tag) => entry.tag = tag,
                    // Never written in clear.
                    None => break,
                }
            }
            let data = written_buffer(&slot.bounce, &slot.out, codec, encrypted).as_slice().get(..stored_len).unwrap_or(&[]);
            let crc = self.checksum.compute(&KernelCrc, data);
            entry.checksum = crc;
            let index = chunk % per_page;
            if index == 0 && chunk > 0 {
                if let Err(e) = self.write_crc_page(bdev, table_offset, chunk / per_page - 1) {
                    outcome = Err(e);
                    break;
                }
                self.crc_page.as_mut_slice().fill(0);
            }
            if self.chunk_table.is_some() {
                let at = index as usize * ENTRY_SIZE;
                if let Some(slot) = self.crc_page.as_mut_slice().get_mut(at..at + ENTRY_SIZE) {
                    entry.encode(slot);
                }
            } else {
                let at = index as usize * 4;
                if let Some(entry) = self.crc_page.as_mut_slice().get_mut(at..at + 4) {
                    entry.copy_from_slice(&crc.to_le_bytes());
                }
            }
            let Some(slot) = self.slots.get_mut(chunk.checked_rem(slots).unwrap_or(0) as usize) else { break };
            let at = if self.chunk_table.is_some() { stored } else { written };
            let sector = (data_offset + at) >> SECTOR_SHIFT;
            let Slot { bio, bounce, out } = slot;
            let source = written_buffer(bounce, out, codec, encrypted);
            let stored_pages = stored_len.div_ceil(PAGE);
            // SAFETY: The disk polls; the bounce and output pages are
            // untouched until this slot's bio is reaped (next use of the
            // slot, or `drain`).
            let submitted = unsafe { bio.submit_write(bdev, sector, (0..stored_pages).map(|p| source.page(p * PAGE))) };
            if let Err(e) = submitted {
                outcome = Err(e);
                break;
            }
            written += (pages * PAGE) as u64;
            stored += (stored_pages * PAGE) as u64;
            chunk += 1;
            if let Some(f) = filtering.as_mut() {
                self.replan(f, &scan, started, written, &mut exact_census);
            }
            if written >= next_progress {
                if let Err(e) = self.progress(bdev, table_offset, chunk - 1, filtering.as_mut(), scan.scanned()) {
                    outcome = Err(e);
                    break;
                }
                watermark = written;
                self.record_progress(watermark, stored, unreadable, filtering.as_ref(), scan.scanned());
                if let Err(e) = self.write_header(bdev) {
                    outcome = Err(e);
                    break;
                }
                let test_panic = u64::from(TEST_PANIC_AFTER_MIB.load(Ordering::Relaxed)) << 20;
                if test_panic != 0 && written >= test_panic {
                    // SAFETY: A test hook: a panic inside the dump, on purpose.
                    unsafe { bindings::panic(kernel::c_str!("coretakeover test: panic inside the dump").as_char_ptr()) }
                }
                next_progress = written + PROGRESS_BYTES;
            }
        }
        // The rest since the last progress point counts once it is on the
        // disk with its checksums and map (the final header is the caller's).
        if outcome.is_ok() && written > watermark {
            match self.progress(bdev, table_offset, chunk.saturating_sub(1), filtering.as_mut(), scan.scanned()) {
                Ok(()) => {
                    watermark = written;
                    self.record_progress(watermark, stored, unreadable, filtering.as_ref(), scan.scanned());
                }
                Err(e) => outcome = Err(e),
            }
        }
        self.header().set_unreadable_pages(unreadable);
        if budget_cut {
            self.header().add_flags(flags::BUDGET_CUT);
            pr_emerg!("dump stopped at its budget after {} MiB\n", watermark >> 20);
        }
        self.filtering = filtering;
        self.ranges = ranges;
        match outcome {
            Ok(()) => Ok((watermark, ended)),
            Err(e) => Err((watermark, e)),
        }
    }

    /// With a time budget: re-plans the rest of the dump if it is projected
    /// to overrun (see `scheme::replan`), logging the switch in the header
    /// (written at the next progress point) and on the console.
    fn replan(&mut self, f: &mut Filtering, scan: &ScanCursor<'_>, started: u64, written: u64, exact_census: &mut bool) {
        let (Some(model), budget) = (f.model.as_mut(), f.budget_ms) else { return };
        if budget == 0 {
            return;
        }
        let at = scan.at();
        if at.pass >= 1 && !*exact_census {
            // Pass 0 has classified every page: the dump's census is exact.
            for (m, c) in model.census.iter_mut().zip(f.census.iter()).take(4) {
                *m = *c;
            }
            *exact_census = true;
        }
        let elapsed_ms = panic_clock_ns().saturating_sub(started) / 1_000_000;
        // Not on the first chunks' evidence: the pipeline is still filling.
        let slots = self.slots.len() as u64;
        if elapsed_ms.saturating_mul(20) < budget || written < slots.saturating_mul(2).saturating_mul(self.pages_per_chunk as u64 * PAGE as u64) {
            return;
        }
        let scanned = scan.scanned();
        let Some(switch) = replan(model, f.filter, budget, at, elapsed_ms, scanned[0].saturating_add(scanned[1]), written) else {
            return;
        };
        let record = SwitchRecord {
            at_ms: u32::try_from(elapsed_ms).unwrap_or(u32::MAX),
            from: f.filter,
            to: switch.to,
            pass: at.pass as u8,
            visited: u32::try_from(at.visited).unwrap_or(u32::MAX),
            projected_ms: u32::try_from(switch.projected_ms).unwrap_or(u32::MAX),
        };
        f.filter = switch.to;
        f.switches = f.switches.saturating_add(1);
        self.header().add_switch(&record);
        pr_emerg!(
            "dump re-planned at {} ms ({} MiB written, pass {}): page filter {} -> {}, projected {} ms over a budget of {} ms\n",
            elapsed_ms,
            written >> 20,
            at.pass,
            record.from.as_str(),
            record.to.as_str(),
            switch.projected_ms,
            budget
        );
    }

    /// Makes everything submitted so far durable: the data, the checksum
    /// table page of chunk `last_chunk`, and the page map.
    fn progress(
        &mut self,
        bdev: *mut bindings::block_device,
        table_offset: u64,
        last_chunk: u64,
        filtering: Option<&mut Filtering>,
        scanned: [u64; 2],
    ) -> Result<(), PollError> {
        self.drain()?;
        self.write_crc_page(bdev, table_offset, last_chunk / self.entries_per_page())?;
        match filtering {
            Some(f) => f.flush(bdev, scanned),
            None => Ok(()),
        }
    }

    /// Puts a progress point's figures into the header (not yet written).
    fn record_progress(&mut self, watermark: u64, stored: u64, unreadable: u32, filtering: Option<&Filtering>, scanned: [u64; 2]) {
        let mut h = self.header();
        h.set_watermark(watermark);
        if h.has_chunk_table() {
            h.set_stored_bytes(stored);
        }
        h.set_unreadable_pages(unreadable);
        if let Some(f) = filtering {
            h.set_scanned(scanned);
            h.set_census(&f.census);
        }
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
