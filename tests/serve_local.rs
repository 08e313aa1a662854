//! scripts/serve-local, try-local's stand-in for API Gateway (issue #30): the real query function
//! and its page, served on 127.0.0.1 with the configuration ragstack deployed, against the
//! emulator. The page is served, a question is answered from the documents ingested with their
//! citations, and `ragstack ask --url` works against it.

mod common;

use common::run;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// The answer to a GET of `url` (http://127.0.0.1:PORT/PATH), status line and all.
fn get(url: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(stream, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_real_page_and_function_answer_locally() {
    let (emu, wd) = common::stack::dev_with_corpus();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut server = Command::new(root.join("scripts/serve-local"))
        .args(["ragstack-dev-query", "dev"])
        .env("AWS_ENDPOINT_URL", &emu.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let url = first.trim().strip_prefix("serving ").unwrap_or_else(|| panic!("{first}")).to_string();

    // Without --url, ask would go to the API's AWS URL, which the emulator does not serve: it
    // says so and sends nothing.
    let mut ask = wd.ragstack_on(&emu);
    ask.args(["ask", "dev", "When do you open?"]);
    let (code, _, err) = run(ask);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("does not serve the API") && err.contains("scripts/serve-local ragstack-dev-query dev"),
        "{err}"
    );

    let page = get(&url);
    assert!(page.starts_with("HTTP/1.0 200") && page.contains("<html"), "the chat page: {page}");
    let mut ask = wd.ragstack_on(&emu);
    ask.args(["ask", "dev", "--url", &url, "--json", "When does the Tidewater Lighthouse Museum open on Saturdays?"]);
    let (code, out, err) = run(ask);
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("opening-hours.md"), "cites the document that answers: {out}");
}

/// Whether something accepts connections at `endpoint` (http://127.0.0.1:PORT).
fn listening(endpoint: &str) -> bool {
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    std::net::TcpStream::connect(host).is_ok()
}

/// The no-AWS path of the README, as written: `scripts/try-local` deploys, ingests the sample
/// corpus, prints the page's URL, serves the page there, and Ctrl-C (SIGINT to its process group,
/// as a terminal sends it) stops the server and the emulator.
#[test]
fn try_local_prints_the_page_url_serves_it_and_ctrl_c_stops_everything() {
    use std::os::unix::process::CommandExt;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut script = Command::new(root.join("scripts/try-local"))
        .env("RAGSTACK_BIN", env!("CARGO_BIN_EXE_ragstack"))
        .env_remove("AWS_ENDPOINT_URL")
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = script.id();
    let interrupt = move || {
        let _ = Command::new("kill").args(["-INT", "--", &format!("-{pid}")]).status();
    };
    let mut lines = BufReader::new(script.stdout.take().unwrap()).lines();
    let (mut seen, mut url, mut endpoint) = (String::new(), None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if let Some(e) = line.trim().strip_prefix("http://127.0.0.1:").filter(|_| endpoint.is_none()) {
            endpoint = Some(format!("http://127.0.0.1:{e}"));
        }
        if let Some(u) = line.trim().strip_prefix("chat page: ") {
            url = Some(u.to_string());
        }
        if line.starts_with("Ctrl-C stops") {
            break;
        }
    }
    let Some(url) = url else {
        interrupt();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut script.stderr.take().unwrap(), &mut err).unwrap();
        panic!("no page URL printed:\n{seen}\n{err}");
    };
    let endpoint = endpoint.unwrap_or_else(|| panic!("no emulator endpoint printed:\n{seen}"));
    assert!(url.starts_with("http://127.0.0.1:") && url.ends_with("/dev/rag"), "{url}");
    assert!(seen.contains(&format!("ask dev --url {url} ")), "a working ask line:\n{seen}");
    let page = get(&url);
    interrupt();
    assert!(page.starts_with("HTTP/1.0 200") && page.contains("Ask your documents"), "{page}");

    let status = script.wait().unwrap();
    assert!(!status.success(), "interrupted: {status:?}");
    // What it started is gone: the page's server and the emulator no longer answer.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while (listening(&endpoint) || listening(url.trim_end_matches("/dev/rag"))) && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!listening(&endpoint), "the emulator still runs at {endpoint}");
    assert!(!listening(url.trim_end_matches("/dev/rag")), "the page's server still runs");
}
