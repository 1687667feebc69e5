//! `netview inventory`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use netview::inventory::{read, table, Inventory};
use netview::netns;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A namespace to read (`root`, a name in /run/netns, or `pid:N`); may be repeated.
    /// Without it, the namespace netview runs in.
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
    let wanted = if args.all {
        all.clone()
    } else if args.netns.is_empty() {
        vec![netns::current()?]
    } else {
        let mut v = Vec::new();
        for name in &args.netns {
            // Prefer the discovered entry (it carries the process label); fall back to a
            // direct lookup for names discovery did not list.
            match all.iter().find(|n| &n.name == name) {
                Some(n) => v.push(n.clone()),
                None => v.push(netns::find(name)?),
            }
        }
        v
    };
    let mut namespaces = read::read_many(&wanted, &all);
    netview::inventory::mark_netview_namespaces(&mut namespaces);
    let inventory = Inventory { namespaces };
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
