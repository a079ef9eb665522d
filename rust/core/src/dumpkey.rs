// SPDX-License-Identifier: GPL-2.0

//! Encrypted dumps: the data key handed to the module, and the key block
//! on the coredump disk.
//!
//! At every arming, userspace makes a fresh 32-byte data key, seals it for
//! the administrator's X25519 public key (a libsodium-style sealed box:
//! ephemeral public key, then the key encrypted with XSalsa20-Poly1305, 80
//! bytes) and writes the three to the module (`dump_key`, parsed by
//! [`DumpKey::parse`]). The module keeps the plain key in kernel memory for
//! this arming only, and writes the public key and the sealed key to the key
//! block, 4 KiB at [`KEY_BLOCK_OFFSET`], before the header says "armed".
//!
//! The panic path encrypts and authenticates each chunk's stored bytes (after
//! compression) with the kernel's ChaCha20-Poly1305 library function
//! (`chacha20poly1305_encrypt`: RFC 8439, the 96-bit nonce `0u32 ‖
//! le64(n)`), nonce `n` = the chunk's index, the associated data the
//! chunk table entry's bytes 4..13 (stored length, place, codec); the 16-byte
//! tag goes into the entry. The chunks are not encrypted with the key
//! handed over but with one derived from it for this arming (key block
//! version 2): HChaCha20 under the data key of the disk's UUID, then
//! HChaCha20 under that of `le64(armed at) ‖ "CTARMING"` ([`arming_inputs`]).
//! The key is meant to be fresh at every arming; if the same `dump_key` is
//! written again (replayed), the arming time still differs, so the chunk
//! key does, and no keystream is used twice. The index is unique within a
//! dump, so no nonce repeats under a key. Version 1 blocks (older modules)
//! used the data key itself. The header, the
//! heartbeat, the page map and the chunk table stay in clear: the partner
//! reads the state and the watermark without the key.
//!
//! The key block (little-endian):
//!
//! | offset | size | field                                                  |
//! |--------|------|--------------------------------------------------------|
//! | 0      | 8    | magic `"CTDUMPKY"`                                     |
//! | 8      | 4    | version (2: chunk key derived per arming; 1: the data key) |
//! | 12     | 4    | algorithm (1: X25519 sealed box of a ChaCha20-Poly1305 key) |
//! | 16     | 16   | disk UUID (as in the label)                            |
//! | 32     | 8    | armed at, ns (as in the header: binds block and dump)  |
//! | 40     | 32   | the administrator's X25519 public key                  |
//! | 72     | 80   | the sealed data key                                    |
//! | 152    | 100  | reserved, zero                                         |
//! | 252    | 4    | CRC-32C of bytes 0..252                                |

use super::crc::Crc32c;
use super::wire::{get_bytes, get_u32, get_u64, put_bytes, put_u32, put_u64};

/// Where the key block lives (after the heartbeat block).
pub const KEY_BLOCK_OFFSET: u64 = 100 << 10;
pub const KEY_BLOCK_SIZE: usize = 256;
pub const KEY_MAGIC: [u8; 8] = *b"CTDUMPKY";
/// Bytes of the data key, of a public key, and of a sealed data key.
pub const KEY_SIZE: usize = 32;
pub const SEALED_KEY_SIZE: usize = 80;
/// Bytes of the tag each chunk carries.
pub const TAG_SIZE: usize = 16;
const ALGORITHM: u32 = 1;
const CRC_OFFSET: usize = KEY_BLOCK_SIZE - 4;

/// What userspace hands the module for one arming.
#[derive(Clone, PartialEq, Eq)]
pub struct DumpKey {
    pub key: [u8; KEY_SIZE],
    pub public: [u8; KEY_SIZE],
    pub sealed: [u8; SEALED_KEY_SIZE],
}

impl core::fmt::Debug for DumpKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never the key itself.
        f.debug_struct("DumpKey").field("public", &self.public).finish_non_exhaustive()
    }
}

/// Why a `dump_key` write was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyParseError {
    /// Not three words: key, public key, sealed key.
    Words,
    /// A word is not hex of its length (64, 64 and 160 digits).
    Hex(&'static str),
    /// The data key or the public key is all zeros.
    Zero,
}

impl core::fmt::Display for KeyParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Words => f.write_str("give three hex words: the data key, the public key, the sealed key"),
            Self::Hex(what) => write!(f, "the {what} is not hex of the right length"),
            Self::Zero => f.write_str("an all-zero key"),
        }
    }
}

fn hex<const N: usize>(word: &str, what: &'static str) -> Result<[u8; N], KeyParseError> {
    let b = word.as_bytes();
    if b.len() != 2 * N {
        return Err(KeyParseError::Hex(what));
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        let (hi, lo) = (digit(b[2 * i]), digit(b[2 * i + 1]));
        *o = (hi.ok_or(KeyParseError::Hex(what))? << 4) | lo.ok_or(KeyParseError::Hex(what))?;
    }
    Ok(out)
}

impl DumpKey {
    /// Parses `KEY PUBLIC SEALED` (hex; surrounding white space ignored).
    pub fn parse(input: &str) -> Result<Self, KeyParseError> {
        let mut words = input.split_ascii_whitespace();
        let (Some(k), Some(p), Some(s), None) = (words.next(), words.next(), words.next(), words.next()) else {
            return Err(KeyParseError::Words);
        };
        let key = hex::<KEY_SIZE>(k, "data key")?;
        let public = hex::<KEY_SIZE>(p, "public key")?;
        let sealed = hex::<SEALED_KEY_SIZE>(s, "sealed key")?;
        if key == [0; KEY_SIZE] || public == [0; KEY_SIZE] {
            return Err(KeyParseError::Zero);
        }
        Ok(Self { key, public, sealed })
    }
}

/// The key block of an encrypted dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyBlock {
    pub disk_uuid: [u8; 16],
    pub armed_ns: u64,
    pub public: [u8; KEY_SIZE],
    pub sealed: [u8; SEALED_KEY_SIZE],
    /// Version 2: the chunks' key is derived from the data key for this
    /// arming ([`arming_inputs`]); false: version 1, the data key itself.
    pub per_arming: bool,
}

/// The two 16-byte inputs that turn a data key into the chunk key of one
/// arming: `k1 = HChaCha20(data key, disk UUID)`, then `chunk key =
/// HChaCha20(k1, le64(armed_ns) ‖ "CTARMING")`. HChaCha20 (the subkey step
/// of XChaCha20) is a PRF of its 16-byte input under its key; the kernel
/// has it (`hchacha_block_generic`) and so does userspace.
pub fn arming_inputs(disk_uuid: &[u8; 16], armed_ns: u64) -> [[u8; 16]; 2] {
    let mut second = [0u8; 16];
    second[..8].copy_from_slice(&armed_ns.to_le_bytes());
    second[8..].copy_from_slice(b"CTARMING");
    [*disk_uuid, second]
}

/// Why bytes are not a key block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyBlockError {
    Short,
    NoKeyBlock,
    Version(u32),
    Algorithm(u32),
    Checksum,
}

impl core::fmt::Display for KeyBlockError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Short => f.write_str("key block too short"),
            Self::NoKeyBlock => f.write_str("no key block (bad magic)"),
            Self::Version(v) => write!(f, "key block version {v} unknown"),
            Self::Algorithm(a) => write!(f, "key block algorithm {a} unknown"),
            Self::Checksum => f.write_str("key block checksum mismatch"),
        }
    }
}

impl KeyBlock {
    /// Writes the block into `out` (at least `KEY_BLOCK_SIZE` bytes).
    pub fn encode(&self, out: &mut [u8], crc: &impl Crc32c) {
        let Some(b) = out.get_mut(..KEY_BLOCK_SIZE) else { return };
        b.fill(0);
        put_bytes(b, 0, &KEY_MAGIC);
        put_u32(b, 8, if self.per_arming { 2 } else { 1 });
        put_u32(b, 12, ALGORITHM);
        put_bytes(b, 16, &self.disk_uuid);
        put_u64(b, 32, self.armed_ns);
        put_bytes(b, 40, &self.public);
        put_bytes(b, 72, &self.sealed);
        let sum = crc.checksum(&b[..CRC_OFFSET]);
        put_u32(b, CRC_OFFSET, sum);
    }

    pub fn decode(b: &[u8], crc: &impl Crc32c) -> Result<Self, KeyBlockError> {
        let b = b.get(..KEY_BLOCK_SIZE).ok_or(KeyBlockError::Short)?;
        if get_bytes::<8>(b, 0) != Some(KEY_MAGIC) {
            return Err(KeyBlockError::NoKeyBlock);
        }
        let version = get_u32(b, 8).ok_or(KeyBlockError::Short)?;
        if version != 1 && version != 2 {
            return Err(KeyBlockError::Version(version));
        }
        let algorithm = get_u32(b, 12).ok_or(KeyBlockError::Short)?;
        if algorithm != ALGORITHM {
            return Err(KeyBlockError::Algorithm(algorithm));
        }
        if get_u32(b, CRC_OFFSET) != Some(crc.checksum(&b[..CRC_OFFSET])) {
            return Err(KeyBlockError::Checksum);
        }
        Ok(Self {
            disk_uuid: get_bytes::<16>(b, 16).ok_or(KeyBlockError::Short)?,
            armed_ns: get_u64(b, 32).ok_or(KeyBlockError::Short)?,
            public: get_bytes::<KEY_SIZE>(b, 40).ok_or(KeyBlockError::Short)?,
            sealed: get_bytes::<SEALED_KEY_SIZE>(b, 72).ok_or(KeyBlockError::Short)?,
            per_arming: version == 2,
        })
    }
}

/// The associated data of chunk entry `entry` (its bytes 4..13: stored
/// length, place, codec), so that an entry changed on the disk fails
/// authentication.
pub fn associated_data(entry: &[u8]) -> [u8; 9] {
    let mut ad = [0u8; 9];
    if let Some(b) = entry.get(4..13) {
        ad.copy_from_slice(b);
    }
    ad
}

/// The 96-bit nonce the kernel's `chacha20poly1305_encrypt` uses for the
/// 64-bit nonce `n` (RFC 8439: `0u32 ‖ le64(n)`).
pub fn nonce96(n: u64) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[4..].copy_from_slice(&n.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;
    use std::string::String;

    /// Bitwise CRC-32C, enough for tests.
    struct Crc;
    impl Crc32c for Crc {
        fn update(&self, mut crc: u32, data: &[u8]) -> u32 {
            for &b in data {
                crc ^= u32::from(b);
                for _ in 0..8 {
                    crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82f6_3b78 } else { crc >> 1 };
                }
            }
            crc
        }
    }

    fn hexs(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn a_key_parses_from_three_hex_words_and_nothing_else() {
        assert_eq!(Crc.checksum(b"123456789"), super::super::crc::CHECK_VALUE);
        let (k, p, s) = ([7u8; 32], [9u8; 32], [0xabu8; 80]);
        let text = format!("{} {} {}\n", hexs(&k), hexs(&p), hexs(&s));
        let key = DumpKey::parse(&text).unwrap();
        assert_eq!((key.key, key.public, key.sealed), (k, p, s));
        assert_eq!(DumpKey::parse(&text[..text.len() - 3]), Err(KeyParseError::Hex("sealed key")));
        assert_eq!(DumpKey::parse("abc"), Err(KeyParseError::Words));
        assert_eq!(DumpKey::parse(""), Err(KeyParseError::Words));
        assert_eq!(DumpKey::parse(&format!("{text} extra")), Err(KeyParseError::Words));
        let zeroed = format!("{} {} {}", hexs(&[0u8; 32]), hexs(&p), hexs(&s));
        assert_eq!(DumpKey::parse(&zeroed), Err(KeyParseError::Zero));
        let bad = text.replacen('7', "x", 1);
        assert_eq!(DumpKey::parse(&bad), Err(KeyParseError::Hex("data key")));
        assert!(!format!("{key:?}").contains("7, 7"), "Debug never shows the key");
    }

    #[test]
    fn key_blocks_round_trip_and_damage_is_caught() {
        let kb = KeyBlock { disk_uuid: [3; 16], armed_ns: 42, public: [5; 32], sealed: [6; 80], per_arming: true };
        let mut b = [0u8; KEY_BLOCK_SIZE];
        kb.encode(&mut b, &Crc);
        assert_eq!(KeyBlock::decode(&b, &Crc), Ok(kb));
        assert_eq!(b[8], 2, "a block of a per-arming key is version 2");
        let v1 = KeyBlock { per_arming: false, ..kb };
        let mut b1 = [0u8; KEY_BLOCK_SIZE];
        v1.encode(&mut b1, &Crc);
        assert_eq!(KeyBlock::decode(&b1, &Crc), Ok(v1), "an older module's block still reads");
        for bit in [0usize, 100, 8 * 72 + 3, 8 * 251] {
            let mut d = b;
            d[bit / 8] ^= 1 << (bit % 8);
            assert!(KeyBlock::decode(&d, &Crc).is_err(), "bit {bit}");
        }
        assert_eq!(KeyBlock::decode(&[0u8; 300], &Crc), Err(KeyBlockError::NoKeyBlock));
        assert_eq!(KeyBlock::decode(&b[..100], &Crc), Err(KeyBlockError::Short));
        assert_eq!(nonce96(0x0102), [0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0]);
        let mut e = [0u8; 32];
        e[4..13].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(associated_data(&e), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn every_arming_has_its_own_inputs() {
        let uuid = [9u8; 16];
        let a = arming_inputs(&uuid, 1_765_000_000_000_000_001);
        let b = arming_inputs(&uuid, 1_765_000_000_000_000_002);
        assert_eq!(a[0], uuid);
        assert_ne!(a[1], b[1], "a replayed key armed a nanosecond later gets another chunk key");
        assert_ne!(arming_inputs(&[8u8; 16], 1)[0], arming_inputs(&uuid, 1)[0], "and on another disk");
        assert_eq!(&a[1][8..], b"CTARMING");
    }
}
