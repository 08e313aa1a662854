//! The error type of every command, and the exit code each kind maps to.
//!
//! Exit codes are a contract with scripts: 0 success, 1 failure talking to AWS (or something left
//! undone), 2 invalid input or a refused change (nothing was changed in AWS), 3
//! `plan --detailed-exitcode` with changes pending.

use crate::config::ConfigErrors;

/// How a command that ran ends (an `Error` ends it otherwise): the README's exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitStatus {
    /// 0: done.
    Success,
    /// 1: AWS failed something or work is left undone (reported as it happened).
    Failed,
    /// 2: a refused or unconfirmed change; nothing was changed.
    Refused,
    /// 3: `plan --detailed-exitcode` with changes pending.
    ChangesPending,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failed => 1,
            ExitStatus::Refused => 2,
            ExitStatus::ChangesPending => 3,
        }
    }

    /// Failed when `failed`, else Success.
    pub fn failed_if(failed: bool) -> ExitStatus {
        if failed { ExitStatus::Failed } else { ExitStatus::Success }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One or more problems in an environment file, each located in the file.
    #[error("{0}")]
    Config(#[from] ConfigErrors),

    /// Bad command-line input that is not about an environment file.
    #[error("{message}")]
    Usage { message: String, help: Option<String> },

    /// A template that does not render (syntax, missing variable, or not valid JSON afterwards).
    #[error("template {template}: {message}")]
    Template { template: String, message: String },

    /// AWS refused or failed a call: the code and message are AWS's own.
    #[error("{action}: {source}")]
    Aws { action: String, source: crate::aws::AwsError, help: Option<String> },

    /// The run reached AWS but did not bring everything to the desired state; the details were
    /// reported as they happened.
    #[error("{message}")]
    Incomplete { message: String, help: Option<String> },

    /// A change ragstack will not make: a replace without its flag, a resource it does not own.
    #[error("{message}")]
    Refused { message: String, help: String },

    /// A command that works on many resources finished some and not others: each failure keeps
    /// its own error (message, help, exit code); `skipped` waited on a failed one.
    #[error("{}", unfinished_message(command, failures, skipped))]
    Unfinished { command: &'static str, failures: Vec<(String, Error)>, skipped: Vec<String>, changed: bool },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// An AWS failure while doing `action`, with what the user can do about it where ragstack knows.
    pub fn aws(action: impl Into<String>, source: crate::aws::AwsError) -> Self {
        let help = match source.code.as_str() {
            "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" | "AuthorizationError" => {
                // AWS names the action in most denials ("... is not authorized to perform: X on resource: Y");
                // S3 says only "Access Denied".
                let action = denied_action(&source.message)
                    .map_or_else(|| "a permission this step needs".to_string(), |a| format!("permission {a}"));
                Some(format!(
                    "the credentials in use lack {action}; `ragstack plan ENV --deployer-policy` prints every \
                     permission ragstack needs for an environment, and `aws sts get-caller-identity` shows who you are"
                ))
            }
            "ExpiredToken" | "ExpiredTokenException" | "InvalidClientTokenId" | "UnrecognizedClientException" => {
                Some("refresh your credentials (aws sso login, or new keys) and run the command again".to_string())
            }
            "ServiceQuotaExceededException" | "LimitExceeded" | "LimitExceededException" => {
                Some("an account quota is reached: delete unused resources or ask AWS for a higher quota".to_string())
            }
            "ConnectionFailure" | "Timeout" => Some("check your network and AWS_ENDPOINT_URL settings".to_string()),
            _ => Some("run the command again: ragstack resumes where it stopped; -v shows every AWS call".to_string()),
        };
        Error::Aws { action: action.into(), source, help }
    }

    /// The same AWS error with advice that fits where it happened (other kinds keep theirs).
    pub fn with_help(mut self, advice: impl Into<String>) -> Self {
        if let Error::Aws { help, .. } = &mut self {
            *help = Some(advice.into());
        }
        self
    }

    pub fn usage(message: impl Into<String>, help: impl Into<Option<String>>) -> Self {
        Error::Usage { message: message.into(), help: help.into() }
    }

    /// How the command ends: bad input and refusals changed nothing (2), the rest failed (1).
    pub fn status(&self) -> ExitStatus {
        match self {
            // Io is only ever a local file (environment, template) read before any AWS call.
            Error::Config(_) | Error::Usage { .. } | Error::Template { .. } | Error::Io { .. } => ExitStatus::Refused,
            Error::Refused { .. } => ExitStatus::Refused,
            Error::Aws { .. } | Error::Incomplete { .. } => ExitStatus::Failed,
            // Only refusals, before anything changed: as refused as a refusal before the run.
            Error::Unfinished { failures, changed, .. } => {
                let refused = failures.iter().all(|(_, e)| e.status() == ExitStatus::Refused);
                if !changed && refused { ExitStatus::Refused } else { ExitStatus::Failed }
            }
        }
    }

    pub fn exit_code(&self) -> u8 {
        self.status().code()
    }

    /// What the user can do about it, printed after the error.
    pub fn help(&self) -> Option<String> {
        match self {
            Error::Config(e) => Some(e.help()),
            Error::Usage { help, .. } => help.clone(),
            Error::Template { .. } => Some(
                "fix the template (or remove your override of it to use the built-in one); \
                 every {{variable}} must exist: run `ragstack plan ENV --offline --show-documents --json` \
                 with the built-in templates to see the values"
                    .into(),
            ),
            Error::Refused { help, .. } => Some(help.clone()),
            Error::Aws { help, .. } | Error::Incomplete { help, .. } => help.clone(),
            Error::Io { .. } => None,
            Error::Unfinished { command, failures, .. } => {
                let mut lines: Vec<String> =
                    failures.iter().filter_map(|(id, e)| Some(format!("{id}: {}", e.help()?))).collect();
                lines.push(format!("fix the cause and run {command} again: it resumes where this run stopped"));
                Some(lines.join("\n"))
            }
        }
    }

    /// A machine-readable form for `--json`.
    pub fn to_json(&self) -> serde_json::Value {
        let kind = match self {
            Error::Config(_) => "invalid_environment",
            Error::Usage { .. } => "invalid_usage",
            Error::Template { .. } => "invalid_template",
            Error::Io { .. } => "io",
            Error::Aws { .. } => "aws",
            Error::Incomplete { .. } => "incomplete",
            Error::Refused { .. } => "refused",
            Error::Unfinished { .. } => "unfinished",
        };
        let mut v = serde_json::json!({
            "error": {
                "kind": kind,
                "exit_code": self.exit_code(),
                "message": self.to_string(),
                "help": self.help(),
            }
        });
        if let Error::Aws { source, .. } = self {
            v["error"]["aws_code"] = source.code.clone().into();
        }
        if let Error::Config(e) = self {
            v["error"]["problems"] = serde_json::to_value(&e.problems).unwrap_or_default();
        }
        if let Error::Unfinished { failures, skipped, .. } = self {
            v["error"]["failures"] =
                failures.iter().map(|(id, e)| serde_json::json!({"id": id, "error": e.to_json()["error"]})).collect();
            v["error"]["skipped"] = serde_json::json!(skipped);
        }
        v
    }
}

/// The JSON form's `error` object: how a failed resource's error appears in a command's output.
impl serde::Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json()["error"].serialize(s)
    }
}

fn unfinished_message(command: &str, failures: &[(String, Error)], skipped: &[String]) -> String {
    let mut s = format!("{command} did not finish:");
    for (id, e) in failures {
        s.push_str(&format!("\n  {id}: {e}"));
    }
    if !skipped.is_empty() {
        s.push_str(&format!("\n  skipped, a dependency failed: {}", skipped.join(", ")));
    }
    s
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The IAM action an AccessDenied message names: "... is not authorized to perform: s3:PutObject on ...".
fn denied_action(message: &str) -> Option<&str> {
    let rest = message.split_once("perform: ")?.1;
    let action = rest.split(|c: char| c.is_whitespace() || c == ',' || c == ';').next()?;
    action.contains(':').then_some(action)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::AwsError;

    #[test]
    fn a_denied_call_names_the_action_and_the_command_that_lists_every_permission() {
        let denied = AwsError {
            code: "AccessDeniedException".into(),
            message: "User: arn:aws:sts::123456789012:assumed-role/ci/run is not authorized to perform: \
                      bedrock:CreateKnowledgeBase on resource: arn:aws:bedrock:us-east-1:123456789012:knowledge-base/*"
                .into(),
            status: Some(403),
        };
        let help = Error::aws("create knowledge base", denied).help().unwrap();
        assert!(help.contains("permission bedrock:CreateKnowledgeBase"), "{help}");
        assert!(help.contains("--deployer-policy"), "{help}");
        let s3 = AwsError { code: "AccessDenied".into(), message: "Access Denied".into(), status: Some(403) };
        let help = Error::aws("create bucket", s3).help().unwrap();
        assert!(help.contains("a permission this step needs") && help.contains("--deployer-policy"), "{help}");
    }
}
