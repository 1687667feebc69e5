//! Privileged: every mode and submode, created, checked with `ip -j -d` (not with netview's
//! own inventory), removed, and checked that nothing is left.

#[path = "lab_common/mod.rs"]
mod common;

use common::*;

fn up() -> TestLab {
    let lab = TestLab::new();
    lab.ok(&["lab", "up"]);
    lab
}

#[test]
fn world_is_the_posts_two_node_lan() {
    let lab = up();
    let mut ns = lab.netns();
    ns.sort();
    let mut want: Vec<String> = ["host", "peer", "router", "switch"]
        .iter()
        .map(|p| lab.ns(p))
        .collect();
    want.sort();
    assert_eq!(ns, want);
    let host = lab.ns("host");
    assert_eq!(addrs(&host, "enp0s8"), ["192.168.50.11/24"]);
    assert!(routes(&host)
        .iter()
        .any(|r| r["dst"] == "default" && r["gateway"] == "192.168.50.1"));
    assert_eq!(addrs(&lab.ns("peer"), "eth0"), ["192.168.50.12/24"]);
    let r = addrs(&lab.ns("router"), "lo");
    assert!(r.contains(&"198.51.100.1/32".to_string()), "{r:?}");
    let sw = lab.ns("switch");
    let br = link(&sw, "lan0").expect("switch bridge");
    assert_eq!(br["linkinfo"]["info_kind"], "bridge");
    for p in ["p-host", "p-peer", "p-router"] {
        let l = link(&sw, p).expect(p);
        assert_eq!(l["master"], "lan0");
        assert_eq!(l["linkinfo"]["info_slave_data"]["hairpin"], false);
    }
    // Every namespace's lo carries the tag (that is how clean knows them).
    for n in lab.netns() {
        assert_eq!(link(&n, "lo").unwrap()["ifalias"], lab.tag().as_str());
    }
    assert!(ping(&host, "192.168.50.12"));
    assert!(ping(&host, "198.51.100.1"));
    let j = lab.ls_json();
    let names: Vec<&str> = j["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["host", "peer", "router"]);
    lab.ok(&["lab", "down"]);
    lab.assert_nothing_left();
}

#[test]
fn hairpin_option_sets_the_host_port() {
    let lab = TestLab::new();
    lab.ok(&["lab", "up", "--hairpin"]);
    let l = link(&lab.ns("switch"), "p-host").unwrap();
    assert_eq!(l["linkinfo"]["info_slave_data"]["hairpin"], true);
    assert_eq!(lab.ls_json()["options"]["hairpin"], true);
    lab.ok(&["lab", "down"]);
    lab.assert_nothing_left();
}

#[test]
fn bridge_mode_with_nat_publish_and_without_nat() {
    let lab = up();
    let host = lab.ns("host");
    lab.ok(&[
        "lab",
        "add",
        "b1",
        "--mode",
        "bridge",
        "--publish",
        "8080:80",
    ]);
    lab.ok(&["lab", "add", "b2", "--mode", "bridge", "--no-nat"]);
    let b1 = lab.ns("b1");
    let d0 = link(&host, "docker0").expect("docker0");
    assert_eq!(d0["linkinfo"]["info_kind"], "bridge");
    assert_eq!(addrs(&host, "docker0"), ["172.17.0.1/16"]);
    assert_eq!(addrs(&b1, "eth0"), ["172.17.0.2/16"]);
    assert_eq!(addrs(&lab.ns("b2"), "eth0"), ["172.17.0.3/16"]);
    assert!(routes(&b1)
        .iter()
        .any(|r| r["dst"] == "default" && r["gateway"] == "172.17.0.1"));
    let e = lab.endpoint("b1");
    let veth = links(Some(&host))
        .into_iter()
        .find(|l| l["master"] == "docker0")
        .expect("a port on docker0");
    assert!(veth["ifname"].as_str().unwrap().len() <= 15);
    assert_eq!(e["mac"], link(&b1, "eth0").unwrap()["address"]);
    let fwd = in_ns(&host, &["cat", "/proc/sys/net/ipv4/ip_forward"]);
    assert_eq!(String::from_utf8_lossy(&fwd.stdout).trim(), "1");
    let nft = nft_table(&host).expect("nat table");
    assert!(nft.contains("masquerade"), "{nft}");
    assert!(nft.contains("172.17.0.2"), "{nft}");
    assert!(!nft.contains("172.17.0.3"), "--no-nat leaves b2 out: {nft}");
    assert!(nft.contains("dnat") && nft.contains("8080"), "{nft}");
    // NAT makes the far address reachable; without it the router cannot answer.
    assert!(ping(&b1, "198.51.100.1"));
    assert!(no_ping(&lab.ns("b2"), "198.51.100.1"));
    assert!(ping(&b1, "172.17.0.3"));
    lab.ok(&["lab", "rm", "b1"]);
    assert!(!lab.netns().contains(&b1));
    assert!(nft_table(&host).is_none(), "no NAT rules left: table gone");
    // The kernel frees b1's veth pair with its namespace, asynchronously: give it a moment.
    let mut ports = 0;
    for _ in 0..100 {
        ports = links(Some(&host))
            .iter()
            .filter(|l| l["master"] == "docker0")
            .count();
        if ports == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(ports, 1, "only b2's veth is left on docker0");
    // The same name again right away gets a fresh host-side veth name.
    lab.ok(&["lab", "add", "b1", "--mode", "bridge"]);
    assert!(ping(&lab.ns("b1"), "198.51.100.1"));
    lab.ok(&["lab", "down"]);
    lab.assert_nothing_left();
}

#[test]
fn none_and_host_modes() {
    let lab = up();
    lab.ok(&["lab", "add", "n1", "--mode", "none"]);
    lab.ok(&["lab", "add", "h1", "--mode", "host"]);
    let n1 = lab.ns("n1");
    let ls = links(Some(&n1));
    assert_eq!(ls.len(), 1, "{ls:?}");
    assert_eq!(ls[0]["ifname"], "lo");
    assert!(is_up(&ls[0]));
    assert!(
        !lab.netns().contains(&lab.ns("h1")),
        "host mode makes no namespace"
    );
    let h = lab.endpoint("h1");
    assert_eq!(h["netns"], serde_json::Value::Null);
    assert_eq!(h["mode"], "host");
    assert_eq!(h["ip"], "192.168.50.11");
    assert_eq!(h["ifname"], "enp0s8");
    lab.ok(&["lab", "rm", "n1", "h1"]);
    assert!(!lab.netns().contains(&n1));
    lab.ok(&["lab", "down"]);
    lab.assert_nothing_left();
}

fn macvlan_mode(mode: &str) {
    let lab = up();
    let host = lab.ns("host");
    lab.ok(&[
        "lab",
        "add",
        "m1",
        "--mode",
        "macvlan",
        "--macvlan-mode",
        mode,
    ]);
    let m1 = lab.ns("m1");
    let l = link(&m1, "eth0").expect("eth0 in m1");
    assert_eq!(l["linkinfo"]["info_kind"], "macvlan");
    assert_eq!(l["linkinfo"]["info_data"]["mode"], mode);
    assert!(is_up(&l));
    assert_eq!(addrs(&m1, "eth0"), ["192.168.50.193/24"]);
    assert!(routes(&m1)
        .iter()
        .any(|r| r["dst"] == "default" && r["gateway"] == "192.168.50.1"));
    let e = lab.endpoint("m1");
    assert_eq!(e["submode"], mode);
    assert_eq!(e["parent"], "enp0s8");
    assert_eq!(e["mac"], l["address"]);
    assert!(
        !promisc(&link(&host, "enp0s8").unwrap()),
        "promisc only when asked"
    );
    if mode != "passthru" {
        lab.ok(&[
            "lab",
            "add",
            "m2",
            "--mode",
            "macvlan",
            "--macvlan-mode",
            mode,
        ]);
        assert_eq!(addrs(&lab.ns("m2"), "eth0"), ["192.168.50.194/24"]);
        // A macvlan child reaches the peer on the LAN (the post's docker1 -> docker2)
        // and never its own parent's stack.
        if mode == "bridge" {
            assert!(ping(&m1, "192.168.50.12"));
            assert!(ping(&m1, "192.168.50.194"));
            assert!(no_ping(&m1, "192.168.50.11"));
        }
    } else {
        lab.fails(
            &["lab", "add", "m2", "--mode", "macvlan"],
            2,
            "passthru takes one child",
        );
    }
    lab.ok(&["lab", "rm", "m1"]);
    assert!(!lab.netns().contains(&m1));
    lab.ok(&["lab", "down"]);
    lab.assert_nothing_left();
}

#[test]
fn macvlan_bridge() {
    macvlan_mode("bridge");
}

#[test]
fn macvlan_private() {
    macvlan_mode("private");
}

#[test]
fn macvlan_vepa() {
    macvlan_mode("vepa");
}

#[test]
fn macvlan_passthru() {
    macvlan_mode("passthru");
}

#[test]
fn macvlan_promisc_and_host_shim() {
    let lab = up();
    let host = lab.ns("host");
    lab.ok(&["lab", "add", "m1", "--mode", "macvlan", "--promisc"]);
    let m1 = lab.ns("m1");
    assert!(promisc(&link(&host, "enp0s8").unwrap()));
    assert!(
        no_ping(&host, "192.168.50.193"),
        "host cannot reach its child"
    );
    lab.ok(&["lab", "add", "m2", "--mode", "macvlan", "--host-shim"]);
    let shim = link(&host, "nvshim0").expect("shim");
    assert_eq!(shim["linkinfo"]["info_kind"], "macvlan");
    assert_eq!(shim["linkinfo"]["info_data"]["mode"], "bridge");
    assert!(routes(&host)
        .iter()
        .any(|r| r["dst"] == "192.168.50.192/27" && r["dev"] == "nvshim0"));
    // With the shim, child-to-host starts to work.
    assert!(ping(&host, "192.168.50.193"));
    assert!(ping(&m1, "192.168.50.195"), "child reaches the shim");
    assert_eq!(lab.endpoint("m2")["host_shim"], true);
    // The shim goes with the last container that asked for it, route and all.
    lab.ok(&["lab", "rm", "m2"]);
    assert!(link(&host, "nvshim0").is_none(), "shim left after rm");
    assert!(!routes(&host).iter().any(|r| r["dev"] == "nvshim0"));
    assert!(link(&m1, "eth0").is_some());
    lab.ok(&["lab", "down"]);
    lab.assert_nothing_left();
}

#[test]
fn ipvlan_is_refused_cleanly_on_this_kernel() {
    let lab = up();
    let before = lab.netns();
    for m in ["l2", "l3", "l3s"] {
        let o = lab.run(&["lab", "add", "i1", "--mode", "ipvlan", "--ipvlan-mode", m]);
        let err = String::from_utf8_lossy(&o.stderr);
        if o.status.success() {
            // A kernel with ipvlan (the VM test): check the link, then remove it.
            let l = link(&lab.ns("i1"), "eth0").expect("ipvlan eth0");
            assert_eq!(l["linkinfo"]["info_kind"], "ipvlan");
            assert_eq!(l["linkinfo"]["info_data"]["mode"], m);
            lab.ok(&["lab", "rm", "i1"]);
        } else {
            assert_eq!(o.status.code(), Some(2), "{err}");
            assert_eq!(err.trim(), "netview: this kernel has no ipvlan support");
        }
        assert_eq!(lab.netns(), before);
    }
    lab.ok(&["lab", "down"]);
    lab.assert_nothing_left();
}

#[test]
fn many_names_in_one_add() {
    let lab = up();
    lab.ok(&["lab", "add", "a1", "a2", "a3", "--mode", "none"]);
    assert_eq!(lab.netns().len(), 7);
    lab.ok(&["lab", "down"]);
    lab.assert_nothing_left();
}

#[test]
fn concurrent_adds_share_the_state_under_the_lock() {
    let lab = up();
    let children: Vec<_> = (0..4)
        .map(|i| {
            lab.command(&["lab", "add", &format!("c{i}"), "--mode", "bridge"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let mut ips: Vec<String> = (0..4)
        .map(|i| {
            lab.endpoint(&format!("c{i}"))["ip"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 4, "every container got its own address: {ips:?}");
    lab.ok(&["lab", "down"]);
    lab.assert_nothing_left();
}

#[test]
fn publish_dnat_reaches_the_container() {
    use std::net::{TcpListener, TcpStream};
    use std::path::PathBuf;
    use std::time::Duration;
    let lab = up();
    lab.ok(&[
        "lab",
        "add",
        "b1",
        "--mode",
        "bridge",
        "--publish",
        "8080:80",
    ]);
    let path = |part: &str| PathBuf::from(format!("/run/netns/{}", lab.ns(part)));
    // A listener bound inside b1 (sockets stay in the namespace they were made in).
    let listener = netview::netns::run_in("b1", &path("b1"), || TcpListener::bind("0.0.0.0:80"))
        .unwrap()
        .unwrap();
    let connect = |from: &str| {
        netview::netns::run_in(from, &path(from), || {
            TcpStream::connect_timeout(
                &"192.168.50.11:8080".parse().unwrap(),
                Duration::from_secs(2),
            )
        })
        .unwrap()
    };
    // From the peer on the LAN: prerouting DNAT; the container sees the peer's address.
    let s = connect("peer").expect("peer reaches host:8080");
    let (_c, seen) = listener.accept().unwrap();
    assert_eq!(seen.ip().to_string(), "192.168.50.12");
    drop(s);
    // From the host itself: output-chain DNAT (the source was chosen for the original,
    // local destination, so it is the host's LAN address).
    let s = connect("host").expect("host reaches its own :8080");
    let (_c, seen) = listener.accept().unwrap();
    assert_eq!(seen.ip().to_string(), "192.168.50.11");
    drop(s);
    drop(listener);
    lab.ok(&["lab", "down"]);
    lab.assert_nothing_left();
}

#[test]
fn bridge_nat_is_dockers_subnet_rule_until_a_container_opts_out() {
    let lab = up();
    let host = lab.ns("host");
    lab.ok(&["lab", "add", "s1", "s2", "--mode", "bridge"]);
    let table = nft_table(&host).expect("NAT table");
    // Docker's own rule: the whole subnet, leaving through anything but docker0.
    assert!(
        table.contains("\"prefix\"") && table.contains("172.17.0.0") && table.contains("16"),
        "{table}"
    );
    lab.ok(&["lab", "add", "s3", "--mode", "bridge", "--no-nat"]);
    let table = nft_table(&host).expect("NAT table");
    assert!(!table.contains("\"prefix\""), "{table}");
    assert!(
        table.contains("172.17.0.2")
            && table.contains("172.17.0.3")
            && !table.contains("172.17.0.4"),
        "{table}"
    );
    lab.ok(&["lab", "rm", "s3"]);
    let table = nft_table(&host).expect("NAT table");
    assert!(table.contains("\"prefix\""), "{table}");
    lab.ok(&["lab", "down"]);
    lab.assert_nothing_left();
}
