//! The S3 vector bucket (`[vector_store] kind = "s3_vectors"`): holds the vector index. Names are
//! unique per account and region; a name taken by a concurrent or interrupted run is read and
//! adopted when its tags say it is ours. Its encryption is set at creation only (the CloudFormation
//! schema of AWS::S3Vectors::VectorBucket marks it create-only): a change is a replace.

use super::ids;
use super::{Ctx, Inputs, Kind, Observation, Resource, Step, failed, gone};
use crate::aws::{AwsError, aws};
use crate::config::StoreKind;
use crate::error::{Error, Result};
use crate::wait;
use async_trait::async_trait;
use aws_sdk_s3vectors::types::{EncryptionConfiguration, SseType};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const EMPTY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

pub struct VectorBucket;

/// What the bucket is, made once by `desired`: the encryption the file asks for.
#[derive(Debug)]
struct Spec {
    encryption: EncryptionConfiguration,
}

/// SSE-KMS with `kms_key_arn`, else S3's default SSE-S3.
fn encryption(kms_key_arn: Option<&String>) -> EncryptionConfiguration {
    match kms_key_arn {
        Some(key) => EncryptionConfiguration::builder().sse_type(SseType::AwsKms).kms_key_arn(key).build(),
        None => EncryptionConfiguration::builder().sse_type(SseType::Aes256).build(),
    }
}

fn encryption_json(e: Option<&EncryptionConfiguration>) -> Value {
    // A bucket created without a configuration reports SSE-S3 (AES256), S3 Vectors' default.
    let sse = e.map_or("AES256", |e| e.sse_type().as_str());
    json!({"sse_type": sse, "kms_key_arn": e.and_then(|e| e.kms_key_arn())})
}

/// The indexes of ours (by their ownership tags) in bucket `bucket`, as (name, ARN); none when
/// the bucket is gone. One deleted meanwhile (by another step of the same run) is left out.
pub async fn our_indexes(ctx: &Ctx, bucket: &str) -> Result<Vec<(String, String)>> {
    let listed = ctx.clients.s3vectors.list_indexes().vector_bucket_name(bucket).into_paginator().items().send();
    let mut ours = Vec::new();
    for index in listed.collect::<Vec<_>>().await {
        let index = match index.map_err(aws) {
            Ok(i) => i,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(Error::aws(format!("list the indexes of vector bucket {bucket}"), e)),
        };
        let current = match tags(ctx, index.index_arn()).await {
            Ok(t) => t,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(Error::aws(format!("read vector index {}", index.index_name()), e)),
        };
        if ctx.ownership(&current).is_none() {
            ours.push((index.index_name().to_string(), index.index_arn().to_string()));
        }
    }
    Ok(ours)
}

/// Access refused, or no S3 Vectors endpoint in the region.
pub fn unavailable(e: &AwsError) -> bool {
    e.is("AccessDeniedException") || e.is("ConnectionFailure") || e.status == Some(403)
}

/// The tags of an S3 Vectors resource (bucket or index).
pub async fn tags(ctx: &Ctx, arn: &str) -> std::result::Result<BTreeMap<String, String>, AwsError> {
    let out = ctx.clients.s3vectors.list_tags_for_resource().resource_arn(arn).send().await.map_err(aws)?;
    Ok(out.tags().iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// Puts the environment's tags on an S3 Vectors resource.
pub async fn tag(step: &Step, arn: &str, what: &str) -> Result<()> {
    step.progress("updating", "tags");
    let tag = step.ctx.clients.s3vectors.tag_resource().resource_arn(arn).set_tags(Some(step.ctx.tag_map()));
    tag.send().await.map(drop).map_err(aws).map_err(failed(&format!("tag {what}")))
}

#[async_trait]
impl Kind for VectorBucket {
    fn desired(&self, i: &Inputs) -> Result<Vec<Resource>> {
        let (n, vs) = (&i.env.names, &i.env.file.vector_store);
        Ok(vec![
            Resource::new(&VectorBucket, ids::VECTOR_BUCKET, "S3 vector bucket", &n.vector_bucket)
                .arn(n.vector_bucket_arn())
                .wanted_if(vs.kind == StoreKind::S3Vectors)
                .tagged()
                .settings(json!({
                    "encryption": vs.kms_key_arn.as_ref().map_or("SSE-S3".to_string(), |k| format!("SSE-KMS with {k}")),
                }))
                .with_spec(Spec { encryption: encryption(vs.kms_key_arn.as_ref()) }),
        ])
    }

    fn cloudformation(&self, ctx: &Ctx, r: &Resource) -> Result<Vec<(String, Value)>> {
        let e = &r.spec::<Spec>()?.encryption;
        let mut encryption = json!({"SseType": e.sse_type().as_str()});
        if let Some(key) = e.kms_key_arn() {
            encryption["KmsKeyArn"] = json!(key);
        }
        let properties = json!({
            "VectorBucketName": r.name,
            "EncryptionConfiguration": encryption,
            "Tags": super::cfn_tags(ctx),
        });
        Ok(vec![(super::logical_id(&r.id), super::cfn("AWS::S3Vectors::VectorBucket", properties))])
    }

    async fn observe(&self, ctx: &Ctx, r: &Resource) -> Result<Observation> {
        let read = |e| Error::aws(format!("read vector bucket {}", r.name), e);
        let got = ctx.clients.s3vectors.get_vector_bucket().vector_bucket_name(&r.name).send().await.map_err(aws);
        let bucket = match got {
            Ok(out) => out.vector_bucket,
            Err(e) if e.is_not_found() => return Ok(Observation::absent()),
            // Another kind of store only looks for a bucket left from an S3 Vectors past: a caller
            // not allowed to (a deployer policy from before S3 Vectors) or a region without them
            // has none.
            Err(e) if r.unwanted && unavailable(&e) => return Ok(Observation::absent()),
            Err(e) => return Err(read(e)),
        };
        let Some(bucket) = bucket else { return Ok(Observation::absent()) };
        let mut obs = Observation::present(Some(bucket.vector_bucket_arn().to_string()));
        let current = tags(ctx, bucket.vector_bucket_arn()).await.map_err(read)?;
        obs.foreign = ctx.ownership(&current);
        if obs.foreign.is_some() {
            return Ok(obs);
        }
        // Ours: the index kind looks in it for indexes the file no longer declares.
        ctx.assign(&ids::VECTOR_BUCKET, Some(bucket.vector_bucket_arn().to_string()));
        let wanted = &r.spec::<Spec>()?.encryption;
        obs.diff("encryption", encryption_json(bucket.encryption_configuration()), encryption_json(Some(wanted)), true);
        obs.diff_tags(ctx, &current);
        Ok(obs)
    }

    async fn apply(&self, step: &Step, r: &Resource, obs: &Observation) -> Result<()> {
        let ctx = &step.ctx;
        if obs.exists {
            (step.exists)();
            if obs.changed("tags") {
                tag(step, &ctx.env.names.vector_bucket_arn(), &format!("vector bucket {}", r.name)).await?;
            }
            return Ok(());
        }
        step.progress("creating", "");
        let created = ctx
            .clients
            .s3vectors
            .create_vector_bucket()
            .vector_bucket_name(&r.name)
            .encryption_configuration(r.spec::<Spec>()?.encryption.clone())
            .set_tags(Some(ctx.tag_map()))
            .send()
            .await
            .map_err(aws);
        // Names are unique in the account and region: a concurrent run created it.
        if let Some(again) = super::created(self, ctx, r, created, |e| e.is("ConflictException"), &format!("vector bucket {}", r.name)).await? {
            return self.apply(step, r, &again).await;
        }
        (step.exists)();
        Ok(())
    }

    /// Deletes the bucket; one already gone is fine. The index the file declares is deleted first
    /// (it depends on the bucket); any other index of ours in it (the file renamed it, or now
    /// declares another kind of store) is deleted here. An index that is not ours stays, and S3
    /// Vectors then refuses to delete the bucket (ConflictException), which is reported.
    async fn delete(&self, step: &Step, r: &Resource, _obs: &Observation) -> Result<()> {
        let (ctx, s3v) = (&step.ctx, &step.ctx.clients.s3vectors);
        for (name, arn) in our_indexes(ctx, &r.name).await? {
            step.progress("deleting", &format!("vector index {name}"));
            let deleted = s3v.delete_index().index_arn(&arn).send().await;
            gone(deleted.map_err(aws), format!("delete vector index {name}"))?;
        }
        step.progress("deleting", &format!("vector bucket {}", r.name));
        // "The specified vector bucket is not empty" while an index of ours deleted by another
        // step of this run is still going; an index that is not ours keeps it so, and is reported.
        let not_empty = |e: &AwsError| e.is("ConflictException");
        let deleted = wait::retrying(step, "its indexes to be deleted", EMPTY_DEADLINE, not_empty, || async {
            s3v.delete_vector_bucket().vector_bucket_name(&r.name).send().await.map_err(aws)
        });
        gone(deleted.await, format!("delete vector bucket {}", r.name))
    }
}
