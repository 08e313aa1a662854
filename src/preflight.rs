//! Checks before any mutation, so a doomed deploy fails in seconds rather than after a
//! ten-minute collection wait: who is calling (STS), the IAM ARN the data access policy must name
//! for them (and whether AWS accepts them there), whether Bedrock offers the embedding model in
//! the region, whether the account may use the embedding and generation models, whether the
//! configured guardrail exists, and whether the account can spare the reserved concurrency.

use crate::aws::{AwsError, Clients, aws};
use crate::config::Environment;
use crate::error::{Error, Result};
use crate::naming;
use crate::output::Reporter;
use aws_sdk_bedrock::types::{AgreementStatus, AuthorizationStatus, EntitlementAvailability, RegionAvailability};

#[derive(Debug, Clone)]
pub struct Identity {
    pub account: String,
    /// What STS says (an assumed-role session ARN for roles).
    pub caller_arn: String,
    /// The IAM principal OpenSearch Serverless evaluates: the role ARN, with its path, for sessions.
    pub deployer_arn: String,
}

impl Identity {
    /// Why OpenSearch Serverless would refuse this caller as a principal of the data access
    /// policy deploy writes (it names the deployer so that the deployer can create the index):
    /// data access policies take IAM users and roles, not the root user or STS federated users
    /// (docs/ARCHITECTURE.md, "AWS behaviours"). None when the caller is fine.
    pub fn unsupported_principal(&self) -> Option<String> {
        let arn = &self.caller_arn;
        let root =
            arn.strip_prefix("arn:").and_then(|r| r.split_once(":iam::")).and_then(|(_, r)| r.strip_suffix(":root"));
        if root.is_some_and(naming::is_account_id) {
            return Some(format!("you are signed in as the account's root user ({arn})"));
        }
        if arn.contains(":federated-user/") {
            return Some(format!("you are signed in as an STS federated user ({arn})"));
        }
        None
    }
}

/// The refusal of a caller AWS would not accept in the data access policy: exit 2, before any
/// change, instead of CreateAccessPolicy failing once half the environment exists.
pub fn refuse_unsupported_principal(me: &Identity) -> Result<()> {
    match me.unsupported_principal() {
        None => Ok(()),
        Some(why) => Err(Error::Refused {
            message: format!(
                "{why}: OpenSearch Serverless does not accept that principal in a data access policy, \
                 which must name whoever creates the vector index"
            ),
            help: "run ragstack as an IAM role or user: in CloudShell, sign in to the console with an IAM \
                   Identity Center or IAM role; in CI, use a role (`ragstack plan ENV --deployer-policy` prints \
                   the policy it needs)"
                .into(),
        }),
    }
}

/// `arn:aws:sts::A:assumed-role/R/session` -> (partition, account, R); None for other principals.
pub fn assumed_role(arn: &str) -> Option<(&str, &str, &str)> {
    let rest = arn.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    let rest = rest.strip_prefix("sts::")?;
    let (account, rest) = rest.split_once(':')?;
    let rest = rest.strip_prefix("assumed-role/")?;
    let (role, _session) = rest.split_once('/')?;
    Some((partition, account, role))
}

/// The account the credentials belong to (sts:GetCallerIdentity, which needs no permission).
pub async fn account(clients: &Clients) -> Result<String> {
    Ok(caller(clients).await?.account().unwrap_or_default().to_string())
}

async fn caller(clients: &Clients) -> Result<aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput> {
    clients.sts.get_caller_identity().send().await.map_err(aws).map_err(|e| {
        Error::aws("find out who is calling (sts:GetCallerIdentity)", e).with_help(
            "ragstack needs AWS credentials: run it in AWS CloudShell, or configure a profile \
             (aws configure / aws sso login) and pass --profile NAME",
        )
    })
}

pub async fn identify(clients: &Clients, report: &Reporter) -> Result<Identity> {
    let me = caller(clients).await?;
    let account = me.account().unwrap_or_default().to_string();
    let caller_arn = me.arn().unwrap_or_default().to_string();
    let deployer_arn = match assumed_role(&caller_arn) {
        None => caller_arn.clone(),
        Some((partition, acct, role)) => match clients.iam.get_role().role_name(role).send().await.map_err(aws) {
            Ok(out) => out.role.map(|r| r.arn).unwrap_or_else(|| format!("arn:{partition}:iam::{acct}:role/{role}")),
            Err(e) => {
                report.note(&format!(
                    "note: could not read role {role} ({}); assuming it has no path. If the index cannot be \
                     created (403), allow iam:GetRole on your role",
                    e.code
                ));
                format!("arn:{partition}:iam::{acct}:role/{role}")
            }
        },
    };
    Ok(Identity { account, caller_arn, deployer_arn })
}

/// Asks Bedrock whether the embedding model exists in the region. A definite "no" fails (exit 2,
/// nothing created); not being allowed to ask only warns.
pub async fn check_embedding_model(clients: &Clients, env: &Environment, report: &Reporter) -> Result<()> {
    // Bedrock's own embeddings (a managed knowledge base): nothing of ours to check.
    let Some(id) = env.embedding_model_id() else { return Ok(()) };
    match clients.bedrock.get_foundation_model().model_identifier(id).send().await.map_err(aws) {
        Ok(_) => Ok(()),
        // Past its end of life: `models` says so (and deploy and plan refuse it there).
        Err(e) if e.is_not_found() && e.message.contains("end of its life") => Ok(()),
        Err(e) if e.is("ValidationException") || e.is_not_found() => Err(Error::usage(
            format!(
                "{}: knowledge_base.embedding_model = \"{id}\" is not offered by Bedrock in {} ({e})",
                env.source,
                env.region()
            ),
            Some(format!(
                "choose a region where the model is offered, or another model; `aws bedrock \
                 list-foundation-models --region {} --by-output-modality EMBEDDING` lists them",
                env.region()
            )),
        )),
        Err(e) => {
            report
                .note(&format!("note: could not check the embedding model {id} with Bedrock ({}); continuing", e.code));
            Ok(())
        }
    }
}

/// Asks Bedrock whether this account may use the embedding model and the generation model (an
/// inference profile is checked through the models it routes to). GetFoundationModel only says
/// a model exists; GetFoundationModelAvailability says whether the account is authorized,
/// entitled and has accepted its agreement. A model the account cannot use refuses the command
/// (exit 2) before anything is created: the stack would deploy green and then fail every question
/// or every ingestion. Not being allowed to ask only warns.
pub async fn check_model_access(clients: &Clients, env: &Environment, report: &Reporter) -> Result<()> {
    if let Some(embedding) = env.embedding_model_id() {
        check_access(clients, env, report, "knowledge_base.embedding_model", embedding).await?;
    }
    let generation = &env.file.lambda.generation_model;
    let key = "lambda.generation_model";
    if naming::inference_profile_base(generation).is_none() {
        return check_access(clients, env, report, key, generation).await;
    }
    let profile = match clients.bedrock.get_inference_profile().inference_profile_identifier(generation).send().await {
        Ok(p) => p,
        Err(e) => {
            let e = aws(e);
            if e.is_not_found() || e.is("ValidationException") {
                return Err(not_offered(
                    env,
                    key,
                    &format!("inference profile {generation}"),
                    "list-inference-profiles",
                    &e,
                ));
            }
            return cannot_check(report, generation, &e, "bedrock:GetInferenceProfile");
        }
    };
    // The profile routes to the same model in several regions: access is granted per model id.
    let mut bases: Vec<&str> = profile
        .models()
        .iter()
        .filter_map(|m| m.model_arn())
        .filter_map(|a| a.rsplit_once('/').map(|(_, id)| id))
        .collect();
    bases.sort_unstable();
    bases.dedup();
    for base in bases {
        check_access(clients, env, report, key, base).await?;
    }
    Ok(())
}

async fn check_access(clients: &Clients, env: &Environment, report: &Reporter, key: &str, model: &str) -> Result<()> {
    let out = match clients.bedrock.get_foundation_model_availability().model_id(model).send().await {
        Ok(out) => out,
        Err(e) => {
            let e = aws(e);
            if e.is_not_found() || e.is("ValidationException") {
                return Err(not_offered(env, key, &format!("model {model}"), "list-foundation-models", &e));
            }
            return cannot_check(report, model, &e, "bedrock:GetFoundationModelAvailability");
        }
    };
    let mut problems = Vec::new();
    if out.authorization_status() == &AuthorizationStatus::NotAuthorized {
        problems.push("the account is not authorized to use it (authorizationStatus NOT_AUTHORIZED)".to_string());
    }
    if let Some(a) = out.agreement_availability()
        && a.status() != &AgreementStatus::Available
    {
        let detail = a.error_message().map(|m| format!(": {m}")).unwrap_or_default();
        problems.push(format!("its agreement is {} (agreementAvailability){detail}", a.status().as_str()));
    }
    if out.entitlement_availability() == &EntitlementAvailability::NotAvailable {
        problems.push("the account is not entitled to it (entitlementAvailability NOT_AVAILABLE)".to_string());
    }
    if out.region_availability() == &RegionAvailability::NotAvailable {
        problems.push(format!("it is not available in {} (regionAvailability NOT_AVAILABLE)", env.region()));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::Refused {
        message: format!(
            "{}: {key}: this account cannot use model {model} in {}: {}",
            env.source,
            env.region(),
            problems.join("; ")
        ),
        help: format!(
            "request access in the Bedrock console (Model access, region {}; Anthropic models also need the \
             one-time use-case form), wait until it shows \"Access granted\", then run the command again; \
             `aws bedrock get-foundation-model-availability --model-id {model}` shows the status",
            env.region()
        ),
    })
}

/// The guardrail of `[retrieval]` must exist in the region (bedrock:GetGuardrail): a missing one
/// would make every question fail once deployed. Exit 2 when Bedrock says it does not exist.
pub async fn check_guardrail(clients: &Clients, env: &Environment, report: &Reporter) -> Result<()> {
    let r = &env.file.retrieval;
    let (Some(id), Some(version)) = (&r.guardrail_id, &r.guardrail_version) else { return Ok(()) };
    let got = clients.bedrock.get_guardrail().guardrail_identifier(id).guardrail_version(version).send().await;
    match got.map_err(aws) {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Err(Error::usage(
            format!(
                "{}: retrieval.guardrail_id: guardrail {id} version {version} does not exist in {} ({e})",
                env.source,
                env.region()
            ),
            Some(format!("`aws bedrock list-guardrails --region {}` lists the guardrails there", env.region())),
        )),
        Err(e) => cannot_check(report, &format!("guardrail {id}"), &e, "bedrock:GetGuardrail"),
    }
}

/// Lambda keeps at least this much of the account's concurrency unreserved (its refusal: "...
/// decreases account's UnreservedConcurrentExecution below its minimum value of [100]").
const MIN_UNRESERVED_CONCURRENCY: i64 = 100;

/// `lambda.reserved_concurrency` must fit in what the account has unreserved (GetAccountSettings),
/// counting what the function already reserves. Exit 2 when it cannot.
pub async fn check_concurrency(clients: &Clients, env: &Environment, report: &Reporter) -> Result<()> {
    let Some(wanted) = env.file.lambda.reserved_concurrency else { return Ok(()) };
    let settings = match clients.lambda.get_account_settings().send().await.map_err(aws) {
        Ok(s) => s,
        Err(e) => {
            return cannot_check(report, "the account's Lambda concurrency", &e, "lambda:GetAccountSettings");
        }
    };
    let unreserved = settings.account_limit().map_or(0, |l| l.unreserved_concurrent_executions().unwrap_or(0) as i64);
    let function = &env.names.function;
    let current = match clients.lambda.get_function_concurrency().function_name(function).send().await.map_err(aws) {
        Ok(c) => c.reserved_concurrent_executions().unwrap_or(0) as i64,
        Err(e) if e.is_not_found() => 0,
        Err(e) => {
            return cannot_check(report, "the function's reserved concurrency", &e, "lambda:GetFunctionConcurrency");
        }
    };
    let available = unreserved + current - MIN_UNRESERVED_CONCURRENCY;
    if wanted <= available {
        return Ok(());
    }
    let total = settings.account_limit().map_or(0, |l| l.concurrent_executions()) as i64;
    Err(Error::usage(
        format!(
            "{}: lambda.reserved_concurrency: {wanted} is more than this account can reserve in {}: {} at most \
             (its concurrency limit is {total}, {unreserved} unreserved, and Lambda keeps \
             {MIN_UNRESERVED_CONCURRENCY} unreserved)",
            env.source,
            env.region(),
            available.max(0)
        ),
        Some(
            "lower reserved_concurrency, or leave it out; a higher limit is requested in Service Quotas \
             (Lambda, Concurrent executions)"
                .into(),
        ),
    ))
}

/// The environment file names something Bedrock does not offer in the region (exit 2).
fn not_offered(env: &Environment, key: &str, what: &str, list: &str, e: &AwsError) -> Error {
    Error::usage(
        format!("{}: {key}: {what} is not offered by Bedrock in {} ({e})", env.source, env.region()),
        Some(format!("`aws bedrock {list} --region {}` lists what is", env.region())),
    )
}

fn cannot_check(report: &Reporter, model: &str, e: &AwsError, action: &str) -> Result<()> {
    report.note(&format!(
        "note: could not check this account's access to model {model} ({}); continuing. Allow {action} to have \
         ragstack check it before creating anything",
        e.code
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assumed_role_sessions_are_recognised() {
        assert_eq!(
            assumed_role("arn:aws:sts::123456789012:assumed-role/Admin/jane@example.com"),
            Some(("aws", "123456789012", "Admin"))
        );
        assert_eq!(
            assumed_role("arn:aws-cn:sts::123456789012:assumed-role/R/s"),
            Some(("aws-cn", "123456789012", "R"))
        );
        assert_eq!(assumed_role("arn:aws:iam::123456789012:user/jane"), None);
        assert_eq!(assumed_role("arn:aws:sts::123456789012:federated-user/jane"), None);
    }

    fn caller(arn: &str) -> Identity {
        Identity { account: "123456789012".into(), caller_arn: arn.into(), deployer_arn: arn.into() }
    }

    #[test]
    fn root_and_federated_callers_are_refused_as_data_access_principals() {
        assert!(caller("arn:aws:iam::123456789012:root").unsupported_principal().is_some());
        assert!(caller("arn:aws-cn:iam::123456789012:root").unsupported_principal().is_some());
        assert!(caller("arn:aws:sts::123456789012:federated-user/jane").unsupported_principal().is_some());
        assert!(caller("arn:aws:iam::123456789012:user/root").unsupported_principal().is_none());
        assert!(caller("arn:aws:sts::123456789012:assumed-role/Admin/jane").unsupported_principal().is_none());
        let refusal = refuse_unsupported_principal(&caller("arn:aws:iam::123456789012:root")).unwrap_err();
        assert_eq!(refusal.exit_code(), 2);
    }
}
