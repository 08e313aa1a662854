//! The documents-changed rule (`sync.trigger = "on_change"`): an EventBridge rule on the default
//! bus matching S3's "Object Created" and "Object Deleted" events of the documents bucket under
//! the data sources' prefixes (`templates/events/documents-changed.json.hbs`), with the sync
//! trigger as its one target and the function's permission for this rule to invoke it.
//! EventBridge delivers to Lambda asynchronously: one invocation per matching event.

use super::ids;
use super::{Ctx, Inputs, Kind, Needs, Observation, Resource, Step, failed, gone, lambda_function, ours};
use crate::aws::{AwsError, aws};
use crate::error::{Error, Result};
use async_trait::async_trait;
use aws_sdk_eventbridge::types::{RuleState, Tag, Target};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The rule's one target, and the function's permission statement for it.
const TARGET_ID: &str = "sync-trigger";
const PERMISSION_SID: &str = "ragstack-documents-changed";
const PATTERN_TEMPLATE: &str = "events/documents-changed.json";

pub struct Rule;

fn pattern(r: &Resource) -> Value {
    r.rendered(0)
}

async fn tags(ctx: &Ctx, arn: &str) -> std::result::Result<BTreeMap<String, String>, AwsError> {
    let out = ctx.clients.events.list_tags_for_resource().resource_arn(arn).send().await.map_err(aws)?;
    Ok(out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect())
}

fn tag_list(ctx: &Ctx) -> Vec<Tag> {
    ctx.env.tags().into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("key and value are set")).collect()
}


#[async_trait]
impl Kind for Rule {
    fn desired(&self, i: &Inputs) -> Result<Vec<Resource>> {
        if !i.env.uses_documents_bucket() {
            return Ok(Vec::new());
        }
        let n = &i.env.names;
        Ok(vec![
            Resource::new(&Rule, ids::SYNC_RULE, "EventBridge rule", &n.sync_rule)
                .arn(n.sync_rule_arn())
                .wanted_if(i.env.syncs_on_change())
                .depends_on(&ids::SYNC_FUNCTION, Needs::Ready)
                .tagged()
                .settings(json!({
                    "event_bus": "default",
                    "events": "S3 Object Created and Object Deleted under the data sources' prefixes",
                    "target": n.sync_function,
                    "invoke_permission_statement": PERMISSION_SID,
                }))
                .document(i.document(PATTERN_TEMPLATE)?),
        ])
    }

    async fn observe(&self, ctx: &Ctx, r: &Resource) -> Result<Observation> {
        let read = |e| Error::aws(format!("read rule {}", r.name), e);
        let events = &ctx.clients.events;
        let rule = match events.describe_rule().name(&r.name).send().await.map_err(aws) {
            Ok(out) => out,
            Err(e) if e.is_not_found() => return Ok(Observation::absent()),
            Err(e) => return Err(read(e)),
        };
        let arn = rule.arn().unwrap_or_default().to_string();
        let mut obs = Observation::present(Some(arn.clone()));
        let current = tags(ctx, &arn).await.map_err(read)?;
        if let Some(why) = ctx.ownership(&current) {
            obs.foreign = Some(why);
            return Ok(obs);
        }
        let current_pattern = rule.event_pattern().and_then(|p| serde_json::from_str(p).ok()).unwrap_or(Value::Null);
        obs.diff("event_pattern", current_pattern, pattern(r), false);
        obs.diff("state", rule.state().map_or("", RuleState::as_str), "ENABLED", false);
        let targets = events.list_targets_by_rule().rule(&r.name).send().await.map_err(aws).map_err(read)?;
        let current_targets: Vec<Value> =
            targets.targets().iter().map(|t| json!({"id": t.id(), "arn": t.arn()})).collect();
        obs.diff("targets", json!(current_targets), json!([{"id": TARGET_ID, "arn": ctx.env.names.sync_function_arn()}]), false);
        let permission = lambda_function::permission_source(ctx, &ctx.env.names.sync_function, PERMISSION_SID).await?;
        obs.diff("invoke_permission", permission, ctx.env.names.sync_rule_arn(), false);
        obs.details.insert(
            "trigger".into(),
            format!("on_change: objects created or deleted in {} start their data source's ingestion", ctx.env.names.documents_bucket)
                .into(),
        );
        obs.diff_tags(ctx, &current);
        Ok(obs)
    }

    async fn apply(&self, step: &Step, r: &Resource, obs: &Observation) -> Result<()> {
        let ctx = &step.ctx;
        let events = &ctx.clients.events;
        let name = &r.name;
        if !obs.exists || obs.changed("event_pattern") || obs.changed("state") {
            step.progress(if obs.exists { "updating" } else { "creating" }, "");
            // PutRule creates or replaces the rule (tags apply on creation).
            let put = events
                .put_rule()
                .name(name)
                .event_pattern(pattern(r).to_string())
                .state(RuleState::Enabled)
                .description(format!("ragstack {}: documents changed, ingest them", ctx.env.name));
            let put = if obs.exists { put } else { put.set_tags(Some(tag_list(ctx))) };
            let created = put.send().await.map_err(aws);
            match created {
                Ok(_) => {}
                // A concurrent run is changing it too: converge from what is there.
                Err(e) if e.is("ConcurrentModificationException") => {
                    let again = ours(self.observe(ctx, r).await?, &format!("rule {name}"))?;
                    return self.apply(step, r, &again).await;
                }
                Err(e) => return Err(Error::aws(format!("put rule {name}"), e)),
            }
            (step.exists)();
        }
        if !obs.exists || obs.changed("invoke_permission") {
            let source = ctx.env.names.sync_rule_arn();
            let grant = lambda_function::Grant { sid: PERMISSION_SID, principal: "events.amazonaws.com", source_arn: &source };
            lambda_function::grant(step, &ctx.env.names.sync_function, &grant).await?;
        }
        if !obs.exists || obs.changed("targets") {
            step.progress(if obs.exists { "updating" } else { "creating" }, "target: the sync trigger");
            let stale: Vec<String> = obs
                .changes
                .iter()
                .filter(|c| c.field == "targets")
                .flat_map(|c| c.from.as_array().cloned().unwrap_or_default())
                .filter_map(|t| t["id"].as_str().filter(|id| *id != TARGET_ID).map(str::to_string))
                .collect();
            if !stale.is_empty() {
                let removed = events.remove_targets().rule(name).set_ids(Some(stale)).send().await;
                removed.map_err(aws).map_err(failed(&format!("remove the other targets of rule {name}")))?;
            }
            let target = Target::builder().id(TARGET_ID).arn(ctx.env.names.sync_function_arn()).build().expect("id and arn are set");
            let out = events.put_targets().rule(name).targets(target).send().await;
            let out = out.map_err(aws).map_err(failed(&format!("set the target of rule {name}")))?;
            if let Some(f) = out.failed_entries().first() {
                return Err(Error::Incomplete {
                    message: format!(
                        "rule {name}: EventBridge refused its target: {}: {}",
                        f.error_code().unwrap_or_default(),
                        f.error_message().unwrap_or_default()
                    ),
                    help: Some("deploy again; if it persists, check the function in the Lambda console".into()),
                });
            }
        }
        if obs.exists && obs.changed("tags") {
            step.progress("updating", "tags");
            let arn = obs.id.clone().unwrap_or_else(|| ctx.env.names.sync_rule_arn());
            let tagged = events.tag_resource().resource_arn(arn).set_tags(Some(tag_list(ctx))).send().await;
            tagged.map_err(aws).map_err(failed(&format!("tag rule {name}")))?;
        }
        Ok(())
    }

    /// Removes the targets (EventBridge refuses to delete a rule that has any), the rule, and the
    /// function's permission for it.
    async fn delete(&self, step: &Step, r: &Resource, _obs: &Observation) -> Result<()> {
        let ctx = &step.ctx;
        let events = &ctx.clients.events;
        let name = &r.name;
        step.progress("deleting", &format!("rule {name}"));
        let targets = match events.list_targets_by_rule().rule(name).send().await.map_err(aws) {
            Ok(out) => out.targets.unwrap_or_default(),
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(Error::aws(format!("list the targets of rule {name}"), e)),
        };
        if !targets.is_empty() {
            let ids: Vec<String> = targets.into_iter().map(|t| t.id).collect();
            let removed = events.remove_targets().rule(name).set_ids(Some(ids)).send().await;
            gone(removed.map_err(aws), format!("remove the targets of rule {name}"))?;
        }
        let deleted = events.delete_rule().name(name).send().await;
        gone(deleted.map_err(aws), format!("delete rule {name}"))?;
        lambda_function::revoke(step, &ctx.env.names.sync_function, PERMISSION_SID).await
    }
}
