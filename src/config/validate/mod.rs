//! Validation of every setting of an environment file before any AWS call: each section's rules,
//! with the allowed values in the message. Problems are collected (all of a file's at once) with
//! the key path each is about; `locate.rs` finds them in the file.

use super::environment::{Chunking, LAMBDA_RUNTIMES, MAX_DATA_SOURCES, Target};
use super::file::{
    ApiAuth, BEDROCK_METADATA_KEYS, ChunkingSettings, ChunkingStrategy, EnvironmentFile, Generation, MANAGED_KEYS,
    NetworkAccess, OPENSEARCH_KEYS, S3_VECTORS_KEYS, SearchType, StoreKind, SyncTrigger,
};
use super::locate::{self, ConfigErrors, Seg};
use super::lookup::environment_name_rule;
use super::source::EnvironmentSource;
use crate::catalog::{Catalog, EmbeddingModel};
use crate::naming::{self, Names};
use std::collections::BTreeSet;

mod knowledge_base;
mod serving;
mod store;

/// The retention periods CloudWatch Logs accepts, in days (botocore's logs model, shape `Days`:
/// "Possible values are: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096,
/// 1827, 2192, 2557, 2922, 3288, and 3653").
pub const LOG_RETENTION_DAYS: &[i64] =
    &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

struct Pending {
    path: Vec<Seg>,
    value: Option<String>,
    message: String,
}

pub struct Validator {
    problems: Vec<Pending>,
    /// What is allowed but worth knowing ("file: key: ..."), shown before the command runs.
    pub warnings: Vec<String>,
}

impl Validator {
    fn fail(&mut self, path: &[&str], value: Option<String>, message: String) {
        self.fail_at(path.iter().map(|k| Seg::Key(k.to_string())).collect(), value, message);
    }

    fn fail_at(&mut self, path: Vec<Seg>, value: Option<String>, message: String) {
        self.problems.push(Pending { path, value, message });
    }

    fn range(&mut self, path: &[&str], value: i64, min: i64, max: i64, unit: &str) -> bool {
        let ok = (min..=max).contains(&value);
        if !ok {
            self.fail(path, Some(value.to_string()), format!("out of range; allowed: {min} to {max} {unit}"));
        }
        ok
    }

    pub fn into_errors(self, source: &EnvironmentSource) -> ConfigErrors {
        let problems =
            self.problems.into_iter().map(|p| locate::problem(source, &p.path, p.value, p.message)).collect();
        ConfigErrors { file: source.display.clone(), problems }
    }

    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The sections of the file, each checked on its own.
impl Validator {
    pub fn new() -> Validator {
        Validator { problems: Vec::new(), warnings: Vec::new() }
    }

    pub fn prefix_and_tags(&mut self, file: &EnvironmentFile) {
        let v = self;
        if !prefix_ok(&file.prefix) {
            v.fail(
            &["prefix"],
            Some(q(&file.prefix)),
            "allowed: 1-20 lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen (it starts every AWS name)".into(),
        );
        }

        for (k, val) in &file.tags {
            let lower = k.to_ascii_lowercase();
            if k.is_empty() || k.len() > 128 {
                v.fail(&["tags", k], Some(q(k)), "a tag key must be 1-128 characters".into());
            } else if lower.starts_with("aws:") || lower.starts_with("ragstack:") {
                v.fail(&["tags", k], Some(q(k)), "tag keys starting with `aws:` or `ragstack:` are reserved (ragstack adds ragstack:environment and ragstack:managed itself)".into());
            } else if !k.chars().all(tag_char) {
                v.fail(
                    &["tags", k],
                    Some(q(k)),
                    "a tag key may use letters, digits, spaces and _ . : / = + - @".into(),
                );
            }
            if val.len() > 256 || !val.chars().all(tag_char) {
                v.fail(
                    &["tags", k],
                    Some(q(val)),
                    "a tag value must be 0-256 characters of letters, digits, spaces and _ . : / = + - @".into(),
                );
            }
        }
    }

    pub fn logs(&mut self, file: &EnvironmentFile) {
        let days = file.logs.retention_days;
        if !LOG_RETENTION_DAYS.contains(&days) {
            let allowed: Vec<String> = LOG_RETENTION_DAYS.iter().map(i64::to_string).collect();
            self.fail(
                &["logs", "retention_days"],
                Some(days.to_string()),
                format!("not a retention CloudWatch Logs accepts; allowed: {} (days)", allowed.join(", ")),
            );
        }
    }

    /// `[sync]`: the schedule's syntax (`schedule.rs`). `on_change` turns on the EventBridge
    /// notifications of the documents bucket, which ragstack may do only to the bucket it owns.
    pub fn sync(&mut self, file: &EnvironmentFile) {
        if let Some(s) = &file.sync.schedule
            && let Some(why) = super::schedule::problem(s)
        {
            self.fail(&["sync", "schedule"], Some(q(s)), why);
        }
        if file.sync.trigger == SyncTrigger::OnChange {
            for ds in &file.data_sources {
                if let Some(bucket) = &ds.bucket {
                    self.fail(
                        &["sync", "trigger"],
                        Some(q("on_change")),
                        format!(
                            "data source `{}` reads bucket {bucket}, which ragstack does not own and whose \
                             notifications it does not change; allowed: \"manual\" (with a `schedule`), or \
                             leave out that data source's `bucket` to use the documents bucket",
                            ds.name
                        ),
                    );
                }
            }
        }
    }

    /// The names derived from prefix, environment, region and account, each checked against AWS's rules.
    pub fn names(&mut self, file: &EnvironmentFile, source: &EnvironmentSource, target: &Target) -> Names {
        let v = self;
        let account = target.account.clone().unwrap_or_else(|| naming::PLACEHOLDER_ACCOUNT.into());
        let vs = &file.vector_store;
        let names = Names::derive(
            &file.prefix,
            &source.name,
            &target.region,
            &account,
            vs.index_name(),
            vs.vector_bucket.as_deref(),
        );
        if prefix_ok(&file.prefix) {
            let mut problems = names.problems();
            // The vector bucket's own rule when it is named after the environment.
            if file.vector_store.kind == StoreKind::S3Vectors
                && file.vector_store.vector_bucket.is_none()
                && let Some(rule) = naming::vector_bucket_rule(&names.vector_bucket)
            {
                problems.push(naming::NameProblem {
                    what: "S3 vector bucket",
                    name: names.vector_bucket.clone(),
                    rule,
                });
            }
            for p in problems {
                v.fail(
                &["prefix"],
                Some(q(&file.prefix)),
                format!(
                    "with environment `{}` and region {} the {} name would be `{}`, which AWS rejects: it {}; shorten the prefix",
                    source.name, target.region, p.what, p.name, p.rule
                ),
            );
            }
        }

        names
    }
}

fn prefix_ok(prefix: &str) -> bool {
    environment_name_rule(prefix).is_none()
}

fn tag_char(c: char) -> bool {
    c.is_alphanumeric() || " _.:/=+-@".contains(c)
}

fn q(s: &str) -> String {
    format!("{s:?}")
}
