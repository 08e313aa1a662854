//! Bedrock models: each model's lifecycle (ACTIVE / LEGACY / EOL) as Bedrock reports it, with the
//! catalog (`src/catalog.toml`) where Bedrock cannot say; the refusal of a model past its end of
//! life before anything is created; and `ragstack models`, the list of what a knowledge base can
//! use in a region.
//!
//! Bedrock's API model knows two states (botocore `bedrock`, FoundationModelLifecycleStatus:
//! ACTIVE, LEGACY); a model past its end of life is LEGACY with an `endOfLifeTime` in the past, or
//! answers ResourceNotFoundException "This model version has reached the end of its life." (the
//! Bedrock User Guide, "Model lifecycle (Legacy)"). Both are EOL here.

use crate::aws::{AwsError, Clients, aws};
use crate::catalog::{Catalog, Lifecycle};
use crate::config::Environment;
use crate::error::{Error, Result};
use crate::naming;
use crate::output::Reporter;
use aws_sdk_bedrock::types::{FoundationModelLifecycleStatus, InferenceType, ModelModality};
use serde::Serialize;

/// What Bedrock answers for a model past its end of life.
const EOL_ANSWER: &str = "end of its life";
/// How many replacements an EOL refusal checks and suggests.
const SUGGESTIONS: usize = 3;

/// One model an environment uses, and where it stands.
#[derive(Debug, Clone, Serialize)]
pub struct ModelState {
    /// The environment file's key that names it.
    pub key: &'static str,
    /// The id as the file has it (a model id or an inference profile id).
    pub id: String,
    /// The model id Bedrock's lifecycle is read for (the profile's model).
    pub model: String,
    pub lifecycle: Option<Lifecycle>,
    /// When the model entered, or will reach, each state (YYYY-MM-DD), where known.
    pub legacy_since: Option<String>,
    pub end_of_life: Option<String>,
    /// "bedrock" when Bedrock said so, "catalog" when ragstack's table did.
    pub according_to: &'static str,
    /// Why Bedrock could not be asked (the catalog answered instead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchecked: Option<String>,
}

impl ModelState {
    /// `ACTIVE`, `LEGACY (end of life 2027-01-15)`, `EOL (2026-09-10)`, `unknown`.
    pub fn describe(&self) -> String {
        let date = |d: &Option<String>, what: &str| d.as_ref().map(|d| format!(" ({what}{d})")).unwrap_or_default();
        match self.lifecycle {
            Some(Lifecycle::Active) => "ACTIVE".into(),
            Some(Lifecycle::Legacy) => format!("LEGACY{}", date(&self.end_of_life, "end of life ")),
            Some(Lifecycle::Eol) => format!("EOL{}", date(&self.end_of_life, "since ")),
            None => "unknown".into(),
        }
    }
}

/// Today as YYYY-MM-DD (UTC), the form the catalog's dates take.
pub fn today() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()[..10].to_string()
}

fn date_of(t: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    t.and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()).map(|s| s[..10].to_string())
}

/// The embedding model (unless Bedrock picks it) and the generation model of an environment:
/// (key, id in the file, model).
fn used(env: &Environment) -> Vec<(&'static str, String, String)> {
    let generation = &env.file.lambda.generation_model;
    let base = naming::inference_profile_base(generation).unwrap_or(generation);
    let embedding =
        env.embedding_model_id().map(|id| ("knowledge_base.embedding_model", id.to_string(), id.to_string()));
    embedding.into_iter().chain([("lambda.generation_model", generation.clone(), base.to_string())]).collect()
}

/// What the catalog says of a model in a region today.
fn from_catalog(key: &'static str, id: &str, model: &str, region: &str) -> ModelState {
    let catalog = Catalog::get();
    let (lifecycle, legacy_since, end_of_life) = match catalog.generation_model(model) {
        Some(m) => (Some(m.lifecycle_in(region, &today())), m.legacy.clone(), m.eol.clone()),
        None => (catalog.embedding_model(model).and_then(|m| m.lifecycle), None, None),
    };
    ModelState {
        key,
        id: id.into(),
        model: model.into(),
        lifecycle,
        legacy_since,
        end_of_life,
        according_to: "catalog",
        unchecked: None,
    }
}

/// Reads each model's lifecycle (bedrock:GetFoundationModel, one call per model). A model Bedrock
/// does not know at all is `lifecycle: None` with `unchecked: None`: not offered in the region.
pub async fn states(clients: &Clients, env: &Environment) -> Vec<ModelState> {
    let region = env.region();
    let mut out = Vec::new();
    for (key, id, model) in used(env) {
        let got = clients.bedrock.get_foundation_model().model_identifier(&model).send().await.map_err(aws);
        let mut state = from_catalog(key, &id, &model, region);
        match got {
            Ok(o) => {
                let lc = o.model_details().and_then(|d| d.model_lifecycle());
                state.according_to = "bedrock";
                if let Some(lc) = lc {
                    let eol = date_of(lc.end_of_life_time()).or(state.end_of_life.take());
                    let passed = eol.as_deref().is_some_and(|d| d <= today().as_str());
                    state.lifecycle = Some(match lc.status() {
                        FoundationModelLifecycleStatus::Active => Lifecycle::Active,
                        FoundationModelLifecycleStatus::Legacy if passed => Lifecycle::Eol,
                        FoundationModelLifecycleStatus::Legacy => Lifecycle::Legacy,
                        // The User Guide names a third state; the API model does not (yet).
                        other if other.as_str() == "EOL" => Lifecycle::Eol,
                        _ => state.lifecycle.unwrap_or(Lifecycle::Active),
                    });
                    state.legacy_since = date_of(lc.legacy_time()).or(state.legacy_since.take());
                    state.end_of_life = eol;
                }
            }
            Err(e) if e.is_not_found() && e.message.contains(EOL_ANSWER) => {
                state.lifecycle = Some(Lifecycle::Eol);
                state.according_to = "bedrock";
            }
            // Not offered here, unless the catalog knows it reached its end of life.
            Err(e) if e.is_not_found() || e.is("ValidationException") => {
                if state.lifecycle != Some(Lifecycle::Eol) {
                    state.lifecycle = None;
                }
            }
            Err(e) => state.unchecked = Some(format!("{} (allow bedrock:GetFoundationModel)", e.code)),
        }
        out.push(state);
    }
    out
}

/// Before deploy and plan: a model past its end of life refuses the command (exit 2), naming the
/// key and Active replacements this account can use; a Legacy model warns. Where Bedrock could not
/// be asked, the catalog decides. Returns the states (status shows them).
pub async fn check(clients: &Clients, env: &Environment, report: &Reporter) -> Result<Vec<ModelState>> {
    let states = states(clients, env).await;
    for s in &states {
        if let Some(why) = &s.unchecked {
            report.note(&format!(
                "note: could not read the lifecycle of {} from Bedrock ({why}); ragstack's catalog says {}",
                s.model,
                s.describe()
            ));
        }
        match s.lifecycle {
            Some(Lifecycle::Eol) => return Err(end_of_life(clients, env, s).await),
            Some(Lifecycle::Legacy) => report.note(&format!(
                "warning: {}: {} = \"{}\": model {} is LEGACY in {}{}: it keeps working until then, but plan to \
                 move to an Active model (`ragstack models {}` lists them)",
                env.source,
                s.key,
                s.id,
                s.model,
                env.region(),
                s.end_of_life.as_ref().map(|d| format!(" and reaches its end of life on {d}")).unwrap_or_default(),
                env.region()
            )),
            _ => {}
        }
    }
    Ok(states)
}

/// The offline form of `check` (plan --offline): the catalog alone.
pub fn check_offline(env: &Environment) -> Result<()> {
    for (key, id, model) in used(env) {
        let s = from_catalog(key, &id, &model, env.region());
        if s.lifecycle == Some(Lifecycle::Eol) {
            let alternatives = catalog_alternatives(&s.model, env.region());
            let known = if alternatives.is_empty() { String::new() } else { format!(" ({})", alternatives.join(", ")) };
            let help = format!(
                "choose an Active model{known}; `ragstack models {}` asks Bedrock which this account can use",
                env.region()
            );
            return Err(Error::Refused { message: eol_message(env, &s), help });
        }
    }
    Ok(())
}

fn eol_message(env: &Environment, s: &ModelState) -> String {
    let since = s.end_of_life.as_ref().map(|d| format!(" on {d}")).unwrap_or_default();
    let by = if s.according_to == "catalog" { " (ragstack's model catalog)" } else { "" };
    format!(
        "{}: {} = \"{}\": model {} reached its end of life in {}{since}{by}: Bedrock refuses every request to it",
        env.source,
        s.key,
        s.id,
        s.model,
        env.region()
    )
}

/// Active models of the catalog to put in the file instead, same kind (embedding or generation).
fn catalog_alternatives(model: &str, region: &str) -> Vec<String> {
    let catalog = Catalog::get();
    let today = today();
    if catalog.embedding_model(model).is_some() {
        return catalog
            .embedding_models
            .iter()
            .filter(|m| m.id != model && m.lifecycle == Some(Lifecycle::Active) && m.offered_in(region))
            .map(|m| m.id.clone())
            .collect();
    }
    let provider = catalog.generation_model(model).map(|m| m.provider.as_str());
    let mut found: Vec<&crate::catalog::GenerationModel> =
        catalog.generation_models.iter().filter(|m| m.lifecycle_in(region, &today) == Lifecycle::Active).collect();
    // The same provider first.
    found.sort_by_key(|m| Some(m.provider.as_str()) != provider);
    found.iter().take(SUGGESTIONS).map(|m| invocation_id(&m.id, m.in_region, &m.profiles, region)).collect()
}

/// The id to put in the file: the model's own where it runs in-region, else the profile of the
/// region's geography (`us.` for us-*, `eu.` for eu-*, `apac.` for ap-*), else the global one.
fn invocation_id(model: &str, in_region: bool, profiles: &[String], region: &str) -> String {
    if in_region {
        return model.to_string();
    }
    let geo = match region.split('-').next() {
        Some("us") if !region.starts_with("us-gov-") => "us",
        Some("eu") => "eu",
        Some("ap") => "apac",
        Some("ca") => "ca",
        _ => "global",
    };
    let pick = profiles.iter().find(|p| *p == geo).or_else(|| profiles.iter().find(|p| *p == "global"));
    match pick {
        Some(p) => format!("{p}.{model}"),
        None => model.to_string(),
    }
}

/// The refusal of an EOL model, with Active replacements of the same kind and provider that
/// Bedrock lists and this account may use (the catalog's, when Bedrock cannot be asked).
async fn end_of_life(clients: &Clients, env: &Environment, s: &ModelState) -> Error {
    let region = env.region();
    let embedding = s.key == "knowledge_base.embedding_model";
    let mut suggested = match listed(clients, embedding).await {
        Ok(models) => {
            let provider = Catalog::get()
                .generation_model(&s.model)
                .map(|m| m.provider.to_lowercase())
                .unwrap_or_else(|| s.model.split('.').next().unwrap_or_default().to_string());
            let mut candidates: Vec<Listed> = models
                .into_iter()
                .filter(|m| m.lifecycle == Lifecycle::Active && m.id != s.model)
                .filter(|m| !embedding || Catalog::get().embedding_model(&m.id).is_some())
                .collect();
            candidates.sort_by_key(|m| m.provider.to_lowercase() != provider);
            let profiles = listed_profiles(clients).await;
            let mut usable = Vec::new();
            for m in candidates {
                if usable.len() == SUGGESTIONS {
                    break;
                }
                let Some(value) = m.put_in_file(region, &profiles) else { continue };
                if may_use(&clients.bedrock, &m.id).await != Some(false) {
                    usable.push(value);
                }
            }
            usable
        }
        Err(_) => Vec::new(),
    };
    if suggested.is_empty() {
        suggested = catalog_alternatives(&s.model, region);
    }
    let help = if suggested.is_empty() {
        format!("choose an Active model: `ragstack models {region}` lists them")
    } else {
        format!(
            "change {} in {} to an Active model this account can use, e.g. {}; `ragstack models {region}` lists \
             them all{}",
            s.key,
            env.source,
            suggested.iter().map(|m| format!("\"{m}\"")).collect::<Vec<_>>().join(", "),
            if embedding { " (a new embedding model re-creates the knowledge base and re-ingests)" } else { "" }
        )
    };
    Error::Refused { message: eol_message(env, s), help }
}

/// A model as ListFoundationModels lists it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub id: String,
    pub provider: String,
    pub embedding: bool,
    pub lifecycle: Lifecycle,
    pub end_of_life: Option<String>,
    pub on_demand: bool,
}

impl Listed {
    /// The value for the environment file: the model's id where it runs in-region, else the
    /// inference profile of the region's geography (or the global one) that Bedrock lists here,
    /// else the catalog's; None when no profile is known (the bare id would not work).
    pub fn put_in_file(&self, region: &str, listed_profiles: &[String]) -> Option<String> {
        if self.on_demand || self.embedding {
            return Some(self.id.clone());
        }
        let geo = invocation_id(&self.id, false, &["us", "eu", "apac", "ca", "global"].map(String::from), region);
        for candidate in [geo, format!("global.{}", self.id)] {
            if listed_profiles.contains(&candidate) {
                return Some(candidate);
            }
        }
        let catalog = Catalog::get().generation_model(&self.id);
        let profiles = catalog.map(|m| m.profiles.clone()).unwrap_or_default();
        let id = invocation_id(&self.id, false, &profiles, region);
        (id != self.id).then_some(id)
    }
}

/// The system-defined inference profiles callable from the region (bedrock:ListInferenceProfiles);
/// none when Bedrock cannot be asked (the catalog's profiles are used then).
pub async fn listed_profiles(clients: &Clients) -> Vec<String> {
    use aws_sdk_bedrock::types::InferenceProfileType;
    let mut out = Vec::new();
    let mut pages = clients
        .bedrock
        .list_inference_profiles()
        .type_equals(InferenceProfileType::SystemDefined)
        .into_paginator()
        .send();
    while let Some(Ok(page)) = pages.next().await {
        out.extend(page.inference_profile_summaries().iter().map(|p| p.inference_profile_id().to_string()));
    }
    out
}

/// The region's text or embedding models (bedrock:ListFoundationModels, filtered by output
/// modality; the lifecycle is filtered here, the API has no filter for it).
pub async fn listed(clients: &Clients, embedding: bool) -> std::result::Result<Vec<Listed>, AwsError> {
    let modality = if embedding { ModelModality::Embedding } else { ModelModality::Text };
    let out = clients.bedrock.list_foundation_models().by_output_modality(modality).send().await.map_err(aws)?;
    let today = today();
    Ok(out
        .model_summaries()
        .iter()
        .map(|m| {
            let lc = m.model_lifecycle();
            let end_of_life = date_of(lc.and_then(|l| l.end_of_life_time()));
            let passed = end_of_life.as_deref().is_some_and(|d| d <= today.as_str());
            let lifecycle = match lc.map(|l| l.status()) {
                Some(FoundationModelLifecycleStatus::Legacy) if passed => Lifecycle::Eol,
                Some(FoundationModelLifecycleStatus::Legacy) => Lifecycle::Legacy,
                Some(other) if other.as_str() == "EOL" => Lifecycle::Eol,
                _ => Lifecycle::Active,
            };
            Listed {
                id: m.model_id().to_string(),
                provider: m.provider_name().unwrap_or_default().to_string(),
                embedding,
                lifecycle,
                end_of_life,
                on_demand: m.inference_types_supported().contains(&InferenceType::OnDemand),
            }
        })
        .collect())
}

/// Whether this account may use a model (GetFoundationModelAvailability); None when it cannot say.
pub async fn may_use(bedrock: &aws_sdk_bedrock::Client, model: &str) -> Option<bool> {
    use aws_sdk_bedrock::types::{AgreementStatus, AuthorizationStatus, EntitlementAvailability, RegionAvailability};
    let out = bedrock.get_foundation_model_availability().model_id(model).send().await.ok()?;
    Some(
        out.authorization_status() == &AuthorizationStatus::Authorized
            && out.agreement_availability().is_none_or(|a| a.status() == &AgreementStatus::Available)
            && out.entitlement_availability() == &EntitlementAvailability::Available
            && out.region_availability() == &RegionAvailability::Available,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_to_put_in_the_file_follows_the_region() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let all = p(&["us", "eu", "apac", "global"]);
        assert_eq!(invocation_id("a.m-v1:0", true, &all, "eu-west-1"), "a.m-v1:0");
        assert_eq!(invocation_id("a.m-v1:0", false, &all, "us-east-1"), "us.a.m-v1:0");
        assert_eq!(invocation_id("a.m-v1:0", false, &all, "eu-west-1"), "eu.a.m-v1:0");
        assert_eq!(invocation_id("a.m-v1:0", false, &all, "ap-southeast-2"), "apac.a.m-v1:0");
        assert_eq!(invocation_id("a.m-v1:0", false, &all, "sa-east-1"), "global.a.m-v1:0");
        assert_eq!(invocation_id("a.m-v1:0", false, &p(&["us"]), "sa-east-1"), "a.m-v1:0");
    }

    #[test]
    fn catalog_alternatives_are_active_and_put_the_same_provider_first() {
        let alts = catalog_alternatives("anthropic.claude-3-haiku-20240307-v1:0", "us-east-1");
        assert!(!alts.is_empty());
        assert!(alts[0].contains("anthropic."), "{alts:?}");
        let today = today();
        for a in &alts {
            let m = Catalog::get().generation_model(a).unwrap();
            assert_eq!(m.lifecycle_in("us-east-1", &today), Lifecycle::Active, "{a}");
        }
        assert!(
            catalog_alternatives("amazon.titan-embed-text-v1", "us-east-1")
                .contains(&"amazon.titan-embed-text-v2:0".to_string())
        );
    }

    #[test]
    fn today_is_a_date() {
        let t = today();
        assert_eq!(t.len(), 10);
        assert!(t.as_str() >= "2026-01-01", "{t}");
    }
}
