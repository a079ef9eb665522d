// SPDX-License-Identifier: GPL-2.0

//! The generic netlink family `coretakeover`: an adapter.
//!
//! Specified in `Documentation/netlink/specs/coretakeover.yaml`; the family,
//! its policies (ranges, string lengths, nests), operations and multicast
//! group are generated from it by the kernel's `ynl-gen-c.py`
//! (`netlink_gen.c`, `scripts/netlink-gen.sh`). This file holds the
//! operations' handlers, which turn attributes into typed values and call the
//! node (`node.rs`), and the listener that turns the node's events
//! (`events.rs`) into notifications for the `events` group. A refusal
//! answers with its errno and its reason as the extended ack message.
//! Messages are built with `genl.rs`. Changing commands carry
//! `GENL_ADMIN_PERM` in the generated table: CAP_NET_ADMIN.

use crate::ct_core::ids::{ClusterId, NodeId};
use crate::ct_core::VERSION;
use crate::events::{DiskResult, Event, Listener, ListenerBlock, Subscription, TakeoverResult};
use crate::genl::{Family, Message, Request};
use crate::node::{self, ConfigChange};
use crate::refusal::{refuse, Outcome};
use crate::shims::GenlInfo;
use kernel::bindings;
use kernel::error::from_result;
use kernel::ffi::c_int;
use kernel::prelude::*;

// Notification commands, from `netlink_uapi.h` (generated from the spec).
const CMD_PARTNER_STATE_NTF: u8 = 5;
const CMD_TAKEOVER_STATE_NTF: u8 = 6;
const CMD_TAKEOVER_STARTED_NTF: u8 = 7;
const CMD_TAKEOVER_DONE_NTF: u8 = 8;
const CMD_DUMP_PROGRESS_NTF: u8 = 9;
const CMD_GIVEBACK_DONE_NTF: u8 = 10;

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
    DumpDisk,
    TakeoverState,
    PartnerState,
    Reason,
    DisksHeld,
    DisksTotal,
    DurationUs,
    DumpPercent,
    ServiceDisk,
    PartnerDisk,
    PartnerDumpDisk,
    TakeoverDisk,
    DumpBudgetMs,
    DumpPlanRow,
    DumpCodec,
    DumpEncrypted,
}

/// Attributes of the `plan-row` set (`CORETAKEOVER_A_PLAN_ROW_*`).
#[derive(Clone, Copy)]
#[repr(i32)]
enum PlanAttr {
    Filter = 1,
    PredictedMs,
    PredictedMib,
    Verdict,
}

impl From<PlanAttr> for c_int {
    fn from(attr: PlanAttr) -> c_int {
        attr as c_int
    }
}

/// Attributes of the `disk` set (`CORETAKEOVER_A_DISK_*`).
#[derive(Clone, Copy)]
#[repr(i32)]
enum DiskAttr {
    Path = 1,
    Held,
    Method,
    Error,
    Message,
    LatencyUs,
    PrUs,
    Attempts,
    QueuedUs,
}

impl From<Attr> for c_int {
    fn from(attr: Attr) -> c_int {
        attr as c_int
    }
}

impl From<DiskAttr> for c_int {
    fn from(attr: DiskAttr) -> c_int {
        attr as c_int
    }
}

/// A count as a u32 attribute (counts are at most a few dozen disks).
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Nests `paths` as `attr`, one `disk` each with its path.
fn put_paths<'a>(m: &mut Message, attr: Attr, paths: impl Iterator<Item = &'a str>) -> Result {
    for path in paths {
        m.nest(attr, |m| m.str(DiskAttr::Path, path).map(drop))?;
    }
    Ok(())
}

/// One disk's takeover result as a `takeover-disk` nest.
fn put_disk_result(m: &mut Message, disk: &DiskResult) -> Result {
    m.nest(Attr::TakeoverDisk, |m| {
        m.str(DiskAttr::Path, disk.path())?.u8(DiskAttr::Held, u8::from(disk.held()))?;
        m.uint(DiskAttr::LatencyUs, disk.latency_us)?.uint(DiskAttr::QueuedUs, disk.queued_us)?;
        match &disk.outcome {
            Ok(t) => m.u32(DiskAttr::Method, t.method as u32)?.uint(DiskAttr::PrUs, t.pr_us)?.u32(DiskAttr::Attempts, t.attempts)?,
            Err(f) => m.u32(DiskAttr::Error, f.errno)?.str(DiskAttr::Message, f.message.as_str())?.u32(DiskAttr::Attempts, f.attempts)?,
        };
        Ok(())
    })
    .map(drop)
}

/// A takeover's counts and each disk's result.
fn put_takeover(m: &mut Message, result: &TakeoverResult) -> Result {
    m.u32(Attr::Reason, result.reason as u32)?.u32(Attr::DisksHeld, count(result.held))?;
    m.u32(Attr::DisksTotal, count(result.total))?.uint(Attr::DurationUs, result.duration_us)?;
    result.disks.iter().try_for_each(|disk| put_disk_result(m, disk))
}

/// The `get-status` reply.
fn fill_status(m: &mut Message) -> Result {
    let identity = node::identity();
    m.str(Attr::Version, VERSION)?.u32(Attr::State, identity.state() as u32)?;
    if let Some(id) = identity.cluster {
        m.u32(Attr::ClusterId, id.get())?;
    }
    if let Some(id) = identity.node {
        m.u32(Attr::NodeId, id.get().into())?;
    }
    if let Some(key) = identity.registration_key() {
        m.uint(Attr::RegistrationKey, key.get())?;
    }
    node::read_arming(|armed| {
        m.u32(Attr::DumpState, u32::from(armed.is_some()))?;
        if let Some(ctx) = armed {
            m.str(Attr::DumpDisk, ctx.path())?;
            if let Some(codec) = ctx.codec() {
                m.str(Attr::DumpCodec, codec.as_str())?;
            }
            m.u8(Attr::DumpEncrypted, u8::from(ctx.encrypted()))?;
            if let Some(plan) = ctx.plan() {
                m.u32(Attr::DumpBudgetMs, plan.budget_ms)?;
                for row in plan.rows.iter().flatten() {
                    m.nest(Attr::DumpPlanRow, |m| {
                        m.str(PlanAttr::Filter, row.filter.as_str())?;
                        m.u32(PlanAttr::PredictedMs, u32::try_from(row.ms).unwrap_or(u32::MAX))?;
                        m.u32(PlanAttr::PredictedMib, u32::try_from(row.mib).unwrap_or(u32::MAX))?;
                        m.str(PlanAttr::Verdict, row.verdict).map(drop)
                    })?;
                }
            }
        }
        Ok(())
    })?;
    node::read_pairing(|p| {
        if let Some(id) = p.partner {
            m.u32(Attr::PartnerId, id.get().into())?;
        }
        m.u32(Attr::TakeoverState, p.phase.code())?.u32(Attr::PartnerState, p.verdict.code())?;
        put_paths(m, Attr::ServiceDisk, p.service_disks.iter().map(|d| d.path()))?;
        put_paths(m, Attr::PartnerDisk, p.partner_disks.iter().map(|d| d.path()))?;
        if let Some(d) = &p.partner_dump {
            m.str(Attr::PartnerDumpDisk, d.path())?;
        }
        if let Some(last) = &p.last {
            put_takeover(m, last)?;
        }
        Ok(())
    })
}

/// Runs a handler's body with its request: a refusal answers with its errno
/// and its reason as the extended ack message.
fn handle(skb: *mut bindings::sk_buff, info: *mut GenlInfo, body: impl FnOnce(&Request<'_>) -> Outcome) -> c_int {
    // SAFETY: `skb` and `info` are the message and request of the handler
    // calling us, live for the call.
    let request = unsafe { Request::from_raw(skb, info) };
    from_result(|| match body(&request) {
        Ok(()) => Ok(0),
        Err(refusal) => {
            if let Some(why) = refusal.message() {
                request.set_error_message(why);
            }
            Err(refusal.errno())
        }
    })
}

/// `get-status`: readable by everyone.
#[no_mangle]
unsafe extern "C" fn coretakeover_nl_get_status_doit(skb: *mut bindings::sk_buff, info: *mut GenlInfo) -> c_int {
    handle(skb, info, |request| {
        let mut m = Message::reply(request)?;
        fill_status(&mut m)?;
        Ok(m.send_reply(request)?)
    })
}

/// `handle` for a command that changes disks: refused (EPERM) unless
/// `Request::may_change_disks`.
fn handle_change(skb: *mut bindings::sk_buff, info: *mut GenlInfo, command: &str, body: impl FnOnce(&Request<'_>) -> Outcome) -> c_int {
    handle(skb, info, |request| {
        if !request.may_change_disks() {
            return Err(refuse!(EPERM, "{}: refused: needs CAP_SYS_ADMIN in the initial network namespace", command));
        }
        body(request)
    })
}

/// A node id from a u32 attribute (the policy checked its range).
fn node_id(name: &str, value: u32) -> Outcome<NodeId> {
    u16::try_from(value).ok().and_then(NodeId::new).ok_or_else(|| refuse!(EINVAL, "set-config: {}: {} is not a node id", name, value))
}

/// The paths of the `attr` nests of `request`; `None` if there are none.
fn paths<'a>(request: &Request<'a>, attr: Attr) -> Outcome<Option<KVec<&'a str>>> {
    let mut found = None;
    for nest in request.nests(attr) {
        let list = found.get_or_insert_with(KVec::new);
        match nest.str(DiskAttr::Path)? {
            Some(path) => list.push(path, GFP_KERNEL)?,
            None => return Err(refuse!(EINVAL, "set-config: a disk without a path")),
        }
    }
    Ok(found)
}

/// `set-config` (CAP_SYS_ADMIN, initial network namespace): any of the ids and disks.
#[no_mangle]
unsafe extern "C" fn coretakeover_nl_set_config_doit(skb: *mut bindings::sk_buff, info: *mut GenlInfo) -> c_int {
    handle_change(skb, info, "set-config", |request| {
        let (cluster, node, partner) = (request.u32(Attr::ClusterId), request.u32(Attr::NodeId), request.u32(Attr::PartnerId));
        let service = paths(request, Attr::ServiceDisk)?;
        let partner_disks = paths(request, Attr::PartnerDisk)?;
        let partner_dump = request.str(Attr::PartnerDumpDisk)?.map(str::trim);
        if cluster.is_none() && node.is_none() && partner.is_none()
            && service.is_none() && partner_disks.is_none() && partner_dump.is_none()
        {
            return Err(refuse!(EINVAL, "set-config: refused: no attribute given"));
        }
        let change = ConfigChange {
            cluster: cluster.map(|v| ClusterId::new(v).ok_or_else(|| refuse!(EINVAL, "set-config: cluster id 0"))).transpose()?,
            node: node.map(|v| node_id("node_id", v)).transpose()?,
            partner: partner.map(|v| node_id("partner_id", v)).transpose()?,
            service_disks: service.as_deref(),
            partner_disks: partner_disks.as_deref(),
            partner_dump_disk: partner_dump.map(|p| (!p.is_empty() && p != "none").then_some(p)),
        };
        node::set_config(&change)
    })
}

/// `takeover` (CAP_SYS_ADMIN, initial network namespace): the reply holds every disk's result; when not
/// every disk is held, the node's refusal (EREMOTEIO, naming the disks that
/// failed) follows it.
#[no_mangle]
unsafe extern "C" fn coretakeover_nl_takeover_doit(skb: *mut bindings::sk_buff, info: *mut GenlInfo) -> c_int {
    handle_change(skb, info, "takeover", |request| {
        let taken = node::takeover();
        if let Err(refusal) = &taken {
            // Refused before anything was done: nothing to report.
            if refusal.errno() != node::partial_takeover() {
                return taken;
            }
        }
        let mut m = Message::reply(request)?;
        node::read_pairing(|p| {
            m.u32(Attr::TakeoverState, p.phase.code())?;
            match &p.last {
                Some(last) => put_takeover(&mut m, last),
                None => Ok(()),
            }
        })?;
        m.send_reply(request)?;
        taken
    })
}

/// `giveback` (CAP_SYS_ADMIN, initial network namespace).
#[no_mangle]
unsafe extern "C" fn coretakeover_nl_giveback_doit(skb: *mut bindings::sk_buff, info: *mut GenlInfo) -> c_int {
    handle_change(skb, info, "giveback", |request| {
        node::giveback()?;
        let mut m = Message::reply(request)?;
        node::read_pairing(|p| {
            m.u32(Attr::TakeoverState, p.phase.code())?.u32(Attr::DisksTotal, count(p.partner_disks.len()))?;
            Ok(())
        })?;
        Ok(m.send_reply(request)?)
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
        pr_warn!("netlink notification {} dropped (error {})\n", cmd, e.to_errno());
    }
}

/// Turns the node's events into the family's notifications.
struct Notifications;

impl Listener for Notifications {
    fn hear(event: &Event<'_>) {
        match *event {
            Event::PartnerState { verdict, dump_percent } => notify(CMD_PARTNER_STATE_NTF, |m| {
                m.u32(Attr::PartnerState, verdict.code())?;
                if let Some(p) = dump_percent {
                    m.u32(Attr::DumpPercent, p as u32)?;
                }
                Ok(())
            }),
            Event::TakeoverState(phase) => notify(CMD_TAKEOVER_STATE_NTF, |m| m.u32(Attr::TakeoverState, phase.code()).map(drop)),
            Event::TakeoverStarted { reason, disks } => notify(CMD_TAKEOVER_STARTED_NTF, |m| {
                m.u32(Attr::Reason, reason as u32)?.u32(Attr::DisksTotal, count(disks)).map(drop)
            }),
            Event::TakeoverDone(result) => notify(CMD_TAKEOVER_DONE_NTF, |m| {
                let phase = crate::ct_core::partner::Phase::after_takeover(result.held, result.total);
                m.u32(Attr::TakeoverState, phase.code())?;
                if let Some(p) = result.dump_percent {
                    m.u32(Attr::DumpPercent, p as u32)?;
                }
                put_takeover(m, result)
            }),
            Event::DumpProgress { percent } => notify(CMD_DUMP_PROGRESS_NTF, |m| m.u32(Attr::DumpPercent, percent as u32).map(drop)),
            Event::GivebackDone { disks } => notify(CMD_GIVEBACK_DONE_NTF, |m| m.u32(Attr::DisksTotal, count(disks)).map(drop)),
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
