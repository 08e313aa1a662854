//! The functions' CloudWatch Logs log groups, `/aws/lambda/FUNCTION` (the query function's, and
//! the sync trigger's when it is wanted): each created before its function with the environment's
//! retention (`logs.retention_days`) and tags, so logs are not kept (and billed) forever and
//! teardown leaves nothing behind.
//!
//! Lambda creates this group itself, untagged and without retention, the first time the function
//! logs into a group that does not exist (environments deployed before ragstack managed it). Such
//! an untagged group of exactly this name is adopted (tagged), since only the function writes
//! there, unless the function itself is not ragstack's.

use super::ids;
use super::{Ctx, Id, Inputs, Kind, Observation, Resource, Step, failed, gone};
use crate::aws::{AwsError, aws};
use crate::error::{Error, Result};
use crate::naming::{TAG_ENVIRONMENT, TAG_MANAGED};
use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::types::LogGroup as AwsLogGroup;
use serde_json::json;
use std::collections::BTreeMap;


pub struct LogGroup;

/// The group named exactly `name` (DescribeLogGroups matches a prefix).
async fn find(ctx: &Ctx, name: &str) -> std::result::Result<Option<AwsLogGroup>, AwsError> {
    let mut pages = ctx.clients.logs.describe_log_groups().log_group_name_prefix(name).into_paginator().send();
    while let Some(page) = pages.next().await {
        if let Some(g) = page.map_err(aws)?.log_groups().iter().find(|g| g.log_group_name() == Some(name)) {
            return Ok(Some(g.clone()));
        }
    }
    Ok(None)
}

async fn tags(ctx: &Ctx, arn: &str) -> std::result::Result<BTreeMap<String, String>, AwsError> {
    let out = ctx.clients.logs.list_tags_for_resource().resource_arn(arn).send().await.map_err(aws)?;
    Ok(out.tags().map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default())
}

/// Why an untagged group is not ragstack's to adopt: the function writing to it is not ours.
async fn foreign_writer(ctx: &Ctx, function: &str) -> Result<Option<String>> {
    match ctx.clients.lambda.get_function().function_name(function).send().await.map_err(aws) {
        Ok(out) => {
            let current: BTreeMap<String, String> = out.tags().cloned().unwrap_or_default().into_iter().collect();
            Ok(ctx.ownership(&current).map(|why| format!("it is untagged and function {function}, which writes to it: {why}")))
        }
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(Error::aws(format!("read function {function}"), e)),
    }
}

/// What a log group is, made once by `desired`: how long it keeps events.
#[derive(Debug)]
struct Spec {
    retention_days: i32,
}

async fn put_retention(step: &Step, name: &str, days: i32) -> Result<()> {
    step.progress("updating", &format!("retention {days} days"));
    let put = step.ctx.clients.logs.put_retention_policy().log_group_name(name).retention_in_days(days);
    put.send().await.map(drop).map_err(aws).map_err(failed(&format!("set the retention of log group {name}")))
}

#[async_trait]
impl Kind for LogGroup {
    /// The function needs it ready: it must exist before the function can log into it.
    fn desired(&self, i: &Inputs) -> Result<Vec<Resource>> {
        let n = &i.env.names;
        let group = |id: Id, name: &str, function: &str, writer: &Id| {
            Resource::new(&LogGroup, id, "CloudWatch Logs log group", name)
                .arn(n.log_group_arn_of(name))
                .before(writer)
                .tagged()
                .settings(json!({
                    "retention_days": i.env.file.logs.retention_days,
                    "written_by": function,
                }))
                .with_spec(Spec { retention_days: i.env.file.logs.retention_days as i32 })
        };
        Ok(vec![
            group(ids::LOG_GROUP, &n.log_group, &n.function, &ids::FUNCTION),
            group(ids::SYNC_LOG_GROUP, &n.sync_log_group, &n.sync_function, &ids::SYNC_FUNCTION)
                .wanted_if(i.env.syncs_automatically()),
        ])
    }

    fn cloudformation(&self, ctx: &Ctx, r: &Resource) -> Result<Vec<(String, serde_json::Value)>> {
        let properties = json!({
            "LogGroupName": r.name,
            "RetentionInDays": r.spec::<Spec>()?.retention_days,
            "Tags": super::cfn_tags(ctx),
        });
        // Deleted with the stack, as teardown deletes it.
        let mut group = super::cfn("AWS::Logs::LogGroup", properties);
        group["DeletionPolicy"] = json!("Delete");
        group["UpdateReplacePolicy"] = json!("Delete");
        Ok(vec![(super::logical_id(&r.id), group)])
    }

    async fn observe(&self, ctx: &Ctx, r: &Resource) -> Result<Observation> {
        let read = |e| Error::aws(format!("read log group {}", r.name), e);
        let Some(group) = find(ctx, &r.name).await.map_err(read)? else { return Ok(Observation::absent()) };
        let mut obs = Observation::present(group.log_group_arn().map(str::to_string));
        let current = tags(ctx, &ctx.env.names.log_group_arn_of(&r.name)).await.map_err(read)?;
        let untagged = !current.contains_key(TAG_MANAGED) && !current.contains_key(TAG_ENVIRONMENT);
        obs.foreign = if untagged { foreign_writer(ctx, r.setting("written_by")).await? } else { ctx.ownership(&current) };
        if obs.foreign.is_some() {
            return Ok(obs);
        }
        // No retention means "never expire": AWS leaves retentionInDays out.
        obs.diff("retention_days", group.retention_in_days(), r.spec::<Spec>()?.retention_days, false);
        obs.diff_tags(ctx, &current);
        Ok(obs)
    }

    async fn apply(&self, step: &Step, r: &Resource, obs: &Observation) -> Result<()> {
        let ctx = &step.ctx;
        let logs = &ctx.clients.logs;
        if !obs.exists {
            step.progress("creating", "");
            let created = logs.create_log_group().log_group_name(&r.name).set_tags(Some(ctx.tag_map())).send().await;
            // Lambda (a first invocation) or a concurrent run created it meanwhile: converge.
            let exists = |e: &crate::aws::AwsError| e.is("ResourceAlreadyExistsException");
            let what = format!("log group {}", r.name);
            if let Some(again) = super::created(self, ctx, r, created.map_err(aws), exists, &what).await? {
                return self.apply(step, r, &again).await;
            }
            return put_retention(step, &r.name, r.spec::<Spec>()?.retention_days).await;
        }
        if obs.changed("tags") {
            step.progress("updating", "tags");
            let tagged = logs.tag_resource().resource_arn(ctx.env.names.log_group_arn_of(&r.name)).set_tags(Some(ctx.tag_map()));
            tagged.send().await.map_err(aws).map_err(failed(&format!("tag log group {}", r.name)))?;
        }
        if obs.changed("retention_days") {
            put_retention(step, &r.name, r.spec::<Spec>()?.retention_days).await?;
        }
        Ok(())
    }

    /// Deletes the group and the logs in it; one already gone is fine.
    async fn delete(&self, step: &Step, r: &Resource, _obs: &Observation) -> Result<()> {
        step.progress("deleting", &format!("log group {}", r.name));
        let deleted = step.ctx.clients.logs.delete_log_group().log_group_name(&r.name).send().await;
        gone(deleted.map_err(aws), format!("delete log group {}", r.name))
    }
}
