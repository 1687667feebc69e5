//! Privileged, with real runtimes: the study post's world on Docker (and Podman), compared
//! with what `docker inspect` / `docker network inspect` (and Podman's) say, the TUI in tmux
//! following `docker run` and `docker rename` live, and the worlds (Docker's, Podman's, and
//! both on one host) as oracles of the packet walk: every `netview probe --json` cell among
//! the containers, the host namespace and a LAN peer, its `expected` and its observation
//! against `ping`, `arping` and a TCP connect run in the same namespaces.
//!
//! `#[ignore]`d in the normal run; `scripts/test` runs them after the others, one at a time
//! (`cargo test --test runtimes -- --ignored --test-threads=1`). Each test starts a dockerd of
//! its own in a network namespace of its own (entered with `nsenter --net`, so the mount
//! namespace and its cgroups stay the machine's), with its own data root, exec root and
//! socket in a temporary directory. Docker's bridge, its iptables chains, the `ip_forward` and
//! FORWARD policy it sets, and the macvlan parent veth all live in that namespace, so the
//! machine's root namespace is never touched (checked at the end), and everything is removed
//! when the test ends, also when it fails: containers, networks, the image, dockerd (by its
//! pid), its mounts, the namespace.
//!
//! Podman runs the same way, inside a namespace of its own, on its default storage (netview
//! asks it without options); the test removes its containers, networks and image.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[path = "tmux_common/mod.rs"]
mod tmux_common;

const BIN: &str = env!("CARGO_BIN_EXE_netview");
const IMAGE: &str = "netview-busybox:latest";
static SEQ: AtomicUsize = AtomicUsize::new(0);

fn inode(path: &str) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

fn output(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"))
}

fn ok(cmd: &str, args: &[&str]) -> String {
    let o = output(cmd, args);
    assert!(
        o.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A busybox-static root filesystem as a tar stream for `docker import` / `podman import`.
fn rootfs_tar(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox-static");
    for applet in ["sh", "sleep", "httpd", "ip"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    let tar = dir.join("rootfs.tar");
    ok(
        "tar",
        &[
            "-C",
            &root.to_string_lossy(),
            "-cf",
            &tar.to_string_lossy(),
            ".",
        ],
    );
    tar
}

/// What the machine's root namespace looked like before the test: compared after it.
#[derive(Debug, PartialEq, Eq)]
struct RootState {
    ip_forward: String,
    forward_policy: String,
    links: BTreeSet<String>,
}

impl RootState {
    fn read() -> Self {
        let forward_policy = output("iptables", &["-S", "FORWARD"]);
        let links: Value = serde_json::from_str(&ok("ip", &["-j", "link", "show"])).unwrap();
        RootState {
            ip_forward: std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
            forward_policy: String::from_utf8_lossy(&forward_policy.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_string(),
            links: links
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["ifname"].as_str().unwrap_or("").to_string())
                .filter(|n| !n.starts_with("veth") && !n.starts_with("nvt"))
                .collect(),
        }
    }
}

/// A network namespace of the test's own; deleted on drop.
struct TestNs(String);

impl TestNs {
    fn new(tag: &str) -> Self {
        let name = format!(
            "nvt-rt{}-{}-{tag}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        ok("ip", &["netns", "add", &name]);
        ok("ip", &["-n", &name, "link", "set", "lo", "up"]);
        TestNs(name)
    }

    fn path(&self) -> String {
        format!("/run/netns/{}", self.0)
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        let _ = output("ip", &["netns", "del", &self.0]);
    }
}

/// A dockerd of the test's own, in its own namespace. Dropping it removes what it made.
struct Dockerd {
    child: Option<Child>,
    socket: PathBuf,
    dir: tempfile::TempDir,
    ns: TestNs,
}

impl Dockerd {
    fn start() -> Self {
        let ns = TestNs::new("dk");
        let dir = tempfile::Builder::new()
            .prefix("nvt-dockerd")
            .tempdir()
            .unwrap();
        let socket = dir.path().join("docker.sock");
        let log = std::fs::File::create(dir.path().join("dockerd.log")).unwrap();
        let child = Command::new("nsenter")
            .arg(format!("--net={}", ns.path()))
            .arg("dockerd")
            .args(["--data-root", &dir.path().join("data").to_string_lossy()])
            .args(["--exec-root", &dir.path().join("exec").to_string_lossy()])
            .args([
                "--pidfile",
                &dir.path().join("docker.pid").to_string_lossy(),
            ])
            .args(["-H", &format!("unix://{}", socket.display())])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("dockerd (scripts/setup installs docker.io)");
        let d = Dockerd {
            child: Some(child),
            socket,
            dir,
            ns,
        };
        let start = Instant::now();
        while !d.docker(&["version"]).status.success() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "dockerd did not come up: {}",
                std::fs::read_to_string(d.dir.path().join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        d
    }

    fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn docker(&self, args: &[&str]) -> Output {
        let host = self.host();
        let mut all = vec!["-H", host.as_str()];
        all.extend_from_slice(args);
        output("/usr/bin/docker", &all)
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert!(
            o.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    fn import_image(&self) {
        let tar = rootfs_tar(self.dir.path());
        let host = self.host();
        ok(
            "/usr/bin/docker",
            &["-H", &host, "import", &tar.to_string_lossy(), IMAGE],
        );
    }

    fn inspect(&self, what: &str) -> Value {
        let v: Value = serde_json::from_str(&self.ok(&["inspect", what])).unwrap();
        v[0].clone()
    }

    fn netview(&self, args: &[&str]) -> Value {
        let o = Command::new(BIN)
            .args(args)
            .env("DOCKER_HOST", self.host())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "netview {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).unwrap()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let ids = self.ok_or_empty(&["ps", "-aq"]);
        for id in ids.split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        for net in ["my_bridge", "my_macvlan", "nvt_live"] {
            let _ = self.docker(&["network", "rm", net]);
        }
        let _ = self.docker(&["rmi", "-f", IMAGE]);
        if let Some(mut child) = self.child.take() {
            // SIGTERM by its pid, so it stops its containerd and unmounts; SIGKILL if stuck.
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let start = Instant::now();
            while child.try_wait().ok().flatten().is_none() {
                if start.elapsed() > Duration::from_secs(20) {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // Whatever it left mounted under its directories (deepest first).
        let root = self.dir.path().to_string_lossy().into_owned();
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&root))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = output("umount", &["-l", &m]);
        }
    }
}

impl Dockerd {
    fn ok_or_empty(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&self.docker(args).stdout).into_owned()
    }
}

/// The post's world: two on the default bridge (one publishing 8080:80), one host, one none,
/// a user-defined bridge, a macvlan on a veth the test made, and one never started.
fn post_world(d: &Dockerd) {
    d.import_image();
    let ns = &d.ns.0;
    ok(
        "ip",
        &[
            "-n", ns, "link", "add", "nvt-par0", "type", "veth", "peer", "name", "nvt-par1",
        ],
    );
    ok("ip", &["-n", ns, "link", "set", "nvt-par0", "up"]);
    ok("ip", &["-n", ns, "link", "set", "nvt-par1", "up"]);
    d.ok(&[
        "run", "-d", "--name", "web", "-p", "8080:80", IMAGE, "httpd", "-f", "-p", "80",
    ]);
    d.ok(&["run", "-d", "--name", "db", IMAGE, "sleep", "600"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "hostc",
        "--network",
        "host",
        IMAGE,
        "sleep",
        "600",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "nonec",
        "--network",
        "none",
        IMAGE,
        "sleep",
        "600",
    ]);
    d.ok(&["network", "create", "my_bridge"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "app",
        "--network",
        "my_bridge",
        IMAGE,
        "sleep",
        "600",
    ]);
    d.ok(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        "192.168.77.0/24",
        "--gateway",
        "192.168.77.1",
        "-o",
        "parent=nvt-par0",
        "my_macvlan",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "mac1",
        "--network",
        "my_macvlan",
        IMAGE,
        "sleep",
        "600",
    ]);
    d.ok(&["create", "--name", "old", IMAGE, "sleep", "1"]);
}

/// Counts of fields that agree, printed for the closing note.
#[derive(Default)]
struct Tally {
    agreed: usize,
    total: usize,
    misses: Vec<String>,
}

impl Tally {
    fn check(&mut self, what: String, ours: &Value, theirs: &Value) {
        self.total += 1;
        if ours == theirs {
            self.agreed += 1;
        } else {
            self.misses
                .push(format!("{what}: netview {ours} vs runtime {theirs}"));
        }
    }
}

fn namespace_holding<'a>(inv: &'a Value, name: &str) -> Option<&'a Value> {
    inv["namespaces"].as_array().unwrap().iter().find(|ns| {
        ns["containers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == name)
    })
}

#[test]
#[ignore = "starts dockerd; scripts/test runs it after the others"]
fn docker_world_agrees_with_docker_inspect() {
    let before = RootState::read();
    {
        let d = Dockerd::start();
        post_world(&d);
        let inv = d.netview(&["inventory", "--all", "--json"]);
        let mut tally = Tally::default();
        let dockerd_ns = inode(&d.ns.path()).unwrap();
        for name in ["web", "db", "hostc", "nonec", "app", "mac1", "old"] {
            let di = d.inspect(name);
            let pid = di["State"]["Pid"].as_u64().unwrap();
            let ns = namespace_holding(&inv, name);
            if pid == 0 {
                assert!(ns.is_none(), "{name} does not run: it is on no namespace");
                continue;
            }
            let ns = ns.unwrap_or_else(|| panic!("{name} is on no namespace"));
            let c = ns["containers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == name)
                .unwrap();
            // The namespace is the one its process is in (the dockerd's for host mode).
            let want_ns = if name == "hostc" {
                dockerd_ns
            } else {
                inode(&format!("/proc/{pid}/ns/net")).unwrap()
            };
            tally.check(format!("{name}.netns"), &ns["id"], &json!(want_ns));
            tally.check(format!("{name}.id"), &c["id"], &di["Id"]);
            tally.check(format!("{name}.pid"), &c["pid"], &json!(pid));
            tally.check(format!("{name}.image"), &c["image"], &di["Config"]["Image"]);
            let nets: Vec<String> = di["NetworkSettings"]["Networks"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            tally.check(format!("{name}.networks"), &c["networks"], &json!(nets));
            for (net, ep) in di["NetworkSettings"]["Networks"].as_object().unwrap() {
                let ip = ep["IPAddress"].as_str().unwrap_or("");
                if ip.is_empty() {
                    continue;
                }
                let ours = c["addresses"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|a| a["network"] == net.as_str())
                    .cloned()
                    .unwrap_or(Value::Null);
                tally.check(format!("{name}.{net}.ip"), &ours["ip"], &json!(ip));
                tally.check(format!("{name}.{net}.mac"), &ours["mac"], &ep["MacAddress"]);
            }
        }
        // Networks against `docker network inspect`.
        let ours: BTreeMap<String, &Value> = inv["networks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["runtime"] == "docker")
            .map(|n| (n["name"].as_str().unwrap().to_string(), n))
            .collect();
        for name in ["bridge", "host", "none", "my_bridge", "my_macvlan"] {
            let dn = d.inspect(name);
            let n = ours
                .get(name)
                .unwrap_or_else(|| panic!("network {name} missing"));
            tally.check(format!("net {name}.id"), &n["id"], &dn["Id"]);
            tally.check(format!("net {name}.driver"), &n["driver"], &dn["Driver"]);
            let cfg = dn["IPAM"]["Config"].as_array().cloned().unwrap_or_default();
            let subnets: Vec<&Value> = cfg.iter().filter_map(|c| c.get("Subnet")).collect();
            let gateways: Vec<&Value> = cfg.iter().filter_map(|c| c.get("Gateway")).collect();
            tally.check(
                format!("net {name}.subnets"),
                &n["subnets"],
                &json!(subnets),
            );
            tally.check(
                format!("net {name}.gateways"),
                &n["gateways"],
                &json!(gateways),
            );
            let opts = &dn["Options"];
            let interface = match dn["Driver"].as_str() {
                Some("bridge") => opts
                    .get("com.docker.network.bridge.name")
                    .cloned()
                    .unwrap_or_else(|| json!(format!("br-{}", &dn["Id"].as_str().unwrap()[..12]))),
                _ => Value::Null,
            };
            tally.check(format!("net {name}.interface"), &n["interface"], &interface);
            let parent = opts.get("parent").cloned().unwrap_or(Value::Null);
            tally.check(format!("net {name}.parent"), &n["parent"], &parent);
            // `network inspect` lists the running containers; netview lists every one.
            let mut running: Vec<String> = dn["Containers"]
                .as_object()
                .map(|m| {
                    m.values()
                        .map(|c| c["Name"].as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default();
            running.sort();
            let ours_running: Vec<&Value> = n["containers"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| *c != "old")
                .collect();
            tally.check(
                format!("net {name}.containers"),
                &json!(ours_running),
                &json!(running),
            );
        }
        // The interface netview names is really there, in the dockerd's namespace.
        let br = ours["my_bridge"]["interface"].as_str().unwrap();
        ok("ip", &["-n", &d.ns.0, "link", "show", br]);
        // NAT: every rule in the dockerd's and the containers' namespaces is Docker's.
        let mut nat_docker = 0;
        let mut nat_total = 0;
        let mut named_web = false;
        for ns in inv["namespaces"].as_array().unwrap() {
            let mine =
                ns["id"] == json!(dockerd_ns) || !ns["containers"].as_array().unwrap().is_empty();
            if !mine {
                continue;
            }
            for r in ns["nat"].as_array().unwrap() {
                nat_total += 1;
                if r["owner"] == "docker" {
                    nat_docker += 1;
                } else {
                    tally.misses.push(format!("nat not docker's: {r}"));
                }
                if r["container"] == "web" && r["rule"].as_str().unwrap().contains("dnat") {
                    named_web = true;
                }
            }
        }
        println!(
            "docker agreement: {}/{} fields; NAT rules owned docker: {nat_docker}/{nat_total}",
            tally.agreed, tally.total
        );
        assert!(tally.misses.is_empty(), "{:#?}", tally.misses);
        assert_eq!(nat_docker, nat_total);
        assert!(
            nat_total >= 18,
            "Docker's NAT rules were read ({nat_total})"
        );
        assert!(named_web, "the published port's DNAT names web");
        // --netns docker:web is web's namespace.
        let one = d.netview(&["inventory", "--netns", "docker:web", "--json"]);
        let pid = d.inspect("web")["State"]["Pid"].as_u64().unwrap();
        assert_eq!(
            one["namespaces"][0]["id"],
            json!(inode(&format!("/proc/{pid}/ns/net")).unwrap())
        );
    }
    assert_eq!(
        RootState::read(),
        before,
        "the machine's root namespace is as it was"
    );
}

#[test]
#[ignore = "starts dockerd and a tmux; scripts/test runs it after the others"]
fn the_tui_follows_docker_run_and_rename_live() {
    let before = RootState::read();
    {
        let d = Dockerd::start();
        d.import_image();
        d.ok(&["run", "-d", "--name", "first", IMAGE, "sleep", "600"]);
        let t = tmux_common::Tmux::new(160, 50, &[format!("DOCKER_HOST={}", d.host())]);
        t.start_netview(Duration::from_secs(20));
        t.wait_for("first on screen", Duration::from_secs(20), |s| {
            s.contains("first (docker)")
        });
        let start = Instant::now();
        d.ok(&["run", "-d", "--name", "second", IMAGE, "sleep", "600"]);
        let after_cmd = start.elapsed();
        let (waited, _) = t.wait_for_timed("second on screen", Duration::from_secs(10), |s| {
            s.contains("second (docker)")
        });
        println!(
            "docker run -> on screen: {} ms after the command returned ({} ms from its start)",
            waited.as_millis(),
            (after_cmd + waited).as_millis()
        );
        let (waited, _) = {
            d.ok(&["rename", "second", "renamed"]);
            t.wait_for_timed("the new name on screen", Duration::from_secs(10), |s| {
                s.contains("renamed (docker)")
            })
        };
        println!("docker rename -> on screen: {} ms", waited.as_millis());
        let (waited, _) = {
            d.ok(&["rm", "-f", "renamed"]);
            t.wait_for_timed("gone from the screen", Duration::from_secs(10), |s| {
                !s.contains("renamed (docker)")
            })
        };
        println!("docker rm -f -> off screen: {} ms", waited.as_millis());
        t.key("q");
        t.wait_exit(Duration::from_secs(10));
    }
    assert_eq!(
        RootState::read(),
        before,
        "the machine's root namespace is as it was"
    );
}

const PODMAN_IMAGE: &str = "localhost/netview-busybox:latest";
/// This machine may not raise rlimits (no CAP_SYS_RESOURCE), and Podman's defaults are above
/// the hard ones: runc then fails with "error setting rlimit type 7".
const PODMAN_LIMITS: &[&str] = &[
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
];
const PODMAN_NAMES: &[&str] = &["pweb", "papp", "phost", "pmac", "pold"];
/// Containers a test may add later; removed with the others.
const PODMAN_LATER: &[&str] = &["plive"];

/// Podman's world, made from a namespace of the test's own (or a dockerd's, to run both on
/// one host): netavark's bridges, firewall rules and ip_forward land there. Dropping it
/// removes the containers, networks and image.
struct PodmanWorld {
    /// The host namespace's name in /run/netns.
    host: String,
    /// The namespace, when it is Podman's own (deleted on drop, after the containers).
    own: Option<TestNs>,
    dir: tempfile::TempDir,
}

impl PodmanWorld {
    fn path(&self) -> String {
        format!("/run/netns/{}", self.host)
    }

    fn podman(&self, args: &[&str]) -> Output {
        let net = format!("--net={}", self.path());
        let mut all = vec![net.as_str(), "podman"];
        all.extend_from_slice(args);
        output("nsenter", &all)
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.podman(args);
        assert!(
            o.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    fn run(&self, name: &str, extra: &[&str], cmd: &[&str]) {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(PODMAN_LIMITS);
        args.extend_from_slice(extra);
        args.push(PODMAN_IMAGE);
        args.extend_from_slice(cmd);
        self.ok(&args);
    }

    fn start() -> Self {
        let own = TestNs::new("pm");
        Self::start_in(own.0.clone(), Some(own))
    }

    /// Podman's world in the namespace named `host` (Podman's own when `own` is it).
    fn start_in(host: String, own: Option<TestNs>) -> Self {
        let w = PodmanWorld {
            host,
            own,
            dir: tempfile::Builder::new()
                .prefix("nvt-podman")
                .tempdir()
                .unwrap(),
        };
        let tar = rootfs_tar(w.dir.path());
        w.ok(&["import", &tar.to_string_lossy(), PODMAN_IMAGE]);
        let ns = &w.host;
        ok(
            "ip",
            &[
                "-n",
                ns,
                "link",
                "add",
                "nvt-ppar0",
                "type",
                "veth",
                "peer",
                "name",
                "nvt-ppar1",
            ],
        );
        ok("ip", &["-n", ns, "link", "set", "nvt-ppar0", "up"]);
        w.run("pweb", &["-p", "8081:80"], &["httpd", "-f", "-p", "80"]);
        w.ok(&["network", "create", "pod_bridge"]);
        w.run("papp", &["--network", "pod_bridge"], &["sleep", "600"]);
        w.run("phost", &["--network", "host"], &["sleep", "600"]);
        w.ok(&[
            "network",
            "create",
            "-d",
            "macvlan",
            "--subnet",
            "192.168.78.0/24",
            "--gateway",
            "192.168.78.1",
            "-o",
            "parent=nvt-ppar0",
            "pod_macvlan",
        ]);
        w.run("pmac", &["--network", "pod_macvlan"], &["sleep", "600"]);
        let mut create = vec!["create", "--name", "pold"];
        create.extend_from_slice(PODMAN_LIMITS);
        create.extend_from_slice(&[PODMAN_IMAGE, "sleep", "1"]);
        w.ok(&create);
        w
    }

    fn inspect(&self, what: &[&str]) -> Value {
        let v: Value = serde_json::from_str(&self.ok(what)).unwrap();
        v[0].clone()
    }
}

impl Drop for PodmanWorld {
    fn drop(&mut self) {
        for name in PODMAN_NAMES.iter().chain(PODMAN_LATER) {
            let _ = self.podman(&["rm", "-f", "-t", "0", name]);
        }
        for net in ["pod_bridge", "pod_macvlan"] {
            let _ = self.podman(&["network", "rm", "-f", net]);
        }
        let _ = self.podman(&["rmi", "-f", PODMAN_IMAGE]);
        // Its own namespace goes after what lives in it.
        drop(self.own.take());
    }
}

#[test]
#[ignore = "runs podman; scripts/test runs it after the others"]
fn podman_world_agrees_with_podman_inspect() {
    let before = RootState::read();
    {
        let w = PodmanWorld::start();
        let o = Command::new(BIN)
            .args(["inventory", "--all", "--json"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let inv: Value = serde_json::from_slice(&o.stdout).unwrap();
        let mut tally = Tally::default();
        let own_ns = inode(&w.path()).unwrap();
        for name in PODMAN_NAMES {
            let pi = w.inspect(&["container", "inspect", name]);
            let pid = pi["State"]["Pid"].as_u64().unwrap();
            let ns = namespace_holding(&inv, name);
            if pid == 0 {
                assert!(ns.is_none(), "{name} does not run: it is on no namespace");
                continue;
            }
            let ns = ns.unwrap_or_else(|| panic!("{name} is on no namespace"));
            let c = ns["containers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == *name)
                .unwrap();
            assert_eq!(c["runtime"], "podman");
            let key = pi["NetworkSettings"]["SandboxKey"].as_str().unwrap_or("");
            if *name == "phost" {
                tally.check(format!("{name}.netns"), &ns["id"], &json!(own_ns));
            } else {
                // netavark's namespace file, /run/netns/netns-<uuid>, is the one listed.
                let file = key.rsplit('/').next().unwrap();
                tally.check(format!("{name}.netns"), &ns["name"], &json!(file));
            }
            tally.check(format!("{name}.id"), &c["id"], &pi["Id"]);
            tally.check(format!("{name}.pid"), &c["pid"], &json!(pid));
            tally.check(format!("{name}.image"), &c["image"], &pi["ImageName"]);
            let mut nets: Vec<String> = pi["NetworkSettings"]["Networks"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            nets.sort();
            tally.check(format!("{name}.networks"), &c["networks"], &json!(nets));
        }
        let ours: BTreeMap<String, &Value> = inv["networks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["runtime"] == "podman")
            .map(|n| (n["name"].as_str().unwrap().to_string(), n))
            .collect();
        for name in ["podman", "pod_bridge", "pod_macvlan"] {
            let pn = w.inspect(&["network", "inspect", name]);
            let n = ours
                .get(name)
                .unwrap_or_else(|| panic!("network {name} missing"));
            tally.check(format!("net {name}.id"), &n["id"], &pn["id"]);
            tally.check(format!("net {name}.driver"), &n["driver"], &pn["driver"]);
            let subnets: Vec<&Value> = pn["subnets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| &s["subnet"])
                .collect();
            let gateways: Vec<&Value> = pn["subnets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| &s["gateway"])
                .collect();
            tally.check(
                format!("net {name}.subnets"),
                &n["subnets"],
                &json!(subnets),
            );
            tally.check(
                format!("net {name}.gateways"),
                &n["gateways"],
                &json!(gateways),
            );
            let device = if pn["driver"] == "bridge" {
                &n["interface"]
            } else {
                &n["parent"]
            };
            tally.check(
                format!("net {name}.device"),
                device,
                &pn["network_interface"],
            );
        }
        // netavark's NAT rules are owned netavark, and the published port names pweb.
        let mut nat_netavark = 0;
        let mut nat_total = 0;
        let mut named_pweb = false;
        for ns in inv["namespaces"].as_array().unwrap() {
            if ns["id"] != json!(own_ns) {
                continue;
            }
            for r in ns["nat"].as_array().unwrap() {
                nat_total += 1;
                if r["owner"] == "netavark" {
                    nat_netavark += 1;
                } else {
                    tally.misses.push(format!("nat not netavark's: {r}"));
                }
                named_pweb |= r["container"] == "pweb";
            }
        }
        println!(
            "podman agreement: {}/{} fields; NAT rules owned netavark: {nat_netavark}/{nat_total}",
            tally.agreed, tally.total
        );
        assert!(tally.misses.is_empty(), "{:#?}", tally.misses);
        assert!(nat_total > 0);
        assert!(named_pweb, "the published port's rule names pweb");
        let one = Command::new(BIN)
            .args(["inventory", "--netns", "podman:pweb", "--json"])
            .output()
            .unwrap();
        assert!(
            one.status.success(),
            "{}",
            String::from_utf8_lossy(&one.stderr)
        );
    }
    assert_eq!(
        RootState::read(),
        before,
        "the machine's root namespace is as it was"
    );
}

#[test]
#[ignore = "runs podman and a tmux; scripts/test runs it after the others"]
fn the_tui_follows_podman_run_live() {
    let before = RootState::read();
    {
        let w = PodmanWorld::start();
        let t = tmux_common::Tmux::new(160, 50, &[]);
        t.start_netview(Duration::from_secs(20));
        t.wait_for("pweb on screen", Duration::from_secs(20), |s| {
            s.contains("pweb (podman)")
        });
        w.run("plive", &[], &["sleep", "600"]);
        let (waited, _) = t.wait_for_timed("plive on screen", Duration::from_secs(10), |s| {
            s.contains("plive (podman)")
        });
        println!(
            "podman run -> on screen: {} ms after the command returned",
            waited.as_millis()
        );
        w.ok(&["rm", "-f", "-t", "0", "plive"]);
        let (waited, _) = t.wait_for_timed("plive off the screen", Duration::from_secs(10), |s| {
            !s.contains("plive (podman)")
        });
        println!("podman rm -f -> off screen: {} ms", waited.as_millis());
        t.key("q");
        t.wait_exit(Duration::from_secs(10));
    }
    assert_eq!(
        RootState::read(),
        before,
        "the machine's root namespace is as it was"
    );
}

// The real worlds as oracles of the packet walk: every cell of `netview probe --json` among a
// world's containers, its host namespace and a peer on the host's LAN, the walk's `expected`
// against the kernel's answer to ping, arping or a TCP connect run in the same namespaces.

/// A peer on the host's LAN: a namespace of the test's own joined to the host namespace
/// `host` by a veth (the host's end nvt-lan0 192.168.99.1/24, the peer's eth0 192.168.99.2/24
/// with its default route via the host). The host's end goes with the peer's namespace.
fn lan_peer(host: &str) -> TestNs {
    let lan = TestNs::new("lan");
    ok(
        "ip",
        &[
            "-n", host, "link", "add", "nvt-lan0", "type", "veth", "peer", "name", "eth0", "netns",
            &lan.0,
        ],
    );
    ok(
        "ip",
        &[
            "-n",
            host,
            "addr",
            "add",
            "192.168.99.1/24",
            "dev",
            "nvt-lan0",
        ],
    );
    ok("ip", &["-n", host, "link", "set", "nvt-lan0", "up"]);
    ok(
        "ip",
        &[
            "-n",
            &lan.0,
            "addr",
            "add",
            "192.168.99.2/24",
            "dev",
            "eth0",
        ],
    );
    ok("ip", &["-n", &lan.0, "link", "set", "eth0", "up"]);
    ok(
        "ip",
        &[
            "-n",
            &lan.0,
            "route",
            "add",
            "default",
            "via",
            "192.168.99.1",
        ],
    );
    lan
}

/// One endpoint of a world: what is typed to `--from`/`--to`, the name its cells must carry
/// (containers as their runtimes name them), and its namespace file for the kernel's oracle.
struct Member {
    typed: String,
    cell: String,
    netns: String,
}

impl Member {
    fn ns(ns: &TestNs) -> Self {
        Member {
            typed: ns.0.clone(),
            cell: ns.0.clone(),
            netns: ns.path(),
        }
    }

    /// A running container: `runtime:name`, named `name` in the cells, in its process's
    /// namespace.
    fn container(runtime: &str, name: &str, pid: u64) -> Self {
        Member {
            typed: format!("{runtime}:{name}"),
            cell: name.to_string(),
            netns: format!("/proc/{pid}/ns/net"),
        }
    }
}

/// `netview probe --json` with `args`, no lab, the runtimes at `env`; its JSON and wall time.
fn probe_json(env: &[(&str, String)], args: &[String]) -> (Value, Duration) {
    let state = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let o = Command::new(BIN)
        .arg("probe")
        .arg("--json")
        .args(args)
        .env_remove("NETVIEW_PROBE_LAB")
        .env("NETVIEW_STATE_DIR", state.path())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let took = start.elapsed();
    assert!(
        o.status.success(),
        "netview probe {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    (serde_json::from_slice(&o.stdout).unwrap(), took)
}

/// The kernel's answer for one cell, run in the source's namespace: `ping -c1 -W1`, `arping
/// -c1 -w1` out of the interface the kernel routes the target through, or a TCP connect with
/// a three-second timeout, as netview's TCP cells here (an accept or a reset both mean the
/// SYN reached a stack, as netview counts it).
fn kernel_child(netns: &str, kind: &str, ip: &str, port: Option<u64>) -> Child {
    let net = format!("--net={netns}");
    let mut cmd = Command::new("nsenter");
    cmd.arg(&net);
    match kind {
        "icmp" => {
            cmd.args(["ping", "-n", "-c1", "-W1", ip]);
        }
        "arp" => {
            let route: Value =
                serde_json::from_str(&ok("nsenter", &[&net, "ip", "-j", "route", "get", ip]))
                    .unwrap();
            let dev = route[0]["dev"].as_str().unwrap_or("lo").to_string();
            cmd.args(["arping", "-c1", "-w1", "-I", &dev, ip]);
        }
        "tcp" => {
            let port = port.expect("a TCP cell's port");
            let code = format!(
                "import socket,sys\ns=socket.socket();s.settimeout(3)\ntry:\n s.connect(('{ip}',{port}));sys.exit(0)\nexcept ConnectionRefusedError:\n sys.exit(0)\nexcept Exception:\n sys.exit(4)"
            );
            cmd.args(["python3", "-c", &code]);
        }
        other => panic!("unexpected kind {other}"),
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the kernel's oracle")
}

/// One cell checked against the kernel.
struct Checked {
    from: String,
    target_ip: String,
    kind: String,
    port: Option<u64>,
    expected: Option<bool>,
    why: String,
    kernel: bool,
}

/// Probe every pair among `members` (ICMP and ARP), and TCP from every member to each
/// `(port, typed target)`, then check every cell's expectation and observation against the
/// kernel. Prints the counts and asserts: no cell differs, under 2% are null, netview's own
/// observations agree with the kernel. Returns the cells and the ICMP/ARP matrix's wall time.
fn check_world(
    what: &str,
    env: &[(&str, String)],
    members: &[Member],
    tcp: &[(u16, &str)],
) -> (Vec<Checked>, Duration, u64) {
    let mut every = Vec::new();
    for m in members {
        every.extend(["--from".to_string(), m.typed.clone()]);
        every.extend(["--to".to_string(), m.typed.clone()]);
    }
    let (matrix, took) = probe_json(env, &every);
    let elapsed_ms = matrix["elapsed_ms"].as_u64().unwrap();
    let mut results: Vec<Value> = matrix["results"].as_array().unwrap().clone();
    for (port, target) in tcp {
        // Three seconds: a SYN lost to a conntrack clash between concurrent connects (several
        // sources DNATed to one port at once) is sent again after one; with one-second
        // timeouts 11 to 14 of 264 cells timed out here, each run a different few.
        let mut args: Vec<String> = [
            "--kind",
            "tcp",
            "--port",
            &port.to_string(),
            "--timeout-ms",
            "3000",
        ]
        .map(String::from)
        .to_vec();
        for m in members {
            args.extend(["--from".to_string(), m.typed.clone()]);
        }
        args.extend(["--to".to_string(), target.to_string()]);
        let (v, _) = probe_json(env, &args);
        results.extend(v["results"].as_array().unwrap().iter().cloned());
    }
    let netns_of: BTreeMap<&str, &str> = members
        .iter()
        .map(|m| (m.cell.as_str(), m.netns.as_str()))
        .collect();
    let mut checked = Vec::new();
    // A few oracles at a time: a ping's one-second wait must not be a loaded machine's.
    for batch in results.chunks(16) {
        let children: Vec<Child> = batch
            .iter()
            .map(|r| {
                let from = r["from"].as_str().unwrap();
                let netns = netns_of
                    .get(from)
                    .unwrap_or_else(|| panic!("{what}: a cell from {from}, named as no member"));
                kernel_child(
                    netns,
                    r["kind"].as_str().unwrap(),
                    r["target_ip"].as_str().unwrap(),
                    r["port"].as_u64(),
                )
            })
            .collect();
        for (r, mut child) in batch.iter().zip(children) {
            let kernel = child.wait().unwrap().success();
            checked.push((
                Checked {
                    from: r["from"].as_str().unwrap().to_string(),
                    target_ip: r["target_ip"].as_str().unwrap().to_string(),
                    kind: r["kind"].as_str().unwrap().to_string(),
                    port: r["port"].as_u64(),
                    expected: r["expected"].as_bool(),
                    why: r["why"].as_str().unwrap_or("").to_string(),
                    kernel,
                },
                r["reachable"].as_bool().unwrap(),
                format!(
                    "{} ({} {})",
                    r["to"].as_str().unwrap(),
                    r["outcome"],
                    r["detail"]
                ),
            ));
        }
    }
    let (mut agree, mut null) = (0, 0);
    let (mut differ, mut observed_differ, mut nulls) = (Vec::new(), Vec::new(), Vec::new());
    for (c, observed, to) in &checked {
        let cell = format!(
            "{} -> {to} {}{} {}",
            c.from,
            c.target_ip,
            c.port.map(|p| format!(":{p}")).unwrap_or_default(),
            c.kind
        );
        match c.expected {
            None => {
                null += 1;
                nulls.push(format!("{cell}: {}", c.why));
            }
            Some(e) if e == c.kernel => agree += 1,
            Some(e) => differ.push(format!(
                "{cell}: the walk expects {e} ({}), the kernel {}",
                c.why, c.kernel
            )),
        }
        if *observed != c.kernel {
            observed_differ.push(format!(
                "{cell}: netview saw {observed}, the kernel {}",
                c.kernel
            ));
        }
    }
    let cells = checked.len();
    println!(
        "{what}: {cells} cells, {agree} agree, {null} null, {} differ; netview's observation = \
         the kernel's on {}/{cells}; ICMP/ARP matrix of {} cells: {elapsed_ms} ms probing, \
         {} ms wall",
        differ.len(),
        cells - observed_differ.len(),
        matrix["results"].as_array().unwrap().len(),
        took.as_millis()
    );
    for n in &nulls {
        println!("  null: {n}");
    }
    assert!(
        differ.is_empty(),
        "{what}: the walk differs from the kernel:\n{}",
        differ.join("\n")
    );
    assert!(
        null * 50 < cells,
        "{what}: {null} of {cells} cells null:\n{}",
        nulls.join("\n")
    );
    assert!(
        observed_differ.is_empty(),
        "{what}: netview's probes differ from the kernel's:\n{}",
        observed_differ.join("\n")
    );
    // Every member is a source, named in the cells as its runtime names it.
    for m in members {
        assert!(
            checked.iter().any(|(c, _, _)| c.from == m.cell),
            "{what}: no cell from {} ({})",
            m.cell,
            m.typed
        );
    }
    (
        checked.into_iter().map(|(c, _, _)| c).collect(),
        took,
        elapsed_ms,
    )
}

/// The cell from `from` to `ip` (`port` for TCP) of `kind`.
fn cell<'a>(
    cells: &'a [Checked],
    from: &str,
    ip: &str,
    kind: &str,
    port: Option<u64>,
) -> &'a Checked {
    cells
        .iter()
        .find(|c| c.from == from && c.target_ip == ip && c.kind == kind && c.port == port)
        .unwrap_or_else(|| panic!("no cell {from} -> {ip} {kind} {port:?}"))
}

fn pid_of(v: &Value) -> u64 {
    v["State"]["Pid"].as_u64().unwrap()
}

/// The Docker world's members: its host namespace (also hostc's), the LAN peer, and every
/// running container with a namespace of its own.
fn docker_members(d: &Dockerd, lan: &TestNs) -> Vec<Member> {
    let mut m = vec![Member::ns(&d.ns), Member::ns(lan)];
    for name in ["web", "db", "app", "mac1", "nonec"] {
        m.push(Member::container("docker", name, pid_of(&d.inspect(name))));
    }
    // A host-mode container is its host's namespace, which keeps its name.
    m.push(Member {
        typed: "docker:hostc".into(),
        cell: d.ns.0.clone(),
        netns: d.ns.path(),
    });
    m
}

fn podman_members(w: &PodmanWorld) -> Vec<Member> {
    let mut m = Vec::new();
    for name in ["pweb", "papp", "pmac"] {
        let pi = w.inspect(&["container", "inspect", name]);
        m.push(Member::container("podman", name, pid_of(&pi)));
    }
    m.push(Member {
        typed: "podman:phost".into(),
        cell: w.host.clone(),
        netns: w.path(),
    });
    m
}

#[test]
#[ignore = "starts dockerd; scripts/test runs it after the others"]
fn docker_world_cells_agree_with_the_kernel() {
    let before = RootState::read();
    {
        let d = Dockerd::start();
        post_world(&d);
        let lan = lan_peer(&d.ns.0);
        let members = docker_members(&d, &lan);
        let env = [("DOCKER_HOST", d.host())];
        let web = d.inspect("web")["NetworkSettings"]["IPAddress"]
            .as_str()
            .unwrap()
            .to_string();
        let (cells, took, probing) = check_world(
            "docker world",
            &env,
            &members,
            &[(8080, d.ns.0.as_str()), (80, "docker:web")],
        );
        println!(
            "docker world matrix wall time: {} ms ({probing} ms probing)",
            took.as_millis()
        );
        // The published port is open to the LAN; web itself is not (Docker's FORWARD rules).
        assert!(cell(&cells, &lan.0, "192.168.99.1", "tcp", Some(8080)).kernel);
        let direct = cell(&cells, &lan.0, &web, "icmp", None);
        assert!(!direct.kernel, "the LAN reaches web only through its port");
        assert!(cell(&cells, "web", "172.17.0.1", "icmp", None).kernel);
        // --network takes every running container of a network, named as Docker names them.
        let (v, _) = probe_json(
            &env,
            &["--network", "bridge", "--kind", "icmp"].map(String::from),
        );
        let from: BTreeSet<&str> = v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["from"].as_str().unwrap())
            .collect();
        assert_eq!(from, BTreeSet::from(["db", "web"]));
    }
    assert_eq!(
        RootState::read(),
        before,
        "the machine's root namespace is as it was"
    );
}

#[test]
#[ignore = "runs podman; scripts/test runs it after the others"]
fn podman_world_cells_agree_with_the_kernel() {
    let before = RootState::read();
    {
        let w = PodmanWorld::start();
        let lan = lan_peer(&w.host);
        let mut members = podman_members(&w);
        members.push(Member {
            typed: w.host.clone(),
            cell: w.host.clone(),
            netns: w.path(),
        });
        members.push(Member::ns(&lan));
        let (cells, _, _) = check_world(
            "podman world",
            &[],
            &members,
            &[(8081, w.host.as_str()), (80, "podman:pweb")],
        );
        // Podman's second bridge: its gateway is the host's, reached from papp.
        let gw = cell(&cells, "papp", "10.89.0.1", "icmp", None);
        assert!(gw.kernel && gw.expected == Some(true), "{}", gw.why);
        assert!(cell(&cells, &lan.0, "192.168.99.1", "tcp", Some(8081)).kernel);
    }
    assert_eq!(
        RootState::read(),
        before,
        "the machine's root namespace is as it was"
    );
}

#[test]
#[ignore = "starts dockerd and runs podman; scripts/test runs it after the others"]
fn docker_and_podman_on_one_host_cells_agree_with_the_kernel() {
    let before = RootState::read();
    {
        let d = Dockerd::start();
        post_world(&d);
        let w = PodmanWorld::start_in(d.ns.0.clone(), None);
        let lan = lan_peer(&d.ns.0);
        let mut members = docker_members(&d, &lan);
        members.extend(podman_members(&w));
        let env = [("DOCKER_HOST", d.host())];
        let (cells, _, _) = check_world(
            "docker and podman",
            &env,
            &members,
            &[
                (8080, d.ns.0.as_str()),
                (8081, d.ns.0.as_str()),
                (80, "docker:web"),
                (80, "podman:pweb"),
            ],
        );
        // Docker's FORWARD policy (drop) blocks what netavark's DNAT forwards from the LAN to
        // Podman's published port, while Docker's own is let through.
        let blocked = cell(&cells, &lan.0, "192.168.99.1", "tcp", Some(8081));
        assert!(!blocked.kernel && blocked.expected == Some(false));
        println!("podman's port from the LAN: {}", blocked.why);
        assert!(cell(&cells, &lan.0, "192.168.99.1", "tcp", Some(8080)).kernel);
    }
    assert_eq!(
        RootState::read(),
        before,
        "the machine's root namespace is as it was"
    );
}
