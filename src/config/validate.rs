//! Validation of every setting of an environment file before any AWS call: each section's rules,
//! with the allowed values in the message. Problems are collected (all of a file's at once) with
//! the key path each is about; `locate.rs` finds them in the file.

use super::environment::{Chunking, LAMBDA_RUNTIMES, MAX_DATA_SOURCES, Target};
use super::file::{
    ApiAuth, BEDROCK_METADATA_KEYS, ChunkingSettings, ChunkingStrategy, EnvironmentFile, Generation, MANAGED_KEYS,
    NetworkAccess, OPENSEARCH_KEYS, S3_VECTORS_KEYS, SearchType, StoreKind, SyncTrigger,
};
use super::locate::{self, ConfigErrors, Seg};
use super::lookup::environment_name_rule;
use super::source::EnvironmentSource;
use crate::catalog::{Catalog, EmbeddingModel};
use crate::naming::{self, Names};
use std::collections::BTreeSet;

/// The retention periods CloudWatch Logs accepts, in days (botocore's logs model, shape `Days`:
/// "Possible values are: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096,
/// 1827, 2192, 2557, 2922, 3288, and 3653").
pub const LOG_RETENTION_DAYS: &[i64] =
    &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

struct Pending {
    path: Vec<Seg>,
    value: Option<String>,
    message: String,
}

pub struct Validator {
    problems: Vec<Pending>,
    /// What is allowed but worth knowing ("file: key: ..."), shown before the command runs.
    pub warnings: Vec<String>,
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
        let before = self.problems.len();
        self.chunking_keys(c);
        self.chunking_ranges(c, max_tokens_limit, model);
        (self.problems.len() == before).then(|| resolved(c))
    }

    /// Each key applies to the chosen strategy, and every key it needs is there.
    fn chunking_keys(&mut self, c: &ChunkingSettings) {
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
    }

    /// Each value within what Bedrock and the embedding model accept.
    fn chunking_ranges(&mut self, c: &ChunkingSettings, max_tokens_limit: i64, model: &str) {
        let base = ["knowledge_base", "chunking"];
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
    }

    pub fn into_errors(self, source: &EnvironmentSource) -> ConfigErrors {
        let problems =
            self.problems.into_iter().map(|p| locate::problem(source, &p.path, p.value, p.message)).collect();
        ConfigErrors { file: source.display.clone(), problems }
    }

    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The sections of the file, each checked on its own.
impl Validator {
    pub fn new() -> Validator {
        Validator { problems: Vec::new(), warnings: Vec::new() }
    }

    pub fn prefix_and_tags(&mut self, file: &EnvironmentFile) {
        let v = self;
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
                v.fail(
                    &["tags", k],
                    Some(q(k)),
                    "a tag key may use letters, digits, spaces and _ . : / = + - @".into(),
                );
            }
            if val.len() > 256 || !val.chars().all(tag_char) {
                v.fail(
                    &["tags", k],
                    Some(q(val)),
                    "a tag value must be 0-256 characters of letters, digits, spaces and _ . : / = + - @".into(),
                );
            }
        }
    }

    pub fn vector_store(&mut self, file: &EnvironmentFile, target: &Target) {
        let vs = &file.vector_store;
        self.store_keys(file);
        match vs.kind {
            StoreKind::Opensearch => self.opensearch(file),
            StoreKind::S3Vectors => self.s3_vectors(file),
            StoreKind::Managed => self.managed(file),
        }
        if let Some(arn) = &vs.kms_key_arn {
            let service = match vs.kind {
                StoreKind::Opensearch => "OpenSearch Serverless",
                StoreKind::S3Vectors => "S3 Vectors",
                StoreKind::Managed => "Bedrock",
            };
            match kms_key_region(arn) {
            None => self.fail(&["vector_store", "kms_key_arn"], Some(q(arn)), "expected a KMS key ARN, arn:aws:kms:REGION:ACCOUNT:key/KEY-ID; leave the key out to use an AWS owned key".into()),
            Some(r) if r != target.region => self.fail(&["vector_store", "kms_key_arn"], Some(q(arn)), format!("the key is in {r} but the environment is deployed to {}; {service} needs a key in the same region", target.region)),
            Some(_) => {}
        }
        }
    }

    /// Each key of `[vector_store]` belongs to the chosen kind, and the kind's required keys are there.
    fn store_keys(&mut self, file: &EnvironmentFile) {
        let vs = &file.vector_store;
        let given: [(&str, bool); 12] = [
            ("generation", vs.generation.is_some()),
            ("capacity", vs.capacity.is_some()),
            ("standby_replicas", vs.standby_replicas.is_some()),
            ("network_access", vs.network_access.is_some()),
            ("vpc_endpoints", vs.vpc_endpoints.is_some()),
            ("index_name", vs.index_name.is_some()),
            ("kms_key_arn", vs.kms_key_arn.is_some()),
            ("vector_bucket", vs.vector_bucket.is_some()),
            ("distance_metric", vs.distance_metric.is_some()),
            ("non_filterable_metadata_keys", vs.non_filterable_metadata_keys.is_some()),
            ("embedding_model_type", vs.embedding_model_type.is_some()),
            ("kind", true),
        ];
        let (takes, required): (&[&str], &[&str]) = match vs.kind {
            StoreKind::Opensearch => (OPENSEARCH_KEYS, &["standby_replicas", "network_access", "index_name"]),
            StoreKind::S3Vectors => (S3_VECTORS_KEYS, &["index_name"]),
            StoreKind::Managed => (MANAGED_KEYS, &[]),
        };
        let kind = vs.kind.as_str();
        for (key, present) in given {
            if present && key != "kind" && !takes.contains(&key) {
                self.fail(
                    &["vector_store", key],
                    None,
                    format!("not a setting of kind = \"{kind}\" (it takes {}): remove it", takes.join(", ")),
                );
            }
        }
        for key in required {
            if !given.iter().any(|(k, present)| k == key && *present) {
                self.fail(&["vector_store"], None, format!("kind = \"{kind}\" needs `{key}`"));
            }
        }
    }

    fn opensearch(&mut self, file: &EnvironmentFile) {
        let v = self;
        let vs = &file.vector_store;
        if let Some(rule) = vs.index_name.as_deref().and_then(naming::index_name_rule) {
            v.fail(
                &["vector_store", "index_name"],
                Some(q(vs.index_name())),
                format!("an OpenSearch index name {rule}"),
            );
        }
        for (i, e) in vs.vpc_endpoints().iter().enumerate() {
            let ok = e.strip_prefix("vpce-").is_some_and(|id| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            });
            if !ok {
                v.fail_at(
                    vec![Seg::Key("vector_store".into()), Seg::Key("vpc_endpoints".into()), Seg::Index(i)],
                    Some(q(e)),
                    "a VPC endpoint id looks like vpce-0123456789abcdef0".into(),
                );
            }
        }
        v.capacity(file);
        // NextGen collections are reached through standard AWS PrivateLink, not OpenSearch
        // Serverless's own VPC endpoints ("Collection endpoints"): unproven with ragstack's
        // network policy, so refused rather than half working.
        if vs.generation() == Generation::Nextgen && vs.network_access() == NetworkAccess::Private {
            v.fail(
                &["vector_store", "network_access"],
                Some(q("private")),
                "a NextGen collection is reached through standard AWS PrivateLink, which ragstack does not \
                 configure yet: use network_access = \"public\" (still IAM-authenticated) or generation = \"classic\""
                    .into(),
            );
        }
        if vs.network_access() == NetworkAccess::Public && !vs.vpc_endpoints().is_empty() {
            v.fail(
                &["vector_store", "vpc_endpoints"],
                None,
                "vpc_endpoints applies only with network_access = \"private\"; with \"public\" leave it out".into(),
            );
        }
    }

    /// A managed knowledge base searches as it sees fit (managedSearchConfiguration has no search
    /// type, botocore's bedrock-agent-runtime model).
    fn managed(&mut self, file: &EnvironmentFile) {
        if let Some(t) = file.retrieval.search_type {
            self.fail(
                &["retrieval", "search_type"],
                Some(q(t.as_str())),
                "a managed knowledge base picks its own search strategy: leave search_type out".into(),
            );
        }
    }

    /// S3 Vectors: its names' rules, the metadata Bedrock needs non-filterable, semantic search only.
    fn s3_vectors(&mut self, file: &EnvironmentFile) {
        let vs = &file.vector_store;
        if let Some(name) = &vs.vector_bucket
            && let Some(rule) = naming::vector_bucket_rule(name)
        {
            self.fail(&["vector_store", "vector_bucket"], Some(q(name)), format!("an S3 vector bucket name {rule}"));
        }
        if let Some(name) = &vs.index_name
            && let Some(rule) = naming::vector_index_rule(name)
        {
            self.fail(&["vector_store", "index_name"], Some(q(name)), format!("an S3 vector index name {rule}"));
        }
        if let Some(keys) = &vs.non_filterable_metadata_keys {
            // CreateIndex: 1-10 keys of 1-63 characters (botocore's s3vectors model; the API
            // reference and CloudFormation say at least 1).
            if keys.is_empty() || keys.len() > 10 {
                self.fail(
                    &["vector_store", "non_filterable_metadata_keys"],
                    None,
                    format!("S3 Vectors takes 1 to 10 non-filterable metadata keys, not {}", keys.len()),
                );
            }
            for (i, k) in keys.iter().enumerate().filter(|(_, k)| k.is_empty() || k.len() > 63) {
                self.fail_at(
                    vec![
                        Seg::Key("vector_store".into()),
                        Seg::Key("non_filterable_metadata_keys".into()),
                        Seg::Index(i),
                    ],
                    Some(q(k)),
                    "a metadata key is 1-63 characters".into(),
                );
            }
            let missing: Vec<&str> =
                BEDROCK_METADATA_KEYS.iter().copied().filter(|b| !keys.iter().any(|k| k == b)).collect();
            if !missing.is_empty() {
                self.fail(
                    &["vector_store", "non_filterable_metadata_keys"],
                    None,
                    format!(
                        "must include {}: Bedrock stores each chunk's text and metadata there, and S3 Vectors allows \
                         only 2 KB of filterable metadata per vector, so ingestion would fail (\"Filterable metadata \
                         must have at most 2048 bytes\"); leave the key out for the default",
                        missing.join(" and ")
                    ),
                );
            }
        }
        // "For other vector store configurations, only SEMANTIC search is available" (botocore's
        // bedrock-agent-runtime model, overrideSearchType).
        if file.retrieval.search_type == Some(SearchType::Hybrid) {
            self.fail(
                &["retrieval", "search_type"],
                Some(q("HYBRID")),
                "S3 Vectors searches semantically only: use \"SEMANTIC\" or leave search_type out".into(),
            );
        }
    }

    /// `[vector_store.capacity]`: only for NextGen; the values a collection group's limits may take
    /// (OpenSearch Serverless developer guide, "Collection group capacity limits": for NextGen 0, 2,
    /// 4, 8, 16 and multiples of 16 up to 1,696; botocore's CollectionGroupCapacityLimits: a maximum
    /// of at least 1), a minimum not above its maximum.
    fn capacity(&mut self, file: &EnvironmentFile) {
        let vs = &file.vector_store;
        let Some(c) = &vs.capacity else { return };
        if !vs.is_opensearch() {
            return; // refused by store_keys
        }
        if vs.generation() != Generation::Nextgen {
            self.fail(
                &["vector_store", "capacity"],
                None,
                "capacity limits apply to generation = \"nextgen\" (a collection group); a classic collection \
                 has no limits of its own: remove [vector_store.capacity] or set generation = \"nextgen\""
                    .into(),
            );
            return;
        }
        for (key, value, zero_allowed) in [
            ("min_indexing_ocu", c.min_indexing_ocu, true),
            ("max_indexing_ocu", c.max_indexing_ocu, false),
            ("min_search_ocu", c.min_search_ocu, true),
            ("max_search_ocu", c.max_search_ocu, false),
        ] {
            let step = value == 2.0
                || value == 4.0
                || value == 8.0
                || (value % 16.0 == 0.0 && (16.0..=1696.0).contains(&value));
            if !(step || (zero_allowed && value == 0.0)) {
                let first = if zero_allowed { "0, 2" } else { "2" };
                self.fail(
                    &["vector_store", "capacity", key],
                    Some(value.to_string()),
                    format!(
                        "allowed: {first}, 4, 8, 16 or a multiple of 16 up to 1696 OCUs (AWS's valid capacity values)"
                    ),
                );
            }
        }
        for (min_key, min, max_key, max) in [
            ("min_indexing_ocu", c.min_indexing_ocu, "max_indexing_ocu", c.max_indexing_ocu),
            ("min_search_ocu", c.min_search_ocu, "max_search_ocu", c.max_search_ocu),
        ] {
            if min > max {
                self.fail(
                    &["vector_store", "capacity", min_key],
                    Some(min.to_string()),
                    format!("the minimum is above the maximum ({max_key} = {max})"),
                );
            }
        }
    }

    /// The embedding model (when supported) and the resolved chunking (when valid).
    pub fn knowledge_base(
        &mut self,
        file: &EnvironmentFile,
        target: &Target,
    ) -> (Option<&'static EmbeddingModel>, Option<Chunking>) {
        let v = self;
        let catalog = Catalog::get();
        let kb = &file.knowledge_base;
        let vs = &file.vector_store;
        // A managed knowledge base with Bedrock's embeddings picks its model and chunking itself: it
        // refuses a chunking strategy ("A chunking strategy cannot be specified with a managed
        // embedding model", as reported). With its own model, ragstack sends no chunking either:
        // whether a managed connector takes one is not documented.
        let refuse = |v: &mut Validator, key: &str, why: &str| {
            v.fail(&["knowledge_base", key], None, format!("not used {why}: remove it"));
        };
        if vs.kind == StoreKind::Managed {
            let why = if vs.embeds_itself() {
                "by a managed knowledge base with embedding_model_type = \"managed\" (Bedrock picks the model and chunks)"
            } else {
                "by a managed knowledge base (Bedrock chunks the documents itself)"
            };
            if kb.chunking.is_some() {
                refuse(v, "chunking", why);
            }
            if vs.embeds_itself() {
                for (key, given) in
                    [("embedding_model", kb.embedding_model.is_some()), ("dimensions", kb.dimensions.is_some())]
                {
                    if given {
                        refuse(v, key, why);
                    }
                }
                return (None, None);
            }
        }
        let Some(model_id) = &kb.embedding_model else {
            v.fail(&["knowledge_base"], None, "needs `embedding_model`".into());
            return (None, None);
        };
        let model = catalog.embedding_model(model_id);
        match model {
            None => v.fail(
                &["knowledge_base", "embedding_model"],
                Some(q(model_id)),
                format!("not a supported embedding model; allowed: {}", catalog.embedding_model_ids().join(", ")),
            ),
            Some(m) => {
                if !target.skip_region_check && !m.offered_in(&target.region) {
                    v.fail(
                    &["knowledge_base", "embedding_model"],
                    Some(q(model_id)),
                    format!(
                        "not offered in {} according to ragstack's region table ({}); offered in: {}. \
                         Choose another model or region, or pass --skip-region-check if AWS has launched it there since",
                        target.region,
                        catalog.sources.embedding_models,
                        m.regions.join(", ")
                    ),
                );
                }
                match kb.dimensions {
                    Some(d) if !m.dimensions.iter().any(|x| i64::from(*x) == d) => {
                        let allowed: Vec<String> = m.dimensions.iter().map(u32::to_string).collect();
                        v.fail(
                            &["knowledge_base", "dimensions"],
                            Some(d.to_string()),
                            format!("not offered by {}; allowed: {}", m.id, allowed.join(", ")),
                        );
                    }
                    Some(_) => {}
                    None => v.fail(&["knowledge_base"], None, "needs `dimensions`".into()),
                }
            }
        }
        if vs.kind == StoreKind::Managed {
            return (model, None);
        }
        let Some(settings) = &kb.chunking else {
            v.fail(&["knowledge_base"], None, "needs `[knowledge_base.chunking]`".into());
            return (model, None);
        };
        let max_tokens_limit = model.map_or(8192, |m| i64::from(m.max_input_tokens));
        let chunking = v.chunking(settings, max_tokens_limit, model_id);
        (model, chunking)
    }

    pub fn data_sources(&mut self, file: &EnvironmentFile) {
        let v = self;
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
                v.fail_at(
                    at("name"),
                    Some(q(&ds.name)),
                    "data source names must be unique within the environment".into(),
                );
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
    }

    pub fn lambda(&mut self, file: &EnvironmentFile) {
        let v = self;
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
            v.fail(&["lambda", "generation_model"], Some(q(&l.generation_model)), "expected a Bedrock model id such as amazon.nova-micro-v1:0 or an inference profile id such as us.anthropic.claude-haiku-4-5-20251001-v1:0 (`ragstack models REGION` lists them)".into());
        }
        // 0 is valid for Lambda but stops every invocation: never what a user of this key means.
        if let Some(n) = l.reserved_concurrency {
            v.range(
                &["lambda", "reserved_concurrency"],
                n,
                1,
                i32::MAX as i64,
                "concurrent executions (leave the key out to use the account's shared pool; the account's \
                 unreserved concurrency is checked before deploy)",
            );
        }
    }

    pub fn api(&mut self, file: &EnvironmentFile) {
        let v = self;
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
        for (n, cidr) in a.allowed_source_cidrs.iter().enumerate() {
            if let Some(why) = cidr_problem(cidr) {
                let path = vec![Seg::Key("api".into()), Seg::Key("allowed_source_cidrs".into()), Seg::Index(n)];
                v.fail_at(path, Some(q(cidr)), why);
            }
        }
        match (a.auth, a.daily_quota) {
            (ApiAuth::ApiKey, None) => v.fail(
                &["api", "daily_quota"],
                None,
                "required with auth = \"api_key\": the requests per day the API key may make".into(),
            ),
            (ApiAuth::None, Some(n)) => v.fail(
                &["api", "daily_quota"],
                Some(n.to_string()),
                "a quota applies to an API key: set auth = \"api_key\", or remove daily_quota".into(),
            ),
            (ApiAuth::ApiKey, Some(n)) => {
                // QuotaSettings.limit is an Integer in API Gateway's API model.
                v.range(&["api", "daily_quota"], n, 1, i32::MAX as i64, "requests per day");
            }
            (ApiAuth::None, None) => {}
        }
    }

    /// `[retrieval]`: limits from botocore's bedrock-agent-runtime model (shapes
    /// KnowledgeBaseVectorSearchConfigurationNumberOfResultsInteger, TextPromptTemplate,
    /// GuardrailConfiguration*, Temperature, MaxTokens). Returns the prompt template's text.
    pub fn retrieval(&mut self, file: &EnvironmentFile, source: &EnvironmentSource) -> Option<String> {
        let v = self;
        let r = &file.retrieval;
        if let Some(n) = r.number_of_results {
            v.range(&["retrieval", "number_of_results"], n, 1, 100, "chunks retrieved per question");
        }
        if let Some(t) = r.temperature
            && !(0.0..=1.0).contains(&t)
        {
            v.fail(&["retrieval", "temperature"], Some(t.to_string()), "out of range; allowed: 0 to 1".into());
        }
        // The answer's length is bounded by the generation model's output limit (its model card,
        // recorded in the catalog) and by the API model (TextInferenceConfig maxTokens: 65536).
        if let Some(n) = r.max_tokens {
            let model = &file.lambda.generation_model;
            match Catalog::get().generation_model(model) {
                Some(m) => {
                    let unit = format!(
                        "tokens per answer ({model} writes at most {} tokens: {})",
                        m.max_output_tokens, m.source
                    );
                    v.range(&["retrieval", "max_tokens"], n, 1, i64::from(m.max_output_tokens), &unit);
                }
                None => {
                    if v.range(&["retrieval", "max_tokens"], n, 1, 65536, "tokens per answer") {
                        v.warnings.push(format!(
                            "{}: retrieval.max_tokens = {n}: ragstack does not know the output limit of \
                             lambda.generation_model = \"{model}\", so it is not checked against it (its model \
                             card in the Bedrock User Guide gives it)",
                            source.display
                        ));
                    }
                }
            }
        }
        match (&r.guardrail_id, &r.guardrail_version) {
            (Some(id), Some(version)) => {
                if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
                    v.fail(
                        &["retrieval", "guardrail_id"],
                        Some(q(id)),
                        "a guardrail id is 1-64 lowercase letters and digits (the id, not the ARN)".into(),
                    );
                }
                // GuardrailConfiguration.guardrailVersion: 1-5 characters, ^(([1-9][0-9]{0,7})|(DRAFT))$
                // (botocore bedrock-agent-runtime).
                let numbered = !version.is_empty()
                    && version.len() <= 5
                    && !version.starts_with('0')
                    && version.bytes().all(|b| b.is_ascii_digit());
                if !(numbered || version == "DRAFT") {
                    v.fail(
                        &["retrieval", "guardrail_version"],
                        Some(q(version)),
                        "allowed: a version number from 1 to 99999, or DRAFT".into(),
                    );
                }
            }
            (Some(_), None) => v.fail(
                &["retrieval", "guardrail_version"],
                None,
                "required with guardrail_id: a number or DRAFT".into(),
            ),
            (None, Some(version)) => v.fail(
                &["retrieval", "guardrail_id"],
                Some(q(version)),
                "guardrail_version needs guardrail_id (the guardrail's id)".into(),
            ),
            (None, None) => {}
        }
        let path = r.prompt_template.as_ref()?;
        let key = ["retrieval", "prompt_template"];
        let Some(dir) = &source.dir else {
            v.fail(&key, Some(q(path)), "a built-in environment cannot name a file: copy it into environments/".into());
            return None;
        };
        let text = match std::fs::read_to_string(dir.join(path)) {
            Ok(text) => text,
            Err(e) => {
                let message = format!(
                    "cannot read {} ({e}); the path is relative to the environment file",
                    dir.join(path).display()
                );
                v.fail(&key, Some(q(path)), message);
                return None;
            }
        };
        let chars = text.chars().count();
        if text.trim().is_empty() || chars > PROMPT_TEMPLATE_MAX_CHARS {
            let message =
                format!("the template has {chars} characters; Bedrock allows 1 to {PROMPT_TEMPLATE_MAX_CHARS}");
            v.fail(&key, Some(q(path)), message);
        } else if !text.contains(SEARCH_RESULTS) {
            v.fail(
                &key,
                Some(q(path)),
                format!(
                    "the template does not contain {SEARCH_RESULTS}, where Bedrock puts the retrieved passages: \
                     without it answers ignore the documents"
                ),
            );
        }
        Some(text)
    }

    /// `[eval]`: thresholds between 0 and 1, and the question set's path.
    pub fn eval(&mut self, file: &EnvironmentFile, source: &EnvironmentSource) -> Option<std::path::PathBuf> {
        let e = &file.eval;
        for (key, value) in [("min_recall", e.min_recall), ("min_mrr", e.min_mrr), ("max_drop", e.max_drop)] {
            if let Some(x) = value.filter(|x| !(0.0..=1.0).contains(x)) {
                self.fail(&["eval", key], Some(x.to_string()), "a fraction from 0 to 1".into());
            }
        }
        let path = e.questions.as_ref()?;
        let key = ["eval", "questions"];
        let Some(dir) = &source.dir else {
            self.fail(
                &key,
                Some(q(path)),
                "a built-in environment cannot name a file: copy it into environments/".into(),
            );
            return None;
        };
        // Read and checked by the commands that use it (eval, a blue/green deploy), before their
        // first AWS call: a moved set must not stop teardown or status.
        Some(dir.join(path))
    }

    pub fn logs(&mut self, file: &EnvironmentFile) {
        let days = file.logs.retention_days;
        if !LOG_RETENTION_DAYS.contains(&days) {
            let allowed: Vec<String> = LOG_RETENTION_DAYS.iter().map(i64::to_string).collect();
            self.fail(
                &["logs", "retention_days"],
                Some(days.to_string()),
                format!("not a retention CloudWatch Logs accepts; allowed: {} (days)", allowed.join(", ")),
            );
        }
    }

    /// `[sync]`: the schedule's syntax (`schedule.rs`). `on_change` turns on the EventBridge
    /// notifications of the documents bucket, which ragstack may do only to the bucket it owns.
    pub fn sync(&mut self, file: &EnvironmentFile) {
        if let Some(s) = &file.sync.schedule
            && let Some(why) = super::schedule::problem(s)
        {
            self.fail(&["sync", "schedule"], Some(q(s)), why);
        }
        if file.sync.trigger == SyncTrigger::OnChange {
            for ds in &file.data_sources {
                if let Some(bucket) = &ds.bucket {
                    self.fail(
                        &["sync", "trigger"],
                        Some(q("on_change")),
                        format!(
                            "data source `{}` reads bucket {bucket}, which ragstack does not own and whose \
                             notifications it does not change; allowed: \"manual\" (with a `schedule`), or \
                             leave out that data source's `bucket` to use the documents bucket",
                            ds.name
                        ),
                    );
                }
            }
        }
    }

    /// The names derived from prefix, environment, region and account, each checked against AWS's rules.
    pub fn names(&mut self, file: &EnvironmentFile, source: &EnvironmentSource, target: &Target) -> Names {
        let v = self;
        let account = target.account.clone().unwrap_or_else(|| naming::PLACEHOLDER_ACCOUNT.into());
        let vs = &file.vector_store;
        let names = Names::derive(
            &file.prefix,
            &source.name,
            &target.region,
            &account,
            vs.index_name(),
            vs.vector_bucket.as_deref(),
        );
        if prefix_ok(&file.prefix) {
            let mut problems = names.problems();
            // The vector bucket's own rule when it is named after the environment.
            if file.vector_store.kind == StoreKind::S3Vectors
                && file.vector_store.vector_bucket.is_none()
                && let Some(rule) = naming::vector_bucket_rule(&names.vector_bucket)
            {
                problems.push(naming::NameProblem {
                    what: "S3 vector bucket",
                    name: names.vector_bucket.clone(),
                    rule,
                });
            }
            for p in problems {
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

        names
    }
}

fn prefix_ok(prefix: &str) -> bool {
    environment_name_rule(prefix).is_none()
}

fn tag_char(c: char) -> bool {
    c.is_alphanumeric() || " _.:/=+-@".contains(c)
}

/// Why `cidr` is not a CIDR an IAM `IpAddress` condition takes (IPv4 or IPv6, "203.0.113.0/24";
/// a bare address means /32 or /128), or None.
fn cidr_problem(cidr: &str) -> Option<String> {
    let hint = "expected an IPv4 or IPv6 network such as 203.0.113.0/24 or 2001:db8::/32";
    if !cidr.contains('/') {
        return match cidr.parse::<std::net::IpAddr>() {
            Ok(_) => None,
            Err(_) => Some(format!("not an IP address or network; {hint}")),
        };
    }
    match cidr.parse::<ipnet::IpNet>() {
        Err(_) => Some(format!("not a CIDR; {hint}")),
        Ok(net) if net.trunc() != net => {
            Some(format!("host bits are set after the prefix; the network is {}", net.trunc()))
        }
        Ok(_) => None,
    }
}

/// Bedrock's placeholder for the retrieved passages in a knowledge base prompt template.
const SEARCH_RESULTS: &str = "$search_results$";
/// botocore's bedrock-agent-runtime model, shape TextPromptTemplate: max 4000.
const PROMPT_TEMPLATE_MAX_CHARS: usize = 4000;

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

/// The validated chunking: exactly the parameters of the chosen strategy.
fn resolved(c: &ChunkingSettings) -> Chunking {
    let get = |v: Option<i64>| v.unwrap_or_default();
    let u = |v: Option<i64>| get(v) as u32;
    match c.strategy {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kms_region() {
        assert_eq!(kms_key_region("arn:aws:kms:eu-west-1:123456789012:key/abcd"), Some("eu-west-1"));
        assert_eq!(kms_key_region("arn:aws:kms:eu-west-1:123:key/abcd"), None);
        assert_eq!(kms_key_region("alias/x"), None);
    }
}
