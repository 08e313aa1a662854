//! `ragstack plan ENV REGION --offline`: no credentials, no network, every resource of the
//! environment with its name, ARN, dependencies and settings; the same content as JSON.

mod common;
use common::{Workdir, run, shipped};
use serde_json::Value;

const RESOURCE_IDS: &[&str] = &[
    "documents_bucket",
    "encryption_policy",
    "network_policy",
    "collection",
    "knowledge_base_role",
    "data_access_policy",
    "vector_index",
    "knowledge_base",
    "data_source.documents",
    "api_role",
    "log_group",
    "function",
    "rest_api",
    "api_stage",
];

fn plan_json(w: &Workdir, args: &[&str]) -> Value {
    let mut cmd = w.ragstack();
    cmd.args(["plan", "--offline", "--json"]).args(args);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).expect("plan --json prints one JSON document")
}

#[test]
fn offline_plan_lists_every_resource_in_dependency_order_without_network() {
    let w = Workdir::new();
    let mut cmd = w.ragstack();
    // No credentials at all: offline must not need them.
    cmd.env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY");
    cmd.args(["plan", "dev", "us-east-1", "--offline", "--account", "123456789012"]);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    let mut last = 0;
    for id in RESOURCE_IDS {
        let at = out.find(&format!(". {id}  (")).unwrap_or_else(|| panic!("{id} missing from:\n{out}"));
        assert!(at > last, "{id} out of order");
        last = at;
    }
    for expected in [
        "arn:aws:s3:::ragstack-dev-123456789012-us-east-1",
        "arn:aws:iam::123456789012:role/ragstack/ragstack-dev-us-east-1-kb",
        "depends on          encryption_policy (ready), network_policy (ready)",
        "standby_replicas    DISABLED",
        "sync: start an ingestion job for each data source (documents)",
        "https://<known after apply>.execute-api.us-east-1.amazonaws.com/dev/rag",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(!out.contains("placeholder"), "a given account is not a placeholder");
    assert_eq!(w.tripwire.hits(), 0);
}

#[test]
fn json_plan_has_the_same_resources_and_documents_only_on_request() {
    let w = Workdir::new();
    let v = plan_json(&w, &["qa", "eu-west-1"]);
    let ids: Vec<&str> = v["resources"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    // qa requires an API key: its key and usage plan come last.
    let expected: Vec<&str> = RESOURCE_IDS.iter().copied().chain(["api_key", "usage_plan"]).collect();
    assert_eq!(ids, expected);
    assert_eq!(v["account_is_placeholder"], true);
    assert_eq!(v["region"], "eu-west-1");
    assert!(v["resources"][0].get("documents").is_none());
    let collection = &v["resources"][3];
    assert_eq!(collection["settings"]["standby_replicas"], "ENABLED", "qa keeps standby replicas");
    let ds = &v["resources"][8];
    assert_eq!(ds["settings"]["chunking"]["strategy"], "HIERARCHICAL");
    assert_eq!(ds["settings"]["chunking"]["child_max_tokens"], 300);
    assert_eq!(ds["settings"]["data_deletion_policy"], "RETAIN");

    let v = plan_json(&w, &["qa", "eu-west-1", "--show-documents"]);
    let role = v["resources"].as_array().unwrap().iter().find(|r| r["id"] == "knowledge_base_role").unwrap();
    let templates: Vec<&str> =
        role["documents"].as_array().unwrap().iter().map(|d| d["template"].as_str().unwrap()).collect();
    assert_eq!(
        templates,
        ["templates/iam/knowledge-base-trust.json.hbs", "templates/iam/knowledge-base-permissions.json.hbs"]
    );
    assert_eq!(role["documents"][0]["content"]["Statement"][0]["Principal"]["Service"], "bedrock.amazonaws.com");
}

#[test]
fn text_plan_shows_documents_on_request() {
    let w = Workdir::new();
    w.dev_with("small", &[("dimensions = 1024", "dimensions = 512")]);
    let mut cmd = w.ragstack();
    cmd.args(["plan", "small", "us-west-2", "--offline", "--show-documents"]);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("--- templates/opensearch/vector-index.json.hbs"), "{out}");
    assert!(out.contains("\"dimension\": 512"), "the file's 512 dimensions:\n{out}");
    assert!(out.contains("\"engine\": \"faiss\""));
}

#[test]
fn built_in_environments_work_from_any_directory() {
    let w = Workdir::new();
    std::fs::remove_dir(w.path().join("environments")).unwrap();
    let v = plan_json(&w, &["sandbox", "us-east-1"]);
    assert_eq!(v["source"], "environments/sandbox.toml (built in)");
}

#[test]
fn a_new_environment_file_just_works_and_a_local_file_overrides_the_built_in() {
    let w = Workdir::new();
    w.env_file("prod", &shipped("qa").replace("stage_name = \"qa\"", "stage_name = \"prod\""));
    let v = plan_json(&w, &["prod", "us-east-1"]);
    assert_eq!(v["environment"], "prod");
    assert_eq!(v["source"], "environments/prod.toml");
    assert!(v["outputs"]["api_url"].as_str().unwrap().ends_with("/prod/rag"));

    w.env_file("dev", &shipped("dev").replace("memory_mb = 512", "memory_mb = 2048"));
    let v = plan_json(&w, &["dev", "us-east-1"]);
    let function = v["resources"].as_array().unwrap().iter().find(|r| r["id"] == "function").unwrap();
    assert_eq!(function["settings"]["memory_mb"], 2048);
}

#[test]
fn environments_flag_points_at_another_directory() {
    let w = Workdir::new();
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("dev.toml"), shipped("dev").replace("memory_mb = 512", "memory_mb = 1536"))
        .unwrap();
    let dir = other.path().to_str().unwrap();
    let v = plan_json(&w, &["dev", "us-east-1", "--environments", dir]);
    let function = v["resources"].as_array().unwrap().iter().find(|r| r["id"] == "function").unwrap();
    assert_eq!(function["settings"]["memory_mb"], 1536);
    assert!(v["source"].as_str().unwrap().starts_with(dir));
}

#[test]
fn data_sources_on_existing_buckets_need_no_documents_bucket() {
    let w = Workdir::new();
    w.dev_with("external", &[("name = \"documents\"\n", "name = \"documents\"\nbucket = \"team-corpus\"\n")]);
    let v = plan_json(&w, &["external", "us-east-1", "--show-documents"]);
    let resources = v["resources"].as_array().unwrap();
    assert!(resources.iter().all(|r| r["id"] != "documents_bucket"), "no bucket to create");
    let role = resources.iter().find(|r| r["id"] == "knowledge_base_role").unwrap();
    let perms = &role["documents"][1]["content"]["Statement"];
    assert_eq!(perms[2]["Resource"], serde_json::json!(["arn:aws:s3:::team-corpus"]));
    assert_eq!(perms[3]["Resource"], serde_json::json!(["arn:aws:s3:::team-corpus/documents/*"]));
}

#[test]
fn region_falls_back_to_the_environment_then_the_profile() {
    let w = Workdir::new();
    let mut cmd = w.ragstack();
    cmd.env("AWS_REGION", "eu-central-1").args(["plan", "dev", "--offline", "--json"]);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"region\": \"eu-central-1\""));

    let config = w.path().join("aws-config");
    std::fs::write(&config, "[profile team]\nregion = ap-northeast-1\n").unwrap();
    let mut cmd = w.ragstack();
    cmd.env("AWS_CONFIG_FILE", &config).args(["plan", "dev", "--offline", "--json", "--profile", "team"]);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"region\": \"ap-northeast-1\""), "{out}");
    assert_eq!(w.tripwire.hits(), 0);
}

#[test]
fn teardown_validates_the_environment_before_any_aws_call() {
    let w = Workdir::new();
    let mut cmd = w.ragstack();
    cmd.args(["teardown", "prod", "us-east-1", "--yes"]);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("prod"), "{err}");
    assert_eq!(w.tripwire.hits(), 0);
}

#[test]
fn help_is_written_for_a_person_with_examples() {
    let w = Workdir::new();
    let mut cmd = w.ragstack();
    cmd.arg("--help");
    let (code, out, _) = run(cmd);
    assert_eq!(code, 0);
    for part in
        ["Examples:", "ragstack deploy dev us-east-1", "CloudShell", "Exit codes:", "--profile", "--json", "--yes"]
    {
        assert!(out.contains(part), "missing {part:?} in --help:\n{out}");
    }
    let mut cmd = w.ragstack();
    cmd.args(["plan", "--help"]);
    let (_, out, _) = run(cmd);
    assert!(out.contains("--offline") && out.contains("--show-documents") && out.contains("--account"));
}
