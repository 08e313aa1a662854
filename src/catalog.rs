//! Where AWS offers what ragstack needs: OpenSearch Serverless regions, the embedding models
//! with their dimensions, input limits and regions, and the generation models with their
//! lifecycle, output limits and inference profiles. The table is data (`src/catalog.toml`) with
//! its sources and dates; this module only reads it.

use serde::Deserialize;
use std::sync::OnceLock;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub sources: Sources,
    pub opensearch_serverless: OpenSearchServerless,
    pub embedding_models: Vec<EmbeddingModel>,
    pub generation_models: Vec<GenerationModel>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    pub opensearch_serverless: String,
    pub embedding_models: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenSearchServerless {
    pub regions: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingModel {
    pub id: String,
    /// Offered output dimensions; the first is the model's default.
    pub dimensions: Vec<u32>,
    /// Whether CreateKnowledgeBase takes the output size (`dimensions`); models with one fixed
    /// size are created without it.
    #[serde(default)]
    pub dimensions_configurable: bool,
    /// Largest input the model embeds, which bounds a chunk's size.
    pub max_input_tokens: u32,
    pub regions: Vec<String>,
    /// The lifecycle the model card states, where it was read (`lifecycle_source`).
    pub lifecycle: Option<Lifecycle>,
    pub lifecycle_source: Option<String>,
}

/// A model's state in Bedrock's lifecycle (Bedrock User Guide, "Model lifecycle").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Lifecycle {
    Active,
    Legacy,
    Eol,
}

impl Lifecycle {
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Active => "ACTIVE",
            Lifecycle::Legacy => "LEGACY",
            Lifecycle::Eol => "EOL",
        }
    }
}

/// A model that writes answers, as its model card describes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerationModel {
    pub id: String,
    pub provider: String,
    /// The state in most regions; `active_in` / `legacy_in` name the exceptions.
    pub lifecycle: Lifecycle,
    /// Dates (YYYY-MM-DD) the model entered Legacy and reaches (or reached) its end of life.
    pub legacy: Option<String>,
    pub eol: Option<String>,
    #[serde(default)]
    pub active_in: Vec<String>,
    #[serde(default)]
    pub legacy_in: Vec<String>,
    /// Largest answer the model writes (`[retrieval] max_tokens` must not exceed it).
    pub max_output_tokens: u32,
    /// Whether the model is invoked by its own id in a region; otherwise only through a profile.
    pub in_region: bool,
    /// The system-defined cross-region inference profiles (`us.`, `eu.`, `global.` ...).
    pub profiles: Vec<String>,
    pub source: String,
}

impl GenerationModel {
    /// The lifecycle in `region` as of `today` (YYYY-MM-DD): EOL once the date has passed, except
    /// where the card says the model is still offered.
    pub fn lifecycle_in(&self, region: &str, today: &str) -> Lifecycle {
        if self.active_in.iter().any(|r| r == region) {
            return Lifecycle::Active;
        }
        if self.legacy_in.iter().any(|r| r == region) {
            return Lifecycle::Legacy;
        }
        match (&self.eol, self.lifecycle) {
            (Some(eol), Lifecycle::Legacy) if eol.as_str() <= today => Lifecycle::Eol,
            (_, l) => l,
        }
    }
}

impl Catalog {
    pub fn get() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG
            .get_or_init(|| toml::from_str(include_str!("catalog.toml")).expect("src/catalog.toml is valid (tested)"))
    }

    pub fn embedding_model(&self, id: &str) -> Option<&EmbeddingModel> {
        self.embedding_models.iter().find(|m| m.id == id)
    }

    /// A generation model by its id or by an inference profile id that routes to it.
    pub fn generation_model(&self, id: &str) -> Option<&GenerationModel> {
        let base = crate::naming::inference_profile_base(id).unwrap_or(id);
        self.generation_models.iter().find(|m| m.id == base)
    }

    pub fn embedding_model_ids(&self) -> Vec<&str> {
        self.embedding_models.iter().map(|m| m.id.as_str()).collect()
    }

    pub fn offers_opensearch_serverless(&self, region: &str) -> bool {
        self.opensearch_serverless.regions.iter().any(|r| r == region)
    }
}

impl EmbeddingModel {
    pub fn offered_in(&self, region: &str) -> bool {
        self.regions.iter().any(|r| r == region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_parses_and_is_consistent() {
        let c = Catalog::get();
        assert!(c.offers_opensearch_serverless("us-east-1"));
        assert!(!c.offers_opensearch_serverless("af-south-1"));
        for m in &c.embedding_models {
            assert!(!m.dimensions.is_empty(), "{} has no dimensions", m.id);
            assert!(!m.regions.is_empty(), "{} has no regions", m.id);
            for r in &m.regions {
                assert!(crate::naming::is_region_format(r), "{}: bad region {r}", m.id);
            }
        }
        assert_eq!(c.embedding_model("amazon.titan-embed-text-v2:0").unwrap().dimensions, vec![1024, 512, 256]);
        for m in &c.generation_models {
            assert!(m.max_output_tokens >= 1, "{}", m.id);
            assert!(m.in_region || !m.profiles.is_empty(), "{}: invoked how?", m.id);
            if m.lifecycle == Lifecycle::Eol {
                assert!(m.eol.is_some(), "{}: an EOL model names its date", m.id);
            }
            for d in m.legacy.iter().chain(&m.eol) {
                assert!(d.len() == 10 && d.as_bytes()[4] == b'-' && d.as_bytes()[7] == b'-', "{}: {d}", m.id);
            }
        }
        let haiku3 = c.generation_model("us.anthropic.claude-3-haiku-20240307-v1:0").unwrap();
        assert_eq!(haiku3.lifecycle_in("us-east-1", "2026-12-01"), Lifecycle::Eol);
        assert_eq!(haiku3.lifecycle_in("ca-central-1", "2026-12-01"), Lifecycle::Active);
        assert_eq!(haiku3.lifecycle_in("ap-northeast-2", "2026-12-01"), Lifecycle::Legacy);
        for m in &c.embedding_models {
            // A model with a choice of sizes must be told which; one with a single size must not.
            assert_eq!(m.dimensions_configurable, m.dimensions.len() > 1, "{}", m.id);
        }
    }
}
