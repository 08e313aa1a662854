//! `ragstack manpages DIR`: a man page per command (clap_mangen), generated from the same clap
//! definition as the parser, so they cannot drift from the flags.

use crate::error::{Error, ExitStatus, Result};
use crate::session::Settings;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ManpagesArgs {
    /// Where to write ragstack.1 and one page per command (ragstack-deploy.1, ...)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Writes the man pages into the directory (created when missing) and lists them.
pub fn run(s: &Settings, args: &ManpagesArgs) -> Result<ExitStatus> {
    let failed =
        |e: std::io::Error| Error::usage(format!("cannot write man pages into {}: {e}", args.dir.display()), None);
    std::fs::create_dir_all(&args.dir).map_err(failed)?;
    clap_mangen::generate_to(s.command_line.clone(), &args.dir).map_err(failed)?;
    let mut pages: Vec<String> = std::fs::read_dir(&args.dir)
        .map_err(failed)?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string()))
        .filter(|n| n.ends_with(".1"))
        .collect();
    pages.sort();
    println!("{} man pages in {}: {}", pages.len(), args.dir.display(), pages.join(", "));
    Ok(ExitStatus::Success)
}
