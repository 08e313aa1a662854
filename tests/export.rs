//! `ragstack export`: every shipped environment's template (and variants: an API resource policy,
//! each chunking strategy, an existing bucket) passes cfn-lint (CloudFormation's own
//! resource schemas, pinned in tests/emulator/requirements.txt) with no error, warning or
//! informational finding; one export is pinned by a snapshot; the template holds exactly the
//! resources `plan --offline` lists; no AWS call is made.

mod common;

use common::{Workdir, run};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn cfn_lint() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/cfn-lint")
}

fn export(wd: &Workdir, args: &[&str]) -> (i32, String, String) {
    let mut c = wd.ragstack();
    c.arg("export").args(args);
    run(c)
}

#[test]
fn every_shipped_environment_exports_a_template_cfn_lint_accepts_without_a_finding() {
    let wd = Workdir::new();
    let mut files = Vec::new();
    // Also an API restricted to networks: its resource policy must not make the API depend on itself.
    wd.dev_with("guarded", &[("allowed_source_cidrs = []", "allowed_source_cidrs = [\"203.0.113.0/24\"]")]);
    // And the other chunking strategies, a data source in an existing bucket, standby replicas.
    let fixed = "strategy = \"fixed_size\"\nmax_tokens = 300\noverlap_percentage = 20";
    wd.dev_with(
        "hierarchical",
        &[(
            fixed,
            "strategy = \"hierarchical\"\nparent_max_tokens = 1500\nchild_max_tokens = 300\noverlap_tokens = 60",
        )],
    );
    wd.dev_with(
        "semantic",
        &[(fixed, "strategy = \"semantic\"\nmax_tokens = 300\nbuffer_size = 1\nbreakpoint_percentile_threshold = 95")],
    );
    wd.dev_with(
        "existing",
        &[
            ("name = \"documents\"\n", "name = \"documents\"\nbucket = \"my-existing-docs-bucket\"\n"),
            ("standby_replicas = false", "standby_replicas = true"),
        ],
    );
    // A NextGen environment: its collection group, and the collection in it.
    wd.dev_with(
        "nextgen",
        &[
            ("# generation = \"nextgen\"", "generation = \"nextgen\""),
            (
                "# [vector_store.capacity]\n# min_indexing_ocu = 0\n# max_indexing_ocu = 2",
                "[vector_store.capacity]\nmin_indexing_ocu = 0\nmax_indexing_ocu = 2",
            ),
            ("# min_search_ocu = 0\n# max_search_ocu = 2", "min_search_ocu = 2\nmax_search_ocu = 4"),
        ],
    );
    // And one on S3 Vectors: the vector bucket, its index, and the knowledge base on it.
    wd.dev_with(
        "vectors",
        &[("standby_replicas = false", "kind = \"s3_vectors\""), ("network_access = \"public\"", "")],
    );
    let (code, out, err) = export(&wd, &["vectors", "us-east-1", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let t: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(t["Resources"]["VectorBucket"]["Type"], "AWS::S3Vectors::VectorBucket", "{t}");
    assert_eq!(
        t["Resources"]["S3VectorIndex"]["Properties"]["MetadataConfiguration"]["NonFilterableMetadataKeys"][0],
        "AMAZON_BEDROCK_TEXT"
    );
    let storage = &t["Resources"]["KnowledgeBase"]["Properties"]["StorageConfiguration"];
    assert_eq!(storage["S3VectorsConfiguration"]["IndexArn"]["Fn::GetAtt"][0], "S3VectorIndex", "{storage}");
    assert!(t["Resources"].get("Collection").is_none(), "no collection: {t}");
    let (code, out, err) = export(&wd, &["nextgen", "us-east-1", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let t: serde_json::Value = serde_json::from_str(&out).unwrap();
    let group = &t["Resources"]["CollectionGroup"];
    assert_eq!(group["Type"], "AWS::OpenSearchServerless::CollectionGroup", "{t}");
    assert_eq!(group["Properties"]["Generation"], "NEXTGEN");
    assert_eq!(group["Properties"]["CapacityLimits"]["MinSearchCapacityInOcu"], 2.0);
    assert_eq!(t["Resources"]["Collection"]["Properties"]["CollectionGroupName"], "ragstack-nextgen");
    for env in ["dev", "qa", "sandbox", "guarded", "hierarchical", "semantic", "existing", "nextgen", "vectors"] {
        for format in ["yaml", "json"] {
            let file = format!("{env}.{format}");
            let (code, out, err) = export(&wd, &[env, "us-east-1", "--format", format, "-o", &file]);
            assert_eq!(code, 0, "{out}\n{err}");
            // Only a collection's data access policy names the deployer (sandbox is on S3 Vectors).
            let collection = !matches!(env, "vectors" | "sandbox");
            assert!(err.contains("CodeBucket") && (err.contains("DeployerPrincipal") == collection), "{err}");
            files.push(wd.path().join(file));
        }
    }
    // Informational findings included: a stateful resource without explicit deletion policies is one.
    let lint = Command::new(cfn_lint()).args(["--include-checks", "I", "--"]).args(&files).output().unwrap();
    let report = String::from_utf8_lossy(&lint.stdout).to_string() + &String::from_utf8_lossy(&lint.stderr);
    assert!(lint.status.success() && report.trim().is_empty(), "cfn-lint:\n{report}");
    assert_eq!(wd.tripwire.hits(), 0, "export makes no AWS call");

    // The linter does find what AWS would reject (so the clean result above means something).
    let broken =
        std::fs::read_to_string(&files[0]).unwrap().replace("StandbyReplicas: DISABLED", "StandbyReplicas: OFF");
    std::fs::write(wd.path().join("broken.yaml"), broken).unwrap();
    let lint = Command::new(cfn_lint()).arg(wd.path().join("broken.yaml")).output().unwrap();
    assert!(String::from_utf8_lossy(&lint.stdout).contains("E3030"), "{lint:?}");
}

#[test]
fn the_template_holds_the_desired_state_with_account_region_and_ids_as_references() {
    let wd = Workdir::new();
    let (code, yaml, err) = export(&wd, &["qa", "us-east-1"]);
    assert_eq!(code, 0, "{err}");
    let (code, json, _) = export(&wd, &["qa", "us-east-1", "--format", "json"]);
    assert_eq!(code, 0);
    let template: Value = serde_json::from_str(&json).unwrap();
    let from_yaml: Value = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(from_yaml, template, "YAML and JSON say the same");

    // Every resource plan --offline lists is in the template, under its logical id.
    let mut c = wd.ragstack();
    c.args(["plan", "qa", "us-east-1", "--offline", "--json"]);
    let (code, plan, _) = run(c);
    assert_eq!(code, 0);
    let plan: Value = serde_json::from_str(&plan).unwrap();
    let resources = template["Resources"].as_object().unwrap();
    for r in plan["resources"].as_array().unwrap() {
        let logical = ragstack::resources::logical_id(&ragstack::context::Id::new(r["id"].as_str().unwrap().into()));
        assert!(resources.contains_key(&logical), "{logical} missing from {:?}", resources.keys());
    }
    // No account, region or AWS-assigned placeholder is left as text.
    let text = template.to_string();
    for literal in ["000000000000", "us-east-1", "cfnref-", "<known after apply>", "arn:aws:"] {
        assert!(!text.contains(literal), "{literal} in the template");
    }
    assert_eq!(
        resources["DataSourceDocuments"]["Properties"]["KnowledgeBaseId"],
        serde_json::json!({"Ref": "KnowledgeBase"})
    );
    assert_eq!(
        resources["Function"]["Properties"]["Environment"]["Variables"]["KNOWLEDGE_BASE_ID"],
        serde_json::json!({"Ref": "KnowledgeBase"})
    );
    assert_eq!(resources["UsagePlanKey"]["Properties"]["KeyId"], serde_json::json!({"Ref": "ApiKey"}));
    assert_eq!(resources["DocumentsBucket"]["DeletionPolicy"], "Retain", "the documents outlive the stack");
    // The function's package is written next to the template under the key the template names.
    let key = resources["Function"]["Properties"]["Code"]["S3Key"].as_str().unwrap();
    assert!(wd.path().join(key).is_file(), "{key} not written");
    assert!(template["Outputs"]["ApiUrl"]["Value"]["Fn::Sub"].as_str().unwrap().contains("${RestApi}"));
}

#[test]
fn dev_export_snapshot() {
    let wd = Workdir::new();
    let (code, yaml, err) = export(&wd, &["dev", "us-east-1"]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!(yaml.replace(env!("CARGO_PKG_VERSION"), "VERSION"));
}

#[test]
fn what_export_cannot_express_yet_is_refused_before_anything_is_written() {
    let wd = Workdir::new();
    wd.dev_with("triggered", &[("# trigger = \"on_change\"", "trigger = \"on_change\"")]);
    let (code, out, err) = export(&wd, &["triggered", "us-east-1", "-o", "t.yaml"]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("cannot express"), "{err}");
    assert!(!wd.path().join("t.yaml").exists());
    assert_eq!(wd.tripwire.hits(), 0);
}

/// An environment whose resources a CloudFormation stack created (from this template) is changed
/// through the stack only: deploy, plan and teardown refuse it before changing anything, status
/// names the stack; once the stack is deleted, teardown removes the bucket the stack retained.
#[test]
fn an_environment_a_stack_manages_is_refused_by_deploy_plan_and_teardown_until_the_stack_is_gone() {
    use common::emulator::Emulator;
    use common::stack::{bucket, clients, rt};
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    let (code, json, _) = export(&wd, &["dev", "us-east-1", "--format", "json"]);
    assert_eq!(code, 0);
    let template: Value = serde_json::from_str(&json).unwrap();
    // The stack holds the documents bucket of dev's template (the emulator runs S3 buckets
    // through CloudFormation, not OpenSearch Serverless or Bedrock).
    let stack = serde_json::json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"DocumentsBucket": template["Resources"]["DocumentsBucket"]},
    });
    let c = clients(&emu);
    rt().block_on(async {
        c.cloudformation
            .create_stack()
            .stack_name("ragstack-dev")
            .template_body(stack.to_string())
            .send()
            .await
            .unwrap();
    });
    emu.clear_calls();
    for command in [&["deploy", "dev"][..], &["plan", "dev"], &["teardown", "dev", "--yes"]] {
        let mut cmd = wd.ragstack_on(&emu);
        cmd.args(command);
        let (code, out, err) = run(cmd);
        assert_eq!(code, 2, "{command:?}: {out}\n{err}");
        assert!(err.contains("deployed through CloudFormation: stack ragstack-dev (CREATE_COMPLETE)"), "{err}");
        assert!(err.contains("aws cloudformation delete-stack --stack-name ragstack-dev"), "{err}");
    }
    assert!(emu.mutating_calls().is_empty(), "{:?}", emu.mutating_calls());
    let mut cmd = wd.ragstack_on(&emu);
    cmd.args(["status", "dev", "--json"]);
    let (_, out, err) = run(cmd);
    let status: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    assert_eq!(
        status["deployed_through"],
        serde_json::json!({"by": "cloudformation", "stack": "ragstack-dev", "stack_status": "CREATE_COMPLETE"})
    );

    // The stack deleted, its bucket stays (Retain) with CloudFormation's tags: ragstack's again.
    rt().block_on(async {
        c.cloudformation.delete_stack().stack_name("ragstack-dev").send().await.unwrap();
        c.s3.head_bucket().bucket(bucket("dev")).send().await.unwrap();
    });
    let mut cmd = wd.ragstack_on(&emu);
    cmd.args(["teardown", "dev", "--yes"]);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{out}\n{err}");
    rt().block_on(async { assert!(c.s3.head_bucket().bucket(bucket("dev")).send().await.is_err()) });
}
