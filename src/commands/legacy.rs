//! `ragstack legacy list|teardown ENV [REGION]`: the CloudFormation stacks the old creator.sh (a
//! CDK app, in two generations) left in the account, shown and retired.
//!
//! A stack is the old app's only when its name is exactly one the app gave that environment
//! (`LEGACY_STACKS`) and it carries the app's `project` tag (`PROJECTS`): a look-alike name, another
//! environment's stack, CDKToolkit (shared by every CDK app) or an untagged namesake is never
//! touched. Deletion runs in reverse dependency order: a stack goes once every stack importing its
//! exports is gone (CloudFormation refuses to delete an export in use) and every stack its
//! generation created after it (which may use it by name rather than by export); the two
//! generations in parallel. A stack something else still needs is left, with why.
//! What CloudFormation leaves behind is reported from the stack itself: the resources its
//! template retains on deletion (`DeletionPolicy: Retain`, by physical id) and the reasons of
//! every `DELETE_FAILED` event.

use crate::aws::{AwsError, Clients, aws};
use crate::commands::teardown;
use crate::error::{Error, ExitStatus, Result};
use crate::legacy::{Retained, Stack, discover};
use crate::output::{Mode, Reporter};
use crate::schedule::{self, Stage};
use crate::session::{self, Settings};
use crate::{preflight, wait};
use aws_sdk_cloudformation::types::{ResourceStatus, StackStatus};
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// CloudFront distributions alone take up to half an hour to delete.
const DEADLINE: Duration = Duration::from_secs(90 * 60);

#[derive(Debug, Args)]
pub struct LegacyArgs {
    #[command(subcommand)]
    pub action: LegacyAction,
}

#[derive(Debug, Subcommand)]
pub enum LegacyAction {
    /// Show the old app's stacks of the environment, their status and what they keep on deletion
    List(OldEnvironment),
    /// Delete the old app's stacks of the environment in reverse dependency order (asks first)
    Teardown(LegacyTeardownArgs),
}

#[derive(Debug, Args)]
pub struct LegacyTeardownArgs {
    #[command(flatten)]
    pub target: OldEnvironment,
    /// Turn off the termination protection of the old app's protected stacks, then delete them
    /// (without it, a protected stack refuses the whole teardown before anything is deleted)
    #[arg(long)]
    pub lift_termination_protection: bool,
}

#[derive(Debug, Args)]
pub struct OldEnvironment {
    /// The environment name creator.sh was given (exactly, case included)
    pub env: String,
    /// AWS region, e.g. us-east-1 [default: AWS_REGION, AWS_DEFAULT_REGION, or the profile's]
    pub region: Option<String>,
}

impl LegacyAction {
    pub fn target(&self) -> &OldEnvironment {
        match self {
            LegacyAction::List(t) => t,
            LegacyAction::Teardown(t) => &t.target,
        }
    }
}

/// The environment part must keep every name a valid stack name (`[a-zA-Z][-a-zA-Z0-9]*`,
/// CloudFormation API Reference, CreateStack StackName).
fn check_env(env: &str) -> Result<()> {
    if !env.is_empty() && env.len() <= 100 && env.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Ok(());
    }
    Err(Error::usage(
        format!("`{env}` cannot be part of a stack name: use letters, digits and hyphens (1 to 100 characters)"),
        Some("give the environment name exactly as creator.sh was given it, e.g. dev".to_string()),
    ))
}

pub async fn run(s: &Settings, args: &LegacyArgs) -> Result<ExitStatus> {
    let (action, json, yes) = (&args.action, s.json, s.yes);
    let region = session::resolve_region(action.target().region.as_deref(), s.profile.as_deref()).await?;
    let clients = Clients::connect(&region, s.profile.as_deref()).await;
    let env = &action.target().env;
    check_env(env)?;
    let report = Arc::new(Reporter::new(json));
    let account = preflight::account(&clients).await?;
    let region = clients.region.clone();
    let (stacks, near) = discover(&clients, env).await?;
    match action {
        LegacyAction::List(_) => {
            show(&report, env, &region, &account, &stacks, &near);
            Ok(ExitStatus::Success)
        }
        LegacyAction::Teardown(args) => {
            show(&report, env, &region, &account, &stacks, &near);
            let doomed: Vec<Stack> = stacks.iter().filter(|s| s.left_because.is_none()).cloned().collect();
            if doomed.is_empty() {
                return Ok(ExitStatus::failed_if(stacks.iter().any(Stack::held_back)));
            }
            let protected: Vec<&str> =
                doomed.iter().filter(|s| s.termination_protection).map(|s| s.name.as_str()).collect();
            if !protected.is_empty() && !args.lift_termination_protection {
                return Err(protection_refusal(env, &region, &protected));
            }
            if !yes {
                teardown::confirm("legacy teardown", env, doomed.len(), "stacks")?;
            }
            for name in &protected {
                lift_protection(&clients, &report, name).await?;
            }
            let outcomes = delete_in_order(&clients, &report, doomed).await;
            summarize(&report, env, &region, &stacks, &outcomes);
            let all_gone = outcomes.iter().all(|o| o.deleted) && !stacks.iter().any(Stack::held_back);
            Ok(ExitStatus::failed_if(!all_gone))
        }
    }
}

/// Deleting a protected stack fails and leaves it as it is (CloudFormation User Guide, "Protect a
/// stack from being deleted"); deleting the others first would leave the old app half removed.
fn protection_refusal(env: &str, region: &str, protected: &[&str]) -> Error {
    let lift: Vec<String> = protected
        .iter()
        .map(|n| {
            format!(
                "aws cloudformation update-termination-protection --no-enable-termination-protection \
                 --region {region} --stack-name {n}"
            )
        })
        .collect();
    Error::Refused {
        message: format!(
            "termination protection is on for {}: CloudFormation would refuse to delete {}, so nothing was deleted",
            protected.join(", "),
            if protected.len() == 1 { "it" } else { "them" }
        ),
        help: format!(
            "lift it yourself ({}), or let ragstack lift it: ragstack legacy teardown {env} {region} \
             --lift-termination-protection",
            lift.join("; ")
        ),
    }
}

async fn lift_protection(clients: &Clients, report: &Reporter, name: &str) -> Result<()> {
    clients
        .cloudformation
        .update_termination_protection()
        .stack_name(name)
        .enable_termination_protection(false)
        .send()
        .await
        .map_err(aws)
        .map_err(|e| {
            Error::aws(
                format!("lift the termination protection of {name} (cloudformation:UpdateTerminationProtection)"),
                e,
            )
        })?;
    report.note(&format!("{name}: termination protection lifted"));
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub logical_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub physical_id: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub stack: String,
    pub deleted: bool,
    /// The DELETE_FAILED events of this deletion.
    pub failures: Vec<Failure>,
    /// Why the stack is still there (failed, gave up, or not attempted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What CloudFormation kept, by physical id.
    pub retained: Vec<Retained>,
}

impl Outcome {
    fn new(stack: &str) -> Outcome {
        Outcome { stack: stack.to_string(), deleted: false, failures: Vec::new(), error: None, retained: Vec::new() }
    }

    /// Ends with the stack still there: reports `state` with `why` and keeps it.
    fn not_deleted(mut self, report: &Reporter, state: &str, why: String) -> Outcome {
        report.resource(&self.stack, state, &why);
        self.error = Some(why);
        self
    }
}

/// Deletes the stacks, each once every stack that needs it is gone; independent stacks in
/// parallel (`schedule`). A stack needed by one that could not be deleted is not attempted.
async fn delete_in_order(clients: &Clients, report: &Arc<Reporter>, stacks: Vec<Stack>) -> Vec<Outcome> {
    let mut graph = schedule::Graph::new(stacks.iter().map(|s| s.name.clone()));
    let mut set = JoinSet::new();
    for s in &stacks {
        let needed_by = stacks.iter().filter(|o| o.needs(&s.name)).map(|o| (o.name.clone(), Stage::Done)).collect();
        let (cf, report, s) = (clients.cloudformation.clone(), report.clone(), s.clone());
        graph.spawn(&mut set, s.name.clone(), needed_by, move |failed, _| async move {
            let outcome = match failed {
                Some(importer) => Outcome::new(&s.name).not_deleted(
                    &report,
                    "skipped",
                    format!("not attempted: {importer} needs it and is still there"),
                ),
                None => delete_one(&cf, &report, &s).await,
            };
            let deleted = outcome.deleted;
            (outcome, deleted)
        });
    }
    graph.fail_cycles();
    let mut outcomes = Vec::new();
    while let Some(joined) = set.join_next().await {
        outcomes.push(joined.expect("deletion tasks do not panic"));
    }
    // In the order the stacks were given, whatever order they finished in.
    outcomes.sort_by_key(|o| stacks.iter().position(|s| s.name == o.stack));
    outcomes
}

/// DeleteStack by id, then follows the stack's events until DELETE_COMPLETE or DELETE_FAILED.
async fn delete_one(cf: &aws_sdk_cloudformation::Client, report: &Reporter, stack: &Stack) -> Outcome {
    let mut outcome = Outcome::new(&stack.name);
    let failed = |o: Outcome, e: AwsError, action: &str| {
        let why = Error::aws(format!("{action} stack {}", o.stack), e).to_string();
        o.not_deleted(report, "failed", why)
    };
    // Events up to the newest one now (an earlier failed attempt's) are not this deletion's.
    let newest = cf.describe_stack_events().stack_name(&stack.id).send().await.map_err(aws);
    let mut last = match newest {
        Ok(out) => out.stack_events().first().and_then(|e| e.event_id()).map(str::to_string),
        Err(e) => return failed(outcome, e, "read the events of"),
    };
    report.resource(&stack.name, "deleting", &format!("was {}", stack.status));
    if let Err(e) = cf.delete_stack().stack_name(&stack.id).send().await.map_err(aws) {
        return failed(outcome, e, "delete (cloudformation:DeleteStack)");
    }
    let clock = wait::Poll::new(DEADLINE).at_least(Duration::from_secs(1));
    loop {
        let status = match cf.describe_stacks().stack_name(&stack.id).send().await.map_err(aws) {
            Ok(out) => out.stacks().first().and_then(|s| s.stack_status().cloned()),
            Err(e) => return failed(outcome, e, "follow the deletion of"),
        };
        let new = match events_after(cf, &stack.id, last.as_deref()).await {
            Ok(new) => new,
            Err(e) => return failed(outcome, e, "read the events of"),
        };
        if let Some(id) = new.last().and_then(|e| e.event_id()) {
            last = Some(id.to_string());
        }
        for e in new {
            let status = e.resource_status().map(|s| s.as_str()).unwrap_or_default();
            let logical = e.logical_resource_id().unwrap_or_default();
            let reason = e.resource_status_reason().map(|r| format!(": {r}")).unwrap_or_default();
            if e.resource_type() != Some("AWS::CloudFormation::Stack") || logical != stack.name {
                report.resource(&stack.name, "deleting", &format!("{logical} {status}{reason}"));
            }
            match e.resource_status() {
                Some(ResourceStatus::DeleteFailed) if logical != stack.name => outcome.failures.push(Failure {
                    logical_id: logical.to_string(),
                    kind: e.resource_type().unwrap_or_default().to_string(),
                    physical_id: e.physical_resource_id().unwrap_or_default().to_string(),
                    reason: e.resource_status_reason().unwrap_or_default().to_string(),
                }),
                Some(ResourceStatus::DeleteSkipped) if stack.retains.iter().all(|r| r.logical_id != logical) => {
                    outcome.retained.push(Retained {
                        logical_id: logical.to_string(),
                        kind: e.resource_type().unwrap_or_default().to_string(),
                        physical_id: e.physical_resource_id().map(str::to_string),
                    })
                }
                _ => {}
            }
        }
        match status {
            Some(StackStatus::DeleteComplete) | None => {
                outcome.deleted = true;
                outcome.retained.extend(stack.retains.iter().cloned());
                report.resource(&stack.name, "done", "deleted");
                return outcome;
            }
            Some(StackStatus::DeleteFailed) => {
                let n = outcome.failures.len();
                let why = format!("DELETE_FAILED: {n} resource{} could not be deleted", if n == 1 { "" } else { "s" });
                return outcome.not_deleted(report, "failed", why);
            }
            _ if clock.expired() => {
                let minutes = DEADLINE.as_secs() / 60;
                let why = format!("still deleting after {minutes} min: see the stack's events in the console");
                return outcome.not_deleted(report, "failed", why);
            }
            _ => clock.pause().await,
        }
    }
}

/// The stack's events newer than the event `after` (all when None), oldest first.
/// DescribeStackEvents answers newest first, so paging stops at `after`: a poll reads what is new,
/// not the stack's whole history.
async fn events_after(
    cf: &aws_sdk_cloudformation::Client,
    id: &str,
    after: Option<&str>,
) -> std::result::Result<Vec<aws_sdk_cloudformation::types::StackEvent>, AwsError> {
    let mut new = Vec::new();
    let mut pages = cf.describe_stack_events().stack_name(id).into_paginator().send();
    'pages: while let Some(page) = pages.next().await {
        for e in page.map_err(aws)?.stack_events() {
            if after.is_some() && e.event_id() == after {
                break 'pages;
            }
            new.push(e.clone());
        }
    }
    new.reverse();
    Ok(new)
}

fn show(report: &Reporter, env: &str, region: &str, account: &str, stacks: &[Stack], near: &[String]) {
    if report.mode() == Mode::Json {
        report.event(
            json!({"event": "legacy_stacks", "environment": env, "region": region, "account": account,
                   "stacks": stacks, "case_mismatches": near}),
            None,
        );
        return;
    }
    if stacks.is_empty() {
        println!("No stacks of the old creator.sh for environment {env} in {region} (account {account}).");
    } else {
        println!("Stacks of the old creator.sh for environment {env} in {region} (account {account}):");
    }
    for s in stacks {
        let project = s.project.as_deref().map(|p| format!("project={p}")).unwrap_or_else(|| "no project tag".into());
        println!("  {:<34} {:<22} {project}", s.name, s.status);
        if !s.imports_from.is_empty() {
            println!("      imports from {} (so it goes first)", s.imports_from.join(", "));
        }
        if s.termination_protection {
            println!("      termination protection: on (teardown needs --lift-termination-protection)");
        }
        for r in &s.retains {
            println!(
                "      kept on deletion: {} {} ({})",
                r.kind,
                r.physical_id.as_deref().unwrap_or("not created"),
                r.logical_id
            );
        }
        if let Some(why) = &s.left_because {
            println!("      left alone: {why}");
        }
    }
    for n in near {
        println!("  not included: {n} (the environment name differs in case; pass it exactly to include it)");
    }
    println!("The CDK bootstrap stack (CDKToolkit) is shared by every CDK app in the account and is never touched.");
}

fn summarize(report: &Reporter, env: &str, region: &str, stacks: &[Stack], outcomes: &[Outcome]) {
    report.finish();
    let secs = report.elapsed().as_secs_f64();
    let deleted: Vec<&str> = outcomes.iter().filter(|o| o.deleted).map(|o| o.stack.as_str()).collect();
    let left: Vec<&Stack> = stacks.iter().filter(|s| s.held_back()).collect();
    let not_ours: Vec<&Stack> = stacks.iter().filter(|s| s.project.is_none()).collect();
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.deleted).collect();
    let retained: Vec<&Retained> = outcomes.iter().filter(|o| o.deleted).flat_map(|o| &o.retained).collect();
    let result = if failed.is_empty() && left.is_empty() { "deleted" } else { "incomplete" };
    if report.mode() == Mode::Json {
        report.event(
            json!({"event": "summary", "command": "legacy teardown", "result": result, "environment": env,
                   "region": region, "deleted": deleted, "failed": failed, "left": left, "not_the_old_apps": not_ours,
                   "retained": retained, "total_s": (secs * 1000.0).round() / 1000.0}),
            None,
        );
        return;
    }
    println!();
    println!("Deleted {} of the old app's stacks of {env} in {region} in {secs:.1}s.", deleted.len());
    for o in &failed {
        println!("Not deleted: {}: {}", o.stack, o.error.as_deref().unwrap_or_default());
        for f in &o.failures {
            println!("  {} {} ({}): {}", f.kind, f.physical_id, f.logical_id, f.reason);
            if f.kind == "AWS::S3::Bucket" && f.reason.contains("not empty") {
                println!(
                    "    help: the bucket still holds objects; ragstack never deletes data it does not own. If you no \
                     longer need them, empty it (aws s3 rm s3://{} --recursive, and its old versions if versioned)",
                    f.physical_id
                );
            }
        }
    }
    for s in &left {
        println!("Not deleted: {}: {}", s.name, s.left_because.as_deref().unwrap_or_default());
    }
    for s in &not_ours {
        println!("Left alone, not the old app's: {}: {}", s.name, s.left_because.as_deref().unwrap_or_default());
    }
    if !retained.is_empty() {
        println!("CloudFormation kept these resources (DeletionPolicy Retain); they are yours to delete or keep:");
        for r in &retained {
            println!("  {} {} ({})", r.kind, r.physical_id.as_deref().unwrap_or("never created"), r.logical_id);
        }
    }
    if !failed.is_empty() || !left.is_empty() {
        println!("Fix the causes and run `ragstack legacy teardown {env} {region}` again: it retries what is left.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_names_must_fit_a_stack_name() {
        assert!(check_env("dev").is_ok());
        assert!(check_env("Prod-2").is_ok());
        assert!(check_env("dev_1").is_err());
        assert!(check_env("").is_err());
    }
}
