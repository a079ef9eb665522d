// SPDX-License-Identifier: GPL-2.0

//! The generic netlink family `coretakeover`: commands and events.
//!
//! Specified in `Documentation/netlink/specs/coretakeover.yaml`; the family,
//! its policies, operations and multicast group are generated from it by
//! the kernel's `ynl-gen-c.py` (`netlink_gen.c`, `scripts/netlink-gen.sh`).
//! This file holds the operations' handlers and the events. Changing
//! commands carry `GENL_ADMIN_PERM` in the generated table: CAP_NET_ADMIN.

use crate::control;
use crate::shims::{self, GenlInfo};
use kernel::bindings;
use kernel::error::{from_result, to_result};
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;

// From `netlink_uapi.h` (generated from the spec).
const CMD_PARTNER_PANIC: u8 = 5;
const CMD_PARTNER_STALE: u8 = 6;
const CMD_TAKEOVER_STARTED: u8 = 7;
const CMD_TAKEOVER_DONE: u8 = 8;
const CMD_DUMP_PROGRESS: u8 = 9;
const CMD_GIVEBACK_DONE: u8 = 10;

/// Attributes of the `status` set (`CORETAKEOVER_A_STATUS_*`).
#[derive(Clone, Copy)]
#[repr(i32)]
pub(crate) enum Attr {
    Version = 1,
    State,
    ClusterId,
    NodeId,
    PartnerId,
    RegistrationKey,
    DumpState,
    TakeoverState,
    PartnerState,
    TakeoverReport,
    Reason,
    DisksHeld,
    DisksTotal,
    DurationUs,
    DumpPercent,
    ServiceDisks,
    PartnerDisks,
    PartnerDumpDisk,
}

/// A message being built: a reply or an event.
///
/// # Invariants
///
/// `skb` is a message we own with an open genetlink header `hdr`.
pub(crate) struct Message {
    skb: *mut bindings::sk_buff,
    hdr: *mut c_void,
}

impl Message {
    fn reply(info: *mut GenlInfo) -> Result<Self> {
        let mut hdr = core::ptr::null_mut();
        // SAFETY: `info` is the request being handled.
        let skb = unsafe { shims::ct_nl_reply_new(info, &mut hdr) };
        if skb.is_null() {
            return Err(ENOMEM);
        }
        Ok(Self { skb, hdr })
    }

    fn event(cmd: u8) -> Result<Self> {
        let mut hdr = core::ptr::null_mut();
        // SAFETY: Allocates a message for our family.
        let skb = unsafe { shims::ct_nl_event_new(cmd, &mut hdr) };
        if skb.is_null() {
            return Err(ENOMEM);
        }
        Ok(Self { skb, hdr })
    }

    pub(crate) fn u32(&mut self, attr: Attr, value: u32) -> Result<&mut Self> {
        // SAFETY: By the type invariant `skb` is ours.
        to_result(unsafe { shims::ct_nl_put_u32(self.skb, attr as c_int, value) })?;
        Ok(self)
    }

    pub(crate) fn uint(&mut self, attr: Attr, value: u64) -> Result<&mut Self> {
        // SAFETY: By the type invariant `skb` is ours.
        to_result(unsafe { shims::ct_nl_put_uint(self.skb, attr as c_int, value) })?;
        Ok(self)
    }

    pub(crate) fn str(&mut self, attr: Attr, text: &str) -> Result<&mut Self> {
        let len = c_int::try_from(text.len()).map_err(|_| E2BIG)?;
        // SAFETY: By the type invariant `skb` is ours; `text` is valid for `len` bytes.
        to_result(unsafe { shims::ct_nl_put_str(self.skb, attr as c_int, text.as_ptr(), len) })?;
        Ok(self)
    }

    fn send_reply(self, info: *mut GenlInfo) -> Result {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: The message is complete; sending consumes it.
        to_result(unsafe { shims::ct_nl_reply_send(this.skb, this.hdr, info) })
    }

    fn multicast(self) {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: The message is complete; sending consumes it. No listener
        // (-ESRCH) is no error for an event.
        unsafe { shims::ct_nl_event_send(this.skb, this.hdr) };
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the message is ours and unsent.
        unsafe { shims::ct_nl_free(self.skb) };
    }
}

/// Sends event `cmd` to the `events` group, with attributes filled by `fill`.
/// Events are best effort: a failure to build one is logged, never fatal.
pub(crate) fn emit(cmd: u8, fill: impl FnOnce(&mut Message) -> Result<()>) {
    let sent = Message::event(cmd).and_then(|mut m| {
        fill(&mut m)?;
        m.multicast();
        Ok(())
    });
    if let Err(e) = sent {
        pr_warn!("netlink event {} dropped (error {})\n", cmd, e.to_errno());
    }
}

pub(crate) fn partner_panic(percent: Option<u64>) {
    emit(CMD_PARTNER_PANIC, |m| {
        m.str(Attr::PartnerState, "panicked")?;
        if let Some(p) = percent {
            m.u32(Attr::DumpPercent, p as u32)?;
        }
        Ok(())
    });
}

pub(crate) fn partner_stale() {
    emit(CMD_PARTNER_STALE, |m| m.str(Attr::PartnerState, "stale").map(drop));
}

pub(crate) fn takeover_started(reason: u32, total: usize) {
    emit(CMD_TAKEOVER_STARTED, |m| m.u32(Attr::Reason, reason)?.u32(Attr::DisksTotal, total as u32).map(drop));
}

pub(crate) fn takeover_done(reason: u32, held: usize, total: usize, us: u64, percent: Option<u64>, report: &str) {
    emit(CMD_TAKEOVER_DONE, |m| {
        m.u32(Attr::Reason, reason)?.u32(Attr::DisksHeld, held as u32)?.u32(Attr::DisksTotal, total as u32)?;
        m.uint(Attr::DurationUs, us)?.str(Attr::TakeoverReport, report)?;
        if let Some(p) = percent {
            m.u32(Attr::DumpPercent, p as u32)?;
        }
        Ok(())
    });
}

pub(crate) fn dump_progress(percent: u64) {
    emit(CMD_DUMP_PROGRESS, |m| m.u32(Attr::DumpPercent, percent as u32).map(drop));
}

pub(crate) fn giveback_done(total: usize) {
    emit(CMD_GIVEBACK_DONE, |m| m.u32(Attr::DisksTotal, total as u32).map(drop));
}

/// Reads an optional u32 attribute of a request.
fn get_u32(info: *mut GenlInfo, attr: Attr) -> Option<u32> {
    let mut value = 0;
    // SAFETY: `info` is the request being handled.
    unsafe { shims::ct_nl_get_u32(info, attr as c_int, &mut value) }.then_some(value)
}

/// Reads an optional string attribute of a request (`EINVAL` if not UTF-8).
fn get_str<'a>(info: *mut GenlInfo, attr: Attr) -> Result<Option<&'a str>> {
    let (mut text, mut len) = (core::ptr::null(), 0);
    // SAFETY: `info` is the request being handled.
    if !unsafe { shims::ct_nl_get_str(info, attr as c_int, &mut text, &mut len) } {
        return Ok(None);
    }
    // SAFETY: The shim points into the request's attribute, `len` bytes long,
    // which lives for the whole handler.
    let bytes = unsafe { core::slice::from_raw_parts(text, len as usize) };
    core::str::from_utf8(bytes).map(Some).map_err(|_| EINVAL)
}

/// `get-status`: readable by everyone.
#[no_mangle]
unsafe extern "C" fn coretakeover_nl_get_status_doit(_skb: *mut bindings::sk_buff, info: *mut GenlInfo) -> c_int {
    from_result(|| {
        let mut m = Message::reply(info)?;
        control::fill_status(&mut m)?;
        m.send_reply(info)?;
        Ok(0)
    })
}

/// `set-config` (CAP_NET_ADMIN): any of the ids and disks.
#[no_mangle]
unsafe extern "C" fn coretakeover_nl_set_config_doit(_skb: *mut bindings::sk_buff, info: *mut GenlInfo) -> c_int {
    from_result(|| {
        let (cluster, node, partner) = (get_u32(info, Attr::ClusterId), get_u32(info, Attr::NodeId), get_u32(info, Attr::PartnerId));
        let disks = [
            get_str(info, Attr::ServiceDisks)?,
            get_str(info, Attr::PartnerDisks)?,
            get_str(info, Attr::PartnerDumpDisk)?,
        ];
        if cluster.is_none() && node.is_none() && partner.is_none() && disks.iter().all(Option::is_none) {
            pr_warn!("netlink set-config: refused: no attribute given\n");
            return Err(EINVAL);
        }
        control::set_config(cluster, node, partner, disks)?;
        Ok(0)
    })
}

/// `takeover` (CAP_NET_ADMIN).
#[no_mangle]
unsafe extern "C" fn coretakeover_nl_takeover_doit(_skb: *mut bindings::sk_buff, info: *mut GenlInfo) -> c_int {
    from_result(|| {
        control::command_takeover()?;
        let mut m = Message::reply(info)?;
        control::fill_takeover(&mut m)?;
        m.send_reply(info)?;
        Ok(0)
    })
}

/// `giveback` (CAP_NET_ADMIN).
#[no_mangle]
unsafe extern "C" fn coretakeover_nl_giveback_doit(_skb: *mut bindings::sk_buff, info: *mut GenlInfo) -> c_int {
    from_result(|| {
        control::command_giveback()?;
        let mut m = Message::reply(info)?;
        control::fill_takeover(&mut m)?;
        m.send_reply(info)?;
        Ok(0)
    })
}

/// The family's registration; unregistered on drop.
pub(crate) struct Family(());

impl Family {
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: Registers the generated, static family once.
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
