//! `netview completions SHELL` and `netview man`: the shell completion scripts and the man
//! pages, generated from the same clap definition as the command line itself.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `netview completions SHELL`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Print the completion script for `args.shell` on stdout.
pub fn completions(mut cmd: clap::Command, args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "netview", &mut out);
    std::io::stdout().lock().write_all(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// `netview man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write every page (netview.1 and one per subcommand, netview-lab-up.1, ...) into this
    /// existing directory instead of printing netview(1); an existing file is not replaced.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Print netview(1) in roff on stdout, or write every page into `--out-dir`.
pub fn man(cmd: clap::Command, args: ManArgs) -> anyhow::Result<ExitCode> {
    match args.out_dir {
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            std::io::stdout().lock().write_all(&out)?;
        }
        Some(dir) => {
            let mut cmd = cmd.disable_help_subcommand(true);
            cmd.build();
            write_pages(&cmd, &dir)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The page of `cmd` and of each of its subcommands, as `NAME.1` in `dir`: created new (an
/// existing file or a symlink at that name is an error, never followed), 0644 as man pages are.
fn write_pages(cmd: &clap::Command, dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir)?;
    }
    let man = clap_mangen::Man::new(cmd.clone());
    let mut page = Vec::new();
    man.render(&mut page)?;
    let path = dir.join(man.get_filename());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| anyhow::Error::new(e).context(path.display().to_string()))?;
    file.write_all(&page)?;
    Ok(())
}
