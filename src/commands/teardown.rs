//! `ragstack teardown ENV REGION`: delete everything the environment owns, and nothing else.
//!
//! Discovery reads AWS, not a local state file: every resource is looked up by its deterministic
//! name (the same observation `plan` and `deploy` make) and kept only when its ownership holds:
//! the tags `ragstack:managed=true` and `ragstack:environment=ENV`; for the untaggable kinds, the
//! description ragstack writes (OpenSearch Serverless policies) or an owned parent (what a
//! resource declares it is `contained_in`). Each kind may add `leftovers`: resources it owns that
//! the environment file no longer declares (a data source removed from the file).
//!
//! Deletion runs in reverse dependency order with maximal parallelism: a resource is deleted once
//! everything that needs it ready (`Needs::Ready` edges) is gone. What lives inside a deleted
//! parent goes with it (the index with the collection, data sources with the knowledge base). A
//! failure is reported with its error and the rest continues; at the end the environment is
//! observed again and whatever is left is listed.

use crate::context::TargetArgs;
use crate::engine;
use crate::error::{Error, ExitStatus, Result};
use crate::output::Mode;
use crate::resources::{Ctx, Id, KINDS, Needs, Observation, Resource, Step};
use crate::schedule::{self, Stage};
use crate::session::{self, Preflight, Settings};
use clap::Args;
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use tokio::task::JoinSet;

#[derive(Debug, Args)]
pub struct TeardownArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Keep the documents bucket and every object in it (by default it is emptied, all versions,
    /// and deleted)
    #[arg(long)]
    pub keep_documents: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    Delete,
    /// Deleted by deleting its parent (`why` names it).
    WithParent,
    /// Its name matches but ragstack's environment does not own it: left alone.
    NotOwned,
    /// The documents bucket under `--keep-documents`.
    Kept,
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub id: Id,
    pub kind: &'static str,
    pub name: String,
    pub fate: Fate,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    #[serde(skip)]
    observation: Observation,
    #[serde(skip)]
    resource: Resource,
}

impl Target {
    fn new(resource: Resource, observation: Observation, fate: Fate, why: Option<String>) -> Target {
        Target {
            id: resource.id.clone(),
            kind: resource.label,
            name: resource.name.clone(),
            fate,
            why,
            observation,
            resource,
        }
    }

    fn goes(&self) -> bool {
        matches!(self.fate, Fate::Delete | Fate::WithParent)
    }

    /// The resource whose deletion removes this one with it.
    fn parent(&self) -> Option<&Id> {
        self.resource.contained_in.as_ref()
    }
}

/// What of the environment exists in AWS, and what teardown will do with each.
pub async fn discover(ctx: &Arc<Ctx>, keep_documents: bool) -> Result<Vec<Target>> {
    let deployer = ctx.known().deployer_arn.unwrap_or_default();
    let plan = engine::observe(ctx, &deployer).await?;
    let mut targets = Vec::new();
    let declared: Vec<Id> = plan.items.iter().map(|i| i.id.clone()).collect();
    for item in plan.items.into_iter().filter(|i| i.observation.exists_or_deleting()) {
        let (mut fate, mut why) = match &item.observation.foreign {
            Some(reason) => (Fate::NotOwned, Some(reason.clone())),
            None => (Fate::Delete, None),
        };
        // The bucket is the one resource that holds the user's data.
        if fate == Fate::Delete && keep_documents && item.resource.holds_documents {
            (fate, why) = (Fate::Kept, Some("--keep-documents: the bucket and its objects stay".into()));
        }
        targets.push(Target::new(item.resource, item.observation, fate, why));
    }
    for kind in KINDS {
        for (resource, observation) in kind.leftovers(ctx, &declared).await? {
            targets.push(Target::new(resource, observation, Fate::Delete, None));
        }
    }
    // The other knowledge base generation of a blue/green change: every generation goes.
    if let Some(other) = &ctx.env.other_generation {
        for (resource, observation) in crate::blue_green::resources_of(ctx, other).await?.1 {
            targets.push(Target::new(resource, observation, Fate::Delete, None));
        }
    }
    let deleted: Vec<Id> = targets.iter().filter(|t| t.fate == Fate::Delete).map(|t| t.id.clone()).collect();
    for t in targets.iter_mut().filter(|t| t.fate == Fate::Delete) {
        if let Some(parent) = t.parent().filter(|p| deleted.contains(p)).cloned() {
            t.fate = Fate::WithParent;
            t.why = Some(format!("deleted with {parent}"));
        }
    }
    Ok(targets)
}

/// The ids `id` must wait for: everything that needs it ready (or needs one of its children
/// ready), except its own children, which go with it.
fn waits_for(targets: &[Target], id: &Id) -> Vec<Id> {
    let family = |x: &Id| x == id || targets.iter().any(|t| t.id == *x && t.parent() == Some(id));
    targets
        .iter()
        .filter(|t| t.goes() && !family(&t.id))
        .filter(|t| t.resource.depends_on.iter().any(|d| d.needs == Needs::Ready && family(&d.on)))
        .map(|t| t.id.clone())
        .collect()
}

pub async fn run(s: &Settings, args: &TeardownArgs) -> Result<ExitStatus> {
    let ctx = session::connect(s, &args.target, Preflight::TEARDOWN, |_| Ok(())).await?;
    teardown(ctx, args.keep_documents, s.yes).await
}

async fn teardown(ctx: Arc<Ctx>, keep_documents: bool, yes: bool) -> Result<ExitStatus> {
    let report = &ctx.report;
    let env = ctx.env.name.clone();
    report.event(
        json!({"event": "start", "command": "teardown", "environment": env, "region": ctx.env.region(),
               "account": ctx.env.names.account}),
        Some(&format!(
            "ragstack teardown: environment {env} in {}, account {}",
            ctx.env.region(),
            ctx.env.names.account
        )),
    );
    let targets = discover(&ctx, keep_documents).await?;
    let doomed = targets.iter().filter(|t| t.goes()).count();
    show_plan(&ctx, &targets);
    if doomed == 0 {
        summary(&ctx, &targets, &[], &HashMap::new());
        return Ok(ExitStatus::Success);
    }
    if !yes {
        confirm("teardown", &env, doomed, "resources")?;
    }
    let errors = delete_all(&ctx, &targets).await;

    // Look again: what is still there is what the user must know about.
    ctx.forget_ids();
    let after = discover(&ctx, keep_documents).await?;
    let left: Vec<Target> = after.into_iter().filter(Target::goes).collect();
    summary(&ctx, &targets, &left, &errors);
    Ok(ExitStatus::failed_if(!left.is_empty()))
}

fn show_plan(ctx: &Ctx, targets: &[Target]) {
    let report = &ctx.report;
    if report.mode() == Mode::Json {
        report.event(json!({"event": "plan", "resources": targets}), None);
        return;
    }
    let doomed: Vec<&Target> = targets.iter().filter(|t| t.goes()).collect();
    if doomed.is_empty() {
        report.note(&format!("nothing to delete: no resource of environment {} exists", ctx.env.name));
    } else {
        report.note(&format!("will delete {} resources:", doomed.len()));
        for t in doomed {
            let with = t.why.as_deref().map(|w| format!(" ({w})")).unwrap_or_default();
            report.note(&format!("  - {:<26} {} {}{with}", t.id, t.kind, t.name));
        }
    }
    for t in targets.iter().filter(|t| !t.goes()) {
        let label = if t.fate == Fate::Kept { "kept" } else { "left alone, not ragstack's" };
        report.note(&format!("  {label}: {} {} ({})", t.kind, t.name, t.why.as_deref().unwrap_or_default()));
    }
}

/// Asks for the environment's name on the terminal before `command` deletes `count` `things`;
/// refuses (exit 2) without a terminal or with another answer.
pub fn confirm(command: &str, env: &str, count: usize, things: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::Refused {
            message: format!(
                "{command} of {env} would delete {count} {things} and needs a confirmation, but there is no \
                 terminal to ask on: nothing was deleted"
            ),
            help: format!("run it in a terminal and type `{env}` when asked, or pass --yes"),
        });
    }
    eprint!("Type the environment name `{env}` to delete these {count} {things}: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::Io { context: "read the confirmation".into(), source: e })?;
    if answer.trim() != env {
        return Err(Error::Refused {
            message: format!("the answer was not `{env}`: nothing was deleted"),
            help: format!("type exactly `{env}`, or pass --yes"),
        });
    }
    Ok(())
}

/// Deletes every target that goes, as soon as what must go before it is gone. Returns the error
/// of each failed deletion by id.
async fn delete_all(ctx: &Arc<Ctx>, targets: &[Target]) -> HashMap<Id, Error> {
    let going: Vec<&Target> = targets.iter().filter(|t| t.goes()).collect();
    let mut graph = schedule::Graph::new(going.iter().map(|t| t.id.clone()));
    let mut set = JoinSet::new();
    for t in going.into_iter().cloned() {
        let waits: Vec<(Id, Stage)> = match (t.fate, t.parent()) {
            (Fate::WithParent, Some(parent)) => vec![(parent.clone(), Stage::Done)],
            _ => waits_for(targets, &t.id).into_iter().map(|id| (id, Stage::Done)).collect(),
        };
        let ctx = ctx.clone();
        graph.spawn(&mut set, t.id.clone(), waits, move |failed, _| async move {
            let step = Step { ctx: ctx.clone(), id: t.id.to_string(), exists: Box::new(|| {}) };
            let outcome = match (t.fate, failed.is_some()) {
                (Fate::WithParent, true) => Err(Error::Incomplete {
                    message: format!(
                        "not deleted: {} could not be deleted",
                        t.parent().map(Id::as_str).unwrap_or("its parent")
                    ),
                    help: None,
                }),
                (Fate::WithParent, false) => Ok(()),
                _ => t.resource.kind.delete(&step, &t.resource, &t.observation).await,
            };
            match &outcome {
                Ok(()) => step.progress("done", t.why.as_deref().unwrap_or("deleted")),
                Err(e) => step.progress("failed", &e.to_string()),
            }
            let done = outcome.is_ok();
            ((t.id, outcome.err()), done)
        });
    }
    graph.fail_cycles();
    let mut errors = HashMap::new();
    while let Some(joined) = set.join_next().await {
        if let (id, Some(e)) = joined.expect("teardown tasks do not panic") {
            errors.insert(id, e);
        }
    }
    errors
}

fn summary(ctx: &Ctx, before: &[Target], left: &[Target], errors: &HashMap<Id, Error>) {
    let report = &ctx.report;
    report.finish();
    let secs = report.elapsed().as_secs_f64();
    let deleted: Vec<&Id> =
        before.iter().filter(|t| t.goes() && left.iter().all(|l| l.id != t.id)).map(|t| &t.id).collect();
    let untouched: Vec<&Target> = before.iter().filter(|t| !t.goes()).collect();
    let result = if before.iter().all(|t| !t.goes()) {
        "nothing_to_delete"
    } else if left.is_empty() {
        "deleted"
    } else {
        "incomplete"
    };
    let left_json: Vec<_> =
        left.iter().map(|t| json!({"id": t.id, "kind": t.kind, "name": t.name, "error": errors.get(&t.id)})).collect();
    if report.mode() == Mode::Json {
        report.event(
            json!({"event": "summary", "command": "teardown", "result": result, "environment": ctx.env.name,
                   "region": ctx.env.region(), "deleted": deleted, "left": left_json,
                   "not_deleted": untouched, "total_s": (secs * 1000.0).round() / 1000.0}),
            None,
        );
        return;
    }
    println!();
    let (env, region) = (&ctx.env.name, ctx.env.region());
    match result {
        "nothing_to_delete" => println!("Nothing to delete: {env} in {region} has no resources ({secs:.1}s)."),
        "deleted" => println!("Deleted {env} in {region}: {} resources in {secs:.1}s.", deleted.len()),
        _ => {
            println!("Teardown of {env} in {region} is incomplete after {secs:.1}s; still there:");
            for t in left {
                let why = errors.get(&t.id).map(|e| format!(": {e}")).unwrap_or_default();
                println!("  {} {} ({}){why}", t.kind, t.name, t.id);
                if let Some(help) = errors.get(&t.id).and_then(Error::help) {
                    println!("    help: {help}");
                }
            }
            println!("Fix the cause and run teardown again: it deletes whatever is left.");
        }
    }
    for t in untouched {
        let label = if t.fate == Fate::Kept { "Kept" } else { "Not ragstack's, left alone" };
        println!("{label}: {} {} ({})", t.kind, t.name, t.why.as_deref().unwrap_or_default());
    }
}
