//! Environment files: finding them (`lookup`), their format (`file`), validating every setting
//! before any AWS call (`validate`), and locating each problem in the file (`locate`). Each
//! problem names the file, the line and column, the key, the bad value and what is allowed; all
//! problems of a file are reported at once.

mod file;
mod locate;
mod lookup;
pub mod questions;
mod schedule;
mod validate;

pub use file::*;
pub use locate::{ConfigErrors, Problem};
pub use lookup::{BUILT_IN, EnvironmentSource, environment_name_rule, find};
pub use validate::LOG_RETENTION_DAYS;

use crate::catalog::EmbeddingModel;
use crate::naming::{self, Names};
use serde::Serialize;
use std::collections::BTreeMap;

/// Lambda runtimes the function code is written for (Python, boto3 from the runtime).
pub const LAMBDA_RUNTIMES: &[&str] = &["python3.11", "python3.12", "python3.13", "python3.14"];

/// Bedrock's default quota of data sources per knowledge base.
const MAX_DATA_SOURCES: usize = 5;

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

/// Parses and validates `source` for `target`; every problem is reported, none is fatal early
/// except a file that cannot be parsed at all.
pub fn load(source: &EnvironmentSource, target: &Target) -> crate::Result<Environment> {
    let file: EnvironmentFile = match toml::from_str(&source.text) {
        Ok(file) => file,
        Err(e) => return Err(parse_and_range_errors(source, target, &e).into()),
    };
    validated(source, target, file).map_err(Into::into)
}

/// The type and unknown-key problems serde finds, with the range and enum problems of the
/// sections serde could read: the file is validated too with each refused key replaced by the
/// built-in dev file's value (or removed), and what that finds in a section without a parse
/// problem is added (in a section with one, a finding may be a consequence of the stand-in).
fn parse_and_range_errors(source: &EnvironmentSource, target: &Target, first: &toml::de::Error) -> ConfigErrors {
    let mut errors = locate::parse_errors::<EnvironmentFile>(source, first);
    let stand_in = lookup::built_in("dev").unwrap_or_default();
    let Some(table) = locate::with_stand_ins(&source.text, &errors.problems, stand_in) else { return errors };
    let Ok(file) = toml::Value::Table(table).try_into::<EnvironmentFile>() else { return errors };
    let section = |key: &str| key.split(['.', '[']).next().unwrap_or_default().to_string();
    let refused: std::collections::BTreeSet<String> = errors.problems.iter().map(|p| section(&p.key)).collect();
    if let Err(more) = validated(source, target, file) {
        errors.problems.extend(more.problems.into_iter().filter(|p| !refused.contains(&section(&p.key))));
        errors.problems.sort_by_key(|p| p.line);
    }
    errors
}

fn validated(source: &EnvironmentSource, target: &Target, file: EnvironmentFile) -> Result<Environment, ConfigErrors> {
    let mut v = validate::Validator::new();
    v.prefix_and_tags(&file);
    v.vector_store(&file, target);
    let (model, chunking) = v.knowledge_base(&file, target);
    v.data_sources(&file);
    v.lambda(&file);
    v.api(&file);
    v.logs(&file);
    v.sync(&file);
    let prompt_template = v.retrieval(&file, source);
    let eval_questions = v.eval(&file, source);
    let names = v.names(&file, source, target);
    if !v.is_clean() {
        return Err(v.into_errors(source));
    }
    Ok(Environment {
        name: source.name.clone(),
        source: source.display.clone(),
        file,
        chunking,
        embedding_model: model,
        names,
        account_known: target.account.is_some(),
        prompt_template,
        eval_questions,
        warnings: v.warnings,
        other_generation: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn target() -> Target {
        Target { region: "us-east-1".into(), account: Some("123456789012".into()), skip_region_check: false }
    }

    #[test]
    fn built_in_environments_are_valid_in_their_intended_regions() {
        for (name, _) in BUILT_IN {
            let src = find(name, Some(Path::new("/nonexistent"))).unwrap();
            let env = load(&src, &target()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(env.name, *name);
        }
    }
}
