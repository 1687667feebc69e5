//! `netview lab ...` and `netview clean`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use netview::lab::spec::{IpvlanMode, MacvlanMode};
use netview::lab::{self, spec, ContainerSpec, LabError, LabSpec, NetworkMode};

#[derive(Debug, clap::Subcommand)]
pub enum LabCommand {
    /// Create the sandbox world: host (enp0s8), LAN switch, peer and upstream router.
    Up(Box<UpArgs>),
    /// Add test containers in one Docker network mode (several names: one transaction).
    Add(Box<AddArgs>),
    /// List the world and every container.
    Ls(LsArgs),
    /// Remove containers.
    Rm(RmArgs),
    /// Remove the whole lab.
    Down,
}

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Lab file (TOML); default: the built-in one with the study post's values.
    #[arg(long, value_name = "FILE")]
    pub lab: Option<PathBuf>,
    /// The host's LAN interface name.
    #[arg(long, value_name = "IF")]
    pub host_if: Option<String>,
    /// The host's LAN address (CIDR).
    #[arg(long, value_name = "CIDR")]
    pub host_ip: Option<String>,
    /// The LAN gateway (the router's address).
    #[arg(long, value_name = "IP")]
    pub gateway: Option<String>,
    /// The peer's LAN address (CIDR).
    #[arg(long, value_name = "CIDR")]
    pub peer_ip: Option<String>,
    /// The router's LAN address (CIDR).
    #[arg(long, value_name = "CIDR")]
    pub router_ip: Option<String>,
    /// The router's far address standing for the internet (CIDR).
    #[arg(long, value_name = "CIDR")]
    pub far_ip: Option<String>,
    /// docker0's address (CIDR).
    #[arg(long, value_name = "CIDR")]
    pub docker_ip: Option<String>,
    /// Default macvlan/ipvlan subnet.
    #[arg(long, value_name = "CIDR")]
    pub subnet: Option<String>,
    /// Default macvlan/ipvlan ip-range.
    #[arg(long, value_name = "CIDR")]
    pub ip_range: Option<String>,
    /// Hairpin on the host's switch port (a reflective switch, as VEPA expects).
    #[arg(long)]
    pub hairpin: bool,
    /// Real mode: the namespace netview runs in plays the host.
    #[arg(long)]
    pub real: bool,
    /// Real mode: the interface that plays enp0s8.
    #[arg(long, value_name = "IF")]
    pub parent: Option<String>,
    /// Confirm real mode.
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Container names (at most 15 bytes each).
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
    /// The Docker network mode.
    #[arg(long, value_enum, value_name = "MODE")]
    pub mode: NetworkMode,
    /// macvlan's mode (with --mode macvlan; default bridge).
    #[arg(long, value_enum, value_name = "MODE")]
    pub macvlan_mode: Option<MacvlanMode>,
    /// ipvlan's mode (with --mode ipvlan; default l2).
    #[arg(long, value_enum, value_name = "MODE")]
    pub ipvlan_mode: Option<IpvlanMode>,
    /// The macvlan/ipvlan parent (default the host's LAN interface).
    #[arg(long, value_name = "IF")]
    pub parent: Option<String>,
    /// The macvlan/ipvlan subnet.
    #[arg(long, value_name = "CIDR")]
    pub subnet: Option<String>,
    /// The range to allocate from, inside the subnet.
    #[arg(long, value_name = "CIDR")]
    pub ip_range: Option<String>,
    /// Put the parent in promiscuous mode.
    #[arg(long)]
    pub promisc: bool,
    /// Add a macvlan shim on the host so it can reach its macvlan children.
    #[arg(long)]
    pub host_shim: bool,
    /// Bridge mode: leave out the masquerade rule.
    #[arg(long)]
    pub no_nat: bool,
    /// Bridge mode: publish a TCP port, as `docker run -p`.
    #[arg(long, value_name = "HOST:CONTAINER")]
    pub publish: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct CleanArgs {
    /// Only say what would be removed.
    #[arg(long)]
    pub dry_run: bool,
}

fn invalid(msg: impl Into<String>) -> LabError {
    LabError::Invalid(msg.into())
}

/// Turn SIGINT, SIGTERM, SIGHUP and SIGQUIT into a rollback request while something is being
/// created.
fn catch_signals() {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("netview-signals".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(_) => {
                    let _ = tx.send(());
                    return;
                }
            };
            rt.block_on(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let int = signal(SignalKind::interrupt());
                let term = signal(SignalKind::terminate());
                // The terminal closing (an ssh session dropped) must not leave half a lab.
                let hup = signal(SignalKind::hangup());
                let quit = signal(SignalKind::quit());
                let _ = tx.send(());
                let (Ok(mut int), Ok(mut term), Ok(mut hup), Ok(mut quit)) = (int, term, hup, quit)
                else {
                    return;
                };
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                    _ = hup.recv() => {}
                    _ = quit.recv() => {}
                }
                lab::request_interrupt();
            });
        });
    if spawned.is_ok() {
        let _ = rx.recv();
    }
}

/// A lab file larger than this is not one (`--lab /dev/zero` must not fill memory).
const MAX_LAB_FILE_BYTES: u64 = 1 << 20;

/// A lab file, parsed (not validated: `lab::up` validates once, with the flags applied). Only
/// a regular file of at most 1 MiB is read.
pub fn read_lab_file(path: &std::path::Path) -> Result<LabSpec, LabError> {
    use std::io::Read;
    let cannot = |e: &dyn std::fmt::Display| {
        invalid(format!("cannot read lab file {}: {e}", path.display()))
    };
    let file = std::fs::File::open(path).map_err(|e| cannot(&e))?;
    if !file.metadata().map_err(|e| cannot(&e))?.is_file() {
        return Err(cannot(&"not a regular file"));
    }
    let mut text = String::new();
    file.take(MAX_LAB_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| cannot(&e))?;
    if text.len() as u64 > MAX_LAB_FILE_BYTES {
        return Err(cannot(&"larger than 1 MiB"));
    }
    LabSpec::parse_toml(&text)
}

fn build_spec(a: &UpArgs) -> Result<LabSpec, LabError> {
    let mut s = match &a.lab {
        Some(path) => read_lab_file(path)?,
        // Parsed, not validated: `lab::up` validates once, with the flags applied.
        None => LabSpec::parse_toml(spec::DEFAULT_LAB_TOML)?,
    };
    if let Some(v) = &a.host_if {
        s.host.ifname = v.clone();
    }
    if let Some(v) = &a.host_ip {
        s.host.address = spec::parse_cidr("--host-ip", v)?;
    }
    if let Some(v) = &a.gateway {
        s.host.gateway = spec::parse_ip("--gateway", v)?;
    }
    if let Some(v) = &a.peer_ip {
        s.peer.address = spec::parse_cidr("--peer-ip", v)?;
    }
    if let Some(v) = &a.router_ip {
        s.router.address = spec::parse_cidr("--router-ip", v)?;
    }
    if let Some(v) = &a.far_ip {
        s.router.far = spec::parse_cidr("--far-ip", v)?;
    }
    if let Some(v) = &a.docker_ip {
        s.docker.address = spec::parse_cidr("--docker-ip", v)?;
    }
    if let Some(v) = &a.subnet {
        s.macvlan.subnet = spec::parse_cidr("--subnet", v)?.trunc();
    }
    if let Some(v) = &a.ip_range {
        s.macvlan.ip_range = spec::parse_cidr("--ip-range", v)?;
    }
    s.options.hairpin |= a.hairpin;
    if a.parent.is_some() && !a.real {
        return Err(invalid(
            "--parent is for --real (the sandbox host's interface is --host-if)",
        ));
    }
    if a.real {
        let Some(p) = &a.parent else {
            return Err(invalid(
                "--real needs --parent IF (the interface that plays enp0s8)",
            ));
        };
        if !a.yes {
            return Err(invalid(
                "--real builds on this machine's own network namespace; add --yes to confirm",
            ));
        }
        s.options.real = true;
        s.options.parent = Some(p.clone());
    }
    if s.options.real && !a.yes {
        // A lab file can ask for real mode too; it is confirmed the same way.
        return Err(invalid(
            "the lab file asks for real mode, which builds on this machine's own network namespace; add --yes to confirm",
        ));
    }
    // Validated once, with the kernel's state, by `lab::up`.
    Ok(s)
}

fn build_containers(a: &AddArgs) -> Result<Vec<ContainerSpec>, LabError> {
    let mode = a.mode;
    let mut base = ContainerSpec::new("", mode);
    if let Some(m) = a.macvlan_mode {
        if mode != NetworkMode::Macvlan {
            return Err(invalid("--macvlan-mode is for --mode macvlan"));
        }
        base.macvlan_mode = m;
    }
    if let Some(m) = a.ipvlan_mode {
        if mode != NetworkMode::Ipvlan {
            return Err(invalid("--ipvlan-mode is for --mode ipvlan"));
        }
        base.ipvlan_mode = m;
    }
    base.parent = a.parent.clone();
    base.subnet = match &a.subnet {
        Some(v) => Some(spec::parse_cidr("--subnet", v)?.trunc()),
        None => None,
    };
    base.ip_range = match &a.ip_range {
        Some(v) => Some(spec::parse_cidr("--ip-range", v)?),
        None => None,
    };
    base.promisc = a.promisc;
    base.host_shim = a.host_shim;
    base.nat = !a.no_nat;
    base.publish = a
        .publish
        .iter()
        .map(|p| p.parse())
        .collect::<Result<_, _>>()?;
    // Checked once, as a batch and with the kernel's state, by `lab::add_many`.
    let mut out = Vec::new();
    for n in &a.names {
        let mut c = base.clone();
        c.name = n.clone();
        out.push(c);
    }
    Ok(out)
}

pub fn run(cmd: LabCommand, globals: &super::config::GlobalArgs) -> anyhow::Result<ExitCode> {
    let r = run_command(cmd, globals);
    // Said even when the command then failed: the kernel changed.
    let undone = lab::take_recovered();
    if !undone.is_empty() {
        eprintln!(
            "netview: first undid what an interrupted command left: {}",
            undone.join(", ")
        );
    }
    r
}

fn run_command(cmd: LabCommand, globals: &super::config::GlobalArgs) -> anyhow::Result<ExitCode> {
    match cmd {
        LabCommand::Up(mut a) => {
            if a.lab.is_none() {
                a.lab = globals.load()?.lab_file;
            }
            let spec = build_spec(&a)?;
            catch_signals();
            let st = lab::up(&spec)?;
            let what = if st.spec.options.real {
                format!("real mode on {}", st.spec.host_lan_ifname())
            } else {
                format!(
                    "{}host, {}switch, {}peer, {}router",
                    st.prefix, st.prefix, st.prefix, st.prefix
                )
            };
            println!("lab up: {what}");
        }
        LabCommand::Add(a) => {
            let specs = build_containers(&a)?;
            catch_signals();
            let added = lab::add_many(&specs)?;
            for c in added {
                println!(
                    "added {} ({}{}) netns {} {} {}",
                    c.spec.name,
                    c.spec.mode,
                    c.spec
                        .submode()
                        .map(|s| format!(" {s}"))
                        .unwrap_or_default(),
                    c.netns.as_deref().unwrap_or("(host's)"),
                    c.ifname,
                    c.ip.map(|i| i.to_string()).unwrap_or_default()
                );
            }
        }
        LabCommand::Ls(a) => ls(a)?,
        LabCommand::Rm(a) => {
            lab::remove_many(&a.names)?;
            println!("removed {}", a.names.join(" "));
        }
        LabCommand::Down => {
            lab::down()?;
            println!("lab down");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn ls(a: LsArgs) -> anyhow::Result<()> {
    let loaded = lab::Lab::load().context("reading the lab state")?;
    if a.json {
        // Every key is always there: with no lab, what only a lab has is null (the prefix
        // and the state file are the ones a `lab up` would use).
        #[derive(serde::Serialize)]
        struct Options<'a> {
            hairpin: Option<bool>,
            real: Option<bool>,
            parent: Option<&'a str>,
            prefix: String,
            generation: Option<u64>,
            state_file: PathBuf,
        }
        #[derive(serde::Serialize)]
        struct Listing<'a> {
            endpoints: Vec<lab::Endpoint>,
            options: Options<'a>,
        }
        let out = match &loaded {
            Some(l) => Listing {
                endpoints: l.endpoints(),
                options: Options {
                    hairpin: Some(l.state.spec.options.hairpin),
                    real: Some(l.state.spec.options.real),
                    parent: l.state.spec.options.parent.as_deref(),
                    prefix: l.state.prefix.clone(),
                    generation: Some(l.state.generation),
                    state_file: lab::state_path(),
                },
            },
            None => Listing {
                endpoints: Vec::new(),
                options: Options {
                    hairpin: None,
                    real: None,
                    parent: None,
                    prefix: lab::prefix(),
                    generation: None,
                    state_file: lab::state_path(),
                },
            },
        };
        let text = serde_json::to_string_pretty(&out)?;
        println!("{text}");
        return Ok(());
    }
    let Some(l) = loaded else {
        println!("no lab is up (netview lab up)");
        return Ok(());
    };
    let mut rows = Vec::new();
    for e in l.endpoints() {
        let role = serde_json::to_value(e.role)?;
        rows.push(vec![
            e.name.clone(),
            role.as_str().unwrap_or("?").to_string(),
            e.mode.map(|m| m.name()).unwrap_or("-").to_string(),
            e.mode.and_then(|m| m.submode()).unwrap_or("-").to_string(),
            e.netns.clone().unwrap_or("(host's)".into()),
            e.ifname.clone(),
            e.addresses
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(","),
            e.mac.clone().unwrap_or("-".into()),
            e.parent.clone().unwrap_or("-".into()),
        ]);
    }
    print!(
        "{}",
        netview::inventory::table::align(
            &["NAME", "ROLE", "MODE", "SUBMODE", "NETNS", "IFNAME", "IP", "MAC", "PARENT"],
            &rows
        )
    );
    let o = &l.state.spec.options;
    if o.hairpin || o.real {
        println!(
            "options: hairpin={} real={}{}",
            o.hairpin,
            o.real,
            o.parent
                .as_deref()
                .map(|p| format!(" parent={p}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

pub fn clean(args: CleanArgs) -> anyhow::Result<ExitCode> {
    let done = lab::clean(args.dry_run)?;
    let verb = if args.dry_run { "would" } else { "did" };
    if done.is_empty() {
        println!("nothing to clean");
    }
    for d in done {
        println!("{verb} {d}");
    }
    Ok(ExitCode::SUCCESS)
}
