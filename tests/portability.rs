//! The release binaries run on AWS CloudShell by construction (scripts/check-portable: glibc 2.28
//! at most, no shared library beyond glibc's own). scripts/release checks every binary it builds;
//! this test checks the release builds present in target/, and that the check refuses a binary
//! needing a newer glibc.

use std::path::Path;
use std::process::Command;

fn check(binary: &Path, max_glibc: Option<&str>) -> (i32, String) {
    let mut c = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check-portable"));
    c.arg(binary);
    if let Some(m) = max_glibc {
        c.arg(m);
    }
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn the_check_refuses_a_binary_that_needs_a_newer_glibc_than_allowed() {
    // The test build links against this machine's glibc; every x86_64 glibc binary needs at least
    // GLIBC_2.2.5, so a limit of 2.2 must be exceeded whatever the machine.
    let debug = assert_cmd::cargo::cargo_bin("ragstack");
    let (code, out) = check(&debug, Some("2.2"));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("newer than 2.2"), "{out}");
}

#[test]
fn release_builds_present_in_target_run_on_cloudshell() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for triple in ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"] {
        let bin = root.join("target").join(triple).join("release/ragstack");
        if bin.exists() {
            let (code, out) = check(&bin, None);
            assert_eq!(code, 0, "{out}");
            checked += 1;
        }
    }
    if checked == 0 {
        eprintln!("no release build in target/: scripts/release builds one (and runs this check itself)");
    }
}
