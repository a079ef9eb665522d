// SPDX-License-Identifier: GPL-2.0

//! `coretakeover watch`: prints the module's events (the netlink `events`
//! group) as they come: partner-panic, partner-stale, takeover-started,
//! takeover-done, dump-progress, giveback-done.

use crate::error::Error;
use crate::genl::{event_name, Client, Message};
use std::io::Write;

/// Print the module's events as they happen.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
    /// Exit after this many events.
    #[arg(long)]
    count: Option<usize>,
}

fn line(event: &Message, json: bool) -> String {
    let mut fields = event.to_json();
    if json {
        fields.insert("event".into(), event_name(event.cmd).into());
        return serde_json::Value::Object(fields).to_string();
    }
    let mut text = event_name(event.cmd).to_string();
    for (k, v) in fields {
        if k == "takeover-report" {
            continue;
        }
        text.push_str(&format!(" {k}={}", v.as_str().map_or(v.to_string(), str::to_string)));
    }
    if let Some(report) = event.str("takeover-report") {
        for l in report.lines() {
            text.push_str(&format!("\n  {l}"));
        }
    }
    text
}

pub fn run(args: &Args, out: &mut dyn Write) -> Result<(), Error> {
    let mut client = Client::connect()?;
    client.subscribe()?;
    let mut seen = 0;
    loop {
        for event in client.next_events()? {
            writeln!(out, "{}", line(&event, args.json))?;
            out.flush()?;
            seen += 1;
            if args.count.is_some_and(|n| seen >= n) {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genl::{Attr, Value};

    #[test]
    fn events_print_as_text_and_json() {
        let event = Message {
            cmd: 8,
            attrs: vec![Attr::Known(12, Value::Num(2)), Attr::Known(10, Value::Str("/dev/sda preempt-abort 9 us\n".into()))],
        };
        assert_eq!(line(&event, false), "takeover-done disks-held=2\n  /dev/sda preempt-abort 9 us");
        let json: serde_json::Value = serde_json::from_str(&line(&event, true)).unwrap();
        assert_eq!(json["event"], "takeover-done");
        assert_eq!(json["disks-held"], 2);
    }
}
