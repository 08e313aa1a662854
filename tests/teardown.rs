//! `ragstack teardown` through the real binary, against the local emulator.

mod common;

use common::emulator::Emulator;
use common::stack::{
    KILL_POINTS, bucket, clients, complete_inventory, complete_qa_inventory, deploy, empty_inventory, events,
    inventory, killed_deploy, put_document, rt, summary, teardown,
};
use common::{Workdir, run};
use serde_json::Value;

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().map_or_else(|| x["id"].as_str().unwrap().into(), Into::into))
        .collect()
}

#[test]
fn deploy_then_teardown_leaves_nothing_of_dev_and_qa_untouched_then_nothing_to_delete() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    for env in ["dev", "qa"] {
        let (code, out, err) = deploy(&wd, &emu, env, &[]);
        assert_eq!(code, 0, "{out}\n{err}");
    }
    // Versions and a delete marker: the bucket must be emptied of all of them.
    put_document(&emu, "dev", "documents/a.txt", "one");
    put_document(&emu, "dev", "documents/a.txt", "two");
    put_document(&emu, "dev", "documents/b.txt", "gone soon");
    rt().block_on(async {
        clients(&emu).s3.delete_object().bucket(bucket("dev")).key("documents/b.txt").send().await.unwrap();
    });

    let (code, out, err) = teardown(&wd, &emu, "dev", &["--yes", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let s = summary(&out);
    assert_eq!(s["result"], "deleted", "{s}");
    let deleted = ids(&s["deleted"]);
    for id in ["documents_bucket", "collection", "vector_index", "knowledge_base", "data_source.documents"] {
        assert!(deleted.contains(&id.to_string()), "{id} not deleted: {deleted:?}");
    }
    assert_eq!(s["left"], serde_json::json!([]));
    assert_eq!(inventory(&emu, "dev"), empty_inventory());
    // The plan came first, as an event, before any resource event.
    let all = events(&out);
    let plan_at = all.iter().position(|e| e["event"] == "plan").expect("a plan event");
    let first_resource = all.iter().position(|e| e["event"] == "resource").expect("resource events");
    assert!(plan_at < first_resource);

    // qa is exactly as it was.
    assert_eq!(inventory(&emu, "qa"), complete_qa_inventory());
    emu.clear_calls();
    let (code, out, _) = deploy(&wd, &emu, "qa", &[]);
    assert_eq!(code, 0);
    assert!(out.contains("No changes"), "{out}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());

    // Again: nothing to delete, nothing sent that changes anything.
    let (code, out, err) = teardown(&wd, &emu, "dev", &["--yes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Nothing to delete"), "{out}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
}

#[test]
fn without_yes_and_without_a_terminal_nothing_is_deleted() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--no-sync"]);
    assert_eq!(code, 0, "{out}\n{err}");
    emu.clear_calls();
    let mut c = wd.ragstack_on(&emu);
    c.args(["teardown", "dev"]).write_stdin("dev\n"); // piped, not a terminal: never read
    let (code, out, err) = run(c);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(out.contains("will delete"), "the plan is shown: {out}");
    assert!(err.contains("--yes") && err.contains("nothing was deleted"), "{err}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
    assert_eq!(inventory(&emu, "dev"), complete_inventory());
}

#[test]
fn keep_documents_keeps_the_bucket_and_its_objects_and_a_later_teardown_removes_it() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--no-sync"]);
    assert_eq!(code, 0, "{out}\n{err}");
    put_document(&emu, "dev", "documents/keep.txt", "precious");
    let (code, out, err) = teardown(&wd, &emu, "dev", &["--yes", "--keep-documents"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Kept: S3 bucket"), "{out}");
    let mut left = empty_inventory();
    left["buckets"] = 1.into();
    assert_eq!(inventory(&emu, "dev"), left);
    rt().block_on(async {
        let got = clients(&emu).s3.get_object().bucket(bucket("dev")).key("documents/keep.txt").send().await.unwrap();
        assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"precious");
    });
    let (code, out, err) = teardown(&wd, &emu, "dev", &["--yes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(inventory(&emu, "dev"), empty_inventory());
}

#[test]
fn resources_with_the_environments_names_but_not_its_tags_survive_and_are_reported() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--no-sync"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let bucket = bucket("dev");
    let c = clients(&emu);
    rt().block_on(async {
        // Somebody else's now: the bucket's tags are gone, the role belongs to another environment.
        c.s3.delete_bucket_tagging().bucket(&bucket).send().await.unwrap();
        let role = "ragstack-dev-us-east-1-kb";
        c.iam.untag_role().role_name(role).tag_keys("ragstack:environment").send().await.unwrap();
        let other = aws_sdk_iam::types::Tag::builder().key("ragstack:environment").value("prod").build().unwrap();
        c.iam.tag_role().role_name(role).tags(other).send().await.unwrap();
        // Policies carry no tags: ragstack knows its own by the description it writes.
        use aws_sdk_opensearchserverless::types::SecurityPolicyType::Network;
        let net = c.aoss.get_security_policy().name("ragstack-dev-net").r#type(Network).send().await.unwrap();
        let version = net.security_policy_detail().unwrap().policy_version().unwrap().to_string();
        let call = c.aoss.update_security_policy().name("ragstack-dev-net").r#type(Network).policy_version(version);
        call.description("the network team's").send().await.unwrap();
    });
    put_document(&emu, "dev", "documents/theirs.txt", "not ours to delete");
    let (code, out, err) = teardown(&wd, &emu, "dev", &["--yes", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let s = summary(&out);
    let spared = ids(&s["not_deleted"]);
    assert_eq!(spared, ["documents_bucket", "network_policy", "knowledge_base_role"], "{s}");
    for item in s["not_deleted"].as_array().unwrap() {
        assert_eq!(item["fate"], "not_owned");
        assert!(item["why"].as_str().unwrap().contains("ragstack"), "{item}");
    }
    let mut left = empty_inventory();
    left["buckets"] = 1.into();
    left["roles"] = 1.into();
    left["security_policies"] = 1.into();
    assert_eq!(inventory(&emu, "dev"), left);
    rt().block_on(async {
        c.s3.head_object().bucket(&bucket).key("documents/theirs.txt").send().await.unwrap();
    });
    // In text, too, the user is told what was left alone and why.
    let (code, out, _) = teardown(&wd, &emu, "dev", &["--yes"]);
    assert_eq!(code, 0);
    assert!(out.contains("Nothing to delete"), "{out}");
    assert!(out.contains("Not ragstack's, left alone: S3 bucket"), "{out}");
    assert!(out.contains("ragstack environment `prod`"), "{out}");
}

#[test]
fn teardown_after_deploys_killed_at_several_points_leaves_nothing() {
    for marker in KILL_POINTS {
        let (emu, wd) = killed_deploy(marker);
        let (code, out, err) = teardown(&wd, &emu, "dev", &["--yes"]);
        assert_eq!(code, 0, "after a kill at {marker:?}: {out}\n{err}");
        assert_eq!(inventory(&emu, "dev"), empty_inventory(), "after a kill at {marker:?}: {out}");
    }
}

#[test]
fn teardown_completes_through_20_percent_throttling_and_5_percent_server_errors() {
    let emu = Emulator::start(&["--throttle-rate", "0.2", "--error-rate", "0.05", "--seed", "11"]);
    let wd = Workdir::new();
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    emu.clear_calls();
    let (code, out, err) = teardown(&wd, &emu, "dev", &["--yes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let injected = emu.calls().iter().filter(|c| !c["injected"].is_null()).count();
    assert!(injected >= 3, "faults were injected during teardown: {injected}");
    emu.configure(r#"{"throttle_rate": 0, "error_rate": 0}"#);
    assert_eq!(inventory(&emu, "dev"), empty_inventory());
}
