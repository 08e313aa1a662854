//! What a shell needs besides the commands themselves: completion scripts (`ragstack completions
//! SHELL`, clap_complete) and a man page per command (`ragstack manpages DIR`, clap_mangen), both
//! generated from the same clap definition as the parser, so they cannot drift from the flags.

use crate::error::{Error, ExitStatus, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManpagesArgs {
    /// Where to write ragstack.1 and one page per command (ragstack-deploy.1, ...)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Prints the completion script for `shell` on stdout; `cmd` is the parser's definition.
pub fn completions(args: &CompletionsArgs, mut cmd: clap::Command) -> Result<ExitStatus> {
    clap_complete::generate(args.shell, &mut cmd, "ragstack", &mut std::io::stdout());
    Ok(ExitStatus::Success)
}

/// Writes the man pages of `cmd` into `dir` (created when missing) and lists them.
pub fn manpages(args: &ManpagesArgs, cmd: clap::Command) -> Result<ExitStatus> {
    let failed =
        |e: std::io::Error| Error::usage(format!("cannot write man pages into {}: {e}", args.dir.display()), None);
    std::fs::create_dir_all(&args.dir).map_err(failed)?;
    clap_mangen::generate_to(cmd, &args.dir).map_err(failed)?;
    let mut pages: Vec<String> = std::fs::read_dir(&args.dir)
        .map_err(failed)?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string()))
        .filter(|n| n.ends_with(".1"))
        .collect();
    pages.sort();
    println!("{} man pages in {}: {}", pages.len(), args.dir.display(), pages.join(", "));
    Ok(ExitStatus::Success)
}
