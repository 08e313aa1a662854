//! The sync trigger's failed events, in its on-failure queue (src/resources/sqs_queue.rs): how
//! many wait, which data sources each concerns, and deleting them once a sync has ingested those.
//!
//! Each message is Lambda's invocation record ("Capturing records of Lambda asynchronous
//! invocations", Lambda Developer Guide): `{"version", "timestamp", "requestContext": {"requestId",
//! "functionArn", "condition", "approximateInvokeCount"}, "requestPayload": EVENT,
//! "responseContext", "responsePayload"}`, EVENT being what the trigger received
//! (templates/sync/handler.py, `route`). A sync takes the messages before it starts its jobs, so
//! the jobs cover what they concern, and deletes them only once those jobs completed; what it did
//! not ingest goes back to the queue for the next one.

use crate::aws::aws;
use crate::context::Ctx;
use crate::error::{Error, Result};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, QueueAttributeName as Attr};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

/// ReceiveMessage returns at most 10 messages a call (SQS API Reference).
const BATCH: i32 = 10;
/// Taking at most this many calls' worth: beyond that every data source is concerned anyway, and
/// the rest wait for the next sync.
const MAX_BATCHES: usize = 100;
/// SQS hides a received message for at most 12 hours (VisibilityTimeout, "ChangeMessageVisibility").
const MAX_HOLD: Duration = Duration::from_secs(12 * 3600);

/// A data source as events are matched to it (the trigger's own matching, templates/sync/handler.py).
pub struct Source<'a> {
    pub name: &'a str,
    /// The id Bedrock assigned it (re-check events name it).
    pub id: &'a str,
    pub bucket: &'a str,
    pub prefix: &'a str,
}

/// What a failed event asks to be ingested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Concerns {
    /// Every data source (the schedule, or a record ragstack cannot read).
    All,
    /// These data sources, by name; none when the object is under no data source.
    Some(BTreeSet<String>),
}

impl Concerns {
    /// Whether the event concerns data source `name`.
    pub fn includes(&self, name: &str) -> bool {
        match self {
            Concerns::All => true,
            Concerns::Some(names) => names.contains(name),
        }
    }

    pub fn covered_by(&self, ingested: &BTreeSet<String>, all: &BTreeSet<String>) -> bool {
        match self {
            Concerns::All => all.is_subset(ingested),
            Concerns::Some(names) => names.is_subset(ingested),
        }
    }
}

/// One failed event taken from the queue.
pub struct Taken {
    receipt: String,
    pub concerns: Concerns,
    /// What the trigger was asked, in words (`s3://bucket/key`, `schedule`).
    pub about: String,
}

/// Reads a record: which data sources its event concerns.
pub fn concerns(body: &str, sources: &[Source<'_>]) -> (Concerns, String) {
    let Ok(record) = serde_json::from_str::<Value>(body) else { return (Concerns::All, "an unreadable record".into()) };
    let event = &record["requestPayload"];
    let pick = |f: &dyn Fn(&Source) -> bool| {
        Concerns::Some(sources.iter().filter(|s| f(s)).map(|s| s.name.to_string()).collect())
    };
    if event["source"] == "aws.s3" {
        let bucket = event["detail"]["bucket"]["name"].as_str().unwrap_or_default();
        let key = event["detail"]["object"]["key"].as_str().unwrap_or_default();
        return (pick(&|s| s.bucket == bucket && key.starts_with(s.prefix)), format!("s3://{bucket}/{key}"));
    }
    match event["ragstack"].as_str() {
        Some("recheck") => {
            let id = event["data_source_id"].as_str().unwrap_or_default();
            (pick(&|s| s.id == id), format!("re-check of data source {id}"))
        }
        Some("schedule") => (Concerns::All, "the schedule".into()),
        _ => (Concerns::All, "an event ragstack does not send".into()),
    }
}

/// (visible, in flight): the messages waiting, and those a sync has taken and not yet deleted.
pub async fn count(ctx: &Ctx, url: &str) -> Result<(u64, u64)> {
    let out = ctx
        .clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(Attr::ApproximateNumberOfMessages)
        .attribute_names(Attr::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(aws)
        .map_err(|e| Error::aws("count the sync trigger's failed events", e))?;
    let attrs = out.attributes().cloned().unwrap_or_default();
    let n = |a: Attr| attrs.get(&a).and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok((n(Attr::ApproximateNumberOfMessages), n(Attr::ApproximateNumberOfMessagesNotVisible)))
}

/// Takes the waiting events, hiding them from other readers for `hold` (at most 12 hours).
pub async fn take(ctx: &Ctx, url: &str, sources: &[Source<'_>], hold: Duration) -> Result<Vec<Taken>> {
    let hold = hold.min(MAX_HOLD).as_secs() as i32;
    let mut taken = Vec::new();
    for _ in 0..MAX_BATCHES {
        let out = ctx
            .clients
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(BATCH)
            .visibility_timeout(hold)
            .send()
            .await
            .map_err(aws)
            .map_err(|e| Error::aws("read the sync trigger's failed events", e))?;
        let messages = out.messages();
        for m in messages {
            let (concerns, about) = concerns(m.body().unwrap_or_default(), sources);
            taken.push(Taken { receipt: m.receipt_handle().unwrap_or_default().to_string(), concerns, about });
        }
        if messages.is_empty() {
            break;
        }
    }
    Ok(taken)
}

/// Deletes the events whose data sources were all `ingested` and gives the rest back to the queue
/// at once; returns how many were deleted.
pub async fn settle(ctx: &Ctx, url: &str, taken: Vec<Taken>, ingested: &BTreeSet<String>) -> Result<usize> {
    let all: BTreeSet<String> = ctx.env.file.data_sources.iter().map(|d| d.name.clone()).collect();
    let (done, left): (Vec<Taken>, Vec<Taken>) = taken.into_iter().partition(|t| t.concerns.covered_by(ingested, &all));
    let sqs = &ctx.clients.sqs;
    for chunk in done.chunks(BATCH as usize) {
        let entries = chunk.iter().enumerate().map(|(i, t)| {
            DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(&t.receipt).build()
        });
        let entries: Vec<_> = entries.collect::<std::result::Result<_, _>>().expect("id and receipt are set");
        let out = sqs.delete_message_batch().queue_url(url).set_entries(Some(entries)).send().await.map_err(aws);
        let out = out.map_err(|e| Error::aws("delete the sync trigger's failed events", e))?;
        if let Some(f) = out.failed().first() {
            return Err(Error::Incomplete {
                message: format!(
                    "could not delete a failed trigger event: {}: {}",
                    f.code(),
                    f.message().unwrap_or_default()
                ),
                help: Some("the next sync ingests it again, which is harmless".into()),
            });
        }
    }
    for t in &left {
        let release = sqs.change_message_visibility().queue_url(url).receipt_handle(&t.receipt).visibility_timeout(0);
        release
            .send()
            .await
            .map_err(aws)
            .map_err(|e| Error::aws("give a failed trigger event back to the queue", e))?;
    }
    Ok(done.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sources() -> Vec<Source<'static>> {
        vec![
            Source { name: "documents", id: "AAAAAAAAAA", bucket: "docs", prefix: "" },
            Source { name: "manuals", id: "BBBBBBBBBB", bucket: "other", prefix: "manuals/" },
        ]
    }

    fn record(event: Value) -> String {
        json!({"version": "1.0", "requestContext": {"condition": "RetriesExhausted"}, "requestPayload": event})
            .to_string()
    }

    fn names(n: &[&str]) -> Concerns {
        Concerns::Some(n.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn an_s3_event_concerns_the_data_sources_its_object_is_under() {
        let event =
            |bucket, key| json!({"source": "aws.s3", "detail": {"bucket": {"name": bucket}, "object": {"key": key}}});
        assert_eq!(concerns(&record(event("other", "manuals/a.pdf")), &sources()).0, names(&["manuals"]));
        assert_eq!(concerns(&record(event("docs", "x.txt")), &sources()).0, names(&["documents"]));
        assert_eq!(concerns(&record(event("other", "elsewhere/a.pdf")), &sources()).0, names(&[]));
    }

    #[test]
    fn schedules_rechecks_and_unreadable_records() {
        let recheck = json!({"ragstack": "recheck", "data_source_id": "BBBBBBBBBB"});
        assert_eq!(concerns(&record(recheck), &sources()).0, names(&["manuals"]));
        assert_eq!(concerns(&record(json!({"ragstack": "schedule"})), &sources()).0, Concerns::All);
        assert_eq!(concerns("not json", &sources()).0, Concerns::All);
    }

    #[test]
    fn an_event_is_covered_only_when_all_it_concerns_was_ingested() {
        let all: BTreeSet<String> = ["documents".to_string(), "manuals".to_string()].into();
        let only_docs: BTreeSet<String> = ["documents".to_string()].into();
        assert!(names(&["documents"]).covered_by(&only_docs, &all));
        assert!(!names(&["manuals"]).covered_by(&only_docs, &all));
        assert!(!Concerns::All.covered_by(&only_docs, &all));
        assert!(Concerns::All.covered_by(&all, &all));
        assert!(names(&[]).covered_by(&BTreeSet::new(), &all));
    }
}
