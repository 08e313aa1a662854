//! The knowledge base's settings: its embedding model, dimensions and chunking, and the data
//! sources it reads.

use super::*;

impl Validator {
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

    /// The embedding model (when supported) and the resolved chunking (when valid).
    pub fn knowledge_base(
        &mut self,
        file: &EnvironmentFile,
        target: &Target,
    ) -> (Option<&'static EmbeddingModel>, Option<Chunking>) {
        let v = self;
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
        let model = v.embedding_model(file, target, model_id);
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

    /// The embedding model, when ragstack supports it: offered in the region, with the dimensions
    /// the file gives.
    fn embedding_model(
        &mut self,
        file: &EnvironmentFile,
        target: &Target,
        model_id: &str,
    ) -> Option<&'static EmbeddingModel> {
        let (v, catalog, kb) = (self, Catalog::get(), &file.knowledge_base);
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
        model
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
