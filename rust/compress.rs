// SPDX-License-Identifier: GPL-2.0

//! The dump's codec in the kernel: the kernel's own LZ4 (`lib/lz4`) and
//! zstd (`lib/zstd`, level 1) compressors, with their workspaces allocated
//! when the disk is armed, so the panic path compresses without allocating
//! (the on-disk side is `core/src/codec.rs`).

use crate::bdev::allocated;
use crate::ct_core::codec::Codec;
use crate::shims;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;

/// A codec and its preallocated workspace.
pub(crate) struct Compressor {
    codec: Codec,
    /// lz4: `LZ4_MEM_COMPRESS` bytes (kmalloc); zstd: the context's
    /// workspace (vmalloc: it is larger than kmalloc should be asked for).
    small: KVec<u8>,
    large: VVec<u8>,
    /// The zstd context inside `large` (null for lz4).
    cctx: *mut c_void,
    chunk: usize,
}

// SAFETY: The context points into `large`, which moves with the value and
// is used by one thread at a time (arming, then the panic path).
unsafe impl Send for Compressor {}

/// What arming measured of a codec on a sample.
#[derive(Clone, Copy, Default)]
pub(crate) struct CodecSample {
    pub(crate) input: u64,
    pub(crate) output: u64,
    pub(crate) ns: u64,
    pub(crate) stack: u64,
}

impl Compressor {
    /// The codec's compressor for chunks of `chunk` bytes (`None` for no
    /// codec).
    pub(crate) fn new(codec: Codec, chunk: usize) -> Result<Option<Self>> {
        let mut c = Self { codec, small: KVec::new(), large: VVec::new(), cctx: core::ptr::null_mut(), chunk };
        match codec {
            Codec::None => return Ok(None),
            Codec::Lz4 => {
                // SAFETY: Reads a constant.
                let size = unsafe { shims::ct_lz4_workspace_size() };
                c.small = KVec::from_elem(0u8, size, GFP_KERNEL)?;
            }
            Codec::Zstd => {
                // SAFETY: Computes a bound from constants.
                let size = unsafe { shims::ct_zstd_workspace_size(chunk) };
                c.large = VVec::from_elem(0u8, size, GFP_KERNEL)?;
                // SAFETY: The workspace is ours, `size` bytes, and lives as
                // long as the context (both in `c`).
                c.cctx = unsafe { shims::ct_zstd_init(c.large.as_mut_ptr().cast(), size) };
                if c.cctx.is_null() {
                    return Err(ENOMEM);
                }
            }
        }
        Ok(Some(c))
    }

    pub(crate) fn codec(&self) -> Codec {
        self.codec
    }

    /// The memory it holds.
    pub(crate) fn allocated(&self) -> usize {
        let small = if self.small.is_empty() { 0 } else { allocated(self.small.as_ptr()) };
        small + self.large.len().next_multiple_of(4096)
    }

    fn work(&mut self) -> *mut c_void {
        match self.codec {
            Codec::Zstd => self.cctx,
            _ => self.small.as_mut_ptr().cast(),
        }
    }

    /// Compresses `src` into `dst`; the compressed length, or `None` when
    /// it would not be shorter than `dst` (then `src` is stored as it is).
    /// Allocates nothing and takes no lock: usable in the panic path.
    pub(crate) fn compress(&mut self, src: &[u8], dst: &mut [u8]) -> Option<usize> {
        let (len, cap) = (src.len(), dst.len());
        let n = match self.codec {
            Codec::None => 0,
            Codec::Lz4 => {
                let (Ok(len), Ok(cap)) = (c_int::try_from(len), c_int::try_from(cap)) else { return None };
                // SAFETY: `src` and `dst` are valid for their lengths and
                // do not overlap; the workspace is `LZ4_MEM_COMPRESS` bytes.
                let n = unsafe { shims::LZ4_compress_fast(src.as_ptr().cast(), dst.as_mut_ptr().cast(), len, cap, 1, self.work()) };
                usize::try_from(n).unwrap_or(0)
            }
            // SAFETY: As above; the context was initialized for chunks of
            // `self.chunk` bytes and `len` is at most that.
            Codec::Zstd => unsafe {
                shims::ct_zstd_compress(self.cctx, dst.as_mut_ptr().cast(), cap, src.as_ptr().cast(), len.min(self.chunk), self.chunk)
            },
        };
        (n > 0 && n <= cap).then_some(n)
    }

    /// As [`compress`](Self::compress), timed, with the stack it took
    /// (arming's probe; process context).
    pub(crate) fn measure(&mut self, src: &[u8], dst: &mut [u8]) -> CodecSample {
        let mut stack = 0usize;
        let started = crate::polled_bio::panic_clock_ns();
        let codec = self.codec as c_int;
        let work = self.work();
        // SAFETY: As in `compress`; the C side paints and reads only this
        // task's unused stack, with interrupts off.
        let n = unsafe {
            shims::ct_compress_measured(codec, work, dst.as_mut_ptr().cast(), dst.len(), src.as_ptr().cast(), src.len().min(self.chunk), self.chunk, &mut stack)
        };
        let ns = crate::polled_bio::panic_clock_ns().saturating_sub(started);
        let output = if n > 0 && n <= dst.len() { n } else { src.len() };
        CodecSample { input: src.len() as u64, output: output as u64, ns, stack: stack as u64 }
    }
}
