// SPDX-License-Identifier: GPL-2.0

//! Printing results for people or, with `--json`, for programs.

use crate::error::Error;
use serde::Serialize;
use std::io::Write;

/// A result that can be shown as text lines or as one JSON document.
pub trait Report: Serialize {
    /// The human-readable form.
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()>;
}

/// Writes `report` as JSON (one line) or as text.
pub fn emit<R: Report>(report: &R, json: bool, out: &mut dyn Write) -> Result<(), Error> {
    if json {
        serde_json::to_writer(&mut *out, report).map_err(std::io::Error::from)?;
        writeln!(out)?;
    } else {
        report.write_text(out)?;
    }
    Ok(())
}

/// Text read from a disk (a dump's panic message, its kernel release), made
/// safe for a terminal: every control character (C0, DEL, C1), which could
/// move the cursor, rewrite what was printed or set the window title, is
/// shown as an escape (`\x1b`, `\u{9b}`); the rest is kept as it is.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (0x80..0xa0).contains(&(c as u32)) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(printable("Kernel panic - not syncing: sysrq"), "Kernel panic - not syncing: sysrq");
        assert_eq!(printable("a\x1b]0;owned\x07b"), "a\\x1b]0;owned\\x07b");
        assert_eq!(printable("x\u{9b}2Jy\x7f"), "x\\u{9b}2Jy\\x7f");
        assert_eq!(printable("tab\there\nnl"), "tab\\x09here\\x0anl");
        assert_eq!(printable("back\\slash é"), "back\\\\slash é");
    }
}
