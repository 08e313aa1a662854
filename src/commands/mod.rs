//! One module per command (docs/ARCHITECTURE.md, "Modules"): each owns its arguments (a clap
//! `Args` struct) and one `run(&Settings, &Args) -> Result<ExitStatus>`; `cli` parses and
//! dispatches to them.

pub mod ask;
pub mod completions;
pub mod deploy;
pub mod eval;
pub mod export;
pub mod legacy;
pub mod logs;
pub mod manpages;
pub mod models;
pub mod plan;
pub mod status;
pub mod sync;
pub mod teardown;
