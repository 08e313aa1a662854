//! `ragstack status`: every resource with its state (ok / missing / drifted from the environment
//! file / not ragstack's / not ready), the outputs, and the last ingestion job of each data source.
//! Read-only: everything comes from one observation, the same deploy and plan make. Exit 0 when
//! healthy, 1 otherwise.

use crate::context::TargetArgs;
use crate::engine::{self, Action};
use crate::error::{Error, ExitStatus, Result};
use crate::output::Mode;
use crate::resources::{Ctx, LastIngest, api_key};
use crate::session::{self, Preflight, Settings};
use clap::Args;
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Also print the value of the environment's API key (never shown otherwise)
    #[arg(long)]
    pub show_api_key: bool,
}

pub async fn run(s: &Settings, args: &StatusArgs) -> Result<ExitStatus> {
    let ctx = session::connect(s, &args.target, Preflight::USE, |_| Ok(())).await?;
    let show_api_key = args.show_api_key;
    if show_api_key && ctx.env.file.api.auth != crate::config::ApiAuth::ApiKey {
        return Err(Error::usage(
            format!("{}: api.auth is \"none\": the environment has no API key to show", ctx.env.source),
            None,
        ));
    }
    let deployer = ctx.known().deployer_arn.unwrap_or_default();
    let mut plan = engine::observe(&ctx, &deployer).await?;
    for i in plan.items.iter_mut().filter(|i| i.observation.exists && i.observation.foreign.is_none()) {
        i.resource.kind.inspect(&ctx, &i.resource, &mut i.observation).await?;
    }
    let (resources, ingestion, mut healthy) = states(&ctx, &plan);
    // Two knowledge base generations at once: a blue/green change to finish (or abandon).
    let change = crate::blue_green::under_way(&ctx.env);
    healthy &= change.is_none();
    let generation = json!({
        "serving": ctx.env.names.generation,
        "knowledge_base_name": ctx.env.names.knowledge_base,
        "other": ctx.env.other_generation,
        "change": change,
    });
    // A model that turned Legacy or reached its end of life since the deploy shows here.
    let models = crate::models::states(&ctx.clients, &ctx.env).await;
    healthy &= models.iter().all(|m| m.lifecycle != Some(crate::catalog::Lifecycle::Eol));
    let model_lines = model_lines(&ctx, &models);
    let deployed = plan.items.iter().any(|i| i.observation.exists);
    let mut outputs = engine::outputs(&ctx, |id| plan.items.iter().any(|i| i.id == *id && i.observation.exists))?;
    if show_api_key && let Some(value) = api_key::value(&ctx).await? {
        outputs.insert("api_key_value".into(), value);
    }
    let through = match crate::deployed_through::stack(&ctx).await? {
        Some(s) => json!({"by": "cloudformation", "stack": s.stack, "stack_status": s.stack_status}),
        None if deployed => json!({"by": "ragstack"}),
        None => Value::Null,
    };
    if ctx.report.mode() == Mode::Json {
        let v = json!({"environment": ctx.env.name, "region": ctx.env.region(), "healthy": healthy, "deployed": deployed,
                       "deployed_through": through, "resources": resources, "outputs": outputs,
                       "ingestion": ingestion.iter().map(|last| &last.entry).collect::<Vec<_>>(),
                       "models": models, "knowledge_base_generation": generation});
        println!("{}", serde_json::to_string_pretty(&v).expect("JSON serializes"));
    } else {
        let found = Found {
            resources: &resources,
            ingestion: &ingestion,
            outputs: &outputs,
            deployed,
            healthy,
            through: &through,
            models: &model_lines,
        };
        print_text(&ctx, &found);
    }
    Ok(ExitStatus::failed_if(!healthy))
}

/// Each model's lifecycle as text lines: what turned Legacy or EOL since the deploy shows.
fn model_lines(ctx: &Ctx, models: &[crate::models::ModelState]) -> Vec<String> {
    let mut lines = Vec::new();
    for m in models {
        let by = if m.according_to == "catalog" { ", according to ragstack's catalog" } else { "" };
        lines.push(format!("  {:<32} {} ({}{by})", m.key, m.describe(), m.id));
        if m.lifecycle == Some(crate::catalog::Lifecycle::Eol) {
            lines.push(format!(
                "  {:<32}   Bedrock refuses it: change {} and deploy (`ragstack models {}` lists Active models)",
                "",
                m.key,
                ctx.env.region()
            ));
        }
    }
    lines
}

/// Each resource's state, the last ingestion job of each data source, and whether all is well.
fn states(ctx: &Ctx, plan: &engine::Plan) -> (Vec<Value>, Vec<LastIngest>, bool) {
    let mut resources = Vec::new();
    let mut healthy = true;
    for i in &plan.items {
        let state = match i.action {
            _ if i.observation.foreign.is_some() => "not ragstack's".to_string(),
            Action::Create => "missing".to_string(),
            Action::Update | Action::Replace => {
                let fields: Vec<&str> = i.observation.changes.iter().map(|c| c.field.as_str()).collect();
                format!("drifted: {}", fields.join(", "))
            }
            Action::Wait => format!("not ready: {}", i.observation.status.as_ref().map_or("", |s| s.aws.as_str())),
            Action::Delete if i.resource.kind.ingests() => {
                "no longer in the environment file: `ragstack deploy --allow-delete` deletes it".to_string()
            }
            Action::Delete => "turned off in the environment file: the next deploy deletes it".to_string(),
            _ => "ok".to_string(),
        };
        healthy &= state == "ok" && i.observation.sync_pending.is_none();
        let mut r =
            json!({"id": i.id, "kind": i.kind, "name": i.name, "state": state, "aws_status": i.observation.status});
        if !i.observation.details.is_empty() {
            r["details"] = json!(i.observation.details);
        }
        if let Some(pending) = &i.observation.sync_pending {
            r["sync_pending"] = json!(pending);
        }
        resources.push(r);
    }
    // The last ingest of each existing resource that ingests, as its kind words it.
    let mut ingestion = Vec::new();
    for i in plan.items.iter().filter(|i| i.observation.exists && i.action != Action::Delete) {
        if let Some(last) = i.resource.kind.last_ingest(ctx, &i.resource, &i.observation) {
            healthy &= last.healthy;
            ingestion.push(last);
        }
    }
    (resources, ingestion, healthy)
}

/// What status found, as the text output needs it.
struct Found<'a> {
    resources: &'a [Value],
    ingestion: &'a [LastIngest],
    outputs: &'a BTreeMap<String, String>,
    deployed: bool,
    healthy: bool,
    through: &'a Value,
    models: &'a [String],
}

fn print_text(ctx: &Ctx, found: &Found) {
    let Found { resources, ingestion, outputs, deployed, healthy, through, models } = *found;
    println!(
        "ragstack status: environment {} in {}, account {}",
        ctx.env.name,
        ctx.env.region(),
        ctx.env.names.account
    );
    match through["by"].as_str() {
        Some("cloudformation") => println!(
            "deployed through CloudFormation: stack {} ({}); change it through the stack\n",
            through["stack"].as_str().unwrap_or_default(),
            through["stack_status"].as_str().unwrap_or_default()
        ),
        Some(_) => println!("deployed by ragstack\n"),
        None => println!(),
    }
    if ctx.env.names.generation > 1 || ctx.env.other_generation.is_some() {
        println!("knowledge base generation {} ({})", ctx.env.names.generation, ctx.env.names.knowledge_base);
        if let Some(words) = crate::blue_green::under_way(&ctx.env) {
            println!("{words}");
        }
        println!();
    }
    for r in resources {
        let status = r["aws_status"].as_str().map(|s| format!(" ({s})")).unwrap_or_default();
        println!("  {:<28} {}{status}", r["id"].as_str().unwrap_or_default(), r["state"].as_str().unwrap_or_default());
        for (k, v) in r["details"].as_object().into_iter().flatten() {
            println!("  {:<28}   {k}: {}", "", v.as_str().map_or_else(|| v.to_string(), str::to_string));
        }
    }
    if !ingestion.is_empty() {
        println!("\nlast ingestion:");
        for last in ingestion {
            println!("  {}", last.line);
        }
    }
    println!("\nmodels:");
    for line in models {
        println!("{line}");
    }
    if !outputs.is_empty() {
        println!("\noutputs:");
        for (k, v) in outputs {
            println!("  {k:<24} {v}");
        }
    }
    println!(
        "\n{}",
        match (deployed, healthy) {
            (false, _) => format!("not deployed: ragstack deploy {} {}", ctx.env.name, ctx.env.region()),
            (true, true) => "healthy".to_string(),
            (true, false) => {
                let (env, region) = (&ctx.env.name, ctx.env.region());
                // Name the command that fixes what was found: sync for documents, deploy for the rest.
                let drift = resources.iter().any(|r| r["state"] != "ok");
                let documents = ingestion.iter().any(|last| last.sync_mends)
                    || resources.iter().any(|r| r["sync_pending"].is_string());
                let mut fixes = Vec::new();
                if documents {
                    fixes.push(format!("`ragstack sync {env} {region}` ingests the documents"));
                }
                if drift {
                    fixes.push(format!("`ragstack plan {env} {region}` shows what deploy would fix"));
                }
                if crate::blue_green::under_way(&ctx.env).is_some() {
                    fixes.push(format!("`ragstack deploy {env} {region}` finishes the blue/green change above"));
                }
                if fixes.is_empty() {
                    fixes.push(format!("a model above needs changing, then `ragstack deploy {env} {region}`"));
                }
                format!("not healthy: {}", fixes.join("; "))
            }
        }
    );
}
