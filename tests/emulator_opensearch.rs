//! The emulator's OpenSearch Serverless behaves like AWS, seen through the Rust SDK client the
//! product uses: ordering rules, state machines, the index API's access checks and propagation
//! delay, the call log and fault injection.

mod common;
use aws_sdk_opensearchserverless::Client;
use aws_sdk_opensearchserverless::error::ProvideErrorMetadata;
use aws_sdk_opensearchserverless::types::{AccessPolicyType, CollectionStatus, CollectionType, SecurityPolicyType};
use common::emulator::{CALLER, Emulator, encryption_policy, json_document as doc, sdk_config, unique};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn shared() -> &'static Emulator {
    static E: OnceLock<Emulator> = OnceLock::new();
    E.get_or_init(|| Emulator::start(&[]))
}

fn client(e: &Emulator) -> Client {
    Client::from_conf(sdk_config!(aws_sdk_opensearchserverless, e).build())
}

async fn active_collection(c: &Client, name: &str) -> String {
    encryption_policy(c, &format!("{name}-enc"), &format!("collection/{name}")).await;
    let id = c
        .create_collection()
        .name(name)
        .r#type(CollectionType::Vectorsearch)
        .send()
        .await
        .unwrap()
        .create_collection_detail()
        .unwrap()
        .id()
        .unwrap()
        .to_string();
    wait_for(c, &id, CollectionStatus::Active).await;
    id
}

async fn status(c: &Client, id: &str) -> Option<CollectionStatus> {
    let out = c.batch_get_collection().ids(id).send().await.unwrap();
    out.collection_details().first().and_then(|d| d.status().cloned())
}

async fn wait_for(c: &Client, id: &str, want: CollectionStatus) -> Vec<Option<CollectionStatus>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    loop {
        let s = status(c, id).await;
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        if s.as_ref() == Some(&want) {
            return seen;
        }
        assert!(Instant::now() < deadline, "{id} never reached {want:?}; saw {seen:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_collection_needs_a_matching_encryption_policy_first() {
    let c = client(shared());
    let name = unique("enc");
    let err = c.create_collection().name(&name).r#type(CollectionType::Vectorsearch).send().await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    assert!(err.message().unwrap().contains("No matching security policy of encryption type"), "{err:?}");

    // A wildcard rule matches as on AWS; a rule for another name does not.
    encryption_policy(&c, &format!("{name}-other"), "collection/someone-else").await;
    assert!(c.create_collection().name(&name).r#type(CollectionType::Vectorsearch).send().await.is_err());
    encryption_policy(&c, &format!("{name}-wild"), &format!("collection/{}*", &name[..4])).await;
    let created = c.create_collection().name(&name).r#type(CollectionType::Vectorsearch).send().await.unwrap();
    let detail = created.create_collection_detail().unwrap();
    assert_eq!(detail.status(), Some(&CollectionStatus::Creating));
    assert!(detail.arn().unwrap().starts_with("arn:aws:aoss:us-east-1:123456789012:collection/"));

    let seen = wait_for(&c, detail.id().unwrap(), CollectionStatus::Active).await;
    assert_eq!(seen, vec![Some(CollectionStatus::Creating), Some(CollectionStatus::Active)]);
    let dup = c.create_collection().name(&name).r#type(CollectionType::Vectorsearch).send().await.unwrap_err();
    assert_eq!(dup.code(), Some("ConflictException"));
}

#[tokio::test]
async fn collections_are_deleted_asynchronously() {
    let c = client(shared());
    let name = unique("del");
    let id = active_collection(&c, &name).await;
    let out = c.delete_collection().id(&id).send().await.unwrap();
    assert_eq!(out.delete_collection_detail().unwrap().status(), Some(&CollectionStatus::Deleting));
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&c, &id).await.is_some() {
        assert!(Instant::now() < deadline, "never gone");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let listed = c.list_collections().send().await.unwrap();
    assert!(listed.collection_summaries().iter().all(|s| s.id() != Some(id.as_str())));
    let again = c.delete_collection().id(&id).send().await.unwrap_err();
    assert_eq!(again.code(), Some("ResourceNotFoundException"));
}

#[tokio::test]
async fn names_are_validated_as_aws_does() {
    let c = client(shared());
    for bad in ["ab", "Upper-case", "1starts-with-digit", "this-name-is-longer-than-thirty-two-chars"] {
        let err = c.create_collection().name(bad).r#type(CollectionType::Vectorsearch).send().await.unwrap_err();
        assert_eq!(err.code(), Some("ValidationException"), "{bad}");
    }
}

#[tokio::test]
async fn security_and_access_policies_have_full_lifecycles() {
    let c = client(shared());
    let name = unique("pol");
    encryption_policy(&c, &name, &format!("collection/{name}")).await;
    let got = c.get_security_policy().name(&name).r#type(SecurityPolicyType::Encryption).send().await.unwrap();
    let detail = got.security_policy_detail().unwrap();
    let version = detail.policy_version().unwrap().to_string();
    let stale = c
        .update_security_policy()
        .name(&name)
        .r#type(SecurityPolicyType::Encryption)
        .policy_version("not-the-current-version")
        .policy(r#"{"Rules":[{"ResourceType":"collection","Resource":["collection/x"]}],"AWSOwnedKey":true}"#)
        .send()
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Some("ValidationException"));
    c.update_security_policy()
        .name(&name)
        .r#type(SecurityPolicyType::Encryption)
        .policy_version(version)
        .policy(r#"{"Rules":[{"ResourceType":"collection","Resource":["collection/x"]}],"AWSOwnedKey":true}"#)
        .send()
        .await
        .unwrap();
    let listed = c.list_security_policies().r#type(SecurityPolicyType::Encryption).send().await.unwrap();
    assert!(listed.security_policy_summaries().iter().any(|s| s.name() == Some(name.as_str())));
    c.delete_security_policy().name(&name).r#type(SecurityPolicyType::Encryption).send().await.unwrap();
    let gone = c.get_security_policy().name(&name).r#type(SecurityPolicyType::Encryption).send().await.unwrap_err();
    assert_eq!(gone.code(), Some("ResourceNotFoundException"));

    let bad =
        c.create_access_policy().name(&name).r#type(AccessPolicyType::Data).policy("{}").send().await.unwrap_err();
    assert_eq!(bad.code(), Some("ValidationException"), "a data policy is a list of rule sets");
    let policy = serde_json::json!([{"Rules": [{"ResourceType": "index", "Resource": ["index/x/*"], "Permission": ["aoss:DescribeIndex"]}], "Principal": [CALLER]}]);
    c.create_access_policy()
        .name(&name)
        .r#type(AccessPolicyType::Data)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
    let dup = c
        .create_access_policy()
        .name(&name)
        .r#type(AccessPolicyType::Data)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Some("ConflictException"));
    let got = c.get_access_policy().name(&name).r#type(AccessPolicyType::Data).send().await.unwrap();
    assert!(got.access_policy_detail().unwrap().policy().is_some());
    c.delete_access_policy().name(&name).r#type(AccessPolicyType::Data).send().await.unwrap();
    assert!(c.get_access_policy().name(&name).r#type(AccessPolicyType::Data).send().await.is_err());
}

#[tokio::test]
async fn index_api_is_denied_until_the_access_policy_has_propagated() {
    let c = client(shared());
    let name = unique("idx");
    let id = active_collection(&c, &name).await;
    let schema = doc(
        serde_json::json!({"settings": {"index": {"knn": true}}, "mappings": {"properties": {"v": {"type": "knn_vector", "dimension": 4}}}}),
    );
    let create = || c.create_index().id(&id).index_name("vectors").index_schema(schema.clone()).send();

    let denied = create().await.unwrap_err();
    assert_eq!(denied.code(), Some("AccessDeniedException"), "no data access policy yet");
    assert_eq!(denied.raw_response().map(|r| r.status().as_u16()), Some(403));

    // A policy for someone else grants nothing.
    let other = serde_json::json!([{"Rules": [{"ResourceType": "index", "Resource": [format!("index/{name}/*")], "Permission": ["aoss:*"]}], "Principal": ["arn:aws:iam::123456789012:role/someone-else"]}]);
    c.create_access_policy()
        .name(format!("{name}-other"))
        .r#type(AccessPolicyType::Data)
        .policy(other.to_string())
        .send()
        .await
        .unwrap();
    let mine = serde_json::json!([{"Rules": [{"ResourceType": "index", "Resource": [format!("index/{name}/*")], "Permission": ["aoss:CreateIndex", "aoss:DescribeIndex", "aoss:DeleteIndex"]}], "Principal": [CALLER]}]);
    c.create_access_policy()
        .name(format!("{name}-mine"))
        .r#type(AccessPolicyType::Data)
        .policy(mine.to_string())
        .send()
        .await
        .unwrap();
    let propagating = create().await.unwrap_err();
    assert_eq!(propagating.code(), Some("AccessDeniedException"), "policies take time to propagate");

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match create().await {
            Ok(_) => break,
            Err(e) if e.code() == Some("AccessDeniedException") && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    let dup = create().await.unwrap_err();
    assert_eq!(dup.code(), Some("ConflictException"));
    // GetIndex answers the way OpenSearch stores an index, not the way it was sent: settings as
    // strings, with settings of OpenSearch's own.
    let got = c.get_index().id(&id).index_name("vectors").send().await.unwrap();
    let got = ragstack::aws::from_document(got.index_schema().unwrap());
    assert_eq!(got["mappings"]["properties"]["v"], serde_json::json!({"type": "knn_vector", "dimension": 4}));
    assert_eq!(got["settings"]["index"]["knn"], "true");
    assert_eq!(got["settings"]["index"]["provided_name"], "vectors");
    assert!(got["settings"]["index"]["uuid"].is_string() && got["settings"]["index"]["creation_date"].is_string());
    let missing = c.get_index().id(&id).index_name("nope").send().await.unwrap_err();
    assert_eq!(missing.code(), Some("ResourceNotFoundException"));
    // UpdateIndex was not granted.
    let update = c.update_index().id(&id).index_name("vectors").index_schema(schema.clone()).send().await.unwrap_err();
    assert_eq!(update.code(), Some("AccessDeniedException"));
    c.delete_index().id(&id).index_name("vectors").send().await.unwrap();
    assert!(c.get_index().id(&id).index_name("vectors").send().await.is_err());
}

#[tokio::test]
async fn index_api_needs_an_active_collection() {
    let c = client(shared());
    let name = unique("cre");
    encryption_policy(&c, &format!("{name}-enc"), &format!("collection/{name}")).await;
    let created = c.create_collection().name(&name).r#type(CollectionType::Vectorsearch).send().await.unwrap();
    let id = created.create_collection_detail().unwrap().id().unwrap().to_string();
    let err = c.get_index().id(&id).index_name("vectors").send().await.unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"), "collection still CREATING");
    let err = c.get_index().id("doesnotexist").index_name("vectors").send().await.unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
}

#[tokio::test]
async fn the_call_log_records_every_call_and_whether_it_mutates() {
    let e = Emulator::start(&[]);
    let c = client(&e);
    let name = unique("log");
    let _ = c.get_security_policy().name(&name).r#type(SecurityPolicyType::Encryption).send().await;
    encryption_policy(&c, &name, &format!("collection/{name}")).await;
    c.list_collections().send().await.unwrap();
    let calls = e.calls();
    let summary: Vec<(String, bool, u64)> = calls
        .iter()
        .map(|c| {
            (
                c["operation"].as_str().unwrap().to_string(),
                c["mutating"].as_bool().unwrap(),
                c["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("GetSecurityPolicy".to_string(), false, 404),
            ("CreateSecurityPolicy".to_string(), true, 200),
            ("ListCollections".to_string(), false, 200)
        ]
    );
    assert!(calls.iter().all(|c| c["service"] == "aoss"));
    e.clear_calls();
    assert!(e.calls().is_empty());
}

#[tokio::test]
async fn injected_throttling_and_errors_follow_the_configured_rates() {
    let e = Emulator::start(&["--throttle-rate", "0.2", "--error-rate", "0.05", "--seed", "7"]);
    let c = client(&e);
    let n = 400;
    let (mut throttled, mut failed) = (0, 0);
    for _ in 0..n {
        match c.list_collections().send().await {
            Ok(_) => {}
            Err(err) if err.code() == Some("ThrottlingException") => throttled += 1,
            Err(err) if err.raw_response().map(|r| r.status().as_u16()) == Some(500) => failed += 1,
            Err(err) => panic!("{err:?}"),
        }
    }
    // Binomial(400, 0.2): mean 80, sd 8; Binomial(400, 0.05): mean 20, sd 4.4. Five sd either side.
    assert!((40..=120).contains(&throttled), "throttled {throttled} of {n}");
    assert!((1..=42).contains(&failed), "failed {failed} of {n}");
    let injected = e.calls().iter().filter(|c| !c["injected"].is_null()).count();
    assert_eq!(injected, throttled + failed, "the call log marks injected faults");

    // The rate can change at run time; at 0 nothing is injected.
    e.configure(r#"{"throttle_rate": 0, "error_rate": 0}"#);
    for _ in 0..50 {
        c.list_collections().send().await.unwrap();
    }
}
