//! `ragstack deploy`: observe, refuse what must not happen (foreign resources, replacements
//! without `--allow-replace`), apply, sync, and print the outputs. A deploy with nothing to do
//! makes no mutating call and says so.

use crate::blue_green;
use crate::context::TargetArgs;
use crate::engine::{self, Action, Applied};
use crate::error::{Error, ExitStatus, Result};
use crate::output::Mode;
use crate::resources::Ctx;
use crate::session::{self, Preflight, Settings};
use clap::Args;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Allow deleting and recreating resources whose immutable settings changed (embedding model,
    /// dimensions, index mapping, chunking); their documents are re-ingested
    #[arg(long)]
    pub allow_replace: bool,
    /// Allow deleting what the environment file no longer declares and that holds documents (a
    /// data source removed or renamed); settings turned off are removed without it
    #[arg(long)]
    pub allow_delete: bool,
    /// Do not run ingestion after the resources are in place
    #[arg(long)]
    pub no_sync: bool,
    /// Replace the knowledge base without downtime: build the new one (index, knowledge base, data
    /// sources) beside the serving one, ingest it, check it against [eval] questions, switch the
    /// query function to it, then delete the old one
    #[arg(long, conflicts_with_all = ["allow_replace", "no_sync", "abandon"])]
    pub blue_green: bool,
    /// Delete the new knowledge base of a blue/green change in flight (the old one keeps serving)
    #[arg(long, conflicts_with = "allow_replace")]
    pub abandon: bool,
}

/// What must hold before any AWS call: a blue/green change's question set reads and checks.
pub fn validate(env: &crate::config::Environment, args: &DeployArgs) -> Result<()> {
    match (&env.eval_questions, args.blue_green) {
        (Some(path), true) => crate::config::questions::load(path, false).map(drop),
        _ => Ok(()),
    }
}

pub async fn run(s: &Settings, args: &DeployArgs) -> Result<ExitStatus> {
    deploy(session::connect(s, &args.target, Preflight::DEPLOY, |env| validate(env, args)).await?, args).await
}

async fn deploy(ctx: Arc<Ctx>, args: &DeployArgs) -> Result<ExitStatus> {
    let report = ctx.report.clone();
    let deployer = ctx.known().deployer_arn.unwrap_or_default();
    report.event(
        json!({"event": "start", "command": "deploy", "environment": ctx.env.name, "region": ctx.env.region(),
               "account": ctx.env.names.account, "deployer": deployer}),
        Some(&format!(
            "ragstack deploy: environment {} in {}, account {} (as {deployer})",
            ctx.env.name,
            ctx.env.region(),
            ctx.env.names.account
        )),
    );
    let mut ctx = ctx;
    if let Some(status) = earlier_change(&mut ctx, args, &deployer).await? {
        return Ok(status);
    }
    let retire_first = blue_green::retiring(&ctx.env).cloned();
    let mut plan = engine::observe(&ctx, &deployer).await?;
    let blue_green = args.blue_green && blue_green::replaces_generation(&plan)?;
    // Refused before anything changes, the retirement below included.
    engine::check(&plan, args.allow_replace || blue_green, args.allow_delete)?;
    if let Some(o) = retire_first {
        // Documents changed while the switched change was interrupted reach the serving one.
        if !args.no_sync {
            for job in blue_green::ingest_all(&ctx, &[]).await? {
                report.note(&format!("ingestion {}", job.line()));
            }
        }
        // `ctx` was observed for the plan above.
        ctx = blue_green::retire_observed(&ctx, &o, &deployer).await?;
        plan = engine::observe(&ctx, &deployer).await?;
    }
    if blue_green {
        return switch(&ctx, blue_green::next_generation(&ctx.env), &deployer, args.allow_delete).await;
    }
    let sync = !args.no_sync;
    if !plan.has_changes() || (!sync && plan.items.iter().all(|i| i.action == Action::NoOp)) {
        summary(&ctx, &plan, None)?;
        return Ok(ExitStatus::Success);
    }
    report.event(
        json!({"event": "plan", "summary": crate::plan::changes_json(&plan)["summary"].clone()}),
        Some(&format!(
            "plan: {} to create, {} to update, {} to replace, {} to delete, {} unchanged",
            plan.count(Action::Create),
            plan.count(Action::Update),
            plan.count(Action::Replace),
            plan.count(Action::Delete),
            plan.unchanged()
        )),
    );
    let applied = engine::apply(&ctx, &plan, sync).await?;
    summary(&ctx, &plan, Some(&applied))?;
    let ingestion_failed = applied.ingestion.iter().any(|j| !j.succeeded());
    Ok(ExitStatus::failed_if(ingestion_failed))
}

/// What a blue/green change left before this deploy: an abandon that was interrupted is
/// finished, `--abandon` abandons the change in flight, and a change in flight is resumed.
/// Some(status) when that was the whole deploy.
async fn earlier_change(ctx: &mut Arc<Ctx>, args: &DeployArgs, deployer: &str) -> Result<Option<ExitStatus>> {
    let report = ctx.report.clone();
    // An abandoned generation whose deletion was interrupted is finished first, whatever the file
    // asks for now (deleting it is what was asked); --abandon abandons the change in flight.
    let interrupted = blue_green::retiring(&ctx.env).filter(|o| o.deleting).cloned();
    if args.abandon || interrupted.is_some() {
        let Some(o) = interrupted.or_else(|| blue_green::in_flight(&ctx.env).cloned()) else {
            report.note("no blue/green change in flight: nothing to abandon");
            return Ok(Some(ExitStatus::Success));
        };
        let serving = ctx.env.names.generation;
        *ctx = blue_green::abandon(ctx, &o, deployer).await?;
        if args.abandon {
            report.finish();
            println!("\nAbandoned generation {}: generation {serving} keeps serving.", o.number);
            return Ok(Some(ExitStatus::Success));
        }
    }
    // A change a previous deploy began: resumed (in flight) or finished (switched).
    if let Some(o) = blue_green::in_flight(&ctx.env) {
        if args.no_sync {
            return Err(Error::usage(
                format!(
                    "a blue/green change is in flight (generation {}): it cannot switch without ingesting",
                    o.number
                ),
                Some("deploy without --no-sync to finish it, or with --abandon to delete the new generation".into()),
            ));
        }
        report.note(&format!("blue/green: resuming generation {} (a change in flight)", o.number));
        let number = o.number;
        engine::observe(ctx, deployer).await?;
        return switch(ctx, number, deployer, args.allow_delete).await.map(Some);
    }
    Ok(None)
}

/// A blue/green change to generation `new`, and its summary.
async fn switch(ctx: &Arc<Ctx>, new: u32, deployer: &str, allow_delete: bool) -> Result<ExitStatus> {
    let old = ctx.env.names.generation;
    let switched = match blue_green::replace(ctx, new, deployer, allow_delete).await? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let ctx = &switched.ctx;
    let report = &ctx.report;
    report.finish();
    let outputs = engine::outputs(ctx, |_| true)?;
    let secs = report.elapsed().as_secs_f64();
    let cost = crate::cost::floor(&ctx.env);
    let code = ExitStatus::failed_if(switched.ingestion.iter().any(|j| !j.succeeded()));
    if report.mode() == Mode::Json {
        report.event(
            json!({"event": "summary", "result": "switched", "environment": ctx.env.name, "region": ctx.env.region(),
                   "generation": new, "retired_generation": old, "outputs": outputs, "cost": cost,
                   "ingestion": switched.ingestion, "total_s": (secs * 1000.0).round() / 1000.0}),
            None,
        );
        return Ok(code);
    }
    println!(
        "\nDeployed {} in {} in {secs:.1}s: blue/green switch to generation {new} ({}); generation {old} deleted.",
        ctx.env.name,
        ctx.env.region(),
        ctx.env.names.knowledge_base
    );
    for job in &switched.ingestion {
        println!("  ingestion {}", job.line());
    }
    println!("\noutputs:");
    for (k, v) in &outputs {
        println!("  {k:<24} {v}");
    }
    println!("\n{}", cost.line(ctx.env.region()));
    Ok(code)
}

fn summary(ctx: &Ctx, plan: &engine::Plan, applied: Option<&Applied>) -> Result<()> {
    let report = &ctx.report;
    report.finish();
    let outputs = engine::outputs(ctx, |_| true)?;
    let secs = report.elapsed().as_secs_f64();
    let result = if applied.is_some() { "deployed" } else { "no_changes" };
    if report.mode() == Mode::Json {
        let mut v = json!({
            "event": "summary",
            "result": result,
            "environment": ctx.env.name,
            "region": ctx.env.region(),
            "outputs": outputs,
            "cost": plan.cost,
            "total_s": (secs * 1000.0).round() / 1000.0,
        });
        if let Some(a) = applied {
            v["resources"] = serde_json::to_value(&a.outcomes).unwrap_or(Value::Null);
            v["ingestion"] = serde_json::to_value(&a.ingestion).unwrap_or(Value::Null);
        }
        report.event(v, None);
        return Ok(());
    }
    println!();
    match applied {
        None => println!("No changes: {} in {} is up to date ({secs:.1}s).", ctx.env.name, ctx.env.region()),
        Some(a) => {
            println!(
                "Deployed {} in {} in {secs:.1}s: {} created, {} updated, {} replaced, {} deleted, {} unchanged.",
                ctx.env.name,
                ctx.env.region(),
                plan.count(Action::Create),
                plan.count(Action::Update),
                plan.count(Action::Replace),
                plan.count(Action::Delete),
                plan.unchanged(),
            );
            for job in &a.ingestion {
                println!("  ingestion {}", job.line());
            }
        }
    }
    println!("\noutputs:");
    for (k, v) in &outputs {
        println!("  {k:<24} {v}");
    }
    println!("\n{}", plan.cost.line(ctx.env.region()));
    let n = &ctx.env.names;
    if ctx.env.uses_documents_bucket() {
        let prefix = ctx.env.file.data_sources.iter().find(|d| d.bucket.is_none()).map_or("", |d| d.prefix());
        println!(
            "\nnext: add documents with `aws s3 cp --recursive ./docs s3://{}/{prefix}`, then `ragstack sync {} {}`",
            n.documents_bucket,
            ctx.env.name,
            ctx.env.region()
        );
    }
    println!("try: ragstack ask {} {} \"What do my documents say about ...?\"", ctx.env.name, ctx.env.region());
    Ok(())
}
