//! Deploy converges on what the environment file no longer declares: a data source removed or
//! renamed is shown by plan as `- delete`, refused by deploy without --allow-delete (exit 2, 0
//! mutating calls), deleted with it, and status says so meanwhile.

mod common;

use common::emulator::Emulator;
use common::stack::{clients, deploy, rt};
use common::{Workdir, run};

const SECOND: &str = "[[data_sources]]\nname = \"manuals\"\ninclusion_prefixes = [\"manuals/\"]\n\n[lambda]";

fn data_sources(emu: &Emulator) -> Vec<String> {
    let c = clients(emu);
    rt().block_on(async {
        let kbs = c.agent.list_knowledge_bases().send().await.unwrap();
        let kb = kbs.knowledge_base_summaries()[0].knowledge_base_id().to_string();
        let out = c.agent.list_data_sources().knowledge_base_id(kb).send().await.unwrap();
        let mut names: Vec<String> = out.data_source_summaries().iter().map(|d| d.name().to_string()).collect();
        names.sort();
        names
    })
}

/// Output with what changes from run to run replaced (ids AWS assigns, elapsed times, dates,
/// durations) and the progress lines of resources applied concurrently in a stable order.
fn stable(out: &str) -> String {
    let rules = [
        (r"\b[0-9A-Z]{10}\b", "ID"),
        (r"https://[a-z0-9]+\.execute-api", "https://API-ID.execute-api"),
        (r"https://[a-z0-9]+\.us-east-1\.aoss", "https://COLLECTION-ID.us-east-1.aoss"),
        (r"\[ *[0-9.]+s\]", "[T]"),
        (r"\d{4}-\d\d-\d\dT[0-9:.]+Z", "TIME"),
        (r"\b\d+(\.\d+)? ?(ms|s)\b", "N s"),
    ];
    let text = rules.iter().fold(out.to_string(), |text, (pattern, to)| {
        regex_lite::Regex::new(pattern).unwrap().replace_all(&text, *to).into_owned()
    });
    // Progress lines ("[T] id  state  detail"): the header and plan lines first, the rest sorted;
    // whether a wait shows a line depends on timing.
    let (progress, rest): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| l.starts_with("[T] "));
    let progress = progress.into_iter().filter(|l| l.split_whitespace().nth(2) != Some("waiting"));
    let (head, mut steps): (Vec<&str>, Vec<&str>) =
        progress.into_iter().partition(|l| l.starts_with("[T] ragstack ") || l.starts_with("[T] plan:"));
    steps.sort();
    head.into_iter().chain(steps).chain(rest).collect::<Vec<_>>().join("\n")
}

#[test]
fn a_data_source_removed_from_the_file_is_deleted_only_with_allow_delete() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    wd.dev_with("dev", &[("[lambda]", SECOND)]);
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(data_sources(&emu), ["documents", "manuals"]);

    // Removed from the file: plan shows the deletion and what it means.
    wd.dev_with("dev", &[]);
    let mut p = wd.ragstack_on(&emu);
    p.args(["plan", "dev", "--detailed-exitcode"]);
    let (code, out, err) = run(p);
    assert_eq!(code, 3, "changes pending\n{out}\n{err}");
    insta::assert_snapshot!("plan_with_a_removed_data_source", stable(&out));
    let row = out.lines().find(|l| l.contains("data_source.manuals")).unwrap_or_default();
    assert!(row.starts_with("- ") && row.contains("delete"), "{row}\n{out}");
    assert!(
        out.contains("its documents (s3://ragstack-dev-123456789012-us-east-1/manuals/) stop being ingested"),
        "{out}"
    );
    assert!(out.contains("--allow-delete"), "{out}");

    // status says what fixes it.
    let mut s = wd.ragstack_on(&emu);
    s.args(["status", "dev"]);
    let (code, out, _) = run(s);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no longer in the environment file") && out.contains("--allow-delete"), "{out}");
    assert!(!out.contains("manuals                    never run"), "{out}");

    // deploy refuses without the flag, before any change.
    emu.clear_calls();
    let (code, _, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("data source manuals") && err.contains("--allow-delete"), "{err}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
    assert_eq!(data_sources(&emu), ["documents", "manuals"]);

    // With it, the data source goes; the next deploy has nothing to do.
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--allow-delete"]);
    assert_eq!(code, 0, "{out}\n{err}");
    insta::assert_snapshot!("deploy_with_a_removed_data_source", stable(&out));
    assert_eq!(data_sources(&emu), ["documents"]);
    emu.clear_calls();
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("No changes"), "{out}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
}

#[test]
fn a_renamed_data_source_is_created_under_its_new_name_and_the_old_one_deleted() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    wd.dev_with("dev", &[("[lambda]", SECOND)]);
    assert_eq!(deploy(&wd, &emu, "dev", &["--no-sync"]).0, 0);
    wd.dev_with("dev", &[("[lambda]", &SECOND.replace("name = \"manuals\"", "name = \"handbooks\""))]);
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--allow-delete", "--no-sync"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(data_sources(&emu), ["documents", "handbooks"]);
    // Teardown still removes everything (the leftovers are not counted twice).
    let mut t = wd.ragstack_on(&emu);
    t.args(["teardown", "dev", "--yes"]);
    let (code, out, err) = run(t);
    assert_eq!(code, 0, "{out}\n{err}");
}
