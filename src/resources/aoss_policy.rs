//! OpenSearch Serverless encryption and network (security) policies, and the data access policy.
//! They carry no tags: ragstack owns them by their deterministic names. Updates send the
//! policyVersion read, so a concurrent change is refused by AWS rather than overwritten.

use super::{Ctx, Observation, Step, failed};
use crate::aws::{aws, from_document, same_json};
use crate::error::Result;
use crate::plan::Resource;
use aws_sdk_opensearchserverless::types::{AccessPolicyType, SecurityPolicyType};
use serde_json::Value;

fn security_type(r: &Resource) -> SecurityPolicyType {
    if r.id == "encryption_policy" { SecurityPolicyType::Encryption } else { SecurityPolicyType::Network }
}

fn compare(current: Value, version: Option<&str>, r: &Resource) -> Observation {
    let mut obs = Observation::present(version.map(str::to_string));
    let wanted = r.document(0);
    if !same_json(&current, &wanted) {
        obs.diff("policy", current, wanted, false);
    }
    obs
}

pub async fn observe_security(ctx: &Ctx, r: &Resource) -> Result<Observation> {
    let got = ctx.clients.aoss.get_security_policy().name(&r.name).r#type(security_type(r)).send().await.map_err(aws);
    match got {
        Ok(out) => {
            let d = out.security_policy_detail();
            let current = d.and_then(|d| d.policy()).map(from_document).unwrap_or(Value::Null);
            Ok(compare(current, d.and_then(|d| d.policy_version()), r))
        }
        Err(e) if e.is_not_found() => Ok(Observation::absent()),
        Err(e) => Err(failed(&format!("read security policy {}", r.name))(e)),
    }
}

pub async fn observe_access(ctx: &Ctx, r: &Resource) -> Result<Observation> {
    let got =
        ctx.clients.aoss.get_access_policy().name(&r.name).r#type(AccessPolicyType::Data).send().await.map_err(aws);
    match got {
        Ok(out) => {
            let d = out.access_policy_detail();
            let current = d.and_then(|d| d.policy()).map(from_document).unwrap_or(Value::Null);
            Ok(compare(current, d.and_then(|d| d.policy_version()), r))
        }
        Err(e) if e.is_not_found() => Ok(Observation::absent()),
        Err(e) => Err(failed(&format!("read data access policy {}", r.name))(e)),
    }
}

pub async fn apply_security(step: &Step, r: &Resource, obs: &Observation) -> Result<()> {
    let aoss = &step.ctx.clients.aoss;
    let policy = r.document(0).to_string();
    let description = format!("ragstack {}", step.ctx.env.name);
    if !obs.exists {
        step.progress("creating", "");
        let created = aoss
            .create_security_policy()
            .name(&r.name)
            .r#type(security_type(r))
            .policy(&policy)
            .description(description)
            .send()
            .await
            .map_err(aws);
        match created {
            Ok(_) => return Ok(()),
            // Another deploy created it meanwhile: read it and converge.
            Err(e) if e.is_conflict() => {
                let again = observe_security(&step.ctx, r).await?;
                return if again.changes.is_empty() { Ok(()) } else { Box::pin(apply_security(step, r, &again)).await };
            }
            Err(e) => return Err(failed(&format!("create security policy {}", r.name))(e)),
        }
    }
    if obs.changes.is_empty() {
        return Ok(());
    }
    step.progress("updating", "policy");
    aoss.update_security_policy()
        .name(&r.name)
        .r#type(security_type(r))
        .policy(&policy)
        .set_policy_version(obs.id.clone())
        .send()
        .await
        .map_err(aws)
        .map_err(failed(&format!("update security policy {}", r.name)))?;
    Ok(())
}

pub async fn apply_access(step: &Step, r: &Resource, obs: &Observation) -> Result<()> {
    let aoss = &step.ctx.clients.aoss;
    let policy = r.document(0).to_string();
    if !obs.exists {
        step.progress("creating", "");
        let created = aoss
            .create_access_policy()
            .name(&r.name)
            .r#type(AccessPolicyType::Data)
            .policy(&policy)
            .description(format!("ragstack {}", step.ctx.env.name))
            .send()
            .await
            .map_err(aws);
        match created {
            Ok(_) => return Ok(()),
            Err(e) if e.is_conflict() => {
                let again = observe_access(&step.ctx, r).await?;
                return if again.changes.is_empty() { Ok(()) } else { Box::pin(apply_access(step, r, &again)).await };
            }
            Err(e) => return Err(failed(&format!("create data access policy {}", r.name))(e)),
        }
    }
    if obs.changes.is_empty() {
        return Ok(());
    }
    step.progress("updating", "policy");
    aoss.update_access_policy()
        .name(&r.name)
        .r#type(AccessPolicyType::Data)
        .policy(&policy)
        .set_policy_version(obs.id.clone())
        .send()
        .await
        .map_err(aws)
        .map_err(failed(&format!("update data access policy {}", r.name)))?;
    Ok(())
}
