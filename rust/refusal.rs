// SPDX-License-Identifier: GPL-2.0

//! Why an operation was refused: the errno, and the reason in words.
//!
//! The reason is logged once, where it is known (`refuse!`), and travels
//! with the errno to the interface that asked: sysfs returns the errno (the
//! log says why), netlink returns it with the reason as the extended ack
//! message (`NL_SET_ERR_MSG`), so a caller such as `coretakeover` can print
//! why without reading the kernel log. [`Text`] is the fixed buffer such
//! reasons are kept in.

use core::fmt::{self, Write};
use kernel::prelude::*;

/// The longest reason kept for the extended ack (`NETLINK_MAX_FMTMSG_LEN`).
pub(crate) const MESSAGE_LEN: usize = 80;

/// Text of at most `N` bytes, formatted without allocating (what does not
/// fit is cut at a character boundary).
pub(crate) struct Text<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Text<N> {
    pub(crate) const fn new() -> Self {
        Self { bytes: [0; N], len: 0 }
    }

    /// `args`, cut to `N` bytes.
    pub(crate) fn of(args: fmt::Arguments<'_>) -> Self {
        let mut text = Self::new();
        let _ = text.write_fmt(args);
        text
    }

    pub(crate) fn as_str(&self) -> &str {
        self.bytes.get(..self.len).and_then(|b| core::str::from_utf8(b).ok()).unwrap_or("")
    }
}

impl<const N: usize> Write for Text<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut take = s.len().min(N - self.len);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        if let (Some(dst), Some(src)) = (self.bytes.get_mut(self.len..self.len + take), s.get(..take)) {
            dst.copy_from_slice(src.as_bytes());
            self.len += take;
        }
        if take < s.len() {
            return Err(fmt::Error);
        }
        Ok(())
    }
}

/// A refusal: an errno, and (unless the errno says it all) why.
pub(crate) struct Refusal {
    errno: Error,
    message: Text<MESSAGE_LEN>,
}

/// What an operation that may be refused returns.
pub(crate) type Outcome<T = ()> = core::result::Result<T, Refusal>;

impl Refusal {
    /// Logs `why` and keeps it (truncated to [`MESSAGE_LEN`] bytes).
    pub(crate) fn new(errno: Error, why: fmt::Arguments<'_>) -> Self {
        pr_warn!("{}\n", why);
        // A reason too long for the extended ack is cut, not lost: the log
        // has it whole.
        Self { errno, message: Text::of(why) }
    }

    pub(crate) fn errno(&self) -> Error {
        self.errno
    }

    /// The reason in words, if there is one.
    pub(crate) fn message(&self) -> Option<&str> {
        Some(self.message.as_str()).filter(|m| !m.is_empty())
    }
}

/// An errno with nothing more to say (no memory, an I/O error on the way).
impl From<Error> for Refusal {
    fn from(errno: Error) -> Self {
        Self { errno, message: Text::new() }
    }
}

/// Out of memory on the way.
impl From<kernel::alloc::AllocError> for Refusal {
    fn from(_: kernel::alloc::AllocError) -> Self {
        Self::from(ENOMEM)
    }
}

/// For interfaces that only pass on the errno (sysfs).
impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Self {
        refusal.errno
    }
}

/// Logs why and returns the [`Refusal`]: `refuse!(EBUSY, "{}: busy", name)`.
macro_rules! refuse {
    ($errno:expr, $($arg:tt)+) => {
        $crate::refusal::Refusal::new($errno, format_args!($($arg)+))
    };
}
pub(crate) use refuse;
