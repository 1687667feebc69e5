//! Who wrote a NAT rule, told from the table, the chain and the rule's own words (jump
//! targets, interface names, comments).

use crate::inventory::model::NatOwner;

/// Attribute a rule to its writer. `rule` is the rendered rule (comments included).
///
/// Checked from the most specific sign to the least: netview's own table, then netavark,
/// kube-proxy and Docker by their chain names and the words they leave in rules (Docker's
/// default bridge `docker0`, its user-defined bridges `br-<12 hex digits>`, its comments).
pub fn attribute_owner(table: &str, chain: &str, rule: &str) -> NatOwner {
    if table == "netview" {
        return NatOwner::Netview;
    }
    let words = words(rule);
    let comment = comment(rule).unwrap_or_default().to_ascii_lowercase();

    if table == "netavark"
        || chain.starts_with("NETAVARK")
        || words.iter().any(|w| w.starts_with("NETAVARK"))
        || comment.contains("netavark")
        || comment.contains("podman")
    {
        return NatOwner::Netavark;
    }
    if table == "kube-proxy"
        || chain.starts_with("KUBE-")
        || words.iter().any(|w| w.starts_with("KUBE-"))
        || comment.contains("kubernetes")
        || comment.contains("kube-proxy")
    {
        return NatOwner::Kubernetes;
    }
    if is_docker_chain(chain)
        || words
            .iter()
            .any(|w| is_docker_chain(w) || is_docker_interface(w) || is_docker_dns(w))
        || comment.contains("docker")
        || is_hairpin_masquerade(&words)
    {
        return NatOwner::Docker;
    }
    NatOwner::Other
}

/// `DOCKER`, `DOCKER-USER`, `DOCKER-INGRESS`..., and the embedded DNS server's chains in a
/// user-network container's namespace (`DOCKER_OUTPUT`, `DOCKER_POSTROUTING`).
fn is_docker_chain(name: &str) -> bool {
    name == "DOCKER" || name.starts_with("DOCKER-") || name.starts_with("DOCKER_")
}

/// Docker's embedded DNS server, 127.0.0.11 (with a port in DNAT targets).
fn is_docker_dns(word: &str) -> bool {
    word.strip_prefix("127.0.0.11")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(':') || rest == "/32")
}

/// The masquerade Docker adds for a published port so that a container reaches itself
/// through its own published port: `ip saddr A ip daddr A tcp dport P masquerade`, with one
/// and the same address on both sides.
fn is_hairpin_masquerade(words: &[&str]) -> bool {
    let after = |key: &str| {
        words
            .windows(2)
            .find(|w| w[0] == key)
            .map(|w| w[1].trim_end_matches("/32"))
    };
    words.contains(&"masquerade")
        && matches!((after("saddr"), after("daddr")), (Some(s), Some(d))
            if s == d && s.parse::<std::net::IpAddr>().is_ok())
}

/// The single addresses a rule names (`ip daddr 172.17.0.2`, `dnat to 172.17.0.2:80`,
/// `[fd00::2]:80`), not the networks (`172.17.0.0/16`).
pub fn named_addresses(rule: &str) -> Vec<std::net::IpAddr> {
    let mut out = Vec::new();
    for w in words(rule) {
        let w = w
            .strip_suffix("/32")
            .or_else(|| w.strip_suffix("/128"))
            .unwrap_or(w);
        let ip = w.parse::<std::net::IpAddr>().ok().or_else(|| {
            // An address with a port: `A:P` for IPv4, `[A]:P` for IPv6.
            if let Some(rest) = w.strip_prefix('[') {
                return rest.split_once(']')?.0.parse().ok();
            }
            let (a, port) = w.rsplit_once(':')?;
            port.parse::<u16>().ok()?;
            a.parse::<std::net::Ipv4Addr>()
                .ok()
                .map(std::net::IpAddr::V4)
        });
        if let Some(ip) = ip {
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    out
}

/// `docker0`, `docker_gwbridge`, or a user-defined network's `br-` + 12 hex digits.
fn is_docker_interface(name: &str) -> bool {
    let name = name.trim_end_matches('*');
    name.starts_with("docker")
        || name
            .strip_prefix("br-")
            .is_some_and(|id| id.len() == 12 && id.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The text of the rule's `comment "..."`, if any.
fn comment(rule: &str) -> Option<&str> {
    let start = rule.find("comment \"")? + "comment \"".len();
    let rest = &rule[start..];
    let mut end = rest.len();
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    Some(&rest[..end])
}

/// The rule's words without quotes and set punctuation.
fn words(rule: &str) -> Vec<&str> {
    rule.split(|c: char| c.is_whitespace() || matches!(c, '"' | '{' | '}' | ','))
        .filter(|w| !w.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netview_table_wins() {
        assert_eq!(
            attribute_owner("netview", "post", "oifname \"docker0\" masquerade"),
            NatOwner::Netview
        );
    }

    #[test]
    fn docker_by_chain_jump_and_interface() {
        assert_eq!(
            attribute_owner("nat", "DOCKER", "iifname \"docker0\" return"),
            NatOwner::Docker
        );
        assert_eq!(
            attribute_owner("nat", "PREROUTING", "fib daddr type local jump DOCKER"),
            NatOwner::Docker
        );
        assert_eq!(
            attribute_owner(
                "nat",
                "POSTROUTING",
                "oifname != \"docker0\" ip saddr 172.17.0.0/16 masquerade"
            ),
            NatOwner::Docker
        );
        assert_eq!(
            attribute_owner(
                "nat",
                "POSTROUTING",
                "ip saddr 172.18.0.0/16 oifname != \"br-0123456789ab\" masquerade"
            ),
            NatOwner::Docker
        );
        assert_eq!(
            attribute_owner("nat", "DOCKER-INGRESS", "return"),
            NatOwner::Docker
        );
        assert_eq!(
            attribute_owner(
                "nat",
                "POSTROUTING",
                "ip saddr 10.0.0.0/24 masquerade comment \"added by Docker swarm\""
            ),
            NatOwner::Docker
        );
    }

    #[test]
    fn docker_hairpin_and_embedded_dns() {
        // Measured on Docker 20.10: these were `other`.
        assert_eq!(
            attribute_owner(
                "nat",
                "POSTROUTING",
                "ip saddr 172.17.0.4 ip daddr 172.17.0.4 tcp dport 80 masquerade"
            ),
            NatOwner::Docker
        );
        assert_eq!(
            attribute_owner("nat", "OUTPUT", "ip daddr 127.0.0.11 jump DOCKER_OUTPUT"),
            NatOwner::Docker
        );
        assert_eq!(
            attribute_owner(
                "nat",
                "DOCKER_OUTPUT",
                "ip daddr 127.0.0.11 udp dport 53 dnat to 127.0.0.11:50514"
            ),
            NatOwner::Docker
        );
        assert_eq!(
            attribute_owner(
                "nat",
                "DOCKER_POSTROUTING",
                "ip saddr 127.0.0.11 tcp sport 38745 snat to :53"
            ),
            NatOwner::Docker
        );
        assert_eq!(
            attribute_owner(
                "nat",
                "POSTROUTING",
                "ip daddr 127.0.0.11 jump DOCKER_POSTROUTING"
            ),
            NatOwner::Docker
        );
        // Masquerade between two different hosts, or of a network, is no hairpin.
        assert_eq!(
            attribute_owner(
                "nat",
                "POSTROUTING",
                "ip saddr 10.0.0.4 ip daddr 10.0.0.5 masquerade"
            ),
            NatOwner::Other
        );
        assert_eq!(
            attribute_owner(
                "nat",
                "POSTROUTING",
                "ip saddr 127.0.0.1 ip daddr 127.0.0.110 masquerade"
            ),
            NatOwner::Other
        );
    }

    #[test]
    fn rules_name_single_addresses_not_networks() {
        let ips =
            |r: &str| -> Vec<String> { named_addresses(r).iter().map(|i| i.to_string()).collect() };
        assert_eq!(
            ips("iifname != \"docker0\" tcp dport 8080 dnat to 172.17.0.2:80"),
            ["172.17.0.2"]
        );
        assert_eq!(
            ips("ip saddr 172.17.0.4 ip daddr 172.17.0.4 tcp dport 80 masquerade"),
            ["172.17.0.4"]
        );
        assert!(ips("ip saddr 172.17.0.0/16 oifname != \"docker0\" masquerade").is_empty());
        assert_eq!(
            ips("ip6 daddr fd00::2/128 dnat to [fd00::3]:80"),
            ["fd00::2", "fd00::3"]
        );
        assert_eq!(ips("ip daddr 10.0.0.9/32 return"), ["10.0.0.9"]);
    }

    #[test]
    fn netavark_by_table_chain_and_comment() {
        assert_eq!(
            attribute_owner(
                "netavark",
                "NETAVARK-HOSTPORT-DNAT",
                "tcp dport 8080 jump X"
            ),
            NatOwner::Netavark
        );
        assert_eq!(
            attribute_owner("nat", "POSTROUTING", "jump NETAVARK-1D8721804F16F"),
            NatOwner::Netavark
        );
        assert_eq!(
            attribute_owner(
                "nat",
                "POSTROUTING",
                "ip saddr 10.88.0.0/16 snat to 1.2.3.4 comment \"netavark portfw\""
            ),
            NatOwner::Netavark
        );
    }

    #[test]
    fn kubernetes_by_chain_and_jump() {
        assert_eq!(
            attribute_owner("nat", "KUBE-SERVICES", "ip daddr 10.96.0.1 jump KUBE-SVC-X"),
            NatOwner::Kubernetes
        );
        assert_eq!(
            attribute_owner("nat", "PREROUTING", "jump KUBE-SERVICES"),
            NatOwner::Kubernetes
        );
        assert_eq!(
            attribute_owner(
                "nat",
                "PREROUTING",
                "ip daddr 10.96.0.1 tcp dport 443 comment \"default/kubernetes:https cluster IP\""
            ),
            NatOwner::Kubernetes
        );
    }

    #[test]
    fn everything_else_is_other() {
        assert_eq!(
            attribute_owner("nat", "POSTROUTING", "oifname \"eth0\" masquerade"),
            NatOwner::Other
        );
        // Words that only resemble an owner's do not count.
        assert_eq!(
            attribute_owner("nat", "PREROUTING", "iifname \"br-lan\" jump DOCKERISH"),
            NatOwner::Other
        );
    }
}
