//! The engine (docs/ARCHITECTURE.md, "Data flow"): observe every resource in parallel, diff against the
//! desired state, then apply along the dependency graph with maximal parallelism (a resource
//! starts as soon as what it depends on exists or is ready, as `plan` says it needs).

use crate::error::{Error, Result};
use crate::ingestion::{self, JobResult};
use crate::plan::{self, Needs};
use crate::resources::{self, Ctx, Kind, Observation, Step, data_source};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
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
}

impl Action {
    fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => "  ",
            Action::Create => "+ ",
            Action::Update => "~ ",
            Action::Replace => "-/+",
            Action::Wait => "… ",
            Action::Foreign => "! ",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Action::NoOp => "no change",
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Wait => "wait until ready",
            Action::Foreign => "not ragstack's: left alone",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub id: String,
    pub kind: &'static str,
    pub name: String,
    pub action: Action,
    #[serde(skip)]
    pub depends_on: Vec<plan::Dependency>,
    pub observation: Observation,
}

/// The observed state of the environment and what deploy would do.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub environment: String,
    pub region: String,
    pub account: String,
    pub deployer: String,
    pub items: Vec<Item>,
    /// Resources of the desired state this version does not deploy yet (the serving path).
    pub not_managed: Vec<String>,
}

impl Plan {
    pub fn count(&self, action: Action) -> usize {
        self.items.iter().filter(|i| i.action == action).count()
    }

    pub fn has_changes(&self) -> bool {
        self.items.iter().any(|i| i.action != Action::NoOp) || self.needs_sync()
    }

    /// Data sources that have never completed an ingestion (a deploy stopped before its sync).
    pub fn needs_sync(&self) -> bool {
        self.items.iter().any(|i| i.observation.needs_sync)
    }
}

fn action_of(obs: &Observation) -> Action {
    if obs.foreign.is_some() {
        Action::Foreign
    } else if !obs.exists {
        Action::Create
    } else if obs.changes.iter().any(|c| c.replace) {
        Action::Replace
    } else if !obs.changes.is_empty() {
        Action::Update
    } else if matches!(obs.status.as_deref(), Some("CREATING" | "UPDATING")) {
        Action::Wait
    } else {
        Action::NoOp
    }
}

/// Reads every managed resource: those that give ids first (collection, REST API), then what
/// needs the collection's id (up to the knowledge base), then what needs the knowledge base's or
/// the API's id, each round in parallel.
pub async fn observe(ctx: &Arc<Ctx>, deployer: &str) -> Result<Plan> {
    let desired = ctx.desired()?;
    let mut not_managed = Vec::new();
    let mut rounds: [Vec<String>; 3] = Default::default();
    for r in desired.resources {
        match Kind::of(&r.id) {
            None => not_managed.push(r.id),
            Some(Kind::Collection | Kind::Bucket | Kind::Policy | Kind::RestApi) => rounds[0].push(r.id),
            // Their documents or settings hold the knowledge base's or the API's id.
            Some(Kind::DataSource | Kind::Function | Kind::ApiStage) => rounds[2].push(r.id),
            Some(Kind::Role) if r.id == "api_role" => rounds[2].push(r.id),
            Some(_) => rounds[1].push(r.id),
        }
    }
    let mut observed: HashMap<String, Observation> = HashMap::new();
    for round in rounds {
        // Render once per round: ids found by the previous round change documents and ARNs.
        let rendered = ctx.desired()?;
        let mut set = JoinSet::new();
        for r in rendered.resources.into_iter().filter(|r| round.contains(&r.id)) {
            let ctx = ctx.clone();
            set.spawn(async move {
                let obs = resources::observe(&ctx, &r).await;
                (r.id, obs)
            });
        }
        while let Some(joined) = set.join_next().await {
            let (id, obs) = joined.expect("observe tasks do not panic");
            observed.insert(id, obs?);
        }
    }
    // Show resources in the desired state's order (dependency order).
    let desired = ctx.desired()?;
    let mut items: Vec<Item> = desired
        .resources
        .iter()
        .filter_map(|r| {
            let obs = observed.remove(&r.id)?;
            Some(Item {
                id: r.id.clone(),
                kind: r.kind,
                name: r.name.clone(),
                action: action_of(&obs),
                depends_on: r.depends_on.clone(),
                observation: obs,
            })
        })
        .collect();
    cascade_replacements(&mut items);
    let n = &ctx.env.names;
    Ok(Plan {
        environment: ctx.env.name.clone(),
        region: n.region.clone(),
        account: n.account.clone(),
        deployer: deployer.to_string(),
        items,
        not_managed,
    })
}

/// What lives inside a replaced resource is replaced with it: a new collection has no index, a
/// new index no vectors for the old knowledge base, a new knowledge base none of the old data
/// sources.
fn cascade_replacements(items: &mut [Item]) {
    let chain = ["collection", "vector_index", "knowledge_base"];
    let mut replacing = false;
    for step in chain {
        if let Some(item) = items.iter_mut().find(|i| i.id == step) {
            if replacing && item.observation.exists && item.action != Action::Foreign {
                item.action = Action::Replace;
            }
            replacing |= item.action == Action::Replace;
        }
    }
    if replacing {
        for item in items.iter_mut().filter(|i| Kind::of(&i.id) == Some(Kind::DataSource)) {
            if item.observation.exists {
                item.action = Action::Replace;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// plan output

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "(none)".into(),
        other => other.to_string(),
    }
}

pub fn plan_text(p: &Plan) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "ragstack plan: environment {} in {}, account {}", p.environment, p.region, p.account);
    let _ = writeln!(s, "  deploying principal: {}\n", p.deployer);
    for i in &p.items {
        let mut word = i.action.word().to_string();
        if i.action == Action::Update || i.action == Action::Replace {
            let fields: Vec<&str> = i.observation.changes.iter().map(|c| c.field.as_str()).collect();
            if !fields.is_empty() {
                word = format!("{word}: {}", fields.join(", "));
            }
        }
        if let Some(status) = &i.observation.status
            && i.action == Action::NoOp
        {
            word = format!("{word} ({status})");
        }
        let _ = writeln!(s, "{:<3} {:<28} {}", i.action.symbol(), i.id, word);
        if let Some(why) = &i.observation.foreign {
            let _ = writeln!(s, "      {} {}: {why}", i.kind, i.name);
        }
        if i.action == Action::Replace {
            let _ = writeln!(s, "      deletes and recreates {} {}: its documents will be re-ingested", i.kind, i.name);
        }
        if let Some(why) = &i.observation.unknown {
            let _ = writeln!(s, "      to be checked during deploy: {why}");
        }
        if i.action == Action::Update || i.action == Action::Replace {
            for c in &i.observation.changes {
                if c.from.is_object()
                    || c.to.is_object()
                    || c.from.is_array() && c.to.is_array() && c.field.contains("polic")
                {
                    let a = serde_json::to_string_pretty(&c.from).unwrap_or_default() + "\n";
                    let b = serde_json::to_string_pretty(&c.to).unwrap_or_default() + "\n";
                    let diff = similar::TextDiff::from_lines(&a, &b);
                    let _ = writeln!(s, "      {}:", c.field);
                    for line in diff.unified_diff().context_radius(2).header("current", "desired").to_string().lines() {
                        let _ = writeln!(s, "        {line}");
                    }
                } else {
                    let _ = writeln!(s, "      {}: {} -> {}", c.field, show(&c.from), show(&c.to));
                }
            }
        }
    }
    if p.needs_sync() {
        let _ = writeln!(s, "\nthen: ingestion for data sources that have not completed one");
    }
    if !p.not_managed.is_empty() {
        let _ = writeln!(s, "\nnot deployed by this version (the serving path): {}", p.not_managed.join(", "));
    }
    let _ = writeln!(
        s,
        "\nPlan: {} to create, {} to update, {} to replace, {} unchanged{}.",
        p.count(Action::Create),
        p.count(Action::Update),
        p.count(Action::Replace),
        p.count(Action::NoOp) + p.count(Action::Wait),
        if p.count(Action::Foreign) > 0 {
            format!(", {} not ragstack's", p.count(Action::Foreign))
        } else {
            String::new()
        }
    );
    if !p.has_changes() {
        let _ = writeln!(s, "No changes: the environment matches {}.", p.environment);
    }
    s
}

pub fn plan_json(p: &Plan) -> Value {
    let mut v = serde_json::to_value(p).expect("plan serializes");
    v["changes_pending"] = p.has_changes().into();
    v["summary"] = json!({
        "create": p.count(Action::Create),
        "update": p.count(Action::Update),
        "replace": p.count(Action::Replace),
        "unchanged": p.count(Action::NoOp) + p.count(Action::Wait),
        "foreign": p.count(Action::Foreign),
    });
    v
}

// ---------------------------------------------------------------------------------------------
// apply

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Pending,
    Exists,
    Ready,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub id: String,
    pub action: Action,
    /// "done", "failed" or "skipped".
    pub result: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub outcomes: Vec<Outcome>,
    pub ingestion: Vec<JobResult>,
}

/// Refuses a plan deploy must not execute: resources owned by someone else, or replacements
/// without `--allow-replace`. Nothing has been changed when this fails.
pub fn check(p: &Plan, allow_replace: bool) -> Result<()> {
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
    if !replaced.is_empty() && !allow_replace {
        return Err(Error::Refused {
            message: format!(
                "deploy would replace {}: these settings cannot change in place; nothing was changed",
                replaced.join(", ")
            ),
            help: "review with `ragstack plan`, then deploy with --allow-replace: the replaced resources are deleted \
                   and recreated, and their documents are re-ingested from the data sources"
                .into(),
        });
    }
    Ok(())
}

/// Executes a checked plan; returns what happened to each resource. Replacements are deleted
/// first (data sources, knowledge base, index, collection: inside out), then everything is
/// applied along the graph, and ingestion starts as soon as its data sources are ready.
pub async fn apply(ctx: &Arc<Ctx>, p: &Plan, sync: bool) -> Result<Applied> {
    let mut items: Vec<Item> = p.items.clone();
    let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
    let noop_step = |id: &str| Step { ctx: ctx.clone(), id: id.to_string(), exists: Box::new(|| {}) };

    // 1. Replacements: delete from the inside out, then treat as absent.
    let mut delete_order: Vec<usize> =
        items.iter().enumerate().filter(|(_, i)| i.action == Action::Replace).map(|(n, _)| n).collect();
    delete_order.reverse();
    for n in delete_order {
        let step = noop_step(&items[n].id);
        resources::delete(&step, &items[n].observation).await?;
        items[n].observation = Observation::absent();
    }

    // 2. One task per resource, gated on its dependencies' levels.
    let mut senders: HashMap<String, watch::Sender<Level>> = HashMap::new();
    let mut receivers: HashMap<String, watch::Receiver<Level>> = HashMap::new();
    for id in &ids {
        let (tx, rx) = watch::channel(Level::Pending);
        senders.insert(id.clone(), tx);
        receivers.insert(id.clone(), rx);
    }
    // 3 (started now). Ingestion for data sources created, changed or never synced, as soon as
    // they are ready: the serving path, built meanwhile, is not on its critical path.
    let ingestion_task = sync.then(|| {
        let wanted: Vec<(String, watch::Receiver<Level>)> = items
            .iter()
            .filter(|i| i.action != Action::NoOp || i.observation.needs_sync)
            .filter(|i| data_source::name_of_id(&i.id).is_some())
            .map(|i| (i.id.clone(), receivers[&i.id].clone()))
            .collect();
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let mut to_sync = Vec::new();
            for (id, mut rx) in wanted {
                let ready =
                    rx.wait_for(|l| matches!(l, Level::Ready | Level::Failed)).await.map(|l| *l == Level::Ready);
                let name = data_source::name_of_id(&id).expect("a data source id").to_string();
                let ds_id = ctx.data_source_ids.lock().expect("ids lock").get(&name).cloned();
                if let (Ok(true), Some(ds_id)) = (ready, ds_id) {
                    to_sync.push((name, ds_id));
                }
            }
            if to_sync.is_empty() {
                return Ok(Vec::new());
            }
            ingestion::run(&ctx, &to_sync, ingestion::JOB_DEADLINE).await
        })
    });
    let mut set = JoinSet::new();
    for item in items.iter().cloned() {
        let ctx = ctx.clone();
        let tx = senders.remove(&item.id).expect("one sender per resource");
        let deps: Vec<(String, Needs, watch::Receiver<Level>, Action)> = item
            .depends_on
            .iter()
            .filter_map(|d| {
                let rx = receivers.get(&d.on)?.clone();
                let action = items.iter().find(|i| i.id == d.on).map_or(Action::NoOp, |i| i.action);
                Some((d.on.clone(), d.needs, rx, action))
            })
            .collect();
        set.spawn(async move {
            let outcome = run_one(&ctx, item.clone(), deps, tx).await;
            (item, outcome)
        });
    }
    let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
    while let Some(joined) = set.join_next().await {
        let (item, outcome) = joined.expect("apply tasks do not panic");
        let (result, error) = match outcome {
            Ok(true) => ("done", None),
            Ok(false) => ("skipped", None),
            Err(e) => ("failed", Some(e)),
        };
        outcomes.insert(item.id.clone(), Outcome { id: item.id, action: item.action, result: result.into(), error });
    }
    let ordered: Vec<Outcome> = ids.iter().filter_map(|id| outcomes.remove(id)).collect();
    let failures: Vec<String> = ordered
        .iter()
        .filter(|o| o.result != "done")
        .map(|o| format!("{}: {}", o.id, o.error.clone().unwrap_or_else(|| "skipped: a dependency failed".into())))
        .collect();
    // The ingestion of ready data sources is followed to its end even when another resource
    // failed: documents are not left half-ingested without the user seeing it.
    let ingestion = match ingestion_task {
        Some(task) => task.await.expect("the ingestion task does not panic"),
        None => Ok(Vec::new()),
    };
    if !failures.is_empty() {
        ctx.report.finish();
        return Err(Error::Incomplete {
            message: format!("deploy did not finish:\n  {}", failures.join("\n  ")),
            help: Some("fix the cause and run deploy again: it resumes where this run stopped".into()),
        });
    }
    Ok(Applied { outcomes: ordered, ingestion: ingestion? })
}

/// Waits for the dependencies, applies one resource, signals its level. Ok(false) = skipped.
async fn run_one(
    ctx: &Arc<Ctx>,
    item: Item,
    deps: Vec<(String, Needs, watch::Receiver<Level>, Action)>,
    tx: watch::Sender<Level>,
) -> std::result::Result<bool, String> {
    let tx = Arc::new(tx);
    let mut dependency_changed = false;
    for (on, needs, mut rx, action) in deps {
        let wanted = if needs == Needs::Ready { Level::Ready } else { Level::Exists };
        let level = rx
            .wait_for(|l| *l == Level::Failed || *l == Level::Ready || (*l == Level::Exists && wanted == Level::Exists))
            .await
            .map(|l| *l)
            .unwrap_or(Level::Failed);
        if level == Level::Failed {
            let _ = tx.send(Level::Failed);
            ctx.report.resource(&item.id, "skipped", &format!("{on} failed"));
            return Ok(false);
        }
        dependency_changed |= action != Action::NoOp;
    }
    let signal = tx.clone();
    let step = Step {
        ctx: ctx.clone(),
        id: item.id.clone(),
        exists: Box::new(move || {
            signal.send_if_modified(|l| {
                let change = *l == Level::Pending;
                if change {
                    *l = Level::Exists;
                }
                change
            });
        }),
    };
    let mut obs = item.observation.clone();
    let mut action = item.action;
    // Documents and ARNs may have changed with what was just created: look again.
    if dependency_changed && obs.exists {
        let r = ctx.resource(&item.id).map_err(|e| e.to_string())?;
        obs = resources::observe(ctx, &r).await.map_err(|e| e.to_string())?;
        action = action_of(&obs);
    }
    if action == Action::NoOp && obs.exists {
        ctx.report.resource(&item.id, "unchanged", "");
        let _ = tx.send(Level::Ready);
        return Ok(true);
    }
    match resources::apply(&step, &obs).await {
        Ok(()) => {
            let verb = match item.action {
                Action::Create => "created",
                Action::Replace => "replaced",
                Action::Wait => "ready",
                _ => "updated",
            };
            ctx.report.resource(&item.id, "done", verb);
            let _ = tx.send(Level::Ready);
            Ok(true)
        }
        Err(e) => {
            let message = e.to_string();
            ctx.report.resource(&item.id, "failed", &message);
            let _ = tx.send(Level::Failed);
            Err(message)
        }
    }
}
