// SPDX-License-Identifier: GPL-2.0

//! `coretakeover takeover` and `coretakeover giveback`: the commands of the
//! netlink family (CAP_NET_ADMIN), and what the module answered.
//!
//! A takeover succeeds only when every partner disk is held and verified;
//! otherwise the command prints each disk's result and exits 3 (partial),
//! with the module's reason naming the disks that failed. A takeover that
//! holds every disk, but some only by a plain PREEMPT (method `preempt`:
//! the partner's commands queued in the array were not aborted), prints its
//! result and exits 5 (weaker fence): a caller that needs a fence must not
//! take it for one.

use crate::error::Error;
use crate::genl::{cmd, Client, Message};
use crate::output::{emit, Report};
use serde::Serialize;
use serde_json::{Map, Value};
use std::io::Write;

/// Take over the partner's service disks now, or give them back.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// The configuration file (giveback: with [hooks], the agent stops the
    /// partner's service first).
    #[arg(long, default_value = crate::config::DEFAULT_PATH)]
    pub config: std::path::PathBuf,
}

/// What a takeover did (also what `status` shows of the last one).
#[derive(Debug, Serialize, PartialEq)]
pub struct TakeoverSummary {
    pub reason: Option<String>,
    pub disks_held: Option<u64>,
    pub disks_total: Option<u64>,
    pub duration_us: Option<u64>,
    /// Each disk's result: path, held, method, latency_us, pr_us, attempts,
    /// or error (errno) and message.
    pub disks: Vec<Map<String, Value>>,
    /// The disks held only by a plain PREEMPT (method `preempt`): a weaker
    /// fence, the partner's commands queued in the array not aborted.
    pub weak_fence_disks: Vec<String>,
}

impl TakeoverSummary {
    /// The disks held by a plain PREEMPT: a weaker fence, the partner's
    /// commands queued in the array not aborted.
    fn weak_fence_disks_of(disks: &[Map<String, Value>]) -> Vec<String> {
        disks
            .iter()
            .filter(|d| d.get("held").and_then(Value::as_u64) == Some(1) && d.get("method").and_then(Value::as_str) == Some("preempt"))
            .map(|d| d.get("path").and_then(Value::as_str).unwrap_or("?").to_string())
            .collect()
    }

    /// The takeover part of a reply or notification, if it has one.
    pub fn of(m: &Message) -> Option<Self> {
        let disks = m.nests("takeover-disk");
        (m.get("disks-total").is_some() || !disks.is_empty()).then(|| Self {
            reason: m.str("reason").map(str::to_string),
            disks_held: m.num("disks-held"),
            disks_total: m.num("disks-total"),
            duration_us: m.num("duration-us"),
            weak_fence_disks: Self::weak_fence_disks_of(&disks),
            disks,
        })
    }

    /// One line per disk.
    pub fn write_disks(&self, out: &mut dyn Write, indent: &str) -> std::io::Result<()> {
        for d in &self.disks {
            let path = d["path"].as_str().unwrap_or("?");
            let us = d.get("latency_us").and_then(Value::as_u64).unwrap_or(0);
            if d.get("held").and_then(Value::as_u64) == Some(1) {
                let method = d.get("method").and_then(Value::as_str).unwrap_or("?");
                let pr = d.get("pr_us").and_then(Value::as_u64).unwrap_or(0);
                let attempts = d.get("attempts").and_then(Value::as_u64).unwrap_or(1);
                let tries = if attempts > 1 { format!(", {attempts} attempts") } else { String::new() };
                writeln!(out, "{indent}{path}: held ({method}) in {us} us (pr {pr} us{tries})")?;
            } else {
                let why = d.get("message").and_then(Value::as_str).unwrap_or("not held");
                let errno = d.get("error").and_then(Value::as_i64).map_or(String::new(), |e| format!(" [errno {e}]"));
                writeln!(out, "{indent}{path}: NOT HELD: {why}{errno} ({us} us)")?;
            }
        }
        if !self.weak_fence_disks.is_empty() {
            writeln!(
                out,
                "{indent}WEAKER FENCE: {} held by a plain PREEMPT: the partner's commands queued in the array were not aborted",
                self.weak_fence_disks.join(", ")
            )?;
        }
        Ok(())
    }
}

#[derive(Debug, Serialize)]
struct CommandReport {
    command: &'static str,
    takeover_state: String,
    #[serde(flatten)]
    takeover: Option<TakeoverSummary>,
}

impl Report for CommandReport {
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "{}: now {}", self.command, self.takeover_state)?;
        if let Some(t) = &self.takeover {
            if let (Some(held), Some(total)) = (t.disks_held, t.disks_total) {
                writeln!(out, "  {held} of {total} partner disks held in {} us", t.duration_us.unwrap_or(0))?;
            }
            t.write_disks(out, "  ")?;
        }
        Ok(())
    }
}

fn run_command(command: &'static str, number: u8, args: &Args, out: &mut dyn Write) -> Result<(), Error> {
    let mut client = Client::connect()?;
    let answer = client.ask(number, vec![])?;
    let Some(reply) = &answer.reply else { return answer.result };
    let report = CommandReport {
        command,
        takeover_state: reply.str("takeover-state").unwrap_or_default().to_string(),
        takeover: if number == cmd::TAKEOVER { TakeoverSummary::of(reply) } else { None },
    };
    let weak = report.takeover.as_ref().map(|t| t.weak_fence_disks.clone()).unwrap_or_default();
    match answer.result {
        Ok(()) if !weak.is_empty() => {
            if !args.json {
                report.write_text(out)?;
            }
            Err(Error::WeakFence { disks: weak, report: serde_json::to_value(&report).map_err(std::io::Error::from)? })
        }
        Ok(()) => emit(&report, args.json, out),
        // A partial takeover still has its reply: each disk's result goes
        // with the error (printed here as text, or in the error's JSON).
        Err(Error::Module { errno, message }) if errno == libc::EREMOTEIO => {
            if !args.json {
                report.write_text(out)?;
            }
            Err(Error::Partial { reason: message, report: serde_json::to_value(&report).map_err(std::io::Error::from)? })
        }
        Err(e) => Err(e),
    }
}

pub fn run_takeover(args: &Args, out: &mut dyn Write) -> Result<(), Error> {
    run_command("takeover", cmd::TAKEOVER, args, out)
}

/// Giveback. When the node runs services with hooks, the agent does it:
/// it stops the partner's service, then gives the disks back (a disk must
/// never leave while its filesystem is mounted here). Without an agent
/// running, such a node refuses.
pub fn run_giveback(args: &Args, out: &mut dyn Write) -> Result<(), Error> {
    let hooks = match crate::config::Config::load(&args.config) {
        Ok(c) => c.hooks.is_some() && c.partner.as_ref().is_some_and(|p| p.service.is_some()),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    };
    if !hooks {
        return run_command("giveback", cmd::GIVEBACK, args, out);
    }
    let socket = std::path::Path::new(crate::agent::SOCKET);
    let Some(reply) = crate::agent::ask(socket, &crate::agent::Request::Giveback)? else {
        return Err(Error::Refused {
            path: socket.to_path_buf(),
            reason: "the agent is not running (systemctl start coretakeover-agent): it stops the partner's service before its disks go back".into(),
        });
    };
    if !reply.ok {
        let errno = std::io::Error::from_raw_os_error(reply.errno.unwrap_or(libc::EIO));
        let why = reply.message.unwrap_or_default();
        let hooks = if reply.hooks.is_empty() { String::new() } else { format!(" [{}]", reply.hooks.join("; ")) };
        return Err(Error::Refused { path: socket.to_path_buf(), reason: format!("{why} ({errno}){hooks}") });
    }
    let report = AgentGiveback { command: "giveback", takeover_state: reply.takeover_state.unwrap_or_default(), hooks: reply.hooks };
    emit(&report, args.json, out)
}

#[derive(Debug, Serialize)]
struct AgentGiveback {
    command: &'static str,
    takeover_state: String,
    /// What the agent's hooks did to stop the partner's service.
    hooks: Vec<String>,
}

impl Report for AgentGiveback {
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for h in &self.hooks {
            writeln!(out, "  stop: {h}")?;
        }
        writeln!(out, "{}: now {}", self.command, self.takeover_state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(path: &str, held: u64, method: &str) -> Map<String, Value> {
        let v = serde_json::json!({ "path": path, "held": held, "method": method });
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn only_disks_held_by_a_plain_preempt_are_a_weaker_fence() {
        let disks = vec![
            disk("/dev/mapper/a", 1, "preempt-abort"),
            disk("/dev/sdb", 1, "preempt"),
            disk("/dev/sdc", 0, "preempt"),
            disk("/dev/sdd", 1, "already-held"),
        ];
        assert_eq!(TakeoverSummary::weak_fence_disks_of(&disks), vec!["/dev/sdb".to_string()]);
        assert!(TakeoverSummary::weak_fence_disks_of(&[disk("/dev/mapper/a", 1, "preempt-abort")]).is_empty());
    }

    #[test]
    fn a_weaker_fence_has_its_own_exit_status_and_kind() {
        let e = Error::WeakFence { disks: vec!["/dev/sdb".into()], report: serde_json::json!({}) };
        assert_eq!(e.exit_code(), crate::error::EXIT_WEAK_FENCE);
        assert_eq!(e.to_json()["error"]["kind"], "weak-fence");
        assert_eq!(e.to_json()["error"]["weak_fence_disks"][0], "/dev/sdb");
    }
}
