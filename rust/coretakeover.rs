// SPDX-License-Identifier: GPL-2.0

//! coretakeover: when a storage node panics, its partner takes over the
//! service disks at once while the dying node writes its memory dump.
//!
//! This is the module root: the list of the module's parts and the module
//! object, whose only job is to own the registrations so that unloading is
//! `Drop`. See `Documentation/coretakeover/design.rst`.
//!
//! The files form layers; each file uses only files of the layers below it
//! (`scripts/module-layers.sh` checks this in `make check`):
//!
//! | layer      | file             | what                                            |
//! |------------|------------------|-------------------------------------------------|
//! | root       | `coretakeover.rs`| owns the registrations below                    |
//! | interfaces | `knobs.rs`       | `/sys/kernel/coretakeover/`: parses text        |
//! |            | `netlink.rs`     | the generic netlink family: parses attributes   |
//! | owner      | `node.rs`        | the node's state and every operation on it      |
//! | engines    | `takeover.rs`    | the survivor: partner watch, takeover, giveback |
//! |            | `dump_disk.rs`   | arming the coredump disk, heartbeats            |
//! |            | `panic_dump.rs`  | the panic notifier and the polled dump          |
//! | events     | `events.rs`      | typed events, one notifier, listeners           |
//! | wrappers   | `bdev.rs`        | block devices by path, synchronous I/O          |
//! |            | `pr.rs`          | persistent reservations through `pr_ops`        |
//! |            | `polled_bio.rs`  | preallocated bios completed by polling          |
//! |            | `sysfs.rs`       | sysfs attributes as Rust statics                |
//! |            | `genl.rs`        | generic netlink messages and the family         |
//! |            | `kthread.rs`     | kernel threads: a loop, or one call in a worker |
//! |            | `crc.rs`         | the kernel's CRC-32C for the functional core    |
//! |            | `compress.rs`    | the kernel's lz4 and zstd, workspaces at arming |
//! |            | `secret.rs`      | keys in kernel memory, zeroed when they go      |
//! |            | `refusal.rs`     | an errno and why, for the log and netlink       |
//! |            | `shims.rs`/`.c`  | forwarders to kernel macros and static inlines  |
//! | core       | `core/src/`      | the functional core (on-disk format, plan, page filter, dump model, keys, the partner watch) |
//!
//! Interfaces call the owner with typed values and listen to events; the
//! owner calls the engines; the engines report through events and never
//! name an interface. Within the engines, `takeover.rs` uses `dump_disk.rs`
//! (is a disk a coredump disk?), and `dump_disk.rs` prepares what
//! `panic_dump.rs` runs with.

use kernel::prelude::*;

mod bdev;
mod compress;
mod crc;
mod dump_disk;
mod events;
mod genl;
mod knobs;
mod kthread;
mod netlink;
mod node;
mod panic_dump;
mod polled_bio;
mod pr;
mod refusal;
mod secret;
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
    pub(crate) mod checksum;
    pub(crate) mod codec;
    pub(crate) mod config;
    pub(crate) mod drivers;
    pub(crate) mod dumpkey;
    pub(crate) mod crc;
    pub(crate) mod header;
    pub(crate) mod heartbeat;
    pub(crate) mod identity;
    pub(crate) mod ids;
    pub(crate) mod keys;
    pub(crate) mod label;
    pub(crate) mod notes;
    pub(crate) mod pagefilter;
    pub(crate) mod partner;
    pub(crate) mod plan;
    pub(crate) mod retry;
    pub(crate) mod scheme;
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
    // MODULE_ALIAS_GENL_FAMILY("coretakeover"): the first request for the
    // family loads the module (net-pf-16 is PF_NETLINK, proto-16
    // NETLINK_GENERIC).
    alias: ["net-pf-16-proto-16-family-coretakeover"],
}

struct CoreTakeover {
    // Fields drop in order: the interfaces first (no handler or listener runs
    // after), then the node (its thread stops, an armed disk is disarmed),
    // then the panic notifier.
    _netlink: netlink::Netlink,
    _knobs: knobs::Knobs,
    _node: node::Registration,
    _panic: panic_dump::Registration,
}

impl kernel::Module for CoreTakeover {
    fn init(module: &'static ThisModule) -> Result<Self> {
        crc::self_test()?;
        let panic = panic_dump::Registration::new()?;
        let node = node::Registration::new()?;
        let knobs = knobs::Knobs::new(module)?;
        let netlink = netlink::Netlink::register()?;
        pr_info!("version {} loaded\n", ct_core::VERSION);
        Ok(Self { _netlink: netlink, _knobs: knobs, _node: node, _panic: panic })
    }
}

impl Drop for CoreTakeover {
    fn drop(&mut self) {
        pr_info!("unloaded\n");
    }
}
