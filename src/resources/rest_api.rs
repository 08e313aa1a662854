//! The REST API (regional): `/rag` GET and `/rag/query` POST, both AWS_PROXY integrations of the
//! query function, and the function's permission for this API to invoke it (scoped to this API's
//! execute-api ARN). API Gateway does not make names unique, so two runs racing could each create
//! one: after a create, the oldest API of this environment wins and a younger duplicate is
//! deleted. Its control plane is rate limited (TooManyRequestsException): the SDK retries.
//!
//! Who may call it: with `api.allowed_source_cidrs`, a resource policy (allow everyone, deny
//! outside those networks; API Gateway developer guide, "resource policy examples": "Allow API
//! traffic based on source IP address"); with `auth = "api_key"`, the query route requires an
//! API key (`apiKeyRequired`; the page itself stays reachable, so it can ask for the key). Both
//! take effect only with a new deployment (developer guide: "you need to deploy the API for the
//! changes to take effect"): they are part of the fingerprint the stage deploys.

use super::ids;
use super::{
    Ctx, Id, Inputs, Kind, Needs, Observation, Resource, Step, failed, gone, lambda_function, none_owned, owned,
};
use crate::aws::aws;
use crate::naming::AFTER_APPLY;
use crate::error::{Error, Result};
use async_trait::async_trait;
use crate::config::{ApiAuth, Environment};
use aws_sdk_apigateway::types::{
    EndpointConfiguration, EndpointType, IntegrationType, Op, PatchOperation, RestApi as AwsRestApi,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;


pub struct RestApi;

/// The routes of the API, as (method, path).
pub const ROUTES: [(&str, &str); 2] = [("GET", "/rag"), ("POST", "/rag/query")];
/// The statement id of the function's permission for this API.
const PERMISSION_SID: &str = "ragstack-api-invoke";
const DUPLICATE_CHECK_PAUSE: Duration = Duration::from_secs(1);

/// The route that spends Bedrock tokens: the one an API key guards.
const QUERY_ROUTE: (&str, &str) = ("POST", "/rag/query");
const KEY_REQUIRED: &str = ", API key required";

/// Whether `method path` requires the API key in this environment.
fn key_required(env: &Environment, route: (&str, &str)) -> bool {
    env.file.api.auth == ApiAuth::ApiKey && route == QUERY_ROUTE
}

/// Each route with its integration, as ragstack describes them (and fingerprints deployments).
pub fn desired_routes(env: &Environment) -> Vec<String> {
    let uri = env.names.integration_uri();
    ROUTES
        .iter()
        .map(|&(m, p)| {
            let key = if key_required(env, (m, p)) { KEY_REQUIRED } else { "" };
            format!("{m} {p} -> AWS_PROXY {uri}{key}")
        })
        .collect()
}

/// The logical id of the API's CloudFormation deployment: `RestApiDeployment` and a hash of what a
/// deployment freezes (routes, API key requirement, integration, resource policy), so that a
/// change to any of them makes a new deployment, which the stage then points at.
pub fn deployment_logical_id(env: &Environment) -> String {
    use sha2::Digest;
    let routes: Vec<String> = ROUTES.iter().map(|&r| format!("{} {} {}", r.0, r.1, key_required(env, r))).collect();
    let frozen = json!([routes, env.names.integration_uri(), env.file.api.allowed_source_cidrs]);
    let hash = sha2::Sha256::digest(frozen.to_string().as_bytes());
    format!("{}Deployment{}", super::logical_id(&ids::REST_API), hash.iter().take(4).map(|b| format!("{b:02x}")).collect::<String>())
}

/// The resource policy API `api` should have, or null when it is public: its document, rendered
/// by `desired`, with `api` in place of the id it was rendered with (a placeholder when the API
/// did not exist yet, or the old API's id when it is replaced in this run).
fn desired_policy(r: &Resource, api: &str) -> Value {
    let Some(d) = r.documents.first() else { return Value::Null };
    let mut text = d.content.to_string().replace(AFTER_APPLY, api);
    if let Some(old) = r.spec::<Spec>().ok().and_then(|s| s.declared_id.as_deref()).filter(|old| *old != api) {
        text = text.replace(&format!(":{old}/"), &format!(":{api}/"));
    }
    serde_json::from_str(&text).unwrap_or_else(|_| d.content.clone())
}

pub const POLICY_TEMPLATE: &str = "apigateway/rest-api-policy.json";

/// The policy as GetRestApi returns it, parsed. API Gateway returns it as an escaped JSON string
/// (`{\"Version\":...}`: terraform-provider-aws unquotes it, "The API returns policy as an
/// escaped JSON string"), and expands `execute-api:/*` to the API's ARN; ragstack sends the ARN.
fn parse_policy(raw: Option<&str>) -> Value {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else { return Value::Null };
    let unescaped = serde_json::from_str::<String>(&format!("\"{raw}\"")).unwrap_or_else(|_| raw.to_string());
    serde_json::from_str(&unescaped).unwrap_or_else(|_| Value::String(raw.to_string()))
}

/// What `plan` and `status` say about who may call the API.
fn access(env: &Environment) -> String {
    let cidrs = &env.file.api.allowed_source_cidrs;
    let networks =
        if cidrs.is_empty() { "public: any network".to_string() } else { format!("only from {}", cidrs.join(", ")) };
    match env.file.api.auth {
        ApiAuth::None => format!("{networks}; no API key"),
        ApiAuth::ApiKey => format!("{networks}; the query route requires the API key"),
    }
}

/// Every REST API of this name, oldest first.
async fn find(ctx: &Ctx, name: &str) -> std::result::Result<Vec<AwsRestApi>, crate::aws::AwsError> {
    let mut found = Vec::new();
    let mut pages = ctx.clients.apigateway.get_rest_apis().limit(500).into_paginator().send();
    // An empty page ends the listing even with a position (moto gives one on the last page).
    while let Some(page) = pages.next().await {
        let page = page.map_err(aws)?;
        if page.items().is_empty() {
            break;
        }
        found.extend(page.items().iter().filter(|a| a.name() == Some(name)).cloned());
    }
    found.sort_by_key(|a| (a.created_date().map(|d| d.as_secs_f64() as i64), a.id().map(str::to_string)));
    Ok(found)
}

/// What API Gateway tags and lists with its tags: REST APIs, API keys, usage plans.
pub(super) trait Tagged {
    fn tag_map(&self) -> Option<&HashMap<String, String>>;
}

macro_rules! tagged {
    ($($t:ty),*) => {
        $(impl Tagged for $t {
            fn tag_map(&self) -> Option<&HashMap<String, String>> {
                self.tags()
            }
        })*
    };
}

tagged!(AwsRestApi, aws_sdk_apigateway::types::ApiKey, aws_sdk_apigateway::types::UsagePlan);

/// The tags of what API Gateway lists, as ragstack compares them (API Gateway's one tag reader;
/// `tag` is its one tag writer).
pub(super) fn tags_of<T: Tagged>(x: &T) -> BTreeMap<String, String> {
    x.tag_map().cloned().unwrap_or_default().into_iter().collect()
}

/// Path -> (resource id, its methods).
async fn resources(ctx: &Ctx, api: &str) -> Result<BTreeMap<String, (String, Vec<String>)>> {
    let out = ctx.clients.apigateway.get_resources().rest_api_id(api).limit(500).send().await;
    let out = out.map_err(aws).map_err(failed(&format!("read the resources of REST API {api}")))?;
    Ok(out
        .items()
        .iter()
        .filter_map(|r| {
            let methods = r.resource_methods().map(|m| m.keys().cloned().collect()).unwrap_or_default();
            Some((r.path()?.to_string(), (r.id()?.to_string(), methods)))
        })
        .collect())
}

/// The routes as they are: each existing method with its integration and whether it requires
/// the API key.
async fn current_routes(ctx: &Ctx, api: &str) -> Result<Vec<String>> {
    let by_path = resources(ctx, api).await?;
    let mut routes = Vec::new();
    for (method, path) in ROUTES {
        let Some((id, methods)) = by_path.get(path) else { continue };
        if !methods.iter().any(|m| m == method) {
            continue;
        }
        let got = ctx.clients.apigateway.get_method().rest_api_id(api).resource_id(id).http_method(method);
        let m = got.send().await.map_err(aws).map_err(failed(&format!("read {method} {path} of REST API {api}")))?;
        let key = if m.api_key_required() == Some(true) { KEY_REQUIRED } else { "" };
        routes.push(match m.method_integration() {
            Some(i) => format!(
                "{method} {path} -> {} {}{key}",
                i.r#type().map_or("NONE", |t| t.as_str()),
                i.uri().unwrap_or_default()
            ),
            None => format!("{method} {path} -> (no integration){key}"),
        });
    }
    Ok(routes)
}

/// The source ARN of the function's permission for this API, or null.
/// Creates the API; if a concurrent run created one too, the oldest is kept.
async fn create(step: &Step, r: &Resource) -> Result<String> {
    let ctx = &step.ctx;
    step.progress("creating", "");
    let created = ctx
        .clients
        .apigateway
        .create_rest_api()
        .name(&r.name)
        .description(r.spec::<Spec>()?.description.as_str())
        .endpoint_configuration(EndpointConfiguration::builder().types(EndpointType::Regional).build())
        .set_tags(Some(ctx.tag_map()))
        .send()
        .await
        .map_err(aws)
        .map_err(failed(&format!("create REST API {}", r.name)))?;
    let mine = created.id().unwrap_or_default().to_string();
    // The oldest (then smallest id) of the environment's APIs wins. Looked at twice: creation
    // times have a resolution of a second, so a run that saw only its own API looks again after
    // a concurrent run has had the time to create and list its own.
    let mut keeper = mine.clone();
    for pause in [Duration::ZERO, DUPLICATE_CHECK_PAUSE] {
        tokio::time::sleep(pause).await;
        let ours: Vec<AwsRestApi> = find(ctx, &r.name)
            .await
            .map_err(failed(&format!("read REST API {}", r.name)))?
            .into_iter()
            .filter(|a| ctx.ownership(&tags_of(a)).is_none())
            .collect();
        keeper = ours.first().and_then(|a| a.id()).unwrap_or(&mine).to_string();
        if keeper != mine {
            step.progress("creating", &format!("a concurrent run created REST API {keeper} first: using it"));
            delete_api(step, &mine).await?;
            break;
        }
    }
    ctx.assign(&ids::REST_API, Some(keeper.clone()));
    Ok(keeper)
}

/// The resource at `path` (creating it and its parents as needed): (id, methods). `by_path` is
/// what the API holds, read once by the caller and kept up to date here.
async fn ensure_path(
    ctx: &Ctx,
    api: &str,
    path: &str,
    by_path: &mut BTreeMap<String, (String, Vec<String>)>,
) -> Result<(String, Vec<String>)> {
    if let Some(found) = by_path.get(path) {
        return Ok(found.clone());
    }
    let (parent, part) = path.rsplit_once('/').expect("route paths start with /");
    let parent = if parent.is_empty() { "/" } else { parent };
    let (parent_id, _) = Box::pin(ensure_path(ctx, api, parent, by_path)).await?;
    let created =
        ctx.clients.apigateway.create_resource().rest_api_id(api).parent_id(parent_id).path_part(part).send().await;
    let found = match created.map_err(aws) {
        Ok(created) => (created.id().unwrap_or_default().to_string(), Vec::new()),
        // A concurrent run created it: use that one.
        Err(e) if e.is_conflict() => resources(ctx, api)
            .await?
            .remove(path)
            .ok_or_else(|| Error::aws(format!("create {path} on REST API {api}"), e))?,
        Err(e) => return Err(Error::aws(format!("create {path} on REST API {api}"), e)),
    };
    by_path.insert(path.to_string(), found.clone());
    Ok(found)
}

/// What the API is, made once by `desired`: its description, its routes (with whether each requires
/// the API key, and as observe compares them), who may call it, and its exported deployment's id.
#[derive(Debug)]
struct Spec {
    /// The API's id when it was declared (none before it exists): its policy names it.
    declared_id: Option<String>,
    description: String,
    routes: Vec<(&'static str, &'static str, bool)>,
    route_lines: Vec<String>,
    access: String,
    deployment_logical_id: String,
}

impl Spec {
    fn new(env: &Environment, declared_id: Option<&str>) -> Spec {
        Spec {
            declared_id: declared_id.map(str::to_string),
            description: format!("ragstack {}: questions to the knowledge base", env.name),
            routes: ROUTES.iter().map(|&(m, p)| (m, p, key_required(env, (m, p)))).collect(),
            route_lines: desired_routes(env),
            access: access(env),
            deployment_logical_id: deployment_logical_id(env),
        }
    }
}

#[async_trait]
impl Kind for RestApi {
    fn desired(&self, i: &Inputs) -> Result<Vec<Resource>> {
        let n = &i.env.names;
        let id = i.known.id(&ids::REST_API);
        // Ref gives the id (AWS::ApiGateway::RestApi's return values).
        let api = Resource::new(&RestApi, ids::REST_API, "API Gateway REST API", &n.rest_api)
            .id_assigned_by_aws("")
                .arn(n.rest_api_arn(id))
                .depends_on(&ids::FUNCTION, Needs::Arn)
                .tagged()
                .settings(json!({
                    "endpoint": "REGIONAL",
                    "routes": ROUTES.iter().map(|&(m, p)| {
                        let key = if key_required(i.env, (m, p)) { KEY_REQUIRED } else { "" };
                        format!("{m} {p} -> function (AWS_PROXY){key}")
                    }).collect::<Vec<_>>(),
                    "invoke_permission_source_arn": n.execute_api_arn(id),
                    "access": access(i.env),
                }))
                .with_spec(Spec::new(i.env, id));
        Ok(vec![match i.env.file.api.allowed_source_cidrs.is_empty() {
            true => api,
            false => api.document(i.document(POLICY_TEMPLATE)?),
        }])
    }

    /// The API, a resource per path segment, a method per route (AWS_PROXY to the function), the
    /// function's invoke permission and a deployment. CloudFormation deploys a deployment once:
    /// its logical id carries a hash of the methods, so a changed route makes a new one.
    fn cloudformation(&self, ctx: &Ctx, r: &Resource) -> Result<Vec<(String, Value)>> {
        let spec: &Spec = r.spec()?;
        let api = super::logical_id(&r.id);
        let mut properties = json!({
            "Name": r.name,
            "Description": spec.description,
            "EndpointConfiguration": {"Types": ["REGIONAL"]},
            "Tags": super::cfn_tags(ctx),
        });
        if !r.documents.is_empty() {
            // The policy names the API's own ARN, which would make the API depend on itself:
            // API Gateway reads `execute-api:/...` as this API (API Gateway Developer Guide,
            // "Create and attach an API Gateway resource policy to an API").
            let n = &ctx.env.names;
            let own = format!("arn:{}:execute-api:{}:{}:{}/", n.partition, n.region, n.account, ctx.known().id(&ids::REST_API).unwrap_or_default());
            properties["Policy"] = serde_json::from_str(&r.rendered(0).to_string().replace(&own, "execute-api:/"))
                .expect("a policy with an ARN replaced is still JSON");
        }
        let mut out = vec![(api.clone(), super::cfn("AWS::ApiGateway::RestApi", properties))];
        let mut methods = Vec::new();
        for &(method, path, key_required) in &spec.routes {
            let mut parent = json!({"Fn::GetAtt": [api, "RootResourceId"]});
            let mut logical = api.clone();
            for part in path.trim_start_matches('/').split('/') {
                logical = format!("{logical}{}", super::logical_id(&Id::new(part.to_string())));
                if out.iter().all(|(l, _)| *l != logical) {
                    let resource = json!({"RestApiId": {"Ref": api}, "ParentId": parent, "PathPart": part});
                    out.push((logical.clone(), super::cfn("AWS::ApiGateway::Resource", resource)));
                }
                parent = json!({"Ref": logical});
            }
            let m = json!({
                "RestApiId": {"Ref": api},
                "ResourceId": parent,
                "HttpMethod": method,
                "AuthorizationType": "NONE",
                "ApiKeyRequired": key_required,
                "Integration": {"Type": "AWS_PROXY", "IntegrationHttpMethod": "POST", "Uri": ctx.env.names.integration_uri()},
            });
            let name = format!("{logical}{}", super::logical_id(&Id::new(method.to_ascii_lowercase())));
            methods.push(name.clone());
            out.push((name, super::cfn("AWS::ApiGateway::Method", m)));
        }
        let permission = json!({
            "FunctionName": {"Ref": super::logical_id(&ids::FUNCTION)},
            "Action": "lambda:InvokeFunction",
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": ctx.env.names.execute_api_arn(ctx.known().id(&ids::REST_API)),
        });
        out.push((format!("{api}InvokePermission"), super::cfn("AWS::Lambda::Permission", permission)));
        let mut deployment = super::cfn("AWS::ApiGateway::Deployment", json!({"RestApiId": {"Ref": api}}));
        deployment["DependsOn"] = json!(methods);
        out.push((spec.deployment_logical_id.clone(), deployment));
        Ok(out)
    }

    async fn observe(&self, ctx: &Ctx, r: &Resource) -> Result<Observation> {
        let read = |e| Error::aws(format!("read REST API {}", r.name), e);
        let all = find(ctx, &r.name).await.map_err(read)?;
        let Some(api) = owned(ctx, &all, tags_of) else {
            return Ok(none_owned(ctx, &all, tags_of, AwsRestApi::id));
        };
        let id = api.id().unwrap_or_default().to_string();
        ctx.assign(&ids::REST_API, Some(id.clone()));
        let mut obs = Observation::present(Some(id.clone()));
        let endpoint: Vec<&str> =
            api.endpoint_configuration().map(|c| c.types().iter().map(|t| t.as_str()).collect()).unwrap_or_default();
        obs.diff("endpoint", json!(endpoint), json!(["REGIONAL"]), true);
        let spec: &Spec = r.spec()?;
        obs.diff("routes", json!(current_routes(ctx, &id).await?), json!(spec.route_lines), false);
        let permission = lambda_function::permission_source(ctx, &ctx.env.names.function, PERMISSION_SID).await?;
        obs.diff("invoke_permission", permission, ctx.env.names.execute_api_arn(Some(&id)), false);
        obs.diff("resource_policy", parse_policy(api.policy()), desired_policy(r, &id), false);
        obs.details.insert("access".into(), spec.access.clone().into());
        obs.diff_tags(ctx, &tags_of(api));
        Ok(obs)
    }

    async fn apply(&self, step: &Step, r: &Resource, obs: &Observation) -> Result<()> {
        let ctx = &step.ctx;
        let apigw = &ctx.clients.apigateway;
        let id = match (obs.exists, obs.id.clone()) {
            (true, Some(id)) => id,
            _ => create(step, r).await?,
        };
        (step.exists)();
        if !obs.exists || obs.changed("routes") {
            step.progress(if obs.exists { "updating" } else { "creating" }, "routes");
            let uri = ctx.env.names.integration_uri();
            let mut by_path = resources(ctx, &id).await?;
            for &(method, path, key) in &r.spec::<Spec>()?.routes {
                let resource = ensure_path(ctx, &id, path, &mut by_path).await?;
                let action = format!("define {method} {path} on REST API {id}");
                let (resource_id, methods) = resource;
                if !methods.iter().any(|m| m == method) {
                    let put = apigw.put_method().rest_api_id(&id).resource_id(&resource_id).http_method(method);
                    match put.authorization_type("NONE").api_key_required(key).send().await.map_err(aws) {
                        // A concurrent run defined it: same definition.
                        Err(e) if !e.is_conflict() => return Err(failed(&action)(e)),
                        _ => {}
                    }
                } else {
                    require_key(ctx, &id, &resource_id, method, key).await.map_err(failed(&action))?;
                }
                apigw
                    .put_integration()
                    .rest_api_id(&id)
                    .resource_id(&resource_id)
                    .http_method(method)
                    .r#type(IntegrationType::AwsProxy)
                    .integration_http_method("POST")
                    .uri(&uri)
                    .send()
                    .await
                    .map_err(aws)
                    .map_err(failed(&action))?;
            }
        }
        if !obs.exists || obs.changed("invoke_permission") {
            step.progress(if obs.exists { "updating" } else { "creating" }, "permission to invoke the function");
            let source = ctx.env.names.execute_api_arn(Some(&id));
            let grant = lambda_function::Grant { sid: PERMISSION_SID, principal: "apigateway.amazonaws.com", source_arn: &source };
            lambda_function::grant(step, &ctx.env.names.function, &grant).await?;
        }
        let policy = desired_policy(r, &id);
        if obs.changed("resource_policy") || (!obs.exists && !policy.is_null()) {
            step.progress(if obs.exists { "updating" } else { "creating" }, "resource policy");
            // An empty value removes the policy.
            let value = if policy.is_null() { String::new() } else { policy.to_string() };
            let replaced = patch(Op::Replace, "/policy", value);
            let updated = apigw.update_rest_api().rest_api_id(&id).patch_operations(replaced).send().await;
            updated.map_err(aws).map_err(failed(&format!("set the resource policy of REST API {id}")))?;
        }
        if obs.exists && obs.changed("tags") {
            step.progress("updating", "tags");
            tag(ctx, ctx.env.names.rest_api_arn(Some(&id)), &format!("REST API {id}")).await?;
        }
        Ok(())
    }

    /// Deletes the API with its stages and deployments; one already gone is fine.
    async fn delete(&self, step: &Step, _r: &Resource, obs: &Observation) -> Result<()> {
        match obs.id.as_deref() {
            Some(id) => delete_api(step, id).await,
            None => Ok(()),
        }
    }
}

/// The chat page's URL (`…/STAGE/rag`) of the environment's API, or None when it has none.
pub async fn invoke_url(ctx: &Ctx) -> Result<Option<String>> {
    let name = &ctx.env.names.rest_api;
    let all = find(ctx, name).await.map_err(|e| Error::aws(format!("read REST API {name}"), e))?;
    let id = owned(ctx, &all, tags_of).and_then(|a| a.id());
    Ok(id.map(|id| ctx.env.names.invoke_url(Some(id), &ctx.env.file.api.stage_name)))
}

/// Sets whether an existing method requires the API key, when it differs.
async fn require_key(
    ctx: &Ctx,
    api: &str,
    resource: &str,
    method: &str,
    required: bool,
) -> std::result::Result<(), crate::aws::AwsError> {
    let apigw = &ctx.clients.apigateway;
    let current = apigw.get_method().rest_api_id(api).resource_id(resource).http_method(method).send().await;
    if current.map_err(aws)?.api_key_required().unwrap_or(false) == required {
        return Ok(());
    }
    let replaced = patch(Op::Replace, "/apiKeyRequired", required.to_string());
    let updated = apigw.update_method().rest_api_id(api).resource_id(resource).http_method(method);
    updated.patch_operations(replaced).send().await.map_err(aws).map(|_| ())
}

/// One operation of an API Gateway PATCH request (Update* calls of every API Gateway kind).
pub(super) fn patch(op: Op, path: &str, value: impl Into<String>) -> PatchOperation {
    PatchOperation::builder().op(op).path(path).value(value).build()
}

/// Adds the environment's tags to an API Gateway resource (REST API, stage, API key, usage plan)
/// by its ARN; `what` names it in the error.
pub(super) async fn tag(ctx: &Ctx, arn: String, what: &str) -> Result<()> {
    let tagged = ctx.clients.apigateway.tag_resource().resource_arn(arn).set_tags(Some(ctx.tag_map())).send().await;
    tagged.map(drop).map_err(aws).map_err(failed(&format!("tag {what}")))
}

/// Deletes a REST API with its stages and deployments; one already gone is fine.
async fn delete_api(step: &Step, id: &str) -> Result<()> {
    step.progress("deleting", &format!("REST API {id}"));
    let deleted = step.ctx.clients.apigateway.delete_rest_api().rest_api_id(id).send().await;
    gone(deleted.map_err(aws), format!("delete REST API {id}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Document;

    fn declared(id: Option<&str>) -> Resource {
        let arn = format!("arn:aws:execute-api:us-east-1:123456789012:{}/*", id.unwrap_or(AFTER_APPLY));
        let spec = Spec {
            declared_id: id.map(str::to_string),
            description: String::new(),
            routes: Vec::new(),
            route_lines: Vec::new(),
            access: String::new(),
            deployment_logical_id: String::new(),
        };
        Resource::new(&RestApi, ids::REST_API, "API Gateway REST API", "api")
            .document(Document { template: POLICY_TEMPLATE.into(), content: json!({"Statement": [{"Resource": arn}]}) })
            .with_spec(spec)
    }

    /// Declared before the API existed, or with the id of the API a replace deletes: the policy
    /// names the API it is put on.
    #[test]
    fn the_policy_names_the_api_it_is_put_on() {
        let own = json!({"Statement": [{"Resource": "arn:aws:execute-api:us-east-1:123456789012:newapi1234/*"}]});
        assert_eq!(desired_policy(&declared(None), "newapi1234"), own);
        assert_eq!(desired_policy(&declared(Some("oldapi1234")), "newapi1234"), own);
        assert_eq!(desired_policy(&declared(Some("newapi1234")), "newapi1234"), own);
    }
}
