//! OpenSearch Serverless encryption and network (security) policies, and the data access policy.
//! They carry no tags: ragstack owns them by their deterministic names plus the description it
//! writes (`ragstack ENV`); a policy of that name with another description is somebody else's and
//! is neither updated nor deleted. Updates send the policyVersion read, so a concurrent change is
//! refused by AWS rather than overwritten.
//!
//! Security and access policies are two API families with the same lifecycle; the three calls
//! that differ (get, create, update) are chosen by `Family`, the rest is shared.

use super::ids;
use super::{Ctx, Inputs, Kind, Needs, Observation, Resource, Step, failed, gone, ours};
use crate::aws::{AwsError, aws, from_document};
use crate::error::Result;
use async_trait::async_trait;
use aws_sdk_opensearchserverless::types::{AccessPolicyType, SecurityPolicyType};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
enum Family {
    Security(SecurityPolicyType),
    Access,
}


pub struct Policy;

fn family(r: &Resource) -> Family {
    match &r.id {
        id if *id == ids::ENCRYPTION_POLICY => Family::Security(SecurityPolicyType::Encryption),
        id if *id == ids::NETWORK_POLICY => Family::Security(SecurityPolicyType::Network),
        _ => Family::Access,
    }
}

fn what(r: &Resource) -> String {
    match family(r) {
        Family::Security(_) => format!("security policy {}", r.name),
        Family::Access => format!("data access policy {}", r.name),
    }
}

/// What ragstack reads of an existing policy.
struct Current {
    policy: Value,
    version: Option<String>,
    description: Option<String>,
}

/// The description ragstack writes on the policies it creates, and recognises them by.
fn marker(ctx: &Ctx) -> String {
    format!("ragstack {}", ctx.env.name)
}

/// The policy, or None when there is no such policy.
async fn get(ctx: &Ctx, r: &Resource) -> std::result::Result<Option<Current>, AwsError> {
    let aoss = &ctx.clients.aoss;
    let detail = match family(r) {
        Family::Security(t) => aoss.get_security_policy().name(&r.name).r#type(t).send().await.map_err(aws).map(|o| {
            o.security_policy_detail.map(|d| Current {
                policy: d.policy.as_ref().map_or(Value::Null, from_document),
                version: d.policy_version,
                description: d.description,
            })
        }),
        Family::Access => {
            aoss.get_access_policy().name(&r.name).r#type(AccessPolicyType::Data).send().await.map_err(aws).map(|o| {
                o.access_policy_detail.map(|d| Current {
                    policy: d.policy.as_ref().map_or(Value::Null, from_document),
                    version: d.policy_version,
                    description: d.description,
                })
            })
        }
    };
    match detail {
        Ok(d) => Ok(Some(d.unwrap_or(Current { policy: Value::Null, version: None, description: None }))),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

async fn create(ctx: &Ctx, r: &Resource, policy: &str) -> std::result::Result<(), AwsError> {
    let aoss = &ctx.clients.aoss;
    let description = marker(ctx);
    match family(r) {
        Family::Security(t) => {
            let call = aoss.create_security_policy().name(&r.name).r#type(t).policy(policy).description(description);
            call.send().await.map(drop).map_err(aws)
        }
        Family::Access => {
            let call = aoss.create_access_policy().name(&r.name).r#type(AccessPolicyType::Data);
            call.policy(policy).description(description).send().await.map(drop).map_err(aws)
        }
    }
}

async fn update(ctx: &Ctx, r: &Resource, policy: &str, version: Option<String>) -> std::result::Result<(), AwsError> {
    let aoss = &ctx.clients.aoss;
    match family(r) {
        Family::Security(t) => {
            let call = aoss.update_security_policy().name(&r.name).r#type(t).policy(policy);
            call.set_policy_version(version).send().await.map(drop).map_err(aws)
        }
        Family::Access => {
            let call = aoss.update_access_policy().name(&r.name).r#type(AccessPolicyType::Data).policy(policy);
            call.set_policy_version(version).send().await.map(drop).map_err(aws)
        }
    }
}

#[async_trait]
impl Kind for Policy {
    /// Untagged (policies take no tags): owned by name and description.
    fn desired(&self, i: &Inputs) -> Result<Vec<Resource>> {
        let (n, vs) = (&i.env.names, &i.env.file.vector_store);
        let policies = vec![
            Resource::new(&Policy, ids::ENCRYPTION_POLICY, "OpenSearch Serverless encryption policy", &n.encryption_policy)
                .settings(json!({
                    "collection": n.collection,
                    "key": vs.kms_key_arn.clone().unwrap_or_else(|| "AWS owned key".into()),
                }))
                .document(i.document("opensearch/encryption-policy.json")?),
            Resource::new(&Policy, ids::NETWORK_POLICY, "OpenSearch Serverless network policy", &n.network_policy)
                .settings(json!({
                    "collection": n.collection,
                    "access": vs.network_access(),
                    "vpc_endpoints": vs.vpc_endpoints(),
                }))
                .document(i.document("opensearch/network-policy.json")?),
            Resource::new(&Policy, ids::DATA_ACCESS_POLICY, "OpenSearch Serverless data access policy", &n.access_policy)
                .generational()
                .depends_on(&ids::KNOWLEDGE_BASE_ROLE, Needs::Arn)
                .settings(json!({
                    "principals": [i.vars()["arns"]["knowledge_base_role"], i.vars()["deployer"]],
                }))
                .document(i.document("opensearch/data-access-policy.json")?),
        ];
        Ok(policies.into_iter().map(|p| p.wanted_if(vs.is_opensearch())).collect())
    }

    /// The observation's id is the policy version, which an update must send.
    /// Policies are JSON text in CloudFormation, as in the API.
    fn cloudformation(&self, ctx: &Ctx, r: &Resource) -> Result<Vec<(String, Value)>> {
        let (kind, policy_type) = match family(r) {
            Family::Security(t) => ("AWS::OpenSearchServerless::SecurityPolicy", t.as_str().to_string()),
            Family::Access => ("AWS::OpenSearchServerless::AccessPolicy", "data".to_string()),
        };
        let properties = json!({
            "Name": r.name,
            "Type": policy_type,
            "Description": marker(ctx),
            "Policy": r.rendered(0).to_string(),
        });
        Ok(vec![(super::logical_id(&r.id), super::cfn(kind, properties))])
    }

    async fn observe(&self, ctx: &Ctx, r: &Resource) -> Result<Observation> {
        match get(ctx, r).await {
            Ok(Some(current)) => {
                let mut obs = Observation::present(current.version);
                let mark = marker(ctx);
                if current.description.as_deref() != Some(mark.as_str()) {
                    obs.foreign = Some(format!(
                        "its description is {:?}, not {mark:?} (how ragstack marks the policies it creates)",
                        current.description.unwrap_or_default()
                    ));
                    return Ok(obs);
                }
                obs.diff("policy", current.policy, r.rendered(0), false);
                Ok(obs)
            }
            Ok(None) => Ok(Observation::absent()),
            Err(e) => Err(failed(&format!("read {}", what(r)))(e)),
        }
    }

    async fn apply(&self, step: &Step, r: &Resource, obs: &Observation) -> Result<()> {
        let ctx = &step.ctx;
        let policy = r.rendered(0).to_string();
        if !obs.exists {
            step.progress("creating", "");
            return match create(ctx, r, &policy).await {
                Ok(()) => Ok(()),
                // Another deploy created it meanwhile: read it and converge.
                Err(e) if e.is_conflict() => {
                    let again = ours(self.observe(ctx, r).await?, &what(r))?;
                    if again.changes.is_empty() { Ok(()) } else { self.apply(step, r, &again).await }
                }
                Err(e) => Err(failed(&format!("create {}", what(r)))(e)),
            };
        }
        if obs.changes.is_empty() {
            return Ok(());
        }
        step.progress("updating", "policy");
        update(ctx, r, &policy, obs.id.clone()).await.map_err(failed(&format!("update {}", what(r))))
    }

    /// Deletes the policy (teardown); an already deleted one is fine.
    async fn delete(&self, step: &Step, r: &Resource, _obs: &Observation) -> Result<()> {
        let aoss = &step.ctx.clients.aoss;
        step.progress("deleting", &what(r));
        let deleted = match family(r) {
            Family::Security(t) => {
                aoss.delete_security_policy().name(&r.name).r#type(t).send().await.map(drop).map_err(aws)
            }
            Family::Access => {
                let call = aoss.delete_access_policy().name(&r.name).r#type(AccessPolicyType::Data);
                call.send().await.map(drop).map_err(aws)
            }
        };
        gone(deleted, format!("delete {}", what(r)))
    }
}
