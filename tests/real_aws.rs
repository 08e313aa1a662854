//! What real AWS would reject or answer differently from the first emulator, end to end through
//! the binary: models the account may not use, callers AWS does not accept as data access
//! principals, callers in roles with a path, and embedding models with a fixed output size. (The
//! storage-configuration window and GetIndex's stored form are on in every emulator, so every
//! deploy test meets them.)

mod common;

use common::emulator::Emulator;
use common::stack::{access_policy_text, clients, deploy, refused, rt};
use common::{Workdir, run, shipped};

#[test]
fn a_model_the_account_may_not_use_stops_deploy_and_plan_before_any_change() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();

    emu.configure(r#"{"model_access": {"amazon.titan-embed-text-v2:0": "NOT_AUTHORIZED"}}"#);
    let err = refused(&wd, &emu, &["deploy", "dev"]);
    assert!(err.contains("knowledge_base.embedding_model") && err.contains("amazon.titan-embed-text-v2:0"), "{err}");
    assert!(err.contains("NOT_AUTHORIZED") && err.contains("Model access"), "{err}");
    refused(&wd, &emu, &["plan", "dev"]);

    emu.configure(r#"{"model_access": {"amazon.nova-micro-v1:0": "AGREEMENT_PENDING"}}"#);
    let err = refused(&wd, &emu, &["deploy", "dev"]);
    assert!(err.contains("lambda.generation_model") && err.contains("amazon.nova-micro-v1:0"), "{err}");
    assert!(err.contains("agreement is PENDING"), "{err}");

    // An inference profile is checked through the model it routes to.
    wd.env_file(
        "profile",
        &shipped("dev").replace(
            "generation_model = \"amazon.nova-micro-v1:0\"",
            "generation_model = \"us.anthropic.claude-haiku-4-5-20251001-v1:0\"",
        ),
    );
    emu.configure(r#"{"model_access": {"anthropic.claude-haiku-4-5-20251001-v1:0": "NOT_ENTITLED"}}"#);
    let err = refused(&wd, &emu, &["deploy", "profile"]);
    assert!(err.contains("anthropic.claude-haiku-4-5-20251001-v1:0") && err.contains("NOT_AVAILABLE"), "{err}");

    // With access granted, the same environment deploys.
    emu.configure(r#"{"model_access": {}}"#);
    let (code, out, err) = deploy(&wd, &emu, "profile", &["--no-sync"]);
    assert_eq!(code, 0, "{out}\n{err}");
}

#[test]
fn the_root_user_and_federated_users_are_refused_before_any_change() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    emu.configure(r#"{"caller": "root"}"#);
    let err = refused(&wd, &emu, &["deploy", "dev"]);
    assert!(err.contains("root user") && err.contains("data access policy"), "{err}");
    refused(&wd, &emu, &["plan", "dev"]);
    emu.configure(r#"{"caller": "federated:jane"}"#);
    let err = refused(&wd, &emu, &["deploy", "dev"]);
    assert!(err.contains("federated user"), "{err}");
    // Status reads only: it works for them.
    let mut c = wd.ragstack_on(&emu);
    c.args(["status", "dev"]);
    assert_ne!(run(c).0, 2);
}

#[test]
fn an_iam_user_deploys_and_is_named_in_the_data_access_policy() {
    let emu = Emulator::start(&[]);
    emu.configure(r#"{"caller": "user:ci-deployer"}"#);
    let wd = Workdir::new();
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--no-sync"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let c = clients(&emu);
    let policy = rt().block_on(access_policy_text(&c, "dev"));
    assert!(policy.contains("arn:aws:iam::123456789012:user/ci-deployer"), "{policy}");
}

#[test]
fn a_model_with_one_output_size_is_created_without_dimensions_and_a_redeploy_changes_nothing() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    wd.dev_with(
        "dev",
        &[("embedding_model = \"amazon.titan-embed-text-v2:0\"", "embedding_model = \"cohere.embed-english-v3\"")],
    );
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let c = clients(&emu);
    rt().block_on(async {
        let kbs = c.agent.list_knowledge_bases().send().await.unwrap();
        let id = kbs.knowledge_base_summaries()[0].knowledge_base_id();
        let kb = c.agent.get_knowledge_base().knowledge_base_id(id).send().await.unwrap().knowledge_base.unwrap();
        let vector = kb.knowledge_base_configuration().unwrap().vector_knowledge_base_configuration().unwrap();
        assert!(vector.embedding_model_arn().ends_with("/cohere.embed-english-v3"));
        assert!(vector.embedding_model_configuration().is_none(), "no dimensions parameter: {vector:?}");
    });
    emu.clear_calls();
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("No changes"), "{out}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
}
