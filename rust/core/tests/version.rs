// SPDX-License-Identifier: GPL-2.0

//! The version the module reports is the version the crates are released as.

#[test]
fn version_matches_the_crate() {
    assert_eq!(coretakeover_core::VERSION, env!("CARGO_PKG_VERSION"));
}
