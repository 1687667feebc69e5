//! Privileged: `netview inventory --format dot` over namespaces this test builds (a bridge
//! with a veth port whose peer is in a second namespace, a macvlan in the second namespace on
//! a parent in the first), drawn by Graphviz's `dot -Tsvg`; `--format json` is `--json`;
//! the two spellings cannot be mixed. Namespaces are `nvt-fmt-...`, deleted in Drop.

mod netns_common;
use netns_common::{run, TestNs};
use std::io::Write;
use std::process::{Command, Stdio};

fn netview(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_netview"))
        .args(args)
        .output()
        .expect("run netview")
}

#[test]
fn dot_draws_bridges_veth_pairs_and_lower_devices() {
    let a = TestNs::bare("fmt", "a");
    let b = TestNs::bare("fmt", "b");
    let ip = |ns: &str, args: &[&str]| {
        let mut all = vec!["-n", ns];
        all.extend_from_slice(args);
        run("ip", &all);
    };
    ip(&a.0, &["link", "add", "br0", "type", "bridge"]);
    // No dummy module on every kernel: a veth end is the macvlan's parent.
    ip(
        &a.0,
        &["link", "add", "d0", "type", "veth", "peer", "name", "d1"],
    );
    ip(
        &a.0,
        &[
            "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", &b.0,
        ],
    );
    ip(&a.0, &["link", "set", "va", "master", "br0"]);
    ip(
        &a.0,
        &[
            "link", "add", "mv0", "link", "d0", "type", "macvlan", "mode", "bridge",
        ],
    );
    ip(&a.0, &["link", "set", "mv0", "netns", &b.0]);
    ip(&b.0, &["addr", "add", "10.99.0.2/24", "dev", "vb"]);
    let out = netview(&[
        "inventory",
        "--netns",
        &a.0,
        "--netns",
        &b.0,
        "--format",
        "dot",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dot = String::from_utf8(out.stdout).unwrap();
    for want in [
        format!("label=\"{} (named)\";", a.0),
        format!("label=\"{} (named)\";", b.0),
        r#""0/va" -> "0/br0" [label="port"];"#.to_string(),
        r#""0/va" -> "1/vb" [dir=none, style=bold, label="veth"];"#.to_string(),
        r#""1/mv0" -> "0/d0" [style=dashed, label="macvlan bridge"];"#.to_string(),
        r#"label="vb\nveth\n10.99.0.2/24""#.to_string(),
    ] {
        assert!(dot.contains(&want), "{want} missing:\n{dot}");
    }
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("graphviz's dot (scripts/setup installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dot.as_bytes())
        .unwrap();
    let svg = child.wait_with_output().unwrap();
    assert!(
        svg.status.success() && svg.stderr.is_empty(),
        "dot: {}",
        String::from_utf8_lossy(&svg.stderr)
    );
    assert!(String::from_utf8_lossy(&svg.stdout).contains(">mv0<"));
}

#[test]
fn format_json_is_json_and_the_spellings_do_not_mix() {
    let a = TestNs::bare("fmt", "j");
    let json = |args: &[&str]| -> serde_json::Value {
        let out = netview(args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let long = json(&["inventory", "--netns", &a.0, "--format", "json"]);
    let short = json(&["inventory", "--netns", &a.0, "--json"]);
    assert_eq!(long["namespaces"], short["namespaces"]);
    assert_eq!(long["namespaces"][0]["name"], a.0.as_str());
    let mixed = netview(&["inventory", "--json", "--format", "dot"]);
    assert_eq!(mixed.status.code(), Some(2));
    let bad = netview(&["inventory", "--format", "svg"]);
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&bad.stderr).lines().count(), 1);
}
