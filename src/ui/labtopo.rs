//! The picture of the lab: the host with docker0 and enp0s8, the LAN switch, the peer and the
//! router, and every container attached where it really is (a docker0 port, a macvlan/ipvlan
//! child of its parent), with addresses. Drawn from the live inventory (so what other tools
//! plugged into the same bridges and parents shows too), named with the lab's state. Each
//! line says what it draws, so the selected cell's path (the packet walk's hops) lights the
//! lines it passes. Pure.

use crate::inventory::{Link, LinkKind, NamespaceInventory};
use crate::lab::spec::NetworkMode;
use crate::lab::state::LabState;
use crate::ui::bench::OnPath;

/// Something a line of the picture draws.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PicNode {
    /// A namespace (by its inventory name): on the path when a hop is in it.
    Netns(String),
    /// A device (namespace, device): on the path when a hop is at it.
    Dev(String, String),
    /// A lab endpoint by name: on the path when it is the cell's source or target.
    Endpoint(String),
}

/// One line of the picture and what it draws; it is on the path when any of those is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PicLine {
    pub keys: Vec<PicNode>,
    pub text: String,
}

impl PicLine {
    pub fn on_path(&self, on: &OnPath) -> bool {
        self.keys.iter().any(|k| match k {
            PicNode::Netns(ns) => on.netns(ns),
            PicNode::Dev(ns, dev) => on.device(ns, dev),
            PicNode::Endpoint(name) => on.endpoints.contains(name),
        })
    }
}

fn line(keys: Vec<PicNode>, text: String) -> PicLine {
    PicLine { keys, text }
}

fn dev(ns: &str, dev: &str) -> PicNode {
    PicNode::Dev(ns.to_string(), dev.to_string())
}

fn endpoint(name: &str) -> PicNode {
    PicNode::Endpoint(name.to_string())
}

fn addrs(link: &Link) -> String {
    link.addresses
        .iter()
        .filter(|a| {
            let link_local = match a.ip {
                std::net::IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
                std::net::IpAddr::V4(v4) => v4.is_link_local(),
            };
            a.scope != "link" && !link_local && !a.ip.is_loopback()
        })
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The lab's name for a namespace: a container, a world node, or the namespace itself.
fn who(lab: &LabState, ns: &str) -> String {
    if let Some(c) = lab
        .containers
        .iter()
        .find(|c| c.netns.as_deref() == Some(ns))
    {
        return c.spec.name.clone();
    }
    for part in ["host", "peer", "router", "switch"] {
        if lab.ns_name(part) == ns {
            return part.to_string();
        }
    }
    ns.to_string()
}

fn mode_of(lab: &LabState, name: &str) -> String {
    lab.container(name)
        .map(|c| match c.spec.submode() {
            Some(s) => format!("{} {s}", c.spec.mode),
            None => c.spec.mode.to_string(),
        })
        .unwrap_or_default()
}

/// Build the picture. `all` is every inventory read so far.
pub fn picture(lab: &LabState, all: &[&NamespaceInventory]) -> Vec<PicLine> {
    let find = |ns: &str| all.iter().copied().find(|i| i.name == ns);
    let peer_of = |l: &Link| -> Option<(String, String, String)> {
        let r = l.peer.as_ref()?;
        let ns = r.netns.clone()?;
        let name = r.name.clone()?;
        let a = find(&ns)
            .and_then(|inv| inv.links.iter().find(|x| x.name == name))
            .map(addrs)
            .unwrap_or_default();
        Some((ns, name, a))
    };
    let mut out = Vec::new();
    let host_ns = lab.host_ns.name().unwrap_or("(netview's own)").to_string();
    let host = find(&host_ns);
    let lan = lab.spec.host_lan_ifname().to_string();
    let fwd = match host.and_then(|h| h.ip_forward) {
        Some(true) => "  ip_forward on",
        Some(false) => "  ip_forward off",
        None => "",
    };
    out.push(line(
        vec![PicNode::Netns(host_ns.clone()), endpoint("host")],
        format!("host  [{host_ns}]{fwd}  (docker1 in the post)"),
    ));
    let Some(host) = host else {
        out.push(line(Vec::new(), "  … not read yet".into()));
        return out;
    };
    // Bridges in the host (docker0) with their ports.
    for br in host.links.iter().filter(|l| l.kind == LinkKind::Bridge) {
        let nat = if host
            .nat
            .iter()
            .any(|r| r.rule.contains("masquerade") || r.rule.contains("MASQUERADE"))
        {
            "  NAT: masquerade out of the host"
        } else {
            "  no NAT rule"
        };
        out.push(line(
            vec![dev(&host.name, &br.name)],
            format!("├─ {} {} (bridge){nat}", br.name, addrs(br)),
        ));
        let ports: Vec<&Link> = host
            .links
            .iter()
            .filter(|l| l.master.as_deref() == Some(br.name.as_str()))
            .collect();
        for (i, p) in ports.iter().enumerate() {
            let branch = if i + 1 == ports.len() {
                "└─"
            } else {
                "├─"
            };
            let mut keys = vec![dev(&host.name, &p.name)];
            let text = match peer_of(p) {
                Some((ns, name, a)) => {
                    let w = who(lab, &ns);
                    let m = mode_of(lab, &w);
                    keys.push(dev(&ns, &name));
                    keys.push(endpoint(&w));
                    format!("│  {branch} port {} ⇄ {w} {name} {a}  {m}", p.name)
                }
                None => format!("│  {branch} port {}", p.name),
            };
            out.push(line(keys, text.trim_end().to_string()));
        }
    }
    // The LAN card and every child of it (or of any other parent in the host).
    let parents: Vec<&Link> = host
        .links
        .iter()
        .filter(|l| {
            l.name == lan
                || all.iter().any(|inv| {
                    inv.links.iter().any(|c| {
                        c.parent.as_ref().is_some_and(|r| {
                            r.netns.as_deref() == Some(&host.name)
                                && r.name.as_deref() == Some(&l.name)
                        })
                    })
                })
        })
        .collect();
    for p in parents {
        let promisc = if p.has_flag("PROMISC") {
            "  promisc"
        } else {
            ""
        };
        let kind = if p.kind == LinkKind::Macvlan {
            " (host shim)"
        } else {
            ""
        };
        out.push(line(
            vec![dev(&host.name, &p.name)],
            format!("├─ {} {}{promisc}{kind}", p.name, addrs(p)),
        ));
        // (the child's lab name, what the line draws, the line).
        let mut kids: Vec<(String, Vec<PicNode>, String)> = Vec::new();
        let child_line = |w: &str, c: &Link| {
            let mode = format!("{} {}", c.kind.as_str(), c.mode.clone().unwrap_or_default());
            format!("{mode} child ⇄ {w} {} {}", c.name, addrs(c))
        };
        for inv in all {
            for c in &inv.links {
                let Some(r) = &c.parent else { continue };
                if r.netns.as_deref() == Some(&host.name) && r.name.as_deref() == Some(&p.name) {
                    let w = who(lab, &inv.name);
                    let keys = vec![dev(&inv.name, &c.name), endpoint(&w)];
                    kids.push((w.clone(), keys, child_line(&w, c)));
                }
            }
        }
        // The kernel does not always name a moved child's parent (the inventory then has no
        // parent for it): the lab's record says where it hangs.
        for c in lab.containers.iter().filter(|c| {
            c.parent.as_deref() == Some(p.name.as_str())
                && matches!(c.spec.mode, NetworkMode::Macvlan | NetworkMode::Ipvlan)
        }) {
            if kids.iter().any(|(k, _, _)| *k == c.spec.name) {
                continue;
            }
            let live = c
                .netns
                .as_deref()
                .and_then(find)
                .and_then(|inv| inv.links.iter().find(|l| l.name == c.ifname));
            let text = match live {
                Some(l) if l.mode.is_some() => child_line(&c.spec.name, l),
                _ => format!(
                    "{} {} child ⇄ {} {} {}",
                    c.spec.mode,
                    c.spec.submode().unwrap_or_default(),
                    c.spec.name,
                    c.ifname,
                    c.ip.map(|i| i.to_string()).unwrap_or_default()
                ),
            };
            let mut keys = vec![endpoint(&c.spec.name)];
            if let Some(ns) = &c.netns {
                keys.push(dev(ns, &c.ifname));
            }
            kids.push((c.spec.name.clone(), keys, text));
        }
        let n = kids.len();
        for (i, (_, keys, text)) in kids.into_iter().enumerate() {
            let branch = if i + 1 == n { "└─" } else { "├─" };
            out.push(line(keys, format!("│  {branch} {}", text.trim_end())));
        }
    }
    for c in lab
        .containers
        .iter()
        .filter(|c| c.spec.mode == NetworkMode::Host)
    {
        out.push(line(
            vec![endpoint(&c.spec.name)],
            format!("└─ {} shares the host's stack (host mode)", c.spec.name),
        ));
    }
    // The LAN switch and what is plugged into it.
    let sw_ns = lab.ns_name("switch");
    let sw = lab.spec.switch.bridge.clone();
    out.push(line(
        vec![dev(&sw_ns, &sw)],
        format!("switch {sw}  [{sw_ns}]  (the LAN 192.168.50.0/24)"),
    ));
    if let Some(swi) = find(&sw_ns) {
        let ports: Vec<&Link> = swi
            .links
            .iter()
            .filter(|l| l.master.as_deref() == Some(sw.as_str()))
            .collect();
        for (i, p) in ports.iter().enumerate() {
            let branch = if i + 1 == ports.len() {
                "└─"
            } else {
                "├─"
            };
            let mut keys = vec![dev(&sw_ns, &p.name)];
            let text = match peer_of(p) {
                Some((ns, name, a)) => {
                    let w = who(lab, &ns);
                    let what = match w.as_str() {
                        "peer" => "  (docker2 in the post)".to_string(),
                        "router" => format!("  far {} (the internet)", lab.spec.router.far),
                        _ => String::new(),
                    };
                    keys.push(dev(&ns, &name));
                    // The host's own line stands for the host; this is only its LAN port.
                    if w != "host" {
                        keys.push(endpoint(&w));
                    }
                    format!("{branch} port ⇄ {w} {name} {a}{what}")
                }
                None => format!("{branch} port {}", p.name),
            };
            out.push(line(keys, text));
        }
    }
    for c in lab
        .containers
        .iter()
        .filter(|c| c.spec.mode == NetworkMode::None)
    {
        let n = &c.spec.name;
        let mut keys = vec![endpoint(n)];
        keys.extend(c.netns.clone().map(PicNode::Netns));
        out.push(line(
            keys,
            format!("{n}  only lo: attached to nothing (none)"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::fixture;

    #[test]
    fn every_container_is_drawn_where_it_is_attached() {
        let lab = fixture::lab_state();
        let invs: Vec<NamespaceInventory> = fixture::lab_inventories()
            .into_iter()
            .filter_map(|(_, r)| r.ok())
            .collect();
        let refs: Vec<&NamespaceInventory> = invs.iter().collect();
        let pic = picture(&lab, &refs);
        let text: Vec<&str> = pic.iter().map(|l| l.text.as_str()).collect();
        let pos = |needle: &str| {
            text.iter()
                .position(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("{needle} missing in {text:#?}"))
        };
        // br1 is a docker0 port, mv1 a child of enp0s8, peer and router on the switch.
        assert!(pos("docker0") < pos("⇄ br1 eth0 172.17.0.2/16"));
        assert!(pos("enp0s8 192.168.50.11/24") < pos("⇄ mv1 eth0 192.168.50.193/24"));
        assert!(text[pos("enp0s8 192.168.50.11/24")].contains("promisc"));
        assert!(pos("switch lan0") < pos("⇄ peer eth0 192.168.50.12/24"));
        assert!(text[pos("⇄ router")].contains("198.51.100.1/32"));
        assert!(text[pos("none1")].contains("only lo"));
        assert!(text[pos("h1")].contains("host's stack"));
        assert_eq!(
            pic[pos("⇄ mv1")].keys,
            vec![dev("nv-mv1", "eth0"), endpoint("mv1")]
        );
    }

    /// The walk's hops of mv1 → peer light the lines they pass: mv1's child, the host's LAN
    /// card, the switch, its host and peer ports and the peer, not the router's port nor
    /// docker0's; a cell without hops lights only its two ends.
    #[test]
    fn the_selected_cells_hops_light_the_lines_they_pass() {
        let lab = fixture::lab_state();
        let invs: Vec<NamespaceInventory> = fixture::lab_inventories()
            .into_iter()
            .filter_map(|(_, r)| r.ok())
            .collect();
        let refs: Vec<&NamespaceInventory> = invs.iter().collect();
        let pic = picture(&lab, &refs);
        let results = fixture::matrix_results();
        let mut m =
            crate::ui::bench::MatrixState::start(results.iter().map(|r| r.cell.clone()).collect());
        for r in results {
            m.record(r);
        }
        let lit = |m: &crate::ui::bench::MatrixState| -> Vec<&str> {
            let on = m.on_path();
            pic.iter()
                .filter(|l| l.on_path(&on))
                .map(|l| l.text.as_str())
                .collect()
        };
        assert!(m.select("mv1", "peer"));
        let text = lit(&m);
        let has = |needle: &str| text.iter().any(|l| l.contains(needle));
        assert!(has("⇄ mv1 eth0"), "{text:#?}");
        assert!(has("├─ enp0s8 192.168.50.11/24"), "{text:#?}");
        assert!(has("switch lan0"), "{text:#?}");
        assert!(has("port ⇄ host enp0s8"), "{text:#?}");
        assert!(has("port ⇄ peer eth0"), "{text:#?}");
        assert!(!has("⇄ router"), "{text:#?}");
        assert!(!has("docker0"), "{text:#?}");
        assert!(!has("⇄ br1"), "{text:#?}");
        // none1 has no route: no hops, only its own line (and the target's).
        assert!(m.select("none1", "br1"));
        let text = lit(&m);
        assert_eq!(text.len(), 2, "{text:#?}");
        assert!(
            text[0].contains("⇄ br1") && text[1].starts_with("none1"),
            "{text:#?}"
        );
    }
}
