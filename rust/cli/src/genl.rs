// SPDX-License-Identifier: GPL-2.0

//! The `coretakeover` generic netlink family, spoken with the rust-netlink
//! crates (`netlink-sys`, `netlink-packet-core`, `netlink-packet-generic`).
//!
//! Command, attribute and enum numbers are those of
//! `Documentation/netlink/specs/coretakeover.yaml` (the kernel side is
//! generated from it; `rust/netlink_uapi.h` lists them); a test checks the
//! tables below against the spec. Replies are decoded by those tables:
//! enums become their names, nests their attributes, and JSON keys are the
//! spec's names in snake_case, a multi-attr's name in the plural. A refused
//! request comes back as its errno and the module's extended ack message.

use crate::error::Error;
use netlink_packet_core::{
    DecodeError, Emitable, NetlinkMessage, NetlinkPayload, NlasIterator, ParseableParametrized, NLM_F_ACK,
    NLM_F_REQUEST,
};
use netlink_packet_generic::ctrl::nlas::{GenlCtrlAttrs, McastGrpAttrs};
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::{GenlFamily, GenlHeader, GenlMessage};
use netlink_sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr};
use serde_json::{Map, Value};

pub const FAMILY: &str = "coretakeover";
pub const EVENTS_GROUP: &str = "events";

/// Commands (`CORETAKEOVER_CMD_*`).
pub mod cmd {
    pub const GET_STATUS: u8 = 1;
    pub const SET_CONFIG: u8 = 2;
    pub const TAKEOVER: u8 = 3;
    pub const GIVEBACK: u8 = 4;
    /// Notifications by command number (the spec's names without "-ntf").
    pub const NOTIFICATIONS: [(u8, &str); 6] = [
        (5, "partner-state"),
        (6, "takeover-state"),
        (7, "takeover-started"),
        (8, "takeover-done"),
        (9, "dump-progress"),
        (10, "giveback-done"),
    ];
}

/// The spec's enums, in order.
pub mod enums {
    pub const REASON: &[&str] = &["panic-beacon", "stale-heartbeat", "command"];
    pub const NODE_STATE: &[&str] = &["unconfigured", "configured"];
    pub const DUMP_STATE: &[&str] = &["disarmed", "armed"];
    pub const TAKEOVER_STATE: &[&str] = &["idle", "watching", "taking-over", "holding", "partial", "fenced"];
    pub const PARTNER_STATE: &[&str] = &["unknown", "alive", "panicked", "stale", "stopped", "unreachable"];
    pub const METHOD: &[&str] = &["preempt-abort", "preempt", "already-held", "reserve"];
}

/// The type of an attribute.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Str,
    U8,
    U32,
    Uint,
    /// A u32 of the named enum (its entries in order).
    Enum(&'static [&'static str]),
    /// A nest of the given set (`disk`, `plan-row`).
    Nest(&'static [Def]),
}

/// One attribute of a set: number, spec name, type, and whether it may
/// come more than once.
#[derive(Clone, Copy, Debug)]
pub struct Def {
    pub number: u16,
    pub name: &'static str,
    pub kind: Kind,
    pub multi: bool,
}

const fn def(number: u16, name: &'static str, kind: Kind) -> Def {
    Def { number, name, kind, multi: false }
}

const fn multi(number: u16, name: &'static str, kind: Kind) -> Def {
    Def { number, name, kind, multi: true }
}

/// The `disk` set.
pub const DISK: [Def; 9] = [
    def(1, "path", Kind::Str),
    def(2, "held", Kind::U8),
    def(3, "method", Kind::Enum(enums::METHOD)),
    def(4, "error", Kind::U32),
    def(5, "message", Kind::Str),
    def(6, "latency-us", Kind::Uint),
    def(7, "pr-us", Kind::Uint),
    def(8, "attempts", Kind::U32),
    def(9, "queued-us", Kind::Uint),
];

/// The `plan-row` set.
pub const PLAN_ROW: [Def; 4] = [
    def(1, "filter", Kind::Str),
    def(2, "predicted-ms", Kind::U32),
    def(3, "predicted-mib", Kind::U32),
    def(4, "verdict", Kind::Str),
];

/// The `status` set.
pub const STATUS: [Def; 23] = [
    def(1, "version", Kind::Str),
    def(2, "state", Kind::Enum(enums::NODE_STATE)),
    def(3, "cluster-id", Kind::U32),
    def(4, "node-id", Kind::U32),
    def(5, "partner-id", Kind::U32),
    def(6, "registration-key", Kind::Uint),
    def(7, "dump-state", Kind::Enum(enums::DUMP_STATE)),
    def(8, "dump-disk", Kind::Str),
    def(9, "takeover-state", Kind::Enum(enums::TAKEOVER_STATE)),
    def(10, "partner-state", Kind::Enum(enums::PARTNER_STATE)),
    def(11, "reason", Kind::Enum(enums::REASON)),
    def(12, "disks-held", Kind::U32),
    def(13, "disks-total", Kind::U32),
    def(14, "duration-us", Kind::Uint),
    def(15, "dump-percent", Kind::U32),
    multi(16, "service-disk", Kind::Nest(&DISK)),
    multi(17, "partner-disk", Kind::Nest(&DISK)),
    def(18, "partner-dump-disk", Kind::Str),
    multi(19, "takeover-disk", Kind::Nest(&DISK)),
    def(20, "dump-budget-ms", Kind::U32),
    multi(21, "dump-plan-row", Kind::Nest(&PLAN_ROW)),
    def(22, "dump-codec", Kind::Str),
    def(23, "dump-encrypted", Kind::U8),
];

/// `NLA_F_NESTED`: set on every nest we send (strict validation wants it).
const NLA_F_NESTED: u16 = 1 << 15;
const NLA_TYPE_MASK: u16 = 0x3fff;

/// One attribute to send.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    U32(u16, u32),
    Str(u16, String),
    Nest(u16, Vec<Attr>),
}

impl Attr {
    fn encode(&self, out: &mut Vec<u8>) {
        let (kind, payload) = match self {
            Attr::U32(kind, v) => (*kind, v.to_ne_bytes().to_vec()),
            Attr::Str(kind, s) => (*kind, [s.as_bytes(), b"\0"].concat()),
            Attr::Nest(kind, inner) => {
                let mut payload = Vec::new();
                inner.iter().for_each(|a| a.encode(&mut payload));
                (*kind | NLA_F_NESTED, payload)
            }
        };
        let len = 4 + payload.len();
        out.extend_from_slice(&(len as u16).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&payload);
        out.resize(out.len().next_multiple_of(4), 0);
    }
}

/// The number of attribute `name` of the `status` set.
pub fn number(name: &str) -> u16 {
    STATUS.iter().find(|d| d.name == name).map_or(0, |d| d.number)
}

/// A disk nest holding only its path (set-config).
pub fn disk_path(attr: &str, path: &str) -> Attr {
    Attr::Nest(number(attr), vec![Attr::Str(1, path.to_string())])
}

/// A decoded attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum Decoded {
    Str(String),
    Num(u64),
    /// An enum's entry name (or its number, if the spec has no such entry).
    Enum(String),
    Nest(Vec<(&'static str, Decoded)>),
}

impl Decoded {
    fn to_json(&self) -> Value {
        match self {
            Decoded::Str(s) | Decoded::Enum(s) => Value::from(s.clone()),
            Decoded::Num(n) => Value::from(*n),
            Decoded::Nest(attrs) => Value::Object(attrs_to_json(attrs, &DISK)),
        }
    }
}

/// A JSON key: the spec's name in snake_case.
pub fn json_key(name: &str) -> String {
    name.replace('-', "_")
}

/// Decoded attributes as a JSON object: one key per attribute (a
/// multi-attr as an array under its plural).
fn attrs_to_json(attrs: &[(&'static str, Decoded)], set: &[Def]) -> Map<String, Value> {
    let mut map = Map::new();
    for (name, value) in attrs {
        let is_multi = set.iter().any(|d| d.name == *name && d.multi);
        if is_multi {
            let key = json_key(name) + "s";
            match map.entry(key).or_insert_with(|| Value::Array(vec![])) {
                Value::Array(list) => list.push(value.to_json()),
                other => *other = Value::Array(vec![value.to_json()]),
            }
        } else {
            map.insert(json_key(name), value.to_json());
        }
    }
    map
}

fn decode_attrs(buf: &[u8], set: &[Def]) -> Result<Vec<(&'static str, Decoded)>, DecodeError> {
    let mut attrs = Vec::new();
    for nla in NlasIterator::new(buf) {
        let nla = nla?;
        let kind = nla.kind() & NLA_TYPE_MASK;
        let value = nla.value();
        let Some(def) = set.iter().find(|d| d.number == kind) else { continue };
        let number = |value: &[u8]| -> Result<u64, DecodeError> {
            Ok(match value.len() {
                1 => u64::from(value[0]),
                4 => u64::from(u32::from_ne_bytes(value.try_into().map_err(|_| DecodeError::from("u32"))?)),
                8 => u64::from_ne_bytes(value.try_into().map_err(|_| DecodeError::from("u64"))?),
                n => return Err(DecodeError::from(format!("attribute {}: {n} bytes for a number", def.name))),
            })
        };
        let decoded = match def.kind {
            Kind::Str => {
                let text = value.split(|&b| b == 0).next().unwrap_or(&[]);
                Decoded::Str(String::from_utf8_lossy(text).into_owned())
            }
            Kind::U8 | Kind::U32 | Kind::Uint => Decoded::Num(number(value)?),
            Kind::Enum(names) => {
                let n = number(value)?;
                Decoded::Enum(names.get(n as usize).map_or_else(|| n.to_string(), |s| s.to_string()))
            }
            Kind::Nest(set) => Decoded::Nest(decode_attrs(value, set)?),
        };
        attrs.push((def.name, decoded));
    }
    Ok(attrs)
}

/// A message of the family: a command and its attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub cmd: u8,
    /// Sent: the request's attributes.
    pub attrs: Vec<Attr>,
    /// Received: the decoded attributes, in order.
    pub decoded: Vec<(&'static str, Decoded)>,
}

impl Message {
    pub fn request(cmd: u8, attrs: Vec<Attr>) -> Self {
        Self { cmd, attrs, decoded: vec![] }
    }

    pub fn get(&self, name: &str) -> Option<&Decoded> {
        self.decoded.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// A string or enum attribute.
    pub fn str(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(Decoded::Str(s) | Decoded::Enum(s)) => Some(s),
            _ => None,
        }
    }

    pub fn num(&self, name: &str) -> Option<u64> {
        match self.get(name) {
            Some(Decoded::Num(n)) => Some(*n),
            _ => None,
        }
    }

    /// Every nest `name` (a multi-attr), as JSON objects.
    pub fn nests(&self, name: &str) -> Vec<Map<String, Value>> {
        self.decoded
            .iter()
            .filter(|(n, _)| *n == name)
            .filter_map(|(_, v)| match v.to_json() {
                Value::Object(map) => Some(map),
                _ => None,
            })
            .collect()
    }

    /// The message as a JSON object (snake_case keys).
    pub fn to_json(&self) -> Map<String, Value> {
        attrs_to_json(&self.decoded, &STATUS)
    }
}

impl GenlFamily for Message {
    fn family_name() -> &'static str {
        FAMILY
    }
    fn command(&self) -> u8 {
        self.cmd
    }
    fn version(&self) -> u8 {
        1
    }
}

impl Emitable for Message {
    fn buffer_len(&self) -> usize {
        let mut buf = Vec::new();
        self.attrs.iter().for_each(|a| a.encode(&mut buf));
        buf.len()
    }
    fn emit(&self, buffer: &mut [u8]) {
        let mut buf = Vec::new();
        self.attrs.iter().for_each(|a| a.encode(&mut buf));
        buffer[..buf.len()].copy_from_slice(&buf);
    }
}

impl ParseableParametrized<[u8], GenlHeader> for Message {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        Ok(Self { cmd: header.cmd, attrs: vec![], decoded: decode_attrs(buf, &STATUS)? })
    }
}

/// The extended ack message in the payload of an error (after the code):
/// the request's header (16 bytes, as NETLINK_CAP_ACK asks), then TLVs.
fn extack_message(payload: &[u8]) -> Option<String> {
    const NLMSGERR_ATTR_MSG: u16 = 1;
    let tlvs = payload.get(16..)?;
    NlasIterator::new(tlvs).filter_map(Result::ok).find(|nla| nla.kind() & NLA_TYPE_MASK == NLMSGERR_ATTR_MSG).map(|nla| {
        let text = nla.value().split(|&b| b == 0).next().unwrap_or(&[]);
        String::from_utf8_lossy(text).into_owned()
    })
}

/// A netlink socket bound to the coretakeover family.
pub struct Client {
    socket: Socket,
    family_id: u16,
    events_group: Option<u32>,
    seq: u32,
}

fn io(source: std::io::Error) -> Error {
    Error::Netlink(source.to_string())
}

/// What a request got: its reply (if any) and its result.
pub struct Answer {
    pub reply: Option<Message>,
    pub result: Result<(), Error>,
}

impl Client {
    /// Connects and resolves the family; `NotLoaded` if the module is not.
    pub fn connect() -> Result<Self, Error> {
        let mut socket = Socket::new(NETLINK_GENERIC).map_err(io)?;
        socket.bind_auto().map_err(io)?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(io)?;
        // Refusals carry the module's reason; the request is not echoed.
        socket.set_ext_ack(true).map_err(io)?;
        socket.set_cap_ack(true).map_err(io)?;
        let mut client = Self { socket, family_id: 0, events_group: None, seq: 0 };
        let mut request = GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(FAMILY.into())],
        });
        request.finalize();
        let (reply, result) = client.exchange(request)?;
        result.map_err(|e| match e {
            Error::Module { errno: 2, .. } => Error::NotLoaded("the generic netlink family coretakeover".into()),
            e => e,
        })?;
        let reply: GenlMessage<GenlCtrl> = reply.ok_or_else(|| Error::Netlink("no reply from nlctrl".into()))?;
        for nla in reply.payload.nlas {
            match nla {
                GenlCtrlAttrs::FamilyId(id) => client.family_id = id,
                GenlCtrlAttrs::McastGroups(groups) => {
                    for group in groups {
                        let name = group.iter().find_map(|a| match a {
                            McastGrpAttrs::Name(n) => Some(n.clone()),
                            _ => None,
                        });
                        let id = group.iter().find_map(|a| match a {
                            McastGrpAttrs::Id(i) => Some(*i),
                            _ => None,
                        });
                        if name.as_deref() == Some(EVENTS_GROUP) {
                            client.events_group = id;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(client)
    }

    /// Sends `payload` with an ACK request; returns its reply, if any, and
    /// the ACK's result (a refusal with the errno and extended ack message).
    fn exchange<F>(&mut self, mut payload: GenlMessage<F>) -> Result<(Option<GenlMessage<F>>, Result<(), Error>), Error>
    where
        F: GenlFamily + Emitable + ParseableParametrized<[u8], GenlHeader> + std::fmt::Debug,
    {
        if self.family_id != 0 {
            payload.set_resolved_family_id(self.family_id);
        }
        self.seq += 1;
        let mut msg = NetlinkMessage::from(payload);
        msg.header.flags = NLM_F_REQUEST | NLM_F_ACK;
        msg.header.sequence_number = self.seq;
        msg.finalize();
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut buf);
        self.socket.send(&buf, 0).map_err(io)?;
        let mut reply = None;
        loop {
            let (data, _) = self.socket.recv_from_full().map_err(io)?;
            let mut offset = 0;
            while offset < data.len() {
                let msg = NetlinkMessage::<GenlMessage<F>>::deserialize(&data[offset..])
                    .map_err(|e| Error::Netlink(e.to_string()))?;
                let len = msg.header.length as usize;
                if msg.header.sequence_number == self.seq {
                    match msg.payload {
                        NetlinkPayload::InnerMessage(m) => reply = Some(m),
                        NetlinkPayload::Error(e) => {
                            let result = match e.code {
                                None => Ok(()),
                                Some(code) => Err(Error::Module {
                                    errno: -code.get(),
                                    message: extack_message(&e.header),
                                }),
                            };
                            return Ok((reply, result));
                        }
                        NetlinkPayload::Done(_) => return Ok((reply, Ok(()))),
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                offset += len;
            }
        }
    }

    /// Runs command `cmd`: its reply (if any) and its result.
    pub fn ask(&mut self, cmd: u8, attrs: Vec<Attr>) -> Result<Answer, Error> {
        let mut request = GenlMessage::from_payload(Message::request(cmd, attrs));
        request.finalize();
        let (reply, result) = self.exchange(request)?;
        Ok(Answer { reply: reply.map(|m| m.payload), result })
    }

    /// Runs command `cmd` and returns its reply (empty for none); a refusal
    /// is the error.
    pub fn request(&mut self, cmd: u8, attrs: Vec<Attr>) -> Result<Message, Error> {
        let answer = self.ask(cmd, attrs)?;
        answer.result?;
        Ok(answer.reply.unwrap_or_else(|| Message::request(cmd, vec![])))
    }

    /// Joins the `events` group.
    pub fn subscribe(&mut self) -> Result<(), Error> {
        let group = self.events_group.ok_or_else(|| Error::Netlink("the family has no events group".into()))?;
        self.socket.add_membership(group).map_err(io)
    }

    /// Waits for the next notifications (after `subscribe`).
    pub fn next_events(&mut self) -> Result<Vec<Message>, Error> {
        let (data, _) = self.socket.recv_from_full().map_err(io)?;
        let mut events = Vec::new();
        let mut offset = 0;
        while offset < data.len() {
            let msg = NetlinkMessage::<GenlMessage<Message>>::deserialize(&data[offset..])
                .map_err(|e| Error::Netlink(e.to_string()))?;
            let len = msg.header.length as usize;
            if let NetlinkPayload::InnerMessage(m) = msg.payload {
                events.push(m.payload);
            }
            if len == 0 {
                break;
            }
            offset += len;
        }
        Ok(events)
    }
}

/// The name of notification `cmd`.
pub fn event_name(cmd: u8) -> &'static str {
    cmd::NOTIFICATIONS.iter().find(|e| e.0 == cmd).map_or("unknown", |e| e.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply as the module builds it.
    fn reply() -> Vec<u8> {
        let mut buf = Vec::new();
        Attr::U32(number("takeover-state"), 3).encode(&mut buf);
        Attr::U32(number("cluster-id"), 7).encode(&mut buf);
        for (path, held) in [("/dev/sdc", 1u32), ("/dev/sdd", 0)] {
            let mut disk = vec![Attr::Str(1, path.into())];
            if held == 1 {
                disk.push(Attr::U32(3, 0));
            } else {
                disk.extend([Attr::U32(4, 52), Attr::Str(5, "reservation conflict".into())]);
            }
            Attr::Nest(number("takeover-disk"), disk).encode(&mut buf);
        }
        buf
    }

    #[test]
    fn replies_decode_by_the_spec_into_snake_case_json() {
        let header = GenlHeader { cmd: cmd::TAKEOVER, version: 1 };
        let m = Message::parse_with_param(&reply(), header).unwrap();
        assert_eq!(m.str("takeover-state"), Some("holding"));
        assert_eq!(m.num("cluster-id"), Some(7));
        let json = Value::Object(m.to_json());
        assert_eq!(json["takeover_state"], "holding");
        assert_eq!(json["takeover_disks"][0]["path"], "/dev/sdc");
        assert_eq!(json["takeover_disks"][0]["method"], "preempt-abort");
        assert_eq!(json["takeover_disks"][1]["error"], 52);
        assert_eq!(json["takeover_disks"][1]["message"], "reservation conflict");
        assert_eq!(m.nests("takeover-disk").len(), 2);
    }

    #[test]
    fn nests_are_sent_flagged_and_padded() {
        let mut buf = Vec::new();
        disk_path("service-disk", "/dev/sda").encode(&mut buf);
        // nest header (len 16, type 16 | NLA_F_NESTED), then the path (len 13 + 3 pad).
        assert_eq!(&buf[..4], &[20, 0, 16, 0x80]);
        assert_eq!(&buf[4..8], &[13, 0, 1, 0]);
        assert_eq!(&buf[8..17], b"/dev/sda\0");
        assert_eq!(buf.len(), 20);
    }

    #[test]
    fn the_extended_ack_message_is_found_after_the_capped_header() {
        let mut payload = vec![0u8; 16];
        let mut tlv = Vec::new();
        Attr::Str(1, "takeover: 1 of 2 disks held".into()).encode(&mut tlv);
        payload.extend_from_slice(&tlv);
        assert_eq!(extack_message(&payload).as_deref(), Some("takeover: 1 of 2 disks held"));
        assert_eq!(extack_message(&[0u8; 16]), None);
    }

    /// The entries of enum `name` in the spec, as a flow or a block list.
    fn spec_enum(spec: &str, name: &str) -> Vec<String> {
        let start = spec.find(&format!("    name: {name}\n")).unwrap_or_else(|| panic!("enum {name}"));
        let rest = &spec[start..];
        let entries = &rest[rest.find("entries:").unwrap()..];
        let first = entries.lines().next().unwrap();
        if let Some((_, list)) = first.split_once('[') {
            return list.trim_end_matches(']').split(',').map(|e| e.trim().to_string()).filter(|e| !e.is_empty()).collect();
        }
        entries
            .lines()
            .skip(1)
            .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > 4)
            .filter_map(|l| l.strip_prefix("        name: ").map(str::to_string))
            .collect()
    }

    #[test]
    fn the_tables_match_the_spec() {
        let spec = include_str!("../../../Documentation/netlink/specs/coretakeover.yaml");
        let sets = spec.split("    name: status\n").collect::<Vec<_>>();
        let (disk_part, status_part) = (sets[0], sets[1]);
        for (set, part) in [(&DISK[..], disk_part), (&PLAN_ROW[..], disk_part), (&STATUS[..], status_part)] {
            let names: Vec<&str> =
                part.lines().filter_map(|l| l.strip_prefix("        name: ")).collect();
            for (i, d) in set.iter().enumerate() {
                assert_eq!(usize::from(d.number), i + 1, "attributes are numbered from 1 in spec order");
                assert!(names.contains(&d.name), "{} is not in the spec", d.name);
            }
        }
        for (name, entries) in [
            ("reason", enums::REASON),
            ("node-state", enums::NODE_STATE),
            ("dump-state", enums::DUMP_STATE),
            ("takeover-state", enums::TAKEOVER_STATE),
            ("partner-state", enums::PARTNER_STATE),
            ("method", enums::METHOD),
        ] {
            assert_eq!(spec_enum(spec, name), entries, "enum {name}");
        }
        for (_, name) in cmd::NOTIFICATIONS {
            assert!(spec.contains(&format!("name: {name}-ntf\n")), "notification {name}-ntf is not in the spec");
        }
    }
}
