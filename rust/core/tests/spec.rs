// SPDX-License-Identifier: GPL-2.0

//! The numbers the module puts in netlink messages are the netlink spec's:
//! every enum of the functional core against its list in
//! Documentation/netlink/specs/coretakeover.yaml.

use coretakeover_core::partner::{Method, Phase, Reason, Verdict};

/// The entry names of enum `name` in the spec, in order (entries given as a
/// flow list or as a block list of `name:` items).
fn spec_enum(name: &str) -> Vec<String> {
    let spec = include_str!("../../../Documentation/netlink/specs/coretakeover.yaml");
    let start = spec.find(&format!("    name: {name}\n")).unwrap_or_else(|| panic!("enum {name} not in the spec"));
    let rest = &spec[start..];
    let entries = &rest[rest.find("entries:").expect("entries")..];
    let first = entries.lines().next().unwrap();
    if let Some(list) = first.split_once('[') {
        return list.1.trim_end_matches(']').split(',').map(|e| e.trim().trim_end_matches(" ]").trim().to_string()).collect();
    }
    let mut names = Vec::new();
    for line in entries.lines().skip(1) {
        let indent = line.len() - line.trim_start().len();
        if !line.trim().is_empty() && indent <= 4 {
            break;
        }
        if let Some(n) = line.trim().strip_prefix("name: ") {
            if indent == 8 {
                names.push(n.to_string());
            }
        }
    }
    names
}

#[test]
fn takeover_states_are_numbered_as_the_spec() {
    let phases = [Phase::Idle, Phase::Watching, Phase::TakingOver, Phase::Holding, Phase::Partial, Phase::Fenced];
    let spec = spec_enum("takeover-state");
    assert_eq!(spec.len(), phases.len());
    for p in phases {
        assert_eq!(spec[p.code() as usize], p.as_str());
    }
}

#[test]
fn partner_states_are_numbered_as_the_spec() {
    let verdicts = [Verdict::Unknown, Verdict::Alive, Verdict::Panicked, Verdict::Stale { silent_ms: 1 }, Verdict::Stopped, Verdict::Unreachable];
    let spec = spec_enum("partner-state");
    assert_eq!(spec.len(), verdicts.len());
    for v in verdicts {
        assert_eq!(spec[v.code() as usize], v.as_str());
    }
}

#[test]
fn methods_and_reasons_are_numbered_as_the_spec() {
    let spec = spec_enum("method");
    for m in [Method::PreemptAbort, Method::Preempt, Method::AlreadyHeld, Method::Reserve] {
        assert_eq!(spec[m as usize], m.as_str());
    }
    let spec = spec_enum("reason");
    for r in [Reason::PanicBeacon, Reason::StaleHeartbeat, Reason::Command] {
        assert_eq!(spec[r as usize], r.as_str());
    }
    assert_eq!(spec_enum("dump-state"), ["disarmed", "armed"]);
    assert_eq!(spec_enum("node-state"), ["unconfigured", "configured"]);
}
