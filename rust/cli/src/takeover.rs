// SPDX-License-Identifier: GPL-2.0

//! `coretakeover takeover` and `coretakeover giveback`: the commands of the
//! netlink family (CAP_NET_ADMIN), and what the module answered.

use crate::error::Error;
use crate::genl::{cmd, Client};
use crate::output::{emit, Report};
use serde::Serialize;
use std::io::Write;

/// Take over the partner's service disks now, or give them back.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct CommandReport {
    command: &'static str,
    takeover_state: String,
    takeover_report: String,
}

impl Report for CommandReport {
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "{}: now {}", self.command, self.takeover_state)?;
        for line in self.takeover_report.lines() {
            writeln!(out, "  {line}")?;
        }
        Ok(())
    }
}

fn run_command(command: &'static str, number: u8, args: &Args, out: &mut dyn Write) -> Result<(), Error> {
    let mut client = Client::connect()?;
    let reply = client.request(number, vec![])?;
    let report = CommandReport {
        command,
        takeover_state: reply.str("takeover-state").unwrap_or_default().to_string(),
        takeover_report: reply.str("takeover-report").unwrap_or_default().to_string(),
    };
    emit(&report, args.json, out)
}

pub fn run_takeover(args: &Args, out: &mut dyn Write) -> Result<(), Error> {
    run_command("takeover", cmd::TAKEOVER, args, out)
}

pub fn run_giveback(args: &Args, out: &mut dyn Write) -> Result<(), Error> {
    run_command("giveback", cmd::GIVEBACK, args, out)
}
