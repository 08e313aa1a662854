//! Every class of bad input is rejected before any AWS call: exit code 2, a message that names the
//! file, line and column, key, bad value and what is allowed, and no connection to the endpoint.
//! Each test runs `deploy`, the command that would otherwise talk to AWS.

mod common;
use common::{Workdir, run};

/// Runs `ragstack ARGS`, asserts it was rejected as invalid input with nothing sent, returns stderr.
fn rejected(w: &Workdir, args: &[&str]) -> String {
    let mut cmd = w.ragstack();
    cmd.args(args);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 2, "expected exit 2\nstdout: {out}\nstderr: {err}");
    assert!(out.is_empty(), "nothing on stdout for a rejected command: {out}");
    assert_eq!(w.tripwire.hits(), 0, "a rejected command must not contact AWS");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// `environments/NAME.toml:LINE:` of the first line of the shipped dev.toml that starts with
/// `key`, so the tests follow edits to the file's comments.
fn at(name: &str, key: &str) -> String {
    format!("environments/{name}.toml:{}:", line_of(key))
}

fn line_of(key: &str) -> usize {
    let dev = common::shipped("dev");
    dev.lines().position(|l| l.starts_with(key)).unwrap_or_else(|| panic!("dev.toml has no line {key:?}")) + 1
}

fn assert_mentions(err: &str, parts: &[&str]) {
    for p in parts {
        assert!(err.contains(p), "missing {p:?} in:\n{err}");
    }
}

#[test]
fn malformed_toml_names_file_line_and_column() {
    let w = Workdir::new();
    w.env_file("broken", "prefix = \"ragstack\n[tags]\n");
    let err = rejected(&w, &["deploy", "broken", "us-east-1"]);
    assert_mentions(
        &err,
        &["environments/broken.toml:1:", "prefix", "invalid basic string", "nothing was sent to AWS"],
    );
}

#[test]
fn unknown_key_lists_the_allowed_keys() {
    let w = Workdir::new();
    w.dev_with("typo", &[("standby_replicas = false", "standby_replica = false")]);
    let err = rejected(&w, &["deploy", "typo", "us-east-1"]);
    assert_mentions(
        &err,
        &[
            &format!("{}1", at("typo", "standby_replicas")),
            "vector_store.standby_replica",
            "unknown field",
            "`standby_replicas`",
            "`index_name`",
        ],
    );
}

#[test]
fn missing_required_key_names_its_table() {
    let w = Workdir::new();
    w.dev_with("missing", &[("index_name = \"ragstack-index\"\n", "")]);
    let err = rejected(&w, &["deploy", "missing", "us-east-1"]);
    assert_mentions(
        &err,
        &[&at("missing", "[vector_store]"), "vector_store", "kind = \"opensearch\" needs `index_name`"],
    );
}

#[test]
fn wrong_type_is_reported_at_the_value() {
    let w = Workdir::new();
    w.dev_with("typed", &[("memory_mb = 512", "memory_mb = \"512\"")]);
    let err = rejected(&w, &["deploy", "typed", "us-east-1"]);
    let place = format!("{}13", at("typed", "memory_mb"));
    assert_mentions(&err, &[&place, "lambda.memory_mb", "invalid type"]);
}

#[test]
fn unknown_environment_lists_the_known_ones() {
    let w = Workdir::new();
    w.dev_with("staging", &[]);
    let err = rejected(&w, &["deploy", "prod", "us-east-1"]);
    assert_mentions(&err, &["unknown environment `prod`", "dev, qa, sandbox, staging", "environments/prod.toml"]);
    assert!(!err.contains("did you mean"), "no guess for a name far from every known one: {err}");
    // A typo gets the name it was probably meant as.
    let err = rejected(&w, &["deploy", "dve", "us-east-1"]);
    assert_mentions(&err, &["unknown environment `dve` (did you mean `dev`?)"]);
    w.dev_with("dev", &[]);
    let err = rejected(&w, &["deploy", "dev", "us-east-7"]);
    assert_mentions(&err, &["not offered in us-east-7 (did you mean us-east-1?)"]);
}

#[test]
fn invalid_environment_name_is_rejected() {
    let w = Workdir::new();
    let err = rejected(&w, &["deploy", "Dev_1", "us-east-1"]);
    assert_mentions(&err, &["invalid environment name `Dev_1`", "lowercase letters"]);
}

#[test]
fn invalid_region_format() {
    let w = Workdir::new();
    let err = rejected(&w, &["deploy", "dev", "us-east"]);
    assert_mentions(&err, &["invalid region `us-east`", "us-east-1"]);
}

#[test]
fn missing_region_says_where_one_can_come_from() {
    let w = Workdir::new();
    let err = rejected(&w, &["deploy", "dev"]);
    assert_mentions(&err, &["no region", "AWS_REGION"]);
}

#[test]
fn region_without_opensearch_serverless() {
    let w = Workdir::new();
    let err = rejected(&w, &["deploy", "dev", "af-south-1"]);
    assert_mentions(
        &err,
        &["OpenSearch Serverless is not offered in af-south-1", "botocore", "us-east-1", "--skip-region-check"],
    );
}

#[test]
fn region_without_the_embedding_model() {
    let w = Workdir::new();
    w.dev_with(
        "v1",
        &[
            ("embedding_model = \"amazon.titan-embed-text-v2:0\"", "embedding_model = \"amazon.titan-embed-text-v1\""),
            ("dimensions = 1024", "dimensions = 1536"),
        ],
    );
    // OpenSearch Serverless is offered in us-east-2; Titan v1 is not, per the table.
    let err = rejected(&w, &["deploy", "v1", "us-east-2"]);
    assert_mentions(
        &err,
        &[
            &at("v1", "embedding_model"),
            "knowledge_base.embedding_model",
            "not offered in us-east-2",
            "offered in: us-east-1",
        ],
    );
}

#[test]
fn skip_region_check_lets_an_unlisted_region_through_validation() {
    let w = Workdir::new();
    let mut cmd = w.ragstack();
    cmd.args(["plan", "dev", "af-south-1", "--offline", "--skip-region-check"]);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ragstack-dev-111122223333-af-south-1"), "{out}");
}

#[test]
fn unknown_embedding_model_lists_the_supported_ones() {
    let w = Workdir::new();
    w.dev_with(
        "model",
        &[("embedding_model = \"amazon.titan-embed-text-v2:0\"", "embedding_model = \"openai.text-embedding-3\"")],
    );
    let err = rejected(&w, &["deploy", "model", "us-east-1"]);
    assert_mentions(&err, &["knowledge_base.embedding_model = \"openai.text-embedding-3\"", "cohere.embed-english-v3"]);
}

#[test]
fn dimensions_not_offered_by_the_model() {
    let w = Workdir::new();
    w.dev_with("dims", &[("dimensions = 1024", "dimensions = 1536")]);
    let err = rejected(&w, &["deploy", "dims", "us-east-1"]);
    assert_mentions(
        &err,
        &[&format!("{}14", at("dims", "dimensions")), "knowledge_base.dimensions = 1536", "allowed: 1024, 512, 256"],
    );
}

#[test]
fn names_aws_would_reject_once_env_and_region_are_applied() {
    let w = Workdir::new();
    // A valid prefix on its own, but `ragstack-production-longname-access` exceeds AOSS's 32.
    w.dev_with("longname", &[("prefix = \"ragstack\"", "prefix = \"ragstack-production\"")]);
    let err = rejected(&w, &["deploy", "longname", "ap-southeast-2"]);
    assert_mentions(
        &err,
        &[
            &format!("{}10", at("longname", "prefix")),
            "prefix = \"ragstack-production\"",
            "OpenSearch Serverless data access policy name would be `ragstack-production-longname-access`",
            "3-32 characters, is 35",
            "shorten the prefix",
        ],
    );
}

#[test]
fn prefix_with_bad_characters() {
    let w = Workdir::new();
    w.dev_with("upper", &[("prefix = \"ragstack\"", "prefix = \"RagStack\"")]);
    let err = rejected(&w, &["deploy", "upper", "us-east-1"]);
    assert_mentions(&err, &["prefix = \"RagStack\"", "lowercase letters"]);
}

#[test]
fn bucket_name_rules_for_an_existing_bucket() {
    let w = Workdir::new();
    w.dev_with("bucket", &[("name = \"documents\"\n", "name = \"documents\"\nbucket = \"My_Bucket\"\n")]);
    let err = rejected(&w, &["deploy", "bucket", "us-east-1"]);
    assert_mentions(&err, &["data_sources[0].bucket = \"My_Bucket\"", "lowercase letters"]);
}

#[test]
fn fixed_size_chunking_out_of_range() {
    let w = Workdir::new();
    w.dev_with(
        "chunk",
        &[("overlap_percentage = 20", "overlap_percentage = 150"), ("max_tokens = 300", "max_tokens = 9000")],
    );
    let err = rejected(&w, &["deploy", "chunk", "us-east-1"]);
    assert_mentions(
        &err,
        &[
            "(2 problems)",
            "knowledge_base.chunking.overlap_percentage = 150",
            "allowed: 1 to 99",
            "knowledge_base.chunking.max_tokens = 9000",
            "allowed: 1 to 8192",
        ],
    );
}

#[test]
fn chunk_size_is_bounded_by_the_models_input_limit() {
    let w = Workdir::new();
    w.dev_with(
        "cohere",
        &[
            ("embedding_model = \"amazon.titan-embed-text-v2:0\"", "embedding_model = \"cohere.embed-english-v3\""),
            ("max_tokens = 300", "max_tokens = 1000"),
        ],
    );
    let err = rejected(&w, &["deploy", "cohere", "us-east-1"]);
    assert_mentions(
        &err,
        &[
            "knowledge_base.chunking.max_tokens = 1000",
            "allowed: 1 to 512",
            "cohere.embed-english-v3 embeds at most 512",
        ],
    );
}

#[test]
fn hierarchical_chunking_needs_two_ordered_levels() {
    let w = Workdir::new();
    w.dev_with(
        "hier",
        &[(
            "strategy = \"fixed_size\"\nmax_tokens = 300\noverlap_percentage = 20",
            "strategy = \"hierarchical\"\nparent_max_tokens = 300\nchild_max_tokens = 1500\noverlap_tokens = 0",
        )],
    );
    let err = rejected(&w, &["deploy", "hier", "us-east-1"]);
    assert_mentions(
        &err,
        &["child_max_tokens = 1500", "smaller than the parent level", "overlap_tokens = 0", "allowed: 1 to 8192"],
    );
}

#[test]
fn hierarchical_chunking_missing_a_level() {
    let w = Workdir::new();
    w.dev_with(
        "onelevel",
        &[(
            "strategy = \"fixed_size\"\nmax_tokens = 300\noverlap_percentage = 20",
            "strategy = \"hierarchical\"\nparent_max_tokens = 1500\noverlap_tokens = 60",
        )],
    );
    let err = rejected(&w, &["deploy", "onelevel", "us-east-1"]);
    assert_mentions(
        &err,
        &[
            "knowledge_base.chunking.child_max_tokens",
            "missing: strategy \"hierarchical\" needs parent_max_tokens, child_max_tokens, overlap_tokens",
        ],
    );
}

#[test]
fn semantic_chunking_out_of_range() {
    let w = Workdir::new();
    w.dev_with(
        "sem",
        &[(
            "strategy = \"fixed_size\"\nmax_tokens = 300\noverlap_percentage = 20",
            "strategy = \"semantic\"\nmax_tokens = 300\nbuffer_size = 2\nbreakpoint_percentile_threshold = 40",
        )],
    );
    let err = rejected(&w, &["deploy", "sem", "us-east-1"]);
    assert_mentions(
        &err,
        &["buffer_size = 2", "allowed: 0 to 1", "breakpoint_percentile_threshold = 40", "allowed: 50 to 99"],
    );
}

#[test]
fn keys_of_another_strategy_are_not_silently_ignored() {
    let w = Workdir::new();
    w.dev_with("mixed", &[("overlap_percentage = 20", "overlap_percentage = 20\nbuffer_size = 1")]);
    let err = rejected(&w, &["deploy", "mixed", "us-east-1"]);
    assert_mentions(
        &err,
        &[
            "knowledge_base.chunking.buffer_size = 1",
            "does not apply to strategy \"fixed_size\", which takes max_tokens, overlap_percentage",
        ],
    );
}

#[test]
fn unknown_chunking_strategy_lists_the_strategies() {
    let w = Workdir::new();
    w.dev_with("strat", &[("strategy = \"fixed_size\"", "strategy = \"sentences\"")]);
    let err = rejected(&w, &["deploy", "strat", "us-east-1"]);
    assert_mentions(
        &err,
        &[
            "knowledge_base.chunking.strategy",
            "unknown variant `sentences`",
            "`fixed_size`",
            "`hierarchical`",
            "`semantic`",
            "`none`",
        ],
    );
}

#[test]
fn lambda_memory_and_timeout_out_of_range() {
    let w = Workdir::new();
    w.dev_with("lambda", &[("memory_mb = 512", "memory_mb = 64"), ("timeout_seconds = 29", "timeout_seconds = 1000")]);
    let err = rejected(&w, &["deploy", "lambda", "us-east-1"]);
    assert_mentions(
        &err,
        &["lambda.memory_mb = 64", "allowed: 128 to 10240", "lambda.timeout_seconds = 1000", "allowed: 1 to 900"],
    );
}

#[test]
fn lambda_runtime_and_architecture() {
    let w = Workdir::new();
    w.dev_with("runtime", &[("runtime = \"python3.13\"", "runtime = \"nodejs20.x\"")]);
    let err = rejected(&w, &["deploy", "runtime", "us-east-1"]);
    assert_mentions(
        &err,
        &["lambda.runtime = \"nodejs20.x\"", "allowed: python3.11, python3.12, python3.13, python3.14"],
    );
    w.dev_with("arch", &[("architecture = \"arm64\"", "architecture = \"arm\"")]);
    let err = rejected(&w, &["deploy", "arch", "us-east-1"]);
    assert_mentions(&err, &["lambda.architecture", "`arm64`", "`x86_64`"]);
}

#[test]
fn api_stage_and_throttling() {
    let w = Workdir::new();
    w.dev_with(
        "api",
        &[
            ("stage_name = \"dev\"", "stage_name = \"dev-1\""),
            ("throttling_burst_limit = 10", "throttling_burst_limit = 0"),
        ],
    );
    let err = rejected(&w, &["deploy", "api", "us-east-1"]);
    assert_mentions(
        &err,
        &[
            "api.stage_name = \"dev-1\"",
            "letters, digits or underscores",
            "api.throttling_burst_limit = 0",
            "allowed: 1 to 5000",
        ],
    );
}

#[test]
fn a_log_retention_cloudwatch_does_not_accept_lists_the_accepted_ones() {
    let w = Workdir::new();
    w.dev_with("logs", &[("retention_days = 30", "retention_days = 2")]);
    let err = rejected(&w, &["deploy", "logs", "us-east-1"]);
    assert_mentions(&err, &["logs.retention_days = 2", "allowed: 1, 3, 5, 7, 14, 30,", "3653 (days)"]);
}

#[test]
fn reserved_tag_keys() {
    let w = Workdir::new();
    w.dev_with("tags", &[("project = \"ragstack\"", "\"ragstack:managed\" = \"false\"")]);
    let err = rejected(&w, &["deploy", "tags", "us-east-1"]);
    assert_mentions(&err, &["tags.ragstack:managed", "reserved"]);
}

#[test]
fn kms_key_in_another_region() {
    let w = Workdir::new();
    w.dev_with("kms", &[("# kms_key_arn = \"arn:aws:kms:us-east-1", "kms_key_arn = \"arn:aws:kms:eu-west-1")]);
    let err = rejected(&w, &["deploy", "kms", "us-east-1"]);
    assert_mentions(&err, &["vector_store.kms_key_arn", "the key is in eu-west-1", "same region"]);
}

#[test]
fn all_problems_of_a_file_are_reported_at_once() {
    let w = Workdir::new();
    w.dev_with(
        "many",
        &[
            ("dimensions = 1024", "dimensions = 3"),
            ("memory_mb = 512", "memory_mb = 1"),
            ("index_name = \"ragstack-index\"", "index_name = \"Bad Index\""),
        ],
    );
    let err = rejected(&w, &["deploy", "many", "us-east-1"]);
    assert_mentions(
        &err,
        &["(3 problems)", "vector_store.index_name", "knowledge_base.dimensions", "lambda.memory_mb"],
    );
}

#[test]
fn json_errors_are_structured() {
    let w = Workdir::new();
    w.dev_with("jsonerr", &[("memory_mb = 512", "memory_mb = 64")]);
    let mut cmd = w.ragstack();
    cmd.args(["deploy", "jsonerr", "us-east-1", "--json"]);
    let (code, out, _) = run(cmd);
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON document on stdout");
    let p = &v["error"]["problems"][0];
    assert_eq!(v["error"]["kind"], "invalid_environment");
    assert_eq!(p["key"], "lambda.memory_mb");
    assert_eq!(p["value"], "64");
    assert_eq!(p["line"], line_of("memory_mb"));
    assert_eq!(p["file"], "environments/jsonerr.toml");
    assert_eq!(w.tripwire.hits(), 0);
}

#[test]
fn clap_rejects_a_bad_account_with_exit_2() {
    let w = Workdir::new();
    let err = rejected(&w, &["plan", "dev", "us-east-1", "--offline", "--account", "12345"]);
    assert_mentions(&err, &["exactly 12 digits"]);
}

#[test]
fn an_unreadable_environment_file_is_invalid_input() {
    let w = Workdir::new();
    // A directory where the file should be: reading it fails with something other than NotFound.
    std::fs::create_dir(w.path().join("environments/odd.toml")).unwrap();
    let err = rejected(&w, &["deploy", "odd", "us-east-1"]);
    assert_mentions(&err, &["cannot read environments/odd.toml"]);
}

#[test]
fn type_and_unknown_key_errors_of_several_sections_are_reported_at_once() {
    let w = Workdir::new();
    w.dev_with(
        "several",
        &[
            ("prefix = \"ragstack\"", "prefix = \"ragstack\"\nflavour = 1"),
            ("memory_mb = 512", "memory_mb = \"512\""),
            ("retention_days = 30", "retention_days = 30\ncolour = \"blue\""),
        ],
    );
    let err = rejected(&w, &["deploy", "several", "us-east-1"]);
    assert_mentions(
        &err,
        &[
            "(3 problems)",
            "flavour: unknown field `flavour`",
            "lambda.memory_mb: invalid type: string \"512\", expected an integer",
            "logs.colour: unknown field `colour`, expected `retention_days`",
        ],
    );
    // serde's type names are not the file's words.
    assert!(!err.contains("i64"), "{err}");
}

#[test]
fn range_and_enum_errors_are_reported_with_type_errors() {
    let w = Workdir::new();
    w.dev_with(
        "mixed",
        &[
            ("memory_mb = 512", "memory_mb = \"512\""),
            ("dimensions = 1024", "dimensions = 1000"),
            ("retention_days = 30", "retention_days = 31"),
        ],
    );
    let err = rejected(&w, &["deploy", "mixed", "us-east-1"]);
    assert_mentions(
        &err,
        &[
            "(3 problems)",
            "lambda.memory_mb: invalid type: string \"512\", expected an integer",
            "knowledge_base.dimensions = 1000: not offered by amazon.titan-embed-text-v2:0; allowed: 1024, 512, 256",
            "logs.retention_days = 31",
        ],
    );
    // In order of the file's lines.
    let first = err.find("knowledge_base.dimensions").unwrap();
    assert!(
        first < err.find("lambda.memory_mb").unwrap()
            && err.find("lambda.memory_mb").unwrap() < err.find("logs.retention").unwrap(),
        "{err}"
    );
}
