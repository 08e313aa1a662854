//! The command line: parsing (clap derive) and dispatch to the commands.

use crate::commands::ask::{self, AskArgs};
use crate::commands::completions::{self, CompletionsArgs};
use crate::commands::deploy::{self, DeployArgs};
use crate::commands::eval::{self, EvalArgs};
use crate::commands::export::{self, ExportArgs};
use crate::commands::legacy::{self, LegacyArgs};
use crate::commands::logs::{self, LogsArgs};
use crate::commands::manpages::{self, ManpagesArgs};
use crate::commands::models::{self, ModelsArgs};
use crate::commands::plan::{self, PlanArgs};
use crate::commands::status::{self, StatusArgs};
use crate::commands::sync::{self, SyncArgs};
use crate::commands::teardown::{self, TeardownArgs};
use crate::error::{ExitStatus, Result};
use crate::session::Settings;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const ABOUT: &str = "Stand up and keep in shape a serverless RAG stack on AWS, one environment at a time.";

const LONG_ABOUT: &str = "\
Stand up and keep in shape a serverless RAG stack on AWS, one environment at a time.

For each environment (dev, qa, sandbox, or any environments/NAME.toml) ragstack manages an S3
documents bucket, IAM roles, an OpenSearch Serverless vector collection and index, a Bedrock
knowledge base with its data sources, a query Lambda function and an API Gateway REST API.

Credentials come from the standard AWS chain (environment, profiles, SSO, CloudShell). REGION may
be left out where AWS_REGION, AWS_DEFAULT_REGION or the profile gives one (CloudShell sets it).";

const EXAMPLES: &str = "\
Examples:
  ragstack plan dev us-east-1 --offline            what dev consists of, without credentials
  ragstack plan dev --offline --show-documents     ... with every IAM and OpenSearch policy
  ragstack deploy dev us-east-1                    create or update dev, then sync documents
  ragstack status dev                              what exists and whether it is healthy
  ragstack ask dev \"What are the opening hours?\"    ask the deployed API, print the answer
  ragstack eval dev --questions questions.toml     recall@k and MRR of the knowledge base
  ragstack teardown dev --yes                      delete everything dev owns, nothing else
  ragstack export dev us-east-1 -o dev.yaml        dev as a CloudFormation template
  ragstack legacy list dev                         the stacks the old creator.sh left for dev
  ragstack models us-east-1                        the models to put in an environment file

Exit codes: 0 success, 1 AWS failure or something left undone, 2 invalid input or a refused or
unconfirmed change (nothing was changed in AWS), 3 changes pending (plan --detailed-exitcode).";

#[derive(Debug, Parser)]
#[command(name = "ragstack", version, about = ABOUT, long_about = LONG_ABOUT, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: GlobalArgs,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// AWS profile to use (from ~/.aws/config); default: AWS_PROFILE or "default"
    #[arg(long, global = true, env = "AWS_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,

    /// Print machine-readable JSON instead of text
    #[arg(long, global = true)]
    pub json: bool,

    /// Answer yes to confirmations (teardown, legacy teardown); replacing resources takes deploy's
    /// --allow-replace or --blue-green instead
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,

    /// More detail on stderr (-v, -vv)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Directory with ENV.toml files that override or add to the built-in environments
    /// [default: ./environments, then the built-in dev, qa, sandbox]
    #[arg(long, global = true, env = "RAGSTACK_ENVIRONMENTS", value_name = "DIR")]
    pub environments: Option<PathBuf>,

    /// Directory with templates that override the built-in ones (same layout as templates/)
    #[arg(long, global = true, env = "RAGSTACK_TEMPLATES", value_name = "DIR")]
    pub templates: Option<PathBuf>,

    /// Do not check the region against ragstack's table of where OpenSearch Serverless and the
    /// embedding model are offered (for regions AWS launched after this version)
    #[arg(long, global = true)]
    pub skip_region_check: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update everything the environment needs, then sync its data sources
    Deploy(DeployArgs),
    /// Show what deploy would change (with --offline: what the environment consists of)
    Plan(PlanArgs),
    /// Run knowledge-base ingestion for the environment's data sources and follow it
    Sync(SyncArgs),
    /// Show what exists, its health, the outputs and the last ingestion
    Status(StatusArgs),
    /// Delete everything the environment owns, and nothing else
    Teardown(TeardownArgs),
    /// Ask the deployed stack a question through its API and print the answer and its sources
    Ask(AskArgs),
    /// Measure how well the knowledge base finds what answers a question set: recall@k, MRR,
    /// phrases, latency (and with --generate, the answers and their tokens)
    Eval(EvalArgs),
    /// Print the environment as one CloudFormation template (and write the functions' packages)
    Export(ExportArgs),
    /// The CloudFormation stacks the old creator.sh left: list them, or tear them down
    Legacy(LegacyArgs),
    /// The Bedrock models a knowledge base can use in a region: lifecycle, access, output limit
    Models(ModelsArgs),
    /// Print the query function's (or the sync trigger's) logs: request ids, errors, durations
    Logs(LogsArgs),
    /// Print the shell completion script (bash, zsh, fish, powershell, elvish)
    Completions(CompletionsArgs),
    /// Write a man page per command into a directory
    Manpages(ManpagesArgs),
}

/// Runs the command; returns how it ended (errors carry their own exit status).
pub async fn run(mut cli: Cli) -> Result<ExitStatus> {
    if let Command::Ask(a) = &mut cli.command {
        a.normalize();
    }
    let g = &cli.global;
    let s = Settings {
        profile: g.profile.clone(),
        json: g.json,
        yes: g.yes,
        environments: g.environments.clone(),
        templates: g.templates.clone(),
        skip_region_check: g.skip_region_check,
        command_line: <Cli as clap::CommandFactory>::command(),
    };
    match &cli.command {
        Command::Deploy(a) => deploy::run(&s, a).await,
        Command::Plan(a) => plan::run(&s, a).await,
        Command::Sync(a) => sync::run(&s, a).await,
        Command::Status(a) => status::run(&s, a).await,
        Command::Teardown(a) => teardown::run(&s, a).await,
        Command::Ask(a) => ask::run(&s, a).await,
        Command::Eval(a) => eval::run(&s, a).await,
        Command::Export(a) => export::run(&s, a).await,
        Command::Legacy(a) => legacy::run(&s, a).await,
        Command::Models(a) => models::run(&s, a).await,
        Command::Logs(a) => logs::run(&s, a).await,
        Command::Completions(a) => completions::run(&s, a),
        Command::Manpages(a) => manpages::run(&s, a),
    }
}
