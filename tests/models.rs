//! Bedrock models' lifecycle, end to end through the binary: a model past its end of life refuses
//! deploy and plan before any change and names a replacement; a Legacy model warns and deploys;
//! status shows each model's lifecycle; `ragstack models` lists what to put in a file; output
//! limits and the guardrail version are checked offline; and every model the project names in its
//! files and docs is Active in the catalog.

mod common;

use common::emulator::Emulator;
use common::stack::{deploy, refused};
use common::{Workdir, run, shipped};
use serde_json::Value;
use std::path::Path;

fn with_generation_model(wd: &Workdir, name: &str, model: &str) {
    wd.dev_with(name, &[("generation_model = \"amazon.nova-micro-v1:0\"", &format!("generation_model = \"{model}\""))]);
}

#[test]
fn an_eol_generation_model_refuses_deploy_and_plan_naming_the_key_the_region_and_a_replacement() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    // Claude 3 Haiku reached its end of life in us-east-1 on 2026-09-10 (the emulator's default,
    // as its model card says): Bedrock lists it as LEGACY with that endOfLifeTime.
    with_generation_model(&wd, "dev", "anthropic.claude-3-haiku-20240307-v1:0");
    for command in ["deploy", "plan"] {
        let err = refused(&wd, &emu, &[command, "dev"]);
        assert!(err.contains("lambda.generation_model"), "{err}");
        assert!(err.contains("anthropic.claude-3-haiku-20240307-v1:0"), "{err}");
        assert!(err.contains("end of life") && err.contains("us-east-1") && err.contains("2026-09-10"), "{err}");
        // An Active replacement from the same provider, as the file must name it (a profile).
        assert!(err.contains("\"us.anthropic.claude-haiku-4-5-20251001-v1:0\""), "{err}");
        assert!(err.contains("ragstack models us-east-1"), "{err}");
    }
    // A replacement the account may not use is not suggested.
    emu.configure(r#"{"model_access": {"anthropic.claude-haiku-4-5-20251001-v1:0": "NOT_AUTHORIZED"}}"#);
    let err = refused(&wd, &emu, &["deploy", "dev"]);
    assert!(!err.contains("claude-haiku-4-5"), "{err}");

    // Where Bedrock answers that the model is gone (ResourceNotFoundException), the same refusal.
    emu.configure(r#"{"model_access": {}, "model_lifecycle": {"anthropic.claude-3-haiku-20240307-v1:0": "EOL_GONE"}}"#);
    let err = refused(&wd, &emu, &["deploy", "dev"]);
    assert!(err.contains("lambda.generation_model") && err.contains("end of life"), "{err}");
}

#[test]
fn an_eol_model_behind_an_inference_profile_and_an_eol_embedding_model_are_refused() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    // Claude 3.5 Haiku reached its end of life on 2026-06-19; the profile routes to it.
    with_generation_model(&wd, "profile", "us.anthropic.claude-3-5-haiku-20241022-v1:0");
    let err = refused(&wd, &emu, &["deploy", "profile"]);
    assert!(err.contains("us.anthropic.claude-3-5-haiku-20241022-v1:0"), "{err}");
    assert!(err.contains("model anthropic.claude-3-5-haiku-20241022-v1:0 reached its end of life"), "{err}");
    assert!(err.contains("\"us.anthropic.claude-haiku-4-5-20251001-v1:0\""), "a replacement is named: {err}");

    emu.configure(r#"{"model_lifecycle": {"amazon.titan-embed-text-v2:0": "EOL"}}"#);
    let err = refused(&wd, &emu, &["deploy", "dev"]);
    assert!(err.contains("knowledge_base.embedding_model") && err.contains("amazon.titan-embed-text-v2:0"), "{err}");
    assert!(err.contains("\"cohere.embed-english-v3\"") && err.contains("re-ingests"), "{err}");
}

#[test]
fn a_legacy_model_warns_and_deploys_and_status_shows_each_models_lifecycle() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    emu.configure(r#"{"model_lifecycle": {"amazon.nova-micro-v1:0": "LEGACY"}}"#);
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--no-sync"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let all = format!("{out}{err}");
    assert!(all.contains("warning") && all.contains("LEGACY") && all.contains("amazon.nova-micro-v1:0"), "{all}");
    assert!(all.contains("reaches its end of life on"), "the date Bedrock gives: {all}");

    // status reads each model's lifecycle: the generation model turned EOL since the deploy.
    emu.configure(r#"{"model_lifecycle": {"amazon.nova-micro-v1:0": "EOL"}}"#);
    let mut c = wd.ragstack_on(&emu);
    c.args(["status", "dev"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 1, "an EOL model is not healthy\n{out}\n{err}");
    assert!(out.contains("models:"), "{out}");
    assert!(out.contains("knowledge_base.embedding_model") && out.contains("ACTIVE"), "{out}");
    assert!(out.contains("lambda.generation_model") && out.contains("EOL"), "{out}");
    let mut c = wd.ragstack_on(&emu);
    c.args(["status", "dev", "--json"]);
    let (_, out, _) = run(c);
    let v: Value = serde_json::from_str(&out).unwrap();
    let models = v["models"].as_array().unwrap();
    assert_eq!(models.len(), 2, "{v}");
    assert_eq!(models[0]["lifecycle"], "ACTIVE");
    assert_eq!(models[1]["id"], "amazon.nova-micro-v1:0");
    assert_eq!(models[1]["lifecycle"], "EOL");
    assert_eq!(models[1]["according_to"], "bedrock");
}

#[test]
fn ragstack_models_lists_lifecycle_access_limits_and_what_to_put_in_the_file() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    emu.configure(r#"{"model_access": {"amazon.nova-pro-v1:0": "NOT_AUTHORIZED"}}"#);
    let mut c = wd.ragstack_on(&emu);
    c.args(["models", "us-east-1", "--json"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let models = v["models"].as_array().unwrap();
    let find = |id: &str| models.iter().find(|m| m["model"] == id).cloned();
    let haiku = find("anthropic.claude-haiku-4-5-20251001-v1:0").expect("Claude Haiku 4.5 is listed");
    assert_eq!(haiku["lifecycle"], "ACTIVE");
    assert_eq!(haiku["value"], "us.anthropic.claude-haiku-4-5-20251001-v1:0", "a profile-only model: its profile");
    assert_eq!(haiku["max_output_tokens"], 65536);
    assert_eq!(haiku["account_may_use"], true);
    assert_eq!(find("amazon.nova-micro-v1:0").unwrap()["value"], "amazon.nova-micro-v1:0");
    // A profile-only model the catalog does not know: its profile, as ListInferenceProfiles lists it.
    let sonnet = find("anthropic.claude-sonnet-4-5-20250929-v1:0").unwrap();
    assert_eq!(sonnet["value"], "us.anthropic.claude-sonnet-4-5-20250929-v1:0");
    assert!(sonnet["max_output_tokens"].is_null(), "no guess at an unknown limit");
    assert_eq!(find("amazon.nova-pro-v1:0").unwrap()["account_may_use"], false);
    let titan = find("amazon.titan-embed-text-v2:0").unwrap();
    assert_eq!(titan["kind"], "embedding");
    assert_eq!(titan["dimensions"], serde_json::json!([1024, 512, 256]));
    assert!(find("anthropic.claude-3-haiku-20240307-v1:0").is_none(), "EOL models only with --all");

    let mut c = wd.ragstack_on(&emu);
    c.args(["models", "us-east-1", "--all"]);
    let (code, out, _) = run(c);
    assert_eq!(code, 0);
    assert!(out.contains("us.anthropic.claude-haiku-4-5-20251001-v1:0") && out.contains("65536 tokens"), "{out}");
    assert!(out.contains("anthropic.claude-3-haiku-20240307-v1:0") && out.contains("EOL (2026-09-10)"), "{out}");
    assert!(out.contains("no: request"), "{out}");
    assert!(out.contains("1024/512/256 dims"), "{out}");
}

#[test]
fn output_limits_guardrail_versions_and_catalog_eol_models_are_checked_before_any_aws_call() {
    let wd = Workdir::new();
    let offline = |name: &str| {
        let mut c = wd.ragstack();
        c.args(["plan", name, "us-east-1", "--offline"]);
        run(c)
    };
    // Nova Micro writes at most 5120 tokens (its model card, recorded in the catalog).
    wd.dev_with("long", &[("# max_tokens = 512 ", "max_tokens = 6000 #")]);
    let (code, _, err) = offline("long");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("retrieval.max_tokens = 6000") && err.contains("1 to 5120"), "{err}");
    assert!(err.contains("amazon.nova-micro-v1:0 writes at most 5120 tokens"), "{err}");
    // A model the catalog does not know: a warning, no guess.
    wd.dev_with(
        "unknown",
        &[
            ("# max_tokens = 512 ", "max_tokens = 6000 #"),
            ("generation_model = \"amazon.nova-micro-v1:0\"", "generation_model = \"example.new-model-v1:0\""),
        ],
    );
    let (code, _, err) = offline("unknown");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning") && err.contains("does not know the output limit"), "{err}");
    // guardrailVersion is 1-5 characters in the API model.
    wd.dev_with(
        "guardrail",
        &[
            ("# guardrail_id = \"abc123def456\"", "guardrail_id = \"abc123\""),
            ("# guardrail_version = \"1\"", "guardrail_version = \"123456\""),
        ],
    );
    let (code, _, err) = offline("guardrail");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("retrieval.guardrail_version") && err.contains("1 to 99999"), "{err}");
    // Offline, the catalog knows Claude 3 Haiku's end of life in us-east-1 ...
    with_generation_model(&wd, "old", "anthropic.claude-3-haiku-20240307-v1:0");
    let (code, _, err) = offline("old");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ragstack's model catalog") && err.contains("2026-09-10"), "{err}");
    // ... and that it is still offered in ca-central-1.
    let mut c = wd.ragstack();
    c.args(["plan", "old", "ca-central-1", "--offline"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 0, "{err}");
    assert_eq!(wd.tripwire.hits(), 0, "no AWS call");
}

/// Every model id the project names for users to copy: `lambda.generation_model` and
/// `knowledge_base.embedding_model` values and model ids in comments and docs.
fn named_models(text: &str) -> Vec<String> {
    let providers = ["amazon.", "anthropic.", "cohere.", "meta.", "mistral.", "ai21.", "deepseek.", "openai."];
    let mut found = Vec::new();
    for token in text.split(|c: char| !(c.is_ascii_alphanumeric() || ".:-_".contains(c))) {
        let token = token.trim_end_matches(['.', ':']);
        let base = ["us.", "eu.", "apac.", "jp.", "au.", "ca.", "global."]
            .iter()
            .find_map(|p| token.strip_prefix(p))
            .unwrap_or(token);
        if providers.iter().any(|p| base.starts_with(p) && base.len() > p.len() + 3) && base.contains('-') {
            found.push(base.to_string());
        }
    }
    found
}

#[test]
fn every_model_named_in_environments_readme_and_examples_is_active_in_the_catalog() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    for dir in ["environments", "examples", "docs"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            files.push(e.unwrap().path());
        }
    }
    let catalog: toml::Value =
        toml::from_str(&std::fs::read_to_string(root.join("src/catalog.toml")).unwrap()).unwrap();
    let lifecycle = |id: &str| -> Option<String> {
        ["generation_models", "embedding_models"].iter().find_map(|table| {
            catalog[table]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["id"].as_str() == Some(id))
                .map(|m| m.get("lifecycle").and_then(|l| l.as_str()).unwrap_or("not recorded").to_string())
        })
    };
    let mut checked = 0;
    for f in files.iter().filter(|f| f.is_file() && f.extension().is_none_or(|e| e != "png")) {
        for model in named_models(&std::fs::read_to_string(f).unwrap()) {
            let state = lifecycle(&model);
            assert_eq!(
                state.as_deref(),
                Some("ACTIVE"),
                "{} names {model}, which the catalog has as {state:?}",
                f.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 6, "the check found the models ({checked})");
    // The check can fail: an EOL model and a model missing from the catalog are caught.
    let bad = named_models("generation_model = \"us.anthropic.claude-3-5-haiku-20241022-v1:0\"");
    assert_eq!(lifecycle(&bad[0]).as_deref(), Some("EOL"));
    assert_eq!(lifecycle(&named_models("amazon.titan-embed-text-v1")[0]).as_deref(), Some("not recorded"));
    assert_eq!(shipped("dev").matches("amazon.nova-micro-v1:0").count(), 1);
}
