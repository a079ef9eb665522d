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
