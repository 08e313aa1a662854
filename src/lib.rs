//! ragstack: stand up and keep in shape a serverless RAG stack on AWS, one environment at a time.
//!
//! Modules, one per concern: `cli` (parsing and dispatch), `config` (environment files and their
//! validation), `catalog` (where AWS offers what), `naming` (every AWS name and ARN), `render`
//! (templates), `plan` (the desired state), `context` (what every command works with: target,
//! run context, a resource's handle; a leaf), `error` (errors and exit codes), `aws` (clients and
//! AWS errors), `preflight` (identity and model checks), `deployed_through` (direct or by a
//! CloudFormation stack), `resources` (one module per AWS resource
//! kind), `engine` (observe, diff, apply along the graph), `wait` (waiters and classified
//! retries), `ingestion` (knowledge-base sync), `output` (progress), `deploy`, `sync`, `status`, `teardown`, `ask`,
//! `export`, `legacy` (the commands).

pub mod aws;
pub mod blue_green;
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod cost;
pub mod deployed_through;
pub mod deployer_policy;
pub mod engine;
pub mod error;
pub mod eval;
pub mod failed_events;
pub mod ingestion;
pub mod legacy;
pub mod models;
pub mod naming;
pub mod output;
pub mod plan;
pub mod preflight;
pub mod render;
pub mod resources;
pub mod schedule;
pub mod session;
pub mod template_vars;
pub mod wait;

pub use error::{Error, Result};
