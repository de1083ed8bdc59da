//! Every answer the API gives matches the schema its OpenAPI document
//! declares for it: real answers from a real server, checked by Python's
//! `jsonschema` (Draft 2020-12, which OpenAPI 3.1 schemas are).

use crate::serve::{Served, token};
use crate::support::*;
use serde_json::{Value, json};

const COUNTED: &str = r#"
[project]
name = "s"
start = "2026-01-01"
[datasets.a]
partition = "day"
command = ["sh", "-c", "echo x > \"$WEIR_OUTPUT/x.txt\"; echo '{\"rows\": 1}' > \"$WEIR_COUNTERS\""]
[datasets.b]
partition = "day"
sql = "SELECT 1 AS n, 'x' AS s"
[datasets.c]
partition = "day"
inputs = ["b"]
command = ["sh", "-c", "echo y > \"$WEIR_OUTPUT/y.txt\""]
"#;

#[test]
fn every_answer_matches_the_schema_the_document_declares() {
    let tmp = project(COUNTED, &[]);
    let dir = tmp.path();
    for env in ["prod", "candidate"] {
        let (code, _, err) = exec(dir, NOW, &["deploy", "--env", env]);
        assert_eq!(code, 0, "{err}");
    }
    let admin = token(dir, "admin", "root", &[]);
    let served = Served::start(dir, NOW, &["--env", "prod", "--env", "candidate"]);
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("client");
    let call = |method: &str, path: &str, body: Option<Value>| -> (u16, Value) {
        let url = format!("{}{path}", served.url);
        let req = match method {
            "get" => client.get(url),
            _ => client.post(url).json(&body.unwrap_or_else(|| json!({}))),
        };
        let r = req.bearer_auth(&admin).send().expect("answer");
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    };
    poll(60, "everything built and served in prod", || {
        let (_, rows) = call("get", "/api/v1/envs/prod/status", None);
        rows.as_array()?
            .iter()
            .all(|r| r["complete"] == 3 && r["serving"] == 1)
            .then_some(())
    });
    let (_, page) = call("get", "/api/v1/runs", None);
    let run_id = page["runs"][0]["run_id"].as_str().expect("a run").to_string();

    // (method, route template, path, body)
    let mut calls: Vec<(&str, &str, String, Option<Value>)> = vec![
        ("get", "/healthz", "/healthz".into(), None),
        ("get", "/api/v1/project", "/api/v1/project".into(), None),
        ("get", "/api/v1/session", "/api/v1/session".into(), None),
        (
            "get",
            "/api/v1/envs/{env}/status",
            "/api/v1/envs/prod/status".into(),
            None,
        ),
        (
            "get",
            "/api/v1/envs/{env}/datasets",
            "/api/v1/envs/prod/datasets".into(),
            None,
        ),
        (
            "get",
            "/api/v1/envs/{env}/deployments",
            "/api/v1/envs/prod/deployments".into(),
            None,
        ),
        (
            "get",
            "/api/v1/envs/{env}/aliases",
            "/api/v1/envs/prod/aliases".into(),
            None,
        ),
        (
            "get",
            "/api/v1/envs/{env}/grid",
            "/api/v1/envs/prod/grid?from=2026-01-01".into(),
            None,
        ),
        (
            "get",
            "/api/v1/envs/{env}/grid",
            "/api/v1/envs/prod/grid?from=2026-01-01&detail=states".into(),
            None,
        ),
        (
            "get",
            "/api/v1/envs/{env}/aliases/{dataset}/history",
            "/api/v1/envs/prod/aliases/a/history".into(),
            None,
        ),
        (
            "get",
            "/api/v1/envs/{env}/datasets/{dataset}/counters",
            "/api/v1/envs/prod/datasets/a/counters".into(),
            None,
        ),
        ("get", "/api/v1/diff", "/api/v1/diff?a=prod&b=candidate".into(), None),
        ("get", "/api/v1/runs", "/api/v1/runs".into(), None),
        ("get", "/api/v1/runs/{run_id}", format!("/api/v1/runs/{run_id}"), None),
        ("get", "/api/v1/tokens", "/api/v1/tokens".into(), None),
        ("get", "/api/v1/envs/{env}/plan", "/api/v1/envs/prod/plan".into(), None),
        (
            "get",
            "/api/v1/envs/{env}/datasets/{dataset}/instance",
            "/api/v1/envs/prod/datasets/c/instance".into(),
            None,
        ),
        (
            "post",
            "/api/v1/sql",
            "/api/v1/sql".into(),
            Some(json!({ "query": "SELECT n, s FROM b" })),
        ),
        (
            "post",
            "/api/v1/session",
            "/api/v1/session".into(),
            Some(json!({ "token": admin })),
        ),
        (
            "post",
            "/api/v1/envs/{env}/pause",
            "/api/v1/envs/candidate/pause".into(),
            Some(json!({ "dataset": "b" })),
        ),
        (
            "post",
            "/api/v1/envs/{env}/resume",
            "/api/v1/envs/candidate/resume".into(),
            Some(json!({ "dataset": "b" })),
        ),
        (
            "post",
            "/api/v1/envs/{env}/pin",
            "/api/v1/envs/prod/pin".into(),
            Some(json!({ "dataset": "a", "version": 1 })),
        ),
        (
            "post",
            "/api/v1/envs/{env}/unpin",
            "/api/v1/envs/prod/unpin".into(),
            Some(json!({ "dataset": "a" })),
        ),
        ("post", "/api/v1/envs/{env}/runs", "/api/v1/envs/prod/runs".into(), None),
        (
            "post",
            "/api/v1/envs/{env}/invalidate",
            "/api/v1/envs/candidate/invalidate".into(),
            Some(json!({ "dataset": "a", "partition": "2026-01-01", "dry_run": true })),
        ),
        (
            "post",
            "/api/v1/envs/{env}/invalidate",
            "/api/v1/envs/candidate/invalidate".into(),
            Some(json!({ "dataset": "a", "partition": "2026-01-01", "reason": "schema test" })),
        ),
        (
            "get",
            "/api/v1/envs/{env}/trash",
            "/api/v1/envs/candidate/trash".into(),
            None,
        ),
        ("get", "/api/v1/audit", "/api/v1/audit".into(), None),
    ];
    let mut cases = Vec::new();
    for (method, route, path, body) in calls.drain(..) {
        let (status, answer) = call(method, &path, body);
        assert!((200..300).contains(&status), "{method} {path}: {status} {answer}");
        cases.push(json!({ "method": method, "route": route, "status": status.to_string(), "body": answer }));
    }
    // The trash entry restores.
    let (_, trash) = call("get", "/api/v1/envs/candidate/trash", None);
    let trash_id = trash[0]["trash_id"].as_str().expect("a trash entry").to_string();
    let (status, answer) = call(
        "post",
        "/api/v1/envs/candidate/restore",
        Some(json!({ "trash_id": trash_id })),
    );
    assert_eq!(status, 200, "{answer}");
    cases.push(json!({ "method": "post", "route": "/api/v1/envs/{env}/restore", "status": "200", "body": answer }));

    let doc = client
        .get(format!("{}/api/v1/openapi.json", served.url))
        .bearer_auth(&admin)
        .send()
        .and_then(|r| r.text());
    std::fs::write(dir.join("openapi.json"), doc.expect("the document")).expect("write");
    std::fs::write(dir.join("cases.json"), Value::Array(cases).to_string()).expect("write");
    let python = std::env::var("WEIR_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = std::process::Command::new(python)
        .current_dir(dir)
        .args(["-c", CHECK])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "answers that do not match their schema (needs jsonschema: ./scripts/test installs it):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let checked = String::from_utf8_lossy(&out.stdout);
    assert!(checked.contains("checked 29 answers"), "{checked}");
}

const CHECK: &str = r#"
import json
from jsonschema import Draft202012Validator
doc = json.load(open("openapi.json"))
cases = json.load(open("cases.json"))
def validator(route, method, status):
    schema = doc["paths"][route][method]["responses"][status]["content"]["application/json"]["schema"]
    return Draft202012Validator(dict(schema, components=doc["components"]))
bad = []
for c in cases:
    for e in validator(c["route"], c["method"], c["status"]).iter_errors(c["body"]):
        bad.append(f'{c["method"]} {c["route"]}: {"/".join(map(str, e.absolute_path))}: {e.message[:300]}')
# The schemas bite: a wrong answer does not pass.
for route, wrong in [("/api/v1/runs", {"running": [], "runs": "nope"}),
                     ("/api/v1/envs/{env}/status", [{"dataset": 1}])]:
    if not list(validator(route, "get", "200").iter_errors(wrong)):
        bad.append(f"the schema of {route} lets {wrong} pass")
print("\n".join(bad))
print(f"checked {len(cases)} answers")
raise SystemExit(1 if bad else 0)
"#;
