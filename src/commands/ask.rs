//! `ragstack ask ENV [REGION] "question"`: asks the deployed stack through its public API, the
//! path a user's browser takes (POST STAGE/rag/query, with the environment's API key when it
//! requires one), and prints the answer and its citations. Exit 0 answered, 1 the stack (or API
//! Gateway in front of it) answered with an error or could not be reached, 2 bad input.
//!
//! An idle environment wakes up slowly: its OpenSearch Serverless collection scales to zero after
//! 10 idle minutes and takes 10-30 s to serve again, so the first question may get API Gateway's
//! 504 (the function did not answer within 29 s) or the function's 503 `waking_up` (Bedrock timed
//! out). ask then says so on stderr and asks again, at most `ATTEMPTS` times in all, waiting 5 s
//! and then 10 s (`RAGSTACK_ASK_RETRY_SECONDS=N` makes the first wait N seconds, the second 2N:
//! tests use a fraction of a second), before exit 1 with a help line.

use crate::context::TargetArgs;
use crate::error::{Error, ExitStatus, Result};
use crate::output::Mode;
use crate::resources::{Ctx, api_key, rest_api};
use crate::session::{self, Preflight, Settings};
use clap::Args;
use serde_json::{Value, json};
use std::time::Duration;

/// The query function's own limit (templates/lambda/handler.py, MAX_QUESTION_CHARS default).
const MAX_QUESTION_CHARS: usize = 1000;
/// API Gateway gives an integration at most 29 s by default; a little more for the network.
const TIMEOUT: Duration = Duration::from_secs(35);
/// Attempts at a question while the knowledge base wakes up: with waits of 5 s and 10 s, and each
/// attempt ended by API Gateway within 29 s, ask gives up within 3 × 29 + 15 s.
const ATTEMPTS: u32 = 3;
/// Seconds before the first retry (each later wait doubles it), unless the variable says otherwise.
const RETRY_SECONDS: f64 = 5.0;
const RETRY_VARIABLE: &str = "RAGSTACK_ASK_RETRY_SECONDS";

#[derive(Debug, Args)]
pub struct AskArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The question (REGION may be left out: `ragstack ask dev "..."`)
    #[arg(value_name = "QUESTION")]
    pub question: Option<String>,
    /// Continue a conversation: the session id an earlier answer printed
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// Ask this URL of the chat page (…/STAGE/rag) instead of the environment's API: a custom
    /// domain, or a local stand-in
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

impl AskArgs {
    /// `ask dev "question"` parses the question as REGION: move it where it belongs.
    pub fn normalize(&mut self) {
        if self.question.is_none() {
            self.question = self.target.region.take();
        }
    }

    /// The question, checked before any AWS call (with the retry wait from the environment).
    pub fn checked_question(&self) -> Result<&str> {
        retry_wait()?;
        let q = self.question.as_deref().map(str::trim).unwrap_or_default();
        if q.is_empty() {
            return Err(Error::usage("no question: ragstack ask ENV [REGION] \"your question\"", None));
        }
        let n = q.chars().count();
        if n > MAX_QUESTION_CHARS {
            return Err(Error::usage(
                format!("the question has {n} characters; the query function accepts at most {MAX_QUESTION_CHARS}"),
                None,
            ));
        }
        Ok(q)
    }
}

/// The wait before the first retry: `RAGSTACK_ASK_RETRY_SECONDS` (0-60 seconds) or 5 s.
fn retry_wait() -> Result<Duration> {
    let Ok(text) = std::env::var(RETRY_VARIABLE) else { return Ok(Duration::from_secs_f64(RETRY_SECONDS)) };
    match text.trim().parse::<f64>() {
        Ok(s) if (0.0..=60.0).contains(&s) => Ok(Duration::from_secs_f64(s)),
        _ => Err(Error::usage(
            format!("{RETRY_VARIABLE} must be a number of seconds from 0 to 60, not {text:?}"),
            Some(format!("unset it for the default wait of {RETRY_SECONDS} s")),
        )),
    }
}

/// An answer that means the knowledge base is still waking up: API Gateway's 504 (the function did
/// not answer within its 29 s) or the function's own 503 `waking_up`.
fn waking_up(status: u16, answer: &Value) -> bool {
    status == 504 || (status == 503 && answer["error"]["code"] == "waking_up")
}

pub async fn run(s: &Settings, args: &AskArgs) -> Result<ExitStatus> {
    let ctx = session::connect(s, &args.target, Preflight::THROUGH_THE_API, |_| args.checked_question().map(drop));
    ask(&*ctx.await?, args).await
}

async fn ask(ctx: &Ctx, args: &AskArgs) -> Result<ExitStatus> {
    let question = args.checked_question()?;
    let wait = retry_wait()?;
    let page = match &args.url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => rest_api::invoke_url(ctx).await?.ok_or_else(|| Error::Incomplete {
            message: format!("environment {} has no API in {}", ctx.env.name, ctx.env.region()),
            help: Some(format!("deploy it first: ragstack deploy {} {}", ctx.env.name, ctx.env.region())),
        })?,
    };
    // With an endpoint override (the local emulator), the API's URL is AWS's, which that endpoint
    // does not serve: asking it would leave the machine and fail. The local stand-in serves it.
    if args.url.is_none()
        && let Some(endpoint) =
            ["AWS_ENDPOINT_URL_API_GATEWAY", "AWS_ENDPOINT_URL"].iter().find_map(|v| std::env::var(v).ok())
    {
        return Err(Error::Incomplete {
            message: format!(
                "ragstack talks to {endpoint} (AWS_ENDPOINT_URL), which does not serve the API at {page}: \
                 nothing was asked"
            ),
            help: Some(format!(
                "serve the function locally and pass the URL it prints: scripts/serve-local ragstack-{0}-query {0} \
                 (scripts/try-local does it for you), then ragstack ask {0} --url URL \"...\"",
                ctx.env.name
            )),
        });
    }
    let key = match ctx.env.file.api.auth {
        crate::config::ApiAuth::ApiKey => Some(api_key::value(ctx).await?.ok_or_else(|| Error::Incomplete {
            message: format!("environment {} requires an API key, and it has none yet", ctx.env.name),
            help: Some(format!("deploy it: ragstack deploy {} {}", ctx.env.name, ctx.env.region())),
        })?),
        crate::config::ApiAuth::None => None,
    };
    let url = format!("{page}/query");
    let mut body = json!({ "question": question });
    if let Some(s) = &args.session {
        body["sessionId"] = s.clone().into();
    }
    let client = reqwest::Client::builder().timeout(TIMEOUT).build().map_err(|e| unreachable(&url, &e))?;
    let mut attempt = 1;
    loop {
        let mut request = client.post(&url).json(&body);
        if let Some(k) = &key {
            request = request.header("x-api-key", k);
        }
        let response = request.send().await.map_err(|e| unreachable(&url, &e))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| unreachable(&url, &e))?;
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status == 200 && answer["answer"].is_string() {
            show(ctx, &url, &answer, args);
            return Ok(ExitStatus::Success);
        }
        if waking_up(status, &answer) && attempt < ATTEMPTS {
            // stderr in every mode: stdout carries only the answer (or its JSON).
            eprintln!("the knowledge base is waking up (an idle environment takes 10-30 s); retrying...");
            tokio::time::sleep(wait * 2u32.pow(attempt - 1)).await;
            attempt += 1;
            continue;
        }
        return Err(answered_with_error(&url, status, &answer, &text, key.is_some()));
    }
}

fn unreachable(url: &str, e: &reqwest::Error) -> Error {
    Error::Incomplete {
        message: format!("could not reach {url}: {e}"),
        help: Some("check the network (and a proxy), or `ragstack status` for the API's state".into()),
    }
}

/// The error the stack answered: the function's own `{"error": {"code", "message"}}`, or API
/// Gateway's `{"message"}` (403 without a valid key or from a network the policy denies, 429
/// beyond the throttle or the quota).
fn answered_with_error(url: &str, status: u16, answer: &Value, text: &str, sent_key: bool) -> Error {
    // API Gateway spells it `message` for a missing key or throttling, and `Message` for a call
    // its resource policy denies ({"Message": "User: anonymous is not authorized to perform:
    // execute-api:Invoke ..."}, as reported in serverless/serverless#11808).
    let gateway_message = if answer["message"].is_string() { &answer["message"] } else { &answer["Message"] };
    let (code, message) = match (&answer["error"], gateway_message) {
        (Value::Object(e), _) => (
            e.get("code").and_then(Value::as_str).unwrap_or("error").to_string(),
            e.get("message").and_then(Value::as_str).unwrap_or_default().to_string(),
        ),
        (_, Value::String(m)) => (format!("api_gateway_{status}"), m.clone()),
        _ => (format!("http_{status}"), text.chars().take(300).collect()),
    };
    let help = match (status, code.as_str()) {
        (403, "api_gateway_403") if message == "Forbidden" && sent_key => {
            Some("API Gateway refused the API key: `ragstack status ENV --show-api-key` shows the current one".into())
        }
        (403, "api_gateway_403") if message == "Forbidden" => {
            Some("the API requires an API key: set api.auth = \"api_key\" in the environment file and deploy".into())
        }
        (403, "api_gateway_403") if message.contains("execute-api:Invoke") => Some(
            "the API's resource policy does not allow this network: add its address range to \
             api.allowed_source_cidrs in the environment file and deploy"
                .into(),
        ),
        (403, "api_gateway_403") if message.contains("Missing Authentication Token") => {
            Some("no such route: check the URL (…/STAGE/rag), or `ragstack status ENV` for the API's URL".into())
        }
        (503, "model_end_of_life" | "model_legacy") => Some(
            "change the model in the environment file (`ragstack models REGION` lists Active ones), then \
             `ragstack deploy`"
                .into(),
        ),
        (504, _) | (503, "waking_up") => Some(format!(
            "the knowledge base did not wake up within {ATTEMPTS} attempts (an idle environment takes 10-30 s): \
             ask again in a minute; if it keeps failing, `ragstack status ENV` shows the environment's state"
        )),
        (429, "api_gateway_429") => {
            Some("throttled, or today's quota is used up: `ragstack status ENV` shows the quota".into())
        }
        _ => None,
    };
    Error::Incomplete { message: format!("{url} answered {status}: {code}: {message}"), help }
}

fn show(ctx: &Ctx, url: &str, answer: &Value, args: &AskArgs) {
    if ctx.report.mode() == Mode::Json {
        let v = json!({"url": url, "answer": answer["answer"], "sessionId": answer["sessionId"], "citations": answer["citations"]});
        println!("{}", serde_json::to_string_pretty(&v).expect("JSON serializes"));
        return;
    }
    println!("{}", answer["answer"].as_str().unwrap_or_default());
    let citations = answer["citations"].as_array().cloned().unwrap_or_default();
    if !citations.is_empty() {
        println!("\nsources:");
        for (n, c) in citations.iter().enumerate() {
            println!("  [{}] {}", n + 1, c["uri"].as_str().unwrap_or_default());
            let excerpt: String =
                c["excerpt"].as_str().unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ");
            let short: String = excerpt.chars().take(200).collect();
            let more = if excerpt.chars().count() > 200 { "…" } else { "" };
            println!("      {short}{more}");
        }
    }
    if let Some(session) = answer["sessionId"].as_str() {
        let region = args.target.region.as_deref().map(|r| format!(" {r}")).unwrap_or_default();
        println!("\nfollow up: ragstack ask {}{region} --session {session} \"...\"", ctx.env.name);
    }
}
