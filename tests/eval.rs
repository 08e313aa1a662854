//! `ragstack eval` against the emulator, whose Retrieve ranks the chunks actually ingested (BM25
//! over words): the figures of a small question set on the sample corpus, counted by hand; the
//! thresholds' exit 1; `[eval]` in the environment file; and bad input refused before any AWS call.

mod common;

use common::emulator::Emulator;
use common::{Workdir, run};
use serde_json::Value;

/// Three cases on the sample corpus (tests/acceptance/corpus), with what the emulator's ranking
/// gives, worked out by hand from the documents' words (stop words such as "how" and "to" aside):
/// - "When was the tower first lit?": only history.md has "tower", "first" and "lit": rank 1,
///   recall 1, reciprocal rank 1; "1871" is in that passage.
/// - "How many steps lead to the lantern room?", expecting history.md: no word of the question is
///   in history.md, so it is not returned at all: recall 0, reciprocal rank 0.
/// - The same question expecting tickets.md and history.md: tickets.md ("117 steps", "lantern
///   room") is rank 1, history.md missing: recall 1/2, reciprocal rank 1.
///
/// Totals: recall (1 + 0 + 0.5) / 3 = 0.5, MRR (1 + 0 + 1) / 3 = 0.667, phrases 1 of 1.
const QUESTIONS: &str = r#"
[[case]]
question = "When was the tower first lit?"
sources = ["history.md"]
phrases = ["1871"]

[[case]]
question = "How many steps lead to the lantern room?"
sources = ["history.md"]

[[case]]
question = "How many steps lead to the lantern room?"
sources = ["tickets.md", "history.md"]
"#;

fn deployed_with_corpus() -> (Emulator, Workdir) {
    let (emu, wd) = common::stack::dev_with_corpus();
    std::fs::write(wd.path().join("questions.toml"), QUESTIONS).unwrap();
    (emu, wd)
}

fn eval(wd: &Workdir, emu: &Emulator, extra: &[&str]) -> (i32, String, String) {
    let mut cmd = wd.ragstack_on(emu);
    cmd.args(["eval", "dev"]).args(extra);
    run(cmd)
}

#[test]
fn eval_figures_on_the_sample_corpus_are_the_hand_counted_ones() {
    let (emu, wd) = deployed_with_corpus();
    emu.clear_calls();
    let (code, out, err) = eval(&wd, &emu, &["--questions", "questions.toml", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let cases = v["cases"].as_array().unwrap();
    let figures: Vec<(f64, f64)> =
        cases.iter().map(|c| (c["recall"].as_f64().unwrap(), c["reciprocal_rank"].as_f64().unwrap())).collect();
    assert_eq!(figures, [(1.0, 1.0), (0.0, 0.0), (0.5, 1.0)], "{out}");
    assert!(cases[1]["retrieved"][0]["uri"].as_str().unwrap().ends_with("/tickets.md"), "{out}");
    assert_eq!(cases[0]["phrases_found"], serde_json::json!(["1871"]));
    assert_eq!(v["total"]["recall"], 0.5);
    assert!((v["total"]["mrr"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9, "{out}");
    assert_eq!((v["total"]["phrases_found"].as_u64(), v["total"]["phrases"].as_u64()), (Some(1), Some(1)));
    assert_eq!(v["k"], 5);
    assert!(v["total"]["retrieve_ms_p95"].as_f64().unwrap() >= v["total"]["retrieve_ms_p50"].as_f64().unwrap());

    // The text form says the same, and names what was missed.
    let (code, out, _) = eval(&wd, &emu, &["--questions", "questions.toml"]);
    assert_eq!(code, 0);
    assert!(out.contains("total: recall@5 0.50, MRR 0.67, phrases 1/1"), "{out}");
    assert!(out.contains("not among the 1 results: history.md"), "{out}");
    // Nothing but Retrieve was called, and nothing was changed.
    assert!(emu.mutating_calls().is_empty(), "{:?}", emu.mutating_calls());
}

#[test]
fn thresholds_exit_1_when_the_figures_fall_short_and_the_file_can_set_them() {
    let (emu, wd) = deployed_with_corpus();
    let (code, out, err) = eval(&wd, &emu, &["--questions", "questions.toml", "--min-recall", "0.6"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("recall@k 0.50 is below 0.60"), "{err}");
    assert!(out.contains("threshold: recall@k 0.50 against 0.60: below"), "{out}");
    let (code, _, err) = eval(&wd, &emu, &["--questions", "questions.toml", "--min-recall", "0.5", "--min-mrr", "0.6"]);
    assert_eq!(code, 0, "{err}");

    // [eval] names the set (relative to the environment file) and a threshold; the flag wins.
    let file = common::shipped("dev") + "\n[eval]\nquestions = \"../questions.toml\"\nmin_mrr = 0.7\n";
    wd.env_file("dev", &file);
    let (code, _, err) = eval(&wd, &emu, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("MRR 0.67 is below 0.70"), "{err}");
    let (code, _, err) = eval(&wd, &emu, &["--min-mrr", "0.5"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn eval_without_a_knowledge_base_says_to_deploy() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    std::fs::write(wd.path().join("questions.toml"), QUESTIONS).unwrap();
    let (code, _, err) = eval(&wd, &emu, &["--questions", "questions.toml"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("environment dev has no knowledge base in us-east-1"), "{err}");
    assert!(err.contains("ragstack deploy dev us-east-1"), "{err}");
}

#[test]
fn bad_question_sets_and_flags_are_refused_before_any_aws_call() {
    let wd = Workdir::new();
    std::fs::write(
        wd.path().join("bad.jsonl"),
        "{\"question\": \"\", \"sources\": [\"a\"]}\n{\"question\": \"x\"}\nnot json\n",
    )
    .unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--questions", "bad.jsonl"], "invalid question set bad.jsonl (3 problems)"),
        (&["--questions", "missing.toml"], "cannot read the question set missing.toml"),
        (&[], "no question set: pass --questions FILE"),
        (&["--questions", "bad.jsonl", "--min-recall", "1.5"], "a fraction from 0 to 1"),
        (&["--questions", "bad.jsonl", "-k", "0"], "0 is not in 1..=100"),
        (&["--questions", "bad.jsonl", "--kb", "kb-1"], "a knowledge base id: 10 letters and digits"),
    ];
    for (args, message) in cases {
        let mut cmd = wd.ragstack();
        cmd.args(["eval", "dev", "us-east-1"]).args(*args);
        let (code, out, err) = run(cmd);
        assert_eq!(code, 2, "{args:?}: {out}\n{err}");
        assert!(err.contains(message), "{args:?}: {message:?} in {err}");
    }
    let mut cmd = wd.ragstack();
    cmd.args(["eval", "dev", "us-east-1", "--questions", "bad.jsonl"]);
    let (_, _, err) = run(cmd);
    for part in ["line 1: question: empty", "line 2: measures nothing", "line 3: expected ident"] {
        assert!(err.contains(part), "{part:?} in {err}");
    }
    assert_eq!(wd.tripwire.hits(), 0, "no AWS call for bad input");
}

#[test]
fn a_missing_question_set_stops_only_the_commands_that_read_it() {
    let wd = Workdir::new();
    wd.env_file("dev", &(common::shipped("dev") + "\n[eval]\nquestions = \"gone.toml\"\n"));
    // Plans, status, teardown: the file is fine.
    let mut cmd = wd.ragstack();
    cmd.args(["plan", "dev", "us-east-1", "--offline"]);
    let (code, _, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    // eval and a blue/green deploy read it, before any AWS call.
    for args in [&["eval", "dev", "us-east-1"][..], &["deploy", "dev", "us-east-1", "--blue-green"]] {
        let mut cmd = wd.ragstack();
        cmd.args(args);
        let (code, _, err) = run(cmd);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("cannot read the question set") && err.contains("gone.toml"), "{err}");
    }
    assert_eq!(wd.tripwire.hits(), 0);
}
