//! IAM roles: trust policy, one inline permission policy, tags, under the path `/PREFIX/`.
//! IAM is eventually consistent: a new role is not assumable for some seconds, which the services
//! that assume it (Bedrock, Lambda) report as a validation error their modules retry on.

use super::ids;
use super::{
    Ctx, Id, Inputs, Kind, Needs, Observation, Resource, Step, failed, gone,
};
use crate::aws::{aws, parse_policy};
use crate::error::{Error, Result};
use async_trait::async_trait;
use aws_sdk_iam::types::Tag;
use serde_json::{Value, json};
use std::collections::BTreeMap;


pub struct Role;

/// `plan` lists a role's trust policy first, then its permissions policy.
fn trust(r: &Resource) -> Value {
    r.rendered(0)
}

fn permissions(r: &Resource) -> Value {
    r.rendered(1)
}

fn policy_name(r: &Resource) -> String {
    r.setting("inline_policy").to_string()
}

/// A role of the environment: tagged, under the role path, trusting `trusted`, with one inline
/// policy; its documents are `templates/iam/TEMPLATES-trust.json` and `-permissions.json`.
fn role(i: &Inputs, id: Id, name: &str, trusted: &str, inline_policy: &str, templates: &str) -> Result<Resource> {
    let n = &i.env.names;
    Ok(Resource::new(&Role, id, "IAM role", name)
        .arn(n.role_arn(name))
        .tagged()
        .settings(json!({
            "path": n.role_path,
            "trusted_service": trusted,
            "inline_policy": inline_policy,
        }))
        .document(i.document(&format!("iam/{templates}-trust.json"))?)
        .document(i.document(&format!("iam/{templates}-permissions.json"))?))
}

fn tags(ctx: &Ctx) -> Vec<Tag> {
    ctx.env
        .tags()
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().expect("key and value are set"))
        .collect()
}

#[async_trait]
impl Kind for Role {
    /// The knowledge base's role (Bedrock reads the documents and writes the index) and the query
    /// function's (Lambda asks the knowledge base); their policies name the collection's and the
    /// knowledge base's ARNs.
    fn desired(&self, i: &Inputs) -> Result<Vec<Resource>> {
        let n = &i.env.names;
        let mut kb_role = role(
            i,
            ids::KNOWLEDGE_BASE_ROLE,
            &n.knowledge_base_role,
            "bedrock.amazonaws.com (this account's knowledge bases in this region)",
            "knowledge-base-access",
            "knowledge-base",
        )?
        .observed_after(&ids::COLLECTION)
        .generational();
        if i.env.uses_documents_bucket() {
            kb_role = kb_role.depends_on(&ids::DOCUMENTS_BUCKET, Needs::Arn);
        }
        let kb_role = kb_role.depends_on(&ids::COLLECTION, Needs::Arn);
        let api_role = role(i, ids::API_ROLE, &n.api_role, "lambda.amazonaws.com", "query-function-access", "api")?
            .depends_on(&ids::KNOWLEDGE_BASE, Needs::Arn)
            .observed_after(&ids::KNOWLEDGE_BASE)
            .generational();
        // With `[sync]` triggers: the trigger function's (start ingestion, record its re-checks)
        // and EventBridge Scheduler's (invoke the trigger function).
        let wanted = i.env.syncs_automatically();
        let sync_role = role(i, ids::SYNC_ROLE, &n.sync_role, "lambda.amazonaws.com", "sync-trigger-access", "sync")?
            .wanted_if(wanted)
            .depends_on(&ids::KNOWLEDGE_BASE, Needs::Arn)
            .observed_after(&ids::KNOWLEDGE_BASE)
            .generational();
        let scheduler_role = role(
            i,
            ids::SCHEDULER_ROLE,
            &n.scheduler_role,
            "scheduler.amazonaws.com (this account's schedules)",
            "invoke-sync-trigger",
            "scheduler",
        )?
        .wanted_if(wanted);
        Ok(vec![kb_role, api_role, sync_role, scheduler_role])
    }

    fn cloudformation(&self, ctx: &Ctx, r: &Resource) -> Result<Vec<(String, Value)>> {
        let properties = json!({
            "RoleName": r.name,
            "Path": ctx.env.names.role_path,
            "AssumeRolePolicyDocument": r.rendered(0),
            "Policies": [{"PolicyName": r.setting("inline_policy"), "PolicyDocument": r.rendered(1)}],
            "Tags": super::cfn_tags(ctx),
        });
        Ok(vec![(super::logical_id(&r.id), super::cfn("AWS::IAM::Role", properties))])
    }

    async fn observe(&self, ctx: &Ctx, r: &Resource) -> Result<Observation> {
        let read = |e| Error::aws(format!("read role {}", r.name), e);
        let role = match ctx.clients.iam.get_role().role_name(&r.name).send().await.map_err(aws) {
            Ok(out) => {
                out.role.ok_or_else(|| Error::Incomplete { message: "GetRole returned no role".into(), help: None })?
            }
            Err(e) if e.is_not_found() => return Ok(Observation::absent()),
            Err(e) => return Err(read(e)),
        };
        let mut obs = Observation::present(Some(role.arn().to_string()));
        let current: BTreeMap<String, String> =
            role.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        if let Some(why) = ctx.ownership(&current) {
            obs.foreign = Some(why);
            return Ok(obs);
        }
        let wanted_path = r.setting("path");
        obs.diff("path", role.path(), wanted_path, true);
        let current_trust = role.assume_role_policy_document().map(parse_policy).unwrap_or(Value::Null);
        obs.diff("trust_policy", current_trust, trust(r), false);
        let inline = ctx.clients.iam.get_role_policy().role_name(&r.name).policy_name(policy_name(r)).send().await;
        let current_permissions = match inline.map_err(aws) {
            Ok(out) => parse_policy(out.policy_document()),
            Err(e) if e.is_not_found() => Value::Null,
            Err(e) => return Err(read(e)),
        };
        obs.diff("permissions_policy", current_permissions, permissions(r), false);
        obs.diff_tags(ctx, &current);
        Ok(obs)
    }

    async fn apply(&self, step: &Step, r: &Resource, obs: &Observation) -> Result<()> {
        let ctx = &step.ctx;
        let iam = &ctx.clients.iam;
        let path = r.setting("path");
        let mut put_permissions = obs.changed("permissions_policy");
        if !obs.exists {
            step.progress("creating", "");
            let created = iam
                .create_role()
                .role_name(&r.name)
                .path(path)
                .assume_role_policy_document(trust(r).to_string())
                .description(format!("ragstack {}: {}", ctx.env.name, r.id.as_str().replace('_', " ")))
                .set_tags(Some(tags(ctx)))
                .send()
                .await
                .map_err(aws);
            // Created by a concurrent or interrupted run: converge from what is there.
            if let Some(again) = super::created(self, ctx, r, created, |e| e.is_conflict(), &format!("role {}", r.name)).await? {
                return self.apply(step, r, &again).await;
            }
            put_permissions = true;
        } else {
            if obs.changed("trust_policy") {
                step.progress("updating", "trust policy");
                iam.update_assume_role_policy()
                    .role_name(&r.name)
                    .policy_document(trust(r).to_string())
                    .send()
                    .await
                    .map_err(aws)
                    .map_err(failed(&format!("update the trust policy of role {}", r.name)))?;
            }
            if obs.changed("tags") {
                step.progress("updating", "tags");
                iam.tag_role()
                    .role_name(&r.name)
                    .set_tags(Some(tags(ctx)))
                    .send()
                    .await
                    .map_err(aws)
                    .map_err(failed(&format!("tag role {}", r.name)))?;
            }
        }
        if put_permissions {
            step.progress(if obs.exists { "updating" } else { "creating" }, "permissions policy");
            iam.put_role_policy()
                .role_name(&r.name)
                .policy_name(policy_name(r))
                .policy_document(permissions(r).to_string())
                .send()
                .await
                .map_err(aws)
                .map_err(failed(&format!("put the permissions policy of role {}", r.name)))?;
        }
        Ok(())
    }

    /// Deletes the role (teardown): IAM refuses while policies are attached, so its inline policies
    /// are deleted and managed ones detached first.
    async fn delete(&self, step: &Step, r: &Resource, _obs: &Observation) -> Result<()> {
        let name = r.name.as_str();
        let iam = &step.ctx.clients.iam;
        step.progress("deleting", &format!("role {name}"));
        let inline = match iam.list_role_policies().role_name(name).send().await.map_err(aws) {
            Ok(out) => out.policy_names,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(Error::aws(format!("list the policies of role {name}"), e)),
        };
        for policy in inline {
            let deleted = iam.delete_role_policy().role_name(name).policy_name(&policy).send().await;
            gone(deleted.map_err(aws), format!("delete policy {policy} of role {name}"))?;
        }
        let attached = iam.list_attached_role_policies().role_name(name).send().await.map_err(aws);
        for policy in
            attached.map_err(failed(&format!("list the managed policies of role {name}")))?.attached_policies()
        {
            let arn = policy.policy_arn().unwrap_or_default();
            let detached = iam.detach_role_policy().role_name(name).policy_arn(arn).send().await;
            gone(detached.map_err(aws), format!("detach {arn} from role {name}"))?;
        }
        let deleted = iam.delete_role().role_name(name).send().await;
        gone(deleted.map_err(aws), format!("delete role {name}"))
    }
}
