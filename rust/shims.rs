// SPDX-License-Identifier: GPL-2.0

//! Declarations of the C forwarders in `shims.c`, and of exported kernel
//! symbols that the 6.12 Rust bindings do not include.
//!
//! Everything here is `unsafe` to call; the safe wrappers live next to their
//! users (`bdev.rs`, `polled_bio.rs`, `panic_dump.rs`).

use kernel::bindings;
use kernel::ffi::{c_int, c_uint, c_ulong, c_void};

/// `struct genl_info` (net/genetlink.h is not among the bindings' headers);
/// only ever handled by pointer.
#[repr(C)]
pub(crate) struct GenlInfo {
    _opaque: [u8; 0],
}

// Kernel structs reach here by pointer only; bindgen gives some of their
// members zero-sized placeholders, which this lint cannot see through (the
// `bindings` crate allows it for the same reason).
#[allow(improper_ctypes)]
extern "C" {
    pub(crate) fn ct_blk_open_read_write() -> bindings::blk_mode_t;
    pub(crate) fn ct_blk_open_read() -> bindings::blk_mode_t;
    pub(crate) fn ct_bdev_nr_bytes(bdev: *mut bindings::block_device) -> u64;
    pub(crate) fn ct_bdev_polls(bdev: *mut bindings::block_device) -> bool;
    pub(crate) fn ct_bdev_write_cache(bdev: *mut bindings::block_device) -> bool;
    pub(crate) fn ct_bdev_has_scheduler(bdev: *mut bindings::block_device) -> bool;
    pub(crate) fn ct_bdev_max_segments(bdev: *mut bindings::block_device) -> c_uint;
    pub(crate) fn ct_bdev_max_sectors(bdev: *mut bindings::block_device) -> c_uint;
    pub(crate) fn ct_bdev_max_segment_size(bdev: *mut bindings::block_device) -> c_uint;
    pub(crate) fn ct_bdev_logical_block_size(bdev: *mut bindings::block_device) -> c_uint;
    /// A virtio disk with indirect descriptors (its driver allocates per request).
    pub(crate) fn ct_bdev_virtio_indirect(bdev: *mut bindings::block_device) -> bool;
    /// The name of the driver behind the disk (for SCSI, the host adapter's).
    pub(crate) fn ct_bdev_driver(bdev: *mut bindings::block_device) -> *const kernel::ffi::c_char;
    /// Drops the node's clean cached pages of the disk and its partitions.
    pub(crate) fn ct_disk_drop_cache(bdev: *mut bindings::block_device);
    pub(crate) fn ct_phys_to_virt(phys: bindings::phys_addr_t) -> *mut c_void;
    pub(crate) fn ct_page_offset() -> c_ulong;
    pub(crate) fn ct_memmap_base() -> c_ulong;
    pub(crate) fn ct_struct_page_size() -> c_ulong;
    pub(crate) fn ct_virt_to_page(addr: *const c_void) -> *mut bindings::page;
    pub(crate) fn ct_kernel_release() -> *const kernel::ffi::c_char;
    pub(crate) fn ct_processor_id() -> c_uint;
    /// `in_nmi()`.
    pub(crate) fn ct_in_nmi() -> bool;
    /// `sched_clock()`: lock-free (safe after a panic).
    pub(crate) fn ct_panic_clock_ns() -> u64;
    /// `udelay(us)`: a busy wait that reads no clock.
    pub(crate) fn ct_udelay(us: c_ulong);
    /// Clears the queue's I/O accounting flag (panic path).
    pub(crate) fn ct_bdev_panic_no_iostat(bdev: *mut bindings::block_device);
    /// Fills `regs` with the caller's registers (`crash_setup_regs`).
    pub(crate) fn ct_panic_registers(regs: *mut bindings::pt_regs);
    pub(crate) fn ct_panic_notifier_register(nb: *mut bindings::notifier_block) -> c_int;
    pub(crate) fn ct_panic_notifier_unregister(nb: *mut bindings::notifier_block) -> c_int;
    pub(crate) fn ct_debugfs_init(panic_after_mib: *mut u32);
    pub(crate) fn ct_debugfs_exit();

    pub(crate) fn ct_pr_register(bdev: *mut bindings::block_device, old_key: u64, new_key: u64, flags: u32) -> c_int;
    pub(crate) fn ct_pr_reserve(bdev: *mut bindings::block_device, key: u64, typ: u32, flags: u32) -> c_int;
    pub(crate) fn ct_pr_release(bdev: *mut bindings::block_device, key: u64, typ: u32) -> c_int;
    /// Whether the device is a device-mapper device (`dm_get_md`).
    pub(crate) fn ct_bdev_is_dm(bdev: *mut bindings::block_device) -> bool;
    pub(crate) fn ct_pr_preempt(bdev: *mut bindings::block_device, old_key: u64, new_key: u64, typ: u32, abort: bool) -> c_int;
    pub(crate) fn ct_bdev_is_partition(bdev: *mut bindings::block_device) -> bool;
    /// The live paths of a multipath map (device numbers): how many.
    pub(crate) fn ct_dm_live_paths(map: *mut bindings::block_device, devs: *mut bindings::dev_t, max: c_int) -> c_int;
    pub(crate) fn ct_pr_read_reservation(bdev: *mut bindings::block_device, key: *mut u64, typ: *mut u32) -> c_int;
    pub(crate) fn ct_pr_key_registered(bdev: *mut bindings::block_device, key: u64) -> c_int;
    /// `emergency_restart()` (linux/reboot.h): restarts at once, syncing
    /// nothing (the self-fence's reboot).
    pub(crate) fn emergency_restart();
    pub(crate) fn ct_events_register(nb: *mut bindings::notifier_block) -> c_int;
    pub(crate) fn ct_events_unregister(nb: *mut bindings::notifier_block) -> c_int;
    pub(crate) fn ct_events_call(event: *mut c_void);
    /// Starts the lapse check on every online CPU (and each that comes
    /// online): `f` runs from a pinned hard-interrupt hrtimer every
    /// `period_ns`. Once; a second start while running does nothing.
    pub(crate) fn ct_lapse_start(period_ns: u64, f: Option<unsafe extern "C" fn()>) -> c_int;
    /// Stops it on every CPU, waiting for a running check to end.
    pub(crate) fn ct_lapse_stop();
    /// HChaCha20 of the 16 bytes at `input` under the 32-byte `key`, into
    /// the 32 bytes at `out`.
    pub(crate) fn ct_hchacha20(key: *const u8, input: *const u8, out: *mut u8);
    pub(crate) fn ct_kthread_run(
        f: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
        data: *mut c_void,
        name: *const kernel::ffi::c_char,
    ) -> *mut bindings::task_struct;

    pub(crate) fn ct_nl_may_change_disks(skb: *const bindings::sk_buff, info: *mut GenlInfo) -> bool;
    pub(crate) fn ct_nl_register() -> c_int;
    pub(crate) fn ct_nl_unregister();
    pub(crate) fn ct_nl_reply_new(info: *mut GenlInfo, hdr: *mut *mut c_void) -> *mut bindings::sk_buff;
    pub(crate) fn ct_nl_event_new(cmd: u8, hdr: *mut *mut c_void) -> *mut bindings::sk_buff;
    pub(crate) fn ct_nl_put_u32(skb: *mut bindings::sk_buff, typ: c_int, value: u32) -> c_int;
    pub(crate) fn ct_nl_put_uint(skb: *mut bindings::sk_buff, typ: c_int, value: u64) -> c_int;
    pub(crate) fn ct_nl_put_str(skb: *mut bindings::sk_buff, typ: c_int, text: *const u8, len: c_int) -> c_int;
    pub(crate) fn ct_nl_put_u8(skb: *mut bindings::sk_buff, typ: c_int, value: u8) -> c_int;
    pub(crate) fn ct_nl_nest_start(skb: *mut bindings::sk_buff, typ: c_int) -> *mut bindings::nlattr;
    pub(crate) fn ct_nl_nest_end(skb: *mut bindings::sk_buff, nest: *mut bindings::nlattr);
    pub(crate) fn ct_nl_nest_cancel(skb: *mut bindings::sk_buff, nest: *mut bindings::nlattr);
    pub(crate) fn ct_nl_next_attr(info: *mut GenlInfo, typ: c_int, prev: *const bindings::nlattr) -> *const bindings::nlattr;
    pub(crate) fn ct_nl_nested_str(nest: *const bindings::nlattr, typ: c_int, text: *mut *const u8, len: *mut c_int) -> bool;
    pub(crate) fn ct_nl_set_err_msg(info: *mut GenlInfo, text: *const u8, len: c_int);
    pub(crate) fn ct_nl_reply_send(skb: *mut bindings::sk_buff, hdr: *mut c_void, info: *mut GenlInfo) -> c_int;
    pub(crate) fn ct_nl_event_send(skb: *mut bindings::sk_buff, hdr: *mut c_void) -> c_int;
    pub(crate) fn ct_nl_free(skb: *mut bindings::sk_buff);
    pub(crate) fn ct_nl_get_u32(info: *mut GenlInfo, typ: c_int, value: *mut u32) -> bool;
    pub(crate) fn ct_nl_get_str(info: *mut GenlInfo, typ: c_int, text: *mut *const u8, len: *mut c_int) -> bool;

    pub(crate) fn ct_init_work(work: *mut bindings::work_struct, f: bindings::work_func_t);
    pub(crate) fn ct_queue_work_unbound(work: *mut bindings::work_struct) -> bool;
    pub(crate) fn ct_init_completion(done: *mut bindings::completion);

    /// `lib/libcrc32c.c`: raw CRC-32C (no final inversion).
    pub(crate) fn crc32c(crc: u32, address: *const c_void, length: c_uint) -> u32;
    /// `lib/crc32.c`: raw CRC-32C in software (tables, no FPU, no lock).
    pub(crate) fn __crc32c_le(crc: u32, address: *const u8, length: usize) -> u32;
    /// `lib/xxhash.c`: XXH64 of `length` bytes with `seed`.
    pub(crate) fn xxh64(input: *const c_void, length: usize, seed: u64) -> u64;
    /// `lib/lz4`: one LZ4 block; 0 when it does not fit in `max_output`.
    pub(crate) fn LZ4_compress_fast(
        source: *const kernel::ffi::c_char,
        dest: *mut kernel::ffi::c_char,
        input_size: c_int,
        max_output: c_int,
        acceleration: c_int,
        wrkmem: *mut c_void,
    ) -> c_int;
    /// `lib/crypto/chacha20poly1305.c`: RFC 8439 AEAD; writes `src_len`
    /// bytes of ciphertext and the 16-byte tag after them to `dst`.
    pub(crate) fn chacha20poly1305_encrypt(dst: *mut u8, src: *const u8, src_len: usize, ad: *const u8, ad_len: usize, nonce: u64, key: *const u8);
    pub(crate) fn ct_lz4_workspace_size() -> usize;
    pub(crate) fn ct_zstd_workspace_size(chunk: usize) -> usize;
    pub(crate) fn ct_zstd_init(workspace: *mut c_void, size: usize) -> *mut c_void;
    pub(crate) fn ct_zstd_compress(cctx: *mut c_void, dst: *mut c_void, cap: usize, src: *const c_void, len: usize, chunk: usize) -> usize;
    /// A compression (codec 1 lz4, 2 zstd) with the stack it took measured.
    pub(crate) fn ct_compress_measured(
        codec: c_int,
        work: *mut c_void,
        dst: *mut c_void,
        cap: usize,
        src: *const c_void,
        len: usize,
        chunk: usize,
        stack: *mut usize,
    ) -> usize;
    /// `kernel/vmcore_info.c`: physical address of the VMCOREINFO ELF note.
    pub(crate) fn paddr_vmcoreinfo_note() -> bindings::phys_addr_t;
}
