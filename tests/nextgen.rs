//! OpenSearch Serverless NextGen environments end to end: the collection group, the collection in
//! it, a re-deploy that changes nothing, sync, status, the monthly floor in plan, a generation
//! change refused without --allow-replace, and a teardown that leaves nothing.

mod common;

use common::emulator::Emulator;
use common::stack::{clients, deploy, rt, teardown};
use common::{Workdir, run, shipped};
use serde_json::Value;

const NEXTGEN: (&str, &str) = ("# generation = \"nextgen\"", "generation = \"nextgen\"");
const CAPACITY: (&str, &str) = (
    "# [vector_store.capacity]\n# min_indexing_ocu = 0\n# max_indexing_ocu = 2\n# min_search_ocu = 0\n# max_search_ocu = 2",
    "[vector_store.capacity]\nmin_indexing_ocu = 0\nmax_indexing_ocu = 2\nmin_search_ocu = 0\nmax_search_ocu = 2",
);

fn plan_json(wd: &Workdir, env: &str, extra: &[&str]) -> Value {
    let mut c = wd.ragstack();
    c.args(["plan", env, "us-east-1", "--offline", "--json"]).args(extra);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn the_monthly_floor_follows_the_generation_standby_replicas_and_the_price_file() {
    let wd = Workdir::new();
    // The shipped environments: Classic, 1 OCU without standby replicas (dev), 2 with (qa), at
    // $0.24 per OCU-hour in us-east-1 over 730 hours; sandbox on S3 Vectors, nothing while idle.
    for (env, ocu, month) in [("dev", 1.0, 175.2), ("qa", 2.0, 350.4)] {
        let cost = &plan_json(&wd, env, &[])["cost"];
        assert_eq!(cost["generation"], "CLASSIC", "{env}");
        assert_eq!(cost["idle_ocu"], ocu, "{env}");
        assert_eq!(cost["monthly_floor_usd"], month, "{env}: {cost}");
    }
    let cost = &plan_json(&wd, "sandbox", &[])["cost"];
    assert_eq!((cost["generation"].as_str(), cost["monthly_floor_usd"].as_f64()), (Some("S3_VECTORS"), Some(0.0)));
    // NextGen with minimums of 0: nothing while idle; awake, the smallest capacity.
    wd.dev_with("zero", &[NEXTGEN, CAPACITY]);
    let cost = &plan_json(&wd, "zero", &[])["cost"];
    assert_eq!((cost["generation"].as_str(), cost["monthly_floor_usd"].as_f64()), (Some("NEXTGEN"), Some(0.0)));
    // Woken: one indexing and two search workers, counted as one OCU each.
    assert_eq!(cost["active_hour_usd"], 0.72);
    // Non-zero minimums are billed around the clock.
    wd.dev_with("warm", &[NEXTGEN, (CAPACITY.0, &CAPACITY.1.replace("min_search_ocu = 0", "min_search_ocu = 2"))]);
    assert_eq!(plan_json(&wd, "warm", &[])["cost"]["monthly_floor_usd"], 350.4);
    // The text says so; a region without a price says that instead of guessing.
    let mut c = wd.ragstack();
    c.args(["plan", "zero", "us-east-1", "--offline"]);
    let (_, out, _) = run(c);
    assert!(
        out.contains("monthly floor of the vector store: $0.00 while idle") && out.contains("scales to zero"),
        "{out}"
    );
    let mut c = wd.ragstack();
    c.args(["plan", "dev", "eu-west-1", "--offline"]);
    let (_, out, _) = run(c);
    assert!(out.contains("the price is unknown for eu-west-1"), "{out}");
    assert_eq!(wd.tripwire.hits(), 0);
}

#[test]
fn capacity_limits_are_checked_before_any_aws_call() {
    let wd = Workdir::new();
    let refused = |name: &str, edits: &[(&str, &str)], says: &[&str]| {
        wd.dev_with(name, edits);
        let mut c = wd.ragstack();
        c.args(["deploy", name, "us-east-1"]);
        let (code, _, err) = run(c);
        assert_eq!(code, 2, "{err}");
        for s in says {
            assert!(err.contains(s), "{s:?} not in {err}");
        }
    };
    refused("classic", &[CAPACITY], &["vector_store.capacity", "generation = \"nextgen\""]);
    let half = CAPACITY.1.replace("max_indexing_ocu = 2", "max_indexing_ocu = 2.3");
    refused(
        "steps",
        &[NEXTGEN, (CAPACITY.0, &half)],
        &["vector_store.capacity.max_indexing_ocu", "multiple of 16 up to 1696"],
    );
    let one = CAPACITY.1.replace("min_indexing_ocu = 0", "min_indexing_ocu = 1");
    refused(
        "one",
        &[NEXTGEN, (CAPACITY.0, &one)],
        &["vector_store.capacity.min_indexing_ocu", "allowed: 0, 2, 4, 8, 16"],
    );
    let above = CAPACITY.1.replace("min_search_ocu = 0", "min_search_ocu = 4");
    refused("above", &[NEXTGEN, (CAPACITY.0, &above)], &["vector_store.capacity.min_search_ocu", "above the maximum"]);
    let low = CAPACITY.1.replace("max_search_ocu = 2", "max_search_ocu = 0");
    refused("low", &[NEXTGEN, (CAPACITY.0, &low)], &["max_search_ocu", "allowed: 2, 4, 8, 16"]);
    assert_eq!(wd.tripwire.hits(), 0);
}

#[test]
fn a_nextgen_environment_deploys_redeploys_without_change_syncs_reports_and_tears_down() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    wd.dev_with("dev", &[NEXTGEN, CAPACITY]);
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("monthly floor of the vector store: $0.00"), "{out}");
    let c = clients(&emu);
    rt().block_on(async {
        let groups = c.aoss.batch_get_collection_group().names("ragstack-dev").send().await.unwrap();
        let g = &groups.collection_group_details()[0];
        assert_eq!(g.generation().map(|x| x.as_str()), Some("NEXTGEN"));
        assert_eq!(g.capacity_limits().and_then(|l| l.min_search_capacity_in_ocu()), Some(0.0));
        let cols = c.aoss.batch_get_collection().names("ragstack-dev").send().await.unwrap();
        assert_eq!(cols.collection_details()[0].collection_group_name(), Some("ragstack-dev"));
    });

    emu.clear_calls();
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("No changes"), "{out}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());

    let mut s = wd.ragstack_on(&emu);
    s.args(["status", "dev", "--json"]);
    let (code, out, err) = run(s);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let group = v["resources"].as_array().unwrap().iter().find(|r| r["id"] == "collection_group").unwrap().clone();
    assert_eq!(group["state"], "ok", "{group}");
    assert_eq!(group["details"]["generation"], "NEXTGEN");
    assert_eq!(group["details"]["capacity_limits"]["max_search_ocu"], 2.0);

    // A capacity change is an update in place; going back to Classic is a replace, refused
    // without --allow-replace before any change.
    wd.dev_with("dev", &[NEXTGEN, (CAPACITY.0, &CAPACITY.1.replace("max_search_ocu = 2", "max_search_ocu = 4"))]);
    emu.clear_calls();
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--no-sync"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(emu.mutating_calls(), vec!["aoss UpdateCollectionGroup".to_string()]);
    std::fs::write(wd.path().join("environments/dev.toml"), shipped("dev")).unwrap();
    let mut p = wd.ragstack_on(&emu);
    p.args(["plan", "dev"]);
    let (_, out, _) = run(p);
    let row = out.lines().find(|l| l.split_whitespace().nth(1) == Some("collection")).unwrap_or_default();
    assert!(row.starts_with("-/+") && row.contains("collection_group"), "the collection is replaced: {row}\n{out}");
    let group_row = out.lines().find(|l| l.split_whitespace().nth(1) == Some("collection_group")).unwrap_or_default();
    assert!(group_row.contains("delete"), "the group goes: {group_row}\n{out}");
    emu.clear_calls();
    let (code, _, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--allow-replace"), "{err}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());

    // From Classic to NextGen with --allow-replace: a new group, a new collection in it, the
    // documents ingested again.
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--allow-replace"]);
    assert_eq!(code, 0, "{out}\n{err}");
    std::fs::create_dir_all(wd.path().join("docs")).unwrap();
    std::fs::write(wd.path().join("docs/hours.md"), "# Hours\nWe open at nine.").unwrap();
    wd.dev_with("dev", &[NEXTGEN, CAPACITY]);
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--allow-replace"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let mut s = wd.ragstack_on(&emu);
    s.args(["sync", "dev", "--upload", "docs"]);
    let (code, out, err) = run(s);
    assert_eq!(code, 0, "{out}\n{err}");
    rt().block_on(async {
        let cols = c.aoss.batch_get_collection().names("ragstack-dev").send().await.unwrap();
        let col = &cols.collection_details()[0];
        assert_eq!(col.collection_group_name(), Some("ragstack-dev"));
        assert!(col.collection_endpoint().unwrap_or_default().ends_with(".aoss.us-east-1.on.aws"), "{col:?}");
    });
    let (code, out, err) = teardown(&wd, &emu, "dev", &["--yes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    rt().block_on(async {
        let groups = c.aoss.list_collection_groups().send().await.unwrap();
        assert!(groups.collection_group_summaries().is_empty(), "{groups:?}");
        let cols = c.aoss.list_collections().send().await.unwrap();
        assert!(cols.collection_summaries().is_empty(), "{cols:?}");
        assert!(c.agent.list_knowledge_bases().send().await.unwrap().knowledge_base_summaries().is_empty());
    });
}
