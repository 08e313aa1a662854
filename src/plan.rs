//! The desired state of an environment as `plan --offline` shows it: every resource with its
//! name, ARN, dependencies, key settings and rendered documents, in dependency order, each
//! declared by its kind's module, with the outputs; and what deploy would change, as `plan` and
//! `deploy` print it (`changes_text`, `changes_json`). `commands::plan` is the command.

use crate::config::Environment;
use crate::context::Known;
use crate::engine::{Action, Item, Plan};
use crate::error::Result;
use crate::render::Templates;
use crate::resources::{self, Needs, Resource};
use serde::Serialize;
use serde_json::Value;
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Debug, Clone, Serialize)]
pub struct Desired {
    pub environment: String,
    pub region: String,
    pub account: String,
    pub account_is_placeholder: bool,
    pub source: String,
    pub tags: BTreeMap<String, String>,
    pub resources: Vec<Resource>,
    /// What deploy does after the resources exist.
    pub then: Vec<String>,
    pub outputs: BTreeMap<String, String>,
    /// What the vector store costs while idle and per active hour (src/prices.toml).
    pub cost: crate::cost::Floor,
}

/// Builds the desired state: every resource kind's declarations, rendered with the ids known so
/// far, in dependency order.
pub fn desired(env: &Environment, templates: &Templates, known: &Known) -> Result<Desired> {
    let n = &env.names;
    // What a setting turns off is not part of the desired state shown (deploy deletes it).
    let resources: Vec<Resource> =
        resources::desired(env, templates, known)?.into_iter().filter(|r| !r.unwanted).collect();
    let outputs = resources.iter().flat_map(|r| r.outputs.clone()).collect();
    let ingested: Vec<&str> = resources.iter().filter(|r| r.kind.ingests()).map(|r| r.name.as_str()).collect();
    Ok(Desired {
        environment: env.name.clone(),
        region: n.region.clone(),
        account: n.account.clone(),
        account_is_placeholder: !env.account_known,
        source: env.source.clone(),
        tags: env.tags(),
        then: vec![format!(
            "sync: start an ingestion job for each data source ({}) and follow it to the end",
            ingested.join(", ")
        )],
        resources,
        outputs,
        cost: crate::cost::floor(env),
    })
}

/// The human form of the plan.
pub fn to_text(d: &Desired, show_documents: bool) -> String {
    let mut s = String::new();
    let _ =
        writeln!(s, "ragstack plan (offline): environment {} in {}, account {}", d.environment, d.region, d.account);
    if d.account_is_placeholder {
        let _ = writeln!(s, "  the account is a placeholder: pass --account 123456789012 to see the real names");
    }
    let _ = writeln!(s, "  from {}", d.source);
    let tags: Vec<String> = d.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let _ = writeln!(s, "  tags on every taggable resource: {}", tags.join(", "));
    let _ = writeln!(s, "\n{} resources, in dependency order:", d.resources.len());
    let w =
        d.resources.iter().flat_map(|r| r.settings.keys().map(String::len)).chain([10]).max().unwrap_or(10).min(18) + 1;
    let label = |s: &mut String, k: &str, v: &str| {
        let _ = writeln!(s, "       {k:<w$} {v}");
    };
    for (i, r) in d.resources.iter().enumerate() {
        let _ = writeln!(s, "\n{:>3}. {}  ({})", i + 1, r.id, r.label);
        label(&mut s, "name", &r.name);
        if let Some(arn) = &r.arn {
            label(&mut s, "arn", arn);
        }
        let deps: Vec<String> = r
            .depends_on
            .iter()
            .map(|d| format!("{} ({})", d.on, if d.needs == Needs::Arn { "ARN" } else { "ready" }))
            .collect();
        label(&mut s, "depends on", &if deps.is_empty() { "-".to_string() } else { deps.join(", ") });
        for (k, v) in &r.settings {
            let shown = match v {
                Value::String(t) => t.clone(),
                other => other.to_string(),
            };
            label(&mut s, k, &shown);
        }
        if show_documents {
            for doc in &r.documents {
                let _ = writeln!(s, "       --- {}", doc.template);
                let pretty = serde_json::to_string_pretty(&doc.content).expect("JSON value serializes");
                for line in pretty.lines() {
                    let _ = writeln!(s, "       {line}");
                }
            }
        } else if !r.documents.is_empty() {
            let names: Vec<&str> = r.documents.iter().map(|d| d.template.as_str()).collect();
            label(&mut s, "documents", &format!("{} (--show-documents prints them)", names.join(", ")));
        }
    }
    let _ = writeln!(s, "\nthen:");
    for t in &d.then {
        let _ = writeln!(s, "  {t}");
    }
    let _ = writeln!(s, "\noutputs:");
    for (k, v) in &d.outputs {
        let _ = writeln!(s, "  {k:<20} {v}");
    }
    let _ = writeln!(s, "\n{}", d.cost.line(&d.region));
    s
}

/// The JSON form: the same content as one document; documents only with `--show-documents`.
pub fn to_json(d: &Desired, show_documents: bool) -> Value {
    let mut v = serde_json::to_value(d).expect("plan serializes");
    if !show_documents && let Some(resources) = v["resources"].as_array_mut() {
        for r in resources {
            if let Some(o) = r.as_object_mut() {
                o.remove("documents");
            }
        }
    }
    v
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "(none)".into(),
        other => other.to_string(),
    }
}

/// What deploy would change, as `plan` and `deploy` print it: a line per resource with the
/// changed fields (documents as a diff), then the summary and the cost.
pub fn changes_text(p: &Plan) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "ragstack plan: environment {} in {}, account {}", p.environment, p.region, p.account);
    let _ = writeln!(s, "  deploying principal: {}\n", p.deployer);
    for i in &p.items {
        item_lines(&mut s, i);
    }
    summary_lines(&mut s, p);
    s
}

/// One resource's line, and below it what is worth knowing and each change.
fn item_lines(s: &mut String, i: &Item) {
    let mut word = i.action.word().to_string();
    if i.action == Action::Update || i.action == Action::Replace {
        let fields: Vec<&str> = i.observation.changes.iter().map(|c| c.field.as_str()).collect();
        if !fields.is_empty() {
            word = format!("{word}: {}", fields.join(", "));
        }
    }
    if let Some(status) = &i.observation.status
        && i.action == Action::NoOp
    {
        word = format!("{word} ({})", status.aws);
    }
    let _ = writeln!(s, "{:<3} {:<28} {}", i.action.symbol(), i.id, word);
    if let Some(why) = &i.observation.foreign {
        let _ = writeln!(s, "      {} {}: {why}", i.kind, i.name);
    }
    if i.action == Action::Replace {
        let _ = writeln!(s, "      deletes and recreates {} {}: its documents will be re-ingested", i.kind, i.name);
    }
    if let Some(why) = &i.observation.unknown {
        let _ = writeln!(s, "      to be checked during deploy: {why}");
    }
    if i.action == Action::Update || i.action == Action::Replace {
        change_lines(s, i);
    }
}

/// Each change: `from -> to`, or a diff of documents.
fn change_lines(s: &mut String, i: &Item) {
    for c in &i.observation.changes {
        if c.from.is_object() || c.to.is_object() || c.from.is_array() && c.to.is_array() && c.field.contains("polic") {
            let a = serde_json::to_string_pretty(&c.from).unwrap_or_default() + "\n";
            let b = serde_json::to_string_pretty(&c.to).unwrap_or_default() + "\n";
            let diff = similar::TextDiff::from_lines(&a, &b);
            let _ = writeln!(s, "      {}:", c.field);
            for line in diff.unified_diff().context_radius(2).header("current", "desired").to_string().lines() {
                let _ = writeln!(s, "        {line}");
            }
        } else {
            let _ = writeln!(s, "      {}: {} -> {}", c.field, show(&c.from), show(&c.to));
        }
    }
}

/// What deploy does besides the changes, the counts, and the cost.
fn summary_lines(s: &mut String, p: &Plan) {
    for i in p.items.iter().filter(|i| i.action == Action::Delete && i.resource.kind.ingests()) {
        let documents = match i.observation.details.get("documents").and_then(|d| d.as_str()) {
            Some(at) => format!("its documents ({at}) stop being ingested"),
            None => "its documents stop being ingested".to_string(),
        };
        let _ = writeln!(
            s,
            "\ndata source {} is no longer in the environment file: {documents} \
             (deploy deletes it only with --allow-delete)",
            i.name
        );
    }
    if p.needs_ingest() {
        let _ = writeln!(s, "\nthen: ingestion for data sources that have not completed one");
    }
    let deletes = match p.count(Action::Delete) {
        0 => String::new(),
        n => format!(", {n} to delete"),
    };
    let _ = writeln!(
        s,
        "\nPlan: {} to create, {} to update, {} to replace{deletes}, {} unchanged{}.",
        p.count(Action::Create),
        p.count(Action::Update),
        p.count(Action::Replace),
        p.unchanged(),
        if p.count(Action::Foreign) > 0 {
            format!(", {} not ragstack's", p.count(Action::Foreign))
        } else {
            String::new()
        }
    );
    if !p.has_changes() {
        let _ = writeln!(s, "No changes: the environment matches {}.", p.environment);
    }
    let _ = writeln!(s, "{}", p.cost.line(&p.region));
}

/// The plan as `plan --json` prints it, with the counts.
pub fn changes_json(p: &Plan) -> Value {
    let mut v = serde_json::to_value(p).expect("plan serializes");
    v["changes_pending"] = p.has_changes().into();
    v["summary"] = json!({
        "create": p.count(Action::Create),
        "update": p.count(Action::Update),
        "replace": p.count(Action::Replace),
        "delete": p.count(Action::Delete),
        "unchanged": p.unchanged(),
        "foreign": p.count(Action::Foreign),
    });
    v
}
