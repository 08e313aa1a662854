//! Every document ragstack sends (IAM policies, OpenSearch Serverless policies, the index mapping)
//! is a handlebars template under `templates/`, embedded in the binary and overridable with
//! `--templates DIR`. Templates render in strict mode (a missing variable is an error), values are
//! escaped as JSON string content, and each result must parse as JSON.
//!
//! Files without `.hbs` (the Lambda source and page) are assets: shipped byte for byte, never
//! rendered, because their configuration arrives through environment variables.

use crate::config::Environment;
use crate::error::{Error, Result};
use crate::naming::{self, AFTER_APPLY, DEPLOYER_PLACEHOLDER};
use handlebars::Handlebars;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// (name, embedded text) of each template; the file is `templates/NAME.hbs`.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("iam/knowledge-base-trust.json", include_str!("../templates/iam/knowledge-base-trust.json.hbs")),
    ("iam/knowledge-base-permissions.json", include_str!("../templates/iam/knowledge-base-permissions.json.hbs")),
    ("iam/api-trust.json", include_str!("../templates/iam/api-trust.json.hbs")),
    ("iam/api-permissions.json", include_str!("../templates/iam/api-permissions.json.hbs")),
    ("iam/deployer-policy.json", include_str!("../templates/iam/deployer-policy.json.hbs")),
    ("s3/documents-bucket-policy.json", include_str!("../templates/s3/documents-bucket-policy.json.hbs")),
    ("opensearch/encryption-policy.json", include_str!("../templates/opensearch/encryption-policy.json.hbs")),
    ("opensearch/network-policy.json", include_str!("../templates/opensearch/network-policy.json.hbs")),
    ("opensearch/data-access-policy.json", include_str!("../templates/opensearch/data-access-policy.json.hbs")),
    ("opensearch/vector-index.json", include_str!("../templates/opensearch/vector-index.json.hbs")),
];

/// (name, embedded bytes as text) of each asset; the file is `templates/NAME`.
pub const ASSETS: &[(&str, &str)] = &[
    ("lambda/handler.py", include_str!("../templates/lambda/handler.py")),
    ("lambda/index.html", include_str!("../templates/lambda/index.html")),
];

pub struct Templates {
    registry: Handlebars<'static>,
    /// Where each template came from, for error messages.
    origins: Vec<(String, String)>,
    assets: Vec<(String, String)>,
}

impl Templates {
    /// The built-in templates, each replaced by `dir/NAME.hbs` (or `dir/NAME` for assets) where
    /// that file exists.
    pub fn load(dir: Option<&Path>) -> Result<Templates> {
        if let Some(d) = dir
            && !d.is_dir()
        {
            return Err(Error::usage(
                format!("--templates {}: not a directory", d.display()),
                Some("pass a directory laid out like the repository's templates/ folder".to_string()),
            ));
        }
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(json_string_content);
        let mut origins = Vec::new();
        for (name, built_in) in TEMPLATES {
            let (text, origin) = read_override(dir, &format!("{name}.hbs"))?
                .unwrap_or_else(|| ((*built_in).to_string(), format!("templates/{name}.hbs (built in)")));
            registry
                .register_template_string(name, text)
                .map_err(|e| Error::Template { template: origin.clone(), message: e.to_string() })?;
            origins.push((name.to_string(), origin));
        }
        let mut assets = Vec::new();
        for (name, built_in) in ASSETS {
            let text = read_override(dir, name)?.map_or_else(|| (*built_in).to_string(), |(t, _)| t);
            assets.push((name.to_string(), text));
        }
        Ok(Templates { registry, origins, assets })
    }

    fn origin(&self, name: &str) -> String {
        self.origins.iter().find(|(n, _)| n == name).map_or_else(|| name.to_string(), |(_, o)| o.clone())
    }

    /// Renders template `name` and parses the result as JSON.
    pub fn render_json(&self, name: &str, context: &Value) -> Result<Value> {
        let text = self
            .registry
            .render(name, context)
            .map_err(|e| Error::Template { template: self.origin(name), message: e.to_string() })?;
        serde_json::from_str(&text).map_err(|e| Error::Template {
            template: self.origin(name),
            message: format!("the rendered document is not valid JSON: {e}"),
        })
    }

    pub fn asset(&self, name: &str) -> &str {
        self.assets.iter().find(|(n, _)| n == name).map(|(_, t)| t.as_str()).expect("asset names are constants")
    }
}

fn read_override(dir: Option<&Path>, file: &str) -> Result<Option<(String, String)>> {
    let Some(dir) = dir else { return Ok(None) };
    let path: PathBuf = dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some((text, path.display().to_string()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Io { context: format!("cannot read {}", path.display()), source: e }),
    }
}

/// Escapes a value for use inside a JSON string literal.
fn json_string_content(s: &str) -> String {
    let quoted = serde_json::to_string(s).expect("a string always serializes");
    quoted[1..quoted.len() - 1].to_string()
}

/// Values AWS assigns on creation; unknown ones render as `<known after apply>`.
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub collection_id: Option<String>,
    pub knowledge_base_id: Option<String>,
    pub rest_api_id: Option<String>,
    /// The deploying principal's IAM ARN (assumed-role sessions resolved to their role).
    pub deployer_arn: Option<String>,
}

/// The variables every template sees.
pub fn context(env: &Environment, known: &Known) -> Value {
    let n = &env.names;
    let f = &env.file;
    let mut source_buckets: Vec<String> = Vec::new();
    let mut source_objects: Vec<String> = Vec::new();
    let mut data_sources = Vec::new();
    for ds in &f.data_sources {
        let bucket = env.data_source_bucket(ds);
        let bucket_arn = n.bucket_arn(bucket);
        let objects: Vec<String> = if ds.inclusion_prefixes.is_empty() {
            vec![format!("{bucket_arn}/*")]
        } else {
            ds.inclusion_prefixes.iter().map(|p| format!("{bucket_arn}/{p}*")).collect()
        };
        for o in &objects {
            if !source_objects.contains(o) {
                source_objects.push(o.clone());
            }
        }
        if !source_buckets.contains(&bucket_arn) {
            source_buckets.push(bucket_arn.clone());
        }
        data_sources.push(json!({
            "name": ds.name,
            "bucket": bucket,
            "bucket_arn": bucket_arn,
            "inclusion_prefixes": ds.inclusion_prefixes,
            "object_arns": objects,
        }));
    }
    // The deployer manages the documents bucket (teardown empties all of it) and uploads under
    // the prefixes of data sources that read other buckets.
    let own = n.bucket_arn(&n.documents_bucket);
    let (mut deployer_buckets, mut deployer_objects) = (Vec::new(), Vec::new());
    if env.uses_documents_bucket() {
        deployer_buckets.push(own.clone());
        deployer_objects.push(format!("{own}/*"));
    }
    deployer_buckets.extend(source_buckets.iter().filter(|b| **b != own).cloned());
    let own_objects = format!("{own}/");
    deployer_objects.extend(source_objects.iter().filter(|o| !o.starts_with(&own_objects)).cloned());
    let generation_inference_profiles: Vec<String> =
        n.inference_profile_arn(&f.lambda.generation_model).into_iter().collect();
    json!({
        "environment": env.name,
        "region": n.region,
        "account": n.account,
        "partition": n.partition,
        "names": n,
        "arns": {
            "documents_bucket": n.bucket_arn(&n.documents_bucket),
            "knowledge_base_role": n.role_arn(&n.knowledge_base_role),
            "api_role": n.role_arn(&n.api_role),
            "collection": n.collection_arn(known.collection_id.as_deref()),
            "knowledge_base": n.knowledge_base_arn(known.knowledge_base_id.as_deref()),
            "knowledge_base_pattern": n.knowledge_base_arn_pattern(),
            "embedding_model": n.foundation_model_arn(&env.embedding_model.id),
            "generation_models": n.generation_model_arns(&f.lambda.generation_model),
            "function": n.function_arn(),
            "log_group": n.log_group_arn(),
            "rest_api": n.rest_api_arn(known.rest_api_id.as_deref()),
            "execute_api": n.execute_api_arn(known.rest_api_id.as_deref()),
            "source_buckets": source_buckets,
            "source_objects": source_objects,
            // For the deployer's policy (`plan --deployer-policy`): ids AWS assigns on creation are
            // not known in advance, so those grants name this account and region's resources.
            "collection_pattern": format!("arn:{}:aoss:{}:{}:collection/*", n.partition, n.region, n.account),
            "deployer_buckets": deployer_buckets,
            "deployer_objects": deployer_objects,
            "generation_inference_profiles": generation_inference_profiles,
            "deployer_rest_apis": [
                format!("arn:{}:apigateway:{}::/restapis", n.partition, n.region),
                format!("arn:{}:apigateway:{}::/restapis/*", n.partition, n.region),
                format!("arn:{}:apigateway:{}::/tags/*", n.partition, n.region),
            ],
        },
        "deployer": known.deployer_arn.as_deref().unwrap_or(DEPLOYER_PLACEHOLDER),
        "data_sources": data_sources,
        "vector_store": {
            "public": f.vector_store.network_access == crate::config::NetworkAccess::Public,
            "vpc_endpoints": f.vector_store.vpc_endpoints,
            "kms_key_arn": f.vector_store.kms_key_arn,
            "standby_replicas": f.vector_store.standby_replicas,
        },
        "index": {
            "name": n.vector_index,
            "dimension": f.knowledge_base.dimensions,
            "vector_field": naming::VECTOR_FIELD,
            "text_field": naming::TEXT_FIELD,
            "metadata_field": naming::METADATA_FIELD,
        },
        "tags": env.tags(),
        "after_apply": AFTER_APPLY,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_keeps_json_valid() {
        assert_eq!(json_string_content(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(json_string_content("x\ny"), "x\\ny");
    }

    #[test]
    fn strict_mode_rejects_a_missing_variable() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("iam")).unwrap();
        std::fs::write(dir.path().join("iam/api-trust.json.hbs"), r#"{"x": "{{no_such_variable}}"}"#).unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        let err = t.render_json("iam/api-trust.json", &json!({})).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("api-trust.json.hbs") && msg.contains("no_such_variable"), "{msg}");
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn rendered_text_must_be_json() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("iam")).unwrap();
        std::fs::write(dir.path().join("iam/api-trust.json.hbs"), "not json").unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        let msg = t.render_json("iam/api-trust.json", &json!({})).unwrap_err().to_string();
        assert!(msg.contains("not valid JSON"), "{msg}");
    }
}
