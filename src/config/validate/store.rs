//! The vector store's settings: the kind of store, the keys each kind takes, its network,
//! encryption and capacity.

use super::*;

impl Validator {
    pub fn vector_store(&mut self, file: &EnvironmentFile, target: &Target) {
        let vs = &file.vector_store;
        self.store_keys(file);
        match vs.kind {
            StoreKind::Opensearch => self.opensearch(file),
            StoreKind::S3Vectors => self.s3_vectors(file),
            StoreKind::Managed => self.managed(file),
        }
        if let Some(arn) = &vs.kms_key_arn {
            let service = match vs.kind {
                StoreKind::Opensearch => "OpenSearch Serverless",
                StoreKind::S3Vectors => "S3 Vectors",
                StoreKind::Managed => "Bedrock",
            };
            match kms_key_region(arn) {
            None => self.fail(&["vector_store", "kms_key_arn"], Some(q(arn)), "expected a KMS key ARN, arn:aws:kms:REGION:ACCOUNT:key/KEY-ID; leave the key out to use an AWS owned key".into()),
            Some(r) if r != target.region => self.fail(&["vector_store", "kms_key_arn"], Some(q(arn)), format!("the key is in {r} but the environment is deployed to {}; {service} needs a key in the same region", target.region)),
            Some(_) => {}
        }
        }
    }

    /// Each key of `[vector_store]` belongs to the chosen kind, and the kind's required keys are there.
    fn store_keys(&mut self, file: &EnvironmentFile) {
        let vs = &file.vector_store;
        let given: [(&str, bool); 12] = [
            ("generation", vs.generation.is_some()),
            ("capacity", vs.capacity.is_some()),
            ("standby_replicas", vs.standby_replicas.is_some()),
            ("network_access", vs.network_access.is_some()),
            ("vpc_endpoints", vs.vpc_endpoints.is_some()),
            ("index_name", vs.index_name.is_some()),
            ("kms_key_arn", vs.kms_key_arn.is_some()),
            ("vector_bucket", vs.vector_bucket.is_some()),
            ("distance_metric", vs.distance_metric.is_some()),
            ("non_filterable_metadata_keys", vs.non_filterable_metadata_keys.is_some()),
            ("embedding_model_type", vs.embedding_model_type.is_some()),
            ("kind", true),
        ];
        let (takes, required): (&[&str], &[&str]) = match vs.kind {
            StoreKind::Opensearch => (OPENSEARCH_KEYS, &["standby_replicas", "network_access", "index_name"]),
            StoreKind::S3Vectors => (S3_VECTORS_KEYS, &["index_name"]),
            StoreKind::Managed => (MANAGED_KEYS, &[]),
        };
        let kind = vs.kind.as_str();
        for (key, present) in given {
            if present && key != "kind" && !takes.contains(&key) {
                self.fail(
                    &["vector_store", key],
                    None,
                    format!("not a setting of kind = \"{kind}\" (it takes {}): remove it", takes.join(", ")),
                );
            }
        }
        for key in required {
            if !given.iter().any(|(k, present)| k == key && *present) {
                self.fail(&["vector_store"], None, format!("kind = \"{kind}\" needs `{key}`"));
            }
        }
    }

    fn opensearch(&mut self, file: &EnvironmentFile) {
        let v = self;
        let vs = &file.vector_store;
        if let Some(rule) = vs.index_name.as_deref().and_then(naming::index_name_rule) {
            v.fail(
                &["vector_store", "index_name"],
                Some(q(vs.index_name())),
                format!("an OpenSearch index name {rule}"),
            );
        }
        for (i, e) in vs.vpc_endpoints().iter().enumerate() {
            let ok = e.strip_prefix("vpce-").is_some_and(|id| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            });
            if !ok {
                v.fail_at(
                    vec![Seg::Key("vector_store".into()), Seg::Key("vpc_endpoints".into()), Seg::Index(i)],
                    Some(q(e)),
                    "a VPC endpoint id looks like vpce-0123456789abcdef0".into(),
                );
            }
        }
        v.capacity(file);
        // NextGen collections are reached through standard AWS PrivateLink, not OpenSearch
        // Serverless's own VPC endpoints ("Collection endpoints"): unproven with ragstack's
        // network policy, so refused rather than half working.
        if vs.generation() == Generation::Nextgen && vs.network_access() == NetworkAccess::Private {
            v.fail(
                &["vector_store", "network_access"],
                Some(q("private")),
                "a NextGen collection is reached through standard AWS PrivateLink, which ragstack does not \
                 configure yet: use network_access = \"public\" (still IAM-authenticated) or generation = \"classic\""
                    .into(),
            );
        }
        if vs.network_access() == NetworkAccess::Public && !vs.vpc_endpoints().is_empty() {
            v.fail(
                &["vector_store", "vpc_endpoints"],
                None,
                "vpc_endpoints applies only with network_access = \"private\"; with \"public\" leave it out".into(),
            );
        }
    }

    /// A managed knowledge base searches as it sees fit (managedSearchConfiguration has no search
    /// type, botocore's bedrock-agent-runtime model).
    fn managed(&mut self, file: &EnvironmentFile) {
        if let Some(t) = file.retrieval.search_type {
            self.fail(
                &["retrieval", "search_type"],
                Some(q(t.as_str())),
                "a managed knowledge base picks its own search strategy: leave search_type out".into(),
            );
        }
    }

    /// S3 Vectors: its names' rules, the metadata Bedrock needs non-filterable, semantic search only.
    fn s3_vectors(&mut self, file: &EnvironmentFile) {
        let vs = &file.vector_store;
        if let Some(name) = &vs.vector_bucket
            && let Some(rule) = naming::vector_bucket_rule(name)
        {
            self.fail(&["vector_store", "vector_bucket"], Some(q(name)), format!("an S3 vector bucket name {rule}"));
        }
        if let Some(name) = &vs.index_name
            && let Some(rule) = naming::vector_index_rule(name)
        {
            self.fail(&["vector_store", "index_name"], Some(q(name)), format!("an S3 vector index name {rule}"));
        }
        if let Some(keys) = &vs.non_filterable_metadata_keys {
            // CreateIndex: 1-10 keys of 1-63 characters (botocore's s3vectors model; the API
            // reference and CloudFormation say at least 1).
            if keys.is_empty() || keys.len() > 10 {
                self.fail(
                    &["vector_store", "non_filterable_metadata_keys"],
                    None,
                    format!("S3 Vectors takes 1 to 10 non-filterable metadata keys, not {}", keys.len()),
                );
            }
            for (i, k) in keys.iter().enumerate().filter(|(_, k)| k.is_empty() || k.len() > 63) {
                self.fail_at(
                    vec![
                        Seg::Key("vector_store".into()),
                        Seg::Key("non_filterable_metadata_keys".into()),
                        Seg::Index(i),
                    ],
                    Some(q(k)),
                    "a metadata key is 1-63 characters".into(),
                );
            }
            let missing: Vec<&str> =
                BEDROCK_METADATA_KEYS.iter().copied().filter(|b| !keys.iter().any(|k| k == b)).collect();
            if !missing.is_empty() {
                self.fail(
                    &["vector_store", "non_filterable_metadata_keys"],
                    None,
                    format!(
                        "must include {}: Bedrock stores each chunk's text and metadata there, and S3 Vectors allows \
                         only 2 KB of filterable metadata per vector, so ingestion would fail (\"Filterable metadata \
                         must have at most 2048 bytes\"); leave the key out for the default",
                        missing.join(" and ")
                    ),
                );
            }
        }
        // "For other vector store configurations, only SEMANTIC search is available" (botocore's
        // bedrock-agent-runtime model, overrideSearchType).
        if file.retrieval.search_type == Some(SearchType::Hybrid) {
            self.fail(
                &["retrieval", "search_type"],
                Some(q("HYBRID")),
                "S3 Vectors searches semantically only: use \"SEMANTIC\" or leave search_type out".into(),
            );
        }
    }

    /// `[vector_store.capacity]`: only for NextGen; the values a collection group's limits may take
    /// (OpenSearch Serverless developer guide, "Collection group capacity limits": for NextGen 0, 2,
    /// 4, 8, 16 and multiples of 16 up to 1,696; botocore's CollectionGroupCapacityLimits: a maximum
    /// of at least 1), a minimum not above its maximum.
    fn capacity(&mut self, file: &EnvironmentFile) {
        let vs = &file.vector_store;
        let Some(c) = &vs.capacity else { return };
        if !vs.is_opensearch() {
            return; // refused by store_keys
        }
        if vs.generation() != Generation::Nextgen {
            self.fail(
                &["vector_store", "capacity"],
                None,
                "capacity limits apply to generation = \"nextgen\" (a collection group); a classic collection \
                 has no limits of its own: remove [vector_store.capacity] or set generation = \"nextgen\""
                    .into(),
            );
            return;
        }
        for (key, value, zero_allowed) in [
            ("min_indexing_ocu", c.min_indexing_ocu, true),
            ("max_indexing_ocu", c.max_indexing_ocu, false),
            ("min_search_ocu", c.min_search_ocu, true),
            ("max_search_ocu", c.max_search_ocu, false),
        ] {
            let step = value == 2.0
                || value == 4.0
                || value == 8.0
                || (value % 16.0 == 0.0 && (16.0..=1696.0).contains(&value));
            if !(step || (zero_allowed && value == 0.0)) {
                let first = if zero_allowed { "0, 2" } else { "2" };
                self.fail(
                    &["vector_store", "capacity", key],
                    Some(value.to_string()),
                    format!(
                        "allowed: {first}, 4, 8, 16 or a multiple of 16 up to 1696 OCUs (AWS's valid capacity values)"
                    ),
                );
            }
        }
        for (min_key, min, max_key, max) in [
            ("min_indexing_ocu", c.min_indexing_ocu, "max_indexing_ocu", c.max_indexing_ocu),
            ("min_search_ocu", c.min_search_ocu, "max_search_ocu", c.max_search_ocu),
        ] {
            if min > max {
                self.fail(
                    &["vector_store", "capacity", min_key],
                    Some(min.to_string()),
                    format!("the minimum is above the maximum ({max_key} = {max})"),
                );
            }
        }
    }
}

/// `arn:aws:kms:eu-west-1:123456789012:key/...` -> `eu-west-1`.
fn kms_key_region(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "kms", region, account, resource]
            if naming::is_region_format(region)
                && naming::is_account_id(account)
                && resource.starts_with("key/")
                && resource.len() > 4 =>
        {
            Some(region)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kms_region() {
        assert_eq!(kms_key_region("arn:aws:kms:eu-west-1:123456789012:key/abcd"), Some("eu-west-1"));
        assert_eq!(kms_key_region("arn:aws:kms:eu-west-1:123:key/abcd"), None);
        assert_eq!(kms_key_region("alias/x"), None);
    }
}
