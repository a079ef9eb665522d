// SPDX-License-Identifier: GPL-2.0

//! Generic netlink messages for the family generated from the YAML spec.
//!
//! 6.12 has no Rust generic netlink abstraction (net/genetlink.h is not
//! among the bindings' headers); this file is the only one of the module that
//! calls the message helpers, through one-line forwarders in `shims.c`. The
//! family's tables (policies, split ops, multicast group) are generated C
//! (`netlink_gen.c`); the handlers they name live in `netlink.rs`.
//!
//! - a [`Request`] is the `genl_info` of a command being handled; its
//!   attributes (and the [`Nest`]s in it) were checked against the spec's
//!   policy before the handler runs; its answer can carry an extended ack
//!   message;
//! - a [`Message`] is a reply or a notification being built; it is freed if
//!   dropped unsent;
//! - the [`Family`] is registered while the value lives.

use crate::shims::{self, GenlInfo};
use kernel::bindings;
use kernel::error::to_result;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;

/// A request being handled.
///
/// # Invariants
///
/// `info` is the `genl_info` of the request a handler is running for; it is
/// valid for the whole handler, which the lifetime stands for.
#[derive(Clone, Copy)]
pub(crate) struct Request<'a> {
    skb: *mut bindings::sk_buff,
    info: *mut GenlInfo,
    _handler: core::marker::PhantomData<&'a GenlInfo>,
}

impl<'a> Request<'a> {
    /// # Safety
    ///
    /// `skb` and `info` are the message and request of a running handler,
    /// live for `'a`.
    pub(crate) unsafe fn from_raw(skb: *mut bindings::sk_buff, info: *mut GenlInfo) -> Self {
        // INVARIANT: The caller's guarantee.
        Self { skb, info, _handler: core::marker::PhantomData }
    }

    /// Whether the sender may change disks: it sent from the initial
    /// network namespace, with CAP_SYS_ADMIN (more than the CAP_NET_ADMIN
    /// that `GENL_ADMIN_PERM` asks for, which containers are often given).
    pub(crate) fn may_change_disks(&self) -> bool {
        // SAFETY: By the type invariant both are live.
        unsafe { shims::ct_nl_may_change_disks(self.skb, self.info) }
    }

    /// Attribute `attr` as a u32, if present.
    pub(crate) fn u32(&self, attr: impl Into<c_int>) -> Option<u32> {
        let mut value = 0;
        // SAFETY: By the type invariant `info` is live.
        unsafe { shims::ct_nl_get_u32(self.info, attr.into(), &mut value) }.then_some(value)
    }

    /// Every attribute of type `attr` (a multi-attr nest), in order.
    pub(crate) fn nests(&self, attr: impl Into<c_int>) -> impl Iterator<Item = Nest<'a>> + '_ {
        let attr: c_int = attr.into();
        let mut prev: *const bindings::nlattr = core::ptr::null();
        core::iter::from_fn(move || {
            // SAFETY: By the type invariant `info` is live; `prev` is null or
            // an attribute of this request.
            let next = unsafe { shims::ct_nl_next_attr(self.info, attr, prev) };
            prev = next;
            // INVARIANT: An attribute of the request, checked by the policy
            // (a nest of the set it names), as long as the request lives.
            (!next.is_null()).then_some(Nest { attr: next, _request: core::marker::PhantomData })
        })
    }

    /// Sets the extended ack message of the answer (cut to 80 bytes).
    pub(crate) fn set_error_message(&self, text: &str) {
        let len = c_int::try_from(text.len()).unwrap_or(c_int::MAX);
        // SAFETY: By the type invariant `info` is live; the message is copied.
        unsafe { shims::ct_nl_set_err_msg(self.info, text.as_ptr(), len) };
    }

    /// Attribute `attr` as text, if present; `EINVAL` if it is not UTF-8.
    pub(crate) fn str(&self, attr: impl Into<c_int>) -> Result<Option<&'a str>> {
        let (mut text, mut len) = (core::ptr::null(), 0);
        // SAFETY: By the type invariant `info` is live.
        if !unsafe { shims::ct_nl_get_str(self.info, attr.into(), &mut text, &mut len) } {
            return Ok(None);
        }
        // SAFETY: The shim points into the request's attribute, `len` bytes
        // long, which lives as long as the request (`'a`).
        let bytes = unsafe { core::slice::from_raw_parts(text, len as usize) };
        core::str::from_utf8(bytes).map(Some).map_err(|_| EINVAL)
    }
}

/// A nested attribute of a request.
///
/// # Invariants
///
/// `attr` is a nest of a live request, validated against its policy.
#[derive(Clone, Copy)]
pub(crate) struct Nest<'a> {
    attr: *const bindings::nlattr,
    _request: core::marker::PhantomData<&'a GenlInfo>,
}

impl<'a> Nest<'a> {
    /// Attribute `attr` inside the nest as text, if present; `EINVAL` if it
    /// is not UTF-8.
    pub(crate) fn str(&self, attr: impl Into<c_int>) -> Result<Option<&'a str>> {
        let (mut text, mut len) = (core::ptr::null(), 0);
        // SAFETY: By the type invariant the nest is live.
        if !unsafe { shims::ct_nl_nested_str(self.attr, attr.into(), &mut text, &mut len) } {
            return Ok(None);
        }
        // SAFETY: The shim points into the nested attribute, `len` bytes
        // long, which lives as long as the request (`'a`).
        let bytes = unsafe { core::slice::from_raw_parts(text, len as usize) };
        core::str::from_utf8(bytes).map(Some).map_err(|_| EINVAL)
    }
}

/// A message being built: a reply or a notification.
///
/// # Invariants
///
/// `skb` is a message we own with an open genetlink header `hdr`.
pub(crate) struct Message {
    skb: *mut bindings::sk_buff,
    hdr: *mut c_void,
}

impl Message {
    /// A reply to `request`.
    pub(crate) fn reply(request: &Request<'_>) -> Result<Self> {
        let mut hdr = core::ptr::null_mut();
        // SAFETY: By its type invariant the request is live.
        let skb = unsafe { shims::ct_nl_reply_new(request.info, &mut hdr) };
        if skb.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: A new message with its header.
        Ok(Self { skb, hdr })
    }

    /// A notification `cmd` for the family's multicast group.
    pub(crate) fn notification(cmd: u8) -> Result<Self> {
        let mut hdr = core::ptr::null_mut();
        // SAFETY: Allocates a message for our family.
        let skb = unsafe { shims::ct_nl_event_new(cmd, &mut hdr) };
        if skb.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: A new message with its header.
        Ok(Self { skb, hdr })
    }

    pub(crate) fn u32(&mut self, attr: impl Into<c_int>, value: u32) -> Result<&mut Self> {
        // SAFETY: By the type invariant `skb` is ours.
        to_result(unsafe { shims::ct_nl_put_u32(self.skb, attr.into(), value) })?;
        Ok(self)
    }

    pub(crate) fn uint(&mut self, attr: impl Into<c_int>, value: u64) -> Result<&mut Self> {
        // SAFETY: By the type invariant `skb` is ours.
        to_result(unsafe { shims::ct_nl_put_uint(self.skb, attr.into(), value) })?;
        Ok(self)
    }

    pub(crate) fn u8(&mut self, attr: impl Into<c_int>, value: u8) -> Result<&mut Self> {
        // SAFETY: By the type invariant `skb` is ours.
        to_result(unsafe { shims::ct_nl_put_u8(self.skb, attr.into(), value) })?;
        Ok(self)
    }

    /// Attribute `attr`, a nest holding what `fill` puts in it; nothing of
    /// it stays if `fill` fails.
    pub(crate) fn nest(&mut self, attr: impl Into<c_int>, fill: impl FnOnce(&mut Self) -> Result) -> Result<&mut Self> {
        // SAFETY: By the type invariant `skb` is ours.
        let nest = unsafe { shims::ct_nl_nest_start(self.skb, attr.into()) };
        if nest.is_null() {
            return Err(Error::from_errno(-(bindings::EMSGSIZE as i32)));
        }
        match fill(self) {
            // SAFETY: `nest` was started on this message above.
            Ok(()) => unsafe { shims::ct_nl_nest_end(self.skb, nest) },
            Err(e) => {
                // SAFETY: As above; removes the nest and what it holds.
                unsafe { shims::ct_nl_nest_cancel(self.skb, nest) };
                return Err(e);
            }
        }
        Ok(self)
    }

    pub(crate) fn str(&mut self, attr: impl Into<c_int>, text: &str) -> Result<&mut Self> {
        let len = c_int::try_from(text.len()).map_err(|_| E2BIG)?;
        // SAFETY: By the type invariant `skb` is ours; `text` is valid for `len` bytes.
        to_result(unsafe { shims::ct_nl_put_str(self.skb, attr.into(), text.as_ptr(), len) })?;
        Ok(self)
    }

    /// Sends the message as the reply to `request`.
    pub(crate) fn send_reply(self, request: &Request<'_>) -> Result {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: The message is complete and ours; sending consumes it.
        to_result(unsafe { shims::ct_nl_reply_send(this.skb, this.hdr, request.info) })
    }

    /// Sends the message to the multicast group. Nobody listening (`ESRCH`)
    /// is no error for a notification.
    pub(crate) fn multicast(self) {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: The message is complete and ours; sending consumes it.
        unsafe { shims::ct_nl_event_send(this.skb, this.hdr) };
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the message is ours and unsent.
        unsafe { shims::ct_nl_free(self.skb) };
    }
}

/// The family's registration; unregistered on drop (which waits for running
/// handlers).
pub(crate) struct Family(());

impl Family {
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: Registers the generated, static family; the module root
        // makes one `Family`.
        to_result(unsafe { shims::ct_nl_register() })?;
        Ok(Self(()))
    }
}

impl Drop for Family {
    fn drop(&mut self) {
        // SAFETY: Registered in `register`.
        unsafe { shims::ct_nl_unregister() };
    }
}
