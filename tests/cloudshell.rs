//! AWS CloudShell's shape, end to end: credentials only from the container credentials provider
//! (`AWS_CONTAINER_CREDENTIALS_FULL_URI` on loopback with `AWS_CONTAINER_AUTHORIZATION_TOKEN`),
//! short-lived and refreshed during a long deploy; `AWS_REGION` / `AWS_DEFAULT_REGION` set to the
//! console's region, which the REGION argument overrides; and never a call to the instance
//! metadata service.

mod common;

use common::emulator::Emulator;
use common::{Workdir, run};
use std::io::{Read, Write};

const TOKEN: &str = "cloudshell-test-token";
/// Credentials live 20 s; the SDK refreshes them 10-15 s before they expire.
const LIFETIME_S: u64 = 20;

fn credentials_uri(emu: &Emulator) -> String {
    format!("{}/_ragstack/container-credentials", emu.endpoint)
}

/// The binary as CloudShell runs it: no keys in the environment, the console's region in
/// AWS_REGION and AWS_DEFAULT_REGION, the instance metadata service reachable (at the tripwire).
fn cloudshell(wd: &Workdir, emu: &Emulator) -> std::process::Command {
    let mut c = wd.process_on(emu);
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &wd.tripwire.url)
        .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", credentials_uri(emu))
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", TOKEN)
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_DEFAULT_REGION", "eu-west-1");
    c
}

fn emulator() -> Emulator {
    let emu = Emulator::start(&[]);
    emu.configure(&format!(
        r#"{{"container_credentials_token": "{TOKEN}", "container_credentials_seconds": {LIFETIME_S}, "delays": {{"collection_create": 40}}}}"#
    ));
    emu
}

#[test]
fn a_deploy_outliving_several_short_lived_credentials_succeeds_in_the_region_given() {
    let emu = emulator();
    let wd = Workdir::new();
    let started = std::time::Instant::now();
    let mut c = cloudshell(&wd, &emu);
    c.args(["deploy", "dev", "us-east-1", "--no-sync"]);
    let (code, out, err) = run(assert_cmd::Command::from_std(c));
    let took = started.elapsed().as_secs();
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(took >= 2 * LIFETIME_S, "the deploy must outlive the credentials: {took} s");
    let issued = emu.health()["container_credentials_issued"].as_u64().unwrap();
    assert!(issued >= 3, "credentials were refreshed: {issued} sets in {took} s");
    // The REGION argument beat AWS_REGION=eu-west-1.
    assert!(out.contains("ragstack-dev-123456789012-us-east-1"), "{out}");
    assert_eq!(wd.tripwire.hits(), 0, "no call to the instance metadata service");
}

/// One set of credentials from the endpoint, as a client that never refreshes would hold.
fn credentials_once(emu: &Emulator) -> serde_json::Value {
    let addr = emu.endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /_ragstack/container-credentials HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {TOKEN}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    serde_json::from_str(text.split_once("\r\n\r\n").unwrap().1).unwrap()
}

#[test]
fn credentials_that_are_not_refreshed_expire_during_the_deploy() {
    // The check above can fail: the emulator refuses expired credentials as AWS does.
    let emu = emulator();
    let wd = Workdir::new();
    let creds = credentials_once(&emu);
    let mut c = wd.process_on(&emu);
    c.env("AWS_ACCESS_KEY_ID", creds["AccessKeyId"].as_str().unwrap())
        .env("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"].as_str().unwrap())
        .env("AWS_SESSION_TOKEN", creds["Token"].as_str().unwrap())
        .args(["deploy", "dev", "us-east-1", "--no-sync"]);
    let (code, out, err) = run(assert_cmd::Command::from_std(c));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(format!("{out}{err}").contains("ExpiredToken"), "{out}\n{err}");
}

#[test]
fn the_endpoint_needs_the_authorization_token() {
    let emu = emulator();
    let wd = Workdir::new();
    let mut c = cloudshell(&wd, &emu);
    c.env("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong").args(["status", "dev", "us-east-1"]);
    let (code, out, err) = run(assert_cmd::Command::from_std(c));
    assert_eq!(code, 1, "{out}\n{err}");
    assert_eq!(emu.health()["container_credentials_issued"], 0);
}

#[test]
fn the_region_argument_beats_aws_region_and_aws_default_region_alone_is_enough() {
    let wd = Workdir::new();
    let mut c = wd.process();
    c.env("AWS_REGION", "eu-west-1").env("AWS_DEFAULT_REGION", "eu-west-1").args([
        "plan",
        "dev",
        "us-east-1",
        "--offline",
    ]);
    let (code, out, err) = run(assert_cmd::Command::from_std(c));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("us-east-1") && !out.contains("eu-west-1"), "{out}");

    let mut c = wd.process();
    c.env_remove("AWS_REGION").env("AWS_DEFAULT_REGION", "eu-central-1").args(["plan", "dev", "--offline"]);
    let (code, out, err) = run(assert_cmd::Command::from_std(c));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("eu-central-1"), "{out}");
    assert_eq!(wd.tripwire.hits(), 0);
}
