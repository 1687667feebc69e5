//! `netview` with no arguments: the terminal UI.

use std::process::ExitCode;

pub fn run() -> anyhow::Result<ExitCode> {
    anyhow::bail!("the TUI is not built yet")
}
