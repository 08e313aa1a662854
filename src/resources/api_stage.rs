//! The stage named after the environment (from the file's `api.stage_name`), its deployment and
//! its throttling. A deployment is a snapshot of the API: ragstack writes a fingerprint of the
//! routes it deployed into the deployment's description, and creates a new deployment only when
//! that fingerprint changes, so an unchanged API is never redeployed.

use super::ids;
use super::rest_api::{self, patch};
use super::{Ctx, Inputs, Kind, Needs, Observation, Resource, Step, failed, gone};
use crate::aws::aws;
use crate::error::{Error, Result};
use async_trait::async_trait;
use aws_sdk_apigateway::types::Op;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;


pub struct Stage;

/// Method settings for every resource and method of the stage.
const ALL_METHODS: &str = "*/*";

/// The description of the deployment the stage should serve: a fingerprint of what a
/// deployment snapshots (routes, which require the API key, the resource policy). The stage is
/// declared after the API's id is known (it is observed after it), so the policy holds it.
fn deployment_description(i: &Inputs) -> Result<String> {
    let mut snapshot = rest_api::desired_routes(i.env).join("\n");
    if !i.env.file.api.allowed_source_cidrs.is_empty() {
        snapshot.push_str(&format!("\n{}", i.document(rest_api::POLICY_TEMPLATE)?.content));
    }
    let digest = Sha256::digest(snapshot.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Ok(format!("ragstack {}: routes {hex}", i.env.name))
}

/// The stage's typed spec: the deployment it should serve, by its description.
struct Deployment(String);

fn api_id(ctx: &Ctx) -> Option<String> {
    ctx.assigned(&ids::REST_API)
}

#[async_trait]
impl Kind for Stage {
    fn desired(&self, i: &Inputs) -> Result<Vec<Resource>> {
        let (n, api) = (&i.env.names, &i.env.file.api);
        Ok(vec![
            Resource::new(&Stage, ids::API_STAGE, "API Gateway deployment and stage", &api.stage_name)
                .depends_on(&ids::REST_API, Needs::Ready)
                .contained_in(&ids::REST_API)
                .observed_after(&ids::REST_API)
                .tagged()
                .settings(json!({
                    "throttling_rate_limit": api.throttling_rate_limit,
                    "throttling_burst_limit": api.throttling_burst_limit,
                }))
                .output("api_url", n.invoke_url(i.known.id(&ids::REST_API), &api.stage_name))
                .with_spec(Deployment(deployment_description(i)?)),
        ])
    }

    fn cloudformation(&self, ctx: &Ctx, r: &Resource) -> Result<Vec<(String, serde_json::Value)>> {
        let (api, deployment) = (super::logical_id(&ids::REST_API), rest_api::deployment_logical_id(&ctx.env));
        let a = &ctx.env.file.api;
        let properties = json!({
            "StageName": r.name,
            "RestApiId": {"Ref": api},
            "DeploymentId": {"Ref": deployment},
            "MethodSettings": [{
                "ResourcePath": "/*", "HttpMethod": "*",
                "ThrottlingRateLimit": a.throttling_rate_limit, "ThrottlingBurstLimit": a.throttling_burst_limit
            }],
            "Tags": super::cfn_tags(ctx),
        });
        Ok(vec![(super::logical_id(&r.id), super::cfn("AWS::ApiGateway::Stage", properties))])
    }

    async fn observe(&self, ctx: &Ctx, r: &Resource) -> Result<Observation> {
        let Some(api) = api_id(ctx) else { return Ok(Observation::absent()) };
        let read = |e| Error::aws(format!("read stage {} of REST API {api}", r.name), e);
        let apigw = &ctx.clients.apigateway;
        let stage = match apigw.get_stage().rest_api_id(&api).stage_name(&r.name).send().await.map_err(aws) {
            Ok(s) => s,
            Err(e) if e.is_not_found() => return Ok(Observation::absent()),
            Err(e) => return Err(read(e)),
        };
        let mut obs = Observation::present(stage.deployment_id().map(str::to_string));
        let current: BTreeMap<String, String> = stage.tags().cloned().unwrap_or_default().into_iter().collect();
        if let Some(why) = ctx.ownership(&current) {
            obs.foreign = Some(why);
            return Ok(obs);
        }
        let deployed = match stage.deployment_id() {
            Some(d) => match apigw.get_deployment().rest_api_id(&api).deployment_id(d).send().await.map_err(aws) {
                Ok(dep) => dep.description().unwrap_or_default().to_string(),
                Err(e) if e.is_not_found() => String::new(),
                Err(e) => return Err(read(e)),
            },
            None => String::new(),
        };
        obs.diff("deployment", deployed, r.spec::<Deployment>()?.0.as_str(), false);
        let settings = stage.method_settings().and_then(|m| m.get(ALL_METHODS));
        let api_file = &ctx.env.file.api;
        obs.diff(
            "throttling_rate_limit",
            settings.map_or(serde_json::Value::Null, |s| s.throttling_rate_limit().into()),
            api_file.throttling_rate_limit,
            false,
        );
        obs.diff(
            "throttling_burst_limit",
            settings.map_or(serde_json::Value::Null, |s| s.throttling_burst_limit().into()),
            api_file.throttling_burst_limit,
            false,
        );
        obs.diff_tags(ctx, &current);
        Ok(obs)
    }

    async fn apply(&self, step: &Step, r: &Resource, obs: &Observation) -> Result<()> {
        let ctx = &step.ctx;
        let apigw = &ctx.clients.apigateway;
        let Some(api) = api_id(ctx) else {
            return Err(Error::Incomplete { message: "the REST API does not exist yet".into(), help: None });
        };
        let mut ops = Vec::new();
        let mut deployment = None;
        if !obs.exists || obs.changed("deployment") {
            step.progress(if obs.exists { "updating" } else { "creating" }, "deployment");
            let created =
                apigw.create_deployment().rest_api_id(&api).description(r.spec::<Deployment>()?.0.as_str()).send().await;
            let created = created.map_err(aws).map_err(failed(&format!("deploy REST API {api}")))?;
            deployment = created.id().map(str::to_string);
        }
        if !obs.exists {
            step.progress("creating", &format!("stage {}", r.name));
            let created = apigw
                .create_stage()
                .rest_api_id(&api)
                .stage_name(&r.name)
                .set_deployment_id(deployment.clone())
                .description(format!("ragstack {}", ctx.env.name))
                .set_tags(Some(ctx.tag_map()))
                .send()
                .await
                .map_err(aws);
            // A concurrent run created it: converge from what is there.
            if let Some(again) = super::created(self, ctx, r, created, |e| e.is_conflict(), &format!("stage {} of REST API {api}", r.name)).await? {
                return self.apply(step, r, &again).await;
            }
            (step.exists)();
        } else if let Some(d) = &deployment {
            ops.push(patch(Op::Replace, "/deploymentId", d.clone()));
        }
        let api_file = &ctx.env.file.api;
        if !obs.exists || obs.changed("throttling_rate_limit") || obs.changed("throttling_burst_limit") {
            ops.push(patch(
                Op::Replace,
                &format!("/{ALL_METHODS}/throttling/rateLimit"),
                api_file.throttling_rate_limit.to_string(),
            ));
            ops.push(patch(
                Op::Replace,
                &format!("/{ALL_METHODS}/throttling/burstLimit"),
                api_file.throttling_burst_limit.to_string(),
            ));
        }
        if !ops.is_empty() {
            step.progress(if obs.exists { "updating" } else { "creating" }, "stage settings");
            apigw
                .update_stage()
                .rest_api_id(&api)
                .stage_name(&r.name)
                .set_patch_operations(Some(ops))
                .send()
                .await
                .map_err(aws)
                .map_err(failed(&format!("update stage {} of REST API {api}", r.name)))?;
        }
        if obs.exists && obs.changed("tags") {
            step.progress("updating", "tags");
            rest_api::tag(ctx, ctx.env.names.stage_arn(&api, &r.name), &format!("stage {}", r.name)).await?;
        }
        Ok(())
    }

    /// Deletes the stage (its API's deletion removes it too); one already gone is fine.
    async fn delete(&self, step: &Step, r: &Resource, _obs: &Observation) -> Result<()> {
        let name = &r.name;
        let Some(api) = api_id(&step.ctx) else { return Ok(()) };
        step.progress("deleting", &format!("stage {name}"));
        let deleted = step.ctx.clients.apigateway.delete_stage().rest_api_id(&api).stage_name(name).send().await;
        gone(deleted.map_err(aws), format!("delete stage {name}"))
    }
}
