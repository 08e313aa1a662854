//! `ragstack logs ENV [REGION]`: the query function's (or the sync trigger's) log events, read
//! with CloudWatch Logs' FilterLogEvents (paginated by the SDK), printed one line each with the
//! request id Lambda puts in every line, and with the duration and errors of each invocation
//! made readable. `--follow` keeps polling for new events until Ctrl-C; `--json` prints each event
//! as a JSON line. Read-only.

use crate::aws::aws;
use crate::context::TargetArgs;
use crate::error::{Error, ExitStatus, Result};
use crate::output::Mode;
use crate::resources::Ctx;
use crate::session::{self, Preflight, Settings};
use clap::{Args, ValueEnum};
use serde_json::json;
use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often `--follow` asks for new events (CloudWatch Logs delivers them within seconds).
const FOLLOW_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Function {
    /// The query function behind the API
    Query,
    /// The sync trigger (environments with [sync] trigger or schedule)
    Sync,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Whose logs
    #[arg(long, value_enum, default_value = "query")]
    pub function: Function,
    /// How far back to start: 10m, 1h, 2d
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub since: humantime::Duration,
    /// Keep printing new events until Ctrl-C
    #[arg(long)]
    pub follow: bool,
}

/// One event, made readable: Lambda's `START`/`END`/`REPORT` lines reduced to what a person
/// looks for (the request id, the duration, the memory used), the others as they are.
pub fn readable(message: &str) -> String {
    let m = message.trim_end();
    if let Some(rest) = m.strip_prefix("REPORT RequestId: ") {
        let id = rest.split_whitespace().next().unwrap_or_default();
        let field =
            |name: &str| rest.split('\t').find_map(|f| f.trim().strip_prefix(name)).map(|v| v.trim().to_string());
        let duration = field("Duration:").unwrap_or_default();
        let memory = field("Max Memory Used:").map(|m| format!(", {m} used")).unwrap_or_default();
        let init = field("Init Duration:").map(|i| format!(", cold start {i}")).unwrap_or_default();
        return format!("{} done in {duration}{memory}{init}", short(id));
    }
    if m.starts_with("START RequestId: ") || m.starts_with("END RequestId: ") {
        return String::new(); // REPORT says it all
    }
    // The Python runtime prefixes its lines with "[LEVEL]\tTIME\tREQUEST-ID\t".
    let parts: Vec<&str> = m.splitn(4, '\t').collect();
    if parts.len() == 4 && parts[0].starts_with('[') {
        return format!("{} {} {}", short(parts[2]), parts[0], parts[3]);
    }
    m.to_string()
}

/// The first block of a request id, enough to tell invocations apart on screen.
fn short(id: &str) -> &str {
    id.split('-').next().unwrap_or(id)
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub async fn run(s: &Settings, args: &LogsArgs) -> Result<ExitStatus> {
    logs(&*session::connect(s, &args.target, Preflight::THROUGH_THE_API, |_| Ok(())).await?, args).await
}

async fn logs(ctx: &Ctx, args: &LogsArgs) -> Result<ExitStatus> {
    let n = &ctx.env.names;
    let group = match args.function {
        Function::Query => n.log_group.clone(),
        Function::Sync if ctx.env.syncs_automatically() => n.sync_log_group.clone(),
        Function::Sync => {
            return Err(Error::usage(
                format!(
                    "{}: environment {} has no sync trigger (no [sync] trigger or schedule)",
                    ctx.env.source, ctx.env.name
                ),
                Some("ragstack logs ENV shows the query function's logs".into()),
            ));
        }
    };
    let mut start = millis(SystemTime::now() - *args.since);
    let mut seen = HashSet::new();
    loop {
        let mut pages =
            ctx.clients.logs.filter_log_events().log_group_name(&group).start_time(start).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws).map_err(|e| {
                let help = if e.is_not_found() {
                    format!("the function has not logged yet, or is not deployed: ragstack status {}", ctx.env.name)
                } else {
                    "allow logs:FilterLogEvents on the log group (`ragstack plan ENV --deployer-policy`)".into()
                };
                Error::aws(format!("read log group {group} (logs:FilterLogEvents)"), e).with_help(help)
            })?;
            for e in page.events() {
                // Following re-reads from the newest timestamp seen: skip what was printed.
                if !seen.insert(e.event_id().unwrap_or_default().to_string()) {
                    continue;
                }
                let at = e.timestamp().unwrap_or(0);
                start = start.max(at);
                print(ctx, &group, e.log_stream_name().unwrap_or_default(), at, e.message().unwrap_or_default());
            }
        }
        if !args.follow {
            return Ok(ExitStatus::Success);
        }
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_EVERY) => {}
            _ = tokio::signal::ctrl_c() => return Ok(ExitStatus::Success),
        }
    }
}

fn print(ctx: &Ctx, group: &str, stream: &str, at: i64, message: &str) {
    let time = UNIX_EPOCH + Duration::from_millis(at.max(0) as u64);
    let stamp = humantime::format_rfc3339_millis(time).to_string();
    if ctx.report.mode() == Mode::Json {
        let v = json!({"log_group": group, "log_stream": stream, "timestamp": stamp, "message": message.trim_end()});
        println!("{v}");
        return;
    }
    let line = readable(message);
    if !line.is_empty() {
        println!("{stamp} {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_lines_are_made_readable() {
        let report = "REPORT RequestId: 8f5a3c1e-1b2c-4d5e-8f90-123456789abc\tDuration: 812.34 ms\tBilled Duration: 813 ms\tMemory Size: 512 MB\tMax Memory Used: 88 MB\tInit Duration: 401.12 ms\t\n";
        assert_eq!(readable(report), "8f5a3c1e done in 812.34 ms, 88 MB used, cold start 401.12 ms");
        assert_eq!(readable("START RequestId: 8f5a3c1e-1b2c Version: $LATEST\n"), "");
        let app = "[ERROR]\t2026-12-01T10:00:00.000Z\t8f5a3c1e-1b2c-4d5e\tbedrock_error: ThrottlingException\n";
        assert_eq!(readable(app), "8f5a3c1e [ERROR] bedrock_error: ThrottlingException");
        assert_eq!(readable("{\"bedrock_error\": \"X\"}\n"), "{\"bedrock_error\": \"X\"}");
    }
}
