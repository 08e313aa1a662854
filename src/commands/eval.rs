//! `ragstack eval ENV [REGION]`: measures the environment's knowledge base against a question
//! set (`eval`) and prints a row per case as it completes, then the totals; `--min-recall` /
//! `--min-mrr` (or `[eval]` in the file) make a shortfall exit 1.

use crate::config::questions::{self, QuestionSet};
use crate::context::TargetArgs;
use crate::error::{Error, ExitStatus, Result};
use crate::eval::{CaseResult, Totals, default_k, run_case, totals};
use crate::output::Mode;
use crate::resources::{Ctx, knowledge_base};
use crate::session::{self, Preflight, Settings};
use clap::Args;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

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

/// `ragstack eval ENV [REGION]`.
pub async fn run(s: &Settings, args: &EvalArgs) -> Result<ExitStatus> {
    let ctx = &session::connect(s, &args.target, Preflight::EVAL, |env| args.load(env).map(drop)).await?;
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
        print_totals(k, &t, args.generate, min_recall, min_mrr);
    }
    if shortfalls.is_empty() {
        Ok(ExitStatus::Success)
    } else {
        eprintln!("error: {}", shortfalls.join("; "));
        eprintln!("help: `ragstack eval --json` shows every retrieved passage's source and score, case by case");
        Ok(ExitStatus::Failed)
    }
}

/// The totals, the estimated tokens and each threshold's verdict, in words.
fn print_totals(k: u32, t: &Totals, generate: bool, min_recall: Option<f64>, min_mrr: Option<f64>) {
    let mut line = format!(
        "total: recall@{k} {}, MRR {}, phrases {}/{}, Retrieve p50 {} ms, p95 {} ms",
        two(t.recall),
        two(t.mrr),
        t.phrases_found,
        t.phrases,
        ms(t.retrieve_ms_p50),
        ms(t.retrieve_ms_p95)
    );
    if generate {
        line += &format!(", RetrieveAndGenerate p50 {} ms, p95 {} ms", ms(t.generate_ms_p50), ms(t.generate_ms_p95));
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

fn ms(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{v:.0}"))
}

fn display(file: &str) -> String {
    Path::new(file).display().to_string()
}
