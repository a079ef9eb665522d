// SPDX-License-Identifier: GPL-2.0

//! coretakeover: when a storage node panics, its partner takes over the
//! service disks at once while the dying node writes its memory dump.
//!
//! This is the module root: the list of the module's parts and the module
//! object, whose only job is to own the registrations so that unloading is
//! `Drop`. See `Documentation/coretakeover/design.rst`.

use kernel::prelude::*;

mod control;
mod sysfs;

/// The functional core, compiled from the same files as the host crate
/// `coretakeover-core` (`rust/core/`), where they are unit- and property-tested.
// The core is a library shared with userspace: the module uses part of it, and
// its `pub` items are public to its users, not to other kernel crates.
#[allow(dead_code, unreachable_pub)]
#[path = "core/src"]
mod ct_core {
    pub(crate) mod config;
    pub(crate) mod ids;
    pub(crate) mod keys;
    pub(crate) mod version;
    pub(crate) use version::VERSION;
}

module! {
    type: CoreTakeover,
    name: "coretakeover",
    author: "The coretakeover authors",
    description: "Storage pair takeover while the panicking node dumps its memory",
    license: "GPL",
}

struct CoreTakeover {
    _control: sysfs::Directory,
}

impl kernel::Module for CoreTakeover {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let control = control::create()?;
        pr_info!("version {} loaded\n", ct_core::VERSION);
        Ok(Self { _control: control })
    }
}

impl Drop for CoreTakeover {
    fn drop(&mut self) {
        pr_info!("unloaded\n");
    }
}
