//! A recording, in-memory kernel for the lab's tests (built only for tests, or with the
//! `test-support` feature): enough of Linux's rules, with the errnos the kernel gives, to catch
//! mistakes in planning, rollback and teardown without root.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use nix::errno::Errno;

use super::ops::{ChildFacts, LinkFacts, NetnsId, Ns, Ops};
use super::spec::{IpvlanMode, MacvlanMode};
use super::LabError;

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
    /// Deleting these namespaces fails with this errno (a busy mount, say), for teardown tests.
    pub refuse_delete: BTreeMap<String, Errno>,
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
            Err(LabError::kernel(
                format!("enter namespace {ns}"),
                Errno::ENOENT,
            ))
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
            return Err(LabError::kernel(
                format!("add link {name} in {ns}"),
                Errno::EEXIST,
            ));
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
            .ok_or_else(|| LabError::kernel(format!("link {name} in {ns}"), Errno::ENODEV))
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
            return Err(LabError::kernel(
                format!("create namespace {name}"),
                Errno::EEXIST,
            ));
        }
        self.netns.insert(name.into(), tag.into());
        // As the real kernel side does: a new namespace never inherits the root's forwarding.
        self.sysctls.insert(
            (
                Ns::named(name),
                crate::lab::driver::bridge::IP_FORWARD.into(),
            ),
            "0".into(),
        );
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
        if let Some(errno) = self.refuse_delete.get(name) {
            return Err(LabError::kernel(format!("delete namespace {name}"), *errno));
        }
        self.netns_ids.remove(name);
        if self.unbound.remove(name) {
            self.netns.remove(name);
            return Ok(());
        }
        if self.netns.remove(name).is_none() {
            return Err(LabError::kernel(
                format!("delete namespace {name}"),
                Errno::ENOENT,
            ));
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
        self.sysctls.retain(|(n, _), _| *n != ns);
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
            return Err(LabError::kernel(
                format!("add veth {peer} in {peer_ns}"),
                Errno::EEXIST,
            ));
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
            return Err(LabError::kernel(
                format!("add ipvlan {name} in {target}"),
                Errno::EOPNOTSUPP,
            ));
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
            return Err(LabError::kernel(
                format!("set hairpin on {port} in {ns}"),
                Errno::EOPNOTSUPP,
            ));
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
