//! The kernel actions the lab needs, behind one small trait so planning, rollback and
//! validation are tested without root (`super::fake::FakeOps`, built for tests only);
//! [`super::netlink::NetlinkOps`] is the real thing.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::spec::{IpvlanMode, MacvlanMode};

use super::LabError;

/// Which network namespace an action happens in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ns {
    /// The namespace netview runs in (real mode's host).
    Current,
    /// A namespace in /run/netns.
    Named(String),
}

impl Ns {
    pub fn named(name: &str) -> Ns {
        Ns::Named(name.to_string())
    }

    /// The name as `ip netns` shows it, or None for netview's own namespace.
    pub fn name(&self) -> Option<&str> {
        match self {
            Ns::Current => None,
            Ns::Named(n) => Some(n),
        }
    }
}

impl std::fmt::Display for Ns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ns::Current => f.write_str("(current)"),
            Ns::Named(n) => f.write_str(n),
        }
    }
}

/// Which namespace a /run/netns name is bound to: the device and inode of its nsfs file.
/// Recorded at creation, so a namespace someone deleted and re-created under the same name is
/// told apart from the one netview made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NetnsId {
    pub dev: u64,
    pub ino: u64,
}

/// Tags (`lo` aliases) of namespaces read ahead of the checks that ask for them one by one
/// ([`Ops::read_tags_ahead`]), each kept with the namespace it was read from and used once.
#[derive(Debug, Default)]
pub struct TagsAhead(std::collections::HashMap<String, (NetnsId, Option<String>)>);

impl TagsAhead {
    /// Keep `tag`, read from the namespace `id` that `name` was bound to.
    pub fn put(&mut self, name: &str, id: NetnsId, tag: Option<String>) {
        self.0.insert(name.to_string(), (id, tag));
    }

    /// The tag read ahead for `name` when the name is still bound to the namespace it was
    /// read from (`now`), once; None when there is none or the name was bound anew since
    /// (the caller reads it again).
    pub fn take(&mut self, name: &str, now: Option<NetnsId>) -> Option<Option<String>> {
        let (id, tag) = self.0.remove(name)?;
        (now == Some(id)).then_some(tag)
    }

    /// Drop what was read for `name` (its namespace is being deleted).
    pub fn forget(&mut self, name: &str) {
        self.0.remove(name);
    }
}

/// What validation and listing need to know about a link.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LinkFacts {
    pub name: String,
    pub index: u32,
    /// rtnetlink's kind (`veth`, `bridge`, `macvlan`...), None for plain devices.
    pub kind: Option<String>,
    pub up: bool,
    pub loopback: bool,
    pub wireless: bool,
    /// Whether this link is itself a bridge.
    pub is_bridge: bool,
    /// Whether this link is a port of some bridge (has a master that is a bridge).
    pub is_bridge_port: bool,
    pub promisc: bool,
    pub mac: Option<String>,
    pub alias: Option<String>,
    pub addresses: Vec<Ipv4Net>,
    /// macvlan/ipvlan children of this link, with their kind and macvlan mode.
    pub children: Vec<ChildFacts>,
}

/// A macvlan/ipvlan child found on a parent (in any namespace).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildFacts {
    pub kind: String,
    pub macvlan_passthru: bool,
}

/// Kernel actions. Every method that changes something is one "step" for fault injection.
pub trait Ops {
    /// Create a namespace in /run/netns, tagging its `lo` with `tag` before it becomes
    /// visible, bring `lo` up, and set its ip_forward to 0 (a new namespace would copy the
    /// root's, which Docker turns on).
    fn create_netns(&mut self, name: &str, tag: &str) -> Result<(), LabError>;
    /// Create several namespaces (in parallel where the kernel allows). Returns the names
    /// made and the first error; the caller undoes the made ones if it cares.
    fn create_netns_many(
        &mut self,
        names: &[String],
        tag: &str,
    ) -> (Vec<String>, Option<LabError>) {
        let mut made = Vec::new();
        for n in names {
            match self.create_netns(n, tag) {
                Ok(()) => made.push(n.clone()),
                Err(e) => return (made, Some(e)),
            }
        }
        (made, None)
    }
    fn delete_netns(&mut self, name: &str) -> Result<(), LabError>;
    /// A veth pair: `name` in `ns`, `peer` in `peer_ns`.
    fn add_veth(&mut self, ns: &Ns, name: &str, peer_ns: &Ns, peer: &str) -> Result<(), LabError>;
    fn add_bridge(&mut self, ns: &Ns, name: &str) -> Result<(), LabError>;
    /// A macvlan child of `parent` (in `ns`) named `name`, created directly in `target`.
    fn add_macvlan(
        &mut self,
        ns: &Ns,
        parent: &str,
        name: &str,
        mode: MacvlanMode,
        target: &Ns,
    ) -> Result<(), LabError>;
    fn add_ipvlan(
        &mut self,
        ns: &Ns,
        parent: &str,
        name: &str,
        mode: IpvlanMode,
        target: &Ns,
    ) -> Result<(), LabError>;
    fn delete_link(&mut self, ns: &Ns, name: &str) -> Result<(), LabError>;
    fn set_alias(&mut self, ns: &Ns, link: &str, alias: &str) -> Result<(), LabError>;
    fn set_up(&mut self, ns: &Ns, link: &str, up: bool) -> Result<(), LabError>;
    fn set_master(&mut self, ns: &Ns, link: &str, master: &str) -> Result<(), LabError>;
    fn set_promisc(&mut self, ns: &Ns, link: &str, on: bool) -> Result<(), LabError>;
    fn set_hairpin(&mut self, ns: &Ns, port: &str, on: bool) -> Result<(), LabError>;
    fn add_addr(&mut self, ns: &Ns, link: &str, addr: Ipv4Net) -> Result<(), LabError>;
    /// A route to `dest` via `gateway` and/or out of `dev`.
    fn add_route(
        &mut self,
        ns: &Ns,
        dest: Ipv4Net,
        gateway: Option<Ipv4Addr>,
        dev: Option<&str>,
    ) -> Result<(), LabError>;
    /// Write a sysctl under /proc/sys in `ns` (e.g. `net/ipv4/ip_forward`).
    fn set_sysctl(&mut self, ns: &Ns, key: &str, value: &str) -> Result<(), LabError>;
    /// Replace the `ip netview` nftables table in `ns` with `rules` (nft JSON objects:
    /// chains and rules of that table), or delete it when `rules` is None.
    fn nft_table(
        &mut self,
        ns: &Ns,
        rules: Option<&[crate::lab::firewall::NftObject]>,
    ) -> Result<(), LabError>;

    // Queries: not steps.
    fn link(&mut self, ns: &Ns, name: &str) -> Result<Option<LinkFacts>, LabError>;
    fn get_sysctl(&mut self, ns: &Ns, key: &str) -> Result<String, LabError>;
    /// Whether the kernel can make ipvlan links at all.
    fn ipvlan_supported(&mut self, ns: &Ns) -> Result<bool, LabError>;
    /// Names in /run/netns.
    fn list_netns(&mut self) -> Result<Vec<String>, LabError>;
    /// The alias of `lo` in a named namespace (our tag), None if unreadable or unset.
    fn netns_tag(&mut self, name: &str) -> Option<String>;
    /// Read the tags of these namespaces now, all at once, for the [`Ops::netns_tag`] calls
    /// that follow (a removal checks each namespace before deleting it). A tag read ahead is
    /// used once, and only while its name is bound to the same namespace ([`TagsAhead`]).
    /// The default reads nothing ahead.
    fn read_tags_ahead(&mut self, _names: &[String]) {}
    /// Links in `ns` whose alias equals `tag`.
    fn tagged_links(&mut self, ns: &Ns, tag: &str) -> Result<Vec<String>, LabError>;
    /// Whether `ns` has an `ip netview` nftables table.
    fn nft_table_exists(&mut self, ns: &Ns) -> Result<bool, LabError>;
    /// Whether /run/netns/NAME is a plain file with no namespace bound to it (left by a crash
    /// between creating the name and binding the namespace).
    fn netns_unbound(&mut self, name: &str) -> bool;
    /// Drop any per-namespace resources (threads, sockets) held for `name`.
    fn forget_netns(&mut self, _name: &str) {}
    /// The namespace /run/netns/NAME is bound to now, None when there is no such name.
    fn netns_id(&mut self, name: &str) -> Option<NetnsId>;
}

#[cfg(test)]
mod tests {
    use super::{NetnsId, TagsAhead};

    const A: NetnsId = NetnsId {
        dev: 4,
        ino: 4026532001,
    };
    const B: NetnsId = NetnsId {
        dev: 4,
        ino: 4026532002,
    };

    #[test]
    fn a_tag_read_ahead_is_used_once_and_only_for_the_same_namespace() {
        let mut t = TagsAhead::default();
        t.put("nv-c1", A, Some("netview:nv-".into()));
        t.put("nv-c2", A, Some("netview:nv-".into()));
        t.put("nv-c3", A, None);
        assert_eq!(t.take("nv-c1", Some(A)), Some(Some("netview:nv-".into())));
        assert_eq!(t.take("nv-c1", Some(A)), None, "used once");
        // Bound to another namespace since (or gone): read again.
        assert_eq!(t.take("nv-c2", Some(B)), None);
        assert_eq!(
            t.take("nv-c2", Some(A)),
            None,
            "dropped when it did not match"
        );
        assert_eq!(t.take("nv-c3", None), None);
        t.put("nv-c4", A, Some("x".into()));
        t.forget("nv-c4");
        assert_eq!(t.take("nv-c4", Some(A)), None);
        assert_eq!(t.take("nv-unknown", Some(A)), None);
    }
}
