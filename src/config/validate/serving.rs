//! How the environment answers: the query function, the API and its access, the retrieval
//! settings and the prompt template, and the question set `eval` uses.

use super::*;

impl Validator {
    pub fn lambda(&mut self, file: &EnvironmentFile) {
        let v = self;
        let l = &file.lambda;
        if !LAMBDA_RUNTIMES.contains(&l.runtime.as_str()) {
            v.fail(&["lambda", "runtime"], Some(q(&l.runtime)), format!("allowed: {}", LAMBDA_RUNTIMES.join(", ")));
        }
        v.range(
            &["lambda", "memory_mb"],
            l.memory_mb,
            128,
            10240,
            "MB of Lambda memory (new accounts may be capped at 3008)",
        );
        v.range(
            &["lambda", "timeout_seconds"],
            l.timeout_seconds,
            1,
            900,
            "seconds (API Gateway waits at most 29 s by default, so longer rarely helps)",
        );
        let model_ok = !l.generation_model.is_empty()
            && l.generation_model.len() <= 200
            && l.generation_model.bytes().all(|b| b.is_ascii_alphanumeric() || b".:-_".contains(&b));
        if !model_ok {
            v.fail(&["lambda", "generation_model"], Some(q(&l.generation_model)), "expected a Bedrock model id such as amazon.nova-micro-v1:0 or an inference profile id such as us.anthropic.claude-haiku-4-5-20251001-v1:0 (`ragstack models REGION` lists them)".into());
        }
        // 0 is valid for Lambda but stops every invocation: never what a user of this key means.
        if let Some(n) = l.reserved_concurrency {
            v.range(
                &["lambda", "reserved_concurrency"],
                n,
                1,
                i32::MAX as i64,
                "concurrent executions (leave the key out to use the account's shared pool; the account's \
                 unreserved concurrency is checked before deploy)",
            );
        }
    }

    pub fn api(&mut self, file: &EnvironmentFile) {
        let v = self;
        let a = &file.api;
        let stage_ok = !a.stage_name.is_empty()
            && a.stage_name.len() <= 128
            && a.stage_name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !stage_ok {
            v.fail(
                &["api", "stage_name"],
                Some(q(&a.stage_name)),
                "a stage name must be 1-128 letters, digits or underscores".into(),
            );
        }
        if !(a.throttling_rate_limit > 0.0 && a.throttling_rate_limit <= 10000.0) {
            v.fail(
                &["api", "throttling_rate_limit"],
                Some(a.throttling_rate_limit.to_string()),
                "allowed: more than 0 and at most 10000 requests per second (the account-level default)".into(),
            );
        }
        v.range(
            &["api", "throttling_burst_limit"],
            a.throttling_burst_limit,
            1,
            5000,
            "requests (the account-level default burst is 5000)",
        );
        for (n, cidr) in a.allowed_source_cidrs.iter().enumerate() {
            if let Some(why) = cidr_problem(cidr) {
                let path = vec![Seg::Key("api".into()), Seg::Key("allowed_source_cidrs".into()), Seg::Index(n)];
                v.fail_at(path, Some(q(cidr)), why);
            }
        }
        match (a.auth, a.daily_quota) {
            (ApiAuth::ApiKey, None) => v.fail(
                &["api", "daily_quota"],
                None,
                "required with auth = \"api_key\": the requests per day the API key may make".into(),
            ),
            (ApiAuth::None, Some(n)) => v.fail(
                &["api", "daily_quota"],
                Some(n.to_string()),
                "a quota applies to an API key: set auth = \"api_key\", or remove daily_quota".into(),
            ),
            (ApiAuth::ApiKey, Some(n)) => {
                // QuotaSettings.limit is an Integer in API Gateway's API model.
                v.range(&["api", "daily_quota"], n, 1, i32::MAX as i64, "requests per day");
            }
            (ApiAuth::None, None) => {}
        }
    }

    /// `[retrieval]`: limits from botocore's bedrock-agent-runtime model (shapes
    /// KnowledgeBaseVectorSearchConfigurationNumberOfResultsInteger, TextPromptTemplate,
    /// GuardrailConfiguration*, Temperature, MaxTokens). Returns the prompt template's text.
    pub fn retrieval(&mut self, file: &EnvironmentFile, source: &EnvironmentSource) -> Option<String> {
        let v = self;
        let r = &file.retrieval;
        if let Some(n) = r.number_of_results {
            v.range(&["retrieval", "number_of_results"], n, 1, 100, "chunks retrieved per question");
        }
        if let Some(t) = r.temperature
            && !(0.0..=1.0).contains(&t)
        {
            v.fail(&["retrieval", "temperature"], Some(t.to_string()), "out of range; allowed: 0 to 1".into());
        }
        v.max_tokens(file, source);
        v.guardrail(file);
        v.prompt_template(file, source)
    }

    /// The answer's length, bounded by the generation model's output limit.
    fn max_tokens(&mut self, file: &EnvironmentFile, source: &EnvironmentSource) {
        let (v, r) = (self, &file.retrieval);
        // The answer's length is bounded by the generation model's output limit (its model card,
        // recorded in the catalog) and by the API model (TextInferenceConfig maxTokens: 65536).
        if let Some(n) = r.max_tokens {
            let model = &file.lambda.generation_model;
            match Catalog::get().generation_model(model) {
                Some(m) => {
                    let unit = format!(
                        "tokens per answer ({model} writes at most {} tokens: {})",
                        m.max_output_tokens, m.source
                    );
                    v.range(&["retrieval", "max_tokens"], n, 1, i64::from(m.max_output_tokens), &unit);
                }
                None => {
                    if v.range(&["retrieval", "max_tokens"], n, 1, 65536, "tokens per answer") {
                        v.warnings.push(format!(
                            "{}: retrieval.max_tokens = {n}: ragstack does not know the output limit of \
                             lambda.generation_model = \"{model}\", so it is not checked against it (its model \
                             card in the Bedrock User Guide gives it)",
                            source.display
                        ));
                    }
                }
            }
        }
    }

    /// The guardrail: both its id and version, or neither.
    fn guardrail(&mut self, file: &EnvironmentFile) {
        let (v, r) = (self, &file.retrieval);
        match (&r.guardrail_id, &r.guardrail_version) {
            (Some(id), Some(version)) => {
                if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
                    v.fail(
                        &["retrieval", "guardrail_id"],
                        Some(q(id)),
                        "a guardrail id is 1-64 lowercase letters and digits (the id, not the ARN)".into(),
                    );
                }
                // GuardrailConfiguration.guardrailVersion: 1-5 characters, ^(([1-9][0-9]{0,7})|(DRAFT))$
                // (botocore bedrock-agent-runtime).
                let numbered = !version.is_empty()
                    && version.len() <= 5
                    && !version.starts_with('0')
                    && version.bytes().all(|b| b.is_ascii_digit());
                if !(numbered || version == "DRAFT") {
                    v.fail(
                        &["retrieval", "guardrail_version"],
                        Some(q(version)),
                        "allowed: a version number from 1 to 99999, or DRAFT".into(),
                    );
                }
            }
            (Some(_), None) => v.fail(
                &["retrieval", "guardrail_version"],
                None,
                "required with guardrail_id: a number or DRAFT".into(),
            ),
            (None, Some(version)) => v.fail(
                &["retrieval", "guardrail_id"],
                Some(q(version)),
                "guardrail_version needs guardrail_id (the guardrail's id)".into(),
            ),
            (None, None) => {}
        }
    }

    /// The prompt template's file, read and checked: its text.
    fn prompt_template(&mut self, file: &EnvironmentFile, source: &EnvironmentSource) -> Option<String> {
        let (v, r) = (self, &file.retrieval);
        let path = r.prompt_template.as_ref()?;
        let key = ["retrieval", "prompt_template"];
        let Some(dir) = &source.dir else {
            v.fail(&key, Some(q(path)), "a built-in environment cannot name a file: copy it into environments/".into());
            return None;
        };
        let text = match std::fs::read_to_string(dir.join(path)) {
            Ok(text) => text,
            Err(e) => {
                let message = format!(
                    "cannot read {} ({e}); the path is relative to the environment file",
                    dir.join(path).display()
                );
                v.fail(&key, Some(q(path)), message);
                return None;
            }
        };
        let chars = text.chars().count();
        if text.trim().is_empty() || chars > PROMPT_TEMPLATE_MAX_CHARS {
            let message =
                format!("the template has {chars} characters; Bedrock allows 1 to {PROMPT_TEMPLATE_MAX_CHARS}");
            v.fail(&key, Some(q(path)), message);
        } else if !text.contains(SEARCH_RESULTS) {
            v.fail(
                &key,
                Some(q(path)),
                format!(
                    "the template does not contain {SEARCH_RESULTS}, where Bedrock puts the retrieved passages: \
                     without it answers ignore the documents"
                ),
            );
        }
        Some(text)
    }

    /// `[eval]`: thresholds between 0 and 1, and the question set's path.
    pub fn eval(&mut self, file: &EnvironmentFile, source: &EnvironmentSource) -> Option<std::path::PathBuf> {
        let e = &file.eval;
        for (key, value) in [("min_recall", e.min_recall), ("min_mrr", e.min_mrr), ("max_drop", e.max_drop)] {
            if let Some(x) = value.filter(|x| !(0.0..=1.0).contains(x)) {
                self.fail(&["eval", key], Some(x.to_string()), "a fraction from 0 to 1".into());
            }
        }
        let path = e.questions.as_ref()?;
        let key = ["eval", "questions"];
        let Some(dir) = &source.dir else {
            self.fail(
                &key,
                Some(q(path)),
                "a built-in environment cannot name a file: copy it into environments/".into(),
            );
            return None;
        };
        // Read and checked by the commands that use it (eval, a blue/green deploy), before their
        // first AWS call: a moved set must not stop teardown or status.
        Some(dir.join(path))
    }
}

/// Why `cidr` is not a CIDR an IAM `IpAddress` condition takes (IPv4 or IPv6, "203.0.113.0/24";
/// a bare address means /32 or /128), or None.
fn cidr_problem(cidr: &str) -> Option<String> {
    let hint = "expected an IPv4 or IPv6 network such as 203.0.113.0/24 or 2001:db8::/32";
    if !cidr.contains('/') {
        return match cidr.parse::<std::net::IpAddr>() {
            Ok(_) => None,
            Err(_) => Some(format!("not an IP address or network; {hint}")),
        };
    }
    match cidr.parse::<ipnet::IpNet>() {
        Err(_) => Some(format!("not a CIDR; {hint}")),
        Ok(net) if net.trunc() != net => {
            Some(format!("host bits are set after the prefix; the network is {}", net.trunc()))
        }
        Ok(_) => None,
    }
}

/// Bedrock's placeholder for the retrieved passages in a knowledge base prompt template.
const SEARCH_RESULTS: &str = "$search_results$";
/// botocore's bedrock-agent-runtime model, shape TextPromptTemplate: max 4000.
const PROMPT_TEMPLATE_MAX_CHARS: usize = 4000;
