//! How things connect, across every namespace, as lines of text: bridge -> ports -> veth
//! peer -> namespace; macvlan/ipvlan/vlan child -> parent; veth pairs that join two
//! namespaces directly; and what is left on its own. Each line names the devices it draws,
//! so the matrix's selected path can light them. A pure function of the inventory.

use std::collections::{HashMap, HashSet};

use crate::inventory::{Link, LinkKind, LinkRef, NamespaceInventory};

/// One line of the drawing and the devices it draws, as (namespace, device).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopoLine {
    pub text: String,
    pub devices: Vec<(String, String)>,
}

impl TopoLine {
    fn new(text: String, devices: &[(&str, &str)]) -> Self {
        TopoLine {
            text,
            devices: devices
                .iter()
                .map(|(n, d)| (n.to_string(), d.to_string()))
                .collect(),
        }
    }
}

/// A block of lines that belong together (one bridge, one parent device...). The filter
/// keeps or drops whole groups so the drawing stays readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopoGroup {
    pub lines: Vec<TopoLine>,
}

impl TopoGroup {
    pub fn matches(&self, needle: &str) -> bool {
        needle.is_empty()
            || self
                .lines
                .iter()
                .any(|l| l.text.to_lowercase().contains(needle))
    }
}

type LinkKey<'a> = (&'a str, &'a str);

fn key<'a>(ns: &'a str, link: &'a str) -> LinkKey<'a> {
    (ns, link)
}

/// Every link by (namespace name, link name), so peers and parents resolve in O(1) even in
/// a namespace with thousands of links.
struct Index<'a> {
    by_name: HashMap<(&'a str, &'a str), (&'a NamespaceInventory, &'a Link)>,
}

impl<'a> Index<'a> {
    fn new(all: &[&'a NamespaceInventory]) -> Self {
        let mut by_name = HashMap::new();
        for &ns in all {
            for l in &ns.links {
                by_name.insert((ns.name.as_str(), l.name.as_str()), (ns, l));
            }
        }
        Index { by_name }
    }

    fn find(&self, r: &LinkRef) -> Option<(&'a NamespaceInventory, &'a Link)> {
        self.by_name
            .get(&(r.netns.as_deref()?, r.name.as_deref()?))
            .copied()
    }
}

fn addrs(link: &Link) -> String {
    link.addresses
        .iter()
        .filter(|a| a.scope != "link")
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `name @ ns  kind  addresses` without trailing blanks.
fn describe(ns: &str, link: &Link) -> String {
    let mut s = format!("{} @ {}  {}", link.name, ns, kind_mode(link));
    let a = addrs(link);
    if !a.is_empty() {
        s.push_str("  ");
        s.push_str(&a);
    }
    s
}

fn kind_mode(link: &Link) -> String {
    match &link.mode {
        Some(m) => format!("{} {}", link.kind, m),
        None => link.kind.to_string(),
    }
}

fn branch(i: usize, n: usize) -> &'static str {
    if i + 1 == n {
        "└─ "
    } else {
        "├─ "
    }
}

/// Draw the connections of every namespace in `all`. A namespace of containers is named by
/// them: `eth0 @ web (docker)`.
pub fn topology(all: &[&NamespaceInventory]) -> Vec<TopoGroup> {
    let index = Index::new(all);
    let labels: HashMap<&str, String> = all
        .iter()
        .filter(|ns| ns.source != crate::netns::NetnsSource::Root)
        .filter_map(|ns| {
            let first = ns.containers.first()?;
            let names: Vec<&str> = ns.containers.iter().map(|c| c.name.as_str()).collect();
            Some((
                ns.name.as_str(),
                format!("{} ({})", names.join(", "), first.runtime),
            ))
        })
        .collect();
    let describe = |ns: &str, link: &Link| match labels.get(ns) {
        Some(label) => describe(label, link),
        None => describe(ns, link),
    };
    let mut groups = Vec::new();
    // Links already drawn somewhere, so the later sections only show what is left.
    let mut shown: HashSet<LinkKey> = HashSet::new();

    // Bridges, their ports, and where each port's veth peer lives.
    for ns in all {
        for br in ns.links.iter().filter(|l| l.kind == LinkKind::Bridge) {
            shown.insert(key(&ns.name, &br.name));
            let mut lines = vec![TopoLine::new(
                describe(&ns.name, br),
                &[(&ns.name, &br.name)],
            )];
            let ports: Vec<&Link> = ns.bridge_ports(&br.name).collect();
            if ports.is_empty() {
                lines.push(TopoLine::new("└─ (no ports)".to_string(), &[]));
            }
            for (i, port) in ports.iter().enumerate() {
                shown.insert(key(&ns.name, &port.name));
                let mut line = format!("{}{}", branch(i, ports.len()), port.name);
                let mut devices = vec![(ns.name.as_str(), port.name.as_str())];
                match (&port.kind, &port.peer) {
                    (LinkKind::Veth, Some(peer)) => {
                        line.push_str(" ── ");
                        match index.find(peer) {
                            Some((pns, plink)) => {
                                shown.insert(key(&pns.name, &plink.name));
                                devices.push((&pns.name, &plink.name));
                                line.push_str(&describe(&pns.name, plink));
                                if let Some(m) = &plink.master {
                                    line.push_str(&format!("  (port of {m})"));
                                }
                            }
                            None => line.push_str(&format!(
                                "{} (peer's namespace not visible)",
                                crate::ui::table::link_ref(peer)
                            )),
                        }
                    }
                    _ => line.push_str(&format!("  {}", kind_mode(port))),
                }
                lines.push(TopoLine::new(line, &devices));
            }
            groups.push(TopoGroup { lines });
        }
    }

    // Stacked devices: macvlan/ipvlan/vlan children under their parent, wherever both live.
    let children: Vec<(&NamespaceInventory, &Link)> = all
        .iter()
        .flat_map(|&ns| ns.links.iter().map(move |l| (ns, l)))
        .filter(|(_, l)| l.kind.has_lower_device() && l.parent.is_some())
        .collect();
    let mut by_parent: HashMap<(&str, &str), Vec<(&NamespaceInventory, &Link)>> = HashMap::new();
    for &(cns, child) in &children {
        let p = child.parent.as_ref().expect("filtered on parent");
        if let (Some(pns), Some(pname)) = (p.netns.as_deref(), p.name.as_deref()) {
            by_parent
                .entry((pns, pname))
                .or_default()
                .push((cns, child));
        }
    }
    let mut placed: HashSet<LinkKey> = HashSet::new();
    for ns in all {
        for parent in &ns.links {
            let Some(kids) = by_parent.get(&(ns.name.as_str(), parent.name.as_str())) else {
                continue;
            };
            if kids.is_empty() {
                continue;
            }
            shown.insert(key(&ns.name, &parent.name));
            let mut lines = vec![TopoLine::new(
                describe(&ns.name, parent),
                &[(&ns.name, &parent.name)],
            )];
            for (i, (cns, child)) in kids.iter().enumerate() {
                placed.insert(key(&cns.name, &child.name));
                shown.insert(key(&cns.name, &child.name));
                lines.push(TopoLine::new(
                    format!("{}{}", branch(i, kids.len()), describe(&cns.name, child)),
                    &[(&cns.name, &child.name)],
                ));
            }
            groups.push(TopoGroup { lines });
        }
    }
    for (cns, child) in &children {
        if placed.contains(&key(&cns.name, &child.name)) {
            continue;
        }
        shown.insert(key(&cns.name, &child.name));
        let parent = child.parent.as_ref().expect("filtered on parent");
        groups.push(TopoGroup {
            lines: vec![
                TopoLine::new(
                    format!(
                        "{} (parent not visible)",
                        crate::ui::table::link_ref(parent)
                    ),
                    &[],
                ),
                TopoLine::new(
                    format!("└─ {}", describe(&cns.name, child)),
                    &[(&cns.name, &child.name)],
                ),
            ],
        });
    }

    // veth pairs that join namespaces (or a namespace to itself) without a bridge.
    for ns in all {
        for link in ns.links.iter().filter(|l| l.kind == LinkKind::Veth) {
            if shown.contains(&key(&ns.name, &link.name)) {
                continue;
            }
            shown.insert(key(&ns.name, &link.name));
            let mut devices = vec![(ns.name.as_str(), link.name.as_str())];
            let line = match link.peer.as_ref().map(|p| (p, index.find(p))) {
                Some((_, Some((pns, plink)))) => {
                    shown.insert(key(&pns.name, &plink.name));
                    devices.push((&pns.name, &plink.name));
                    format!(
                        "{} ══ {}",
                        describe(&ns.name, link),
                        describe(&pns.name, plink)
                    )
                }
                Some((p, None)) => format!(
                    "{} ══ {} (peer's namespace not visible)",
                    describe(&ns.name, link),
                    crate::ui::table::link_ref(p)
                ),
                None => format!("{} ══ ? (peer unknown)", describe(&ns.name, link)),
            };
            groups.push(TopoGroup {
                lines: vec![TopoLine::new(line, &devices)],
            });
        }
    }

    // What is left: each namespace's other links, and namespaces with nothing but lo.
    for ns in all {
        let rest: Vec<&Link> = ns
            .links
            .iter()
            .filter(|l| l.kind != LinkKind::Loopback && !shown.contains(&key(&ns.name, &l.name)))
            .collect();
        let connected = ns
            .links
            .iter()
            .any(|l| shown.contains(&key(&ns.name, &l.name)));
        if !rest.is_empty() {
            let mut lines = vec![TopoLine::new(
                format!("{}: not connected to the above", ns.name),
                &[],
            )];
            for (i, l) in rest.iter().enumerate() {
                lines.push(TopoLine::new(
                    format!("{}{}", branch(i, rest.len()), describe(&ns.name, l)),
                    &[(&ns.name, &l.name)],
                ));
            }
            groups.push(TopoGroup { lines });
        } else if !connected {
            let what = if ns.links.is_empty() {
                "no links visible"
            } else {
                "isolated, only lo"
            };
            groups.push(TopoGroup {
                lines: vec![TopoLine::new(format!("{}: {what}", ns.name), &[])],
            });
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::NamespaceInventory;
    use crate::ui::fixture;

    fn host() -> Vec<NamespaceInventory> {
        fixture::host()
            .into_iter()
            .filter_map(|(_, r)| r.ok())
            .collect()
    }

    fn draw(all: &[NamespaceInventory]) -> Vec<Vec<String>> {
        let refs: Vec<&NamespaceInventory> = all.iter().collect();
        topology(&refs)
            .into_iter()
            .map(|g| g.lines.into_iter().map(|l| l.text).collect())
            .collect()
    }

    #[test]
    fn each_line_names_the_devices_it_draws() {
        let all = host();
        let refs: Vec<&NamespaceInventory> = all.iter().collect();
        let groups = topology(&refs);
        let devs = |g: usize, l: usize| -> Vec<(&str, &str)> {
            groups[g].lines[l]
                .devices
                .iter()
                .map(|(n, d)| (n.as_str(), d.as_str()))
                .collect()
        };
        assert_eq!(devs(0, 0), vec![("root", "docker0")]);
        assert_eq!(
            devs(0, 1),
            vec![("root", "veth1a2b3c4"), ("pid:1234", "eth0")]
        );
        assert_eq!(devs(1, 1), vec![("nv-mac1", "mv0")]);
        assert_eq!(devs(2, 0), Vec::<(&str, &str)>::new(), "a heading");
        assert_eq!(devs(2, 1), vec![("root", "eth0")]);
    }

    #[test]
    fn bridge_ports_lead_to_their_veth_peers_in_other_namespaces() {
        let groups = draw(&host());
        assert_eq!(
            groups[0],
            vec![
                "docker0 @ root  bridge  172.17.0.1/16",
                "├─ veth1a2b3c4 ── eth0 @ pid:1234  veth  172.17.0.2/16",
                "└─ vethd5e6f7a ── eth0 @ nv-c1  veth  172.17.0.3/16",
            ]
        );
    }

    #[test]
    fn macvlan_child_hangs_under_its_parent_in_another_namespace() {
        let groups = draw(&host());
        assert_eq!(
            groups[1],
            vec![
                "enp0s8 @ root  physical  192.168.50.10/24",
                "└─ mv0 @ nv-mac1  macvlan bridge  192.168.50.21/24",
            ]
        );
    }

    #[test]
    fn leftovers_and_isolated_namespaces_are_listed_once() {
        let groups = draw(&host());
        assert_eq!(groups.len(), 4, "{groups:#?}");
        assert_eq!(groups[2][0], "root: not connected to the above");
        assert_eq!(groups[2].len(), 2, "only eth0 is left in root: {groups:#?}");
        assert_eq!(groups[3], vec!["nv-none: isolated, only lo"]);
        // Every veth end appears exactly once in the whole drawing.
        let text = groups.concat().join("\n");
        assert_eq!(text.matches("veth1a2b3c4").count(), 1);
        assert_eq!(text.matches("eth0 @ nv-c1").count(), 1);
    }

    #[test]
    fn a_veth_pair_between_namespaces_without_a_bridge_is_one_line() {
        let mut a = NamespaceInventory::empty("nv-a", 1, crate::netns::NetnsSource::Named);
        let mut b = NamespaceInventory::empty("nv-b", 2, crate::netns::NetnsSource::Named);
        a.links.push(Link {
            peer: Some(LinkRef {
                netns: Some("nv-b".into()),
                name: Some("vb".into()),
            }),
            ..fixture::link(2, "va", LinkKind::Veth)
        });
        b.links.push(Link {
            peer: Some(LinkRef {
                netns: Some("nv-a".into()),
                name: Some("va".into()),
            }),
            ..fixture::link(2, "vb", LinkKind::Veth)
        });
        assert_eq!(
            draw(&[a, b]),
            vec![vec!["va @ nv-a  veth ══ vb @ nv-b  veth".to_string()]]
        );
    }

    #[test]
    fn peers_and_parents_that_cannot_be_seen_say_so() {
        let mut a = NamespaceInventory::empty("nv-a", 1, crate::netns::NetnsSource::Named);
        a.links.push(Link {
            peer: Some(LinkRef {
                netns: None,
                name: None,
            }),
            ..fixture::link(2, "va", LinkKind::Veth)
        });
        a.links.push(Link {
            mode: Some("l2".into()),
            parent: Some(LinkRef {
                netns: Some("gone".into()),
                name: Some("eth9".into()),
            }),
            ..fixture::link(3, "ipv0", LinkKind::Ipvlan)
        });
        let text = draw(&[a]).concat().join("\n");
        assert!(text.contains("eth9@gone (parent not visible)"), "{text}");
        assert!(text.contains("└─ ipv0 @ nv-a  ipvlan l2"), "{text}");
        assert!(
            text.contains("?@? (peer's namespace not visible)"),
            "{text}"
        );
    }

    #[test]
    fn filter_keeps_whole_groups() {
        let all = host();
        let refs: Vec<&NamespaceInventory> = all.iter().collect();
        let kept: Vec<TopoGroup> = topology(&refs)
            .into_iter()
            .filter(|g| g.matches("nv-mac1"))
            .collect();
        assert_eq!(kept.len(), 1);
        assert_eq!(
            kept[0].lines[0].text,
            "enp0s8 @ root  physical  192.168.50.10/24"
        );
    }
}
