//! Environments on Amazon S3 Vectors (`[vector_store] kind = "s3_vectors"`, issue #28), through
//! the real binary against the emulator: the vector bucket and index exist as declared (tags,
//! non-filterable Bedrock keys), the knowledge base uses them (storage S3_VECTORS, the index's ARN)
//! with a role that may use that index and no collection; a re-deploy changes nothing; status is
//! healthy; the monthly floor is $0; switching an OpenSearch environment to S3 Vectors is a replace
//! refused without --allow-replace; settings S3 Vectors cannot serve exit 2 before any AWS call;
//! teardown leaves nothing of either store.

mod common;

use common::emulator::Emulator;
use common::stack::{clients, deploy, empty_inventory, inventory, rt, teardown};
use common::{Workdir, run};
use serde_json::{Value, json};

/// dev's `[vector_store]` as S3 Vectors: the OpenSearch keys out, `kind` in.
const S3_VECTORS: &[(&str, &str)] =
    &[("standby_replicas = false", "kind = \"s3_vectors\""), ("network_access = \"public\"", "")];

fn ragstack(wd: &Workdir, emu: &Emulator, args: &[&str]) -> (i32, String, String) {
    let mut c = wd.ragstack_on(emu);
    c.args(args);
    run(c)
}

/// The vector index as S3 Vectors reports it, and the knowledge base's storage.
fn stores(emu: &Emulator) -> Value {
    let c = clients(emu);
    rt().block_on(async {
        let index = c.s3vectors.get_index().vector_bucket_name("ragstack-dev-vectors").index_name("ragstack-index").send().await;
        let index = index.ok().and_then(|o| o.index).map(|i| {
            let mut keys = i.metadata_configuration().map(|m| m.non_filterable_metadata_keys().to_vec()).unwrap_or_default();
            keys.sort();
            json!({"arn": i.index_arn(), "dimension": i.dimension(), "distance": i.distance_metric().as_str(), "non_filterable": keys})
        });
        let kbs = c.agent.list_knowledge_bases().send().await.unwrap();
        let storage = match kbs.knowledge_base_summaries().first() {
            Some(kb) => {
                let kb = c.agent.get_knowledge_base().knowledge_base_id(kb.knowledge_base_id()).send().await.unwrap();
                let s = kb.knowledge_base.unwrap().storage_configuration.unwrap();
                json!({"type": s.r#type().as_str(), "index": s.s3_vectors_configuration().and_then(|v| v.index_arn())})
            }
            None => Value::Null,
        };
        let role = c.iam.get_role_policy().role_name("ragstack-dev-us-east-1-kb").policy_name("knowledge-base-access").send().await;
        let actions: Vec<String> = role
            .ok()
            .map(|p| {
                let doc = ragstack::aws::parse_policy(p.policy_document());
                doc["Statement"].as_array().unwrap().iter().flat_map(|s| actions_of(&s["Action"])).collect()
            })
            .unwrap_or_default();
        json!({"index": index, "knowledge_base": storage, "role_actions": actions})
    })
}

fn actions_of(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn an_s3_vectors_environment_deploys_converges_reports_and_tears_down() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    wd.dev_with("dev", S3_VECTORS);
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("monthly floor of the vector store: $0.00 while idle (S3 Vectors"), "{out}");
    let arn = "arn:aws:s3vectors:us-east-1:123456789012:bucket/ragstack-dev-vectors/index/ragstack-index";
    let s = stores(&emu);
    assert_eq!(
        s["index"],
        json!({"arn": arn, "dimension": 1024, "distance": "cosine", "non_filterable": ["AMAZON_BEDROCK_METADATA", "AMAZON_BEDROCK_TEXT"]})
    );
    assert_eq!(s["knowledge_base"], json!({"type": "S3_VECTORS", "index": arn}));
    let actions: Vec<&str> = s["role_actions"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(actions.contains(&"s3vectors:QueryVectors") && actions.contains(&"s3vectors:PutVectors"), "{actions:?}");
    assert!(!actions.iter().any(|a| a.starts_with("aoss:")), "no collection to use: {actions:?}");
    let inv = inventory(&emu, "dev");
    assert_eq!(
        (&inv["collections"], &inv["security_policies"], &inv["access_policies"]),
        (&json!(0), &json!(0), &json!(0))
    );
    assert_eq!((&inv["vector_buckets"], &inv["vector_indexes"]), (&json!(1), &json!(1)), "{inv}");

    // Converged: nothing to change.
    emu.clear_calls();
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("No changes"), "{out}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
    let (code, out, err) = ragstack(&wd, &emu, &["status", "dev", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = v["resources"].as_array().unwrap().iter().filter_map(|r| r["id"].as_str()).collect();
    assert!(
        ids.contains(&"vector_bucket") && ids.contains(&"s3_vector_index") && !ids.contains(&"collection"),
        "{ids:?}"
    );

    // A document longer than the 2 KB S3 Vectors allows for filterable metadata is ingested: the
    // index keeps Bedrock's text and metadata keys non-filterable.
    std::fs::create_dir_all(wd.path().join("docs")).unwrap();
    std::fs::write(
        wd.path().join("docs/handbook.md"),
        "# Handbook\n".to_string() + &"Returns are accepted within 30 days. ".repeat(100),
    )
    .unwrap();
    let (code, out, err) = ragstack(&wd, &emu, &["sync", "dev", "--upload", "docs"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("1 new") && out.contains("0 failed"), "{out}");

    // A renamed index: a new index, the knowledge base on it, and the old index deleted.
    let renamed: Vec<(&str, &str)> = S3_VECTORS
        .iter()
        .copied()
        .chain([("index_name = \"ragstack-index\"", "index_name = \"handbook-index\"")])
        .collect();
    wd.dev_with("dev", &renamed);
    let (code, out, _) = ragstack(&wd, &emu, &["plan", "dev"]);
    assert!(out.contains("s3_vector_index.ragstack-index") && out.contains("delete"), "{code}: {out}");
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--allow-replace", "--no-sync"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(inventory(&emu, "dev")["vector_indexes"], 1, "{out}");
    assert!(stores(&emu)["knowledge_base"]["index"].as_str().unwrap().ends_with("/index/handbook-index"));

    let (code, out, err) = teardown(&wd, &emu, "dev", &["--yes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(inventory(&emu, "dev"), empty_inventory());
}

#[test]
fn switching_an_opensearch_environment_to_s3_vectors_is_a_replace() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    assert_eq!(deploy(&wd, &emu, "dev", &["--no-sync"]).0, 0);
    wd.dev_with("dev", S3_VECTORS);
    let (code, out, _) = ragstack(&wd, &emu, &["plan", "dev", "--detailed-exitcode"]);
    assert_eq!(code, 3, "{out}");
    let row = |id: &str| out.lines().find(|l| l.split_whitespace().nth(1) == Some(id)).unwrap_or_default().to_string();
    assert!(row("knowledge_base").starts_with("-/+") && row("knowledge_base").contains("storage"), "{out}");
    assert!(row("collection").contains("delete") && row("vector_bucket").contains("create"), "{out}");
    emu.clear_calls();
    let (code, _, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--allow-replace"), "{err}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());

    let (code, out, err) = deploy(&wd, &emu, "dev", &["--allow-replace"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let inv = inventory(&emu, "dev");
    assert_eq!(
        (&inv["collections"], &inv["vector_indexes"], &inv["knowledge_bases"]),
        (&json!(0), &json!(1), &json!(1)),
        "{inv}"
    );
    assert_eq!(stores(&emu)["knowledge_base"]["type"], "S3_VECTORS");
    emu.clear_calls();
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new(), "{out}");
}

#[test]
fn settings_s3_vectors_cannot_serve_exit_2_before_any_aws_call() {
    let emu = Emulator::start(&[]);
    // (edits of the S3 Vectors file, the key named, what the message says)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (
            &[("# search_type = \"SEMANTIC\"", "search_type = \"HYBRID\" #")],
            "retrieval.search_type",
            "semantically only",
        ),
        (
            &[("network_access = \"public\"", "network_access = \"public\"")],
            "vector_store.network_access",
            "not a setting of kind = \"s3_vectors\"",
        ),
        (
            &[(
                "index_name = \"ragstack-index\"",
                "index_name = \"ragstack-index\"\nnon_filterable_metadata_keys = [\"AMAZON_BEDROCK_METADATA\"]",
            )],
            "vector_store.non_filterable_metadata_keys",
            "must include AMAZON_BEDROCK_TEXT",
        ),
        (
            &[("index_name = \"ragstack-index\"", "index_name = \"ragstack-index\"\nvector_bucket = \"Bad_Name\"")],
            "vector_store.vector_bucket",
            "an S3 vector bucket name must use only lowercase",
        ),
        (
            &[("index_name = \"ragstack-index\"", "index_name = \"ab\"")],
            "vector_store.index_name",
            "must be 3-63 characters",
        ),
    ];
    for (edits, key, message) in cases {
        let wd = Workdir::new();
        // The S3 Vectors edits first, except where a case keeps one of the lines they remove.
        let mut all: Vec<(&str, &str)> =
            S3_VECTORS.iter().filter(|(from, _)| !edits.iter().any(|(f, _)| f == from)).copied().collect();
        all.extend(edits.iter().copied());
        wd.dev_with("dev", &all);
        emu.clear_calls();
        let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
        assert_eq!(code, 2, "{key}: {out}\n{err}");
        assert!(err.contains(key) && err.contains(message) && err.contains("dev.toml"), "{key}: {err}");
        assert_eq!(emu.calls().len(), 0, "{key}: no AWS call before the file is valid");
    }
}
