//! Starts the local AWS emulator (`scripts/emulator`) on a free loopback port for a test. The
//! process stops when the handle is dropped, or when the test binary exits.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Emulator {
    pub endpoint: String,
    child: Child,
}

impl Emulator {
    /// Starts one emulator with extra flags, e.g. `["--throttle-rate", "0.2"]`.
    pub fn start(flags: &[&str]) -> Emulator {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/emulator");
        let mut child = Command::new(script)
            .env("RAGSTACK_EMULATOR_CALLER", CALLER_SETTING)
            .args(["--port", "0", "--exit-with-parent"])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start scripts/emulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("read the emulator's endpoint");
        let endpoint = line
            .trim()
            .strip_prefix("endpoint ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
        Emulator { endpoint, child }
    }

    /// Every call the emulator has answered, as JSON objects.
    pub fn calls(&self) -> Vec<serde_json::Value> {
        let body = http(&self.endpoint, "GET", "/_ragstack/calls", "");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["calls"].as_array().unwrap().clone()
    }

    pub fn clear_calls(&self) {
        http(&self.endpoint, "DELETE", "/_ragstack/calls", "");
    }

    /// The admin API's health answer: settings in force and counters.
    pub fn health(&self) -> serde_json::Value {
        serde_json::from_str(&http(&self.endpoint, "GET", "/_ragstack/health", "")).unwrap()
    }

    pub fn configure(&self, json: &str) {
        http(&self.endpoint, "POST", "/_ragstack/config", json);
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // Every request must have been checked against its service's API model: one that
        // matched no operation would have escaped the contract. RAGSTACK_VALIDATION_STATS=FILE
        // collects the counts of a whole run (one JSON line per emulator).
        if !std::thread::panicking()
            && let Ok(stats) = std::panic::catch_unwind(|| http(&self.endpoint, "GET", "/_ragstack/validation", ""))
        {
            if let Ok(file) = std::env::var("RAGSTACK_VALIDATION_STATS") {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new().create(true).append(true).open(file).unwrap();
                writeln!(f, "{stats}").unwrap();
            }
            let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
            let unmatched = v["unmatched"].as_object().map(|m| m.len()).unwrap_or(0);
            let _ = self.child.kill();
            let _ = self.child.wait();
            assert_eq!(unmatched, 0, "requests that matched no operation of their API model: {stats}");
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Emulator {
    /// The mutating calls answered since the log was last cleared, as "service operation".
    pub fn mutating_calls(&self) -> Vec<String> {
        self.calls()
            .iter()
            .filter(|c| c["mutating"].as_bool() == Some(true))
            .map(|c| format!("{} {}", c["service"].as_str().unwrap(), c["operation"].as_str().unwrap()))
            .collect()
    }
}

/// A unique name for a test's resources, so tests can share an emulator.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}{}-{}", std::process::id() % 10000, N.fetch_add(1, Ordering::SeqCst))
}

/// A minimal HTTP/1.1 request for the admin API (no client crate needed for three endpoints).
fn http(endpoint: &str, method: &str, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let addr = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, rest) = out.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"), "{method} {path}: {head}");
    rest.to_string()
}

/// Who the tests' emulators say is calling: a session of an IAM Identity Center role, whose path
/// (`/aws-reserved/sso.amazonaws.com/`) deploy must find and name in the data access policy.
pub const CALLER_SETTING: &str = "role:/aws-reserved/sso.amazonaws.com/:AWSReservedSSO_Deployer_0123456789abcdef";
/// The IAM principal OpenSearch Serverless evaluates for that caller: the role, path included.
pub const CALLER: &str =
    "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Deployer_0123456789abcdef";

/// An SDK config builder for any client crate, pointed at the emulator, with retries off so a
/// test sees every answer: `sdk_config!(aws_sdk_iam, emulator).build()`. (Every test binary
/// compiles this module; those without emulator tests leave the macro unused.)
#[allow(unused_macros)]
macro_rules! sdk_config {
    ($krate:ident, $e:expr) => {
        $krate::Config::builder()
            .behavior_version($krate::config::BehaviorVersion::latest())
            .region($krate::config::Region::new("us-east-1"))
            .endpoint_url(&$e.endpoint)
            .credentials_provider($krate::config::Credentials::new(
                "AKIDEMULATORTEST",
                "not-a-secret",
                None,
                None,
                "test",
            ))
            .retry_config($krate::config::retry::RetryConfig::disabled())
    };
}
#[allow(unused_imports)]
pub(crate) use sdk_config;

/// A JSON value as the SDK's Document type (index schemas), converted as ragstack converts it.
pub fn json_document(v: serde_json::Value) -> aws_smithy_types::Document {
    ragstack::aws::to_document(&v)
}

/// An encryption policy named `name` whose one rule covers `pattern` (e.g. `collection/x*`).
pub async fn encryption_policy(c: &aws_sdk_opensearchserverless::Client, name: &str, pattern: &str) {
    let policy =
        serde_json::json!({"Rules": [{"ResourceType": "collection", "Resource": [pattern]}], "AWSOwnedKey": true});
    c.create_security_policy()
        .name(name)
        .r#type(aws_sdk_opensearchserverless::types::SecurityPolicyType::Encryption)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
}
