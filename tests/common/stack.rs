//! A deployed environment as the tests see it: running ragstack commands against the emulator,
//! reading their JSON events, and counting what exists in every service.

use super::emulator::{Emulator, sdk_config};
use super::{Workdir, run};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

pub const ACCOUNT: &str = "123456789012";

/// Where tests kill a deploy: a resource id and the state its progress line shows.
pub const KILL_POINTS: [(&str, &str); 4] =
    [("collection", "waiting"), ("vector_index", "done"), ("knowledge_base", "done"), ("sync.documents", "waiting")];

/// The documents bucket of `env` in the emulator's account and region.
pub fn bucket(env: &str) -> String {
    format!("ragstack-{env}-{ACCOUNT}-us-east-1")
}

/// Runs `args` against the emulator; asserts exit 2 and that nothing was changed; returns stderr.
pub fn refused(wd: &Workdir, emu: &Emulator, args: &[&str]) -> String {
    emu.clear_calls();
    let mut c = wd.ragstack_on(emu);
    c.args(args);
    let (code, out, err) = run(c);
    assert_eq!(code, 2, "{args:?}\n{out}\n{err}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new(), "refused before any change");
    err
}

/// A fresh emulator with dev deployed (in a work directory with dev's shipped file) and the sample
/// corpus (tests/acceptance/corpus) uploaded and ingested.
#[allow(dead_code)]
pub fn dev_with_corpus() -> (Emulator, Workdir) {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    wd.dev_with("dev", &[]);
    assert_eq!(deploy(&wd, &emu, "dev", &["--no-sync"]).0, 0);
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/acceptance/corpus");
    let mut sync = wd.ragstack_on(&emu);
    sync.args(["sync", "dev", "--upload"]).arg(&corpus);
    let (code, out, err) = run(sync);
    assert_eq!(code, 0, "{out}\n{err}");
    (emu, wd)
}

pub fn deploy(wd: &Workdir, emu: &Emulator, env: &str, extra: &[&str]) -> (i32, String, String) {
    let mut c = wd.ragstack_on(emu);
    c.args(["deploy", env]).args(extra);
    run(c)
}

/// The NDJSON events of a `--json` run; every line must be a JSON object.
pub fn events(stdout: &str) -> Vec<Value> {
    stdout.lines().map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
}

pub fn summary(stdout: &str) -> Value {
    let all = events(stdout);
    let last = all.last().expect("at least one event").clone();
    assert_eq!(last["event"], "summary", "{stdout}");
    last
}

pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub iam: aws_sdk_iam::Client,
    pub aoss: aws_sdk_opensearchserverless::Client,
    pub agent: aws_sdk_bedrockagent::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub apigw: aws_sdk_apigateway::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub scheduler: aws_sdk_scheduler::Client,
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub s3vectors: aws_sdk_s3vectors::Client,
}

pub fn clients(emu: &Emulator) -> Clients {
    Clients {
        s3: aws_sdk_s3::Client::from_conf(sdk_config!(aws_sdk_s3, emu).force_path_style(true).build()),
        iam: aws_sdk_iam::Client::from_conf(sdk_config!(aws_sdk_iam, emu).build()),
        aoss: aws_sdk_opensearchserverless::Client::from_conf(sdk_config!(aws_sdk_opensearchserverless, emu).build()),
        agent: aws_sdk_bedrockagent::Client::from_conf(sdk_config!(aws_sdk_bedrockagent, emu).build()),
        lambda: aws_sdk_lambda::Client::from_conf(sdk_config!(aws_sdk_lambda, emu).build()),
        apigw: aws_sdk_apigateway::Client::from_conf(sdk_config!(aws_sdk_apigateway, emu).build()),
        logs: aws_sdk_cloudwatchlogs::Client::from_conf(sdk_config!(aws_sdk_cloudwatchlogs, emu).build()),
        events: aws_sdk_eventbridge::Client::from_conf(sdk_config!(aws_sdk_eventbridge, emu).build()),
        scheduler: aws_sdk_scheduler::Client::from_conf(sdk_config!(aws_sdk_scheduler, emu).build()),
        cloudformation: aws_sdk_cloudformation::Client::from_conf(sdk_config!(aws_sdk_cloudformation, emu).build()),
        sqs: aws_sdk_sqs::Client::from_conf(sdk_config!(aws_sdk_sqs, emu).build()),
        s3vectors: aws_sdk_s3vectors::Client::from_conf(sdk_config!(aws_sdk_s3vectors, emu).build()),
    }
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Counts of each resource kind named for `env` (prefix ragstack), straight from the services.
pub fn inventory(emu: &Emulator, env: &str) -> Value {
    let c = clients(emu);
    rt().block_on(async {
        let stem = format!("ragstack-{env}");
        let collections = c.aoss.list_collections().send().await.unwrap();
        let collections = collections.collection_summaries().iter().filter(|s| s.name() == Some(stem.as_str())).count();
        let kbs = c.agent.list_knowledge_bases().send().await.unwrap();
        let kb_ids: Vec<String> = kbs
            .knowledge_base_summaries()
            .iter()
            .filter(|k| k.name() == stem)
            .map(|k| k.knowledge_base_id().to_string())
            .collect();
        let mut data_sources = 0;
        for id in &kb_ids {
            data_sources +=
                c.agent.list_data_sources().knowledge_base_id(id).send().await.unwrap().data_source_summaries().len();
        }
        let roles = c.iam.list_roles().path_prefix("/ragstack/").send().await.unwrap();
        let roles = roles.roles().iter().filter(|r| r.role_name().starts_with(&format!("{stem}-"))).count();
        let buckets = c.s3.list_buckets().send().await.unwrap();
        let buckets =
            buckets.buckets().iter().filter(|b| b.name().unwrap_or_default().starts_with(&format!("{stem}-"))).count();
        use aws_sdk_opensearchserverless::types::{AccessPolicyType, SecurityPolicyType};
        let mut security = 0;
        for t in [SecurityPolicyType::Encryption, SecurityPolicyType::Network] {
            let l = c.aoss.list_security_policies().r#type(t).send().await.unwrap();
            security += l
                .security_policy_summaries()
                .iter()
                .filter(|p| p.name().unwrap_or_default().starts_with(&stem))
                .count();
        }
        let access = c.aoss.list_access_policies().r#type(AccessPolicyType::Data).send().await.unwrap();
        let access =
            access.access_policy_summaries().iter().filter(|p| p.name().unwrap_or_default().starts_with(&stem)).count();
        let functions = c.lambda.list_functions().send().await.unwrap();
        let functions = functions
            .functions()
            .iter()
            .filter(|f| f.function_name().unwrap_or_default().starts_with(&format!("{stem}-")))
            .count();
        let apis = c.apigw.get_rest_apis().send().await.unwrap();
        let apis: Vec<String> = apis
            .items()
            .iter()
            .filter(|a| a.name() == Some(stem.as_str()))
            .filter_map(|a| a.id().map(Into::into))
            .collect();
        let mut stages = 0;
        for id in &apis {
            stages += c.apigw.get_stages().rest_api_id(id).send().await.unwrap().item().len();
        }
        let keys = c.apigw.get_api_keys().name_query(format!("{stem}-key")).send().await.unwrap();
        let api_keys = keys.items().iter().filter(|k| k.name() == Some(format!("{stem}-key").as_str())).count();
        let plans = c.apigw.get_usage_plans().send().await.unwrap();
        let usage_plans = plans.items().iter().filter(|p| p.name() == Some(stem.as_str())).count();
        let groups = c.logs.describe_log_groups().log_group_name_prefix(format!("/aws/lambda/{stem}-")).send().await;
        let log_groups = groups.unwrap().log_groups().len();
        let rules = c.events.list_rules().name_prefix(format!("{stem}-")).send().await.unwrap().rules().len();
        let listed = c.scheduler.list_schedules().name_prefix(format!("{stem}-")).send().await.unwrap();
        let schedules = listed.schedules().len();
        let queues = c.sqs.list_queues().queue_name_prefix(format!("{stem}-")).send().await.unwrap();
        let queues = queues.queue_urls().len();
        let vectors = c.s3vectors.list_vector_buckets().prefix(format!("{stem}-")).send().await.unwrap();
        let mut vector_indexes = 0;
        for b in vectors.vector_buckets() {
            let listed = c.s3vectors.list_indexes().vector_bucket_name(b.vector_bucket_name()).send().await.unwrap();
            vector_indexes += listed.indexes().len();
        }
        let vector_buckets = vectors.vector_buckets().len();
        let notifications = if buckets == 0 {
            0
        } else {
            let n = c.s3.get_bucket_notification_configuration().bucket(bucket(env)).send().await;
            usize::from(n.map(|n| n.event_bridge_configuration().is_some()).unwrap_or(false))
        };
        serde_json::json!({
            "collections": collections, "knowledge_bases": kb_ids.len(), "data_sources": data_sources,
            "roles": roles, "buckets": buckets, "security_policies": security, "access_policies": access,
            "functions": functions, "rest_apis": apis.len(), "stages": stages, "log_groups": log_groups,
            "api_keys": api_keys, "usage_plans": usage_plans, "rules": rules, "schedules": schedules,
            "bucket_notifications": notifications, "queues": queues,
            "vector_buckets": vector_buckets, "vector_indexes": vector_indexes,
        })
    })
}

/// qa's: dev's plus the API key and usage plan of `auth = "api_key"`.
pub fn complete_qa_inventory() -> Value {
    let mut v = complete_inventory();
    v["api_keys"] = 1.into();
    v["usage_plans"] = 1.into();
    v
}

pub fn complete_inventory() -> Value {
    serde_json::json!({
        "collections": 1, "knowledge_bases": 1, "data_sources": 1, "roles": 2, "buckets": 1,
        "security_policies": 2, "access_policies": 1, "functions": 1, "rest_apis": 1, "stages": 1, "log_groups": 1,
        "api_keys": 0, "usage_plans": 0, "rules": 0, "schedules": 0, "bucket_notifications": 0, "queues": 0,
        "vector_buckets": 0, "vector_indexes": 0,
    })
}

/// A fresh emulator (with a slow enough collection to be caught CREATING) and a deploy of dev
/// killed at `point`.
pub fn killed_deploy(point: (&str, &str)) -> (Emulator, Workdir) {
    let emu = Emulator::start(&[]);
    emu.configure(r#"{"delays": {"collection_create": 1.5}}"#);
    let wd = Workdir::new();
    deploy_killed_at(&wd, &emu, point);
    (emu, wd)
}

/// Runs deploy until a progress line shows resource `id` in `state`, then SIGKILLs it.
pub fn deploy_killed_at(wd: &Workdir, emu: &Emulator, (id, state): (&str, &str)) {
    killed_at(wd, emu, &["deploy", "dev"], &[id, state]);
}

/// Runs `ragstack ARGS` until a progress line has the words of `point` in a row, then SIGKILLs it.
pub fn killed_at(wd: &Workdir, emu: &Emulator, args: &[&str], point: &[&str]) {
    let mut cmd = wd.process_on(emu);
    let mut child = cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines {
        let line = line.unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        let hit = words.windows(point.len()).any(|w| w == point);
        seen.push(line);
        if hit {
            child.kill().unwrap(); // SIGKILL on Unix
            child.wait().unwrap();
            return;
        }
    }
    let status = child.wait().unwrap();
    panic!("{args:?} ended ({status}) before {point:?}: {seen:#?}");
}

pub fn empty_inventory() -> Value {
    serde_json::json!({
        "collections": 0, "knowledge_bases": 0, "data_sources": 0, "roles": 0, "buckets": 0,
        "security_policies": 0, "access_policies": 0, "functions": 0, "rest_apis": 0, "stages": 0, "log_groups": 0,
        "api_keys": 0, "usage_plans": 0, "rules": 0, "schedules": 0, "bucket_notifications": 0, "queues": 0,
        "vector_buckets": 0, "vector_indexes": 0,
    })
}

pub fn teardown(wd: &Workdir, emu: &Emulator, env: &str, extra: &[&str]) -> (i32, String, String) {
    let mut c = wd.ragstack_on(emu);
    c.args(["teardown", env]).args(extra);
    run(c)
}

/// Puts `body` at `key` in the documents bucket of `env`.
pub fn put_document(emu: &Emulator, env: &str, key: &str, body: &str) {
    let c = clients(emu);
    rt().block_on(async {
        c.s3.put_object().bucket(bucket(env)).key(key).body(body.as_bytes().to_vec().into()).send().await.unwrap();
    });
}

/// The data access policy of `env` as JSON text.
pub async fn access_policy_text(c: &Clients, env: &str) -> String {
    let got = c
        .aoss
        .get_access_policy()
        .name(format!("ragstack-{env}-access"))
        .r#type(aws_sdk_opensearchserverless::types::AccessPolicyType::Data)
        .send()
        .await
        .unwrap();
    ragstack::aws::from_document(got.access_policy_detail().unwrap().policy().unwrap()).to_string()
}
