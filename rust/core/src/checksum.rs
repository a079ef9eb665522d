// SPDX-License-Identifier: GPL-2.0

//! The chunk checksum: how every chunk of the dump is checked.
//!
//! The dump's checksum table holds one 32-bit value per chunk. Two functions
//! fill it, both in the kernel's library:
//!
//! - **CRC-32C** (`crc32c()`): the checksum of every other on-disk
//!   structure. It detects every burst error of up to 32 bits. On x86 it runs
//!   on the SSE4.2 `crc32` instruction: several GB/s on hardware, but an
//!   emulator (QEMU's TCG) runs each instruction through a helper and it
//!   becomes the bound of the whole dump (about 90 MiB/s).
//! - **xxh64** (`xxh64()`, seed 0), of which the table keeps the low 32 bits.
//!   Plain 64-bit multiplies and rotations: fast everywhere. Its low 32 bits
//!   miss a random corruption with the same odds as a CRC-32C (2^-32), but it
//!   guarantees nothing for short bursts.
//!
//! Which one a dump uses is chosen when the disk is armed (`dump_checksum`:
//! `auto` takes the faster on this node, measured at arming) and recorded in
//! the dump header, so savecore verifies each dump with its own function.
//! The header, label and heartbeat always use CRC-32C.
//!
//! The core does not compute xxh64 either: the module supplies the kernel's
//! and userspace a maintained crate, through [`Xxh64`]; [`XXH64_CHECK_VALUE`]
//! proves they agree.

use super::crc::Crc32c;

/// A chunk checksum function. The numbers are the on-disk encoding (dump
/// header, offset 480).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkChecksum {
    Crc32c = 0,
    Xxh64 = 1,
}

impl ChunkChecksum {
    /// Every function, in encoding order.
    pub const ALL: [Self; 2] = [Self::Crc32c, Self::Xxh64];

    pub const fn from_u32(v: u32) -> Option<Self> {
        match v {
            0 => Some(Self::Crc32c),
            1 => Some(Self::Xxh64),
            _ => None,
        }
    }

    /// The name used in sysfs, netlink, the CLI and the documentation.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Crc32c => "crc32c",
            Self::Xxh64 => "xxh64",
        }
    }

    /// The function named `name` (as [`as_str`](Self::as_str) spells it).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The table entry for `data`.
    pub fn compute(self, f: &(impl Crc32c + Xxh64), data: &[u8]) -> u32 {
        match self {
            Self::Crc32c => f.checksum(data),
            // The low half: the table keeps 32 bits a chunk.
            Self::Xxh64 => f.xxh64(data, 0) as u32,
        }
    }
}

/// An xxh64 implementation.
pub trait Xxh64 {
    /// XXH64 of `data` with `seed`, as the kernel's `xxh64()` computes it.
    fn xxh64(&self, data: &[u8], seed: u64) -> u64;
}

/// XXH64 of the ASCII string "123456789", seed 0.
pub const XXH64_CHECK_VALUE: u64 = 0x8cb8_41db_40e6_ae83;

/// How the dump's checksum is chosen when the disk is armed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumChoice {
    /// The faster of the two on this node, measured at arming.
    Auto,
    /// Always this one.
    Fixed(ChunkChecksum),
}

impl ChecksumChoice {
    /// Parses a sysfs or configuration value: `auto`, `crc32c` or `xxh64`,
    /// with surrounding white space (a trailing newline) ignored.
    pub fn parse(input: &str) -> Option<Self> {
        match input.trim() {
            "auto" => Some(Self::Auto),
            name => ChunkChecksum::from_name(name).map(Self::Fixed),
        }
    }

    /// A number for an atomic cell: 0 for `Auto`, 1 + the function's.
    pub const fn encode(self) -> u32 {
        match self {
            Self::Auto => 0,
            Self::Fixed(c) => 1 + c as u32,
        }
    }

    pub const fn decode(v: u32) -> Option<Self> {
        match v {
            0 => Some(Self::Auto),
            _ => match ChunkChecksum::from_u32(v - 1) {
                Some(c) => Some(Self::Fixed(c)),
                None => None,
            },
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Fixed(c) => c.as_str(),
        }
    }

    /// The function to use given the rates measured at arming (bytes per
    /// second of CRC-32C and xxh64; 0 where not measured). `Auto` takes the
    /// faster, and CRC-32C on a tie or without both figures: it is the
    /// stronger for short bursts.
    pub fn resolve(self, crc32c_rate: u64, xxh64_rate: u64) -> ChunkChecksum {
        match self {
            Self::Fixed(c) => c,
            Self::Auto if crc32c_rate > 0 && xxh64_rate > crc32c_rate => ChunkChecksum::Xxh64,
            Self::Auto => ChunkChecksum::Crc32c,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in ChunkChecksum::ALL {
            assert_eq!(ChunkChecksum::from_u32(c as u32), Some(c));
            assert_eq!(ChunkChecksum::from_name(c.as_str()), Some(c));
            assert_eq!(ChecksumChoice::parse(c.as_str()), Some(ChecksumChoice::Fixed(c)));
        }
        assert_eq!(ChunkChecksum::from_u32(2), None);
        for choice in [ChecksumChoice::Auto, ChecksumChoice::Fixed(ChunkChecksum::Crc32c), ChecksumChoice::Fixed(ChunkChecksum::Xxh64)] {
            assert_eq!(ChecksumChoice::decode(choice.encode()), Some(choice));
        }
        assert_eq!(ChecksumChoice::decode(3), None);
        assert_eq!(ChecksumChoice::parse("auto\n"), Some(ChecksumChoice::Auto));
        assert_eq!(ChecksumChoice::parse("crc32"), None);
        assert_eq!(ChecksumChoice::parse(""), None);
    }

    #[test]
    fn auto_takes_the_faster_and_crc_on_doubt() {
        let auto = ChecksumChoice::Auto;
        assert_eq!(auto.resolve(90 << 20, 400 << 20), ChunkChecksum::Xxh64);
        assert_eq!(auto.resolve(4 << 30, 2 << 30), ChunkChecksum::Crc32c);
        assert_eq!(auto.resolve(100, 100), ChunkChecksum::Crc32c);
        assert_eq!(auto.resolve(0, 100), ChunkChecksum::Crc32c);
        assert_eq!(auto.resolve(100, 0), ChunkChecksum::Crc32c);
        let fixed = ChecksumChoice::Fixed(ChunkChecksum::Xxh64);
        assert_eq!(fixed.resolve(4 << 30, 0), ChunkChecksum::Xxh64);
    }
}
