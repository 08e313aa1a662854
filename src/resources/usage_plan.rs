//! The usage plan (with `api.auth = "api_key"`): binds the environment's API key to its stage,
//! with `api.daily_quota` requests per day and the stage's throttling. API Gateway refuses
//! requests without the key (403) and beyond the quota (429) before the function runs. The quota
//! is no cost cap: usage-plan quotas and throttling "are not hard limits ... applied on a
//! best-effort basis" (API Gateway developer guide, usage plans); reserved concurrency is the
//! hard cap. A quota change is one UpdateUsagePlan call. Deleting a usage
//! plan that still has API stages fails ("Cannot delete Usage Plan ... because there are API
//! Stages associated with it", reported in aws/aws-sdk-js#3841): the stages are removed first.

use super::ids;
use super::rest_api::tags_of;
use super::rest_api::{patch, tag};
use super::{Ctx, Inputs, Kind, Needs, Observation, Resource, Step, failed, gone, none_owned, owned};
use crate::aws::{AwsError, aws};
use crate::config::ApiAuth;
use crate::error::{Error, Result};
use async_trait::async_trait;
use aws_sdk_apigateway::types::{
    ApiStage, Op, PatchOperation, QuotaPeriodType, QuotaSettings, ThrottleSettings, UsagePlan as AwsUsagePlan,
};
use serde_json::json;


pub struct UsagePlan;

/// Every usage plan of this name.
async fn find(ctx: &Ctx, name: &str) -> std::result::Result<Vec<AwsUsagePlan>, AwsError> {
    let mut found = Vec::new();
    let mut pages = ctx.clients.apigateway.get_usage_plans().limit(500).into_paginator().send();
    // An empty page ends the listing even with a position (moto gives one on the last page).
    while let Some(page) = pages.next().await {
        let page = page.map_err(aws)?;
        if page.items().is_empty() {
            break;
        }
        found.extend(page.items().iter().filter(|p| p.name() == Some(name)).cloned());
    }
    Ok(found)
}

/// `apiId:stage`, as API Gateway names a stage in a usage plan's patch paths.
fn stage_of(api: &str, stage: &str) -> String {
    format!("{api}:{stage}")
}

/// What the plan is, made once by `desired`: its description and the file's `[api]` (stage,
/// quota, throttling).
#[derive(Debug)]
struct Spec {
    description: String,
    api: crate::config::Api,
}

impl Spec {
    fn quota(&self) -> i64 {
        self.api.daily_quota.unwrap_or_default()
    }
}

/// Today (UTC) as API Gateway's usage dates want it: `YYYY-MM-DD`.
fn today() -> String {
    humantime::format_rfc3339(std::time::SystemTime::now()).to_string()[..10].to_string()
}

/// "U of N requests used today" for the key, from GetUsage; None when it cannot be read.
async fn used_today(ctx: &Ctx, plan: &str, key: &str, quota: i64) -> Option<String> {
    let day = today();
    let got = ctx.clients.apigateway.get_usage().usage_plan_id(plan).key_id(key).start_date(&day).end_date(&day);
    let out = got.send().await.ok()?;
    // items: key id -> one [used, remaining] pair per day.
    let used = out.items().and_then(|i| i.get(key)).and_then(|days| days.last()).and_then(|d| d.first()).copied();
    Some(format!("{} of {} requests used today ({day}, UTC)", used.unwrap_or(0), quota))
}

#[async_trait]
impl Kind for UsagePlan {
    fn desired(&self, i: &Inputs) -> Result<Vec<Resource>> {
        let (n, api) = (&i.env.names, &i.env.file.api);
        Ok(vec![
            // Ref gives the id (AWS::ApiGateway::UsagePlan's return values).
            Resource::new(&UsagePlan, ids::USAGE_PLAN, "API Gateway usage plan", &n.usage_plan)
                .id_assigned_by_aws("")
                .arn(n.usage_plan_arn(i.known.id(&ids::USAGE_PLAN)))
                .wanted_if(api.auth == ApiAuth::ApiKey)
                .depends_on(&ids::API_STAGE, Needs::Ready)
                .depends_on(&ids::API_KEY, Needs::Arn)
                .observed_after(&ids::REST_API)
                .observed_after(&ids::API_KEY)
                .tagged()
                .settings(json!({
                    "stage": api.stage_name,
                    "api_key": n.api_key,
                    "daily_quota": api.daily_quota,
                    "throttling_rate_limit": api.throttling_rate_limit,
                    "throttling_burst_limit": api.throttling_burst_limit,
                }))
                .with_spec(Spec { description: format!("ragstack {}: the API key's daily quota", i.env.name), api: api.clone() }),
        ])
    }

    /// The plan, and the key's membership in it (a resource of its own in CloudFormation).
    fn cloudformation(&self, ctx: &Ctx, r: &Resource) -> Result<Vec<(String, serde_json::Value)>> {
        let spec: &Spec = r.spec()?;
        let a = &spec.api;
        let plan = super::logical_id(&r.id);
        let mut properties = json!({
            "UsagePlanName": r.name,
            "Description": spec.description,
            "ApiStages": [{"ApiId": {"Ref": super::logical_id(&ids::REST_API)}, "Stage": {"Ref": super::logical_id(&ids::API_STAGE)}}],
            "Throttle": {"RateLimit": a.throttling_rate_limit, "BurstLimit": a.throttling_burst_limit},
            "Tags": super::cfn_tags(ctx),
        });
        if let Some(limit) = a.daily_quota {
            properties["Quota"] = json!({"Limit": limit, "Period": "DAY"});
        }
        let key = json!({"KeyId": {"Ref": super::logical_id(&ids::API_KEY)}, "KeyType": "API_KEY", "UsagePlanId": {"Ref": plan}});
        Ok(vec![
            (plan.clone(), super::cfn("AWS::ApiGateway::UsagePlan", properties)),
            (format!("{plan}Key"), super::cfn("AWS::ApiGateway::UsagePlanKey", key)),
        ])
    }

    async fn observe(&self, ctx: &Ctx, r: &Resource) -> Result<Observation> {
        let read = |e| Error::aws(format!("read usage plan {}", r.name), e);
        let all = find(ctx, &r.name).await.map_err(read)?;
        let Some(plan) = owned(ctx, &all, tags_of::<AwsUsagePlan>) else {
            return Ok(none_owned(ctx, &all, tags_of::<AwsUsagePlan>, AwsUsagePlan::id));
        };
        let id = plan.id().unwrap_or_default().to_string();
        ctx.assign(&ids::USAGE_PLAN, Some(id.clone()));
        let mut obs = Observation::present(Some(id.clone()));
        let spec: &Spec = r.spec()?;
        let api = &spec.api;
        let q = plan.quota();
        obs.diff("daily_quota", json!(q.map(|q| (q.limit(), q.period().map(|p| p.as_str())))), json!((spec.quota(), "DAY")), false);
        let t = plan.throttle();
        obs.diff("throttling_rate_limit", t.map(|t| t.rate_limit()), api.throttling_rate_limit, false);
        obs.diff("throttling_burst_limit", t.map(|t| t.burst_limit()), api.throttling_burst_limit, false);
        let stages: Vec<String> =
            plan.api_stages().iter().map(|s| stage_of(s.api_id().unwrap_or_default(), s.stage().unwrap_or_default())).collect();
        let wanted: Vec<String> = ctx.assigned(&ids::REST_API).map(|a| stage_of(&a, &api.stage_name)).into_iter().collect();
        obs.diff("stages", json!(stages), json!(wanted), false);
        let keys = ctx.clients.apigateway.get_usage_plan_keys().usage_plan_id(&id).limit(500).send().await;
        let keys: Vec<String> = keys.map_err(aws).map_err(read)?.items().iter().filter_map(|k| k.id().map(str::to_string)).collect();
        let key = ctx.assigned(&ids::API_KEY);
        obs.diff("api_key", json!(keys), json!(key.iter().collect::<Vec<_>>()), false);
        if let Some(key) = &key
            && let Some(used) = used_today(ctx, &id, key, spec.quota()).await
        {
            obs.details.insert("quota".into(), used.into());
        }
        obs.diff_tags(ctx, &tags_of(plan));
        Ok(obs)
    }

    async fn apply(&self, step: &Step, r: &Resource, obs: &Observation) -> Result<()> {
        let ctx = &step.ctx;
        let apigw = &ctx.clients.apigateway;
        let spec: &Spec = r.spec()?;
        let api = &spec.api;
        let Some(api_id) = ctx.assigned(&ids::REST_API) else {
            return Err(Error::Incomplete { message: "the REST API does not exist yet".into(), help: None });
        };
        let key = ctx.assigned(&ids::API_KEY);
        let (id, current_keys): (String, Vec<String>) = match (obs.exists, obs.id.clone()) {
            (true, Some(id)) => {
                let keys = obs.changes.iter().find(|c| c.field == "api_key").map(|c| c.from.clone());
                (id, keys.and_then(|k| serde_json::from_value(k).ok()).unwrap_or_else(|| key.iter().cloned().collect()))
            }
            _ => {
                step.progress("creating", "");
                let created = apigw
                    .create_usage_plan()
                    .name(&r.name)
                    .description(spec.description.as_str())
                    .api_stages(ApiStage::builder().api_id(&api_id).stage(&api.stage_name).build())
                    .quota(QuotaSettings::builder().limit(spec.quota() as i32).period(QuotaPeriodType::Day).build())
                    .throttle(
                        ThrottleSettings::builder()
                            .rate_limit(api.throttling_rate_limit)
                            .burst_limit(api.throttling_burst_limit as i32)
                            .build(),
                    )
                    .set_tags(Some(ctx.tag_map()))
                    .send()
                    .await
                    .map_err(aws)
                    .map_err(failed(&format!("create usage plan {}", r.name)))?;
                let id = created.id().unwrap_or_default().to_string();
                ctx.assign(&ids::USAGE_PLAN, Some(id.clone()));
                (id, Vec::new())
            }
        };
        (step.exists)();
        let mut ops = Vec::new();
        if let Some(c) = obs.changes.iter().find(|c| c.field == "daily_quota") {
            ops.push(patch(Op::Replace, "/quota/limit", spec.quota().to_string()));
            if c.from.get(1).and_then(|p| p.as_str()) != Some("DAY") {
                ops.push(patch(Op::Replace, "/quota/period", "DAY"));
            }
        }
        if obs.changed("throttling_rate_limit") {
            ops.push(patch(Op::Replace, "/throttle/rateLimit", api.throttling_rate_limit.to_string()));
        }
        if obs.changed("throttling_burst_limit") {
            ops.push(patch(Op::Replace, "/throttle/burstLimit", api.throttling_burst_limit.to_string()));
        }
        if let Some(c) = obs.changes.iter().find(|c| c.field == "stages") {
            for stale in c.from.as_array().into_iter().flatten().filter_map(|s| s.as_str()) {
                ops.push(patch(Op::Remove, "/apiStages", stale));
            }
            ops.push(patch(Op::Add, "/apiStages", stage_of(&api_id, &api.stage_name)));
        }
        if !ops.is_empty() {
            step.progress("updating", "quota, throttling and stage");
            let updated = apigw.update_usage_plan().usage_plan_id(&id).set_patch_operations(Some(ops)).send().await;
            updated.map_err(aws).map_err(failed(&format!("update usage plan {}", r.name)))?;
        }
        if let Some(key) = key.filter(|k| !current_keys.contains(k)) {
            step.progress(if obs.exists { "updating" } else { "creating" }, "the API key's place in the plan");
            let added = apigw.create_usage_plan_key().usage_plan_id(&id).key_id(&key).key_type("API_KEY").send().await;
            match added.map_err(aws) {
                // A concurrent run added it.
                Err(e) if !e.is_conflict() => return Err(failed(&format!("add the API key to usage plan {}", r.name))(e)),
                _ => {}
            }
        }
        if obs.exists && obs.changed("tags") {
            step.progress("updating", "tags");
            tag(ctx, ctx.env.names.usage_plan_arn(Some(&id)), &format!("usage plan {}", r.name)).await?;
        }
        Ok(())
    }

    /// Removes the plan's stages, then deletes it; one already gone is fine.
    async fn delete(&self, step: &Step, r: &Resource, obs: &Observation) -> Result<()> {
        let Some(id) = obs.id.as_deref() else { return Ok(()) };
        let apigw = &step.ctx.clients.apigateway;
        step.progress("deleting", &format!("usage plan {}", r.name));
        let plan = match apigw.get_usage_plan().usage_plan_id(id).send().await.map_err(aws) {
            Ok(plan) => plan,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(Error::aws(format!("read usage plan {}", r.name), e)),
        };
        let ops: Vec<PatchOperation> = plan
            .api_stages()
            .iter()
            .map(|s| patch(Op::Remove, "/apiStages", stage_of(s.api_id().unwrap_or_default(), s.stage().unwrap_or_default())))
            .collect();
        if !ops.is_empty() {
            let removed = apigw.update_usage_plan().usage_plan_id(id).set_patch_operations(Some(ops)).send().await;
            gone(removed.map_err(aws), format!("remove the stages of usage plan {}", r.name))?;
        }
        let deleted = apigw.delete_usage_plan().usage_plan_id(id).send().await;
        gone(deleted.map_err(aws), format!("delete usage plan {}", r.name))
    }
}
