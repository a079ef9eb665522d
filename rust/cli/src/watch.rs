// SPDX-License-Identifier: GPL-2.0

//! `coretakeover watch`: prints the module's notifications (the netlink
//! `events` group) as they come: partner-state, takeover-state,
//! takeover-started, takeover-done, dump-progress, giveback-done.

use crate::error::Error;
use crate::genl::{event_name, Client, Message};
use crate::takeover::TakeoverSummary;
use std::io::Write;

/// Print the module's events as they happen.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
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
    for (k, v) in fields.iter().filter(|(k, _)| *k != "takeover_disks") {
        text.push_str(&format!(" {k}={}", v.as_str().map_or(v.to_string(), str::to_string)));
    }
    if let Some(summary) = TakeoverSummary::of(event) {
        let mut disks = Vec::new();
        let _ = summary.write_disks(&mut disks, "\n  ");
        text.push_str(String::from_utf8_lossy(&disks).trim_end());
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
    use crate::genl::Decoded;

    #[test]
    fn events_print_as_text_and_json() {
        let disk = Decoded::Nest(vec![("path", Decoded::Str("/dev/sda".into())), ("held", Decoded::Num(1)), ("method", Decoded::Enum("preempt-abort".into())), ("latency-us", Decoded::Num(9))]);
        let event = Message {
            cmd: 8,
            attrs: vec![],
            decoded: vec![("disks-held", Decoded::Num(1)), ("disks-total", Decoded::Num(1)), ("takeover-state", Decoded::Enum("holding".into())), ("takeover-disk", disk)],
        };
        assert_eq!(
            line(&event, false),
            "takeover-done disks_held=1 disks_total=1 takeover_state=holding\n  /dev/sda: held (preempt-abort) in 9 us (pr 0 us)"
        );
        let json: serde_json::Value = serde_json::from_str(&line(&event, true)).unwrap();
        assert_eq!(json["event"], "takeover-done");
        assert_eq!(json["disks_held"], 1);
        assert_eq!(json["takeover_disks"][0]["method"], "preempt-abort");
    }
}
