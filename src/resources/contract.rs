//! The resource contract every kind implements (docs/ARCHITECTURE.md, "The resource contract"):
//! [`Kind`], the [`Resource`] it declares, the [`Observation`] it makes, and the helpers kinds share.

use crate::aws::AwsError;
use crate::config::Environment;
use crate::context::{Ctx, Id, Known, Step};
use crate::error::{Error, Result};
use crate::ingestion::JobResult;
use crate::render::Templates;
use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One AWS resource kind: how the environment's resources of this kind are declared, read,
/// created or updated, and deleted.
#[async_trait]
pub trait Kind: Send + Sync {
    /// The resources of this kind the environment wants (none, one or several), rendered with
    /// the ids known so far.
    fn desired(&self, inputs: &Inputs) -> Result<Vec<Resource>>;

    /// Reads what exists of `r` and diffs it against `r`, without changing anything. Records the
    /// id AWS assigned it (`Ctx::assign`) when ragstack owns it.
    async fn observe(&self, ctx: &Ctx, r: &Resource) -> Result<Observation>;

    /// Creates or updates `r` as `obs` says, then waits until it is ready. Calls `step.exists`
    /// as soon as its id is known, so what needs only its ARN may start.
    async fn apply(&self, step: &Step, r: &Resource, obs: &Observation) -> Result<()>;

    /// Deletes `r` and waits until it is gone; one already gone is fine.
    async fn delete(&self, step: &Step, r: &Resource, obs: &Observation) -> Result<()>;

    /// Resources of this kind that exist although the environment no longer declares them
    /// (`declared` are the ids it does declare), with their observations: teardown deletes them.
    async fn leftovers(&self, _ctx: &Ctx, _declared: &[Id]) -> Result<Vec<(Resource, Observation)>> {
        Ok(Vec::new())
    }

    /// Adds to an existing resource's observation what only `status` reports and costs calls
    /// deploy and plan do not need (whether a data source's documents changed since its last
    /// ingestion, the sync trigger's last job).
    async fn inspect(&self, _ctx: &Ctx, _r: &Resource, _obs: &mut Observation) -> Result<()> {
        Ok(())
    }

    /// The resource as CloudFormation resources (logical id, resource), for `ragstack export`:
    /// the names, settings and documents `apply` sends. Ids AWS assigns appear as the placeholders
    /// `export` puts in `Known`, which it turns into Ref / Fn::GetAtt (docs/ARCHITECTURE.md,
    /// "Export"). A kind without it cannot be exported yet.
    fn cloudformation(&self, _ctx: &Ctx, r: &Resource) -> Result<Vec<(String, Value)>> {
        Err(Error::usage(
            format!("`ragstack export` cannot express the {} {} yet", r.label, r.name),
            Some("deploy this environment directly (ragstack deploy), or turn the setting that needs it off".into()),
        ))
    }

    /// The last `ingest` of a resource that `ingests`, as `status` reports it, from its
    /// observation (after `inspect`).
    fn last_ingest(&self, _ctx: &Ctx, _r: &Resource, _obs: &Observation) -> Option<LastIngest> {
        None
    }

    /// Whether `ingest` applies: deploy runs it once the resource is ready and new, changed or
    /// never ingested.
    fn ingests(&self) -> bool {
        false
    }

    /// Ingests what the resource points at (a data source's documents) and follows it to the end.
    async fn ingest(&self, _ctx: &Arc<Ctx>, r: &Resource) -> Result<JobResult> {
        Err(Error::Incomplete { message: format!("internal: {} has nothing to ingest", r.id), help: None })
    }
}

impl std::fmt::Debug for dyn Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kind")
    }
}

/// A resource's last `ingest`, as its kind words it for `status`.
#[derive(Debug, Clone)]
pub struct LastIngest {
    /// As `status --json` lists it under `ingestion`.
    pub entry: Value,
    /// As `status` prints it under "last ingestion".
    pub line: String,
    /// It completed without failures, and nothing changed since.
    pub healthy: bool,
    /// What is wrong is for `ragstack sync` to mend (never run, failed, or changed since).
    pub sync_mends: bool,
}

/// What a dependent needs from the resource it depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Needs {
    /// Only its name or ARN (it may still be creating).
    Arn,
    /// That it exists and is ready (ACTIVE, propagated).
    Ready,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dependency {
    pub on: Id,
    pub needs: Needs,
}

#[derive(Debug, Clone, Serialize)]
pub struct Document {
    pub template: String,
    pub content: Value,
}

/// One resource of the desired state, as its kind declares it.
#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    /// Stable id within the environment, e.g. `collection` or `data_source.documents`.
    pub id: Id,
    #[serde(skip)]
    pub kind: &'static dyn Kind,
    /// What it is, in words ("IAM role").
    #[serde(rename = "kind")]
    pub label: &'static str,
    pub name: String,
    /// None for kinds AWS gives no ARN (OpenSearch Serverless policies, indexes, data sources).
    pub arn: Option<String>,
    pub depends_on: Vec<Dependency>,
    /// The resource it lives in: deleted with it, and replaced when it is replaced (the index
    /// inside its collection).
    #[serde(skip)]
    pub contained_in: Option<Id>,
    /// Also replaced when one of these is replaced, though not deleted with it (a knowledge base
    /// has no vectors in a new index).
    #[serde(skip)]
    pub replaced_with: Vec<Id>,
    /// Resources whose AWS-assigned ids its observation needs (in ARNs, documents or calls):
    /// it is observed after them.
    #[serde(skip)]
    pub observed_after: Vec<Id>,
    /// Resources that must wait until this one is ready, declared here because they do not
    /// know about it.
    #[serde(skip)]
    pub before: Vec<Id>,
    /// Carries the ownership tags (`ragstack:managed`, `ragstack:environment`).
    pub tagged: bool,
    /// Holds the user's documents: `teardown --keep-documents` keeps it.
    #[serde(skip)]
    pub holds_documents: bool,
    /// AWS assigns its id (a collection's, a knowledge base's): the CloudFormation attribute
    /// that gives it (empty: `Ref` does), for `export`'s placeholders.
    #[serde(skip)]
    pub aws_assigns_id: Option<&'static str>,
    /// Part of the knowledge base's generation, or granting it (the knowledge base, its index and
    /// data sources, the roles and data access policy that name them): a blue/green change builds
    /// these for the new generation before anything serves from it (`blue_green`).
    #[serde(skip)]
    pub generational: bool,
    /// The environment does not want it (a setting that turns it off): deploy deletes it when it
    /// exists, and plan and status leave it out when it does not.
    #[serde(skip)]
    pub unwanted: bool,
    pub settings: Map<String, Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<Document>,
    /// The kind's own typed description of it (a `Spec` in its module), made once by `desired`:
    /// observe, apply and `cloudformation` read it (`Resource::spec`) instead of deriving it again.
    #[serde(skip)]
    pub spec: Option<Arc<dyn std::any::Any + Send + Sync>>,
    /// What a user needs once it exists (its URL, its id), by output name.
    #[serde(skip)]
    pub outputs: BTreeMap<String, String>,
}

impl Resource {
    pub fn new(kind: &'static dyn Kind, id: Id, label: &'static str, name: impl Into<String>) -> Resource {
        Resource {
            id,
            kind,
            label,
            name: name.into(),
            arn: None,
            depends_on: Vec::new(),
            contained_in: None,
            replaced_with: Vec::new(),
            observed_after: Vec::new(),
            before: Vec::new(),
            tagged: false,
            holds_documents: false,
            generational: false,
            aws_assigns_id: None,
            unwanted: false,
            settings: Map::new(),
            documents: Vec::new(),
            outputs: BTreeMap::new(),
            spec: None,
        }
    }

    /// Carries `spec`, the kind's typed description of it.
    pub fn with_spec<T: std::any::Any + Send + Sync>(mut self, spec: T) -> Self {
        self.spec = Some(Arc::new(spec));
        self
    }

    /// The typed spec its kind's `desired` gave it.
    pub fn spec<T: std::any::Any>(&self) -> Result<&T> {
        self.spec.as_deref().and_then(|s| s.downcast_ref::<T>()).ok_or_else(|| Error::Incomplete {
            message: format!("internal: {} was declared without its spec", self.id),
            help: None,
        })
    }

    pub fn arn(mut self, arn: String) -> Self {
        self.arn = Some(arn);
        self
    }

    pub fn depends_on(mut self, on: &Id, needs: Needs) -> Self {
        self.depends_on.push(Dependency { on: on.clone(), needs });
        self
    }

    pub fn contained_in(mut self, parent: &Id) -> Self {
        self.contained_in = Some(parent.clone());
        self
    }

    pub fn replaced_with(mut self, other: &Id) -> Self {
        self.replaced_with.push(other.clone());
        self
    }

    pub fn observed_after(mut self, other: &Id) -> Self {
        self.observed_after.push(other.clone());
        self
    }

    pub fn before(mut self, other: &Id) -> Self {
        self.before.push(other.clone());
        self
    }

    pub fn tagged(mut self) -> Self {
        self.tagged = true;
        self
    }

    /// Wanted only when `wanted` (e.g. an API key only with `auth = "api_key"`).
    pub fn wanted_if(mut self, wanted: bool) -> Self {
        self.unwanted = !wanted;
        self
    }

    /// AWS assigns its id, given in CloudFormation by `attribute` (empty: by `Ref`).
    pub fn id_assigned_by_aws(mut self, attribute: &'static str) -> Self {
        self.aws_assigns_id = Some(attribute);
        self
    }

    /// Part of the knowledge base's blue/green generation, or granting it.
    pub fn generational(mut self) -> Self {
        self.generational = true;
        self
    }

    pub fn holding_documents(mut self) -> Self {
        self.holds_documents = true;
        self
    }

    /// The settings `plan` shows (a JSON object).
    pub fn settings(mut self, settings: Value) -> Self {
        if let Value::Object(m) = settings {
            self.settings = m;
        }
        self
    }

    pub fn document(mut self, document: Document) -> Self {
        self.documents.push(document);
        self
    }

    pub fn output(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.outputs.insert(name.into(), value.into());
        self
    }

    /// The `n`th rendered document (in the order `desired` lists them), or null.
    pub fn rendered(&self, n: usize) -> Value {
        self.documents.get(n).map(|d| d.content.clone()).unwrap_or(Value::Null)
    }

    /// The string setting `key`, or "".
    pub fn setting(&self, key: &str) -> &str {
        self.settings.get(key).and_then(Value::as_str).unwrap_or_default()
    }
}

/// The CloudFormation logical id of a resource id: `data_source.documents` is `DataSourceDocuments`.
pub fn logical_id(id: &Id) -> String {
    id.as_str()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w[..1].to_ascii_uppercase() + &w[1..])
        .collect()
}

/// The environment's tags as CloudFormation's list of `Key`/`Value` (most resource types).
pub fn cfn_tags(ctx: &Ctx) -> Value {
    Value::Array(ctx.env.tags().into_iter().map(|(k, v)| serde_json::json!({"Key": k, "Value": v})).collect())
}

/// A CloudFormation resource of `kind` with `properties`.
pub fn cfn(kind: &str, properties: Value) -> Value {
    serde_json::json!({"Type": kind, "Properties": properties})
}

/// What a kind's `desired` builds from: the environment, the ids known so far, and the
/// templates with their variables.
pub struct Inputs<'a> {
    pub env: &'a Environment,
    pub known: &'a Known,
    templates: &'a Templates,
    vars: Value,
}

impl<'a> Inputs<'a> {
    pub fn new(env: &'a Environment, known: &'a Known, templates: &'a Templates, vars: Value) -> Inputs<'a> {
        Inputs { env, known, templates, vars }
    }
    /// Renders `templates/NAME.hbs`.
    pub fn document(&self, name: &str) -> Result<Document> {
        Ok(Document {
            template: format!("templates/{name}.hbs"),
            content: self.templates.render_json(name, &self.vars)?,
        })
    }

    /// The variables every template sees.
    pub fn vars(&self) -> &Value {
        &self.vars
    }

    /// The text of `templates/NAME` (code and pages shipped as they are).
    pub fn asset(&self, name: &str) -> &str {
        self.templates.asset(name)
    }
}

/// One changed field; `replace` when AWS cannot change it in place.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub field: String,
    pub from: Value,
    pub to: Value,
    pub replace: bool,
}

/// Where a resource is in its lifecycle, whatever words its service uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Creating,
    Updating,
    Ready,
    Deleting,
    Failed,
}

/// A resource's status: the phase ragstack acts on, and AWS's own word for it (shown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub phase: Phase,
    pub aws: String,
}

impl Status {
    pub fn new(phase: Phase, aws: impl Into<String>) -> Status {
        Status { phase, aws: aws.into() }
    }
}

impl Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.aws)
    }
}

/// What exists of one resource, compared with the desired state.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Observation {
    pub exists: bool,
    /// The id AWS assigned (collection, knowledge base, data source).
    pub id: Option<String>,
    /// AWS's status when it matters (CREATING, ACTIVE, FAILED...).
    pub status: Option<Status>,
    pub changes: Vec<Change>,
    /// Set when a resource of this name exists but ragstack's environment does not own it.
    pub foreign: Option<String>,
    /// Could not be read yet (e.g. the index of a collection still CREATING): checked again at apply.
    pub unknown: Option<String>,
    /// Its `ingest` has never completed (a data source never synced): deploy runs it even when
    /// nothing changed, and plan says so (`needs_sync` in `plan --json`, as before).
    #[serde(rename = "needs_sync")]
    pub needs_ingest: bool,
    /// Work waiting for `ragstack sync` that this resource holds (the sync trigger's failed
    /// events), in words (set by `inspect`, for status).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_pending: Option<String>,
    /// What the kind keeps of what it read, for its own `inspect` and `last_ingest` (a data
    /// source's last job and whether documents changed since); nobody else reads it.
    #[serde(skip)]
    pub kind_state: Option<Arc<dyn std::any::Any + Send + Sync>>,
    /// What its kind adds to the observation as `plan --json` prints it (a data source's
    /// `last_job`).
    #[serde(flatten)]
    pub reported: Map<String, Value>,
    /// Facts `status` reports besides the state (who may call the API, today's quota use).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, Value>,
}

impl Observation {
    pub fn absent() -> Observation {
        Observation::default()
    }

    pub fn present(id: Option<String>) -> Observation {
        Observation { exists: true, id, ..Observation::default() }
    }

    /// Absent, but on its way out: the run waits until it is gone.
    pub fn deleting(id: Option<String>, aws: impl Into<String>) -> Observation {
        Observation { id, status: Some(Status::new(Phase::Deleting, aws)), ..Observation::absent() }
    }

    /// Exists, or is on its way out (a collection or knowledge base DELETING).
    pub fn exists_or_deleting(&self) -> bool {
        self.exists || self.is(Phase::Deleting)
    }

    pub fn is(&self, phase: Phase) -> bool {
        self.status.as_ref().is_some_and(|s| s.phase == phase)
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
        Some(why) => Err(Error::Refused {
            message: format!("{what}: {why}"),
            help: "ragstack never modifies what it does not own: delete or rename it, or use another `prefix` in \
                   the environment file"
                .into(),
        }),
        None => Ok(again),
    }
}

/// What a create call came to that a concurrent (or interrupted) run may have beaten: None when
/// it created the resource; when AWS answers that it exists already (`exists`), the observation
/// of the one there to converge from, refused when it is not ours; else the error.
pub async fn created<T>(
    kind: &dyn Kind,
    ctx: &Ctx,
    r: &Resource,
    result: std::result::Result<T, AwsError>,
    exists: impl Fn(&AwsError) -> bool,
    what: &str,
) -> Result<Option<Observation>> {
    match result {
        Ok(_) => Ok(None),
        Err(e) if exists(&e) => Ok(Some(ours(kind.observe(ctx, r).await?, what)?)),
        Err(e) => Err(Error::aws(format!("create {what}"), e)),
    }
}

/// Among resources of one name where AWS does not make names unique (REST APIs, API keys, usage
/// plans), the one this environment owns.
pub fn owned<'a, T>(ctx: &Ctx, all: &'a [T], tags: impl Fn(&T) -> BTreeMap<String, String>) -> Option<&'a T> {
    all.iter().find(|x| ctx.ownership(&tags(x)).is_none())
}

/// The observation when none of `all` is [`owned`]: the first of them, not ragstack's, or absent.
pub fn none_owned<T>(
    ctx: &Ctx,
    all: &[T],
    tags: impl Fn(&T) -> BTreeMap<String, String>,
    id: impl for<'b> Fn(&'b T) -> Option<&'b str>,
) -> Observation {
    match all.first() {
        Some(other) => {
            Observation { foreign: ctx.ownership(&tags(other)), ..Observation::present(id(other).map(str::to_string)) }
        }
        None => Observation::absent(),
    }
}

/// The result of a deletion: "not found" means it is already gone, which is what was wanted.
pub fn gone<T>(result: std::result::Result<T, AwsError>, action: impl Into<String>) -> Result<()> {
    match result {
        Err(e) if !e.is_not_found() => Err(Error::aws(action, e)),
        _ => Ok(()),
    }
}
