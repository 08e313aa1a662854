//! The environment's Lambda functions: the query function (`templates/lambda/handler.py` and
//! `index.html`) and, with `[sync]` triggers, the sync trigger (`templates/sync/handler.py`), each
//! zipped in memory. The zip is deterministic (fixed file order, timestamps and permissions), so an
//! unchanged function's CodeSha256 equals the local one and a re-deploy sends nothing.
//! Configuration reaches the code through environment variables. Lambda applies one update at a
//! time: each step waits for LastUpdateStatus=Successful before the next. A new role is not
//! assumable for some seconds (InvalidParameterValueException), which CreateFunction retries.

mod spec;

use super::ids;
use super::{
    Ctx, Inputs, Kind, Needs, Observation, Phase, Resource, Status, Step, data_source, failed, gone, ours, sync_schedule,
};
pub use spec::exported_package;
use spec::Spec;
use spec::{PROMPT_FILE, RECHECK_MINUTES, SYNC_MEMORY_MB, SYNC_TIMEOUT_SECONDS, retrieval_variables, sync_data_sources};
use crate::aws::{AwsError, aws};
use crate::config::Architecture as Arch;
use crate::error::{Error, Result};
use crate::naming::AFTER_APPLY;
use crate::wait;
use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, DestinationConfig, Environment, FunctionCode, LastUpdateStatus, OnFailure, Runtime, State,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

const ROLE_PROPAGATION_DEADLINE: Duration = Duration::from_secs(3 * 60);
const READY_DEADLINE: Duration = Duration::from_secs(10 * 60);

pub struct Function;

/// How the sync trigger begins the description of the jobs it starts.
const TRIGGERED_JOB_DESCRIPTION: &str = "ragstack sync trigger";

/// Lambda's default for asynchronous invocations, stated so that it shows: two retries before
/// the event goes to the on-failure destination ("Asynchronous invocation", Lambda Developer Guide).
const ASYNC_RETRIES: i32 = 2;

fn architecture(ctx: &Ctx) -> Architecture {
    match ctx.env.file.lambda.architecture {
        Arch::Arm64 => Architecture::Arm64,
        Arch::X86_64 => Architecture::X8664,
    }
}

/// Sets (or removes) the function's reserved concurrency as the file says.
async fn put_concurrency(step: &Step, name: &str, reserved: Option<i64>) -> Result<()> {
    let lambda = &step.ctx.clients.lambda;
    let action = format!("set the reserved concurrency of function {name}");
    match reserved {
        Some(n) => {
            step.progress("updating", &format!("reserved concurrency {n}"));
            let put = lambda.put_function_concurrency().function_name(name).reserved_concurrent_executions(n as i32);
            put.send().await.map(drop).map_err(aws).map_err(failed(&action))
        }
        None => {
            step.progress("updating", "no reserved concurrency");
            let deleted = lambda.delete_function_concurrency().function_name(name).send().await;
            deleted.map(drop).map_err(aws).map_err(failed(&action))
        }
    }
}

/// The function's on-failure destination and retries for asynchronous events, or null.
async fn on_failure(ctx: &Ctx, name: &str) -> Result<serde_json::Value> {
    match ctx.clients.lambda.get_function_event_invoke_config().function_name(name).send().await.map_err(aws) {
        Ok(c) => Ok(json!({
            "destination": c.destination_config().and_then(|d| d.on_failure()).and_then(|f| f.destination()),
            "retries": c.maximum_retry_attempts(),
        })),
        Err(e) if e.is_not_found() => Ok(serde_json::Value::Null),
        Err(e) => Err(Error::aws(format!("read the asynchronous invocation settings of function {name}"), e)),
    }
}

/// Sends the function's failed asynchronous events to `destination`. Lambda checks that the
/// execution role may send there and refuses while a new policy propagates
/// (InvalidParameterValueException "The provided execution role does not have permissions to call
/// SendMessage on SQS", as reported in elastic/beats#13963 and, for an EventInvokeConfig,
/// aws-amplify/amplify-js#9869): retried.
async fn put_on_failure(step: &Step, name: &str, destination: &str) -> Result<()> {
    step.progress("updating", "on-failure destination");
    let no_permission = |e: &AwsError| e.is("InvalidParameterValueException") && e.message.contains("permission");
    let put = wait::retrying(step, "the role's permission to reach the queue", ROLE_PROPAGATION_DEADLINE, no_permission, || async {
        let target = OnFailure::builder().destination(destination).build();
        step.ctx
            .clients
            .lambda
            .put_function_event_invoke_config()
            .function_name(name)
            .maximum_retry_attempts(ASYNC_RETRIES)
            .destination_config(DestinationConfig::builder().on_failure(target).build())
            .send()
            .await
            .map_err(aws)
    });
    put.await.map(drop).map_err(failed(&format!("set the on-failure destination of function {name}")))
}

fn environment(spec: &Spec) -> Environment {
    Environment::builder().set_variables(Some(spec.variables.clone().into_iter().collect())).build()
}

/// Who may invoke a function, from where: one statement of its resource policy.
pub struct Grant<'a> {
    pub sid: &'a str,
    pub principal: &'a str,
    pub source_arn: &'a str,
}

/// The source ARN statement `sid` of the function's resource policy allows, or null.
/// The knowledge base the query function serves from (its KNOWLEDGE_BASE_ID), when it exists.
pub async fn serving_knowledge_base(ctx: &Ctx) -> Result<Option<String>> {
    let name = &ctx.env.names.function;
    match ctx.clients.lambda.get_function_configuration().function_name(name).send().await.map_err(aws) {
        Ok(out) => Ok(out
            .environment()
            .and_then(|e| e.variables())
            .and_then(|v| v.get("KNOWLEDGE_BASE_ID"))
            .cloned()
            .filter(|id| !id.contains(' '))),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(Error::aws(format!("read function {name}"), e)),
    }
}

pub async fn permission_source(ctx: &Ctx, function: &str, sid: &str) -> Result<serde_json::Value> {
    let policy = match ctx.clients.lambda.get_policy().function_name(function).send().await.map_err(aws) {
        Ok(out) => serde_json::from_str::<serde_json::Value>(out.policy().unwrap_or("{}")).unwrap_or_default(),
        Err(e) if e.is_not_found() => return Ok(serde_json::Value::Null),
        Err(e) => return Err(Error::aws(format!("read the resource policy of function {function}"), e)),
    };
    let statements = policy["Statement"].as_array().cloned().unwrap_or_default();
    Ok(statements
        .iter()
        .find(|s| s["Sid"] == sid)
        .map(|s| s["Condition"]["ArnLike"]["AWS:SourceArn"].clone())
        .unwrap_or_default())
}

/// Replaces statement `grant.sid` of the function's resource policy with `grant`.
pub async fn grant(step: &Step, function: &str, grant: &Grant<'_>) -> Result<()> {
    let lambda = &step.ctx.clients.lambda;
    revoke(step, function, grant.sid).await?;
    let added = lambda
        .add_permission()
        .function_name(function)
        .statement_id(grant.sid)
        .action("lambda:InvokeFunction")
        .principal(grant.principal)
        .source_arn(grant.source_arn)
        .send()
        .await
        .map_err(aws);
    match added {
        // A concurrent run added the same statement.
        Err(e) if !e.is("ResourceConflictException") => {
            Err(failed(&format!("allow {} to invoke function {function}", grant.source_arn))(e))
        }
        _ => Ok(()),
    }
}

/// Removes statement `sid` from the function's resource policy; one already gone is fine.
pub async fn revoke(step: &Step, function: &str, sid: &str) -> Result<()> {
    let removed = step.ctx.clients.lambda.remove_permission().function_name(function).statement_id(sid).send().await;
    gone(removed.map_err(aws), format!("remove permission {sid} of function {function}"))
}

/// Waits until the function is Active and its last update Successful.
async fn wait_ready(step: &Step, name: &str) -> Result<()> {
    wait::until(step, "the function to be ready", READY_DEADLINE, || async {
        let out = step
            .ctx
            .clients
            .lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .map_err(aws)
            .map_err(failed(&format!("read function {name}")))?;
        let failed_because = |what: &str, reason: Option<&str>| Error::Incomplete {
            message: format!("function {name}: {what}: {}", reason.unwrap_or("no reason given")),
            help: Some("see the function in the Lambda console; fix the cause and deploy again".into()),
        };
        match (out.state(), out.last_update_status()) {
            (Some(State::Failed), _) => Err(failed_because("creation failed", out.state_reason())),
            (_, Some(LastUpdateStatus::Failed)) => {
                Err(failed_because("update failed", out.last_update_status_reason()))
            }
            (Some(State::Active), Some(LastUpdateStatus::Successful) | None) => Ok(Some(())),
            _ => Ok(None),
        }
    })
    .await
}

/// The sync trigger, wanted with `sync.trigger = "on_change"` or a `sync.schedule`.
fn sync_function(i: &Inputs) -> Resource {
    let (n, f) = (&i.env.names, &i.env.file.lambda);
    let mut r = Resource::new(&Function, ids::SYNC_FUNCTION, "Lambda function", &n.sync_function)
        .arn(n.sync_function_arn())
        .wanted_if(i.env.syncs_automatically())
        .depends_on(&ids::SYNC_ROLE, Needs::Ready)
        .depends_on(&ids::SYNC_FAILURES, Needs::Ready)
        .depends_on(&ids::KNOWLEDGE_BASE, Needs::Arn)
        .observed_after(&ids::KNOWLEDGE_BASE);
    for ds in &i.env.file.data_sources {
        let id = data_source::id_of(&ds.name);
        r = r.depends_on(&id, Needs::Arn).observed_after(&id);
    }
    r.tagged().settings(json!({
        "runtime": f.runtime,
        "architecture": f.architecture,
        "memory_mb": SYNC_MEMORY_MB,
        "timeout_seconds": SYNC_TIMEOUT_SECONDS,
        "handler": "handler.handler",
        "code": "templates/sync/handler.py, zipped in memory",
        "starts_ingestion_of": sync_data_sources(i.env, i.known),
        "recheck_after_minutes": RECHECK_MINUTES,
        "recheck_schedules": format!("{}DATA_SOURCE_ID", n.recheck_schedule_prefix),
        "failed_events_to": format!("queue {} after {ASYNC_RETRIES} retries", n.sync_failures_queue),
        "log_group": n.sync_log_group,
    }))
    .with_spec(Spec::sync_trigger(i))
}

#[async_trait]
impl Kind for Function {
    fn desired(&self, i: &Inputs) -> Result<Vec<Resource>> {
        let (n, f) = (&i.env.names, &i.env.file.lambda);
        Ok(vec![
            Resource::new(&Function, ids::FUNCTION, "Lambda function", &n.function)
                .arn(n.function_arn())
                .depends_on(&ids::API_ROLE, Needs::Ready)
                .depends_on(&ids::KNOWLEDGE_BASE, Needs::Arn)
                .observed_after(&ids::KNOWLEDGE_BASE)
                .tagged()
                .settings(json!({
                    "runtime": f.runtime,
                    "architecture": f.architecture,
                    "memory_mb": f.memory_mb,
                    "timeout_seconds": f.timeout_seconds,
                    "handler": "handler.handler",
                    "code": "templates/lambda/handler.py and templates/lambda/index.html, zipped in memory",
                    "reserved_concurrency": f.reserved_concurrency,
                    "environment": {
                        "KNOWLEDGE_BASE_ID": i.known.id(&ids::KNOWLEDGE_BASE).unwrap_or(AFTER_APPLY),
                        // The variable as the function gets it (variables()).
                        "GENERATION_MODEL_ARN": n.generation_model_arn(&f.generation_model),
                    },
                    "retrieval": retrieval_variables(&i.env.file.retrieval),
                    "prompt_template": i.env.file.retrieval.prompt_template.as_ref().map(|p| format!("{p}, packaged as {PROMPT_FILE}")),
                    "log_group": n.log_group,
                }))
                .with_spec(Spec::query(i)),
            sync_function(i),
        ])
    }

    /// The code comes from S3 (too large for an inline ZipFile): the `CodeBucket` parameter and
    /// the key `export` names after the package's hash, so a new package is a new key.
    fn cloudformation(&self, ctx: &Ctx, r: &Resource) -> Result<Vec<(String, serde_json::Value)>> {
        let s: &Spec = r.spec()?;
        let f = &ctx.env.file.lambda;
        let role = if r.id == ids::SYNC_FUNCTION { &ids::SYNC_ROLE } else { &ids::API_ROLE };
        let mut properties = json!({
            "FunctionName": r.name,
            "Description": s.description,
            "Runtime": f.runtime,
            "Handler": "handler.handler",
            "Architectures": [architecture(ctx).as_str()],
            "MemorySize": s.memory_mb,
            "Timeout": s.timeout_seconds,
            "Role": {"Fn::GetAtt": [super::logical_id(role), "Arn"]},
            "Code": {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": exported_package(r, s).0},
            "Environment": {"Variables": s.variables},
            "Tags": super::cfn_tags(ctx),
        });
        if let Some(n) = s.reserved_concurrency {
            properties["ReservedConcurrentExecutions"] = json!(n);
        }
        Ok(vec![(super::logical_id(&r.id), super::cfn("AWS::Lambda::Function", properties))])
    }

    async fn observe(&self, ctx: &Ctx, r: &Resource) -> Result<Observation> {
        let read = |e| Error::aws(format!("read function {}", r.name), e);
        let out = match ctx.clients.lambda.get_function().function_name(&r.name).send().await.map_err(aws) {
            Ok(out) => out,
            Err(e) if e.is_not_found() => return Ok(Observation::absent()),
            Err(e) => return Err(read(e)),
        };
        let current: BTreeMap<String, String> = out.tags().cloned().unwrap_or_default().into_iter().collect();
        let Some(c) = out.configuration() else { return Ok(Observation::absent()) };
        let mut obs = Observation::present(c.function_arn().map(str::to_string));
        // Lambda reports a state and the last update's status: one phase, in the words of the other kinds.
        obs.status = Some(match (c.state(), c.last_update_status()) {
            (Some(State::Pending), _) => Status::new(Phase::Creating, "CREATING"),
            (_, Some(LastUpdateStatus::InProgress)) => Status::new(Phase::Updating, "UPDATING"),
            (Some(State::Failed), _) => Status::new(Phase::Failed, "FAILED"),
            _ => Status::new(Phase::Ready, "ACTIVE"),
        });
        if let Some(why) = ctx.ownership(&current) {
            obs.foreign = Some(why);
            return Ok(obs);
        }
        let f = &ctx.env.file.lambda;
        let spec: &Spec = r.spec()?;
        obs.diff("code", c.code_sha256().unwrap_or_default(), spec.code_sha256(), false);
        let arch: Vec<&str> = c.architectures().iter().map(Architecture::as_str).collect();
        obs.diff("architecture", json!(arch), json!([architecture(ctx).as_str()]), false);
        obs.diff("runtime", c.runtime().map_or("", Runtime::as_str), f.runtime.as_str(), false);
        obs.diff("memory_mb", c.memory_size().unwrap_or_default(), spec.memory_mb, false);
        obs.diff("timeout_seconds", c.timeout().unwrap_or_default(), spec.timeout_seconds, false);
        obs.diff("handler", c.handler().unwrap_or_default(), "handler.handler", false);
        obs.diff("role", c.role().unwrap_or_default(), spec.role.as_str(), false);
        let vars: BTreeMap<String, String> =
            c.environment().and_then(|e| e.variables()).cloned().unwrap_or_default().into_iter().collect();
        obs.diff("environment", json!(vars), json!(spec.variables), false);
        let reserved = out.concurrency().and_then(|c| c.reserved_concurrent_executions());
        obs.diff("reserved_concurrency", reserved, spec.reserved_concurrency, false);
        if let Some(destination) = &spec.on_failure {
            let current = on_failure(ctx, &r.name).await?;
            obs.diff("on_failure", current, json!({"destination": destination, "retries": ASYNC_RETRIES}), false);
        }
        if let Some(n) = reserved {
            obs.details.insert("reserved_concurrency".into(), format!("{n} concurrent executions at most").into());
        }
        obs.diff_tags(ctx, &current);
        Ok(obs)
    }

    async fn apply(&self, step: &Step, r: &Resource, obs: &Observation) -> Result<()> {
        let ctx = &step.ctx;
        let lambda = &ctx.clients.lambda;
        let f = &ctx.env.file.lambda;
        let spec: &Spec = r.spec()?;
        let name = &r.name;
        if !obs.exists {
            if let Some(again) = create(step, r, spec).await? {
                return self.apply(step, r, &again).await;
            }
            (step.exists)();
            if spec.reserved_concurrency.is_some() {
                put_concurrency(step, name, spec.reserved_concurrency).await?;
            }
            if let Some(destination) = &spec.on_failure {
                put_on_failure(step, name, destination).await?;
            }
            return wait_ready(step, name).await;
        }
        (step.exists)();
        if !obs.is(Phase::Ready) {
            wait_ready(step, name).await?;
        }
        let configuration = ["runtime", "memory_mb", "timeout_seconds", "handler", "role", "environment"];
        let changed: Vec<&str> = configuration.into_iter().filter(|c| obs.changed(c)).collect();
        if !changed.is_empty() {
            step.progress("updating", &changed.join(", "));
            lambda
                .update_function_configuration()
                .function_name(name)
                .runtime(Runtime::from(f.runtime.as_str()))
                .role(&spec.role)
                .handler("handler.handler")
                .memory_size(spec.memory_mb as i32)
                .timeout(spec.timeout_seconds as i32)
                .environment(environment(spec))
                .send()
                .await
                .map_err(aws)
                .map_err(failed(&format!("update the configuration of function {name}")))?;
            wait_ready(step, name).await?;
        }
        if obs.changed("code") || obs.changed("architecture") {
            step.progress("updating", "code");
            lambda
                .update_function_code()
                .function_name(name)
                .zip_file(Blob::new(spec.package().to_vec()))
                .architectures(architecture(ctx))
                .send()
                .await
                .map_err(aws)
                .map_err(failed(&format!("update the code of function {name}")))?;
            wait_ready(step, name).await?;
        }
        if obs.changed("reserved_concurrency") {
            put_concurrency(step, name, spec.reserved_concurrency).await?;
        }
        if let Some(destination) = spec.on_failure.as_ref().filter(|_| obs.changed("on_failure")) {
            put_on_failure(step, name, destination).await?;
        }
        if obs.changed("tags") {
            step.progress("updating", "tags");
            lambda
                .tag_resource()
                .resource(obs.id.clone().unwrap_or_else(|| ctx.env.names.function_arn_of(name)))
                .set_tags(Some(ctx.tag_map()))
                .send()
                .await
                .map_err(aws)
                .map_err(failed(&format!("tag function {name}")))?;
        }
        Ok(())
    }

    /// The sync trigger's last job: the newest job of any data source whose description says the
    /// trigger started it (templates/sync/handler.py).
    async fn inspect(&self, ctx: &Ctx, r: &Resource, obs: &mut Observation) -> Result<()> {
        let Some(kb) = ctx.assigned(&ids::KNOWLEDGE_BASE).filter(|_| r.id == ids::SYNC_FUNCTION) else { return Ok(()) };
        let mut last: Option<(String, aws_sdk_bedrockagent::types::IngestionJobSummary)> = None;
        for ds in &ctx.env.file.data_sources {
            let Some(id) = ctx.assigned(&data_source::id_of(&ds.name)) else { continue };
            let jobs = ctx
                .clients
                .agent
                .list_ingestion_jobs()
                .knowledge_base_id(&kb)
                .data_source_id(&id)
                .sort_by(crate::ingestion::newest_first())
                .send()
                .await
                .map_err(aws)
                .map_err(failed(&format!("read the ingestion jobs of data source {}", ds.name)))?;
            let triggered = jobs
                .ingestion_job_summaries()
                .iter()
                .find(|j| j.description().is_some_and(|d| d.starts_with(TRIGGERED_JOB_DESCRIPTION)));
            if let Some(j) = triggered
                && last.as_ref().is_none_or(|(_, l)| j.started_at().as_nanos() > l.started_at().as_nanos())
            {
                last = Some((ds.name.clone(), j.clone()));
            }
        }
        let text = match last {
            Some((name, j)) => format!(
                "job {} of data source {name}, {}, started {} ({})",
                j.ingestion_job_id(),
                j.status().as_str(),
                j.started_at(),
                j.description().unwrap_or_default().trim_start_matches(TRIGGERED_JOB_DESCRIPTION).trim_start_matches(": ")
            ),
            None => "none yet".into(),
        };
        obs.details.insert("last_triggered_job".into(), text.into());
        Ok(())
    }

    /// Deletes the function (with its resource policy); one already gone is fine. The sync
    /// trigger's pending re-checks go with it: they would invoke a function that is gone.
    async fn delete(&self, step: &Step, r: &Resource, _obs: &Observation) -> Result<()> {
        let name = &r.name;
        step.progress("deleting", &format!("function {name}"));
        let deleted = step.ctx.clients.lambda.delete_function().function_name(name).send().await;
        gone(deleted.map_err(aws), format!("delete function {name}"))?;
        if r.id == ids::SYNC_FUNCTION {
            sync_schedule::delete_rechecks(step).await?;
        }
        Ok(())
    }
}

/// Creates the function (retrying while its new role is not yet assumable); when a concurrent
/// run created it first, returns the observation to converge from instead.
async fn create(step: &Step, r: &Resource, spec: &Spec) -> Result<Option<Observation>> {
    let ctx = &step.ctx;
    let lambda = &ctx.clients.lambda;
    let f = &ctx.env.file.lambda;
    let name = &r.name;
    step.progress("creating", "");
    let zip = spec.package().to_vec();
    let tags = ctx.tag_map();
    let cannot_assume =
        |e: &AwsError| e.is("InvalidParameterValueException") && e.message.contains("cannot be assumed");
    let created = wait::retrying(
        step,
        "the new role to be assumable",
        ROLE_PROPAGATION_DEADLINE,
        cannot_assume,
        || async {
            lambda
                .create_function()
                .function_name(name)
                .runtime(Runtime::from(f.runtime.as_str()))
                .architectures(architecture(ctx))
                .role(&spec.role)
                .handler("handler.handler")
                .code(FunctionCode::builder().zip_file(Blob::new(zip.clone())).build())
                .memory_size(spec.memory_mb as i32)
                .timeout(spec.timeout_seconds as i32)
                .environment(environment(spec))
                .description(&spec.description)
                .set_tags(Some(tags.clone()))
                .send()
                .await
                .map_err(aws)
        },
    );
    match created.await {
        Ok(_) => Ok(None),
        // Created by a concurrent run: converge from what is there.
        Err(e) if e.is("ResourceConflictException") => {
            Ok(Some(ours(Function.observe(ctx, r).await?, &format!("function {name}"))?))
        }
        Err(e) => Err(Error::aws(format!("create function {name}"), e)),
    }
}
