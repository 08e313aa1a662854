//! Blue/green replacement of the knowledge base (docs/costs-and-vector-stores.md, "Changing the knowledge base without
//! downtime"; docs/ARCHITECTURE.md, "Blue/green"). A change the knowledge base cannot take in
//! place (embedding model, dimensions, chunking, index) builds a new generation beside the one
//! that serves: its index (`-gN`), knowledge base (`-gN`) and data sources, with the shared roles
//! and data access policy granting both. Once every data source of the new generation has
//! completed an ingestion (and, with `[eval] questions`, it answers the set at least as well),
//! the query function and the sync trigger are switched to it, and only then is the old
//! generation deleted and its grants removed.
//!
//! State lives in AWS only: the generations are the environment's knowledge bases by name
//! (`knowledge_base::generations`), and the one serving is the query function's
//! KNOWLEDGE_BASE_ID. A newer generation that does not serve is a change in flight (the next
//! deploy resumes it); an older one beside the serving one is a change switched but not finished
//! (the next deploy deletes it).

use crate::config::{Environment, OtherGeneration};
use crate::engine::{self, Action, Plan};
use crate::error::{Error, ExitStatus, Result};
use crate::eval;
use crate::ingestion::JobResult;
use crate::resources::ids;
use crate::resources::{self, Ctx, Id, Observation, Phase, Resource, Step, knowledge_base, lambda_function};
use std::sync::Arc;

/// What exists of the environment's generations.
#[derive(Debug, Clone, Default)]
pub struct Generations {
    pub all: Vec<knowledge_base::Generation>,
    /// The generation the query function serves from (or the only one; none before a deploy).
    pub serving: Option<u32>,
}

impl Generations {
    /// The newest generation other than the serving one.
    fn other(&self) -> Option<&knowledge_base::Generation> {
        self.all.iter().rev().find(|g| Some(g.number) != self.serving)
    }
}

/// The environment's generations and the serving one: one ListKnowledgeBases call, and with more
/// than one generation their tags and the query function's configuration.
async fn discover(ctx: &Ctx) -> Result<Generations> {
    let all = knowledge_base::generations(ctx).await?;
    let serving = match all.as_slice() {
        [] => None,
        [only] => Some(only.number),
        _ => {
            let id = lambda_function::serving_knowledge_base(ctx).await?;
            // Without a function pointing at one of them (it was never switched, or is gone),
            // the oldest serves: a newer one is only ever made beside a serving one.
            all.iter().find(|g| Some(&g.id) == id.as_ref()).or(all.first()).map(|g| g.number)
        }
    };
    Ok(Generations { all, serving })
}

/// The facts of generation `number` (knowledge base `id`) that the other generation's grants
/// need, read from its knowledge base: the file may name another model or index by now.
async fn facts(ctx: &Ctx, number: u32, id: &str, deleting: bool) -> Result<OtherGeneration> {
    let made = knowledge_base::made_of(ctx, id).await?;
    Ok(OtherGeneration {
        number,
        knowledge_base_id: id.to_string(),
        embedding_model_arn: made.embedding_model,
        vector_index: made.index.unwrap_or_else(|| ctx.env.names.at_generation(number).vector_index),
        deleting,
    })
}

/// The context of the serving generation, with the other live generation (if any) recorded: what
/// every command works on. An environment with one generation (or none yet) is unchanged.
pub async fn at_serving_generation(ctx: Arc<Ctx>) -> Result<Arc<Ctx>> {
    let gens = discover(&ctx).await?;
    let Some(serving) = gens.serving else { return Ok(ctx) };
    let other = match gens.other() {
        Some(g) => Some(facts(&ctx, g.number, &g.id, g.abandoned || g.status.phase == Phase::Deleting).await?),
        None => None,
    };
    if serving == 1 && other.is_none() {
        return Ok(ctx);
    }
    let env = ctx.env.at_generation(serving, other);
    Ok(ctx.with_environment(env, &[]))
}

/// A change in flight: the newer generation not yet serving (and not being deleted: an abandoned
/// one is never resumed).
pub fn in_flight(env: &Environment) -> Option<&OtherGeneration> {
    env.other_generation.as_ref().filter(|o| o.number > env.names.generation && !o.deleting)
}

/// A generation to delete: the older one of a change switched but not finished, or one whose
/// deletion (retire, abandon) was interrupted.
pub fn retiring(env: &Environment) -> Option<&OtherGeneration> {
    env.other_generation.as_ref().filter(|o| o.number < env.names.generation || o.deleting)
}

/// Whether deploy would replace part of the knowledge base's generation, and only that: what a
/// blue/green change can do. Err names what else would change under it: a store both generations
/// stand on (what the generation's resources depend on) replaced, created or deleted (another
/// collection, vector bucket or kind of store), or the managed knowledge base's key, whose grant
/// the serving generation would lose.
pub fn replaces_generation(plan: &Plan) -> Result<bool> {
    let replaced: Vec<_> = plan.items.iter().filter(|i| i.action == Action::Replace).collect();
    let mut under: Vec<Id> = Vec::new();
    let mut next: Vec<Id> = plan
        .items
        .iter()
        .filter(|i| i.resource.generational)
        .flat_map(|i| i.resource.depends_on.iter().map(|d| d.on.clone()))
        .collect();
    while let Some(id) = next.pop() {
        if under.contains(&id) {
            continue;
        }
        if let Some(i) = plan.items.iter().find(|i| i.id == id && !i.resource.generational) {
            next.extend(i.resource.depends_on.iter().map(|d| d.on.clone()));
        }
        under.push(id);
    }
    let mut shared: Vec<String> = plan
        .items
        .iter()
        .filter(|i| !i.resource.generational)
        // A deletion too: the store another kind replaces is no longer depended on, but the
        // serving generation still stands on it (other settings turned off wait for the next deploy).
        .filter(|i| {
            matches!(i.action, Action::Replace | Action::Delete)
                || (under.contains(&i.id) && i.action == Action::Create)
        })
        .map(|i| format!("{} {} ({})", i.kind, i.name, action_word(i.action)))
        .collect();
    shared.extend(
        replaced
            .iter()
            .filter(|i| i.resource.generational && i.observation.changed("kms_key_arn"))
            .map(|i| format!("the key of {} {}", i.kind, i.name)),
    );
    if !shared.is_empty() {
        return Err(Error::Refused {
            message: format!(
                "a blue/green change builds a new knowledge base, index and data sources beside the old ones, but this \
                 change also changes what the serving generation stands on: {}; nothing was changed",
                shared.join(", ")
            ),
            help: "deploy with --allow-replace instead (questions fail until the documents are re-ingested), or \
                   change only the knowledge base's settings (embedding model, dimensions, chunking, index)"
                .into(),
        });
    }
    Ok(!replaced.is_empty())
}

fn action_word(a: Action) -> &'static str {
    match a {
        Action::Create => "created",
        Action::Delete => "deleted",
        _ => "replaced",
    }
}

/// The ids of the generation's own resources in `ctx`'s desired state (forgotten when another
/// generation is rendered).
fn generational_ids(ctx: &Ctx) -> Result<Vec<Id>> {
    Ok(resources::desired(&ctx.env, &ctx.templates, &ctx.known())?
        .into_iter()
        .filter(|r| r.generational)
        .map(|r| r.id)
        .collect())
}

/// What a blue/green deploy did.
pub struct Switched {
    /// The context of the generation now serving, with nothing beside it.
    pub ctx: Arc<Ctx>,
    pub ingestion: Vec<JobResult>,
}

/// A refusal after something changed is no longer "nothing changed": exit 1, with its words.
fn changed_since(e: Error) -> Error {
    match e {
        Error::Refused { message, help } => Error::Incomplete {
            message: message.replace("; nothing was changed", "; the new generation was built and is kept"),
            help: Some(help),
        },
        other => other,
    }
}

/// Ingests every data source of `ctx`'s generation but those named in `skip` (what changed since
/// its last job), one after another, as `ragstack sync` does.
pub async fn ingest_all(ctx: &Arc<Ctx>, skip: &[String]) -> Result<Vec<JobResult>> {
    let mut jobs = Vec::new();
    for r in resources::desired(&ctx.env, &ctx.templates, &ctx.known())?.iter() {
        if r.kind.ingests() && !r.unwanted && !skip.contains(&r.name) {
            jobs.push(r.kind.ingest(ctx, r).await?);
        }
    }
    Ok(jobs)
}

/// Builds (or resumes) generation `new` beside the serving one, ingests it, checks it against
/// `[eval]`, switches to it and retires the old one. `ctx` has been observed (`engine::observe`):
/// the new generation needs its shared ids (the collection's, the bucket's) and the serving
/// knowledge base's. `Ok(Err(code))`: it stopped with the old generation still serving (a worse
/// answer set, a failed ingestion).
pub async fn replace(
    ctx: &Arc<Ctx>,
    new: u32,
    deployer: &str,
    allow_delete: bool,
) -> Result<std::result::Result<Switched, ExitStatus>> {
    let report = &ctx.report;
    let old = ctx.env.names.generation;
    let old_id = ctx
        .assigned(&ids::KNOWLEDGE_BASE)
        .ok_or_else(|| Error::Incomplete { message: "the serving knowledge base disappeared".into(), help: None })?;
    let serving = facts(ctx, old, &old_id, false).await?;
    let forget = generational_ids(ctx)?;
    let next = ctx.with_environment(ctx.env.at_generation(new, Some(serving.clone())), &forget);

    // 1. The new generation and the grants of both, ingested.
    let Some(mut ingestion) = build(&next, old, &old_id, deployer, allow_delete).await? else {
        return Ok(Err(ExitStatus::Failed));
    };
    let new_id = next.assigned(&ids::KNOWLEDGE_BASE).unwrap_or_default();
    report.note(&format!("blue/green: generation {new} ({new_id}) is ACTIVE and ingested"));

    // 2. At least as good as the old one on the environment's question set.
    if !as_good(ctx, &next, &old_id, &new_id).await? {
        return Ok(Err(ExitStatus::Failed));
    }

    // 3. The switch: everything at the new generation, both still granted.
    report.note(&format!("blue/green: switching the query function to generation {new} ({new_id})"));
    let plan = engine::observe(&next, deployer).await?;
    engine::check(&plan, false, allow_delete).map_err(changed_since)?;
    engine::apply(&next, &plan, false).await?;
    // What changed in the documents between the ingestion above and the switch.
    ingestion.extend(ingest_all(&next, &[]).await?);

    // 4. The old generation goes, then its grants (`next` was observed for the switch).
    let done = retire_observed(&next, &serving, deployer).await?;
    Ok(Ok(Switched { ctx: done, ingestion }))
}

/// Builds generation `next` beside generation `old` (`old_id`, serving) and ingests every data
/// source of it; None (after saying why) when an ingestion did not complete.
async fn build(
    next: &Arc<Ctx>,
    old: u32,
    old_id: &str,
    deployer: &str,
    allow_delete: bool,
) -> Result<Option<Vec<JobResult>>> {
    let (report, new) = (&next.report, next.env.names.generation);
    report.note(&format!(
        "blue/green: building generation {new} ({}) beside generation {old} ({old_id}), which keeps serving",
        next.env.names.knowledge_base
    ));
    let plan = engine::observe_generation(next, deployer).await?;
    // Nothing of it serves yet: replacing part of it is what the change is for.
    engine::check(&plan, true, allow_delete)?;
    let applied = engine::apply(next, &plan, true).await?;
    // Every data source ingested now, also those a run before this one ingested (it may have
    // been killed, or its job may have failed): the gate below sees this run's jobs only.
    let ingested: Vec<String> = applied.ingestion.iter().map(|j| j.data_source.clone()).collect();
    let mut ingestion = applied.ingestion;
    ingestion.extend(ingest_all(next, &ingested).await?);
    let incomplete: Vec<String> = ingestion.iter().filter(|j| j.status != "COMPLETE").map(JobResult::line).collect();
    if !incomplete.is_empty() {
        eprintln!(
            "error: the new generation's ingestion did not complete; generation {old} keeps serving:\n  {}",
            incomplete.join("\n  ")
        );
        eprintln!("help: fix the cause (the job's failure reasons above), then deploy again: it resumes");
        return Ok(None);
    }
    for j in ingestion.iter().filter(|j| j.failed > 0) {
        report.note(&format!(
            "blue/green: {} documents failed to ingest into generation {new}: {}",
            j.failed,
            j.line()
        ));
    }
    Ok(Some(ingestion))
}

/// Whether generation `next` (`new_id`) answers at least as well as the serving one (`old_id`)
/// on the environment's question set, within `[eval]`'s tolerance and minimums (says why not).
async fn as_good(ctx: &Arc<Ctx>, next: &Arc<Ctx>, old_id: &str, new_id: &str) -> Result<bool> {
    let (report, old, new) = (&ctx.report, ctx.env.names.generation, next.env.names.generation);
    if let Some(path) = &ctx.env.eval_questions {
        // Checked before the first AWS call with --blue-green; a resumed change reads it here.
        let set = crate::config::questions::load(path, false).map_err(|e| Error::Incomplete {
            message: format!("{e}; generation {old} keeps serving"),
            help: Some("fix the question set, then deploy again: it resumes".into()),
        })?;
        let (was, now) = (eval::measure(ctx, old_id, &set).await?, eval::measure(next, new_id, &set).await?);
        let tolerance = ctx.env.file.eval.max_drop.unwrap_or(0.0);
        let figures =
            |t: &eval::Totals| format!("recall {:.2}, MRR {:.2}", t.recall.unwrap_or(0.0), t.mrr.unwrap_or(0.0));
        report.note(&format!(
            "blue/green: {} on generation {old}, {} on generation {new} ({} questions, tolerance {tolerance:.2})",
            figures(&was),
            figures(&now),
            set.cases.len()
        ));
        let worse = |a: Option<f64>, b: Option<f64>| b.unwrap_or(0.0) + tolerance < a.unwrap_or(0.0);
        let below = |min: Option<f64>, x: Option<f64>| min.is_some_and(|m| x.unwrap_or(0.0) < m);
        let e = &ctx.env.file.eval;
        if worse(was.recall, now.recall)
            || worse(was.mrr, now.mrr)
            || below(e.min_recall, now.recall)
            || below(e.min_mrr, now.mrr)
        {
            eprintln!(
                "error: generation {new} answers {} worse than generation {old} ({}) on {}: not switched; generation \
                 {old} keeps serving",
                figures(&now),
                figures(&was),
                path.display()
            );
            eprintln!(
                "help: generation {new} ({new_id}) is kept for inspection (ragstack eval {} --kb new); change the file \
                 and deploy again, or deploy --abandon to delete it",
                ctx.env.name
            );
            return Ok(false);
        }
    }
    Ok(true)
}

/// Deletes generation `old` (its knowledge base with its data sources, then its index) beside
/// the serving generation of `ctx`, then removes its grants from the shared roles and policies.
/// Returns the serving generation's context with nothing beside it.
pub async fn retire(ctx: &Arc<Ctx>, old: &OtherGeneration, deployer: &str) -> Result<Arc<Ctx>> {
    // Every shared id (the collection's, the vector bucket's) known, as finding its index needs them.
    engine::observe(ctx, deployer).await?;
    retire_observed(ctx, old, deployer).await
}

/// `retire` on a context already observed.
pub async fn retire_observed(ctx: &Arc<Ctx>, old: &OtherGeneration, deployer: &str) -> Result<Arc<Ctx>> {
    ctx.report.note(&format!("blue/green: deleting generation {} ({})", old.number, old.knowledge_base_id));
    let (theirs, own) = resources_of(ctx, old).await?;
    for (r, obs) in own.into_iter().rev() {
        // Their context: a deletion forgets the id it deleted, which the serving one still needs.
        let step = Step { ctx: theirs.clone(), id: r.id.to_string(), exists: Box::new(|| {}) };
        r.kind.delete(&step, &r, &obs).await?;
        ctx.report.resource(r.id.as_str(), "done", "deleted");
    }
    let alone = ctx.with_environment(ctx.env.at_generation(ctx.env.names.generation, None), &[]);
    let mut plan = engine::observe_generation(&alone, deployer).await?;
    // Only the grants: a replacement the file asks for is the next deploy's to refuse or make.
    plan.items.retain(|i| i.action != Action::Replace);
    engine::apply(&alone, &plan, false).await?;
    Ok(alone)
}

/// Generation `other`'s own resources (those named for it: its knowledge base and index, by the
/// names AWS has), in dependency order, with their ids marked `.gN` so they stand beside the
/// serving ones; and the context they were observed in.
pub async fn resources_of(ctx: &Arc<Ctx>, other: &OtherGeneration) -> Result<(Arc<Ctx>, Vec<(Resource, Observation)>)> {
    let number = other.number;
    let forget = generational_ids(ctx)?;
    let mut env = ctx.env.at_generation(number, None);
    env.names.vector_index = other.vector_index.clone();
    let theirs = ctx.with_environment(env, &forget);
    let ours = resources::desired(&ctx.env, &ctx.templates, &ctx.known())?;
    let named_for_it: Vec<Resource> = resources::desired(&theirs.env, &theirs.templates, &theirs.known())?
        .into_iter()
        .filter(|r| r.generational && !r.unwanted && ours.iter().any(|o| o.id == r.id && o.name != r.name))
        .collect();
    let renamed = |id: &Id| Id::new(format!("{id}.g{number}"));
    let ids: Vec<Id> = named_for_it.iter().map(|r| r.id.clone()).collect();
    let mut out = Vec::new();
    for r in named_for_it {
        let obs = r.kind.observe(&theirs, &r).await?;
        if !obs.exists_or_deleting() || obs.foreign.is_some() {
            continue;
        }
        let mut r = r;
        r.id = renamed(&r.id);
        for d in &mut r.depends_on {
            if ids.contains(&d.on) {
                d.on = renamed(&d.on);
            }
        }
        r.contained_in = r.contained_in.filter(|c| !ids.contains(c));
        out.push((r, obs));
    }
    Ok((theirs, out))
}

/// Abandons generation `o` (a change in flight, or one whose abandon was interrupted): marks it,
/// then deletes it; the serving generation stays.
pub async fn abandon(ctx: &Arc<Ctx>, o: &OtherGeneration, deployer: &str) -> Result<Arc<Ctx>> {
    if !o.deleting {
        // First the mark: interrupted from here on, the next deploy finishes the deletion.
        knowledge_base::mark_abandoned(ctx, &o.knowledge_base_id).await?;
    }
    retire(ctx, o, deployer).await
}

/// The generation a new blue/green change builds.
pub fn next_generation(env: &Environment) -> u32 {
    env.names.generation.max(env.other_generation.as_ref().map_or(0, |o| o.number)) + 1
}

/// A blue/green change under way, in words (None when there is none): `status` is unhealthy
/// while it lasts.
pub fn under_way(env: &Environment) -> Option<String> {
    let g = env.names.generation;
    if let Some(o) = in_flight(env) {
        return Some(format!(
            "blue/green change in flight: generation {} ({}) is being built beside generation {g}, which serves; \
             `ragstack deploy {}` resumes it (--abandon deletes it). Both generations run meanwhile.",
            o.number, o.knowledge_base_id, env.name
        ));
    }
    retiring(env).map(|o| {
        format!(
            "blue/green change switched: generation {g} serves; `ragstack deploy {}` deletes generation {} ({}).",
            env.name, o.number, o.knowledge_base_id
        )
    })
}

/// `plan`'s words about a blue/green change: under way, or what `--blue-green` would do.
pub fn plan_note(ctx: &Ctx, plan: &Plan) -> Option<String> {
    let g = ctx.env.names.generation;
    if let Some(words) = under_way(&ctx.env) {
        return Some(words);
    }
    match replaces_generation(plan) {
        Ok(true) => Some(format!(
            "blue/green replace with deploy --blue-green: generation {} is built beside generation {g} and ingested, \
             then served from, then generation {g} is deleted. While both run: {}",
            next_generation(&ctx.env),
            double_cost(&ctx.env)
        )),
        _ => None,
    }
}

/// What running two generations at once costs.
fn double_cost(env: &Environment) -> String {
    use crate::config::StoreKind;
    match env.file.vector_store.kind {
        StoreKind::Opensearch => "the collection is shared (no extra OCUs, the floor below is unchanged); its \
                                  storage holds both indexes, and the new one's embeddings are billed once"
            .into(),
        StoreKind::S3Vectors => "the vector bucket holds both indexes (storage billed twice for the time both \
                                 exist, no idle compute); the new one's embeddings are billed once"
            .into(),
        StoreKind::Managed => "two managed knowledge bases (Bedrock's price for a managed store is not in \
                               ragstack's table)"
            .into(),
    }
}
