//! Tests of the runtimes' mapping on recorded answers (`tests/fixtures/containers/`), of the
//! namespace matching, of name lookup, and of the API client against fake sockets.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::*;
use crate::netns::NetnsSource;

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/containers")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn docker_world() -> Vec<Container> {
    let mut list = docker::parse_containers(&fixture("docker-containers.json")).unwrap();
    for c in &mut list {
        if c.state == "running" {
            let d = docker::parse_inspect(&fixture(&format!("docker-inspect-{}.json", c.name)))
                .unwrap();
            docker::apply_inspect(c, d);
        }
    }
    list
}

fn by_name<'a>(list: &'a [Container], name: &str) -> &'a Container {
    list.iter().find(|c| c.name == name).unwrap()
}

#[test]
fn docker_list_maps_names_images_states_and_networks() {
    let list = docker::parse_containers(&fixture("docker-containers.json")).unwrap();
    let names: Vec<&str> = list.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["web", "db", "hostc", "nonec", "app", "mac1", "old"]);
    let web = by_name(&list, "web");
    assert_eq!(web.runtime, Runtime::Docker);
    assert_eq!(web.image, "netview-busybox:latest");
    assert_eq!(web.state, "running");
    assert_eq!(web.networks, ["bridge"]);
    assert_eq!(web.id.len(), 64);
    assert_eq!(
        web.addresses,
        [ContainerAddress {
            network: "bridge".into(),
            ip: Some("172.17.0.2".parse().unwrap()),
            mac: Some("02:42:ac:11:00:02".into()),
        }]
    );
    assert_eq!(by_name(&list, "hostc").networks, ["host"]);
    assert!(
        by_name(&list, "hostc").addresses.is_empty(),
        "host mode has no address"
    );
    assert_eq!(by_name(&list, "nonec").networks, ["none"]);
    assert_eq!(by_name(&list, "old").state, "exited");
    assert!(list.iter().all(|c| c.pid.is_none()), "the list has no pids");
}

#[test]
fn docker_inspect_gives_pid_and_sandbox_key() {
    let list = docker_world();
    let web = by_name(&list, "web");
    assert_eq!(web.pid, Some(15675));
    let key = web.sandbox_key.as_deref().unwrap();
    assert!(
        key.starts_with("/var/run/docker/netns/"),
        "{}",
        key.display()
    );
    assert_eq!(
        by_name(&list, "hostc").sandbox_key.as_deref(),
        Some(Path::new("/var/run/docker/netns/default"))
    );
    let old = by_name(&list, "old");
    assert_eq!((old.pid, old.sandbox_key.as_ref()), (None, None));
}

#[test]
fn docker_sandbox_keys_outside_its_netns_directory_are_refused() {
    for key in [
        "/etc/passwd",
        "/var/run/docker/netns/../../../etc/shadow",
        "/var/run/docker/netns/",
        "/var/run/docker/netns/a/b",
        "relative/path",
    ] {
        let json = serde_json::json!({
            "Name": "/x", "State": {"Pid": 10},
            "NetworkSettings": {"SandboxKey": key}
        });
        let d = docker::parse_inspect(json.to_string().as_bytes()).unwrap();
        assert_eq!(d.sandbox_key, None, "{key} was accepted");
        assert_eq!(d.pid, Some(10));
    }
    let json =
        r#"{"State": {"Pid": -4}, "NetworkSettings": {"SandboxKey": "/run/docker/netns/abc"}}"#;
    let d = docker::parse_inspect(json.as_bytes()).unwrap();
    assert_eq!(d.pid, None, "a negative pid is no pid");
    assert_eq!(d.sandbox_key, Some(PathBuf::from("/run/docker/netns/abc")));
}

#[test]
fn docker_answers_with_impossible_ids_or_names_are_left_out() {
    let json = serde_json::json!([
        {"Id": "../../etc", "Names": ["/a"], "Image": "i", "State": "running"},
        {"Id": "abcdef012345", "Names": ["/bad name\u{1b}[2J"], "Image": "i", "State": "running"},
        {"Id": "abcdef012346", "Names": ["/ok"], "Image": "evil\u{1b}[2Jimage", "State": "running\n"},
        {"Id": "abcdef012347", "Names": [], "State": "running"}
    ]);
    let list = docker::parse_containers(json.to_string().as_bytes()).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name, "ok");
    assert_eq!(
        list[0].image, "evil[2Jimage",
        "control characters are dropped"
    );
    assert_eq!(list[0].state, "running");
    assert!(docker::parse_containers(b"{\"not\": \"a list\"}").is_err());
    assert!(docker::parse_containers(b"").is_err());
}

#[test]
fn docker_networks_name_their_devices() {
    let nets = docker::parse_networks(&fixture("docker-networks.json")).unwrap();
    let get = |n: &str| nets.iter().find(|x| x.name == n).unwrap();
    let bridge = get("bridge");
    assert_eq!(bridge.driver, "bridge");
    assert_eq!(bridge.interface.as_deref(), Some("docker0"));
    assert_eq!(
        bridge.subnets,
        ["172.17.0.0/16".parse::<ipnet::IpNet>().unwrap()]
    );
    assert_eq!(bridge.gateways, ["172.17.0.1".parse::<IpAddr>().unwrap()]);
    assert_eq!((bridge.parent.as_ref(), bridge.mode.as_ref()), (None, None));
    let user = get("my_bridge");
    assert_eq!(
        user.interface.as_deref(),
        Some(format!("br-{}", &user.id[..12]).as_str()),
        "a user bridge without a name option is br- and 12 digits of its id"
    );
    let mac = get("my_macvlan");
    assert_eq!(mac.driver, "macvlan");
    assert_eq!(mac.interface, None);
    assert_eq!(mac.parent.as_deref(), Some("nvtest-par0"));
    assert_eq!(
        mac.mode.as_deref(),
        Some("bridge"),
        "Docker's default macvlan mode"
    );
    assert_eq!(get("host").driver, "host");
    assert_eq!(get("none").driver, "null");
    assert!(get("none").subnets.is_empty());
    assert_eq!(get("host").interface, None);
}

#[test]
fn docker_ipvlan_mode_and_bad_options() {
    let json = serde_json::json!([
        {"Name": "iv", "Id": "aa11", "Driver": "ipvlan",
         "Options": {"parent": "eth9", "ipvlan_mode": "l3"},
         "IPAM": {"Config": [{"Subnet": "not-a-cidr", "Gateway": "nope"}]}},
        {"Name": "iv2", "Id": "aa12", "Driver": "ipvlan", "Options": {"parent": "a/../../b"}},
        {"Name": "b", "Id": "aa13", "Driver": "bridge", "Options": null, "IPAM": null}
    ]);
    let nets = docker::parse_networks(json.to_string().as_bytes()).unwrap();
    assert_eq!(nets[0].parent.as_deref(), Some("eth9"));
    assert_eq!(nets[0].mode.as_deref(), Some("l3"));
    assert!(nets[0].subnets.is_empty() && nets[0].gateways.is_empty());
    assert_eq!(
        nets[1].parent, None,
        "a parent that is no device name is dropped"
    );
    assert_eq!(nets[1].mode.as_deref(), Some("l2"));
    assert_eq!(nets[2].interface.as_deref(), Some("br-aa13"));
}

#[test]
fn podman_ps_maps_names_pids_and_networks() {
    let list = podman::parse_containers(&fixture("podman-ps.json")).unwrap();
    let names: Vec<&str> = list.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["pweb", "papp", "phost", "pold"]);
    let pweb = by_name(&list, "pweb");
    assert_eq!(pweb.runtime, Runtime::Podman);
    assert_eq!(pweb.pid, Some(17001));
    assert_eq!(pweb.networks, ["podman"]);
    assert_eq!(pweb.image, "localhost/netview-busybox:latest");
    assert_eq!(
        by_name(&list, "pold").pid,
        None,
        "Pid 0 of a stopped container is none"
    );
    assert!(podman::parse_containers(b"").unwrap().is_empty());
    assert!(podman::parse_containers(b"[]").unwrap().is_empty());
    assert!(podman::parse_containers(b"nonsense").is_err());
}

#[test]
fn podman_networks_map_bridge_and_macvlan() {
    let nets = podman::parse_networks(&fixture("podman-networks.json")).unwrap();
    let get = |n: &str| nets.iter().find(|x| x.name == n).unwrap();
    assert_eq!(get("podman").interface.as_deref(), Some("podman0"));
    assert_eq!(
        get("podman").subnets,
        ["10.88.0.0/16".parse::<ipnet::IpNet>().unwrap()]
    );
    assert_eq!(
        get("podman").gateways,
        ["10.88.0.1".parse::<IpAddr>().unwrap()]
    );
    let mac = get("pod_macvlan");
    assert_eq!(mac.interface, None);
    assert_eq!(mac.parent.as_deref(), Some("nvtest-par0"));
    assert_eq!(mac.mode.as_deref(), Some("private"));
}

fn ns(name: &str, id: u64, source: NetnsSource) -> Netns {
    Netns {
        name: name.into(),
        id,
        source,
        path: PathBuf::from(format!("/fake/{name}")),
        process: None,
        is_self: false,
    }
}

/// A fake `stat`: Docker's sandbox keys and the containers' /proc links, as a kernel with these
/// namespaces would answer.
fn fake_inodes() -> BTreeMap<PathBuf, u64> {
    let list = docker_world();
    let mut m = BTreeMap::new();
    let mut next = 100;
    for c in &list {
        if let Some(key) = &c.sandbox_key {
            let ino = if key.ends_with("default") {
                1
            } else {
                next += 1;
                next - 1
            };
            m.insert(key.clone(), ino);
            if let Some(pid) = c.pid {
                m.insert(PathBuf::from(format!("/proc/{pid}/ns/net")), ino);
            }
        }
    }
    m
}

#[test]
fn containers_are_matched_to_namespaces_by_inode() {
    let list = docker_world();
    let inodes = fake_inodes();
    let stat = |p: &Path| inodes.get(p).copied();
    let mut namespaces = vec![ns("root", 1, NetnsSource::Root)];
    for (i, ino) in (100..106).enumerate() {
        namespaces.push(ns(&format!("pid:{}", 15000 + i), ino, NetnsSource::Process));
    }
    let m = match_namespaces(&list, &namespaces, &stat);
    let names_on = |ino: u64| -> Vec<&str> {
        m.get(&ino)
            .map(|v| v.iter().map(|&i| list[i].name.as_str()).collect())
            .unwrap_or_default()
    };
    assert_eq!(
        names_on(1),
        ["hostc"],
        "host mode is listed on the root namespace"
    );
    let all: usize = m.values().map(Vec::len).sum();
    assert_eq!(
        all, 6,
        "every running container has a namespace; the stopped one none"
    );
    for ino in 100..105 {
        assert_eq!(names_on(ino).len(), 1, "one container per own namespace");
    }
}

#[test]
fn a_missing_sandbox_key_falls_back_to_the_pid() {
    let mut c = by_name(
        &podman::parse_containers(&fixture("podman-ps.json")).unwrap(),
        "pweb",
    )
    .clone();
    let stat = |p: &Path| (p == Path::new("/proc/17001/ns/net")).then_some(7);
    let namespaces = [ns("netns-0165", 7, NetnsSource::Named)];
    assert_eq!(
        namespace_of(&c, &namespaces, &stat).unwrap().name,
        "netns-0165"
    );
    // A sandbox key that no longer exists does not hide the pid's namespace.
    c.sandbox_key = Some(PathBuf::from("/run/docker/netns/gone"));
    assert_eq!(
        namespace_of(&c, &namespaces, &stat).unwrap().name,
        "netns-0165"
    );
    c.pid = None;
    assert_eq!(
        namespace_of(&c, &namespaces, &stat).unwrap_err(),
        LookupError::NotRunning {
            runtime: Runtime::Podman,
            name: "pweb".into()
        }
    );
}

fn world() -> ContainerWorld {
    let mut containers = docker_world();
    containers.extend(podman::parse_containers(&fixture("podman-ps.json")).unwrap());
    let mut networks = docker::parse_networks(&fixture("docker-networks.json")).unwrap();
    networks.extend(podman::parse_networks(&fixture("podman-networks.json")).unwrap());
    let mut w = ContainerWorld {
        containers,
        networks,
        status: vec![
            RuntimeStatus {
                runtime: Runtime::Docker,
                answered: true,
                error: None,
                installed: true,
            },
            RuntimeStatus {
                runtime: Runtime::Podman,
                answered: true,
                error: None,
                installed: true,
            },
        ],
    };
    fill_network_members(&mut w);
    w
}

#[test]
fn networks_list_their_containers() {
    let w = world();
    let get = |n: &str| w.networks.iter().find(|x| x.name == n).unwrap();
    assert_eq!(get("bridge").containers, ["db", "old", "web"]);
    assert_eq!(get("my_macvlan").containers, ["mac1"]);
    assert_eq!(get("host").containers, ["hostc"]);
    assert_eq!(get("podman").containers, ["pold", "pweb"]);
    assert!(get("pod_macvlan").containers.is_empty());
}

#[test]
fn containers_are_found_by_runtime_and_name_or_id_prefix() {
    let w = world();
    assert_eq!(w.find("docker:web").unwrap().name, "web");
    assert_eq!(w.find("docker:/web").unwrap().name, "web");
    assert_eq!(w.find("podman:pweb").unwrap().runtime, Runtime::Podman);
    let web_id = w.find("docker:web").unwrap().id.clone();
    assert_eq!(w.find(&web_id[..12]).unwrap().name, "web");
    assert_eq!(
        w.find(&format!("docker:{}", &web_id[..8])).unwrap().name,
        "web"
    );
    assert!(matches!(
        w.find("podman:web"),
        Err(LookupError::Unknown {
            runtime: Some(Runtime::Podman),
            ..
        })
    ));
    assert_eq!(w.find("pid:1"), Err(LookupError::NotAContainer));
    assert_eq!(w.find("nv-host"), Err(LookupError::NotAContainer));
    assert_eq!(
        w.find("abc"),
        Err(LookupError::NotAContainer),
        "too short for a prefix"
    );
    // Two ids sharing a prefix.
    let mut w2 = w.clone();
    let mut twin = w2.containers[0].clone();
    twin.name = "twin".into();
    twin.id = format!("{}ffff", &web_id[..6]);
    w2.containers.push(twin);
    assert!(matches!(
        w2.find(&web_id[..6]),
        Err(LookupError::Ambiguous { count: 2, .. })
    ));
}

#[test]
fn an_unknown_container_says_why_its_runtime_could_not_be_asked() {
    let mut w = ContainerWorld::default();
    w.status.push(RuntimeStatus {
        runtime: Runtime::Docker,
        answered: false,
        error: Some("docker is not running (nothing listens on /var/run/docker.sock)".into()),
        installed: true,
    });
    let e = w.find("docker:web").unwrap_err();
    assert_eq!(
        e.to_string(),
        "no docker container \"web\" (docker is not running (nothing listens on /var/run/docker.sock))"
    );
    assert_eq!(w.unreachable().len(), 1);
}

/// A fake Docker: answers each request with the fixture for its path, as HTTP/1.0 with the
/// connection closed at the end of the body. Returns the socket path.
fn fake_docker(dir: &Path) -> PathBuf {
    let socket = dir.join("docker.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let list = docker_world();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let body = match path.as_str() {
                "/containers/json?all=1" => Some(fixture("docker-containers.json")),
                "/networks" => Some(fixture("docker-networks.json")),
                p => list
                    .iter()
                    .find(|c| p == format!("/containers/{}/json", c.id))
                    .map(|c| fixture(&format!("docker-inspect-{}.json", c.name))),
            };
            let (status, body) = match body {
                Some(b) => ("200 OK", b),
                None => ("404 Not Found", b"{\"message\":\"no such\"}".to_vec()),
            };
            let head = format!("HTTP/1.0 {status}\r\nContent-Type: application/json\r\n\r\n");
            let _ = stream.write_all(head.as_bytes());
            // Send the body in small pieces, as a socket may deliver it.
            for piece in body.chunks(1000) {
                let _ = stream.write_all(piece);
            }
        }
    });
    socket
}

#[test]
fn docker_source_reads_the_api_over_its_socket() {
    let dir = tempfile::tempdir().unwrap();
    let src = docker::DockerSource {
        socket: fake_docker(dir.path()),
    };
    let answer = src.ask(Instant::now() + Duration::from_secs(10)).unwrap();
    assert_eq!(answer.containers, docker_world());
    assert_eq!(answer.networks.len(), 5);
}

#[test]
fn a_socket_that_accepts_and_never_answers_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    // Accept, read the request, and say nothing (keep the connections open).
    let held = std::thread::spawn(move || {
        let mut open = Vec::new();
        for s in listener.incoming().take(2) {
            open.push(s);
        }
        std::thread::sleep(Duration::from_secs(3));
        drop(open);
    });
    let src = docker::DockerSource {
        socket: socket.clone(),
    };
    let e = src
        .ask(Instant::now() + Duration::from_millis(300))
        .unwrap_err();
    assert!(
        matches!(
            e,
            SourceError::Timeout {
                runtime: Runtime::Docker,
                ..
            }
        ),
        "{e:?}"
    );
    // A listener that never even accepts (its backlog is full or it is stuck) as well.
    let world = ask_all(&[std::sync::Arc::new(src) as std::sync::Arc<dyn ContainerSource>]);
    assert!(world.containers.is_empty());
    assert!(!world.status[0].answered);
    assert!(world.status[0]
        .error
        .as_deref()
        .unwrap()
        .contains("did not answer"));
    drop(held);
}

#[test]
fn a_missing_socket_is_no_error_of_the_inventory() {
    let dir = tempfile::tempdir().unwrap();
    let sources: Vec<std::sync::Arc<dyn ContainerSource>> = vec![
        std::sync::Arc::new(docker::DockerSource {
            socket: dir.path().join("absent.sock"),
        }),
        std::sync::Arc::new(podman::PodmanSource {
            socket: dir.path().join("absent-podman.sock"),
            program: Some(dir.path().join("no-podman-here")),
        }),
    ];
    let world = ask_all(&sources);
    assert!(world.containers.is_empty() && world.networks.is_empty());
    assert_eq!(world.status.len(), 2);
    assert!(world
        .status
        .iter()
        .all(|s| !s.answered && s.error.is_some()));
    let podman = &world.status[1];
    assert!(
        !podman.installed,
        "a podman program that is not there is not installed"
    );
}

#[test]
fn a_socket_file_nobody_listens_on_is_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    drop(UnixListener::bind(&socket).unwrap());
    let e = docker::DockerSource {
        socket: socket.clone(),
    }
    .ask(Instant::now() + Duration::from_secs(5))
    .unwrap_err();
    assert!(matches!(e, SourceError::NotRunning { .. }), "{e:?}");
}

#[test]
fn an_http_error_status_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut line = String::new();
            let _ = BufReader::new(s.try_clone().unwrap()).read_line(&mut line);
            let _ = s.write_all(b"HTTP/1.0 500 Internal Server Error\r\n\r\n{\"message\":\"x\"}");
        }
    });
    let e = docker::DockerSource { socket }
        .ask(Instant::now() + Duration::from_secs(5))
        .unwrap_err();
    assert!(
        matches!(e, SourceError::Status { status: 500, ref path, .. } if path == "/containers/json?all=1"),
        "{e:?}"
    );
}

#[test]
fn a_program_that_hangs_is_killed_at_the_deadline() {
    let e = podman::run_with_deadline(
        Path::new("/bin/sleep"),
        &["30"],
        Instant::now() + Duration::from_millis(200),
    )
    .unwrap_err();
    assert!(matches!(e, SourceError::Timeout { .. }), "{e:?}");
    let e = podman::run_with_deadline(
        Path::new("/bin/false"),
        &[],
        Instant::now() + Duration::from_secs(5),
    )
    .unwrap_err();
    assert!(matches!(e, SourceError::CommandFailed { .. }), "{e:?}");
    let out = podman::run_with_deadline(
        Path::new("/bin/echo"),
        &["[]"],
        Instant::now() + Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(out, b"[]\n");
}

/// A source that answers a fixed list and counts how often it was asked.
struct Counted {
    runtime: Runtime,
    answer: RuntimeAnswer,
    asked: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl ContainerSource for Counted {
    fn runtime(&self) -> Runtime {
        self.runtime
    }
    fn ask(&self, _deadline: Instant) -> Result<RuntimeAnswer, SourceError> {
        self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(self.answer.clone())
    }
}

#[test]
fn a_refresh_asks_only_the_runtimes_that_changed() {
    let docker_asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let podman_asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let docker = Counted {
        runtime: Runtime::Docker,
        answer: RuntimeAnswer {
            containers: docker_world(),
            networks: vec![],
        },
        asked: docker_asked.clone(),
    };
    let podman = Counted {
        runtime: Runtime::Podman,
        answer: RuntimeAnswer {
            containers: podman::parse_containers(&fixture("podman-ps.json")).unwrap(),
            networks: podman::parse_networks(&fixture("podman-networks.json")).unwrap(),
        },
        asked: podman_asked.clone(),
    };
    let sources: Vec<std::sync::Arc<dyn ContainerSource>> =
        vec![std::sync::Arc::new(docker), std::sync::Arc::new(podman)];
    let first = ask_all(&sources);
    let which = std::collections::BTreeSet::from([Runtime::Docker]);
    let again = refresh(&sources, &first, Some(&which));
    let count =
        |rt: Runtime, w: &ContainerWorld| w.containers.iter().filter(|c| c.runtime == rt).count();
    assert_eq!(count(Runtime::Podman, &again), 4, "Podman's answer is kept");
    assert_eq!(count(Runtime::Docker, &again), 7);
    assert_eq!(again.status.len(), 2);
    assert_eq!(again.networks.len(), 3);
    assert_eq!(
        again
            .networks
            .iter()
            .find(|n| n.name == "podman")
            .unwrap()
            .containers,
        ["pold", "pweb"]
    );
    // Docker was asked twice, Podman once.
    let load = |a: &std::sync::atomic::AtomicUsize| a.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!((load(&docker_asked), load(&podman_asked)), (2, 1));
}

/// Answers recorded from Docker 20.10.24 (API 1.41) running the post's world, with a dockerd
/// whose exec root was a temporary directory.
#[test]
fn recorded_docker_20_10_answers_map() {
    let list = docker::parse_containers(&fixture("recorded/docker-20.10-containers.json")).unwrap();
    let mut names: Vec<&str> = list.iter().map(|c| c.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["app", "db", "hostc", "mac1", "nonec", "old", "web"]);
    for c in &list {
        let raw = fixture(&format!("recorded/docker-20.10-inspect-{}.json", c.name));
        let d = docker::parse_inspect(&raw).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        let pid = v["State"]["Pid"].as_u64().unwrap();
        assert_eq!(d.pid.map(u64::from), (pid > 0).then_some(pid), "{}", c.name);
        assert_eq!(d.name.as_deref(), Some(c.name.as_str()));
        // That daemon's SandboxKey was under its own exec root, not Docker's netns
        // directory: not trusted, so the pid is what places it.
        if pid > 0 {
            assert!(v["NetworkSettings"]["SandboxKey"]
                .as_str()
                .unwrap()
                .starts_with("/tmp/"));
        }
        assert_eq!(d.sandbox_key, None);
    }
    let web = by_name(&list, "web");
    assert_eq!(web.addresses[0].ip, Some("172.17.0.2".parse().unwrap()));
    assert_eq!(by_name(&list, "old").state, "created");
    let nets = docker::parse_networks(&fixture("recorded/docker-20.10-networks.json")).unwrap();
    let get = |n: &str| nets.iter().find(|x| x.name == n).unwrap();
    assert_eq!(get("bridge").interface.as_deref(), Some("docker0"));
    assert!(
        get("bridge").gateways.is_empty(),
        "Docker 20.10 names no gateway for its default bridge, and neither does netview"
    );
    let user = get("my_bridge");
    assert_eq!(user.interface, Some(format!("br-{}", &user.id[..12])));
    assert_eq!(user.gateways, ["172.18.0.1".parse::<IpAddr>().unwrap()]);
    assert_eq!(get("my_macvlan").parent.as_deref(), Some("nvtest-par0"));
    assert_eq!(get("none").driver, "null");
}

/// Answers recorded from Podman 4.3.1 with netavark 1.4 (`podman ps --all --format json`,
/// `podman network ls --format json`) running the post's world.
#[test]
fn recorded_podman_4_3_answers_map() {
    let list = podman::parse_containers(&fixture("recorded/podman-4.3-ps.json")).unwrap();
    let got: Vec<(&str, Option<u32>, Vec<String>)> = list
        .iter()
        .map(|c| (c.name.as_str(), c.pid, c.networks.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("pweb", Some(9014), vec!["podman".to_string()]),
            ("papp", Some(10711), vec!["pod_bridge".to_string()]),
            ("phost", Some(10837), vec![]),
            ("pmac", Some(10978), vec!["pod_macvlan".to_string()]),
            ("pold", None, vec!["podman".to_string()]),
        ]
    );
    let nets = podman::parse_networks(&fixture("recorded/podman-4.3-networks.json")).unwrap();
    let get = |n: &str| nets.iter().find(|x| x.name == n).unwrap();
    assert_eq!(get("pod_bridge").interface.as_deref(), Some("podman1"));
    assert_eq!(get("pod_macvlan").parent.as_deref(), Some("nvt-ppar0"));
    assert_eq!(
        get("pod_macvlan").mode.as_deref(),
        Some("bridge"),
        "netavark's default"
    );
    assert_eq!(
        get("podman").subnets,
        ["10.88.0.0/16".parse::<ipnet::IpNet>().unwrap()]
    );
}

/// A source stuck where no timeout of its own reaches.
struct Stuck;

impl ContainerSource for Stuck {
    fn runtime(&self) -> Runtime {
        Runtime::Docker
    }
    fn ask(&self, _deadline: Instant) -> Result<RuntimeAnswer, SourceError> {
        std::thread::sleep(Duration::from_secs(30));
        Ok(RuntimeAnswer::default())
    }
}

#[test]
fn a_source_stuck_past_its_deadline_is_left_behind() {
    let podman_asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sources: Vec<std::sync::Arc<dyn ContainerSource>> = vec![
        std::sync::Arc::new(Stuck),
        std::sync::Arc::new(Counted {
            runtime: Runtime::Podman,
            answer: RuntimeAnswer {
                containers: podman::parse_containers(&fixture("podman-ps.json")).unwrap(),
                networks: vec![],
            },
            asked: podman_asked,
        }),
    ];
    let world = ask_all(&sources);
    assert_eq!(world.status[0].runtime, Runtime::Docker);
    assert!(!world.status[0].answered);
    assert!(world.status[0]
        .error
        .as_deref()
        .unwrap()
        .contains("did not answer"));
    assert!(
        world.status[1].answered,
        "the other runtime's answer is kept"
    );
    assert_eq!(world.containers.len(), 4);
}

#[test]
fn networks_are_found_by_name_or_runtime_and_name() {
    let mut w = world();
    assert_eq!(
        w.find_network("my_bridge").unwrap().runtime,
        Runtime::Docker
    );
    assert_eq!(w.find_network("podman").unwrap().runtime, Runtime::Podman);
    assert_eq!(
        w.find_network("podman:pod_bridge").unwrap().name,
        "pod_bridge"
    );
    assert!(matches!(
        w.find_network("docker:pod_bridge"),
        Err(NetworkLookupError::Unknown { .. })
    ));
    let members: Vec<&str> = w
        .members(w.find_network("bridge").unwrap())
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(members, ["web", "db", "old"]);
    // A name both runtimes have is told apart by its runtime.
    let mut twin = w.find_network("podman").unwrap().clone();
    twin.runtime = Runtime::Docker;
    w.networks.push(twin);
    let e = w.find_network("podman").unwrap_err();
    assert_eq!(
        e.to_string(),
        "docker and podman both have a network \"podman\": say docker:podman or podman:podman"
    );
    assert_eq!(
        w.find_network("podman:podman").unwrap().runtime,
        Runtime::Podman
    );
    let docker_twin = w.find_network("docker:podman").unwrap();
    assert_eq!(
        w.members(docker_twin).count(),
        0,
        "podman's containers are not members of docker's network of the same name"
    );
}

#[test]
fn an_unknown_network_is_one_line_naming_the_runtimes_not_asked() {
    let mut w = world();
    assert_eq!(
        w.find_network("nope").unwrap_err().to_string(),
        "no Docker or Podman network \"nope\""
    );
    w.status[1].answered = false;
    w.status[1].error = Some("podman did not answer within 1000 ms".into());
    assert_eq!(
        w.find_network("nope").unwrap_err().to_string(),
        "no Docker or Podman network \"nope\" (podman did not answer within 1000 ms)"
    );
    assert_eq!(
        w.find_network("docker:nope").unwrap_err().to_string(),
        "no Docker or Podman network \"docker:nope\"",
        "only the runtime asked for is blamed"
    );
}

#[test]
fn a_typed_namespace_resolves_to_a_listed_namespace_or_a_container() {
    let w = world();
    let inodes = fake_inodes();
    let stat = |p: &Path| inodes.get(p).copied();
    let mut namespaces = vec![ns("root", 1, NetnsSource::Root)];
    for (i, ino) in (100..106).enumerate() {
        namespaces.push(ns(&format!("pid:{}", 15000 + i), ino, NetnsSource::Process));
    }
    let asked = std::cell::Cell::new(0);
    let ask = || {
        asked.set(asked.get() + 1);
        &w
    };
    // A listed namespace does not ask the runtimes.
    let root = resolve_namespace("pid:15001", &namespaces, ask, &stat).unwrap();
    assert_eq!((root.id, asked.get()), (101, 0));
    let web = w.find("docker:web").unwrap();
    let want = namespace_inodes(std::slice::from_ref(web), &stat)[0].unwrap();
    let got = resolve_namespace("docker:web", &namespaces, ask, &stat).unwrap();
    assert_eq!((got.id, asked.get()), (want, 1));
    let prefix = &web.id[..12];
    assert_eq!(
        resolve_namespace(prefix, &namespaces, ask, &stat)
            .unwrap()
            .id,
        want
    );
    assert!(matches!(
        resolve_namespace("docker:old", &namespaces, ask, &stat),
        Err(ResolveError::Container(LookupError::NotRunning { .. }))
    ));
    assert!(matches!(
        resolve_namespace("podman:nope", &namespaces, ask, &stat),
        Err(ResolveError::Container(LookupError::Unknown { .. }))
    ));
    // Not a container and not a namespace: the namespace lookup's own error.
    assert!(matches!(
        resolve_namespace("nvt-no-such-ns/x", &namespaces, ask, &stat),
        Err(ResolveError::Netns(crate::netns::NetnsError::NotFound(_)))
    ));
}
