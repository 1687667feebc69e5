//! `netview inventory`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use netview::containers::{self, ContainerWorld, LookupError};
use netview::inventory::{read, table, Inventory};
use netview::netns::{self, Netns};

use super::UsageError;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A namespace to read (`root`, a name in /run/netns, `pid:N`), or a container's
    /// (`docker:NAME`, `podman:NAME`, or an id prefix); may be repeated. Without it, the
    /// namespace netview runs in.
    #[arg(long = "netns", value_name = "NAME")]
    pub netns: Vec<String>,
    /// Every namespace netview can find.
    #[arg(long, conflicts_with = "netns")]
    pub all: bool,
    /// Print one JSON object (see docs/json.md).
    #[arg(long)]
    pub json: bool,
}

/// Resolve one `--netns` argument: a namespace discovery listed, a container, or a namespace
/// name discovery did not list. `world` is asked for only when the name is no listed
/// namespace.
fn resolve(
    name: &str,
    all: &[Netns],
    world: &mut dyn FnMut() -> ContainerWorld,
) -> anyhow::Result<Netns> {
    // Prefer the discovered entry (it carries the process label).
    if let Some(n) = all.iter().find(|n| n.name == name) {
        return Ok(n.clone());
    }
    let world = world();
    let found = world
        .find(name)
        .and_then(|c| containers::namespace_of(c, all, &netns::ns_inode).cloned());
    match found {
        Ok(n) => Ok(n),
        Err(LookupError::NotAContainer) => Ok(netns::find(name)?),
        Err(e) => Err(UsageError(e.to_string()).into()),
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let all = netns::discover();
    let sources = containers::default_sources();
    // The runtimes are asked at most once, and only when needed before reading.
    let mut asked: Option<ContainerWorld> = None;
    let wanted = if args.all {
        all.clone()
    } else if args.netns.is_empty() {
        vec![netns::current()?]
    } else {
        let mut v = Vec::new();
        for name in &args.netns {
            let mut ask = || {
                asked
                    .get_or_insert_with(|| containers::ask_all(&sources))
                    .clone()
            };
            v.push(resolve(name, &all, &mut ask)?);
        }
        v
    };
    // Ask the runtimes while the namespaces are read: a slow one costs at most its timeout.
    let (mut namespaces, world) = std::thread::scope(|s| {
        let world = match asked.take() {
            Some(w) => s.spawn(move || w),
            None => s.spawn(|| containers::ask_all(&sources)),
        };
        let namespaces = read::read_many(&wanted, &all);
        (namespaces, world.join().unwrap_or_default())
    });
    netview::inventory::mark_netview_namespaces(&mut namespaces);
    let mut inventory = Inventory {
        namespaces,
        ..Default::default()
    };
    netview::inventory::attach_containers(&mut inventory, &world, &all, &netns::ns_inode);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        serde_json::to_writer(&mut out, &inventory).context("writing JSON")?;
        writeln!(out)?;
    } else {
        out.write_all(table::render(&inventory).as_bytes())?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
