//! What every command works with, shared by the command modules, the engine, the resource
//! modules, the waiters and ingestion (a leaf: it imports none of them): which environment and
//! region (`TargetArgs`), a resource's id (`Id`), the run's context (`Ctx`: environment, templates,
//! clients, the ids AWS assigned so far, the reporter) and a resource's handle while it is applied
//! (`Step`).

use crate::aws::{AwsError, Clients};
use crate::config::Environment;
use crate::error::Error;
use crate::naming::{TAG_ENVIRONMENT, TAG_MANAGED};
use crate::output::Reporter;
use crate::render::Templates;
use clap::Args;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Environment name: dev, qa, sandbox, or any environments/NAME.toml
    pub env: String,
    /// AWS region, e.g. us-east-1 [default: AWS_REGION, AWS_DEFAULT_REGION, or the profile's]
    pub region: Option<String>,
}

/// A resource's id within its environment (`collection`, `data_source.documents`): what plan,
/// status and progress lines call it. Each resource module declares its own (docs/ARCHITECTURE.md,
/// "The resource contract"); nothing outside `resources/` spells one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(Cow<'static, str>);

impl Id {
    pub const fn fixed(id: &'static str) -> Id {
        Id(Cow::Borrowed(id))
    }

    pub fn new(id: String) -> Id {
        Id(Cow::Owned(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// What AWS assigned so far: the id of each resource that has one (a collection's, a knowledge
/// base's), and the deploying principal. Until known, names and ARNs render as
/// `<known after apply>`.
#[derive(Debug, Clone, Default)]
pub struct Known {
    ids: BTreeMap<Id, String>,
    /// The deploying principal's IAM ARN (assumed-role sessions resolved to their role).
    pub deployer_arn: Option<String>,
}

impl Known {
    pub fn deployer(arn: Option<String>) -> Known {
        Known { deployer_arn: arn, ..Known::default() }
    }

    /// The same, with `id` as the id AWS assigned to resource `r`.
    pub fn with(mut self, r: Id, id: impl Into<String>) -> Known {
        self.ids.insert(r, id.into());
        self
    }

    /// The id AWS assigned to resource `r`, when known.
    pub fn id(&self, r: &Id) -> Option<&str> {
        self.ids.get(r).map(String::as_str)
    }
}

/// Everything a resource module needs: the environment, templates, clients, and the ids AWS
/// assigned so far (shared by the tasks of one run).
pub struct Ctx {
    pub env: Environment,
    pub templates: Templates,
    pub clients: Clients,
    pub known: Mutex<Known>,
    /// Shared with the contexts `with_environment` makes, so progress has one clock.
    pub report: Arc<Reporter>,
}

impl Ctx {
    /// The same run for `env` (another knowledge base generation of the environment), with the
    /// ids known so far except those `forget` names.
    pub fn with_environment(&self, env: Environment, forget: &[Id]) -> Arc<Ctx> {
        let mut known = self.known();
        for id in forget {
            known.ids.remove(id);
        }
        Arc::new(Ctx {
            env,
            templates: self.templates.clone(),
            clients: self.clients.clone(),
            known: Mutex::new(known),
            report: self.report.clone(),
        })
    }

    pub fn known(&self) -> Known {
        self.known.lock().expect("known lock").clone()
    }

    /// The id AWS assigned to resource `r`, when known.
    pub fn assigned(&self, r: &Id) -> Option<String> {
        self.known.lock().expect("known lock").ids.get(r).cloned()
    }

    /// Records (or, with None, forgets) the id AWS assigned to resource `r`.
    pub fn assign(&self, r: &Id, id: Option<String>) {
        let mut known = self.known.lock().expect("known lock");
        match id {
            Some(id) => known.ids.insert(r.clone(), id),
            None => known.ids.remove(r),
        };
    }

    /// Forgets every assigned id (teardown looks again after deleting).
    pub fn forget_ids(&self) {
        self.known.lock().expect("known lock").ids.clear();
    }

    /// Whether tags say this environment of ragstack owns a resource; otherwise why not.
    pub fn ownership(&self, tags: &BTreeMap<String, String>) -> Option<String> {
        match (tags.get(TAG_MANAGED).map(String::as_str), tags.get(TAG_ENVIRONMENT)) {
            (Some("true"), Some(e)) if *e == self.env.name => None,
            (Some("true"), Some(e)) => {
                Some(format!("it belongs to ragstack environment `{e}` ({TAG_ENVIRONMENT}={e})"))
            }
            _ => Some(format!(
                "it exists without ragstack's ownership tags ({TAG_MANAGED}=true, {TAG_ENVIRONMENT}={})",
                self.env.name
            )),
        }
    }

    /// The environment's tags in the map form Lambda, API Gateway and Bedrock take.
    pub fn tag_map(&self) -> HashMap<String, String> {
        self.env.tags().into_iter().collect()
    }

    /// The tags to add so a resource carries every desired tag (other tags are left alone).
    pub fn missing_tags(&self, current: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        self.env.tags().into_iter().filter(|(k, v)| current.get(k) != Some(v)).collect()
    }
}

/// The handle a resource's apply uses to report progress and to tell dependents that it exists
/// (its ARN is known) before it is ready.
pub struct Step {
    pub ctx: Arc<Ctx>,
    pub id: String,
    pub exists: Box<dyn Fn() + Send + Sync>,
}

impl Step {
    pub fn progress(&self, state: &str, detail: &str) {
        self.ctx.report.resource(&self.id, state, detail);
    }
}

/// Maps an AWS error of `action` on this step's resource into ragstack's error.
pub fn failed(action: &str) -> impl FnOnce(AwsError) -> Error + '_ {
    move |e| Error::aws(action, e)
}
