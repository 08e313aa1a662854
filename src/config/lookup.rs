//! Finding an environment file. Lookup order for `ENV`: `--environments DIR/ENV.toml`, then
//! `./environments/ENV.toml`, then the environments built into the binary (`environments/*.toml`
//! of this repository).

use super::source::EnvironmentSource;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The environments shipped inside the binary, so ragstack works from any directory.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("dev", include_str!("../../environments/dev.toml")),
    ("qa", include_str!("../../environments/qa.toml")),
    ("sandbox", include_str!("../../environments/sandbox.toml")),
];

/// Environment names become part of AWS names: lowercase letters, digits and single hyphens.
pub fn environment_name_rule(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 20
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && !name.contains("--")
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    (!ok).then(|| {
        "an environment name must be 1-20 characters of lowercase letters, digits and single hyphens, \
         starting with a letter (it becomes part of AWS resource names)"
            .into()
    })
}

/// The text of the built-in environment `name`, if there is one.
pub fn built_in(name: &str) -> Option<&'static str> {
    BUILT_IN.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}

/// Finds `ENV`'s file: `dir` (from `--environments`) first, then `./environments`, then built in.
pub fn find(env: &str, dir: Option<&Path>) -> crate::Result<EnvironmentSource> {
    if let Some(rule) = environment_name_rule(env) {
        return Err(crate::Error::usage(format!("invalid environment name `{env}`: {rule}"), None));
    }
    let dirs: Vec<PathBuf> = match dir {
        Some(d) => vec![d.to_path_buf()],
        None => vec![PathBuf::from("environments")],
    };
    for d in &dirs {
        let path = d.join(format!("{env}.toml"));
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                return Ok(EnvironmentSource {
                    name: env.into(),
                    display: path.display().to_string(),
                    text,
                    dir: Some(d.clone()),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(crate::Error::Io { context: format!("cannot read {}", path.display()), source: e });
            }
        }
    }
    if let Some(text) = built_in(env) {
        return Ok(EnvironmentSource {
            name: env.into(),
            display: format!("environments/{env}.toml (built in)"),
            text: text.into(),
            dir: None,
        });
    }
    let known = known_environments(&dirs);
    let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let guess = crate::naming::did_you_mean(env, known.iter().map(String::as_str))
        .map(|g| format!(" (did you mean `{g}`?)"))
        .unwrap_or_default();
    Err(crate::Error::usage(
        format!(
            "unknown environment `{env}`{guess}: no {env}.toml in {} and no built-in environment of that name; \
             known environments: {}",
            searched.join(", "),
            known.join(", ")
        ),
        Some(format!(
            "create environments/{env}.toml (copy environments/dev.toml as a start), or pass --environments DIR"
        )),
    ))
}

fn known_environments(dirs: &[PathBuf]) -> Vec<String> {
    let mut names: BTreeSet<String> = BUILT_IN.iter().map(|(n, _)| n.to_string()).collect();
    for d in dirs {
        if let Ok(entries) = std::fs::read_dir(d) {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "toml")
                    && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
                {
                    names.insert(stem.to_string());
                }
            }
        }
    }
    names.into_iter().collect()
}
