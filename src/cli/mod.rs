//! The scripting CLI. Each subcommand has its own file; errors become one line on stderr.

pub mod config;
pub mod generate;
pub mod inventory;
pub mod lab;
pub mod probe;
pub mod tui;

use std::process::ExitCode;

/// Bad input from the user (a name that does not exist, a bad CIDR...): exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Turn a subcommand's result into the process exit code, printing errors as one line.
///
/// `UsageError` anywhere in the chain (or an engine error that says it is the user's input)
/// exits 2; other failures exit 1.
pub fn exit_with(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(err) => {
            let line = err
                .chain()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(": ");
            eprintln!("netview: {line}");
            if err.chain().any(is_usage_error) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// A command line clap refused: help and version are printed as clap prints them; any other
/// error is one line on stderr (clap's first line, without its usage block) and exit 2.
pub fn parse_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        _ => {
            eprintln!("netview: {}", one_line(&e.render().to_string()));
            ExitCode::from(2)
        }
    }
}

/// clap's message (its first paragraph, joined) without the `error: ` label, tips and usage.
fn one_line(rendered: &str) -> String {
    let text = rendered.trim_start();
    let text = text.strip_prefix("error: ").unwrap_or(text);
    text.lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_usage_error(e: &(dyn std::error::Error + 'static)) -> bool {
    if e.downcast_ref::<UsageError>().is_some()
        || e.downcast_ref::<netview::logging::LogError>().is_some()
    {
        return true;
    }
    if let Some(netview::netns::NetnsError::NotFound(_)) = e.downcast_ref() {
        return true;
    }
    if e.downcast_ref::<netview::config::ConfigError>().is_some() {
        return true;
    }
    if let Some(le) = e.downcast_ref::<netview::lab::LabError>() {
        return le.is_usage();
    }
    false
}
