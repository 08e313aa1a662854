//! `ragstack eval ENV [REGION]`: how well the environment's knowledge base finds the documents
//! that answer a question set (`config::questions`). Each question goes to Bedrock's Retrieve
//! directly (not through the API), and with `--generate` to RetrieveAndGenerate with the
//! environment's generation model, as the query function asks it.
//!
//! Per case and in total: recall@k (the share of the expected sources found among the k results),
//! the reciprocal rank of the first result from an expected source (its mean is MRR), the phrases
//! found (in the answer with `--generate`, else in the retrieved passages) and the latency of each
//! call (p50 and p95 by nearest rank). With `--generate`, the tokens are estimated from characters
//! (RetrieveAndGenerate reports no usage; about 4 characters a token for English) and priced from
//! `src/prices.toml`. `--min-recall` / `--min-mrr` (or `[eval]` in the file) make a shortfall exit 1.

use crate::aws::{aws, to_document};
use crate::config::questions::{self, Case, QuestionSet};
use crate::context::TargetArgs;
use crate::error::{Error, ExitStatus, Result};
use crate::output::Mode;
use crate::resources::{Ctx, knowledge_base};
use aws_sdk_bedrockagentruntime::types::{
    FilterAttribute, KnowledgeBaseQuery, KnowledgeBaseRetrievalConfiguration,
    KnowledgeBaseRetrieveAndGenerateConfiguration, KnowledgeBaseVectorSearchConfiguration, ManagedSearchConfiguration,
    RetrievalFilter, RetrieveAndGenerateConfiguration, RetrieveAndGenerateInput, RetrieveAndGenerateType, SearchType,
};
use clap::Args;
use serde::Serialize;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Bedrock's default number of results ("By default, Amazon Bedrock returns up to five results",
/// User Guide, "Configure and customize queries and response generation").
const DEFAULT_K: u32 = 5;
/// Characters per token for the estimate: the usual rule of thumb for English text.
const CHARS_PER_TOKEN: f64 = 4.0;

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The question set: TOML ([[case]] tables) or JSON Lines (.jsonl) [default: the environment
    /// file's eval.questions]
    #[arg(long, value_name = "FILE")]
    pub questions: Option<PathBuf>,
    /// Also generate each answer with the environment's generation model (RetrieveAndGenerate):
    /// phrases are then looked for in the answer, and tokens and their cost are estimated
    #[arg(long)]
    pub generate: bool,
    /// Results retrieved per question, 1-100 [default: retrieval.number_of_results, else 5]
    #[arg(long, short = 'k', value_name = "K", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub k: Option<u32>,
    /// Exit 1 when the mean recall@k is below X (0-1) [default: eval.min_recall]
    #[arg(long, value_name = "X", value_parser = fraction)]
    pub min_recall: Option<f64>,
    /// Exit 1 when the mean reciprocal rank is below Y (0-1) [default: eval.min_mrr]
    #[arg(long, value_name = "Y", value_parser = fraction)]
    pub min_mrr: Option<f64>,
    /// Evaluate this knowledge base instead of the serving one: its id, or during a blue/green
    /// change `old` or `new` (the generation being replaced, or the one replacing it)
    #[arg(long, value_name = "ID|old|new", value_parser = knowledge_base_id)]
    pub kb: Option<String>,
}

fn fraction(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err("a fraction from 0 to 1, e.g. 0.8".into()),
    }
}

/// KnowledgeBaseId: up to 10 letters and digits (botocore's bedrock-agent-runtime model); Bedrock
/// assigns exactly 10.
fn knowledge_base_id(s: &str) -> std::result::Result<String, String> {
    if s == "old" || s == "new" || s.len() == 10 && s.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(s.to_string())
    } else {
        Err("old, new, or a knowledge base id: 10 letters and digits, e.g. ABCDEFGHIJ (ragstack status shows it)"
            .into())
    }
}

impl EvalArgs {
    /// The question set's path: the flag, else the environment file's.
    fn questions_path(&self, env: &crate::config::Environment) -> Result<PathBuf> {
        self.questions.clone().or_else(|| env.eval_questions.clone()).ok_or_else(|| {
            Error::usage(
                "no question set: pass --questions FILE, or set questions in the environment file's [eval]",
                Some("tests/acceptance/questions.toml is an example for the sample corpus".to_string()),
            )
        })
    }

    /// Reads and checks the question set, before any AWS call.
    pub fn load(&self, env: &crate::config::Environment) -> Result<QuestionSet> {
        questions::load(&self.questions_path(env)?, self.generate)
    }
}

/// One retrieved passage.
#[derive(Debug, Clone, Serialize)]
struct Passage {
    uri: String,
    score: Option<f64>,
    #[serde(skip)]
    text: String,
}

#[derive(Debug, Serialize)]
struct CaseResult {
    question: String,
    sources: Ranks,
    recall: Option<f64>,
    reciprocal_rank: Option<f64>,
    phrases_found: Vec<String>,
    phrases_missing: Vec<String>,
    retrieve_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    generate_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    answer: Option<String>,
    retrieved: Vec<Passage>,
    #[serde(skip)]
    input_chars: usize,
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
type Ranks = Vec<(String, Option<usize>)>;

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

async fn run_case(ctx: &Ctx, kb: &str, k: u32, case: &Case, generate: bool) -> Result<CaseResult> {
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

fn totals(ctx: &Ctx, results: &[CaseResult], generate: bool) -> Totals {
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

fn two(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{v:.2}"))
}

fn row(n: usize, r: &CaseResult) -> String {
    let phrases = r.phrases_found.len() + r.phrases_missing.len();
    let phrases = if phrases == 0 { "-".to_string() } else { format!("{}/{phrases}", r.phrases_found.len()) };
    let mut line = format!(
        "{n:>3}  {:>6}  {:>5}  {phrases:>7}  {:>6.0}  {}",
        two(r.recall),
        two(r.reciprocal_rank),
        r.retrieve_ms + r.generate_ms.unwrap_or(0.0),
        r.question
    );
    let missed: Vec<String> = r.sources.iter().filter(|(_, rank)| rank.is_none()).map(|(s, _)| s.clone()).collect();
    if !missed.is_empty() {
        line += &format!("\n{:16}not among the {} results: {}", "", r.retrieved.len(), missed.join(", "));
    }
    if !r.phrases_missing.is_empty() {
        let quoted: Vec<String> = r.phrases_missing.iter().map(|p| format!("{p:?}")).collect();
        let whereabouts = if r.answer.is_some() { "the answer" } else { "the passages" };
        line += &format!("\n{:16}not in {whereabouts}: {}", "", quoted.join(", "));
    }
    line
}

/// The knowledge base to evaluate: `--kb`, else the environment's (exit 1 when it has none).
async fn target_knowledge_base(ctx: &Ctx, args: &EvalArgs) -> Result<String> {
    // During a blue/green change, `old` and `new` name its two generations.
    let other = ctx.env.other_generation.as_ref();
    let serving = ctx.env.names.generation;
    match args.kb.as_deref() {
        Some("old") | Some("new") if other.is_none() => {
            ctx.report.note("no blue/green change under way: evaluating the serving knowledge base");
        }
        Some("new") if other.is_some_and(|o| o.number > serving) => {
            return Ok(other.map(|o| o.knowledge_base_id.clone()).unwrap_or_default());
        }
        Some("old") if other.is_some_and(|o| o.number < serving) => {
            return Ok(other.map(|o| o.knowledge_base_id.clone()).unwrap_or_default());
        }
        Some("old") | Some("new") | None => {}
        Some(id) => return Ok(id.to_string()),
    }
    let name = &ctx.env.names.knowledge_base;
    let found =
        knowledge_base::find(ctx, name).await.map_err(|e| Error::aws(format!("find knowledge base {name}"), e))?;
    found.map(|(id, _)| id).ok_or_else(|| Error::Incomplete {
        message: format!("environment {} has no knowledge base in {}", ctx.env.name, ctx.env.region()),
        help: Some(format!("deploy it first: ragstack deploy {} {}", ctx.env.name, ctx.env.region())),
    })
}

/// The results per question, as `ragstack eval` (without `--generate`) would report them.
fn default_k(ctx: &Ctx, k: Option<u32>) -> u32 {
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

/// The command, on a connected context (`cli` connects it: blue/green, which `session` uses,
/// measures with this module, so it cannot use `session` itself).
pub async fn run(ctx: &Ctx, args: &EvalArgs) -> Result<ExitStatus> {
    let set = args.load(&ctx.env)?;
    let kb = target_knowledge_base(ctx, args).await?;
    let k = default_k(ctx, args.k);
    let json_out = ctx.report.mode() == Mode::Json;
    let total = set.cases.len();
    if !json_out {
        println!(
            "eval {} ({}): knowledge base {kb}, {total} question{} from {}, {k} results each{}",
            ctx.env.name,
            ctx.env.region(),
            if total == 1 { "" } else { "s" },
            display(&set.file),
            if args.generate { ", answers generated" } else { "" }
        );
        println!("  #  recall     RR  phrases      ms  question");
    }
    let mut results = Vec::with_capacity(total);
    for (n, case) in set.cases.iter().enumerate() {
        let r = run_case(ctx, &kb, k, case, args.generate).await?;
        // Each row as soon as its case is done: the progress of a long set (with --json, one
        // document at the end).
        if !json_out {
            println!("{}", row(n + 1, &r));
            let _ = std::io::stdout().flush();
        }
        results.push(r);
    }
    let t = totals(ctx, &results, args.generate);
    let min_recall = args.min_recall.or(ctx.env.file.eval.min_recall);
    let min_mrr = args.min_mrr.or(ctx.env.file.eval.min_mrr);
    let shortfalls: Vec<String> = [("recall@k", t.recall, min_recall), ("MRR", t.mrr, min_mrr)]
        .iter()
        .filter_map(|(what, got, min)| {
            let min = (*min)?;
            (got.unwrap_or(0.0) < min).then(|| format!("{what} {} is below {min:.2}", two(*got)))
        })
        .collect();
    if json_out {
        let v = json!({
            "environment": ctx.env.name,
            "region": ctx.env.region(),
            "knowledge_base_id": kb,
            "questions": set.file,
            "k": k,
            "cases": results,
            "total": t,
            "thresholds": {"min_recall": min_recall, "min_mrr": min_mrr, "passed": shortfalls.is_empty()},
        });
        println!("{}", serde_json::to_string_pretty(&v).expect("JSON serializes"));
    } else {
        let mut line = format!(
            "total: recall@{k} {}, MRR {}, phrases {}/{}, Retrieve p50 {} ms, p95 {} ms",
            two(t.recall),
            two(t.mrr),
            t.phrases_found,
            t.phrases,
            ms(t.retrieve_ms_p50),
            ms(t.retrieve_ms_p95)
        );
        if args.generate {
            line +=
                &format!(", RetrieveAndGenerate p50 {} ms, p95 {} ms", ms(t.generate_ms_p50), ms(t.generate_ms_p95));
        }
        println!("{line}");
        if let Some(tokens) = &t.tokens {
            let cost = tokens["cost_usd_estimated"].as_f64().map_or_else(
                || format!("no price known for {}", tokens["model"].as_str().unwrap_or("")),
                |c| format!("about ${c:.4}"),
            );
            println!(
                "tokens: about {} in and {} out (estimated from characters), {cost}",
                tokens["input_estimated"], tokens["output_estimated"]
            );
        }
        for (what, got, min) in [("recall@k", t.recall, min_recall), ("MRR", t.mrr, min_mrr)] {
            if let Some(min) = min {
                let verdict = if got.unwrap_or(0.0) < min { "below" } else { "ok" };
                println!("threshold: {what} {} against {min:.2}: {verdict}", two(got));
            }
        }
    }
    if shortfalls.is_empty() {
        Ok(ExitStatus::Success)
    } else {
        eprintln!("error: {}", shortfalls.join("; "));
        eprintln!("help: `ragstack eval --json` shows every retrieved passage's source and score, case by case");
        Ok(ExitStatus::Failed)
    }
}

fn ms(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{v:.0}"))
}

fn display(file: &str) -> String {
    Path::new(file).display().to_string()
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
