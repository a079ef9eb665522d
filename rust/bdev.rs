// SPDX-License-Identifier: GPL-2.0

//! Block devices opened by path, and synchronous I/O on them for process
//! context (arming, disarming, reading a partner's disk).
//!
//! The panic path never uses this file's I/O: it has `polled_bio.rs`.

use crate::shims;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::{from_err_ptr, to_result};
use kernel::ffi::c_void;
use kernel::prelude::*;
use kernel::str::CStr;

pub(crate) const SECTOR_SHIFT: u32 = 9;
pub(crate) const PAGE: usize = 4096;

/// A kmalloc'd, page-aligned I/O buffer whose length is a power of two of at
/// least a page: the block layer can take its pages (`virt_to_page`) directly.
///
/// # Invariants
///
/// `buf` came from kmalloc (physically contiguous, in the direct map) with a
/// power-of-two length of at least `PAGE`, so it is aligned to its length.
pub(crate) struct IoBuf {
    buf: KVec<u8>,
}

impl IoBuf {
    /// A zeroed buffer of `len` bytes; `len` must be a power of two ≥ 4096.
    pub(crate) fn new(len: usize) -> Result<Self> {
        if len < PAGE || !len.is_power_of_two() {
            return Err(EINVAL);
        }
        // INVARIANT: kmalloc aligns power-of-two sizes to their size.
        Ok(Self { buf: KVec::from_elem(0u8, len, GFP_KERNEL)? })
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// The memory the buffer really takes (what kmalloc gave it).
    pub(crate) fn allocated(&self) -> usize {
        allocated(self.buf.as_ptr())
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// The page holding byte `offset` (a multiple of `PAGE` below `len`).
    pub(crate) fn page(&self, offset: usize) -> *mut bindings::page {
        let addr = self.buf.as_ptr().wrapping_add(offset);
        // SAFETY: By the type invariant the buffer is kmalloc memory in the
        // direct map, where `virt_to_page` is valid.
        unsafe { shims::ct_virt_to_page(addr.cast()) }
    }
}

/// The size of the kmalloc allocation at `ptr` (`ksize`): what an object
/// really takes, its slab's rounding included; 0 for a null or dangling
/// pointer (an empty vector allocates nothing).
pub(crate) fn allocated<T>(ptr: *const T) -> usize {
    if ptr.is_null() || ptr.is_aligned() && ptr as usize == core::mem::align_of::<T>() {
        return 0;
    }
    // SAFETY: `ptr` is the start of a live kmalloc allocation: every caller
    // passes the buffer of a `KVec` with capacity, a `KBox`, or a bio from
    // `bio_kmalloc`, all kmalloc memory.
    unsafe { bindings::ksize(ptr.cast()) }
}

/// `path` with a terminating NUL, for the C API.
pub(crate) fn nul_terminated(path: &str) -> Result<KVec<u8>> {
    let mut c = KVec::with_capacity(path.len() + 1, GFP_KERNEL)?;
    c.extend_from_slice(path.as_bytes(), GFP_KERNEL)?;
    c.push(0, GFP_KERNEL)?;
    Ok(c)
}

/// A block device opened through its path, closed on drop.
///
/// # Invariants
///
/// `file` is an open block-device file we own; `bdev` is its block device.
pub(crate) struct BlockDevice {
    file: NonNull<bindings::file>,
    bdev: NonNull<bindings::block_device>,
    /// A device-mapper device (a multipath map): its persistent
    /// reservations go through dm's `pr_ops` to its paths (`pr.rs`).
    device_mapper: bool,
}

// SAFETY: An opened block device may be used and closed from any thread.
unsafe impl Send for BlockDevice {}
// SAFETY: The methods taking `&self` only read queue properties or submit
// I/O, which the block layer serialises itself.
unsafe impl Sync for BlockDevice {}

/// The limits of a queue that decide how large an unsplittable bio may be.
pub(crate) struct QueueLimits {
    pub(crate) max_segments: u32,
    pub(crate) max_sectors: u32,
    pub(crate) max_segment_size: u32,
    pub(crate) logical_block_size: u32,
}

impl BlockDevice {
    /// Opens `path` for reading and writing, exclusively for `holder`.
    pub(crate) fn open_exclusive(path: &CStr, holder: *mut c_void) -> Result<Self> {
        // SAFETY: A constant of the shims.
        let mode = unsafe { shims::ct_blk_open_read_write() };
        Self::open(path, mode, holder)
    }

    /// Opens `path` for reading and writing, shared (service disks: the
    /// reservation, not the open, decides who writes).
    pub(crate) fn open_shared(path: &CStr) -> Result<Self> {
        // SAFETY: A constant of the shims.
        let mode = unsafe { shims::ct_blk_open_read_write() };
        Self::open(path, mode, core::ptr::null_mut())
    }

    /// Opens `path` for reading, shared with everyone.
    pub(crate) fn open_read_only(path: &CStr) -> Result<Self> {
        // SAFETY: A constant of the shims.
        let mode = unsafe { shims::ct_blk_open_read() };
        Self::open(path, mode, core::ptr::null_mut())
    }

    /// Opens the device numbered `dev` for reading, shared with everyone
    /// (a second handle on a device already open, without a path lookup).
    pub(crate) fn open_read_only_by_dev(dev: u32) -> Result<Self> {
        // SAFETY: A constant of the shims.
        let mode = unsafe { shims::ct_blk_open_read() };
        // SAFETY: A null holder means a shared open, and no holder
        // operations are needed.
        let file = from_err_ptr(unsafe { bindings::bdev_file_open_by_dev(dev, mode, core::ptr::null_mut(), core::ptr::null()) })?;
        Self::from_file(file)
    }

    /// Opens the device numbered `dev` for reading and writing, shared (a
    /// path of a multipath map, which dm holds open).
    pub(crate) fn open_shared_by_dev(dev: u32) -> Result<Self> {
        // SAFETY: A constant of the shims.
        let mode = unsafe { shims::ct_blk_open_read_write() };
        // SAFETY: A null holder means a shared open, and no holder
        // operations are needed.
        let file = from_err_ptr(unsafe { bindings::bdev_file_open_by_dev(dev, mode, core::ptr::null_mut(), core::ptr::null()) })?;
        Self::from_file(file)
    }

    /// Whether someone holds the device exclusively (a mounted filesystem,
    /// dm, md; for a whole disk, also a claim on one of its partitions):
    /// this node uses it. Our own opens are shared, never a claim.
    pub(crate) fn claimed(&self) -> bool {
        // SAFETY: By the type invariant the device is open; `bd_holder` is
        // read once, as a snapshot.
        !unsafe { core::ptr::read_volatile(&(*self.raw()).bd_holder) }.is_null()
    }

    /// The device number (`dev_t`).
    pub(crate) fn dev(&self) -> u32 {
        // SAFETY: By the type invariant the device is open.
        unsafe { (*self.raw()).bd_dev }
    }

    fn open(path: &CStr, mode: bindings::blk_mode_t, holder: *mut c_void) -> Result<Self> {
        // SAFETY: `path` is NUL-terminated; a null holder means a shared open,
        // and no holder operations are needed.
        let file = from_err_ptr(unsafe {
            bindings::bdev_file_open_by_path(path.as_char_ptr(), mode, holder, core::ptr::null())
        })?;
        Self::from_file(file)
    }

    /// Takes ownership of `file`, a block-device file just opened.
    fn from_file(file: *mut bindings::file) -> Result<Self> {
        let file = NonNull::new(file).ok_or(EINVAL)?;
        // SAFETY: `file` is a block-device file just opened.
        let bdev = unsafe { bindings::file_bdev(file.as_ptr()) };
        let Some(bdev) = NonNull::new(bdev) else {
            // SAFETY: We own the file and give it back.
            unsafe { bindings::bdev_fput(file.as_ptr()) };
            return Err(ENOTBLK);
        };
        // SAFETY: `bdev` is the device of the file we hold open.
        let device_mapper = unsafe { shims::ct_bdev_is_dm(bdev.as_ptr()) };
        // INVARIANT: `file` is open and ours; `bdev` is its device.
        Ok(Self { file, bdev, device_mapper })
    }

    /// Whether this is a partition, not a whole disk: refused wherever a
    /// disk is named (a label or a reservation is a whole disk's).
    pub(crate) fn is_partition(&self) -> bool {
        // SAFETY: By the type invariant the device is open.
        unsafe { shims::ct_bdev_is_partition(self.raw()) }
    }

    /// Whether this is a device-mapper device (a multipath map).
    pub(crate) fn is_device_mapper(&self) -> bool {
        self.device_mapper
    }

    pub(crate) fn raw(&self) -> *mut bindings::block_device {
        self.bdev.as_ptr()
    }

    pub(crate) fn size_bytes(&self) -> u64 {
        // SAFETY: By the type invariant the device is open.
        unsafe { shims::ct_bdev_nr_bytes(self.raw()) }
    }

    /// Whether the queue supports polled I/O (poll queues configured).
    pub(crate) fn polls(&self) -> bool {
        // SAFETY: By the type invariant the device is open.
        unsafe { shims::ct_bdev_polls(self.raw()) }
    }

    /// The driver behind the disk (for a SCSI disk, its host adapter's).
    pub(crate) fn driver(&self) -> &'static str {
        // SAFETY: By the type invariant the device is open; the name is the
        // driver's static string (built in, or its module pinned by the disk).
        let name = unsafe { kernel::str::CStr::from_char_ptr(shims::ct_bdev_driver(self.raw())) };
        name.to_str().unwrap_or("?")
    }

    /// Whether it is a virtio disk with indirect descriptors, whose driver
    /// allocates a descriptor table for every request.
    pub(crate) fn virtio_indirect(&self) -> bool {
        // SAFETY: By the type invariant the device is open.
        unsafe { shims::ct_bdev_virtio_indirect(self.raw()) }
    }

    /// Whether the device has a volatile write cache.
    pub(crate) fn write_cache(&self) -> bool {
        // SAFETY: By the type invariant the device is open.
        unsafe { shims::ct_bdev_write_cache(self.raw()) }
    }

    /// Whether an I/O scheduler is attached (it would dispatch from a
    /// workqueue, which never runs after a panic).
    pub(crate) fn has_scheduler(&self) -> bool {
        // SAFETY: By the type invariant the device is open.
        unsafe { shims::ct_bdev_has_scheduler(self.raw()) }
    }

    pub(crate) fn limits(&self) -> QueueLimits {
        let b = self.raw();
        // SAFETY: By the type invariant the device is open.
        unsafe {
            QueueLimits {
                max_segments: shims::ct_bdev_max_segments(b),
                max_sectors: shims::ct_bdev_max_sectors(b),
                max_segment_size: shims::ct_bdev_max_segment_size(b),
                logical_block_size: shims::ct_bdev_logical_block_size(b),
            }
        }
    }

    /// Drops what this node's page cache holds of the disk and of each of
    /// its partitions (clean, unused pages). For a disk that comes to this
    /// node after the other node wrote it: a cached page is from before,
    /// and a mount drops the cache only when it changes the block size (a
    /// filesystem of 1 KiB blocks mounted here before is read stale, and
    /// so is any buffered read, fsck's included).
    pub(crate) fn drop_cache(&self) {
        // SAFETY: By the type invariant the device is open.
        unsafe { shims::ct_disk_drop_cache(self.raw()) }
    }

    /// Reads `buf.len()` bytes at byte `offset` (page-aligned) and waits.
    pub(crate) fn read(&self, offset: u64, buf: &mut IoBuf) -> Result {
        self.sync_io(bindings::req_op_REQ_OP_READ, offset, buf)
    }

    /// Writes `buf` at byte `offset` (page-aligned), with FUA, and waits.
    pub(crate) fn write(&self, offset: u64, buf: &mut IoBuf) -> Result {
        let opf = bindings::req_op_REQ_OP_WRITE
            | (1 << bindings::req_flag_bits___REQ_SYNC)
            | (1 << bindings::req_flag_bits___REQ_FUA);
        self.sync_io(opf, offset, buf)
    }

    fn sync_io(&self, opf: bindings::blk_opf_t, offset: u64, buf: &mut IoBuf) -> Result {
        if offset % PAGE as u64 != 0 {
            return Err(EINVAL);
        }
        let pages = buf.len() / PAGE;
        let nr_vecs = u16::try_from(pages).map_err(|_| EINVAL)?;
        // SAFETY: Allocates a bio with `nr_vecs` inline vectors, or returns null.
        let bio = unsafe { bindings::bio_kmalloc(nr_vecs, bindings::GFP_KERNEL) };
        if bio.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `bio` was just allocated with `nr_vecs` inline vectors and is
        // initialised here, filled with pages of `buf` (alive for the whole
        // call), submitted, waited for, then torn down and freed once.
        let ret = unsafe {
            let vecs = (*bio).bi_inline_vecs.as_mut_ptr();
            bindings::bio_init(bio, self.raw(), vecs, nr_vecs, opf);
            (*bio).bi_iter.bi_sector = offset >> SECTOR_SHIFT;
            let mut ret = 0;
            for i in 0..pages {
                if bindings::bio_add_page(bio, buf.page(i * PAGE), PAGE as u32, 0) != PAGE as i32 {
                    ret = -(bindings::EIO as i32);
                    break;
                }
            }
            if ret == 0 {
                ret = bindings::submit_bio_wait(bio);
            }
            bindings::bio_uninit(bio);
            bindings::kfree(bio.cast());
            ret
        };
        to_result(ret)
    }
}

impl Drop for BlockDevice {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we own the open file; nothing uses it after this.
        unsafe { bindings::bdev_fput(self.file.as_ptr()) };
    }
}

/// A block device and the path it was opened by, as the administrator gave
/// it (sysfs and netlink show the path).
pub(crate) struct NamedDisk {
    path: KVec<u8>,
    pub(crate) dev: BlockDevice,
}

impl NamedDisk {
    /// The memory its name takes.
    pub(crate) fn allocated(&self) -> usize {
        allocated(self.path.as_ptr())
    }

    /// Opens `path` with `open`, keeping its name.
    pub(crate) fn open(path: &str, open: fn(&CStr) -> Result<BlockDevice>) -> Result<Self> {
        let c = nul_terminated(path)?;
        let dev = open(CStr::from_bytes_with_nul(&c).map_err(|_| EINVAL)?)?;
        let mut name = KVec::new();
        name.extend_from_slice(path.as_bytes(), GFP_KERNEL)?;
        Ok(Self { path: name, dev })
    }

    pub(crate) fn path(&self) -> &str {
        // The path came in as a `&str`.
        core::str::from_utf8(&self.path).unwrap_or("?")
    }
}
