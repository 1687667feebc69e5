//! `netview` with no arguments: the terminal UI, with the config's theme, keys, probe
//! defaults and lab file.

use std::process::ExitCode;
use std::sync::Arc;

use netview::inventory::KernelSource;

use super::config::GlobalArgs;
use super::UsageError;

pub fn run(globals: &GlobalArgs) -> anyhow::Result<ExitCode> {
    // A bad config (or lab file) is refused before the terminal is taken.
    let config = globals.load()?;
    let lab_spec = match &config.lab_file {
        Some(path) => {
            let spec = super::lab::read_lab_file(path)?;
            spec.validate()?;
            if spec.options.real {
                return Err(UsageError(format!(
                    "the lab file {} asks for real mode, which the TUI does not build; use netview lab up --yes",
                    path.display()
                ))
                .into());
            }
            Some(spec)
        }
        None => None,
    };
    // Without root the UI still runs; it says what is missing instead.
    let (missing, note) = match netview::caps::current() {
        Ok(caps) => (caps.missing(), None),
        Err(e) => (Vec::new(), Some(format!("capabilities unknown: {e}"))),
    };
    let setup = netview::ui::runtime::Setup {
        theme: config.theme(globals.no_color()),
        keys: config.keys,
        probe: config.probe,
        lab_spec,
    };
    netview::ui::runtime::run(Arc::new(KernelSource), missing, setup, note)?;
    Ok(ExitCode::SUCCESS)
}
