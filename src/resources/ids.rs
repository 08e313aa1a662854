//! Every resource's id, by kind: the names the kinds and the engine use for each other's
//! resources (`depends_on`, `observed_after`, `Known`). They live apart from the kinds so that a
//! kind's file imports another's only for its behaviour, never for its name
//! (docs/ARCHITECTURE.md, "Adding a resource kind"). Data sources' ids are made per source
//! (`data_source::id_of`).

use crate::context::Id;

// aoss_collection.rs
pub const COLLECTION: Id = Id::fixed("collection");

// aoss_collection_group.rs
pub const COLLECTION_GROUP: Id = Id::fixed("collection_group");

// aoss_policy.rs
pub const ENCRYPTION_POLICY: Id = Id::fixed("encryption_policy");
pub const NETWORK_POLICY: Id = Id::fixed("network_policy");
pub const DATA_ACCESS_POLICY: Id = Id::fixed("data_access_policy");

// api_key.rs
pub const API_KEY: Id = Id::fixed("api_key");

// api_stage.rs
pub const API_STAGE: Id = Id::fixed("api_stage");

// bucket_notifications.rs
pub const BUCKET_NOTIFICATIONS: Id = Id::fixed("bucket_notifications");

// iam_role.rs
pub const KNOWLEDGE_BASE_ROLE: Id = Id::fixed("knowledge_base_role");
pub const API_ROLE: Id = Id::fixed("api_role");
pub const SYNC_ROLE: Id = Id::fixed("sync_role");
pub const SCHEDULER_ROLE: Id = Id::fixed("scheduler_role");

// knowledge_base.rs
pub const KNOWLEDGE_BASE: Id = Id::fixed("knowledge_base");

// lambda_function.rs
pub const FUNCTION: Id = Id::fixed("function");
pub const SYNC_FUNCTION: Id = Id::fixed("sync_function");

// log_group.rs
pub const LOG_GROUP: Id = Id::fixed("log_group");
pub const SYNC_LOG_GROUP: Id = Id::fixed("sync_log_group");

// rest_api.rs
pub const REST_API: Id = Id::fixed("rest_api");

// s3_bucket.rs
pub const DOCUMENTS_BUCKET: Id = Id::fixed("documents_bucket");

// s3_vector_bucket.rs
pub const VECTOR_BUCKET: Id = Id::fixed("vector_bucket");

// s3_vector_index.rs
pub const S3_VECTOR_INDEX: Id = Id::fixed("s3_vector_index");

// sqs_queue.rs
pub const SYNC_FAILURES: Id = Id::fixed("sync_failures");

// sync_rule.rs
pub const SYNC_RULE: Id = Id::fixed("sync_rule");

// sync_schedule.rs
pub const SYNC_SCHEDULE: Id = Id::fixed("sync_schedule");

// usage_plan.rs
pub const USAGE_PLAN: Id = Id::fixed("usage_plan");

// vector_index.rs
pub const VECTOR_INDEX: Id = Id::fixed("vector_index");
