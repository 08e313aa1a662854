//! Environment files: finding them, parsing them, and validating every setting before any AWS
//! call. Each problem names the file, the line and column, the key, the bad value and what is
//! allowed; all problems of a file are reported at once.
//!
//! Lookup order for `ENV`: `--environments DIR/ENV.toml`, then `./environments/ENV.toml`, then the
//! environments built into the binary (`environments/*.toml` of this repository).

use crate::catalog::{Catalog, EmbeddingModel};
use crate::naming::{self, Names};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// The environments shipped inside the binary, so ragstack works from any directory.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("dev", include_str!("../environments/dev.toml")),
    ("qa", include_str!("../environments/qa.toml")),
    ("sandbox", include_str!("../environments/sandbox.toml")),
];

/// Lambda runtimes the function code is written for (Python, boto3 from the runtime).
pub const LAMBDA_RUNTIMES: &[&str] = &["python3.11", "python3.12", "python3.13", "python3.14"];

/// Bedrock's default quota of data sources per knowledge base.
const MAX_DATA_SOURCES: usize = 5;

// ---------------------------------------------------------------------------------------------
// The file as written.

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
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VectorStore {
    pub standby_replicas: bool,
    pub network_access: NetworkAccess,
    #[serde(default)]
    pub vpc_endpoints: Vec<String>,
    pub index_name: String,
    #[serde(default)]
    pub kms_key_arn: Option<String>,
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
/// validated form is [`Chunking`].
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

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Lambda {
    pub runtime: String,
    pub architecture: Architecture,
    pub memory_mb: i64,
    pub timeout_seconds: i64,
    pub generation_model: String,
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
}

// ---------------------------------------------------------------------------------------------
// The validated form.

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
    pub chunking: Chunking,
    pub embedding_model: &'static EmbeddingModel,
    pub names: Names,
    /// False when the account is the placeholder (offline plan without `--account`).
    pub account_known: bool,
}

impl Environment {
    pub fn region(&self) -> &str {
        &self.names.region
    }

    /// Whether any data source reads from the environment's own documents bucket.
    pub fn uses_documents_bucket(&self) -> bool {
        self.file.data_sources.iter().any(|d| d.bucket.is_none())
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

// ---------------------------------------------------------------------------------------------
// Errors.

/// One problem in an environment file, located as precisely as the file allows.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key: String,
    pub value: Option<String>,
    pub message: String,
    #[serde(skip)]
    pub source_line: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors {
    pub file: String,
    pub problems: Vec<Problem>,
}

impl ConfigErrors {
    pub fn help(&self) -> String {
        "fix the environment file and run the command again; nothing was sent to AWS. \
         Every key is described in README.md, section \"Environment files\""
            .into()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(f, "invalid environment file {} ({n} problem{})", self.file, if n == 1 { "" } else { "s" })?;
        for p in &self.problems {
            write!(f, "\n  {}", p.file)?;
            if let (Some(l), Some(c)) = (p.line, p.column) {
                write!(f, ":{l}:{c}")?;
            }
            write!(f, ": {}", p.key)?;
            if let Some(v) = &p.value {
                write!(f, " = {v}")?;
            }
            write!(f, ": {}", p.message)?;
            if let (Some(l), Some(src)) = (p.line, &p.source_line) {
                write!(f, "\n    {l:>4} | {src}")?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Finding the file.

/// An environment file's text and where it came from.
#[derive(Debug, Clone)]
pub struct EnvironmentSource {
    pub name: String,
    /// What messages call the file: its path, or `environments/dev.toml (built in)`.
    pub display: String,
    pub text: String,
}

/// Environment names become part of AWS names: lowercase letters, digits and single hyphens.
pub fn environment_name_rule(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 20
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && !name.contains("--")
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    (!ok).then(|| {
        "an environment name must be 1-20 characters of lowercase letters, digits and single hyphens, \
         starting with a letter (it becomes part of AWS resource names)"
            .into()
    })
}

/// Finds `ENV`'s file: `dir` (from `--environments`) first, then `./environments`, then built in.
pub fn find(env: &str, dir: Option<&Path>) -> crate::Result<EnvironmentSource> {
    if let Some(rule) = environment_name_rule(env) {
        return Err(crate::Error::usage(format!("invalid environment name `{env}`: {rule}"), None));
    }
    let dirs: Vec<PathBuf> = match dir {
        Some(d) => vec![d.to_path_buf()],
        None => vec![PathBuf::from("environments")],
    };
    for d in &dirs {
        let path = d.join(format!("{env}.toml"));
        match std::fs::read_to_string(&path) {
            Ok(text) => return Ok(EnvironmentSource { name: env.into(), display: path.display().to_string(), text }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(crate::Error::Io { context: format!("cannot read {}", path.display()), source: e });
            }
        }
    }
    if let Some((_, text)) = BUILT_IN.iter().find(|(name, _)| *name == env) {
        return Ok(EnvironmentSource {
            name: env.into(),
            display: format!("environments/{env}.toml (built in)"),
            text: (*text).into(),
        });
    }
    let known = known_environments(&dirs);
    let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    Err(crate::Error::usage(
        format!(
            "unknown environment `{env}`: no {env}.toml in {} and no built-in environment of that name; \
             known environments: {}",
            searched.join(", "),
            known.join(", ")
        ),
        Some(format!(
            "create environments/{env}.toml (copy environments/dev.toml as a start), or pass --environments DIR"
        )),
    ))
}

fn known_environments(dirs: &[PathBuf]) -> Vec<String> {
    let mut names: BTreeSet<String> = BUILT_IN.iter().map(|(n, _)| n.to_string()).collect();
    for d in dirs {
        if let Ok(entries) = std::fs::read_dir(d) {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "toml")
                    && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
                {
                    names.insert(stem.to_string());
                }
            }
        }
    }
    names.into_iter().collect()
}

// ---------------------------------------------------------------------------------------------
// Parsing and validating.

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
        Ok(f) => f,
        Err(e) => {
            let (line, column, source_line) = match e.span() {
                Some(span) => position(&source.text, span.start),
                None => (None, None, None),
            };
            let message = e.message().trim().to_string();
            let key = key_from_toml_error(&source.text, e.span()).unwrap_or_else(|| "(file)".into());
            return Err(ConfigErrors {
                file: source.display.clone(),
                problems: vec![Problem {
                    file: source.display.clone(),
                    line,
                    column,
                    key,
                    value: None,
                    message,
                    source_line,
                }],
            }
            .into());
        }
    };
    let mut v = Validator { problems: Vec::new() };
    let catalog = Catalog::get();

    if !prefix_ok(&file.prefix) {
        v.fail(
            &["prefix"],
            Some(q(&file.prefix)),
            "allowed: 1-20 lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen (it starts every AWS name)".into(),
        );
    }

    for (k, val) in &file.tags {
        let lower = k.to_ascii_lowercase();
        if k.is_empty() || k.len() > 128 {
            v.fail(&["tags", k], Some(q(k)), "a tag key must be 1-128 characters".into());
        } else if lower.starts_with("aws:") || lower.starts_with("ragstack:") {
            v.fail(&["tags", k], Some(q(k)), "tag keys starting with `aws:` or `ragstack:` are reserved (ragstack adds ragstack:environment and ragstack:managed itself)".into());
        } else if !k.chars().all(tag_char) {
            v.fail(&["tags", k], Some(q(k)), "a tag key may use letters, digits, spaces and _ . : / = + - @".into());
        }
        if val.len() > 256 || !val.chars().all(tag_char) {
            v.fail(
                &["tags", k],
                Some(q(val)),
                "a tag value must be 0-256 characters of letters, digits, spaces and _ . : / = + - @".into(),
            );
        }
    }

    // Vector store.
    let vs = &file.vector_store;
    if let Some(rule) = naming::index_name_rule(&vs.index_name) {
        v.fail(&["vector_store", "index_name"], Some(q(&vs.index_name)), format!("an OpenSearch index name {rule}"));
    }
    for (i, e) in vs.vpc_endpoints.iter().enumerate() {
        let ok = e
            .strip_prefix("vpce-")
            .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        if !ok {
            v.fail_at(
                vec![Seg::Key("vector_store".into()), Seg::Key("vpc_endpoints".into()), Seg::Index(i)],
                Some(q(e)),
                "a VPC endpoint id looks like vpce-0123456789abcdef0".into(),
            );
        }
    }
    if vs.network_access == NetworkAccess::Public && !vs.vpc_endpoints.is_empty() {
        v.fail(
            &["vector_store", "vpc_endpoints"],
            None,
            "vpc_endpoints applies only with network_access = \"private\"; with \"public\" leave it out".into(),
        );
    }
    if let Some(arn) = &vs.kms_key_arn {
        match kms_key_region(arn) {
            None => v.fail(&["vector_store", "kms_key_arn"], Some(q(arn)), "expected a KMS key ARN, arn:aws:kms:REGION:ACCOUNT:key/KEY-ID; leave the key out to use an AWS owned key".into()),
            Some(r) if r != target.region => v.fail(&["vector_store", "kms_key_arn"], Some(q(arn)), format!("the key is in {r} but the environment is deployed to {}; OpenSearch Serverless needs a key in the same region", target.region)),
            Some(_) => {}
        }
    }

    // Knowledge base: model, dimensions, chunking.
    let kb = &file.knowledge_base;
    let model = catalog.embedding_model(&kb.embedding_model);
    match model {
        None => v.fail(
            &["knowledge_base", "embedding_model"],
            Some(q(&kb.embedding_model)),
            format!("not a supported embedding model; allowed: {}", catalog.embedding_model_ids().join(", ")),
        ),
        Some(m) => {
            if !target.skip_region_check && !m.offered_in(&target.region) {
                v.fail(
                    &["knowledge_base", "embedding_model"],
                    Some(q(&kb.embedding_model)),
                    format!(
                        "not offered in {} according to ragstack's region table ({}); offered in: {}. \
                         Choose another model or region, or pass --skip-region-check if AWS has launched it there since",
                        target.region,
                        catalog.sources.embedding_models,
                        m.regions.join(", ")
                    ),
                );
            }
            if !m.dimensions.iter().any(|d| i64::from(*d) == kb.dimensions) {
                let allowed: Vec<String> = m.dimensions.iter().map(u32::to_string).collect();
                v.fail(
                    &["knowledge_base", "dimensions"],
                    Some(kb.dimensions.to_string()),
                    format!("not offered by {}; allowed: {}", m.id, allowed.join(", ")),
                );
            }
        }
    }
    let max_tokens_limit = model.map_or(8192, |m| i64::from(m.max_input_tokens));
    let chunking = v.chunking(&kb.chunking, max_tokens_limit, &kb.embedding_model);

    // Data sources.
    if file.data_sources.is_empty() {
        v.fail(
            &["data_sources"],
            None,
            "at least one [[data_sources]] entry is needed: where the knowledge base reads documents from".into(),
        );
    }
    if file.data_sources.len() > MAX_DATA_SOURCES {
        v.fail(
            &["data_sources"],
            None,
            format!(
                "{} data sources; Bedrock allows {MAX_DATA_SOURCES} per knowledge base by default",
                file.data_sources.len()
            ),
        );
    }
    let mut seen = BTreeSet::new();
    for (i, ds) in file.data_sources.iter().enumerate() {
        let at = |k: &str| vec![Seg::Key("data_sources".into()), Seg::Index(i), Seg::Key(k.into())];
        if let Some(rule) = naming::bedrock_name_rule(&ds.name) {
            v.fail_at(at("name"), Some(q(&ds.name)), format!("a data source name {rule}"));
        } else if !seen.insert(ds.name.as_str()) {
            v.fail_at(at("name"), Some(q(&ds.name)), "data source names must be unique within the environment".into());
        }
        if let Some(b) = &ds.bucket
            && let Some(rule) = naming::bucket_name_rule(b)
        {
            v.fail_at(at("bucket"), Some(q(b)), format!("an S3 bucket name {rule}"));
        }
        if ds.inclusion_prefixes.len() > 1 {
            v.fail_at(at("inclusion_prefixes"), None, "Bedrock accepts at most one inclusion prefix per data source; add another [[data_sources]] entry for a second prefix".into());
        }
        for (j, p) in ds.inclusion_prefixes.iter().enumerate() {
            if p.is_empty() || p.len() > 300 {
                v.fail_at(
                    vec![
                        Seg::Key("data_sources".into()),
                        Seg::Index(i),
                        Seg::Key("inclusion_prefixes".into()),
                        Seg::Index(j),
                    ],
                    Some(q(p)),
                    "an inclusion prefix must be 1-300 characters (leave the list empty to include the whole bucket)"
                        .into(),
                );
            }
        }
    }

    // Lambda.
    let l = &file.lambda;
    if !LAMBDA_RUNTIMES.contains(&l.runtime.as_str()) {
        v.fail(&["lambda", "runtime"], Some(q(&l.runtime)), format!("allowed: {}", LAMBDA_RUNTIMES.join(", ")));
    }
    v.range(
        &["lambda", "memory_mb"],
        l.memory_mb,
        128,
        10240,
        "MB of Lambda memory (new accounts may be capped at 3008)",
    );
    v.range(
        &["lambda", "timeout_seconds"],
        l.timeout_seconds,
        1,
        900,
        "seconds (API Gateway waits at most 29 s by default, so longer rarely helps)",
    );
    let model_ok = !l.generation_model.is_empty()
        && l.generation_model.len() <= 200
        && l.generation_model.bytes().all(|b| b.is_ascii_alphanumeric() || b".:-_".contains(&b));
    if !model_ok {
        v.fail(&["lambda", "generation_model"], Some(q(&l.generation_model)), "expected a Bedrock model id such as anthropic.claude-3-haiku-20240307-v1:0 or an inference profile id such as us.anthropic.claude-3-5-haiku-20241022-v1:0".into());
    }

    // API.
    let a = &file.api;
    let stage_ok = !a.stage_name.is_empty()
        && a.stage_name.len() <= 128
        && a.stage_name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !stage_ok {
        v.fail(
            &["api", "stage_name"],
            Some(q(&a.stage_name)),
            "a stage name must be 1-128 letters, digits or underscores".into(),
        );
    }
    if !(a.throttling_rate_limit > 0.0 && a.throttling_rate_limit <= 10000.0) {
        v.fail(
            &["api", "throttling_rate_limit"],
            Some(a.throttling_rate_limit.to_string()),
            "allowed: more than 0 and at most 10000 requests per second (the account-level default)".into(),
        );
    }
    v.range(
        &["api", "throttling_burst_limit"],
        a.throttling_burst_limit,
        1,
        5000,
        "requests (the account-level default burst is 5000)",
    );

    // Names derived from prefix, environment, region and account.
    let account = target.account.clone().unwrap_or_else(|| naming::PLACEHOLDER_ACCOUNT.into());
    let names = Names::derive(&file.prefix, &source.name, &target.region, &account, &vs.index_name);
    if prefix_ok(&file.prefix) {
        for p in names.problems() {
            v.fail(
                &["prefix"],
                Some(q(&file.prefix)),
                format!(
                    "with environment `{}` and region {} the {} name would be `{}`, which AWS rejects: it {}; shorten the prefix",
                    source.name, target.region, p.what, p.name, p.rule
                ),
            );
        }
    }

    if !v.problems.is_empty() {
        return Err(v.into_errors(source).into());
    }
    let embedding_model = model.expect("checked above");
    Ok(Environment {
        name: source.name.clone(),
        source: source.display.clone(),
        file,
        chunking: chunking.expect("no problems means chunking resolved"),
        embedding_model,
        names,
        account_known: target.account.is_some(),
    })
}

fn prefix_ok(prefix: &str) -> bool {
    environment_name_rule(prefix).is_none()
}

fn tag_char(c: char) -> bool {
    c.is_alphanumeric() || " _.:/=+-@".contains(c)
}

fn q(s: &str) -> String {
    format!("{s:?}")
}

/// `arn:aws:kms:eu-west-1:123456789012:key/...` -> `eu-west-1`.
fn kms_key_region(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "kms", region, account, resource]
            if naming::is_region_format(region)
                && naming::is_account_id(account)
                && resource.starts_with("key/")
                && resource.len() > 4 =>
        {
            Some(region)
        }
        _ => None,
    }
}

/// A segment of a key path: `data_sources[1].name` is Key, Index, Key.
#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

struct Pending {
    path: Vec<Seg>,
    value: Option<String>,
    message: String,
}

struct Validator {
    problems: Vec<Pending>,
}

impl Validator {
    fn fail(&mut self, path: &[&str], value: Option<String>, message: String) {
        self.fail_at(path.iter().map(|k| Seg::Key(k.to_string())).collect(), value, message);
    }

    fn fail_at(&mut self, path: Vec<Seg>, value: Option<String>, message: String) {
        self.problems.push(Pending { path, value, message });
    }

    fn range(&mut self, path: &[&str], value: i64, min: i64, max: i64, unit: &str) -> bool {
        let ok = (min..=max).contains(&value);
        if !ok {
            self.fail(path, Some(value.to_string()), format!("out of range; allowed: {min} to {max} {unit}"));
        }
        ok
    }

    /// Resolves the strategy's parameters; keys of other strategies are errors, not silently ignored.
    fn chunking(&mut self, c: &ChunkingSettings, max_tokens_limit: i64, model: &str) -> Option<Chunking> {
        let base = ["knowledge_base", "chunking"];
        let given: [(&str, Option<i64>); 7] = [
            ("max_tokens", c.max_tokens),
            ("overlap_percentage", c.overlap_percentage),
            ("parent_max_tokens", c.parent_max_tokens),
            ("child_max_tokens", c.child_max_tokens),
            ("overlap_tokens", c.overlap_tokens),
            ("buffer_size", c.buffer_size),
            ("breakpoint_percentile_threshold", c.breakpoint_percentile_threshold),
        ];
        let (strategy_name, takes): (&str, &[&str]) = match c.strategy {
            ChunkingStrategy::FixedSize => ("fixed_size", &["max_tokens", "overlap_percentage"]),
            ChunkingStrategy::Hierarchical => {
                ("hierarchical", &["parent_max_tokens", "child_max_tokens", "overlap_tokens"])
            }
            ChunkingStrategy::Semantic => {
                ("semantic", &["max_tokens", "buffer_size", "breakpoint_percentile_threshold"])
            }
            ChunkingStrategy::None => ("none", &[]),
        };
        let before = self.problems.len();
        let takes_text = if takes.is_empty() { "no other keys".to_string() } else { takes.join(", ") };
        for (key, value) in given {
            let applies = takes.contains(&key);
            match (applies, value) {
                (false, Some(v)) => self.fail(
                    &[base[0], base[1], key],
                    Some(v.to_string()),
                    format!("does not apply to strategy \"{strategy_name}\", which takes {takes_text}"),
                ),
                (true, None) => self.fail(
                    &[base[0], base[1], key],
                    None,
                    format!("missing: strategy \"{strategy_name}\" needs {takes_text}"),
                ),
                _ => {}
            }
        }
        let get = |v: Option<i64>| v.unwrap_or_default();
        let token_unit = format!("tokens ({model} embeds at most {max_tokens_limit} tokens per chunk)");
        let mut range = |key: &str, v: Option<i64>, min: i64, max: i64, unit: &str| {
            if let Some(v) = v {
                self.range(&[base[0], base[1], key], v, min, max, unit);
            }
        };
        match c.strategy {
            ChunkingStrategy::FixedSize => {
                range("max_tokens", c.max_tokens, 1, max_tokens_limit, &token_unit);
                range("overlap_percentage", c.overlap_percentage, 1, 99, "percent of a chunk repeated in the next");
            }
            ChunkingStrategy::Hierarchical => {
                let limit = max_tokens_limit.min(8192);
                range("parent_max_tokens", c.parent_max_tokens, 1, limit, &token_unit);
                range("child_max_tokens", c.child_max_tokens, 1, limit, &token_unit);
                range("overlap_tokens", c.overlap_tokens, 1, limit, "tokens");
                if let (Some(p), Some(ch)) = (c.parent_max_tokens, c.child_max_tokens)
                    && ch >= p
                {
                    self.fail(
                        &[base[0], base[1], "child_max_tokens"],
                        Some(ch.to_string()),
                        format!("the child level must be smaller than the parent level (parent_max_tokens = {p})"),
                    );
                }
                if let (Some(o), Some(ch)) = (c.overlap_tokens, c.child_max_tokens)
                    && o >= ch
                {
                    self.fail(
                        &[base[0], base[1], "overlap_tokens"],
                        Some(o.to_string()),
                        format!("the overlap must be smaller than a child chunk (child_max_tokens = {ch})"),
                    );
                }
            }
            ChunkingStrategy::Semantic => {
                range("max_tokens", c.max_tokens, 1, max_tokens_limit, &token_unit);
                range("buffer_size", c.buffer_size, 0, 1, "surrounding sentences compared (Bedrock allows 0 or 1)");
                range(
                    "breakpoint_percentile_threshold",
                    c.breakpoint_percentile_threshold,
                    50,
                    99,
                    "percentile of sentence distance that starts a new chunk",
                );
            }
            ChunkingStrategy::None => {}
        }
        if self.problems.len() != before {
            return None;
        }
        let u = |v: Option<i64>| get(v) as u32;
        Some(match c.strategy {
            ChunkingStrategy::FixedSize => {
                Chunking::FixedSize { max_tokens: u(c.max_tokens), overlap_percentage: u(c.overlap_percentage) }
            }
            ChunkingStrategy::Hierarchical => Chunking::Hierarchical {
                parent_max_tokens: u(c.parent_max_tokens),
                child_max_tokens: u(c.child_max_tokens),
                overlap_tokens: u(c.overlap_tokens),
            },
            ChunkingStrategy::Semantic => Chunking::Semantic {
                max_tokens: u(c.max_tokens),
                buffer_size: u(c.buffer_size),
                breakpoint_percentile_threshold: u(c.breakpoint_percentile_threshold),
            },
            ChunkingStrategy::None => Chunking::None,
        })
    }

    fn into_errors(self, source: &EnvironmentSource) -> ConfigErrors {
        let doc = toml::de::DeTable::parse(&source.text).ok().map(|t| toml::de::DeValue::Table(t.into_inner()));
        let problems = self
            .problems
            .into_iter()
            .map(|p| {
                let offset = doc.as_ref().and_then(|d| locate(d, &p.path));
                let (line, column, source_line) = match offset {
                    Some(o) => position(&source.text, o),
                    None => (None, None, None),
                };
                Problem {
                    file: source.display.clone(),
                    line,
                    column,
                    key: dotted(&p.path),
                    value: p.value,
                    message: p.message,
                    source_line,
                }
            })
            .collect();
        ConfigErrors { file: source.display.clone(), problems }
    }
}

fn dotted(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// The byte offset of the value at `path`, or of the nearest parent that exists (a missing key is
/// reported at its table).
fn locate(doc: &toml::de::DeValue<'_>, path: &[Seg]) -> Option<usize> {
    let mut current = doc;
    let mut offset = None;
    for seg in path {
        let next = match seg {
            Seg::Key(k) => current.get(k.as_str()),
            Seg::Index(i) => current.get(*i),
        };
        match next {
            Some(v) => {
                offset = Some(v.span().start);
                current = v.get_ref();
            }
            None => break,
        }
    }
    offset
}

/// 1-based line and column of a byte offset, and the text of that line.
fn position(text: &str, offset: usize) -> (Option<usize>, Option<usize>, Option<String>) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    let source_line = text[line_start..].lines().next().unwrap_or("").to_string();
    (Some(line), Some(column), Some(source_line))
}

/// toml's error spans point at the offending place; name the dotted key that holds it.
fn key_from_toml_error(text: &str, span: Option<std::ops::Range<usize>>) -> Option<String> {
    let span = span?;
    let mut path = Vec::new();
    if let Ok(doc) = toml::de::DeTable::parse(text) {
        deepest_key(&toml::de::DeValue::Table(doc.into_inner()), span.start, &mut path);
    }
    if path.is_empty() {
        // Keys under a `[table]` header lie outside the header's span: use the last header
        // before the error and the key on the error's line.
        let before = &text[..span.start.min(text.len())];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = text[line_start..].lines().next().unwrap_or("");
        let table = before[..line_start]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
            .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
        let key = line.split_once('=').map(|(k, _)| k.trim().trim_matches('"').to_string()).filter(|k| !k.is_empty());
        let joined: Vec<String> = table.into_iter().chain(key).collect();
        return (!joined.is_empty()).then(|| joined.join("."));
    }
    Some(dotted(&path))
}

fn deepest_key(value: &toml::de::DeValue<'_>, offset: usize, path: &mut Vec<Seg>) {
    match value {
        toml::de::DeValue::Table(t) => {
            for (k, v) in t.iter() {
                if k.span().contains(&offset) || v.span().contains(&offset) {
                    path.push(Seg::Key(k.get_ref().to_string()));
                    deepest_key(v.get_ref(), offset, path);
                    return;
                }
            }
        }
        toml::de::DeValue::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                if v.span().contains(&offset) {
                    path.push(Seg::Index(i));
                    deepest_key(v.get_ref(), offset, path);
                    return;
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn position_is_one_based() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(position(text, 6), (Some(2), Some(1), Some("bb = 2".into())));
        assert_eq!(position(text, 11), (Some(2), Some(6), Some("bb = 2".into())));
    }

    #[test]
    fn locate_finds_nested_and_array_values() {
        let text = "[x]\ny = 5\n[[ds]]\nname = \"a\"\n[[ds]]\nname = \"b\"\n";
        let doc = toml::de::DeValue::Table(toml::de::DeTable::parse(text).unwrap().into_inner());
        let off = locate(&doc, &[Seg::Key("x".into()), Seg::Key("y".into())]).unwrap();
        assert_eq!(position(text, off).0, Some(2));
        let off = locate(&doc, &[Seg::Key("ds".into()), Seg::Index(1), Seg::Key("name".into())]).unwrap();
        assert_eq!(position(text, off).0, Some(6));
    }

    #[test]
    fn kms_region() {
        assert_eq!(kms_key_region("arn:aws:kms:eu-west-1:123456789012:key/abcd"), Some("eu-west-1"));
        assert_eq!(kms_key_region("arn:aws:kms:eu-west-1:123:key/abcd"), None);
        assert_eq!(kms_key_region("alias/x"), None);
    }
}
