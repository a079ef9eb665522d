// SPDX-License-Identifier: GPL-2.0

//! A kernel thread that runs a loop until it is dropped.
//!
//! 6.12 has no Rust kthread abstraction; this is the one file that starts and
//! stops kernel threads. A [`Loop`] says what one turn does and how long to
//! sleep after it; dropping the [`Thread`] stops it (`kthread_stop`, which
//! interrupts the sleep) and waits for the turn in progress.

use crate::shims;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;
use kernel::str::CStr;

/// What a thread does, turn after turn.
pub(crate) trait Loop {
    /// One turn, in process context; returns how long to sleep before the
    /// next (milliseconds).
    fn turn() -> u32;
}

/// A running kernel thread.
///
/// # Invariants
///
/// `task` is a thread started by [`Thread::start`] that runs until
/// `kthread_stop` (it only returns when told to stop).
pub(crate) struct Thread {
    task: NonNull<bindings::task_struct>,
}

// SAFETY: The task pointer is only used to stop the thread, from any context.
unsafe impl Send for Thread {}
// SAFETY: `&Thread` gives access to nothing.
unsafe impl Sync for Thread {}

impl Thread {
    /// Starts thread `name` running `L`.
    pub(crate) fn start<L: Loop>(name: &'static CStr) -> Result<Self> {
        // SAFETY: `body::<L>` matches the thread function type and uses no
        // data; `name` is NUL-terminated.
        let task = unsafe { shims::ct_kthread_run(Some(body::<L>), core::ptr::null_mut(), name.as_char_ptr()) };
        let task = kernel::error::from_err_ptr(task)?;
        // INVARIANT: Started just now; `body` returns only when stopped.
        Ok(Self { task: NonNull::new(task).ok_or(EINVAL)? })
    }
}

impl Drop for Thread {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the thread runs until stopped, here,
        // once; `kthread_stop` waits for it to return.
        unsafe { bindings::kthread_stop(self.task.as_ptr()) };
    }
}

/// The thread function: turns until told to stop.
unsafe extern "C" fn body<L: Loop>(_data: *mut c_void) -> c_int {
    // SAFETY: Called in the thread's own context.
    while !unsafe { bindings::kthread_should_stop() } {
        let pause = L::turn();
        // SAFETY: Process context; `kthread_stop` interrupts the sleep.
        unsafe { bindings::msleep_interruptible(pause) };
    }
    0
}

/// A call of [`in_kernel_worker`]: the work item, the function, its result.
#[repr(C)]
struct Call<F, T> {
    // First, so that the work pointer is the call's pointer.
    work: bindings::work_struct,
    f: Option<F>,
    out: Option<T>,
}

/// The work function of a [`Call`].
///
/// # Safety
///
/// `work` is the first field of a live `Call<F, T>` queued by
/// [`in_kernel_worker`], which waits for this to return.
unsafe extern "C" fn call_run<F: FnOnce() -> T, T>(work: *mut bindings::work_struct) {
    // SAFETY: See the function's safety requirements.
    let call = unsafe { &mut *work.cast::<Call<F, T>>() };
    if let Some(f) = call.f.take() {
        call.out = Some(f());
    }
}

/// Runs `f` on a worker of the system's unbound workqueue and waits for it:
/// in a kernel thread, whose namespaces (mount, network) are the initial
/// ones whatever the caller's. For reads that must not depend on what the
/// calling process sees, like a sysfs file a container could mount over.
/// `None` without memory for the call.
pub(crate) fn in_kernel_worker<F: FnOnce() -> T + Send, T: Send>(f: F) -> Option<T> {
    let call = Call {
        // SAFETY: All-zero is a valid state for a work item about to be
        // initialised by `ct_init_work`.
        work: unsafe { core::mem::zeroed() },
        f: Some(f),
        out: None,
    };
    let mut call = KBox::new(call, GFP_KERNEL).ok()?;
    let work = core::ptr::addr_of_mut!(call.work);
    // SAFETY: The call is boxed (it does not move) and lives until
    // `flush_work` has returned, after which no worker touches it;
    // `call_run::<F, T>` matches `work_func_t` and the call's types.
    unsafe {
        shims::ct_init_work(work, Some(call_run::<F, T>));
        shims::ct_queue_work_unbound(work);
        bindings::flush_work(work);
    }
    call.out.take()
}
