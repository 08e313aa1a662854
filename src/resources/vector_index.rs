//! The vector index, through OpenSearch Serverless's control-plane index API (CreateIndex /
//! GetIndex / DeleteIndex): no data-plane network access, so it works for collections closed to
//! the public network. Right after the data access policy is created or changed, AWS answers 403
//! for up to about a minute: those calls are retried until the policy has propagated. The mapping
//! of an existing field cannot change in OpenSearch: a different mapping is a replace.

use super::ids;
use super::{Ctx, Id, Inputs, Kind, Needs, Observation, Resource, Step, failed};
use crate::aws::{AwsError, aws, from_document, to_document};
use crate::error::{Error, Result};
use crate::naming::{METADATA_FIELD, TEXT_FIELD, VECTOR_FIELD};
use crate::wait;
use async_trait::async_trait;
use serde_json::{Value, json};
use std::time::Duration;

const PROPAGATION_DEADLINE: Duration = Duration::from_secs(5 * 60);


pub struct VectorIndex;

/// 403 while the data access policy propagates; NotFound while a just-ACTIVE collection is not
/// yet serving the index API.
fn propagating(e: &AwsError) -> bool {
    e.status == Some(403) || e.is("AccessDeniedException")
}

/// Whether every key of `wanted` is in `current` with the same value (AWS adds defaults and the
/// fields Bedrock writes, which are not a difference).
fn covers(current: &Value, wanted: &Value) -> bool {
    match (current, wanted) {
        (Value::Object(c), Value::Object(w)) => w.iter().all(|(k, v)| c.get(k).is_some_and(|cv| covers(cv, v))),
        // OpenSearch reports settings as strings ("512" for 512, "true" for true).
        (Value::String(c), w @ (Value::Number(_) | Value::Bool(_))) => {
            serde_json::from_str::<Value>(c).ok().as_ref() == Some(w)
        }
        _ => crate::aws::same_json(current, wanted),
    }
}

async fn get(ctx: &Ctx, collection_id: &str, name: &str) -> std::result::Result<Option<Value>, AwsError> {
    match ctx.clients.aoss.get_index().id(collection_id).index_name(name).send().await.map_err(aws) {
        Ok(out) => Ok(Some(out.index_schema().map(from_document).unwrap_or(Value::Null))),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Mapping parameters OpenSearch leaves out of a stored mapping when they equal their default
/// (OpenSearch mapping parameters documentation: `index` defaults to true, `store` to false), so
/// GetIndex answers `{"type": "text"}` for a field sent as `{"type": "text", "index": true}`.
const MAPPING_DEFAULTS: &[(&str, &str, bool)] =
    &[("text", "index", true), ("text", "store", false), ("keyword", "index", true), ("keyword", "store", false)];

/// A field's mapping as OpenSearch reports it, with the defaults it left out put back.
fn with_defaults(field: &Value) -> Value {
    let mut out = field.clone();
    if let Value::Object(m) = &mut out {
        let kind = m.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
        for (t, key, default) in MAPPING_DEFAULTS {
            if *t == kind && !m.contains_key(*key) {
                m.insert((*key).to_string(), Value::Bool(*default));
            }
        }
    }
    out
}

fn compare(current: &Value, r: &Resource) -> Observation {
    let mut obs = Observation::present(Some(r.name.clone()));
    let wanted = r.rendered(0);
    for field in [VECTOR_FIELD, TEXT_FIELD, METADATA_FIELD] {
        let w = &wanted["mappings"]["properties"][field];
        let c = &with_defaults(&current["mappings"]["properties"][field]);
        if !covers(c, w) {
            obs.diff(&format!("mapping of {field}"), c.clone(), w.clone(), true);
        }
    }
    obs
}

#[async_trait]
impl Kind for VectorIndex {
    fn desired(&self, i: &Inputs) -> Result<Vec<Resource>> {
        let n = &i.env.names;
        Ok(vec![
            Resource::new(&VectorIndex, ids::VECTOR_INDEX, "OpenSearch Serverless vector index", &n.vector_index)
                .generational()
                .depends_on(&ids::COLLECTION, Needs::Ready)
                .depends_on(&ids::DATA_ACCESS_POLICY, Needs::Ready)
                .contained_in(&ids::COLLECTION)
                .observed_after(&ids::COLLECTION)
                .wanted_if(i.env.file.vector_store.is_opensearch())
                .settings(json!({
                    "dimension": i.env.file.knowledge_base.dimensions,
                    "method": "hnsw",
                    "engine": "faiss",
                    "space_type": "l2",
                    "vector_field": VECTOR_FIELD,
                }))
                .document(i.document("opensearch/vector-index.json")?),
        ])
    }

    /// The mapping document in CloudFormation's spelling (`knn.algo_param.ef_search` is
    /// `KnnAlgoParamEfSearch`; field names stay as they are).
    fn cloudformation(&self, _ctx: &Ctx, r: &Resource) -> Result<Vec<(String, Value)>> {
        let doc = pascal_keys(&r.rendered(0), false);
        let properties = json!({
            "CollectionEndpoint": {"Fn::GetAtt": [super::logical_id(&ids::COLLECTION), "CollectionEndpoint"]},
            "IndexName": r.name,
            "Settings": doc["Settings"],
            "Mappings": doc["Mappings"],
        });
        Ok(vec![(super::logical_id(&r.id), super::cfn("AWS::OpenSearchServerless::Index", properties))])
    }

    async fn observe(&self, ctx: &Ctx, r: &Resource) -> Result<Observation> {
        let Some(collection_id) = ctx.assigned(&ids::COLLECTION) else { return Ok(Observation::absent()) };
        // Another kind of store names no index: it goes with its collection.
        if r.name.is_empty() {
            return Ok(Observation::absent());
        }
        match get(ctx, &collection_id, &r.name).await {
            Ok(Some(current)) => Ok(compare(&current, r)),
            Ok(None) => Ok(Observation::absent()),
            Err(e) if propagating(&e) => Ok(Observation {
                unknown: Some(format!(
                    "GetIndex answers {} until the collection and its data access policy are ready",
                    e.code
                )),
                ..Observation::absent()
            }),
            Err(e) => Err(Error::aws(format!("read index {}", r.name), e)),
        }
    }

    async fn apply(&self, step: &Step, r: &Resource, obs: &Observation) -> Result<()> {
        let ctx = &step.ctx;
        let Some(collection_id) = ctx.assigned(&ids::COLLECTION) else {
            return Err(Error::Incomplete { message: "the collection id is unknown".into(), help: None });
        };
        let mut exists = obs.exists;
        if obs.unknown.is_some() {
            let current =
                wait::retrying(step, "data access policy to propagate", PROPAGATION_DEADLINE, propagating, || {
                    get(ctx, &collection_id, &r.name)
                })
                .await
                .map_err(failed(&format!("read index {}", r.name)))?;
            if let Some(current) = current {
                let again = compare(&current, r);
                if !again.changes.is_empty() {
                    return Err(Error::Refused {
                        message: format!("index {} exists with a different mapping", r.name),
                        help: "run `ragstack plan` and deploy with --allow-replace to recreate it".into(),
                    });
                }
                exists = true;
            }
        }
        if exists {
            return Ok(());
        }
        step.progress("creating", &format!("in collection {collection_id}"));
        let document = &to_document(&r.rendered(0));
        let created =
            wait::retrying(step, "data access policy to propagate", PROPAGATION_DEADLINE, propagating, || async {
                let create = ctx.clients.aoss.create_index().id(&collection_id).index_name(&r.name);
                create.index_schema(document.clone()).send().await.map_err(aws)
            })
            .await;
        match created {
            Ok(_) => {}
            Err(e) if e.is_conflict() || e.code.contains("AlreadyExists") => {}
            Err(e) => return Err(Error::aws(format!("create index {}", r.name), e)),
        }
        wait::until(step, "GetIndex to return the new index", PROPAGATION_DEADLINE, || async {
            match get(ctx, &collection_id, &r.name).await {
                Ok(found) => Ok(found.map(|_| ())),
                Err(e) if propagating(&e) => Ok(None),
                Err(e) => Err(Error::aws(format!("read index {}", r.name), e)),
            }
        })
        .await
    }

    async fn delete(&self, step: &Step, r: &Resource, _obs: &Observation) -> Result<()> {
        let ctx = &step.ctx;
        let Some(collection_id) = ctx.assigned(&ids::COLLECTION) else { return Ok(()) };
        let name = &r.name;
        step.progress("deleting", &format!("index {name}"));
        let deleted =
            wait::retrying(step, "data access policy to propagate", PROPAGATION_DEADLINE, propagating, || async {
                ctx.clients.aoss.delete_index().id(&collection_id).index_name(name).send().await.map_err(aws)
            })
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(Error::aws(format!("delete index {name}"), e)),
        }
    }
}

/// OpenSearch's snake_case and dotted keys in CloudFormation's PascalCase (`ef_construction` is
/// `EfConstruction`), except the field names under `properties`, which are data.
fn pascal_keys(v: &Value, field_names: bool) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let key = if field_names { k.clone() } else { super::logical_id(&Id::new(k.clone())) };
                    (key, pascal_keys(v, !field_names && k == "properties"))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extra_fields_and_stringly_settings_are_no_difference() {
        let current = json!({"type": "knn_vector", "dimension": "1024", "method": {"engine": "faiss", "name": "hnsw", "extra": 1}});
        assert!(covers(&current, &json!({"type": "knn_vector", "dimension": 1024, "method": {"engine": "faiss"}})));
        assert!(!covers(&current, &json!({"dimension": 512})));
        assert!(!covers(&current, &json!({"method": {"engine": "nmslib"}})));
    }

    #[test]
    fn parameters_left_out_because_they_are_defaults_are_no_difference() {
        // What GetIndex returns for a text field created with "index": true.
        let stored = json!({"type": "text"});
        assert!(covers(&with_defaults(&stored), &json!({"type": "text", "index": true})));
        assert!(!covers(&with_defaults(&stored), &json!({"type": "text", "index": false})));
        assert!(!covers(&stored, &json!({"type": "text", "index": true})), "without the defaults it differs");
        // A non-default value is kept and compared.
        let metadata = json!({"type": "text", "index": false});
        assert!(!covers(&with_defaults(&metadata), &json!({"type": "text", "index": true})));
    }
}
