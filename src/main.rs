//! `netview`: see and try Linux container networking.
//!
//! With no arguments it starts the terminal UI; the subcommands are the scripting CLI. Both
//! use the same engine (the `netview` library).

mod cli;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// glibc's malloc grows each thread's arena with one mprotect call per few pages; reading a
/// namespace of 10,000 links on its own thread made 21,000 of them (330 ms of a 414 ms read,
/// measured with strace -c). mimalloc maps in large segments instead.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "netview",
    version,
    propagate_version = true,
    about = "See and try Linux container networking"
)]
struct Cli {
    #[command(flatten)]
    globals: cli::config::GlobalArgs,
    /// Append a log of what netview does (lab steps and undos, netlink errors, inventory
    /// reads, probe pacing) to this file, created private; NETVIEW_LOG filters it (default
    /// netview=info).
    #[arg(long, global = true, value_name = "PATH")]
    log_file: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print every link, address, route, neighbour, bridge FDB entry and NAT rule.
    Inventory(cli::inventory::Args),
    /// Build and change the lab: a sandbox world and test containers.
    #[command(subcommand)]
    Lab(cli::lab::LabCommand),
    /// Probe reachability between lab endpoints (ICMP, ARP, TCP).
    Probe(cli::probe::Args),
    /// Remove everything netview left behind (after a crash), and nothing else.
    Clean(cli::lab::CleanArgs),
    /// The config file: print a template of every key, or where it is read from.
    #[command(subcommand)]
    Config(cli::config::ConfigCommand),
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell.
    Completions(cli::generate::CompletionsArgs),
    /// Print the man page (roff), e.g. `netview man | man -l -`.
    Man(cli::generate::ManArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return cli::parse_error(e),
    };
    if let Err(e) = netview::logging::init(cli.log_file.as_deref(), cli.command.is_none()) {
        return cli::exit_with(Err(e.into()));
    }
    let result = match cli.command {
        None => cli::tui::run(&cli.globals),
        Some(Command::Inventory(args)) => cli::inventory::run(args),
        Some(Command::Lab(cmd)) => cli::lab::run(cmd, &cli.globals),
        Some(Command::Probe(args)) => cli::probe::run(args, &cli.globals),
        Some(Command::Clean(args)) => cli::lab::clean(args),
        Some(Command::Config(cmd)) => cli::config::run(cmd, &cli.globals),
        Some(Command::Completions(args)) => cli::generate::completions(Cli::command(), args),
        Some(Command::Man(args)) => cli::generate::man(Cli::command(), args),
    };
    cli::exit_with(result)
}
