//! `netview inventory`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A namespace to read (`root`, a name in /run/netns, or `pid:N`); may be repeated.
    #[arg(long = "netns", value_name = "NAME")]
    pub netns: Vec<String>,
    /// Every namespace netview can find.
    #[arg(long, conflicts_with = "netns")]
    pub all: bool,
    /// Print one JSON object (see docs/json.md).
    #[arg(long)]
    pub json: bool,
}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("inventory is not built yet")
}
