// SPDX-License-Identifier: GPL-2.0

//! Property tests of the functional core, on the code the module runs.

use coretakeover_core::config::NodeConfig;
use coretakeover_core::ids::{ClusterId, NodeId, ParseIdError};
use coretakeover_core::keys::{RegistrationKey, KEY_TAG};
use proptest::prelude::*;

fn cluster() -> impl Strategy<Value = ClusterId> {
    (1..=u32::MAX).prop_map(|v| ClusterId::new(v).unwrap())
}

fn node() -> impl Strategy<Value = NodeId> {
    (1..=u16::MAX).prop_map(|v| NodeId::new(v).unwrap())
}

proptest! {
    #[test]
    fn key_decodes_to_its_ids(c in cluster(), n in node()) {
        let key = RegistrationKey::derive(c, n);
        prop_assert_eq!(key.decode(), Some((c, n)));
        prop_assert_ne!(key.get(), 0);
        prop_assert_eq!((key.get() >> 48) as u16, KEY_TAG);
        prop_assert_eq!(u64::from_be_bytes(key.to_wire()), key.get());
    }

    #[test]
    fn distinct_nodes_get_distinct_keys(c1 in cluster(), n1 in node(), c2 in cluster(), n2 in node()) {
        let same = (c1, n1) == (c2, n2);
        prop_assert_eq!(RegistrationKey::derive(c1, n1) == RegistrationKey::derive(c2, n2), same);
    }

    #[test]
    fn any_raw_key_that_decodes_rederives(raw in any::<u64>()) {
        if let Some((c, n)) = RegistrationKey::from_raw(raw).decode() {
            prop_assert_eq!(RegistrationKey::derive(c, n).get(), raw);
        }
    }

    #[test]
    fn config_word_roundtrips(c in proptest::option::of(cluster()), n in proptest::option::of(node())) {
        let config = NodeConfig { cluster: c, node: n };
        prop_assert_eq!(NodeConfig::unpack(config.pack()), config);
        prop_assert_eq!(config.registration_key().is_some(), c.is_some() && n.is_some());
    }

    #[test]
    fn ids_print_and_parse_back(c in cluster(), n in node()) {
        prop_assert_eq!(ClusterId::parse(&c.to_string()), Ok(c));
        prop_assert_eq!(ClusterId::parse(&format!("{:#x}\n", c.get())), Ok(c));
        prop_assert_eq!(NodeId::parse(&n.to_string()), Ok(n));
    }

    #[test]
    fn parsing_never_panics_and_accepts_only_ids(text in "\\PC{0,24}") {
        match ClusterId::parse(&text) {
            Ok(c) => prop_assert_eq!(ClusterId::parse(&c.to_string()), Ok(c)),
            Err(ParseIdError::OutOfRange { max }) => prop_assert_eq!(max, u64::from(u32::MAX)),
            Err(_) => {}
        }
    }
}
