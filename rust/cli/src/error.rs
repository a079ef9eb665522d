// SPDX-License-Identifier: GPL-2.0

//! The one error type of the command.

use std::path::PathBuf;

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
    /// The module refused a netlink command: its errno and, from the
    /// extended ack, why.
    #[error("the module refused: {}{}", std::io::Error::from_raw_os_error(*errno), message.as_ref().map_or(" (see the kernel log)".to_string(), |m| format!(": {m}")))]
    Module { errno: i32, message: Option<String> },
    /// A takeover did not hold every partner disk; `report` has each disk's
    /// result.
    #[error("the takeover did not hold every partner disk: {}", reason.as_deref().unwrap_or("see the report"))]
    Partial { reason: Option<String>, report: serde_json::Value },
    /// Every partner disk is held, but on some only by a plain PREEMPT (the
    /// array has no PREEMPT AND ABORT, or no path of a map took it): the
    /// partner's commands already queued in the array were not aborted and
    /// may still land. `disks` names them; `report` has each disk's result.
    #[error("weaker fence: {} held by a plain PREEMPT, the partner's queued commands not aborted (they may still land)", disks.join(", "))]
    WeakFence { disks: Vec<String>, report: serde_json::Value },
    /// The configuration file is wrong.
    #[error("{path}: {reason}")]
    Config { path: PathBuf, reason: String },
    /// An argument was well-formed for clap but wrong for us.
    #[error("invalid {what}: {reason}")]
    InvalidArgument { what: &'static str, reason: String },
}

/// The exit status of a partial takeover: some partner disk is not held.
pub const EXIT_PARTIAL: u8 = 3;
/// The exit status of a refusal (by the module or by a safety check).
pub const EXIT_REFUSED: u8 = 4;
/// The exit status of a takeover that holds every disk, some by a weaker
/// fence than PREEMPT AND ABORT.
pub const EXIT_WEAK_FENCE: u8 = 5;

impl Error {
    /// Exit status (documented in the admin guide): 2 for bad arguments
    /// (like clap), 3 for a takeover that did not hold every disk, 4 for a
    /// refusal, 5 for a takeover that holds every disk but some by a weaker
    /// fence (plain PREEMPT), 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::InvalidArgument { .. } | Self::Config { .. } => 2,
            Self::Partial { .. } => EXIT_PARTIAL,
            Self::WeakFence { .. } => EXIT_WEAK_FENCE,
            Self::Module { errno, .. } if *errno == libc::EREMOTEIO => EXIT_PARTIAL,
            Self::Module { .. } | Self::Refused { .. } => EXIT_REFUSED,
            _ => 1,
        }
    }

    /// A short name of the kind of error, for JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotLoaded(_) => "not-loaded",
            Self::Io { .. } | Self::Output(_) => "io",
            Self::NotCoredumpDisk { .. } => "not-a-coredump-disk",
            Self::Refused { .. } => "refused",
            Self::NoDump { .. } => "no-dump",
            Self::Damaged { .. } => "damaged",
            Self::Netlink(_) => "netlink",
            Self::Partial { .. } => "partial-takeover",
            Self::WeakFence { .. } => "weak-fence",
            Self::Module { errno, .. } if *errno == libc::EREMOTEIO => "partial-takeover",
            Self::Module { .. } => "refused-by-module",
            Self::InvalidArgument { .. } => "usage",
            Self::Config { .. } => "configuration",
        }
    }

    /// The error as JSON: `{"error": {"kind", "message", "exit_code", "errno"?}}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut error = serde_json::json!({
            "kind": self.kind(),
            "message": self.to_string(),
            "exit_code": self.exit_code(),
        });
        if let Self::Module { errno, message } = self {
            error["errno"] = (*errno).into();
            error["reason"] = message.clone().into();
        }
        if let Self::Partial { reason, report } = self {
            error["errno"] = libc::EREMOTEIO.into();
            error["reason"] = reason.clone().into();
            error["report"] = report.clone();
        }
        if let Self::WeakFence { disks, report } = self {
            error["weak_fence_disks"] = disks.clone().into();
            error["report"] = report.clone();
        }
        serde_json::json!({ "error": error })
    }
}
