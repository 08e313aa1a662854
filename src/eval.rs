//! How well a knowledge base finds the documents that answer a question set
//! (`config::questions`): each question goes to Bedrock's Retrieve directly (not through the API),
//! and with `generate` to RetrieveAndGenerate with the environment's generation model, as the
//! query function asks it (`commands::eval` is the command; blue/green compares generations with
//! `measure`).
//!
//! Per case and in total: recall@k (the share of the expected sources found among the k results),
//! the reciprocal rank of the first result from an expected source (its mean is MRR), the phrases
//! found (in the answer with `generate`, else in the retrieved passages) and the latency of each
//! call (p50 and p95 by nearest rank). With `generate`, the tokens are estimated from characters
//! (RetrieveAndGenerate reports no usage; about 4 characters a token for English) and priced from
//! `src/prices.toml`.

use crate::aws::{aws, to_document};
use crate::config::questions::{Case, QuestionSet};
use crate::error::{Error, Result};
use crate::resources::Ctx;
use aws_sdk_bedrockagentruntime::types::{
    FilterAttribute, KnowledgeBaseQuery, KnowledgeBaseRetrievalConfiguration,
    KnowledgeBaseRetrieveAndGenerateConfiguration, KnowledgeBaseVectorSearchConfiguration, ManagedSearchConfiguration,
    RetrievalFilter, RetrieveAndGenerateConfiguration, RetrieveAndGenerateInput, RetrieveAndGenerateType, SearchType,
};
use serde::Serialize;
use serde_json::{Value, json};
use std::time::Instant;

/// Bedrock's default number of results ("By default, Amazon Bedrock returns up to five results",
/// User Guide, "Configure and customize queries and response generation").
const DEFAULT_K: u32 = 5;
/// Characters per token for the estimate: the usual rule of thumb for English text.
const CHARS_PER_TOKEN: f64 = 4.0;

/// One retrieved passage.
#[derive(Debug, Clone, Serialize)]
pub struct Passage {
    pub uri: String,
    score: Option<f64>,
    #[serde(skip)]
    text: String,
}

#[derive(Debug, Serialize)]
pub struct CaseResult {
    pub question: String,
    pub sources: Ranks,
    pub recall: Option<f64>,
    pub reciprocal_rank: Option<f64>,
    pub phrases_found: Vec<String>,
    pub phrases_missing: Vec<String>,
    pub retrieve_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generate_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    pub retrieved: Vec<Passage>,
    #[serde(skip)]
    pub input_chars: usize,
}

/// Whether the document at `uri` (`s3://bucket/key`) is the expected `source`: the same URI or
/// key, under it when it ends with `/`, or the same file name when it has no `/`. A URI that
/// comes percent-encoded (`Refund%20policy.pdf`) matches the key as written too.
pub fn is_source(uri: &str, source: &str) -> bool {
    let decoded = percent_encoding::percent_decode_str(uri).decode_utf8_lossy();
    matches_source(uri, source) || (decoded != uri && matches_source(&decoded, source))
}

fn matches_source(uri: &str, source: &str) -> bool {
    let key = uri.strip_prefix("s3://").and_then(|rest| rest.split_once('/')).map_or(uri, |(_, key)| key);
    let whole = if source.starts_with("s3://") { uri } else { key };
    if source.ends_with('/') {
        return whole.starts_with(source);
    }
    whole == source || (!source.contains('/') && key.rsplit('/').next() == Some(source))
}

/// Each expected source with the 1-based rank of its first result (None: not among them).
pub type Ranks = Vec<(String, Option<usize>)>;

/// The ranks, recall and reciprocal rank of a case (None without expected sources).
fn score(case: &Case, retrieved: &[Passage]) -> (Ranks, Option<f64>, Option<f64>) {
    let sources: Ranks = case
        .sources
        .iter()
        .map(|s| (s.clone(), retrieved.iter().position(|p| is_source(&p.uri, s)).map(|i| i + 1)))
        .collect();
    if sources.is_empty() {
        return (sources, None, None);
    }
    let found = sources.iter().filter(|(_, rank)| rank.is_some()).count();
    let first = sources.iter().filter_map(|(_, rank)| *rank).min();
    let recall = found as f64 / sources.len() as f64;
    (sources, Some(recall), Some(first.map_or(0.0, |r| 1.0 / r as f64)))
}

/// The case's phrases found in `haystack` and those not, ignoring case and how the words are
/// spaced or broken across lines.
fn phrases(case: &Case, haystack: &str) -> (Vec<String>, Vec<String>) {
    let plain = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    let hay = plain(haystack);
    case.phrases.iter().cloned().partition(|p| hay.contains(&plain(p)))
}

/// The nearest-rank percentile `p` (0-100) of `values`.
fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v.get(rank - 1).copied()
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = values.collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// A question filter as the SDK's RetrievalFilter (checked by `config::questions` already).
fn filter(v: &Value) -> Option<RetrievalFilter> {
    let (op, operand) = v.as_object()?.iter().next()?;
    let list = || operand.as_array().map(|l| l.iter().filter_map(filter).collect::<Vec<_>>());
    let attribute =
        || FilterAttribute::builder().key(operand["key"].as_str()?).value(to_document(&operand["value"])).build().ok();
    Some(match op.as_str() {
        "andAll" => RetrievalFilter::AndAll(list()?),
        "orAll" => RetrievalFilter::OrAll(list()?),
        "equals" => RetrievalFilter::Equals(attribute()?),
        "notEquals" => RetrievalFilter::NotEquals(attribute()?),
        "greaterThan" => RetrievalFilter::GreaterThan(attribute()?),
        "greaterThanOrEquals" => RetrievalFilter::GreaterThanOrEquals(attribute()?),
        "lessThan" => RetrievalFilter::LessThan(attribute()?),
        "lessThanOrEquals" => RetrievalFilter::LessThanOrEquals(attribute()?),
        "in" => RetrievalFilter::In(attribute()?),
        "notIn" => RetrievalFilter::NotIn(attribute()?),
        "startsWith" => RetrievalFilter::StartsWith(attribute()?),
        "listContains" => RetrievalFilter::ListContains(attribute()?),
        "stringContains" => RetrievalFilter::StringContains(attribute()?),
        _ => return None,
    })
}

/// The retrieval configuration the query function sends, with `k` results and the case's filter:
/// managedSearchConfiguration for a managed knowledge base (which refuses the vector one).
fn retrieval(ctx: &Ctx, k: u32, case: &Case) -> KnowledgeBaseRetrievalConfiguration {
    let f = case.filter.as_ref().and_then(filter);
    let config = KnowledgeBaseRetrievalConfiguration::builder();
    if ctx.env.file.vector_store.kind == crate::config::StoreKind::Managed {
        let search = ManagedSearchConfiguration::builder().number_of_results(k as i32).set_filter(f).build();
        return config.managed_search_configuration(search).build();
    }
    let search_type = ctx.env.file.retrieval.search_type.map(|t| SearchType::from(t.as_str()));
    let search = KnowledgeBaseVectorSearchConfiguration::builder()
        .number_of_results(k as i32)
        .set_override_search_type(search_type)
        .set_filter(f)
        .build();
    config.vector_search_configuration(search).build()
}

pub async fn run_case(ctx: &Ctx, kb: &str, k: u32, case: &Case, generate: bool) -> Result<CaseResult> {
    let runtime = &ctx.clients.runtime;
    let question = case.question.trim();
    let started = Instant::now();
    let out = runtime
        .retrieve()
        .knowledge_base_id(kb)
        .retrieval_query(KnowledgeBaseQuery::builder().text(question).build())
        .retrieval_configuration(retrieval(ctx, k, case))
        .send()
        .await
        .map_err(aws)
        .map_err(|e| Error::aws(format!("retrieve from knowledge base {kb}"), e))?;
    let retrieve_ms = started.elapsed().as_secs_f64() * 1000.0;
    let retrieved: Vec<Passage> =
        out.retrieval_results()
            .iter()
            .map(|r| Passage {
                uri: r.location().and_then(|l| l.s3_location()).and_then(|s| s.uri()).map_or_else(
                    || r.location().map_or("unknown", |l| l.r#type().as_str()).to_string(),
                    str::to_string,
                ),
                score: r.score(),
                text: r.content().map(|c| c.text().to_string()).unwrap_or_default(),
            })
            .collect();
    let (mut answer, mut generate_ms) = (None, None);
    if generate {
        let model = ctx.env.names.generation_model_arn(&ctx.env.file.lambda.generation_model);
        let kb_config = KnowledgeBaseRetrieveAndGenerateConfiguration::builder()
            .knowledge_base_id(kb)
            .model_arn(model)
            .retrieval_configuration(retrieval(ctx, k, case))
            .build()
            .expect("knowledge base and model are set");
        let config = RetrieveAndGenerateConfiguration::builder()
            .r#type(RetrieveAndGenerateType::KnowledgeBase)
            .knowledge_base_configuration(kb_config)
            .build()
            .expect("type is set");
        let started = Instant::now();
        let out = runtime
            .retrieve_and_generate()
            .input(RetrieveAndGenerateInput::builder().text(question).build().expect("text is set"))
            .retrieve_and_generate_configuration(config)
            .send()
            .await
            .map_err(aws)
            .map_err(|e| Error::aws(format!("retrieve and generate with knowledge base {kb}"), e))?;
        generate_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
        answer = Some(out.output().map(|o| o.text().to_string()).unwrap_or_default());
    }
    let passages: String = retrieved.iter().map(|p| p.text.as_str()).collect::<Vec<_>>().join("\n");
    let (phrases_found, phrases_missing) = phrases(case, answer.as_deref().unwrap_or(&passages));
    let (sources, recall, reciprocal_rank) = score(case, &retrieved);
    Ok(CaseResult {
        question: question.to_string(),
        sources,
        recall,
        reciprocal_rank,
        phrases_found,
        phrases_missing,
        retrieve_ms,
        generate_ms,
        answer,
        retrieved,
        input_chars: question.len() + passages.len(),
    })
}

/// What the whole set scored.
#[derive(Debug, Serialize)]
pub struct Totals {
    pub cases: usize,
    pub recall: Option<f64>,
    pub mrr: Option<f64>,
    pub phrases_found: usize,
    pub phrases: usize,
    pub retrieve_ms_p50: Option<f64>,
    pub retrieve_ms_p95: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generate_ms_p50: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generate_ms_p95: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<Value>,
}

pub fn totals(ctx: &Ctx, results: &[CaseResult], generate: bool) -> Totals {
    let retrieve: Vec<f64> = results.iter().map(|r| r.retrieve_ms).collect();
    let generated: Vec<f64> = results.iter().filter_map(|r| r.generate_ms).collect();
    let tokens = generate.then(|| {
        let estimate = |chars: usize| (chars as f64 / CHARS_PER_TOKEN).round() as u64;
        let input = estimate(results.iter().map(|r| r.input_chars).sum());
        let output = estimate(results.iter().map(|r| r.answer.as_deref().map_or(0, str::len)).sum());
        let model = &ctx.env.file.lambda.generation_model;
        let cost = crate::cost::generation_usd(model, input as f64, output as f64);
        json!({
            "model": model,
            "input_estimated": input,
            "output_estimated": output,
            "basis": "characters / 4 of the question and retrieved passages (input; Bedrock's prompt adds more) \
                      and of the answer (output): RetrieveAndGenerate reports no token usage",
            "cost_usd_estimated": cost,
        })
    });
    Totals {
        cases: results.len(),
        recall: mean(results.iter().filter_map(|r| r.recall)),
        mrr: mean(results.iter().filter_map(|r| r.reciprocal_rank)),
        phrases_found: results.iter().map(|r| r.phrases_found.len()).sum(),
        phrases: results.iter().map(|r| r.phrases_found.len() + r.phrases_missing.len()).sum(),
        retrieve_ms_p50: percentile(&retrieve, 50.0),
        retrieve_ms_p95: percentile(&retrieve, 95.0),
        generate_ms_p50: percentile(&generated, 50.0),
        generate_ms_p95: percentile(&generated, 95.0),
        tokens,
    }
}

/// The results per question, as `ragstack eval` (without `--generate`) would report them.
pub fn default_k(ctx: &Ctx, k: Option<u32>) -> u32 {
    k.or(ctx.env.file.retrieval.number_of_results.map(|n| n as u32)).unwrap_or(DEFAULT_K)
}

/// The totals of question set `set` on knowledge base `kb`, printing nothing (a blue/green
/// change compares its generations with them).
pub async fn measure(ctx: &Ctx, kb: &str, set: &QuestionSet) -> Result<Totals> {
    let k = default_k(ctx, None);
    let mut results = Vec::with_capacity(set.cases.len());
    for case in &set.cases {
        results.push(run_case(ctx, kb, k, case, false).await?);
    }
    Ok(totals(ctx, &results, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_match_by_key_prefix_uri_or_file_name() {
        let uri = "s3://docs-bucket/documents/hours/opening-hours.md";
        for yes in [
            "documents/hours/opening-hours.md",
            "documents/",
            "documents/hours/",
            "opening-hours.md",
            "s3://docs-bucket/documents/",
            uri,
        ] {
            assert!(is_source(uri, yes), "{yes}");
        }
        assert!(is_source("s3://b/manuals/Refund%20policy.pdf", "manuals/Refund policy.pdf"));
        assert!(is_source("s3://b/manuals/Refund%20policy.pdf", "Refund policy.pdf"));
        for no in ["hours/opening-hours.md", "documents/hour", "opening-hours", "s3://other/documents/", "tickets.md"] {
            assert!(!is_source(uri, no), "{no}");
        }
    }

    fn passage(uri: &str) -> Passage {
        Passage { uri: uri.into(), score: None, text: String::new() }
    }

    #[test]
    fn recall_and_reciprocal_rank_by_hand() {
        let case = Case {
            question: "q".into(),
            sources: vec!["a.md".into(), "b.md".into(), "c.md".into()],
            phrases: vec![],
            filter: None,
        };
        let retrieved =
            [passage("s3://x/d.md"), passage("s3://x/b.md"), passage("s3://x/a.md"), passage("s3://x/b.md")];
        let (ranks, recall, rr) = score(&case, &retrieved);
        // a at rank 3, b at rank 2, c missing: recall 2/3, the first hit at rank 2.
        assert_eq!(ranks, vec![("a.md".into(), Some(3)), ("b.md".into(), Some(2)), ("c.md".into(), None)]);
        assert_eq!(recall, Some(2.0 / 3.0));
        assert_eq!(rr, Some(0.5));
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(10.0));
        assert_eq!(percentile(&v, 95.0), Some(19.0));
        assert_eq!(percentile(&[7.0], 95.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
