//! The sync trigger's on-failure destination: an SQS queue, `PREFIX-ENV-sync-failures`, wanted
//! with the trigger. Lambda retries a failed asynchronous invocation twice, then sends a record of
//! it (the original event under `requestPayload`) here instead of dropping it ("Capturing records
//! of Lambda asynchronous invocations", Lambda Developer Guide). `ragstack sync` and the scheduled
//! sync ingest what those events concern and then delete them (src/failed_events.rs); status
//! counts them. Encrypted with SQS-managed keys (SSE-SQS) and kept 14 days, SQS's longest
//! retention, so a failure on a Friday evening is still there after a long weekend.

use super::ids;
use super::{Ctx, Inputs, Kind, Observation, Resource, Step, failed, gone};
use crate::aws::{AwsError, aws};
use crate::error::{Error, Result};
use crate::wait;
use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName as Attr;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;


/// 14 days, the most SQS keeps a message (MessageRetentionPeriod: 60 to 1,209,600 seconds, "SetQueueAttributes").
pub const RETENTION_SECONDS: u32 = 1_209_600;
/// A queue's name cannot be reused for 60 seconds after it is deleted ("DeleteQueue", SQS API
/// Reference: QueueDeletedRecently): turning the trigger off and on again waits that out.
const RECREATE_DEADLINE: Duration = Duration::from_secs(90);

pub struct Queue;

/// The attributes ragstack sets, as SQS reports them (strings).
fn attributes() -> HashMap<Attr, String> {
    HashMap::from([
        (Attr::MessageRetentionPeriod, RETENTION_SECONDS.to_string()),
        (Attr::SqsManagedSseEnabled, "true".to_string()),
    ])
}

/// The queue's URL, or None when there is no such queue.
pub async fn url(ctx: &Ctx, name: &str) -> std::result::Result<Option<String>, AwsError> {
    match ctx.clients.sqs.get_queue_url().queue_name(name).send().await.map_err(aws) {
        Ok(out) => Ok(out.queue_url().map(str::to_string)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

async fn read(ctx: &Ctx, url: &str) -> std::result::Result<(HashMap<Attr, String>, BTreeMap<String, String>), AwsError> {
    let sqs = &ctx.clients.sqs;
    let attrs = sqs.get_queue_attributes().queue_url(url).attribute_names(Attr::All).send().await.map_err(aws)?;
    let tags = sqs.list_queue_tags().queue_url(url).send().await.map_err(aws)?;
    let tags = tags.tags().cloned().unwrap_or_default().into_iter().collect();
    Ok((attrs.attributes().cloned().unwrap_or_default(), tags))
}

#[async_trait]
impl Kind for Queue {
    /// The trigger function sends to it: it must exist first.
    fn desired(&self, i: &Inputs) -> Result<Vec<Resource>> {
        let n = &i.env.names;
        Ok(vec![
            Resource::new(&Queue, ids::SYNC_FAILURES, "SQS queue", &n.sync_failures_queue)
                .arn(n.queue_arn(&n.sync_failures_queue))
                .wanted_if(i.env.syncs_automatically())
                .before(&ids::SYNC_FUNCTION)
                .tagged()
                .settings(json!({
                    "holds": "the sync trigger's failed events, until `ragstack sync` ingests what they concern",
                    "retention_days": RETENTION_SECONDS / 86_400,
                    "encryption": "SSE-SQS",
                })),
        ])
    }

    async fn observe(&self, ctx: &Ctx, r: &Resource) -> Result<Observation> {
        let read_failed = |e| Error::aws(format!("read queue {}", r.name), e);
        let Some(url) = url(ctx, &r.name).await.map_err(read_failed)? else { return Ok(Observation::absent()) };
        let (attrs, tags) = read(ctx, &url).await.map_err(read_failed)?;
        let mut obs = Observation::present(Some(url));
        obs.foreign = ctx.ownership(&tags);
        if obs.foreign.is_some() {
            return Ok(obs);
        }
        for (name, want) in attributes() {
            obs.diff(name.as_str(), attrs.get(&name).cloned().unwrap_or_default(), want, false);
        }
        obs.diff_tags(ctx, &tags);
        Ok(obs)
    }

    async fn apply(&self, step: &Step, r: &Resource, obs: &Observation) -> Result<()> {
        let (ctx, sqs) = (&step.ctx, &step.ctx.clients.sqs);
        let Some(url) = obs.id.clone().filter(|_| obs.exists) else {
            step.progress("creating", "");
            let deleted_recently = |e: &AwsError| e.code.contains("QueueDeletedRecently");
            let created = wait::retrying(step, "SQS to release the name", RECREATE_DEADLINE, deleted_recently, || async {
                let create = sqs.create_queue().queue_name(&r.name).set_attributes(Some(attributes()));
                create.set_tags(Some(ctx.tag_map())).send().await.map_err(aws)
            });
            // A concurrent run created it (with other attributes, or the same: then CreateQueue
            // answers with its URL): converge from what is there.
            let exists = |e: &crate::aws::AwsError| e.code.contains("QueueNameExists") || e.code.contains("QueueAlreadyExists");
            let what = format!("queue {}", r.name);
            if let Some(again) = super::created(self, ctx, r, created.await, exists, &what).await? {
                return self.apply(step, r, &again).await;
            }
            return Ok(());
        };
        let changed: HashMap<Attr, String> = attributes().into_iter().filter(|(a, _)| obs.changed(a.as_str())).collect();
        if !changed.is_empty() {
            let names: Vec<&str> = changed.keys().map(Attr::as_str).collect();
            step.progress("updating", &names.join(", "));
            let set = sqs.set_queue_attributes().queue_url(&url).set_attributes(Some(changed));
            set.send().await.map_err(aws).map_err(failed(&format!("update queue {}", r.name)))?;
        }
        if obs.changed("tags") {
            step.progress("updating", "tags");
            let tag = sqs.tag_queue().queue_url(&url).set_tags(Some(ctx.tag_map()));
            tag.send().await.map_err(aws).map_err(failed(&format!("tag queue {}", r.name)))?;
        }
        Ok(())
    }

    /// How many failed events wait, and how many a running `sync` holds (received, not yet deleted).
    async fn inspect(&self, ctx: &Ctx, r: &Resource, obs: &mut Observation) -> Result<()> {
        let Some(url) = obs.id.clone() else { return Ok(()) };
        let (waiting, held) = crate::failed_events::count(ctx, &url).await?;
        let text = match (waiting, held) {
            (0, 0) => "none".to_string(),
            (n, 0) => format!("{n} waiting: `ragstack sync {} {}` ingests what they concern", ctx.env.name, ctx.env.region()),
            (n, h) => format!("{n} waiting, {h} taken by a sync in progress"),
        };
        obs.details.insert("failed_trigger_events".into(), text.into());
        if waiting > 0 {
            obs.sync_pending = Some(format!("{waiting} failed trigger events in queue {}", r.name));
        }
        Ok(())
    }

    /// Deletes the queue with any events still in it: the trigger that sent them is going too,
    /// and status's staleness check still shows the documents they concern.
    async fn delete(&self, step: &Step, r: &Resource, _obs: &Observation) -> Result<()> {
        step.progress("deleting", &format!("queue {}", r.name));
        let Some(url) = url(&step.ctx, &r.name).await.map_err(|e| Error::aws(format!("read queue {}", r.name), e))? else {
            return Ok(());
        };
        let deleted = step.ctx.clients.sqs.delete_queue().queue_url(&url).send().await;
        gone(deleted.map_err(aws), format!("delete queue {}", r.name))
    }
}
