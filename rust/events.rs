// SPDX-License-Identifier: GPL-2.0

//! What happened, told once: the one place events go through.
//!
//! The engines (the takeover engine, the node's own operations) report each
//! change as a typed [`Event`] with [`emit`]. The interfaces listen: the
//! sysfs knobs turn events into `poll(2)` wake-ups and uevents, the netlink
//! family into multicast notifications. Neither side imports the other: an
//! engine does not know who listens, and a new interface only subscribes.
//!
//! Underneath is a kernel blocking notifier chain (`shims.c`), so listeners
//! run in the emitter's process context, one after the other, and may sleep;
//! dropping a [`Subscription`] waits for a listener that is running. A
//! listener gets the event's values and must not call back into the node's
//! state: the emitter may hold its locks.
//!
//! ```ignore
//! struct Log;
//! impl Listener for Log {
//!     fn hear(event: &Event<'_>) {
//!         if let Event::GivebackDone { disks } = event {
//!             pr_info!("gave back {} disks\n", disks);
//!         }
//!     }
//! }
//! static LOG: ListenerBlock = ListenerBlock::new::<Log>();
//! let subscription = Subscription::new(&LOG)?;
//! emit(&Event::GivebackDone { disks: 2 });
//! ```

use crate::ct_core::partner::{Method, Phase, Reason, Verdict};
use crate::refusal::Text;
use crate::shims;
use kernel::bindings;
use kernel::error::to_result;
use kernel::ffi::{c_int, c_ulong, c_void};
use kernel::prelude::*;
use kernel::types::Opaque;

/// Something that happened on this node.
#[derive(Clone, Copy)]
pub(crate) enum Event<'a> {
    /// The judgement of the partner changed. `dump_percent`: how far the
    /// partner's dump has got, when it has one.
    PartnerState { verdict: Verdict, dump_percent: Option<u64> },
    /// The takeover phase changed.
    TakeoverState(Phase),
    /// A takeover of `disks` partner disks started.
    TakeoverStarted { reason: Reason, disks: usize },
    /// A takeover ended, with what it did with each disk.
    TakeoverDone(&'a TakeoverResult),
    /// The partner's dump advanced by another tenth.
    DumpProgress { percent: u64 },
    /// The partner's `disks` disks were given back.
    GivebackDone { disks: usize },
}

/// What a takeover did: how many disks, how long, and each disk's result.
pub(crate) struct TakeoverResult {
    pub(crate) reason: Reason,
    pub(crate) held: usize,
    pub(crate) total: usize,
    pub(crate) duration_us: u64,
    /// How far the partner's dump had got when the takeover started.
    pub(crate) dump_percent: Option<u64>,
    pub(crate) disks: KVec<DiskResult>,
}

/// What a takeover did with one partner disk.
pub(crate) struct DiskResult {
    path: KVec<u8>,
    pub(crate) outcome: core::result::Result<Taken, Failure>,
    /// The disk's whole takeover, retries included.
    pub(crate) latency_us: u64,
    /// From the takeover's start to its work item's start.
    pub(crate) queued_us: u64,
}

/// A disk held: how it was taken, the round trip of its preempting PR
/// command (0 if none was needed), and the PR attempts it took.
#[derive(Clone, Copy)]
pub(crate) struct Taken {
    pub(crate) method: Method,
    pub(crate) pr_us: u64,
    pub(crate) attempts: u32,
}

/// A disk not held: a positive errno and why, in words.
pub(crate) struct Failure {
    pub(crate) errno: u32,
    pub(crate) message: Text<96>,
    pub(crate) attempts: u32,
}

impl DiskResult {
    pub(crate) fn new(path: &str, outcome: core::result::Result<Taken, Failure>, latency_us: u64, queued_us: u64) -> Result<Self> {
        let mut copy = KVec::new();
        copy.extend_from_slice(path.as_bytes(), GFP_KERNEL)?;
        Ok(Self { path: copy, outcome, latency_us, queued_us })
    }

    pub(crate) fn path(&self) -> &str {
        core::str::from_utf8(&self.path).unwrap_or("?")
    }

    pub(crate) fn held(&self) -> bool {
        self.outcome.is_ok()
    }
}

/// Tells every listener about `event`, in process context.
pub(crate) fn emit(event: &Event<'_>) {
    let data = (event as *const Event<'_>).cast_mut().cast::<c_void>();
    // SAFETY: The chain hands `data` to each listener's `call::<L>` during
    // this call only, and `call` only reads it as the `Event` it is.
    unsafe { shims::ct_events_call(data) };
}

/// Something that hears events.
pub(crate) trait Listener {
    /// Called for every event while subscribed; may sleep.
    fn hear(event: &Event<'_>);
}

/// The `struct notifier_block` of a listener, built at compile time.
///
/// # Invariants
///
/// `notifier_call` is `call::<L>` for the type given to [`ListenerBlock::new`].
#[repr(transparent)]
pub(crate) struct ListenerBlock(Opaque<bindings::notifier_block>);

// SAFETY: The chain owns the block while it is subscribed, under the chain's
// lock; nothing else touches it.
unsafe impl Sync for ListenerBlock {}

impl ListenerBlock {
    pub(crate) const fn new<L: Listener>() -> Self {
        // INVARIANT: The callback is `call::<L>`.
        Self(Opaque::new(bindings::notifier_block {
            notifier_call: Some(call::<L>),
            next: core::ptr::null_mut(),
            priority: 0,
        }))
    }
}

/// The chain's entry point for listener `L`.
///
/// # Safety
///
/// `data` points to an `Event` that is live for the call (see [`emit`]).
unsafe extern "C" fn call<L: Listener>(_nb: *mut bindings::notifier_block, _action: c_ulong, data: *mut c_void) -> c_int {
    // SAFETY: The function's safety requirement.
    let event = unsafe { &*data.cast::<Event<'_>>() };
    L::hear(event);
    bindings::NOTIFY_DONE as c_int
}

/// A listener subscribed to the events; unsubscribed on drop, which waits
/// for the listener if it is running.
pub(crate) struct Subscription(&'static ListenerBlock);

impl Subscription {
    /// Subscribes `block`; `EEXIST` if it is subscribed already.
    pub(crate) fn new(block: &'static ListenerBlock) -> Result<Self> {
        // SAFETY: `block` is static and its callback matches the chain's
        // contract (type invariant); the chain refuses a block twice.
        to_result(unsafe { shims::ct_events_register(block.0.get()) })?;
        Ok(Self(block))
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // SAFETY: Subscribed in `new`; unregistering waits for a running call.
        unsafe { shims::ct_events_unregister(self.0 .0.get()) };
    }
}
