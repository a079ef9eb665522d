// SPDX-License-Identifier: GPL-2.0

//! SCSI-3 persistent reservation keys, derived from cluster id and node id.
//!
//! A node registers on its service disks (and, ahead of any failure, on its
//! partner's) with a key that anyone can derive and decode: a survivor that
//! reads the registrations of a disk knows which node of which cluster holds
//! each key, and a node never needs to store its key.
//!
//! The key is a 64-bit value; the SCSI PERSISTENT RESERVE OUT parameter list
//! carries it big-endian, so the bytes on the wire read in the order below
//! (NVMe reservation keys are the same 64-bit value):
//!
//! | bytes | bits   | meaning                                  |
//! |-------|--------|------------------------------------------|
//! | 0..2  | 63..48 | tag `0x4354` ("CT"): made by coretakeover |
//! | 2..6  | 47..16 | cluster id                               |
//! | 6..8  | 15..0  | node id                                  |
//!
//! The tag keeps the key non-zero (zero means "no key" in SPC-3) and tells
//! coretakeover's keys from those of other software sharing the array.

use super::ids::{ClusterId, NodeId};
use core::fmt;

/// The tag in the top 16 bits of every key coretakeover derives.
pub const KEY_TAG: u16 = 0x4354;

/// A registration key as used with SCSI-3 persistent reservations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegistrationKey(u64);

impl RegistrationKey {
    /// The key of node `node` in cluster `cluster`.
    pub const fn derive(cluster: ClusterId, node: NodeId) -> Self {
        Self(((KEY_TAG as u64) << 48) | ((cluster.get() as u64) << 16) | node.get() as u64)
    }

    /// A key read from a disk (for example from READ KEYS), as it came.
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }

    /// The 64-bit value handed to the block layer's `pr_ops`.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The key as it appears in a PERSISTENT RESERVE parameter list.
    pub const fn to_wire(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// The cluster and node that this key belongs to, if coretakeover made it.
    pub fn decode(self) -> Option<(ClusterId, NodeId)> {
        if (self.0 >> 48) as u16 != KEY_TAG {
            return None;
        }
        let cluster = ClusterId::new((self.0 >> 16) as u32)?;
        let node = NodeId::new(self.0 as u16)?;
        Some((cluster, node))
    }
}

impl fmt::Display for RegistrationKey {
    /// Written as `sg_persist` and the sysfs attribute write it: `0x` and 16 hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#018x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(cluster: u32, node: u16) -> (ClusterId, NodeId) {
        (ClusterId::new(cluster).unwrap(), NodeId::new(node).unwrap())
    }

    #[test]
    fn pins_the_layout() {
        let (c, n) = ids(0x0102_0304, 0x0506);
        let key = RegistrationKey::derive(c, n);
        assert_eq!(key.get(), 0x4354_0102_0304_0506);
        assert_eq!(key.to_wire(), [0x43, 0x54, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06]);
        extern crate std;
        assert_eq!(std::format!("{key}"), "0x4354010203040506");
    }

    #[test]
    fn foreign_and_malformed_keys_do_not_decode() {
        assert_eq!(RegistrationKey::from_raw(0).decode(), None);
        assert_eq!(RegistrationKey::from_raw(0xaaaa).decode(), None);
        assert_eq!(RegistrationKey::from_raw(0x4354_0000_0000_0001).decode(), None);
        assert_eq!(RegistrationKey::from_raw(0x4354_0000_0001_0000).decode(), None);
        assert_eq!(
            RegistrationKey::from_raw(0x4354_0000_0001_0002).decode(),
            Some(ids(1, 2))
        );
    }
}
