//! What every command starts from: the global flags, resolved once (`Settings`); for a command
//! on an environment, the environment validated before any AWS call (`prepare`) and the run
//! context connected with the checks the command asks for (`connect` with a `Preflight`).

use crate::aws::Clients;
use crate::config::{self, Environment, Target};
use crate::context::{Ctx, Known, TargetArgs};
use crate::error::{Error, Result};
use crate::output::Reporter;
use crate::render::Templates;
use crate::{models, naming, preflight};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The global flags, as every command sees them.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub profile: Option<String>,
    pub json: bool,
    pub yes: bool,
    pub environments: Option<PathBuf>,
    pub templates: Option<PathBuf>,
    pub skip_region_check: bool,
    /// The command line's definition (for completions and man pages).
    pub command_line: clap::Command,
}

/// What a command checks once connected, before its own work.
#[derive(Debug, Clone, Copy)]
pub struct Preflight {
    /// It shows or makes changes (deploy, plan): a supported caller, no model past its end of
    /// life, the guardrail and the concurrency the file names.
    pub changes: bool,
    /// It needs the models to be usable by this account (not teardown, which must work whatever
    /// happened to them, and not the commands that only read).
    pub models: bool,
    /// It works on the serving knowledge base generation (all but ask and logs, which go through
    /// the function and its log group).
    pub generation: bool,
    /// It refuses an environment a CloudFormation stack manages (the command's name).
    pub not_through_a_stack: Option<&'static str>,
}

impl Preflight {
    pub const DEPLOY: Preflight =
        Preflight { changes: true, models: true, generation: true, not_through_a_stack: Some("deploy") };
    pub const PLAN: Preflight =
        Preflight { changes: true, models: true, generation: true, not_through_a_stack: Some("plan") };
    /// status and sync.
    pub const USE: Preflight = Preflight { changes: false, models: true, generation: true, not_through_a_stack: None };
    pub const TEARDOWN: Preflight =
        Preflight { changes: false, models: false, generation: true, not_through_a_stack: Some("teardown") };
    /// eval: Retrieve needs no model check of ours (Bedrock answers for it).
    pub const EVAL: Preflight =
        Preflight { changes: false, models: false, generation: true, not_through_a_stack: None };
    /// ask and logs.
    pub const THROUGH_THE_API: Preflight =
        Preflight { changes: false, models: false, generation: false, not_through_a_stack: None };
}

/// REGION from the argument, else AWS_REGION / AWS_DEFAULT_REGION, else the profile. Never asks
/// the instance metadata service: ragstack must not send traffic anywhere it was not pointed at.
pub async fn resolve_region(arg: Option<&str>, profile: Option<&str>) -> Result<String> {
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
pub async fn prepare(s: &Settings, t: &TargetArgs, account: Option<String>) -> Result<(Environment, Templates)> {
    let region = resolve_region(t.region.as_deref(), s.profile.as_deref()).await?;
    check_region_offers_the_stack(&region, s.skip_region_check)?;
    let source = config::find(&t.env, s.environments.as_deref())?;
    let target = Target { region, account, skip_region_check: s.skip_region_check };
    let env = config::load(&source, &target)?;
    let templates = Templates::load(s.templates.as_deref())?;
    Ok((env, templates))
}

/// Validates everything locally (plus the command's own `check` of its flags against the
/// environment), then connects: credentials, caller identity, and the checks `preflight` asks
/// for; names are derived again with the real account.
pub async fn connect(
    s: &Settings,
    t: &TargetArgs,
    preflight: Preflight,
    check: impl FnOnce(&Environment) -> Result<()>,
) -> Result<Arc<Ctx>> {
    let (env, _) = prepare(s, t, None).await?;
    check(&env)?;
    let report = Reporter::new(s.json);
    let clients = Clients::connect(env.region(), s.profile.as_deref()).await;
    let me = preflight::identify(&clients, &report).await?;
    if preflight.changes {
        // deploy writes the caller into the data access policy; plan shows that policy.
        preflight::refuse_unsupported_principal(&me)?;
    }
    let (env, templates) = prepare(s, t, Some(me.account.clone())).await?;
    for warning in &env.warnings {
        report.note(&format!("warning: {warning}"));
    }
    if preflight.changes {
        // A model past its end of life would deploy green and fail every question or ingestion.
        models::check(&clients, &env, &report).await?;
    }
    if preflight.models {
        preflight::check_embedding_model(&clients, &env, &report).await?;
        preflight::check_model_access(&clients, &env, &report).await?;
    }
    if preflight.changes {
        // What only deploy would trip over.
        preflight::check_guardrail(&clients, &env, &report).await?;
        preflight::check_concurrency(&clients, &env, &report).await?;
    }
    let known = Known::deployer(Some(me.deployer_arn.clone()));
    let ctx = Arc::new(Ctx { env, templates, clients, known: Mutex::new(known), report: Arc::new(report) });
    // The knowledge base generation that serves, and one beside it during a blue/green change.
    let ctx = if preflight.generation { crate::blue_green::at_serving_generation(ctx).await? } else { ctx };
    // What a CloudFormation stack manages is changed through the stack only.
    if let Some(command) = preflight.not_through_a_stack {
        crate::deployed_through::refuse_if_stack(&ctx, command).await?;
    }
    Ok(ctx)
}
