//! `netview probe`: the all-pairs reachability matrix with expected-versus-observed, among the
//! lab's endpoints and any namespace on this host.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use netview::netns::NetnsError;
use netview::probe::kernel::KernelProber;
use netview::probe::matrix::{self, PlanOptions, RunOptions};
use netview::probe::pacing::KernelNeighbours;
use netview::probe::report::{Format, Report};
use netview::probe::{namespaces, LabFacts, ProbeError, ProbeKind, ProbeLab};

use super::UsageError;

/// Environment variable naming a JSON file with a [`ProbeLab`], used instead of the lab's
/// state (tests and `scripts/bench-probe` build their own namespaces this way).
pub const LAB_FILE_ENV: &str = "NETVIEW_PROBE_LAB";

/// The longest per-probe timeout: a minute. An ARP probe waits this long for each reply, so
/// an unbounded value would make a run that never ends.
pub const MAX_TIMEOUT_MS: u64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KindArg {
    Icmp,
    Arp,
    Tcp,
    All,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Probe from this lab endpoint or namespace (`root`, a name in /run/netns, `pid:N`)
    /// (repeatable; default: the lab's endpoints, or without a lab every namespace holding an
    /// address, and root).
    #[arg(long = "from", value_name = "NAME")]
    pub from: Vec<String>,
    /// Probe every address of this lab endpoint or namespace, or this address (repeatable;
    /// default: as for --from).
    #[arg(long = "to", value_name = "NAME|ADDRESS")]
    pub to: Vec<String>,
    /// Which probes (default: icmp and arp).
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
    /// Per-probe timeout in milliseconds (1 to 60000).
    #[arg(long, default_value_t = 1000, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_MS))]
    pub timeout_ms: u64,
    /// TCP port for `--kind tcp|all` (1 to 65535).
    #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
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

/// Everything to probe among, and the sources and targets asked for: the lab's endpoints,
/// then every namespace named in `--from`/`--to` that is not a lab endpoint; without a lab,
/// the default sources and targets are every namespace holding an address, and root.
fn endpoints(args: &Args) -> anyhow::Result<(ProbeLab, Vec<String>, Vec<String>)> {
    let lab = load_lab()?;
    let no_lab = lab.is_none();
    let mut world = lab.unwrap_or(ProbeLab {
        endpoints: Vec::new(),
        facts: LabFacts::default(),
    });
    let mut names: Vec<String> = Vec::new();
    for n in args.from.iter().chain(&args.to) {
        let is_address = n.parse::<IpAddr>().is_ok();
        if world.endpoint(n).is_none() && !is_address && !names.contains(n) {
            names.push(n.clone());
        }
    }
    let found = namespaces::resolve(&names).map_err(|e| match e {
        NetnsError::NotFound(n) => anyhow::Error::new(UsageError(format!(
            "{n:?} is neither a lab endpoint, a namespace nor an address"
        ))),
        other => other.into(),
    })?;
    world.endpoints.extend(found);
    let (mut from, mut to) = (args.from.clone(), args.to.clone());
    if no_lab && (from.is_empty() || to.is_empty()) {
        let every = namespaces::every_with_addresses();
        let every_name: Vec<String> = every.iter().map(|e| e.name.clone()).collect();
        for e in every {
            if world.endpoint(&e.name).is_none() {
                world.endpoints.push(e);
            }
        }
        if from.is_empty() {
            from = every_name.clone();
        }
        if to.is_empty() {
            to = every_name;
        }
    }
    Ok((world, from, to))
}

fn kinds(arg: Option<KindArg>) -> Vec<ProbeKind> {
    match arg {
        None => vec![ProbeKind::Icmp, ProbeKind::Arp],
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

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
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
    let (lab, from, to) = endpoints(&args)?;
    let opts = PlanOptions {
        from,
        to,
        kinds: kinds(args.kind),
        tcp_port: args.port,
    };
    let cells = matrix::plan(&lab, &opts).map_err(|e| match e {
        ProbeError::UnknownEndpoint(n) => anyhow::Error::new(UsageError(format!(
            "{n:?} is neither a lab endpoint, a namespace nor an address"
        ))),
        other => other.into(),
    })?;
    let prober = KernelProber::new();
    let timeout = Duration::from_millis(args.timeout_ms);
    // Cells outside the lab are predicted by the packet walk over every namespace's inventory.
    let walk = netview::probe::namespaces::walk_world_if_needed(&lab);
    let opts = RunOptions {
        walk: walk.as_ref(),
        timeout,
        max_parallel: matrix::DEFAULT_MAX_PARALLEL_SOURCES,
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
