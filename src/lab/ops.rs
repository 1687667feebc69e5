//! The kernel actions the lab needs, behind one small trait so planning, rollback and
//! validation are tested without root ([`FakeOps`]); [`super::netlink::NetlinkOps`] is the
//! real thing.

use std::collections::{BTreeMap, BTreeSet};
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
    /// visible, and bring `lo` up.
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

/// A recording, in-memory kernel for unit tests: enough of Linux's rules to catch mistakes
/// (names unique per namespace, links deleted with their namespace, veth peers die together).
#[derive(Debug, Default)]
pub struct FakeOps {
    pub netns: BTreeMap<String, String>,
    /// (ns, link) -> facts
    pub links: BTreeMap<(Ns, String), LinkFacts>,
    /// veth peers: (ns, name) <-> (ns, name)
    pub peers: BTreeMap<(Ns, String), (Ns, String)>,
    pub masters: BTreeMap<(Ns, String), String>,
    pub hairpin: BTreeSet<(Ns, String)>,
    pub routes: Vec<(Ns, Ipv4Net, Option<Ipv4Addr>, Option<String>)>,
    pub sysctls: BTreeMap<(Ns, String), String>,
    pub nft: BTreeMap<Ns, Vec<crate::lab::firewall::NftObject>>,
    pub log: Vec<String>,
    pub ipvlan: bool,
    /// Names in /run/netns that are plain files with no namespace (crash leftovers).
    pub unbound: BTreeSet<String>,
    /// The identity of each namespace (fresh for every creation, as the kernel's).
    pub netns_ids: BTreeMap<String, NetnsId>,
    next_index: u32,
    next_netns_ino: u64,
}

impl FakeOps {
    pub fn new() -> Self {
        FakeOps {
            next_index: 1,
            ..Default::default()
        }
    }

    /// A pre-existing device in the current namespace (a real NIC for real-mode tests).
    pub fn with_current_link(mut self, name: &str, f: impl FnOnce(&mut LinkFacts)) -> Self {
        let mut facts = LinkFacts {
            name: name.into(),
            up: true,
            ..Default::default()
        };
        f(&mut facts);
        self.put(&Ns::Current, facts);
        self
    }

    fn exists(&self, ns: &Ns) -> bool {
        match ns {
            Ns::Current => true,
            Ns::Named(n) => self.netns.contains_key(n),
        }
    }

    fn need_ns(&self, ns: &Ns) -> Result<(), LabError> {
        if self.exists(ns) {
            Ok(())
        } else {
            Err(LabError::Kernel(format!("no namespace {ns}")))
        }
    }

    fn put(&mut self, ns: &Ns, mut facts: LinkFacts) {
        self.next_index += 1;
        facts.index = self.next_index;
        facts.mac = Some(format!("02:00:00:00:00:{:02x}", self.next_index % 256));
        self.links.insert((ns.clone(), facts.name.clone()), facts);
    }

    fn new_link(&mut self, ns: &Ns, name: &str, kind: &str) -> Result<(), LabError> {
        self.need_ns(ns)?;
        if self.links.contains_key(&(ns.clone(), name.to_string())) {
            return Err(LabError::Kernel(format!("{name} exists in {ns}")));
        }
        self.put(
            ns,
            LinkFacts {
                name: name.into(),
                kind: Some(kind.into()),
                is_bridge: kind == "bridge",
                ..Default::default()
            },
        );
        Ok(())
    }

    fn get_mut(&mut self, ns: &Ns, name: &str) -> Result<&mut LinkFacts, LabError> {
        self.links
            .get_mut(&(ns.clone(), name.to_string()))
            .ok_or_else(|| LabError::Kernel(format!("no link {name} in {ns}")))
    }

    fn remove_link(&mut self, ns: &Ns, name: &str) {
        let key = (ns.clone(), name.to_string());
        self.links.remove(&key);
        self.masters.remove(&key);
        self.hairpin.remove(&key);
        self.routes
            .retain(|(rns, _, _, dev)| !(rns == ns && dev.as_deref() == Some(name)));
        if let Some(peer) = self.peers.remove(&key) {
            self.peers.remove(&peer);
            self.links.remove(&peer);
            self.masters.remove(&peer);
        }
    }

    /// Everything that exists besides pre-existing current-namespace links, for assertions.
    pub fn leftovers(&self) -> Vec<String> {
        let mut out: Vec<String> = self.netns.keys().map(|n| format!("netns {n}")).collect();
        for (ns, name) in self.links.keys() {
            if let Ns::Current = ns {
                let f = &self.links[&(ns.clone(), name.clone())];
                if f.kind.is_none() {
                    continue;
                }
            }
            out.push(format!("link {ns}/{name}"));
        }
        for ns in self.nft.keys() {
            out.push(format!("nft {ns}"));
        }
        out
    }
}

impl Ops for FakeOps {
    fn create_netns(&mut self, name: &str, tag: &str) -> Result<(), LabError> {
        self.log.push(format!("netns add {name}"));
        if self.netns.contains_key(name) {
            return Err(LabError::Kernel(format!("namespace {name} exists")));
        }
        self.netns.insert(name.into(), tag.into());
        self.next_netns_ino += 1;
        self.netns_ids.insert(
            name.into(),
            NetnsId {
                dev: 4,
                ino: 0xf000_0000 + self.next_netns_ino,
            },
        );
        let ns = Ns::named(name);
        self.put(
            &ns,
            LinkFacts {
                name: "lo".into(),
                up: true,
                loopback: true,
                alias: Some(tag.into()),
                ..Default::default()
            },
        );
        Ok(())
    }

    fn delete_netns(&mut self, name: &str) -> Result<(), LabError> {
        self.log.push(format!("netns del {name}"));
        self.netns_ids.remove(name);
        if self.unbound.remove(name) {
            self.netns.remove(name);
            return Ok(());
        }
        if self.netns.remove(name).is_none() {
            return Err(LabError::Kernel(format!("no namespace {name}")));
        }
        let ns = Ns::named(name);
        let names: Vec<String> = self
            .links
            .keys()
            .filter(|(n, _)| *n == ns)
            .map(|(_, l)| l.clone())
            .collect();
        for l in names {
            self.remove_link(&ns, &l);
        }
        self.nft.remove(&ns);
        self.routes.retain(|(n, ..)| *n != ns);
        Ok(())
    }

    fn add_veth(&mut self, ns: &Ns, name: &str, peer_ns: &Ns, peer: &str) -> Result<(), LabError> {
        self.log
            .push(format!("veth {ns}/{name} <-> {peer_ns}/{peer}"));
        self.need_ns(peer_ns)?;
        if self
            .links
            .contains_key(&(peer_ns.clone(), peer.to_string()))
        {
            return Err(LabError::Kernel(format!("{peer} exists in {peer_ns}")));
        }
        self.new_link(ns, name, "veth")?;
        self.new_link(peer_ns, peer, "veth")?;
        let a = (ns.clone(), name.to_string());
        let b = (peer_ns.clone(), peer.to_string());
        self.peers.insert(a.clone(), b.clone());
        self.peers.insert(b, a);
        Ok(())
    }

    fn add_bridge(&mut self, ns: &Ns, name: &str) -> Result<(), LabError> {
        self.log.push(format!("bridge {ns}/{name}"));
        self.new_link(ns, name, "bridge")
    }

    fn add_macvlan(
        &mut self,
        ns: &Ns,
        parent: &str,
        name: &str,
        mode: MacvlanMode,
        target: &Ns,
    ) -> Result<(), LabError> {
        self.log
            .push(format!("macvlan {mode} {ns}/{parent} -> {target}/{name}"));
        self.get_mut(ns, parent)?.children.push(ChildFacts {
            kind: "macvlan".into(),
            macvlan_passthru: mode == MacvlanMode::Passthru,
        });
        self.new_link(target, name, "macvlan")
    }

    fn add_ipvlan(
        &mut self,
        ns: &Ns,
        parent: &str,
        name: &str,
        mode: IpvlanMode,
        target: &Ns,
    ) -> Result<(), LabError> {
        self.log
            .push(format!("ipvlan {mode} {ns}/{parent} -> {target}/{name}"));
        if !self.ipvlan {
            return Err(LabError::Kernel("ipvlan: operation not supported".into()));
        }
        self.get_mut(ns, parent)?.children.push(ChildFacts {
            kind: "ipvlan".into(),
            macvlan_passthru: false,
        });
        self.new_link(target, name, "ipvlan")
    }

    fn delete_link(&mut self, ns: &Ns, name: &str) -> Result<(), LabError> {
        self.log.push(format!("link del {ns}/{name}"));
        self.get_mut(ns, name)?;
        self.remove_link(ns, name);
        Ok(())
    }

    fn set_alias(&mut self, ns: &Ns, link: &str, alias: &str) -> Result<(), LabError> {
        self.log.push(format!("alias {ns}/{link} {alias}"));
        self.get_mut(ns, link)?.alias = Some(alias.into());
        Ok(())
    }

    fn set_up(&mut self, ns: &Ns, link: &str, up: bool) -> Result<(), LabError> {
        self.log.push(format!("up {ns}/{link} {up}"));
        self.get_mut(ns, link)?.up = up;
        Ok(())
    }

    fn set_master(&mut self, ns: &Ns, link: &str, master: &str) -> Result<(), LabError> {
        self.log.push(format!("master {ns}/{link} {master}"));
        self.get_mut(ns, master)?;
        self.get_mut(ns, link)?.is_bridge_port = true;
        self.masters
            .insert((ns.clone(), link.to_string()), master.into());
        Ok(())
    }

    fn set_promisc(&mut self, ns: &Ns, link: &str, on: bool) -> Result<(), LabError> {
        self.log.push(format!("promisc {ns}/{link} {on}"));
        self.get_mut(ns, link)?.promisc = on;
        Ok(())
    }

    fn set_hairpin(&mut self, ns: &Ns, port: &str, on: bool) -> Result<(), LabError> {
        self.log.push(format!("hairpin {ns}/{port} {on}"));
        let key = (ns.clone(), port.to_string());
        if !self.masters.contains_key(&key) {
            return Err(LabError::Kernel(format!("{port} is not a bridge port")));
        }
        if on {
            self.hairpin.insert(key);
        } else {
            self.hairpin.remove(&key);
        }
        Ok(())
    }

    fn add_addr(&mut self, ns: &Ns, link: &str, addr: Ipv4Net) -> Result<(), LabError> {
        self.log.push(format!("addr {ns}/{link} {addr}"));
        self.get_mut(ns, link)?.addresses.push(addr);
        Ok(())
    }

    fn add_route(
        &mut self,
        ns: &Ns,
        dest: Ipv4Net,
        gateway: Option<Ipv4Addr>,
        dev: Option<&str>,
    ) -> Result<(), LabError> {
        self.log
            .push(format!("route {ns} {dest} {gateway:?} {dev:?}"));
        self.need_ns(ns)?;
        self.routes
            .push((ns.clone(), dest, gateway, dev.map(String::from)));
        Ok(())
    }

    fn set_sysctl(&mut self, ns: &Ns, key: &str, value: &str) -> Result<(), LabError> {
        self.log.push(format!("sysctl {ns} {key}={value}"));
        self.need_ns(ns)?;
        self.sysctls
            .insert((ns.clone(), key.to_string()), value.to_string());
        Ok(())
    }

    fn nft_table(
        &mut self,
        ns: &Ns,
        rules: Option<&[crate::lab::firewall::NftObject]>,
    ) -> Result<(), LabError> {
        self.log.push(format!(
            "nft {ns} {}",
            rules
                .map(|r| r.len().to_string())
                .unwrap_or("delete".into())
        ));
        self.need_ns(ns)?;
        match rules {
            Some(r) => {
                self.nft.insert(ns.clone(), r.to_vec());
            }
            None => {
                self.nft.remove(ns);
            }
        }
        Ok(())
    }

    fn link(&mut self, ns: &Ns, name: &str) -> Result<Option<LinkFacts>, LabError> {
        Ok(self.links.get(&(ns.clone(), name.to_string())).cloned())
    }

    fn get_sysctl(&mut self, ns: &Ns, key: &str) -> Result<String, LabError> {
        Ok(self
            .sysctls
            .get(&(ns.clone(), key.to_string()))
            .cloned()
            .unwrap_or_else(|| "0".into()))
    }

    fn ipvlan_supported(&mut self, _ns: &Ns) -> Result<bool, LabError> {
        Ok(self.ipvlan)
    }

    fn list_netns(&mut self) -> Result<Vec<String>, LabError> {
        Ok(self.netns.keys().cloned().collect())
    }

    fn netns_tag(&mut self, name: &str) -> Option<String> {
        self.netns.get(name).cloned().filter(|t| !t.is_empty())
    }

    fn tagged_links(&mut self, ns: &Ns, tag: &str) -> Result<Vec<String>, LabError> {
        Ok(self
            .links
            .iter()
            .filter(|((n, _), f)| n == ns && f.alias.as_deref() == Some(tag))
            .map(|((_, l), _)| l.clone())
            .collect())
    }

    fn nft_table_exists(&mut self, ns: &Ns) -> Result<bool, LabError> {
        Ok(self.nft.contains_key(ns))
    }

    fn netns_unbound(&mut self, name: &str) -> bool {
        self.unbound.contains(name)
    }

    fn netns_id(&mut self, name: &str) -> Option<NetnsId> {
        self.netns_ids.get(name).copied()
    }
}
