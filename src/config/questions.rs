//! Question sets for `ragstack eval`: TOML (`[[case]]` tables) or JSON Lines (one case per line),
//! each case a question, the documents a good answer is found in (`sources`: S3 keys, key
//! prefixes ending in `/`, or file names), phrases the answer should contain and an optional
//! metadata filter in Bedrock's RetrievalFilter form. Every problem is reported at once, with the
//! file, the case and the key, before any AWS call.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// Retrieve's query text: at most 20,000 characters; RetrieveAndGenerate's input: 1,000
/// (KnowledgeBaseQueryTextString, RetrieveAndGenerateInputTextString in botocore's
/// bedrock-agent-runtime model).
pub const RETRIEVE_MAX_CHARS: usize = 20_000;
pub const GENERATE_MAX_CHARS: usize = 1_000;

/// RetrievalFilter's operators (botocore's bedrock-agent-runtime model): two combine filters
/// (RetrievalFilterList, at least 2), the rest compare one attribute (FilterAttribute: a key of 1
/// to 100 characters and a value).
const COMBINE: [&str; 2] = ["andAll", "orAll"];
const COMPARE: [&str; 11] = [
    "equals",
    "notEquals",
    "greaterThan",
    "greaterThanOrEquals",
    "lessThan",
    "lessThanOrEquals",
    "in",
    "notIn",
    "startsWith",
    "listContains",
    "stringContains",
];

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub question: String,
    /// S3 keys (`manuals/guide.pdf`), key prefixes (`manuals/`), file names (`guide.pdf`) or
    /// `s3://bucket/key` URIs.
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default)]
    pub phrases: Vec<String>,
    #[serde(default)]
    pub filter: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct QuestionSet {
    /// The file as the user named it.
    pub file: String,
    pub cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlSet {
    case: Vec<Case>,
}

/// Reads and checks the question set at `path` (`.jsonl` or `.json` lines, otherwise TOML).
/// `generate`: the questions go to RetrieveAndGenerate too, whose input is shorter.
pub fn load(path: &Path, generate: bool) -> Result<QuestionSet> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::usage(format!("cannot read the question set {file}: {e}"), help()))?;
    let jsonl = matches!(path.extension().and_then(|e| e.to_str()), Some("jsonl" | "json"));
    let mut problems = Vec::new();
    // (where the case is, the case)
    let mut cases: Vec<(String, Case)> = Vec::new();
    if jsonl {
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            match serde_json::from_str::<Case>(line) {
                Ok(c) => cases.push((format!("line {}", n + 1), c)),
                Err(e) => problems.push(format!("line {}: {}", n + 1, plain(&e.to_string()))),
            }
        }
    } else {
        match toml::from_str::<TomlSet>(&text) {
            Ok(set) => {
                let lines = case_lines(&text);
                for (n, c) in set.case.into_iter().enumerate() {
                    let at = lines.get(n).map_or(String::new(), |l| format!(" (line {l})"));
                    cases.push((format!("case {}{at}", n + 1), c));
                }
            }
            Err(e) => {
                let at = e.span().map(|s| format!("line {}: ", text[..s.start].lines().count().max(1)));
                problems.push(format!("{}{}", at.unwrap_or_default(), plain(e.message())));
            }
        }
    }
    if problems.is_empty() && cases.is_empty() {
        problems.push(if jsonl {
            "no case: one JSON object per line, {\"question\": \"...\", \"sources\": [\"...\"]}".into()
        } else {
            "no case: add [[case]] tables with question = \"...\" and sources = [\"...\"]".into()
        });
    }
    for (at, c) in &cases {
        check_case(at, c, generate, &mut problems);
    }
    if !problems.is_empty() {
        let n = problems.len();
        let list: String = problems.iter().map(|p| format!("\n  {file}: {p}")).collect();
        return Err(Error::usage(
            format!("invalid question set {file} ({n} problem{}){list}", if n == 1 { "" } else { "s" }),
            help(),
        ));
    }
    Ok(QuestionSet { file, cases: cases.into_iter().map(|(_, c)| c).collect() })
}

fn help() -> Option<String> {
    Some(
        "a case is question = \"...\", sources = [\"key\", \"prefix/\", \"file.md\"], optional phrases = [\"...\"] \
         and filter = {equals = {key = \"...\", value = ...}}; docs/deploying.md, section \"Measuring answers\""
            .into(),
    )
}

/// serde's words for a reader of the file.
fn plain(message: &str) -> String {
    message.replace("`", "").replace("i64", "an integer").trim().to_string()
}

/// The line of each `[[case]]` header, in order.
fn case_lines(text: &str) -> Vec<usize> {
    text.lines().enumerate().filter(|(_, l)| l.trim_start().starts_with("[[case]]")).map(|(n, _)| n + 1).collect()
}

fn check_case(at: &str, c: &Case, generate: bool, problems: &mut Vec<String>) {
    let chars = c.question.trim().chars().count();
    let limit = if generate { GENERATE_MAX_CHARS } else { RETRIEVE_MAX_CHARS };
    if chars == 0 {
        problems.push(format!("{at}: question: empty"));
    } else if chars > limit {
        let what = if generate { "RetrieveAndGenerate (--generate)" } else { "Retrieve" };
        problems.push(format!("{at}: question: {chars} characters; {what} accepts at most {limit}"));
    }
    if c.sources.is_empty() && c.phrases.is_empty() {
        problems.push(format!("{at}: measures nothing: give sources (the documents that answer it) or phrases"));
    }
    for (key, values) in [("sources", &c.sources), ("phrases", &c.phrases)] {
        if values.iter().any(|v| v.trim().is_empty()) {
            problems.push(format!("{at}: {key}: an empty entry"));
        }
    }
    if let Some(filter) = &c.filter {
        check_filter(&format!("{at}: filter"), filter, problems);
    }
}

/// A RetrievalFilter: an object with exactly one operator.
fn check_filter(at: &str, filter: &Value, problems: &mut Vec<String>) {
    let allowed = || [&COMBINE[..], &COMPARE[..]].concat().join(", ");
    let Some(object) = filter.as_object().filter(|o| o.len() == 1) else {
        problems.push(format!(
            "{at}: one operator, as {{equals = {{key = \"...\", value = ...}}}}; operators: {}",
            allowed()
        ));
        return;
    };
    let (op, operand) = object.iter().next().expect("one entry");
    if COMBINE.contains(&op.as_str()) {
        match operand.as_array() {
            Some(list) if list.len() >= 2 => {
                for (n, f) in list.iter().enumerate() {
                    check_filter(&format!("{at}.{op}[{n}]"), f, problems);
                }
            }
            _ => problems.push(format!("{at}.{op}: a list of at least 2 filters")),
        }
    } else if COMPARE.contains(&op.as_str()) {
        let key = operand.get("key").and_then(Value::as_str);
        let fields_ok = operand.as_object().is_some_and(|o| o.keys().all(|k| k == "key" || k == "value"));
        if !key.is_some_and(|k| (1..=100).contains(&k.chars().count())) || operand.get("value").is_none() || !fields_ok
        {
            problems.push(format!("{at}.{op}: {{key = \"...\" (1 to 100 characters), value = ...}}"));
        } else if matches!(op.as_str(), "in" | "notIn") && !operand["value"].is_array() {
            problems.push(format!("{at}.{op}.value: a list"));
        }
    } else {
        problems.push(format!("{at}: unknown operator {op}; operators: {}", allowed()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn toml_and_jsonl_sets_read_the_same() {
        let (_d, toml) = write(
            "q.toml",
            "[[case]]\nquestion = \"When?\"\nsources = [\"hours.md\"]\nfilter = { equals = { key = \"year\", value = 2026 } }\n",
        );
        let (_e, jsonl) = write(
            "q.jsonl",
            "{\"question\": \"When?\", \"sources\": [\"hours.md\"], \"filter\": {\"equals\": {\"key\": \"year\", \"value\": 2026}}}\n\n",
        );
        let (a, b) = (load(&toml, false).unwrap(), load(&jsonl, false).unwrap());
        assert_eq!(serde_json::to_value(&a.cases).unwrap(), serde_json::to_value(&b.cases).unwrap());
    }

    #[test]
    fn every_problem_is_named_with_its_case() {
        let (_d, path) = write(
            "q.toml",
            "[[case]]\nquestion = \"\"\nsources = [\"a\"]\n\n[[case]]\nquestion = \"ok\"\n\n[[case]]\nquestion = \"ok\"\n\
             phrases = [\"x\"]\nfilter = { andAll = [{ equals = { key = \"k\", value = 1 } }] }\n\n[[case]]\nquestion = \"ok\"\n\
             sources = [\"a\"]\nfilter = { near = { key = \"k\", value = 1 } }\n",
        );
        let err = load(&path, false).unwrap_err().to_string();
        for part in [
            "(4 problems)",
            "case 1 (line 1): question: empty",
            "case 2 (line 5): measures nothing",
            "case 3 (line 8): filter.andAll: a list of at least 2 filters",
            "case 4 (line 13): filter: unknown operator near; operators: andAll, orAll, equals",
        ] {
            assert!(err.contains(part), "{part:?} in:\n{err}");
        }
    }

    #[test]
    fn unknown_keys_and_long_questions_are_refused() {
        let (_d, path) = write("q.jsonl", "{\"question\": \"x\", \"sorces\": [\"a\"]}\n");
        let err = load(&path, false).unwrap_err().to_string();
        assert!(
            err.contains("line 1: unknown field sorces, expected one of question, sources, phrases, filter"),
            "{err}"
        );
        let long = format!("{{\"question\": \"{}\", \"sources\": [\"a\"]}}\n", "x".repeat(1001));
        let (_e, path) = write("q.jsonl", &long);
        assert!(load(&path, false).is_ok());
        let err = load(&path, true).unwrap_err().to_string();
        assert!(err.contains("1001 characters; RetrieveAndGenerate (--generate) accepts at most 1000"), "{err}");
    }
}
