//! Every AWS name and ARN ragstack uses, derived in one place from the prefix, environment,
//! region and account, and checked against AWS's length and character rules before any call.
//!
//! Names are deterministic so that a re-run finds what an earlier (possibly killed) run created,
//! and so that teardown can match resources by name *and* ownership tags.

mod rules;

pub use rules::{
    aoss_name_rule, bedrock_name_rule, bucket_name_rule, eventbridge_name_rule, iam_role_rule, index_name_rule,
    lambda_name_rule, sqs_name_rule, vector_bucket_rule, vector_index_rule,
};

/// The account shown when the real one is not known (AWS's own documentation example).
pub const PLACEHOLDER_ACCOUNT: &str = "111122223333";
/// Stands in for ids AWS assigns on creation (collection id, knowledge base id, API id).
pub const AFTER_APPLY: &str = "<known after apply>";
/// Stands in for the deploying principal, which deploy reads from STS GetCallerIdentity.
pub const DEPLOYER_PLACEHOLDER: &str = "<deploying principal, from sts:GetCallerIdentity>";

/// Ownership tag keys; every taggable resource carries both.
pub const TAG_ENVIRONMENT: &str = "ragstack:environment";
pub const TAG_MANAGED: &str = "ragstack:managed";
/// On a knowledge base generation that `deploy --abandon` is deleting: never resumed, even when
/// the deletion was interrupted.
pub const TAG_ABANDONED: &str = "ragstack:abandoned";

/// Field names Bedrock writes into the vector index (the console's defaults).
pub const VECTOR_FIELD: &str = "bedrock-knowledge-base-default-vector";
pub const TEXT_FIELD: &str = "AMAZON_BEDROCK_TEXT_CHUNK";
pub const METADATA_FIELD: &str = "AMAZON_BEDROCK_METADATA";

/// Cross-region inference profile prefixes: `us.anthropic...` is a profile, not a model.
const INFERENCE_PROFILE_PREFIXES: &[&str] = &["us", "eu", "apac", "jp", "au", "ca", "us-gov", "global"];

/// The stack names of the old app's two generations for an environment, each in the order it
/// created them (docs/teardown-and-migration.md, "Migrating from creator.sh").
pub const LEGACY_STACKS: [&[&str]; 2] = [
    &["LlmsWithServerlessRag{ENV}Stack", "ApiGwLlmsLambda{ENV}Stack", "AppRunnerHosting{ENV}Stack"],
    &[
        "SRD-AOSS-{ENV}",
        "SRD-KB-{ENV}",
        "SRD-AgentCore-{ENV}",
        "SRD-Auth-{ENV}",
        "SRD-CloudFront-{ENV}",
        "SRD-Hive-{ENV}",
    ],
];

#[derive(Debug, Clone, serde::Serialize)]
pub struct Names {
    pub prefix: String,
    pub environment: String,
    pub region: String,
    pub account: String,
    pub partition: &'static str,
    pub role_path: String,
    pub documents_bucket: String,
    pub knowledge_base_role: String,
    pub api_role: String,
    pub collection: String,
    /// The NextGen collection group: one per environment (docs/ARCHITECTURE.md, "Collection groups").
    pub collection_group: String,
    pub encryption_policy: String,
    pub network_policy: String,
    pub access_policy: String,
    /// The vector index: in the OpenSearch Serverless collection, or in the S3 vector bucket.
    pub vector_index: String,
    /// The S3 vector bucket (`kind = "s3_vectors"`).
    pub vector_bucket: String,
    pub knowledge_base: String,
    pub function: String,
    pub log_group: String,
    /// The sync trigger (`[sync]`): its function, log group, roles, rule and schedules.
    pub sync_function: String,
    pub sync_log_group: String,
    pub sync_role: String,
    pub scheduler_role: String,
    pub sync_rule: String,
    pub sync_schedule: String,
    /// The trigger function's one-time re-check schedules, one per data source: this plus its id.
    pub recheck_schedule_prefix: String,
    /// The sync trigger's on-failure destination: events it failed on, kept for `ragstack sync`.
    pub sync_failures_queue: String,
    pub rest_api: String,
    pub api_key: String,
    pub usage_plan: String,
    /// The knowledge base's blue/green generation (docs/costs-and-vector-stores.md, "Changing the knowledge base without
    /// downtime"): 1 for the names above as ragstack always derived them; a later one's knowledge
    /// base and vector index carry `-gN`.
    pub generation: u32,
    #[serde(skip)]
    first_knowledge_base: String,
    #[serde(skip)]
    first_vector_index: String,
}

/// The suffix of generation `g`'s knowledge base and index names: none for the first.
fn generation_suffix(g: u32) -> String {
    if g <= 1 { String::new() } else { format!("-g{g}") }
}

/// The generation whose knowledge base (or index) of first name `first` is called `name`: 1 for
/// `first` itself, N for `first-gN` (N of 2 or more); None for any other name.
pub fn generation_of(name: &str, first: &str) -> Option<u32> {
    if name == first {
        return Some(1);
    }
    let n = name.strip_prefix(first)?.strip_prefix("-g")?;
    let g: u32 = n.parse().ok().filter(|g| *g >= 2)?;
    (n == g.to_string()).then_some(g)
}

/// A derived name that AWS would reject.
#[derive(Debug, Clone, PartialEq)]
pub struct NameProblem {
    pub what: &'static str,
    pub name: String,
    pub rule: String,
}

impl Names {
    pub fn derive(
        prefix: &str,
        environment: &str,
        region: &str,
        account: &str,
        vector_index: &str,
        vector_bucket: Option<&str>,
    ) -> Names {
        let stem = format!("{prefix}-{environment}");
        // IAM is global: the region keeps `dev` in two regions of one account apart.
        let regional_stem = format!("{stem}-{region}");
        let function = format!("{stem}-query");
        let sync_function = format!("{stem}-sync");
        Names {
            prefix: prefix.to_string(),
            environment: environment.to_string(),
            region: region.to_string(),
            account: account.to_string(),
            partition: partition(region),
            role_path: format!("/{prefix}/"),
            // Bucket names are global across all accounts: account and region make ours unique.
            documents_bucket: format!("{stem}-{account}-{region}"),
            knowledge_base_role: format!("{regional_stem}-kb"),
            api_role: format!("{regional_stem}-api"),
            collection: stem.clone(),
            collection_group: stem.clone(),
            encryption_policy: format!("{stem}-enc"),
            network_policy: format!("{stem}-net"),
            access_policy: format!("{stem}-access"),
            vector_index: vector_index.to_string(),
            vector_bucket: vector_bucket.map_or_else(|| format!("{stem}-vectors"), str::to_string),
            knowledge_base: stem.clone(),
            log_group: format!("/aws/lambda/{function}"),
            function,
            sync_log_group: format!("/aws/lambda/{sync_function}"),
            sync_role: format!("{regional_stem}-sync"),
            scheduler_role: format!("{regional_stem}-scheduler"),
            sync_rule: format!("{stem}-documents-changed"),
            sync_schedule: sync_function.clone(),
            recheck_schedule_prefix: format!("{stem}-recheck-"),
            sync_failures_queue: format!("{stem}-sync-failures"),
            sync_function,
            api_key: format!("{stem}-key"),
            usage_plan: stem.clone(),
            first_knowledge_base: stem.clone(),
            first_vector_index: vector_index.to_string(),
            rest_api: stem,
            generation: 1,
        }
    }

    /// The same names for generation `g` of the knowledge base: its name and its index's carry
    /// the generation's suffix; everything else is shared by the generations.
    pub fn at_generation(&self, g: u32) -> Names {
        let mut n = self.clone();
        n.generation = g.max(1);
        n.knowledge_base = format!("{}{}", self.first_knowledge_base, generation_suffix(g));
        n.vector_index = format!("{}{}", self.first_vector_index, generation_suffix(g));
        n
    }

    /// The generation a knowledge base named `name` belongs to, if it is one of this environment's.
    pub fn knowledge_base_generation(&self, name: &str) -> Option<u32> {
        generation_of(name, &self.first_knowledge_base)
    }

    /// The generation a vector index named `name` belongs to, if it is one of this environment's.
    pub fn vector_index_generation(&self, name: &str) -> Option<u32> {
        generation_of(name, &self.first_vector_index)
    }

    /// Every rule AWS enforces on these names; empty when all are acceptable.
    pub fn problems(&self) -> Vec<NameProblem> {
        let mut out = Vec::new();
        let mut check = |what: &'static str, name: &str, rule: Option<String>| {
            if let Some(rule) = rule {
                out.push(NameProblem { what, name: name.to_string(), rule });
            }
        };
        for (what, name) in [
            ("OpenSearch Serverless collection", &self.collection),
            ("OpenSearch Serverless collection group", &self.collection_group),
            ("OpenSearch Serverless encryption policy", &self.encryption_policy),
            ("OpenSearch Serverless network policy", &self.network_policy),
            ("OpenSearch Serverless data access policy", &self.access_policy),
        ] {
            check(what, name, aoss_name_rule(name));
        }
        check("S3 documents bucket", &self.documents_bucket, bucket_name_rule(&self.documents_bucket));
        check("IAM role (knowledge base)", &self.knowledge_base_role, iam_role_rule(&self.knowledge_base_role));
        check("IAM role (API function)", &self.api_role, iam_role_rule(&self.api_role));
        check("Lambda function", &self.function, lambda_name_rule(&self.function));
        check("IAM role (sync function)", &self.sync_role, iam_role_rule(&self.sync_role));
        check("IAM role (scheduler)", &self.scheduler_role, iam_role_rule(&self.scheduler_role));
        check("Lambda function (sync)", &self.sync_function, lambda_name_rule(&self.sync_function));
        check("SQS queue (sync failures)", &self.sync_failures_queue, sqs_name_rule(&self.sync_failures_queue));
        check("EventBridge rule", &self.sync_rule, eventbridge_name_rule(&self.sync_rule));
        check("EventBridge Scheduler schedule", &self.sync_schedule, eventbridge_name_rule(&self.sync_schedule));
        // A data source id is 10 characters (Bedrock's model: pattern [0-9a-zA-Z]{10}).
        let recheck = format!("{}0123456789", self.recheck_schedule_prefix);
        check("EventBridge Scheduler schedule (re-check)", &recheck, eventbridge_name_rule(&recheck));
        check("Bedrock knowledge base", &self.knowledge_base, bedrock_name_rule(&self.knowledge_base));
        out
    }

    pub fn bucket_arn(&self, bucket: &str) -> String {
        format!("arn:{}:s3:::{bucket}", self.partition)
    }

    pub fn role_arn(&self, role: &str) -> String {
        format!("arn:{}:iam::{}:role{}{role}", self.partition, self.account, self.role_path)
    }

    pub fn collection_arn(&self, id: Option<&str>) -> String {
        format!("arn:{}:aoss:{}:{}:collection/{}", self.partition, self.region, self.account, id.unwrap_or(AFTER_APPLY))
    }

    pub fn collection_group_arn(&self, id: Option<&str>) -> String {
        let id = id.unwrap_or(AFTER_APPLY);
        format!("arn:{}:aoss:{}:{}:collection-group/{id}", self.partition, self.region, self.account)
    }

    /// A collection's endpoint: Classic `ID.REGION.aoss.amazonaws.com`, NextGen
    /// `ID.aoss.REGION.on.aws` (OpenSearch Serverless developer guide, "Collection endpoints").
    pub fn collection_endpoint(&self, id: Option<&str>, nextgen: bool) -> String {
        let id = id.unwrap_or(AFTER_APPLY);
        if nextgen {
            format!("https://{id}.aoss.{}.on.aws", self.region)
        } else {
            format!("https://{id}.{}.aoss.{}", self.region, dns_suffix(self.region.as_str()))
        }
    }

    pub fn knowledge_base_arn(&self, id: Option<&str>) -> String {
        format!(
            "arn:{}:bedrock:{}:{}:knowledge-base/{}",
            self.partition,
            self.region,
            self.account,
            id.unwrap_or(AFTER_APPLY)
        )
    }

    /// What the knowledge-base role's trust policy accepts as `aws:SourceArn`: the role must exist
    /// before the knowledge base (and its id) does, so AWS documents this account-scoped pattern.
    pub fn knowledge_base_arn_pattern(&self) -> String {
        format!("arn:{}:bedrock:{}:{}:knowledge-base/*", self.partition, self.region, self.account)
    }

    pub fn foundation_model_arn(&self, model_id: &str) -> String {
        format!("arn:{}:bedrock:{}::foundation-model/{model_id}", self.partition, self.region)
    }

    /// The ARNs `bedrock:InvokeModel` must allow for a generation model id. A cross-region
    /// inference profile (`us.anthropic...`) needs the profile and the model in every region the
    /// profile routes to.
    pub fn generation_model_arns(&self, model_id: &str) -> Vec<String> {
        match (self.inference_profile_arn(model_id), inference_profile_base(model_id)) {
            // A global profile names its models without a region ("Global cross-Region inference"
            // in the Bedrock User Guide: arn:aws:bedrock:::foundation-model/ID).
            (Some(profile), Some(base)) if model_id.starts_with("global.") => vec![
                profile,
                format!("arn:{}:bedrock:*::foundation-model/{base}", self.partition),
                format!("arn:{}:bedrock:::foundation-model/{base}", self.partition),
            ],
            (Some(profile), Some(base)) => {
                vec![profile, format!("arn:{}:bedrock:*::foundation-model/{base}", self.partition)]
            }
            _ => vec![self.foundation_model_arn(model_id)],
        }
    }

    /// The ARN of a cross-region inference profile id (`us.anthropic...`); None for a model id.
    pub fn inference_profile_arn(&self, model_id: &str) -> Option<String> {
        inference_profile_base(model_id).map(|_| {
            format!("arn:{}:bedrock:{}:{}:inference-profile/{model_id}", self.partition, self.region, self.account)
        })
    }

    /// The ARN a generation model id is invoked by: its inference profile's, or the model's.
    pub fn generation_model_arn(&self, model_id: &str) -> String {
        self.inference_profile_arn(model_id).unwrap_or_else(|| self.foundation_model_arn(model_id))
    }

    pub fn function_arn(&self) -> String {
        self.function_arn_of(&self.function)
    }

    pub fn sync_function_arn(&self) -> String {
        self.function_arn_of(&self.sync_function)
    }

    pub fn function_arn_of(&self, function: &str) -> String {
        format!("arn:{}:lambda:{}:{}:function:{function}", self.partition, self.region, self.account)
    }

    pub fn vector_bucket_arn(&self) -> String {
        format!("arn:{}:s3vectors:{}:{}:bucket/{}", self.partition, self.region, self.account, self.vector_bucket)
    }

    pub fn vector_index_arn(&self) -> String {
        format!("{}/index/{}", self.vector_bucket_arn(), self.vector_index)
    }

    pub fn queue_arn(&self, queue: &str) -> String {
        format!("arn:{}:sqs:{}:{}:{queue}", self.partition, self.region, self.account)
    }

    pub fn sync_rule_arn(&self) -> String {
        format!("arn:{}:events:{}:{}:rule/{}", self.partition, self.region, self.account, self.sync_rule)
    }

    /// A schedule of the default group (ragstack's schedules live there).
    pub fn schedule_arn(&self, name: &str) -> String {
        format!("arn:{}:scheduler:{}:{}:schedule/default/{name}", self.partition, self.region, self.account)
    }

    /// What an AWS_PROXY integration calls: the function, through API Gateway's Lambda path.
    pub fn integration_uri(&self) -> String {
        format!(
            "arn:{}:apigateway:{}:lambda:path/2015-03-31/functions/{}/invocations",
            self.partition,
            self.region,
            self.function_arn()
        )
    }

    pub fn stage_arn(&self, id: &str, stage: &str) -> String {
        format!("arn:{}:apigateway:{}::/restapis/{id}/stages/{stage}", self.partition, self.region)
    }

    pub fn log_group_arn(&self) -> String {
        self.log_group_arn_of(&self.log_group)
    }

    pub fn log_group_arn_of(&self, group: &str) -> String {
        format!("arn:{}:logs:{}:{}:log-group:{group}", self.partition, self.region, self.account)
    }

    pub fn rest_api_arn(&self, id: Option<&str>) -> String {
        format!("arn:{}:apigateway:{}::/restapis/{}", self.partition, self.region, id.unwrap_or(AFTER_APPLY))
    }

    /// The source ARN the function's invoke permission is scoped to: this API, any stage, /rag routes.
    pub fn execute_api_arn(&self, id: Option<&str>) -> String {
        format!(
            "arn:{}:execute-api:{}:{}:{}/*/*/rag*",
            self.partition,
            self.region,
            self.account,
            id.unwrap_or(AFTER_APPLY)
        )
    }

    /// Every stage, method and path of this API: what its resource policy governs.
    pub fn execute_api_all_arn(&self, id: Option<&str>) -> String {
        format!("arn:{}:execute-api:{}:{}:{}/*", self.partition, self.region, self.account, id.unwrap_or(AFTER_APPLY))
    }

    pub fn api_key_arn(&self, id: Option<&str>) -> String {
        format!("arn:{}:apigateway:{}::/apikeys/{}", self.partition, self.region, id.unwrap_or(AFTER_APPLY))
    }

    pub fn usage_plan_arn(&self, id: Option<&str>) -> String {
        format!("arn:{}:apigateway:{}::/usageplans/{}", self.partition, self.region, id.unwrap_or(AFTER_APPLY))
    }

    pub fn guardrail_arn(&self, id: &str) -> String {
        format!("arn:{}:bedrock:{}:{}:guardrail/{id}", self.partition, self.region, self.account)
    }

    pub fn invoke_url(&self, id: Option<&str>, stage: &str) -> String {
        format!(
            "https://{}.execute-api.{}.{}/{stage}/rag",
            id.unwrap_or(AFTER_APPLY),
            self.region,
            dns_suffix(self.region.as_str())
        )
    }
}

/// `us.anthropic.claude-3-5-haiku-20241022-v1:0` -> `anthropic.claude-3-5-haiku-20241022-v1:0`.
pub fn inference_profile_base(model_id: &str) -> Option<&str> {
    let (head, rest) = model_id.split_once('.')?;
    INFERENCE_PROFILE_PREFIXES.contains(&head).then_some(rest)
}

/// The old creator.sh's stack names for `env` (both generations).
pub fn legacy_stack_names(env: &str) -> Vec<String> {
    LEGACY_STACKS.iter().flat_map(|g| g.iter()).map(|n| n.replace("{ENV}", env)).collect()
}

/// The candidate `word` was most likely meant as, when one is a typo away: a letter wrong,
/// missing, extra or two swapped (optimal string alignment distance 1; 2 for words of 8 or more).
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let most = if word.chars().count() >= 8 { 2 } else { 1 };
    candidates
        .into_iter()
        .map(|c| (strsim::osa_distance(word, c), c))
        .filter(|(d, c)| *d <= most && *c != word)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" }
}

/// `us-east-1`, `us-gov-west-1`, `ap-southeast-2`: lowercase words joined by `-`, ending in a number.
pub fn is_region_format(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let Some((number, words)) = parts.split_last() else { return false };
    (2..=3).contains(&words.len())
        && !number.is_empty()
        && number.len() <= 2
        && number.bytes().all(|b| b.is_ascii_digit())
        && words.iter().all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
}

pub fn is_account_id(account: &str) -> bool {
    account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(prefix: &str, env: &str, region: &str) -> Names {
        Names::derive(prefix, env, region, "123456789012", "ragstack-index", None)
    }

    #[test]
    fn generations_name_their_knowledge_base_and_index_only() {
        let n = names("ragstack", "dev", "us-east-1");
        let g3 = n.at_generation(3);
        assert_eq!((g3.knowledge_base.as_str(), g3.vector_index.as_str()), ("ragstack-dev-g3", "ragstack-index-g3"));
        assert_eq!(
            (g3.collection.as_str(), g3.knowledge_base_role.as_str()),
            (n.collection.as_str(), n.knowledge_base_role.as_str())
        );
        assert_eq!(g3.at_generation(1).knowledge_base, "ragstack-dev");
        for (name, g) in [("ragstack-dev", Some(1)), ("ragstack-dev-g2", Some(2)), ("ragstack-dev-g12", Some(12))] {
            assert_eq!(n.knowledge_base_generation(name), g, "{name}");
        }
        // No generation of dev's. (Environment `dev-g2`'s first knowledge base is also called
        // ragstack-dev-g2: its ownership tags tell them apart.)
        for name in ["ragstack-dev-g1", "ragstack-dev-g02", "ragstack-dev-gx", "ragstack-devel", "ragstack-dev-g"] {
            assert_eq!(n.knowledge_base_generation(name), None, "{name}");
        }
    }

    #[test]
    fn default_names_are_valid_for_every_shipped_region_shape() {
        for region in ["us-east-1", "ap-southeast-2", "us-gov-west-1", "eu-central-2"] {
            let n = names("ragstack", "sandbox", region);
            assert_eq!(n.problems(), vec![], "{region}");
        }
    }

    #[test]
    fn derived_names_and_arns() {
        let n = names("ragstack", "dev", "us-east-1");
        assert_eq!(n.documents_bucket, "ragstack-dev-123456789012-us-east-1");
        assert_eq!(n.knowledge_base_role, "ragstack-dev-us-east-1-kb");
        assert_eq!(n.role_arn(&n.api_role), "arn:aws:iam::123456789012:role/ragstack/ragstack-dev-us-east-1-api");
        assert_eq!(n.collection_arn(Some("abc")), "arn:aws:aoss:us-east-1:123456789012:collection/abc");
        assert_eq!(n.invoke_url(Some("x1"), "dev"), "https://x1.execute-api.us-east-1.amazonaws.com/dev/rag");
        let gov = names("ragstack", "dev", "us-gov-west-1");
        assert_eq!(gov.bucket_arn("b"), "arn:aws-us-gov:s3:::b");
    }

    #[test]
    fn too_long_prefix_is_reported_for_each_name_it_breaks() {
        let n = names("a-very-long-prefix-for-names", "sandbox", "ap-southeast-2");
        let whats: Vec<_> = n.problems().iter().map(|p| p.what).collect();
        assert!(whats.contains(&"OpenSearch Serverless collection"), "{whats:?}");
        assert!(whats.contains(&"S3 documents bucket"), "{whats:?}");
        assert!(whats.contains(&"IAM role (knowledge base)") || n.knowledge_base_role.len() <= 64);
    }

    #[test]
    fn typos_get_the_name_meant() {
        assert_eq!(did_you_mean("dve", ["dev", "qa", "sandbox"]), Some("dev"));
        assert_eq!(did_you_mean("sandbx", ["dev", "qa", "sandbox"]), Some("sandbox"));
        assert_eq!(did_you_mean("prod", ["dev", "qa", "sandbox"]), None);
        assert_eq!(did_you_mean("us-east-7", ["us-east-1", "us-east-2", "eu-west-1"]), Some("us-east-1"));
        assert_eq!(did_you_mean("dev", ["dev"]), None);
    }

    #[test]
    fn region_format() {
        for ok in ["us-east-1", "us-gov-west-1", "ap-southeast-12", "cn-north-1"] {
            assert!(is_region_format(ok), "{ok}");
        }
        for bad in ["", "us-east", "US-EAST-1", "useast1", "us-east-1a", "us--1", "us-east-123", "a-b-c-d-1"] {
            assert!(!is_region_format(bad), "{bad}");
        }
    }

    #[test]
    fn inference_profiles() {
        assert_eq!(
            inference_profile_base("us.anthropic.claude-3-haiku-20240307-v1:0"),
            Some("anthropic.claude-3-haiku-20240307-v1:0")
        );
        assert_eq!(inference_profile_base("anthropic.claude-3-haiku-20240307-v1:0"), None);
        let n = names("ragstack", "dev", "us-east-1");
        assert_eq!(n.generation_model_arns("us.amazon.nova-lite-v1:0").len(), 2);
        let global = n.generation_model_arns("global.anthropic.claude-haiku-4-5-20251001-v1:0");
        assert!(global.contains(&"arn:aws:bedrock:::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0".into()));
        assert_eq!(
            n.generation_model_arns("amazon.nova-lite-v1:0"),
            vec!["arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"]
        );
    }
}
