//! The CloudFormation stacks the old creator.sh (a CDK app, in two generations) left in the
//! account: finding them, what their templates retain, and the order they can go in
//! (`commands::legacy` shows and retires them).
//!
//! A stack is the old app's only when its name is exactly one the app gave that environment
//! (`LEGACY_STACKS`) and it carries the app's `project` tag (`PROJECTS`): a look-alike name, another
//! environment's stack, CDKToolkit (shared by every CDK app) or an untagged namesake is never
//! touched. A stack goes once every stack importing its exports is gone (CloudFormation refuses
//! to delete an export in use) and every stack its generation created after it (which may use it
//! by name rather than by export). A stack something else still needs is left, with why.

use crate::aws::{Clients, aws};
use crate::error::{Error, Result};
use crate::naming::LEGACY_STACKS;
use aws_sdk_cloudformation::types::StackStatus;
use serde::Serialize;
use std::collections::BTreeMap;

/// The `project` tag each generation put on its stacks.
pub const PROJECTS: [&str; 2] = ["llms-with-serverless-rag", "serverless-rag-demo-v2"];

/// A resource CloudFormation keeps when its stack is deleted.
#[derive(Debug, Clone, Serialize)]
pub struct Retained {
    pub logical_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub physical_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stack {
    pub name: String,
    pub id: String,
    pub status: String,
    /// The `project` tag, when it is one of the old app's.
    pub project: Option<String>,
    pub retains: Vec<Retained>,
    /// Stacks of this set whose exports it imports: they can go only after it.
    pub imports_from: Vec<String>,
    /// Stacks of this set its generation created before it: they too go only after it.
    #[serde(skip)]
    pub created_after: Vec<String>,
    /// Why it stays, when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_because: Option<String>,
    /// Termination protection is on: CloudFormation refuses to delete it until it is lifted.
    pub termination_protection: bool,
}

impl Stack {
    /// Whether this stack needs `other` (which then waits for it to go).
    pub fn needs(&self, other: &str) -> bool {
        self.imports_from.iter().chain(&self.created_after).any(|n| n == other)
    }

    /// The old app's stack, kept for now (busy, or still imported from): work left undone.
    pub fn held_back(&self) -> bool {
        self.project.is_some() && self.left_because.is_some()
    }
}

/// The names the old app gave `env`'s stacks.
pub fn stack_names(env: &str) -> Vec<String> {
    crate::naming::legacy_stack_names(env)
}

/// The names its generation created before `name` (for `env`).
pub fn created_before(env: &str, name: &str) -> Vec<String> {
    LEGACY_STACKS
        .iter()
        .map(|g| g.iter().map(|n| n.replace("{ENV}", env)).collect::<Vec<_>>())
        .find_map(|g| g.iter().position(|n| n == name).map(|at| g[..at].to_vec()))
        .unwrap_or_default()
}

/// The old app's stacks of `env` (every status but DELETE_COMPLETE), and the names that match only
/// when case is ignored (shown as a hint, never touched).
pub async fn discover(clients: &Clients, env: &str) -> Result<(Vec<Stack>, Vec<String>)> {
    let cf = &clients.cloudformation;
    let wanted = stack_names(env);
    let mut found = Vec::new();
    let mut near = Vec::new();
    let mut pages = cf.list_stacks().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(aws).map_err(|e| Error::aws("list stacks (cloudformation:ListStacks)", e))?;
        for s in page.stack_summaries() {
            let (name, status) = (s.stack_name().unwrap_or_default(), s.stack_status());
            if status == Some(&StackStatus::DeleteComplete) {
                continue;
            }
            if wanted.iter().any(|w| w == name) {
                found.push((name.to_string(), s.stack_id().unwrap_or_default().to_string()));
            } else if wanted.iter().any(|w| w.eq_ignore_ascii_case(name)) {
                near.push(name.to_string());
            }
        }
    }
    found.sort_by_key(|(name, _)| wanted.iter().position(|w| w == name));
    let names: Vec<String> = found.iter().map(|(n, _)| n.clone()).collect();
    let mut stacks = Vec::new();
    for (name, id) in found {
        let mut stack = describe(clients, name, id).await?;
        stack.created_after = created_before(env, &stack.name).into_iter().filter(|n| names.contains(n)).collect();
        stacks.push(stack);
    }
    link_imports(clients, &mut stacks).await?;
    Ok((stacks, near))
}

async fn describe(clients: &Clients, name: String, id: String) -> Result<Stack> {
    let cf = &clients.cloudformation;
    let what = |action: &str| format!("{action} of stack {name}");
    let out = cf
        .describe_stacks()
        .stack_name(&id)
        .send()
        .await
        .map_err(aws)
        .map_err(|e| Error::aws(what("read (cloudformation:DescribeStacks)"), e))?;
    let described = out.stacks().first();
    let status = described.and_then(|s| s.stack_status()).map(|s| s.as_str().to_string()).unwrap_or_default();
    let project = described
        .into_iter()
        .flat_map(|s| s.tags())
        .find(|t| t.key() == Some("project"))
        .and_then(|t| t.value())
        .filter(|v| PROJECTS.contains(v))
        .map(str::to_string);
    let template = cf
        .get_template()
        .stack_name(&id)
        .send()
        .await
        .map_err(aws)
        .map_err(|e| Error::aws(what("read the template (cloudformation:GetTemplate)"), e))?;
    let mut retains = retained(template.template_body().unwrap_or_default());
    if !retains.is_empty() {
        let mut physical = BTreeMap::new();
        let mut pages = cf.list_stack_resources().stack_name(&id).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page
                .map_err(aws)
                .map_err(|e| Error::aws(what("list the resources (cloudformation:ListStackResources)"), e))?;
            for r in page.stack_resource_summaries() {
                if let (Some(l), Some(p)) = (r.logical_resource_id(), r.physical_resource_id()) {
                    physical.insert(l.to_string(), p.to_string());
                }
            }
        }
        for r in &mut retains {
            r.physical_id = physical.get(&r.logical_id).cloned();
        }
    }
    let termination_protection = described.and_then(|s| s.enable_termination_protection()).unwrap_or(false);
    let left_because = match (&project, status.ends_with("_IN_PROGRESS")) {
        (None, _) => Some(format!("it has no `project` tag of the old app ({})", PROJECTS.join(" or "))),
        (_, true) => Some(format!("CloudFormation is working on it ({status}): run again when it settles")),
        _ => None,
    };
    Ok(Stack {
        name,
        id,
        status,
        project,
        retains,
        imports_from: Vec::new(),
        created_after: Vec::new(),
        left_because,
        termination_protection,
    })
}

/// The resources a template keeps on deletion: `DeletionPolicy` Retain or RetainExceptOnCreate
/// (CloudFormation User Guide, "DeletionPolicy attribute"). CDK writes JSON; YAML (a superset,
/// short-form tags included) parses the same way.
pub fn retained(template: &str) -> Vec<Retained> {
    let Ok(doc) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(template) else {
        return Vec::new();
    };
    let Some(resources) = doc.get("Resources").and_then(|r| r.as_mapping()) else {
        return Vec::new();
    };
    resources
        .iter()
        .filter(|(_, r)| {
            matches!(r.get("DeletionPolicy").and_then(|p| p.as_str()), Some("Retain" | "RetainExceptOnCreate"))
        })
        .map(|(logical, r)| Retained {
            logical_id: logical.as_str().unwrap_or_default().to_string(),
            kind: r.get("Type").and_then(|t| t.as_str()).unwrap_or_default().to_string(),
            physical_id: None,
        })
        .collect()
}

/// Links importers to exporters (ListExports, ListImports). A stack outside the set that imports
/// from one inside keeps it (and everything it imports from) where it is.
async fn link_imports(clients: &Clients, stacks: &mut [Stack]) -> Result<()> {
    let cf = &clients.cloudformation;
    let ids: Vec<String> = stacks.iter().map(|s| s.id.clone()).collect();
    let mut exports = Vec::new();
    let mut pages = cf.list_exports().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(aws).map_err(|e| Error::aws("list exports (cloudformation:ListExports)", e))?;
        for e in page.exports() {
            if let (Some(by), Some(name)) = (e.exporting_stack_id(), e.name())
                && let Some(i) = ids.iter().position(|id| id == by)
            {
                exports.push((i, name.to_string()));
            }
        }
    }
    for (exporter, export) in exports {
        for importer in importers(clients, &export).await? {
            match stacks.iter().position(|s| s.name == importer) {
                Some(i) => {
                    let name = stacks[exporter].name.clone();
                    if !stacks[i].imports_from.contains(&name) {
                        stacks[i].imports_from.push(name);
                    }
                }
                None => {
                    stacks[exporter].left_because.get_or_insert(format!(
                        "stack {importer} imports its export {export} and is not the old app's: delete or change it first"
                    ));
                }
            }
        }
    }
    // What a stack that stays needs must stay too: what any stack imports from, and, for the old
    // app's own, what its generation created before it.
    loop {
        let staying: Vec<Stack> = stacks.iter().filter(|s| s.left_because.is_some()).cloned().collect();
        let mut changed = false;
        for stay in staying {
            let needed =
                |s: &Stack| stay.imports_from.contains(&s.name) || (stay.project.is_some() && stay.needs(&s.name));
            for s in stacks.iter_mut().filter(|s| needed(s) && s.left_because.is_none()) {
                s.left_because = Some(format!("{} needs it and stays", stay.name));
                changed = true;
            }
        }
        if !changed {
            return Ok(());
        }
    }
}

/// The stacks importing `export`. CloudFormation answers ValidationError "Export 'X' is not
/// imported by any stack." when none does (CloudFormation API Reference, ListImports).
async fn importers(clients: &Clients, export: &str) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut pages = clients.cloudformation.list_imports().export_name(export).into_paginator().send();
    while let Some(page) = pages.next().await {
        match page.map_err(aws) {
            Ok(page) => names.extend(page.imports().iter().cloned()),
            Err(e) if e.is("ValidationError") && e.message.contains("not imported") => break,
            Err(e) => {
                return Err(Error::aws(
                    format!("list the importers of export {export} (cloudformation:ListImports)"),
                    e,
                ));
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cover_both_generations() {
        let names = stack_names("dev");
        assert_eq!(names[0], "LlmsWithServerlessRagdevStack");
        assert_eq!(names[3], "SRD-AOSS-dev");
        assert_eq!(names.len(), 9);
    }

    #[test]
    fn a_stack_waits_for_what_its_generation_created_after_it() {
        assert_eq!(created_before("dev", "SRD-KB-dev"), ["SRD-AOSS-dev"]);
        assert_eq!(
            created_before("dev", "AppRunnerHostingdevStack"),
            ["LlmsWithServerlessRagdevStack", "ApiGwLlmsLambdadevStack"]
        );
        assert!(created_before("dev", "SRD-AOSS-dev").is_empty());
        assert!(created_before("dev", "CDKToolkit").is_empty());
    }

    #[test]
    fn retained_resources_come_from_the_deletion_policy() {
        let json = r#"{"Resources": {"Docs": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain"},
                       "Fn": {"Type": "AWS::Lambda::Function", "DeletionPolicy": "Delete"},
                       "Logs": {"Type": "AWS::Logs::LogGroup"}}}"#;
        let found = retained(json);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].logical_id.as_str(), found[0].kind.as_str()), ("Docs", "AWS::S3::Bucket"));
        let yaml = "Resources:\n  Table:\n    Type: AWS::DynamoDB::Table\n    DeletionPolicy: RetainExceptOnCreate\n    Properties:\n      TableName: !Ref Name\n";
        assert_eq!(retained(yaml)[0].logical_id, "Table");
        assert!(retained("not a template").is_empty());
    }
}
