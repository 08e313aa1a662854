//! The OpenSearch Serverless collection group of a NextGen environment (`[vector_store]
//! generation = "nextgen"`): the collection lives in it, and its capacity limits decide the
//! compute, down to zero OCUs when the minimums are 0 ("Scale to zero for Amazon OpenSearch
//! Serverless"). One group per environment (docs/ARCHITECTURE.md, "Collection groups").
//! Generation and standby replicas cannot change after creation (UpdateCollectionGroup takes
//! only the description and the capacity limits): a change is a replace. Capacity limits are
//! updated in place; "Updates to capacity limits are not incremental. Any field not specified
//! resets to its default value" (botocore opensearchserverless, UpdateCollectionGroup), so every
//! update sends all four. A group that still holds a collection cannot be deleted ("You can only
//! delete empty collection groups that contain no collections", DeleteCollectionGroup).

use super::ids;
use super::{Ctx, Inputs, Kind, Observation, Resource, Step, aoss_collection, failed, gone, ours};
use crate::aws::{AwsError, aws};
use crate::config::{Capacity, Generation};
use crate::error::{Error, Result};
use crate::wait;
use async_trait::async_trait;
use aws_sdk_opensearchserverless::types::{CollectionGroupCapacityLimits, CollectionGroupDetail, StandbyReplicas};
use serde_json::json;
use std::time::Duration;

/// A group is deleted once the collection in it is gone, which takes minutes.
const DELETE_DEADLINE: Duration = Duration::from_secs(20 * 60);


pub struct CollectionGroup;

fn limits(c: &Capacity) -> CollectionGroupCapacityLimits {
    CollectionGroupCapacityLimits::builder()
        .min_indexing_capacity_in_ocu(c.min_indexing_ocu as f32)
        .max_indexing_capacity_in_ocu(c.max_indexing_ocu as f32)
        .min_search_capacity_in_ocu(c.min_search_ocu as f32)
        .max_search_capacity_in_ocu(c.max_search_ocu as f32)
        .build()
}

fn limits_json(c: &Capacity) -> serde_json::Value {
    json!({
        "min_indexing_ocu": c.min_indexing_ocu, "max_indexing_ocu": c.max_indexing_ocu,
        "min_search_ocu": c.min_search_ocu, "max_search_ocu": c.max_search_ocu,
    })
}

/// The limits AWS reports; a minimum left out is 0 (NextGen's default, which AWS may not echo).
fn observed_limits(l: Option<&CollectionGroupCapacityLimits>) -> serde_json::Value {
    let f = |v: Option<f32>| v.map(f64::from);
    json!({
        "min_indexing_ocu": l.and_then(|l| f(l.min_indexing_capacity_in_ocu())).unwrap_or(0.0),
        "max_indexing_ocu": l.and_then(|l| f(l.max_indexing_capacity_in_ocu())),
        "min_search_ocu": l.and_then(|l| f(l.min_search_capacity_in_ocu())).unwrap_or(0.0),
        "max_search_ocu": l.and_then(|l| f(l.max_search_capacity_in_ocu())),
    })
}

/// What the group is, made once by `desired`: its capacity limits, standby replicas and
/// description.
#[derive(Debug)]
struct Spec {
    capacity: Capacity,
    standby: StandbyReplicas,
    description: String,
}

pub async fn find(ctx: &Ctx, name: &str) -> std::result::Result<Option<CollectionGroupDetail>, AwsError> {
    let out = ctx.clients.aoss.batch_get_collection_group().names(name).send().await.map_err(aws)?;
    Ok(out.collection_group_details().iter().find(|g| g.name() == Some(name)).cloned())
}

#[async_trait]
impl Kind for CollectionGroup {
    fn desired(&self, i: &Inputs) -> Result<Vec<Resource>> {
        let n = &i.env.names;
        let vs = &i.env.file.vector_store;
        let c = vs.capacity.unwrap_or(Capacity::DEFAULT);
        Ok(vec![
            Resource::new(&CollectionGroup, ids::COLLECTION_GROUP, "OpenSearch Serverless collection group", &n.collection_group)
                .arn(n.collection_group_arn(i.known.id(&ids::COLLECTION_GROUP)))
                .tagged()
                .wanted_if(vs.is_opensearch() && vs.generation() == Generation::Nextgen)
                .settings(json!({
                    "generation": "NEXTGEN",
                    "standby_replicas": if vs.standby_replicas() { "ENABLED" } else { "DISABLED" },
                    "capacity_limits": limits_json(&c),
                }))
                .with_spec(Spec {
                    capacity: c,
                    standby: if vs.standby_replicas() { StandbyReplicas::Enabled } else { StandbyReplicas::Disabled },
                    description: format!("ragstack {}: compute of the knowledge base's vectors", i.env.name),
                }),
        ])
    }

    fn cloudformation(&self, ctx: &Ctx, r: &Resource) -> Result<Vec<(String, serde_json::Value)>> {
        let spec: &Spec = r.spec()?;
        let c = &spec.capacity;
        let properties = json!({
            "Name": r.name,
            "Generation": "NEXTGEN",
            "StandbyReplicas": spec.standby.as_str(),
            "CapacityLimits": {
                "MinIndexingCapacityInOcu": c.min_indexing_ocu, "MaxIndexingCapacityInOcu": c.max_indexing_ocu,
                "MinSearchCapacityInOcu": c.min_search_ocu, "MaxSearchCapacityInOcu": c.max_search_ocu,
            },
            "Description": format!("ragstack {}: compute of the knowledge base's vectors", ctx.env.name),
            "Tags": super::cfn_tags(ctx),
        });
        Ok(vec![(super::logical_id(&r.id), super::cfn("AWS::OpenSearchServerless::CollectionGroup", properties))])
    }

    async fn observe(&self, ctx: &Ctx, r: &Resource) -> Result<Observation> {
        let read = |e| Error::aws(format!("read collection group {}", r.name), e);
        let found = match find(ctx, &r.name).await {
            Ok(found) => found,
            // A Classic environment only looks for a group left from a NextGen past: a caller not
            // allowed to (a deployer policy from before collection groups) or a region without
            // them has none.
            Err(e) if r.unwanted && (e.is("AccessDeniedException") || e.is("ValidationException")) => None,
            Err(e) => return Err(read(e)),
        };
        let Some(g) = found else {
            return Ok(Observation::absent());
        };
        let mut obs = Observation::present(g.id().map(str::to_string));
        let current = super::aoss_collection::tags(ctx, g.arn().unwrap_or_default()).await.map_err(read)?;
        if let Some(why) = ctx.ownership(&current) {
            obs.foreign = Some(why);
            return Ok(obs);
        }
        ctx.assign(&ids::COLLECTION_GROUP, g.id().map(str::to_string));
        let spec: &Spec = r.spec()?;
        obs.diff("generation", g.generation().map(|x| x.as_str()).unwrap_or("CLASSIC"), "NEXTGEN", true);
        obs.diff(
            "standby_replicas",
            g.standby_replicas().map(|s| s.as_str()).unwrap_or_default(),
            spec.standby.as_str(),
            true,
        );
        obs.diff("capacity_limits", observed_limits(g.capacity_limits()), limits_json(&spec.capacity), false);
        obs.diff_tags(ctx, &current);
        let now = g.current_capacity();
        let ocu = |d: Option<&aws_sdk_opensearchserverless::types::CapacityDetails>| {
            d.and_then(|d| d.capacity_in_ocu()).map(f64::from)
        };
        obs.details.insert("generation".into(), json!("NEXTGEN"));
        obs.details.insert("capacity_limits".into(), observed_limits(g.capacity_limits()));
        if let Some(now) = now {
            obs.details.insert(
                "current_ocu".into(),
                json!({"indexing": ocu(now.indexing()), "search": ocu(now.search())}),
            );
        }
        Ok(obs)
    }

    async fn apply(&self, step: &Step, r: &Resource, obs: &Observation) -> Result<()> {
        let ctx = &step.ctx;
        let aoss = &ctx.clients.aoss;
        let spec: &Spec = r.spec()?;
        let c = &spec.capacity;
        if !obs.exists {
            step.progress("creating", "NEXTGEN collection group");
            let created = aoss
                .create_collection_group()
                .name(&r.name)
                .generation(aws_sdk_opensearchserverless::types::ServerlessGeneration::Nextgen)
                .standby_replicas(spec.standby.clone())
                .capacity_limits(limits(c))
                .description(spec.description.as_str())
                .set_tags(Some(aoss_collection::desired_tags(ctx)))
                .send()
                .await
                .map_err(aws);
            match created {
                Ok(out) => ctx.assign(&ids::COLLECTION_GROUP, out.create_collection_group_detail().and_then(|d| d.id()).map(str::to_string)),
                // A concurrent deploy won the race: adopt its group if it is ours.
                Err(e) if e.is_conflict() => {
                    ours(self.observe(ctx, r).await?, &format!("collection group {}", r.name))?;
                }
                Err(e) => return Err(Error::aws(format!("create collection group {}", r.name), e)),
            }
            (step.exists)();
            return Ok(());
        }
        (step.exists)();
        let id = obs.id.clone().unwrap_or_default();
        if obs.changed("capacity_limits") {
            step.progress("updating", "capacity limits");
            aoss.update_collection_group()
                .id(&id)
                .capacity_limits(limits(c))
                .send()
                .await
                .map_err(aws)
                .map_err(failed(&format!("update the capacity limits of collection group {}", r.name)))?;
        }
        if obs.changed("tags") {
            aoss_collection::tag(step, r, "collection group").await?;
        }
        Ok(())
    }

    /// Deletes the group once the collection in it is gone (ConflictException until then).
    async fn delete(&self, step: &Step, r: &Resource, obs: &Observation) -> Result<()> {
        let Some(id) = obs.id.clone() else { return Ok(()) };
        step.progress("deleting", &format!("collection group {id}"));
        let holds = "the collection in the group to be deleted";
        let deleted = wait::retrying(step, holds, DELETE_DEADLINE, AwsError::is_conflict, || async {
            step.ctx.clients.aoss.delete_collection_group().id(&id).send().await.map_err(aws)
        });
        gone(deleted.await, format!("delete collection group {}", r.name))?;
        step.ctx.assign(&ids::COLLECTION_GROUP, None);
        Ok(())
    }
}
