//! How things connect, across every namespace, as lines of text: bridge -> ports -> veth
//! peer -> namespace; macvlan/ipvlan/vlan child -> parent; veth pairs that join two
//! namespaces directly; and what is left on its own. A pure function of the inventory.

use std::collections::BTreeSet;

use crate::inventory::{Link, LinkKind, LinkRef, NamespaceInventory};

/// A block of lines that belong together (one bridge, one parent device...). The filter
/// keeps or drops whole groups so the drawing stays readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopoGroup {
    pub lines: Vec<String>,
}

impl TopoGroup {
    pub fn matches(&self, needle: &str) -> bool {
        needle.is_empty() || self.lines.iter().any(|l| l.to_lowercase().contains(needle))
    }
}

type LinkKey = (String, String);

fn key(ns: &str, link: &str) -> LinkKey {
    (ns.to_string(), link.to_string())
}

fn find<'a>(
    all: &[&'a NamespaceInventory],
    r: &LinkRef,
) -> Option<(&'a NamespaceInventory, &'a Link)> {
    let ns = *all
        .iter()
        .find(|n| Some(n.name.as_str()) == r.netns.as_deref())?;
    let link = ns.link_by_name(r.name.as_deref()?)?;
    Some((ns, link))
}

fn addrs(link: &Link) -> String {
    link.addresses
        .iter()
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

/// Draw the connections of every namespace in `all`.
pub fn topology(all: &[&NamespaceInventory]) -> Vec<TopoGroup> {
    let mut groups = Vec::new();
    // Links already drawn somewhere, so the later sections only show what is left.
    let mut shown: BTreeSet<LinkKey> = BTreeSet::new();

    // Bridges, their ports, and where each port's veth peer lives.
    for ns in all {
        for br in ns.links.iter().filter(|l| l.kind == LinkKind::Bridge) {
            shown.insert(key(&ns.name, &br.name));
            let mut lines = vec![describe(&ns.name, br)];
            let ports: Vec<&Link> = ns.bridge_ports(&br.name).collect();
            if ports.is_empty() {
                lines.push("└─ (no ports)".to_string());
            }
            for (i, port) in ports.iter().enumerate() {
                shown.insert(key(&ns.name, &port.name));
                let mut line = format!("{}{}", branch(i, ports.len()), port.name);
                match (&port.kind, &port.peer) {
                    (LinkKind::Veth, Some(peer)) => {
                        line.push_str(" ── ");
                        match find(all, peer) {
                            Some((pns, plink)) => {
                                shown.insert(key(&pns.name, &plink.name));
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
                lines.push(line);
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
    let mut placed: BTreeSet<LinkKey> = BTreeSet::new();
    for ns in all {
        for parent in &ns.links {
            let kids: Vec<&(&NamespaceInventory, &Link)> = children
                .iter()
                .filter(|(_, c)| {
                    let p = c.parent.as_ref().expect("filtered on parent");
                    p.netns.as_deref() == Some(ns.name.as_str())
                        && p.name.as_deref() == Some(parent.name.as_str())
                })
                .collect();
            if kids.is_empty() {
                continue;
            }
            shown.insert(key(&ns.name, &parent.name));
            let mut lines = vec![describe(&ns.name, parent)];
            for (i, (cns, child)) in kids.iter().enumerate() {
                placed.insert(key(&cns.name, &child.name));
                shown.insert(key(&cns.name, &child.name));
                lines.push(format!(
                    "{}{}",
                    branch(i, kids.len()),
                    describe(&cns.name, child)
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
                format!(
                    "{} (parent not visible)",
                    crate::ui::table::link_ref(parent)
                ),
                format!("└─ {}", describe(&cns.name, child)),
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
            let line = match link.peer.as_ref().map(|p| (p, find(all, p))) {
                Some((_, Some((pns, plink)))) => {
                    shown.insert(key(&pns.name, &plink.name));
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
            groups.push(TopoGroup { lines: vec![line] });
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
            let mut lines = vec![format!("{}: not connected to the above", ns.name)];
            for (i, l) in rest.iter().enumerate() {
                lines.push(format!(
                    "{}{}",
                    branch(i, rest.len()),
                    describe(&ns.name, l)
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
                lines: vec![format!("{}: {what}", ns.name)],
            });
        }
    }
    groups
}
