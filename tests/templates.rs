//! The rendered documents: a snapshot of each for each shipped environment (so any change to a
//! policy is reviewed), and structural checks that hold whatever the snapshots say (least
//! privilege, scoping to this environment, the index mapping Bedrock accepts).

use ragstack::config::{self, Environment, Target};
use ragstack::context::Known;
use ragstack::render::{TEMPLATES, Templates};
use ragstack::resources::{ids, variables};
use serde_json::Value;
use std::path::Path;

const ACCOUNT: &str = "123456789012";

fn environment(name: &str, region: &str, file_text: Option<String>) -> Environment {
    let mut source = config::find(name, Some(Path::new("/nonexistent-ragstack-dir"))).unwrap();
    if let Some(text) = file_text {
        source.text = text;
    }
    let target = Target { region: region.into(), account: Some(ACCOUNT.into()), skip_region_check: false };
    config::load(&source, &target).unwrap_or_else(|e| panic!("{e}"))
}

fn known() -> Known {
    Known::deployer(Some(format!("arn:aws:iam::{ACCOUNT}:role/Admin")))
        .with(ids::COLLECTION, "a1b2c3d4e5f6g7h8i9j0")
        .with(ids::KNOWLEDGE_BASE, "KB12345678")
        .with(ids::REST_API, "abc123defg")
}

fn render(env: &Environment, template: &str) -> Value {
    let t = Templates::load(None).unwrap();
    t.render_json(template, &variables(env, &known())).unwrap()
}

#[test]
fn snapshots_of_every_document_for_every_shipped_environment() {
    for env_name in ["dev", "qa", "sandbox"] {
        let env = environment(env_name, "us-east-1", None);
        for (template, _) in TEMPLATES {
            let doc = render(&env, template);
            let snapshot = format!("{env_name}__{}", template.replace(['/', '.'], "_"));
            insta::assert_json_snapshot!(snapshot, doc);
        }
    }
}

/// Every `Resource` of every Allow statement, except that of `bedrock:RetrieveAndGenerate`, which
/// supports no resource type and so is granted on `*` (tests/aws_contracts.rs holds every
/// statement to the Service Authorization Reference).
fn allowed_resources(policy: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for st in policy["Statement"].as_array().unwrap() {
        if st["Effect"] != "Allow" || st["Action"] == "bedrock:RetrieveAndGenerate" {
            continue;
        }
        match &st["Resource"] {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => out.extend(a.iter().map(|v| v.as_str().unwrap().to_string())),
            other => panic!("unexpected Resource {other}"),
        }
    }
    out
}

#[test]
fn permission_policies_are_scoped_to_this_environments_resources() {
    for env_name in ["dev", "qa", "sandbox"] {
        let env = environment(env_name, "eu-west-1", None);
        let kb = render(&env, "iam/knowledge-base-permissions.json");
        let api = render(&env, "iam/api-permissions.json");
        for r in allowed_resources(&kb).iter().chain(allowed_resources(&api).iter()) {
            assert_ne!(r, "*", "{env_name}: a wildcard resource where AWS allows a narrower one");
            assert!(r.starts_with("arn:aws:"), "{env_name}: {r}");
            let scoped = r.contains(&format!("ragstack-{env_name}"))
                || r.contains("KB12345678")
                || r.contains("a1b2c3d4e5f6g7h8i9j0")
                || r.contains("::foundation-model/")
                || r.contains(":inference-profile/");
            assert!(scoped, "{env_name}: {r} is not scoped to this environment");
            if r.contains(":s3:::") && r.contains('/') {
                assert!(r.ends_with("/documents/*"), "{env_name}: objects only under the data source prefix: {r}");
            }
        }
        assert_eq!(
            allowed_resources(&kb)[0],
            "arn:aws:bedrock:eu-west-1::foundation-model/amazon.titan-embed-text-v2:0"
        );
        // The store: the collection, or for sandbox (S3 Vectors) its index.
        let store = if env_name == "sandbox" {
            format!("arn:aws:s3vectors:eu-west-1:{ACCOUNT}:bucket/ragstack-sandbox-vectors/index/ragstack-index")
        } else {
            format!("arn:aws:aoss:eu-west-1:{ACCOUNT}:collection/a1b2c3d4e5f6g7h8i9j0")
        };
        assert_eq!(allowed_resources(&kb)[1], store);
        assert!(
            allowed_resources(&api).contains(&format!("arn:aws:bedrock:eu-west-1:{ACCOUNT}:knowledge-base/KB12345678"))
        );
    }
}

#[test]
fn trust_policy_limits_bedrock_to_this_account_and_region() {
    let env = environment("dev", "us-west-2", None);
    let trust = render(&env, "iam/knowledge-base-trust.json");
    let cond = &trust["Statement"][0]["Condition"];
    assert_eq!(cond["StringEquals"]["aws:SourceAccount"], ACCOUNT);
    assert_eq!(cond["ArnLike"]["aws:SourceArn"], format!("arn:aws:bedrock:us-west-2:{ACCOUNT}:knowledge-base/*"));
}

#[test]
fn inference_profile_generation_models_get_profile_and_model_arns() {
    let text = common_dev().replace(
        "generation_model = \"amazon.nova-micro-v1:0\"",
        "generation_model = \"us.anthropic.claude-haiku-4-5-20251001-v1:0\"",
    );
    let env = environment("dev", "us-east-1", Some(text));
    let api = render(&env, "iam/api-permissions.json");
    let statements = api["Statement"].as_array().unwrap();
    let invoke = &statements.iter().find(|s| s["Sid"] == "GenerateWithTheConfiguredModel").unwrap()["Resource"];
    assert_eq!(
        invoke,
        &serde_json::json!([
            format!(
                "arn:aws:bedrock:us-east-1:{ACCOUNT}:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0"
            ),
            "arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0"
        ])
    );
}

#[test]
fn data_access_policy_grants_the_knowledge_base_role_and_the_deployer() {
    let env = environment("qa", "us-east-1", None);
    let p = render(&env, "opensearch/data-access-policy.json");
    assert_eq!(
        p[0]["Principal"],
        serde_json::json!([format!("arn:aws:iam::{ACCOUNT}:role/ragstack/ragstack-qa-us-east-1-kb")])
    );
    assert_eq!(p[1]["Principal"], serde_json::json!([format!("arn:aws:iam::{ACCOUNT}:role/Admin")]));
    assert_eq!(p[1]["Rules"][0]["Resource"], serde_json::json!(["index/ragstack-qa/ragstack-index"]));
    let deployer_perms = p[1]["Rules"][0]["Permission"].as_array().unwrap();
    assert!(deployer_perms.iter().any(|x| x == "aoss:CreateIndex"));
    assert!(!deployer_perms.iter().any(|x| x == "aoss:WriteDocument"), "the deployer manages the index, not its data");
}

#[test]
fn vector_index_mapping_matches_the_model_and_bedrock() {
    for (env_name, dims) in [("dev", 1024), ("sandbox", 512)] {
        let env = environment(env_name, "us-east-1", None);
        let m = render(&env, "opensearch/vector-index.json");
        assert_eq!(m["settings"]["index"]["knn"], true);
        let props = &m["mappings"]["properties"];
        let vector = &props["bedrock-knowledge-base-default-vector"];
        assert_eq!(vector["type"], "knn_vector");
        assert_eq!(vector["dimension"], dims);
        assert_eq!(vector["method"]["engine"], "faiss", "Bedrock rejects nmslib");
        assert_eq!(vector["method"]["name"], "hnsw");
        assert_eq!(props["AMAZON_BEDROCK_TEXT_CHUNK"]["type"], "text");
        assert_eq!(props["AMAZON_BEDROCK_METADATA"]["index"], false);
    }
}

#[test]
fn encryption_policy_uses_the_configured_key() {
    let env = environment("dev", "us-east-1", None);
    let p = render(&env, "opensearch/encryption-policy.json");
    assert_eq!(p["AWSOwnedKey"], true);
    assert!(p.get("KmsARN").is_none());
    let key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let text = common_dev().replace(
        &format!("# kms_key_arn = \"{}", &key.replace("123456789012", "111122223333")),
        &format!("kms_key_arn = \"{key}"),
    );
    let env = environment("dev", "us-east-1", Some(text));
    let p = render(&env, "opensearch/encryption-policy.json");
    assert_eq!(p["KmsARN"], key);
    assert!(p.get("AWSOwnedKey").is_none());
    assert_eq!(p["Rules"][0]["Resource"], serde_json::json!(["collection/ragstack-dev"]));
}

#[test]
fn private_network_policy_admits_bedrock_and_the_vpc_endpoints() {
    let text = common_dev()
        .replace("network_access = \"public\"", "network_access = \"private\"")
        .replace("# vpc_endpoints = [\"vpce-0123456789abcdef0\"]", "vpc_endpoints = [\"vpce-0123456789abcdef0\"]");
    let env = environment("dev", "us-east-1", Some(text));
    let p = render(&env, "opensearch/network-policy.json");
    assert_eq!(p[0]["AllowFromPublic"], false);
    assert_eq!(p[0]["SourceServices"], serde_json::json!(["bedrock.amazonaws.com"]));
    assert_eq!(p[0]["SourceVPCEs"], serde_json::json!(["vpce-0123456789abcdef0"]));
    let public = render(&environment("dev", "us-east-1", None), "opensearch/network-policy.json");
    assert_eq!(public[0]["AllowFromPublic"], true);
    assert!(public[0].get("SourceVPCEs").is_none());
}

fn common_dev() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("environments/dev.toml")).unwrap()
}
