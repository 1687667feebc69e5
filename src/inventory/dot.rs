//! The topology as a Graphviz picture (`netview inventory --format dot`, the TUI's `e` on the
//! Topology tab): one cluster per namespace holding its links, and edges for bridge (and bond)
//! ports to their master, veth pairs to each other, and macvlan/ipvlan/vlan children to their
//! parent device, wherever each end lives. A pure function of the inventory; `dot -Tsvg` draws
//! it.

use std::collections::HashMap;
use std::fmt::Write;

use super::{Link, LinkKind, LinkRef, NamespaceInventory};
use crate::netns::NetnsSource;

/// A double-quoted Graphviz ID or label: backslashes and quotes escaped, line breaks as `\n`
/// (names come from the kernel and the runtimes, so anything may be in them).
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The cluster's title: the namespace (and its containers, named as the runtimes name them).
fn cluster_label(ns: &NamespaceInventory) -> String {
    let mut label = format!("{} ({})", ns.name, ns.source.word());
    if ns.source != NetnsSource::Root {
        if let Some(first) = ns.containers.first() {
            let names: Vec<&str> = ns.containers.iter().map(|c| c.name.as_str()).collect();
            label = format!("{} ({})\n{label}", names.join(", "), first.runtime);
        }
    }
    if ns.netview {
        label.push_str("\nmade by netview");
    }
    label
}

fn node_label(link: &Link) -> String {
    let mut label = link.name.clone();
    label.push('\n');
    label.push_str(link.kind.as_str());
    if let Some(mode) = &link.mode {
        label.push(' ');
        label.push_str(mode);
    }
    for a in link.addresses.iter().filter(|a| a.scope != "link") {
        label.push('\n');
        label.push_str(&a.to_string());
    }
    label
}

fn shape(kind: &LinkKind) -> &'static str {
    match kind {
        LinkKind::Bridge | LinkKind::Bond => "box3d",
        LinkKind::Physical => "doubleoctagon",
        _ => "box",
    }
}

/// Node IDs: `<namespace index>/<link name>`, so two namespaces' `eth0` stay apart.
struct Ids<'a> {
    by_name: HashMap<&'a str, HashMap<&'a str, String>>,
    /// Ends netview could not see (a peer in a namespace it cannot read), drawn once each.
    unseen: Vec<(String, String)>,
}

impl<'a> Ids<'a> {
    fn new(all: &[&'a NamespaceInventory]) -> Self {
        let mut by_name: HashMap<&str, HashMap<&str, String>> = HashMap::new();
        for (i, ns) in all.iter().enumerate() {
            let links = by_name.entry(ns.name.as_str()).or_default();
            for l in ns.links.iter().filter(|l| l.kind != LinkKind::Loopback) {
                links.insert(l.name.as_str(), format!("{i}/{}", l.name));
            }
        }
        Ids {
            by_name,
            unseen: Vec::new(),
        }
    }

    fn of(&self, ns: &str, link: &str) -> Option<&String> {
        self.by_name.get(ns)?.get(link)
    }

    /// The node for a reference, or a node standing for what is not visible.
    fn of_ref(&mut self, r: &LinkRef, what: &str) -> String {
        if let (Some(ns), Some(name)) = (r.netns.as_deref(), r.name.as_deref()) {
            if let Some(id) = self.of(ns, name) {
                return id.clone();
            }
        }
        let label = match (r.netns.as_deref(), r.name.as_deref()) {
            (Some(ns), Some(name)) => format!("{name} @ {ns}\n({what} not read)"),
            (Some(ns), None) => format!("{what} in {ns}\n(not visible)"),
            (None, Some(name)) => format!("{name}\n({what}'s namespace not visible)"),
            (None, None) => format!("{what} not visible"),
        };
        let id = format!("unseen/{}", self.unseen.len());
        self.unseen.push((id.clone(), label));
        id
    }
}

/// Render `all` as a Graphviz `digraph`.
pub fn render(all: &[&NamespaceInventory]) -> String {
    let mut ids = Ids::new(all);
    let mut out = String::new();
    out.push_str("digraph netview {\n");
    out.push_str("  graph [rankdir=LR, fontname=\"monospace\", compound=true];\n");
    out.push_str("  node [shape=box, fontname=\"monospace\", fontsize=10];\n");
    out.push_str("  edge [fontname=\"monospace\", fontsize=9];\n");
    for (i, ns) in all.iter().enumerate() {
        let _ = writeln!(out, "  subgraph {} {{", quoted(&format!("cluster_{i}")));
        let _ = writeln!(out, "    label={};", quoted(&cluster_label(ns)));
        let links: Vec<&Link> = ns
            .links
            .iter()
            .filter(|l| l.kind != LinkKind::Loopback)
            .collect();
        for l in &links {
            let Some(id) = ids.of(&ns.name, &l.name) else {
                continue;
            };
            let _ = writeln!(
                out,
                "    {} [label={}, shape={}];",
                quoted(id),
                quoted(&node_label(l)),
                shape(&l.kind)
            );
        }
        if links.is_empty() {
            // An empty cluster is not drawn; say why it has nothing.
            let note = if ns.errors.is_empty() {
                "no links but lo"
            } else {
                "not read"
            };
            let _ = writeln!(
                out,
                "    {} [label={}, shape=plaintext];",
                quoted(&format!("{i}/")),
                quoted(note)
            );
        }
        out.push_str("  }\n");
    }
    let mut edges = Vec::new();
    for ns in all {
        for l in ns.links.iter().filter(|l| l.kind != LinkKind::Loopback) {
            let Some(me) = ids.of(&ns.name, &l.name).cloned() else {
                continue;
            };
            if let Some(master) = &l.master {
                if let Some(m) = ids.of(&ns.name, master) {
                    edges.push(format!(
                        "  {} -> {} [label=\"port\"];",
                        quoted(&me),
                        quoted(m)
                    ));
                }
            }
            if let (LinkKind::Veth, Some(peer)) = (&l.kind, &l.peer) {
                // Each pair once: from the end whose (namespace, name) sorts first, or from
                // the visible end when the other is not.
                let other_key = (peer.netns.as_deref(), peer.name.as_deref());
                let visible = matches!(other_key, (Some(pn), Some(pl)) if ids.of(pn, pl).is_some());
                let first = match other_key {
                    (Some(pn), Some(pl)) => (ns.name.as_str(), l.name.as_str()) < (pn, pl),
                    _ => true,
                };
                if first || !visible {
                    let other = ids.of_ref(peer, "peer");
                    edges.push(format!(
                        "  {} -> {} [dir=none, style=bold, label=\"veth\"];",
                        quoted(&me),
                        quoted(&other)
                    ));
                }
            }
            if let (true, Some(parent)) = (l.kind.has_lower_device(), &l.parent) {
                let p = ids.of_ref(parent, "parent");
                let label = match &l.mode {
                    Some(m) => format!("{} {m}", l.kind),
                    None => l.kind.to_string(),
                };
                edges.push(format!(
                    "  {} -> {} [style=dashed, label={}];",
                    quoted(&me),
                    quoted(&p),
                    quoted(&label)
                ));
            }
        }
    }
    for (id, label) in &ids.unseen {
        let _ = writeln!(
            out,
            "  {} [label={}, shape=box, style=dashed];",
            quoted(id),
            quoted(label)
        );
    }
    for e in edges {
        out.push_str(&e);
        out.push('\n');
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Address;

    fn link(index: u32, name: &str, kind: LinkKind) -> Link {
        Link {
            index,
            name: name.to_string(),
            kind,
            mode: None,
            state: "UP".to_string(),
            flags: vec!["UP".to_string()],
            mac: None,
            mtu: Some(1500),
            master: None,
            parent: None,
            peer: None,
            addresses: Vec::new(),
        }
    }

    fn address(cidr: &str) -> Address {
        let (ip, len) = cidr.split_once('/').unwrap();
        Address {
            ip: ip.parse().unwrap(),
            prefix_len: len.parse().unwrap(),
            scope: "global".to_string(),
        }
    }

    fn peer(ns: Option<&str>, name: Option<&str>) -> LinkRef {
        LinkRef {
            netns: ns.map(str::to_string),
            name: name.map(str::to_string),
        }
    }

    /// A host with a bridge, a container on a veth pair, a macvlan child of eth0 in another
    /// namespace, and a veth whose peer is in a namespace netview could not read.
    fn world() -> Vec<NamespaceInventory> {
        let mut root = NamespaceInventory::empty("root", 1, NetnsSource::Root);
        let mut br = link(3, "docker0", LinkKind::Bridge);
        br.addresses.push(address("172.17.0.1/16"));
        let mut host_end = link(5, "veth1a", LinkKind::Veth);
        host_end.master = Some("docker0".into());
        host_end.peer = Some(peer(Some("pid:42"), Some("eth0")));
        let mut lost = link(6, "veth9", LinkKind::Veth);
        lost.peer = Some(peer(None, None));
        root.links = vec![
            link(1, "lo", LinkKind::Loopback),
            link(2, "eth0", LinkKind::Physical),
            br,
            host_end,
            lost,
        ];
        let mut c = NamespaceInventory::empty("pid:42", 2, NetnsSource::Process);
        let mut c_end = link(2, "eth0", LinkKind::Veth);
        c_end.peer = Some(peer(Some("root"), Some("veth1a")));
        c_end.addresses.push(address("172.17.0.2/16"));
        c.links = vec![link(1, "lo", LinkKind::Loopback), c_end];
        let mut m = NamespaceInventory::empty("nv-\"odd\\name", 3, NetnsSource::Named);
        let mut mv = link(2, "mv0", LinkKind::Macvlan);
        mv.mode = Some("bridge".into());
        mv.parent = Some(peer(Some("root"), Some("eth0")));
        m.links = vec![mv];
        let mut denied = NamespaceInventory::empty("denied", 4, NetnsSource::Named);
        denied.errors.push("cannot enter".into());
        vec![root, c, m, denied]
    }

    fn rendered() -> String {
        let w = world();
        let refs: Vec<&NamespaceInventory> = w.iter().collect();
        render(&refs)
    }

    #[test]
    fn clusters_nodes_and_edges() {
        let dot = rendered();
        assert!(dot.starts_with("digraph netview {\n"));
        assert!(dot.ends_with("}\n"));
        for cluster in ["cluster_0", "cluster_1", "cluster_2", "cluster_3"] {
            assert!(dot.contains(&format!("subgraph \"{cluster}\" {{")), "{dot}");
        }
        assert!(dot.contains(r#"label="root (root)";"#));
        // The port, the pair once (from the end that sorts first: pid:42 before root), the
        // macvlan to its parent.
        assert!(
            dot.contains(r#""0/veth1a" -> "0/docker0" [label="port"];"#),
            "{dot}"
        );
        assert_eq!(
            dot.matches(r#"[dir=none, style=bold, label="veth"]"#)
                .count(),
            2
        );
        assert!(dot.contains(r#""1/eth0" -> "0/veth1a" [dir=none"#), "{dot}");
        assert!(!dot.contains(r#""0/veth1a" -> "1/eth0""#));
        assert!(dot.contains(r#""2/mv0" -> "0/eth0" [style=dashed, label="macvlan bridge"];"#));
        // The peer nobody can see gets a node of its own; lo is left out.
        assert!(dot.contains(r#""0/veth9" -> "unseen/0""#), "{dot}");
        assert!(dot.contains(r#""unseen/0" [label="peer not visible""#));
        assert!(!dot.contains("/lo\""));
        // Addresses in the label; odd names escaped; an unread namespace says so.
        assert!(
            dot.contains(r#"label="docker0\nbridge\n172.17.0.1/16""#),
            "{dot}"
        );
        assert!(dot.contains(r#"label="nv-\"odd\\name (named)";"#), "{dot}");
        assert!(dot.contains(r#""3/" [label="not read", shape=plaintext];"#));
    }

    #[test]
    fn quoting_keeps_everything_inside_the_string() {
        assert_eq!(quoted("a\"b\\c\nd\u{7}"), r#""a\"b\\c\nd""#);
    }

    /// Graphviz itself reads the picture (scripts/setup installs graphviz).
    #[test]
    fn graphviz_draws_it() {
        use std::io::Write as _;
        let dot = crate::programs::find("dot")
            .expect("graphviz's dot is not installed: scripts/setup installs it");
        let mut child = std::process::Command::new(dot)
            .arg("-Tsvg")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(rendered().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "dot refused the picture: {stderr}");
        assert!(stderr.trim().is_empty(), "dot warned: {stderr}");
        let svg = String::from_utf8_lossy(&out.stdout);
        assert!(svg.contains("<svg"));
        // Every cluster and link is drawn.
        for text in ["docker0", "veth1a", "mv0", "root (root)", "not read"] {
            assert!(svg.contains(text), "svg lacks {text}");
        }
    }
}
