//! The environment file as written (`environments/ENV.toml`): its sections and keys, parsed
//! with serde (unknown keys are errors). Validation is `validate.rs`'s.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentFile {
    /// Start of every AWS name; `ragstack` unless several installations share an account.
    pub prefix: String,
    /// Extra tags on every taggable resource (the ownership tags are added by ragstack).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub vector_store: VectorStore,
    pub knowledge_base: KnowledgeBase,
    pub data_sources: Vec<DataSource>,
    pub lambda: Lambda,
    pub api: Api,
    /// Optional: without it, the defaults of [`Logs`].
    #[serde(default)]
    pub logs: Logs,
    /// Optional: without it, Bedrock's defaults for retrieval and generation.
    #[serde(default)]
    pub retrieval: Retrieval,
    /// Optional: without it, ingestion runs only on `ragstack sync` (and deploy).
    #[serde(default)]
    pub sync: SyncTriggers,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VectorStore {
    /// OpenSearch Serverless generation (replace): "classic" collections keep at least 1 OCU
    /// running; "nextgen" ones live in a collection group whose capacity may scale to zero.
    #[serde(default)]
    pub generation: Generation,
    /// NextGen only: the collection group's capacity limits in OCUs.
    #[serde(default)]
    pub capacity: Option<Capacity>,
    pub standby_replicas: bool,
    pub network_access: NetworkAccess,
    #[serde(default)]
    pub vpc_endpoints: Vec<String>,
    pub index_name: String,
    #[serde(default)]
    pub kms_key_arn: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Generation {
    #[default]
    Classic,
    Nextgen,
}

impl Generation {
    /// The API's word (ServerlessGeneration).
    pub fn as_api(self) -> &'static str {
        match self {
            Generation::Classic => "CLASSIC",
            Generation::Nextgen => "NEXTGEN",
        }
    }
}

/// A NextGen collection group's capacity limits (CollectionGroupCapacityLimits), in OCUs.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    #[serde(default)]
    pub min_indexing_ocu: f64,
    pub max_indexing_ocu: f64,
    #[serde(default)]
    pub min_search_ocu: f64,
    pub max_search_ocu: f64,
}

impl Capacity {
    /// Without `[vector_store.capacity]`: scale to zero, at most 2 OCUs each for indexing and search.
    pub const DEFAULT: Capacity =
        Capacity { min_indexing_ocu: 0.0, max_indexing_ocu: 2.0, min_search_ocu: 0.0, max_search_ocu: 2.0 };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkAccess {
    Public,
    Private,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeBase {
    pub embedding_model: String,
    pub dimensions: i64,
    pub chunking: ChunkingSettings,
}

/// Chunking as written: which keys apply depends on `strategy`, so the file form is flat and the
/// validated form is [`super::Chunking`].
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkingSettings {
    pub strategy: ChunkingStrategy,
    pub max_tokens: Option<i64>,
    pub overlap_percentage: Option<i64>,
    pub parent_max_tokens: Option<i64>,
    pub child_max_tokens: Option<i64>,
    pub overlap_tokens: Option<i64>,
    pub buffer_size: Option<i64>,
    pub breakpoint_percentile_threshold: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChunkingStrategy {
    FixedSize,
    Hierarchical,
    Semantic,
    None,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DataSource {
    pub name: String,
    /// An existing bucket to read from; omitted means the environment's own documents bucket.
    #[serde(default)]
    pub bucket: Option<String>,
    #[serde(default)]
    pub inclusion_prefixes: Vec<String>,
}

impl DataSource {
    /// The key prefix it reads (validation allows at most one); "" for the whole bucket.
    pub fn prefix(&self) -> &str {
        self.inclusion_prefixes.first().map_or("", String::as_str)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Lambda {
    pub runtime: String,
    pub architecture: Architecture,
    pub memory_mb: i64,
    pub timeout_seconds: i64,
    pub generation_model: String,
    /// Concurrent executions reserved for (and capping) the function; absent: the account's pool.
    #[serde(default)]
    pub reserved_concurrency: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Architecture {
    #[serde(rename = "arm64")]
    Arm64,
    #[serde(rename = "x86_64")]
    X86_64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Api {
    pub stage_name: String,
    pub throttling_rate_limit: f64,
    pub throttling_burst_limit: i64,
    /// Networks (IPv4 or IPv6 CIDRs) allowed to call the API; empty: anyone.
    #[serde(default)]
    pub allowed_source_cidrs: Vec<String>,
    #[serde(default)]
    pub auth: ApiAuth,
    /// Requests per day per API key (with `auth = "api_key"`).
    #[serde(default)]
    pub daily_quota: Option<i64>,
}

/// Who may call the query route besides the network rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiAuth {
    /// Anyone who can reach it.
    #[default]
    None,
    /// Callers sending the environment's API key (`x-api-key`), within its usage plan's quota.
    ApiKey,
}

/// How the function asks Bedrock (RetrieveAndGenerate); every key optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Retrieval {
    /// Chunks retrieved per question (Bedrock's default: 5).
    pub number_of_results: Option<i64>,
    pub search_type: Option<SearchType>,
    /// A file, relative to the environment file, with the generation prompt.
    pub prompt_template: Option<String>,
    pub guardrail_id: Option<String>,
    pub guardrail_version: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum SearchType {
    #[serde(rename = "SEMANTIC")]
    Semantic,
    #[serde(rename = "HYBRID")]
    Hybrid,
}

impl SearchType {
    pub fn as_str(self) -> &'static str {
        match self {
            SearchType::Semantic => "SEMANTIC",
            SearchType::Hybrid => "HYBRID",
        }
    }
}

/// What starts ingestion besides `ragstack sync` (`[sync]`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SyncTriggers {
    #[serde(default)]
    pub trigger: SyncTrigger,
    /// An EventBridge Scheduler expression, `rate(6 hours)` or `cron(...)`: every data source
    /// is ingested on it.
    #[serde(default)]
    pub schedule: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncTrigger {
    /// Only `ragstack sync` (and deploy) ingest.
    #[default]
    Manual,
    /// Documents created or deleted under a data source's prefix start its ingestion.
    OnChange,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Logs {
    /// How long the query function's log events are kept (CloudWatch Logs retention).
    #[serde(default = "Logs::default_retention_days")]
    pub retention_days: i64,
}

impl Logs {
    fn default_retention_days() -> i64 {
        30
    }
}

impl Default for Logs {
    fn default() -> Logs {
        Logs { retention_days: Logs::default_retention_days() }
    }
}
