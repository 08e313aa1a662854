//! scripts/install.sh (the `curl -fsSL .../install.sh | sh` installer) against a directory of
//! release artifacts served on 127.0.0.1: it installs the archive of this machine's architecture
//! into ~/.local/bin after checking its SHA-256, and refuses an archive whose checksum does not
//! match. The artifacts are small stand-ins laid out as scripts/release lays them out; the real
//! ones are tried by hand (see the README's release section).

use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

const VERSION: &str = "9.8.7";

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x86_64",
        "aarch64" => "aarch64",
        other => panic!("no release for {other}"),
    }
}

/// A release directory: ragstack-VERSION-ARCH-linux.tar.gz holding a stand-in binary, and SHA256SUMS.
fn artifacts(tamper: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("ragstack-{VERSION}-{}-linux", arch());
    let stage = dir.path().join("stage").join(&name);
    std::fs::create_dir_all(&stage).unwrap();
    std::fs::write(stage.join("ragstack"), format!("#!/bin/sh\necho ragstack {VERSION}\n")).unwrap();
    // The completion and man pages scripts/release puts in share/.
    std::fs::create_dir_all(stage.join("share/bash-completion/completions")).unwrap();
    std::fs::create_dir_all(stage.join("share/man/man1")).unwrap();
    std::fs::write(stage.join("share/bash-completion/completions/ragstack"), "complete -F _ragstack ragstack\n")
        .unwrap();
    std::fs::write(stage.join("share/man/man1/ragstack.1"), ".TH ragstack 1\n").unwrap();
    let archive = dir.path().join(format!("{name}.tar.gz"));
    let ok = Command::new("tar").arg("-czf").arg(&archive).arg("-C").arg(dir.path().join("stage")).arg(&name).status();
    assert!(ok.unwrap().success());
    let mut sum = hex(&Sha256::digest(std::fs::read(&archive).unwrap()));
    if tamper {
        sum = format!("{}{}", if sum.starts_with('0') { '1' } else { '0' }, &sum[1..]);
    }
    std::fs::write(dir.path().join("SHA256SUMS"), format!("{sum}  {name}.tar.gz\n")).unwrap();
    dir
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Serves `root`'s files over HTTP on 127.0.0.1 (GET only) until the test ends.
fn serve(root: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut line = String::new();
            BufReader::new(&conn).read_line(&mut line).unwrap();
            let path = line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_string();
            let file = root.join(&path);
            let reply = match std::fs::read(&file) {
                Ok(body) if !path.contains("..") => {
                    let mut r =
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
                            .into_bytes();
                    r.extend(body);
                    r
                }
                _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
            };
            let _ = conn.write_all(&reply);
        }
    });
    url
}

fn install(url: &str, home: &Path) -> std::process::Output {
    let script = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install.sh")).unwrap();
    let mut child = Command::new("sh")
        .env("HOME", home)
        .env("RAGSTACK_BASE_URL", url)
        .env("RAGSTACK_VERSION", VERSION)
        .env("PATH", std::env::var("PATH").unwrap())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&script).unwrap(); // as `curl ... | sh` runs it
    child.wait_with_output().unwrap()
}

#[test]
fn installs_this_architectures_archive_into_local_bin_and_says_how_to_reach_it() {
    let release = artifacts(false);
    let url = serve(release.path().to_path_buf());
    let home = tempfile::tempdir().unwrap();
    let out = install(&url, home.path());
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    let bin = home.path().join(".local/bin/ragstack");
    let version = Command::new(&bin).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&version.stdout).trim(), format!("ragstack {VERSION}"));
    assert!(text.contains(&format!("installed ragstack {VERSION}")), "{text}");
    // Bash completion and the man pages, in the user's own share/, no root needed.
    let share = home.path().join(".local/share");
    assert!(share.join("bash-completion/completions/ragstack").is_file(), "{text}");
    assert!(share.join("man/man1/ragstack.1").is_file(), "{text}");
    assert!(text.contains("is not on your PATH") && text.contains("export PATH"), "{text}");
}

#[test]
fn refuses_an_archive_whose_checksum_does_not_match_and_installs_nothing() {
    let release = artifacts(true);
    let url = serve(release.path().to_path_buf());
    let home = tempfile::tempdir().unwrap();
    let out = install(&url, home.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("checksum mismatch") && err.contains("nothing was installed"), "{err}");
    assert!(!home.path().join(".local/bin/ragstack").exists());
}

#[test]
fn a_copy_not_from_a_release_asks_for_its_source() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new("sh")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install.sh"))
        .env("HOME", home.path())
        .env_remove("RAGSTACK_BASE_URL")
        .env_remove("RAGSTACK_VERSION")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("set RAGSTACK_BASE_URL and RAGSTACK_VERSION"));
}
