//! S3 data sources of the knowledge base. They carry no tags: ragstack owns them by name under
//! its own knowledge base. Chunking cannot change after creation (a replace, which re-ingests the
//! documents); the bucket, prefixes and deletion policy can. `dataDeletionPolicy = RETAIN`, because
//! DELETE can leave a data source stuck in DELETE_UNSUCCESSFUL, blocking the knowledge base's
//! deletion.

mod chunking;

use super::ids;
use chunking::{chunking_cfn, chunking_configuration, chunking_json, observed_chunking};
use super::{LastIngest, 
    Ctx, Id, Inputs, Kind, Needs, Observation, Phase, Resource, Status, Step, failed,
};
use crate::aws::{AwsError, aws};
use crate::config::{Chunking, StoreKind};
use crate::error::{Error, Result};
use crate::ingestion::{self, JobResult};
use crate::wait;
use async_trait::async_trait;
use aws_sdk_bedrockagent::types::{
    DataDeletionPolicy, DataSource as AwsDataSource, DataSourceConfiguration,
    DataSourceStatus, DataSourceType, IngestionJobFilter, IngestionJobFilterAttribute,
    IngestionJobFilterOperator, IngestionJobStatus, ManagedKnowledgeBaseConnectorConfiguration,
    S3DataSourceConfiguration, VectorIngestionConfiguration,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const DELETE_DEADLINE: Duration = Duration::from_secs(10 * 60);
/// A managed connector's creation is asynchronous; no duration is documented.
const AVAILABLE_DEADLINE: Duration = Duration::from_secs(10 * 60);

pub struct DataSource;

/// The id of the data source named `name` in the environment file.
pub fn id_of(name: &str) -> Id {
    Id::new(format!("data_source.{name}"))
}

fn status(s: &DataSourceStatus) -> Status {
    let phase = match s {
        // A managed knowledge base's data source is created asynchronously.
        DataSourceStatus::Creating => Phase::Creating,
        DataSourceStatus::Deleting => Phase::Deleting,
        DataSourceStatus::DeleteUnsuccessful => Phase::Failed,
        _ => Phase::Ready,
    };
    Status::new(phase, s.as_str())
}

/// The resource of a data source: declared by the environment file (with its entry and the
/// inputs), or found in the knowledge base without being declared (None: teardown deletes it).
fn resource(name: &str, declared: Option<(&crate::config::DataSource, &Inputs)>) -> Resource {
    // Ref is `KnowledgeBaseId|DataSourceId`; the attribute DataSourceId is the id alone
    // (AWS::Bedrock::DataSource's return values).
    let mut r = Resource::new(&DataSource, id_of(name), "Bedrock data source (S3)", name)
        .id_assigned_by_aws("DataSourceId")
        .generational()
        .depends_on(&ids::KNOWLEDGE_BASE, Needs::Ready)
        .contained_in(&ids::KNOWLEDGE_BASE)
        .observed_after(&ids::KNOWLEDGE_BASE);
    let Some((ds, i)) = declared else { return r };
    if ds.bucket.is_none() {
        r = r.depends_on(&ids::DOCUMENTS_BUCKET, Needs::Ready);
    }
    r.settings(json!({
        "bucket": i.env.names.bucket_arn(i.env.data_source_bucket(ds)),
        "bucket_owned_by_ragstack": ds.bucket.is_none(),
        "inclusion_prefixes": ds.inclusion_prefixes,
        "connector": if i.env.file.vector_store.kind == StoreKind::Managed { "MANAGED_KNOWLEDGE_BASE_CONNECTOR" } else { "S3" },
        "chunking": match &i.env.chunking {
            Some(c) => serde_json::to_value(c).expect("chunking serializes"),
            None => json!("Bedrock's (a managed knowledge base)"),
        },
        "data_deletion_policy": deletion_policy(i.env).as_str(),
    }))
    .with_spec(Spec::new(i.env, ds))
    .output(format!("data_source.{name}"), i.known.id(&id_of(name)).unwrap_or(crate::naming::AFTER_APPLY))
}

/// What a declared data source is, made once by `desired`: where it reads, how it chunks and
/// what deleting it does to the vectors.
#[derive(Debug)]
struct Spec {
    bucket: String,
    /// The key prefix its documents are under (status looks for changes there).
    prefix: String,
    inclusion_prefixes: Vec<String>,
    deletion_policy: DataDeletionPolicy,
    /// None for a managed knowledge base: Bedrock chunks its documents itself.
    chunking: Option<Chunking>,
    source: DataSourceConfiguration,
}

impl Spec {
    fn new(env: &crate::config::Environment, ds: &crate::config::DataSource) -> Spec {
        Spec {
            bucket: env.data_source_bucket(ds).to_string(),
            prefix: ds.prefix().to_string(),
            inclusion_prefixes: ds.inclusion_prefixes.clone(),
            deletion_policy: deletion_policy(env),
            chunking: env.chunking.clone(),
            source: source_configuration(env, ds),
        }
    }
}

/// All data sources of a knowledge base: (name, id).
pub async fn list(ctx: &Ctx, kb: &str) -> std::result::Result<Vec<(String, String)>, AwsError> {
    let mut found = Vec::new();
    let mut pages = ctx.clients.agent.list_data_sources().knowledge_base_id(kb).max_results(100).into_paginator().send();
    while let Some(page) = pages.next().await {
        let out = page.map_err(aws)?;
        found
            .extend(out.data_source_summaries().iter().map(|d| (d.name().to_string(), d.data_source_id().to_string())));
    }
    Ok(found)
}

async fn get(ctx: &Ctx, kb: &str, id: &str) -> std::result::Result<Option<AwsDataSource>, AwsError> {
    match ctx.clients.agent.get_data_source().knowledge_base_id(kb).data_source_id(id).send().await.map_err(aws) {
        Ok(out) => Ok(out.data_source),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// The deletion policy ragstack sets: RETAIN (a knowledge base whose data source was deleted with
/// DELETE can stick in DELETE_UNSUCCESSFUL), except for a managed knowledge base, where "the only
/// supported option is DELETE, which is also the default" (CreateDataSource, botocore's
/// bedrock-agent model).
fn deletion_policy(env: &crate::config::Environment) -> DataDeletionPolicy {
    if env.file.vector_store.kind == StoreKind::Managed { DataDeletionPolicy::Delete } else { DataDeletionPolicy::Retain }
}

/// A managed knowledge base reads S3 through its own connector: MANAGED_KNOWLEDGE_BASE_CONNECTOR
/// whose connectorParameters are free-form in the API model; `type` and `version` ("1") are required
/// ("Connect a data source", Bedrock User Guide). The S3 keys (connectionConfiguration.bucketName,
/// bucketOwnerAccountId, filterConfiguration.inclusionPrefixes) are from third-party code written
/// against the "Amazon S3" connector page of managed knowledge bases, which was not readable here:
/// only a real account confirms them (docs/costs-and-vector-stores.md, "Bedrock-managed knowledge bases").
fn connector_parameters(env: &crate::config::Environment, ds: &crate::config::DataSource) -> Value {
    let mut params = json!({
        "type": "S3",
        "version": "1",
        "connectionConfiguration": {
            "bucketName": env.data_source_bucket(ds),
            "bucketOwnerAccountId": env.names.account,
        },
    });
    if !ds.inclusion_prefixes.is_empty() {
        params["filterConfiguration"] = json!({"inclusionPrefixes": ds.inclusion_prefixes});
    }
    params
}

/// The bucket (name) and inclusion prefixes a data source reads, from either shape.
fn location(current: &AwsDataSource) -> (String, Vec<String>) {
    let config = current.data_source_configuration();
    if let Some(s3) = config.and_then(|c| c.s3_configuration()) {
        let bucket = s3.bucket_arn().rsplit(':').next().unwrap_or_default().to_string();
        return (bucket, s3.inclusion_prefixes().to_vec());
    }
    let params = config
        .and_then(|c| c.managed_knowledge_base_connector_configuration())
        .and_then(|m| m.connector_parameters())
        .map(crate::aws::from_document)
        .unwrap_or_default();
    let bucket = params["connectionConfiguration"]["bucketName"].as_str().unwrap_or_default().to_string();
    let prefixes = params["filterConfiguration"]["inclusionPrefixes"].as_array().cloned().unwrap_or_default();
    (bucket, prefixes.iter().filter_map(|p| p.as_str().map(str::to_string)).collect())
}

fn source_configuration(env: &crate::config::Environment, ds: &crate::config::DataSource) -> DataSourceConfiguration {
    if env.file.vector_store.kind == StoreKind::Managed {
        let connector = ManagedKnowledgeBaseConnectorConfiguration::builder()
            .connector_parameters(crate::aws::to_document(&connector_parameters(env, ds)))
            .build();
        return DataSourceConfiguration::builder()
            .r#type(DataSourceType::ManagedKnowledgeBaseConnector)
            .managed_knowledge_base_connector_configuration(connector)
            .build()
            .expect("type is set");
    }
    let s3 = S3DataSourceConfiguration::builder()
        .bucket_arn(env.names.bucket_arn(env.data_source_bucket(ds)))
        .set_inclusion_prefixes((!ds.inclusion_prefixes.is_empty()).then(|| ds.inclusion_prefixes.clone()))
        .build()
        .expect("bucket is set");
    DataSourceConfiguration::builder().r#type(DataSourceType::S3).s3_configuration(s3).build().expect("type is set")
}

/// How many pages of ListObjectVersions (1,000 versions each) status reads under a prefix at most:
/// a bounded number of calls, whatever the bucket holds.
const STALENESS_PAGES: usize = 20;

/// What observing a data source learnt of its ingestion: its most recent job, and (from
/// `inspect`) whether documents changed after the last completed one started.
#[derive(Debug)]
struct Ingested {
    last_job: Option<JobResult>,
    stale: Option<bool>,
}

fn ingested(obs: &Observation) -> Option<&Ingested> {
    obs.kind_state.as_ref()?.downcast_ref::<Ingested>()
}

/// What the look for changes found.
struct Changes {
    /// The newest change seen: an object version or delete marker, as (key, when).
    newest: Option<(String, aws_smithy_types::DateTime)>,
    /// Whether every version under the prefix was seen (not stopped early or capped).
    complete: bool,
}

/// The changes under `prefix` (a deleted document leaves a delete marker in a versioned bucket).
/// The look stops at the first change after `since` (the prefix is stale then, whatever else it
/// holds) and after `STALENESS_PAGES` pages.
async fn newest_change(
    ctx: &Ctx,
    bucket: &str,
    prefix: &str,
    since: &aws_smithy_types::DateTime,
) -> Result<Changes> {
    let mut newest: Option<(String, aws_smithy_types::DateTime)> = None;
    let later = |newest: &mut Option<(String, aws_smithy_types::DateTime)>, key: Option<&str>, at: Option<&aws_smithy_types::DateTime>| {
        if let (Some(key), Some(at)) = (key, at)
            && newest.as_ref().is_none_or(|(_, n)| at.as_nanos() > n.as_nanos())
        {
            *newest = Some((key.to_string(), *at));
        }
    };
    let (mut key_marker, mut version_marker) = (None, None);
    for _ in 0..STALENESS_PAGES {
        let out = ctx
            .clients
            .s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(key_marker)
            .set_version_id_marker(version_marker)
            .send()
            .await
            .map_err(aws)
            .map_err(failed(&format!("list the documents in s3://{bucket}/{prefix}")))?;
        out.versions().iter().for_each(|v| later(&mut newest, v.key(), v.last_modified()));
        out.delete_markers().iter().for_each(|m| later(&mut newest, m.key(), m.last_modified()));
        let truncated = out.is_truncated() == Some(true);
        let changed = newest.as_ref().is_some_and(|(_, at)| at.secs() > since.secs());
        if !truncated || changed {
            return Ok(Changes { newest, complete: !truncated });
        }
        key_marker = out.next_key_marker().map(str::to_string);
        version_marker = out.next_version_id_marker().map(str::to_string);
    }
    Ok(Changes { newest, complete: false })
}

/// Switches the data source to RETAIN (when it is not), deletes it, and waits until it is gone.
pub async fn delete_one(step: &Step, kb: &str, id: &str, name: &str) -> Result<()> {
    let ctx = &step.ctx;
    let agent = &ctx.clients.agent;
    let Some(current) = get(ctx, kb, id).await.map_err(failed(&format!("read data source {name}")))? else {
        return Ok(());
    };
    // A managed knowledge base's data sources only take DELETE (`deletion_policy`).
    let managed = current.data_source_configuration().is_some_and(|c| c.r#type() == &DataSourceType::ManagedKnowledgeBaseConnector);
    if !managed && current.data_deletion_policy() != Some(&DataDeletionPolicy::Retain) {
        step.progress("updating", &format!("data source {name}: deletion policy RETAIN"));
        agent
            .update_data_source()
            .knowledge_base_id(kb)
            .data_source_id(id)
            .name(name)
            .set_data_source_configuration(current.data_source_configuration().cloned())
            .set_vector_ingestion_configuration(current.vector_ingestion_configuration().cloned())
            .data_deletion_policy(DataDeletionPolicy::Retain)
            .send()
            .await
            .map_err(aws)
            .map_err(failed(&format!("set RETAIN on data source {name}")))?;
    }
    step.progress("deleting", &format!("data source {name}"));
    match agent.delete_data_source().knowledge_base_id(kb).data_source_id(id).send().await.map_err(aws) {
        Ok(_) => {}
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(Error::aws(format!("delete data source {name}"), e)),
    }
    ctx.assign(&id_of(name), None);
    wait::until(step, "the data source to finish deleting", DELETE_DEADLINE, || async {
        let ds = get(ctx, kb, id).await.map_err(failed(&format!("read data source {name}")))?;
        Ok(ds.is_none().then_some(()))
    })
    .await
}

/// Waits until a new data source is AVAILABLE: a managed knowledge base creates it asynchronously
/// ("The data source status transitions from CREATING to AVAILABLE", Connect a data source); an
/// S3 one is AVAILABLE at once.
async fn wait_available(step: &Step, kb: &str, id: &str, name: &str) -> Result<()> {
    wait::until(step, "the data source to become AVAILABLE", AVAILABLE_DEADLINE, || async {
        let current = get(&step.ctx, kb, id).await.map_err(failed(&format!("read data source {name}")))?;
        match current.as_ref().map(|d| d.status()) {
            Some(DataSourceStatus::Available) => Ok(Some(())),
            Some(DataSourceStatus::Failed) => Err(Error::Incomplete {
                message: format!(
                    "data source {name} failed: {}",
                    current.as_ref().map(|d| d.failure_reasons().join("; ")).unwrap_or_default()
                ),
                help: Some("fix the cause (the bucket, the role's access to it) and deploy again".into()),
            }),
            None => Err(Error::Incomplete { message: format!("data source {name} disappeared"), help: None }),
            _ => Ok(None),
        }
    })
    .await
}

#[async_trait]
impl Kind for DataSource {
    fn desired(&self, i: &Inputs) -> Result<Vec<Resource>> {
        Ok(i.env.file.data_sources.iter().map(|ds| resource(&ds.name, Some((ds, i)))).collect())
    }

    fn cloudformation(&self, ctx: &Ctx, r: &Resource) -> Result<Vec<(String, Value)>> {
        let spec: &Spec = r.spec()?;
        let mut s3 = json!({"BucketArn": ctx.env.names.bucket_arn(&spec.bucket)});
        if !spec.inclusion_prefixes.is_empty() {
            s3["InclusionPrefixes"] = json!(spec.inclusion_prefixes);
        }
        let properties = json!({
            "KnowledgeBaseId": {"Ref": super::logical_id(&ids::KNOWLEDGE_BASE)},
            "Name": r.name,
            "DataSourceConfiguration": {"Type": "S3", "S3Configuration": s3},
            "VectorIngestionConfiguration": {"ChunkingConfiguration": spec.chunking.as_ref().map(chunking_cfn)},
            "DataDeletionPolicy": spec.deletion_policy.as_str(),
        });
        Ok(vec![(super::logical_id(&r.id), super::cfn("AWS::Bedrock::DataSource", properties))])
    }

    async fn observe(&self, ctx: &Ctx, r: &Resource) -> Result<Observation> {
        let name = r.name.as_str();
        let Some(kb) = ctx.assigned(&ids::KNOWLEDGE_BASE) else { return Ok(Observation::absent()) };
        let read = |e| Error::aws(format!("read data source {name}"), e);
        let Some((_, id)) = list(ctx, &kb).await.map_err(read)?.into_iter().find(|(n, _)| n == name) else {
            return Ok(Observation::absent());
        };
        let Some(current) = get(ctx, &kb, &id).await.map_err(read)? else { return Ok(Observation::absent()) };
        ctx.assign(&r.id, Some(id.clone()));
        let mut obs = Observation::present(Some(id.clone()));
        obs.status = Some(status(current.status()));
        let spec: &Spec = r.spec()?;
        let (bucket, prefixes) = location(&current);
        obs.diff("bucket", bucket, spec.bucket.as_str(), false);
        obs.diff("inclusion_prefixes", prefixes, spec.inclusion_prefixes.clone(), false);
        obs.diff(
            "data_deletion_policy",
            current.data_deletion_policy().map_or("DELETE", |p| p.as_str()),
            spec.deletion_policy.as_str(),
            false,
        );
        if let Some(chunking) = &spec.chunking {
            obs.diff("chunking", observed_chunking(&current), chunking_json(chunking), true);
        }
        let jobs = ctx.clients.agent.list_ingestion_jobs().knowledge_base_id(&kb).data_source_id(&id).send().await;
        let jobs = jobs.map_err(aws).map_err(read)?;
        let summaries = jobs.ingestion_job_summaries();
        obs.needs_ingest = !summaries.iter().any(|j| j.status() == &IngestionJobStatus::Complete);
        let last_job = summaries
            .iter()
            .max_by_key(|j| j.started_at().as_nanos())
            .map(|j| crate::ingestion::JobResult::from_summary(name, j));
        if let Some(job) = &last_job {
            obs.reported.insert("last_job".into(), serde_json::to_value(job).expect("job serializes"));
        }
        obs.kind_state = Some(Arc::new(Ingested { last_job, stale: None }));
        Ok(obs)
    }

    async fn apply(&self, step: &Step, r: &Resource, obs: &Observation) -> Result<()> {
        let ctx = &step.ctx;
        let name = r.name.as_str();
        let Some(kb) = ctx.assigned(&ids::KNOWLEDGE_BASE) else {
            return Err(Error::Incomplete { message: "the knowledge base id is unknown".into(), help: None });
        };
        let agent = &ctx.clients.agent;
        // None for a managed knowledge base: Bedrock chunks its documents itself.
        let spec: &Spec = r.spec()?;
        let ingestion = spec
            .chunking
            .as_ref()
            .map(|c| VectorIngestionConfiguration::builder().chunking_configuration(chunking_configuration(c)).build());
        if !obs.exists {
            step.progress("creating", &format!("in knowledge base {kb}"));
            let created = agent
                .create_data_source()
                .knowledge_base_id(&kb)
                .name(name)
                .description(format!("ragstack {}: s3 documents", ctx.env.name))
                .data_source_configuration(spec.source.clone())
                .set_vector_ingestion_configuration(ingestion)
                .data_deletion_policy(spec.deletion_policy.clone())
                .send()
                .await
                .map_err(aws);
            let id = match created {
                Ok(out) => out.data_source.map(|d| d.data_source_id).unwrap_or_default(),
                Err(e) if e.is_conflict() => {
                    let found = list(ctx, &kb).await.map_err(failed("list data sources"))?;
                    found.into_iter().find(|(n, _)| n == name).map(|(_, id)| id).unwrap_or_default()
                }
                Err(e) => return Err(Error::aws(format!("create data source {name}"), e)),
            };
            ctx.assign(&r.id, Some(id.clone()));
            (step.exists)();
            return wait_available(step, &kb, &id, name).await;
        }
        if obs.is(Phase::Creating) {
            wait_available(step, &kb, obs.id.as_deref().unwrap_or_default(), name).await?;
        }
        if obs.changes.is_empty() {
            return Ok(());
        }
        let fields: Vec<&str> = obs.changes.iter().map(|c| c.field.as_str()).collect();
        step.progress("updating", &fields.join(", "));
        agent
            .update_data_source()
            .knowledge_base_id(&kb)
            .data_source_id(obs.id.clone().unwrap_or_default())
            .name(name)
            .data_source_configuration(spec.source.clone())
            .set_vector_ingestion_configuration(ingestion)
            .data_deletion_policy(spec.deletion_policy.clone())
            .send()
            .await
            .map_err(aws)
            .map_err(failed(&format!("update data source {name}")))?;
        Ok(())
    }

    async fn delete(&self, step: &Step, r: &Resource, obs: &Observation) -> Result<()> {
        let (Some(kb), Some(id)) = (step.ctx.assigned(&ids::KNOWLEDGE_BASE), obs.id.clone()) else { return Ok(()) };
        delete_one(step, &kb, &id, &r.name).await
    }

    /// Data sources the environment file no longer names still live in the knowledge base.
    async fn leftovers(&self, ctx: &Ctx, declared: &[Id]) -> Result<Vec<(Resource, Observation)>> {
        let Some(kb) = ctx.assigned(&ids::KNOWLEDGE_BASE) else { return Ok(Vec::new()) };
        let listed =
            list(ctx, &kb).await.map_err(|e| Error::aws(format!("list the data sources of knowledge base {kb}"), e))?;
        let mut found = Vec::new();
        for (name, id) in listed.into_iter().filter(|(name, _)| !declared.contains(&id_of(name))) {
            // Where its documents are, for plan to say what stops being ingested.
            let read = |e| Error::aws(format!("read data source {name}"), e);
            let current = get(ctx, &kb, &id).await.map_err(read)?;
            let mut obs = Observation::present(Some(id));
            if let Some((bucket, prefixes)) = current.as_ref().map(location).filter(|(b, _)| !b.is_empty()) {
                let places: Vec<String> = if prefixes.is_empty() {
                    vec![format!("s3://{bucket}/")]
                } else {
                    prefixes.iter().map(|p| format!("s3://{bucket}/{p}")).collect()
                };
                obs.details.insert("documents".into(), places.join(", ").into());
            }
            found.push((resource(&name, None), obs));
        }
        Ok(found)
    }

    fn ingests(&self) -> bool {
        true
    }

    /// Its last job as status reports it: never run, or the job with whether documents changed
    /// since (`stale`, from `inspect`).
    fn last_ingest(&self, ctx: &Ctx, r: &Resource, obs: &Observation) -> Option<LastIngest> {
        let state = ingested(obs)?;
        Some(match &state.last_job {
            None => LastIngest {
                entry: json!({"data_source": r.name, "last_job": null}),
                line: format!("{:<26} never run: ragstack sync {} {}", r.name, ctx.env.name, ctx.env.region()),
                healthy: false,
                sync_mends: true,
            },
            Some(job) => {
                let mut entry = serde_json::to_value(job).expect("job serializes");
                entry["stale"] = json!(state.stale);
                let freshness = match state.stale {
                    Some(true) => "; STALE: documents changed since",
                    Some(false) => "; fresh",
                    None => "",
                };
                LastIngest {
                    entry,
                    line: format!(
                        "{:<26} {} at {} (job {}): {} scanned, {} new, {} modified, {} deleted, {} failed{freshness}",
                        r.name,
                        job.status,
                        job.started_at,
                        job.job_id,
                        job.scanned,
                        job.new,
                        job.modified,
                        job.deleted,
                        job.failed
                    ),
                    healthy: job.succeeded() && state.stale != Some(true),
                    sync_mends: state.stale == Some(true) || job.status == "FAILED",
                }
            }
        })
    }

    /// Whether documents changed after the last completed job started: the newest object
    /// version or delete marker under the prefix against the job's start.
    async fn inspect(&self, ctx: &Ctx, r: &Resource, obs: &mut Observation) -> Result<()> {
        let (Some(kb), Some(id)) = (ctx.assigned(&ids::KNOWLEDGE_BASE), obs.id.clone()) else { return Ok(()) };
        // A data source the file no longer declares has no spec: nothing to compare it with.
        let Ok(spec) = r.spec::<Spec>() else { return Ok(()) };
        let read = |e| Error::aws(format!("read the ingestion jobs of data source {}", r.name), e);
        let completed = ctx
            .clients
            .agent
            .list_ingestion_jobs()
            .knowledge_base_id(&kb)
            .data_source_id(&id)
            .filters(
                IngestionJobFilter::builder()
                    .attribute(IngestionJobFilterAttribute::Status)
                    .operator(IngestionJobFilterOperator::Eq)
                    .values(IngestionJobStatus::Complete.as_str())
                    .build()
                    .expect("fields are set"),
            )
            .sort_by(ingestion::newest_first())
            .max_results(1)
            .send()
            .await
            .map_err(aws)
            .map_err(read)?;
        let Some(job) = completed.ingestion_job_summaries().first() else { return Ok(()) };
        let started = job.started_at();
        let changes = newest_change(ctx, &spec.bucket, &spec.prefix, started).await?;
        let newest = changes.newest;
        // S3 keeps modification times to the second: a change in the second the job started
        // counts as seen by it (`sync --upload` starts its job within that second).
        let stale = newest.as_ref().is_some_and(|(_, at)| at.secs() > started.secs());
        obs.kind_state = Some(Arc::new(Ingested { last_job: ingested(obs).and_then(|i| i.last_job.clone()), stale: Some(stale) }));
        let detail = match newest {
            _ if !stale && !changes.complete => format!(
                "ingested: no change since job {} started {started} among the first {} versions under the \
                 prefix (not exact: the rest were not read; `ragstack sync` ingests whatever changed)",
                job.ingestion_job_id(),
                STALENESS_PAGES * 1000
            ),
            Some((key, at)) if stale => format!(
                "changed after the last completed ingestion (job {} started {started}): {key} at {at}; \
                 ragstack sync {} {} ingests it",
                job.ingestion_job_id(),
                ctx.env.name,
                ctx.env.region()
            ),
            _ => format!("ingested: nothing changed since job {} started {started}", job.ingestion_job_id()),
        };
        obs.details.insert("documents".into(), detail.into());
        Ok(())
    }

    async fn ingest(&self, ctx: &Arc<Ctx>, r: &Resource) -> Result<JobResult> {
        let (Some(kb), Some(id)) = (ctx.assigned(&ids::KNOWLEDGE_BASE), ctx.assigned(&r.id)) else {
            return Err(Error::Incomplete {
                message: format!("data source {}: not created yet, so nothing to ingest", r.name),
                help: Some("run deploy again: it creates what is missing and ingests".into()),
            });
        };
        let step = ingestion::step(ctx, &r.name);
        let job = ingestion::start(&step, &kb, &id, true).await?;
        ingestion::follow(&step, &kb, &r.name, &id, &job, ingestion::JOB_DEADLINE).await
    }
}
