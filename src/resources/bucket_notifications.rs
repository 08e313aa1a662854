//! The documents bucket's EventBridge notifications, on with `sync.trigger = "on_change"`: S3
//! then sends every object event of the bucket to the account's default event bus, where the
//! documents-changed rule (`sync_rule.rs`) picks those under the data sources' prefixes. AWS
//! service events on the default bus cost nothing ("Amazon EventBridge pricing").
//!
//! A bucket has one notification configuration; ragstack changes only its
//! `EventBridgeConfiguration` and puts back the topic, queue and Lambda configurations it found.
//! It lives in the bucket: deleting the bucket deletes it.

use super::ids;
use super::{Ctx, Inputs, Kind, Needs, Observation, Resource, Step, failed};
use crate::aws::aws;
use crate::error::{Error, Result};
use async_trait::async_trait;
use aws_sdk_s3::operation::get_bucket_notification_configuration::GetBucketNotificationConfigurationOutput;
use aws_sdk_s3::types::{EventBridgeConfiguration, NotificationConfiguration};
use serde_json::json;


pub struct BucketNotifications;

async fn current(ctx: &Ctx, bucket: &str) -> std::result::Result<GetBucketNotificationConfigurationOutput, crate::aws::AwsError> {
    ctx.clients.s3.get_bucket_notification_configuration().bucket(bucket).send().await.map_err(aws)
}

/// Puts the bucket's configuration back as found, with EventBridge notifications on or off.
async fn put(step: &Step, bucket: &str, on: bool) -> Result<()> {
    let ctx = &step.ctx;
    let action = format!("set the notifications of bucket {bucket}");
    let found = current(ctx, bucket).await.map_err(failed(&action))?;
    let config = NotificationConfiguration::builder()
        .set_topic_configurations(found.topic_configurations)
        .set_queue_configurations(found.queue_configurations)
        .set_lambda_function_configurations(found.lambda_function_configurations)
        .set_event_bridge_configuration(on.then(|| EventBridgeConfiguration::builder().build()))
        .build();
    let put = ctx.clients.s3.put_bucket_notification_configuration().bucket(bucket).notification_configuration(config);
    put.send().await.map(drop).map_err(aws).map_err(failed(&action))
}

#[async_trait]
impl Kind for BucketNotifications {
    fn desired(&self, i: &Inputs) -> Result<Vec<Resource>> {
        if !i.env.uses_documents_bucket() {
            return Ok(Vec::new());
        }
        let n = &i.env.names;
        Ok(vec![
            Resource::new(&BucketNotifications, ids::BUCKET_NOTIFICATIONS, "S3 EventBridge notifications", &n.documents_bucket)
                .wanted_if(i.env.syncs_on_change())
                .depends_on(&ids::DOCUMENTS_BUCKET, Needs::Ready)
                .contained_in(&ids::DOCUMENTS_BUCKET)
                .settings(json!({
                    "bucket": n.documents_bucket,
                    "destination": "the account's default EventBridge bus (all object events)",
                })),
        ])
    }

    /// Exists when the bucket sends its events to EventBridge. The bucket's own observation
    /// decides whether it is ragstack's.
    async fn observe(&self, ctx: &Ctx, r: &Resource) -> Result<Observation> {
        match current(ctx, &r.name).await {
            Ok(out) if out.event_bridge_configuration().is_some() => Ok(Observation::present(None)),
            Ok(_) => Ok(Observation::absent()),
            Err(e) if e.is_not_found() || e.status == Some(403) => Ok(Observation::absent()),
            Err(e) => Err(Error::aws(format!("read the notifications of bucket {}", r.name), e)),
        }
    }

    async fn apply(&self, step: &Step, r: &Resource, obs: &Observation) -> Result<()> {
        if !obs.exists {
            step.progress("creating", "EventBridge notifications on");
            put(step, &r.name, true).await?;
        }
        Ok(())
    }

    async fn delete(&self, step: &Step, r: &Resource, _obs: &Observation) -> Result<()> {
        step.progress("deleting", "EventBridge notifications off");
        match put(step, &r.name, false).await {
            // The bucket is gone, and its notifications with it.
            Err(Error::Aws { ref source, .. }) if source.is_not_found() => Ok(()),
            other => other,
        }
    }
}
