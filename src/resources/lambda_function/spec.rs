//! What each of the environment's functions is: its typed `Spec` (role, package, memory,
//! variables), made once by `desired` and read by observe, apply and `cloudformation`
//! (docs/ARCHITECTURE.md, "The resource contract"); its deterministic package; its environment
//! variables, which are how configuration reaches the code.

use crate::config::{Environment, Retrieval};
use crate::context::Known;
use crate::naming::AFTER_APPLY;
use crate::resources::{Inputs, Resource, data_source, ids};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::OnceLock;

/// The query function's files, in the zip's order.
pub const FILES: [&str; 2] = ["handler.py", "index.html"];
/// The prompt template (`retrieval.prompt_template`), shipped in the package rather than in an
/// environment variable: Bedrock allows 4000 characters, Lambda 4 KB for all variables together.
pub const PROMPT_FILE: &str = "prompt.txt";
/// The sync trigger only calls two APIs per event: the smallest memory, and time for retries.
pub const SYNC_MEMORY_MB: i64 = 128;
pub const SYNC_TIMEOUT_SECONDS: i64 = 60;
/// How long after a refused start the sync trigger looks again (its one-time re-check schedule).
pub const RECHECK_MINUTES: u32 = 5;

/// What differs between the environment's functions.
#[derive(Debug)]
pub struct Spec {
    pub role: String,
    /// The files of the deployment package (name in the zip, text), in the zip's order.
    pub files: Vec<(&'static str, String)>,
    /// The package, zipped when first asked for (the engine declares resources often; only
    /// those it observes or applies need their package).
    package: OnceLock<Vec<u8>>,
    pub memory_mb: i64,
    pub timeout_seconds: i64,
    pub reserved_concurrency: Option<i64>,
    pub variables: BTreeMap<String, String>,
    pub description: String,
    /// Where Lambda sends an asynchronous event it gave up on (the sync trigger's queue).
    pub on_failure: Option<String>,
}

impl Spec {
    /// The deployment package: the same bytes for the same files, on every machine.
    pub fn package(&self) -> &[u8] {
        self.package.get_or_init(|| zip(&self.files))
    }

    /// Lambda's CodeSha256 of the package: base64 of its SHA-256.
    pub fn code_sha256(&self) -> String {
        aws_smithy_types::base64::encode(Sha256::digest(self.package()))
    }

    /// The query function: the handler and the page (and the prompt template, when there is one).
    pub fn query(i: &Inputs) -> Spec {
        let (n, f) = (&i.env.names, &i.env.file.lambda);
        let mut files: Vec<(&'static str, String)> =
            FILES.iter().map(|f| (*f, i.asset(&format!("lambda/{f}")).to_string())).collect();
        if let Some(prompt) = &i.env.prompt_template {
            files.push((PROMPT_FILE, prompt.clone()));
        }
        Spec {
            role: n.role_arn(&n.api_role),
            files,
            package: OnceLock::new(),
            memory_mb: f.memory_mb,
            timeout_seconds: f.timeout_seconds,
            reserved_concurrency: f.reserved_concurrency,
            variables: variables(i.env, i.known),
            description: format!("ragstack {}: answers questions from the knowledge base", i.env.name),
            on_failure: None,
        }
    }

    /// The sync trigger.
    pub fn sync_trigger(i: &Inputs) -> Spec {
        let n = &i.env.names;
        Spec {
            role: n.role_arn(&n.sync_role),
            files: vec![("handler.py", i.asset("sync/handler.py").to_string())],
            package: OnceLock::new(),
            memory_mb: SYNC_MEMORY_MB,
            timeout_seconds: SYNC_TIMEOUT_SECONDS,
            reserved_concurrency: None,
            variables: sync_variables(i.env, i.known),
            description: format!("ragstack {}: ingests documents that changed", i.env.name),
            on_failure: Some(n.queue_arn(&n.sync_failures_queue)),
        }
    }
}

/// A deployment package: the same bytes for the same files, on every machine.
fn zip(files: &[(&str, String)]) -> Vec<u8> {
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (file, text) in files {
        zip.start_file(*file, options).expect("writing to memory");
        zip.write_all(text.as_bytes()).expect("writing to memory");
    }
    zip.finish().expect("writing to memory").into_inner()
}

/// The S3 key `ragstack export` names a function's package after: the function and the start of
/// the package's SHA-256, so a changed package is a new key and CloudFormation updates the code.
fn package_key(r: &Resource, package: &[u8]) -> String {
    let hash: String = Sha256::digest(package).iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{}-{hash}.zip", r.name)
}

/// A function's package and the key its exported template reads it under, for `ragstack export`.
pub fn exported_package(r: &Resource, spec: &Spec) -> (String, Vec<u8>) {
    (package_key(r, spec.package()), spec.package().to_vec())
}

/// The function's environment variables: where its configuration comes from.
pub fn variables(env: &Environment, known: &Known) -> BTreeMap<String, String> {
    let n = &env.names;
    let model = n.generation_model_arn(&env.file.lambda.generation_model);
    let mut vars = BTreeMap::from([
        ("KNOWLEDGE_BASE_ID".to_string(), known.id(&ids::KNOWLEDGE_BASE).unwrap_or(AFTER_APPLY).to_string()),
        ("GENERATION_MODEL_ARN".to_string(), model),
        // A NextGen store may be asleep: only then is a slow answer a wake-up worth retrying.
        ("VECTOR_STORE_GENERATION".to_string(), store_variable(&env.file.vector_store).to_string()),
        // Bedrock's answer must come before Lambda's timeout (and API Gateway's 29 s) end the
        // request: 4 s of the function's time are kept for the rest (templates/lambda/handler.py).
        ("BEDROCK_READ_TIMEOUT_SECONDS".to_string(), read_timeout(env.file.lambda.timeout_seconds).to_string()),
    ]);
    vars.extend(retrieval_variables(&env.file.retrieval));
    vars
}

/// What the query function is told about its store: an OpenSearch collection's generation (a
/// NextGen one may be asleep), S3_VECTORS (never asleep) or MANAGED (searched with
/// managedSearchConfiguration, templates/lambda/handler.py).
fn store_variable(vs: &crate::config::VectorStore) -> &'static str {
    match vs.kind {
        crate::config::StoreKind::Opensearch => vs.generation().as_api(),
        crate::config::StoreKind::S3Vectors => "S3_VECTORS",
        crate::config::StoreKind::Managed => "MANAGED",
    }
}

/// How long the function waits for Bedrock: its timeout less 4 s, at most 23 s (API Gateway ends a
/// request at 29 s), at least 1 s.
fn read_timeout(timeout_seconds: i64) -> i64 {
    (timeout_seconds - 4).clamp(1, 23)
}

/// The sync trigger's environment variables (templates/sync/handler.py says what each is).
pub fn sync_variables(env: &Environment, known: &Known) -> BTreeMap<String, String> {
    let n = &env.names;
    BTreeMap::from([
        ("KNOWLEDGE_BASE_ID".to_string(), known.id(&ids::KNOWLEDGE_BASE).unwrap_or(AFTER_APPLY).to_string()),
        ("DATA_SOURCES".to_string(), sync_data_sources(env, known).to_string()),
        ("SCHEDULER_ROLE_ARN".to_string(), n.role_arn(&n.scheduler_role)),
        ("RECHECK_SCHEDULE_PREFIX".to_string(), n.recheck_schedule_prefix.clone()),
        ("RECHECK_MINUTES".to_string(), RECHECK_MINUTES.to_string()),
        ("FAILURES_QUEUE".to_string(), n.sync_failures_queue.clone()),
    ])
}

/// Each data source as the sync trigger matches events to it: id, name, bucket and key prefix.
pub fn sync_data_sources(env: &Environment, known: &Known) -> serde_json::Value {
    let sources = env.file.data_sources.iter().map(|ds| {
        json!({
            "id": known.id(&data_source::id_of(&ds.name)).unwrap_or(AFTER_APPLY),
            "name": ds.name,
            "bucket": env.data_source_bucket(ds),
            "prefix": ds.prefix(),
        })
    });
    json!(sources.collect::<Vec<_>>())
}

/// `[retrieval]` as the handler reads it (only the keys set: the rest are Bedrock's defaults).
pub fn retrieval_variables(r: &Retrieval) -> BTreeMap<String, String> {
    [
        ("NUMBER_OF_RESULTS", r.number_of_results.map(|n| n.to_string())),
        ("SEARCH_TYPE", r.search_type.map(|t| t.as_str().to_string())),
        ("GUARDRAIL_ID", r.guardrail_id.clone()),
        ("GUARDRAIL_VERSION", r.guardrail_version.clone()),
        ("TEMPERATURE", r.temperature.map(|t| t.to_string())),
        ("MAX_TOKENS", r.max_tokens.map(|n| n.to_string())),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k.to_string(), v?)))
    .collect()
}
