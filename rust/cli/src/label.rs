// SPDX-License-Identifier: GPL-2.0

//! `coretakeover label`: makes a disk a coredump disk of one node.
//!
//! Refuses a disk that carries a file system, volume or partition signature,
//! another node's label, or an unsaved dump, unless `--force`; relabeling a
//! disk already labeled for the same node changes nothing.

use crate::coredump::Inspection;
use crate::crc::HostCrc;
use crate::disk::{AlignedBuf, Disk};
use crate::error::Error;
use crate::output::{emit, Report};
use crate::signatures;
use coretakeover_core::header::{HEADER_COPY_OFFSETS, HEADER_SIZE};
use coretakeover_core::ids::{ClusterId, NodeId};
use coretakeover_core::label::{Label, LabelError, UuidText, LABEL_OFFSET};
use coretakeover_core::plan::HEARTBEAT_OFFSET;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

/// Label a disk as the coredump disk of a node.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The disk (block device or image file).
    #[arg(long)]
    disk: PathBuf,
    /// Cluster id (decimal or 0x hex).
    #[arg(long, value_parser = |s: &str| ClusterId::parse(s).map_err(|e| e.to_string()))]
    cluster: ClusterId,
    /// The owner's node id (decimal or 0x hex).
    #[arg(long, value_parser = |s: &str| NodeId::parse(s).map_err(|e| e.to_string()))]
    node: NodeId,
    /// Overwrite signatures, another node's label, or an unsaved dump.
    #[arg(long)]
    force: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct LabelReport {
    disk: String,
    cluster_id: u32,
    node_id: u16,
    disk_uuid: String,
    usable_bytes: u64,
    changed: bool,
}

impl LabelReport {
    fn new(args: &Args, label: &Label, changed: bool) -> Self {
        Self {
            disk: args.disk.display().to_string(),
            cluster_id: label.cluster.get(),
            node_id: label.node.get(),
            disk_uuid: UuidText(&label.disk_uuid).to_string(),
            usable_bytes: label.usable_bytes,
            changed,
        }
    }
}

impl Report for LabelReport {
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let verb = if self.changed { "labeled" } else { "already labeled" };
        writeln!(
            out,
            "{}: {verb} as the coredump disk of cluster {} node {} (uuid {}, {} MiB)",
            self.disk,
            self.cluster_id,
            self.node_id,
            self.disk_uuid,
            self.usable_bytes >> 20
        )
    }
}

fn refuse(disk: &Disk, reason: String) -> Error {
    Error::Refused { path: disk.path.clone(), reason: format!("{reason}; use --force to overwrite") }
}

pub fn run(args: &Args, out: &mut dyn Write) -> Result<(), Error> {
    let disk = Disk::open(&args.disk, true)?;
    let inspection = Inspection::read(&disk)?;
    match &inspection.label {
        Ok(label) if label.belongs_to(args.cluster, args.node) && !args.force => {
            return emit(&LabelReport::new(args, label, false), args.json, out);
        }
        Ok(label) if !args.force => {
            return Err(refuse(&disk, format!("labeled for cluster {} node {}", label.cluster, label.node)));
        }
        Err(LabelError::NotLabeled) if !args.force => {
            let head = disk.read(0, signatures::PROBE_BYTES.min(disk.size() as usize))?;
            if let Some(name) = signatures::find(&head) {
                return Err(refuse(&disk, format!("it carries a {name} signature")));
            }
        }
        Err(e) if !args.force => return Err(refuse(&disk, format!("damaged label ({e})"))),
        _ => {}
    }
    if let Some(h) = inspection.header() {
        if h.state().holds_unsaved_dump() && !args.force {
            return Err(refuse(&disk, format!("it holds an unsaved dump (state {})", h.state().as_str())));
        }
    }

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let label = Label {
        cluster: args.cluster,
        node: args.node,
        disk_uuid: *uuid::Uuid::new_v4().as_bytes(),
        usable_bytes: disk.size(),
        created_unix: now,
    };
    // No stale header or heartbeat may survive a new label.
    let zeros = AlignedBuf::new(HEADER_SIZE);
    for off in HEADER_COPY_OFFSETS {
        disk.write_durably(off, &zeros)?;
    }
    disk.write_durably(HEARTBEAT_OFFSET, &AlignedBuf::new(4096))?;
    let mut block = AlignedBuf::new(4096);
    block[..coretakeover_core::label::LABEL_SIZE].copy_from_slice(&label.encode(&HostCrc));
    disk.write_durably(LABEL_OFFSET, &block)?;
    emit(&LabelReport::new(args, &label, true), args.json, out)
}
