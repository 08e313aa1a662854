//! Which way an environment was deployed: by ragstack directly, or by a CloudFormation stack made
//! from `ragstack export`'s template. CloudFormation tags what it creates with
//! `aws:cloudformation:stack-name` (CloudFormation User Guide, "Tag your CloudFormation
//! resources": stack-level tags with the prefix `aws:` are created automatically), so the
//! documents bucket (or, for an environment without one, the query function) names the stack. A
//! stack that no longer exists owns nothing: what it retained is ragstack's again.
//!
//! `deploy`, `plan` and `teardown` refuse (exit 2) an environment a live stack manages, since
//! their changes would happen behind the stack's back; `status` says which way it was deployed.

use crate::aws::aws;
use crate::error::{Error, Result};
use crate::resources::{Ctx, s3_bucket};
use serde::Serialize;
use std::collections::BTreeMap;

pub const TAG_STACK_NAME: &str = "aws:cloudformation:stack-name";

/// The stack that manages the environment.
#[derive(Debug, Clone, Serialize)]
pub struct Stack {
    pub stack: String,
    pub stack_status: String,
}

/// The live stack whose resources the environment's are, if any.
pub async fn stack(ctx: &Ctx) -> Result<Option<Stack>> {
    let tags = if ctx.env.uses_documents_bucket() {
        let bucket = &ctx.env.names.documents_bucket;
        match s3_bucket::tags(ctx, bucket).await {
            Ok(tags) => tags,
            Err(e) if e.is_not_found() => BTreeMap::new(),
            Err(e) => return Err(Error::aws(format!("read the tags of bucket {bucket}"), e)),
        }
    } else {
        let function = &ctx.env.names.function;
        match ctx.clients.lambda.get_function().function_name(function).send().await.map_err(aws) {
            Ok(out) => out.tags.unwrap_or_default().into_iter().collect(),
            Err(e) if e.is_not_found() => BTreeMap::new(),
            Err(e) => return Err(Error::aws(format!("read function {function}"), e)),
        }
    };
    let Some(name) = tags.get(TAG_STACK_NAME) else { return Ok(None) };
    match ctx.clients.cloudformation.describe_stacks().stack_name(name).send().await.map_err(aws) {
        Ok(out) => {
            let status = out.stacks().first().and_then(|s| s.stack_status()).map(|s| s.as_str().to_string());
            Ok(status
                .filter(|s| s != "DELETE_COMPLETE")
                .map(|stack_status| Stack { stack: name.clone(), stack_status }))
        }
        // "Stack with id X does not exist" (CloudFormation API Reference, DescribeStacks).
        Err(e) if e.is("ValidationError") && e.message.contains("does not exist") => Ok(None),
        Err(e) => Err(Error::aws(
            format!("read stack {name}, which created this environment (cloudformation:DescribeStacks)"),
            e,
        )
        .with_help("ragstack checks that no CloudFormation stack manages the environment before changing it")),
    }
}

/// Refuses `command` on an environment a live stack manages.
pub async fn refuse_if_stack(ctx: &Ctx, command: &str) -> Result<()> {
    let Some(s) = stack(ctx).await? else { return Ok(()) };
    Err(Error::Refused {
        message: format!(
            "environment {} was deployed through CloudFormation: stack {} ({}) manages its resources, and `ragstack \
             {command}` would change them behind the stack's back; nothing was done",
            ctx.env.name, s.stack, s.stack_status
        ),
        help: format!(
            "change it through the stack (ragstack export {env} {region}, then aws cloudformation deploy), or delete the \
             stack first (aws cloudformation delete-stack --stack-name {stack}); `ragstack teardown {env}` then removes \
             what the stack retained (the documents bucket)",
            env = ctx.env.name,
            region = ctx.env.region(),
            stack = s.stack
        ),
    })
}
