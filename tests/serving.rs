//! The serving path (query function, REST API, stage) through the real binary, against the
//! local emulator.

mod common;

use common::emulator::Emulator;
use common::stack::{ACCOUNT, clients, complete_inventory, deploy, inventory, rt, summary};
use common::{Workdir, run};
use serde_json::Value;
use std::io::Read;

const FUNCTION: &str = "ragstack-dev-query";

#[test]
fn deploy_creates_the_role_function_api_and_stage_with_the_files_settings() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let outputs = summary(&out)["outputs"].clone();
    let kb_id = outputs["knowledge_base_id"].as_str().unwrap().to_string();
    let api_url = outputs["api_url"].as_str().unwrap().to_string();
    let api_id = api_url.trim_start_matches("https://").split('.').next().unwrap().to_string();
    assert_eq!(api_url, format!("https://{api_id}.execute-api.us-east-1.amazonaws.com/dev/rag"));
    assert_eq!(inventory(&emu, "dev"), complete_inventory());

    let c = clients(&emu);
    rt().block_on(async {
        // The role: trusted by Lambda only; logs of its own group, this KB, this model.
        let role = c.iam.get_role().role_name("ragstack-dev-us-east-1-api").send().await.unwrap().role.unwrap();
        let trust = ragstack::aws::parse_policy(role.assume_role_policy_document().unwrap());
        assert_eq!(trust["Statement"][0]["Principal"]["Service"], "lambda.amazonaws.com");
        let inline = c
            .iam
            .get_role_policy()
            .role_name("ragstack-dev-us-east-1-api")
            .policy_name("query-function-access")
            .send()
            .await
            .unwrap();
        let permissions = ragstack::aws::parse_policy(inline.policy_document());
        let text = permissions.to_string();
        assert!(text.contains(&format!("arn:aws:bedrock:us-east-1:{ACCOUNT}:knowledge-base/{kb_id}")), "{text}");
        assert!(
            text.contains("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0"),
            "{text}"
        );
        assert!(text.contains(&format!("arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/{FUNCTION}")), "{text}");
        // No wildcard resource, but for the one action that supports no resource type.
        for st in permissions["Statement"].as_array().unwrap() {
            if st["Resource"] == "*" {
                assert_eq!(st["Action"], "bedrock:RetrieveAndGenerate", "{text}");
            }
        }

        // The function: the file's settings, configuration through environment variables.
        let f = c.lambda.get_function().function_name(FUNCTION).send().await.unwrap();
        let conf = f.configuration().unwrap();
        assert_eq!(conf.runtime().unwrap().as_str(), "python3.13");
        assert_eq!(conf.architectures()[0].as_str(), "arm64");
        assert_eq!(conf.memory_size(), Some(512));
        assert_eq!(conf.timeout(), Some(29));
        assert_eq!(conf.handler(), Some("handler.handler"));
        assert_eq!(conf.role(), Some(format!("arn:aws:iam::{ACCOUNT}:role/ragstack/ragstack-dev-us-east-1-api").as_str()));
        let vars = conf.environment().unwrap().variables().unwrap();
        assert_eq!(vars["KNOWLEDGE_BASE_ID"], kb_id);
        assert_eq!(
            vars["GENERATION_MODEL_ARN"],
            "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0"
        );
        assert_eq!(f.tags().unwrap()["ragstack:environment"], "dev");

        // The API: the two routes, proxied to the function; the stage with the file's throttling.
        let resources = c.apigw.get_resources().rest_api_id(&api_id).send().await.unwrap();
        let uri = format!(
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:{ACCOUNT}:function:{FUNCTION}/invocations"
        );
        for (method, path) in [("GET", "/rag"), ("POST", "/rag/query")] {
            let r = resources.items().iter().find(|r| r.path() == Some(path)).unwrap_or_else(|| panic!("{path}"));
            let i = c
                .apigw
                .get_integration()
                .rest_api_id(&api_id)
                .resource_id(r.id().unwrap())
                .http_method(method)
                .send()
                .await
                .unwrap();
            assert_eq!(i.r#type().unwrap().as_str(), "AWS_PROXY", "{method} {path}");
            assert_eq!(i.uri(), Some(uri.as_str()));
        }
        let stage = c.apigw.get_stage().rest_api_id(&api_id).stage_name("dev").send().await.unwrap();
        let all = &stage.method_settings().unwrap()["*/*"];
        assert_eq!(all.throttling_rate_limit(), 5.0);
        assert_eq!(all.throttling_burst_limit(), 10);
        assert!(stage.deployment_id().is_some());

        // Only this API may invoke the function.
        let policy = c.lambda.get_policy().function_name(FUNCTION).send().await.unwrap();
        let policy: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
        let statements = policy["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 1, "{policy}");
        assert_eq!(statements[0]["Principal"]["Service"], "apigateway.amazonaws.com");
        assert_eq!(
            statements[0]["Condition"]["ArnLike"]["AWS:SourceArn"],
            format!("arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*/*/rag*")
        );
    });
    // The package is deterministic: a second deploy sends no code and the hash is the same.
    let code_zip = rt().block_on(async {
        let f = c.lambda.get_function().function_name(FUNCTION).send().await.unwrap();
        f.configuration().unwrap().code_sha256().unwrap().to_string()
    });
    let sha_again = rt().block_on(async {
        let (code, _, _) = deploy(&wd, &emu, "dev", &[]);
        assert_eq!(code, 0);
        let f = c.lambda.get_function().function_name(FUNCTION).send().await.unwrap();
        f.configuration().unwrap().code_sha256().unwrap().to_string()
    });
    assert_eq!(code_zip, sha_again, "the package is deterministic");
}

#[test]
fn a_redeploy_is_a_no_op_and_changing_memory_updates_only_the_function() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    emu.clear_calls();
    let (code, out, _) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0);
    assert!(out.contains("No changes"), "{out}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());

    wd.dev_with("dev", &[("memory_mb = 512", "memory_mb = 1024")]);
    let mut c = wd.ragstack_on(&emu);
    c.args(["plan", "dev"]);
    let (_, out, _) = run(c);
    assert!(out.contains("function                     update: memory_mb"), "{out}");
    assert!(out.contains("memory_mb: 512 -> 1024") && out.contains("1 to update, 0 to replace, 13 unchanged"), "{out}");
    emu.clear_calls();
    let (code, out, err) = deploy(&wd, &emu, "dev", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        emu.mutating_calls(),
        vec![format!("lambda PUT /2015-03-31/functions/{FUNCTION}/configuration")],
        "{out}"
    );
    let c = clients(&emu);
    let memory = rt().block_on(async {
        c.lambda.get_function_configuration().function_name(FUNCTION).send().await.unwrap().memory_size()
    });
    assert_eq!(memory, Some(1024));

    // A changed page is new code: only the function's code is updated, the API is not redeployed.
    let templates = wd.path().join("my-templates/lambda");
    std::fs::create_dir_all(&templates).unwrap();
    let page = shipped_asset("lambda/index.html").replace("Ask your documents", "Ask the handbook");
    std::fs::write(templates.join("index.html"), page).unwrap();
    emu.clear_calls();
    let (code, out, err) = deploy(&wd, &emu, "dev", &["--templates", "my-templates"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(emu.mutating_calls(), vec![format!("lambda PUT /2015-03-31/functions/{FUNCTION}/code")], "{out}");
}

fn shipped_asset(name: &str) -> String {
    let mut s = String::new();
    std::fs::File::open(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates").join(name))
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    s
}
