//! Shared helpers for the privileged probe tests: namespaces with unique names that are
//! removed even when a test panics, and the iputils/arping oracles.
#![allow(dead_code)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use netview::probe::kernel::KernelProber;
use netview::probe::matrix::{self, PlanOptions};
use netview::probe::{
    CellResult, EndpointAddress, EndpointOrigin, MatrixRun, NetMode, ProbeEndpoint, ProbeKind,
    ProbeLab, Role,
};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Run a command, panicking with its stderr when it fails.
pub fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A set of namespaces created for one test, deleted on drop.
pub struct Topo {
    prefix: String,
    names: Vec<String>,
}

impl Topo {
    pub fn new(tag: &str) -> Topo {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        Topo {
            prefix: format!("nvt-pr-{}-{n}-{tag}", std::process::id()),
            names: Vec::new(),
        }
    }

    /// The full name of namespace `short`.
    pub fn ns(&self, short: &str) -> String {
        format!("{}-{short}", self.prefix)
    }

    pub fn path(&self, short: &str) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.ns(short)))
    }

    /// Create namespace `short` with lo up.
    pub fn add(&mut self, short: &str) {
        let name = self.ns(short);
        run(&["ip", "netns", "add", &name]);
        self.names.push(name.clone());
        run(&["ip", "-n", &name, "link", "set", "lo", "up"]);
    }

    /// `ip -n NS args...`
    pub fn ip(&self, short: &str, args: &[&str]) {
        let name = self.ns(short);
        let mut v = vec!["ip", "-n", name.as_str()];
        v.extend_from_slice(args);
        run(&v);
    }

    /// Run a command inside namespace `short`.
    pub fn exec(&self, short: &str, args: &[&str]) {
        let name = self.ns(short);
        let mut v = vec!["ip", "netns", "exec", name.as_str()];
        v.extend_from_slice(args);
        run(&v);
    }

    /// A veth pair between two namespaces, both ends up.
    pub fn veth(&self, a: &str, if_a: &str, b: &str, if_b: &str) {
        let nb = self.ns(b);
        self.ip(
            a,
            &[
                "link", "add", if_a, "type", "veth", "peer", "name", if_b, "netns", &nb,
            ],
        );
        self.ip(a, &["link", "set", if_a, "up"]);
        self.ip(b, &["link", "set", if_b, "up"]);
    }

    /// Forget every neighbour entry in every namespace, so runs do not inherit each other's
    /// ARP caches.
    pub fn flush_neighbours(&self) {
        for n in &self.names {
            let _ = Command::new("ip")
                .args(["-n", n, "neigh", "flush", "all"])
                .status();
        }
    }
}

impl Drop for Topo {
    fn drop(&mut self) {
        for n in self.names.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

/// An endpoint description for the probes.
pub fn endpoint(
    topo: &Topo,
    name: &str,
    ns: &str,
    role: Role,
    mode: Option<NetMode>,
    addrs: &[(&str, u8, &str)],
    gateway: Option<&str>,
) -> ProbeEndpoint {
    ProbeEndpoint {
        name: name.into(),
        role,
        mode,
        netns_path: topo.path(ns),
        ifname: addrs.first().map(|a| a.2).unwrap_or("lo").into(),
        mac: None,
        addresses: addrs
            .iter()
            .map(|(ip, p, i)| EndpointAddress::new(ip.parse().unwrap(), *p, i))
            .collect(),
        gateway: gateway.map(|g| g.parse().unwrap()),
        parent: None,
        nat: false,
        host_shim: false,
        origin: EndpointOrigin::Lab,
    }
}

/// Run the whole matrix (icmp and arp by default) with the real prober.
pub fn probe_all(lab: &ProbeLab, kinds: &[ProbeKind], timeout_ms: u64) -> MatrixRun {
    let opts = PlanOptions {
        kinds: kinds.to_vec(),
        ..PlanOptions::default()
    };
    let cells = matrix::plan(lab, &opts).expect("plan");
    matrix::run_matrix(
        &KernelProber::new(),
        lab,
        &cells,
        std::time::Duration::from_millis(timeout_ms),
        &mut |_| {},
    )
    .expect("run")
}

/// The interface and source address the kernel uses for `ip` inside `ns`, if on-link.
pub fn kernel_route(ns: &str, ip: &str) -> Option<(String, String)> {
    let out = Command::new("ip")
        .args(["-n", ns, "-j", "route", "get", ip])
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let r = v.get(0)?;
    if r.get("gateway").is_some() {
        return None;
    }
    Some((
        r["dev"].as_str()?.to_string(),
        r["prefsrc"].as_str()?.to_string(),
    ))
}

/// The oracle for every ICMP and ARP cell: iputils `ping -c1 -W1` and `arping -c1 -w1`,
/// executed inside the same namespaces, all started at once. Returns, per result index,
/// whether the oracle got an answer.
pub fn oracle(lab: &ProbeLab, results: &[CellResult]) -> Vec<Option<bool>> {
    let mut children: Vec<(usize, Child)> = Vec::new();
    for (i, r) in results.iter().enumerate() {
        let src = lab.endpoint(&r.cell.from).unwrap();
        let ns = src
            .netns_path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let ip = r.cell.target_ip.to_string();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns]);
        match r.cell.kind {
            ProbeKind::Icmp => {
                cmd.args(["ping", "-n", "-c1", "-W1", &ip]);
            }
            ProbeKind::Arp => {
                // Where the kernel routes the target (`ip route get`), as an independent
                // oracle must; the model's choice only when the kernel has no on-link route.
                let (ifname, src_ip) = kernel_route(&ns, &ip).unwrap_or_else(|| {
                    let from = src.arp_interface_for(r.cell.target_ip).unwrap();
                    (from.ifname.clone(), from.ip.to_string())
                });
                cmd.args([
                    "arping", "-c", "1", "-w", "1", "-i", &ifname, "-S", &src_ip, &ip,
                ]);
            }
            ProbeKind::Tcp => continue,
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        children.push((i, cmd.spawn().expect("spawn oracle")));
    }
    let mut out = vec![None; results.len()];
    for (i, mut c) in children {
        out[i] = Some(c.wait().map(|s| s.success()).unwrap_or(false));
    }
    out
}

/// netview and the oracle must agree on every ICMP/ARP cell; returns the table for messages.
pub fn assert_agrees_with_oracle(lab: &ProbeLab, run: &MatrixRun, topo: &Topo) {
    topo.flush_neighbours();
    let truth = oracle(lab, &run.results);
    let mut disagreements = Vec::new();
    for (r, t) in run.results.iter().zip(truth) {
        if let Some(t) = t {
            if t != r.reachable() {
                disagreements.push(format!(
                    "{} -> {} {} {}: netview {} , oracle {}",
                    r.cell.from,
                    r.cell.to,
                    r.cell.target_ip,
                    r.cell.kind.name(),
                    r.observed.outcome,
                    if t { "answered" } else { "no answer" }
                ));
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "netview and ping/arping disagree:\n{}",
        disagreements.join("\n")
    );
}

/// Every cell whose observation differs from the packet walk's expectation, as text.
pub fn walk_mismatches(run: &MatrixRun) -> Vec<String> {
    run.mismatches()
        .map(|r| {
            format!(
                "{} -> {} {} {}: observed {}, expected {} ({})",
                r.cell.from,
                r.cell.to,
                r.cell.target_ip,
                r.cell.kind.name(),
                r.observed.outcome,
                r.expected.word(),
                r.expected.why
            )
        })
        .collect()
}

pub fn find<'a>(run: &'a MatrixRun, from: &str, ip: &str, kind: ProbeKind) -> &'a CellResult {
    let ip: IpAddr = ip.parse().unwrap();
    run.results
        .iter()
        .find(|r| &*r.cell.from == from && r.cell.target_ip == ip && r.cell.kind == kind)
        .unwrap_or_else(|| panic!("no cell {from} -> {ip} {kind:?}"))
}
