//! Who may ask, enforced by AWS (issue #16), through the real binary against the emulator: the
//! REST API's resource policy names exactly the configured networks; with `auth = "api_key"` the
//! key, the usage plan (quota, stage) and the key requirement exist; a quota change is one
//! mutating call; turning it off deletes them; teardown leaves none. `ragstack ask` against a
//! local stand-in for the API; checks that refuse bad settings before any AWS call.

mod common;

use common::emulator::Emulator;
use common::stack::{clients, deploy, inventory, rt, teardown};
use common::{Workdir, run};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

const GUARDED: &[(&str, &str)] = &[
    ("allowed_source_cidrs = []", "allowed_source_cidrs = [\"203.0.113.0/24\", \"2001:db8::/32\"]"),
    ("auth = \"none\"", "auth = \"api_key\"\ndaily_quota = 500"),
];

/// (resource policy, whether POST /rag/query requires a key, (quota limit, "PERIOD apiId:stage")
/// of the usage plan) of dev's API.
fn api_state(emu: &Emulator) -> (Value, bool, Option<(i32, String)>) {
    let c = clients(emu);
    rt().block_on(async {
        let apis = c.apigw.get_rest_apis().send().await.unwrap();
        let api = apis.items().iter().find(|a| a.name() == Some("ragstack-dev")).unwrap().clone();
        let raw = api.policy().unwrap_or_default();
        let policy: Value = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&serde_json::from_str::<String>(&format!("\"{raw}\"")).unwrap()).unwrap()
        };
        let id = api.id().unwrap();
        let resources = c.apigw.get_resources().rest_api_id(id).send().await.unwrap();
        let query = resources.items().iter().find(|r| r.path() == Some("/rag/query")).unwrap();
        let method = c.apigw.get_method().rest_api_id(id).resource_id(query.id().unwrap()).http_method("POST");
        let required = method.send().await.unwrap().api_key_required().unwrap_or(false);
        let plans = c.apigw.get_usage_plans().send().await.unwrap();
        let plan = plans.items().iter().find(|p| p.name() == Some("ragstack-dev")).map(|p| {
            let q = p.quota().unwrap();
            let stages: Vec<String> =
                p.api_stages().iter().map(|s| format!("{}:{}", s.api_id().unwrap(), s.stage().unwrap())).collect();
            (q.limit(), format!("{} {}", q.period().unwrap().as_str(), stages.join(",")))
        });
        (policy, required, plan)
    })
}

/// The value of the (only) API key in the emulator, read as an administrator would.
fn key_value(emu: &Emulator) -> String {
    rt().block_on(async {
        let keys = clients(emu).apigw.get_api_keys().include_values(true).send().await.unwrap();
        keys.items()[0].value().unwrap().to_string()
    })
}

fn status(wd: &Workdir, emu: &Emulator, extra: &[&str]) -> (i32, String, String) {
    let mut c = wd.ragstack_on(emu);
    c.args(["status", "dev"]).args(extra);
    run(c)
}

#[test]
fn cidrs_and_an_api_key_are_enforced_by_aws_a_quota_change_is_one_call_and_turning_them_off_deletes_them() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    wd.dev_with("dev", GUARDED);
    let mut plan = wd.ragstack_on(&emu);
    plan.args(["plan", "dev"]);
    let (code, out, err) = run(plan);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("api_key") && out.contains("usage_plan"), "{out}");
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");

    let (policy, required, plan) = api_state(&emu);
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 2, "{policy}");
    assert_eq!(statements[1]["Effect"], "Deny");
    assert_eq!(
        statements[1]["Condition"]["NotIpAddress"]["aws:SourceIp"],
        serde_json::json!(["203.0.113.0/24", "2001:db8::/32"]),
        "exactly the configured networks"
    );
    assert!(required, "the query route requires the key");
    let (limit, period_and_stage) = plan.expect("a usage plan");
    assert_eq!(limit, 500);
    assert!(period_and_stage.starts_with("DAY ") && period_and_stage.ends_with(":dev"), "{period_and_stage}");
    let inv = inventory(&emu, "dev");
    assert_eq!((inv["api_keys"].as_u64(), inv["usage_plans"].as_u64()), (Some(1), Some(1)), "{inv}");

    // Converged: nothing to do, and the key's value is not in status unless asked for.
    let mut again = wd.ragstack_on(&emu);
    again.args(["plan", "dev", "--detailed-exitcode"]);
    let (code, out, err) = run(again);
    assert_eq!(code, 0, "a second plan has nothing to do:\n{out}\n{err}");
    emu.configure(r#"{"usage_today": 42}"#);
    let (code, out, err) = status(&wd, &emu, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("42 of 500 requests used today"), "{out}");
    assert!(out.contains("only from 203.0.113.0/24, 2001:db8::/32"), "{out}");
    let value = key_value(&emu);
    let (_, json_out, _) = status(&wd, &emu, &["--json"]);
    assert!(!out.contains(&value) && !json_out.contains(&value), "the key's value is never shown unasked");
    let (code, shown, err) = status(&wd, &emu, &["--show-api-key"]);
    assert_eq!(code, 0, "{err}");
    assert!(shown.contains(&value), "{shown}");

    // A quota change: exactly one mutating call.
    wd.dev_with("dev", &[GUARDED[0], ("auth = \"none\"", "auth = \"api_key\"\ndaily_quota = 800")]);
    emu.clear_calls();
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let calls = emu.mutating_calls();
    assert!(
        calls.len() == 1 && calls[0].starts_with("apigateway PATCH /usageplans/"),
        "one UpdateUsagePlan: {calls:?}"
    );
    assert_eq!(api_state(&emu).2.unwrap().0, 800);

    // Public again, no key: the policy is removed, the key and plan deleted, the route open.
    wd.dev_with("dev", &[]);
    let mut plan = wd.ragstack_on(&emu);
    plan.args(["plan", "dev"]);
    let (_, out, _) = run(plan);
    assert!(out.contains("2 to delete"), "{out}");
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (policy, required, plan) = api_state(&emu);
    assert_eq!((policy, required, plan), (Value::Null, false, None));
    let inv = inventory(&emu, "dev");
    assert_eq!((inv["api_keys"].as_u64(), inv["usage_plans"].as_u64()), (Some(0), Some(0)), "{inv}");
}

#[test]
fn teardown_of_a_guarded_environment_leaves_no_key_and_no_usage_plan() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    wd.dev_with("dev", GUARDED);
    assert_eq!(deploy(&wd, &emu, "dev", &[]).0, 0);
    let (code, out, err) = teardown(&wd, &emu, "dev", &["--yes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let inv = inventory(&emu, "dev");
    assert_eq!(
        (inv["api_keys"].as_u64(), inv["usage_plans"].as_u64(), inv["rest_apis"].as_u64()),
        (Some(0), Some(0), Some(0)),
        "{inv}"
    );
}

/// What the stand-in received: (x-api-key header, body) per request.
type Seen = Arc<Mutex<Vec<(Option<String>, String)>>>;

/// A local stand-in for the deployed API: answers POST /dev/rag/query with `reply` (status,
/// body) and records each request's x-api-key header and body.
fn stand_in(reply: (u16, &'static str)) -> (String, Seen) {
    stand_in_replies(vec![reply])
}

/// The same, answering the requests with `replies` in turn, the last one from then on.
fn stand_in_replies(replies: Vec<(u16, &'static str)>) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/dev/rag", listener.local_addr().unwrap().port());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let (mut length, mut key) = (0, None);
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                let (name, value) = h.split_once(':').unwrap();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap(),
                    "x-api-key" => key = Some(value.trim().to_string()),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            assert!(line.starts_with("POST /dev/rag/query "), "{line}");
            let n = {
                let mut log = log.lock().unwrap();
                log.push((key, String::from_utf8(body).unwrap()));
                log.len()
            };
            let (status, text) = replies[n.min(replies.len()) - 1];
            let response = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            stream.write_all(response.as_bytes()).unwrap();
        }
    });
    (url, seen)
}

const ANSWER: &str = r#"{"answer": "We open at nine.", "sessionId": "session-7", "citations": [{"uri": "s3://b/documents/opening-hours.md", "excerpt": "Open 9-17."}]}"#;

fn ask(wd: &Workdir, emu: &Emulator, url: &str, extra: &[&str]) -> (i32, String, String) {
    let mut c = wd.ragstack_on(emu);
    c.args(["ask", "dev", "When do you open?", "--url", url]).args(extra);
    run(c)
}

#[test]
fn ask_prints_the_answer_and_citations_sends_the_api_key_and_keeps_its_exit_codes() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    wd.dev_with("dev", &[GUARDED[1]]);
    assert_eq!(deploy(&wd, &emu, "dev", &[]).0, 0);
    let value = key_value(&emu);

    let (url, seen) = stand_in((200, ANSWER));
    let (code, out, err) = ask(&wd, &emu, &url, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("We open at nine."), "{out}");
    assert!(out.contains("s3://b/documents/opening-hours.md") && out.contains("Open 9-17."), "{out}");
    assert!(out.contains("--session session-7"), "{out}");
    let (key, body) = seen.lock().unwrap()[0].clone();
    assert_eq!(key.as_deref(), Some(value.as_str()), "the environment's API key is sent");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), serde_json::json!({"question": "When do you open?"}));

    // --json and --session.
    let (code, out, _) = ask(&wd, &emu, &url, &["--json", "--session", "session-7"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["citations"][0]["excerpt"], "Open 9-17.");
    assert_eq!(serde_json::from_str::<Value>(&seen.lock().unwrap()[1].1).unwrap()["sessionId"], "session-7");

    // The stack answers an error: its code and message, exit 1.
    let (url, _) = stand_in((502, r#"{"error": {"code": "bedrock_error", "message": "Bedrock could not answer"}}"#));
    let (code, _, err) = ask(&wd, &emu, &url, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("bedrock_error") && err.contains("Bedrock could not answer"), "{err}");
    // API Gateway refuses the key.
    let (url, _) = stand_in((403, r#"{"message": "Forbidden"}"#));
    let (code, _, err) = ask(&wd, &emu, &url, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--show-api-key"), "{err}");
    // A network the resource policy denies: API Gateway's `Message`, with a capital M.
    let denied = r#"{"Message": "User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:123456789012:abc/dev/POST/rag/query"}"#;
    let (url, _) = stand_in((403, denied));
    let (code, _, err) = ask(&wd, &emu, &url, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("User: anonymous is not authorized"), "{err}");
    assert!(err.contains("api.allowed_source_cidrs"), "{err}");
    // A model past its end of life: the function's own answer, and what to do about it.
    let eol = r#"{"error": {"code": "model_end_of_life", "message": "A model this stack uses has reached its end of life in Bedrock"}}"#;
    let (url, _) = stand_in((503, eol));
    let (code, _, err) = ask(&wd, &emu, &url, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("model_end_of_life") && err.contains("ragstack models"), "{err}");

    // Bad input: exit 2 before any AWS call.
    emu.clear_calls();
    let mut c = wd.ragstack_on(&emu);
    c.args(["ask", "dev", "   "]);
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(emu.calls().is_empty(), "no AWS call for an empty question");
}

/// API Gateway's answer when the function did not answer within 29 s.
const GATEWAY_TIMEOUT: (u16, &str) = (504, r#"{"message": "Endpoint request timed out"}"#);
const WAKING_NOTE: &str = "the knowledge base is waking up (an idle environment takes 10-30 s); retrying...";

fn ask_retrying_after(wd: &Workdir, emu: &Emulator, url: &str, seconds: &str) -> (i32, String, String) {
    let mut c = wd.ragstack_on(emu);
    c.args(["ask", "dev", "When do you open?", "--url", url]).env("RAGSTACK_ASK_RETRY_SECONDS", seconds);
    run(c)
}

#[test]
fn ask_retries_while_an_idle_knowledge_base_wakes_up_and_gives_up_after_three_attempts() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    wd.dev_with("dev", &[]);

    // API Gateway's 504 once (the vector store was waking up), then the answer.
    let (url, seen) = stand_in_replies(vec![GATEWAY_TIMEOUT, (200, ANSWER)]);
    let (code, out, err) = ask_retrying_after(&wd, &emu, &url, "0.1");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("We open at nine."), "{out}");
    assert_eq!(err.matches(WAKING_NOTE).count(), 1, "{err}");
    assert!(!out.contains("waking up"), "the note goes to stderr: {out}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].1, seen[1].1, "the same question again");

    // The function's own 503 waking_up (Bedrock timed out), then the answer, with --json.
    let waking = r#"{"error": {"code": "waking_up", "message": "The knowledge base is waking up after being idle; try again in a few seconds."}}"#;
    let (url, _) = stand_in_replies(vec![(503, waking), (200, ANSWER)]);
    let mut c = wd.ragstack_on(&emu);
    c.args(["ask", "dev", "When do you open?", "--url", &url, "--json"]).env("RAGSTACK_ASK_RETRY_SECONDS", "0.1");
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["answer"], "We open at nine.", "only JSON on stdout");
    assert!(err.contains(WAKING_NOTE), "{err}");

    // Never awake: three attempts, then exit 1 with what to do.
    let (url, seen) = stand_in(GATEWAY_TIMEOUT);
    let started = std::time::Instant::now();
    let (code, out, err) = ask_retrying_after(&wd, &emu, &url, "0.2");
    assert_eq!(code, 1, "{out}\n{err}");
    assert_eq!(seen.lock().unwrap().len(), 3, "three attempts in all");
    assert_eq!(err.matches(WAKING_NOTE).count(), 2, "{err}");
    assert!(err.contains("answered 504") && err.contains("Endpoint request timed out"), "{err}");
    assert!(err.contains("did not wake up within 3 attempts") && err.contains("ask again in a minute"), "{err}");
    assert!(started.elapsed().as_secs_f64() >= 0.6, "waited 0.2 s, then 0.4 s");

    // Another 503 is not a wake-up: no retry.
    let eol = r#"{"error": {"code": "model_end_of_life", "message": "A model this stack uses has reached its end of life in Bedrock"}}"#;
    let (url, seen) = stand_in((503, eol));
    let (code, _, err) = ask_retrying_after(&wd, &emu, &url, "0.1");
    assert_eq!((code, seen.lock().unwrap().len()), (1, 1), "{err}");
    assert!(!err.contains(WAKING_NOTE), "{err}");

    // A wait that is not a number of seconds: exit 2 before any AWS call.
    emu.clear_calls();
    let (code, _, err) = ask_retrying_after(&wd, &emu, &url, "soon");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("RAGSTACK_ASK_RETRY_SECONDS"), "{err}");
    assert!(emu.calls().is_empty(), "no AWS call: {:?}", emu.calls());
}

fn refused_before_any_call(
    edits: &[(&str, &str)],
    extra_files: &[(&str, &str)],
    expect: &[&str],
    emu_config: Option<&str>,
) {
    let emu = Emulator::start(&[]);
    if let Some(c) = emu_config {
        emu.configure(c);
    }
    let wd = Workdir::new();
    wd.dev_with("dev", edits);
    for (name, text) in extra_files {
        std::fs::write(wd.path().join("environments").join(name), text).unwrap();
    }
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 2, "{out}\n{err}");
    for e in expect {
        assert!(err.contains(e), "{e:?} not in: {err}");
    }
    assert!(emu.mutating_calls().is_empty(), "nothing was created: {:?}", emu.mutating_calls());
}

#[test]
fn bad_access_and_retrieval_settings_are_refused_before_any_change() {
    refused_before_any_call(
        &[("allowed_source_cidrs = []", "allowed_source_cidrs = [\"10.0.0.1/8\", \"nonsense\"]")],
        &[],
        &["api.allowed_source_cidrs[0]", "10.0.0.0/8", "api.allowed_source_cidrs[1]", "not an IP"],
        None,
    );
    refused_before_any_call(
        &[("# prompt_template = \"prompts/answer.txt\"", "prompt_template = \"prompt.txt\"")],
        &[("prompt.txt", "Answer the question briefly.")],
        &["retrieval.prompt_template", "$search_results$"],
        None,
    );
    // A guardrail that does not exist: the preflight's answer, exit 2.
    refused_before_any_call(
        &[
            ("# guardrail_id = \"abc123def456\"", "guardrail_id = \"abc123\""),
            ("# guardrail_version = \"1\"", "guardrail_version = \"1\""),
        ],
        &[],
        &["retrieval.guardrail_id", "abc123", "does not exist"],
        None,
    );
    // More reserved concurrency than a new account (limit 10) can spare.
    refused_before_any_call(
        &[("# reserved_concurrency = 10", "reserved_concurrency = 10")],
        &[],
        &["lambda.reserved_concurrency", "at most"],
        Some(r#"{"lambda_concurrency": 10}"#),
    );
}

#[test]
fn reserved_concurrency_and_an_existing_guardrail_are_applied_and_the_role_may_apply_only_that_guardrail() {
    let emu = Emulator::start(&[]);
    emu.configure(r#"{"guardrails": ["abc123:1"]}"#);
    let wd = Workdir::new();
    wd.dev_with(
        "dev",
        &[
            ("# reserved_concurrency = 10", "reserved_concurrency = 10"),
            ("# guardrail_id = \"abc123def456\"", "guardrail_id = \"abc123\""),
            ("# guardrail_version = \"1\"", "guardrail_version = \"1\""),
            ("# number_of_results = 5", "number_of_results = 8"),
        ],
    );
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let c = clients(&emu);
    let (reserved, vars) = rt().block_on(async {
        let f = c.lambda.get_function().function_name("ragstack-dev-query").send().await.unwrap();
        let vars = f.configuration().unwrap().environment().unwrap().variables().unwrap().clone();
        (f.concurrency().and_then(|c| c.reserved_concurrent_executions()), vars)
    });
    assert_eq!(reserved, Some(10));
    assert_eq!(vars.get("GUARDRAIL_ID").map(String::as_str), Some("abc123"));
    assert_eq!(vars.get("NUMBER_OF_RESULTS").map(String::as_str), Some("8"));
    let policy = rt().block_on(async {
        let p = c
            .iam
            .get_role_policy()
            .role_name("ragstack-dev-us-east-1-api")
            .policy_name("query-function-access")
            .send()
            .await;
        p.map(|p| p.policy_document().to_string()).unwrap_or_default()
    });
    let policy = percent_encoding::percent_decode_str(&policy).decode_utf8_lossy().to_string();
    assert!(policy.contains("bedrock:ApplyGuardrail") && policy.contains(":guardrail/abc123"), "{policy}");

    // Removing the reservation is one call.
    wd.dev_with(
        "dev",
        &[
            ("# guardrail_id = \"abc123def456\"", "guardrail_id = \"abc123\""),
            ("# guardrail_version = \"1\"", "guardrail_version = \"1\""),
            ("# number_of_results = 5", "number_of_results = 8"),
        ],
    );
    emu.clear_calls();
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(emu.mutating_calls(), ["lambda DELETE /2017-10-31/functions/ragstack-dev-query/concurrency"]);
}
