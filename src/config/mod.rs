//! Environment files: finding them (`lookup`), their format (`file`), validating every setting
//! before any AWS call (`validate`), and locating each problem in the file (`locate`). Each
//! problem names the file, the line and column, the key, the bad value and what is allowed; all
//! problems of a file are reported at once.

mod environment;
mod file;
mod locate;
mod lookup;
pub mod questions;
mod schedule;
mod source;
mod validate;

pub use environment::{Chunking, Environment, LAMBDA_RUNTIMES, OtherGeneration, Target};
pub use file::*;
pub use locate::{ConfigErrors, Problem};
pub use lookup::{BUILT_IN, environment_name_rule, find};
pub use source::EnvironmentSource;
pub use validate::LOG_RETENTION_DAYS;

/// Parses and validates `source` for `target`; every problem is reported, none is fatal early
/// except a file that cannot be parsed at all.
pub fn load(source: &EnvironmentSource, target: &Target) -> crate::Result<Environment> {
    let file: EnvironmentFile = match toml::from_str(&source.text) {
        Ok(file) => file,
        Err(e) => return Err(parse_and_range_errors(source, target, &e).into()),
    };
    validated(source, target, file).map_err(Into::into)
}

/// The type and unknown-key problems serde finds, with the range and enum problems of the
/// sections serde could read: the file is validated too with each refused key replaced by the
/// built-in dev file's value (or removed), and what that finds in a section without a parse
/// problem is added (in a section with one, a finding may be a consequence of the stand-in).
fn parse_and_range_errors(source: &EnvironmentSource, target: &Target, first: &toml::de::Error) -> ConfigErrors {
    let mut errors = locate::parse_errors::<EnvironmentFile>(source, first);
    let stand_in = lookup::built_in("dev").unwrap_or_default();
    let Some(table) = locate::with_stand_ins(&source.text, &errors.problems, stand_in) else { return errors };
    let Ok(file) = toml::Value::Table(table).try_into::<EnvironmentFile>() else { return errors };
    let section = |key: &str| key.split(['.', '[']).next().unwrap_or_default().to_string();
    let refused: std::collections::BTreeSet<String> = errors.problems.iter().map(|p| section(&p.key)).collect();
    if let Err(more) = validated(source, target, file) {
        errors.problems.extend(more.problems.into_iter().filter(|p| !refused.contains(&section(&p.key))));
        errors.problems.sort_by_key(|p| p.line);
    }
    errors
}

fn validated(source: &EnvironmentSource, target: &Target, file: EnvironmentFile) -> Result<Environment, ConfigErrors> {
    let mut v = validate::Validator::new();
    v.prefix_and_tags(&file);
    v.vector_store(&file, target);
    let (model, chunking) = v.knowledge_base(&file, target);
    v.data_sources(&file);
    v.lambda(&file);
    v.api(&file);
    v.logs(&file);
    v.sync(&file);
    let prompt_template = v.retrieval(&file, source);
    let eval_questions = v.eval(&file, source);
    let names = v.names(&file, source, target);
    if !v.is_clean() {
        return Err(v.into_errors(source));
    }
    Ok(Environment {
        name: source.name.clone(),
        source: source.display.clone(),
        file,
        chunking,
        embedding_model: model,
        names,
        account_known: target.account.is_some(),
        prompt_template,
        eval_questions,
        warnings: v.warnings,
        other_generation: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn target() -> Target {
        Target { region: "us-east-1".into(), account: Some("123456789012".into()), skip_region_check: false }
    }

    #[test]
    fn built_in_environments_are_valid_in_their_intended_regions() {
        for (name, _) in BUILT_IN {
            let src = find(name, Some(Path::new("/nonexistent"))).unwrap();
            let env = load(&src, &target()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(env.name, *name);
        }
    }
}
