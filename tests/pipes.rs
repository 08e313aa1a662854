//! A closed pipe ends ragstack quietly, as it ends `cat`: `ragstack plan dev --offline | head -1`
//! gets SIGPIPE's default (the process ends, nothing on stderr) instead of a panic on EPIPE.

mod common;

use common::Workdir;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

#[test]
fn a_closed_pipe_ends_the_command_without_a_panic_or_anything_on_stderr() {
    let wd = Workdir::new();
    for args in [&["plan", "dev", "us-east-1", "--offline", "--show-documents"][..], &["completions", "zsh"][..]] {
        let mut c = wd.process();
        c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        // The reader goes away before ragstack writes: every write meets a closed pipe.
        drop(child.stdout.take());
        let mut err = String::new();
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        let status = child.wait().unwrap();
        let quiet = status.success() || status.signal() == Some(libc::SIGPIPE);
        assert!(quiet, "{args:?}: ended with {status:?}\n{err}");
        assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{args:?}: {err}");
    }
}

#[test]
fn completions_and_man_pages_come_from_the_parser() {
    let wd = Workdir::new();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = wd.ragstack().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("deploy") && text.contains("models") && text.contains("allow-replace"), "{shell}");
    }
    let dir = wd.path().join("man");
    let out = wd.ragstack().args(["manpages"]).arg(&dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for page in ["ragstack.1", "ragstack-deploy.1", "ragstack-legacy-teardown.1", "ragstack-models.1"] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{page} is roff");
    }
    assert!(std::fs::read_to_string(dir.join("ragstack-deploy.1")).unwrap().contains("allow\\-replace"));
    assert_eq!(wd.tripwire.hits(), 0);
}
