//! `netview inventory` with a fake Docker: a Unix socket in a temporary directory (named by
//! `DOCKER_HOST`) that answers the Engine API's list, inspect and networks requests about a
//! "container" that is a `sleep` in a namespace of its own (made with `unshare --net`, so root
//! is needed), plus one in host mode (this test's own process). Checks the JSON contract
//! (containers on their namespaces, networks, runtimes), `--netns docker:NAME`, the exit 2 of
//! an unknown container, and that a socket that never answers does not fail the inventory.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_netview");
const WEB_ID: &str = "5e1fd2a09c8b7e6f5e1fd2a09c8b7e6f5e1fd2a09c8b7e6f5e1fd2a09c8b7e6f";
const HOSTC_ID: &str = "40517c0e2f6b11aa40517c0e2f6b11aa40517c0e2f6b11aa40517c0e2f6b11aa";
const BRIDGE_ID: &str = "b41d9e0c7a6f5b4ab41d9e0c7a6f5b4ab41d9e0c7a6f5b4ab41d9e0c7a6f5b4a";

/// A process in a network namespace of its own; killed when dropped (also on panic).
struct Holder(Child);

impl Holder {
    fn new() -> Self {
        // Held by the guard at once, so it is killed and waited for on every path.
        let holder = Holder(
            Command::new("unshare")
                .args(["--net", "sleep", "120"])
                .stdin(Stdio::null())
                .spawn()
                .expect("spawn unshare"),
        );
        let me = std::fs::metadata("/proc/self/ns/net").unwrap();
        // Wait until the child has its own namespace (unshare execs sleep after unsharing).
        for _ in 0..200 {
            let ns = std::fs::metadata(format!("/proc/{}/ns/net", holder.pid()));
            if ns.is_ok_and(|m| {
                std::os::unix::fs::MetadataExt::ino(&m) != std::os::unix::fs::MetadataExt::ino(&me)
            }) {
                return holder;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("unshare --net did not make a namespace");
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The fake daemon's answers, by request path.
fn answer(path: &str, web_pid: u32, hostc_pid: u32) -> Option<Value> {
    let list_entry = |id: &str, name: &str, net: &str, ip: &str| {
        json!({"Id": id, "Names": [format!("/{name}")], "Image": "netview-busybox:latest",
               "State": "running", "Status": "Up 1 second",
               "HostConfig": {"NetworkMode": net},
               "NetworkSettings": {"Networks": {net: {"IPAddress": ip, "MacAddress": "",
                                                      "NetworkID": BRIDGE_ID}}}})
    };
    let inspect = |id: &str, name: &str, pid: u32| {
        json!({"Id": id, "Name": format!("/{name}"), "State": {"Pid": pid, "Running": true},
               "NetworkSettings": {"SandboxKey": format!("/var/run/docker/netns/{}", &id[..12])}})
    };
    match path {
        "/containers/json?all=1" => Some(json!([
            list_entry(WEB_ID, "web", "bridge", "172.17.0.2"),
            list_entry(HOSTC_ID, "hostc", "host", ""),
        ])),
        "/networks" => Some(json!([
            {"Name": "bridge", "Id": BRIDGE_ID, "Driver": "bridge",
             "IPAM": {"Config": [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]},
             "Options": {"com.docker.network.bridge.name": "docker0"}}
        ])),
        p if p == format!("/containers/{WEB_ID}/json") => Some(inspect(WEB_ID, "web", web_pid)),
        p if p == format!("/containers/{HOSTC_ID}/json") => {
            Some(inspect(HOSTC_ID, "hostc", hostc_pid))
        }
        _ => None,
    }
}

/// Serve the fake Docker API on `socket` from a thread, HTTP/1.0 style.
fn serve(socket: &Path, web_pid: u32, hostc_pid: u32) {
    let listener = UnixListener::bind(socket).unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let (status, body) = match answer(&path, web_pid, hostc_pid) {
                Some(v) => ("200 OK", v.to_string()),
                None => ("404 Not Found", r#"{"message":"no such"}"#.to_string()),
            };
            let _ = write!(
                stream,
                "HTTP/1.0 {status}\r\nContent-Type: application/json\r\n\r\n{body}"
            );
        }
    });
}

fn netview(socket: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .output()
        .expect("run netview")
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "netview failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

fn socket_in(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("docker.sock")
}

#[test]
fn containers_are_listed_on_their_namespaces_and_found_by_name() {
    let holder = Holder::new();
    let dir = tempfile::tempdir().unwrap();
    let socket = socket_in(&dir);
    serve(&socket, holder.pid(), std::process::id());

    let v = json_of(&netview(
        &socket,
        &["inventory", "--netns", "docker:web", "--json"],
    ));
    let nss = v["namespaces"].as_array().unwrap();
    assert_eq!(nss.len(), 1);
    assert_eq!(nss[0]["name"], json!(format!("pid:{}", holder.pid())));
    let web = &nss[0]["containers"][0];
    assert_eq!(web["runtime"], json!("docker"));
    assert_eq!(web["name"], json!("web"));
    assert_eq!(web["id"], json!(WEB_ID));
    assert_eq!(web["image"], json!("netview-busybox:latest"));
    assert_eq!(web["networks"], json!(["bridge"]));
    assert_eq!(web["pid"], json!(holder.pid()));
    assert_eq!(v["networks"][0]["name"], json!("bridge"));
    assert_eq!(v["networks"][0]["interface"], json!("docker0"));
    assert_eq!(v["networks"][0]["subnets"], json!(["172.17.0.0/16"]));
    assert_eq!(v["networks"][0]["gateways"], json!(["172.17.0.1"]));
    assert_eq!(v["networks"][0]["containers"], json!(["web"]));
    assert_eq!(v["networks"][0]["parent"], Value::Null);
    let docker = v["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["runtime"] == "docker")
        .unwrap();
    assert_eq!(docker["answered"], json!(true));

    // The same by an id prefix.
    let v = json_of(&netview(
        &socket,
        &["inventory", "--netns", &WEB_ID[..10], "--json"],
    ));
    assert_eq!(
        v["namespaces"][0]["name"],
        json!(format!("pid:{}", holder.pid()))
    );

    // --all: the host-mode container is on the namespace this test runs in (the root one).
    let v = json_of(&netview(&socket, &["inventory", "--all", "--json"]));
    let mine =
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata("/proc/self/ns/net").unwrap());
    let here = v["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == json!(mine))
        .unwrap();
    let names: Vec<&Value> = here["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["name"])
        .collect();
    assert_eq!(names, [&json!("hostc")]);
    for ns in v["namespaces"].as_array().unwrap() {
        assert!(
            ns["containers"].is_array(),
            "every namespace has a containers list"
        );
    }

    // The text form names them too.
    let out = netview(&socket, &["inventory", "--netns", "docker:web"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("container web (docker"), "{text}");
}

#[test]
fn an_unknown_container_is_one_line_and_exit_2() {
    let holder = Holder::new();
    let dir = tempfile::tempdir().unwrap();
    let socket = socket_in(&dir);
    serve(&socket, holder.pid(), std::process::id());
    for wanted in ["docker:nosuch", "podman:web"] {
        let out = netview(&socket, &["inventory", "--netns", wanted, "--json"]);
        assert_eq!(out.status.code(), Some(2), "{wanted}");
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("container"), "{err}");
    }
}

#[test]
fn a_docker_that_never_answers_leaves_an_inventory_without_containers() {
    let dir = tempfile::tempdir().unwrap();
    let socket = socket_in(&dir);
    let listener = UnixListener::bind(&socket).unwrap();
    let hold = std::thread::spawn(move || {
        let mut open = Vec::new();
        for s in listener.incoming().take(4) {
            open.push(s);
        }
        drop(open);
    });
    let v = json_of(&netview(&socket, &["inventory", "--json"]));
    assert!(v["namespaces"][0]["containers"]
        .as_array()
        .unwrap()
        .is_empty());
    let docker = v["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["runtime"] == "docker")
        .unwrap();
    assert_eq!(docker["answered"], json!(false));
    assert!(
        docker["error"].as_str().unwrap().contains("did not answer"),
        "{docker}"
    );
    drop(hold);
}
