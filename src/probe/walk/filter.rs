//! The seam where the walk asks about packet filtering: at each namespace's input, forward and
//! output hooks it calls [`FilterView::verdict`]. The inventory does not read filter chains yet
//! (the filter evaluator is separate work, see issue 11), so [`NoFilterRules`], "no filter rules
//! read", accepts everything; an evaluator over the read chains plugs in here later.

use std::net::Ipv4Addr;

/// The netfilter hook a packet passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Input,
    Forward,
    Output,
}

/// The transport protocol of the walked packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Icmp,
    Tcp,
}

/// Whether conntrack sees the packet as a new flow or as part of one (a reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtState {
    New,
    Established,
}

/// What a filter rule can match on, for one packet at one hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketFacts {
    pub protocol: Protocol,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// TCP only.
    pub dport: Option<u16>,
    /// The interface it came in on (input and forward).
    pub iif: Option<String>,
    /// The interface it leaves by (forward and output).
    pub oif: Option<String>,
    pub ct: CtState,
}

/// A filter's decision; `by` names the chain and rule in one short phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterVerdict {
    Accept,
    Drop {
        by: String,
    },
    Reject {
        by: String,
    },
    /// The filter holds something it cannot evaluate; `why` names it.
    Unknown {
        why: String,
    },
}

/// Packet filtering as the walk sees it.
pub trait FilterView {
    fn verdict(&self, netns: &str, hook: Hook, pkt: &PacketFacts) -> FilterVerdict;
}

/// No filter rules read: every hook accepts.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFilterRules;

impl FilterView for NoFilterRules {
    fn verdict(&self, _netns: &str, _hook: Hook, _pkt: &PacketFacts) -> FilterVerdict {
        FilterVerdict::Accept
    }
}
