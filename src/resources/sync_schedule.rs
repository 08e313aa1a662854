//! The sync schedule (`sync.schedule`): an EventBridge Scheduler schedule in the default group
//! that invokes the sync trigger with `{"ragstack": "schedule"}`, which starts every data source's
//! ingestion, in UTC. Scheduler invokes it with the scheduler role (`iam_role.rs`).
//!
//! Schedules carry no tags (only schedule groups do, Scheduler API Reference, TagResource): the
//! schedule of this name is ragstack's when it invokes this environment's sync trigger. This
//! module also deletes the trigger's one-time re-check schedules (`delete_rechecks`), which the
//! function creates itself (templates/sync/handler.py).

use super::ids;
use super::{Ctx, Inputs, Kind, Needs, Observation, Resource, Step, failed, gone};
use crate::aws::aws;
use crate::error::{Error, Result};
use async_trait::async_trait;
use aws_sdk_scheduler::types::{FlexibleTimeWindow, FlexibleTimeWindowMode, ScheduleState, Target};
use serde_json::json;

/// What the trigger function receives from this schedule.
const INPUT: &str = r#"{"ragstack":"schedule"}"#;
const TIMEZONE: &str = "UTC";

pub struct Schedule;

/// What the schedule is, made once by `desired`: its expression, description and target (the
/// trigger function, invoked with Scheduler's role).
#[derive(Debug)]
struct Spec {
    expression: String,
    description: String,
    target: Target,
}

impl Spec {
    fn new(env: &crate::config::Environment) -> Spec {
        let n = &env.names;
        Spec {
            expression: env.file.sync.schedule.clone().unwrap_or_default(),
            description: format!("ragstack {}: ingests every data source", env.name),
            target: Target::builder()
                .arn(n.sync_function_arn())
                .role_arn(n.role_arn(&n.scheduler_role))
                .input(INPUT)
                .build()
                .expect("arn and role are set"),
        }
    }
}

fn off() -> FlexibleTimeWindow {
    FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off).build().expect("mode is set")
}

/// Deletes the sync trigger's pending re-check schedules (with the function: they would invoke a
/// function that is gone, and Scheduler retries a failed invocation for up to a day).
pub async fn delete_rechecks(step: &Step) -> Result<()> {
    let ctx = &step.ctx;
    let prefix = &ctx.env.names.recheck_schedule_prefix;
    let mut names = Vec::new();
    let mut pages = ctx.clients.scheduler.list_schedules().name_prefix(prefix).into_paginator().send();
    while let Some(page) = pages.next().await {
        let out = page.map_err(aws).map_err(failed(&format!("list the schedules named {prefix}*")))?;
        names.extend(out.schedules().iter().filter_map(|s| s.name()).map(str::to_string));
    }
    for name in names {
        step.progress("deleting", &format!("pending re-check {name}"));
        let deleted = ctx.clients.scheduler.delete_schedule().name(&name).send().await;
        gone(deleted.map_err(aws), format!("delete schedule {name}"))?;
    }
    Ok(())
}

#[async_trait]
impl Kind for Schedule {
    fn desired(&self, i: &Inputs) -> Result<Vec<Resource>> {
        let n = &i.env.names;
        let expression = i.env.file.sync.schedule.clone();
        Ok(vec![
            Resource::new(&Schedule, ids::SYNC_SCHEDULE, "EventBridge Scheduler schedule", &n.sync_schedule)
                .arn(n.schedule_arn(&n.sync_schedule))
                .wanted_if(expression.is_some())
                .depends_on(&ids::SYNC_FUNCTION, Needs::Arn)
                .depends_on(&ids::SCHEDULER_ROLE, Needs::Ready)
                .settings(json!({
                    "expression": expression,
                    "timezone": TIMEZONE,
                    "target": n.sync_function,
                    "input": INPUT,
                    "role": n.scheduler_role,
                }))
                .with_spec(Spec::new(i.env)),
        ])
    }

    async fn observe(&self, ctx: &Ctx, r: &Resource) -> Result<Observation> {
        let spec: &Spec = r.spec()?;
        let read = |e| Error::aws(format!("read schedule {}", r.name), e);
        let s = match ctx.clients.scheduler.get_schedule().name(&r.name).send().await.map_err(aws) {
            Ok(out) => out,
            Err(e) if e.is_not_found() => return Ok(Observation::absent()),
            Err(e) => return Err(read(e)),
        };
        let mut obs = Observation::present(s.arn().map(str::to_string));
        let invokes = s.target().map(|t| t.arn()).unwrap_or_default();
        if invokes != ctx.env.names.sync_function_arn() {
            obs.foreign = Some(format!("it invokes {invokes}, not this environment's sync trigger"));
            return Ok(obs);
        }
        obs.diff("expression", s.schedule_expression().unwrap_or_default(), spec.expression.as_str(), false);
        obs.diff("timezone", s.schedule_expression_timezone().unwrap_or(TIMEZONE), TIMEZONE, false);
        obs.diff("state", s.state().map_or("", ScheduleState::as_str), "ENABLED", false);
        let t = s.target();
        obs.diff("role", t.map(|t| t.role_arn()).unwrap_or_default(), spec.target.role_arn(), false);
        obs.diff("input", t.and_then(|t| t.input()).unwrap_or_default(), INPUT, false);
        obs.details.insert(
            "schedule".into(),
            format!("{} ({TIMEZONE}): ingests every data source", s.schedule_expression().unwrap_or_default()).into(),
        );
        Ok(obs)
    }

    async fn apply(&self, step: &Step, r: &Resource, obs: &Observation) -> Result<()> {
        let ctx = &step.ctx;
        let name = &r.name;
        let spec: &Spec = r.spec()?;
        let description = spec.description.as_str();
        if !obs.exists {
            step.progress("creating", &spec.expression);
            let created = ctx
                .clients
                .scheduler
                .create_schedule()
                .name(name)
                .description(description)
                .schedule_expression(spec.expression.as_str())
                .schedule_expression_timezone(TIMEZONE)
                .flexible_time_window(off())
                .target(spec.target.clone())
                .state(ScheduleState::Enabled)
                .send()
                .await
                .map_err(aws);
            // A concurrent run created it: converge from what is there.
            let what = format!("schedule {name}");
            if let Some(again) = super::created(self, ctx, r, created, |e| e.is_conflict(), &what).await? {
                return self.apply(step, r, &again).await;
            }
            return Ok(());
        }
        if !obs.changes.is_empty() {
            let fields: Vec<&str> = obs.changes.iter().map(|c| c.field.as_str()).collect();
            step.progress("updating", &fields.join(", "));
            // UpdateSchedule replaces every setting.
            ctx.clients
                .scheduler
                .update_schedule()
                .name(name)
                .description(description)
                .schedule_expression(spec.expression.as_str())
                .schedule_expression_timezone(TIMEZONE)
                .flexible_time_window(off())
                .target(spec.target.clone())
                .state(ScheduleState::Enabled)
                .send()
                .await
                .map_err(aws)
                .map_err(failed(&format!("update schedule {name}")))?;
        }
        Ok(())
    }

    async fn delete(&self, step: &Step, r: &Resource, _obs: &Observation) -> Result<()> {
        step.progress("deleting", &format!("schedule {}", r.name));
        let deleted = step.ctx.clients.scheduler.delete_schedule().name(&r.name).send().await;
        gone(deleted.map_err(aws), format!("delete schedule {}", r.name))
    }
}
