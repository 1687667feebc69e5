//! `netview` with no arguments: the terminal UI.

use std::process::ExitCode;
use std::sync::Arc;

use netview::inventory::KernelSource;
use netview::ui::theme::Theme;

pub fn run() -> anyhow::Result<ExitCode> {
    // Without root the UI still runs; it says what is missing instead.
    let (missing, note) = match netview::caps::current() {
        Ok(caps) => (caps.missing(), None),
        Err(e) => (Vec::new(), Some(format!("capabilities unknown: {e}"))),
    };
    netview::ui::runtime::run(Arc::new(KernelSource), missing, Theme::from_env(), note)?;
    Ok(ExitCode::SUCCESS)
}
