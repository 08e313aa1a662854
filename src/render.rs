//! Every document ragstack sends (IAM policies, OpenSearch Serverless policies, the index mapping)
//! is a handlebars template under `templates/`, embedded in the binary and overridable with
//! `--templates DIR`. Templates render in strict mode (a missing variable is an error), values are
//! escaped as JSON string content, and each result must parse as JSON.
//!
//! Files without `.hbs` (the Lambda source and page) are assets: shipped byte for byte, never
//! rendered, because their configuration arrives through environment variables.

use crate::error::{Error, Result};
use handlebars::Handlebars;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// (name, embedded text) of each template; the file is `templates/NAME.hbs`.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("iam/knowledge-base-trust.json", include_str!("../templates/iam/knowledge-base-trust.json.hbs")),
    ("iam/knowledge-base-permissions.json", include_str!("../templates/iam/knowledge-base-permissions.json.hbs")),
    ("iam/api-trust.json", include_str!("../templates/iam/api-trust.json.hbs")),
    ("iam/api-permissions.json", include_str!("../templates/iam/api-permissions.json.hbs")),
    ("iam/sync-trust.json", include_str!("../templates/iam/sync-trust.json.hbs")),
    ("iam/sync-permissions.json", include_str!("../templates/iam/sync-permissions.json.hbs")),
    ("iam/scheduler-trust.json", include_str!("../templates/iam/scheduler-trust.json.hbs")),
    ("iam/scheduler-permissions.json", include_str!("../templates/iam/scheduler-permissions.json.hbs")),
    ("events/documents-changed.json", include_str!("../templates/events/documents-changed.json.hbs")),
    ("iam/deployer-policy.json", include_str!("../templates/iam/deployer-policy.json.hbs")),
    ("s3/documents-bucket-policy.json", include_str!("../templates/s3/documents-bucket-policy.json.hbs")),
    ("opensearch/encryption-policy.json", include_str!("../templates/opensearch/encryption-policy.json.hbs")),
    ("opensearch/network-policy.json", include_str!("../templates/opensearch/network-policy.json.hbs")),
    ("opensearch/data-access-policy.json", include_str!("../templates/opensearch/data-access-policy.json.hbs")),
    ("opensearch/vector-index.json", include_str!("../templates/opensearch/vector-index.json.hbs")),
    ("apigateway/rest-api-policy.json", include_str!("../templates/apigateway/rest-api-policy.json.hbs")),
];

/// (name, embedded bytes as text) of each asset; the file is `templates/NAME`.
pub const ASSETS: &[(&str, &str)] = &[
    ("lambda/handler.py", include_str!("../templates/lambda/handler.py")),
    ("lambda/index.html", include_str!("../templates/lambda/index.html")),
    ("sync/handler.py", include_str!("../templates/sync/handler.py")),
];

#[derive(Clone)]
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
