//! Bedrock-managed knowledge bases (`[vector_store] kind = "managed"`, issue #28), through the real
//! binary against the emulator: the knowledge base is MANAGED with Bedrock's embeddings (or the
//! file's model with `embedding_model_type = "custom"`), has no storage configuration and no store
//! of ragstack's; its data sources are managed S3 connectors, waited for until AVAILABLE, then
//! ingested; a re-deploy changes nothing; the query function searches with
//! managedSearchConfiguration; keys a managed knowledge base does not use exit 2 before any call;
//! export refuses it; teardown leaves nothing.

mod common;

use common::emulator::Emulator;
use common::stack::{clients, deploy, empty_inventory, inventory, rt, teardown};
use common::{Workdir, run};
use serde_json::{Value, json};

/// dev as a managed knowledge base, with `extra` lines in `[vector_store]` and `knowledge_base` as
/// its `[knowledge_base]` section.
fn managed_dev(extra: &str, knowledge_base: &str) -> String {
    let dev = common::dev_on("managed", extra);
    let (head, tail) = dev.split_once("[[data_sources]]").unwrap();
    format!("{head}{knowledge_base}\n[[data_sources]]{tail}")
}

fn ragstack(wd: &Workdir, emu: &Emulator, args: &[&str]) -> (i32, String, String) {
    let mut c = wd.ragstack_on(emu);
    c.args(args);
    run(c)
}

/// The knowledge base and its data source as Bedrock reports them, and the role's actions.
fn knowledge_base(emu: &Emulator) -> Value {
    let c = clients(emu);
    rt().block_on(async {
        let kbs = c.agent.list_knowledge_bases().send().await.unwrap();
        let id = kbs.knowledge_base_summaries()[0].knowledge_base_id().to_string();
        let kb = c.agent.get_knowledge_base().knowledge_base_id(&id).send().await.unwrap().knowledge_base.unwrap();
        let config = kb.knowledge_base_configuration().unwrap();
        let managed = config.managed_knowledge_base_configuration();
        let sources = c.agent.list_data_sources().knowledge_base_id(&id).send().await.unwrap();
        let ds_id = sources.data_source_summaries()[0].data_source_id().to_string();
        let ds = c.agent.get_data_source().knowledge_base_id(&id).data_source_id(&ds_id).send().await.unwrap();
        let ds = ds.data_source.unwrap();
        let connector = ds
            .data_source_configuration()
            .and_then(|d| d.managed_knowledge_base_connector_configuration())
            .and_then(|m| m.connector_parameters())
            .map(ragstack::aws::from_document);
        let role = c.iam.get_role_policy().role_name("ragstack-dev-us-east-1-kb").policy_name("knowledge-base-access");
        let doc = ragstack::aws::parse_policy(role.send().await.unwrap().policy_document());
        let actions: Vec<Value> = doc["Statement"].as_array().unwrap().iter().map(|s| s["Action"].clone()).collect();
        json!({
            "type": config.r#type().as_str(),
            "embedding_model_type": managed.and_then(|m| m.embedding_model_type()).map(|t| t.as_str()),
            "embedding_model": managed.and_then(|m| m.embedding_model_arn()),
            "storage": kb.storage_configuration().map(|s| s.r#type().as_str()),
            "data_source": {"type": ds.data_source_configuration().map(|d| d.r#type().as_str()), "status": ds.status().as_str(),
                            "connector": connector, "chunking": ds.vector_ingestion_configuration().is_some()},
            "role_actions": actions,
        })
    })
}

#[test]
fn a_managed_knowledge_base_deploys_converges_and_tears_down() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    wd.env_file("dev", &managed_dev("", ""));
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("monthly floor of the vector store: unknown (a Bedrock-managed knowledge base"), "{out}");
    let kb = knowledge_base(&emu);
    assert_eq!(
        (&kb["type"], &kb["embedding_model_type"], &kb["embedding_model"], &kb["storage"]),
        (&json!("MANAGED"), &json!("MANAGED"), &Value::Null, &Value::Null),
        "{kb}"
    );
    assert_eq!(
        kb["data_source"],
        json!({"type": "MANAGED_KNOWLEDGE_BASE_CONNECTOR", "status": "AVAILABLE", "chunking": false, "connector": {
            "type": "S3", "version": "1",
            "connectionConfiguration": {"bucketName": "ragstack-dev-123456789012-us-east-1", "bucketOwnerAccountId": "123456789012"},
            "filterConfiguration": {"inclusionPrefixes": ["documents/"]},
        }})
    );
    // Bedrock embeds with its own model: the role needs no InvokeModel, and there is no store.
    let actions = kb["role_actions"].to_string();
    assert!(
        !actions.contains("bedrock:InvokeModel") && !actions.contains("aoss:") && !actions.contains("s3vectors:"),
        "{actions}"
    );
    let inv = inventory(&emu, "dev");
    assert_eq!(
        (&inv["collections"], &inv["vector_buckets"], &inv["data_sources"]),
        (&json!(0), &json!(0), &json!(1)),
        "{inv}"
    );

    emu.clear_calls();
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("No changes"), "{out}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
    std::fs::create_dir_all(wd.path().join("docs")).unwrap();
    std::fs::write(wd.path().join("docs/hours.md"), "# Hours\nWe open at nine.").unwrap();
    let (code, out, err) = ragstack(&wd, &emu, &["sync", "dev", "--upload", "docs"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("1 new"), "{out}");
    let (code, out, err) = ragstack(&wd, &emu, &["status", "dev"]);
    assert_eq!(code, 0, "{out}\n{err}");
    // The query function is told, so it sends managedSearchConfiguration (tests/lambda).
    let vars = rt().block_on(async {
        let f =
            clients(&emu).lambda.get_function_configuration().function_name("ragstack-dev-query").send().await.unwrap();
        f.environment().unwrap().variables().unwrap().clone()
    });
    assert_eq!(vars["VECTOR_STORE_GENERATION"], "MANAGED");

    let (code, _, err) = ragstack(&wd, &emu, &["export", "dev", "-o", "dev.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot express a managed knowledge base"), "{err}");
    let (code, out, err) = teardown(&wd, &emu, "dev", &["--yes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(inventory(&emu, "dev"), empty_inventory());
}

#[test]
fn a_managed_knowledge_base_may_embed_with_the_files_model() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    let kb = "[knowledge_base]\nembedding_model = \"amazon.titan-embed-text-v2:0\"\ndimensions = 1024\n";
    wd.env_file("dev", &managed_dev("embedding_model_type = \"custom\"", kb));
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--no-sync"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let kb = knowledge_base(&emu);
    assert_eq!(
        (&kb["embedding_model_type"], &kb["embedding_model"]),
        (&json!("CUSTOM"), &json!("arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0")),
        "{kb}"
    );
    assert!(kb["role_actions"].to_string().contains("bedrock:InvokeModel"), "{kb}");
    emu.clear_calls();
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--no-sync"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new(), "{out}");
}

#[test]
fn keys_a_managed_knowledge_base_does_not_use_exit_2_before_any_aws_call() {
    let emu = Emulator::start(&[]);
    let chunking = "[knowledge_base.chunking]\nstrategy = \"fixed_size\"\nmax_tokens = 300\noverlap_percentage = 20\n";
    let cases: [(String, &str, &str); 4] = [
        (managed_dev("", &format!("[knowledge_base]\n{chunking}")), "knowledge_base.chunking", "not used by a managed"),
        (
            managed_dev("", "[knowledge_base]\nembedding_model = \"amazon.titan-embed-text-v2:0\"\n"),
            "knowledge_base.embedding_model",
            "embedding_model_type = \"managed\"",
        ),
        (
            managed_dev("standby_replicas = true", ""),
            "vector_store.standby_replicas",
            "not a setting of kind = \"managed\"",
        ),
        (
            managed_dev("", "").replace("# search_type = \"SEMANTIC\"", "search_type = \"SEMANTIC\" #"),
            "retrieval.search_type",
            "picks its own search strategy",
        ),
    ];
    for (text, key, message) in cases {
        let wd = Workdir::new();
        wd.env_file("dev", &text);
        emu.clear_calls();
        let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
        assert_eq!(code, 2, "{key}: {out}\n{err}");
        assert!(err.contains(key) && err.contains(message) && err.contains("dev.toml"), "{key}: {err}");
        assert_eq!(emu.calls().len(), 0, "{key}: no AWS call before the file is valid");
    }
}

#[test]
fn switching_from_s3_vectors_to_managed_leaves_no_vector_bucket() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    wd.dev_with("dev", &[("standby_replicas = false", "kind = \"s3_vectors\""), ("network_access = \"public\"", "")]);
    assert_eq!(deploy(&wd, &emu, "dev", &["--no-sync"]).0, 0);
    assert_eq!(inventory(&emu, "dev")["vector_indexes"], 1);
    wd.env_file("dev", &managed_dev("", ""));
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--allow-replace", "--no-sync"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let inv = inventory(&emu, "dev");
    assert_eq!(
        (&inv["vector_buckets"], &inv["vector_indexes"], &inv["knowledge_bases"]),
        (&json!(0), &json!(0), &json!(1)),
        "{inv}"
    );
    assert_eq!(knowledge_base(&emu)["type"], "MANAGED");
    emu.clear_calls();
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--no-sync"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new(), "{out}");
}
