//! `ragstack completions SHELL`: the completion script (clap_complete), generated from the same
//! clap definition as the parser, so it cannot drift from the flags.

use crate::error::{ExitStatus, Result};
use crate::session::Settings;
use clap::Args;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Prints the completion script for the shell on stdout.
pub fn run(s: &Settings, args: &CompletionsArgs) -> Result<ExitStatus> {
    clap_complete::generate(args.shell, &mut s.command_line.clone(), "ragstack", &mut std::io::stdout());
    Ok(ExitStatus::Success)
}
