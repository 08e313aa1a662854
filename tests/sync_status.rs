//! `ragstack sync` and `ragstack status` through the real binary, against the emulator.

mod common;

use common::emulator::Emulator;
use common::{Workdir, run};
use serde_json::Value;

fn ragstack(wd: &Workdir, emu: &Emulator, args: &[&str]) -> (i32, String, String) {
    let mut c = wd.ragstack_on(emu);
    c.args(args);
    run(c)
}

fn last_json(stdout: &str) -> Value {
    serde_json::from_str(stdout.lines().last().expect("output")).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn deployed(wd: &Workdir, emu: &Emulator) {
    let (code, out, err) = ragstack(wd, emu, &["deploy", "dev"]);
    assert_eq!(code, 0, "{out}\n{err}");
}

#[test]
fn upload_and_sync_report_what_changed_and_nothing_when_nothing_did() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    deployed(&wd, &emu);
    let docs = wd.path().join("docs");
    std::fs::create_dir_all(docs.join("guides")).unwrap();
    std::fs::write(docs.join("a.txt"), "alpha").unwrap();
    std::fs::write(docs.join("guides/b.md"), "# beta").unwrap();
    std::fs::write(docs.join("c.pdf"), "%PDF-1.4 gamma").unwrap();
    std::fs::write(docs.join("tool.exe"), "not a document").unwrap();

    let (code, out, err) = ragstack(&wd, &emu, &["sync", "dev", "--upload", "docs", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let s = last_json(&out);
    assert_eq!(s["upload"]["sent"].as_array().unwrap().len(), 3, "{s}");
    assert_eq!(s["upload"]["skipped"], serde_json::json!(["tool.exe"]));
    let job = &s["ingestion"][0];
    assert_eq!(
        (job["status"].as_str(), job["scanned"].as_i64(), job["new"].as_i64()),
        (Some("COMPLETE"), Some(3), Some(3))
    );

    // Nothing changed: nothing uploaded, nothing new or modified.
    emu.clear_calls();
    let (code, out, err) = ragstack(&wd, &emu, &["sync", "dev", "--upload", "docs", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let s = last_json(&out);
    assert_eq!(s["upload"]["sent"], serde_json::json!([]));
    assert_eq!(s["upload"]["unchanged"], 3);
    assert!(!emu.mutating_calls().iter().any(|c| c.starts_with("s3 ")), "{:?}", emu.mutating_calls());
    let job = &s["ingestion"][0];
    assert_eq!((job["new"].as_i64(), job["modified"].as_i64(), job["deleted"].as_i64()), (Some(0), Some(0), Some(0)));

    // One file modified, one deleted locally (and removed with --delete).
    std::fs::write(docs.join("a.txt"), "alpha, revised").unwrap();
    std::fs::remove_file(docs.join("guides/b.md")).unwrap();
    let (code, out, err) = ragstack(&wd, &emu, &["sync", "dev", "--upload", "docs", "--delete", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let s = last_json(&out);
    assert_eq!(s["upload"]["sent"], serde_json::json!(["documents/a.txt"]));
    assert_eq!(s["upload"]["deleted"], serde_json::json!(["documents/guides/b.md"]));
    let job = &s["ingestion"][0];
    assert_eq!(
        (job["scanned"].as_i64(), job["modified"].as_i64(), job["deleted"].as_i64()),
        (Some(2), Some(1), Some(1))
    );
}

#[test]
fn a_sync_while_a_job_runs_follows_that_job() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    deployed(&wd, &emu);
    emu.configure(r#"{"delays": {"ingestion_in_progress": 2.0}}"#);
    let (code, out, err) = ragstack(&wd, &emu, &["sync", "dev", "--no-wait", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let running = last_json(&out)["started"][0]["job_id"].as_str().unwrap().to_string();
    emu.clear_calls();
    let (code, out, err) = ragstack(&wd, &emu, &["sync", "dev", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let s = last_json(&out);
    assert_eq!(s["ingestion"][0]["job_id"], running, "{s}");
    assert_eq!(s["ingestion"][0]["status"], "COMPLETE");
    assert!(out.contains("already running"), "{out}");
    let started = emu.mutating_calls().iter().filter(|c| c.contains("StartIngestionJob")).count();
    assert_eq!(started, 1, "one refused start, no second job");
}

#[test]
fn sync_validates_its_flags_before_any_aws_call() {
    let wd = Workdir::new();
    let mut c = wd.ragstack();
    c.args(["sync", "dev", "us-east-1", "--data-source", "nope"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no such data source") && err.contains("documents"), "{err}");
    let mut c = wd.ragstack();
    c.args(["sync", "dev", "us-east-1", "--delete"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert_eq!(wd.tripwire.hits(), 0);
}

#[test]
fn status_of_a_deployed_a_half_deployed_and_an_absent_environment() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    let (code, out, _) = ragstack(&wd, &emu, &["status", "dev", "--json"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["deployed"].as_bool(), v["healthy"].as_bool()), (Some(false), Some(false)));
    assert!(v["resources"].as_array().unwrap().iter().all(|r| r["state"] == "missing"), "{v}");

    let (code, out, err) = ragstack(&wd, &emu, &["deploy", "dev", "--no-sync"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, out, _) = ragstack(&wd, &emu, &["status", "dev"]);
    assert_eq!(code, 1, "never synced is not healthy: {out}");
    assert!(out.contains("never run"), "{out}");
    // The fix for documents is sync, not deploy.
    assert!(out.contains("not healthy: `ragstack sync dev us-east-1` ingests the documents"), "{out}");
    assert!(!out.contains("shows what deploy would fix"), "{out}");

    let (code, _, _) = ragstack(&wd, &emu, &["sync", "dev"]);
    assert_eq!(code, 0);
    let (code, out, _) = ragstack(&wd, &emu, &["status", "dev", "--json"]);
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["healthy"], true);
    assert_eq!(v["ingestion"][0]["status"], "COMPLETE");
    assert!(v["outputs"]["knowledge_base_id"].is_string());

    // Half-deployed: the knowledge base's data source deleted behind ragstack's back.
    let kb = v["outputs"]["knowledge_base_id"].as_str().unwrap();
    let ds = v["outputs"]["data_source.documents"].as_str().unwrap();
    let agent =
        aws_sdk_bedrockagent::Client::from_conf(common::emulator::sdk_config!(aws_sdk_bedrockagent, emu).build());
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        agent.delete_data_source().knowledge_base_id(kb).data_source_id(ds).send().await.unwrap();
    });
    let (code, out, _) = ragstack(&wd, &emu, &["status", "dev"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("data_source.documents        missing"), "{out}");
    assert!(out.contains("shows what deploy would fix"), "drift is deploy's: {out}");
    assert!(out.contains("collection                   ok (ACTIVE)"), "{out}");
}
