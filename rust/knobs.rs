// SPDX-License-Identifier: GPL-2.0

//! The sysfs interface, `/sys/kernel/coretakeover/`: an adapter.
//!
//! Each knob parses what is written into a typed value and calls the node
//! (`node.rs`), which checks it and owns the state; a knob that is read
//! shows what the node says. Nothing here holds state of its own, so adding
//! a knob is a line in the table below, its parser, and the node's
//! operation. The [`Knobs`] directory also listens to the node's events
//! (`events.rs`): a change of `takeover_state` or `partner_state` wakes
//! their `poll(2)`ers and sends a change uevent (from the module's kobject,
//! `/sys/module/coretakeover`, with the attribute and its new value).
//!
//! Every attribute is documented in
//! `Documentation/ABI/testing/sysfs-kernel-coretakeover`. Writable ones are
//! root-only (mode 0644, or 0200 for commands); a bad write returns an errno,
//! logs why, and changes nothing.

use crate::ct_core::checksum::ChecksumChoice;
use crate::ct_core::codec::CodecChoice;
use crate::ct_core::dumpkey::DumpKey;
use crate::ct_core::pagefilter::Filter;
use crate::ct_core::partner::SelfFence;
use crate::ct_core::ids::{parse_number, ClusterId, NodeId, ParseIdError};
use crate::ct_core::VERSION;
use crate::events::{Event, Listener, ListenerBlock, Subscription};
use crate::node::{self, Setting};
use crate::sysfs::{Attribute, AttributeList, Directory, Group, Page, Show, Store};
use core::marker::PhantomData;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::bindings;
use kernel::c_str;
use kernel::prelude::*;

/// Logs a refused write and returns the errno for it.
fn refuse(attribute: &str, input: &str, why: ParseIdError) -> Error {
    pr_warn!("{}: refused {:?}: {}\n", attribute, input.trim_end(), why);
    EINVAL
}

/// Shows an optional value, or an empty line.
fn show_optional(out: &mut Page<'_>, value: Option<impl core::fmt::Display>) -> Result {
    match value {
        Some(v) => out.line(format_args!("{}", v)),
        None => out.line(format_args!("")),
    }
}

/// Splits a written list of device paths (whitespace-separated).
fn split_paths(input: &str) -> Result<KVec<&str>> {
    let mut paths = KVec::new();
    for path in input.split_whitespace() {
        paths.push(path, GFP_KERNEL)?;
    }
    Ok(paths)
}

/// Shows a list of disks, separated by spaces.
fn show_paths<'a>(out: &mut Page<'_>, paths: impl Iterator<Item = &'a str>) -> Result {
    for (i, path) in paths.enumerate() {
        out.put(format_args!("{}{}", if i == 0 { "" } else { " " }, path))?;
    }
    out.line(format_args!(""))
}

/// A disk path, or `none` (or nothing) for no disk.
fn path_or_none(input: &str) -> Option<&str> {
    let path = input.trim();
    (!path.is_empty() && path != "none").then_some(path)
}

/// Commands take `1`.
fn check_command(name: &str, input: &str) -> Result {
    if input.trim() != "1" {
        pr_warn!("{}: refused {:?}: write 1\n", name, input.trim_end());
        return Err(EINVAL);
    }
    Ok(())
}

struct Version;

impl Show for Version {
    fn show(out: &mut Page<'_>) -> Result {
        out.line(format_args!("{}", VERSION))
    }
}

struct State;

impl Show for State {
    fn show(out: &mut Page<'_>) -> Result {
        out.line(format_args!("{}", node::identity().state().as_str()))
    }
}

struct Cluster;

impl Show for Cluster {
    fn show(out: &mut Page<'_>) -> Result {
        show_optional(out, node::identity().cluster)
    }
}

impl Store for Cluster {
    fn store(input: &str) -> Result {
        Ok(node::set_cluster(ClusterId::parse(input).map_err(|e| refuse("cluster_id", input, e))?)?)
    }
}

struct Node;

impl Show for Node {
    fn show(out: &mut Page<'_>) -> Result {
        show_optional(out, node::identity().node)
    }
}

impl Store for Node {
    fn store(input: &str) -> Result {
        Ok(node::set_node(NodeId::parse(input).map_err(|e| refuse("node_id", input, e))?)?)
    }
}

struct Key;

impl Show for Key {
    fn show(out: &mut Page<'_>) -> Result {
        show_optional(out, node::identity().registration_key())
    }
}

struct DumpDisk;

impl Show for DumpDisk {
    fn show(out: &mut Page<'_>) -> Result {
        node::read_arming(|armed| show_optional(out, armed.map(|ctx| ctx.path())))
    }
}

impl Store for DumpDisk {
    fn store(input: &str) -> Result {
        Ok(match path_or_none(input.trim_end_matches('\n')) {
            Some(path) => node::arm(path),
            None => node::disarm(),
        }?)
    }
}

struct DumpState;

impl Show for DumpState {
    fn show(out: &mut Page<'_>) -> Result {
        let armed = node::read_arming(|armed| Ok(armed.is_some()))?;
        out.line(format_args!("{}", if armed { "armed" } else { "disarmed" }))
    }
}

struct DumpReserved;

impl Show for DumpReserved {
    fn show(out: &mut Page<'_>) -> Result {
        let bytes = node::read_arming(|armed| Ok(armed.map_or(0, |ctx| ctx.reserved_bytes())))?;
        out.line(format_args!("{}", bytes))
    }
}

struct DumpChecksum;

impl Show for DumpChecksum {
    fn show(out: &mut Page<'_>) -> Result {
        out.line(format_args!("{}", node::dump_checksum().as_str()))
    }
}

impl Store for DumpChecksum {
    fn store(input: &str) -> Result {
        match ChecksumChoice::parse(input) {
            Some(choice) => {
                node::set_dump_checksum(choice);
                Ok(())
            }
            None => {
                pr_warn!("dump_checksum: refused {:?}: give auto, crc32c or xxh64\n", input.trim_end());
                Err(EINVAL)
            }
        }
    }
}

struct DumpFilter;

impl Show for DumpFilter {
    fn show(out: &mut Page<'_>) -> Result {
        out.line(format_args!("{}", node::dump_filter().as_str()))
    }
}

impl Store for DumpFilter {
    fn store(input: &str) -> Result {
        match Filter::parse(input) {
            Some(filter) => {
                node::set_dump_filter(filter);
                Ok(())
            }
            None => {
                pr_warn!("dump_filter: refused {:?}: give all, no-free, no-cache or kernel\n", input.trim_end());
                Err(EINVAL)
            }
        }
    }
}

struct DumpCodec;

impl Show for DumpCodec {
    fn show(out: &mut Page<'_>) -> Result {
        out.line(format_args!("{}", node::dump_codec().as_str()))
    }
}

impl Store for DumpCodec {
    fn store(input: &str) -> Result {
        match CodecChoice::parse(input) {
            Some(choice) => {
                node::set_dump_codec(choice);
                Ok(())
            }
            None => {
                pr_warn!("dump_codec: refused {:?}: give none, lz4, zstd or auto\n", input.trim_end());
                Err(EINVAL)
            }
        }
    }
}

/// The armed dump's chunk checksum and the probe's rates: one line,
/// `FUNCTION crc32c=MIB_S xxh64=MIB_S` (empty when disarmed).
struct DumpChecksumArmed;

impl Show for DumpChecksumArmed {
    fn show(out: &mut Page<'_>) -> Result {
        node::read_arming(|armed| match armed.map(|ctx| ctx.checksum()) {
            Some(p) => out.line(format_args!("{} crc32c={} xxh64={}", p.chosen.as_str(), p.crc32c_mib_s, p.xxh64_mib_s)),
            None => out.line(format_args!("")),
        })
    }
}

/// The armed dump's plan, as `makedumpfile --mem-usage` shows one: every
/// page filter the model considered, its predicted time and size, and which
/// was chosen or why not; then the budget and the calibration taken from
/// the disk's earlier dump. Empty while no disk is armed.
struct DumpPlan;

impl Show for DumpPlan {
    fn show(out: &mut Page<'_>) -> Result {
        node::read_arming(|armed| match armed.and_then(|ctx| ctx.plan()) {
            Some(plan) => {
                out.line(format_args!("filter    predicted_ms  predicted_mib  choice"))?;
                for row in plan.rows.iter().flatten() {
                    out.line(format_args!("{:<9} {:>12}  {:>13}  {}", row.filter.as_str(), row.ms, row.mib, row.verdict))?;
                }
                out.line(format_args!("budget_ms {}", plan.budget_ms))?;
                match plan.calibration {
                    Some((predicted, measured, factor)) => out.line(format_args!(
                        "calibration {}/1024 (the earlier dump took {} ms against {} ms predicted)",
                        factor, measured, predicted
                    )),
                    None => out.line(format_args!("calibration none")),
                }?;
                for c in plan.codecs.iter().flatten() {
                    out.line(format_args!(
                        "codec {} stores kernel {}/1024 other {}/1024 free {}/1024 rate_mib_s {} stack_bytes {} filter {} predicted_ms {} predicted_mib {}{}",
                        c.codec.as_str(),
                        c.store_x1024[0],
                        c.store_x1024[1],
                        c.store_x1024[2],
                        c.mib_s,
                        c.stack_bytes,
                        c.filter.as_str(),
                        c.ms,
                        c.mib,
                        if c.chosen { " chosen" } else { "" }
                    ))?;
                }
                Ok(())
            }
            None => out.line(format_args!("")),
        })
    }
}

struct ServiceDisks;

impl Show for ServiceDisks {
    fn show(out: &mut Page<'_>) -> Result {
        node::read_pairing(|p| show_paths(out, p.service_disks.iter().map(|d| d.path())))
    }
}

impl Store for ServiceDisks {
    fn store(input: &str) -> Result {
        Ok(node::set_service_disks(&split_paths(input)?)?)
    }
}

struct PartnerDisks;

impl Show for PartnerDisks {
    fn show(out: &mut Page<'_>) -> Result {
        node::read_pairing(|p| show_paths(out, p.partner_disks.iter().map(|d| d.path())))
    }
}

impl Store for PartnerDisks {
    fn store(input: &str) -> Result {
        Ok(node::set_partner_disks(&split_paths(input)?)?)
    }
}

struct PartnerId;

impl Show for PartnerId {
    fn show(out: &mut Page<'_>) -> Result {
        node::read_pairing(|p| show_optional(out, p.partner))
    }
}

impl Store for PartnerId {
    fn store(input: &str) -> Result {
        Ok(node::set_partner(NodeId::parse(input).map_err(|e| refuse("partner_id", input, e))?)?)
    }
}

struct PartnerDump;

impl Show for PartnerDump {
    fn show(out: &mut Page<'_>) -> Result {
        node::read_pairing(|p| show_optional(out, p.partner_dump.as_ref().map(|d| d.path())))
    }
}

impl Store for PartnerDump {
    fn store(input: &str) -> Result {
        Ok(node::watch_partner_disk(path_or_none(input))?)
    }
}

/// A numeric policy setting of the node.
trait NumberSetting {
    const SETTING: Setting;
}

/// The knob of the numeric setting `S`.
struct Number<S>(PhantomData<S>);

impl<S: NumberSetting> Show for Number<S> {
    fn show(out: &mut Page<'_>) -> Result {
        out.line(format_args!("{}", node::setting(S::SETTING)))
    }
}

impl<S: NumberSetting> Store for Number<S> {
    fn store(input: &str) -> Result {
        match parse_number(input).ok().and_then(|v| u32::try_from(v).ok()) {
            Some(v) => Ok(node::set_setting(S::SETTING, v)?),
            None => {
                let range = S::SETTING.range();
                pr_warn!(
                    "{}: refused {:?}: give a number in {}..={}\n",
                    S::SETTING.name(), input.trim_end(), range.start(), range.end()
                );
                Err(EINVAL)
            }
        }
    }
}

struct Interval;
struct WatchInterval;
struct StaleTimeout;
struct BiosInFlight;
struct BudgetMs;
struct Encrypt;

impl NumberSetting for Encrypt {
    const SETTING: Setting = Setting::DumpEncrypt;
}

impl NumberSetting for BudgetMs {
    const SETTING: Setting = Setting::DumpBudgetMs;
}

impl NumberSetting for Interval {
    const SETTING: Setting = Setting::IntervalMs;
}

impl NumberSetting for WatchInterval {
    const SETTING: Setting = Setting::WatchIntervalMs;
}

impl NumberSetting for StaleTimeout {
    const SETTING: Setting = Setting::StaleTimeoutMs;
}

impl NumberSetting for BiosInFlight {
    const SETTING: Setting = Setting::DumpBiosInFlight;
}

/// A boolean policy setting of the node, written and shown as 0 or 1.
trait FlagSetting {
    const NAME: &'static str;
    fn get() -> bool;
    fn set(on: bool);
}

/// The knob of the boolean setting `S`.
struct Flag<S>(PhantomData<S>);

impl<S: FlagSetting> Show for Flag<S> {
    fn show(out: &mut Page<'_>) -> Result {
        out.line(format_args!("{}", u8::from(S::get())))
    }
}

impl<S: FlagSetting> Store for Flag<S> {
    fn store(input: &str) -> Result {
        match input.trim() {
            "0" => S::set(false),
            "1" => S::set(true),
            other => {
                pr_warn!("{}: refused {:?}: give 0 or 1\n", S::NAME, other);
                return Err(EINVAL);
            }
        }
        Ok(())
    }
}

struct AutoTakeover;
struct AutoTakeoverOnStale;

impl FlagSetting for AutoTakeover {
    const NAME: &'static str = "auto_takeover";
    fn get() -> bool {
        node::auto_takeover()
    }
    fn set(on: bool) {
        node::set_auto_takeover(on)
    }
}

impl FlagSetting for AutoTakeoverOnStale {
    const NAME: &'static str = "auto_takeover_on_stale";
    fn get() -> bool {
        node::auto_takeover_on_stale()
    }
    fn set(on: bool) {
        node::set_auto_takeover_on_stale(on)
    }
}

struct TakeoverCommand;

impl Store for TakeoverCommand {
    fn store(input: &str) -> Result {
        check_command("takeover", input)?;
        Ok(node::takeover()?)
    }
}

/// The data key of the next arming (write only, root): "KEY PUBLIC
/// SEALED" in hex (`ct_core::dumpkey`). Never logged, never readable.
struct DumpKeyCommand;

impl Store for DumpKeyCommand {
    fn store(input: &str) -> Result {
        match DumpKey::parse(input) {
            Ok(key) => Ok(node::set_dump_key(key)?),
            Err(e) => {
                pr_warn!("dump_key: refused: {}\n", e);
                Err(EINVAL)
            }
        }
    }
}

struct GivebackCommand;

impl Store for GivebackCommand {
    fn store(input: &str) -> Result {
        check_command("giveback", input)?;
        Ok(node::giveback()?)
    }
}

struct TakeoverState;

impl Show for TakeoverState {
    fn show(out: &mut Page<'_>) -> Result {
        out.line(format_args!("{}", node::phase()?.as_str()))
    }
}

struct SelfFenceKnob;

impl Show for SelfFenceKnob {
    fn show(out: &mut Page<'_>) -> Result {
        out.line(format_args!("{}", node::self_fence().as_str()))
    }
}

impl Store for SelfFenceKnob {
    fn store(input: &str) -> Result {
        let Some(mode) = SelfFence::parse(input) else {
            pr_warn!("self_fence: refused {:?}: give off, panic or reboot\n", input.trim_end());
            return Err(EINVAL);
        };
        Ok(node::set_self_fence(mode)?)
    }
}

struct WatchGap;

impl Show for WatchGap {
    fn show(out: &mut Page<'_>) -> Result {
        out.line(format_args!("{}", node::watch_gap_max_ms()))
    }
}

impl Store for WatchGap {
    /// Only 0: starts the figure afresh.
    fn store(input: &str) -> Result {
        if input.trim() != "0" {
            pr_warn!("watch_gap_max_ms: refused: write 0 to start it afresh\n");
            return Err(EINVAL);
        }
        node::reset_watch_gap();
        Ok(())
    }
}

struct PartnerState;

impl Show for PartnerState {
    fn show(out: &mut Page<'_>) -> Result {
        let verdict = node::read_pairing(|p| Ok(p.verdict))?;
        out.line(format_args!("{}", verdict.as_str()))
    }
}

static VERSION_ATTR: Attribute = Attribute::read_only::<Version>(c_str!("version"));
static STATE_ATTR: Attribute = Attribute::read_only::<State>(c_str!("state"));
static CLUSTER_ATTR: Attribute = Attribute::read_write::<Cluster>(c_str!("cluster_id"));
static NODE_ATTR: Attribute = Attribute::read_write::<Node>(c_str!("node_id"));
static KEY_ATTR: Attribute = Attribute::read_only::<Key>(c_str!("registration_key"));
static DUMP_DISK_ATTR: Attribute = Attribute::read_write::<DumpDisk>(c_str!("dump_disk"));
static DUMP_STATE_ATTR: Attribute = Attribute::read_only::<DumpState>(c_str!("dump_state"));
static DUMP_RESERVED_ATTR: Attribute = Attribute::read_only::<DumpReserved>(c_str!("dump_reserved_bytes"));
static DUMP_CHECKSUM_ATTR: Attribute = Attribute::read_write::<DumpChecksum>(c_str!("dump_checksum"));
static DUMP_FILTER_ATTR: Attribute = Attribute::read_write::<DumpFilter>(c_str!("dump_filter"));
static DUMP_CODEC_ATTR: Attribute = Attribute::read_write::<DumpCodec>(c_str!("dump_codec"));
static DUMP_CHECKSUM_ARMED_ATTR: Attribute = Attribute::read_only::<DumpChecksumArmed>(c_str!("dump_checksum_armed"));
static SERVICE_DISKS_ATTR: Attribute = Attribute::read_write::<ServiceDisks>(c_str!("service_disks"));
static PARTNER_ID_ATTR: Attribute = Attribute::read_write::<PartnerId>(c_str!("partner_id"));
static PARTNER_DISKS_ATTR: Attribute = Attribute::read_write::<PartnerDisks>(c_str!("partner_disks"));
static PARTNER_DUMP_ATTR: Attribute = Attribute::read_write::<PartnerDump>(c_str!("partner_dump_disk"));
static INTERVAL_ATTR: Attribute = Attribute::read_write::<Number<Interval>>(c_str!("interval_ms"));
static WATCH_INTERVAL_ATTR: Attribute = Attribute::read_write::<Number<WatchInterval>>(c_str!("watch_interval_ms"));
static STALE_ATTR: Attribute = Attribute::read_write::<Number<StaleTimeout>>(c_str!("stale_timeout_ms"));
static IN_FLIGHT_ATTR: Attribute = Attribute::read_write::<Number<BiosInFlight>>(c_str!("dump_bios_in_flight"));
static BUDGET_ATTR: Attribute = Attribute::read_write::<Number<BudgetMs>>(c_str!("dump_budget_ms"));
static DUMP_PLAN_ATTR: Attribute = Attribute::read_only::<DumpPlan>(c_str!("dump_plan"));
static AUTO_ATTR: Attribute = Attribute::read_write::<Flag<AutoTakeover>>(c_str!("auto_takeover"));
static AUTO_STALE_ATTR: Attribute = Attribute::read_write::<Flag<AutoTakeoverOnStale>>(c_str!("auto_takeover_on_stale"));
static TAKEOVER_ATTR: Attribute = Attribute::write_only::<TakeoverCommand>(c_str!("takeover"));
static DUMP_KEY_ATTR: Attribute = Attribute::write_only::<DumpKeyCommand>(c_str!("dump_key"));
static ENCRYPT_ATTR: Attribute = Attribute::read_write::<Number<Encrypt>>(c_str!("dump_encrypt"));
static GIVEBACK_ATTR: Attribute = Attribute::write_only::<GivebackCommand>(c_str!("giveback"));
static TAKEOVER_STATE_ATTR: Attribute = Attribute::read_only::<TakeoverState>(c_str!("takeover_state"));
static PARTNER_STATE_ATTR: Attribute = Attribute::read_only::<PartnerState>(c_str!("partner_state"));
static SELF_FENCE_ATTR: Attribute = Attribute::read_write::<SelfFenceKnob>(c_str!("self_fence"));
static WATCH_GAP_ATTR: Attribute = Attribute::read_write::<WatchGap>(c_str!("watch_gap_max_ms"));

static ATTRS: AttributeList<32> = AttributeList::new([
    &VERSION_ATTR,
    &STATE_ATTR,
    &CLUSTER_ATTR,
    &NODE_ATTR,
    &KEY_ATTR,
    &DUMP_DISK_ATTR,
    &DUMP_STATE_ATTR,
    &DUMP_RESERVED_ATTR,
    &IN_FLIGHT_ATTR,
    &BUDGET_ATTR,
    &DUMP_KEY_ATTR,
    &ENCRYPT_ATTR,
    &DUMP_PLAN_ATTR,
    &DUMP_CHECKSUM_ATTR,
    &DUMP_FILTER_ATTR,
    &DUMP_CODEC_ATTR,
    &DUMP_CHECKSUM_ARMED_ATTR,
    &SERVICE_DISKS_ATTR,
    &PARTNER_ID_ATTR,
    &PARTNER_DISKS_ATTR,
    &PARTNER_DUMP_ATTR,
    &INTERVAL_ATTR,
    &WATCH_INTERVAL_ATTR,
    &STALE_ATTR,
    &AUTO_ATTR,
    &AUTO_STALE_ATTR,
    &TAKEOVER_ATTR,
    &GIVEBACK_ATTR,
    &TAKEOVER_STATE_ATTR,
    &PARTNER_STATE_ATTR,
    &SELF_FENCE_ATTR,
    &WATCH_GAP_ATTR,
]);
static GROUP: Group = Group::new(&ATTRS);

/// The directory's kobject, for the listener: set while the directory
/// exists and the listener is subscribed.
static KOBJECT: AtomicPtr<bindings::kobject> = AtomicPtr::new(core::ptr::null_mut());
/// The module's kobject (`/sys/module/coretakeover`), which sends the
/// uevents: it belongs to the module kset, while `/sys/kernel/coretakeover`,
/// like every directory under `/sys/kernel`, belongs to no kset, and the
/// kernel sends no uevent for such a kobject.
static MODULE_KOBJECT: AtomicPtr<bindings::kobject> = AtomicPtr::new(core::ptr::null_mut());

/// Formats `KEY=value` with a terminating NUL into `buf`.
fn env_var<'a>(buf: &'a mut [u8], args: core::fmt::Arguments<'_>) -> Result<&'a CStr> {
    struct Cursor<'b>(&'b mut [u8], usize);
    impl core::fmt::Write for Cursor<'_> {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            // Keep one byte for the NUL.
            let end = self.1 + s.len();
            if end >= self.0.len() {
                return Err(core::fmt::Error);
            }
            let dest = self.0.get_mut(self.1..end).ok_or(core::fmt::Error)?;
            dest.copy_from_slice(s.as_bytes());
            self.1 = end;
            Ok(())
        }
    }
    let mut cursor = Cursor(buf, 0);
    core::fmt::Write::write_fmt(&mut cursor, args).map_err(|_| E2BIG)?;
    let len = cursor.1;
    let bytes = buf.get_mut(..=len).ok_or(E2BIG)?;
    bytes[len] = 0;
    CStr::from_bytes_with_nul(bytes).map_err(|_| EINVAL)
}

/// Tells userspace that attribute `name` now reads `value`: wakes its
/// `poll(2)`ers and sends a change uevent with `CORETAKEOVER_ATTRIBUTE` and
/// `CORETAKEOVER_VALUE`.
fn changed(name: &CStr, value: &str) {
    let kobj = KOBJECT.load(Ordering::Acquire);
    if !kobj.is_null() {
        // SAFETY: `KOBJECT` points to the live directory while we are
        // subscribed: `Knobs` unsubscribes before removing it.
        unsafe { crate::sysfs::notify(kobj, name) };
    }
    let module = MODULE_KOBJECT.load(Ordering::Acquire);
    if module.is_null() {
        return;
    }
    let (mut attribute, mut new_value) = ([0u8; 64], [0u8; 64]);
    let sent = env_var(&mut attribute, format_args!("CORETAKEOVER_ATTRIBUTE={}", name.to_str().unwrap_or("?")))
        .and_then(|attribute| Ok((attribute, env_var(&mut new_value, format_args!("CORETAKEOVER_VALUE={}", value))?)))
        // SAFETY: The module's kobject lives as long as the module's code runs.
        .and_then(|(attribute, new_value)| unsafe { crate::sysfs::uevent_change(module, &[attribute, new_value]) });
    if let Err(e) = sent {
        pr_warn!("{}: change uevent not sent (error {})\n", name.to_str().unwrap_or("?"), e.to_errno());
    }
}

/// Turns the node's events into sysfs notifications.
struct Notifications;

impl Listener for Notifications {
    fn hear(event: &Event<'_>) {
        match event {
            Event::TakeoverState(phase) => changed(c_str!("takeover_state"), phase.as_str()),
            Event::PartnerState { verdict, .. } => changed(c_str!("partner_state"), verdict.as_str()),
            _ => {}
        }
    }
}

static NOTIFICATIONS: ListenerBlock = ListenerBlock::new::<Notifications>();

/// `/sys/kernel/coretakeover/` and its listener. Dropping it unsubscribes,
/// then removes the directory (waiting for running callbacks).
pub(crate) struct Knobs {
    subscription: Option<Subscription>,
    directory: Option<Directory>,
}

impl Knobs {
    pub(crate) fn new(module: &'static ThisModule) -> Result<Self> {
        // SAFETY: The module's kobject exists from before `init` until after
        // `exit`, as long as any code of the module can run.
        let module_kobject = unsafe { &raw mut (*module.as_ptr()).mkobj.kobj };
        MODULE_KOBJECT.store(module_kobject, Ordering::Release);
        let directory = Directory::create(c_str!("coretakeover"), &GROUP)?;
        KOBJECT.store(directory.kobject(), Ordering::Release);
        let mut knobs = Self { subscription: None, directory: Some(directory) };
        knobs.subscription = Some(Subscription::new(&NOTIFICATIONS)?);
        Ok(knobs)
    }
}

impl Drop for Knobs {
    fn drop(&mut self) {
        self.subscription = None;
        KOBJECT.store(core::ptr::null_mut(), Ordering::Release);
        self.directory = None;
    }
}
