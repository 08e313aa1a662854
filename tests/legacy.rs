//! `ragstack legacy list|teardown`: the old creator.sh's CDK stacks, created in the emulator
//! among decoys, found and retired through the real binary.

mod common;

use aws_sdk_cloudformation::types::{StackStatus, Tag};
use common::emulator::Emulator;
use common::stack::{Clients, clients, events, rt, summary};
use common::{Workdir, run};
use serde_json::{Value, json};

const GEN1: &str = "llms-with-serverless-rag";
const GEN2: &str = "serverless-rag-demo-v2";

/// A stack as the CDK app would have left it: `resources`, an export `exports` of its first
/// resource, and the project tag when given.
async fn stack(c: &Clients, name: &str, project: Option<&str>, resources: Value, exports: Option<&str>) {
    let mut template = json!({"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources});
    if let Some(export) = exports {
        let first = template["Resources"].as_object().unwrap().keys().next().unwrap().clone();
        template["Outputs"] = json!({"Out": {"Value": {"Ref": first}, "Export": {"Name": export}}});
    }
    let mut req = c.cloudformation.create_stack().stack_name(name).template_body(template.to_string());
    if let Some(p) = project {
        req = req.tags(Tag::builder().key("project").value(p).build());
    }
    req.send().await.unwrap();
}

fn bucket(name: &str) -> Value {
    json!({"Type": "AWS::S3::Bucket", "Properties": {"BucketName": name}})
}

/// A resource that needs `export` (a log group named after it).
fn importing(export: &str) -> Value {
    json!({"Type": "AWS::Logs::LogGroup",
           "Properties": {"LogGroupName": {"Fn::Join": ["-", ["/old", {"Fn::ImportValue": export}]]}}})
}

/// The old app's stacks of dev that `old_stacks` creates, in creation order.
const DEV_APP_STACKS: [&str; 6] = [
    "LlmsWithServerlessRagdevStack",
    "ApiGwLlmsLambdadevStack",
    "AppRunnerHostingdevStack",
    "SRD-AOSS-dev",
    "SRD-KB-dev",
    "SRD-AgentCore-dev",
];

/// dev's stacks of both generations (each importing from the one before it), and decoys: qa's,
/// look-alike names, a name that differs in case, an untagged namesake, CDKToolkit.
fn old_stacks(emu: &Emulator) {
    let c = clients(emu);
    rt().block_on(async {
        let mut docs = bucket("old-docs-dev");
        docs["DeletionPolicy"] = json!("Retain");
        stack(&c, "LlmsWithServerlessRagdevStack", Some(GEN1), json!({"Docs": docs}), Some("dev-docs")).await;
        stack(&c, "ApiGwLlmsLambdadevStack", Some(GEN1), json!({"Api": importing("dev-docs")}), Some("dev-api")).await;
        stack(&c, "AppRunnerHostingdevStack", Some(GEN1), json!({"Ui": importing("dev-api")}), None).await;
        stack(&c, "SRD-AOSS-dev", Some(GEN2), json!({"Vectors": bucket("srd-vectors-dev")}), Some("dev-aoss")).await;
        stack(&c, "SRD-KB-dev", Some(GEN2), json!({"Kb": importing("dev-aoss")}), None).await;
        // Created after the knowledge base, using it without an export (by name).
        stack(&c, "SRD-AgentCore-dev", Some(GEN2), json!({"Agent": bucket("srd-agent-dev")}), None).await;
        // Decoys.
        stack(&c, "LlmsWithServerlessRagqaStack", Some(GEN1), json!({"Docs": bucket("old-docs-qa")}), None).await;
        stack(&c, "SRD-AOSS-qa", Some(GEN2), json!({"Vectors": bucket("srd-vectors-qa")}), None).await;
        stack(&c, "SRD-AOSS-dev2", Some(GEN2), json!({"B": bucket("lookalike-1")}), None).await;
        stack(&c, "LlmsWithServerlessRagdevStackCopy", Some(GEN1), json!({"B": bucket("lookalike-2")}), None).await;
        stack(&c, "SRD-Hive-Dev", Some(GEN2), json!({"B": bucket("case-differs")}), None).await;
        stack(&c, "SRD-Auth-dev", None, json!({"B": bucket("untagged-namesake")}), None).await;
        stack(&c, "CDKToolkit", None, json!({"StagingBucket": bucket("cdk-assets")}), None).await;
    });
}

fn legacy(wd: &Workdir, emu: &Emulator, args: &[&str]) -> (i32, String, String) {
    let mut c = wd.ragstack_on(emu);
    c.arg("legacy").args(args);
    run(c)
}

/// (name, status) of every stack CloudFormation still lists (DELETE_COMPLETE excluded).
fn standing(emu: &Emulator) -> Vec<(String, String)> {
    let c = clients(emu);
    rt().block_on(async {
        let out = c.cloudformation.list_stacks().send().await.unwrap();
        out.stack_summaries()
            .iter()
            .filter(|s| s.stack_status() != Some(&StackStatus::DeleteComplete))
            .map(|s| (s.stack_name().unwrap().to_string(), s.stack_status().unwrap().as_str().to_string()))
            .collect()
    })
}

fn names(v: &Value) -> Vec<&str> {
    v.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect()
}

#[test]
fn list_finds_exactly_the_named_stacks_of_one_environment_among_decoys() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    old_stacks(&emu);
    emu.clear_calls();

    let (code, out, err) = legacy(&wd, &emu, &["list", "dev", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let listed = &events(&out)[0];
    let expected: Vec<&str> = DEV_APP_STACKS.into_iter().chain(["SRD-Auth-dev"]).collect();
    assert_eq!(names(&listed["stacks"]), expected, "{listed}");
    let stacks = listed["stacks"].as_array().unwrap();
    assert_eq!(
        stacks[0]["retains"],
        json!([{"logical_id": "Docs", "type": "AWS::S3::Bucket", "physical_id": "old-docs-dev"}])
    );
    assert_eq!(stacks[1]["imports_from"], json!(["LlmsWithServerlessRagdevStack"]));
    assert_eq!(stacks[2]["imports_from"], json!(["ApiGwLlmsLambdadevStack"]));
    assert_eq!(stacks[4]["imports_from"], json!(["SRD-AOSS-dev"]));
    assert!(stacks[..6].iter().all(|s| s["left_because"].is_null()), "{listed}");
    assert!(stacks[6]["left_because"].as_str().unwrap().contains("no `project` tag"), "{listed}");
    assert_eq!(listed["case_mismatches"], json!(["SRD-Hive-Dev"]));
    assert!(emu.mutating_calls().is_empty(), "{:?}", emu.mutating_calls());

    // Text: the kept bucket by name, CDKToolkit said to be left.
    let (code, out, _) = legacy(&wd, &emu, &["list", "dev"]);
    assert_eq!(code, 0);
    assert!(out.contains("kept on deletion: AWS::S3::Bucket old-docs-dev (Docs)"), "{out}");
    assert!(out.contains("CDKToolkit") && out.contains("never touched"), "{out}");

    // Names that cannot be part of a stack name are refused before any call.
    emu.clear_calls();
    let (code, _, err) = legacy(&wd, &emu, &["list", "dev_1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("letters, digits and hyphens"), "{err}");
    assert!(emu.calls().is_empty());
}

#[test]
fn teardown_asks_deletes_in_reverse_dependency_order_reports_failures_and_kept_buckets() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    old_stacks(&emu);
    let c = clients(&emu);
    // The vectors bucket holds an object: CloudFormation cannot delete it.
    rt().block_on(async {
        c.s3.put_object().bucket("srd-vectors-dev").key("x.json").body(b"{}".to_vec().into()).send().await.unwrap();
    });
    let before = standing(&emu);

    // No terminal and no --yes: refused, nothing deleted.
    emu.clear_calls();
    let (code, _, err) = legacy(&wd, &emu, &["teardown", "dev"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("legacy teardown of dev would delete 6 stacks"), "{err}");
    assert!(emu.mutating_calls().is_empty(), "{:?}", emu.mutating_calls());

    let (code, out, err) = legacy(&wd, &emu, &["teardown", "dev", "--yes", "--json"]);
    assert_eq!(code, 1, "a stack could not be deleted: work left undone\n{out}\n{err}");
    // Each stack is deleted only after every stack importing from it (the emulator, like
    // CloudFormation, refuses to delete an export in use).
    let started: Vec<String> = events(&out)
        .iter()
        .filter(|e| e["event"] == "resource" && e["detail"].as_str().unwrap_or_default().starts_with("was "))
        .map(|e| e["resource"].as_str().unwrap().to_string())
        .collect();
    let at = |n: &str| started.iter().position(|s| s == n).unwrap_or_else(|| panic!("{n} not started: {started:?}"));
    assert!(at("AppRunnerHostingdevStack") < at("ApiGwLlmsLambdadevStack"), "{started:?}");
    assert!(at("ApiGwLlmsLambdadevStack") < at("LlmsWithServerlessRagdevStack"), "{started:?}");
    assert!(at("SRD-KB-dev") < at("SRD-AOSS-dev"), "{started:?}");
    assert!(at("SRD-AgentCore-dev") < at("SRD-KB-dev"), "later stacks of a generation go first: {started:?}");
    let s = summary(&out);
    assert_eq!(s["result"], "incomplete", "{s}");
    assert_eq!(s["failed"][0]["stack"], "SRD-AOSS-dev", "{s}");
    let failure = &s["failed"][0]["failures"][0];
    assert_eq!((&failure["logical_id"], &failure["physical_id"]), (&json!("Vectors"), &json!("srd-vectors-dev")));
    assert!(failure["reason"].as_str().unwrap().contains("The bucket you tried to delete is not empty"), "{s}");
    assert_eq!(
        s["retained"],
        json!([{"logical_id": "Docs", "type": "AWS::S3::Bucket", "physical_id": "old-docs-dev"}])
    );
    assert_eq!(names(&s["not_the_old_apps"]), ["SRD-Auth-dev"]);

    // The retained bucket is still there; the failed stack stays DELETE_FAILED.
    rt().block_on(async { c.s3.head_bucket().bucket("old-docs-dev").send().await.unwrap() });
    let now = standing(&emu);
    assert!(now.contains(&("SRD-AOSS-dev".into(), "DELETE_FAILED".into())), "{now:?}");

    // Once the bucket is emptied, the next run deletes what is left and nothing else.
    rt().block_on(async {
        c.s3.delete_object().bucket("srd-vectors-dev").key("x.json").send().await.unwrap();
    });
    let (code, out, err) = legacy(&wd, &emu, &["teardown", "dev", "--yes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Deleted 1 of the old app's stacks of dev"), "{out}");
    assert!(out.contains("Left alone, not the old app's: SRD-Auth-dev"), "{out}");
    let after = standing(&emu);
    let expected: Vec<(String, String)> =
        before.into_iter().filter(|(n, _)| !DEV_APP_STACKS.contains(&n.as_str())).collect();
    assert_eq!(after, expected, "every decoy, CDKToolkit included, is untouched");

    let (code, out, _) = legacy(&wd, &emu, &["teardown", "dev", "--yes"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("SRD-Auth-dev"), "{out}");
}

#[test]
fn a_protected_stack_refuses_the_whole_teardown_until_its_protection_is_lifted() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    old_stacks(&emu);
    let c = clients(&emu);
    // The newest stack, which would go first, and an older one are protected.
    rt().block_on(async {
        let t = json!({"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"B": bucket("srd-hive-dev")}});
        c.cloudformation
            .create_stack()
            .stack_name("SRD-Hive-dev")
            .template_body(t.to_string())
            .tags(Tag::builder().key("project").value(GEN2).build())
            .enable_termination_protection(true)
            .send()
            .await
            .unwrap();
        c.cloudformation
            .update_termination_protection()
            .stack_name("LlmsWithServerlessRagdevStack")
            .enable_termination_protection(true)
            .send()
            .await
            .unwrap();
    });
    let before = standing(&emu);

    let (code, out, _) = legacy(&wd, &emu, &["list", "dev"]);
    assert_eq!(code, 0);
    assert!(out.contains("termination protection: on"), "{out}");

    // Refused before anything is deleted, even with --yes, naming the stacks and the way out.
    emu.clear_calls();
    let (code, _, err) = legacy(&wd, &emu, &["teardown", "dev", "--yes"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("LlmsWithServerlessRagdevStack") && err.contains("SRD-Hive-dev"), "{err}");
    assert!(err.contains("update-termination-protection --no-enable-termination-protection"), "{err}");
    assert!(err.contains("--lift-termination-protection"), "{err}");
    assert!(emu.mutating_calls().is_empty(), "0 deletions: {:?}", emu.mutating_calls());
    assert_eq!(standing(&emu), before);

    // The emulator refuses a protected stack's deletion as CloudFormation does.
    let refused = rt().block_on(c.cloudformation.delete_stack().stack_name("SRD-Hive-dev").send());
    assert!(format!("{:?}", refused.unwrap_err()).contains("TerminationProtection is enabled"));

    // Asked explicitly, ragstack lifts it and deletes every stack of the old app.
    let (code, out, err) = legacy(&wd, &emu, &["teardown", "dev", "--yes", "--lift-termination-protection"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("termination protection lifted") || err.contains("termination protection lifted"),
        "{out}{err}"
    );
    let left: Vec<String> = standing(&emu).into_iter().map(|(n, _)| n).collect();
    for gone in DEV_APP_STACKS.iter().chain(&["SRD-Hive-dev"]) {
        assert!(!left.contains(&gone.to_string()), "{gone} is gone: {left:?}");
    }
}
