// SPDX-License-Identifier: GPL-2.0

//! The node's control directory, `/sys/kernel/coretakeover/`.
//!
//! Every attribute is documented in
//! `Documentation/ABI/testing/sysfs-kernel-coretakeover`. Writable ones are
//! root-only (mode 0644); a bad write returns an errno, logs why, and changes
//! nothing.

use crate::ct_core::config::NodeConfig;
use crate::ct_core::ids::{ClusterId, NodeId, ParseIdError};
use crate::ct_core::VERSION;
use crate::dump_disk::{self, DumpContext};
use crate::panic_dump::ARMED;
use crate::sysfs::{Attribute, AttributeList, Directory, Group, Page, Show, Store};
use core::pin::Pin;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use kernel::c_str;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;

/// The node's identity, packed as `NodeConfig::pack` describes, so readers
/// never see half of an update and no lock is needed.
static CONFIG: AtomicU64 = AtomicU64::new(0);

/// The armed coredump disk, if any. Arming and disarming sleep (disk I/O), so
/// they are serialised by a mutex; the panic path reads `ARMED` instead.
pub(crate) struct Arming {
    armed: Option<KBox<DumpContext>>,
}

/// The module's `Arming`, for the sysfs callbacks. Set before the control
/// directory exists and cleared after it is gone (see `Control`).
static ARMING: AtomicPtr<Mutex<Arming>> = AtomicPtr::new(core::ptr::null_mut());

fn with_arming<T>(f: impl FnOnce(&mut Arming) -> Result<T>) -> Result<T> {
    let arming = ARMING.load(Ordering::Acquire);
    if arming.is_null() {
        return Err(ENODEV);
    }
    // SAFETY: `ARMING` is non-null only while `Control` owns the mutex, and
    // callers are sysfs callbacks of the directory `Control` removes first.
    let arming = unsafe { &*arming };
    let mut guard = arming.lock();
    f(&mut guard)
}

fn config() -> NodeConfig {
    NodeConfig::unpack(CONFIG.load(Ordering::Acquire))
}

/// Applies `change` unless a disk is armed for the current identity.
fn update(name: &str, change: impl Fn(NodeConfig) -> NodeConfig) -> Result {
    with_arming(|arming| {
        if arming.armed.is_some() {
            pr_warn!("{}: refused: disarm the dump disk first (it was checked against the current ids)\n", name);
            return Err(EBUSY);
        }
        let next = change(config()).pack();
        CONFIG.store(next, Ordering::Release);
        Ok(())
    })
}

/// Logs a refused write and returns the errno for it.
fn refuse(attribute: &str, input: &str, why: ParseIdError) -> Error {
    pr_warn!("{}: refused {:?}: {}\n", attribute, input.trim_end(), why);
    EINVAL
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
        out.line(format_args!("{}", config().state().as_str()))
    }
}

struct Cluster;

impl Show for Cluster {
    fn show(out: &mut Page<'_>) -> Result {
        match config().cluster {
            Some(id) => out.line(format_args!("{}", id)),
            None => out.line(format_args!("")),
        }
    }
}

impl Store for Cluster {
    fn store(input: &str) -> Result {
        let id = ClusterId::parse(input).map_err(|e| refuse("cluster_id", input, e))?;
        update("cluster_id", |c| NodeConfig { cluster: Some(id), ..c })?;
        pr_info!("cluster id set to {}\n", id);
        Ok(())
    }
}

struct Node;

impl Show for Node {
    fn show(out: &mut Page<'_>) -> Result {
        match config().node {
            Some(id) => out.line(format_args!("{}", id)),
            None => out.line(format_args!("")),
        }
    }
}

impl Store for Node {
    fn store(input: &str) -> Result {
        let id = NodeId::parse(input).map_err(|e| refuse("node_id", input, e))?;
        update("node_id", |c| NodeConfig { node: Some(id), ..c })?;
        pr_info!("node id set to {}\n", id);
        Ok(())
    }
}

struct Key;

impl Show for Key {
    fn show(out: &mut Page<'_>) -> Result {
        match config().registration_key() {
            Some(key) => out.line(format_args!("{}", key)),
            None => out.line(format_args!("")),
        }
    }
}

/// The longest path accepted for `dump_disk`.
const MAX_PATH: usize = 256;

struct DumpDisk;

impl Show for DumpDisk {
    fn show(out: &mut Page<'_>) -> Result {
        with_arming(|arming| match &arming.armed {
            Some(ctx) => out.line(format_args!("{}", core::str::from_utf8(ctx.path()).unwrap_or("?"))),
            None => out.line(format_args!("")),
        })
    }
}

impl Store for DumpDisk {
    fn store(input: &str) -> Result {
        let path = input.trim_end_matches('\n');
        if path.len() > MAX_PATH || path.contains(|c: char| c.is_whitespace() || c == '\0') {
            pr_warn!("dump_disk: refused: not a device path\n");
            return Err(EINVAL);
        }
        with_arming(|arming| {
            if path.is_empty() || path == "none" {
                if let Some(ctx) = arming.armed.take() {
                    ARMED.store(core::ptr::null_mut(), Ordering::Release);
                    dump_disk::disarm(ctx);
                }
                return Ok(());
            }
            if !path.starts_with('/') {
                pr_warn!("dump_disk: refused {:?}: give an absolute device path, or none\n", path);
                return Err(EINVAL);
            }
            if arming.armed.is_some() {
                pr_warn!("dump_disk: refused {}: a disk is armed; write none first\n", path);
                return Err(EBUSY);
            }
            let ctx = dump_disk::arm(path, config())?;
            let ctx = arming.armed.insert(ctx);
            ARMED.store(&**ctx as *const DumpContext as *mut DumpContext, Ordering::Release);
            Ok(())
        })
    }
}

struct DumpState;

impl Show for DumpState {
    fn show(out: &mut Page<'_>) -> Result {
        let armed = with_arming(|arming| Ok(arming.armed.is_some()))?;
        out.line(format_args!("{}", if armed { "armed" } else { "disarmed" }))
    }
}

struct DumpReserved;

impl Show for DumpReserved {
    fn show(out: &mut Page<'_>) -> Result {
        let bytes = with_arming(|arming| Ok(arming.armed.as_ref().map_or(0, |ctx| ctx.reserved_bytes())))?;
        out.line(format_args!("{}", bytes))
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

static ATTRS: AttributeList<8> = AttributeList::new([
    &VERSION_ATTR,
    &STATE_ATTR,
    &CLUSTER_ATTR,
    &NODE_ATTR,
    &KEY_ATTR,
    &DUMP_DISK_ATTR,
    &DUMP_STATE_ATTR,
    &DUMP_RESERVED_ATTR,
]);
static GROUP: Group = Group::new(&ATTRS);

/// The control directory and the state behind it. Dropping it removes the
/// directory first (waiting for running callbacks), then disarms.
pub(crate) struct Control {
    directory: Option<Directory>,
    arming: Pin<KBox<Mutex<Arming>>>,
}

impl Control {
    pub(crate) fn new() -> Result<Self> {
        let arming = KBox::pin_init(new_mutex!(Arming { armed: None }, "coretakeover::arming"), GFP_KERNEL)?;
        ARMING.store(&*arming as *const Mutex<Arming> as *mut Mutex<Arming>, Ordering::Release);
        let mut control = Self { directory: None, arming };
        control.directory = Some(Directory::create(c_str!("coretakeover"), &GROUP)?);
        Ok(control)
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        // No callback runs once the directory is gone.
        self.directory = None;
        ARMING.store(core::ptr::null_mut(), Ordering::Release);
        let mut arming = self.arming.lock();
        if let Some(ctx) = arming.armed.take() {
            ARMED.store(core::ptr::null_mut(), Ordering::Release);
            dump_disk::disarm(ctx);
        }
    }
}
