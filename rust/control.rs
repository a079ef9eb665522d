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
use crate::sysfs::{Attribute, AttributeList, Directory, Group, Page, Show, Store};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::c_str;
use kernel::prelude::*;

/// The node's identity, packed as `NodeConfig::pack` describes, so readers
/// never see half of an update and no lock is needed.
static CONFIG: AtomicU64 = AtomicU64::new(0);

fn config() -> NodeConfig {
    NodeConfig::unpack(CONFIG.load(Ordering::Acquire))
}

/// Applies `change` atomically with respect to other writers.
fn update(change: impl Fn(NodeConfig) -> NodeConfig) {
    let mut current = CONFIG.load(Ordering::Acquire);
    loop {
        let next = change(NodeConfig::unpack(current)).pack();
        match CONFIG.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(actual) => current = actual,
        }
    }
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
        update(|c| NodeConfig { cluster: Some(id), ..c });
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
        update(|c| NodeConfig { node: Some(id), ..c });
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

static VERSION_ATTR: Attribute = Attribute::read_only::<Version>(c_str!("version"));
static STATE_ATTR: Attribute = Attribute::read_only::<State>(c_str!("state"));
static CLUSTER_ATTR: Attribute = Attribute::read_write::<Cluster>(c_str!("cluster_id"));
static NODE_ATTR: Attribute = Attribute::read_write::<Node>(c_str!("node_id"));
static KEY_ATTR: Attribute = Attribute::read_only::<Key>(c_str!("registration_key"));

static ATTRS: AttributeList<5> =
    AttributeList::new([&VERSION_ATTR, &STATE_ATTR, &CLUSTER_ATTR, &NODE_ATTR, &KEY_ATTR]);
static GROUP: Group = Group::new(&ATTRS);

/// Creates `/sys/kernel/coretakeover/`; it goes away when the result is dropped.
pub(crate) fn create() -> Result<Directory> {
    Directory::create(c_str!("coretakeover"), &GROUP)
}
