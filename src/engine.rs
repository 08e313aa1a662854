//! The engine (docs/ARCHITECTURE.md, "Data flow"): observe every resource in parallel, diff against the
//! desired state, then apply along the dependency graph with maximal parallelism (a resource
//! starts as soon as what it depends on exists or is ready, as `plan` says it needs).

use crate::error::{Error, Result};
use crate::ingestion::JobResult;
use crate::naming::AFTER_APPLY;
use crate::resources::{self, Ctx, Dependency, Id, Needs, Observation, Phase, Resource, Step};
use crate::schedule::{self, Stage};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    NoOp,
    Create,
    Update,
    Replace,
    /// Exists but is not ready yet (e.g. a collection still CREATING): deploy waits for it.
    Wait,
    /// A resource of this name that ragstack's environment does not own: never touched.
    Foreign,
    /// Exists, but a setting turned it off (`Resource::wanted_if`): deploy deletes it.
    Delete,
}

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => "  ",
            Action::Create => "+ ",
            Action::Update => "~ ",
            Action::Replace => "-/+",
            Action::Wait => "… ",
            Action::Foreign => "! ",
            Action::Delete => "- ",
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Action::NoOp => "no change",
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Wait => "wait until ready",
            Action::Foreign => "not ragstack's: left alone",
            Action::Delete => "delete",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub id: Id,
    pub kind: &'static str,
    pub name: String,
    pub action: Action,
    pub observation: Observation,
    /// As declared, rendered with the ids known when it was observed.
    #[serde(skip)]
    pub resource: Resource,
}

impl Item {
    fn new(resource: Resource, observation: Observation) -> Item {
        Item {
            id: resource.id.clone(),
            kind: resource.label,
            name: resource.name.clone(),
            action: action_of(&resource, &observation),
            observation,
            resource,
        }
    }
}

/// The observed state of the environment and what deploy would do.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub environment: String,
    pub region: String,
    pub account: String,
    pub deployer: String,
    pub items: Vec<Item>,
    /// What the vector store costs while idle and per active hour (src/prices.toml).
    pub cost: crate::cost::Floor,
}

impl Plan {
    pub fn count(&self, action: Action) -> usize {
        self.items.iter().filter(|i| i.action == action).count()
    }

    /// What deploy leaves as it is: no change, or only waiting until it is ready (plan's and
    /// deploy's "unchanged" alike).
    pub fn unchanged(&self) -> usize {
        self.count(Action::NoOp) + self.count(Action::Wait)
    }

    pub fn has_changes(&self) -> bool {
        self.items.iter().any(|i| i.action != Action::NoOp) || self.needs_ingest()
    }

    /// Data sources that have never completed an ingestion (a deploy stopped before its sync).
    pub fn needs_ingest(&self) -> bool {
        self.items.iter().any(|i| i.observation.needs_ingest)
    }
}

fn action_of(r: &Resource, obs: &Observation) -> Action {
    if r.unwanted {
        if obs.exists && obs.foreign.is_none() { Action::Delete } else { Action::NoOp }
    } else if obs.foreign.is_some() {
        Action::Foreign
    } else if !obs.exists {
        Action::Create
    } else if obs.changes.iter().any(|c| c.replace) {
        Action::Replace
    } else if !obs.changes.is_empty() {
        Action::Update
    } else if obs.is(Phase::Creating) || obs.is(Phase::Updating) {
        Action::Wait
    } else {
        Action::NoOp
    }
}

/// The desired state rendered with every id known now (documents that contain ARNs of
/// resources created during this run render once those exist).
fn desired(ctx: &Ctx) -> Result<Vec<Resource>> {
    resources::desired(&ctx.env, &ctx.templates, &ctx.known())
}

/// Resource `r` as it is to be applied: declared again by its kind when `names_new_ids` (what it
/// depends on or whose ids it names was created or changed in this run, after `r` was declared),
/// else as declared.
fn declared(ctx: &Ctx, r: &Resource, names_new_ids: bool) -> Result<Resource> {
    if !names_new_ids {
        return Ok(r.clone());
    }
    tracing::debug!(resource = %r.id, "declared again: it names an id assigned in this run");
    let again = resources::declared_again(&ctx.env, &ctx.templates, &ctx.known(), r)?;
    again.ok_or_else(|| Error::Incomplete {
        message: format!("internal: no resource {} in the desired state", r.id),
        help: None,
    })
}

/// Whether something `r` depends on or names ids of (`observed_after`) is not as it was when `r`
/// was declared: created, updated or replaced in this run.
fn names_new_ids(r: &Resource, items: &[Item]) -> bool {
    let changed = |id: &Id| items.iter().any(|i| i.id == *id && i.action != Action::NoOp);
    r.depends_on.iter().any(|d| changed(&d.on)) || r.observed_after.iter().any(changed)
}

/// Rounds of observation: a resource is observed one round after those whose AWS-assigned ids
/// its observation needs (its `observed_after`), each round in parallel.
fn observe_rounds(resources: &[Resource]) -> Vec<Vec<Id>> {
    let mut round: HashMap<Id, usize> = HashMap::new();
    for _ in 0..=resources.len() {
        for r in resources {
            let after = r.observed_after.iter().filter_map(|a| round.get(a).map(|n| n + 1)).max().unwrap_or(0);
            round.insert(r.id.clone(), after);
        }
    }
    let mut rounds: Vec<Vec<Id>> = vec![Vec::new(); round.values().max().map_or(0, |m| m + 1)];
    for r in resources {
        rounds[round[&r.id]].push(r.id.clone());
    }
    rounds
}

/// Reads every resource of the environment, round by round (see `observe_rounds`), and says what
/// deploy would do with each.
pub async fn observe(ctx: &Arc<Ctx>, deployer: &str) -> Result<Plan> {
    observe_where(ctx, deployer, |_| true, true).await
}

/// Only the resources of the knowledge base's generation and those that grant it
/// (`Resource::generational`), without leftovers: what a blue/green change builds first.
pub async fn observe_generation(ctx: &Arc<Ctx>, deployer: &str) -> Result<Plan> {
    observe_where(ctx, deployer, |r| r.generational && !r.unwanted, false).await
}

async fn observe_where(
    ctx: &Arc<Ctx>,
    deployer: &str,
    keep: impl Fn(&Resource) -> bool,
    leftovers: bool,
) -> Result<Plan> {
    let mut observed: HashMap<Id, Observation> = HashMap::new();
    let kept = |all: Vec<Resource>| all.into_iter().filter(|r| keep(r)).collect::<Vec<_>>();
    for round in observe_rounds(&kept(desired(ctx)?)) {
        // Render once per round: ids found by the previous round change documents and ARNs.
        let mut set = JoinSet::new();
        for r in kept(desired(ctx)?).into_iter().filter(|r| round.contains(&r.id)) {
            let ctx = ctx.clone();
            set.spawn(async move {
                let obs = r.kind.observe(&ctx, &r).await;
                (r.id, obs)
            });
        }
        while let Some(joined) = set.join_next().await {
            let (id, obs) = joined.expect("observe tasks do not panic");
            observed.insert(id, obs?);
        }
    }
    // In the desired state's order (dependency order).
    let mut items: Vec<Item> = desired(ctx)?
        .into_iter()
        .filter_map(|r| {
            let obs = observed.remove(&r.id)?;
            // Neither wanted nor ours: nothing to do or show.
            let ours = obs.exists_or_deleting() && obs.foreign.is_none();
            (!r.unwanted || ours).then(|| Item::new(r, obs))
        })
        .collect();
    cascade_replacements(&mut items);
    // What ragstack owns in the environment but the file no longer declares (a data source
    // removed or renamed): deleted like a setting turned off (docs/deploying.md, "How deploy works").
    let declared_ids: Vec<Id> = items.iter().map(|i| i.id.clone()).collect();
    for kind in resources::KINDS.iter().filter(|_| leftovers) {
        for (mut r, obs) in kind.leftovers(ctx, &declared_ids).await? {
            r.unwanted = true;
            items.push(Item::new(r, obs));
        }
    }
    let n = &ctx.env.names;
    Ok(Plan {
        environment: ctx.env.name.clone(),
        region: n.region.clone(),
        account: n.account.clone(),
        deployer: deployer.to_string(),
        items,
        cost: crate::cost::floor(&ctx.env),
    })
}

/// What lives inside a replaced resource is replaced with it (`contained_in`), and so is what
/// declares it cannot outlive it (`replaced_with`): a new collection has no index, a new index
/// no vectors for the old knowledge base, a new knowledge base none of the old data sources.
/// Items are in dependency order, so a parent is decided before what it contains.
fn cascade_replacements(items: &mut [Item]) {
    for n in 0..items.len() {
        let r = &items[n].resource;
        let parents: Vec<&Id> = r.contained_in.iter().chain(&r.replaced_with).collect();
        let replacing = items[..n].iter().any(|p| p.action == Action::Replace && parents.contains(&&p.id));
        let item = &mut items[n];
        if replacing && item.observation.exists && item.action != Action::Foreign {
            item.action = Action::Replace;
        }
    }
}

/// The outputs (URLs, ids) of the resources `include` accepts, rendered with the ids known now;
/// those still unknown are left out.
pub fn outputs(ctx: &Ctx, include: impl Fn(&Id) -> bool) -> Result<BTreeMap<String, String>> {
    Ok(desired(ctx)?
        .into_iter()
        .filter(|r| !r.unwanted && include(&r.id))
        .flat_map(|r| r.outputs)
        .filter(|(_, v)| !v.contains(AFTER_APPLY))
        .collect())
}

// ---------------------------------------------------------------------------------------------
// apply

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeResult {
    Done,
    Failed,
    /// Not attempted: a dependency failed.
    Skipped,
}

#[derive(Debug, Serialize)]
pub struct Outcome {
    pub id: Id,
    pub action: Action,
    pub result: OutcomeResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Error>,
}

#[derive(Debug, Serialize)]
pub struct Applied {
    pub outcomes: Vec<Outcome>,
    pub ingestion: Vec<JobResult>,
}

/// Refuses a plan deploy must not execute: resources owned by someone else, or replacements
/// without `--allow-replace`. Nothing has been changed when this fails.
pub fn check(p: &Plan, allow_replace: bool, allow_delete: bool) -> Result<()> {
    let foreign: Vec<String> = p
        .items
        .iter()
        .filter(|i| i.action == Action::Foreign)
        .map(|i| format!("{} {}: {}", i.kind, i.name, i.observation.foreign.clone().unwrap_or_default()))
        .collect();
    // A refusal before any change: exit 2, as the README's exit codes promise.
    if !foreign.is_empty() {
        return Err(Error::Refused {
            message: format!(
                "resources with this environment's names exist but are not ragstack's; nothing was changed:\n  {}",
                foreign.join("\n  ")
            ),
            help: "ragstack never modifies what it does not own: delete or rename them, or use another `prefix` \
                   in the environment file"
                .into(),
        });
    }
    let replaced: Vec<String> = p
        .items
        .iter()
        .filter(|i| i.action == Action::Replace)
        .map(|i| {
            let fields: Vec<&str> = i.observation.changes.iter().map(|c| c.field.as_str()).collect();
            format!(
                "{} ({})",
                i.id,
                if fields.is_empty() { "inside a replaced resource".into() } else { fields.join(", ") }
            )
        })
        .collect();
    // A data source the file no longer declares holds ingested documents: deleting it is asked for.
    let removed: Vec<String> = p
        .items
        .iter()
        .filter(|i| i.action == Action::Delete && i.resource.kind.ingests())
        .map(|i| format!("data source {}", i.name))
        .collect();
    if !removed.is_empty() && !allow_delete {
        return Err(Error::Refused {
            message: format!(
                "deploy would delete {}: the environment file no longer declares {}; nothing was changed",
                removed.join(", "),
                if removed.len() == 1 { "it" } else { "them" }
            ),
            help: "review with `ragstack plan`, then deploy with --allow-delete: the knowledge base stops \
                   ingesting that data source's documents (its vectors stay in the index, RETAIN); or put the data \
                   source back in the file"
                .into(),
        });
    }
    if !replaced.is_empty() && !allow_replace {
        return Err(Error::Refused {
            message: format!(
                "deploy would replace {}: these settings cannot change in place; nothing was changed",
                replaced.join(", ")
            ),
            help: "review with `ragstack plan`, then deploy with --blue-green (a knowledge base change: the new one \
                   is built and ingested beside the serving one, then switched to, without downtime) or --allow-replace \
                   (the replaced resources are deleted and recreated, and questions fail until their documents are \
                   re-ingested)"
                .into(),
        });
    }
    Ok(())
}

/// Executes a checked plan; returns what happened to each resource. Replacements are deleted
/// first (inside out: data sources, knowledge base, index, collection), then everything is
/// applied along the graph, and ingestion starts as soon as what it ingests is ready.
pub async fn apply(ctx: &Arc<Ctx>, p: &Plan, sync: bool) -> Result<Applied> {
    let mut items: Vec<Item> = p.items.clone();
    let ids: Vec<Id> = items.iter().map(|i| i.id.clone()).collect();

    // 1. Replacements: delete from the inside out, then treat as absent.
    for item in items.iter_mut().rev().filter(|i| i.action == Action::Replace) {
        let step = Step { ctx: ctx.clone(), id: item.id.to_string(), exists: Box::new(|| {}) };
        item.resource.kind.delete(&step, &item.resource, &item.observation).await?;
        item.observation = Observation::absent();
    }

    // 2. One task per resource, started when its dependencies got far enough (`schedule`).
    let mut graph = schedule::Graph::new(ids.iter().cloned());
    let ingestion_task = sync.then(|| ingest_when_ready(ctx, &items, &graph));
    let mut set = JoinSet::new();
    for item in items.iter().cloned() {
        let ctx = ctx.clone();
        // A deletion waits for nothing: what it depended on stays.
        let deps: Vec<&Dependency> =
            if item.action == Action::Delete { Vec::new() } else { item.resource.depends_on.iter().collect() };
        // A changed dependency means a fresh look before applying.
        let dependency_changed = deps.iter().any(|d| items.iter().any(|i| i.id == d.on && i.action != Action::NoOp));
        let waits: Vec<(Id, Stage)> = deps
            .iter()
            .map(|d| (d.on.clone(), if d.needs == Needs::Ready { Stage::Done } else { Stage::Started }))
            .collect();
        let renew = item.action != Action::Delete && names_new_ids(&item.resource, &items);
        graph.spawn(&mut set, item.id.clone(), waits, move |failed, progress| async move {
            let outcome = run_one(&ctx, &item, failed, dependency_changed, renew, progress).await;
            let done = matches!(outcome, Ok(true));
            ((item, outcome), done)
        });
    }
    graph.fail_cycles();
    let mut outcomes: HashMap<Id, Outcome> = HashMap::new();
    while let Some(joined) = set.join_next().await {
        let (item, outcome) = joined.expect("apply tasks do not panic");
        let (result, error) = match outcome {
            Ok(true) => (OutcomeResult::Done, None),
            Ok(false) => (OutcomeResult::Skipped, None),
            Err(e) => (OutcomeResult::Failed, Some(e)),
        };
        outcomes.insert(item.id.clone(), Outcome { id: item.id, action: item.action, result, error });
    }
    let mut ordered: Vec<Outcome> = ids.iter().filter_map(|id| outcomes.remove(id)).collect();
    // The ingestion of ready data sources is followed to its end even when another resource
    // failed: documents are not left half-ingested without the user seeing it.
    let ingestion = match ingestion_task {
        Some(task) => task.await.expect("the ingestion task does not panic"),
        None => Ok(Vec::new()),
    };
    if ordered.iter().any(|o| o.result != OutcomeResult::Done) {
        ctx.report.finish();
        let changed = ordered.iter().any(|o| o.result == OutcomeResult::Done && o.action != Action::NoOp);
        let skipped = ordered.iter().filter(|o| o.result == OutcomeResult::Skipped).map(|o| o.id.to_string()).collect();
        let failures = ordered.iter_mut().filter_map(|o| Some((o.id.to_string(), o.error.take()?))).collect();
        return Err(Error::Unfinished { command: "deploy", failures, skipped, changed });
    }
    Ok(Applied { outcomes: ordered, ingestion: ingestion? })
}

/// Starts ingestion for what ingests (data sources) and was created, changed or never ingested,
/// as soon as it is ready: the serving path, built meanwhile, is not on its critical path.
fn ingest_when_ready(
    ctx: &Arc<Ctx>,
    items: &[Item],
    graph: &schedule::Graph<Id>,
) -> tokio::task::JoinHandle<Result<Vec<JobResult>>> {
    let wanted: Vec<(Resource, bool, watch::Receiver<Stage>)> = items
        .iter()
        .filter(|i| i.resource.kind.ingests() && i.action != Action::Delete)
        .filter(|i| i.action != Action::NoOp || i.observation.needs_ingest)
        .filter_map(|i| Some((i.resource.clone(), names_new_ids(&i.resource, items), graph.watch(&i.id)?)))
        .collect();
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let mut ready = Vec::new();
        for (r, renew, mut rx) in wanted {
            if rx.wait_for(|s| matches!(s, Stage::Done | Stage::Failed)).await.is_ok_and(|s| *s == Stage::Done) {
                ready.push(declared(&ctx, &r, renew)?);
            }
        }
        let mut results = Vec::new();
        for r in ready {
            results.push(r.kind.ingest(&ctx, &r).await?);
        }
        Ok(results)
    })
}

/// Applies one resource once its dependencies got far enough (`failed`: the one that did not).
/// Ok(false) = skipped. `dependency_changed`: look again before applying; `renew`: something it
/// names ids of changed in this run, so declare it again (`names_new_ids`).
async fn run_one(
    ctx: &Arc<Ctx>,
    item: &Item,
    failed: Option<Id>,
    dependency_changed: bool,
    renew: bool,
    progress: schedule::Progress,
) -> Result<bool> {
    if let Some(on) = failed {
        ctx.report.resource(item.id.as_str(), "skipped", &format!("{on} failed"));
        return Ok(false);
    }
    let step = Step { ctx: ctx.clone(), id: item.id.to_string(), exists: Box::new(move || progress.started()) };
    let outcome = async {
        // Declared again when its documents and ARNs may hold ids of what was just created; a
        // deletion (a leftover, or what the file turned off) goes as observation found it.
        let r = declared(ctx, &item.resource, renew)?;
        let mut obs = item.observation.clone();
        let mut action = item.action;
        if dependency_changed && obs.exists {
            obs = r.kind.observe(ctx, &r).await?;
            action = action_of(&r, &obs);
        }
        match action {
            Action::NoOp if obs.exists || r.unwanted => Ok(false),
            Action::Delete => r.kind.delete(&step, &r, &obs).await.map(|()| true),
            _ => r.kind.apply(&step, &r, &obs).await.map(|()| true),
        }
    };
    match outcome.await {
        Ok(applied) => {
            let (state, verb) = match (applied, item.action) {
                (false, _) => ("unchanged", ""),
                (true, Action::Create) => ("done", "created"),
                (true, Action::Replace) => ("done", "replaced"),
                (true, Action::Wait) => ("done", "ready"),
                (true, Action::Delete) => ("done", "deleted"),
                (true, _) => ("done", "updated"),
            };
            ctx.report.resource(item.id.as_str(), state, verb);
            Ok(true)
        }
        Err(e) => {
            ctx.report.resource(item.id.as_str(), "failed", &e.to_string());
            Err(e)
        }
    }
}
