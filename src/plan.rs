//! The desired state of one environment: every resource of the environment with its name,
//! ARN, dependencies, key settings and rendered documents, in dependency order. `plan --offline`
//! prints it; the deploy engine diffs it against what exists.

use crate::config::{Chunking, Environment};
use crate::error::Result;
use crate::naming::AFTER_APPLY;
use crate::render::{Known, Templates, context};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::fmt::Write;

/// What a dependent needs from the resource it depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Needs {
    /// Only its name or ARN (it may still be creating).
    Arn,
    /// That it exists and is ready (ACTIVE, propagated).
    Ready,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dependency {
    pub on: String,
    pub needs: Needs,
}

#[derive(Debug, Clone, Serialize)]
pub struct Document {
    pub template: String,
    pub content: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    /// Stable id within the environment, e.g. `collection` or `data_source.documents`.
    pub id: String,
    pub kind: &'static str,
    pub name: String,
    /// None for kinds AWS gives no ARN (OpenSearch Serverless policies, indexes, data sources).
    pub arn: Option<String>,
    pub depends_on: Vec<Dependency>,
    /// Carries the ownership tags (`ragstack:environment`, `ragstack:managed`).
    pub tagged: bool,
    pub settings: Map<String, Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<Document>,
}

impl Resource {
    /// The `n`th rendered document (in the order `desired` lists them), or null.
    pub fn document(&self, n: usize) -> Value {
        self.documents.get(n).map(|d| d.content.clone()).unwrap_or(Value::Null)
    }
}

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
}

fn dep(on: &str, needs: Needs) -> Dependency {
    Dependency { on: on.to_string(), needs }
}

fn settings(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("settings are always written as objects"),
    }
}

/// Builds the desired state, rendering every document (so a broken template fails here, before
/// any AWS call, whether or not documents are shown).
pub fn desired(env: &Environment, templates: &Templates, known: &Known) -> Result<Desired> {
    let n = &env.names;
    let f = &env.file;
    let ctx = context(env, known);
    let doc = |name: &str| -> Result<Document> {
        Ok(Document { template: format!("templates/{name}.hbs"), content: templates.render_json(name, &ctx)? })
    };
    let mut r = Vec::new();
    let uses_bucket = env.uses_documents_bucket();

    if uses_bucket {
        r.push(Resource {
            id: "documents_bucket".into(),
            kind: "S3 bucket",
            name: n.documents_bucket.clone(),
            arn: Some(n.bucket_arn(&n.documents_bucket)),
            depends_on: vec![],
            tagged: true,
            settings: settings(json!({
                "versioning": "Enabled",
                "encryption": "SSE-S3 (AES256), bucket key enabled",
                "block_public_access": "all four settings on",
                "bucket_policy": "deny requests without TLS",
            })),
            documents: vec![doc("s3/documents-bucket-policy.json")?],
        });
    }
    r.push(Resource {
        id: "encryption_policy".into(),
        kind: "OpenSearch Serverless encryption policy",
        name: n.encryption_policy.clone(),
        arn: None,
        depends_on: vec![],
        tagged: false,
        settings: settings(json!({
            "collection": n.collection,
            "key": f.vector_store.kms_key_arn.clone().unwrap_or_else(|| "AWS owned key".into()),
        })),
        documents: vec![doc("opensearch/encryption-policy.json")?],
    });
    r.push(Resource {
        id: "network_policy".into(),
        kind: "OpenSearch Serverless network policy",
        name: n.network_policy.clone(),
        arn: None,
        depends_on: vec![],
        tagged: false,
        settings: settings(json!({
            "collection": n.collection,
            "access": f.vector_store.network_access,
            "vpc_endpoints": f.vector_store.vpc_endpoints,
        })),
        documents: vec![doc("opensearch/network-policy.json")?],
    });
    r.push(Resource {
        id: "collection".into(),
        kind: "OpenSearch Serverless collection",
        name: n.collection.clone(),
        arn: Some(n.collection_arn(known.collection_id.as_deref())),
        depends_on: vec![dep("encryption_policy", Needs::Ready), dep("network_policy", Needs::Ready)],
        tagged: true,
        settings: settings(json!({
            "type": "VECTORSEARCH",
            "standby_replicas": if f.vector_store.standby_replicas { "ENABLED" } else { "DISABLED" },
            "endpoint": n.collection_endpoint(known.collection_id.as_deref()),
        })),
        documents: vec![],
    });
    let mut kb_role_deps = vec![dep("collection", Needs::Arn)];
    if uses_bucket {
        kb_role_deps.insert(0, dep("documents_bucket", Needs::Arn));
    }
    r.push(Resource {
        id: "knowledge_base_role".into(),
        kind: "IAM role",
        name: n.knowledge_base_role.clone(),
        arn: Some(n.role_arn(&n.knowledge_base_role)),
        depends_on: kb_role_deps,
        tagged: true,
        settings: settings(json!({
            "path": n.role_path,
            "trusted_service": "bedrock.amazonaws.com (this account's knowledge bases in this region)",
            "inline_policy": "knowledge-base-access",
        })),
        documents: vec![doc("iam/knowledge-base-trust.json")?, doc("iam/knowledge-base-permissions.json")?],
    });
    r.push(Resource {
        id: "data_access_policy".into(),
        kind: "OpenSearch Serverless data access policy",
        name: n.access_policy.clone(),
        arn: None,
        depends_on: vec![dep("knowledge_base_role", Needs::Arn)],
        tagged: false,
        settings: settings(json!({
            "principals": [ctx["arns"]["knowledge_base_role"], ctx["deployer"]],
        })),
        documents: vec![doc("opensearch/data-access-policy.json")?],
    });
    r.push(Resource {
        id: "vector_index".into(),
        kind: "OpenSearch Serverless vector index",
        name: n.vector_index.clone(),
        arn: None,
        depends_on: vec![dep("collection", Needs::Ready), dep("data_access_policy", Needs::Ready)],
        tagged: false,
        settings: settings(json!({
            "dimension": f.knowledge_base.dimensions,
            "method": "hnsw",
            "engine": "faiss",
            "space_type": "l2",
            "vector_field": crate::naming::VECTOR_FIELD,
        })),
        documents: vec![doc("opensearch/vector-index.json")?],
    });
    r.push(Resource {
        id: "knowledge_base".into(),
        kind: "Bedrock knowledge base",
        name: n.knowledge_base.clone(),
        arn: Some(n.knowledge_base_arn(known.knowledge_base_id.as_deref())),
        depends_on: vec![dep("knowledge_base_role", Needs::Ready), dep("vector_index", Needs::Ready)],
        tagged: true,
        settings: settings(json!({
            "embedding_model": ctx["arns"]["embedding_model"],
            "dimensions": f.knowledge_base.dimensions,
            "storage": "OPENSEARCH_SERVERLESS",
            "field_mapping": {
                "vector": crate::naming::VECTOR_FIELD,
                "text": crate::naming::TEXT_FIELD,
                "metadata": crate::naming::METADATA_FIELD,
            },
        })),
        documents: vec![],
    });
    for ds in &f.data_sources {
        let mut deps = vec![dep("knowledge_base", Needs::Ready)];
        if ds.bucket.is_none() {
            deps.push(dep("documents_bucket", Needs::Ready));
        }
        r.push(Resource {
            id: format!("data_source.{}", ds.name),
            kind: "Bedrock data source (S3)",
            name: ds.name.clone(),
            arn: None,
            depends_on: deps,
            tagged: false,
            settings: settings(json!({
                "bucket": n.bucket_arn(env.data_source_bucket(ds)),
                "bucket_owned_by_ragstack": ds.bucket.is_none(),
                "inclusion_prefixes": ds.inclusion_prefixes,
                "chunking": chunking_settings(&env.chunking),
                "data_deletion_policy": "RETAIN",
            })),
            documents: vec![],
        });
    }
    r.push(Resource {
        id: "api_role".into(),
        kind: "IAM role",
        name: n.api_role.clone(),
        arn: Some(n.role_arn(&n.api_role)),
        depends_on: vec![dep("knowledge_base", Needs::Arn)],
        tagged: true,
        settings: settings(json!({
            "path": n.role_path,
            "trusted_service": "lambda.amazonaws.com",
            "inline_policy": "query-function-access",
        })),
        documents: vec![doc("iam/api-trust.json")?, doc("iam/api-permissions.json")?],
    });
    r.push(Resource {
        id: "function".into(),
        kind: "Lambda function",
        name: n.function.clone(),
        arn: Some(n.function_arn()),
        depends_on: vec![dep("api_role", Needs::Ready), dep("knowledge_base", Needs::Arn)],
        tagged: true,
        settings: settings(json!({
            "runtime": f.lambda.runtime,
            "architecture": f.lambda.architecture,
            "memory_mb": f.lambda.memory_mb,
            "timeout_seconds": f.lambda.timeout_seconds,
            "handler": "handler.handler",
            "code": "templates/lambda/handler.py and templates/lambda/index.html, zipped in memory",
            "environment": {
                "KNOWLEDGE_BASE_ID": known.knowledge_base_id.as_deref().unwrap_or(AFTER_APPLY),
                "GENERATION_MODEL_ID": f.lambda.generation_model,
            },
            "log_group": n.log_group,
        })),
        documents: vec![],
    });
    r.push(Resource {
        id: "rest_api".into(),
        kind: "API Gateway REST API",
        name: n.rest_api.clone(),
        arn: Some(n.rest_api_arn(known.rest_api_id.as_deref())),
        depends_on: vec![dep("function", Needs::Arn)],
        tagged: true,
        settings: settings(json!({
            "endpoint": "REGIONAL",
            "routes": ["GET /rag -> function (AWS_PROXY)", "POST /rag/query -> function (AWS_PROXY)"],
            "invoke_permission_source_arn": n.execute_api_arn(known.rest_api_id.as_deref()),
        })),
        documents: vec![],
    });
    r.push(Resource {
        id: "api_stage".into(),
        kind: "API Gateway deployment and stage",
        name: f.api.stage_name.clone(),
        arn: None,
        depends_on: vec![dep("rest_api", Needs::Ready)],
        tagged: true,
        settings: settings(json!({
            "throttling_rate_limit": f.api.throttling_rate_limit,
            "throttling_burst_limit": f.api.throttling_burst_limit,
        })),
        documents: vec![],
    });

    let mut outputs = BTreeMap::new();
    outputs.insert("api_url".into(), n.invoke_url(known.rest_api_id.as_deref(), &f.api.stage_name));
    outputs.insert("knowledge_base_id".into(), known.knowledge_base_id.clone().unwrap_or_else(|| AFTER_APPLY.into()));
    outputs.insert("collection_endpoint".into(), n.collection_endpoint(known.collection_id.as_deref()));
    if uses_bucket {
        outputs.insert("documents_bucket".into(), n.documents_bucket.clone());
    }
    let sources: Vec<&str> = f.data_sources.iter().map(|d| d.name.as_str()).collect();
    Ok(Desired {
        environment: env.name.clone(),
        region: n.region.clone(),
        account: n.account.clone(),
        account_is_placeholder: !env.account_known,
        source: env.source.clone(),
        tags: env.tags(),
        resources: r,
        then: vec![format!(
            "sync: start an ingestion job for each data source ({}) and follow it to the end",
            sources.join(", ")
        )],
        outputs,
    })
}

fn chunking_settings(c: &Chunking) -> Value {
    serde_json::to_value(c).expect("chunking serializes")
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
        let _ = writeln!(s, "\n{:>3}. {}  ({})", i + 1, r.id, r.kind);
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
