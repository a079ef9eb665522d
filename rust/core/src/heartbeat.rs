// SPDX-License-Identifier: GPL-2.0

//! The heartbeat block: the live owner's periodic sign of life on its
//! coredump disk, which the partner reads.
//!
//! It lives in its own 4 KiB block (`plan::HEARTBEAT_OFFSET`), so the owner's
//! periodic writes never touch the dump header, and the header's first write
//! after a panic (state `dumping`, the beacon) never races a heartbeat.
//! 64 bytes are used; the rest of the block is zero. Little-endian.
//!
//! | offset | size | field                                                |
//! |--------|------|------------------------------------------------------|
//! | 0      | 8    | magic `"CTHEARTB"`                                   |
//! | 8      | 4    | format version (1)                                   |
//! | 12     | 4    | cluster id                                           |
//! | 16     | 2    | node id                                              |
//! | 18     | 2    | state ([`Liveness`])                                 |
//! | 20     | 4    | the writer's interval in milliseconds                |
//! | 24     | 8    | sequence number, +1 on every write                   |
//! | 32     | 8    | written at, ns since the Unix epoch (information)    |
//! | 40     | 2    | holds the disks of: the node id whose service disks  |
//! |        |      | the writer took over and holds, 0 for none           |
//! | 42     | 18   | reserved, zero                                       |
//! | 60     | 4    | CRC-32C of bytes 0..60                               |
//!
//! The partner never compares clocks across nodes: it only watches whether
//! the sequence number moves, on its own monotonic clock.
//!
//! Bytes 40..42 were reserved (zero) before: a writer that holds nobody's
//! disks writes what older readers expect, and a node fenced by its
//! partner learns it from the partner's next heartbeat (`self-fence`).

use super::crc::Crc32c;
use super::wire::{get_bytes, get_u16, get_u32, get_u64, put_bytes, put_u16, put_u32, put_u64};
use core::fmt;

pub const HEARTBEAT_MAGIC: [u8; 8] = *b"CTHEARTB";
pub const HEARTBEAT_VERSION: u32 = 1;
pub const HEARTBEAT_SIZE: usize = 64;
const CRC_OFFSET: usize = HEARTBEAT_SIZE - 4;

/// What the owner says about itself. The numbers are the on-disk encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// Running and serving its disks.
    Alive = 1,
    /// Stopped on purpose (disarmed, module unloaded, handing its disks
    /// back): silence that follows is not a failure.
    Stopped = 2,
}

impl Liveness {
    pub const fn from_u16(v: u16) -> Option<Self> {
        match v {
            1 => Some(Self::Alive),
            2 => Some(Self::Stopped),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Alive => "alive",
            Self::Stopped => "stopped",
        }
    }
}

/// One heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    pub cluster: u32,
    pub node: u16,
    pub liveness: Liveness,
    pub interval_ms: u32,
    pub sequence: u64,
    pub written_ns: u64,
    /// The node whose service disks the writer holds after a takeover (0:
    /// none).
    pub holds_disks_of: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeartbeatError {
    Short,
    /// Never written (or not a heartbeat block).
    None,
    Version(u32),
    Checksum { stored: u32, computed: u32 },
    Malformed(&'static str),
}

impl fmt::Display for HeartbeatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Short => f.write_str("too short for a heartbeat"),
            Self::None => f.write_str("no heartbeat"),
            Self::Version(v) => write!(f, "heartbeat format version {v} is not supported"),
            Self::Checksum { stored, computed } => {
                write!(f, "heartbeat checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")
            }
            Self::Malformed(what) => write!(f, "malformed heartbeat: {what}"),
        }
    }
}

impl Heartbeat {
    /// The heartbeat's 64 bytes (the first of its 4 KiB block).
    pub fn encode(&self, crc: &impl Crc32c) -> [u8; HEARTBEAT_SIZE] {
        let mut buf = [0u8; HEARTBEAT_SIZE];
        put_bytes(&mut buf, 0, &HEARTBEAT_MAGIC);
        put_u32(&mut buf, 8, HEARTBEAT_VERSION);
        put_u32(&mut buf, 12, self.cluster);
        put_u16(&mut buf, 16, self.node);
        put_u16(&mut buf, 18, self.liveness as u16);
        put_u32(&mut buf, 20, self.interval_ms);
        put_u64(&mut buf, 24, self.sequence);
        put_u64(&mut buf, 32, self.written_ns);
        put_u16(&mut buf, 40, self.holds_disks_of);
        let sum = crc.checksum(&buf[..CRC_OFFSET]);
        put_u32(&mut buf, CRC_OFFSET, sum);
        buf
    }

    /// Parses and verifies a heartbeat from the start of `buf`.
    pub fn decode(buf: &[u8], crc: &impl Crc32c) -> Result<Self, HeartbeatError> {
        let buf = buf.get(..HEARTBEAT_SIZE).ok_or(HeartbeatError::Short)?;
        let short = HeartbeatError::Short;
        if get_bytes::<8>(buf, 0).ok_or(short)? != HEARTBEAT_MAGIC {
            return Err(HeartbeatError::None);
        }
        let version = get_u32(buf, 8).ok_or(short)?;
        if version != HEARTBEAT_VERSION {
            return Err(HeartbeatError::Version(version));
        }
        let stored = get_u32(buf, CRC_OFFSET).ok_or(short)?;
        let computed = crc.checksum(buf.get(..CRC_OFFSET).ok_or(short)?);
        if stored != computed {
            return Err(HeartbeatError::Checksum { stored, computed });
        }
        if !buf.get(42..CRC_OFFSET).is_some_and(|r| r.iter().all(|&b| b == 0)) {
            return Err(HeartbeatError::Malformed("reserved bytes not zero"));
        }
        let liveness = Liveness::from_u16(get_u16(buf, 18).ok_or(short)?).ok_or(HeartbeatError::Malformed("state"))?;
        Ok(Self {
            cluster: get_u32(buf, 12).ok_or(short)?,
            node: get_u16(buf, 16).ok_or(short)?,
            liveness,
            interval_ms: get_u32(buf, 20).ok_or(short)?,
            sequence: get_u64(buf, 24).ok_or(short)?,
            written_ns: get_u64(buf, 32).ok_or(short)?,
            holds_disks_of: get_u16(buf, 40).ok_or(short)?,
        })
    }
}
