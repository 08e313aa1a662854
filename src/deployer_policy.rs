//! `plan --deployer-policy`: the least-privilege policy whoever runs ragstack needs, rendered from
//! `templates/iam/deployer-policy.json.hbs` and split into as many IAM managed policies as it
//! takes. A managed policy holds at most 6,144 characters, white space not counted (IAM User
//! Guide, "IAM and AWS STS quotas": "Managed policy size"); the whole policy is longer than that.
//! Printed as one JSON document per policy, or as a CloudFormation template of the policies and
//! a role they are attached to.

use crate::config::Environment;
use crate::error::{Error, Result};
use clap::ValueEnum;
use serde_json::{Value, json};

/// IAM's limit for one managed policy, in characters other than white space.
pub const MANAGED_POLICY_MAX_CHARS: usize = 6144;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyFormat {
    /// One policy document per managed policy, each a JSON document of its own
    Json,
    /// A CloudFormation template: the managed policies and a role with them attached
    Cloudformation,
}

/// The characters IAM counts against the managed-policy limit.
pub fn counted_chars(policy: &Value) -> usize {
    serde_json::to_string(policy).expect("JSON serializes").chars().filter(|c| !c.is_whitespace()).count()
}

/// The policy's statements packed, in order, into policies of at most `max` counted characters.
pub fn split(policy: &Value, max: usize) -> Result<Vec<Value>> {
    let version = policy["Version"].clone();
    let document = |statements: &[Value]| json!({"Version": version, "Statement": statements});
    let mut parts: Vec<Vec<Value>> = vec![Vec::new()];
    for statement in policy["Statement"].as_array().into_iter().flatten() {
        let current = parts.last_mut().expect("one part at least");
        current.push(statement.clone());
        if counted_chars(&document(current)) <= max {
            continue;
        }
        let moved = current.pop().expect("just pushed");
        if counted_chars(&document(std::slice::from_ref(&moved))) > max {
            return Err(Error::usage(
                format!(
                    "statement {} of the deployer policy alone is over IAM's {max} characters for a managed policy",
                    moved["Sid"]
                ),
                Some("shorten it in templates/iam/deployer-policy.json.hbs (--templates DIR)".into()),
            ));
        }
        parts.push(vec![moved]);
    }
    Ok(parts.iter().map(|p| document(p)).collect())
}

/// The name of the environment's Nth deployer policy (1-based): within IAM's 128 characters.
fn policy_name(env: &Environment, n: usize) -> String {
    format!("{}-{}-{}-deployer-{n}", env.file.prefix, env.name, env.region())
}

/// Prints the split policy in the chosen format.
pub fn print(env: &Environment, policy: &Value, format: PolicyFormat) -> Result<()> {
    let parts = split(policy, MANAGED_POLICY_MAX_CHARS)?;
    match format {
        PolicyFormat::Json => {
            for part in &parts {
                println!("{}", serde_json::to_string_pretty(part).expect("JSON serializes"));
            }
        }
        PolicyFormat::Cloudformation => {
            let template = cloudformation(env, &parts);
            println!("{}", serde_json::to_string_pretty(&template).expect("JSON serializes"));
        }
    }
    Ok(())
}

/// The policies as AWS::IAM::ManagedPolicy resources and a role that has them, assumable by
/// the principal given as a parameter (the account itself by default: its IAM policies then
/// decide who may assume it).
pub fn cloudformation(env: &Environment, parts: &[Value]) -> Value {
    let mut resources = serde_json::Map::new();
    let mut arns = Vec::new();
    for (n, part) in parts.iter().enumerate() {
        let logical = format!("DeployerPolicy{}", n + 1);
        resources.insert(
            logical.clone(),
            json!({
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "ManagedPolicyName": policy_name(env, n + 1),
                    "Description": format!("What ragstack needs to deploy {} in {} ({} of {})", env.name, env.region(), n + 1, parts.len()),
                    "PolicyDocument": part,
                }
            }),
        );
        arns.push(json!({"Ref": logical}));
    }
    resources.insert(
        "DeployerRole".into(),
        json!({
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": format!("{}-{}-{}-deployer", env.file.prefix, env.name, env.region()),
                "Description": format!("Runs ragstack for environment {} in {}", env.name, env.region()),
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Principal": {"AWS": {"Fn::If": [
                        "TrustTheAccount",
                        {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"},
                        {"Ref": "TrustedPrincipal"}
                    ]}}, "Action": "sts:AssumeRole"}]
                },
                "ManagedPolicyArns": arns,
            }
        }),
    );
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("The role and policies that run ragstack for environment {} in {}", env.name, env.region()),
        "Parameters": {
            "TrustedPrincipal": {
                "Type": "String",
                "Description": "Who may assume the deployer role: an account, role or user ARN (default: this account, whose IAM policies then decide)",
                "Default": ""
            }
        },
        "Conditions": {"TrustTheAccount": {"Fn::Equals": [{"Ref": "TrustedPrincipal"}, ""]}},
        "Resources": resources,
        "Outputs": {"DeployerRoleArn": {"Value": {"Fn::GetAtt": ["DeployerRole", "Arn"]}}},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_packed_in_order_under_the_limit_and_none_is_lost() {
        let statement = |n: usize| json!({"Sid": format!("S{n}"), "Effect": "Allow", "Action": "s3:GetObject", "Resource": "x".repeat(100)});
        let policy = json!({"Version": "2012-10-17", "Statement": (0..20).map(statement).collect::<Vec<_>>()});
        let parts = split(&policy, 600).unwrap();
        assert!(parts.len() > 3, "{}", parts.len());
        let mut sids = Vec::new();
        for p in &parts {
            assert!(counted_chars(p) <= 600);
            sids.extend(p["Statement"].as_array().unwrap().iter().map(|s| s["Sid"].clone()));
        }
        assert_eq!(sids, (0..20).map(|n| json!(format!("S{n}"))).collect::<Vec<_>>());
        assert!(split(&policy, 100).is_err(), "a statement over the limit is an error");
        assert_eq!(split(&policy, 100_000).unwrap().len(), 1);
    }
}
