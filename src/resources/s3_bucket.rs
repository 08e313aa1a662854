//! The documents bucket: all public access blocked, SSE-S3 with a bucket key, versioning (a
//! deleted or overwritten document can be recovered), a TLS-only bucket policy, tags.
//!
//! The bucket is created with its tags in CreateBucket (`CreateBucketConfiguration.Tags`), so it
//! is never seen untagged, even when a run is killed right after: a bucket of this name without
//! ragstack's tags is somebody else's, and neither deploy nor teardown touches it.

use super::ids;
use super::{Ctx, Inputs, Kind, Observation, Resource, Step, failed, gone, ours};
use crate::aws::{aws, parse_policy};
use crate::error::{Error, Result};
use async_trait::async_trait;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Delete, ObjectIdentifier,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging, VersioningConfiguration,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const ENCRYPTION: &str = "AES256 with bucket key";


pub struct Bucket;

fn tag_set(tags: BTreeMap<String, String>) -> Vec<Tag> {
    tags.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("key and value are set")).collect()
}

pub async fn tags(ctx: &Ctx, bucket: &str) -> std::result::Result<BTreeMap<String, String>, crate::aws::AwsError> {
    match ctx.clients.s3.get_bucket_tagging().bucket(bucket).send().await.map_err(aws) {
        Ok(out) => Ok(out.tag_set.into_iter().map(|t| (t.key, t.value)).collect()),
        Err(e) if e.is("NoSuchTagSet") || e.is("NoSuchTagSetError") => Ok(BTreeMap::new()),
        Err(e) => Err(e),
    }
}

#[async_trait]
impl Kind for Bucket {
    /// Only when a data source reads from it (one without a `bucket` of its own).
    fn desired(&self, i: &Inputs) -> Result<Vec<Resource>> {
        if !i.env.uses_documents_bucket() {
            return Ok(Vec::new());
        }
        let n = &i.env.names;
        Ok(vec![
            Resource::new(&Bucket, ids::DOCUMENTS_BUCKET, "S3 bucket", &n.documents_bucket)
                .arn(n.bucket_arn(&n.documents_bucket))
                .tagged()
                .holding_documents()
                .settings(json!({
                    "versioning": "Enabled",
                    "encryption": "SSE-S3 (AES256), bucket key enabled",
                    "block_public_access": "all four settings on",
                    "bucket_policy": "deny requests without TLS",
                }))
                .document(i.document("s3/documents-bucket-policy.json")?)
                .output("documents_bucket", &n.documents_bucket),
        ])
    }

    /// The bucket and its policy. The bucket holds the user's documents: CloudFormation keeps it
    /// (and its objects) when the stack is deleted or the bucket replaced; teardown empties it.
    fn cloudformation(&self, ctx: &Ctx, r: &Resource) -> Result<Vec<(String, Value)>> {
        let logical = super::logical_id(&r.id);
        let mut bucket = super::cfn(
            "AWS::S3::Bucket",
            json!({
                "BucketName": r.name,
                "VersioningConfiguration": {"Status": "Enabled"},
                "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": true}
                ]},
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true
                },
                "Tags": super::cfn_tags(ctx),
            }),
        );
        bucket["DeletionPolicy"] = json!("Retain");
        bucket["UpdateReplacePolicy"] = json!("Retain");
        let policy = super::cfn("AWS::S3::BucketPolicy", json!({"Bucket": {"Ref": logical}, "PolicyDocument": r.rendered(0)}));
        Ok(vec![(logical.clone(), bucket), (format!("{logical}Policy"), policy)])
    }

    async fn observe(&self, ctx: &Ctx, r: &Resource) -> Result<Observation> {
        let s3 = &ctx.clients.s3;
        let b = &r.name;
        let read = |what: &str| {
            let action = format!("read {what} of bucket {b}");
            move |e| Error::aws(action, e)
        };
        match s3.head_bucket().bucket(b).send().await.map_err(aws) {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(Observation::absent()),
            Err(e) if e.status == Some(403) => {
                return Ok(Observation {
                    exists: true,
                    foreign: Some("the name is taken by a bucket this account cannot read (another account's)".into()),
                    ..Observation::default()
                });
            }
            Err(e) => return Err(read("existence")(e)),
        }
        let mut obs = Observation::present(None);
        let current = tags(ctx, b).await.map_err(read("tags"))?;
        if let Some(why) = ctx.ownership(&current) {
            obs.foreign = Some(why);
            return Ok(obs);
        }
        obs.diff_tags(ctx, &current);

        let pab = match s3.get_public_access_block().bucket(b).send().await.map_err(aws) {
            Ok(out) => out.public_access_block_configuration.map(|c| {
                json!([c.block_public_acls, c.ignore_public_acls, c.block_public_policy, c.restrict_public_buckets])
            }),
            Err(e) if e.is("NoSuchPublicAccessBlockConfiguration") => None,
            Err(e) => return Err(read("public access block")(e)),
        };
        obs.diff("block_public_access", pab.unwrap_or(Value::Null), json!([true, true, true, true]), false);

        let encryption = match s3.get_bucket_encryption().bucket(b).send().await.map_err(aws) {
            Ok(out) => out.server_side_encryption_configuration.and_then(|c| c.rules.into_iter().next()).map(|rule| {
                let algo = rule.apply_server_side_encryption_by_default.map(|d| d.sse_algorithm.as_str().to_string());
                match (algo.as_deref(), rule.bucket_key_enabled) {
                    (Some("AES256"), Some(true)) => ENCRYPTION.to_string(),
                    (a, k) => format!("{} (bucket key {})", a.unwrap_or("none"), k.unwrap_or(false)),
                }
            }),
            Err(e) if e.is("ServerSideEncryptionConfigurationNotFoundError") => None,
            Err(e) => return Err(read("encryption")(e)),
        };
        obs.diff("encryption", encryption.unwrap_or_else(|| "none".into()), ENCRYPTION, false);

        let versioning = s3.get_bucket_versioning().bucket(b).send().await.map_err(aws).map_err(read("versioning"))?;
        obs.diff("versioning", versioning.status().map_or("Disabled", |s| s.as_str()), "Enabled", false);

        let current_policy = match s3.get_bucket_policy().bucket(b).send().await.map_err(aws) {
            Ok(out) => out.policy().map(parse_policy).unwrap_or(Value::Null),
            Err(e) if e.is("NoSuchBucketPolicy") => Value::Null,
            Err(e) => return Err(read("policy")(e)),
        };
        obs.diff("bucket_policy", current_policy, r.rendered(0), false);
        Ok(obs)
    }

    async fn apply(&self, step: &Step, r: &Resource, obs: &Observation) -> Result<()> {
        let ctx = &step.ctx;
        let s3 = &ctx.clients.s3;
        let b = &r.name;
        let all = !obs.exists;
        if all && let Some(again) = create(step, r).await? {
            return self.apply(step, r, &again).await;
        }
        if !all && obs.changed("tags") {
            step.progress("updating", "tags");
            let mut set = tags(ctx, b).await.map_err(failed(&format!("read tags of bucket {b}")))?;
            set.extend(ctx.env.tags());
            s3.put_bucket_tagging()
                .bucket(b)
                .tagging(Tagging::builder().set_tag_set(Some(tag_set(set))).build().expect("tag set is set"))
                .send()
                .await
                .map_err(aws)
                .map_err(failed(&format!("tag bucket {b}")))?;
        }
        protect(step, b, obs).await?;
        if all || obs.changed("bucket_policy") {
            step.progress(if all { "creating" } else { "updating" }, "bucket policy");
            s3.put_bucket_policy()
                .bucket(b)
                .policy(r.rendered(0).to_string())
                .send()
                .await
                .map_err(aws)
                .map_err(failed(&format!("put the policy of bucket {b}")))?;
        }
        Ok(())
    }

    /// Empties the bucket of every object version and delete marker, then deletes it (teardown).
    /// Ownership is checked again right before, since this loses data.
    async fn delete(&self, step: &Step, r: &Resource, _obs: &Observation) -> Result<()> {
        let bucket = r.name.as_str();
        let ctx = &step.ctx;
        let s3 = &ctx.clients.s3;
        let current = tags(ctx, bucket).await.map_err(failed(&format!("read tags of bucket {bucket}")))?;
        if let Some(why) = ctx.ownership(&current) {
            return Err(Error::Refused {
                message: format!("bucket {bucket} is no longer ragstack's, so it was not emptied: {why}"),
                help: "ragstack never deletes what it does not own".into(),
            });
        }
        let (mut key_marker, mut version_marker, mut removed) = (None, None, 0usize);
        loop {
            let page = s3
                .list_object_versions()
                .bucket(bucket)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(aws)
                .map_err(failed(&format!("list object versions of bucket {bucket}")))?;
            let ids: Vec<ObjectIdentifier> = page
                .versions()
                .iter()
                .map(|v| (v.key(), v.version_id()))
                .chain(page.delete_markers().iter().map(|m| (m.key(), m.version_id())))
                .filter_map(|(key, version)| {
                    ObjectIdentifier::builder().key(key?).set_version_id(version.map(str::to_string)).build().ok()
                })
                .collect();
            if !ids.is_empty() {
                // ListObjectVersions pages hold at most 1000 entries, DeleteObjects' limit.
                removed += ids.len();
                step.progress("deleting", &format!("emptying bucket {bucket}: {removed} object versions"));
                let out = s3
                    .delete_objects()
                    .bucket(bucket)
                    .delete(Delete::builder().set_objects(Some(ids)).quiet(true).build().expect("objects are set"))
                    .send()
                    .await
                    .map_err(aws)
                    .map_err(failed(&format!("delete objects of bucket {bucket}")))?;
                if let Some(e) = out.errors().first() {
                    return Err(Error::Incomplete {
                        message: format!(
                            "bucket {bucket}: could not delete {} ({}): {}",
                            e.key().unwrap_or_default(),
                            e.code().unwrap_or_default(),
                            e.message().unwrap_or_default()
                        ),
                        help: None,
                    });
                }
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
        }
        step.progress("deleting", &format!("bucket {bucket}"));
        gone(s3.delete_bucket().bucket(bucket).send().await.map_err(aws), format!("delete bucket {bucket}"))
    }
}

/// Creates the bucket with its tags; when it turns out to exist already (a concurrent or
/// interrupted run), returns the observation to converge from instead.
async fn create(step: &Step, r: &Resource) -> Result<Option<Observation>> {
    let ctx = &step.ctx;
    let b = &r.name;
    step.progress("creating", "");
    let mut config = CreateBucketConfiguration::builder().set_tags(Some(tag_set(ctx.env.tags())));
    // us-east-1 is the one region that must not be named as a location constraint.
    if ctx.clients.region != "us-east-1" {
        config = config.location_constraint(BucketLocationConstraint::from(ctx.clients.region.as_str()));
    }
    let create = ctx.clients.s3.create_bucket().bucket(b).create_bucket_configuration(config.build());
    match create.send().await.map_err(aws) {
        Ok(_) => Ok(None),
        Err(e) if e.is("BucketAlreadyOwnedByYou") => Ok(Some(ours(Bucket.observe(ctx, r).await?, &format!("bucket {b}"))?)),
        Err(e) if e.is("BucketAlreadyExists") => Err(Error::Refused {
            message: format!("bucket {b}: the name is taken by another AWS account"),
            help: "set a different `prefix` in the environment file".into(),
        }),
        // S3's denial does not say which permission is missing; tags in CreateBucket need a
        // second one (s3:TagResource, Amazon S3 User Guide, "Tagging buckets at creation").
        Err(e) if e.is("AccessDenied") => Err(Error::aws(format!("create bucket {b}"), e).with_help(
            "creating the bucket with its ownership tags needs both s3:CreateBucket and s3:TagResource on it; \
             `ragstack plan ENV --deployer-policy` prints every permission ragstack needs",
        )),
        Err(e) => Err(Error::aws(format!("create bucket {b}"), e)),
    }
}

/// Public access block, default encryption and versioning, where new or changed.
async fn protect(step: &Step, b: &str, obs: &Observation) -> Result<()> {
    let s3 = &step.ctx.clients.s3;
    let all = !obs.exists;
    if all || obs.changed("block_public_access") {
        step.progress(if all { "creating" } else { "updating" }, "public access block");
        let c = PublicAccessBlockConfiguration::builder()
            .block_public_acls(true)
            .ignore_public_acls(true)
            .block_public_policy(true)
            .restrict_public_buckets(true)
            .build();
        s3.put_public_access_block()
            .bucket(b)
            .public_access_block_configuration(c)
            .send()
            .await
            .map_err(aws)
            .map_err(failed(&format!("block public access to bucket {b}")))?;
    }
    if all || obs.changed("encryption") {
        step.progress(if all { "creating" } else { "updating" }, "encryption");
        let by_default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::Aes256)
            .build()
            .expect("algorithm is set");
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(by_default)
            .bucket_key_enabled(true)
            .build();
        s3.put_bucket_encryption()
            .bucket(b)
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder().rules(rule).build().expect("rules are set"),
            )
            .send()
            .await
            .map_err(aws)
            .map_err(failed(&format!("set the encryption of bucket {b}")))?;
    }
    if all || obs.changed("versioning") {
        step.progress(if all { "creating" } else { "updating" }, "versioning");
        s3.put_bucket_versioning()
            .bucket(b)
            .versioning_configuration(
                VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build(),
            )
            .send()
            .await
            .map_err(aws)
            .map_err(failed(&format!("enable versioning of bucket {b}")))?;
    }
    Ok(())
}
