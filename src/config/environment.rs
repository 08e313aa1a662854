//! One environment after validation: the file, the names derived from it, and what the commands
//! ask of it.

use super::file::{DataSource, EnvironmentFile, SyncTrigger};
use crate::catalog::EmbeddingModel;
use crate::naming::{self, Names};
use serde::Serialize;
use std::collections::BTreeMap;

/// Lambda runtimes the function code is written for (Python, boto3 from the runtime).
pub const LAMBDA_RUNTIMES: &[&str] = &["python3.11", "python3.12", "python3.13", "python3.14"];

/// Bedrock's default quota of data sources per knowledge base.
pub(super) const MAX_DATA_SOURCES: usize = 5;

/// Chunking after validation: exactly the parameters of the chosen strategy.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "strategy", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Chunking {
    FixedSize { max_tokens: u32, overlap_percentage: u32 },
    Hierarchical { parent_max_tokens: u32, child_max_tokens: u32, overlap_tokens: u32 },
    Semantic { max_tokens: u32, buffer_size: u32, breakpoint_percentile_threshold: u32 },
    None,
}

/// One environment, validated, with every name derived.
#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    pub source: String,
    pub file: EnvironmentFile,
    /// None for a managed knowledge base (Bedrock chunks).
    pub chunking: Option<Chunking>,
    /// None for a managed knowledge base with managed embeddings (Bedrock picks the model).
    pub embedding_model: Option<&'static EmbeddingModel>,
    pub names: Names,
    /// False when the account is the placeholder (offline plan without `--account`).
    pub account_known: bool,
    /// The text of `retrieval.prompt_template`, read and checked.
    pub prompt_template: Option<String>,
    /// `eval.questions`, resolved against the environment file's directory and checked.
    pub eval_questions: Option<std::path::PathBuf>,
    /// What validation allowed but the user should know (shown before the command runs).
    pub warnings: Vec<String>,
    /// The knowledge base's other live generation during a blue/green change (the old one still
    /// serving, or the new one not yet switched to), as AWS has it: its grants stay in the shared
    /// roles and policies until it is gone. None otherwise (and offline).
    pub other_generation: Option<OtherGeneration>,
}

/// A knowledge base generation beside the one the environment is rendered for.
#[derive(Debug, Clone, Serialize)]
pub struct OtherGeneration {
    pub number: u32,
    pub knowledge_base_id: String,
    /// Its embedding model's ARN (its role must keep invoking it), when it has one.
    pub embedding_model_arn: Option<String>,
    /// Its vector index's name (in the shared collection or vector bucket), as its knowledge base
    /// has it.
    pub vector_index: String,
    /// Its knowledge base is being deleted (an abandoned or retired generation not yet gone).
    pub deleting: bool,
}

impl Environment {
    /// The environment rendered for knowledge base generation `g`, with `other` live beside it.
    pub fn at_generation(&self, g: u32, other: Option<OtherGeneration>) -> Environment {
        Environment { names: self.names.at_generation(g), other_generation: other, ..self.clone() }
    }

    pub fn region(&self) -> &str {
        &self.names.region
    }

    /// The embedding model's id, where the environment names one.
    pub fn embedding_model_id(&self) -> Option<&str> {
        self.embedding_model.map(|m| m.id.as_str())
    }

    /// The vectors' dimensions (0 where Bedrock picks the model).
    pub fn dimensions(&self) -> i64 {
        self.file.knowledge_base.dimensions.unwrap_or_default()
    }

    /// Whether any data source reads from the environment's own documents bucket.
    pub fn uses_documents_bucket(&self) -> bool {
        self.file.data_sources.iter().any(|d| d.bucket.is_none())
    }

    /// Whether documents that change start ingestion (`sync.trigger = "on_change"`).
    pub fn syncs_on_change(&self) -> bool {
        self.file.sync.trigger == SyncTrigger::OnChange
    }

    /// Whether anything besides `ragstack sync` starts ingestion: the trigger function is wanted.
    pub fn syncs_automatically(&self) -> bool {
        self.syncs_on_change() || self.file.sync.schedule.is_some()
    }

    /// The bucket a data source reads from.
    pub fn data_source_bucket<'a>(&'a self, ds: &'a DataSource) -> &'a str {
        ds.bucket.as_deref().unwrap_or(&self.names.documents_bucket)
    }

    /// Tags for every taggable resource: the file's tags plus the ownership tags.
    pub fn tags(&self) -> BTreeMap<String, String> {
        let mut t = self.file.tags.clone();
        t.insert(naming::TAG_ENVIRONMENT.into(), self.name.clone());
        t.insert(naming::TAG_MANAGED.into(), "true".into());
        t
    }
}

/// What validation needs besides the file: where it is going.
#[derive(Debug, Clone)]
pub struct Target {
    pub region: String,
    /// None when unknown (offline plan without `--account`): the placeholder is used for names.
    pub account: Option<String>,
    /// Bypass the region table (AWS may have launched somewhere newer than it).
    pub skip_region_check: bool,
}
