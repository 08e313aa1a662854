//! Every command runs under the rendered deployer policy alone, with the emulator authorizing each
//! request as IAM does (`enforce_iam`, tests/emulator/ragstack_emulator/iam_auth.py): the caller
//! is an IAM role that holds only the managed policies `plan --deployer-policy` prints. And the
//! check can fail: without one of the policy's statements some command fails with AccessDenied
//! naming the action.

mod common;

use common::emulator::Emulator;
use common::stack::{Clients, clients, deploy, rt};
use common::{Workdir, run, shipped};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

const ACCOUNT: &str = "123456789012";
const ROLE: &str = "ragstack-deployer";

/// The deployer policies of `env`, as `plan --deployer-policy` prints them (one JSON document each).
fn deployer_policies(wd: &Workdir, env: &str) -> Vec<Value> {
    let mut c = wd.ragstack();
    c.args(["plan", env, "us-east-1", "--deployer-policy", "--account", ACCOUNT]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    serde_json::Deserializer::from_str(&out).into_iter::<Value>().map(Result::unwrap).collect()
}

/// A role holding exactly `policies` (as managed policies), made the emulator's caller, with IAM
/// enforcement on. Set up with enforcement off (the test's own calls are the administrator's).
fn become_role_with(emu: &Emulator, c: &Clients, role: &str, policies: &[Value]) {
    emu.configure(r#"{"enforce_iam": false}"#);
    rt().block_on(async {
        let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "sts:AssumeRole"}]});
        c.iam.create_role().role_name(role).assume_role_policy_document(trust.to_string()).send().await.unwrap();
        for (n, p) in policies.iter().enumerate() {
            let name = format!("{role}-{}", n + 1);
            let created = c.iam.create_policy().policy_name(&name).policy_document(p.to_string()).send().await.unwrap();
            let arn = created.policy.unwrap().arn.unwrap();
            c.iam.attach_role_policy().role_name(role).policy_arn(arn).send().await.unwrap();
        }
    });
    emu.configure(&json!({"caller": format!("role:/:{role}"), "enforce_iam": true}).to_string());
}

fn ok(wd: &Workdir, emu: &Emulator, args: &[&str]) -> String {
    let mut c = wd.ragstack_on(emu);
    c.args(args);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{args:?} under the deployer policy\n{out}\n{err}");
    out
}

/// A stand-in for the API (`ask --url`): answers every question.
fn stand_in() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/dev/rag", listener.local_addr().unwrap().port());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let text = r#"{"answer": "At nine.", "sessionId": "s", "citations": []}"#;
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            stream.write_all(response.as_bytes()).unwrap();
        }
    });
    url
}

/// The old creator.sh's stacks of dev, one protected (created as the administrator).
fn old_stacks(c: &Clients) {
    rt().block_on(async {
        for (name, project, protected) in [
            ("LlmsWithServerlessRagdevStack", "llms-with-serverless-rag", false),
            ("SRD-AOSS-dev", "serverless-rag-demo-v2", true),
        ] {
            let t = json!({"Resources": {"B": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": name.to_lowercase()}}}});
            c.cloudformation
                .create_stack()
                .stack_name(name)
                .template_body(t.to_string())
                .tags(aws_sdk_cloudformation::types::Tag::builder().key("project").value(project).build())
                .enable_termination_protection(protected)
                .send()
                .await
                .unwrap();
        }
    });
}

#[test]
fn every_command_passes_under_the_deployer_policy_alone() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    let c = clients(&emu);
    let roles_made = std::cell::RefCell::new(Vec::<String>::new());
    // dev, qa (API key) and an environment with sync triggers, each under its own policies.
    wd.env_file(
        "triggered",
        &shipped("dev")
            .replace("# trigger = \"on_change\"", "trigger = \"on_change\"")
            .replace("# schedule = \"rate(6 hours)\"", "schedule = \"rate(6 hours)\""),
    );
    // And a NextGen one: its collection group and the collection in it.
    wd.env_file("nextgen", &shipped("dev").replace("# generation = \"nextgen\"", "generation = \"nextgen\""));
    // And one on S3 Vectors: its vector bucket and index.
    wd.env_file("vectors", &common::dev_on("s3_vectors", ""));
    // And a managed knowledge base: its managed connector, no store.
    wd.env_file("managed", &common::dev_on("managed", ""));
    let docs = wd.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join("hours.md"), "# Opening hours\nWe open at nine.").unwrap();
    std::fs::write(wd.path().join("q.toml"), "[[case]]\nquestion = \"When do you open?\"\nsources = [\"hours.md\"]\n")
        .unwrap();
    old_stacks(&c);
    let url = stand_in();
    // Each environment under a role that holds only its own policies.
    let as_deployer_of = |env: &str| {
        let role = format!("{ROLE}-{env}");
        if !roles_made.borrow().contains(&role) {
            become_role_with(&emu, &c, &role, &deployer_policies(&wd, env));
            roles_made.borrow_mut().push(role);
        } else {
            emu.configure(&json!({"caller": format!("role:/:{role}"), "enforce_iam": true}).to_string());
        }
    };
    for env in ["dev", "qa", "sandbox", "triggered", "nextgen", "vectors", "managed"] {
        as_deployer_of(env);
        ok(&wd, &emu, &["deploy", env]);
        emu.clear_calls();
        let out = ok(&wd, &emu, &["deploy", env]);
        assert!(out.contains("No changes"), "{env}: {out}");
        assert_eq!(emu.mutating_calls(), Vec::<String>::new(), "{env}: a re-deploy changes nothing");
        ok(&wd, &emu, &["sync", env, "--upload", "docs"]);
        ok(&wd, &emu, &["status", env]);
        ok(&wd, &emu, &["logs", env, "--since", "1h"]);
        ok(&wd, &emu, &["plan", env, "--detailed-exitcode"]);
        ok(&wd, &emu, &["ask", env, "When do you open?", "--url", &url]);
        // Retrieve, RetrieveAndGenerate and the model straight from the caller (not the function).
        let out = ok(&wd, &emu, &["eval", env, "--questions", "q.toml", "--generate"]);
        assert!(out.contains("total: recall@5 1.00"), "{env}: {out}");
        if env != "triggered" && env != "managed" {
            // export refuses sync triggers and managed knowledge bases (exit 2, README "Deploying
            // through CloudFormation").
            ok(&wd, &emu, &["export", env, "-o", &format!("{env}.yaml")]);
        }
    }
    // The old app's stacks of dev: listed, then torn down (the protected one lifted explicitly).
    as_deployer_of("dev");
    ok(&wd, &emu, &["legacy", "list", "dev"]);
    ok(&wd, &emu, &["legacy", "teardown", "dev", "--yes", "--lift-termination-protection"]);
    for env in ["dev", "qa", "sandbox", "triggered", "nextgen", "vectors", "managed"] {
        as_deployer_of(env);
        ok(&wd, &emu, &["teardown", env, "--yes"]);
    }
    // Nothing was refused along the way.
    let denied: Vec<Value> = emu.calls().into_iter().filter(|c| c["status"] == 403).collect();
    assert!(denied.is_empty(), "{denied:?}");
}

/// Deploys dev with the policy minus one statement; returns the run's exit code and output, and
/// the actions that statement granted.
fn without_statement(sid: &str) -> (i32, String, Vec<String>) {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    let c = clients(&emu);
    let mut policies = deployer_policies(&wd, "dev");
    let mut removed = Vec::new();
    for p in &mut policies {
        let statements = p["Statement"].as_array_mut().unwrap();
        for s in statements.iter().filter(|s| s["Sid"] == sid) {
            let actions = if s["Action"].is_array() { s["Action"].clone() } else { json!([s["Action"]]) };
            removed.extend(actions.as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()));
        }
        statements.retain(|s| s["Sid"] != sid);
    }
    assert!(!removed.is_empty(), "the policy has statement {sid}");
    become_role_with(&emu, &c, ROLE, &policies);
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--no-sync"]);
    (code, format!("{out}\n{err}"), removed)
}

#[test]
fn without_any_one_of_these_statements_a_command_fails_naming_the_missing_action() {
    for sid in [
        "ManageThisEnvironmentsRoles",
        "ManageTheDocumentsBuckets",
        "ManageTheFunctionsLogGroups",
        "OpenSearchServerlessActionsThatSupportNoResourceType",
        "ManageTheQueryAndSyncFunctions",
        "ManageThisRegionsKnowledgeBasesAndIngestion",
    ] {
        let (code, out, removed) = without_statement(sid);
        assert_ne!(code, 0, "without {sid} deploy fails\n{out}");
        let named = removed.iter().find(|a| out.contains(&format!("not authorized to perform: {a} ")));
        assert!(named.is_some(), "without {sid}, the refusal names one of {removed:?}\n{out}");
        println!("without {sid}: AccessDenied for {}", named.unwrap());
    }
}

/// The policies with `change` applied to every statement.
fn with_each_statement(mut policies: Vec<Value>, change: impl Fn(&mut Value)) -> Vec<Value> {
    for p in &mut policies {
        p["Statement"].as_array_mut().unwrap().iter_mut().for_each(&change);
    }
    policies
}

#[test]
fn log_groups_granted_without_their_colon_star_form_fail_the_first_deploy() {
    // CloudWatch Logs evaluates CreateLogGroup and the others against `log-group:NAME:*`.
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    let c = clients(&emu);
    let policies = with_each_statement(deployer_policies(&wd, "dev"), |s| {
        if let Some(resources) = s["Resource"].as_array_mut() {
            resources.retain(|r| !r.as_str().unwrap_or_default().ends_with(":*"));
        }
    });
    become_role_with(&emu, &c, ROLE, &policies);
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--no-sync"]);
    assert_ne!(code, 0, "{out}\n{err}");
    assert!(format!("{out}{err}").contains("not authorized to perform: logs:CreateLogGroup"), "{out}\n{err}");
}

#[test]
fn without_lambda_list_tags_the_functions_tags_are_hidden_and_the_second_deploy_refuses() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    let c = clients(&emu);
    let policies = with_each_statement(deployer_policies(&wd, "dev"), |s| {
        if let Some(actions) = s["Action"].as_array_mut() {
            actions.retain(|a| a != "lambda:ListTags");
        }
    });
    become_role_with(&emu, &c, ROLE, &policies);
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--no-sync"]);
    assert_eq!(code, 0, "the first deploy creates the functions\n{out}\n{err}");
    // GetFunction now answers without Tags: ragstack cannot tell it owns its function.
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--no-sync"]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("not ragstack's") || err.contains("ownership"), "{err}");
}
