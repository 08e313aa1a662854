//! What an environment's vector store costs while idle (the monthly floor) and per active hour at
//! its minimum, from the prices in `src/prices.toml` (with their sources and dates).
//!
//! OpenSearch Serverless bills compute in OCU-hours. A Classic collection keeps at least 0.5 OCU
//! for indexing and 0.5 for search, doubled with standby replicas ("Managing capacity limits for
//! Amazon OpenSearch Serverless": "minimum 1 OCU [0.5 OCU x 2] for indexing and 1 OCU [0.5 OCU x 2]
//! for search" with redundancy, 0.5 each without). A NextGen collection group keeps its minimum
//! OCUs, and with minimums of 0 scales to zero after 10 idle minutes ("Scale to zero for Amazon
//! OpenSearch Serverless"); woken, it runs "two search workers" and "one indexing worker" (the same
//! page), counted here as one OCU each: our reading, AWS names workers, not OCUs.

use crate::config::{Capacity, Environment, Generation, StoreKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::OnceLock;

#[derive(Debug, Deserialize)]
struct Prices {
    sources: BTreeMap<String, String>,
    opensearch_serverless: OpenSearchPrices,
    generation_per_million_tokens: BTreeMap<String, [f64; 2]>,
}

#[derive(Debug, Deserialize)]
struct OpenSearchPrices {
    hours_per_month: f64,
    ocu_hour: BTreeMap<String, f64>,
}

fn prices() -> &'static Prices {
    static PRICES: OnceLock<Prices> = OnceLock::new();
    PRICES.get_or_init(|| toml::from_str(include_str!("prices.toml")).expect("src/prices.toml is valid (tested)"))
}

/// The vector store's cost figures for one environment.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Floor {
    pub generation: &'static str,
    /// OCUs billed while idle.
    pub idle_ocu: f64,
    /// OCUs billed per hour while awake, at the minimum.
    pub active_ocu: f64,
    /// USD per OCU-hour in the region, when known.
    pub ocu_hour_usd: Option<f64>,
    /// USD a month while idle, when the price is known.
    pub monthly_floor_usd: Option<f64>,
    /// USD per active hour at the minimum, when the price is known.
    pub active_hour_usd: Option<f64>,
    pub basis: String,
    pub source: String,
}

/// USD for `input` and `output` tokens of the generation model `model` (a model id or an inference
/// profile id), when its price is known.
pub fn generation_usd(model: &str, input: f64, output: f64) -> Option<f64> {
    let base = ["us.", "eu.", "apac.", "global."].iter().find_map(|p| model.strip_prefix(p)).unwrap_or(model);
    let [per_input, per_output] = prices().generation_per_million_tokens.get(base)?;
    Some((input * per_input + output * per_output) / 1_000_000.0)
}

fn cents(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

pub fn floor(env: &Environment) -> Floor {
    let vs = &env.file.vector_store;
    // Stores without compute of ours: nothing billed by the hour.
    let no_compute = |generation, month: Option<f64>, basis: &str, source: String| Floor {
        generation,
        idle_ocu: 0.0,
        active_ocu: 0.0,
        ocu_hour_usd: None,
        monthly_floor_usd: month,
        active_hour_usd: month,
        basis: basis.into(),
        source,
    };
    match vs.kind {
        // Storage, writes and queries are billed as used.
        StoreKind::S3Vectors => {
            return no_compute(
                "S3_VECTORS",
                Some(0.0),
                "S3 Vectors: no compute while idle; the vectors stored (per GB-month), writes and queries are \
                 billed as used, not counted here",
                prices().sources.get("s3_vectors").cloned().unwrap_or_default(),
            );
        }
        // Bedrock keeps the vectors; what it bills for them while idle was not found.
        StoreKind::Managed => {
            return no_compute(
                "MANAGED",
                None,
                "a Bedrock-managed knowledge base: ragstack runs no vector store of its own; Bedrock's price for \
                 managed storage and search was not found, so the floor is unknown",
                String::new(),
            );
        }
        StoreKind::Opensearch => {}
    }
    let (idle_ocu, active_ocu, basis) = match vs.generation() {
        Generation::Classic => {
            let ocu = if vs.standby_replicas() { 2.0 } else { 1.0 };
            let why = if vs.standby_replicas() { "with standby replicas" } else { "without standby replicas" };
            (ocu, ocu, format!("Classic collection: at least {ocu} OCU {why}, around the clock"))
        }
        Generation::Nextgen => {
            let c = vs.capacity.unwrap_or(Capacity::DEFAULT);
            let idle = c.min_indexing_ocu + c.min_search_ocu;
            let active = c.min_indexing_ocu.max(1.0) + c.min_search_ocu.max(2.0);
            let basis = if idle == 0.0 {
                "NextGen collection group with minimums of 0: scales to zero after 10 idle minutes".to_string()
            } else {
                format!(
                    "NextGen collection group: its minimums, {} OCU indexing and {} OCU search, around the clock",
                    c.min_indexing_ocu, c.min_search_ocu
                )
            };
            (idle, active, basis)
        }
    };
    let p = prices();
    let price = p.opensearch_serverless.ocu_hour.get(env.region()).copied();
    let hours = p.opensearch_serverless.hours_per_month;
    Floor {
        generation: vs.generation().as_api(),
        idle_ocu,
        active_ocu,
        ocu_hour_usd: price,
        monthly_floor_usd: price.map(|usd| cents(idle_ocu * usd * hours)),
        active_hour_usd: price.map(|usd| cents(active_ocu * usd)),
        basis,
        source: p.sources.get("opensearch_serverless").cloned().unwrap_or_default(),
    }
}

impl Floor {
    /// `monthly floor: $175.20 (...)`, or the price being unknown for the region.
    pub fn line(&self, region: &str) -> String {
        match self.generation {
            "S3_VECTORS" => return format!("monthly floor of the vector store: $0.00 while idle ({})", self.basis),
            "MANAGED" => return format!("monthly floor of the vector store: unknown ({})", self.basis),
            _ => {}
        }
        match (self.monthly_floor_usd, self.active_hour_usd, self.ocu_hour_usd) {
            (Some(month), Some(hour), Some(price)) => format!(
                "monthly floor of the vector store: ${month:.2} while idle; ${hour:.2} per active hour at its minimum \
                 ({}; ${price} per OCU-hour in {region}, src/prices.toml)",
                self.basis
            ),
            _ => format!(
                "monthly floor of the vector store: {} OCU while idle ({}); the price is unknown for {region} \
                 (src/prices.toml has none)",
                self.idle_ocu, self.basis
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_price_file_parses_and_names_its_sources() {
        let p = prices();
        assert!(p.sources["opensearch_serverless"].contains("read 2026"));
        assert_eq!(p.opensearch_serverless.ocu_hour["us-east-1"], 0.24);
        assert_eq!(cents(1.0 * 0.24 * 730.0), 175.2);
    }
}
