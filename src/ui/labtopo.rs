//! The picture of the lab: the host with docker0 and enp0s8, the LAN switch, the peer and the
//! router, and every container attached where it really is (a docker0 port, a macvlan/ipvlan
//! child of its parent), with addresses. Drawn from the live inventory (so what other tools
//! plugged into the same bridges and parents shows too), named with the lab's state. Pure.

use crate::inventory::{Link, LinkKind, NamespaceInventory};
use crate::lab::spec::NetworkMode;
use crate::lab::state::LabState;

/// One line of the picture; `keys` are the nodes it draws (it is on a packet's path when
/// they all are: a switch port is keyed by the switch and what is plugged into it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PicLine {
    pub keys: Vec<String>,
    pub text: String,
}

impl PicLine {
    pub fn on_path(&self, hops: &[String]) -> bool {
        !self.keys.is_empty() && self.keys.iter().all(|k| hops.contains(k))
    }
}

fn line(key: Option<&str>, text: String) -> PicLine {
    PicLine {
        keys: key.map(str::to_string).into_iter().collect(),
        text,
    }
}

fn line2(a: &str, b: &str, text: String) -> PicLine {
    PicLine {
        keys: vec![a.to_string(), b.to_string()],
        text,
    }
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
        Some("host"),
        format!("host  [{host_ns}]{fwd}  (docker1 in the post)"),
    ));
    let Some(host) = host else {
        out.push(line(None, "  … not read yet".into()));
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
            Some(&br.name),
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
            let (key, text) = match peer_of(p) {
                Some((ns, name, a)) => {
                    let w = who(lab, &ns);
                    let m = mode_of(lab, &w);
                    (
                        w.clone(),
                        format!("│  {branch} port {} ⇄ {w} {name} {a}  {m}", p.name),
                    )
                }
                None => (p.name.clone(), format!("│  {branch} port {}", p.name)),
            };
            out.push(line(Some(&key), text.trim_end().to_string()));
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
            Some(&p.name),
            format!("├─ {} {}{promisc}{kind}", p.name, addrs(p)),
        ));
        let mut kids: Vec<(String, String)> = Vec::new();
        let child_line = |w: &str, c: &Link| {
            let mode = format!("{} {}", c.kind.as_str(), c.mode.clone().unwrap_or_default());
            format!("{mode} child ⇄ {w} {} {}", c.name, addrs(c))
        };
        for inv in all {
            for c in &inv.links {
                let Some(r) = &c.parent else { continue };
                if r.netns.as_deref() == Some(&host.name) && r.name.as_deref() == Some(&p.name) {
                    let w = who(lab, &inv.name);
                    kids.push((w.clone(), child_line(&w, c)));
                }
            }
        }
        // The kernel does not always name a moved child's parent (the inventory then has no
        // parent for it): the lab's record says where it hangs.
        for c in lab.containers.iter().filter(|c| {
            c.parent.as_deref() == Some(p.name.as_str())
                && matches!(c.spec.mode, NetworkMode::Macvlan | NetworkMode::Ipvlan)
        }) {
            if kids.iter().any(|(k, _)| *k == c.spec.name) {
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
            kids.push((c.spec.name.clone(), text));
        }
        for (i, (key, text)) in kids.iter().enumerate() {
            let branch = if i + 1 == kids.len() {
                "└─"
            } else {
                "├─"
            };
            out.push(line(Some(key), format!("│  {branch} {}", text.trim_end())));
        }
    }
    for c in lab
        .containers
        .iter()
        .filter(|c| c.spec.mode == NetworkMode::Host)
    {
        out.push(line(
            Some(&c.spec.name),
            format!("└─ {} shares the host's stack (host mode)", c.spec.name),
        ));
    }
    // The LAN switch and what is plugged into it.
    let sw_ns = lab.ns_name("switch");
    let sw = lab.spec.switch.bridge.clone();
    out.push(line(
        Some(&sw),
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
            let (key, text) = match peer_of(p) {
                Some((ns, name, a)) => {
                    let w = who(lab, &ns);
                    let what = match w.as_str() {
                        "peer" => "  (docker2 in the post)".to_string(),
                        "router" => format!("  far {} (the internet)", lab.spec.router.far),
                        _ => String::new(),
                    };
                    // The host's port is on a path through its LAN card.
                    let node = if w == "host" { lan.clone() } else { w.clone() };
                    (node, format!("{branch} port ⇄ {w} {name} {a}{what}"))
                }
                None => (p.name.clone(), format!("{branch} port {}", p.name)),
            };
            out.push(line2(&sw, &key, text));
        }
    }
    let isolated: Vec<&str> = lab
        .containers
        .iter()
        .filter(|c| c.spec.mode == NetworkMode::None)
        .map(|c| c.spec.name.as_str())
        .collect();
    for n in isolated {
        out.push(line(
            Some(n),
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
        assert_eq!(pic[pos("⇄ mv1")].keys, vec!["mv1".to_string()]);
        // mv1 → peer passes the host's LAN card and the switch, not the router's port.
        let hops: Vec<String> = ["mv1", "enp0s8", "lan0", "peer"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(pic[pos("⇄ peer")].on_path(&hops));
        assert!(pic[pos("⇄ host enp0s8")].on_path(&hops));
        assert!(!pic[pos("⇄ router")].on_path(&hops));
    }
}
