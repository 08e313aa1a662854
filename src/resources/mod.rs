//! One module per AWS resource kind, each with the same small interface:
//!
//! - `observe(ctx, resource) -> Observation`: read what exists (absent, its id and status, whether
//!   ragstack owns it) and diff it against the desired state, without changing anything;
//! - `apply(step, resource, observation)`: create or update it, then wait until it is ready;
//! - `delete(step, observation)`: delete it (a replace, or teardown) and wait until it is gone.
//!
//! The engine (`crate::engine`) only sees this interface.

pub mod aoss_collection;
pub mod aoss_policy;
pub mod api_stage;
pub mod data_source;
pub mod iam_role;
pub mod knowledge_base;
pub mod lambda_function;
pub mod rest_api;
pub mod s3_bucket;
pub mod vector_index;

use crate::aws::AwsError;
pub use crate::context::{Ctx, Step, failed};
use crate::error::{Error, Result};
use crate::plan;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One changed field; `replace` when AWS cannot change it in place.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub field: String,
    pub from: Value,
    pub to: Value,
    pub replace: bool,
}

/// What exists of one resource, compared with the desired state.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Observation {
    pub exists: bool,
    /// The id AWS assigned (collection, knowledge base, data source).
    pub id: Option<String>,
    /// AWS's status when it matters (CREATING, ACTIVE, FAILED...).
    pub status: Option<String>,
    pub changes: Vec<Change>,
    /// Set when a resource of this name exists but ragstack's environment does not own it.
    pub foreign: Option<String>,
    /// Could not be read yet (e.g. the index of a collection still CREATING): checked again at apply.
    pub unknown: Option<String>,
    /// A data source that has never completed an ingestion job.
    pub needs_sync: bool,
    /// A data source's most recent ingestion job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_job: Option<crate::ingestion::JobResult>,
}

impl Observation {
    pub fn absent() -> Observation {
        Observation::default()
    }

    pub fn present(id: Option<String>) -> Observation {
        Observation { exists: true, id, ..Observation::default() }
    }

    /// Records a difference between `from` (what exists) and `to` (what the file asks for).
    pub fn diff(&mut self, field: &str, from: impl Into<Value>, to: impl Into<Value>, replace: bool) {
        let (from, to) = (from.into(), to.into());
        if !crate::aws::same_json(&from, &to) {
            self.changes.push(Change { field: field.to_string(), from, to, replace });
        }
    }

    pub fn diff_tags(&mut self, ctx: &Ctx, current: &BTreeMap<String, String>) {
        let missing = ctx.missing_tags(current);
        if !missing.is_empty() {
            let from: BTreeMap<&String, Option<&String>> = missing.keys().map(|k| (k, current.get(k))).collect();
            self.changes.push(Change {
                field: "tags".into(),
                from: serde_json::to_value(from).unwrap_or_default(),
                to: serde_json::to_value(&missing).unwrap_or_default(),
                replace: false,
            });
        }
    }

    pub fn changed(&self, field: &str) -> bool {
        self.changes.iter().any(|c| c.field == field)
    }
}

/// The fresh observation of a resource a concurrent (or interrupted) run created meanwhile,
/// refused when it turns out not to be ours.
pub fn ours(again: Observation, what: &str) -> Result<Observation> {
    match &again.foreign {
        Some(why) => Err(Error::Incomplete { message: format!("{what}: {why}"), help: None }),
        None => Ok(again),
    }
}

/// The result of a deletion: "not found" means it is already gone, which is what was wanted.
pub fn gone<T>(result: std::result::Result<T, AwsError>, action: impl Into<String>) -> Result<()> {
    match result {
        Err(e) if !e.is_not_found() => Err(Error::aws(action, e)),
        _ => Ok(()),
    }
}

/// The resource kinds, by the id `plan` gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bucket,
    /// OpenSearch Serverless encryption, network and data access policies.
    Policy,
    Collection,
    Role,
    VectorIndex,
    KnowledgeBase,
    DataSource,
    Function,
    RestApi,
    ApiStage,
}

impl Kind {
    pub fn of(id: &str) -> Option<Kind> {
        Some(match id {
            "documents_bucket" => Kind::Bucket,
            "encryption_policy" | "network_policy" | "data_access_policy" => Kind::Policy,
            "collection" => Kind::Collection,
            "knowledge_base_role" | "api_role" => Kind::Role,
            "vector_index" => Kind::VectorIndex,
            "knowledge_base" => Kind::KnowledgeBase,
            "function" => Kind::Function,
            "rest_api" => Kind::RestApi,
            "api_stage" => Kind::ApiStage,
            _ if data_source::name_of_id(id).is_some() => Kind::DataSource,
            _ => return None,
        })
    }
}

pub async fn observe(ctx: &Ctx, r: &plan::Resource) -> Result<Observation> {
    match Kind::of(&r.id).expect("only managed kinds are observed") {
        Kind::Bucket => s3_bucket::observe(ctx, r).await,
        Kind::Policy => aoss_policy::observe(ctx, r).await,
        Kind::Collection => aoss_collection::observe(ctx, r).await,
        Kind::Role => iam_role::observe(ctx, r).await,
        Kind::VectorIndex => vector_index::observe(ctx, r).await,
        Kind::KnowledgeBase => knowledge_base::observe(ctx, r).await,
        Kind::DataSource => data_source::observe(ctx, r).await,
        Kind::Function => lambda_function::observe(ctx, r).await,
        Kind::RestApi => rest_api::observe(ctx, r).await,
        Kind::ApiStage => api_stage::observe(ctx, r).await,
    }
}

pub async fn apply(step: &Step, obs: &Observation) -> Result<()> {
    let r = step.ctx.resource(&step.id)?;
    match Kind::of(&r.id).expect("only managed kinds are applied") {
        Kind::Bucket => s3_bucket::apply(step, &r, obs).await,
        Kind::Policy => aoss_policy::apply(step, &r, obs).await,
        Kind::Collection => aoss_collection::apply(step, &r, obs).await,
        Kind::Role => iam_role::apply(step, &r, obs).await,
        Kind::VectorIndex => vector_index::apply(step, &r, obs).await,
        Kind::KnowledgeBase => knowledge_base::apply(step, &r, obs).await,
        Kind::DataSource => data_source::apply(step, &r, obs).await,
        Kind::Function => lambda_function::apply(step, &r, obs).await,
        Kind::RestApi => rest_api::apply(step, &r, obs).await,
        Kind::ApiStage => api_stage::apply(step, &r, obs).await,
    }
}

/// Deletes a resource (a replace, or teardown) and waits until it is gone; one already gone is
/// fine.
pub async fn delete(step: &Step, obs: &Observation) -> Result<()> {
    let r = step.ctx.resource(&step.id)?;
    match Kind::of(&step.id).expect("only managed kinds are deleted") {
        Kind::Bucket => s3_bucket::delete(step, &r.name).await,
        Kind::Policy => aoss_policy::delete(step, &r).await,
        Kind::Collection => aoss_collection::delete(step, obs).await,
        Kind::Role => iam_role::delete(step, &r.name).await,
        Kind::VectorIndex => vector_index::delete(step, obs).await,
        Kind::KnowledgeBase => knowledge_base::delete(step, obs).await,
        Kind::DataSource => data_source::delete(step, obs).await,
        Kind::Function => lambda_function::delete(step, &r.name).await,
        Kind::RestApi => match &obs.id {
            Some(id) => rest_api::delete(step, id).await,
            None => Ok(()),
        },
        Kind::ApiStage => api_stage::delete(step, &r.name).await,
    }
}
