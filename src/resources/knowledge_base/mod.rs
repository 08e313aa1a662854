//! The Bedrock knowledge base. Names are unique per account and region, so a name taken by a
//! concurrent or interrupted run is read (and adopted when the tags say it is ours). The embedding
//! model, its dimensions and the storage configuration cannot change: a change is a replace. The
//! storage is the OpenSearch Serverless collection's index or the S3 vector index
//! (`[vector_store] kind`), declared by the index's ARN (S3VectorsConfiguration takes either
//! indexArn alone or vectorBucketArn with indexName: the oneOf of the CloudFormation schema).

mod spec;

use spec::{Spec, Store};
use spec::immutable;
use super::ids;
use super::{
    Ctx, Inputs, Kind, Needs, Observation, Phase, Resource, Status, Step, data_source, failed, ours,
};
use crate::config::StoreKind;
use crate::aws::{AwsError, aws};
use crate::error::{Error, Result};
use crate::naming::{AFTER_APPLY, METADATA_FIELD, TEXT_FIELD, VECTOR_FIELD};
use crate::wait;
use async_trait::async_trait;
use aws_sdk_bedrockagent::types::{
    KnowledgeBase as AwsKnowledgeBase, KnowledgeBaseStatus,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// IAM propagation takes seconds; Bedrock's view of a new index and its data access policy has
/// been reported to lag by up to about a minute: five minutes leaves room for both.
const PROPAGATION_DEADLINE: Duration = Duration::from_secs(5 * 60);
const READY_DEADLINE: Duration = Duration::from_secs(15 * 60);


pub struct KnowledgeBase;

fn status(s: &KnowledgeBaseStatus) -> Status {
    let phase = match s {
        KnowledgeBaseStatus::Creating => Phase::Creating,
        KnowledgeBaseStatus::Updating => Phase::Updating,
        KnowledgeBaseStatus::Deleting => Phase::Deleting,
        KnowledgeBaseStatus::Failed | KnowledgeBaseStatus::DeleteUnsuccessful => Phase::Failed,
        _ => Phase::Ready,
    };
    Status::new(phase, s.as_str())
}

/// Bedrock's answers while what it was just given has not propagated yet, and only those: the
/// new role is not yet assumable (IAM), or the new index and its data access policy are not yet
/// visible to it ("The knowledge base storage configuration provided is invalid... [security_exception]
/// 403 Forbidden" or "... no such index", reported in awslabs/agents-for-amazon-bedrock-blueprints#22
/// and awslabs/amazon-bedrock-agent-samples#37). The same prefix with any other reason (a
/// dimension mismatch, a field that is not a knn_vector) is the caller's mistake and fails at once.
fn not_yet_propagated(e: &AwsError) -> bool {
    if !e.is("ValidationException") {
        return false;
    }
    let storage_lag = e.message.contains("storage configuration provided is invalid")
        && ["403 Forbidden", "security_exception", "no such index"].iter().any(|m| e.message.contains(m));
    e.message.contains("unable to assume the given role") || storage_lag
}

/// The id of the knowledge base named `name`, with its status.
pub async fn find(ctx: &Ctx, name: &str) -> std::result::Result<Option<(String, Status)>, AwsError> {
    let mut pages = ctx.clients.agent.list_knowledge_bases().max_results(100).into_paginator().send();
    while let Some(page) = pages.next().await {
        if let Some(kb) = page.map_err(aws)?.knowledge_base_summaries().iter().find(|k| k.name() == name) {
            return Ok(Some((kb.knowledge_base_id().to_string(), status(kb.status()))));
        }
    }
    Ok(None)
}

/// A knowledge base generation of this environment (docs/costs-and-vector-stores.md, "Changing the knowledge base without
/// downtime"): the knowledge bases named for it whose tags say they are its own.
#[derive(Debug, Clone)]
pub struct Generation {
    pub number: u32,
    pub id: String,
    pub status: Status,
    /// Tagged by `deploy --abandon` before its deletion began.
    pub abandoned: bool,
}

/// Every generation of the environment's knowledge base, in order.
pub async fn generations(ctx: &Ctx) -> Result<Vec<Generation>> {
    let read = |e| Error::aws("list knowledge bases", e);
    let mut found = Vec::new();
    let mut pages = ctx.clients.agent.list_knowledge_bases().max_results(100).into_paginator().send();
    while let Some(page) = pages.next().await {
        for kb in page.map_err(aws).map_err(read)?.knowledge_base_summaries() {
            if let Some(number) = ctx.env.names.knowledge_base_generation(kb.name()) {
                let (id, status) = (kb.knowledge_base_id().to_string(), status(kb.status()));
                found.push(Generation { number, id, status, abandoned: false });
            }
        }
    }
    // Only ours: another environment's first knowledge base may carry a name like ours (dev-g2).
    if found.len() > 1 || found.iter().any(|g| g.number > 1) {
        let mut owned = Vec::new();
        for g in found {
            let arn = ctx.env.names.knowledge_base_arn(Some(&g.id));
            let current = tags(ctx, &arn).await.map_err(|e| Error::aws(format!("read tags of {arn}"), e))?;
            if ctx.ownership(&current).is_none() {
                owned.push(Generation { abandoned: current.contains_key(crate::naming::TAG_ABANDONED), ..g });
            }
        }
        found = owned;
    }
    found.sort_by_key(|g| g.number);
    Ok(found)
}

/// What knowledge base `id` is made of, as Bedrock has it (not as the file now says): its
/// embedding model ARN, its vector index's name (in a collection or an S3 vector bucket) and
/// store type. A blue/green change keeps granting these while the knowledge base serves.
#[derive(Debug, Clone, Default)]
pub struct Made {
    pub embedding_model: Option<String>,
    pub index: Option<String>,
    pub storage: Option<String>,
    pub kms_key_arn: Option<String>,
}

/// Marks knowledge base `id` as abandoned (`naming::TAG_ABANDONED`) before it is deleted.
pub async fn mark_abandoned(ctx: &Ctx, id: &str) -> Result<()> {
    let arn = ctx.env.names.knowledge_base_arn(Some(id));
    let tags = std::collections::HashMap::from([(crate::naming::TAG_ABANDONED.to_string(), "true".to_string())]);
    let tagged = ctx.clients.agent.tag_resource().resource_arn(&arn).set_tags(Some(tags)).send().await;
    tagged.map(drop).map_err(aws).map_err(|e| Error::aws(format!("tag knowledge base {id} as abandoned"), e))
}

pub async fn made_of(ctx: &Ctx, id: &str) -> Result<Made> {
    let kb = get(ctx, id).await.map_err(|e| Error::aws(format!("read knowledge base {id}"), e))?;
    let Some(v) = kb.as_ref().map(immutable) else { return Ok(Made::default()) };
    let text = |k: &str| v[k].as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let s3_index = text("vector_index_arn").and_then(|a| a.rsplit_once("/index/").map(|(_, name)| name.to_string()));
    Ok(Made {
        embedding_model: text("embedding_model"),
        index: text("index").or(s3_index),
        storage: text("storage").or_else(|| text("type")),
        kms_key_arn: text("kms_key_arn"),
    })
}

async fn get(ctx: &Ctx, id: &str) -> std::result::Result<Option<AwsKnowledgeBase>, AwsError> {
    match ctx.clients.agent.get_knowledge_base().knowledge_base_id(id).send().await.map_err(aws) {
        Ok(out) => Ok(out.knowledge_base),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn tags(ctx: &Ctx, arn: &str) -> std::result::Result<BTreeMap<String, String>, AwsError> {
    let out = ctx.clients.agent.list_tags_for_resource().resource_arn(arn).send().await.map_err(aws)?;
    Ok(out.tags().map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default())
}

async fn wait_active(step: &Step, id: &str) -> Result<()> {
    wait::until(step, "knowledge base to become ACTIVE", READY_DEADLINE, || async {
        let kb = get(&step.ctx, id).await.map_err(failed(&format!("read knowledge base {id}")))?;
        match kb.as_ref().map(|k| k.status()) {
            Some(KnowledgeBaseStatus::Active) => Ok(Some(())),
            Some(KnowledgeBaseStatus::Failed) => Err(Error::Incomplete {
                message: format!(
                    "knowledge base {id} failed: {}",
                    kb.as_ref().map(|k| k.failure_reasons().join("; ")).unwrap_or_default()
                ),
                help: Some("fix the cause, then deploy with --allow-replace to recreate it".into()),
            }),
            None => Err(Error::Incomplete { message: format!("knowledge base {id} disappeared"), help: None }),
            _ => Ok(None),
        }
    })
    .await
}

pub async fn wait_gone(step: &Step, id: &str) -> Result<()> {
    wait::until(step, "the knowledge base to finish deleting", READY_DEADLINE, || async {
        let kb = get(&step.ctx, id).await.map_err(failed(&format!("read knowledge base {id}")))?;
        Ok(kb.is_none().then_some(()))
    })
    .await
}

#[async_trait]
impl Kind for KnowledgeBase {
    /// Its data lives in the index: a new index means a new knowledge base.
    fn desired(&self, i: &Inputs) -> Result<Vec<Resource>> {
        let n = &i.env.names;
        let id = i.known.id(&ids::KNOWLEDGE_BASE);
        // Ref gives the id (AWS::Bedrock::KnowledgeBase's return values).
        let kb = Resource::new(&KnowledgeBase, ids::KNOWLEDGE_BASE, "Bedrock knowledge base", &n.knowledge_base)
            .id_assigned_by_aws("")
            .generational()
            .arn(n.knowledge_base_arn(id))
            .depends_on(&ids::KNOWLEDGE_BASE_ROLE, Needs::Ready)
            .tagged()
            .output("knowledge_base_id", id.unwrap_or(AFTER_APPLY))
            .with_spec(Spec::new(i.env, i.known));
        let (model, dims) = (&i.vars()["arns"]["embedding_model"], i.env.file.knowledge_base.dimensions);
        let vs = &i.env.file.vector_store;
        let kb = match i.env.file.vector_store.kind {
            StoreKind::Opensearch => kb
                .depends_on(&ids::VECTOR_INDEX, Needs::Ready)
                .replaced_with(&ids::VECTOR_INDEX)
                .observed_after(&ids::COLLECTION)
                .settings(json!({
                    "embedding_model": model,
                    "dimensions": dims,
                    "storage": "OPENSEARCH_SERVERLESS",
                    "field_mapping": {"vector": VECTOR_FIELD, "text": TEXT_FIELD, "metadata": METADATA_FIELD},
                })),
            StoreKind::S3Vectors => kb
                .depends_on(&ids::S3_VECTOR_INDEX, Needs::Ready)
                .replaced_with(&ids::S3_VECTOR_INDEX)
                .settings(json!({
                    "embedding_model": model,
                    "dimensions": dims,
                    "storage": "S3_VECTORS",
                    "vector_index": n.vector_index_arn(),
                })),
            StoreKind::Managed => kb.settings(json!({
                "type": "MANAGED",
                "embedding_model_type": vs.embedding_model_type().as_api(),
                "embedding_model": model,
                "storage": "Bedrock's own (a managed knowledge base)",
                "kms_key_arn": vs.kms_key_arn,
            })),
        };
        Ok(vec![kb])
    }

    fn cloudformation(&self, ctx: &Ctx, r: &Resource) -> Result<Vec<(String, Value)>> {
        let spec: &Spec = r.spec()?;
        if matches!(spec.store, Store::Managed { .. }) {
            return Err(Error::usage(
                "`ragstack export` cannot express a managed knowledge base yet (kind = \"managed\")".to_string(),
                Some("deploy this environment directly (ragstack deploy)".into()),
            ));
        }
        let tags: serde_json::Map<String, Value> = ctx.env.tags().into_iter().map(|(k, v)| (k, Value::String(v))).collect();
        let properties = json!({
            "Name": r.name,
            "Description": spec.description,
            "RoleArn": {"Fn::GetAtt": [super::logical_id(&ids::KNOWLEDGE_BASE_ROLE), "Arn"]},
            "KnowledgeBaseConfiguration": {
                "Type": "VECTOR",
                "VectorKnowledgeBaseConfiguration": {
                    "EmbeddingModelArn": r.settings["embedding_model"],
                    "EmbeddingModelConfiguration": {
                        "BedrockEmbeddingModelConfiguration": {"Dimensions": r.settings["dimensions"]}
                    }
                }
            },
            "StorageConfiguration": match &spec.store {
                Store::Opensearch { index, .. } => json!({
                    "Type": "OPENSEARCH_SERVERLESS",
                    "OpensearchServerlessConfiguration": {
                        "CollectionArn": {"Fn::GetAtt": [super::logical_id(&ids::COLLECTION), "Arn"]},
                        "VectorIndexName": index,
                        "FieldMapping": {"VectorField": VECTOR_FIELD, "TextField": TEXT_FIELD, "MetadataField": METADATA_FIELD}
                    }
                }),
                // A managed knowledge base was refused above.
                Store::S3Vectors { .. } | Store::Managed { .. } => json!({
                    "Type": "S3_VECTORS",
                    "S3VectorsConfiguration": {
                        "IndexArn": {"Fn::GetAtt": [super::logical_id(&ids::S3_VECTOR_INDEX), "IndexArn"]}
                    }
                }),
            },
            "Tags": tags,
        });
        Ok(vec![(super::logical_id(&r.id), super::cfn("AWS::Bedrock::KnowledgeBase", properties))])
    }

    async fn observe(&self, ctx: &Ctx, r: &Resource) -> Result<Observation> {
        let read = |e| Error::aws(format!("read knowledge base {}", r.name), e);
        let Some((id, found)) = find(ctx, &r.name).await.map_err(read)? else {
            return Ok(Observation::absent());
        };
        if found.phase == Phase::Deleting {
            return Ok(Observation::deleting(Some(id), found.aws));
        }
        let Some(kb) = get(ctx, &id).await.map_err(read)? else { return Ok(Observation::absent()) };
        let mut obs = Observation::present(Some(id.clone()));
        obs.status = Some(status(kb.status()));
        let current = tags(ctx, kb.knowledge_base_arn()).await.map_err(read)?;
        if let Some(why) = ctx.ownership(&current) {
            obs.foreign = Some(why);
            return Ok(obs);
        }
        ctx.assign(&ids::KNOWLEDGE_BASE, Some(id));
        let spec: &Spec = r.spec()?;
        let (have, want) = (immutable(&kb), spec.immutable());
        for key in [
            "type",
            "embedding_model",
            "embedding_model_type",
            "kms_key_arn",
            "dimensions",
            "storage",
            "collection",
            "index",
            "fields",
            "vector_index_arn",
        ] {
            obs.diff(key, have[key].clone(), want[key].clone(), true);
        }
        if kb.status() == &KnowledgeBaseStatus::Failed {
            obs.diff("status", "FAILED", "ACTIVE", true);
        }
        obs.diff("role", kb.role_arn(), spec.role_arn.as_str(), false);
        obs.diff_tags(ctx, &current);
        Ok(obs)
    }

    async fn apply(&self, step: &Step, r: &Resource, obs: &Observation) -> Result<()> {
        let ctx = &step.ctx;
        let agent = &ctx.clients.agent;
        let spec: &Spec = r.spec()?;
        let (role_arn, description) = (&spec.role_arn, &spec.description);
        if !obs.exists {
            if obs.is(Phase::Deleting) {
                wait_gone(step, obs.id.as_deref().unwrap_or_default()).await?;
            }
            step.progress("creating", "");
            let (config, storage) = spec.configuration();
            let tags = ctx.tag_map();
            let created = wait::retrying(
                step,
                "the new role and index to become usable by Bedrock (IAM and data access policy propagation)",
                PROPAGATION_DEADLINE,
                not_yet_propagated,
                || async {
                    agent
                        .create_knowledge_base()
                        .name(&r.name)
                        .description(description)
                        .role_arn(role_arn)
                        .knowledge_base_configuration(config.clone())
                        .set_storage_configuration(storage.clone())
                        .set_tags(Some(tags.clone()))
                        .send()
                        .await
                        .map_err(aws)
                },
            )
            .await;
            let id = match created {
                Ok(out) => out.knowledge_base.map(|k| k.knowledge_base_id).unwrap_or_default(),
                // Names are unique: a concurrent run created it. Adopt it if the tags say it is ours.
                Err(e) if e.is_conflict() => {
                    ours(self.observe(ctx, r).await?, &format!("knowledge base {}", r.name))?.id.unwrap_or_default()
                }
                Err(e) => return Err(Error::aws(format!("create knowledge base {}", r.name), e)),
            };
            ctx.assign(&ids::KNOWLEDGE_BASE, Some(id.clone()));
            (step.exists)();
            return wait_active(step, &id).await;
        }
        let id = obs.id.clone().unwrap_or_default();
        (step.exists)();
        if obs.changed("role") {
            step.progress("updating", "role");
            let kb =
                get(ctx, &id).await.map_err(failed(&format!("read knowledge base {}", r.name)))?.ok_or_else(|| {
                    Error::Incomplete {
                        message: format!("knowledge base {} disappeared during the run", r.name),
                        help: None,
                    }
                })?;
            // UpdateKnowledgeBase needs the whole configuration: send the current one unchanged.
            let mut update = agent.update_knowledge_base().knowledge_base_id(&id).name(&r.name).role_arn(role_arn);
            update = update
                .set_description(kb.description().map(str::to_string))
                .set_knowledge_base_configuration(kb.knowledge_base_configuration().cloned())
                .set_storage_configuration(kb.storage_configuration().cloned());
            update.send().await.map_err(aws).map_err(failed(&format!("update knowledge base {}", r.name)))?;
        }
        if obs.changed("tags") {
            step.progress("updating", "tags");
            let arn = ctx.env.names.knowledge_base_arn(Some(&id));
            agent
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(ctx.env.tags().into_iter().collect()))
                .send()
                .await
                .map_err(aws)
                .map_err(failed(&format!("tag knowledge base {}", r.name)))?;
        }
        if obs.is(Phase::Ready) && !obs.changed("role") {
            return Ok(());
        }
        wait_active(step, &id).await
    }

    /// Deletes the knowledge base (its data sources first, switched to RETAIN so deletion never
    /// sticks in DELETE_UNSUCCESSFUL) and waits until it is gone.
    async fn delete(&self, step: &Step, _r: &Resource, obs: &Observation) -> Result<()> {
        let Some(id) = obs.id.clone() else { return Ok(()) };
        if obs.is(Phase::Deleting) {
            return wait_gone(step, &id).await;
        }
        let ctx = &step.ctx;
        for (name, ds_id) in data_source::list(ctx, &id).await.map_err(failed("list data sources"))? {
            data_source::delete_one(step, &id, &ds_id, &name).await?;
        }
        step.progress("deleting", &format!("knowledge base {id}"));
        match ctx.clients.agent.delete_knowledge_base().knowledge_base_id(&id).send().await.map_err(aws) {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(Error::aws(format!("delete knowledge base {id}"), e)),
        }
        ctx.assign(&ids::KNOWLEDGE_BASE, None);
        wait_gone(step, &id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validation(message: &str) -> AwsError {
        AwsError { code: "ValidationException".into(), message: message.into(), status: Some(400) }
    }

    #[test]
    fn only_propagation_answers_are_retried() {
        let prefix = "The knowledge base storage configuration provided is invalid... ";
        assert!(not_yet_propagated(&validation(&format!(
            "{prefix}Request failed: [security_exception] 403 Forbidden"
        ))));
        assert!(not_yet_propagated(&validation(&format!("{prefix}no such index [ragstack-index]"))));
        assert!(not_yet_propagated(&validation(
            "Bedrock Knowledge Base was unable to assume the given role. Provide the correct permissions and try again."
        )));
        assert!(!not_yet_propagated(&validation(&format!(
            "{prefix}Query vector has invalid dimension: 512. Dimension should be: 1024"
        ))));
        let denied =
            AwsError { code: "AccessDeniedException".into(), message: "403 Forbidden".into(), status: Some(403) };
        assert!(!not_yet_propagated(&denied));
    }
}
