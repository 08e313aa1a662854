//! An environment file as read: its text and where it came from.

use std::path::PathBuf;

/// An environment file's text and where it came from.
#[derive(Debug, Clone)]
pub struct EnvironmentSource {
    pub name: String,
    /// What messages call the file: its path, or `environments/dev.toml (built in)`.
    pub display: String,
    pub text: String,
    /// The directory of the file, where the files it names are (None when built in).
    pub dir: Option<PathBuf>,
}
