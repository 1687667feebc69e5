//! `netview probe`: the all-pairs reachability matrix with expected-versus-observed.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use netview::probe::kernel::KernelProber;
use netview::probe::matrix::{self, PlanOptions};
use netview::probe::{ProbeError, ProbeKind, ProbeLab};

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
    /// Probe from this endpoint (repeatable; default: every endpoint).
    #[arg(long = "from", value_name = "NAME")]
    pub from: Vec<String>,
    /// Probe this endpoint's addresses, or this address (repeatable; default: every endpoint).
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
    /// Print JSON instead of the matrix.
    #[arg(long)]
    pub json: bool,
    /// Exit with code 3 when any cell differs from its expectation.
    #[arg(long)]
    pub check: bool,
}

/// The endpoints to probe. Until the lab engine's state can be read here, only a lab file
/// named by `NETVIEW_PROBE_LAB` is accepted.
// TODO(lead): read the lab's state (issue 3) and convert it to a ProbeLab here.
fn load_endpoints() -> anyhow::Result<ProbeLab> {
    if let Some(path) = std::env::var_os(LAB_FILE_ENV) {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.to_string_lossy()))?;
        return serde_json::from_str(&text)
            .with_context(|| format!("bad lab file {}", path.to_string_lossy()));
    }
    match netview::lab::Lab::load()? {
        Some(lab) => Ok(netview::probe::from_lab::probe_lab(&lab)),
        None => Err(UsageError("no lab: run `netview lab up`".into()).into()),
    }
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
    let lab = load_endpoints()?;
    require_probe_capabilities()?;
    let opts = PlanOptions {
        from: args.from.clone(),
        to: args.to.clone(),
        kinds: kinds(args.kind),
        tcp_port: args.port,
    };
    let cells = matrix::plan(&lab, &opts).map_err(|e| match e {
        ProbeError::UnknownEndpoint(n) => anyhow::Error::new(UsageError(format!(
            "{n:?} is neither a lab endpoint nor an address"
        ))),
        other => other.into(),
    })?;
    let needed = matrix::neighbour_entries_needed(&lab, &cells);
    let limit = std::fs::read_to_string("/proc/sys/net/ipv4/neigh/default/gc_thresh3")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok());
    if let Some(limit) = limit.filter(|l| needed > *l) {
        eprintln!(
            "netview: warning: this run needs about {needed} neighbour entries, but the kernel's \
             table (shared by all namespaces) holds {limit} (net.ipv4.neigh.default.gc_thresh3); \
             probes past that fail and show as timeouts. Raise it or probe fewer pairs."
        );
    }
    let prober = KernelProber::new();
    let timeout = Duration::from_millis(args.timeout_ms);
    let run = matrix::run_matrix(
        &prober,
        &lab,
        &cells,
        timeout,
        matrix::DEFAULT_MAX_PARALLEL_SOURCES,
        &mut |_| {},
    )
    .context("probing")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&run)?);
    } else {
        print!("{}", matrix::render_text(&run.results));
        let mismatches = matrix::render_mismatches(&run.results);
        let n = run.mismatches().count();
        println!(
            "{} probes in {} ms, {} mismatch{}",
            run.results.len(),
            run.elapsed_ms,
            n,
            if n == 1 { "" } else { "es" }
        );
        if !mismatches.is_empty() {
            println!("\nmismatches (observed differs from the kernel's expected behaviour):");
            print!("{mismatches}");
        }
    }
    if args.check && run.mismatches().next().is_some() {
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}
