//! `netview config template|path`, and the options every command takes: `--config FILE`
//! and `--no-color`.

use std::path::PathBuf;
use std::process::ExitCode;

use netview::config::{self, Config};
use netview::ui::theme::Theme;

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Print a commented config file with every key at its default value.
    Template,
    /// Print the path the config is read from (and check the file there, if any).
    Path,
}

/// Options of every command.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GlobalArgs {
    /// Read the config from FILE (default: $XDG_CONFIG_HOME/netview/config.toml, else
    /// ~/.config/netview/config.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Draw without colour (as NO_COLOR=1 does).
    #[arg(long, global = true)]
    pub no_color: bool,
}

impl GlobalArgs {
    /// The config in effect: a bad one is refused (exit 2) before anything starts.
    pub fn load(&self) -> anyhow::Result<Config> {
        Ok(config::load(self.config.as_deref())?)
    }

    /// `--no-color` or `NO_COLOR`.
    pub fn no_color(&self) -> bool {
        self.no_color || Theme::no_color_in_env()
    }
}

pub fn run(cmd: ConfigCommand, globals: &GlobalArgs) -> anyhow::Result<ExitCode> {
    match cmd {
        ConfigCommand::Template => print!("{}", config::template()),
        ConfigCommand::Path => {
            let path = match &globals.config {
                Some(p) => p.clone(),
                None => config::default_path().ok_or_else(|| {
                    anyhow::anyhow!(
                        "no config path: neither XDG_CONFIG_HOME nor HOME is an absolute path"
                    )
                })?,
            };
            println!("{}", path.display());
            if globals.config.is_some() || path.exists() {
                // Read as every command reads it, so a bad file is said here too.
                globals.load()?;
            } else {
                eprintln!("netview: no file there yet: the built-in defaults apply");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
