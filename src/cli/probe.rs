//! `netview probe`: the all-pairs reachability matrix with expected-versus-observed, among the
//! lab's endpoints and any namespace or container on this host.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use netview::config::ProbeDefaults;
use netview::containers::ResolveError;
use netview::netns::{Netns, NetnsError};
use netview::probe::kernel::KernelProber;
use netview::probe::matrix::{self, PlanOptions, RunOptions};
use netview::probe::namespaces::HostNamespaces;
use netview::probe::pacing::KernelNeighbours;
use netview::probe::report::{Format, Report};
use netview::probe::{LabFacts, ProbeError, ProbeKind, ProbeLab};

use super::UsageError;

/// Environment variable naming a JSON file with a [`ProbeLab`], used instead of the lab's
/// state (tests and `scripts/bench-probe` build their own namespaces this way).
pub const LAB_FILE_ENV: &str = "NETVIEW_PROBE_LAB";

/// The longest per-probe timeout: a minute. An ARP probe waits this long for each reply, so
/// an unbounded value would make a run that never ends.
pub const MAX_TIMEOUT_MS: u64 = netview::config::MAX_TIMEOUT_MS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KindArg {
    Icmp,
    Arp,
    Tcp,
    All,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Probe from this lab endpoint, namespace (`root`, a name in /run/netns, `pid:N`) or
    /// container (`docker:NAME`, `podman:NAME`, an id prefix) (repeatable; default: the lab's
    /// endpoints, or without a lab root and every container's namespace).
    #[arg(long = "from", value_name = "NAME")]
    pub from: Vec<String>,
    /// Probe every address of this lab endpoint, namespace or container, or this address
    /// (repeatable; default: as for --from).
    #[arg(long = "to", value_name = "NAME|ADDRESS")]
    pub to: Vec<String>,
    /// Probe from and to every running container of this Docker or Podman network
    /// (`docker:NAME` or `podman:NAME` when both runtimes have one by that name; repeatable).
    #[arg(long = "network", value_name = "NAME")]
    pub network: Vec<String>,
    /// Which probes (default: the config's `[probe] kinds`, else icmp and arp).
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
    /// Per-probe timeout in milliseconds, 1 to 60000 (default: the config's, else 1000).
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_MS))]
    pub timeout_ms: Option<u64>,
    /// TCP port for `--kind tcp|all`, 1 to 65535 (default: the config's, else 80).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// The report: the text grid, JSON (docs/json.md), CSV (one line per cell) or markdown.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// Same as `--format json`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Under the text or markdown grid, every cell that fails or differs from its expectation,
    /// with its path and reason.
    #[arg(long)]
    pub explain: bool,
    /// Exit with code 3 when any cell differs from its expectation.
    #[arg(long)]
    pub check: bool,
}

/// The lab's endpoints: from the lab file named by `NETVIEW_PROBE_LAB` (tests and
/// `scripts/bench-probe` build their own namespaces this way), else from the lab's state;
/// `None` when no lab is up.
fn load_lab() -> anyhow::Result<Option<ProbeLab>> {
    if let Some(path) = std::env::var_os(LAB_FILE_ENV) {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.to_string_lossy()))?;
        return serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("bad lab file {}", path.to_string_lossy()));
    }
    Ok(netview::lab::Lab::load()?.map(|lab| netview::probe::from_lab::probe_lab(&lab)))
}

/// The one-line refusal for a `--from`/`--to` that names nothing.
fn not_an_endpoint(typed: &str) -> anyhow::Error {
    UsageError(format!(
        "{typed:?} is neither a lab endpoint, a namespace, a container nor an address"
    ))
    .into()
}

/// Everything to probe among, and the sources and targets asked for: the lab's endpoints,
/// then every namespace or container named in `--from`/`--to` that is not a lab endpoint, and
/// every running container of each `--network` (as if given to both); without a lab, the
/// default sources and targets are `root` and every container's namespace. Cells name each
/// namespace as `netview::probe::namespaces::probe_names` says (containers as their runtimes name them).
/// The host's namespaces come back too when they were read for the endpoints: the walk's world
/// is the same read.
fn endpoints(args: &Args) -> anyhow::Result<Endpoints> {
    let lab = load_lab()?;
    let no_lab = lab.is_none();
    let mut world = lab.unwrap_or(ProbeLab {
        endpoints: Vec::new(),
        facts: LabFacts::default(),
    });
    let is_given = |n: &String| world.endpoint(n).is_some() || n.parse::<IpAddr>().is_ok();
    let typed: Vec<&String> = args
        .from
        .iter()
        .chain(&args.to)
        .filter(|n| !is_given(n))
        .collect();
    let wants_defaults =
        no_lab && args.network.is_empty() && (args.from.is_empty() || args.to.is_empty());
    if typed.is_empty() && args.network.is_empty() && !wants_defaults {
        return Ok(Endpoints {
            lab: world,
            from: args.from.clone(),
            to: args.to.clone(),
            host: None,
        });
    }
    let host = HostNamespaces::discover();
    // Every namespace to read, once each (told by inode), in the order first named.
    let mut wanted: Vec<Netns> = Vec::new();
    let add = |ns: Netns, wanted: &mut Vec<Netns>| {
        let id = ns.id;
        if !wanted.iter().any(|w| w.id == id) {
            wanted.push(ns);
        }
        id
    };
    let mut typed_ids: Vec<(&String, u64)> = Vec::new();
    for n in typed {
        let ns = host.namespace(n).map_err(|e| match e {
            ResolveError::Netns(NetnsError::NotFound(_)) => not_an_endpoint(n),
            ResolveError::Container(e) => UsageError(e.to_string()).into(),
            ResolveError::Netns(other) => other.into(),
        })?;
        typed_ids.push((n, add(ns, &mut wanted)));
    }
    let mut network_ids: Vec<u64> = Vec::new();
    for net in &args.network {
        let found = host
            .network(net)
            .map_err(|e| anyhow::Error::new(UsageError(e.to_string())))?;
        for ns in found {
            let id = add(ns, &mut wanted);
            if !network_ids.contains(&id) {
                network_ids.push(id);
            }
        }
    }
    let mut default_ids: Vec<u64> = Vec::new();
    if wants_defaults {
        for ns in host.containers_and_root() {
            default_ids.push(add(ns, &mut wanted));
        }
    }
    let taken: BTreeSet<String> = world.endpoints.iter().map(|e| e.name.clone()).collect();
    let found = host.endpoints(&wanted, &taken);
    let name_of = |id: u64| -> String {
        wanted
            .iter()
            .zip(&found)
            .find(|(w, _)| w.id == id)
            .map(|(_, e)| e.name.clone())
            .unwrap_or_default()
    };
    let side = |given: &[String]| -> Vec<String> {
        let mut out: Vec<String> = given
            .iter()
            .map(|n| match typed_ids.iter().find(|(t, _)| *t == n) {
                Some((_, id)) => name_of(*id),
                None => n.clone(),
            })
            .collect();
        out.extend(network_ids.iter().map(|&id| name_of(id)));
        if out.is_empty() {
            out.extend(default_ids.iter().map(|&id| name_of(id)));
        }
        let mut seen = BTreeSet::new();
        out.retain(|n| seen.insert(n.clone()));
        out
    };
    let (from, to) = (side(&args.from), side(&args.to));
    world.endpoints.extend(found);
    Ok(Endpoints {
        lab: world,
        from,
        to,
        host: Some(host),
    })
}

/// Everything to probe among and the sources and targets asked for, with the host's
/// namespaces when they were read to find them.
struct Endpoints {
    lab: ProbeLab,
    from: Vec<String>,
    to: Vec<String>,
    host: Option<HostNamespaces>,
}

fn kinds(arg: Option<KindArg>, defaults: &ProbeDefaults) -> Vec<ProbeKind> {
    match arg {
        None => defaults.kinds.clone(),
        Some(KindArg::Icmp) => vec![ProbeKind::Icmp],
        Some(KindArg::Arp) => vec![ProbeKind::Arp],
        Some(KindArg::Tcp) => vec![ProbeKind::Tcp],
        Some(KindArg::All) => vec![ProbeKind::Icmp, ProbeKind::Arp, ProbeKind::Tcp],
    }
}

/// Probes enter the lab's namespaces (CAP_SYS_ADMIN) and open raw sockets (CAP_NET_RAW):
/// without them every cell would fail, so say so once instead.
fn require_probe_capabilities() -> anyhow::Result<()> {
    use netview::caps::Capability;
    let Ok(caps) = netview::caps::current() else {
        return Ok(());
    };
    let missing: Vec<&str> = [Capability::SysAdmin, Capability::NetRaw]
        .into_iter()
        .filter(|c| !caps.has(*c))
        .map(|c| c.name())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(UsageError(format!(
        "probes enter the lab's namespaces and open raw sockets: run as root (missing {})",
        missing.join(", ")
    ))
    .into())
}

pub fn run(args: Args, globals: &super::config::GlobalArgs) -> anyhow::Result<ExitCode> {
    let defaults = globals.load()?.probe;
    let format = if args.json {
        Format::Json
    } else {
        args.format.unwrap_or(Format::Text)
    };
    if args.explain && matches!(format, Format::Json | Format::Csv) {
        return Err(UsageError(
            "--explain adds to the text and markdown reports; JSON and CSV carry every cell's path and reason already".into(),
        )
        .into());
    }
    require_probe_capabilities()?;
    let Endpoints {
        lab,
        from,
        to,
        host,
    } = endpoints(&args)?;
    let opts = PlanOptions {
        from,
        to,
        kinds: kinds(args.kind, &defaults),
        tcp_port: args.port.unwrap_or(defaults.port),
    };
    let cells = matrix::plan(&lab, &opts).map_err(|e| match e {
        ProbeError::UnknownEndpoint(n) => anyhow::Error::new(UsageError(format!(
            "{n:?} is neither a lab endpoint, a namespace, a container nor an address"
        ))),
        other => other.into(),
    })?;
    let prober = KernelProber::new();
    let timeout = args
        .timeout_ms
        .map_or(defaults.timeout, Duration::from_millis);
    // Every cell is predicted by the packet walk over every namespace's inventory: the read
    // that found the endpoints' addresses when there was one (one netlink dump of each
    // namespace per run, not two).
    let walk = host
        .unwrap_or_else(HostNamespaces::discover)
        .into_walk_world(&lab);
    let opts = RunOptions {
        walk: Some(&walk),
        timeout,
        table: &KernelNeighbours,
    };
    // Each result is written as it arrives and not kept.
    let mut report = Report::new(format, args.explain, &cells, std::io::stdout().lock());
    let summary =
        matrix::run_paced(&prober, &lab, &cells, &opts, &mut report).context("probing")?;
    drop(cells);
    let _stdout = report.finish(&summary).context("writing the report")?;
    if args.check && summary.mismatches > 0 {
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}
