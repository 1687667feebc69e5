//! `netview inventory`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use netview::containers::{self, ResolveError};
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
    /// How to print it: text tables, one JSON object (docs/json.md), or the topology as a
    /// Graphviz picture (`netview inventory --all --format dot | dot -Tsvg > net.svg`).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// The same as `--format json`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

/// What `inventory` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Dot,
}

/// Why a namespace is left unread without trying: entering another namespace needs
/// CAP_SYS_ADMIN (setns), and without it every such read fails with EPERM.
const NOT_ENTERED: &str = "not read: entering another namespace needs CAP_SYS_ADMIN";

/// Split `wanted` into what this process can read and what it cannot: without
/// CAP_SYS_ADMIN only the namespace it runs in (`me`) can be read.
fn readable(wanted: Vec<Netns>, can_enter: bool, me: Option<u64>) -> (Vec<Netns>, Vec<Netns>) {
    wanted
        .into_iter()
        .partition(|n| can_enter || Some(n.id) == me)
}

/// The one line said on stderr without root: how many namespaces were left unread, what is
/// missing and the setcap line. None when nothing inventory uses is missing.
fn privileges_note(
    caps: netview::caps::CapSet,
    unread: &[Netns],
    total: usize,
    setcap: &str,
) -> Option<String> {
    use netview::caps::Capability;
    // CAP_NET_RAW is for probes only.
    let missing: Vec<Capability> = caps
        .missing()
        .into_iter()
        .filter(|c| *c != Capability::NetRaw)
        .collect();
    let line = netview::caps::privileges_line(&missing, setcap)?;
    if unread.is_empty() {
        return Some(line);
    }
    let names: Vec<&str> = unread.iter().take(3).map(|n| n.name.as_str()).collect();
    let more = if unread.len() > names.len() {
        ", ..."
    } else {
        ""
    };
    Some(format!(
        "{} of {total} namespaces not read ({}{more}); {line}",
        unread.len(),
        names.join(", ")
    ))
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
    let caps = netview::caps::current().unwrap_or(netview::caps::CapSet::FULL);
    let total = wanted.len();
    let order: std::collections::HashMap<u64, usize> =
        wanted.iter().enumerate().map(|(i, n)| (n.id, i)).collect();
    let (wanted, unread) = readable(
        wanted,
        caps.has(netview::caps::Capability::SysAdmin),
        netns::self_id(),
    );
    let format = if args.json { Format::Json } else { args.format };
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
    if format == Format::Json {
        // The JSON lists every namespace asked for, with why it was not read.
        namespaces.extend(unread.iter().map(|n| {
            let mut inv = netview::inventory::NamespaceInventory::empty(&n.name, n.id, n.source);
            inv.process = n.process.clone();
            inv.errors.push(NOT_ENTERED.to_string());
            inv
        }));
        // In the order asked for (root first with --all).
        namespaces.sort_by_key(|n| order.get(&n.id).copied().unwrap_or(usize::MAX));
    }
    netview::inventory::mark_netview_namespaces(&mut namespaces);
    let mut inventory = Inventory {
        namespaces,
        ..Default::default()
    };
    netview::inventory::attach_containers(&mut inventory, &world, &all, &netns::ns_inode);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if let Some(note) =
        privileges_note(caps, &unread, total, &netview::caps::setcap_line_for_self())
    {
        eprintln!("netview: {note}");
    }
    match format {
        Format::Json => {
            serde_json::to_writer(&mut out, &inventory).context("writing JSON")?;
            writeln!(out)?;
        }
        Format::Text => out.write_all(table::render(&inventory).as_bytes())?,
        Format::Dot => {
            let all: Vec<&netview::inventory::NamespaceInventory> =
                inventory.namespaces.iter().collect();
            out.write_all(netview::inventory::dot::render(&all).as_bytes())?;
        }
    }
    out.flush()?;
    // Nothing could be read: the note above said why.
    if wanted.is_empty() && !unread.is_empty() {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netview::caps::{CapSet, Capability};
    use netview::netns::NetnsSource;
    use std::path::PathBuf;

    fn ns(name: &str, id: u64) -> Netns {
        Netns {
            name: name.to_string(),
            id,
            source: NetnsSource::Named,
            path: PathBuf::from("/nonexistent"),
            process: None,
            is_self: false,
        }
    }

    #[test]
    fn without_sys_admin_only_the_own_namespace_is_read() {
        let all = vec![ns("root", 1), ns("a", 2), ns("b", 3)];
        let (read, unread) = readable(all.clone(), false, Some(1));
        assert_eq!(read, vec![ns("root", 1)]);
        assert_eq!(unread, vec![ns("a", 2), ns("b", 3)]);
        let (read, unread) = readable(all.clone(), true, Some(1));
        assert_eq!(read, all);
        assert!(unread.is_empty());
    }

    #[test]
    fn the_note_names_what_is_missing_and_the_setcap_line() {
        let unread = vec![ns("a", 2), ns("b", 3), ns("c", 4), ns("d", 5)];
        let note = privileges_note(CapSet::NONE, &unread, 5, "setcap X+ep /n").unwrap();
        assert!(
            note.starts_with(
                "4 of 5 namespaces not read (a, b, c, ...); not root: missing \
                 CAP_SYS_ADMIN (enter other namespaces), CAP_SYS_PTRACE"
            ),
            "{note}"
        );
        assert!(note.contains("`setcap X+ep /n`"), "{note}");
        assert!(!note.contains("CAP_NET_RAW"), "probes only: {note}");
        // With the capabilities inventory uses, nothing to say.
        let held = CapSet::of(&[
            Capability::SysAdmin,
            Capability::SysPtrace,
            Capability::NetAdmin,
        ]);
        assert_eq!(privileges_note(held, &[], 5, "x"), None);
    }
}
