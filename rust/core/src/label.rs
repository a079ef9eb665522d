// SPDX-License-Identifier: GPL-2.0

//! The label that makes a disk a coretakeover coredump disk.
//!
//! Written once, by `coretakeover label`, in the first 128 bytes of the disk
//! (the rest of the first 4 KiB block is zero) and never rewritten by the
//! module. All integers are little-endian.
//!
//! | offset | size | field                                             |
//! |--------|------|---------------------------------------------------|
//! | 0      | 8    | magic `"CTLABEL\0"`                               |
//! | 8      | 4    | format version (1)                                |
//! | 12     | 4    | label size in bytes (128)                         |
//! | 16     | 4    | cluster id                                        |
//! | 20     | 2    | owner node id                                     |
//! | 22     | 2    | reserved, zero                                    |
//! | 24     | 16   | disk UUID (random, set at labeling)               |
//! | 40     | 8    | usable size of the disk in bytes at labeling      |
//! | 48     | 8    | creation time, seconds since the Unix epoch       |
//! | 56     | 68   | reserved, zero                                    |
//! | 124    | 4    | CRC-32C of bytes 0..124                           |

use super::crc::Crc32c;
use super::ids::{ClusterId, NodeId};
use super::wire::{get_bytes, get_u16, get_u32, get_u64, put_bytes, put_u16, put_u32, put_u64};
use core::fmt;

pub const LABEL_MAGIC: [u8; 8] = *b"CTLABEL\0";
pub const LABEL_VERSION: u32 = 1;
pub const LABEL_SIZE: usize = 128;
/// The label lives in the disk's first block.
pub const LABEL_OFFSET: u64 = 0;

const CRC_OFFSET: usize = LABEL_SIZE - 4;

/// What a label says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label {
    pub cluster: ClusterId,
    pub node: NodeId,
    pub disk_uuid: [u8; 16],
    pub usable_bytes: u64,
    pub created_unix: u64,
}

/// Why bytes are not a valid label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelError {
    /// Fewer than `LABEL_SIZE` bytes.
    Short,
    /// No coretakeover label magic: the disk was never labeled.
    NotLabeled,
    /// A label of a format this code does not know.
    Version(u32),
    /// The label is damaged.
    Checksum { stored: u32, computed: u32 },
    /// Size field, ids or reserved bytes are invalid.
    Malformed(&'static str),
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Short => f.write_str("too short for a label"),
            Self::NotLabeled => f.write_str("no coretakeover label"),
            Self::Version(v) => write!(f, "label format version {v} is not supported"),
            Self::Checksum { stored, computed } => {
                write!(f, "label checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")
            }
            Self::Malformed(what) => write!(f, "malformed label: {what}"),
        }
    }
}

impl Label {
    /// The label's bytes.
    pub fn encode(&self, crc: &impl Crc32c) -> [u8; LABEL_SIZE] {
        let mut buf = [0u8; LABEL_SIZE];
        put_bytes(&mut buf, 0, &LABEL_MAGIC);
        put_u32(&mut buf, 8, LABEL_VERSION);
        put_u32(&mut buf, 12, LABEL_SIZE as u32);
        put_u32(&mut buf, 16, self.cluster.get());
        put_u16(&mut buf, 20, self.node.get());
        put_bytes(&mut buf, 24, &self.disk_uuid);
        put_u64(&mut buf, 40, self.usable_bytes);
        put_u64(&mut buf, 48, self.created_unix);
        let sum = crc.checksum(&buf[..CRC_OFFSET]);
        put_u32(&mut buf, CRC_OFFSET, sum);
        buf
    }

    /// Parses and verifies a label from the start of `buf`.
    pub fn decode(buf: &[u8], crc: &impl Crc32c) -> Result<Self, LabelError> {
        let buf = buf.get(..LABEL_SIZE).ok_or(LabelError::Short)?;
        let short = LabelError::Short;
        if get_bytes::<8>(buf, 0).ok_or(short)? != LABEL_MAGIC {
            return Err(LabelError::NotLabeled);
        }
        let version = get_u32(buf, 8).ok_or(short)?;
        if version != LABEL_VERSION {
            return Err(LabelError::Version(version));
        }
        let stored = get_u32(buf, CRC_OFFSET).ok_or(short)?;
        let computed = crc.checksum(buf.get(..CRC_OFFSET).ok_or(short)?);
        if stored != computed {
            return Err(LabelError::Checksum { stored, computed });
        }
        if get_u32(buf, 12).ok_or(short)? != LABEL_SIZE as u32 {
            return Err(LabelError::Malformed("size field"));
        }
        let reserved_zero = get_u16(buf, 22) == Some(0)
            && buf.get(56..CRC_OFFSET).is_some_and(|r| r.iter().all(|&b| b == 0));
        if !reserved_zero {
            return Err(LabelError::Malformed("reserved bytes not zero"));
        }
        let cluster = ClusterId::new(get_u32(buf, 16).ok_or(short)?).ok_or(LabelError::Malformed("cluster id 0"))?;
        let node = NodeId::new(get_u16(buf, 20).ok_or(short)?).ok_or(LabelError::Malformed("node id 0"))?;
        Ok(Self {
            cluster,
            node,
            disk_uuid: get_bytes(buf, 24).ok_or(short)?,
            usable_bytes: get_u64(buf, 40).ok_or(short)?,
            created_unix: get_u64(buf, 48).ok_or(short)?,
        })
    }

    /// Whether this disk belongs to `node` of `cluster`.
    pub fn belongs_to(&self, cluster: ClusterId, node: NodeId) -> bool {
        self.cluster == cluster && self.node == node
    }
}

/// The UUID as text, 8-4-4-4-12 hex digits.
pub struct UuidText<'a>(pub &'a [u8; 16]);

impl fmt::Display for UuidText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}
