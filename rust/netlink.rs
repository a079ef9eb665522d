// SPDX-License-Identifier: GPL-2.0

//! The generic netlink family `coretakeover`: an adapter.
//!
//! Specified in `Documentation/netlink/specs/coretakeover.yaml`; the family,
//! its policies, operations and multicast group are generated from it by
//! the kernel's `ynl-gen-c.py` (`netlink_gen.c`, `scripts/netlink-gen.sh`).
//! This file holds the operations' handlers, which turn attributes into
//! typed values and call the node (`node.rs`), and the listener that turns
//! the node's events (`events.rs`) into notifications for the `events`
//! group. Messages are built with `genl.rs`. Changing commands carry
//! `GENL_ADMIN_PERM` in the generated table: CAP_NET_ADMIN.

use crate::ct_core::ids::{ClusterId, NodeId, ParseIdError};
use crate::ct_core::partner::Verdict;
use crate::ct_core::VERSION;
use crate::events::{Event, Listener, ListenerBlock, Subscription};
use crate::genl::{Family, Message, Request};
use crate::node::{self, ConfigChange};
use crate::shims::GenlInfo;
use kernel::bindings;
use kernel::error::from_result;
use kernel::ffi::c_int;
use kernel::prelude::*;

// Notification commands, from `netlink_uapi.h` (generated from the spec).
const CMD_PARTNER_PANIC: u8 = 5;
const CMD_PARTNER_STALE: u8 = 6;
const CMD_TAKEOVER_STARTED: u8 = 7;
const CMD_TAKEOVER_DONE: u8 = 8;
const CMD_DUMP_PROGRESS: u8 = 9;
const CMD_GIVEBACK_DONE: u8 = 10;

/// Attributes of the `status` set (`CORETAKEOVER_A_STATUS_*`).
#[derive(Clone, Copy)]
#[repr(i32)]
enum Attr {
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

impl From<Attr> for c_int {
    fn from(attr: Attr) -> c_int {
        attr as c_int
    }
}

/// The `get-status` reply.
fn fill_status(m: &mut Message) -> Result {
    let identity = node::identity();
    m.str(Attr::Version, VERSION)?.str(Attr::State, identity.state().as_str())?;
    if let Some(id) = identity.cluster {
        m.u32(Attr::ClusterId, id.get())?;
    }
    if let Some(id) = identity.node {
        m.u32(Attr::NodeId, id.get().into())?;
    }
    if let Some(key) = identity.registration_key() {
        m.uint(Attr::RegistrationKey, key.get())?;
    }
    let armed = node::read_arming(|armed| Ok(armed.is_some()))?;
    m.str(Attr::DumpState, if armed { "armed" } else { "disarmed" })?;
    node::read_pairing(|p| {
        if let Some(id) = p.partner {
            m.u32(Attr::PartnerId, id.get().into())?;
        }
        m.str(Attr::TakeoverState, p.phase.as_str())?.str(Attr::PartnerState, p.verdict.as_str())?;
        m.str(Attr::TakeoverReport, p.report())?;
        Ok(())
    })
}

/// The reply of `takeover` and `giveback`.
fn fill_takeover(m: &mut Message) -> Result {
    node::read_pairing(|p| {
        m.str(Attr::TakeoverState, p.phase.as_str())?.str(Attr::TakeoverReport, p.report())?;
        Ok(())
    })
}

/// Logs a refused number and returns the errno for it.
fn refuse(name: &str, value: u32, why: ParseIdError) -> Error {
    pr_warn!("netlink set-config: {}: refused {}: {}\n", name, value, why);
    EINVAL
}

/// A node id from a u32 attribute, with the checks of the sysfs knob.
fn node_id(name: &str, value: u32) -> Result<NodeId> {
    let why = if value == 0 { ParseIdError::Zero } else { ParseIdError::OutOfRange { max: u16::MAX.into() } };
    u16::try_from(value).ok().and_then(NodeId::new).ok_or_else(|| refuse(name, value, why))
}

/// Splits a list of device paths (separated by spaces).
fn split_paths(list: Option<&str>) -> Result<Option<KVec<&str>>> {
    let Some(list) = list else { return Ok(None) };
    let mut paths = KVec::new();
    for path in list.split_whitespace() {
        paths.push(path, GFP_KERNEL)?;
    }
    Ok(Some(paths))
}

/// Runs a handler's body with its request, mapping the result to an errno.
fn handle(info: *mut GenlInfo, body: impl FnOnce(&Request<'_>) -> Result) -> c_int {
    // SAFETY: `info` is the request of the handler calling us, live for the call.
    let request = unsafe { Request::from_raw(info) };
    from_result(|| body(&request).map(|()| 0))
}

/// `get-status`: readable by everyone.
#[no_mangle]
unsafe extern "C" fn coretakeover_nl_get_status_doit(_skb: *mut bindings::sk_buff, info: *mut GenlInfo) -> c_int {
    handle(info, |request| {
        let mut m = Message::reply(request)?;
        fill_status(&mut m)?;
        m.send_reply(request)
    })
}

/// `set-config` (CAP_NET_ADMIN): any of the ids and disks.
#[no_mangle]
unsafe extern "C" fn coretakeover_nl_set_config_doit(_skb: *mut bindings::sk_buff, info: *mut GenlInfo) -> c_int {
    handle(info, |request| {
        let (cluster, node, partner) = (request.u32(Attr::ClusterId), request.u32(Attr::NodeId), request.u32(Attr::PartnerId));
        let service = split_paths(request.str(Attr::ServiceDisks)?)?;
        let partner_disks = split_paths(request.str(Attr::PartnerDisks)?)?;
        let partner_dump = request.str(Attr::PartnerDumpDisk)?.map(str::trim);
        if cluster.is_none() && node.is_none() && partner.is_none()
            && service.is_none() && partner_disks.is_none() && partner_dump.is_none()
        {
            pr_warn!("netlink set-config: refused: no attribute given\n");
            return Err(EINVAL);
        }
        let change = ConfigChange {
            cluster: cluster.map(|v| ClusterId::new(v).ok_or_else(|| refuse("cluster_id", v, ParseIdError::Zero))).transpose()?,
            node: node.map(|v| node_id("node_id", v)).transpose()?,
            partner: partner.map(|v| node_id("partner_id", v)).transpose()?,
            service_disks: service.as_deref(),
            partner_disks: partner_disks.as_deref(),
            partner_dump_disk: partner_dump.map(|p| (!p.is_empty() && p != "none").then_some(p)),
        };
        node::set_config(&change)
    })
}

/// `takeover` (CAP_NET_ADMIN).
#[no_mangle]
unsafe extern "C" fn coretakeover_nl_takeover_doit(_skb: *mut bindings::sk_buff, info: *mut GenlInfo) -> c_int {
    handle(info, |request| {
        node::takeover()?;
        let mut m = Message::reply(request)?;
        fill_takeover(&mut m)?;
        m.send_reply(request)
    })
}

/// `giveback` (CAP_NET_ADMIN).
#[no_mangle]
unsafe extern "C" fn coretakeover_nl_giveback_doit(_skb: *mut bindings::sk_buff, info: *mut GenlInfo) -> c_int {
    handle(info, |request| {
        node::giveback()?;
        let mut m = Message::reply(request)?;
        fill_takeover(&mut m)?;
        m.send_reply(request)
    })
}

/// Builds notification `cmd` with `fill` and sends it to the `events`
/// group. Notifications are best effort: one that cannot be built is
/// logged, never fatal.
fn notify(cmd: u8, fill: impl FnOnce(&mut Message) -> Result) {
    let sent = Message::notification(cmd).and_then(|mut m| {
        fill(&mut m)?;
        m.multicast();
        Ok(())
    });
    if let Err(e) = sent {
        pr_warn!("netlink event {} dropped (error {})\n", cmd, e.to_errno());
    }
}

/// A count as a u32 attribute (counts are at most a few dozen disks).
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Turns the node's events into the family's notifications.
struct Notifications;

impl Listener for Notifications {
    fn hear(event: &Event<'_>) {
        match *event {
            Event::PartnerState { verdict: Verdict::Panicked, dump_percent } => notify(CMD_PARTNER_PANIC, |m| {
                m.str(Attr::PartnerState, Verdict::Panicked.as_str())?;
                if let Some(p) = dump_percent {
                    m.u32(Attr::DumpPercent, p as u32)?;
                }
                Ok(())
            }),
            Event::PartnerState { verdict: verdict @ Verdict::Stale { .. }, .. } => {
                notify(CMD_PARTNER_STALE, |m| m.str(Attr::PartnerState, verdict.as_str()).map(drop))
            }
            Event::PartnerState { .. } | Event::TakeoverState(_) => {}
            Event::TakeoverStarted { reason, disks } => notify(CMD_TAKEOVER_STARTED, |m| {
                m.u32(Attr::Reason, reason as u32)?.u32(Attr::DisksTotal, count(disks)).map(drop)
            }),
            Event::TakeoverDone { reason, held, total, duration_us, dump_percent, report } => notify(CMD_TAKEOVER_DONE, |m| {
                m.u32(Attr::Reason, reason as u32)?.u32(Attr::DisksHeld, count(held))?.u32(Attr::DisksTotal, count(total))?;
                m.uint(Attr::DurationUs, duration_us)?.str(Attr::TakeoverReport, report)?;
                if let Some(p) = dump_percent {
                    m.u32(Attr::DumpPercent, p as u32)?;
                }
                Ok(())
            }),
            Event::DumpProgress { percent } => notify(CMD_DUMP_PROGRESS, |m| m.u32(Attr::DumpPercent, percent as u32).map(drop)),
            Event::GivebackDone { disks } => notify(CMD_GIVEBACK_DONE, |m| m.u32(Attr::DisksTotal, count(disks)).map(drop)),
        }
    }
}

static NOTIFICATIONS: ListenerBlock = ListenerBlock::new::<Notifications>();

/// The registered family and its listener. Dropping it unsubscribes, then
/// unregisters the family (waiting for running handlers).
pub(crate) struct Netlink {
    subscription: Option<Subscription>,
    family: Option<Family>,
}

impl Netlink {
    pub(crate) fn register() -> Result<Self> {
        let mut netlink = Self { subscription: None, family: Some(Family::register()?) };
        netlink.subscription = Some(Subscription::new(&NOTIFICATIONS)?);
        Ok(netlink)
    }
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.subscription = None;
        self.family = None;
    }
}
