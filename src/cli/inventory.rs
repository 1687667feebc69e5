//! `netview inventory`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use netview::containers::{self, ResolveError};
use netview::inventory::{read, table, Inventory};
use netview::netns;

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

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let all = netns::discover();
    // The runtimes are asked at most once, and only when needed before reading.
    let asked = containers::AskedOnce::new(containers::default_sources());
    let wanted = if args.all {
        all.clone()
    } else if args.netns.is_empty() {
        vec![netns::current()?]
    } else {
        let mut v = Vec::new();
        for name in &args.netns {
            let found =
                containers::resolve_namespace(name, &all, || asked.world(), &netns::ns_inode);
            v.push(match found {
                Ok(n) => n,
                Err(ResolveError::Container(e)) => return Err(UsageError(e.to_string()).into()),
                Err(ResolveError::Netns(e)) => return Err(e.into()),
            });
        }
        v
    };
    let (sources, asked) = asked.into_parts();
    // Ask the runtimes while the namespaces are read: a slow one costs at most its timeout.
    let (mut namespaces, world) = std::thread::scope(|s| {
        let world = match asked {
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
