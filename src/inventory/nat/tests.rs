//! Tests over real outputs saved from this machine (tests/fixtures/nat/): `nft -j list
//! ruleset` and `nft -a -s list ruleset` of a namespace holding Docker's nat rules written by
//! iptables-nft (docker-*), of one holding more iptables-nft rules, a native `netview` table and
//! a filter table (mixed.*), and `iptables-legacy-save -t nat` output (legacy-*); and the
//! filter chains read from tests/fixtures/filter/: Docker's FORWARD chains written by
//! iptables-nft, a native nft firewall (`inet fw`), and `iptables-legacy-save -t filter`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use super::*;
use crate::inventory::model::NatOwner;

const DOCKER_JSON: &str = include_str!("../../../tests/fixtures/nat/docker-iptables-nft.json");
const DOCKER_TEXT: &str = include_str!("../../../tests/fixtures/nat/docker-iptables-nft.txt");
const MIXED_JSON: &str = include_str!("../../../tests/fixtures/nat/mixed.json");
const MIXED_TEXT: &str = include_str!("../../../tests/fixtures/nat/mixed.txt");
const KUBE_JSON: &str = include_str!("../../../tests/fixtures/nat/kube-proxy-nft.json");
const KUBE_TEXT: &str = include_str!("../../../tests/fixtures/nat/kube-proxy-nft.txt");
const LEGACY_V4: &str = include_str!("../../../tests/fixtures/nat/legacy-ipv4-save.txt");
const FILTER_DOCKER_JSON: &str =
    include_str!("../../../tests/fixtures/filter/docker-iptables-nft.json");
const FILTER_DOCKER_TEXT: &str =
    include_str!("../../../tests/fixtures/filter/docker-iptables-nft.txt");
const FILTER_FIREWALL_JSON: &str = include_str!("../../../tests/fixtures/filter/firewall-nft.json");
const FILTER_LEGACY_V4: &str = include_str!("../../../tests/fixtures/filter/legacy-ipv4-save.txt");
const LEGACY_V6: &str = include_str!("../../../tests/fixtures/nat/legacy-ipv6-save.txt");

/// A system that answers from fixtures and records every program it was asked to run.
#[derive(Default)]
struct FakeHost {
    programs: Vec<&'static str>,
    nft_json: Option<&'static str>,
    /// What the kernel says of the namespace's tables; `None` answers EPERM.
    nft_tables: Option<usize>,
    /// Outputs of `run`, by program name and first argument.
    outputs: HashMap<(String, String), Result<&'static str, String>>,
    proc_files: HashMap<&'static str, &'static str>,
    /// /proc files that answer EACCES (root-only files, read without root).
    proc_denied: Vec<&'static str>,
    ran: RefCell<Vec<String>>,
}

impl FakeHost {
    fn with_nft(json: &'static str, text: Option<&'static str>) -> Self {
        let mut host = FakeHost {
            programs: vec!["nft"],
            nft_json: Some(json),
            ..Default::default()
        };
        host.outputs.insert(
            ("nft".into(), "-a".into()),
            text.ok_or_else(|| "Error: Operation not permitted".to_string()),
        );
        host
    }
}

impl NatHost for FakeHost {
    fn nft_table_count(&self) -> io::Result<usize> {
        self.nft_tables
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EPERM))
    }

    fn find_program(&self, name: &str) -> Option<PathBuf> {
        self.programs
            .contains(&name)
            .then(|| PathBuf::from(format!("/usr/sbin/{name}")))
    }

    fn nft_json(&self, nft: &Path) -> Result<String, NatReadError> {
        self.ran
            .borrow_mut()
            .push(format!("{} -j list ruleset", nft.display()));
        self.nft_json
            .map(str::to_string)
            .ok_or_else(|| NatReadError::Failed {
                program: "nft".into(),
                message: "Operation not permitted".into(),
            })
    }

    fn run(&self, program: &Path, args: &[&str]) -> Result<String, NatReadError> {
        let name = program.file_name().unwrap().to_string_lossy().into_owned();
        self.ran
            .borrow_mut()
            .push(format!("{} {}", program.display(), args.join(" ")));
        let exact = self.outputs.get(&(name.clone(), args.join(" ")));
        match exact.or_else(|| self.outputs.get(&(name.clone(), args[0].to_string()))) {
            Some(Ok(out)) => Ok(out.to_string()),
            Some(Err(message)) => Err(NatReadError::Failed {
                program: name,
                message: message.clone(),
            }),
            None => panic!("unexpected run of {name} {args:?}"),
        }
    }

    fn read_proc(&self, path: &str) -> io::Result<String> {
        if self.proc_denied.contains(&path) {
            return Err(io::Error::from_raw_os_error(libc::EACCES));
        }
        self.proc_files
            .get(path)
            .map(|s| s.to_string())
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
}

fn summary(rules: &[NatRule]) -> Vec<(String, String, NatOwner)> {
    rules
        .iter()
        .map(|r| (r.chain.clone(), r.rule.clone(), r.owner))
        .collect()
}

fn row(chain: &str, rule: &str, owner: NatOwner) -> (String, String, NatOwner) {
    (chain.to_string(), rule.to_string(), owner)
}

#[test]
fn docker_rules_written_by_iptables_nft_read_as_nft_prints_them() {
    let host = FakeHost::with_nft(DOCKER_JSON, Some(DOCKER_TEXT));
    let (rules, errors) = read_nat_with(&host);
    assert_eq!(errors, Vec::<String>::new());
    assert_eq!(
        summary(&rules),
        vec![
            row("DOCKER", r#"iifname "docker0" return"#, NatOwner::Docker),
            row(
                "DOCKER",
                r#"iifname != "docker0" tcp dport 8080 dnat to 172.17.0.2:80"#,
                NatOwner::Docker
            ),
            row(
                "PREROUTING",
                "fib daddr type local jump DOCKER",
                NatOwner::Docker
            ),
            row(
                "OUTPUT",
                "ip daddr != 127.0.0.0/8 fib daddr type local jump DOCKER",
                NatOwner::Docker
            ),
            row(
                "POSTROUTING",
                r#"oifname != "docker0" ip saddr 172.17.0.0/16 masquerade"#,
                NatOwner::Docker
            ),
        ]
    );
    assert!(rules
        .iter()
        .all(|r| r.family == "ip" && r.table == "nat" && r.backend == NatBackend::Nftables));
    // One JSON listing, one text listing (the rules hold xt extensions); nothing else.
    assert_eq!(
        *host.ran.borrow(),
        vec![
            "/usr/sbin/nft -j list ruleset".to_string(),
            "/usr/sbin/nft -a -s list ruleset".to_string()
        ]
    );
}

#[test]
fn without_nft_text_iptables_nft_extensions_show_by_name() {
    let host = FakeHost::with_nft(DOCKER_JSON, None);
    let (rules, errors) = read_nat_with(&host);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("Operation not permitted"), "{errors:?}");
    let rendered: Vec<&str> = rules.iter().map(|r| r.rule.as_str()).collect();
    assert_eq!(
        rendered,
        vec![
            r#"iifname "docker0" return"#,
            r#"iifname != "docker0" tcp dport 8080 xt target DNAT"#,
            "xt match addrtype jump DOCKER",
            "ip daddr != 127.0.0.0/8 xt match addrtype jump DOCKER",
            r#"oifname != "docker0" ip saddr 172.17.0.0/16 xt target MASQUERADE"#,
        ]
    );
    // Owners still follow from chains, jumps and docker0.
    assert!(rules.iter().all(|r| r.owner == NatOwner::Docker));
}

#[test]
fn nat_chains_are_nat_base_chains_and_what_they_jump_to() {
    let ruleset = nft::NftRuleset::from_json(MIXED_JSON).unwrap();
    let mut chains: Vec<String> = ruleset
        .nat_chains()
        .into_iter()
        .map(|(f, t, c)| format!("{f} {t} {c}"))
        .collect();
    chains.sort();
    assert_eq!(
        chains,
        vec![
            "inet netview post",
            "inet netview pre",
            "inet netview sub",
            "ip nat DOCKER",
            "ip nat KUBE-SEP",
            "ip nat OUTPUT",
            "ip nat POSTROUTING",
            "ip nat PREROUTING",
            "ip6 nat POSTROUTING",
        ]
    );
    // The filter tables' chains (a base chain jumping to `helper`, iptables-nft's
    // DOCKER-USER) are in the ruleset but are not NAT.
    assert!(ruleset.chains.iter().any(|c| c.name == "helper"));
    assert!(ruleset.chains.iter().any(|c| c.name == "DOCKER-USER"));
}

/// nft's own text output is the oracle for the typed formatter: every native rule renders
/// exactly as `nft list` prints it, except one nft prints in its older equivalent syntax.
#[test]
fn typed_formatter_agrees_with_nft_for_native_rules() {
    let ruleset = nft::NftRuleset::from_json(MIXED_JSON).unwrap();
    let text = nft::NftText::parse(MIXED_TEXT);
    let mut compared = 0;
    for rule in ruleset.rules.iter().filter(|r| !r.has_xt() && !r.undecoded) {
        let nft_says = text
            .rule(&rule.family, &rule.table, rule.handle.unwrap(), &[])
            .unwrap();
        if nft_says == r#"tcp flags syn / syn,ack log prefix "nv ""# {
            assert_eq!(
                rule.text,
                r#"tcp flags & (syn|ack) == syn log prefix "nv ""#
            );
        } else {
            assert_eq!(rule.text, nft_says, "handle {:?}", rule.handle);
        }
        compared += 1;
    }
    assert_eq!(compared, 18);
}

/// kube-proxy's nftables mode (its table's layout, cut down to one service): the service and
/// endpoint chains are reached only through a named verdict map and an anonymous vmap.
#[test]
fn kube_proxy_chains_reached_through_verdict_maps_are_nat() {
    let ruleset = nft::NftRuleset::from_json(KUBE_JSON).unwrap();
    let mut chains: Vec<String> = ruleset
        .nat_chains()
        .into_iter()
        .map(|(_, _, c)| c)
        .collect();
    chains.sort();
    assert_eq!(
        chains,
        vec![
            "endpoint-5OJB2KTY-default/kubernetes/tcp/https__172.18.0.2/6443",
            "mark-for-masquerade",
            "nat-prerouting",
            "service-2QRHZV4L-default/kubernetes/tcp/https",
            "services",
        ]
    );

    // The typed formatter agrees with nft on every rule of this table too.
    let text = nft::NftText::parse(KUBE_TEXT);
    for rule in &ruleset.rules {
        assert_eq!(
            Some(rule.text.clone()),
            text.rule(&rule.family, &rule.table, rule.handle.unwrap(), &[]),
        );
    }

    let host = FakeHost::with_nft(KUBE_JSON, None);
    let (rules, errors) = read_nat_with(&host);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(rules.len(), 7, "{rules:#?}");
    assert!(rules.iter().all(|r| r.owner == NatOwner::Kubernetes));
    assert!(rules
        .iter()
        .any(|r| r.rule == "meta l4proto tcp dnat to 172.18.0.2:6443"));
    assert!(rules
        .iter()
        .any(|r| r.rule == "ip daddr . meta l4proto . th dport vmap @service-ips"));
    assert!(!rules.iter().any(|r| r.chain == "unrelated"));
}

#[test]
fn typed_formatter_renders_nat_statements_sets_maps_and_comments() {
    let ruleset = nft::NftRuleset::from_json(MIXED_JSON).unwrap();
    let by_handle = |table: &str, handle: u64| {
        ruleset
            .rules
            .iter()
            .find(|r| r.table == table && r.handle == Some(handle))
            .unwrap()
            .text
            .clone()
    };
    assert_eq!(
        by_handle("netview", 4),
        r#"ip saddr 192.168.50.0/24 oifname != "nv-br0" masquerade comment "nv lab bridge""#
    );
    // nft prints `"flags": "fully-random"` as one string, which the crate rejects; it is
    // normalised before decoding.
    assert_eq!(
        by_handle("netview", 7),
        "meta l4proto { tcp, udp } th dport 1000-2000 snat ip to 10.0.0.1-10.0.0.9:3000-4000 fully-random"
    );
    assert_eq!(
        by_handle("netview", 12),
        "dnat ip to tcp dport map { 2222 : 192.168.50.13, 2223 : 192.168.50.14 }"
    );
    assert_eq!(by_handle("netview", 13), "tcp dport 53 redirect to :5353");
    assert_eq!(
        by_handle("netview", 17),
        "meta mark & 0x0000ff00 == 0x00000100 return"
    );
    // iptables-nft rules, from the JSON alone.
    assert_eq!(
        by_handle("nat", 12),
        "meta l4proto tcp xt match conntrack tcp dport 22 xt target DNAT"
    );
}

#[test]
fn mixed_namespace_reads_every_nat_rule_with_owners() {
    let host = FakeHost::with_nft(MIXED_JSON, Some(MIXED_TEXT));
    let (rules, errors) = read_nat_with(&host);
    // `meta hour` is not in the crate's MetaKey: that rule falls back to nft's text.
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("could not decode 1 NAT rule")
            && errors[0].contains("inet netview chain sub")
            && errors[0].contains("as nft prints them"),
        "{errors:?}"
    );
    let got = summary(&rules);
    let expect = [
        row(
            "PREROUTING",
            "meta l4proto udp udp dport { 53, 54 } redirect to :5353",
            NatOwner::Other,
        ),
        row(
            "PREROUTING",
            "meta l4proto tcp ct state new tcp dport 22 dnat to 10.0.0.1-10.0.0.5:2000-2005",
            NatOwner::Other,
        ),
        row(
            "PREROUTING",
            "meta random & 2147483647 < 1073741824 jump KUBE-SEP",
            NatOwner::Kubernetes,
        ),
        // nft prints nothing for the comment match: the gap is filled with its name.
        row(
            "POSTROUTING",
            "ip saddr 10.88.0.0/16 xt match comment snat to 1.2.3.4",
            NatOwner::Other,
        ),
        // nft cannot translate ip6 MASQUERADE here: the JSON's name fills the gap.
        row(
            "POSTROUTING",
            r#"oifname != "docker0" ip6 saddr fd00::/64 xt target MASQUERADE"#,
            NatOwner::Docker,
        ),
        row(
            "post",
            "ip6 saddr fd00:50::/64 masquerade random,persistent",
            NatOwner::Netview,
        ),
        row(
            "sub",
            r#"meta hour "17:00"-"19:00" tcp dport 9999 return"#,
            NatOwner::Netview,
        ),
    ];
    for expected in &expect {
        assert!(got.contains(expected), "missing {expected:?} in {got:#?}");
    }
    // 9 iptables-nft rules in ip nat, 1 in ip6 nat, 15 in the netview table; none of the
    // filter tables'.
    assert_eq!(rules.len(), 9 + 1 + 15, "{got:#?}");
    assert!(!rules
        .iter()
        .any(|r| r.table == "filt" || r.table == "filter"));
    assert_eq!(
        rules.iter().filter(|r| r.family == "ip6").count(),
        1,
        "{got:#?}"
    );
}

#[test]
fn no_nft_means_nothing_is_spawned() {
    let host = FakeHost::default();
    let (rules, errors) = read_nat_with(&host);
    assert!(rules.is_empty());
    assert_eq!(
        errors,
        vec!["nft not installed: nftables NAT and filter rules not read"]
    );
    assert!(host.ran.borrow().is_empty());
}

#[test]
fn a_namespace_without_nftables_tables_does_not_run_nft() {
    let mut host = FakeHost::with_nft(DOCKER_JSON, Some(DOCKER_TEXT));
    host.nft_tables = Some(0);
    let (rules, errors) = read_nat_with(&host);
    assert!(rules.is_empty());
    assert!(errors.is_empty(), "{errors:?}");
    assert!(host.ran.borrow().is_empty(), "{:?}", host.ran.borrow());
}

#[test]
fn a_namespace_with_a_table_runs_nft() {
    let mut host = FakeHost::with_nft(DOCKER_JSON, Some(DOCKER_TEXT));
    host.nft_tables = Some(1);
    let (rules, _) = read_nat_with(&host);
    assert!(!rules.is_empty());
    assert!(host.ran.borrow()[0].ends_with("nft -j list ruleset"));
}

#[test]
fn nft_failure_is_one_error_line() {
    let mut host = FakeHost::with_nft(DOCKER_JSON, None);
    host.nft_json = None;
    let (rules, errors) = read_nat_with(&host);
    assert!(rules.is_empty());
    assert_eq!(
        errors,
        vec!["nftables NAT and filter rules not read: nft failed: Operation not permitted"]
    );
}

#[test]
fn native_rules_alone_need_no_text_listing() {
    // Only the netview table of the mixed ruleset, without the `meta hour` rule.
    let mut doc: serde_json::Value = serde_json::from_str(MIXED_JSON).unwrap();
    let objects = doc["nftables"].as_array_mut().unwrap();
    objects.retain(|o| {
        let inner = o
            .get("rule")
            .or_else(|| o.get("chain"))
            .or_else(|| o.get("table"));
        inner.is_some_and(|i| i["table"] == "netview" || i["name"] == "netview")
            && o["rule"]["handle"] != 22
    });
    let json: &'static str = Box::leak(doc.to_string().into_boxed_str());
    let host = FakeHost::with_nft(json, None);
    let (rules, errors) = read_nat_with(&host);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(rules.len(), 14);
    assert!(rules.iter().all(|r| r.owner == NatOwner::Netview));
    assert_eq!(host.ran.borrow().len(), 1, "{:?}", host.ran.borrow());
}

fn legacy_host(v4_names: &'static str) -> FakeHost {
    let mut host = FakeHost {
        programs: vec!["iptables-legacy-save", "ip6tables-legacy-save"],
        ..Default::default()
    };
    host.proc_files
        .insert("/proc/thread-self/net/ip_tables_names", v4_names);
    host.proc_files
        .insert("/proc/thread-self/net/ip6_tables_names", "nat\n");
    host.outputs
        .insert(("iptables-legacy-save".into(), "-t".into()), Ok(LEGACY_V4));
    host.outputs
        .insert(("ip6tables-legacy-save".into(), "-t".into()), Ok(LEGACY_V6));
    host
}

#[test]
fn legacy_table_list_readable_by_root_only_is_said_plainly_and_nothing_runs() {
    let mut host = legacy_host("filter\nnat\n");
    host.proc_denied = vec![
        "/proc/thread-self/net/ip_tables_names",
        "/proc/thread-self/net/ip6_tables_names",
    ];
    let read = read_rules_with(&host);
    // One line for both families.
    assert_eq!(
        &read.errors[1..],
        [
            "legacy iptables rules (ip, ip6) not read: the kernel's list of legacy tables \
          (/proc/net/ip_tables_names) is readable by root only"
        ]
    );
    assert!(read.nat.is_empty());
    assert!(host.ran.borrow().is_empty(), "{:?}", host.ran.borrow());
}

#[test]
fn legacy_iptables_rules_are_read_where_the_nat_table_exists() {
    let host = legacy_host("filter\nnat\n");
    let (rules, errors) = read_nat_with(&host);
    assert_eq!(
        errors,
        vec!["nft not installed: nftables NAT and filter rules not read"]
    );
    assert!(rules
        .iter()
        .all(|r| r.backend == NatBackend::IptablesLegacy));
    let got: Vec<(String, String, String, NatOwner)> = rules
        .iter()
        .map(|r| (r.family.clone(), r.chain.clone(), r.rule.clone(), r.owner))
        .collect();
    let r = |family: &str, chain: &str, rule: &str, owner| {
        (
            family.to_string(),
            chain.to_string(),
            rule.to_string(),
            owner,
        )
    };
    assert_eq!(
        got,
        vec![
            r(
                "ip",
                "PREROUTING",
                "fib daddr type local jump DOCKER",
                NatOwner::Docker
            ),
            r(
                "ip",
                "PREROUTING",
                "udp dport { 53, 54 } redirect to :5353",
                NatOwner::Other
            ),
            r(
                "ip",
                "PREROUTING",
                r#"ip daddr 10.96.0.1 tcp dport 443 jump KUBE-MARK comment "default/kubernetes:https cluster IP""#,
                NatOwner::Kubernetes
            ),
            r(
                "ip",
                "OUTPUT",
                "ip daddr != 127.0.0.0/8 fib daddr type local jump DOCKER",
                NatOwner::Docker
            ),
            r(
                "ip",
                "POSTROUTING",
                r#"ip saddr 172.17.0.0/16 oifname != "docker0" masquerade"#,
                NatOwner::Docker
            ),
            r(
                "ip",
                "POSTROUTING",
                r#"ip saddr 10.88.0.0/16 snat to 1.2.3.4 comment "netavark portfw""#,
                NatOwner::Netavark
            ),
            r(
                "ip",
                "POSTROUTING",
                r#"oifname "eth9" tcp sport 1000-2000 snat to 5.6.7.8:3000-4000 fully-random"#,
                NatOwner::Other
            ),
            r(
                "ip",
                "DOCKER",
                r#"iifname "docker0" return"#,
                NatOwner::Docker
            ),
            r(
                "ip",
                "DOCKER",
                r#"iifname != "docker0" tcp dport 8080 dnat to 172.17.0.2:80"#,
                NatOwner::Docker
            ),
            r(
                "ip",
                "KUBE-MARK",
                "-j MARK --set-xmark 0x4000/0x4000",
                NatOwner::Kubernetes
            ),
            r(
                "ip6",
                "POSTROUTING",
                r#"ip6 saddr fd00::/64 oifname != "docker0" masquerade"#,
                NatOwner::Docker
            ),
        ]
    );
}

#[test]
fn legacy_save_is_not_run_without_a_legacy_nat_table() {
    let mut host = legacy_host("filter\n");
    host.proc_files
        .remove("/proc/thread-self/net/ip6_tables_names");
    let (rules, _) = read_nat_with(&host);
    assert!(rules.is_empty());
    // Running iptables-legacy-save -t nat would create the table: it must not run (the
    // filter table exists and is listed).
    assert_eq!(
        *host.ran.borrow(),
        vec!["/usr/sbin/iptables-legacy-save -t filter".to_string()]
    );
}

#[test]
fn legacy_table_without_its_tool_is_reported() {
    let mut host = legacy_host("nat\n");
    host.programs.clear();
    let (rules, errors) = read_nat_with(&host);
    assert!(rules.is_empty());
    assert!(errors
        .iter()
        .any(|e| e.contains("legacy ip nat table in use but iptables-legacy-save not installed")));
    assert!(host.ran.borrow().is_empty());
}

/// (family table chain, hook, policy, rule) of each filter entry.
fn filter_summary(rules: &[FilterRule]) -> Vec<String> {
    rules
        .iter()
        .map(|r| {
            format!(
                "{} {} {} | {} {} {} | {} | {}",
                r.family,
                r.table,
                r.chain,
                r.hook.as_deref().unwrap_or("-"),
                r.policy.as_deref().unwrap_or("-"),
                r.priority.map(|p| p.to_string()).unwrap_or("-".into()),
                r.rule.as_deref().unwrap_or("(no rules)"),
                r.owner.as_str()
            )
        })
        .collect()
}

#[test]
fn docker_filter_chains_written_by_iptables_nft_read_with_their_extensions() {
    let host = FakeHost::with_nft(FILTER_DOCKER_JSON, Some(FILTER_DOCKER_TEXT));
    let read = read_rules_with(&host);
    assert_eq!(read.errors, Vec::<String>::new());
    assert!(read.nat.is_empty());
    assert_eq!(
        filter_summary(&read.filter),
        vec![
            r#"ip filter DOCKER | - - - | iifname != "docker0" oifname "docker0" ip daddr 172.17.0.2 tcp dport 80 accept | docker"#,
            "ip filter DOCKER-USER | - - - | ip saddr 10.9.0.0/16 reject | docker",
            "ip filter DOCKER-USER | - - - | ct state invalid drop | docker",
            "ip filter DOCKER-USER | - - - | meta l4proto udp udp dport { 53, 67-68 } accept | docker",
            // nft's text has no translation for the comment match: left by name.
            r#"ip filter DOCKER-USER | - - - | xt match comment log prefix "x: " | docker"#,
            "ip filter DOCKER-USER | - - - | fib daddr type local return | docker",
            "ip filter DOCKER-USER | - - - | return | docker",
            "ip filter DOCKER-ISOLATION-STAGE-1 | - - - | iifname \"docker0\" oifname != \"docker0\" jump DOCKER-ISOLATION-STAGE-2 | docker",
            "ip filter DOCKER-ISOLATION-STAGE-1 | - - - | return | docker",
            r#"ip filter DOCKER-ISOLATION-STAGE-2 | - - - | oifname "docker0" drop | docker"#,
            "ip filter DOCKER-ISOLATION-STAGE-2 | - - - | return | docker",
            "ip filter FORWARD | forward drop 0 | jump DOCKER-USER | docker",
            "ip filter FORWARD | forward drop 0 | jump DOCKER-ISOLATION-STAGE-1 | docker",
            r#"ip filter FORWARD | forward drop 0 | oifname "docker0" ct state related,established accept | docker"#,
            r#"ip filter FORWARD | forward drop 0 | oifname "docker0" jump DOCKER | docker"#,
            r#"ip filter FORWARD | forward drop 0 | iifname "docker0" oifname != "docker0" accept | docker"#,
            r#"ip filter FORWARD | forward drop 0 | iifname "docker0" oifname "docker0" accept | docker"#,
            r#"ip filter INPUT | input accept 0 | iifname "lo" accept | other"#,
        ]
    );
    // The conntrack match nft's JSON reduced to `xt match conntrack` evaluates.
    let view = crate::inventory::filter::FilterView::new(&read.filter);
    let reply = crate::inventory::filter::PacketFacts {
        iif: Some("eth0".into()),
        oif: Some("docker0".into()),
        src: "192.168.1.5".parse().unwrap(),
        dst: "172.17.0.3".parse().unwrap(),
        protocol: 1,
        sport: None,
        dport: None,
        ct: crate::inventory::filter::CtState::Established,
    };
    // DOCKER-USER's `fib daddr type local return` may match first: unknown, named.
    let crate::inventory::filter::FilterVerdict::Unknown { why } =
        view.verdict(crate::inventory::filter::Hook::Forward, &reply)
    else {
        panic!("expected unknown")
    };
    assert!(why.contains("fib daddr type local"), "{why}");
}

#[test]
fn docker_filter_rules_without_nft_text_stay_unknown() {
    let host = FakeHost::with_nft(FILTER_DOCKER_JSON, None);
    let read = read_rules_with(&host);
    assert!(read
        .errors
        .iter()
        .any(|e| e.contains("text listing not read")));
    let forward: Vec<&str> = read
        .filter
        .iter()
        .filter(|r| r.chain == "FORWARD")
        .filter_map(|r| r.rule.as_deref())
        .collect();
    assert!(
        forward.iter().any(|r| r.contains("xt match conntrack")),
        "{forward:?}"
    );
    // What nft's JSON left of the conntrack match cannot be evaluated: the verdict says so.
    let view = crate::inventory::filter::FilterView::new(&read.filter);
    let into_bridge = crate::inventory::filter::PacketFacts {
        iif: Some("eth0".into()),
        oif: Some("docker0".into()),
        src: "192.168.1.5".parse().unwrap(),
        dst: "172.17.0.3".parse().unwrap(),
        protocol: 1,
        sport: None,
        dport: None,
        ct: crate::inventory::filter::CtState::Established,
    };
    let crate::inventory::filter::FilterVerdict::Unknown { why } =
        view.verdict(crate::inventory::filter::Hook::Forward, &into_bridge)
    else {
        panic!("expected unknown")
    };
    assert!(why.contains("xt"), "{why}");
}

#[test]
fn native_firewall_chains_with_policies_priorities_and_empty_chains() {
    let host = FakeHost::with_nft(FILTER_FIREWALL_JSON, None);
    let read = read_rules_with(&host);
    assert_eq!(read.errors, Vec::<String>::new());
    // Only text from the JSON: nothing needed nft's text listing.
    assert_eq!(host.ran.borrow().len(), 1, "{:?}", host.ran.borrow());
    assert_eq!(read.nat.len(), 1);
    assert_eq!(
        filter_summary(&read.filter),
        vec![
            "inet fw input | input drop 0 | ct state established,related accept | other",
            "inet fw input | input drop 0 | ct state invalid drop | other",
            r#"inet fw input | input drop 0 | iifname "lo" accept | other"#,
            "inet fw input | input drop 0 | meta l4proto icmp accept | other",
            "inet fw input | input drop 0 | tcp dport { 22, 8000-8080 } accept | other",
            "inet fw input | input drop 0 | ip saddr @blocked drop | other",
            r#"inet fw forward | forward accept -10 | iifname "veth*" oifname != "eth0" jump lanfw | other"#,
            "inet fw forward | forward accept -10 | ip saddr 10.1.0.2 ip daddr 10.2.0.2 drop | other",
            "inet fw forward | forward accept -10 | udp dport 53 reject with icmpx admin-prohibited | other",
            "inet fw lanfw | - - - | ip daddr { 10.3.0.0/24, 10.4.0.1 } drop | other",
            "inet fw lanfw | - - - | fib daddr type local return | other",
            "inet fw lanfw | - - - | return | other",
            "inet fw output | output accept 0 | (no rules) | other",
        ]
    );
}

#[test]
fn legacy_filter_table_is_read_with_policies() {
    let mut host = legacy_host("filter\n");
    host.proc_files
        .remove("/proc/thread-self/net/ip6_tables_names");
    host.outputs.insert(
        ("iptables-legacy-save".into(), "-t filter".into()),
        Ok(FILTER_LEGACY_V4),
    );
    let read = read_rules_with(&host);
    assert!(read
        .filter
        .iter()
        .all(|r| r.backend == NatBackend::IptablesLegacy));
    assert_eq!(
        filter_summary(&read.filter),
        vec![
            "ip filter INPUT | input accept 0 | fib daddr type local accept | other",
            "ip filter FORWARD | forward drop 0 | jump DOCKER-USER | docker",
            r#"ip filter FORWARD | forward drop 0 | oifname "docker0" ct state related,established accept | docker"#,
            r#"ip filter FORWARD | forward drop 0 | iifname "docker0" oifname != "docker0" accept | docker"#,
            "ip filter OUTPUT | output accept 0 | (no rules) | other",
            "ip filter DOCKER-USER | - - - | ip saddr 10.9.0.0/16 tcp dport { 80, 443 } reject with tcp reset | docker",
            r#"ip filter DOCKER-USER | - - - | return comment "x y" | docker"#,
        ]
    );
}
