// SPDX-License-Identifier: GPL-2.0

//! The coretakeover command's modules, as a library: the `coretakeover`
//! binary (`main.rs`) is built on it, and so is the fuzz target that runs
//! savecore's whole read path over crafted images
//! (`rust/core/fuzz/fuzz_targets/savecore.rs`).

pub mod agent;
pub mod apply;
pub mod config;
pub mod coredump;
pub mod crc;
pub mod disk;
pub mod dmesg;
pub mod dumpkey;
pub mod error;
pub mod genl;
pub mod hooks;
pub mod key;
pub mod label;
pub mod output;
pub mod private_file;
pub mod savecore;
pub mod scsi_pr;
pub mod signatures;
pub mod status;
pub mod takeover;
pub mod watch;
