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
    /// Not with a managed knowledge base whose embeddings Bedrock manages.
    #[serde(default)]
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
    /// Optional: the question set `ragstack eval` uses without `--questions`, and its thresholds.
    #[serde(default)]
    pub eval: Eval,
}

/// `[eval]`: what `ragstack eval ENV` measures by default.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Eval {
    /// A question set (TOML or JSON Lines), relative to the environment file.
    pub questions: Option<String>,
    /// eval exits 1 below this mean recall@k (0 to 1).
    pub min_recall: Option<f64>,
    /// eval exits 1 below this mean reciprocal rank (0 to 1).
    pub min_mrr: Option<f64>,
    /// A blue/green change switches only when the new generation's recall and MRR are at most
    /// this much below the old one's (0 to 1) [default: 0, not worse at all].
    pub max_drop: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VectorStore {
    /// Where the vectors live (replace): an OpenSearch Serverless collection, an S3 vector bucket,
    /// or Bedrock's own store (a managed knowledge base). Each kind takes only its own keys.
    #[serde(default)]
    pub kind: StoreKind,
    /// opensearch: the OpenSearch Serverless generation (replace): "classic" collections keep at
    /// least 1 OCU running; "nextgen" ones live in a collection group whose capacity may scale to zero.
    #[serde(default)]
    pub generation: Option<Generation>,
    /// opensearch, NextGen only: the collection group's capacity limits in OCUs.
    #[serde(default)]
    pub capacity: Option<Capacity>,
    /// opensearch (required).
    #[serde(default)]
    pub standby_replicas: Option<bool>,
    /// opensearch (required).
    #[serde(default)]
    pub network_access: Option<NetworkAccess>,
    /// opensearch, with network_access = "private".
    #[serde(default)]
    pub vpc_endpoints: Option<Vec<String>>,
    /// opensearch and s3_vectors (required): the vector index's name (replace).
    #[serde(default)]
    pub index_name: Option<String>,
    /// Every kind: a customer managed KMS key (replace) for the collection, the vector bucket, or
    /// the managed knowledge base.
    #[serde(default)]
    pub kms_key_arn: Option<String>,
    /// s3_vectors: the vector bucket's name (replace) [default: PREFIX-ENV-vectors].
    #[serde(default)]
    pub vector_bucket: Option<String>,
    /// s3_vectors: how vectors are compared (replace) [default: cosine].
    #[serde(default)]
    pub distance_metric: Option<DistanceMetric>,
    /// s3_vectors: metadata keys stored but not filterable (replace) [default: the two Bedrock writes].
    #[serde(default)]
    pub non_filterable_metadata_keys: Option<Vec<String>>,
    /// managed: whose embedding model (replace) [default: managed, Bedrock's own].
    #[serde(default)]
    pub embedding_model_type: Option<EmbeddingModelType>,
}

/// The keys of `[vector_store]` each kind takes (the rest are refused for it).
pub const OPENSEARCH_KEYS: &[&str] =
    &["generation", "capacity", "standby_replicas", "network_access", "vpc_endpoints", "index_name", "kms_key_arn"];
pub const S3_VECTORS_KEYS: &[&str] =
    &["vector_bucket", "index_name", "distance_metric", "non_filterable_metadata_keys", "kms_key_arn"];
pub const MANAGED_KEYS: &[&str] = &["embedding_model_type", "kms_key_arn"];

/// What Bedrock writes into each vector of an S3 Vectors index: the chunk's text and its metadata.
/// Filterable metadata is limited to 2 KB per vector (S3 Vectors limitations), so both must be
/// non-filterable; otherwise ingestion fails with "Filterable metadata must have at most 2048 bytes"
/// (reported by users; set at index creation, it cannot change later).
pub const BEDROCK_METADATA_KEYS: &[&str] = &["AMAZON_BEDROCK_TEXT", "AMAZON_BEDROCK_METADATA"];

impl VectorStore {
    pub fn is_opensearch(&self) -> bool {
        self.kind == StoreKind::Opensearch
    }

    pub fn generation(&self) -> Generation {
        self.generation.unwrap_or_default()
    }

    pub fn standby_replicas(&self) -> bool {
        self.standby_replicas.unwrap_or(false)
    }

    pub fn network_access(&self) -> NetworkAccess {
        self.network_access.unwrap_or(NetworkAccess::Public)
    }

    pub fn vpc_endpoints(&self) -> &[String] {
        self.vpc_endpoints.as_deref().unwrap_or_default()
    }

    pub fn index_name(&self) -> &str {
        self.index_name.as_deref().unwrap_or_default()
    }

    pub fn distance_metric(&self) -> DistanceMetric {
        self.distance_metric.unwrap_or_default()
    }

    pub fn embedding_model_type(&self) -> EmbeddingModelType {
        self.embedding_model_type.unwrap_or_default()
    }

    /// Whether Bedrock picks the embedding model (a managed knowledge base with managed embeddings):
    /// then `[knowledge_base]` has nothing to set.
    pub fn embeds_itself(&self) -> bool {
        self.kind == StoreKind::Managed && self.embedding_model_type() == EmbeddingModelType::Managed
    }

    pub fn non_filterable_metadata_keys(&self) -> Vec<String> {
        match &self.non_filterable_metadata_keys {
            Some(keys) => keys.clone(),
            None => BEDROCK_METADATA_KEYS.iter().map(|k| k.to_string()).collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    #[default]
    Opensearch,
    S3Vectors,
    Managed,
}

impl StoreKind {
    /// The file's word.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::Opensearch => "opensearch",
            StoreKind::S3Vectors => "s3_vectors",
            StoreKind::Managed => "managed",
        }
    }
}

/// A managed knowledge base's embeddings (ManagedKnowledgeBaseConfiguration.embeddingModelType):
/// Bedrock's own model, or `[knowledge_base] embedding_model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingModelType {
    #[default]
    Managed,
    Custom,
}

impl EmbeddingModelType {
    pub fn as_api(self) -> &'static str {
        match self {
            EmbeddingModelType::Managed => "MANAGED",
            EmbeddingModelType::Custom => "CUSTOM",
        }
    }
}

/// S3 Vectors' distance metrics (botocore's s3vectors model, DistanceMetric).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DistanceMetric {
    #[default]
    Cosine,
    Euclidean,
}

impl DistanceMetric {
    pub fn as_str(self) -> &'static str {
        match self {
            DistanceMetric::Cosine => "cosine",
            DistanceMetric::Euclidean => "euclidean",
        }
    }
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

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeBase {
    #[serde(default)]
    pub embedding_model: Option<String>,
    #[serde(default)]
    pub dimensions: Option<i64>,
    #[serde(default)]
    pub chunking: Option<ChunkingSettings>,
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
