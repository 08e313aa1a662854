//! The emulator's Bedrock agent and Lambda behave like AWS for what ragstack depends on, seen
//! through the Rust SDK clients: ordering (index before knowledge base), IAM propagation,
//! state machines, chunking validation, and ingestion statistics computed from S3.

mod common;
use aws_sdk_bedrockagent::error::ProvideErrorMetadata;
use aws_sdk_bedrockagent::types::{
    ChunkingConfiguration, ChunkingStrategy, DataDeletionPolicy, DataSourceConfiguration, DataSourceType,
    FixedSizeChunkingConfiguration, IngestionJobStatus, KnowledgeBaseConfiguration, KnowledgeBaseStatus,
    KnowledgeBaseStorageType, KnowledgeBaseType, OpenSearchServerlessConfiguration, OpenSearchServerlessFieldMapping,
    S3DataSourceConfiguration, StorageConfiguration, VectorIngestionConfiguration, VectorKnowledgeBaseConfiguration,
};
use common::emulator::{CALLER, Emulator, encryption_policy, json_document, sdk_config, unique};
use std::time::{Duration, Instant};

struct Clients {
    agent: aws_sdk_bedrockagent::Client,
    aoss: aws_sdk_opensearchserverless::Client,
    iam: aws_sdk_iam::Client,
    s3: aws_sdk_s3::Client,
    lambda: aws_sdk_lambda::Client,
}

fn clients(e: &Emulator) -> Clients {
    Clients {
        agent: aws_sdk_bedrockagent::Client::from_conf(sdk_config!(aws_sdk_bedrockagent, e).build()),
        aoss: aws_sdk_opensearchserverless::Client::from_conf(sdk_config!(aws_sdk_opensearchserverless, e).build()),
        iam: aws_sdk_iam::Client::from_conf(sdk_config!(aws_sdk_iam, e).build()),
        lambda: aws_sdk_lambda::Client::from_conf(sdk_config!(aws_sdk_lambda, e).build()),
        s3: aws_sdk_s3::Client::from_conf(sdk_config!(aws_sdk_s3, e).force_path_style(true).build()),
    }
}

async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A role, an ACTIVE collection with an access policy for the caller, and its ARN.
async fn storage(c: &Clients, name: &str) -> (String, String, String) {
    use aws_sdk_opensearchserverless::types::{AccessPolicyType, CollectionStatus, CollectionType};
    let role = c
        .iam
        .create_role()
        .role_name(format!("{name}-kb"))
        .path("/ragstack/")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .arn()
        .to_string();
    encryption_policy(&c.aoss, &format!("{name}-enc"), &format!("collection/{name}")).await;
    let access = serde_json::json!([{"Rules": [{"ResourceType": "index", "Resource": [format!("index/{name}/*")], "Permission": ["aoss:*"]}], "Principal": [CALLER]}]);
    c.aoss
        .create_access_policy()
        .name(format!("{name}-acc"))
        .r#type(AccessPolicyType::Data)
        .policy(access.to_string())
        .send()
        .await
        .unwrap();
    let created = c.aoss.create_collection().name(name).r#type(CollectionType::Vectorsearch).send().await.unwrap();
    let detail = created.create_collection_detail().unwrap();
    let (id, arn) = (detail.id().unwrap().to_string(), detail.arn().unwrap().to_string());
    eventually("collection ACTIVE", || async {
        let out = c.aoss.batch_get_collection().ids(&id).send().await.unwrap();
        (out.collection_details()[0].status() == Some(&CollectionStatus::Active)).then_some(())
    })
    .await;
    (role, id, arn)
}

async fn create_index(c: &Clients, collection_id: &str, engine: &str, dimension: u64) {
    let schema = json_document(serde_json::json!({
        "mappings": {"properties": {"vector": {
            "type": "knn_vector",
            "dimension": dimension,
            "method": {"engine": engine, "name": "hnsw"},
        }}}
    }));
    eventually("CreateIndex allowed", || async {
        match c.aoss.create_index().id(collection_id).index_name("vectors").index_schema(schema.clone()).send().await {
            Ok(_) => Some(()),
            Err(e) if e.code() == Some("AccessDeniedException") => None,
            Err(e) => panic!("{e:?}"),
        }
    })
    .await;
}

fn kb_request(
    c: &Clients,
    name: &str,
    role: &str,
    collection_arn: &str,
) -> aws_sdk_bedrockagent::operation::create_knowledge_base::builders::CreateKnowledgeBaseFluentBuilder {
    c.agent
        .create_knowledge_base()
        .name(name)
        .role_arn(role)
        .knowledge_base_configuration(
            KnowledgeBaseConfiguration::builder()
                .r#type(KnowledgeBaseType::Vector)
                .vector_knowledge_base_configuration(
                    VectorKnowledgeBaseConfiguration::builder()
                        .embedding_model_arn("arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .storage_configuration(
            StorageConfiguration::builder()
                .r#type(KnowledgeBaseStorageType::OpensearchServerless)
                .opensearch_serverless_configuration(
                    OpenSearchServerlessConfiguration::builder()
                        .collection_arn(collection_arn)
                        .vector_index_name("vectors")
                        .field_mapping(
                            OpenSearchServerlessFieldMapping::builder()
                                .vector_field("vector")
                                .text_field("text")
                                .metadata_field("metadata")
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
}

async fn knowledge_base(c: &Clients, name: &str) -> String {
    let (role, collection_id, collection_arn) = storage(c, name).await;
    create_index(c, &collection_id, "faiss", 1024).await;
    let kb = eventually("role assumable", || async {
        match kb_request(c, name, &role, &collection_arn).send().await {
            Ok(out) => Some(out.knowledge_base().unwrap().knowledge_base_id().to_string()),
            Err(e) if e.message().unwrap_or_default().contains("unable to assume") => None,
            // The knowledge base's view of a new index settles after a while, as on AWS.
            Err(e) if e.message().unwrap_or_default().contains("storage configuration provided is invalid") => None,
            Err(e) => panic!("{e:?}"),
        }
    })
    .await;
    eventually("knowledge base ACTIVE", || async {
        let out = c.agent.get_knowledge_base().knowledge_base_id(&kb).send().await.unwrap();
        (out.knowledge_base().unwrap().status() == &KnowledgeBaseStatus::Active).then_some(())
    })
    .await;
    kb
}

fn fixed_size(max_tokens: i32, overlap: i32) -> VectorIngestionConfiguration {
    VectorIngestionConfiguration::builder()
        .chunking_configuration(
            ChunkingConfiguration::builder()
                .chunking_strategy(ChunkingStrategy::FixedSize)
                .fixed_size_chunking_configuration(
                    FixedSizeChunkingConfiguration::builder()
                        .max_tokens(max_tokens)
                        .overlap_percentage(overlap)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .build()
}

#[tokio::test]
async fn a_new_index_is_not_usable_by_a_knowledge_base_at_once() {
    let e = Emulator::start(&[]);
    e.configure(r#"{"delays": {"iam_propagation": 0, "knowledge_base_storage_propagation": 6}}"#);
    let c = clients(&e);
    let name = unique("kbw");
    let (role, collection_id, collection_arn) = storage(&c, &name).await;
    create_index(&c, &collection_id, "faiss", 1024).await;
    // First Bedrock does not see the index, then it is refused access to it, then it works:
    // the answers AWS gives right after an index and its data access policy are created. Polled,
    // so that a slow machine sees the same sequence.
    let mut seen: Vec<&str> = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let answer = match kb_request(&c, &name, &role, &collection_arn).send().await {
            Ok(_) => "created",
            Err(err) => {
                let message = err.message().unwrap_or_default().to_string();
                assert!(message.contains("storage configuration provided is invalid"), "{err:?}");
                if message.contains("no such index [vectors]") {
                    "no such index"
                } else {
                    assert!(message.contains("[security_exception] 403 Forbidden"), "{err:?}");
                    "403 Forbidden"
                }
            }
        };
        if seen.last() != Some(&answer) {
            seen.push(answer);
        }
        if answer == "created" || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(seen, ["no such index", "403 Forbidden", "created"]);
}

#[tokio::test]
async fn knowledge_base_needs_the_index_a_propagated_role_and_a_matching_mapping() {
    let e = Emulator::start(&[]);
    // The window while a new index settles has its own test below.
    e.configure(r#"{"delays": {"knowledge_base_storage_propagation": 0}}"#);
    let c = clients(&e);
    let name = unique("kb");
    let (role, collection_id, collection_arn) = storage(&c, &name).await;

    let no_index = kb_request(&c, &name, &role, &collection_arn).send().await.unwrap_err();
    assert_eq!(no_index.code(), Some("ValidationException"));
    assert!(no_index.message().unwrap().contains("no such index [vectors]"), "{no_index:?}");

    create_index(&c, &collection_id, "nmslib", 1024).await;
    let nmslib = kb_request(&c, &name, &role, &collection_arn).send().await.unwrap_err();
    assert!(nmslib.message().unwrap().contains("faiss"), "Bedrock rejects nmslib: {nmslib:?}");

    c.aoss.delete_index().id(&collection_id).index_name("vectors").send().await.unwrap();
    create_index(&c, &collection_id, "faiss", 512).await;
    let dims = kb_request(&c, &name, &role, &collection_arn).send().await.unwrap_err();
    assert!(dims.message().unwrap().contains("dimension"), "titan v2 defaults to 1024: {dims:?}");

    // A role younger than the propagation delay cannot be assumed yet.
    e.configure(r#"{"delays": {"iam_propagation": 30}}"#);
    c.aoss.delete_index().id(&collection_id).index_name("vectors").send().await.unwrap();
    create_index(&c, &collection_id, "faiss", 1024).await;
    let young = kb_request(&c, &name, &role, &collection_arn).send().await.unwrap_err();
    assert!(young.message().unwrap().contains("unable to assume the given role"), "{young:?}");
    e.configure(r#"{"delays": {"iam_propagation": 0}}"#);

    let created = kb_request(&c, &name, &role, &collection_arn).send().await.unwrap();
    let kb = created.knowledge_base().unwrap();
    assert_eq!(kb.status(), &KnowledgeBaseStatus::Creating);
    let id = kb.knowledge_base_id().to_string();
    let seen = eventually("ACTIVE", || async {
        let s = c
            .agent
            .get_knowledge_base()
            .knowledge_base_id(&id)
            .send()
            .await
            .unwrap()
            .knowledge_base()
            .unwrap()
            .status()
            .clone();
        (s == KnowledgeBaseStatus::Active).then_some(s)
    })
    .await;
    assert_eq!(seen, KnowledgeBaseStatus::Active);
    let dup = kb_request(&c, &name, &role, &collection_arn).send().await.unwrap_err();
    assert_eq!(dup.code(), Some("ConflictException"));

    c.agent.delete_knowledge_base().knowledge_base_id(&id).send().await.unwrap();
    eventually("gone", || async {
        match c.agent.get_knowledge_base().knowledge_base_id(&id).send().await {
            Err(e) if e.code() == Some("ResourceNotFoundException") => Some(()),
            _ => None,
        }
    })
    .await;
}

#[tokio::test]
async fn data_sources_validate_chunking_and_ingestion_counts_what_is_in_s3() {
    let e = Emulator::start(&[]);
    let c = clients(&e);
    let name = unique("ing");
    let kb = knowledge_base(&c, &name).await;
    let bucket = format!("{name}-docs");
    c.s3.create_bucket().bucket(&bucket).send().await.unwrap();
    for (key, body) in [
        ("documents/a.txt", "alpha"),
        ("documents/b.txt", "beta"),
        ("documents/c.md", "gamma"),
        ("elsewhere/x.txt", "not included"),
    ] {
        c.s3.put_object().bucket(&bucket).key(key).body(body.as_bytes().to_vec().into()).send().await.unwrap();
    }
    let s3_config = |prefix: &str| {
        DataSourceConfiguration::builder()
            .r#type(DataSourceType::S3)
            .s3_configuration(
                S3DataSourceConfiguration::builder()
                    .bucket_arn(format!("arn:aws:s3:::{bucket}"))
                    .inclusion_prefixes(prefix)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    let bad = c
        .agent
        .create_data_source()
        .knowledge_base_id(&kb)
        .name("documents")
        .data_source_configuration(s3_config("documents/"))
        .vector_ingestion_configuration(fixed_size(300, 150))
        .send()
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Some("ValidationException"), "overlap must be 1-99");

    let ds = c
        .agent
        .create_data_source()
        .knowledge_base_id(&kb)
        .name("documents")
        .data_source_configuration(s3_config("documents/"))
        .vector_ingestion_configuration(fixed_size(300, 20))
        .data_deletion_policy(DataDeletionPolicy::Retain)
        .send()
        .await
        .unwrap();
    let ds = ds.data_source().unwrap();
    let ds_id = ds.data_source_id().to_string();
    assert_eq!(ds.data_deletion_policy(), Some(&DataDeletionPolicy::Retain));
    let got = c.agent.get_data_source().knowledge_base_id(&kb).data_source_id(&ds_id).send().await.unwrap();
    let chunking =
        got.data_source().unwrap().vector_ingestion_configuration().unwrap().chunking_configuration().unwrap();
    assert_eq!(chunking.fixed_size_chunking_configuration().unwrap().overlap_percentage(), 20);

    let run = |expect_conflict: bool| {
        let (agent, kb, ds_id) = (c.agent.clone(), kb.clone(), ds_id.clone());
        async move {
            let started =
                agent.start_ingestion_job().knowledge_base_id(&kb).data_source_id(&ds_id).send().await.unwrap();
            let job = started.ingestion_job().unwrap().ingestion_job_id().to_string();
            if expect_conflict {
                let again =
                    agent.start_ingestion_job().knowledge_base_id(&kb).data_source_id(&ds_id).send().await.unwrap_err();
                assert_eq!(again.code(), Some("ConflictException"), "one running job per data source");
            }
            eventually("ingestion COMPLETE", || async {
                let out = agent
                    .get_ingestion_job()
                    .knowledge_base_id(&kb)
                    .data_source_id(&ds_id)
                    .ingestion_job_id(&job)
                    .send()
                    .await
                    .unwrap();
                let j = out.ingestion_job().unwrap().clone();
                (j.status() == &IngestionJobStatus::Complete).then_some(j)
            })
            .await
        }
    };
    let first = run(true).await;
    let s = first.statistics().unwrap();
    assert_eq!(
        (s.number_of_documents_scanned(), s.number_of_new_documents_indexed()),
        (3, 3),
        "only objects under documents/"
    );

    c.s3.put_object()
        .bucket(&bucket)
        .key("documents/a.txt")
        .body(b"alpha, revised".to_vec().into())
        .send()
        .await
        .unwrap();
    c.s3.delete_object().bucket(&bucket).key("documents/b.txt").send().await.unwrap();
    c.s3.put_object().bucket(&bucket).key("documents/d.txt").body(b"delta".to_vec().into()).send().await.unwrap();
    let second = run(false).await;
    let s = second.statistics().unwrap();
    assert_eq!(
        (
            s.number_of_documents_scanned(),
            s.number_of_new_documents_indexed(),
            s.number_of_modified_documents_indexed(),
            s.number_of_documents_deleted()
        ),
        (3, 1, 1, 1)
    );
    let third = run(false).await;
    let s = third.statistics().unwrap();
    assert_eq!(
        (
            s.number_of_new_documents_indexed(),
            s.number_of_modified_documents_indexed(),
            s.number_of_documents_deleted()
        ),
        (0, 0, 0)
    );
    let listed = c.agent.list_ingestion_jobs().knowledge_base_id(&kb).data_source_id(&ds_id).send().await.unwrap();
    assert_eq!(listed.ingestion_job_summaries().len(), 3);
}

#[tokio::test]
async fn lambda_cannot_assume_a_role_until_it_has_propagated() {
    let e = Emulator::start(&[]);
    e.configure(r#"{"delays": {"iam_propagation": 1.0}}"#);
    let c = clients(&e);
    let name = unique("fn");
    let role = c
        .iam
        .create_role()
        .role_name(&name)
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .arn()
        .to_string();
    let zip = b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec();
    let create = || {
        c.lambda
            .create_function()
            .function_name(&name)
            .runtime(aws_sdk_lambda::types::Runtime::Python313)
            .role(&role)
            .handler("handler.handler")
            .code(aws_sdk_lambda::types::FunctionCode::builder().zip_file(zip.clone().into()).build())
            .send()
    };
    let err = create().await.unwrap_err();
    assert_eq!(aws_sdk_lambda::error::ProvideErrorMetadata::code(&err), Some("InvalidParameterValueException"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    create().await.unwrap();
    let ops: Vec<String> = e.calls().iter().map(|c| c["operation"].as_str().unwrap().to_string()).collect();
    assert_eq!(ops.iter().filter(|o| *o == "CreateFunction").count(), 2, "{ops:?}");
}

#[tokio::test]
async fn ownership_tags_are_kept_on_collections_and_knowledge_bases() {
    let e = Emulator::start(&[]);
    let c = clients(&e);
    let name = unique("tag");
    let kb = knowledge_base(&c, &name).await;
    let arn = c
        .agent
        .get_knowledge_base()
        .knowledge_base_id(&kb)
        .send()
        .await
        .unwrap()
        .knowledge_base()
        .unwrap()
        .knowledge_base_arn()
        .to_string();
    c.agent
        .tag_resource()
        .resource_arn(&arn)
        .tags("ragstack:managed", "true")
        .tags("ragstack:environment", "dev")
        .send()
        .await
        .unwrap();
    let tags = c.agent.list_tags_for_resource().resource_arn(&arn).send().await.unwrap();
    assert_eq!(tags.tags().unwrap().get("ragstack:environment").map(String::as_str), Some("dev"));
    c.agent.untag_resource().resource_arn(&arn).tag_keys("ragstack:environment").send().await.unwrap();
    let tags = c.agent.list_tags_for_resource().resource_arn(&arn).send().await.unwrap();
    assert_eq!(tags.tags().unwrap().len(), 1);
    // A well-formed ARN of no knowledge base is not found; a malformed one breaks the API model.
    let absent = format!("{}ZZZZZZZZZZ", &arn[..arn.len() - 10]);
    let unknown = c.agent.list_tags_for_resource().resource_arn(absent).send().await.unwrap_err();
    assert_eq!(unknown.code(), Some("ResourceNotFoundException"));
    let malformed = c.agent.list_tags_for_resource().resource_arn(format!("{arn}X")).send().await.unwrap_err();
    assert_eq!(malformed.code(), Some("ValidationException"));

    use aws_sdk_opensearchserverless::types::{CollectionType, Tag};
    let other = unique("tagc");
    encryption_policy(&c.aoss, &format!("{other}-enc"), &format!("collection/{other}")).await;
    let created = c
        .aoss
        .create_collection()
        .name(&other)
        .r#type(CollectionType::Vectorsearch)
        .tags(Tag::builder().key("ragstack:managed").value("true").build().unwrap())
        .send()
        .await
        .unwrap();
    let collection_arn = created.create_collection_detail().unwrap().arn().unwrap().to_string();
    let tags = c.aoss.list_tags_for_resource().resource_arn(&collection_arn).send().await.unwrap();
    let pairs: Vec<(&str, &str)> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(pairs, vec![("ragstack:managed", "true")]);
}

#[tokio::test]
async fn each_service_throttles_with_its_own_error_and_the_sdk_retries_it() {
    let e = Emulator::start(&["--throttle-rate", "1"]);
    let c = clients(&e);
    let s3 = c.s3.list_buckets().send().await.unwrap_err();
    assert_eq!(aws_sdk_s3::error::ProvideErrorMetadata::code(&s3), Some("SlowDown"));
    assert_eq!(s3.raw_response().map(|r| r.status().as_u16()), Some(503));
    let iam = c.iam.list_roles().send().await.unwrap_err();
    assert_eq!(aws_sdk_iam::error::ProvideErrorMetadata::code(&iam), Some("Throttling"));
    let lambda = c.lambda.list_functions().send().await.unwrap_err();
    assert_eq!(aws_sdk_lambda::error::ProvideErrorMetadata::code(&lambda), Some("TooManyRequestsException"));
    assert_eq!(lambda.raw_response().map(|r| r.status().as_u16()), Some(429));
    let agent = c.agent.list_knowledge_bases().send().await.unwrap_err();
    assert_eq!(agent.code(), Some("ThrottlingException"));

    // With the SDK's standard retries, a 50 % throttling rate is absorbed.
    e.configure(r#"{"throttle_rate": 0.5, "seed": 3}"#);
    let retrying = aws_sdk_iam::Client::from_conf(
        sdk_config!(aws_sdk_iam, e)
            .retry_config(
                aws_sdk_iam::config::retry::RetryConfig::standard()
                    .with_max_attempts(8)
                    .with_initial_backoff(Duration::from_millis(5)),
            )
            .build(),
    );
    for _ in 0..10 {
        retrying.list_roles().send().await.unwrap();
    }
    let throttled = e.calls().iter().filter(|c| c["service"] == "iam" && c["injected"] == "throttle").count();
    assert!(throttled >= 5, "the retries met throttling ({throttled} times) and got through");
}
