//! What the environment's knowledge base is: its typed `Spec`, made once by `desired` and read by
//! observe, apply and `cloudformation` (docs/ARCHITECTURE.md, "The resource contract"), and what
//! cannot change once it exists, in the same shape as AWS reports it.

use crate::config::{Environment, StoreKind};
use crate::context::Known;
use crate::naming::{METADATA_FIELD, TEXT_FIELD, VECTOR_FIELD};
use crate::resources::ids;
use aws_sdk_bedrockagent::types::{
    BedrockEmbeddingModelConfiguration, EmbeddingModelConfiguration, EmbeddingModelType,
    KnowledgeBase as AwsKnowledgeBase, KnowledgeBaseConfiguration, KnowledgeBaseStorageType, KnowledgeBaseType,
    ManagedKnowledgeBaseConfiguration, OpenSearchServerlessConfiguration, OpenSearchServerlessFieldMapping,
    S3VectorsConfiguration, ServerSideEncryptionConfiguration, StorageConfiguration, VectorKnowledgeBaseConfiguration,
};
use serde_json::{Value, json};

/// Everything CreateKnowledgeBase sends.
#[derive(Debug, Clone)]
pub struct Spec {
    pub description: String,
    pub role_arn: String,
    pub embedding_model_arn: Option<String>,
    /// The dimensions parameter: only for models that take one.
    pub dimensions: Option<i32>,
    pub store: Store,
}

/// Where the vectors live.
#[derive(Debug, Clone)]
pub enum Store {
    /// The collection's index, with Bedrock's default field names.
    Opensearch { collection_arn: String, index: String },
    /// The S3 vector index, by its ARN (S3VectorsConfiguration takes indexArn alone, or
    /// vectorBucketArn with indexName: the oneOf of the CloudFormation schema).
    S3Vectors { index_arn: String },
    /// A managed knowledge base (`kind = "managed"`): Bedrock's embeddings or the file's model,
    /// an optional key, no storage configuration ("For managed knowledge bases ... No vector store
    /// configuration is required", CreateKnowledgeBase in botocore's bedrock-agent model).
    Managed { embedding_model_type: &'static str, kms_key_arn: Option<String> },
}

impl Spec {
    pub fn new(env: &Environment, known: &Known) -> Spec {
        let (n, vs) = (&env.names, &env.file.vector_store);
        let store = match vs.kind {
            StoreKind::Opensearch => Store::Opensearch {
                collection_arn: n.collection_arn(known.id(&ids::COLLECTION)),
                index: n.vector_index.clone(),
            },
            StoreKind::S3Vectors => Store::S3Vectors { index_arn: n.vector_index_arn() },
            StoreKind::Managed => Store::Managed {
                embedding_model_type: vs.embedding_model_type().as_api(),
                kms_key_arn: vs.kms_key_arn.clone(),
            },
        };
        let description = match env.embedding_model_id() {
            Some(model) => format!("ragstack {}: documents of s3 data sources, embedded with {model}", env.name),
            None => format!("ragstack {}: documents of s3 data sources, embedded by Bedrock", env.name),
        };
        Spec {
            description,
            role_arn: n.role_arn(&n.knowledge_base_role),
            embedding_model_arn: env.embedding_model_id().map(|id| n.foundation_model_arn(id)),
            dimensions: env.embedding_model.filter(|m| m.dimensions_configurable).map(|_| env.dimensions() as i32),
            store,
        }
    }

    /// What must not change, in the shape `immutable` reads from AWS.
    pub fn immutable(&self) -> Value {
        let mut want = json!({
            "type": "VECTOR",
            "embedding_model": self.embedding_model_arn,
            "embedding_model_type": null,
            "kms_key_arn": null,
            "dimensions": self.dimensions,
            "storage": self.storage_type().map(|t| t.as_str().to_string()),
            "collection": null,
            "index": null,
            "fields": null,
            "vector_index_arn": null,
        });
        match &self.store {
            Store::Opensearch { collection_arn, index } => {
                want["collection"] = json!(collection_arn);
                want["index"] = json!(index);
                want["fields"] = json!([VECTOR_FIELD, TEXT_FIELD, METADATA_FIELD]);
            }
            Store::S3Vectors { index_arn } => want["vector_index_arn"] = json!(index_arn),
            Store::Managed { embedding_model_type, kms_key_arn } => {
                want["type"] = json!("MANAGED");
                want["embedding_model_type"] = json!(embedding_model_type);
                want["kms_key_arn"] = json!(kms_key_arn);
            }
        }
        want
    }

    /// The storage type; none for a managed knowledge base.
    fn storage_type(&self) -> Option<KnowledgeBaseStorageType> {
        match self.store {
            Store::Opensearch { .. } => Some(KnowledgeBaseStorageType::OpensearchServerless),
            Store::S3Vectors { .. } => Some(KnowledgeBaseStorageType::S3Vectors),
            Store::Managed { .. } => None,
        }
    }

    /// The embedding model's dimensions, for a model that takes them.
    fn embedding_configuration(&self) -> Option<EmbeddingModelConfiguration> {
        self.dimensions.map(|d| {
            EmbeddingModelConfiguration::builder()
                .bedrock_embedding_model_configuration(BedrockEmbeddingModelConfiguration::builder().dimensions(d).build())
                .build()
        })
    }

    /// The configuration and storage CreateKnowledgeBase is sent.
    pub fn configuration(&self) -> (KnowledgeBaseConfiguration, Option<StorageConfiguration>) {
        let storage = StorageConfiguration::builder();
        let storage = match &self.store {
            Store::Managed { embedding_model_type, kms_key_arn } => {
                let managed = ManagedKnowledgeBaseConfiguration::builder()
                    .embedding_model_type(EmbeddingModelType::from(*embedding_model_type))
                    .set_embedding_model_arn(self.embedding_model_arn.clone())
                    .set_embedding_model_configuration(self.embedding_configuration())
                    .set_server_side_encryption_configuration(
                        kms_key_arn.as_ref().map(|k| ServerSideEncryptionConfiguration::builder().kms_key_arn(k).build()),
                    )
                    .build();
                let kb = KnowledgeBaseConfiguration::builder()
                    .r#type(KnowledgeBaseType::Managed)
                    .managed_knowledge_base_configuration(managed)
                    .build()
                    .expect("type is set");
                return (kb, None);
            }
            Store::Opensearch { collection_arn, index } => {
                let mapping = OpenSearchServerlessFieldMapping::builder()
                    .vector_field(VECTOR_FIELD)
                    .text_field(TEXT_FIELD)
                    .metadata_field(METADATA_FIELD)
                    .build()
                    .expect("fields are set");
                let aoss = OpenSearchServerlessConfiguration::builder()
                    .collection_arn(collection_arn)
                    .vector_index_name(index)
                    .field_mapping(mapping)
                    .build()
                    .expect("collection and index are set");
                storage.r#type(KnowledgeBaseStorageType::OpensearchServerless).opensearch_serverless_configuration(aoss)
            }
            Store::S3Vectors { index_arn } => storage
                .r#type(KnowledgeBaseStorageType::S3Vectors)
                .s3_vectors_configuration(S3VectorsConfiguration::builder().index_arn(index_arn).build()),
        };
        let vector = VectorKnowledgeBaseConfiguration::builder()
            .set_embedding_model_arn(self.embedding_model_arn.clone())
            .set_embedding_model_configuration(self.embedding_configuration())
            .build()
            .expect("model ARN is set");
        let kb = KnowledgeBaseConfiguration::builder()
            .r#type(KnowledgeBaseType::Vector)
            .vector_knowledge_base_configuration(vector)
            .build()
            .expect("type is set");
        (kb, Some(storage.build().expect("type is set")))
    }
}

/// What must not change, as AWS reports it: the type, the embedding model and its dimensions,
/// the storage (or, for a managed knowledge base, its embeddings and key).
pub fn immutable(kb: &AwsKnowledgeBase) -> Value {
    let config = kb.knowledge_base_configuration();
    let vector = config.and_then(|c| c.vector_knowledge_base_configuration());
    let managed = config.and_then(|c| c.managed_knowledge_base_configuration());
    let dims = vector
        .and_then(|v| v.embedding_model_configuration())
        .or_else(|| managed.and_then(|m| m.embedding_model_configuration()))
        .and_then(|e| e.bedrock_embedding_model_configuration())
        .and_then(|b| b.dimensions());
    let storage = kb.storage_configuration();
    let aoss = storage.and_then(|s| s.opensearch_serverless_configuration());
    let mapping = aoss.and_then(|a| a.field_mapping());
    // The S3 vector index by its ARN, however it was declared.
    let s3 = storage.and_then(|s| s.s3_vectors_configuration()).map(|c| match (c.index_arn(), c.vector_bucket_arn()) {
        (Some(arn), _) => arn.to_string(),
        (None, Some(bucket)) => format!("{bucket}/index/{}", c.index_name().unwrap_or_default()),
        (None, None) => String::new(),
    });
    json!({
        "type": config.map(|c| c.r#type().as_str()),
        "embedding_model": vector.map(|v| v.embedding_model_arn()).or_else(|| managed.and_then(|m| m.embedding_model_arn())),
        "embedding_model_type": managed.and_then(|m| m.embedding_model_type()).map(|t| t.as_str()),
        "kms_key_arn": managed.and_then(|m| m.server_side_encryption_configuration()).and_then(|e| e.kms_key_arn()),
        "dimensions": dims,
        "storage": storage.map(|s| s.r#type().as_str()),
        "collection": aoss.map(|a| a.collection_arn()),
        "index": aoss.map(|a| a.vector_index_name()),
        "fields": mapping.map(|m| [m.vector_field(), m.text_field(), m.metadata_field()]),
        "vector_index_arn": s3,
    })
}

