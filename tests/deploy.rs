//! `ragstack deploy` and online `plan` through the real binary, against the local emulator.

mod common;

use common::emulator::{CALLER, Emulator};
use common::stack::{
    ACCOUNT, KILL_POINTS, access_policy_text, bucket, clients, complete_inventory, complete_qa_inventory, deploy,
    events, inventory, killed_deploy, rt, summary,
};
use common::{Workdir, run};
use serde_json::Value;
use std::process::Stdio;

#[test]
fn fresh_deploy_creates_the_storage_path_with_the_files_settings_then_a_redeploy_changes_nothing() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let s = summary(&out);
    assert_eq!(s["result"], "deployed");
    let outputs = &s["outputs"];
    let kb_id = outputs["knowledge_base_id"].as_str().unwrap().to_string();
    let ds_id = outputs["data_source.documents"].as_str().unwrap().to_string();
    assert_eq!(outputs["documents_bucket"], bucket("dev"));
    assert!(outputs["collection_endpoint"].as_str().unwrap().ends_with(".us-east-1.aoss.amazonaws.com"));
    assert_eq!(s["ingestion"][0]["status"], "COMPLETE", "{s}");
    assert_eq!(inventory(&emu, "dev"), complete_inventory());
    // Every resource event names a resource of the plan; states end in done.
    let done: Vec<String> = events(&out)
        .iter()
        .filter(|e| e["event"] == "resource" && e["state"] == "done")
        .map(|e| e["resource"].as_str().unwrap().to_string())
        .collect();
    for id in ["documents_bucket", "collection", "vector_index", "knowledge_base", "data_source.documents"] {
        assert!(done.contains(&id.to_string()), "{id} not done: {done:?}");
    }

    let c = clients(&emu);
    rt().block_on(async {
        let bucket = bucket("dev");
        let tags = c.s3.get_bucket_tagging().bucket(&bucket).send().await.unwrap();
        let tags: Vec<(String, String)> = tags.tag_set().iter().map(|t| (t.key().into(), t.value().into())).collect();
        for want in [("ragstack:environment", "dev"), ("ragstack:managed", "true"), ("stage", "dev")] {
            assert!(tags.contains(&(want.0.into(), want.1.into())), "{tags:?}");
        }
        let versioning = c.s3.get_bucket_versioning().bucket(&bucket).send().await.unwrap();
        assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));
        let policy = c.s3.get_bucket_policy().bucket(&bucket).send().await.unwrap();
        assert!(policy.policy().unwrap().contains("aws:SecureTransport"));

        let role = c.iam.get_role().role_name("ragstack-dev-us-east-1-kb").send().await.unwrap().role.unwrap();
        assert_eq!(role.path(), "/ragstack/");
        let trust = ragstack::aws::parse_policy(role.assume_role_policy_document().unwrap());
        assert_eq!(trust["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"], ACCOUNT, "{trust}");
        let inline = c.iam.get_role_policy().role_name(role.role_name()).policy_name("knowledge-base-access").send();
        let inline = ragstack::aws::parse_policy(inline.await.unwrap().policy_document());
        let collection = c.aoss.batch_get_collection().names("ragstack-dev").send().await.unwrap();
        let collection = &collection.collection_details()[0];
        assert_eq!(collection.standby_replicas().unwrap().as_str(), "DISABLED");
        let text = inline.to_string();
        assert!(text.contains(collection.arn().unwrap()), "permissions name the collection's ARN: {text}");
        assert!(text.contains(&format!("arn:aws:s3:::{bucket}/documents/*")), "{text}");
        assert!(!text.contains("\"*\""), "no wildcard resource: {text}");

        let access = access_policy_text(&c, "dev").await;
        assert!(access.contains(role.arn()) && access.contains(CALLER), "{access}");
        assert!(access.contains("index/ragstack-dev/ragstack-index"), "{access}");

        let index = c.aoss.get_index().id(collection.id().unwrap()).index_name("ragstack-index").send().await.unwrap();
        let schema = ragstack::aws::from_document(index.index_schema().unwrap());
        assert_eq!(schema["mappings"]["properties"]["bedrock-knowledge-base-default-vector"]["dimension"], 1024);

        let kb = c.agent.get_knowledge_base().knowledge_base_id(&kb_id).send().await.unwrap().knowledge_base.unwrap();
        let vector = kb.knowledge_base_configuration().unwrap().vector_knowledge_base_configuration().unwrap();
        assert!(vector.embedding_model_arn().ends_with("foundation-model/amazon.titan-embed-text-v2:0"));
        assert_eq!(kb.role_arn(), role.arn());
        let kb_tags = c.agent.list_tags_for_resource().resource_arn(kb.knowledge_base_arn()).send().await.unwrap();
        assert_eq!(kb_tags.tags().unwrap().get("ragstack:environment").map(String::as_str), Some("dev"));

        let ds = c.agent.get_data_source().knowledge_base_id(&kb_id).data_source_id(&ds_id).send().await.unwrap();
        let ds = ds.data_source.unwrap();
        assert_eq!(ds.data_deletion_policy().unwrap().as_str(), "RETAIN");
        let chunking = ds.vector_ingestion_configuration().unwrap().chunking_configuration().unwrap();
        let fixed = chunking.fixed_size_chunking_configuration().unwrap();
        assert_eq!((fixed.max_tokens(), fixed.overlap_percentage()), (300, 20));
        let s3 = ds.data_source_configuration().unwrap().s3_configuration().unwrap();
        assert_eq!(s3.inclusion_prefixes(), ["documents/"]);
    });

    // A second deploy reads, changes nothing, and says so.
    emu.clear_calls();
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("No changes"), "{out}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
    assert!(!emu.calls().is_empty(), "the no-op deploy must still read AWS");
    assert!(out.contains(&kb_id), "outputs are printed on a no-op deploy too: {out}");
}

#[test]
fn online_plan_reports_pending_changes_with_the_detailed_exit_code() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    let mut c = wd.ragstack_on(&emu);
    c.args(["plan", "dev", "--detailed-exitcode"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(out.contains("Plan: 14 to create"), "{out}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new(), "plan never changes anything");

    assert_eq!(deploy(&wd, &emu, "dev", &["--no-sync"]).0, 0);
    let mut c = wd.ragstack_on(&emu);
    c.args(["plan", "dev", "--detailed-exitcode", "--json"]);
    let (code, out, err) = run(c);
    // --no-sync left the data source without a completed ingestion: that is still pending.
    assert_eq!(code, 3, "{out}\n{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["summary"]["create"], 0);
    assert!(v["items"].as_array().unwrap().iter().any(|i| i["observation"]["needs_sync"] == true));

    assert_eq!(deploy(&wd, &emu, "dev", &[]).0, 0);
    let mut c = wd.ragstack_on(&emu);
    c.args(["plan", "dev", "--detailed-exitcode"]);
    let (code, out, _) = run(c);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("No changes"), "{out}");
}

#[test]
fn a_mutable_change_updates_only_its_resource_and_chunking_is_a_refused_replace() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    wd.dev_with("dev", &[]);
    assert_eq!(deploy(&wd, &emu, "dev", &[]).0, 0);

    // Network access: only the network policy changes.
    wd.dev_with(
        "dev",
        &[
            ("network_access = \"public\"", "network_access = \"private\""),
            ("# vpc_endpoints = [\"vpce-0123456789abcdef0\"]", "vpc_endpoints = [\"vpce-0123456789abcdef0\"]"),
        ],
    );
    emu.clear_calls();
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(emu.mutating_calls(), vec!["aoss UpdateSecurityPolicy".to_string()], "{out}");
    assert!(out.contains("1 updated"), "{out}");

    // Chunking: a replace, refused without --allow-replace, with nothing changed.
    wd.dev_with(
        "dev",
        &[
            ("network_access = \"public\"", "network_access = \"private\""),
            ("# vpc_endpoints = [\"vpce-0123456789abcdef0\"]", "vpc_endpoints = [\"vpce-0123456789abcdef0\"]"),
            ("max_tokens = 300", "max_tokens = 400"),
        ],
    );
    let mut c = wd.ragstack_on(&emu);
    c.args(["plan", "dev"]);
    let (_, out, _) = run(c);
    assert!(out.contains("-/+ data_source.documents") && out.contains("replace: chunking"), "{out}");
    assert!(out.contains("re-ingested"), "{out}");
    emu.clear_calls();
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("would replace data_source.documents (chunking)") && err.contains("--allow-replace"), "{err}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());

    let (code, out, err) = deploy(&wd, &emu, "dev", &["--allow-replace", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let s = summary(&out);
    assert_eq!(s["ingestion"][0]["status"], "COMPLETE", "the replaced data source is synced again");
    let mutations = emu.mutating_calls();
    for expected in ["bedrock DeleteDataSource", "bedrock CreateDataSource", "bedrock StartIngestionJob"] {
        assert!(mutations.contains(&expected.to_string()), "{mutations:?}");
    }
    assert!(!mutations.iter().any(|m| m.contains("KnowledgeBase") || m.contains("Collection")), "{mutations:?}");
    assert_eq!(inventory(&emu, "dev"), complete_inventory());
}

#[test]
fn an_embedding_model_bedrock_does_not_offer_fails_before_anything_is_created() {
    let emu = Emulator::start(&[]);
    emu.configure(r#"{"unavailable_models": ["amazon.titan-embed-text-v2:0"]}"#);
    let wd = Workdir::new();
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("embedding_model") && err.contains("not offered by Bedrock in us-east-1"), "{err}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
}

#[test]
fn a_deploy_killed_at_any_point_is_completed_by_the_next_without_duplicates() {
    for marker in KILL_POINTS {
        let (emu, wd) = killed_deploy(marker);
        let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
        assert_eq!(code, 0, "after a kill at {marker:?}: {out}\n{err}");
        assert_eq!(inventory(&emu, "dev"), complete_inventory(), "after a kill at {marker:?}");
        emu.clear_calls();
        let (code, out, _) = deploy(&wd, &emu, "dev", &[]);
        assert_eq!(code, 0);
        assert!(out.contains("No changes"), "after a kill at {marker:?}: {out}");
        assert_eq!(emu.mutating_calls(), Vec::<String>::new());
    }
}

#[test]
fn deploy_succeeds_through_20_percent_throttling_and_5_percent_server_errors() {
    let emu = Emulator::start(&["--throttle-rate", "0.2", "--error-rate", "0.05", "--seed", "7"]);
    let wd = Workdir::new();
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let injected = emu.calls().iter().filter(|c| !c["injected"].is_null()).count();
    assert!(injected >= 5, "faults were injected: {injected}");
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("No changes"), "{out}");
    // The test's own clients do not retry: count what exists without faults.
    emu.configure(r#"{"throttle_rate": 0, "error_rate": 0}"#);
    assert_eq!(inventory(&emu, "dev"), complete_inventory());
}

#[test]
fn two_deploys_started_at_once_end_with_one_environment() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    let spawn = || {
        let mut cmd = wd.process_on(&emu);
        cmd.args(["deploy", "dev"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(inventory(&emu, "dev"), complete_inventory());
    let (code, out, _) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0);
    assert!(out.contains("No changes"), "{out}");
}

#[test]
fn dev_and_qa_in_one_account_and_region_leave_each_other_alone() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let dev_before = summary(&out)["outputs"].clone();
    let (code, out, err) = deploy(&wd, &emu, "qa", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(inventory(&emu, "dev"), complete_inventory());
    assert_eq!(inventory(&emu, "qa"), complete_qa_inventory());
    // dev is exactly as it was: same ids, and nothing to do.
    emu.clear_calls();
    let (code, out, _) = deploy(&wd, &emu, "dev", &["--json"]);
    assert_eq!(code, 0);
    let s = summary(&out);
    assert_eq!(s["result"], "no_changes");
    assert_eq!(s["outputs"], dev_before);
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
}

#[test]
fn a_resource_with_the_environments_name_that_is_not_ragstacks_is_refused_with_exit_2_and_nothing_changes() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    let c = clients(&emu);
    rt().block_on(async {
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"bedrock.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let tag = aws_sdk_iam::types::Tag::builder().key("ragstack:environment").value("prod").build().unwrap();
        let managed = aws_sdk_iam::types::Tag::builder().key("ragstack:managed").value("true").build().unwrap();
        c.iam
            .create_role()
            .role_name("ragstack-dev-us-east-1-kb")
            .path("/ragstack/")
            .assume_role_policy_document(trust)
            .tags(tag)
            .tags(managed)
            .send()
            .await
            .unwrap();
    });
    emu.clear_calls();
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 2, "a refusal before any change exits 2\n{out}\n{err}");
    assert!(err.contains("not ragstack's") && err.contains("ragstack-dev-us-east-1-kb"), "{err}");
    assert!(err.contains("ragstack environment `prod`"), "{err}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
}
