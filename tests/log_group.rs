//! The query function's log group as a managed resource, through the real binary against the
//! local emulator: created with the environment's retention and tags, a retention change is one
//! update, a group Lambda created on its own is adopted, and teardown leaves none.

mod common;

use common::emulator::Emulator;
use common::stack::{clients, deploy, inventory, rt, summary, teardown};
use common::{Workdir, run};
use std::collections::HashMap;

const GROUP: &str = "/aws/lambda/ragstack-dev-query";

/// (retention in days, tags) of the group, or None when it does not exist.
fn group(emu: &Emulator) -> Option<(Option<i32>, HashMap<String, String>)> {
    let c = clients(emu);
    rt().block_on(async {
        let out = c.logs.describe_log_groups().log_group_name_prefix(GROUP).send().await.unwrap();
        let g = out.log_groups().iter().find(|g| g.log_group_name() == Some(GROUP))?.clone();
        let arn = g.log_group_arn().unwrap().to_string();
        let tags = c.logs.list_tags_for_resource().resource_arn(arn).send().await.unwrap();
        Some((g.retention_in_days(), tags.tags().cloned().unwrap_or_default()))
    })
}

/// What Lambda does on a function's first invocation when its group does not exist: create it,
/// untagged and without retention.
fn lambda_creates_the_group(emu: &Emulator) {
    let c = clients(emu);
    rt().block_on(async {
        let _ = c.logs.delete_log_group().log_group_name(GROUP).send().await;
        c.logs.create_log_group().log_group_name(GROUP).send().await.unwrap();
    });
}

#[test]
fn the_log_group_is_created_with_retention_and_tags_and_a_retention_change_is_one_update() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (retention, tags) = group(&emu).expect("deploy creates the log group");
    assert_eq!(retention, Some(30), "dev keeps logs 30 days");
    assert_eq!(tags.get("ragstack:environment").map(String::as_str), Some("dev"), "{tags:?}");

    let env = wd.dev_with("dev", &[("retention_days = 30", "retention_days = 90")]);
    let mut plan = wd.ragstack_on(&emu);
    plan.args(["plan", "dev", "--detailed-exitcode"]);
    let (code, out, err) = run(plan);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(out.contains("log_group") && out.contains("retention_days: 30 -> 90"), "{out}");

    emu.clear_calls();
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}\n{}", env.display());
    assert_eq!(emu.mutating_calls(), ["logs PutRetentionPolicy"], "a retention change is one call");
    assert_eq!(group(&emu).unwrap().0, Some(90));
}

#[test]
fn a_group_lambda_created_is_adopted_by_deploy_and_teardown_after_a_query_leaves_none() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");

    // An environment deployed before ragstack managed the group, then asked a question.
    lambda_creates_the_group(&emu);
    let mut plan = wd.ragstack_on(&emu);
    plan.args(["plan", "dev"]);
    let (code, out, err) = run(plan);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("log_group") && out.contains("update: retention_days, tags"), "{out}");
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (retention, tags) = group(&emu).unwrap();
    assert_eq!((retention, tags.get("ragstack:managed").map(String::as_str)), (Some(30), Some("true")));

    // The question again, then teardown without a deploy in between.
    lambda_creates_the_group(&emu);
    let (code, out, err) = teardown(&wd, &emu, "dev", &["--yes", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(summary(&out)["result"], "deleted");
    assert!(group(&emu).is_none(), "teardown leaves no log group");
    assert_eq!(inventory(&emu, "dev")["log_groups"], 0);
}

#[test]
fn a_group_of_another_environment_is_not_ragstacks_and_deploy_refuses_with_exit_2() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    let c = clients(&emu);
    rt().block_on(async {
        let tags = HashMap::from([
            ("ragstack:managed".to_string(), "true".to_string()),
            ("ragstack:environment".to_string(), "qa".to_string()),
        ]);
        c.logs.create_log_group().log_group_name(GROUP).set_tags(Some(tags)).send().await.unwrap();
    });
    emu.clear_calls();
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("CloudWatch Logs log group") && err.contains("`qa`"), "{err}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new(), "nothing changed");
}
