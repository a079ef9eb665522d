// SPDX-License-Identifier: GPL-2.0

//! The release of coretakeover.

/// The module reports it in sysfs and the CLI in `--version`;
/// `tests/version.rs` checks that it matches the crate version.
pub const VERSION: &str = "0.1.0";
