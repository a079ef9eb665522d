// SPDX-License-Identifier: GPL-2.0

//! coretakeover: when a storage node panics, its partner takes over the
//! service disks at once while the dying node writes its memory dump.
//!
//! This is the module root: the list of the module's parts and the module
//! object, whose only job is to own the registrations so that unloading is
//! `Drop`. See `Documentation/coretakeover/design.rst`.
//!
//! | file             | what                                                  |
//! |------------------|-------------------------------------------------------|
//! | `control.rs`     | `/sys/kernel/coretakeover/`: identity, dump disk      |
//! | `dump_disk.rs`   | arming the coredump disk (process context)            |
//! | `panic_dump.rs`  | the panic notifier and the polled dump                |
//! | `polled_bio.rs`  | preallocated bios completed by polling                |
//! | `takeover.rs`    | the survivor: heartbeat, partner watch, takeover      |
//! | `pr.rs`          | persistent reservations through `pr_ops`              |
//! | `netlink.rs`     | the generic netlink family's handlers and events      |
//! | `bdev.rs`        | block devices by path, synchronous I/O                |
//! | `sysfs.rs`       | sysfs attributes as Rust statics                      |
//! | `crc.rs`         | the kernel's CRC-32C for the functional core          |
//! | `shims.rs`/`.c`  | forwarders to kernel macros and static inlines        |
//! | `core/src/`      | the functional core (on-disk format, plan, keys)      |

use kernel::prelude::*;

mod bdev;
mod control;
mod crc;
mod dump_disk;
mod netlink;
mod panic_dump;
mod polled_bio;
mod pr;
mod shims;
mod sysfs;
mod takeover;

/// The functional core, compiled from the same files as the host crate
/// `coretakeover-core` (`rust/core/`), where they are unit- and property-tested.
// The core is a library shared with userspace: the module uses part of it, and
// its `pub` items are public to its users, not to other kernel crates.
#[allow(dead_code, unreachable_pub)]
#[path = "core/src"]
mod ct_core {
    pub(crate) mod config;
    pub(crate) mod crc;
    pub(crate) mod header;
    pub(crate) mod heartbeat;
    pub(crate) mod ids;
    pub(crate) mod keys;
    pub(crate) mod label;
    pub(crate) mod partner;
    pub(crate) mod plan;
    pub(crate) mod version;
    mod wire;
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
    // Fields drop in order: the netlink family first (no handler runs after),
    // then the control directory (and with it an armed disk), then the panic
    // notifier.
    _netlink: netlink::Family,
    _control: control::Control,
    _panic: panic_dump::Registration,
}

impl kernel::Module for CoreTakeover {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        crc::self_test()?;
        let panic = panic_dump::Registration::new()?;
        let control = control::Control::new()?;
        let netlink = netlink::Family::register()?;
        pr_info!("version {} loaded\n", ct_core::VERSION);
        Ok(Self { _netlink: netlink, _control: control, _panic: panic })
    }
}

impl Drop for CoreTakeover {
    fn drop(&mut self) {
        pr_info!("unloaded\n");
    }
}
