//! Knowledge-base ingestion: start a job per data source (or follow the one already running) and
//! follow it to the end with its statistics. Shared by `deploy` (after the resources exist) and
//! `sync`. Bedrock runs one job per knowledge base at a time, so data sources go one after another.

use crate::aws::{AwsError, aws};
use crate::context::{Ctx, Step, failed};
use crate::error::{Error, Result};
use crate::wait;
use aws_sdk_bedrockagent::types::{
    IngestionJob, IngestionJobSortBy, IngestionJobSortByAttribute, IngestionJobStatistics, IngestionJobStatus,
    IngestionJobSummary, SortOrder,
};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// How long a job is followed unless the caller says otherwise (`sync --timeout`).
pub const JOB_DEADLINE: Duration = Duration::from_secs(4 * 60 * 60);

#[derive(Debug, Clone, Serialize)]
pub struct JobResult {
    pub data_source: String,
    pub job_id: String,
    pub status: String,
    pub scanned: i64,
    pub new: i64,
    pub modified: i64,
    pub deleted: i64,
    pub failed: i64,
    pub failure_reasons: Vec<String>,
    pub started_at: String,
}

impl JobResult {
    fn new(
        data_source: &str,
        job_id: &str,
        status: &IngestionJobStatus,
        started_at: &aws_smithy_types::DateTime,
        s: Option<&IngestionJobStatistics>,
        failure_reasons: Vec<String>,
    ) -> JobResult {
        JobResult {
            data_source: data_source.to_string(),
            job_id: job_id.to_string(),
            status: status.as_str().to_string(),
            scanned: s.map_or(0, |s| s.number_of_documents_scanned()),
            new: s.map_or(0, |s| s.number_of_new_documents_indexed()),
            modified: s.map_or(0, |s| s.number_of_modified_documents_indexed()),
            deleted: s.map_or(0, |s| s.number_of_documents_deleted()),
            failed: s.map_or(0, |s| s.number_of_documents_failed()),
            failure_reasons,
            started_at: started_at.to_string(),
        }
    }

    fn from_job(data_source: &str, job: &IngestionJob) -> JobResult {
        let reasons = job.failure_reasons().to_vec();
        JobResult::new(data_source, job.ingestion_job_id(), job.status(), job.started_at(), job.statistics(), reasons)
    }

    /// The summary ListIngestionJobs gives (without failure reasons, which only GetIngestionJob has).
    pub fn from_summary(data_source: &str, j: &IngestionJobSummary) -> JobResult {
        JobResult::new(data_source, j.ingestion_job_id(), j.status(), j.started_at(), j.statistics(), Vec::new())
    }

    pub fn succeeded(&self) -> bool {
        self.status == "COMPLETE" && self.failed == 0
    }

    pub fn line(&self) -> String {
        format!(
            "{}: {} (job {}): {} scanned, {} new, {} modified, {} deleted, {} failed",
            self.data_source,
            self.status,
            self.job_id,
            self.scanned,
            self.new,
            self.modified,
            self.deleted,
            self.failed
        )
    }
}

/// ListIngestionJobs' order for "the latest first".
pub fn newest_first() -> IngestionJobSortBy {
    IngestionJobSortBy::builder()
        .attribute(IngestionJobSortByAttribute::StartedAt)
        .order(SortOrder::Descending)
        .build()
        .expect("fields are set")
}

/// The job running on this data source, if any.
async fn running_job(ctx: &Ctx, kb: &str, ds: &str) -> std::result::Result<Option<String>, AwsError> {
    let out =
        ctx.clients.agent.list_ingestion_jobs().knowledge_base_id(kb).data_source_id(ds).send().await.map_err(aws)?;
    Ok(out
        .ingestion_job_summaries()
        .iter()
        .find(|j| matches!(j.status(), IngestionJobStatus::Starting | IngestionJobStatus::InProgress))
        .map(|j| j.ingestion_job_id().to_string()))
}

pub fn step(ctx: &Arc<Ctx>, data_source: &str) -> Step {
    Step { ctx: ctx.clone(), id: format!("sync.{data_source}"), exists: Box::new(|| {}) }
}

/// Follows a job to COMPLETE, FAILED or STOPPED and reports its statistics and failure reasons.
pub async fn follow(
    step: &Step,
    kb: &str,
    name: &str,
    ds: &str,
    job_id: &str,
    deadline: Duration,
) -> Result<JobResult> {
    let ctx = &step.ctx;
    {
        let job = wait::until(step, &format!("ingestion job {job_id}"), deadline, || async {
            let out = ctx
                .clients
                .agent
                .get_ingestion_job()
                .knowledge_base_id(kb)
                .data_source_id(ds)
                .ingestion_job_id(job_id)
                .send()
                .await
                .map_err(aws)
                .map_err(failed("read ingestion job"))?;
            let job =
                out.ingestion_job.ok_or_else(|| Error::Incomplete { message: "no job returned".into(), help: None })?;
            Ok(matches!(
                job.status(),
                IngestionJobStatus::Complete | IngestionJobStatus::Failed | IngestionJobStatus::Stopped
            )
            .then_some(job))
        })
        .await?;
        let result = JobResult::from_job(name, &job);
        step.progress(if result.succeeded() { "done" } else { "failed" }, &result.line());
        for reason in &result.failure_reasons {
            ctx.report.note(&format!("  {name}: {reason}"));
        }
        Ok(result)
    }
}

/// Starts a job; when Bedrock says one is already running, follows that one (on this data source,
/// when `join_running`) or waits for it to end and starts again. A job that started before the
/// caller changed documents may miss the change (the sync trigger's may have started on the first
/// upload), so after an upload a running job is waited for, not joined.
pub async fn start(step: &Step, kb: &str, ds: &str, join_running: bool) -> Result<String> {
    let ctx = &step.ctx;
    let clock = wait::Poll::new(JOB_DEADLINE).at_least(Duration::from_secs(1));
    loop {
        step.progress("starting", "ingestion job");
        let started = ctx.clients.agent.start_ingestion_job().knowledge_base_id(kb).data_source_id(ds).send().await;
        match started.map_err(aws) {
            Ok(out) => return Ok(out.ingestion_job.map(|j| j.ingestion_job_id).unwrap_or_default()),
            Err(e) if e.is_conflict() => {
                let running = running_job(ctx, kb, ds).await.map_err(failed("list ingestion jobs"))?;
                match running {
                    Some(running) if join_running => {
                        step.progress("following", &format!("job {running}, already running"));
                        return Ok(running);
                    }
                    Some(running) => step.progress(
                        "waiting",
                        &format!("job {running}, already running from before the upload, to finish; then a new job"),
                    ),
                    None => step.progress("waiting", "another ingestion job of this knowledge base to finish"),
                }
                if clock.expired() {
                    return Err(Error::aws("start ingestion job", e));
                }
                clock.pause().await;
            }
            Err(e) => return Err(Error::aws("start ingestion job", e)),
        }
    }
}
