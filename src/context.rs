//! What every command works with, shared by the command modules, the engine, the resource
//! modules, the waiters and ingestion (a leaf: it imports none of them): which environment and
//! region (`TargetArgs`), the run's context (`Ctx`: environment, templates, clients, the ids AWS
//! assigned so far, the reporter) and a resource's handle while it is applied (`Step`).

use crate::aws::{AwsError, Clients};
use crate::config::Environment;
use crate::error::{Error, Result};
use crate::naming::{TAG_ENVIRONMENT, TAG_MANAGED};
use crate::output::Reporter;
use crate::plan::{self, Desired};
use crate::render::{Known, Templates};
use clap::Args;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Environment name: dev, qa, sandbox, or any environments/NAME.toml
    pub env: String,
    /// AWS region, e.g. us-east-1 [default: AWS_REGION, AWS_DEFAULT_REGION, or the profile's]
    pub region: Option<String>,
}

/// Everything a resource module needs: the environment, templates, clients, and the ids AWS
/// assigned so far (shared by the tasks of one run).
pub struct Ctx {
    pub env: Environment,
    pub templates: Templates,
    pub clients: Clients,
    pub known: Mutex<Known>,
    /// Data source name -> id.
    pub data_source_ids: Mutex<BTreeMap<String, String>>,
    pub report: Reporter,
}

impl Ctx {
    pub fn known(&self) -> Known {
        self.known.lock().expect("known lock").clone()
    }

    pub fn set_known(&self, f: impl FnOnce(&mut Known)) {
        f(&mut self.known.lock().expect("known lock"));
    }

    /// The desired state rendered with every id known now (documents that contain ARNs of
    /// resources created during this run render once those exist).
    pub fn desired(&self) -> Result<Desired> {
        plan::desired(&self.env, &self.templates, &self.known())
    }

    pub fn resource(&self, id: &str) -> Result<plan::Resource> {
        self.desired()?.resources.into_iter().find(|r| r.id == id).ok_or_else(|| Error::Incomplete {
            message: format!("internal: no resource {id} in the desired state"),
            help: None,
        })
    }

    pub fn collection_id(&self) -> Option<String> {
        self.known.lock().expect("known lock").collection_id.clone()
    }

    pub fn knowledge_base_id(&self) -> Option<String> {
        self.known.lock().expect("known lock").knowledge_base_id.clone()
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

    /// What a user needs after a deploy: where things are.
    pub fn outputs(&self) -> BTreeMap<String, String> {
        let known = self.known();
        let n = &self.env.names;
        let mut out = BTreeMap::new();
        if let Some(id) = &known.collection_id {
            out.insert("collection_endpoint".into(), n.collection_endpoint(Some(id)));
        }
        if let Some(id) = &known.knowledge_base_id {
            out.insert("knowledge_base_id".into(), id.clone());
        }
        for (name, id) in self.data_source_ids.lock().expect("ids lock").iter() {
            out.insert(format!("data_source.{name}"), id.clone());
        }
        if self.env.uses_documents_bucket() {
            out.insert("documents_bucket".into(), n.documents_bucket.clone());
        }
        if let Some(id) = &known.rest_api_id {
            out.insert("api_url".into(), n.invoke_url(Some(id), &self.env.file.api.stage_name));
        }
        out
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
