//! `ragstack models [REGION]`: what `models` reads from Bedrock, as a table (or `--json`) of the
//! models to put in an environment file.

use crate::aws::Clients;
use crate::catalog::{Catalog, Lifecycle};
use crate::error::{Error, ExitStatus, Result};
use crate::models::{listed, listed_profiles, may_use, today};
use crate::session::{self, Settings};
use clap::Args;
use serde_json::{Value, json};

#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// The region to list (default: AWS_REGION, AWS_DEFAULT_REGION or the profile's)
    #[arg(value_name = "REGION")]
    pub region: Option<String>,
    /// Also list the models past their end of life (LEGACY ones are always listed)
    #[arg(long)]
    pub all: bool,
}

/// `ragstack models [REGION]`: the embedding models ragstack supports and the text models, with
/// lifecycle, whether this account may use each, the output limit, and the id for the file.
pub async fn run(s: &Settings, args: &ModelsArgs) -> Result<ExitStatus> {
    let region = session::resolve_region(args.region.as_deref(), s.profile.as_deref()).await?;
    let clients = Clients::connect(&region, s.profile.as_deref()).await;
    let entries = entries(&clients, &region, args.all).await?;
    if s.json {
        let v = json!({"region": region, "models": entries});
        println!("{}", serde_json::to_string_pretty(&v).expect("JSON serializes"));
    } else {
        print_table(&region, &entries);
    }
    Ok(ExitStatus::Success)
}

/// One entry per model worth listing, with whether this account may use it.
async fn entries(clients: &Clients, region: &str, all: bool) -> Result<Vec<Value>> {
    let profiles = listed_profiles(clients).await;
    let mut rows = Vec::new();
    for embedding in [true, false] {
        let models = listed(clients, embedding).await.map_err(|e| {
            Error::aws("list Bedrock's models (bedrock:ListFoundationModels)", e)
                .with_help("allow bedrock:ListFoundationModels (resource *), or check the region")
        })?;
        for m in models {
            if embedding && Catalog::get().embedding_model(&m.id).is_none() {
                continue; // a knowledge base needs ragstack to know its dimensions
            }
            if !all && m.lifecycle == Lifecycle::Eol {
                continue;
            }
            // Provisioned-only variants (`...:0:128k`) run neither in-region on demand nor through
            // a profile: nothing to put in a file.
            if m.put_in_file(region, &profiles).is_none() {
                continue;
            }
            rows.push(m);
        }
    }
    // One availability call per model, in parallel.
    let mut tasks = tokio::task::JoinSet::new();
    for (n, m) in rows.iter().enumerate() {
        let (bedrock, id) = (clients.bedrock.clone(), m.id.clone());
        tasks.spawn(async move { (n, may_use(&bedrock, &id).await) });
    }
    let mut access = vec![None; rows.len()];
    while let Some(Ok((n, answer))) = tasks.join_next().await {
        access[n] = answer;
    }
    Ok(rows
        .iter()
        .zip(&access)
        .map(|(m, a)| {
            let catalog = Catalog::get();
            let max_output = catalog.generation_model(&m.id).map(|c| c.max_output_tokens);
            json!({
                "kind": if m.embedding { "embedding" } else { "generation" },
                "model": m.id,
                "provider": m.provider,
                "lifecycle": m.lifecycle.as_str(),
                "end_of_life": m.end_of_life,
                "account_may_use": a,
                "max_output_tokens": max_output,
                "dimensions": catalog.embedding_model(&m.id).map(|e| e.dimensions.clone()),
                "key": if m.embedding { "knowledge_base.embedding_model" } else { "lambda.generation_model" },
                "value": m.put_in_file(region, &profiles),
            })
        })
        .collect())
}

fn print_table(region: &str, entries: &[Value]) {
    println!("Bedrock models for a knowledge base in {region} (lifecycle from Bedrock, today {})", today());
    let head = ("KIND", "PUT IN THE FILE", "LIFECYCLE", "ACCESS", "MAX OUTPUT");
    println!("{:<11} {:<56} {:<26} {:<13} {}", head.0, head.1, head.2, head.3, head.4);
    for e in entries {
        let lifecycle = match e["end_of_life"].as_str() {
            Some(d) if e["lifecycle"] != "ACTIVE" => format!("{} ({d})", e["lifecycle"].as_str().unwrap_or_default()),
            _ => e["lifecycle"].as_str().unwrap_or_default().to_string(),
        };
        let access = match e["account_may_use"].as_bool() {
            Some(true) => "yes",
            Some(false) => "no: request",
            None => "unknown",
        };
        let limit = match (&e["max_output_tokens"], &e["dimensions"]) {
            (Value::Number(n), _) => format!("{n} tokens"),
            (_, Value::Array(d)) => {
                format!("{} dims", d.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("/"))
            }
            _ => "unknown".into(),
        };
        println!(
            "{:<11} {:<56} {:<26} {:<13} {}",
            e["kind"].as_str().unwrap_or_default(),
            e["value"].as_str().unwrap_or("(no inference profile known here)"),
            lifecycle,
            access,
            limit
        );
    }
    println!(
        "\nPut a model in the environment file: knowledge_base.embedding_model or lambda.generation_model. \
         \"no: request\" models need access in the Bedrock console (Model access)."
    );
}
