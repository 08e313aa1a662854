//! Shared test support: run the real binary in an isolated directory with no AWS configuration,
//! and a tripwire listener as its AWS endpoint, so a test can prove nothing was sent.
#![allow(dead_code)]

pub mod emulator;
pub mod stack;

use assert_cmd::Command;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A loopback listener that counts connections. Every AWS endpoint of the command points at it.
pub struct Tripwire {
    pub url: String,
    hits: Arc<AtomicUsize>,
}

impl Tripwire {
    pub fn new() -> Tripwire {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if conn.is_ok() {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        Tripwire { url, hits }
    }

    pub fn hits(&self) -> usize {
        // Give a connection that is in flight a moment to be counted.
        std::thread::sleep(std::time::Duration::from_millis(50));
        self.hits.load(Ordering::SeqCst)
    }
}

/// A scratch working directory with an `environments/` folder.
pub struct Workdir {
    pub dir: tempfile::TempDir,
    pub tripwire: Tripwire,
}

impl Workdir {
    pub fn new() -> Workdir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("environments")).unwrap();
        Workdir { dir, tripwire: Tripwire::new() }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `environments/NAME.toml`.
    pub fn env_file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join("environments").join(format!("{name}.toml"));
        std::fs::write(&p, text).unwrap();
        p
    }

    /// The shipped dev.toml with `edits` (old, new) applied; each edit must match.
    pub fn dev_with(&self, name: &str, edits: &[(&str, &str)]) -> PathBuf {
        let mut text = shipped("dev");
        for (old, new) in edits {
            assert!(text.contains(old), "dev.toml no longer contains {old:?}");
            text = text.replacen(old, new, 1);
        }
        self.env_file(name, &text)
    }

    /// The binary, run in this directory, with no AWS configuration from the machine.
    pub fn ragstack(&self) -> Command {
        Command::from_std(self.process())
    }

    /// The same, as a std Command (for tests that stream output or kill the process).
    pub fn process(&self) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("ragstack"));
        c.current_dir(self.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") || k.starts_with("RAGSTACK_") {
                c.env_remove(k);
            }
        }
        c.env("HOME", self.path())
            .env("AWS_CONFIG_FILE", self.path().join("no-aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.path().join("no-aws-credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", &self.tripwire.url)
            .env("AWS_ACCESS_KEY_ID", "AKIDTESTTESTTESTTEST")
            .env("AWS_SECRET_ACCESS_KEY", "test-secret-not-real")
            .env("NO_COLOR", "1");
        c
    }
}

impl Workdir {
    /// The binary pointed at an emulator instead of the tripwire.
    pub fn ragstack_on(&self, emulator: &emulator::Emulator) -> Command {
        Command::from_std(self.process_on(emulator))
    }

    pub fn process_on(&self, emulator: &emulator::Emulator) -> std::process::Command {
        let mut c = self.process();
        c.env("AWS_ENDPOINT_URL", &emulator.endpoint).env("AWS_REGION", "us-east-1");
        c
    }
}

pub fn shipped(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("environments").join(format!("{name}.toml")))
        .unwrap()
}

/// dev's file on another vector store: `"s3_vectors"` (the OpenSearch keys out) or `"managed"`
/// (also no index and no `[knowledge_base]`: Bedrock's embeddings and chunking), with `extra`
/// lines in `[vector_store]`.
pub fn dev_on(kind: &str, extra: &str) -> String {
    let dev = shipped("dev")
        .replace("standby_replicas = false", &format!("kind = \"{kind}\"\n{extra}"))
        .replace("network_access = \"public\"\n", "");
    if kind != "managed" {
        return dev;
    }
    let (head, rest) = dev.split_once("[knowledge_base]\n").unwrap();
    let (_, tail) = rest.split_once("[[data_sources]]").unwrap();
    format!("{}[[data_sources]]{tail}", head.replace("index_name = \"ragstack-index\"\n", ""))
}

/// Runs and returns (exit code, stdout, stderr).
pub fn run(mut cmd: Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
