//! `netview probe` end to end: the JSON contract, the text matrix, `--check` and bad input.
//! Privileged: builds two namespaces and hands them to the CLI through a lab file
//! (`NETVIEW_PROBE_LAB`, the hook that stands in for the lab's state).

mod probe_common;

use std::process::Command;

use netview::probe::{LabFacts, ProbeLab, Role};
use probe_common::*;

fn netview(lab_file: Option<&std::path::Path>, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_netview"));
    cmd.arg("probe").args(args);
    match lab_file {
        Some(p) => cmd.env("NETVIEW_PROBE_LAB", p),
        None => cmd.env_remove("NETVIEW_PROBE_LAB"),
    };
    cmd.output().expect("run netview")
}

/// a and b on one veth pair. `unread_rule`: b also gets a policy rule that prohibits its
/// replies to a; the packet walk reads only the main routing table, so it expects a's echo
/// answered and the kernel disagrees: a mismatch the user should see.
fn two_node_lab(t: &mut Topo, unread_rule: bool) -> ProbeLab {
    t.add("a");
    t.add("b");
    t.veth("a", "va", "b", "vb");
    t.ip("a", &["addr", "add", "10.64.0.1/24", "dev", "va"]);
    t.ip("b", &["addr", "add", "10.64.0.2/24", "dev", "vb"]);
    if unread_rule {
        t.ip(
            "b",
            &["rule", "add", "to", "10.64.0.1", "prohibit", "pref", "100"],
        );
    }
    let b = endpoint(
        t,
        "b",
        "b",
        Role::Peer,
        None,
        &[("10.64.0.2", 24, "vb")],
        None,
    );
    ProbeLab {
        endpoints: vec![
            endpoint(
                t,
                "a",
                "a",
                Role::Peer,
                None,
                &[("10.64.0.1", 24, "va")],
                None,
            ),
            b,
        ],
        facts: LabFacts {
            lan_subnet: "10.64.0.0/24".parse().unwrap(),
            ..LabFacts::default()
        },
    }
}

fn write_lab(lab: &ProbeLab) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), serde_json::to_string(lab).unwrap()).unwrap();
    f
}

#[test]
fn json_has_the_contract_fields_and_check_passes() {
    let mut t = Topo::new("cli");
    let lab = two_node_lab(&mut t, false);
    let f = write_lab(&lab);
    let out = netview(
        Some(f.path()),
        &["--json", "--check", "--timeout-ms", "500"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["elapsed_ms"].as_u64().unwrap() < 1500);
    let results = v["results"].as_array().unwrap();
    // a and b, each to both addresses by ICMP, plus ARP to the other one.
    assert_eq!(results.len(), 6);
    for r in results {
        for k in [
            "from",
            "to",
            "target_ip",
            "kind",
            "outcome",
            "reachable",
            "rtt_us",
            "arp_mac",
            "seen_as",
            "expected",
            "why",
            "mismatch",
        ] {
            assert!(r.get(k).is_some(), "missing {k} in {r}");
        }
        assert!(r["reachable"].is_boolean());
        assert_eq!(r["mismatch"], false);
    }
    let arp = results
        .iter()
        .find(|r| r["from"] == "a" && r["kind"] == "arp")
        .unwrap();
    assert_eq!(arp["outcome"], "Reply");
    assert!(arp["arp_mac"].is_string());
    assert!(arp["seen_as"].is_null());
    let icmp = results
        .iter()
        .find(|r| r["from"] == "a" && r["to"] == "b" && r["kind"] == "icmp")
        .unwrap();
    assert_eq!(icmp["seen_as"], "10.64.0.1");
    assert!(icmp["rtt_us"].is_u64());
}

#[test]
fn text_matrix_then_mismatches_and_check_exits_3() {
    let mut t = Topo::new("cli3");
    let lab = two_node_lab(&mut t, true);
    let f = write_lab(&lab);
    let out = netview(
        Some(f.path()),
        &["--check", "--timeout-ms", "300", "--kind", "icmp"],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // The header names each target over its addresses.
    assert!(text.contains("from a ─"), "{text}");
    assert!(text.contains(" b ─"), "{text}");
    assert!(text.contains("10.64.0.1 10.64.0.2"), "{text}");
    assert!(text.contains("✗!"), "{text}");
    assert!(text.contains("mismatches"), "{text}");
    assert!(
        text.contains("a -> b 10.64.0.2 icmp: observed Timeout, expected reachable"),
        "{text}"
    );
    // Without --check a mismatch is not an error.
    let out = netview(
        Some(f.path()),
        &[
            "--timeout-ms",
            "300",
            "--kind",
            "icmp",
            "--from",
            "a",
            "--to",
            "b",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn bad_input_and_no_lab() {
    let mut t = Topo::new("cli2");
    let lab = two_node_lab(&mut t, false);
    let f = write_lab(&lab);
    let out = netview(Some(f.path()), &["--to", "nosuch"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("\"nosuch\" is neither a lab endpoint, a namespace, a container nor an address"));
    let out = netview(Some(f.path()), &["--timeout-ms", "0"]);
    assert_eq!(out.status.code(), Some(2));
    // Not root: one line, exit 2 (not a matrix of failures). The lab file must be readable.
    let mut perm = std::fs::metadata(f.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o644);
    std::fs::set_permissions(f.path(), perm).unwrap();
    let out = Command::new("setpriv")
        .args([
            "--reuid",
            "nobody",
            "--regid",
            "nogroup",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_netview"))
        .arg("probe")
        .env("NETVIEW_PROBE_LAB", f.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("run as root"), "{err}");
    // No lab in an empty state directory, and a name that is no namespace: exit 2.
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_netview"))
        .args(["probe", "--from", "nv-no-such-namespace"])
        .env_remove("NETVIEW_PROBE_LAB")
        .env("NETVIEW_STATE_DIR", empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "\"nv-no-such-namespace\" is neither a lab endpoint, a namespace, a container nor an address"
        ),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn formats_csv_markdown_and_explain() {
    let mut t = Topo::new("cli4");
    let lab = two_node_lab(&mut t, true);
    let f = write_lab(&lab);
    let base = ["--timeout-ms", "300", "--kind", "icmp"];
    let with = |extra: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(extra);
        netview(Some(f.path()), &a)
    };
    // CSV: a header, then one line per cell.
    let out = with(&["--format", "csv"]);
    assert_eq!(out.status.code(), Some(0));
    let csv = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("from,to,target_ip,kind,"), "{csv}");
    let json = netview(Some(f.path()), &[&base[..], &["--json"]].concat());
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(lines.len() - 1, v["results"].as_array().unwrap().len());
    assert_eq!(v["cells"], lines.len() - 1);
    assert!(csv.contains("a,b,10.64.0.2,icmp,,Timeout,,false,"), "{csv}");
    // Markdown: the grid as a table, the summary, the mismatch as a list item.
    let out = with(&["--format", "markdown"]);
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        md.contains("| from |") && md.contains(" b 10.64.0.2 |"),
        "{md}"
    );
    assert!(
        md.contains("### Mismatches") && md.contains("- a -> b 10.64.0.2 icmp"),
        "{md}"
    );
    // --explain: every cell that fails or differs, with its reason (and path when known).
    let out = with(&["--explain"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("cells that fail or differ"), "{text}");
    assert!(
        text.contains("a -> b 10.64.0.2 icmp: observed Timeout, expected reachable"),
        "{text}"
    );
    assert!(text.contains("unknown (no prediction)"), "{text}");
    // --explain with JSON or CSV, and --json with --format: one line, exit 2.
    for bad in [
        &["--explain", "--json"][..],
        &["--explain", "--format", "csv"][..],
        &["--json", "--format", "text"][..],
    ] {
        let out = with(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(!out.stderr.is_empty(), "{bad:?}");
        assert!(out.stdout.is_empty(), "{bad:?}");
    }
}
