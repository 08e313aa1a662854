//! The command line: parsing (clap derive) and dispatch to the commands.

use crate::ask::AskArgs;
use crate::aws::Clients;
use crate::config::{self, Environment, Target};
use crate::context::Known;
use crate::context::{Ctx, TargetArgs};
use crate::deploy::DeployArgs;
use crate::deployer_policy::PolicyFormat;
use crate::error::{Error, ExitStatus, Result};
use crate::export::ExportArgs;
use crate::legacy::LegacyArgs;
use crate::models::ModelsArgs;
use crate::output::Reporter;
use crate::render::Templates;
use crate::resources::template_vars;
use crate::status::StatusArgs;
use crate::sync::SyncArgs;
use crate::teardown::TeardownArgs;
use crate::{ask, deploy, engine, export, legacy, models, naming, plan, preflight, status, sync, teardown};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

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
    Eval(crate::eval::EvalArgs),
    /// Print the environment as one CloudFormation template (and write the functions' packages)
    Export(ExportArgs),
    /// The CloudFormation stacks the old creator.sh left: list them, or tear them down
    Legacy(LegacyArgs),
    /// The Bedrock models a knowledge base can use in a region: lifecycle, access, output limit
    Models(ModelsArgs),
    /// Print the query function's (or the sync trigger's) logs: request ids, errors, durations
    Logs(crate::logs::LogsArgs),
    /// Print the shell completion script (bash, zsh, fish, powershell, elvish)
    Completions(crate::shell::CompletionsArgs),
    /// Write a man page per command into a directory
    Manpages(crate::shell::ManpagesArgs),
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Use no credentials and no network: print every resource the environment consists of
    #[arg(long)]
    pub offline: bool,
    /// Account id to derive names and ARNs with (offline, --deployer-policy); default: a
    /// placeholder offline, the credentials' account with --deployer-policy
    #[arg(long, value_name = "ID", value_parser = parse_account)]
    pub account: Option<String>,
    /// Also print every rendered document (IAM and OpenSearch Serverless policies, index mapping)
    #[arg(long)]
    pub show_documents: bool,
    /// Exit 3 when deploy would change something (0 when nothing would change)
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Print the least-privilege IAM policy whoever runs ragstack (a person or a CI role) needs
    /// for this environment, and nothing else; with --account, no AWS call is made
    #[arg(long, conflicts_with_all = ["offline", "show_documents", "detailed_exitcode"])]
    pub deployer_policy: bool,
    /// With --deployer-policy: json (one document per IAM managed policy, each within IAM's
    /// 6,144 characters) or cloudformation (those policies and a role with them attached)
    #[arg(long, value_enum, requires = "deployer_policy", value_name = "FORMAT")]
    pub format: Option<crate::deployer_policy::PolicyFormat>,
}

fn parse_account(s: &str) -> std::result::Result<String, String> {
    if naming::is_account_id(s) {
        Ok(s.to_string())
    } else {
        Err("an AWS account id is exactly 12 digits, e.g. 123456789012".into())
    }
}

impl Command {
    /// The environment the command works on; `legacy` names an old one and is dispatched first.
    fn target(&self) -> &TargetArgs {
        match self {
            Command::Legacy(_) | Command::Models(_) | Command::Completions(_) | Command::Manpages(_) => {
                unreachable!("these commands have no environment file and are run before any lookup")
            }
            Command::Status(s) => &s.target,
            Command::Ask(a) => &a.target,
            Command::Eval(e) => &e.target,
            Command::Teardown(t) => &t.target,
            Command::Sync(s) => &s.target,
            Command::Deploy(d) => &d.target,
            Command::Plan(p) => &p.target,
            Command::Export(e) => &e.target,
            Command::Logs(l) => &l.target,
        }
    }
}

/// REGION from the argument, else AWS_REGION / AWS_DEFAULT_REGION, else the profile. Never asks
/// the instance metadata service: ragstack must not send traffic anywhere it was not pointed at.
async fn resolve_region(arg: Option<&str>, profile: Option<&str>) -> Result<String> {
    use aws_config::meta::region::ProvideRegion;
    let region = match arg {
        Some(r) => r.to_string(),
        None => {
            let from_env = aws_config::environment::region::EnvironmentVariableRegionProvider::new().region().await;
            let found = match from_env {
                Some(r) => Some(r),
                None => {
                    let mut b = aws_config::profile::ProfileFileRegionProvider::builder();
                    if let Some(p) = profile {
                        b = b.profile_name(p);
                    }
                    b.build().region().await
                }
            };
            match found {
                Some(r) => r.to_string(),
                None => {
                    return Err(Error::usage(
                        "no region: give one after the environment name (ragstack deploy dev us-east-1)",
                        Some(
                            "or set AWS_REGION, or a region in your AWS profile (aws configure set region us-east-1)"
                                .to_string(),
                        ),
                    ));
                }
            }
        }
    };
    if !naming::is_region_format(&region) {
        return Err(Error::usage(
            format!("invalid region `{region}`: a region looks like us-east-1, eu-west-2 or ap-southeast-2"),
            Some("list regions with `aws ec2 describe-regions --query 'Regions[].RegionName'`".to_string()),
        ));
    }
    Ok(region)
}

fn check_region_offers_the_stack(region: &str, skip: bool) -> Result<()> {
    let catalog = crate::catalog::Catalog::get();
    if skip || catalog.offers_opensearch_serverless(region) {
        return Ok(());
    }
    let guess = naming::did_you_mean(region, catalog.opensearch_serverless.regions.iter().map(String::as_str))
        .map(|g| format!(" (did you mean {g}?)"))
        .unwrap_or_default();
    Err(Error::usage(
        format!(
            "OpenSearch Serverless is not offered in {region}{guess} according to ragstack's region table ({}); \
             offered in: {}",
            catalog.sources.opensearch_serverless,
            catalog.opensearch_serverless.regions.join(", ")
        ),
        Some("choose one of those regions, or pass --skip-region-check if AWS has launched it there since".to_string()),
    ))
}

/// Everything that must hold before any AWS call: region, environment file, templates.
async fn prepare(cli: &Cli, account: Option<String>) -> Result<(Environment, Templates)> {
    let t = cli.command.target();
    let region = resolve_region(t.region.as_deref(), cli.global.profile.as_deref()).await?;
    check_region_offers_the_stack(&region, cli.global.skip_region_check)?;
    let source = config::find(&t.env, cli.global.environments.as_deref())?;
    let target = Target { region, account, skip_region_check: cli.global.skip_region_check };
    let env = config::load(&source, &target)?;
    let templates = Templates::load(cli.global.templates.as_deref())?;
    Ok((env, templates))
}

/// Validates everything locally (plus the command's own `check` of its flags against the
/// environment), then connects: credentials, caller identity, the embedding model's
/// availability; names are derived again with the real account.
async fn connect(cli: &Cli, check: impl FnOnce(&Environment) -> Result<()>) -> Result<Arc<Ctx>> {
    let (env, _) = prepare(cli, None).await?;
    check(&env)?;
    let report = Reporter::new(cli.global.json);
    let clients = Clients::connect(env.region(), cli.global.profile.as_deref()).await;
    let me = preflight::identify(&clients, &report).await?;
    // deploy writes the caller into the data access policy; plan shows that policy.
    if matches!(cli.command, Command::Deploy(_) | Command::Plan(_)) {
        preflight::refuse_unsupported_principal(&me)?;
    }
    let (env, templates) = prepare(cli, Some(me.account.clone())).await?;
    for warning in &env.warnings {
        report.note(&format!("warning: {warning}"));
    }
    // A model past its end of life would deploy green and fail every question or ingestion.
    if matches!(cli.command, Command::Deploy(_) | Command::Plan(_)) {
        models::check(&clients, &env, &report).await?;
    }
    // Teardown must work whatever happened to the models since the deploy; ask and logs only read.
    if !matches!(cli.command, Command::Teardown(_) | Command::Ask(_) | Command::Logs(_) | Command::Eval(_)) {
        preflight::check_embedding_model(&clients, &env, &report).await?;
        preflight::check_model_access(&clients, &env, &report).await?;
    }
    // What only deploy would trip over.
    if matches!(cli.command, Command::Deploy(_) | Command::Plan(_)) {
        preflight::check_guardrail(&clients, &env, &report).await?;
        preflight::check_concurrency(&clients, &env, &report).await?;
    }
    let known = Known::deployer(Some(me.deployer_arn.clone()));
    let ctx = Arc::new(Ctx { env, templates, clients, known: Mutex::new(known), report: Arc::new(report) });
    // The knowledge base generation that serves, and one beside it during a blue/green change
    // (ask and logs go through the function and its log group, whichever generation it serves).
    let ctx = if matches!(cli.command, Command::Ask(_) | Command::Logs(_)) {
        ctx
    } else {
        crate::blue_green::at_serving_generation(ctx).await?
    };
    // What a CloudFormation stack manages is changed through the stack only.
    let command = match cli.command {
        Command::Deploy(_) => Some("deploy"),
        Command::Plan(_) => Some("plan"),
        Command::Teardown(_) => Some("teardown"),
        _ => None,
    };
    if let Some(command) = command {
        crate::deployed_through::refuse_if_stack(&ctx, command).await?;
    }
    Ok(ctx)
}

/// `plan --deployer-policy`: the IAM policy whoever runs ragstack needs for the environment. The
/// account is all it needs to know (from --account, or GetCallerIdentity, which needs no permission).
async fn deployer_policy(cli: &Cli, account: Option<String>, format: Option<PolicyFormat>) -> Result<ExitStatus> {
    let account = match account {
        Some(a) => a,
        None => {
            let (env, _) = prepare(cli, None).await?;
            let clients = Clients::connect(env.region(), cli.global.profile.as_deref()).await;
            preflight::account(&clients).await.map_err(|e| {
                e.with_help(
                    "pass --account ID to print the policy without credentials (e.g. for a CI role that has none \
                     yet), or run with credentials of the target account",
                )
            })?
        }
    };
    let (env, templates) = prepare(cli, Some(account)).await?;
    let policy =
        templates.render_json("iam/deployer-policy.json", &template_vars::variables(&env, &Known::default()))?;
    crate::deployer_policy::print(&env, &policy, format.unwrap_or(PolicyFormat::Json))?;
    Ok(ExitStatus::Success)
}

/// Runs the command; returns the process exit code on success paths.
pub async fn run(mut cli: Cli) -> Result<ExitStatus> {
    if let Command::Ask(a) = &mut cli.command {
        a.normalize();
    }
    match &cli.command {
        Command::Legacy(l) => {
            let region = resolve_region(l.action.target().region.as_deref(), cli.global.profile.as_deref()).await?;
            let clients = Clients::connect(&region, cli.global.profile.as_deref()).await;
            legacy::run(clients, &l.action, cli.global.json, cli.global.yes).await
        }
        Command::Export(e) => {
            // No AWS call: the template is for any account (pseudo parameters), rendered for a
            // placeholder one.
            let (env, templates) = prepare(&cli, Some(export::ACCOUNT.to_string())).await?;
            let clients = Clients::connect(env.region(), cli.global.profile.as_deref()).await;
            let known = export::placeholders(&env, &templates)?;
            let report = Reporter::new(cli.global.json);
            let ctx = Ctx { env, templates, clients, known: Mutex::new(known), report: Arc::new(report) };
            export::run(&ctx, e)
        }
        Command::Completions(c) => crate::shell::completions(c, <Cli as clap::CommandFactory>::command()),
        Command::Manpages(m) => crate::shell::manpages(m, <Cli as clap::CommandFactory>::command()),
        Command::Models(m) => {
            let region = resolve_region(m.region.as_deref(), cli.global.profile.as_deref()).await?;
            let clients = Clients::connect(&region, cli.global.profile.as_deref()).await;
            models::run(&clients, &region, m, &Reporter::new(cli.global.json)).await
        }
        Command::Plan(p) if p.offline => {
            let (env, templates) = prepare(&cli, p.account.clone()).await?;
            for warning in &env.warnings {
                eprintln!("warning: {warning}");
            }
            models::check_offline(&env)?;
            let desired = plan::desired(&env, &templates, &Known::default())?;
            if cli.global.json {
                let v = plan::to_json(&desired, p.show_documents);
                println!("{}", serde_json::to_string_pretty(&v).expect("JSON value serializes"));
            } else {
                print!("{}", plan::to_text(&desired, p.show_documents));
            }
            Ok(ExitStatus::Success)
        }
        Command::Plan(p) if p.deployer_policy => deployer_policy(&cli, p.account.clone(), p.format).await,
        Command::Plan(p) if p.account.is_some() => Err(Error::usage(
            "--account goes with --offline or --deployer-policy: online, ragstack reads the account from your credentials",
            None,
        )),
        Command::Plan(p) => {
            let ctx = connect(&cli, |_| Ok(())).await?;
            let observed = engine::observe(&ctx, &ctx.known().deployer_arn.unwrap_or_default()).await?;
            if cli.global.json {
                let mut v = engine::plan_json(&observed);
                v["blue_green"] = crate::blue_green::plan_note(&ctx, &observed).into();
                println!("{}", serde_json::to_string_pretty(&v).expect("JSON serializes"));
            } else {
                print!("{}", engine::plan_text(&observed));
                if let Some(note) = crate::blue_green::plan_note(&ctx, &observed) {
                    println!("\n{note}");
                }
            }
            // A blue/green change under way is work the next deploy does.
            let pending = observed.has_changes() || crate::blue_green::under_way(&ctx.env).is_some();
            Ok(if p.detailed_exitcode && pending { ExitStatus::ChangesPending } else { ExitStatus::Success })
        }
        Command::Deploy(d) => deploy::run(connect(&cli, |env| deploy::validate(env, d)).await?, d).await,
        Command::Status(s) => status::run(connect(&cli, |_| Ok(())).await?, s.show_api_key).await,
        Command::Ask(a) => ask::run(&*connect(&cli, |_| a.checked_question().map(drop)).await?, a).await,
        Command::Logs(l) => crate::logs::run(&*connect(&cli, |_| Ok(())).await?, l).await,
        Command::Eval(e) => crate::eval::run(&*connect(&cli, |env| e.load(env).map(drop)).await?, e).await,
        Command::Sync(args) => sync::run(connect(&cli, |env| sync::validate(env, args)).await?, args).await,
        Command::Teardown(t) => teardown::run(connect(&cli, |_| Ok(())).await?, t.keep_documents, cli.global.yes).await,
    }
}
