// SPDX-License-Identifier: GPL-2.0

//! A coredump disk (or an image of one) read and written with O_DIRECT, so
//! that what the other node wrote a moment ago is what we see, not a page
//! cache copy.

use crate::error::Error;
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub const ALIGN: usize = 4096;

/// A zeroed buffer aligned for O_DIRECT.
pub struct AlignedBuf {
    ptr: *mut u8,
    len: usize,
}

impl AlignedBuf {
    pub fn new(len: usize) -> Self {
        let len = len.next_multiple_of(ALIGN).max(ALIGN);
        let layout = Layout::from_size_align(len, ALIGN).expect("page-aligned layout");
        // SAFETY: `layout` has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        Self { ptr, len }
    }
}

impl std::ops::Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len` initialised bytes we own.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl std::ops::DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: As in `deref`, and we hold `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: Allocated in `new` with this layout.
        unsafe { dealloc(self.ptr, Layout::from_size_align_unchecked(self.len, ALIGN)) };
    }
}

pub struct Disk {
    pub path: PathBuf,
    file: File,
    size: u64,
}

impl Disk {
    /// Opens `path` for reading, or reading and writing. A block device
    /// opened for writing is opened exclusively (O_EXCL): the kernel refuses
    /// while it is mounted or armed as a dump disk.
    pub fn open(path: &Path, write: bool) -> Result<Self, Error> {
        let io = |source| Error::Io { path: path.to_path_buf(), source };
        let is_block = std::fs::metadata(path).map_err(io)?.file_type().is_block_device();
        let mut flags = libc::O_DIRECT;
        if write && is_block {
            flags |= libc::O_EXCL;
        }
        let file = OpenOptions::new().read(true).write(write).custom_flags(flags).open(path).map_err(io)?;
        let size = if is_block { block_device_size(&file).map_err(io)? } else { file.metadata().map_err(io)?.len() };
        Ok(Self { path: path.to_path_buf(), file, size })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Reads `len` bytes (rounded up to the alignment) at `offset` (aligned).
    pub fn read(&self, offset: u64, len: usize) -> Result<AlignedBuf, Error> {
        let mut buf = AlignedBuf::new(len);
        self.read_into(offset, &mut buf)?;
        Ok(buf)
    }

    pub fn read_into(&self, offset: u64, buf: &mut AlignedBuf) -> Result<(), Error> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|source| Error::Io { path: self.path.clone(), source })
    }

    /// Writes `buf` at `offset` (aligned) and waits until it is on the media.
    pub fn write_durably(&self, offset: u64, buf: &AlignedBuf) -> Result<(), Error> {
        let io = |source| Error::Io { path: self.path.clone(), source };
        self.file.write_all_at(buf, offset).map_err(io)?;
        self.file.sync_data().map_err(io)
    }
}

fn block_device_size(file: &File) -> std::io::Result<u64> {
    use std::os::fd::AsRawFd;
    // BLKGETSIZE64 = _IOR(0x12, 114, size_t)
    const BLKGETSIZE64: libc::c_ulong = 0x8008_1272;
    let mut size = 0u64;
    // SAFETY: The ioctl writes one u64 to the pointer we pass.
    if unsafe { libc::ioctl(file.as_raw_fd(), BLKGETSIZE64, &mut size) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(size)
}
