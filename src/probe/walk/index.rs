//! The inventory indexed once per world for the walk's lookups: a namespace by name, a link by
//! name in its namespace, the links stacked on a parent, the links holding an address, and per
//! namespace the owner of each of its addresses, its usable routes in the order the FIB picks
//! them, its subnets' broadcast addresses and its bridges' ports.
//!
//! Each lookup answers exactly what the plain scan over the inventory answered (the first
//! match in inventory order, duplicates included); [`super::route`] keeps those scans as the
//! reference the walk's tests compare the index with (tests/index.rs). Why: the walk asked
//! them for every hop of every cell, each a scan of one namespace or of the whole inventory
//! (the stacked children of a parent, asked at every frame's arrival, scanned every link of
//! every namespace): predicting a 200-container lab's 82,820 cells took 53.7 s in a release
//! build, 4.8 s with the index and the walk's trail of hops (docs/benchmarks.md, "Predicting a
//! 200-container matrix").

use std::collections::{HashMap as StdHashMap, HashSet as StdHashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{IpAddr, Ipv4Addr};

use crate::inventory::{Inventory, LinkKind, NamespaceInventory, Route};

use super::l2::{IfId, Reach};
use super::route::route_prefix;

/// The multiply-rotate hash rustc uses for its own tables (FxHash): the walk's keys (interface
/// ids, addresses, short names) are trusted and small, and SipHash on them was a quarter of a
/// prediction once the scans were gone (perf, debug build, 50 containers).
#[derive(Default, Clone, Copy)]
pub(super) struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            self.add(u64::from_le_bytes(word));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// A map and a set hashed with [`FastHasher`].
pub(super) type HashMap<K, V> = StdHashMap<K, V, BuildHasherDefault<FastHasher>>;
pub(super) type HashSet<K> = StdHashSet<K, BuildHasherDefault<FastHasher>>;

/// One namespace's lookups.
struct NamespaceIndex<'a> {
    /// Link name -> the first link by that name.
    link_by_name: HashMap<&'a str, usize>,
    /// Address -> the first link that is up and holds it.
    owner: HashMap<Ipv4Addr, usize>,
    /// The first loopback link that is up (127.0.0.0/8 belongs to it).
    loopback_up: Option<usize>,
    /// The main table's IPv4 routes the kernel can use (their interface, when named, is up),
    /// in the order a lookup tries them: longest prefix first, then lowest metric, then the
    /// later of two equal routes (as `Iterator::max_by` picks it).
    routes: Vec<(&'a Route, ipnet::Ipv4Net)>,
    /// The broadcast addresses of the subnets its addresses are on (prefixes shorter than 31).
    broadcasts: HashSet<Ipv4Addr>,
    /// Bridge name -> the links enslaved to it, in index order.
    ports: HashMap<&'a str, Vec<usize>>,
    /// Bridge name -> its ports' MACs, in lower case.
    port_macs: HashMap<&'a str, HashSet<String>>,
}

impl<'a> NamespaceIndex<'a> {
    fn new(ns: &'a NamespaceInventory) -> Self {
        let mut link_by_name = HashMap::default();
        let mut owner = HashMap::default();
        let mut broadcasts = HashSet::default();
        let mut ports: HashMap<&str, Vec<usize>> = HashMap::default();
        let mut port_macs: HashMap<&str, HashSet<String>> = HashMap::default();
        for (l, link) in ns.links.iter().enumerate() {
            link_by_name.entry(link.name.as_str()).or_insert(l);
            for a in &link.addresses {
                let IpAddr::V4(v4) = a.ip else { continue };
                if link.is_up() {
                    owner.entry(v4).or_insert(l);
                }
                if a.prefix_len < 31 {
                    if let Ok(net) = ipnet::Ipv4Net::new(v4, a.prefix_len) {
                        broadcasts.insert(net.broadcast());
                    }
                }
            }
            if let Some(master) = &link.master {
                ports.entry(master.as_str()).or_default().push(l);
                if let Some(mac) = &link.mac {
                    port_macs
                        .entry(master.as_str())
                        .or_default()
                        .insert(mac.to_ascii_lowercase());
                }
            }
        }
        let loopback_up = ns
            .links
            .iter()
            .position(|l| l.kind == LinkKind::Loopback && l.is_up());
        let dev_up = |d: &str| {
            link_by_name
                .get(d)
                .is_some_and(|&l: &usize| ns.links[l].is_up())
        };
        let mut routes: Vec<(usize, &Route, ipnet::Ipv4Net)> = ns
            .routes
            .iter()
            .enumerate()
            .filter(|(_, r)| r.family == "inet")
            .filter(|(_, r)| r.dev.as_deref().is_none_or(dev_up))
            .filter_map(|(i, r)| route_prefix(r).map(|p| (i, r, p)))
            .collect();
        routes.sort_by(|(ia, ra, pa), (ib, rb, pb)| {
            pb.prefix_len()
                .cmp(&pa.prefix_len())
                .then(ra.metric.unwrap_or(0).cmp(&rb.metric.unwrap_or(0)))
                .then(ib.cmp(ia))
        });
        NamespaceIndex {
            link_by_name,
            owner,
            loopback_up,
            routes: routes.into_iter().map(|(_, r, p)| (r, p)).collect(),
            broadcasts,
            ports,
            port_macs,
        }
    }
}

/// One link's neighbours by id: its veth peer, its master (a link of its namespace), the link
/// it is stacked on, and the links stacked on it (in inventory order).
#[derive(Debug, Default)]
struct LinkIx {
    peer: Option<IfId>,
    master: Option<usize>,
    parent: Option<IfId>,
    stacked: Vec<IfId>,
}

/// What a broadcast's flood depends on: the interface sending it, its source MAC (macvlan
/// tells its children's reflected broadcasts by it) and whether it carries an IPv4 packet (a
/// NOARP stack takes that, not a who-has).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct FloodKey {
    pub from: IfId,
    pub src_mac: String,
    pub carries_ip: bool,
}

/// The inventory's lookups, built once per world ([`super::predict_all`] builds one for a run).
pub(crate) struct WalkIndex<'a> {
    inv: &'a Inventory,
    /// Namespace name -> the first namespace by that name.
    ns_by_name: HashMap<&'a str, usize>,
    namespaces: Vec<NamespaceIndex<'a>>,
    /// (the parent's namespace, the parent's name) as a stacked link names them -> the links
    /// naming that parent, in inventory order.
    children: HashMap<(&'a str, &'a str), Vec<IfId>>,
    /// Address -> every link holding it, up or down, in inventory order.
    holders: HashMap<Ipv4Addr, Vec<IfId>>,
    /// Each link's neighbours by id (namespace, then link index), resolved once from the
    /// names the inventory gives: a frame's flood asked them by name at every hop of every
    /// cell, hashing two strings each time (perf, 200 containers: 7% of the run's samples).
    links: Vec<Vec<LinkIx>>,
    /// The floods of the run's broadcasts, by sender: a who-has from one interface reaches the
    /// same stacks whatever it asks, and a 200-container run's 62,221 cells sent about 40,000
    /// of them from a few hundred interfaces, each a walk over the 100 ports of a bridge.
    floods: std::cell::RefCell<HashMap<FloodKey, std::sync::Arc<Reach>>>,
    /// The texts of the run's hops, each kept once: a 200-container run's 62,221 paths hold
    /// about 600,000 hops naming a few hundred namespaces and devices and a few thousand
    /// distinct steps; a String each was most of the probe's 370 MB peak.
    texts: std::cell::RefCell<HashSet<std::sync::Arc<str>>>,
    /// The run's hops, each kept once: the 200-container run's first batch held 253,739 hops
    /// of which 2,230 differ, 12 MB as three shared texts each, 2 MB as one shared hop.
    /// Both hashed with [`FastHasher`]: SipHash on their texts was 2.4% of a 200-container
    /// run's samples once the floods were shared.
    hops: std::cell::RefCell<HashSet<std::sync::Arc<super::Hop>>>,
}

impl<'a> WalkIndex<'a> {
    /// `text`, shared with every hop of the run that says the same.
    pub(crate) fn text(&self, text: &str) -> std::sync::Arc<str> {
        let mut texts = self.texts.borrow_mut();
        match texts.get(text) {
            Some(t) => t.clone(),
            None => {
                let t: std::sync::Arc<str> = text.into();
                texts.insert(t.clone());
                t
            }
        }
    }

    /// `hop`, shared with every path of the run that passes the same way.
    pub(crate) fn hop(&self, hop: super::Hop) -> std::sync::Arc<super::Hop> {
        let mut hops = self.hops.borrow_mut();
        match hops.get(&hop) {
            Some(h) => h.clone(),
            None => {
                let h = std::sync::Arc::new(hop);
                hops.insert(h.clone());
                h
            }
        }
    }

    pub(crate) fn new(inv: &'a Inventory) -> Self {
        let mut ns_by_name = HashMap::default();
        let mut children: HashMap<(&str, &str), Vec<IfId>> = HashMap::default();
        let mut holders: HashMap<Ipv4Addr, Vec<IfId>> = HashMap::default();
        for (n, ns) in inv.namespaces.iter().enumerate() {
            ns_by_name.entry(ns.name.as_str()).or_insert(n);
            for (l, link) in ns.links.iter().enumerate() {
                if let Some((Some(pns), Some(pname))) =
                    link.parent.as_ref().map(|r| (&r.netns, &r.name))
                {
                    children
                        .entry((pns.as_str(), pname.as_str()))
                        .or_default()
                        .push((n, l));
                }
                for a in &link.addresses {
                    if let IpAddr::V4(v4) = a.ip {
                        let at = holders.entry(v4).or_default();
                        // A link holding the address twice is one holder.
                        if at.last() != Some(&(n, l)) {
                            at.push((n, l));
                        }
                    }
                }
            }
        }
        let mut ix = WalkIndex {
            texts: Default::default(),
            hops: Default::default(),
            floods: Default::default(),
            inv,
            ns_by_name,
            namespaces: inv.namespaces.iter().map(NamespaceIndex::new).collect(),
            links: Vec::new(),
            children,
            holders,
        };
        ix.links = inv
            .namespaces
            .iter()
            .enumerate()
            .map(|(n, ns)| {
                ns.links
                    .iter()
                    .map(|link| {
                        let named = |r: &Option<crate::inventory::LinkRef>| {
                            let r = r.as_ref()?;
                            ix.find(r.netns.as_deref()?, r.name.as_deref()?)
                        };
                        LinkIx {
                            peer: named(&link.peer),
                            master: link.master.as_deref().and_then(|m| ix.link_in(n, m)),
                            parent: named(&link.parent),
                            stacked: ix
                                .children
                                .get(&(ns.name.as_str(), link.name.as_str()))
                                .cloned()
                                .unwrap_or_default(),
                        }
                    })
                    .collect()
            })
            .collect();
        ix
    }

    /// The flood of a broadcast already followed in this run.
    pub(super) fn flood(&self, key: &FloodKey) -> Option<std::sync::Arc<Reach>> {
        self.floods.borrow().get(key).cloned()
    }

    /// Keep a broadcast's flood for the run's other senders' probes.
    pub(super) fn keep_flood(&self, key: FloodKey, reach: std::sync::Arc<Reach>) {
        self.floods.borrow_mut().insert(key, reach);
    }

    /// How many broadcasts' floods the run keeps.
    #[cfg(test)]
    pub(super) fn floods_kept(&self) -> usize {
        self.floods.borrow().len()
    }

    fn link_ix(&self, id: IfId) -> Option<&LinkIx> {
        self.links.get(id.0)?.get(id.1)
    }

    /// The veth peer of `id`, as its `peer` names it (namespace and name).
    pub(super) fn peer(&self, id: IfId) -> Option<IfId> {
        self.link_ix(id)?.peer
    }

    /// The master of `id` (a link of its namespace), as its `master` names it.
    pub(super) fn master(&self, id: IfId) -> Option<usize> {
        self.link_ix(id)?.master
    }

    /// The link `id` is stacked on, as its `parent` names it (namespace and name).
    pub(super) fn parent(&self, id: IfId) -> Option<IfId> {
        self.link_ix(id)?.parent
    }

    /// The inventory indexed.
    pub(super) fn inventory(&self) -> &'a Inventory {
        self.inv
    }

    /// The first namespace called `name`.
    pub(super) fn namespace(&self, name: &str) -> Option<usize> {
        self.ns_by_name.get(name).copied()
    }

    /// The first link called `dev` in the first namespace called `netns`.
    pub(super) fn find(&self, netns: &str, dev: &str) -> Option<IfId> {
        let n = self.namespace(netns)?;
        self.link_in(n, dev).map(|l| (n, l))
    }

    /// The first link called `dev` in namespace `ns`.
    pub(super) fn link_in(&self, ns: usize, dev: &str) -> Option<usize> {
        self.namespaces[ns].link_by_name.get(dev).copied()
    }

    /// The links of the given kinds stacked on `parent` (naming its namespace and name),
    /// wherever they live, in inventory order.
    pub(super) fn children(&self, parent: IfId, kinds: &[LinkKind]) -> Vec<IfId> {
        self.link_ix(parent).map_or_else(Vec::new, |at| {
            at.stacked
                .iter()
                .copied()
                .filter(|(n, l)| kinds.contains(&self.inv.namespaces[*n].links[*l].kind))
                .collect()
        })
    }

    /// Every link holding `ip`, up or down, in inventory order.
    pub(super) fn holders(&self, ip: Ipv4Addr) -> &[IfId] {
        self.holders.get(&ip).map_or(&[], Vec::as_slice)
    }

    /// The interface holding `ip` in namespace `ns`, when `ns` owns it (127.0.0.0/8 belongs
    /// to `lo`); the index of [`super::route::owner_link`].
    pub(super) fn owner_link(&self, ns: usize, ip: Ipv4Addr) -> Option<&'a str> {
        let at = &self.namespaces[ns];
        let l = if ip.is_loopback() {
            at.loopback_up
        } else {
            at.owner.get(&ip).copied()
        }?;
        Some(self.inv.namespaces[ns].links[l].name.as_str())
    }

    /// The main-table route the kernel picks for `dst` in `ns`; the index of
    /// [`super::route::lookup`].
    pub(super) fn lookup(&self, ns: usize, dst: Ipv4Addr) -> Option<&'a Route> {
        self.namespaces[ns]
            .routes
            .iter()
            .find(|(_, p)| p.contains(&dst))
            .map(|(r, _)| *r)
    }

    /// Whether `ip` is the broadcast address of a subnet one of `ns`'s addresses is on; the
    /// index of [`super::route::is_subnet_broadcast`].
    pub(super) fn is_subnet_broadcast(&self, ns: usize, ip: Ipv4Addr) -> bool {
        ip == Ipv4Addr::BROADCAST || self.namespaces[ns].broadcasts.contains(&ip)
    }

    /// The source address the kernel picks for a packet leaving `ns` by `route`; the index of
    /// [`super::route::source_for`].
    pub(super) fn source_for(&self, ns: usize, route: &Route) -> Option<Ipv4Addr> {
        if let Some(src) = route.prefsrc.as_deref().and_then(|s| s.parse().ok()) {
            return Some(src);
        }
        let dev = self.link_in(ns, route.dev.as_deref()?)?;
        self.inv.namespaces[ns].links[dev]
            .addresses
            .iter()
            .find_map(|a| match a.ip {
                IpAddr::V4(v4) if !v4.is_loopback() => Some(v4),
                _ => None,
            })
    }

    /// The links enslaved to the bridge called `bridge` in `ns`, in index order.
    pub(super) fn bridge_ports(&self, ns: usize, bridge: &str) -> &[usize] {
        self.namespaces[ns]
            .ports
            .get(bridge)
            .map_or(&[], Vec::as_slice)
    }

    /// Whether a port of the bridge called `bridge` in `ns` has the MAC `mac` (any case).
    pub(super) fn bridge_port_has_mac(&self, ns: usize, bridge: &str, mac: &str) -> bool {
        self.namespaces[ns]
            .port_macs
            .get(bridge)
            .is_some_and(|macs| macs.contains(&mac.to_ascii_lowercase()))
    }
}
