// SPDX-License-Identifier: GPL-2.0

//! A node's identity configuration and the state it puts the node in.
//!
//! The module keeps the configuration in one 64-bit atomic word, so sysfs
//! readers and writers need no lock and never see half an update; this file
//! defines that word's layout.
//!
//! | bits   | meaning                       |
//! |--------|-------------------------------|
//! | 63..48 | reserved, zero                |
//! | 47..16 | cluster id (0: not set)       |
//! | 15..0  | node id (0: not set)          |

use super::ids::{ClusterId, NodeId};
use super::keys::RegistrationKey;

/// Who this node is. Both halves are set by the administrator, one at a time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeConfig {
    /// The pair this node belongs to.
    pub cluster: Option<ClusterId>,
    /// This node within the pair.
    pub node: Option<NodeId>,
}

/// What the node is doing, as the `state` attribute reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Cluster id or node id is missing: the node has no registration key.
    Unconfigured = 0,
    /// The node knows who it is and can derive its registration key.
    Configured = 1,
}

impl NodeState {
    /// The name reported to userspace; part of the sysfs ABI.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unconfigured => "unconfigured",
            Self::Configured => "configured",
        }
    }
}

impl NodeConfig {
    /// Packs the configuration into the module's atomic word.
    pub const fn pack(self) -> u64 {
        let cluster = match self.cluster {
            Some(c) => c.get() as u64,
            None => 0,
        };
        let node = match self.node {
            Some(n) => n.get() as u64,
            None => 0,
        };
        (cluster << 16) | node
    }

    /// Unpacks the module's atomic word. Reserved bits are ignored.
    pub const fn unpack(word: u64) -> Self {
        Self {
            cluster: ClusterId::new((word >> 16) as u32),
            node: NodeId::new(word as u16),
        }
    }

    /// The registration key, once both ids are known.
    pub fn registration_key(self) -> Option<RegistrationKey> {
        Some(RegistrationKey::derive(self.cluster?, self.node?))
    }

    /// The state this configuration puts the node in.
    pub fn state(self) -> NodeState {
        match self.registration_key() {
            Some(_) => NodeState::Configured,
            None => NodeState::Unconfigured,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_word_is_unconfigured() {
        let config = NodeConfig::unpack(0);
        assert_eq!(config, NodeConfig::default());
        assert_eq!(config.state(), NodeState::Unconfigured);
        assert_eq!(config.registration_key(), None);
    }

    #[test]
    fn pins_the_word_layout() {
        let config = NodeConfig {
            cluster: ClusterId::new(0xdead_beef),
            node: NodeId::new(7),
        };
        assert_eq!(config.pack(), 0x0000_dead_beef_0007);
        assert_eq!(config.state(), NodeState::Configured);
        assert_eq!(config.state().as_str(), "configured");
    }

    #[test]
    fn half_configured_is_unconfigured() {
        let only_node = NodeConfig { cluster: None, node: NodeId::new(1) };
        assert_eq!(only_node.state(), NodeState::Unconfigured);
        assert_eq!(NodeConfig::unpack(only_node.pack()), only_node);
    }
}
