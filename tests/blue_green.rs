//! Blue/green replacement of the knowledge base (`deploy --blue-green`, README "Changing the
//! knowledge base without downtime") against the emulator: while the deploy runs, a poller reads
//! the query function's KNOWLEDGE_BASE_ID every few milliseconds and checks that the knowledge
//! base it names is ACTIVE with a completed ingestion of each of its data sources; a new
//! generation that answers the environment's question set worse is not switched to; a deploy
//! killed at each step converges on the next plain deploy; teardown mid-change removes both.

mod common;

use common::emulator::Emulator;
use common::stack::{Clients, clients, deploy, inventory, rt};
use common::{Workdir, run};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const CHUNKING: (&str, &str) = ("max_tokens = 300", "max_tokens = 40");
const MODEL: (&str, &str) =
    ("embedding_model = \"amazon.titan-embed-text-v2:0\"", "embedding_model = \"cohere.embed-english-v3\"");

/// dev deployed and the sample corpus ingested.
fn deployed() -> (Emulator, Workdir) {
    common::stack::dev_with_corpus()
}

fn ragstack(wd: &Workdir, emu: &Emulator, args: &[&str]) -> (i32, String, String) {
    let mut cmd = wd.ragstack_on(emu);
    cmd.args(args);
    run(cmd)
}

/// The knowledge base the query function serves from.
async fn serving(c: &Clients) -> Option<String> {
    let out = c.lambda.get_function_configuration().function_name("ragstack-dev-query").send().await.ok()?;
    out.environment()?.variables()?.get("KNOWLEDGE_BASE_ID").cloned()
}

/// Why knowledge base `kb` could not answer now: not ACTIVE, or a data source without a
/// completed ingestion job.
async fn unready(c: &Clients, kb: &str) -> Option<String> {
    let got = c.agent.get_knowledge_base().knowledge_base_id(kb).send().await;
    let status = got.ok().and_then(|o| o.knowledge_base).map(|k| k.status().as_str().to_string());
    if status.as_deref() != Some("ACTIVE") {
        return Some(format!("{kb} is {status:?}"));
    }
    let sources = c.agent.list_data_sources().knowledge_base_id(kb).send().await.ok()?;
    for ds in sources.data_source_summaries() {
        let jobs = c.agent.list_ingestion_jobs().knowledge_base_id(kb).data_source_id(ds.data_source_id()).send().await;
        let complete =
            jobs.ok().is_some_and(|j| j.ingestion_job_summaries().iter().any(|s| s.status().as_str() == "COMPLETE"));
        if !complete {
            return Some(format!("{kb}'s data source {} has no completed ingestion", ds.name()));
        }
    }
    None
}

/// Polls the function while `stop` is false: the knowledge bases it pointed at, in order, and
/// every moment it pointed at one that could not answer.
fn poll(emu: &Emulator, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(Vec<String>, Vec<String>)> {
    let c = clients(emu);
    std::thread::spawn(move || {
        let (mut seen, mut bad) = (Vec::<String>::new(), Vec::new());
        rt().block_on(async {
            while !stop.load(Ordering::SeqCst) {
                if let Some(kb) = serving(&c).await {
                    if seen.last() != Some(&kb) {
                        seen.push(kb.clone());
                    }
                    if let Some(why) = unready(&c, &kb).await {
                        bad.push(why);
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        });
        (seen, bad)
    })
}

fn knowledge_bases(emu: &Emulator) -> Vec<String> {
    let c = clients(emu);
    rt().block_on(async {
        let out = c.agent.list_knowledge_bases().send().await.unwrap();
        let mut names: Vec<String> = out.knowledge_base_summaries().iter().map(|k| k.name().to_string()).collect();
        names.sort();
        names
    })
}

/// The change converged: generation `g` alone, served, ingested, and nothing left to do.
fn converged_on(wd: &Workdir, emu: &Emulator, name: &str) {
    assert_eq!(knowledge_bases(emu), [name]);
    let c = clients(emu);
    let kb = rt().block_on(serving(&c)).expect("the function serves a knowledge base");
    assert_eq!(rt().block_on(unready(&c, &kb)), None);
    let (code, out, err) = ragstack(wd, emu, &["plan", "dev", "--detailed-exitcode"]);
    assert_eq!(code, 0, "nothing left to do:\n{out}\n{err}");
    let (code, out, _) = ragstack(wd, emu, &["status", "dev"]);
    assert_eq!(code, 0, "{out}");
    emu.clear_calls();
    let (code, out, err) = deploy(wd, emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(emu.mutating_calls().is_empty(), "a re-deploy changes nothing: {:?}", emu.mutating_calls());
}

fn blue_green_change(edit: (&str, &str)) {
    let (emu, wd) = deployed();
    let first = rt().block_on(serving(&clients(&emu))).unwrap();
    wd.dev_with("dev", &[edit]);
    // Without a flag: refused, naming both ways.
    let (code, _, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--blue-green") && err.contains("--allow-replace"), "{err}");
    let (_, out, _) = ragstack(&wd, &emu, &["plan", "dev"]);
    assert!(out.contains("blue/green replace with deploy --blue-green: generation 2"), "{out}");

    let stop = Arc::new(AtomicBool::new(false));
    let poller = poll(&emu, stop.clone());
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--blue-green"]);
    stop.store(true, Ordering::SeqCst);
    let (seen, bad) = poller.join().unwrap();
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("blue/green switch to generation 2 (ragstack-dev-g2); generation 1 deleted"), "{out}");
    assert!(bad.is_empty(), "the function pointed at a knowledge base that could not answer: {bad:?}");
    assert_eq!(seen.len(), 2, "the old knowledge base, then the new one: {seen:?}");
    assert_eq!(seen[0], first);
    converged_on(&wd, &emu, "ragstack-dev-g2");
    // The new generation answers from the corpus.
    let (code, out, _) = ragstack(&wd, &emu, &["eval", "dev", "--questions", &questions()]);
    assert_eq!(code, 0);
    assert!(out.contains("total: recall@5 1.00"), "{out}");
}

fn questions() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/acceptance/questions.toml").display().to_string()
}

#[test]
fn a_chunking_change_is_blue_green_and_the_function_never_points_at_an_unready_knowledge_base() {
    blue_green_change(CHUNKING);
}

#[test]
fn an_embedding_model_change_is_blue_green_too() {
    blue_green_change(MODEL);
}

#[test]
fn a_worse_new_generation_is_refused_the_old_one_keeps_serving_and_abandon_deletes_it() {
    let (emu, wd) = deployed();
    let first = rt().block_on(serving(&clients(&emu))).unwrap();
    // The new generation reads another prefix (a mistake the question set catches): its chunking
    // changes too, so the knowledge base's data source is replaced.
    let eval = format!("\n[eval]\nquestions = \"{}\"\n", questions());
    let file = common::shipped("dev").replacen(CHUNKING.0, CHUNKING.1, 1).replacen(
        "inclusion_prefixes = [\"documents/\"]",
        "inclusion_prefixes = [\"elsewhere/\"]",
        1,
    ) + &eval;
    wd.env_file("dev", &file);
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--blue-green"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("generation 2 answers recall 0.00, MRR 0.00 worse than generation 1 (recall 1.00, MRR 1.00)"),
        "{err}"
    );
    assert!(err.contains("generation 1 keeps serving"), "{err}");
    assert_eq!(rt().block_on(serving(&clients(&emu))).unwrap(), first, "not switched");
    assert_eq!(knowledge_bases(&emu), ["ragstack-dev", "ragstack-dev-g2"], "kept for inspection");
    // Both generations are visible, and `eval --kb new` measures the new one.
    let (code, out, _) = ragstack(&wd, &emu, &["status", "dev"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("blue/green change in flight: generation 2"), "{out}");
    let (_, out, _) = ragstack(&wd, &emu, &["eval", "dev", "--kb", "new"]);
    assert!(out.contains("total: recall@5 0.00"), "{out}");
    // Deploying again re-checks and refuses again; --abandon deletes the new generation.
    assert_eq!(deploy(&wd, &emu, "dev", &[]).0, 1);
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--abandon"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(knowledge_bases(&emu), ["ragstack-dev"]);
    assert_eq!(rt().block_on(serving(&clients(&emu))).unwrap(), first);
    assert_eq!(rt().block_on(unready(&clients(&emu), &first)), None);
}

/// Runs `deploy dev --blue-green` until a progress line has the words of `point`, then SIGKILLs it.
fn killed_at(wd: &Workdir, emu: &Emulator, point: &[&str]) {
    common::stack::killed_at(wd, emu, &["deploy", "dev", "--blue-green"], point);
}

#[test]
fn a_blue_green_deploy_killed_at_each_step_converges_on_the_next_deploy() {
    for point in [
        // CreateKnowledgeBase answered (killed before it, the new generation is only an index:
        // deploy --blue-green resumes it, a plain deploy refuses the change as before).
        &["knowledge_base", "waiting", "knowledge"][..],
        &["sync.documents", "waiting"],
        &["function", "updating"],
        &["knowledge_base.g1", "deleting"],
    ] {
        let (emu, wd) = deployed();
        wd.dev_with("dev", &[CHUNKING]);
        killed_at(&wd, &emu, point);
        // The plain deploy resumes (or finishes) the change it finds.
        let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
        assert_eq!(code, 0, "after a kill at {point:?}:\n{out}\n{err}");
        converged_on(&wd, &emu, "ragstack-dev-g2");
    }
}

#[test]
fn teardown_mid_change_removes_every_generation() {
    let (emu, wd) = deployed();
    wd.dev_with("dev", &[CHUNKING]);
    killed_at(&wd, &emu, &["sync.documents", "waiting"]);
    let (_, out, _) = ragstack(&wd, &emu, &["plan", "dev"]);
    assert!(out.contains("blue/green change in flight: generation 2"), "{out}");
    let (code, out, err) = ragstack(&wd, &emu, &["teardown", "dev", "--yes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(inventory(&emu, "dev"), common::stack::empty_inventory());
    assert!(knowledge_bases(&emu).is_empty());
}

#[test]
fn an_s3_vectors_dimension_change_is_blue_green_in_the_same_vector_bucket() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    let file = common::dev_on("s3_vectors", "");
    wd.env_file("dev", &file);
    assert_eq!(deploy(&wd, &emu, "dev", &[]).0, 0);
    wd.env_file("dev", &file.replacen("dimensions = 1024", "dimensions = 512", 1));
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--blue-green"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(knowledge_bases(&emu), ["ragstack-dev-g2"]);
    assert_eq!(inventory(&emu, "dev")["vector_indexes"], 1, "the old index was deleted, the new one kept");
    converged_on(&wd, &emu, "ragstack-dev-g2");
}

#[test]
fn blue_green_refuses_a_change_that_replaces_what_both_generations_share() {
    let (emu, wd) = deployed();
    for (file, shared) in [
        // A NextGen collection replaces the Classic one, which the old generation's index lives in.
        (
            common::shipped("dev").replacen("# generation = \"nextgen\"", "generation = \"nextgen\"", 1),
            "OpenSearch Serverless collection ragstack-dev (replaced)",
        ),
        // Another kind of store: the collection the serving generation reads would go.
        (common::dev_on("s3_vectors", ""), "OpenSearch Serverless collection ragstack-dev (deleted)"),
    ] {
        wd.env_file("dev", &file.replacen(CHUNKING.0, CHUNKING.1, 1));
        emu.clear_calls();
        let (code, _, err) = deploy(&wd, &emu, "dev", &["--blue-green"]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("what the serving generation stands on:") && err.contains(shared), "{err}");
        assert!(err.contains("--allow-replace"), "{err}");
        assert!(emu.mutating_calls().is_empty(), "{:?}", emu.mutating_calls());
    }
}

/// The data access policy's index resources, as OpenSearch Serverless has them.
fn granted_indexes(emu: &Emulator) -> Vec<String> {
    let c = clients(emu);
    rt().block_on(async {
        let out = c
            .aoss
            .get_access_policy()
            .name("ragstack-dev-access")
            .r#type(aws_sdk_opensearchserverless::types::AccessPolicyType::Data)
            .send()
            .await
            .unwrap();
        let policy = out.access_policy_detail().unwrap().policy().unwrap();
        let v = ragstack::aws::from_document(policy);
        let mut found: Vec<String> = v[0]["Rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["ResourceType"] == "index")
            .flat_map(|r| r["Resource"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()))
            .collect();
        found.sort();
        found
    })
}

#[test]
fn a_renamed_index_keeps_the_serving_generation_granted_its_real_index() {
    let (emu, wd) = deployed();
    wd.dev_with("dev", &[("index_name = \"ragstack-index\"", "index_name = \"docs-index\"")]);
    killed_at(&wd, &emu, &["sync.documents", "waiting"]);
    // Mid-change: the old knowledge base's index as it has it, and the new one.
    assert_eq!(granted_indexes(&emu), ["index/ragstack-dev/docs-index-g2", "index/ragstack-dev/ragstack-index"]);
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("vector_index.g1") && out.contains("deleted"),
        "the old index is deleted by its own name: {out}"
    );
    assert_eq!(granted_indexes(&emu), ["index/ragstack-dev/docs-index-g2"]);
    converged_on(&wd, &emu, "ragstack-dev-g2");
}

#[test]
fn an_interrupted_abandon_is_finished_and_never_resumed() {
    let (emu, wd) = deployed();
    let first = rt().block_on(serving(&clients(&emu))).unwrap();
    wd.dev_with("dev", &[CHUNKING]);
    killed_at(&wd, &emu, &["sync.documents", "waiting"]);
    // --abandon killed as it begins deleting the new generation.
    common::stack::killed_at(&wd, &emu, &["deploy", "dev", "--abandon"], &["knowledge_base.g2"]);
    // The next plain deploy finishes the deletion instead of resuming the change, then refuses
    // the change the file still asks for, as without blue/green.
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("--blue-green"), "{err}");
    assert_eq!(knowledge_bases(&emu), ["ragstack-dev"]);
    assert_eq!(rt().block_on(serving(&clients(&emu))).unwrap(), first);
}

#[test]
fn the_sync_trigger_is_switched_with_the_query_function() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    let file = common::shipped("dev").replace("# trigger = \"on_change\"", "trigger = \"on_change\"");
    wd.env_file("dev", &file);
    assert_eq!(deploy(&wd, &emu, "dev", &[]).0, 0);
    wd.env_file("dev", &file.replacen(CHUNKING.0, CHUNKING.1, 1));
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--blue-green"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let c = clients(&emu);
    let (query, trigger) = rt().block_on(async {
        let trigger = c.lambda.get_function_configuration().function_name("ragstack-dev-sync").send().await.unwrap();
        let trigger = trigger.environment().unwrap().variables().unwrap().get("KNOWLEDGE_BASE_ID").cloned();
        (serving(&c).await, trigger)
    });
    assert_eq!(query, trigger, "both functions serve generation 2");
    converged_on(&wd, &emu, "ragstack-dev-g2");
}

#[test]
fn a_managed_knowledge_base_changes_its_embedding_model_blue_green() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    let managed = common::dev_on("managed", "");
    wd.env_file("dev", &managed);
    assert_eq!(deploy(&wd, &emu, "dev", &[]).0, 0);
    // Bedrock's embeddings to the file's model: the knowledge base is replaced, no store is shared.
    let (head, tail) = managed.split_once("[[data_sources]]").unwrap();
    let custom = format!(
        "{}[knowledge_base]\nembedding_model = \"amazon.titan-embed-text-v2:0\"\ndimensions = 1024\n\n[[data_sources]]{tail}",
        head.replace("kind = \"managed\"", "kind = \"managed\"\nembedding_model_type = \"custom\"")
    );
    wd.env_file("dev", &custom);
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--blue-green"]);
    assert_eq!(code, 0, "{out}\n{err}");
    converged_on(&wd, &emu, "ragstack-dev-g2");
}
