//! scripts/serve-local, try-local's stand-in for API Gateway (issue #30): the real query function
//! and its page, served on 127.0.0.1 with the configuration ragstack deployed, against the
//! emulator. The page is served, a question is answered from the documents ingested with their
//! citations, and `ragstack ask --url` works against it.

mod common;

use common::emulator::Emulator;
use common::stack::deploy;
use common::{Workdir, run};
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
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    assert_eq!(deploy(&wd, &emu, "dev", &["--no-sync"]).0, 0);
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/acceptance/corpus");
    let mut sync = wd.ragstack_on(&emu);
    sync.args(["sync", "dev", "--upload"]).arg(&corpus);
    let (code, out, err) = run(sync);
    assert_eq!(code, 0, "{out}\n{err}");

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
