//! Why nobody answered: when a who-has finds no answer, the walk names the design that keeps
//! the two interfaces apart (macvlan's parent and children, private and VEPA siblings, ipvlan
//! l3's missing ARP), in the one plain sentence a learner reads, instead of only saying that
//! nobody answered (the ipvlan child and parent sentence is shared with the walk's l3 routing).
//! The sentences are the kernel's documented behaviour
//! (drivers/net/macvlan.c, Documentation/networking/ipvlan.rst); the walk has already decided
//! that the frames do not meet, this only says why.

use std::net::Ipv4Addr;

use crate::inventory::LinkKind;

use super::l2::IfId;
use super::{World, IPVLAN_PARENT};

pub(super) const MACVLAN_TO_PARENT: &str = "macvlan children cannot reach their parent's own \
stack: the parent never receives frames from its children (kernel macvlan design); add a host \
shim to bridge them";

pub(super) const PRIVATE_TO_PARENT: &str = "a private macvlan child cannot reach its parent: its \
broadcasts (its ARP) are sent back only to itself even by a hairpin switch, and a host shim is a \
sibling it may not talk to";

pub(super) const PASSTHRU_TO_PARENT: &str = "a passthru child takes over its parent: its frames \
go out to the wire and never reach the parent's own stack";

pub(super) const PARENT_TO_MACVLAN: &str = "the parent's frames leave for the wire and never \
come back to its macvlan children (kernel macvlan design: parent and children cannot talk); add \
a host shim or a hairpin switch";

pub(super) const PARENT_TO_PASSTHRU: &str = "a passthru child takes over its parent: the \
parent's frames go out to the wire and what comes back goes to the child, so the two never \
talk";

pub(super) const PRIVATE_SIBLINGS: &str = "private mode forbids children of one parent to talk, \
even through a hairpin switch (reflected broadcasts go back only to their sender)";

pub(super) const VEPA_SIBLINGS: &str = "VEPA sends every frame out to the switch, which must \
send it back (hairpin, a reflective relay); this switch does not";

pub(super) const IPVLAN_L3_NOARP: &str = "ipvlan l3 children neither send nor answer ARP (l3 has \
no ARP or broadcast): a LAN node, for which the address is on-link, never resolves it and needs \
a route to it via the host";

const MACVLAN: &[LinkKind] = &[LinkKind::Macvlan, LinkKind::Macvtap];
const IPVLAN: &[LinkKind] = &[LinkKind::Ipvlan, LinkKind::Ipvtap];

impl World<'_> {
    /// The passthru macvlan child that took over `parent`, if one did.
    pub(super) fn passthru_child(&self, parent: IfId) -> Option<IfId> {
        self.children(parent, MACVLAN)
            .into_iter()
            .find(|c| self.link(*c).mode.as_deref() == Some("passthru"))
    }

    /// The parent `child` took over, when it is a passthru macvlan child.
    pub(super) fn passthru_parent(&self, child: IfId) -> Option<IfId> {
        let l = self.link(child);
        (MACVLAN.contains(&l.kind) && l.mode.as_deref() == Some("passthru"))
            .then(|| self.parent_of(child).ok())
            .flatten()
    }

    /// Why the parent's own stack gets no answers once a passthru child took it over.
    pub(super) fn passthru_deaf(&self, parent: IfId) -> String {
        format!(
            "a passthru macvlan child took over {}: every unicast frame arriving there goes to \
             the child, so {}'s own traffic on it gets no answers",
            self.link(parent).name,
            self.ns_name(parent)
        )
    }

    /// Why a who-has for `target` sent from `from` finds no answer, when the reason is one of
    /// the designs above; `None` when nothing more specific than "nobody answered" is known.
    pub(super) fn why_no_answer(&self, from: IfId, target: Ipv4Addr) -> Option<String> {
        self.ix
            .holders(target)
            .iter()
            .find_map(|h| self.why_apart(from, *h))
    }

    /// Why `from` and `holder` (which holds the address asked for) are kept apart.
    fn why_apart(&self, from: IfId, holder: IfId) -> Option<String> {
        let holder_link = self.link(holder);
        if holder_link.has_flag("NOARP")
            && matches!(holder_link.kind, LinkKind::Ipvlan | LinkKind::Ipvtap)
            && holder_link.mode.as_deref() != Some("l2")
        {
            return Some(IPVLAN_L3_NOARP.to_string());
        }
        let macvlan_parent = |id: IfId| {
            MACVLAN
                .contains(&self.link(id).kind)
                .then(|| self.parent_of(id).ok())
                .flatten()
        };
        let ipvlan_parent = |id: IfId| {
            IPVLAN
                .contains(&self.link(id).kind)
                .then(|| self.parent_of(id).ok())
                .flatten()
        };
        // An ipvlan child and its parent's namespace, either way.
        let apart = |child: IfId, other: IfId| {
            ipvlan_parent(child).is_some_and(|p| other.0 == p.0 && ipvlan_parent(other).is_none())
        };
        if apart(from, holder) || apart(holder, from) {
            return Some(IPVLAN_PARENT.to_string());
        }
        let mode = |id: IfId| self.link(id).mode.clone().unwrap_or_default();
        match (macvlan_parent(from), macvlan_parent(holder)) {
            // Siblings of one parent.
            (Some(a), Some(b)) if a == b => {
                let (ma, mb) = (mode(from), mode(holder));
                if ma == "private" || mb == "private" {
                    Some(PRIVATE_SIBLINGS.to_string())
                } else if ma == "passthru" || mb == "passthru" {
                    Some("a passthru child is alone on its parent".to_string())
                } else if ma == "vepa" || mb == "vepa" {
                    Some(VEPA_SIBLINGS.to_string())
                } else {
                    None
                }
            }
            // A child asking for an address of its parent's namespace (not a sibling's).
            (Some(p), None) if holder.0 == p.0 => Some(
                match mode(from).as_str() {
                    "private" => PRIVATE_TO_PARENT,
                    "passthru" => PASSTHRU_TO_PARENT,
                    _ => MACVLAN_TO_PARENT,
                }
                .to_string(),
            ),
            // The parent's namespace asking for a child's address.
            (None, Some(p)) if from.0 == p.0 => Some(
                match mode(holder).as_str() {
                    "passthru" => PARENT_TO_PASSTHRU,
                    _ => PARENT_TO_MACVLAN,
                }
                .to_string(),
            ),
            _ => None,
        }
    }
}
