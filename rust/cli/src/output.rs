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
