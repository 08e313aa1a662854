//! The emulator's OpenSearch Serverless behaves like AWS, seen through the Rust SDK client the
//! product uses: ordering rules, state machines, the index API's access checks and propagation
//! delay, the call log and fault injection.

mod common;
use aws_sdk_opensearchserverless::Client;
use aws_sdk_opensearchserverless::error::ProvideErrorMetadata;
use aws_sdk_opensearchserverless::types::{
    AccessPolicyType, AutoscalingStatus, CollectionFilters, CollectionGroupCapacityLimits, CollectionGroupDetail,
    CollectionStatus, CollectionType, SecurityPolicyType, ServerlessGeneration, StandbyReplicas, Tag,
};
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

// -- collection groups and NextGen collections -------------------------------------------------

fn limits(min_indexing: f32, max_indexing: f32, min_search: f32, max_search: f32) -> CollectionGroupCapacityLimits {
    CollectionGroupCapacityLimits::builder()
        .min_indexing_capacity_in_ocu(min_indexing)
        .max_indexing_capacity_in_ocu(max_indexing)
        .min_search_capacity_in_ocu(min_search)
        .max_search_capacity_in_ocu(max_search)
        .build()
}

/// A collection group; `limits` None leaves capacityLimits out of the request.
async fn group(
    c: &Client,
    name: &str,
    generation: ServerlessGeneration,
    limits: Option<CollectionGroupCapacityLimits>,
) -> String {
    let out = c
        .create_collection_group()
        .name(name)
        .standby_replicas(StandbyReplicas::Enabled)
        .generation(generation)
        .set_capacity_limits(limits)
        .send()
        .await
        .unwrap();
    out.create_collection_group_detail().unwrap().id().unwrap().to_string()
}

async fn group_detail(c: &Client, id: &str) -> CollectionGroupDetail {
    let out = c.batch_get_collection_group().ids(id).send().await.unwrap();
    out.collection_group_details().first().unwrap_or_else(|| panic!("group {id} not found: {out:?}")).clone()
}

async fn group_detail_missing(c: &Client, id: &str) -> bool {
    c.batch_get_collection_group().ids(id).send().await.unwrap().collection_group_details().is_empty()
}

/// (indexing, search) OCUs the group reports it runs.
fn current(d: &CollectionGroupDetail) -> (f32, f32) {
    let cap = d.current_capacity().unwrap();
    for part in [cap.indexing().unwrap(), cap.search().unwrap()] {
        assert_eq!(part.autoscaling_status(), Some(&AutoscalingStatus::NoAction));
    }
    (cap.indexing().unwrap().capacity_in_ocu().unwrap(), cap.search().unwrap().capacity_in_ocu().unwrap())
}

/// A collection in `group`, not waited for.
async fn grouped_collection(c: &Client, name: &str, group: &str, kind: CollectionType) -> String {
    encryption_policy(c, &format!("{name}-enc"), &format!("collection/{name}")).await;
    let out = c.create_collection().name(name).r#type(kind).collection_group_name(group).send().await.unwrap();
    let detail = out.create_collection_detail().unwrap();
    assert_eq!(detail.collection_group_name(), Some(group));
    detail.id().unwrap().to_string()
}

#[tokio::test]
async fn collection_groups_have_a_full_lifecycle() {
    let c = client(shared());
    let name = unique("grp");
    let created = c
        .create_collection_group()
        .name(&name)
        .standby_replicas(StandbyReplicas::Enabled)
        .generation(ServerlessGeneration::Nextgen)
        .description("first")
        .capacity_limits(limits(0.0, 4.0, 0.0, 8.0))
        .tags(Tag::builder().key("team").value("search").build().unwrap())
        .send()
        .await
        .unwrap();
    let detail = created.create_collection_group_detail().unwrap();
    let id = detail.id().unwrap().to_string();
    assert!(id.len() >= 3 && id.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit()), "{id}");
    assert_eq!(detail.arn(), Some(format!("arn:aws:aoss:us-east-1:123456789012:collection-group/{id}").as_str()));
    assert_eq!(detail.generation(), Some(&ServerlessGeneration::Nextgen));
    assert_eq!(detail.standby_replicas(), Some(&StandbyReplicas::Enabled));
    assert_eq!(detail.capacity_limits(), Some(&limits(0.0, 4.0, 0.0, 8.0)));
    assert!(detail.created_date().unwrap() > 1_600_000_000_000, "epoch milliseconds");

    let dup =
        c.create_collection_group().name(&name).standby_replicas(StandbyReplicas::Enabled).send().await.unwrap_err();
    assert_eq!(dup.code(), Some("ConflictException"));

    // By id and by name; an empty group runs nothing.
    let got = group_detail(&c, &id).await;
    assert_eq!(
        (got.name(), got.description(), got.number_of_collections()),
        (Some(name.as_str()), Some("first"), Some(0))
    );
    assert_eq!(current(&got), (0.0, 0.0));
    let by_name = c.batch_get_collection_group().names(&name).names("no-such-group").send().await.unwrap();
    assert_eq!(by_name.collection_group_details().len(), 1);
    let missing = &by_name.collection_group_error_details()[0];
    assert_eq!((missing.name(), missing.error_code()), (Some("no-such-group"), Some("NOT_FOUND")));
    let both = c.batch_get_collection_group().ids(&id).names(&name).send().await.unwrap_err();
    assert_eq!(both.code(), Some("ValidationException"));
    assert_eq!(both.message(), Some("You can't provide names and IDs in the same request."));

    // Listed, one page at a time.
    let other = group(&c, &unique("grp"), ServerlessGeneration::Classic, None).await;
    let (mut seen, mut token) = (Vec::new(), None);
    loop {
        let page = c.list_collection_groups().max_results(1).set_next_token(token).send().await.unwrap();
        assert!(page.collection_group_summaries().len() <= 1);
        seen.extend(page.collection_group_summaries().iter().map(|s| s.id().unwrap().to_string()));
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert!(seen.contains(&id) && seen.contains(&other), "{seen:?}");

    // Capacity limits are not incremental: a field left out returns to its default.
    let updated = c
        .update_collection_group()
        .id(&id)
        .description("second")
        .capacity_limits(CollectionGroupCapacityLimits::builder().max_indexing_capacity_in_ocu(16.0).build())
        .send()
        .await
        .unwrap();
    let u = updated.update_collection_group_detail().unwrap();
    assert_eq!(u.capacity_limits(), Some(&limits(0.0, 16.0, 0.0, 96.0)));
    assert_eq!(u.description(), Some("second"));
    assert!(u.last_modified_date().unwrap() >= u.created_date().unwrap());
    let defaults = group_detail(&c, &other).await;
    assert_eq!(defaults.generation(), Some(&ServerlessGeneration::Classic), "CLASSIC unless NEXTGEN is asked for");
    assert_eq!(defaults.capacity_limits(), Some(&limits(1.0, 96.0, 1.0, 96.0)));

    // Tags work on the group's ARN.
    let arn = got.arn().unwrap();
    c.tag_resource()
        .resource_arn(arn)
        .tags(Tag::builder().key("env").value("dev").build().unwrap())
        .send()
        .await
        .unwrap();
    c.untag_resource().resource_arn(arn).tag_keys("team").send().await.unwrap();
    let tags = c.list_tags_for_resource().resource_arn(arn).send().await.unwrap();
    let tags: Vec<_> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, vec![("env", "dev")]);

    c.delete_collection_group().id(&id).send().await.unwrap();
    let gone = c.batch_get_collection_group().ids(&id).send().await.unwrap();
    assert!(gone.collection_group_details().is_empty());
    assert_eq!(gone.collection_group_error_details()[0].error_code(), Some("NOT_FOUND"));
    let again = c.delete_collection_group().id(&id).send().await.unwrap_err();
    assert_eq!(again.code(), Some("ResourceNotFoundException"));
}

#[tokio::test]
async fn collection_group_capacity_limits_are_validated_as_aws_documents() {
    let c = client(shared());
    let create = |generation: ServerlessGeneration, l: CollectionGroupCapacityLimits| {
        c.create_collection_group()
            .name(unique("cap"))
            .standby_replicas(StandbyReplicas::Enabled)
            .generation(generation)
            .capacity_limits(l)
            .send()
    };
    let err = create(ServerlessGeneration::Nextgen, limits(8.0, 4.0, 0.0, 4.0)).await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"), "a minimum above its maximum");
    assert!(err.message().unwrap().contains("minIndexingCapacityInOCU"), "{err:?}");
    let err = create(ServerlessGeneration::Nextgen, limits(0.0, 2.3, 0.0, 4.0)).await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    assert!(err.message().unwrap().contains("multiple of 0.5"), "{err:?}");
    let err = create(ServerlessGeneration::Nextgen, limits(0.0, 3.0, 0.0, 4.0)).await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"), "3 is not among 0, 2, 4, 8, 16 and multiples of 16");
    let err = create(ServerlessGeneration::Classic, limits(0.0, 4.0, 0.0, 4.0)).await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"), "Classic groups cannot scale to zero");
    let err = create(ServerlessGeneration::Nextgen, limits(0.0, 0.5, 0.0, 4.0)).await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"), "the API model's minimum maximum is 1");
    create(ServerlessGeneration::Nextgen, limits(0.0, 2.0, 0.0, 1696.0)).await.unwrap();
    let id = group(&c, &unique("cap"), ServerlessGeneration::Nextgen, None).await;
    let err = c
        .update_collection_group()
        .id(&id)
        .capacity_limits(CollectionGroupCapacityLimits::builder().min_search_capacity_in_ocu(128.0).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"), "the omitted maximum resets to 96, below the minimum");
}

#[tokio::test]
async fn a_nextgen_collection_takes_its_group_and_is_active_in_seconds() {
    let c = client(shared());
    let g = unique("ngg");
    let gid = group(&c, &g, ServerlessGeneration::Nextgen, None).await;
    let next = unique("ngc");
    let next_id = grouped_collection(&c, &next, &g, CollectionType::Vectorsearch).await;
    let classic = unique("clc");
    encryption_policy(&c, &format!("{classic}-enc"), &format!("collection/{classic}")).await;
    let created = c.create_collection().name(&classic).r#type(CollectionType::Vectorsearch).send().await.unwrap();
    let classic_id = created.create_collection_detail().unwrap().id().unwrap().to_string();
    assert_eq!(created.create_collection_detail().unwrap().collection_group_name(), None);

    // NextGen provisions in seconds, Classic in minutes: the NextGen collection, created first,
    // is ACTIVE while the Classic one is still CREATING.
    wait_for(&c, &next_id, CollectionStatus::Active).await;
    assert_eq!(status(&c, &classic_id).await, Some(CollectionStatus::Creating));

    let got = c.batch_get_collection().ids(&next_id).send().await.unwrap();
    assert_eq!(got.collection_details()[0].collection_group_name(), Some(g.as_str()));
    let filter = CollectionFilters::builder().collection_group_name(&g).build();
    let listed = c.list_collections().collection_filters(filter).send().await.unwrap();
    let listed: Vec<_> = listed.collection_summaries().iter().map(|s| (s.id(), s.collection_group_name())).collect();
    assert_eq!(listed, vec![(Some(next_id.as_str()), Some(g.as_str()))]);
    assert_eq!(group_detail(&c, &gid).await.number_of_collections(), Some(1));

    // One type of collection per group.
    let search = unique("ngs");
    encryption_policy(&c, &format!("{search}-enc"), &format!("collection/{search}")).await;
    let err = c
        .create_collection()
        .name(&search)
        .r#type(CollectionType::Search)
        .collection_group_name(&g)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
}

#[tokio::test]
async fn a_collection_group_is_deleted_only_once_empty() {
    let c = client(shared());
    let g = unique("delg");
    let gid = group(&c, &g, ServerlessGeneration::Nextgen, None).await;
    let id = grouped_collection(&c, &unique("delc"), &g, CollectionType::Vectorsearch).await;
    wait_for(&c, &id, CollectionStatus::Active).await;
    let err = c.delete_collection_group().id(&gid).send().await.unwrap_err();
    assert_eq!(err.code(), Some("ConflictException"), "the group holds a collection");
    c.delete_collection().id(&id).send().await.unwrap();
    let err = c.delete_collection_group().id(&gid).send().await.unwrap_err();
    assert_eq!(err.code(), Some("ConflictException"), "a DELETING collection is still in the group");
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&c, &id).await.is_some() {
        assert!(Instant::now() < deadline, "never gone");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.delete_collection_group().id(&gid).send().await.unwrap();
    assert!(group_detail_missing(&c, &gid).await);
}

#[tokio::test]
async fn a_collection_in_an_unknown_group_is_refused() {
    let c = client(shared());
    let name = unique("nog");
    encryption_policy(&c, &format!("{name}-enc"), &format!("collection/{name}")).await;
    let err = c
        .create_collection()
        .name(&name)
        .r#type(CollectionType::Vectorsearch)
        .collection_group_name("no-such-group")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    let listed = c.list_collections().send().await.unwrap();
    assert!(listed.collection_summaries().iter().all(|s| s.name() != Some(name.as_str())));
}

/// CreateIndex, retried while the data access policy propagates.
async fn create_index(c: &Client, id: &str, index: &str, schema: serde_json::Value) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match c.create_index().id(id).index_name(index).index_schema(doc(schema.clone())).send().await {
            Ok(_) => return Ok(()),
            Err(e) if e.code() == Some("AccessDeniedException") && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => return Err(format!("{}: {}", e.code().unwrap_or("?"), e.message().unwrap_or(""))),
        }
    }
}

#[tokio::test]
async fn nextgen_refuses_an_explicit_knn_engine_that_classic_accepts() {
    let c = client(shared());
    let g = unique("eng");
    group(&c, &g, ServerlessGeneration::Nextgen, None).await;
    let next = unique("engn");
    let next_id = grouped_collection(&c, &next, &g, CollectionType::Vectorsearch).await;
    let classic = unique("engc");
    let classic_id = active_collection(&c, &classic).await;
    wait_for(&c, &next_id, CollectionStatus::Active).await;
    let policy = serde_json::json!([{"Rules": [{"ResourceType": "index", "Resource": [format!("index/{next}/*"), format!("index/{classic}/*")], "Permission": ["aoss:*"]}], "Principal": [CALLER]}]);
    c.create_access_policy().name(&g).r#type(AccessPolicyType::Data).policy(policy.to_string()).send().await.unwrap();

    let vector = |method: serde_json::Value| {
        let mut field = serde_json::json!({"type": "knn_vector", "dimension": 4});
        if !method.is_null() {
            field["method"] = method;
        }
        serde_json::json!({"settings": {"index": {"knn": true}}, "mappings": {"properties": {"v": field}}})
    };
    let with_engine = vector(serde_json::json!({"name": "hnsw", "engine": "faiss", "space_type": "l2"}));
    assert_eq!(
        create_index(&c, &next_id, "explicit", with_engine.clone()).await,
        Err("ValidationException: Field parameter 'engine' is not supported".to_string())
    );
    create_index(&c, &classic_id, "explicit", with_engine).await.unwrap();

    // Without the engine NextGen accepts the method and stores the engine it chose.
    create_index(&c, &next_id, "method", vector(serde_json::json!({"name": "hnsw", "space_type": "l2"})))
        .await
        .unwrap();
    let got = c.get_index().id(&next_id).index_name("method").send().await.unwrap();
    let got = ragstack::aws::from_document(got.index_schema().unwrap());
    assert_eq!(
        got["mappings"]["properties"]["v"]["method"],
        serde_json::json!({"name": "hnsw", "space_type": "l2", "engine": "faiss"})
    );
    create_index(&c, &next_id, "plain", vector(serde_json::Value::Null)).await.unwrap();
    let got = c.get_index().id(&next_id).index_name("plain").send().await.unwrap();
    let got = ragstack::aws::from_document(got.index_schema().unwrap());
    assert_eq!(got["mappings"]["properties"]["v"], serde_json::json!({"type": "knn_vector", "dimension": 4}));
}

#[tokio::test]
async fn an_idle_nextgen_group_scales_to_zero_and_a_classic_one_keeps_its_minimum() {
    let e = Emulator::start(&[]);
    e.configure(r#"{"delays": {"nextgen_idle": 2.0}}"#);
    let c = client(&e);
    let zero = group(&c, &unique("zero"), ServerlessGeneration::Nextgen, Some(limits(0.0, 4.0, 0.0, 4.0))).await;
    let floor = group(&c, &unique("floor"), ServerlessGeneration::Nextgen, Some(limits(2.0, 4.0, 4.0, 8.0))).await;
    let classic = group(&c, &unique("classic"), ServerlessGeneration::Classic, None).await;
    for gid in [&zero, &floor, &classic] {
        let name = group_detail(&c, gid).await.name().unwrap().to_string();
        grouped_collection(&c, &unique("col"), &name, CollectionType::Vectorsearch).await;
    }
    // Active: at least the workers NextGen wakes with (one indexing, two search), and the minimum.
    assert_eq!(current(&group_detail(&c, &zero).await), (1.0, 2.0));
    assert_eq!(current(&group_detail(&c, &floor).await), (2.0, 4.0));
    assert_eq!(current(&group_detail(&c, &classic).await), (1.0, 1.0));

    let deadline = Instant::now() + Duration::from_secs(10);
    while current(&group_detail(&c, &zero).await) != (0.0, 0.0) {
        assert!(Instant::now() < deadline, "the idle group never scaled to zero");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(current(&group_detail(&c, &floor).await), (2.0, 4.0), "a minimum is kept regardless of traffic");
    assert_eq!(current(&group_detail(&c, &classic).await), (1.0, 1.0), "Classic groups do not scale to zero");
}
