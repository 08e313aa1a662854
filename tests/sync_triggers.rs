//! Sync triggers (issue #17), through the real binary against the emulator: with
//! `trigger = "on_change"` and a `schedule` the bucket's EventBridge notifications, the
//! documents-changed rule (pattern, target, permission), the schedule and the trigger function
//! exist as configured; a schedule change is one update; switching back to manual removes them
//! with a known number of mutating calls; teardown leaves none (pending re-checks included);
//! a bad schedule exits 2 before any call; status tells a stale data source from a fresh one.
//! The function's own logic is tested with botocore's Stubber (tests/lambda/test_sync_trigger.py).

mod common;

use common::emulator::Emulator;
use common::stack::{
    bucket, clients, complete_inventory, deploy, empty_inventory, inventory, put_document, rt, teardown,
};
use common::{Workdir, run};
use serde_json::{Value, json};

const ACCOUNT: &str = "123456789012";
/// dev.toml's `[sync]` examples, uncommented.
const TRIGGERED: &[(&str, &str)] = &[
    ("# trigger = \"on_change\"", "trigger = \"on_change\""),
    ("# schedule = \"rate(6 hours)\"", "schedule = \"rate(6 hours)\""),
];

/// dev with `sync` as its `[sync]` settings.
fn with_sync(wd: &Workdir, sync: &str) {
    wd.dev_with("dev", &[("# trigger = \"on_change\"", sync)]);
}

fn ragstack(wd: &Workdir, emu: &Emulator, args: &[&str]) -> (i32, String, String) {
    let mut c = wd.ragstack_on(emu);
    c.args(args);
    run(c)
}

/// What the emulator holds of the triggers: rule (pattern, targets), the function's permission
/// for the rule, the schedule (expression, target, role, input) and the function's variables.
fn triggers(emu: &Emulator) -> Value {
    let c = clients(emu);
    rt().block_on(async {
        let rule = match c.events.describe_rule().name("ragstack-dev-documents-changed").send().await {
            Ok(r) => {
                let targets = c.events.list_targets_by_rule().rule("ragstack-dev-documents-changed").send().await;
                let targets: Vec<String> = targets.unwrap().targets().iter().map(|t| t.arn().to_string()).collect();
                json!({
                    "pattern": serde_json::from_str::<Value>(r.event_pattern().unwrap()).unwrap(),
                    "state": r.state().unwrap().as_str(),
                    "targets": targets,
                })
            }
            Err(_) => Value::Null,
        };
        let policy = c.lambda.get_policy().function_name("ragstack-dev-sync").send().await;
        let permission = policy.ok().and_then(|p| {
            let p: Value = serde_json::from_str(p.policy().unwrap()).unwrap();
            p["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "ragstack-documents-changed").map(|s| {
                json!({"principal": s["Principal"]["Service"], "source": s["Condition"]["ArnLike"]["AWS:SourceArn"]})
            })
        });
        let schedule = match c.scheduler.get_schedule().name("ragstack-dev-sync").send().await {
            Ok(s) => {
                let t = s.target().unwrap();
                json!({
                    "expression": s.schedule_expression(),
                    "target": t.arn(),
                    "role": t.role_arn(),
                    "input": t.input(),
                })
            }
            Err(_) => Value::Null,
        };
        let on_failure = c.lambda.get_function_event_invoke_config().function_name("ragstack-dev-sync").send().await;
        let on_failure = on_failure.ok().map(|c| {
            json!({
                "destination": c.destination_config().and_then(|d| d.on_failure()).and_then(|f| f.destination()),
                "retries": c.maximum_retry_attempts(),
            })
        });
        let queue = match c.sqs.get_queue_url().queue_name("ragstack-dev-sync-failures").send().await {
            Ok(q) => {
                use aws_sdk_sqs::types::QueueAttributeName as A;
                let url = q.queue_url().unwrap().to_string();
                let attrs = c.sqs.get_queue_attributes().queue_url(&url).attribute_names(A::All).send().await.unwrap();
                let attrs = attrs.attributes().unwrap();
                json!({
                    "retention_seconds": attrs[&A::MessageRetentionPeriod],
                    "sse_sqs": attrs[&A::SqsManagedSseEnabled],
                })
            }
            Err(_) => Value::Null,
        };
        let function = c.lambda.get_function_configuration().function_name("ragstack-dev-sync").send().await;
        let variables = function.ok().map(|f| {
            let vars = f.environment().unwrap().variables().unwrap().clone();
            json!({
                "DATA_SOURCES": serde_json::from_str::<Value>(&vars["DATA_SOURCES"]).unwrap(),
                "KNOWLEDGE_BASE_ID": vars["KNOWLEDGE_BASE_ID"],
                "SCHEDULER_ROLE_ARN": vars["SCHEDULER_ROLE_ARN"],
                "RECHECK_SCHEDULE_PREFIX": vars["RECHECK_SCHEDULE_PREFIX"],
                "FAILURES_QUEUE": vars["FAILURES_QUEUE"],
            })
        });
        json!({"rule": rule, "permission": permission, "schedule": schedule, "function": variables,
               "on_failure": on_failure, "queue": queue})
    })
}

fn data_source_id(emu: &Emulator) -> (String, String) {
    let c = clients(emu);
    rt().block_on(async {
        let kbs = c.agent.list_knowledge_bases().send().await.unwrap();
        let kb = kbs.knowledge_base_summaries()[0].knowledge_base_id().to_string();
        let ds = c.agent.list_data_sources().knowledge_base_id(&kb).send().await.unwrap();
        (kb, ds.data_source_summaries()[0].data_source_id().to_string())
    })
}

/// A re-check the trigger function records while a job runs (as templates/sync/handler.py does).
fn pending_recheck(emu: &Emulator, ds: &str) {
    use aws_sdk_scheduler::types::{FlexibleTimeWindow, FlexibleTimeWindowMode, Target};
    let c = clients(emu);
    rt().block_on(async {
        c.scheduler
            .create_schedule()
            .name(format!("ragstack-dev-recheck-{ds}"))
            .schedule_expression("at(2030-01-01T00:00:00)")
            .flexible_time_window(FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off).build().unwrap())
            .target(
                Target::builder()
                    .arn(format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:ragstack-dev-sync"))
                    .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/ragstack/ragstack-dev-us-east-1-scheduler"))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    });
}

#[test]
fn triggers_are_managed_like_every_other_resource() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    wd.dev_with("dev", TRIGGERED);
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (kb, ds) = data_source_id(&emu);
    let function = format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:ragstack-dev-sync");
    let scheduler_role = format!("arn:aws:iam::{ACCOUNT}:role/ragstack/ragstack-dev-us-east-1-scheduler");
    assert_eq!(
        triggers(&emu),
        json!({
            "rule": {
                "pattern": {
                    "source": ["aws.s3"],
                    "detail-type": ["Object Created", "Object Deleted"],
                    "detail": {"bucket": {"name": [bucket("dev")]}, "object": {"key": [{"prefix": "documents/"}]}},
                },
                "state": "ENABLED",
                "targets": [function],
            },
            "permission": {
                "principal": "events.amazonaws.com",
                "source": format!("arn:aws:events:us-east-1:{ACCOUNT}:rule/ragstack-dev-documents-changed"),
            },
            "schedule": {
                "expression": "rate(6 hours)",
                "target": function,
                "role": scheduler_role,
                "input": "{\"ragstack\":\"schedule\"}",
            },
            "function": {
                "DATA_SOURCES": [{"id": ds, "name": "documents", "bucket": bucket("dev"), "prefix": "documents/"}],
                "KNOWLEDGE_BASE_ID": kb,
                "SCHEDULER_ROLE_ARN": scheduler_role,
                "RECHECK_SCHEDULE_PREFIX": "ragstack-dev-recheck-",
                "FAILURES_QUEUE": "ragstack-dev-sync-failures",
            },
            "on_failure": {
                "destination": format!("arn:aws:sqs:us-east-1:{ACCOUNT}:ragstack-dev-sync-failures"),
                "retries": 2,
            },
            "queue": {"retention_seconds": "1209600", "sse_sqs": "true"},
        })
    );
    let inv = inventory(&emu, "dev");
    let mut expected = complete_inventory();
    for (k, v) in [("roles", 4), ("functions", 2), ("log_groups", 2), ("rules", 1), ("schedules", 1)] {
        expected[k] = v.into();
    }
    expected["bucket_notifications"] = 1.into();
    expected["queues"] = 1.into();
    assert_eq!(inv, expected);

    // Converged: nothing to change, and status shows the triggers.
    let (code, out, err) = ragstack(&wd, &emu, &["plan", "dev", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, out, err) = ragstack(&wd, &emu, &["status", "dev"]);
    assert_eq!(code, 0, "{out}\n{err}");
    for shown in [
        "trigger: on_change",
        "schedule: rate(6 hours) (UTC)",
        "last_triggered_job: none yet",
        "failed_trigger_events: none",
    ] {
        assert!(out.contains(shown), "{shown}\n{out}");
    }

    // A schedule change is one update of the schedule.
    with_sync(&wd, "trigger = \"on_change\"\nschedule = \"cron(0 6 * * ? *)\"");
    let (code, out, _) = ragstack(&wd, &emu, &["plan", "dev", "--detailed-exitcode"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("sync_schedule") && out.contains("cron(0 6 * * ? *)"), "{out}");
    emu.clear_calls();
    assert_eq!(deploy(&wd, &emu, "dev", &[]).0, 0);
    assert_eq!(emu.mutating_calls(), ["scheduler PUT /schedules/ragstack-dev-sync"]);
    assert_eq!(triggers(&emu)["schedule"]["expression"], "cron(0 6 * * ? *)");

    // Back to manual: plan names each deletion, deploy makes exactly these calls.
    with_sync(&wd, "trigger = \"manual\"");
    let (code, out, _) = ragstack(&wd, &emu, &["plan", "dev", "--detailed-exitcode"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("8 to delete"), "{out}");
    emu.clear_calls();
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let mut calls = emu.mutating_calls();
    calls.sort();
    assert_eq!(
        calls,
        [
            "events DeleteRule",
            "events RemoveTargets",
            "iam DeleteRole",
            "iam DeleteRole",
            "iam DeleteRolePolicy",
            "iam DeleteRolePolicy",
            "lambda DELETE /2015-03-31/functions/ragstack-dev-sync",
            "lambda DELETE /2015-03-31/functions/ragstack-dev-sync/policy/ragstack-documents-changed",
            "logs DeleteLogGroup",
            "s3 PUT /ragstack-dev-123456789012-us-east-1/",
            "scheduler DELETE /schedules/ragstack-dev-sync",
            "sqs DeleteQueue",
        ],
        "{out}"
    );
    assert_eq!(inventory(&emu, "dev"), complete_inventory());
    let (code, out, _) = ragstack(&wd, &emu, &["plan", "dev", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}");

    // On again, with a re-check pending: teardown removes everything, the re-check included.
    wd.dev_with("dev", TRIGGERED);
    assert_eq!(deploy(&wd, &emu, "dev", &[]).0, 0);
    pending_recheck(&emu, &ds);
    assert_eq!(inventory(&emu, "dev")["schedules"], 2);
    let (code, out, err) = teardown(&wd, &emu, "dev", &["--yes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(inventory(&emu, "dev"), empty_inventory());
}

#[test]
fn status_tells_a_stale_data_source_from_a_fresh_one() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    assert_eq!(deploy(&wd, &emu, "dev", &[]).0, 0);
    let ingestion = |args: &[&str]| {
        let (code, out, err) = ragstack(&wd, &emu, args);
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}\n{err}"));
        (code, v["ingestion"][0].clone())
    };
    let (code, job) = ingestion(&["status", "dev", "--json"]);
    assert_eq!((code, &job["stale"]), (0, &json!(false)), "{job}");
    // S3 keeps modification times to the second: the upload lands in a later second than the job.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    put_document(&emu, "dev", "documents/new.md", "# New\nuploaded from a console");
    let (code, job) = ingestion(&["status", "dev", "--json"]);
    assert_eq!((code, &job["stale"]), (1, &json!(true)), "{job}");
    let (code, out, _) = ragstack(&wd, &emu, &["status", "dev"]);
    assert_eq!(code, 1);
    assert!(out.contains("STALE") && out.contains("documents/new.md") && out.contains("ragstack sync dev"), "{out}");
    let (code, out, err) = ragstack(&wd, &emu, &["sync", "dev"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, job) = ingestion(&["status", "dev", "--json"]);
    assert_eq!((code, &job["stale"]), (0, &json!(false)), "{job}");
    // A deletion is a change too (the versioned bucket keeps a delete marker).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    rt().block_on(async {
        clients(&emu).s3.delete_object().bucket(bucket("dev")).key("documents/new.md").send().await.unwrap();
    });
    let (code, job) = ingestion(&["status", "dev", "--json"]);
    assert_eq!((code, &job["stale"]), (1, &json!(true)), "{job}");
}

/// What Lambda sends to the on-failure destination once the trigger failed on `event` three times
/// (the invocation record of "Capturing records of Lambda asynchronous invocations", Lambda
/// Developer Guide). The emulator runs no functions, so the test plays Lambda's part.
fn failed_invocation(emu: &Emulator, event: Value) {
    let record = json!({
        "version": "1.0",
        "timestamp": "2026-11-28T18:16:05.568Z",
        "requestContext": {
            "requestId": "e4b46cbf-b738-4ae5-8880-a18cdf61200e",
            "functionArn": format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:ragstack-dev-sync:$LATEST"),
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "Task timed out after 60.00 seconds"}
    });
    let c = clients(emu);
    rt().block_on(async {
        let url = c.sqs.get_queue_url().queue_name("ragstack-dev-sync-failures").send().await.unwrap();
        c.sqs.send_message().queue_url(url.queue_url().unwrap()).message_body(record.to_string()).send().await.unwrap();
    });
}

fn s3_event(key: &str) -> Value {
    json!({"version": "0", "source": "aws.s3", "detail-type": "Object Created",
           "detail": {"bucket": {"name": bucket("dev")}, "object": {"key": key, "size": 10}}})
}

#[test]
fn a_change_the_trigger_failed_on_waits_in_its_queue_until_sync_ingests_it() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    wd.dev_with("dev", TRIGGERED);
    assert_eq!(deploy(&wd, &emu, "dev", &[]).0, 0);
    // An upload whose trigger event failed: one event about it, one about a key under no data source.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    put_document(&emu, "dev", "documents/late.md", "# Late\nthe trigger failed on this one");
    failed_invocation(&emu, s3_event("documents/late.md"));
    failed_invocation(&emu, s3_event("elsewhere/ignored.md"));

    let (code, out, err) = ragstack(&wd, &emu, &["status", "dev"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("failed_trigger_events: 2 waiting: `ragstack sync dev us-east-1`"), "{out}");
    assert!(out.contains("not healthy: `ragstack sync dev us-east-1` ingests the documents"), "{out}");
    let (_, out, _) = ragstack(&wd, &emu, &["status", "dev", "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let queue = v["resources"].as_array().unwrap().iter().find(|r| r["id"] == "sync_failures").unwrap().clone();
    assert_eq!(queue["sync_pending"], "2 failed trigger events in queue ragstack-dev-sync-failures", "{queue}");

    // --no-wait starts the jobs but keeps the event about the document: nothing says it was
    // ingested. The one about a key under no data source concerns nothing and goes.
    let (code, out, err) = ragstack(&wd, &emu, &["sync", "dev", "--no-wait"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("2 failed trigger events to ingest: s3://"), "{out}");
    assert!(
        out.contains("events: 1 cleared, their documents ingested; 1 stay queued until a sync that follows"),
        "{out}"
    );
    let (code, out, _) = ragstack(&wd, &emu, &["status", "dev"]);
    assert!(out.contains("failed_trigger_events: 1 waiting"), "{code} {out}");

    let (code, out, err) = ragstack(&wd, &emu, &["sync", "dev"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("1 failed trigger events to ingest: s3://ragstack-dev-123456789012-us-east-1/documents/late.md"),
        "{out}"
    );
    assert!(out.contains("failed trigger events: 1 cleared, their documents ingested\n"), "{out}");
    let (code, out, err) = ragstack(&wd, &emu, &["status", "dev"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("failed_trigger_events: none") && out.contains("fresh"), "{out}");
    // Teardown takes the queue with the rest.
    assert_eq!(teardown(&wd, &emu, "dev", &["--yes"]).0, 0);
    assert_eq!(inventory(&emu, "dev"), empty_inventory());
}

#[test]
fn bad_trigger_settings_exit_2_before_any_aws_call() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    with_sync(&wd, "trigger = \"on_change\"\nschedule = \"rate(6 hour)\"");
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("sync.schedule") && err.contains("rate(6 hours)"), "{err}");
    with_sync(&wd, "trigger = \"sometimes\"");
    let (code, _, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("manual") && err.contains("on_change"), "{err}");
    wd.dev_with(
        "dev",
        &[
            ("# trigger = \"on_change\"", "trigger = \"on_change\""),
            ("name = \"documents\"", "name = \"documents\"\nbucket = \"someone-elses-bucket\""),
        ],
    );
    let (code, _, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("sync.trigger") && err.contains("someone-elses-bucket"), "{err}");
    assert!(emu.calls().is_empty(), "{:?}", emu.calls());
}

#[test]
fn the_example_ci_workflow_runs_as_written() {
    // The command line of examples/github-actions-sync.yml, run against the emulator on a
    // repository's docs/ folder.
    let workflow =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/github-actions-sync.yml")).unwrap();
    let line = workflow.lines().find_map(|l| l.trim().strip_prefix("run: ragstack ")).expect("a ragstack step");
    let line =
        line.split(" | ").next().unwrap().replace("\"$RAGSTACK_ENV\"", "dev").replace("\"$AWS_REGION\"", "us-east-1");
    let args: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(args, ["sync", "dev", "us-east-1", "--upload", "docs/", "--delete", "--json"]);
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    assert_eq!(deploy(&wd, &emu, "dev", &[]).0, 0);
    std::fs::create_dir_all(wd.path().join("docs")).unwrap();
    std::fs::write(wd.path().join("docs/handbook.md"), "# Handbook\nkept in git").unwrap();
    let mut c = wd.ragstack_on(&emu);
    c.args(&args).current_dir(wd.path());
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    let summary: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(summary["upload"]["sent"], json!(["documents/handbook.md"]), "{summary}");
    assert_eq!(summary["result"], "synced", "{summary}");
}
