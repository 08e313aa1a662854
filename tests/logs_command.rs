//! `ragstack logs`: the query function's log events, made readable (request id, duration, memory,
//! errors), as JSON lines with --json; the sync trigger's only where the environment has one.

mod common;

use common::emulator::Emulator;
use common::stack::{clients, deploy, rt};
use common::{Workdir, run};
use serde_json::Value;

#[test]
fn logs_prints_the_query_functions_invocations_readably_and_as_json() {
    let emu = Emulator::start(&[]);
    let wd = Workdir::new();
    assert_eq!(deploy(&wd, &emu, "dev", &["--no-sync"]).0, 0);
    let c = clients(&emu);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    rt().block_on(async {
        let group = "/aws/lambda/ragstack-dev-query";
        c.logs.create_log_stream().log_group_name(group).log_stream_name("2026/12/01/[$LATEST]abc").send().await.unwrap();
        let lines = [
            "START RequestId: 8f5a3c1e-1b2c-4d5e-8f90-123456789abc Version: $LATEST\n",
            "[ERROR]\t2026-12-01T10:00:00.000Z\t8f5a3c1e-1b2c-4d5e-8f90-123456789abc\tbedrock_error: ThrottlingException\n",
            "REPORT RequestId: 8f5a3c1e-1b2c-4d5e-8f90-123456789abc\tDuration: 812.34 ms\tBilled Duration: 813 ms\tMemory Size: 512 MB\tMax Memory Used: 88 MB\t\n",
        ];
        let mut req = c.logs.put_log_events().log_group_name(group).log_stream_name("2026/12/01/[$LATEST]abc");
        for (i, l) in lines.iter().enumerate() {
            req = req.log_events(
                aws_sdk_cloudwatchlogs::types::InputLogEvent::builder().timestamp(now + i as i64).message(*l).build().unwrap(),
            );
        }
        req.send().await.unwrap();
    });
    let mut l = wd.ragstack_on(&emu);
    l.args(["logs", "dev", "--since", "10m"]);
    let (code, out, err) = run(l);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("8f5a3c1e [ERROR] bedrock_error: ThrottlingException"), "{out}");
    assert!(out.contains("8f5a3c1e done in 812.34 ms, 88 MB used"), "{out}");
    assert!(!out.contains("START RequestId"), "{out}");

    let mut l = wd.ragstack_on(&emu);
    l.args(["logs", "dev", "--json"]);
    let (code, out, _) = run(l);
    assert_eq!(code, 0);
    let events: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 3, "{out}");
    assert_eq!(events[0]["log_group"], "/aws/lambda/ragstack-dev-query");

    // dev has no sync trigger: nothing to read, said before any call.
    emu.clear_calls();
    let mut l = wd.ragstack_on(&emu);
    l.args(["logs", "dev", "--function", "sync"]);
    let (code, _, err) = run(l);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no sync trigger"), "{err}");
}
