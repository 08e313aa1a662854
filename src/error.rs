//! The error type of every command, and the exit code each kind maps to.
//!
//! Exit codes are a contract with scripts: 0 success, 1 failure talking to AWS (or a command that
//! is not available yet), 2 invalid input (nothing was sent to AWS), 3 reserved for
//! `plan --detailed-exitcode` (changes pending).

use crate::config::ConfigErrors;

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

    /// A command whose implementation has not landed yet: say so, never pretend success.
    #[error("`ragstack {command}` is not available yet in this version of ragstack")]
    NotYet { command: String, help: String },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn usage(message: impl Into<String>, help: impl Into<Option<String>>) -> Self {
        Error::Usage { message: message.into(), help: help.into() }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            // Io is only ever a local file (environment, template) read before any AWS call.
            Error::Config(_) | Error::Usage { .. } | Error::Template { .. } | Error::Io { .. } => 2,
            Error::NotYet { .. } => 1,
        }
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
            Error::NotYet { help, .. } => Some(help.clone()),
            Error::Io { .. } => None,
        }
    }

    /// A machine-readable form for `--json`.
    pub fn to_json(&self) -> serde_json::Value {
        let kind = match self {
            Error::Config(_) => "invalid_environment",
            Error::Usage { .. } => "invalid_usage",
            Error::Template { .. } => "invalid_template",
            Error::NotYet { .. } => "not_available",
            Error::Io { .. } => "io",
        };
        let mut v = serde_json::json!({
            "error": {
                "kind": kind,
                "exit_code": self.exit_code(),
                "message": self.to_string(),
                "help": self.help(),
            }
        });
        if let Error::Config(e) = self {
            v["error"]["problems"] = serde_json::to_value(&e.problems).unwrap_or_default();
        }
        v
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
