// SPDX-License-Identifier: GPL-2.0

//! The functional core of coretakeover.
//!
//! Everything here is pure `no_std` Rust without kernel types, so the very same
//! source files are compiled into the kernel module (`rust/coretakeover.rs`
//! includes them with `#[path]`) and tested on the host with `cargo test`.
//! Keep it that way: no allocation, no `unsafe`, no panicking arithmetic.
//!
//! The module root, `rust/coretakeover.rs`, repeats the list of modules below;
//! that is why the files refer to each other as `super::`, never `crate::`.

#![no_std]
#![forbid(unsafe_code)]

pub mod checksum;
pub mod codec;
pub mod config;
pub mod drivers;
pub mod dumpkey;
pub mod crc;
pub mod header;
pub mod heartbeat;
pub mod identity;
pub mod ids;
pub mod keys;
pub mod label;
pub mod notes;
pub mod pagefilter;
pub mod partner;
pub mod plan;
pub mod retry;
pub mod scheme;
pub mod version;
mod wire;

pub use version::VERSION;
