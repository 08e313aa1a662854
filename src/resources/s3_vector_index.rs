//! The vector index in the S3 vector bucket (`[vector_store] kind = "s3_vectors"`), where Bedrock
//! writes the embeddings. Its data type, dimension, distance metric and non-filterable metadata
//! keys are set at creation only (everything but Tags is create-only in the CloudFormation schema
//! of AWS::S3Vectors::Index): a change is a replace. Bedrock keeps each chunk's text and metadata in
//! the keys `AMAZON_BEDROCK_TEXT` and `AMAZON_BEDROCK_METADATA`, which must be non-filterable (the
//! 2 KB limit on filterable metadata, `config::BEDROCK_METADATA_KEYS`).

use super::ids;
use super::{Ctx, Id, Inputs, Kind, Needs, Observation, Resource, Step, gone, s3_vector_bucket};
use crate::aws::aws;
use crate::config::StoreKind;
use crate::error::{Error, Result};
use async_trait::async_trait;
use aws_sdk_s3vectors::types::{DataType, DistanceMetric, MetadataConfiguration};
use serde_json::{Value, json};


pub struct S3VectorIndex;

/// An index of this kind named `name` (the declared one, or one found in the bucket).
fn resource(i: Option<&Inputs>, id: Id, name: &str, n: &crate::naming::Names) -> Resource {
    let r = Resource::new(&S3VectorIndex, id, "S3 vector index", name)
        .generational()
        .arn(format!("{}/index/{name}", n.vector_bucket_arn()))
        .depends_on(&ids::VECTOR_BUCKET, Needs::Ready)
        // Observed once the bucket is known: without one of ours there is no index to read.
        .observed_after(&ids::VECTOR_BUCKET)
        // Replaced with its bucket, but deleted on its own first: S3 Vectors refuses to delete a
        // bucket that still has indexes (DeleteVectorBucket: ConflictException).
        .replaced_with(&ids::VECTOR_BUCKET)
        .tagged();
    let Some(i) = i else { return r };
    let vs = &i.env.file.vector_store;
    r.wanted_if(vs.kind == StoreKind::S3Vectors).settings(json!({
        "vector_bucket": n.vector_bucket,
        "data_type": "float32",
        "dimension": i.env.file.knowledge_base.dimensions,
        "distance_metric": vs.distance_metric().as_str(),
        "non_filterable_metadata_keys": vs.non_filterable_metadata_keys(),
    }))
    .with_spec(Spec {
        dimension: i.env.file.knowledge_base.dimensions,
        distance_metric: vs.distance_metric().as_str().to_string(),
        non_filterable_metadata_keys: vs.non_filterable_metadata_keys(),
    })
}

/// What a declared index is, made once by `desired`: what cannot change once it exists.
#[derive(Debug)]
struct Spec {
    dimension: Option<i64>,
    distance_metric: String,
    non_filterable_metadata_keys: Vec<String>,
}

impl Spec {
    /// In the shape observe reads from AWS: the keys sorted (S3 Vectors keeps a set).
    fn immutable(&self) -> Value {
        let mut keys = self.non_filterable_metadata_keys.clone();
        keys.sort();
        json!({
            "data_type": "float32",
            "dimension": self.dimension,
            "distance_metric": self.distance_metric,
            "non_filterable_metadata_keys": keys,
        })
    }
}

#[async_trait]
impl Kind for S3VectorIndex {
    fn desired(&self, i: &Inputs) -> Result<Vec<Resource>> {
        Ok(vec![resource(Some(i), ids::S3_VECTOR_INDEX, &i.env.names.vector_index, &i.env.names)])
    }

    /// Our indexes in our bucket that the file no longer names (a renamed index): deleted like a
    /// setting turned off. Looked for only when the bucket is ours and exists.
    async fn leftovers(&self, ctx: &Ctx, _declared: &[Id]) -> Result<Vec<(Resource, Observation)>> {
        let n = &ctx.env.names;
        if ctx.assigned(&ids::VECTOR_BUCKET).is_none() {
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        // The declared index (wanted or not) is observed under its own id.
        for (name, arn) in s3_vector_bucket::our_indexes(ctx, &n.vector_bucket).await? {
            // The other live generation's index is its own until blue_green retires it.
            let other = ctx.env.other_generation.as_ref().is_some_and(|o| o.vector_index == name);
            if name != n.vector_index && !other {
                let id = Id::new(format!("s3_vector_index.{name}"));
                found.push((resource(None, id, &name, n), Observation::present(Some(arn))));
            }
        }
        Ok(found)
    }

    fn cloudformation(&self, ctx: &Ctx, r: &Resource) -> Result<Vec<(String, Value)>> {
        let spec: &Spec = r.spec()?;
        let properties = json!({
            "VectorBucketArn": {"Fn::GetAtt": [super::logical_id(&ids::VECTOR_BUCKET), "VectorBucketArn"]},
            "IndexName": r.name,
            "DataType": "float32",
            "Dimension": spec.dimension,
            "DistanceMetric": spec.distance_metric,
            "MetadataConfiguration": {"NonFilterableMetadataKeys": spec.non_filterable_metadata_keys},
            "Tags": super::cfn_tags(ctx),
        });
        Ok(vec![(super::logical_id(&r.id), super::cfn("AWS::S3Vectors::Index", properties))])
    }

    async fn observe(&self, ctx: &Ctx, r: &Resource) -> Result<Observation> {
        let n = &ctx.env.names;
        // Another kind of store names no index (the bucket's deletion finds ours), and without a
        // bucket of ours there is no index of ours.
        if r.name.is_empty() || ctx.assigned(&ids::VECTOR_BUCKET).is_none() {
            return Ok(Observation::absent());
        }
        let read = |e| Error::aws(format!("read vector index {}", r.name), e);
        let got = ctx.clients.s3vectors.get_index().vector_bucket_name(&n.vector_bucket).index_name(&r.name).send().await;
        let index = match got.map_err(aws) {
            Ok(out) => out.index,
            // No such index, or no such bucket yet.
            Err(e) if e.is_not_found() => return Ok(Observation::absent()),
            Err(e) if r.unwanted && s3_vector_bucket::unavailable(&e) => return Ok(Observation::absent()),
            Err(e) => return Err(read(e)),
        };
        let Some(index) = index else { return Ok(Observation::absent()) };
        let mut obs = Observation::present(Some(index.index_arn().to_string()));
        let current = s3_vector_bucket::tags(ctx, index.index_arn()).await.map_err(read)?;
        obs.foreign = ctx.ownership(&current);
        if obs.foreign.is_some() {
            return Ok(obs);
        }
        let mut keys: Vec<String> =
            index.metadata_configuration().map(|m| m.non_filterable_metadata_keys().to_vec()).unwrap_or_default();
        keys.sort();
        let have = json!({
            "data_type": index.data_type().as_str(),
            "dimension": index.dimension(),
            "distance_metric": index.distance_metric().as_str(),
            "non_filterable_metadata_keys": keys,
        });
        let want = r.spec::<Spec>()?.immutable();
        for key in ["data_type", "dimension", "distance_metric", "non_filterable_metadata_keys"] {
            obs.diff(key, have[key].clone(), want[key].clone(), true);
        }
        obs.diff_tags(ctx, &current);
        Ok(obs)
    }

    async fn apply(&self, step: &Step, r: &Resource, obs: &Observation) -> Result<()> {
        let ctx = &step.ctx;
        let n = &ctx.env.names;
        if obs.exists {
            (step.exists)();
            if obs.changed("tags") {
                s3_vector_bucket::tag(step, &n.vector_index_arn(), &format!("vector index {}", r.name)).await?;
            }
            return Ok(());
        }
        step.progress("creating", "");
        let spec: &Spec = r.spec()?;
        let metadata = MetadataConfiguration::builder()
            .set_non_filterable_metadata_keys(Some(spec.non_filterable_metadata_keys.clone()))
            .build()
            .expect("keys are set");
        let created = ctx
            .clients
            .s3vectors
            .create_index()
            .vector_bucket_name(&n.vector_bucket)
            .index_name(&r.name)
            .data_type(DataType::Float32)
            .dimension(spec.dimension.unwrap_or_default() as i32)
            .distance_metric(DistanceMetric::from(spec.distance_metric.as_str()))
            .metadata_configuration(metadata)
            .set_tags(Some(ctx.tag_map()))
            .send()
            .await
            .map_err(aws);
        if let Some(again) = super::created(self, ctx, r, created, |e| e.is("ConflictException"), &format!("vector index {}", r.name)).await? {
            return self.apply(step, r, &again).await;
        }
        (step.exists)();
        Ok(())
    }

    /// Deletes the index and the vectors in it; one already gone is fine.
    async fn delete(&self, step: &Step, r: &Resource, _obs: &Observation) -> Result<()> {
        step.progress("deleting", &format!("vector index {}", r.name));
        let n = &step.ctx.env.names;
        let deleted =
            step.ctx.clients.s3vectors.delete_index().vector_bucket_name(&n.vector_bucket).index_name(&r.name).send().await;
        // A leftover's bucket may already be going (VectorBucket::delete deletes our indexes too).
        gone(deleted.map_err(aws), format!("delete vector index {}", r.name))
    }
}
