//! `ragstack sync`: optionally upload a directory of documents (only what changed, by MD5 against
//! the object's ETag, which is the MD5 of a single-part upload with SSE-S3), with a byte progress
//! bar on a terminal, then start an ingestion job per data source (following one already
//! running instead of failing) and follow each to the end. Suitable for cron and CI: exit 0 only
//! when every job completed without failed documents.

use crate::aws::aws;
use crate::context::TargetArgs;
use crate::error::{Error, ExitStatus, Result};
use crate::failed_events;
use crate::ingestion::{self, JobResult};
use crate::output::Mode;
use crate::resources::ids;
use crate::resources::{Ctx, data_source, knowledge_base, sqs_queue};
use crate::session::{self, Preflight, Settings};
use clap::Args;
use md5::{Digest, Md5};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Upload the files of DIR (only new or changed ones, and only types Bedrock ingests) to the
    /// data source's bucket under its prefix first
    #[arg(long, value_name = "DIR")]
    pub upload: Option<PathBuf>,
    /// With --upload: delete objects under the prefix that are not in DIR
    #[arg(long)]
    pub delete: bool,
    /// Only this data source [default: all of the environment's]
    #[arg(long, value_name = "NAME")]
    pub data_source: Option<String>,
    /// Start the jobs and print their ids without following them
    #[arg(long)]
    pub no_wait: bool,
    /// Give up following after this long, e.g. 30m or 2h [default: 4h]
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<humantime::Duration>,
}

/// The trigger's failed events (queue URL and the events taken), when the environment has the
/// trigger's queue; hidden from other readers for as long as this sync may follow its jobs.
async fn take_failed_events(
    ctx: &Ctx,
    existing: &BTreeMap<String, String>,
    deadline: std::time::Duration,
) -> Result<Option<(String, Vec<failed_events::Taken>)>> {
    let queue = &ctx.env.names.sync_failures_queue;
    let url = sqs_queue::url(ctx, queue).await.map_err(|e| Error::aws(format!("read queue {queue}"), e))?;
    let Some(url) = url else { return Ok(None) };
    let sources: Vec<failed_events::Source<'_>> = ctx
        .env
        .file
        .data_sources
        .iter()
        .map(|d| failed_events::Source {
            name: &d.name,
            id: existing.get(&d.name).map_or("", String::as_str),
            bucket: ctx.env.data_source_bucket(d),
            prefix: d.prefix(),
        })
        .collect();
    let hold = deadline + std::time::Duration::from_secs(10 * 60);
    let taken = failed_events::take(ctx, &url, &sources, hold).await?;
    if !taken.is_empty() {
        let about: Vec<&str> = taken.iter().take(3).map(|t| t.about.as_str()).collect();
        let more = if taken.len() > 3 { format!(" and {} more", taken.len() - 3) } else { String::new() };
        ctx.report.note(&format!("{} failed trigger events to ingest: {}{more}", taken.len(), about.join(", ")));
    }
    Ok(Some((url, taken)))
}

/// The file types Bedrock knowledge bases ingest from S3.
pub const INGESTED_EXTENSIONS: &[&str] = &["txt", "md", "html", "htm", "doc", "docx", "csv", "xls", "xlsx", "pdf"];

/// Checks the flags against the environment file, before any AWS call.
pub fn validate(ctx_env: &crate::config::Environment, args: &SyncArgs) -> Result<()> {
    let names: Vec<&str> = ctx_env.file.data_sources.iter().map(|d| d.name.as_str()).collect();
    if let Some(n) = &args.data_source
        && !names.contains(&n.as_str())
    {
        return Err(Error::usage(
            format!("--data-source {n}: {} has no such data source; it has: {}", ctx_env.source, names.join(", ")),
            None,
        ));
    }
    if let Some(dir) = &args.upload {
        if !dir.is_dir() {
            return Err(Error::usage(format!("--upload {}: not a directory", dir.display()), None));
        }
        if args.data_source.is_none() && names.len() > 1 {
            return Err(Error::usage(
                "--upload needs --data-source NAME when the environment has more than one data source".to_string(),
                Some(format!("data sources: {}", names.join(", "))),
            ));
        }
    }
    if args.delete && args.upload.is_none() {
        return Err(Error::usage("--delete goes with --upload DIR", None));
    }
    Ok(())
}

pub async fn run(s: &Settings, args: &SyncArgs) -> Result<ExitStatus> {
    sync(session::connect(s, &args.target, Preflight::USE, |env| validate(env, args)).await?, args).await
}

async fn sync(ctx: Arc<Ctx>, args: &SyncArgs) -> Result<ExitStatus> {
    let report = &ctx.report;
    let (kb, existing, sources) = deployed_sources(&ctx, args).await?;

    let mut uploaded = json!(null);
    if let Some(dir) = &args.upload {
        let ds = ctx
            .env
            .file
            .data_sources
            .iter()
            .find(|d| Some(&d.name) == args.data_source.as_ref())
            .unwrap_or(ctx.env.file.data_sources.first().expect("validation requires at least one data source"));
        let bucket = ctx.env.data_source_bucket(ds).to_string();
        let prefix = ds.prefix().to_string();
        uploaded = upload(&ctx, dir, &bucket, &prefix, args.delete).await?;
    }

    let changed = ["sent", "deleted"].iter().any(|k| uploaded[k].as_array().is_some_and(|a| !a.is_empty()));
    let deadline = args.timeout.map(Into::into).unwrap_or(ingestion::JOB_DEADLINE);
    // The trigger's failed events, taken before the jobs start so that the jobs cover them.
    let failures = take_failed_events(&ctx, &existing, deadline).await?;
    let mut results: Vec<JobResult> = Vec::new();
    let mut started = Vec::new();
    for (name, id) in &sources {
        let step = ingestion::step(&ctx, name);
        // A job already running may have started before the change an event failed to ingest.
        let missed = failures.as_ref().is_some_and(|(_, taken)| taken.iter().any(|t| t.concerns.includes(name)));
        let job = ingestion::start(&step, &kb, id, !changed && !missed).await?;
        if args.no_wait {
            step.progress("started", &format!("job {job}"));
            started.push(json!({"data_source": name, "job_id": job}));
        } else {
            results.push(ingestion::follow(&step, &kb, name, id, &job, deadline).await?);
        }
    }
    report.finish();
    let ok = results.iter().all(JobResult::succeeded);
    let ingested: BTreeSet<String> = results.iter().filter(|j| j.succeeded()).map(|j| j.data_source.clone()).collect();
    let failed_events = match failures {
        Some((url, taken)) => {
            let total = taken.len();
            let cleared = failed_events::settle(&ctx, &url, taken, &ingested).await?;
            json!({"taken": total, "cleared": cleared, "left": total - cleared})
        }
        None => json!(null),
    };
    if report.mode() == Mode::Json {
        report.event(
            json!({"event": "summary", "result": if ok { "synced" } else { "failed" }, "upload": uploaded,
                   "started": started, "ingestion": results, "failed_trigger_events": failed_events}),
            None,
        );
    } else {
        print_summary(&results, &started, &failed_events, args.no_wait);
    }
    Ok(ExitStatus::failed_if(!ok))
}

/// The environment's knowledge base (ours), its data sources by name, and those this sync
/// ingests (`--data-source`, else all) with their ids; exit 1 when not deployed.
async fn deployed_sources(
    ctx: &Arc<Ctx>,
    args: &SyncArgs,
) -> Result<(String, BTreeMap<String, String>, Vec<(String, String)>)> {
    let kb_name = &ctx.env.names.knowledge_base;
    let not_deployed = || Error::Incomplete {
        message: format!("environment {} has no knowledge base {kb_name} in {}", ctx.env.name, ctx.env.region()),
        help: Some(format!("deploy it first: ragstack deploy {} {}", ctx.env.name, ctx.env.region())),
    };
    let read = |e| Error::aws(format!("read knowledge base {kb_name}"), e);
    let (kb, _) = knowledge_base::find(ctx, kb_name).await.map_err(read)?.ok_or_else(not_deployed)?;
    let arn = ctx.env.names.knowledge_base_arn(Some(&kb));
    if let Some(why) = ctx.ownership(&knowledge_base::tags(ctx, &arn).await.map_err(read)?) {
        return Err(Error::Incomplete { message: format!("knowledge base {kb_name}: {why}"), help: None });
    }
    ctx.assign(&ids::KNOWLEDGE_BASE, Some(kb.clone()));
    let existing: BTreeMap<String, String> =
        data_source::list(ctx, &kb).await.map_err(|e| Error::aws("list data sources", e))?.into_iter().collect();
    let mut sources = Vec::new();
    for ds in &ctx.env.file.data_sources {
        if args.data_source.as_ref().is_some_and(|n| *n != ds.name) {
            continue;
        }
        let id = existing.get(&ds.name).ok_or_else(not_deployed)?;
        sources.push((ds.name.clone(), id.clone()));
    }
    Ok((kb, existing, sources))
}

/// What the sync did, in words.
fn print_summary(
    results: &[JobResult],
    started: &[serde_json::Value],
    failed_events: &serde_json::Value,
    no_wait: bool,
) {
    println!();
    for j in results {
        println!("{} {}", if j.succeeded() { "ok  " } else { "FAIL" }, j.line());
    }
    for s in started {
        println!("started {} job {} (not followed: --no-wait)", s["data_source"], s["job_id"]);
    }
    if failed_events["taken"].as_u64().is_some_and(|n| n > 0) {
        let left = match failed_events["left"].as_u64() {
            Some(0) => String::new(),
            Some(n) if no_wait => format!("; {n} stay queued until a sync that follows its jobs"),
            Some(n) => format!("; {n} stay queued: they concern data sources this sync did not ingest"),
            None => String::new(),
        };
        println!("failed trigger events: {} cleared, their documents ingested{left}", failed_events["cleared"]);
    }
}

fn files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Uploads new and changed files under `prefix`; with `delete`, removes objects under `prefix`
/// that are not in `dir`. Returns what it did.
async fn upload(ctx: &Ctx, dir: &Path, bucket: &str, prefix: &str, delete: bool) -> Result<serde_json::Value> {
    let s3 = &ctx.clients.s3;
    let report = &ctx.report;
    let io = |e| Error::Io { context: format!("cannot read {}", dir.display()), source: e };
    let remote = remote_objects(ctx, bucket, prefix).await?;
    let Compared { to_send, local_keys, unchanged, skipped, bytes } = compare(dir, prefix, &remote).map_err(io)?;
    let (mut sent, mut deleted) = (Vec::new(), Vec::new());
    // Read again when sending rather than holding every changed file in memory.
    let bar = report.bytes(bytes, "uploading");
    for (key, path, size) in to_send {
        report.note(&format!("upload s3://{bucket}/{key} ({size} bytes)"));
        let body = std::fs::read(&path).map_err(io)?;
        s3.put_object()
            .bucket(bucket)
            .key(&key)
            .body(body.into())
            .send()
            .await
            .map_err(aws)
            .map_err(|e| Error::aws(format!("upload s3://{bucket}/{key}"), e))?;
        bar.inc(size);
        sent.push(key);
    }
    bar.finish_and_clear();
    if delete {
        for key in remote.keys().filter(|k| !local_keys.contains(k)) {
            report.note(&format!("delete s3://{bucket}/{key} (not in {})", dir.display()));
            s3.delete_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(aws)
                .map_err(|e| Error::aws(format!("delete s3://{bucket}/{key}"), e))?;
            deleted.push(key.clone());
        }
    }
    if !skipped.is_empty() {
        report.note(&format!(
            "skipped {} file(s) Bedrock does not ingest ({}): {}",
            skipped.len(),
            INGESTED_EXTENSIONS.join(", "),
            skipped.join(", ")
        ));
    }
    report.note(&format!(
        "upload: {} sent ({bytes} bytes), {unchanged} unchanged, {} deleted, {} skipped",
        sent.len(),
        deleted.len(),
        skipped.len()
    ));
    Ok(json!({"sent": sent, "unchanged": unchanged, "deleted": deleted, "skipped": skipped, "bytes": bytes}))
}

/// The objects under `prefix`, by key, with their ETags (the MD5 of a single-part upload).
async fn remote_objects(ctx: &Ctx, bucket: &str, prefix: &str) -> Result<BTreeMap<String, String>> {
    let mut remote = BTreeMap::new();
    let mut pages = ctx.clients.s3.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(aws).map_err(|e| Error::aws(format!("list s3://{bucket}/{prefix}"), e))?;
        for o in page.contents() {
            remote.insert(
                o.key().unwrap_or_default().to_string(),
                o.e_tag().unwrap_or_default().trim_matches('"').into(),
            );
        }
    }
    Ok(remote)
}

/// The local files against the objects: what to send (key, path, size), every local key, and
/// the counts.
struct Compared {
    to_send: Vec<(String, PathBuf, u64)>,
    local_keys: Vec<String>,
    unchanged: usize,
    skipped: Vec<String>,
    bytes: u64,
}

fn compare(dir: &Path, prefix: &str, remote: &BTreeMap<String, String>) -> std::io::Result<Compared> {
    let mut c = Compared { to_send: Vec::new(), local_keys: Vec::new(), unchanged: 0, skipped: Vec::new(), bytes: 0 };
    for path in files(dir)? {
        let rel = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy().replace('\\', "/");
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
        if !INGESTED_EXTENSIONS.contains(&ext.as_str()) {
            c.skipped.push(rel);
            continue;
        }
        let key = format!("{prefix}{rel}");
        c.local_keys.push(key.clone());
        let body = std::fs::read(&path)?;
        let md5: String = Md5::digest(&body).iter().map(|b| format!("{b:02x}")).collect();
        if remote.get(&key) == Some(&md5) {
            c.unchanged += 1;
            continue;
        }
        c.bytes += body.len() as u64;
        c.to_send.push((key, path, body.len() as u64));
    }
    Ok(c)
}
