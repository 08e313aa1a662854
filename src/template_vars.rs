//! The variables every template sees (`templates/`): names, ARNs (with the ids AWS assigned so
//! far), the environment's settings.

use crate::config::Environment;
use crate::context::Known;
use crate::naming::{self, AFTER_APPLY, DEPLOYER_PLACEHOLDER};
use serde_json::{Value, json};

/// The ids AWS assigned that the templates name, where known (`resources` looks them up by the
/// kinds' ids).
#[derive(Debug, Clone, Copy, Default)]
pub struct Assigned<'a> {
    pub collection: Option<&'a str>,
    pub knowledge_base: Option<&'a str>,
    pub rest_api: Option<&'a str>,
}

/// The variables every template sees.
pub fn variables(env: &Environment, known: &Known, ids: &Assigned) -> Value {
    let n = &env.names;
    let f = &env.file;
    let (source_buckets, source_objects, data_sources) = data_source_vars(env);
    let arns = arns(env, ids, source_buckets, source_objects);
    json!({
        "environment": env.name,
        "region": n.region,
        "account": n.account,
        "partition": n.partition,
        "names": n,
        "arns": arns,
        "deployer": known.deployer_arn.as_deref().unwrap_or(DEPLOYER_PLACEHOLDER),
        "data_sources": data_sources,
        "vector_store": {
            "kind": f.vector_store.kind.as_str(),
            "opensearch": f.vector_store.is_opensearch(),
            "s3_vectors": f.vector_store.kind == crate::config::StoreKind::S3Vectors,
            // A key of an S3 vector bucket or a managed knowledge base is used with the callers'
            // own KMS permissions (the CloudFormation handlers of AWS::S3Vectors::VectorBucket
            // and ::Index list kms:GenerateDataKey and kms:Decrypt).
            "kms_grants": f.vector_store.kms_key_arn.as_ref().filter(|_| !f.vector_store.is_opensearch()),
            "public": f.vector_store.network_access() == crate::config::NetworkAccess::Public,
            "vpc_endpoints": f.vector_store.vpc_endpoints(),
            "kms_key_arn": f.vector_store.kms_key_arn,
            "standby_replicas": f.vector_store.standby_replicas(),
        },
        "index": {
            "name": n.vector_index,
            // 0 where Bedrock picks the model (the index is then not wanted, only rendered).
            "dimension": f.knowledge_base.dimensions.unwrap_or_default(),
            "vector_field": naming::VECTOR_FIELD,
            "text_field": naming::TEXT_FIELD,
            "metadata_field": naming::METADATA_FIELD,
            // NextGen collections refuse an explicit knn engine and use Faiss by default
            // (docs/ARCHITECTURE.md, "AWS behaviours").
            "explicit_engine": f.vector_store.generation() == crate::config::Generation::Classic,
        },
        "api": {
            "allowed_source_cidrs": f.api.allowed_source_cidrs,
        },
        "sync": {
            // The documents-changed rule matches these key prefixes; none when a data source
            // reads the whole bucket.
            "key_prefixes": key_prefixes(env),
        },
        "tags": env.tags(),
        "after_apply": AFTER_APPLY,
    })
}

/// Every ARN a template names, with the ids AWS assigned so far; the data sources' buckets and
/// objects come from `data_source_vars`.
fn arns(env: &Environment, ids: &Assigned, source_buckets: Vec<String>, source_objects: Vec<String>) -> Value {
    let (collection, kb, api) = (ids.collection, ids.knowledge_base, ids.rest_api);
    let n = &env.names;
    let f = &env.file;
    let (deployer_buckets, deployer_objects) = deployer_grants(env, &source_buckets, &source_objects);
    let generation_inference_profiles: Vec<String> =
        n.inference_profile_arn(&f.lambda.generation_model).into_iter().collect();
    let (knowledge_bases, embedding_models, index_names) = generations(env, kb);
    let vector_indexes: Vec<String> =
        index_names.iter().map(|i| format!("{}/index/{i}", n.vector_bucket_arn())).collect();
    let aoss_indexes: Vec<String> = index_names.iter().map(|i| format!("index/{}/{i}", n.collection)).collect();
    json!({
        "documents_bucket": n.bucket_arn(&n.documents_bucket),
        "knowledge_base_role": n.role_arn(&n.knowledge_base_role),
        "api_role": n.role_arn(&n.api_role),
        "collection": n.collection_arn(collection),
        "knowledge_base": n.knowledge_base_arn(kb),
        "knowledge_base_pattern": n.knowledge_base_arn_pattern(),
        "embedding_model": env.embedding_model_id().map(|id| n.foundation_model_arn(id)),
        "knowledge_bases": knowledge_bases,
        "embedding_models": embedding_models,
        "vector_indexes": vector_indexes,
        "aoss_indexes": aoss_indexes,
        // The old creator.sh's stacks of this environment (`ragstack legacy`).
        "legacy_stacks": crate::naming::legacy_stack_names(&env.name)
            .iter()
            .map(|s| format!("arn:{}:cloudformation:{}:{}:stack/{s}/*", n.partition, n.region, n.account))
            .collect::<Vec<_>>(),
        // Preflight reads the lifecycle of the model a profile routes to, in this region.
        "generation_base_model": n.foundation_model_arn(
            crate::naming::inference_profile_base(&f.lambda.generation_model).unwrap_or(&f.lambda.generation_model)
        ),
        "generation_models": n.generation_model_arns(&f.lambda.generation_model),
        "function": n.function_arn(),
        "log_group": n.log_group_arn(),
        "sync_function": n.sync_function_arn(),
        "sync_log_group": n.log_group_arn_of(&n.sync_log_group),
        "sync_role": n.role_arn(&n.sync_role),
        "scheduler_role": n.role_arn(&n.scheduler_role),
        "sync_rule": n.sync_rule_arn(),
        "sync_schedule": n.schedule_arn(&n.sync_schedule),
        "recheck_schedules": n.schedule_arn(&format!("{}*", n.recheck_schedule_prefix)),
        "sync_failures_queue": n.queue_arn(&n.sync_failures_queue),
        "vector_bucket": n.vector_bucket_arn(),
        "vector_index": n.vector_index_arn(),
        "rest_api": n.rest_api_arn(api),
        "execute_api": n.execute_api_arn(api),
        "execute_api_all": n.execute_api_all_arn(api),
        "guardrail": f.retrieval.guardrail_id.as_ref().map(|g| n.guardrail_arn(g)),
        "source_buckets": source_buckets,
        "source_objects": source_objects,
        // For the deployer's policy (`plan --deployer-policy`): ids AWS assigns on creation are
        // not known in advance, so those grants name this account and region's resources.
        "collection_pattern": format!("arn:{}:aoss:{}:{}:collection/*", n.partition, n.region, n.account),
        "deployer_buckets": deployer_buckets,
        "deployer_objects": deployer_objects,
        "generation_inference_profiles": generation_inference_profiles,
        // This region's API Gateway ARNs are this prefix and the resource's path (`/restapis`,
        // `/apikeys/ID`...): the deployer's policy grants each method on its paths.
        "apigateway": format!("arn:{}:apigateway:{}::", n.partition, n.region),
    })
}

/// The deployer manages the documents bucket (teardown empties all of it) and uploads under the
/// prefixes of data sources that read other buckets: the buckets and objects it is granted.
fn deployer_grants(
    env: &Environment,
    source_buckets: &[String],
    source_objects: &[String],
) -> (Vec<String>, Vec<String>) {
    let n = &env.names;
    let own = n.bucket_arn(&n.documents_bucket);
    let (mut buckets, mut objects) = (Vec::new(), Vec::new());
    if env.uses_documents_bucket() {
        buckets.push(own.clone());
        objects.push(format!("{own}/*"));
    }
    buckets.extend(source_buckets.iter().filter(|b| **b != own).cloned());
    let own_objects = format!("{own}/");
    objects.extend(source_objects.iter().filter(|o| !o.starts_with(&own_objects)).cloned());
    (buckets, objects)
}

/// The knowledge bases, embedding models and index names the roles grant: during a blue/green
/// change both generations', so neither loses access while the other is built or retired.
fn generations(env: &Environment, kb: Option<&str>) -> (Vec<String>, Vec<String>, Vec<String>) {
    let n = &env.names;
    let mut knowledge_bases = vec![n.knowledge_base_arn(kb)];
    let mut embedding_models: Vec<String> =
        env.embedding_model_id().map(|id| n.foundation_model_arn(id)).into_iter().collect();
    let mut index_names = vec![n.vector_index.clone()];
    if let Some(o) = env.other_generation.as_ref() {
        knowledge_bases.push(n.knowledge_base_arn(Some(&o.knowledge_base_id)));
        embedding_models.extend(o.embedding_model_arn.clone().filter(|m| !embedding_models.contains(m)));
        index_names.push(o.vector_index.clone());
    }
    (knowledge_bases, embedding_models, index_names)
}

/// The prefixes under which a change concerns a data source, or None when one reads all of the bucket.
fn key_prefixes(env: &Environment) -> Option<Vec<String>> {
    let mut prefixes: Vec<String> = Vec::new();
    for ds in &env.file.data_sources {
        let prefix = Some(ds.prefix()).filter(|p| !p.is_empty())?;
        if !prefixes.iter().any(|p| p == prefix) {
            prefixes.push(prefix.to_string());
        }
    }
    Some(prefixes)
}

/// The buckets and object ARNs the data sources read (each once), and each data source's variables.
fn data_source_vars(env: &Environment) -> (Vec<String>, Vec<String>, Vec<Value>) {
    let n = &env.names;
    let mut source_buckets: Vec<String> = Vec::new();
    let mut source_objects: Vec<String> = Vec::new();
    let mut data_sources = Vec::new();
    for ds in &env.file.data_sources {
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
    (source_buckets, source_objects, data_sources)
}
