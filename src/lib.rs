//! ragstack: stand up and keep in shape a serverless RAG stack on AWS, one environment at a time.
//!
//! Modules, one per concern: `cli` (parsing and dispatch), `config` (environment files and their
//! validation), `catalog` (where AWS offers what), `naming` (every AWS name and ARN), `render`
//! (templates), `plan` (the desired state), `error` (errors and exit codes).

pub mod catalog;
pub mod cli;
pub mod config;
pub mod error;
pub mod naming;
pub mod plan;
pub mod render;

pub use error::{Error, Result};
