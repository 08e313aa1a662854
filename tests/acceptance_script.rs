//! scripts/aws-acceptance up to its first AWS call (the rest needs a real account): argument
//! checks, the shipped corpus and question, and the refusal to run in another account.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/aws-acceptance")
}

/// (exit code, stdout, stderr) of the script with `args`, with `bin` first on PATH.
fn run(args: &[&str], bin: &Path) -> (i32, String, String) {
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = Command::new(script()).args(args).env("PATH", path).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn invalid_arguments_exit_2_before_anything_else() {
    let bin = tempfile::tempdir().unwrap();
    for (args, says) in [
        (vec!["dev", "us-east-1"], "--account ID is required"),
        (vec!["dev", "us-east-1", "--account", "12345"], "exactly 12 digits"),
        (vec!["dev", "useast1", "--account", "123456789012"], "not a region name"),
        (vec!["Dev!", "us-east-1", "--account", "123456789012"], "ENV 'Dev!'"),
        (vec!["dev", "us-east-1", "--account", "123456789012", "--fast"], "unknown option --fast"),
        (vec!["dev"], "usage"),
    ] {
        let (code, out, err) = run(&args, bin.path());
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn a_dry_run_checks_the_corpus_and_the_questions_expected_citation() {
    let bin = tempfile::tempdir().unwrap();
    let (code, out, err) = run(&["dev", "us-east-1", "--account", "123456789012", "--dry-run"], bin.path());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("corpus: 3 documents") && out.contains("expected citation: opening-hours.md"), "{out}");
    assert!(out.contains("re-deploy (no changes), teardown"), "{out}");
    let (code, out, err) =
        run(&["dev", "us-east-1", "--account", "123456789012", "--via-export", "--dry-run"], bin.path());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("deploy stack ragstack-dev (aws cloudformation deploy)"), "{out}");
    assert!(out.contains("ragstack plan (no changes)") && out.contains("delete the stack"), "{out}");
    // A blue/green change of the chunking on the real account, then the question again.
    let (code, out, err) =
        run(&["dev", "us-east-1", "--account", "123456789012", "--blue-green", "--dry-run"], bin.path());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("eval the question set, blue/green chunking change, ask again, re-deploy"), "{out}");
    let (code, _, err) = run(
        &["dev", "us-east-1", "--account", "123456789012", "--blue-green", "--via-export", "--dry-run"],
        bin.path(),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--blue-green and --via-export are exclusive"), "{err}");
}

#[test]
fn credentials_of_another_account_stop_the_run_before_ragstack_is_started() {
    let bin = tempfile::tempdir().unwrap();
    let started = bin.path().join("ragstack-was-started");
    executable(&bin.path().join("aws"), "#!/bin/sh\necho 999999999999\n");
    let fake = bin.path().join("ragstack");
    executable(&fake, &format!("#!/bin/sh\ntouch {}\n", started.display()));
    let (code, out, err) =
        run(&["dev", "us-east-1", "--account", "123456789012", "--ragstack", fake.to_str().unwrap()], bin.path());
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("account 999999999999, not 123456789012: nothing was done"), "{err}");
    assert!(!started.exists(), "ragstack must not run in the wrong account");
}
