// SPDX-License-Identifier: GPL-2.0

//! The one error type of the command.

use std::path::PathBuf;
use std::process::ExitCode;

/// Everything that can make a subcommand fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The module is not loaded (its sysfs directory or netlink family is missing).
    #[error("module not loaded: {0} does not exist (modprobe coretakeover)")]
    NotLoaded(PathBuf),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Writing the result failed (for example a closed pipe).
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
    /// The disk is not a coredump disk (no or a damaged label).
    #[error("{path}: not a coredump disk: {reason}")]
    NotCoredumpDisk { path: PathBuf, reason: String },
    /// A safety check refused to change the disk.
    #[error("{path}: refused: {reason}")]
    Refused { path: PathBuf, reason: String },
    /// The disk holds no dump to save.
    #[error("{path}: no dump to save: {reason}")]
    NoDump { path: PathBuf, reason: String },
    /// The dump is damaged; what was saved is said in `saved`.
    #[error("{path}: dump damaged: {reason}; {saved}")]
    Damaged { path: PathBuf, reason: String, saved: String },
    /// Talking to the module over generic netlink failed.
    #[error("netlink: {0}")]
    Netlink(String),
    /// The module refused a netlink command (its log says why).
    #[error("the module refused: {} (see the kernel log)", std::io::Error::from_raw_os_error(*.0))]
    NetlinkErrno(i32),
    /// An argument was well-formed for clap but wrong for us.
    #[error("invalid {what}: {reason}")]
    InvalidArgument { what: &'static str, reason: String },
}

impl Error {
    /// Exit status: 2 for bad arguments (like clap), 1 for everything else.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::InvalidArgument { .. } => ExitCode::from(2),
            _ => ExitCode::FAILURE,
        }
    }
}
