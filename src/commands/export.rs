//! `ragstack export ENV [REGION]`: the environment as one CloudFormation template, rendered from
//! the desired state deploy uses (each kind's `Kind::cloudformation`); no second source of truth.
//!
//! The desired state is rendered for a placeholder account (`ACCOUNT`), with placeholders for the
//! ids AWS assigns (`cfnref-LOGICAL-ATTRIBUTE-` in `Known`) and for the deployer. Every string is
//! then rewritten: a placeholder id becomes `${Logical}` / `${Logical.Attribute}`, the account,
//! region and partition their pseudo parameters, the deployer the `DeployerPrincipal` parameter;
//! a string that changed becomes `Fn::Sub` (a lone reference a `Ref` or `Fn::GetAtt`). The
//! engine's dependencies become `DependsOn` where no reference says so already. The functions'
//! code is too large for an inline `ZipFile`: their packages are written next to the template and
//! read from the `CodeBucket` parameter, under keys named after their hash.

use crate::aws::Clients;
use crate::context::TargetArgs;
use crate::error::{Error, ExitStatus, Result};
use crate::output::Reporter;
use crate::resources::ids;
use crate::resources::{self, Ctx, Id, Known, Resource, lambda_function};
use crate::session::{self, Settings};
use clap::{Args, ValueEnum};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The account the template is rendered for, then replaced by `${AWS::AccountId}`.
pub const ACCOUNT: &str = "000000000000";
const PARAMETER_DEPLOYER: &str = "DeployerPrincipal";
const PARAMETER_CODE_BUCKET: &str = "CodeBucket";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Template format
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: Format,
    /// Write the template to FILE (and the functions' packages next to it) instead of stdout
    /// (packages then go to the current directory)
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// The placeholder a resource's AWS-assigned id is rendered as: `Ref` when `attribute` is empty.
fn placeholder(logical: &str, attribute: &str) -> String {
    format!("cfnref-{logical}-{attribute}-")
}

/// The ids AWS assigns, as placeholders: each kind declares which of its resources get one and
/// the CloudFormation attribute that gives it (`Resource::id_assigned_by_aws`).
pub fn placeholders(env: &crate::config::Environment, templates: &crate::render::Templates) -> Result<Known> {
    let mut known = Known::deployer(Some(placeholder(PARAMETER_DEPLOYER, "")));
    for r in resources::desired(env, templates, &Known::default())? {
        if let Some(attribute) = r.aws_assigns_id {
            known = known.with(r.id.clone(), placeholder(&resources::logical_id(&r.id), attribute));
        }
    }
    Ok(known)
}

/// A function's deployment package: its S3 key and bytes.
pub type Package = (String, Vec<u8>);

/// The template (as JSON) and the functions' packages it reads.
pub fn template(ctx: &Ctx) -> Result<(Value, Vec<Package>)> {
    let desired = resources::desired(&ctx.env, &ctx.templates, &ctx.known())?;
    let wanted: Vec<&Resource> = desired.iter().filter(|r| !r.unwanted).collect();
    let logical_of_wanted: Vec<String> = wanted.iter().map(|r| resources::logical_id(&r.id)).collect();
    let rewrite = Rewrite::new(ctx);
    let mut out = Map::new();
    let mut outputs = Map::new();
    let mut packages = Vec::new();
    for r in &wanted {
        for (n, (logical, resource)) in r.kind.cloudformation(ctx, r)?.into_iter().enumerate() {
            let mut resource = rewrite.value(resource);
            // The engine's dependencies hold for the kind's main resource (the first); the rest refer to it.
            if n == 0 {
                add_depends_on(&mut resource, &logical, r, &logical_of_wanted);
            }
            out.insert(logical, resource);
        }
        for (name, value) in &r.outputs {
            let logical = resources::logical_id(&Id::new(name.clone()));
            outputs.insert(logical, json!({"Description": name, "Value": rewrite.value(Value::String(value.clone()))}));
        }
        if r.id == ids::FUNCTION || r.id == ids::SYNC_FUNCTION {
            packages.push(lambda_function::exported_package(r, r.spec()?));
        }
    }
    let mut parameters = json!({
        PARAMETER_DEPLOYER: {
            "Type": "String",
            "Description": "ARN of the IAM role or user that deploys the stack: the vector index is created with its \
                            credentials, so the collection's data access policy names it",
            "AllowedPattern": "^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$",
        },
        PARAMETER_CODE_BUCKET: {
            "Type": "String",
            "Description": "S3 bucket (same region) holding the functions' packages that ragstack export wrote next to \
                            the template, under their file names",
            "MinLength": 3,
        },
    });
    // Only an OpenSearch collection's data access policy names the deployer.
    if !Value::Object(out.clone()).to_string().contains(PARAMETER_DEPLOYER) {
        parameters.as_object_mut().expect("an object").remove(PARAMETER_DEPLOYER);
    }
    let template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!(
            "ragstack environment {} (exported by ragstack {} from environments/{}.toml; export again rather than edit)",
            ctx.env.name, env!("CARGO_PKG_VERSION"), ctx.env.name
        ),
        "Parameters": parameters,
        "Resources": out,
        "Outputs": outputs,
    });
    Ok((template, packages))
}

/// Adds the engine's dependencies of `r` to its main CloudFormation resource (`logical`) as
/// DependsOn, where no reference orders them already and the other resource is in the template.
fn add_depends_on(resource: &mut Value, logical: &str, r: &Resource, in_template: &[String]) {
    let text = resource.to_string();
    let mut after = resource["DependsOn"].as_array().cloned().unwrap_or_default();
    for d in &r.depends_on {
        let on = resources::logical_id(&d.on);
        if in_template.contains(&on) && on != logical && !references(&text, &on) && !after.contains(&json!(on)) {
            after.push(json!(on));
        }
    }
    if !after.is_empty() {
        resource["DependsOn"] = Value::Array(after);
    }
}

/// Whether a rendered resource refers to `logical` (Ref, Fn::GetAtt, or inside Fn::Sub).
fn references(text: &str, logical: &str) -> bool {
    text.contains(&format!("\"Ref\":\"{logical}\""))
        || text.contains(&format!("\"Fn::GetAtt\":[\"{logical}\""))
        || text.contains(&format!("${{{logical}}}"))
        || text.contains(&format!("${{{logical}."))
}

/// The string rewriting described at the top of this module.
struct Rewrite {
    replacements: Vec<(String, String)>,
}

impl Rewrite {
    fn new(ctx: &Ctx) -> Rewrite {
        let n = &ctx.env.names;
        Rewrite {
            replacements: vec![
                (ACCOUNT.to_string(), "${AWS::AccountId}".into()),
                (ctx.env.region().to_string(), "${AWS::Region}".into()),
                (format!("arn:{}:", n.partition), "arn:${AWS::Partition}:".into()),
            ],
        }
    }

    fn value(&self, v: Value) -> Value {
        match v {
            Value::String(s) => self.string(&s),
            Value::Array(a) => Value::Array(a.into_iter().map(|v| self.value(v)).collect()),
            Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, self.value(v))).collect()),
            other => other,
        }
    }

    fn string(&self, s: &str) -> Value {
        // A literal `${` must read as itself inside Fn::Sub.
        let mut text = s.replace("${", "${!");
        let escaped = text.clone();
        while let Some(start) = text.find("cfnref-") {
            let rest = &text[start + "cfnref-".len()..];
            let mut parts = rest.splitn(3, '-');
            let (Some(logical), Some(attribute), Some(tail)) = (parts.next(), parts.next(), parts.next()) else {
                break;
            };
            let reference =
                if attribute.is_empty() { format!("${{{logical}}}") } else { format!("${{{logical}.{attribute}}}") };
            text = format!("{}{reference}{tail}", &text[..start]);
        }
        for (from, to) in &self.replacements {
            text = text.replace(from, to);
        }
        if text == escaped {
            return Value::String(s.to_string());
        }
        // A lone reference is a Ref or Fn::GetAtt.
        if let Some(inner) = text.strip_prefix("${").and_then(|t| t.strip_suffix('}'))
            && !inner.contains(['$', '{', '}'])
        {
            return match inner.split_once('.') {
                None => json!({"Ref": inner}),
                Some((l, a)) => json!({"Fn::GetAtt": [l, a]}),
            };
        }
        json!({"Fn::Sub": text})
    }
}

pub fn render(template: &Value, format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(template).expect("JSON value serializes") + "\n",
        Format::Yaml => serde_yaml_ng::to_string(template).expect("JSON value serializes as YAML"),
    }
}

/// Writes the template (to `output`, or stdout) and the packages (next to it, or in the current
/// directory); says on stderr what to upload where.
pub async fn run(s: &Settings, args: &ExportArgs) -> Result<ExitStatus> {
    // No AWS call: the template is for any account (pseudo parameters), rendered for a
    // placeholder one.
    let (env, templates) = session::prepare(s, &args.target, Some(ACCOUNT.to_string())).await?;
    let clients = Clients::connect(env.region(), s.profile.as_deref()).await;
    let known = placeholders(&env, &templates)?;
    let report = Arc::new(Reporter::new(s.json));
    let ctx = &Ctx { env, templates, clients, known: Mutex::new(known), report };
    let (template, packages) = template(ctx)?;
    let text = render(&template, args.format);
    let dir = match &args.output {
        Some(file) => file.parent().map(Path::to_path_buf).unwrap_or_default(),
        None => PathBuf::new(),
    };
    let write = |path: &Path, bytes: &[u8]| {
        std::fs::write(path, bytes).map_err(|e| Error::Io { context: format!("write {}", path.display()), source: e })
    };
    for (key, bytes) in &packages {
        write(&dir.join(key), bytes)?;
    }
    match &args.output {
        Some(file) => write(file, text.as_bytes())?,
        None => print!("{text}"),
    }
    let names: Vec<String> = packages.iter().map(|(k, _)| dir.join(k).display().to_string()).collect();
    let deployer = if template["Parameters"].get(PARAMETER_DEPLOYER).is_some() {
        format!(" and the deploying role or user as {PARAMETER_DEPLOYER}")
    } else {
        String::new()
    };
    eprintln!(
        "ragstack export: {} resources; upload {} to an S3 bucket in the stack's region under the same name{}, and \
         pass that bucket as parameter {PARAMETER_CODE_BUCKET}{deployer} (docs/teardown-and-migration.md, \"Deploying through CloudFormation\")",
        template["Resources"].as_object().map_or(0, Map::len),
        names.join(" and "),
        if names.len() == 1 { "" } else { "s" },
    );
    Ok(ExitStatus::Success)
}
