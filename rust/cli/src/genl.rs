// SPDX-License-Identifier: GPL-2.0

//! The `coretakeover` generic netlink family, spoken with the rust-netlink
//! crates (`netlink-sys`, `netlink-packet-core`, `netlink-packet-generic`).
//!
//! Command and attribute numbers are those of
//! `Documentation/netlink/specs/coretakeover.yaml` (the kernel side is
//! generated from it; `rust/netlink_uapi.h` lists them).

use crate::error::Error;
use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, NetlinkMessage, NetlinkPayload, Nla, NlaBuffer, NlasIterator, Parseable,
    ParseableParametrized, NLM_F_ACK, NLM_F_REQUEST,
};
use netlink_packet_generic::ctrl::nlas::{GenlCtrlAttrs, McastGrpAttrs};
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::{GenlFamily, GenlHeader, GenlMessage};
use netlink_sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr};

pub const FAMILY: &str = "coretakeover";
pub const EVENTS_GROUP: &str = "events";

/// Commands (`CORETAKEOVER_CMD_*`).
pub mod cmd {
    pub const GET_STATUS: u8 = 1;
    pub const TAKEOVER: u8 = 3;
    pub const GIVEBACK: u8 = 4;
    /// Event names by command number.
    pub const EVENTS: [(u8, &str); 6] = [
        (5, "partner-panic"),
        (6, "partner-stale"),
        (7, "takeover-started"),
        (8, "takeover-done"),
        (9, "dump-progress"),
        (10, "giveback-done"),
    ];
}

/// Attributes of the `status` set (`CORETAKEOVER_A_STATUS_*`): number, name, type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Str,
    U32,
    Uint,
}

pub const ATTRS: [(u16, &str, Kind); 18] = [
    (1, "version", Kind::Str),
    (2, "state", Kind::Str),
    (3, "cluster-id", Kind::U32),
    (4, "node-id", Kind::U32),
    (5, "partner-id", Kind::U32),
    (6, "registration-key", Kind::Uint),
    (7, "dump-state", Kind::Str),
    (8, "takeover-state", Kind::Str),
    (9, "partner-state", Kind::Str),
    (10, "takeover-report", Kind::Str),
    (11, "reason", Kind::U32),
    (12, "disks-held", Kind::U32),
    (13, "disks-total", Kind::U32),
    (14, "duration-us", Kind::Uint),
    (15, "dump-percent", Kind::U32),
    (16, "service-disks", Kind::Str),
    (17, "partner-disks", Kind::Str),
    (18, "partner-dump-disk", Kind::Str),
];

/// One attribute's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(String),
    Num(u64),
}

/// An attribute as sent or received.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    Known(u16, Value),
    Unknown(DefaultNla),
}

impl Attr {
    pub fn name(&self) -> Option<&'static str> {
        match self {
            Attr::Known(kind, _) => ATTRS.iter().find(|a| a.0 == *kind).map(|a| a.1),
            Attr::Unknown(_) => None,
        }
    }
}

impl Nla for Attr {
    fn value_len(&self) -> usize {
        match self {
            Attr::Known(_, Value::Str(s)) => s.len() + 1,
            Attr::Known(kind, Value::Num(_)) => match ATTRS.iter().find(|a| a.0 == *kind) {
                Some((_, _, Kind::U32)) => 4,
                _ => 8,
            },
            Attr::Unknown(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Attr::Known(kind, _) => *kind,
            Attr::Unknown(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            Attr::Known(_, Value::Str(s)) => {
                buffer[..s.len()].copy_from_slice(s.as_bytes());
                buffer[s.len()] = 0;
            }
            Attr::Known(_, Value::Num(n)) => {
                let len = self.value_len();
                buffer[..len].copy_from_slice(&n.to_ne_bytes()[..len]);
            }
            Attr::Unknown(nla) => nla.emit_value(buffer),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for Attr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let value = buf.value();
        let known = ATTRS.iter().find(|a| a.0 == buf.kind());
        Ok(match known {
            Some((kind, _, Kind::Str)) => {
                let text = value.split(|&b| b == 0).next().unwrap_or(&[]);
                Attr::Known(*kind, Value::Str(String::from_utf8_lossy(text).into_owned()))
            }
            Some((kind, _, _)) => {
                let n = match value.len() {
                    4 => u64::from(u32::from_ne_bytes(value.try_into().map_err(|_| DecodeError::from("u32"))?)),
                    8 => u64::from_ne_bytes(value.try_into().map_err(|_| DecodeError::from("u64"))?),
                    n => return Err(DecodeError::from(format!("attribute {kind}: {n} bytes for a number"))),
                };
                Attr::Known(*kind, Value::Num(n))
            }
            None => Attr::Unknown(DefaultNla::parse(buf)?),
        })
    }
}

/// A message of the family: a command and its attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub cmd: u8,
    pub attrs: Vec<Attr>,
}

impl Message {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.attrs.iter().find(|a| a.name() == Some(name)).map(|a| match a {
            Attr::Known(_, v) => v,
            Attr::Unknown(_) => unreachable!("unknown attributes have no name"),
        })
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    pub fn num(&self, name: &str) -> Option<u64> {
        match self.get(name) {
            Some(Value::Num(n)) => Some(*n),
            _ => None,
        }
    }

    /// The message as a JSON object of its named attributes.
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut map = serde_json::Map::new();
        for a in &self.attrs {
            if let (Some(name), Attr::Known(_, v)) = (a.name(), a) {
                let v = match v {
                    Value::Str(s) => serde_json::Value::from(s.clone()),
                    Value::Num(n) => serde_json::Value::from(*n),
                };
                map.insert(name.to_string(), v);
            }
        }
        map
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
        self.attrs.as_slice().buffer_len()
    }
    fn emit(&self, buffer: &mut [u8]) {
        self.attrs.as_slice().emit(buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for Message {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        let attrs = NlasIterator::new(buf).map(|nla| nla.and_then(|nla| Attr::parse(&nla))).collect::<Result<_, _>>()?;
        Ok(Self { cmd: header.cmd, attrs })
    }
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

impl Client {
    /// Connects and resolves the family; `NotLoaded` if the module is not.
    pub fn connect() -> Result<Self, Error> {
        let mut socket = Socket::new(NETLINK_GENERIC).map_err(io)?;
        socket.bind_auto().map_err(io)?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(io)?;
        let mut client = Self { socket, family_id: 0, events_group: None, seq: 0 };
        let mut request = GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(FAMILY.into())],
        });
        request.finalize();
        let reply: GenlMessage<GenlCtrl> = client.exchange(request).map_err(|e| match e {
            Error::NetlinkErrno(2) => Error::NotLoaded("the generic netlink family coretakeover".into()),
            e => e,
        })?.ok_or_else(|| Error::Netlink("no reply from nlctrl".into()))?;
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

    /// Sends `payload` with an ACK request and returns its reply, if any.
    fn exchange<F>(&mut self, mut payload: GenlMessage<F>) -> Result<Option<GenlMessage<F>>, Error>
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
                            return match e.code {
                                None => Ok(reply),
                                Some(code) => Err(Error::NetlinkErrno(-code.get())),
                            };
                        }
                        NetlinkPayload::Done(_) => return Ok(reply),
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

    /// Runs command `cmd` and returns its reply (empty for none).
    pub fn request(&mut self, cmd: u8, attrs: Vec<Attr>) -> Result<Message, Error> {
        let mut request = GenlMessage::from_payload(Message { cmd, attrs });
        request.finalize();
        Ok(self.exchange(request)?.map_or(Message { cmd, attrs: vec![] }, |m| m.payload))
    }

    /// Joins the `events` group.
    pub fn subscribe(&mut self) -> Result<(), Error> {
        let group = self.events_group.ok_or_else(|| Error::Netlink("the family has no events group".into()))?;
        self.socket.add_membership(group).map_err(io)
    }

    /// Waits for the next event (after `subscribe`).
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

/// The event name of command `cmd`.
pub fn event_name(cmd: u8) -> &'static str {
    cmd::EVENTS.iter().find(|e| e.0 == cmd).map_or("unknown", |e| e.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip_through_the_wire_format() {
        let msg = Message {
            cmd: cmd::GET_STATUS,
            attrs: vec![
                Attr::Known(8, Value::Str("holding".into())),
                Attr::Known(3, Value::Num(7)),
                Attr::Known(6, Value::Num(0x4354_0000_0007_0001)),
            ],
        };
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.emit(&mut buf);
        let header = GenlHeader { cmd: cmd::GET_STATUS, version: 1 };
        let back = Message::parse_with_param(&buf, header).unwrap();
        assert_eq!(back, msg);
        assert_eq!(back.str("takeover-state"), Some("holding"));
        assert_eq!(back.num("registration-key"), Some(0x4354_0000_0007_0001));
        assert_eq!(back.to_json()["cluster-id"], 7);
    }

    #[test]
    fn the_attribute_table_matches_the_spec() {
        let spec = include_str!("../../../Documentation/netlink/specs/coretakeover.yaml");
        for (i, (number, name, _)) in ATTRS.iter().enumerate() {
            assert_eq!(usize::from(*number), i + 1, "attributes are numbered from 1 in spec order");
            assert!(spec.contains(&format!("name: {name}\n")), "{name} is not in the spec");
        }
        for (_, name) in cmd::EVENTS {
            assert!(spec.contains(&format!("name: {name}\n")), "event {name} is not in the spec");
        }
    }
}
