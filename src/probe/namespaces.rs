//! Probe endpoints outside the lab: any network namespace as `netview inventory` names it
//! (`root`, a name in /run/netns, `pid:N`) or a container's (`docker:NAME`, `podman:NAME`, an
//! id prefix, or every container of one network), with every address it holds read from the
//! kernel, and named in the cells as the runtimes name the containers.
//!
//! Resolving a name, asking the runtimes and reading the namespace's addresses is the only I/O
//! here (through `netns::find`/`discover`, the container resolver `netview inventory --netns`
//! uses, and the inventory reader, which enters namespaces on threads of its own); turning
//! what was read into endpoints and names is pure and unit-tested. Nothing here changes a
//! namespace: it only reads. One read of every namespace serves a run: the endpoints' addresses
//! and the packet walk's world both come from it ([`HostNamespaces::into_walk_world`]).

use std::collections::{BTreeMap, BTreeSet};

use super::matrix::WalkWorld;
use super::topology::{EndpointAddress, EndpointOrigin, ProbeEndpoint, ProbeLab, Role};
use crate::containers::{self, AskedOnce, Container, NetworkLookupError, ResolveError};
use crate::inventory::model::NamespaceInventory;
use crate::netns::{self, Netns, NetnsSource};

/// The probes' endpoint for a namespace, from its inventory: every IPv4 address but loopback,
/// with the interface holding it (the probes are IPv4 only: IPv6 cells, link-local ones
/// first, all failed to send on a veth pair); the main interface is the one holding the
/// first address.
pub fn endpoint_of(ns: &Netns, inv: &NamespaceInventory) -> ProbeEndpoint {
    let addresses: Vec<EndpointAddress> = inv
        .links
        .iter()
        .flat_map(|l| {
            l.addresses
                .iter()
                .filter(|a| a.ip.is_ipv4() && !a.ip.is_loopback())
                .map(move |a| EndpointAddress::new(a.ip, a.prefix_len, &l.name))
        })
        .collect();
    let main = addresses
        .first()
        .and_then(|a| inv.links.iter().find(|l| l.name == a.ifname));
    ProbeEndpoint {
        name: ns.name.clone(),
        role: if ns.source == NetnsSource::Root {
            Role::Host
        } else {
            Role::Container
        },
        mode: None,
        netns_path: ns.path.clone(),
        ifname: main.map(|l| l.name.clone()).unwrap_or_else(|| "lo".into()),
        mac: main.and_then(|l| l.mac.clone()),
        addresses,
        gateway: None,
        parent: None,
        nat: false,
        host_shim: false,
        origin: EndpointOrigin::Namespace,
    }
}

/// Whether an endpoint is worth probing by default: it holds an address other than loopback.
pub fn has_addresses(e: &ProbeEndpoint) -> bool {
    e.target_addresses().next().is_some()
}

/// The namespaces of this host, as probe endpoints outside the lab: what was discovered, and
/// the runtimes' answer (asked at most once, when a container is named or endpoints are named).
pub struct HostNamespaces {
    all: Vec<Netns>,
    runtimes: AskedOnce,
    /// The inventory of every namespace in `all` (in that order), read once when first
    /// needed: the endpoints' addresses and the walk's world come from the same read.
    inventories: std::cell::OnceCell<Vec<NamespaceInventory>>,
}

impl HostNamespaces {
    /// Discover the namespaces now; the runtimes are asked later, if at all.
    pub fn discover() -> Self {
        HostNamespaces {
            all: netns::discover(),
            runtimes: AskedOnce::new(containers::default_sources()),
            inventories: std::cell::OnceCell::new(),
        }
    }

    /// Every discovered namespace's inventory, read on the first call.
    fn inventories(&self) -> &[NamespaceInventory] {
        self.inventories.get_or_init(|| {
            let started = std::time::Instant::now();
            let read = crate::inventory::read::read_many(&self.all, &self.all);
            tracing::debug!(
                namespaces = read.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "every namespace read for the probes and the walk"
            );
            read
        })
    }

    /// What the packet walk needs to predict cells among `lab`'s endpoints (the lab's and any
    /// other namespace's alike): the inventory of every namespace on the host (a path may cross
    /// any of them), the one already read for the endpoints when they were read, else read now.
    pub fn into_walk_world(mut self, lab: &ProbeLab) -> WalkWorld {
        self.inventories();
        let namespaces = self.inventories.take().unwrap_or_default();
        walk_world_over(
            lab,
            crate::inventory::model::Inventory {
                namespaces,
                ..Default::default()
            },
        )
    }

    /// The namespace a typed `--from`/`--to` names, by the resolver `netview inventory
    /// --netns` uses: `root`, a name in /run/netns, `pid:N`, `docker:NAME`, `podman:NAME`, or
    /// a container id prefix.
    pub fn namespace(&self, typed: &str) -> Result<Netns, ResolveError> {
        containers::resolve_namespace(typed, &self.all, || self.runtimes.world(), &netns::ns_inode)
    }

    /// The namespace of every running container of one Docker or Podman network (`NAME`,
    /// or `docker:NAME` / `podman:NAME` when both runtimes have one by that name).
    pub fn network(&self, typed: &str) -> Result<Vec<Netns>, NetworkLookupError> {
        let world = self.runtimes.world();
        let net = world.find_network(typed)?;
        let mut out: Vec<Netns> = Vec::new();
        for c in world.members(net) {
            if let Ok(ns) = containers::namespace_of(c, &self.all, &netns::ns_inode) {
                if !out.iter().any(|o| o.id == ns.id) {
                    out.push(ns.clone());
                }
            }
        }
        if out.is_empty() {
            return Err(NetworkLookupError::NoneRunning {
                runtime: net.runtime,
                name: net.name.clone(),
            });
        }
        Ok(out)
    }

    /// The default sources and targets without a lab: `root` (the host), then every
    /// namespace a running container lives in, in discovery order.
    pub fn containers_and_root(&self) -> Vec<Netns> {
        let placed = containers::match_namespaces(
            &self.runtimes.world().containers,
            &self.all,
            &netns::ns_inode,
        );
        self.all
            .iter()
            .filter(|ns| ns.source == NetnsSource::Root || placed.contains_key(&ns.id))
            .cloned()
            .collect()
    }

    /// Read the wanted namespaces' addresses into endpoints (in the same order), each named
    /// as [`probe_names`] says; `taken` are the names already in use (the lab's endpoints).
    /// A namespace that cannot be read is an endpoint with no addresses.
    pub fn endpoints(&self, wanted: &[Netns], taken: &BTreeSet<String>) -> Vec<ProbeEndpoint> {
        if wanted.is_empty() {
            return Vec::new();
        }
        let world = self.runtimes.world();
        let placed = containers::match_namespaces(&world.containers, &self.all, &netns::ns_inode);
        let names = probe_names(&self.all, &world.containers, &placed, taken);
        let mut out = self.read(wanted);
        for (e, ns) in out.iter_mut().zip(wanted) {
            if let Some(name) = names.get(&ns.id) {
                e.name = name.clone();
            }
        }
        out
    }
}

/// The names of the namespaces that go by a container's name in the probes' cells (the
/// others keep the name they were typed or discovered by): a namespace holding containers is
/// named by its container as the runtime names it (`web`; the first one listed when a pod's
/// containers share it), or `docker:web` when another namespace, another runtime's container
/// or a name in `taken` already goes by `web`. The root namespace stays `root` (host-mode
/// containers live there), and so does any namespace holding host-mode containers only (a
/// runtime's own namespace).
pub fn probe_names(
    all: &[Netns],
    containers: &[Container],
    placed: &BTreeMap<u64, Vec<usize>>,
    taken: &BTreeSet<String>,
) -> BTreeMap<u64, String> {
    let is_host_mode = |c: &Container| c.networks.iter().all(|n| n == "host");
    let named_by: BTreeMap<u64, &Container> = all
        .iter()
        .filter(|ns| ns.source != NetnsSource::Root)
        .filter_map(|ns| {
            let first = placed
                .get(&ns.id)?
                .iter()
                .map(|&i| &containers[i])
                .find(|c| !is_host_mode(c))?;
            Some((ns.id, first))
        })
        .collect();
    let mut uses: BTreeMap<&str, usize> = BTreeMap::new();
    for ns in all.iter().filter(|ns| !named_by.contains_key(&ns.id)) {
        *uses.entry(ns.name.as_str()).or_default() += 1;
    }
    for c in named_by.values() {
        *uses.entry(c.name.as_str()).or_default() += 1;
    }
    named_by
        .into_iter()
        .map(|(id, c)| {
            let name = if uses[c.name.as_str()] == 1 && !taken.contains(&c.name) {
                c.name.clone()
            } else {
                format!("{}:{}", c.runtime, c.name)
            };
            (id, name)
        })
        .collect()
}

/// What the packet walk needs to predict cells among these endpoints (the lab's and any other
/// namespace's alike): the inventory of every namespace on the host, read now (a path may
/// cross any of them).
pub fn walk_world(lab: &ProbeLab) -> WalkWorld {
    HostNamespaces::discover().into_walk_world(lab)
}

/// The walk's world over an inventory already held (the TUI's), with which of its namespaces
/// each endpoint is, told by the inode of the endpoint's namespace file (an endpoint whose file
/// is gone is left out: its cells are then unknown, with that reason).
pub fn walk_world_over(lab: &ProbeLab, inventory: crate::inventory::model::Inventory) -> WalkWorld {
    use std::os::unix::fs::MetadataExt;
    let netns_of = lab
        .endpoints
        .iter()
        .filter_map(|e| {
            let ino = std::fs::metadata(&e.netns_path).ok()?.ino();
            let ns = inventory.namespaces.iter().find(|n| n.id == ino)?;
            Some((e.name.clone(), ns.name.clone()))
        })
        .collect();
    WalkWorld {
        inventory,
        netns_of,
    }
}

impl HostNamespaces {
    /// The wanted namespaces as endpoints, from the read of every discovered namespace; one
    /// that discovery did not list (`netns::find` resolved it by path) is read on its own.
    fn read(&self, wanted: &[Netns]) -> Vec<ProbeEndpoint> {
        let read = self.inventories();
        let unlisted: Vec<Netns> = wanted
            .iter()
            .filter(|w| !self.all.iter().any(|a| a.id == w.id))
            .cloned()
            .collect();
        let unlisted_read = if unlisted.is_empty() {
            Vec::new()
        } else {
            crate::inventory::read::read_many(&unlisted, &self.all)
        };
        wanted
            .iter()
            .map(|ns| {
                match inventory_of(ns.id, &self.all, read)
                    .or_else(|| inventory_of(ns.id, &unlisted, &unlisted_read))
                {
                    Some(inv) => endpoint_of(ns, inv),
                    None => endpoint_of(ns, &NamespaceInventory::empty(&ns.name, ns.id, ns.source)),
                }
            })
            .collect()
    }
}

/// The inventory read for the namespace with inode `id`: `read[i]` is `of[i]`'s.
fn inventory_of<'a>(
    id: u64,
    of: &[Netns],
    read: &'a [NamespaceInventory],
) -> Option<&'a NamespaceInventory> {
    of.iter().position(|n| n.id == id).and_then(|i| read.get(i))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::inventory::model::{Address, Link};

    fn ns(name: &str, source: NetnsSource) -> Netns {
        Netns {
            name: name.into(),
            id: 4026531840,
            source,
            path: PathBuf::from(format!("/run/netns/{name}")),
            process: None,
            is_self: false,
        }
    }

    fn link(name: &str, addrs: &[(&str, u8)]) -> Link {
        let mut l: Link = serde_json::from_value(serde_json::json!({
            "index": 1, "name": name, "kind": "veth", "state": "UP", "flags": [],
            "mac": "aa:bb:cc:dd:ee:01", "addresses": []
        }))
        .unwrap();
        l.addresses = addrs
            .iter()
            .map(|(ip, p)| Address {
                ip: ip.parse().unwrap(),
                prefix_len: *p,
                scope: "global".into(),
            })
            .collect();
        l
    }

    #[test]
    fn every_address_but_loopback_with_its_interface() {
        let mut inv = NamespaceInventory::empty("a", 1, NetnsSource::Named);
        inv.links = vec![
            link("lo", &[("127.0.0.1", 8), ("::1", 128)]),
            link("eth0", &[("10.1.0.2", 24)]),
            link(
                "eth1",
                &[("10.2.0.2", 24), ("fe80::1", 64), ("fd00::2", 64)],
            ),
        ];
        let e = endpoint_of(&ns("a", NetnsSource::Named), &inv);
        assert_eq!(e.origin, EndpointOrigin::Namespace);
        assert_eq!(e.ifname, "eth0");
        assert_eq!(e.mac.as_deref(), Some("aa:bb:cc:dd:ee:01"));
        let got: Vec<(String, String)> = e
            .addresses
            .iter()
            .map(|a| (a.ip.to_string(), a.ifname.clone()))
            .collect();
        assert_eq!(
            got,
            [("10.1.0.2", "eth0"), ("10.2.0.2", "eth1"),]
                .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert!(has_addresses(&e));
        assert_eq!(e.netns_path, PathBuf::from("/run/netns/a"));
    }

    #[test]
    fn only_loopback_means_nothing_to_probe() {
        let mut inv = NamespaceInventory::empty("b", 1, NetnsSource::Process);
        inv.links = vec![link("lo", &[("127.0.0.1", 8)])];
        let e = endpoint_of(&ns("pid:7", NetnsSource::Process), &inv);
        assert!(!has_addresses(&e));
        assert_eq!(e.ifname, "lo");
        assert_eq!(e.role, Role::Container);
        let root = endpoint_of(&ns("root", NetnsSource::Root), &inv);
        assert_eq!(root.role, Role::Host);
    }

    #[test]
    fn an_endpoint_takes_the_inventory_read_for_its_namespace_by_inode() {
        let all = vec![
            with_id(ns("root", NetnsSource::Root), 1),
            with_id(ns("lab-a", NetnsSource::Named), 7),
        ];
        let mut a = NamespaceInventory::empty("lab-a", 7, NetnsSource::Named);
        a.links = vec![link("eth0", &[("10.1.0.2", 24)])];
        let read = vec![NamespaceInventory::empty("root", 1, NetnsSource::Root), a];
        // pid:9 lives in lab-a's namespace: the same read serves it.
        let got = inventory_of(7, &all, &read).map(|i| i.name.as_str());
        assert_eq!(got, Some("lab-a"));
        let e = endpoint_of(&with_id(ns("pid:9", NetnsSource::Process), 7), &read[1]);
        assert_eq!(e.name, "pid:9");
        assert_eq!(e.addresses[0].ip.to_string(), "10.1.0.2");
        // A namespace discovery did not list was not in that read.
        assert!(inventory_of(8, &all, &read).is_none());
    }

    fn container(runtime: containers::Runtime, name: &str, networks: &[&str]) -> Container {
        Container {
            runtime,
            id: format!("{:0>64}", name.len()),
            name: name.into(),
            image: "busybox".into(),
            state: "running".into(),
            networks: networks.iter().map(|n| n.to_string()).collect(),
            pid: Some(1),
            addresses: Vec::new(),
            sandbox_key: None,
        }
    }

    fn with_id(mut n: Netns, id: u64) -> Netns {
        n.id = id;
        n
    }

    #[test]
    fn containers_name_their_namespaces_as_their_runtimes_name_them() {
        use containers::Runtime::{Docker, Podman};
        let all = vec![
            with_id(ns("root", NetnsSource::Root), 1),
            with_id(ns("pid:100", NetnsSource::Process), 2),
            with_id(ns("netns-0165", NetnsSource::Named), 3),
            with_id(ns("pid:300", NetnsSource::Process), 4),
            with_id(ns("pid:400", NetnsSource::Process), 5),
            with_id(ns("runtime-ns", NetnsSource::Named), 6),
            with_id(ns("lab-a", NetnsSource::Named), 7),
            with_id(ns("pid:700", NetnsSource::Process), 8),
        ];
        let list = vec![
            container(Docker, "web", &["bridge"]),
            container(Podman, "pweb", &["podman"]),
            container(Docker, "app", &["my_bridge"]),
            container(Podman, "app", &["pod_bridge"]),
            container(Docker, "hostc", &["host"]),
            container(Podman, "phost", &["host"]),
            container(Docker, "lab-a", &["bridge"]),
            container(Docker, "infra", &["podnet"]),
            container(Docker, "sidecar", &["podnet"]),
        ];
        let placed: BTreeMap<u64, Vec<usize>> = [
            (2, vec![0]),
            (3, vec![1]),
            (4, vec![2]),
            (5, vec![3]),
            (1, vec![4]),
            (6, vec![5]),
            (8, vec![6, 7, 8]),
        ]
        .into();
        let taken: BTreeSet<String> = ["lab-a".to_string()].into();
        let names = probe_names(&all, &list, &placed, &taken);
        let got: Vec<Option<&str>> = all
            .iter()
            .map(|n| names.get(&n.id).map(String::as_str))
            .collect();
        assert_eq!(
            got,
            [
                None,
                Some("web"),
                Some("pweb"),
                Some("docker:app"),
                Some("podman:app"),
                None,
                None,
                Some("docker:lab-a"),
            ],
            "root and a namespace of host-mode containers keep their names; a name two \
             runtimes give, or one already taken, is told apart by its runtime"
        );
        // A container named like another namespace is told apart too.
        let list = vec![container(Docker, "netns-0165", &["bridge"])];
        let placed: BTreeMap<u64, Vec<usize>> = [(2, vec![0])].into();
        let names = probe_names(&all, &list, &placed, &BTreeSet::new());
        assert_eq!(names[&2], "docker:netns-0165");
        assert_eq!(names.get(&3), None);
    }
}
