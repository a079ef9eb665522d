// SPDX-License-Identifier: GPL-2.0

//! CRC-32C test vectors. The kernel's `crc32c(seed, buf, len)` computes the
//! same raw CRCs: `update(!0, "123456789")` is 0x1cf96d7c there too (the
//! module's self-test at load checks `CHECK_VALUE`, and every header the
//! module writes is verified by userspace).

mod common;
use common::HostCrc;
use coretakeover_core::crc::{Crc32c, CHECK_VALUE};

#[test]
fn standard_check_value() {
    assert_eq!(HostCrc.checksum(b"123456789"), CHECK_VALUE);
    assert_eq!(HostCrc.update(!0, b"123456789"), !CHECK_VALUE);
}

#[test]
fn rfc3720_vectors() {
    // iSCSI (RFC 3720, B.4) test vectors.
    assert_eq!(HostCrc.checksum(&[0u8; 32]), 0x8a91_36aa);
    assert_eq!(HostCrc.checksum(&[0xffu8; 32]), 0x62a8_ab43);
    let ascending: Vec<u8> = (0..32).collect();
    assert_eq!(HostCrc.checksum(&ascending), 0x46dd_794e);
    let descending: Vec<u8> = (0..32).rev().collect();
    assert_eq!(HostCrc.checksum(&descending), 0x113f_db5c);
}

#[test]
fn split_updates_equal_one_pass() {
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (a, b) = data.split_at(4321);
    assert_eq!(HostCrc.checksum2(a, b), HostCrc.checksum(&data));
}
