// SPDX-License-Identifier: GPL-2.0

//! `coretakeover status`: what the module reports in sysfs.

use crate::error::Error;
use crate::output::{emit, Report};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the module's sysfs directory is.
pub const SYSFS_DIR: &str = "/sys/kernel/coretakeover";

/// Show the module's version, state and identity.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Read this directory instead of the module's sysfs directory.
    #[arg(long, hide = true, default_value = SYSFS_DIR)]
    sysfs: PathBuf,
}

#[derive(Debug, Serialize, PartialEq)]
struct StatusReport {
    version: String,
    state: String,
    cluster_id: Option<String>,
    node_id: Option<String>,
    registration_key: Option<String>,
}

impl Report for StatusReport {
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let unset = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        writeln!(out, "module version:   {}", self.version)?;
        writeln!(out, "state:            {}", self.state)?;
        writeln!(out, "cluster id:       {}", unset(&self.cluster_id))?;
        writeln!(out, "node id:          {}", unset(&self.node_id))?;
        writeln!(out, "registration key: {}", unset(&self.registration_key))
    }
}

/// Reads one attribute; the module writes an empty line for an unset value.
fn attribute(dir: &Path, name: &str) -> Result<Option<String>, Error> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path, source })?;
    let text = text.trim();
    Ok((!text.is_empty()).then(|| text.to_string()))
}

fn read(dir: &Path) -> Result<StatusReport, Error> {
    if !dir.is_dir() {
        return Err(Error::NotLoaded(dir.to_path_buf()));
    }
    let required = |name| attribute(dir, name).map(Option::unwrap_or_default);
    Ok(StatusReport {
        version: required("version")?,
        state: required("state")?,
        cluster_id: attribute(dir, "cluster_id")?,
        node_id: attribute(dir, "node_id")?,
        registration_key: attribute(dir, "registration_key")?,
    })
}

pub fn run(args: &Args, out: &mut dyn Write) -> Result<(), Error> {
    emit(&read(&args.sysfs)?, args.json, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_sysfs(files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "coretakeover-status-{}-{}",
            std::process::id(),
            files.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn reads_a_configured_node() {
        let dir = fake_sysfs(&[
            ("version", "0.1.0\n"),
            ("state", "configured\n"),
            ("cluster_id", "7\n"),
            ("node_id", "1\n"),
            ("registration_key", "0x4354000000070001\n"),
        ]);
        let report = read(&dir).unwrap();
        assert_eq!(report.state, "configured");
        assert_eq!(report.registration_key.as_deref(), Some("0x4354000000070001"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unset_values_are_none_and_missing_module_is_reported() {
        let dir = fake_sysfs(&[
            ("version", "0.1.0\n"),
            ("state", "unconfigured\n"),
            ("cluster_id", "\n"),
            ("node_id", "\n"),
            ("registration_key", "\n"),
        ]);
        assert_eq!(read(&dir).unwrap().cluster_id, None);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(read(&dir), Err(Error::NotLoaded(_))));
    }
}
