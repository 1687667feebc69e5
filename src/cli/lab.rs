//! `netview lab ...` and `netview clean`.

use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum LabCommand {
    /// Create the sandbox world.
    Up,
}

#[derive(Debug, clap::Args)]
pub struct CleanArgs {
    /// Only say what would be removed.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(_cmd: LabCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("lab is not built yet")
}

pub fn clean(_args: CleanArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("clean is not built yet")
}
