//! `ragstack plan`: online, what deploy would change (`engine::observe` and its plan, with a
//! blue/green change's words); `--offline`, the desired state of the environment (every resource
//! with its name, ARN, dependencies, key settings and rendered documents, in dependency order,
//! each declared by its kind's module, with the outputs); `--deployer-policy`, the IAM policy
//! whoever runs ragstack needs.

use crate::config::Environment;
use crate::context::{Known, TargetArgs};
use crate::deployer_policy::PolicyFormat;
use crate::error::{Error, ExitStatus, Result};
use crate::render::Templates;
use crate::resources::{self, Needs, Resource};
use crate::session::{self, Preflight, Settings};
use crate::template_vars;
use crate::{aws::Clients, engine, models, naming, preflight};
use clap::Args;
use serde::Serialize;
use serde_json::Value;
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

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Use no credentials and no network: print every resource the environment consists of
    #[arg(long)]
    pub offline: bool,
    /// Account id to derive names and ARNs with (offline, --deployer-policy); default: a
    /// placeholder offline, the credentials' account with --deployer-policy
    #[arg(long, value_name = "ID", value_parser = parse_account)]
    pub account: Option<String>,
    /// Also print every rendered document (IAM and OpenSearch Serverless policies, index mapping)
    #[arg(long)]
    pub show_documents: bool,
    /// Exit 3 when deploy would change something (0 when nothing would change)
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Print the least-privilege IAM policy whoever runs ragstack (a person or a CI role) needs
    /// for this environment, and nothing else; with --account, no AWS call is made
    #[arg(long, conflicts_with_all = ["offline", "show_documents", "detailed_exitcode"])]
    pub deployer_policy: bool,
    /// With --deployer-policy: json (one document per IAM managed policy, each within IAM's
    /// 6,144 characters) or cloudformation (those policies and a role with them attached)
    #[arg(long, value_enum, requires = "deployer_policy", value_name = "FORMAT")]
    pub format: Option<crate::deployer_policy::PolicyFormat>,
}

fn parse_account(s: &str) -> std::result::Result<String, String> {
    if naming::is_account_id(s) {
        Ok(s.to_string())
    } else {
        Err("an AWS account id is exactly 12 digits, e.g. 123456789012".into())
    }
}

/// `plan --deployer-policy`: the IAM policy whoever runs ragstack needs for the environment. The
/// account is all it needs to know (from --account, or GetCallerIdentity, which needs no permission).
async fn deployer_policy(s: &Settings, p: &PlanArgs) -> Result<ExitStatus> {
    let account = match p.account.clone() {
        Some(a) => a,
        None => {
            let (env, _) = session::prepare(s, &p.target, None).await?;
            let clients = Clients::connect(env.region(), s.profile.as_deref()).await;
            preflight::account(&clients).await.map_err(|e| {
                e.with_help(
                    "pass --account ID to print the policy without credentials (e.g. for a CI role that has none \
                     yet), or run with credentials of the target account",
                )
            })?
        }
    };
    let (env, templates) = session::prepare(s, &p.target, Some(account)).await?;
    let policy = templates.render_json(
        "iam/deployer-policy.json",
        &template_vars::variables(&env, &Known::default(), &template_vars::Assigned::default()),
    )?;
    crate::deployer_policy::print(&env, &policy, p.format.unwrap_or(PolicyFormat::Json))?;
    Ok(ExitStatus::Success)
}

pub async fn run(s: &Settings, p: &PlanArgs) -> Result<ExitStatus> {
    if p.offline {
        let (env, templates) = session::prepare(s, &p.target, p.account.clone()).await?;
        for warning in &env.warnings {
            eprintln!("warning: {warning}");
        }
        models::check_offline(&env)?;
        let d = desired(&env, &templates, &Known::default())?;
        if s.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&to_json(&d, p.show_documents)).expect("JSON value serializes")
            );
        } else {
            print!("{}", to_text(&d, p.show_documents));
        }
        return Ok(ExitStatus::Success);
    }
    if p.deployer_policy {
        return deployer_policy(s, p).await;
    }
    if p.account.is_some() {
        return Err(Error::usage(
            "--account goes with --offline or --deployer-policy: online, ragstack reads the account from your credentials",
            None,
        ));
    }
    let ctx = session::connect(s, &p.target, Preflight::PLAN, |_| Ok(())).await?;
    let observed = engine::observe(&ctx, &ctx.known().deployer_arn.unwrap_or_default()).await?;
    let note = crate::blue_green::plan_note(&ctx, &observed);
    if s.json {
        let mut v = engine::plan_json(&observed);
        v["blue_green"] = note.into();
        println!("{}", serde_json::to_string_pretty(&v).expect("JSON serializes"));
    } else {
        print!("{}", engine::plan_text(&observed));
        if let Some(note) = note {
            println!("\n{note}");
        }
    }
    // A blue/green change under way is work the next deploy does.
    let pending = observed.has_changes() || crate::blue_green::under_way(&ctx.env).is_some();
    Ok(if p.detailed_exitcode && pending { ExitStatus::ChangesPending } else { ExitStatus::Success })
}
