//! AWS clients from aws-config's standard chain (env, profiles, SSO, CloudShell's container
//! credentials) and standard endpoint variables (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`),
//! with a retry configuration for control planes; the error form every resource module uses.

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_types::{Document, Number};
use serde_json::Value;
use std::time::Duration;

/// Attempts per call, throttling and 5xx included. Control planes throttle bursts (API Gateway,
/// IAM); the SDK's standard mode backs off exponentially with jitter up to `MAX_BACKOFF`.
const MAX_ATTEMPTS: u32 = 10;
const MAX_BACKOFF: Duration = Duration::from_secs(20);
/// Control-plane answers take milliseconds to seconds; an endpoint that accepts a connection and
/// never answers must not hang a deploy.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const READ_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Clients {
    pub region: String,
    pub s3: aws_sdk_s3::Client,
    pub iam: aws_sdk_iam::Client,
    pub sts: aws_sdk_sts::Client,
    pub aoss: aws_sdk_opensearchserverless::Client,
    pub bedrock: aws_sdk_bedrock::Client,
    pub agent: aws_sdk_bedrockagent::Client,
    /// Retrieve and RetrieveAndGenerate (`ragstack eval`).
    pub runtime: aws_sdk_bedrockagentruntime::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub apigateway: aws_sdk_apigateway::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub scheduler: aws_sdk_scheduler::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub s3vectors: aws_sdk_s3vectors::Client,
    pub cloudformation: aws_sdk_cloudformation::Client,
}

impl Clients {
    pub async fn connect(region: &str, profile: Option<&str>) -> Clients {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()))
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS).with_max_backoff(MAX_BACKOFF))
            .timeout_config(
                TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT).read_timeout(READ_TIMEOUT).build(),
            );
        if let Some(p) = profile {
            loader = loader.profile_name(p);
        }
        let config = loader.load().await;
        // S3-compatible endpoints (an emulator, MinIO) rarely resolve bucket subdomains: use
        // path-style addressing whenever an endpoint is configured, as the AWS CLI users expect.
        let s3_config = aws_sdk_s3::config::Builder::from(&config).force_path_style(config.endpoint_url().is_some());
        Clients {
            region: region.to_string(),
            s3: aws_sdk_s3::Client::from_conf(s3_config.build()),
            iam: aws_sdk_iam::Client::new(&config),
            sts: aws_sdk_sts::Client::new(&config),
            aoss: aws_sdk_opensearchserverless::Client::new(&config),
            bedrock: aws_sdk_bedrock::Client::new(&config),
            agent: aws_sdk_bedrockagent::Client::new(&config),
            runtime: aws_sdk_bedrockagentruntime::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
            apigateway: aws_sdk_apigateway::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            events: aws_sdk_eventbridge::Client::new(&config),
            scheduler: aws_sdk_scheduler::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            s3vectors: aws_sdk_s3vectors::Client::new(&config),
            cloudformation: aws_sdk_cloudformation::Client::new(&config),
        }
    }
}

/// An AWS error reduced to what ragstack classifies on and shows: the error code, the message and
/// the HTTP status.
#[derive(Debug, Clone)]
pub struct AwsError {
    pub code: String,
    pub message: String,
    pub status: Option<u16>,
}

impl AwsError {
    pub fn is(&self, code: &str) -> bool {
        self.code == code
    }

    /// The many ways AWS says "there is no such thing".
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.code.as_str(),
            "ResourceNotFoundException"
                | "NoSuchEntity"
                | "NoSuchBucket"
                | "NotFound"
                | "NoSuchTagSet"
                // SQS's JSON protocol, and its query-compatible code (the SQS API Reference's errors).
                | "QueueDoesNotExist"
                | "AWS.SimpleQueueService.NonExistentQueue"
        ) || self.status == Some(404)
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self.code.as_str(), "ConflictException" | "EntityAlreadyExists" | "BucketAlreadyOwnedByYou")
    }
}

impl std::error::Error for AwsError {}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Converts any SDK error; errors without a service answer (timeouts, connection refused) get a
/// code naming their kind.
pub fn aws<E>(e: SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    let code = e.code().map(str::to_string).unwrap_or_else(|| match &e {
        SdkError::TimeoutError(_) => "Timeout".into(),
        SdkError::DispatchFailure(_) => "ConnectionFailure".into(),
        _ => match status {
            Some(404) => "NotFound".into(),
            Some(s) => format!("HTTP{s}"),
            None => "Unknown".into(),
        },
    });
    let message = e.message().map(str::to_string).unwrap_or_else(|| DisplayErrorContext(&e).to_string());
    AwsError { code, message, status }
}

pub fn to_document(v: &Value) -> Document {
    match v {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Document::Number(Number::PosInt(u)),
            (None, Some(i)) => Document::Number(Number::NegInt(i)),
            _ => Document::Number(Number::Float(n.as_f64().unwrap_or_default())),
        },
        Value::String(s) => Document::String(s.clone()),
        Value::Array(a) => Document::Array(a.iter().map(to_document).collect()),
        Value::Object(o) => Document::Object(o.iter().map(|(k, v)| (k.clone(), to_document(v))).collect()),
    }
}

pub fn from_document(d: &Document) -> Value {
    match d {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => Value::from(*f),
        Document::String(s) => Value::String(s.clone()),
        Document::Array(a) => Value::Array(a.iter().map(from_document).collect()),
        Document::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), from_document(v))).collect()),
    }
}

/// IAM returns policy documents URL-encoded; other services return them as they were sent.
pub fn parse_policy(text: &str) -> Value {
    if let Ok(v) = serde_json::from_str(text) {
        return v;
    }
    let decoded = percent_encoding::percent_decode_str(text).decode_utf8_lossy();
    serde_json::from_str(&decoded).unwrap_or(Value::String(text.to_string()))
}

/// JSON equality that ignores object key order (serde_json's `preserve_order` makes `==` order
/// sensitive for maps) and a one-element array standing for its only element, as IAM and S3
/// normalise policies (`"Action": "s3:GetObject"` for `["s3:GetObject"]`).
pub fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_json(v, w)),
        (Value::Array(x), other) | (other, Value::Array(x)) if x.len() == 1 => same_json(&x[0], other),
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_round_trip() {
        let v = json!({"a": [1, -2, 2.5, "x", null, true], "b": {"c": {}}});
        assert_eq!(from_document(&to_document(&v)), v);
    }

    #[test]
    fn iam_policies_are_url_decoded() {
        assert_eq!(parse_policy("%7B%22Version%22%3A%222012-10-17%22%7D"), json!({"Version": "2012-10-17"}));
        assert_eq!(parse_policy(r#"{"a":1}"#), json!({"a": 1}));
    }

    #[test]
    fn policy_equality_ignores_key_order_and_single_element_arrays() {
        assert!(same_json(&json!({"a": 1, "b": ["x"]}), &json!({"b": "x", "a": 1})));
        assert!(!same_json(&json!({"a": 1}), &json!({"a": 2})));
        assert!(!same_json(&json!({"b": ["x", "y"]}), &json!({"b": "x"})));
        assert!(!same_json(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
    }
}
