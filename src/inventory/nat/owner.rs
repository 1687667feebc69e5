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
            .any(|w| is_docker_chain(w) || is_docker_interface(w))
        || comment.contains("docker")
    {
        return NatOwner::Docker;
    }
    NatOwner::Other
}

fn is_docker_chain(name: &str) -> bool {
    name == "DOCKER" || name.starts_with("DOCKER-")
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
