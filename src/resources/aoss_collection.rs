//! The OpenSearch Serverless VECTORSEARCH collection: the slow resource (CREATING takes minutes on
//! AWS for a Classic collection), so it is created first and waited on while everything else is
//! built. A NextGen collection is created in the environment's collection group
//! (`aoss_collection_group`), whose generation it takes: CreateCollection has no generation of
//! its own, only `collectionGroupName` (botocore opensearchserverless). Standby replicas, the type
//! and the group cannot be changed after creation: a change is a replace, which loses the index.

use super::ids;
use super::{
    Ctx, Inputs, Kind, Needs, Observation, Phase, Resource, Status, Step,
    failed, gone, ours,
};
use crate::config::Generation;
use crate::aws::{AwsError, aws};
use crate::error::{Error, Result};
use crate::wait;
use async_trait::async_trait;
use aws_sdk_opensearchserverless::types::{CollectionDetail, CollectionStatus, CollectionType, StandbyReplicas, Tag};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

const CREATE_DEADLINE: Duration = Duration::from_secs(30 * 60);
const DELETE_DEADLINE: Duration = Duration::from_secs(20 * 60);


pub struct Collection;

fn status(s: &CollectionStatus) -> Status {
    let phase = match s {
        CollectionStatus::Creating => Phase::Creating,
        CollectionStatus::Updating => Phase::Updating,
        CollectionStatus::Deleting => Phase::Deleting,
        CollectionStatus::Failed => Phase::Failed,
        _ => Phase::Ready,
    };
    Status::new(phase, s.as_str())
}

/// The environment's tags in this service's form (collections and collection groups).
pub fn desired_tags(ctx: &Ctx) -> Vec<Tag> {
    ctx.env
        .tags()
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().expect("key and value are set"))
        .collect()
}

/// What the collection is, made once by `desired`: its generation, the group a NextGen one lives
/// in (none for a Classic one), its standby replicas and description.
#[derive(Debug)]
struct Spec {
    generation: Generation,
    group: Option<String>,
    standby: StandbyReplicas,
    description: String,
}

impl Spec {
    fn new(env: &crate::config::Environment) -> Spec {
        let vs = &env.file.vector_store;
        let generation = vs.generation();
        Spec {
            generation,
            group: (generation == Generation::Nextgen).then(|| env.names.collection_group.clone()),
            standby: if vs.standby_replicas() { StandbyReplicas::Enabled } else { StandbyReplicas::Disabled },
            description: format!("ragstack {}: vectors of the knowledge base", env.name),
        }
    }
}

/// Puts the environment's tags on `r` (a collection or a collection group) when they drifted.
pub async fn tag(step: &Step, r: &Resource, what: &str) -> Result<()> {
    step.progress("updating", "tags");
    step.ctx
        .clients
        .aoss
        .tag_resource()
        .resource_arn(r.arn.clone().unwrap_or_default())
        .set_tags(Some(desired_tags(&step.ctx)))
        .send()
        .await
        .map_err(aws)
        .map_err(failed(&format!("tag {what} {}", r.name)))?;
    Ok(())
}

pub async fn find(ctx: &Ctx, name: &str) -> std::result::Result<Option<CollectionDetail>, AwsError> {
    let out = ctx.clients.aoss.batch_get_collection().names(name).send().await.map_err(aws)?;
    Ok(out.collection_details().iter().find(|c| c.name() == Some(name)).cloned())
}

pub async fn tags(ctx: &Ctx, arn: &str) -> std::result::Result<BTreeMap<String, String>, AwsError> {
    let out = ctx.clients.aoss.list_tags_for_resource().resource_arn(arn).send().await.map_err(aws)?;
    Ok(out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect())
}

async fn wait_active(step: &Step, name: &str, generation: Generation) -> Result<()> {
    let started = std::time::Instant::now();
    let what = match generation {
        Generation::Classic => "collection to become ACTIVE (minutes on AWS)",
        Generation::Nextgen => "NextGen collection to become ACTIVE (seconds on AWS)",
    };
    wait::until(step, what, CREATE_DEADLINE, || async {
        let c = find(&step.ctx, name).await.map_err(failed(&format!("read collection {name}")))?;
        match c.as_ref().and_then(|c| c.status()) {
            Some(CollectionStatus::Active) => Ok(Some(())),
            Some(CollectionStatus::Failed) => Err(Error::Incomplete {
                message: format!("collection {name} failed to create after {}s", started.elapsed().as_secs()),
                help: Some(
                    "see the collection in the OpenSearch Service console; a deploy with --allow-replace recreates it"
                        .into(),
                ),
            }),
            _ => Ok(None),
        }
    })
    .await
}

pub async fn wait_gone(step: &Step, name: &str) -> Result<()> {
    wait::until(step, "the collection to finish deleting", DELETE_DEADLINE, || async {
        let c = find(&step.ctx, name).await.map_err(failed(&format!("read collection {name}")))?;
        Ok(c.is_none().then_some(()))
    })
    .await
}

#[async_trait]
impl Kind for Collection {
    fn desired(&self, i: &Inputs) -> Result<Vec<Resource>> {
        let n = &i.env.names;
        let id = i.known.id(&ids::COLLECTION);
        let vs = &i.env.file.vector_store;
        let nextgen = vs.generation() == Generation::Nextgen;
        // Ref gives the id (AWS::OpenSearchServerless::Collection's return values).
        let mut r = Resource::new(&Collection, ids::COLLECTION, "OpenSearch Serverless collection", &n.collection)
            .id_assigned_by_aws("")
            .arn(n.collection_arn(id))
            .depends_on(&ids::ENCRYPTION_POLICY, Needs::Ready)
            .depends_on(&ids::NETWORK_POLICY, Needs::Ready)
            .wanted_if(vs.is_opensearch())
            .tagged()
            .settings(json!({
                "type": "VECTORSEARCH",
                "generation": vs.generation().as_api(),
                "collection_group": if nextgen { Some(&n.collection_group) } else { None },
                "standby_replicas": if vs.standby_replicas() { "ENABLED" } else { "DISABLED" },
                "endpoint": n.collection_endpoint(id, nextgen),
            }))
            .output("collection_endpoint", n.collection_endpoint(id, nextgen))
            .with_spec(Spec::new(i.env));
        if nextgen {
            // A collection cannot move to another group: a new group means a new collection.
            r = r.depends_on(&ids::COLLECTION_GROUP, Needs::Ready).replaced_with(&ids::COLLECTION_GROUP);
        }
        Ok(vec![r])
    }

    fn cloudformation(&self, ctx: &Ctx, r: &Resource) -> Result<Vec<(String, serde_json::Value)>> {
        let spec: &Spec = r.spec()?;
        let mut properties = json!({
            "Name": r.name,
            "Type": "VECTORSEARCH",
            "StandbyReplicas": spec.standby.as_str(),
            "Tags": super::cfn_tags(ctx),
        });
        if let Some(g) = &spec.group {
            properties["CollectionGroupName"] = json!(g);
        }
        Ok(vec![(super::logical_id(&r.id), super::cfn("AWS::OpenSearchServerless::Collection", properties))])
    }

    async fn observe(&self, ctx: &Ctx, r: &Resource) -> Result<Observation> {
        let read = |e| Error::aws(format!("read collection {}", r.name), e);
        let Some(c) = find(ctx, &r.name).await.map_err(read)? else {
            return Ok(Observation::absent());
        };
        if let Some(s) = c.status().filter(|s| **s == CollectionStatus::Deleting) {
            // Being deleted (a teardown or a replace): the run waits for it to go, then creates it.
            return Ok(Observation::deleting(None, s.as_str()));
        }
        let mut obs = Observation::present(c.id().map(str::to_string));
        obs.status = c.status().map(status);
        let current = tags(ctx, c.arn().unwrap_or_default()).await.map_err(read)?;
        if let Some(why) = ctx.ownership(&current) {
            obs.foreign = Some(why);
            return Ok(obs);
        }
        if let Some(id) = c.id() {
            ctx.assign(&ids::COLLECTION, Some(id.to_string()));
        }
        obs.diff("type", c.r#type().map(|t| t.as_str()).unwrap_or_default(), "VECTORSEARCH", true);
        // A NextGen collection's standby replicas are its group's (which diffs them): whether AWS
        // reports them on the collection too is not documented.
        let spec: &Spec = r.spec()?;
        if spec.group.is_none() {
            obs.diff(
                "standby_replicas",
                c.standby_replicas().map(|s| s.as_str()).unwrap_or_default(),
                spec.standby.as_str(),
                true,
            );
        }
        // The generation comes with the group: a Classic collection has none.
        obs.diff("collection_group", c.collection_group_name(), spec.group.as_deref(), true);
        if c.status() == Some(&CollectionStatus::Failed) {
            obs.changes.push(super::Change {
                field: "status".into(),
                from: "FAILED".into(),
                to: "ACTIVE".into(),
                replace: true,
            });
        }
        obs.diff_tags(ctx, &current);
        Ok(obs)
    }

    async fn apply(&self, step: &Step, r: &Resource, obs: &Observation) -> Result<()> {
        let ctx = &step.ctx;
        let aoss = &ctx.clients.aoss;
        if !obs.exists {
            if obs.is(Phase::Deleting) {
                wait_gone(step, &r.name).await?;
            }
            let spec: &Spec = r.spec()?;
            step.progress("creating", &format!("{} VECTORSEARCH collection", spec.generation.as_api()));
            let created = aoss
                .create_collection()
                .name(&r.name)
                .r#type(CollectionType::Vectorsearch)
                .standby_replicas(spec.standby.clone())
                .set_collection_group_name(spec.group.clone())
                .description(spec.description.as_str())
                .set_tags(Some(desired_tags(ctx)))
                .send()
                .await
                .map_err(aws);
            match created {
                Ok(out) => {
                    let id = out.create_collection_detail().and_then(|d| d.id()).map(str::to_string);
                    ctx.assign(&ids::COLLECTION, id);
                }
                // A concurrent deploy won the race: adopt its collection if it is ours.
                Err(e) if e.is_conflict() => {
                    ours(self.observe(ctx, r).await?, &format!("collection {}", r.name))?;
                }
                Err(e) => return Err(Error::aws(format!("create collection {}", r.name), e)),
            }
            (step.exists)();
        } else {
            (step.exists)();
            if obs.changed("tags") {
                tag(step, r, "collection").await?;
            }
            if obs.is(Phase::Ready) {
                return Ok(());
            }
        }
        wait_active(step, &r.name, r.spec::<Spec>()?.generation).await
    }

    /// Deletes the collection (and the index inside it) and waits until it is gone. One still
    /// CREATING cannot be deleted yet (ConflictException): that is waited out, as is one already
    /// DELETING.
    async fn delete(&self, step: &Step, _r: &Resource, obs: &Observation) -> Result<()> {
        let name = step.ctx.env.names.collection.clone();
        let Some(id) = obs.id.clone() else {
            return if obs.is(Phase::Deleting) { wait_gone(step, &name).await } else { Ok(()) };
        };
        step.progress("deleting", &format!("collection {id}"));
        let still_creating = "the collection is still being created";
        let deleted = wait::retrying(step, still_creating, CREATE_DEADLINE, AwsError::is_conflict, || async {
            step.ctx.clients.aoss.delete_collection().id(&id).send().await.map_err(aws)
        });
        gone(deleted.await, format!("delete collection {name}"))?;
        step.ctx.assign(&ids::COLLECTION, None);
        wait_gone(step, &name).await
    }
}
