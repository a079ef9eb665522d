// SPDX-License-Identifier: GPL-2.0

//! `coretakeover key`: the registration key of a node, derived exactly as the
//! module derives it (same source, `rust/core/src/keys.rs`), or a key decoded.

use crate::error::Error;
use crate::output::{emit, Report};
use coretakeover_core::ids::{ClusterId, NodeId};
use coretakeover_core::keys::RegistrationKey;
use serde::Serialize;
use std::io::Write;

/// Derive a node's SCSI persistent-reservation key, or decode one.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cluster id (decimal or 0x hex).
    #[arg(long, value_parser = parse_cluster, required_unless_present = "decode")]
    cluster: Option<ClusterId>,
    /// Node id (decimal or 0x hex).
    #[arg(long, value_parser = parse_node, required_unless_present = "decode")]
    node: Option<NodeId>,
    /// Decode this key (0x hex) instead of deriving one.
    #[arg(long, value_parser = parse_key, conflicts_with_all = ["cluster", "node"])]
    decode: Option<RegistrationKey>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_cluster(s: &str) -> Result<ClusterId, String> {
    ClusterId::parse(s).map_err(|e| e.to_string())
}

fn parse_node(s: &str) -> Result<NodeId, String> {
    NodeId::parse(s).map_err(|e| e.to_string())
}

fn parse_key(s: &str) -> Result<RegistrationKey, String> {
    let hex = s.trim().strip_prefix("0x").ok_or("a key is written as 0x and hex digits")?;
    u64::from_str_radix(hex, 16)
        .map(RegistrationKey::from_raw)
        .map_err(|e| e.to_string())
}

#[derive(Debug, Serialize)]
struct KeyReport {
    key: String,
    cluster_id: u32,
    node_id: u16,
}

impl Report for KeyReport {
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "{}", self.key)
    }
}

pub fn run(args: &Args, out: &mut dyn Write) -> Result<(), Error> {
    let (key, cluster, node) = match (args.decode, args.cluster, args.node) {
        (Some(key), _, _) => {
            let (cluster, node) = key.decode().ok_or_else(|| Error::InvalidArgument {
                what: "key",
                reason: format!("{key} was not made by coretakeover"),
            })?;
            (key, cluster, node)
        }
        (None, Some(cluster), Some(node)) => (RegistrationKey::derive(cluster, node), cluster, node),
        // clap's required_unless_present rules this out; say so if it ever changes.
        _ => {
            return Err(Error::InvalidArgument {
                what: "arguments",
                reason: "give --cluster and --node, or --decode".into(),
            })
        }
    };
    let report = KeyReport { key: key.to_string(), cluster_id: cluster.get(), node_id: node.get() };
    if args.decode.is_some() && !args.json {
        writeln!(out, "cluster {} node {}", cluster, node)?;
        return Ok(());
    }
    emit(&report, args.json, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrap {
        #[command(flatten)]
        args: Args,
    }

    fn run_with(argv: &[&str]) -> Result<String, String> {
        let wrap = Wrap::try_parse_from(std::iter::once("key").chain(argv.iter().copied()))
            .map_err(|e| e.kind().to_string())?;
        let mut out = Vec::new();
        run(&wrap.args, &mut out).map_err(|e| e.to_string())?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn derives_like_the_core() {
        assert_eq!(run_with(&["--cluster", "7", "--node", "2"]).unwrap(), "0x4354000000070002\n");
        let json = run_with(&["--cluster", "0x10", "--node", "1", "--json"]).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["key"], "0x4354000000100001");
        assert_eq!(v["cluster_id"], 16);
    }

    #[test]
    fn decodes_own_keys_and_refuses_foreign_ones() {
        assert_eq!(run_with(&["--decode", "0x4354000000070002"]).unwrap(), "cluster 7 node 2\n");
        assert!(run_with(&["--decode", "0xaaaa"]).unwrap_err().contains("not made by coretakeover"));
    }

    #[test]
    fn rejects_bad_ids() {
        assert!(run_with(&["--cluster", "0", "--node", "1"]).is_err());
        assert!(run_with(&["--cluster", "1", "--node", "70000"]).is_err());
        assert!(run_with(&["--cluster", "1"]).is_err());
        assert!(run_with(&["--decode", "0x1", "--node", "1"]).is_err());
    }
}
