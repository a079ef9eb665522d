// SPDX-License-Identifier: GPL-2.0

//! Cluster and node identifiers, and parsing them from text.
//!
//! Both are chosen by the administrator. Zero is never valid: an unset value
//! must not be mistaken for a configured one, and a registration key derived
//! from zeros would be close to the SCSI "no key" value.

use core::fmt;
use core::num::{NonZeroU16, NonZeroU32};

/// Identifies a pair of nodes. Both nodes of a pair use the same cluster id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClusterId(NonZeroU32);

/// Identifies one node within its cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(NonZeroU16);

/// Why a text could not be turned into an identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseIdError {
    /// Nothing but white space.
    Empty,
    /// Not a decimal number or a `0x`-prefixed hexadecimal number.
    NotANumber,
    /// Zero, which never identifies anything.
    Zero,
    /// Larger than the identifier's range.
    OutOfRange {
        /// The largest value accepted.
        max: u64,
    },
}

impl fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty value"),
            Self::NotANumber => f.write_str("not a number (decimal, or hexadecimal with 0x)"),
            Self::Zero => f.write_str("zero is not a valid id"),
            Self::OutOfRange { max } => write!(f, "out of range (1..={max})"),
        }
    }
}

/// Parses an unsigned number written in decimal or as `0x`-prefixed hex,
/// ignoring surrounding white space (sysfs writes end in a newline).
pub fn parse_number(text: &str) -> Result<u64, ParseIdError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ParseIdError::Empty);
    }
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    // from_str_radix accepts a leading '+', which an id never has.
    if digits.is_empty() || digits.starts_with('+') {
        return Err(ParseIdError::NotANumber);
    }
    u64::from_str_radix(digits, radix).map_err(|e| match e.kind() {
        core::num::IntErrorKind::PosOverflow => ParseIdError::OutOfRange { max: u64::MAX },
        _ => ParseIdError::NotANumber,
    })
}

/// Parses a number that must not exceed `max`.
fn parse_bounded(text: &str, max: u64) -> Result<u64, ParseIdError> {
    match parse_number(text) {
        Ok(value) if value > max => Err(ParseIdError::OutOfRange { max }),
        Ok(value) => Ok(value),
        Err(ParseIdError::OutOfRange { .. }) => Err(ParseIdError::OutOfRange { max }),
        Err(e) => Err(e),
    }
}

impl ClusterId {
    /// The cluster id with this value, unless it is zero.
    pub const fn new(value: u32) -> Option<Self> {
        match NonZeroU32::new(value) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// The numeric value.
    pub const fn get(self) -> u32 {
        self.0.get()
    }

    /// Parses a cluster id from text (decimal or `0x` hex, 1..=2^32-1).
    pub fn parse(text: &str) -> Result<Self, ParseIdError> {
        let value = parse_bounded(text, u32::MAX.into())?;
        let value = u32::try_from(value).map_err(|_| ParseIdError::OutOfRange {
            max: u32::MAX.into(),
        })?;
        Self::new(value).ok_or(ParseIdError::Zero)
    }
}

impl NodeId {
    /// The node id with this value, unless it is zero.
    pub const fn new(value: u16) -> Option<Self> {
        match NonZeroU16::new(value) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// The numeric value.
    pub const fn get(self) -> u16 {
        self.0.get()
    }

    /// Parses a node id from text (decimal or `0x` hex, 1..=65535).
    pub fn parse(text: &str) -> Result<Self, ParseIdError> {
        let value = parse_bounded(text, u16::MAX.into())?;
        let value = u16::try_from(value).map_err(|_| ParseIdError::OutOfRange {
            max: u16::MAX.into(),
        })?;
        Self::new(value).ok_or(ParseIdError::Zero)
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.get())
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimal_hex_and_trailing_newline() {
        assert_eq!(ClusterId::parse("42\n").map(ClusterId::get), Ok(42));
        assert_eq!(ClusterId::parse("0xBEEF").map(ClusterId::get), Ok(0xbeef));
        assert_eq!(NodeId::parse(" 2 ").map(NodeId::get), Ok(2));
        assert_eq!(NodeId::parse("65535").map(NodeId::get), Ok(65535));
    }

    #[test]
    fn rejects_bad_text() {
        assert_eq!(ClusterId::parse(""), Err(ParseIdError::Empty));
        assert_eq!(ClusterId::parse(" \n"), Err(ParseIdError::Empty));
        assert_eq!(ClusterId::parse("0"), Err(ParseIdError::Zero));
        assert_eq!(ClusterId::parse("0x"), Err(ParseIdError::NotANumber));
        assert_eq!(ClusterId::parse("+5"), Err(ParseIdError::NotANumber));
        assert_eq!(ClusterId::parse("-5"), Err(ParseIdError::NotANumber));
        assert_eq!(ClusterId::parse("12abc"), Err(ParseIdError::NotANumber));
        assert_eq!(ClusterId::parse("1 2"), Err(ParseIdError::NotANumber));
        assert_eq!(
            ClusterId::parse("4294967296"),
            Err(ParseIdError::OutOfRange { max: 4294967295 })
        );
        assert_eq!(NodeId::parse("65536"), Err(ParseIdError::OutOfRange { max: 65535 }));
        assert_eq!(
            NodeId::parse("99999999999999999999999"),
            Err(ParseIdError::OutOfRange { max: 65535 })
        );
    }
}
