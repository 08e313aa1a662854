//! Where AWS offers what ragstack needs: OpenSearch Serverless regions and the embedding models
//! with their dimensions, input limits and regions. The table is data (`src/catalog.toml`) with
//! its sources and dates; this module only reads it.

use serde::Deserialize;
use std::sync::OnceLock;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub sources: Sources,
    pub opensearch_serverless: OpenSearchServerless,
    pub embedding_models: Vec<EmbeddingModel>,
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
        for m in &c.embedding_models {
            // A model with a choice of sizes must be told which; one with a single size must not.
            assert_eq!(m.dimensions_configurable, m.dimensions.len() > 1, "{}", m.id);
        }
    }
}
