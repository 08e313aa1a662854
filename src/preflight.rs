//! Checks before any mutation, so a doomed deploy fails in seconds rather than after a
//! ten-minute collection wait: who is calling (STS), the IAM ARN the data access policy must name
//! for them, and whether Bedrock offers the embedding model in the region.

use crate::aws::{Clients, aws};
use crate::config::Environment;
use crate::error::{Error, Result};
use crate::output::Reporter;

#[derive(Debug, Clone)]
pub struct Identity {
    pub account: String,
    /// What STS says (an assumed-role session ARN for roles).
    pub caller_arn: String,
    /// The IAM principal OpenSearch Serverless evaluates: the role ARN, with its path, for sessions.
    pub deployer_arn: String,
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

pub async fn identify(clients: &Clients, report: &Reporter) -> Result<Identity> {
    let me = clients.sts.get_caller_identity().send().await.map_err(aws).map_err(|e| {
        let mut err = Error::aws("find out who is calling (sts:GetCallerIdentity)", e);
        if let Error::Aws { help, .. } = &mut err {
            *help = Some(
                "ragstack needs AWS credentials: run it in AWS CloudShell, or configure a profile \
                 (aws configure / aws sso login) and pass --profile NAME"
                    .into(),
            );
        }
        err
    })?;
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
    let id = &env.embedding_model.id;
    match clients.bedrock.get_foundation_model().model_identifier(id).send().await.map_err(aws) {
        Ok(_) => Ok(()),
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
}
