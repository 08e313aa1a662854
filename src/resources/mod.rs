//! The resource contract (docs/ARCHITECTURE.md, "The resource contract"): one module per AWS
//! resource kind, each implementing [`Kind`] with the same signatures:
//!
//! - `desired(inputs) -> Vec<Resource>`: the resources of this kind the environment wants, with
//!   their names, ARNs, settings and rendered documents, and the facts the engine needs declared
//!   as data (what each depends on, what contains it, whose assigned ids its observation needs);
//! - `observe(ctx, resource) -> Observation`: read what exists and diff it, changing nothing;
//! - `apply(step, resource, observation)`: create or update it, then wait until it is ready;
//! - `delete(step, resource, observation)`: delete it (a replace, or teardown), wait until gone.
//!
//! The engine, plan, status and teardown see only this interface and [`KINDS`]; adding a kind is
//! one module and one line in `kinds!` below (docs/ARCHITECTURE.md, "Adding a resource kind").

mod contract;
pub mod ids;

pub use crate::context::{Ctx, Id, Known, Step, failed};
pub use contract::{
    Change, Dependency, Document, Inputs, Kind, LastIngest, Needs, Observation, Phase, Resource, Status, cfn, cfn_tags,
    created, gone, logical_id, none_owned, ours, owned,
};

use crate::config::Environment;
use crate::error::Result;
use crate::render::Templates;
use crate::template_vars;

/// Declares each kind's module and lists its kind in [`KINDS`]: one line per kind.
macro_rules! kinds {
    ($($module:ident :: $kind:ident),* $(,)?) => {
        $(pub mod $module;)*
        /// Every resource kind ragstack manages. [`desired`] puts their resources in dependency
        /// order, keeping this order where dependencies leave a choice (so data sources, listed
        /// before roles, come right after their knowledge base, ahead of the query function's role).
        pub static KINDS: &[&dyn Kind] = &[$(&$module::$kind),*];
    };
}

kinds![
    s3_bucket::Bucket,
    aoss_policy::Policy,
    aoss_collection_group::CollectionGroup,
    aoss_collection::Collection,
    s3_vector_bucket::VectorBucket,
    data_source::DataSource,
    iam_role::Role,
    vector_index::VectorIndex,
    s3_vector_index::S3VectorIndex,
    knowledge_base::KnowledgeBase,
    log_group::LogGroup,
    sqs_queue::Queue,
    lambda_function::Function,
    rest_api::RestApi,
    api_stage::Stage,
    api_key::ApiKey,
    usage_plan::UsagePlan,
    bucket_notifications::BucketNotifications,
    sync_rule::Rule,
    sync_schedule::Schedule,
];

/// Every resource of the environment in dependency order, rendered with the ids known so far
/// (so a broken template fails here, before any AWS call).
pub fn desired(env: &Environment, templates: &Templates, known: &Known) -> Result<Vec<Resource>> {
    let inputs = Inputs::new(env, known, templates, variables(env, known));
    let mut all = Vec::new();
    for kind in KINDS {
        all.extend(kind.desired(&inputs)?);
    }
    let befores: Vec<(Id, Id)> = all.iter().flat_map(|r| r.before.iter().map(|b| (b.clone(), r.id.clone()))).collect();
    for (dependent, on) in befores {
        if let Some(r) = all.iter_mut().find(|r| r.id == dependent) {
            r.depends_on.push(Dependency { on, needs: Needs::Ready });
        }
    }
    Ok(in_dependency_order(all))
}

/// `r` declared again by its own kind with the ids known now (the engine's apply, for a resource
/// that names ids AWS assigned during the run, after it was first declared); None when its kind no
/// longer declares it.
pub fn declared_again(
    env: &Environment,
    templates: &Templates,
    known: &Known,
    r: &Resource,
) -> Result<Option<Resource>> {
    let inputs = Inputs::new(env, known, templates, variables(env, known));
    Ok(r.kind.desired(&inputs)?.into_iter().find(|again| again.id == r.id))
}

/// The variables every template sees, with the ids AWS assigned so far.
pub fn variables(env: &Environment, known: &Known) -> serde_json::Value {
    let assigned = template_vars::Assigned {
        collection: known.id(&ids::COLLECTION),
        knowledge_base: known.id(&ids::KNOWLEDGE_BASE),
        rest_api: known.id(&ids::REST_API),
    };
    template_vars::variables(env, known, &assigned)
}

/// Orders resources so each comes after everything it depends on, otherwise keeping the order
/// `KINDS` gives them: repeatedly the first one whose dependencies are all placed.
fn in_dependency_order(mut pending: Vec<Resource>) -> Vec<Resource> {
    let mut ordered: Vec<Resource> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let placed = |id: &Id| ordered.iter().any(|r| r.id == *id) || pending.iter().all(|r| r.id != *id);
        // A dependency cycle would be a declaration bug: place the rest as declared.
        let next = pending.iter().position(|r| r.depends_on.iter().all(|d| placed(&d.on))).unwrap_or(0);
        ordered.push(pending.remove(next));
    }
    ordered
}
