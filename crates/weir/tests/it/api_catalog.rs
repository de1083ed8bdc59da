//! What a reader of the API draws the platform from: the datasets in lineage
//! order with their versions and aliases, and the deploy history.

use crate::serve::Served;
use crate::support::*;
use serde_json::Value;

const TWO: &str = r#"
[project]
name = "t"
start = "2026-01-01"
[datasets.b]
partition = "day"
inputs = ["a"]
sla = "6h"
command = ["sh", "-c", "echo b > \"$WEIR_OUTPUT/b\""]
[datasets.a]
partition = "day"
description = "the source"
command = ["sh", "-c", "echo a > \"$WEIR_OUTPUT/a\""]
"#;

#[test]
fn datasets_come_in_lineage_order_with_versions_aliases_and_deploy_history() {
    let tmp = project(TWO, &[]);
    let dir = tmp.path();
    let (code, _, err) = exec(dir, NOW, &["deploy", "--message", "first"]);
    assert_eq!(code, 0, "{err}");
    let served = Served::start(dir, NOW, &["--public-read"]);
    let get = |path: &str| -> (u16, Value) {
        let r = reqwest::blocking::get(format!("{}{path}", served.url)).expect("GET");
        (r.status().as_u16(), r.json().unwrap_or_default())
    };
    poll(60, "both aliases", || {
        let (_, ds) = get("/api/v1/envs/prod/datasets");
        ds.as_array()?.iter().all(|d| d["alias"]["version"] == 1).then_some(())
    });
    // A changed job: b gets a second version, deployed beside the first.
    std::fs::write(dir.join("weir.toml"), TWO.replace("echo b >", "echo b2 >")).expect("edit");
    let (code, _, err) = exec(dir, NOW, &["deploy", "--message", "b changed"]);
    assert_eq!(code, 0, "{err}");
    let ds = poll(30, "the new deployment", || {
        let (_, ds) = get("/api/v1/envs/prod/datasets");
        (ds[1]["deployed"] == 2).then_some(ds)
    });
    let names: Vec<&str> = ds
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(names, ["a", "b"], "inputs before their consumers");
    let (a, b) = (&ds[0], &ds[1]);
    assert_eq!(a["description"], "the source");
    assert_eq!(a["consumers"], serde_json::json!(["b"]));
    assert_eq!(b["inputs"], serde_json::json!(["a"]));
    assert_eq!(
        (a["job"].as_str(), a["partition"].as_str()),
        (Some("command"), Some("day"))
    );
    assert_eq!(b["sla"], "6h after the partition's end");
    assert_eq!(a["deployed"], 1);
    let versions = b["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 2, "{b}");
    assert_eq!(versions[0]["complete"], 3, "v1 was built: {b}");
    assert!(
        versions[1]["changed"].as_array().is_some_and(|c| !c.is_empty()),
        "what changed in v2: {b}"
    );

    let (code, deploys) = get("/api/v1/envs/prod/deployments");
    assert_eq!(code, 200);
    let seqs: Vec<u64> = deploys
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|d| d["seq"].as_u64())
        .collect();
    assert_eq!(seqs, [2, 1], "newest first");
    assert_eq!(deploys[0]["message"], "b changed");
    assert_eq!(deploys[0]["versions"]["b"], 2);
    assert!(deploys[0].get("files").is_none(), "a history carries no files");

    for path in ["/api/v1/envs/nope/datasets", "/api/v1/envs/nope/deployments"] {
        let (code, body) = get(path);
        assert_eq!(code, 404, "{path}");
        assert!(body["error"]["hint"].as_str().is_some_and(|h| !h.is_empty()), "{body}");
    }
}

/// `POST /api/v1/envs/{env}/deploy`: a project in the body, or the server's
/// own working copy; a body without weir.toml, a path that leaves the
/// project, or neither form is refused, and nothing is deployed.
#[test]
fn deploys_through_the_api_take_files_or_the_working_copy_and_refuse_bad_bodies() {
    let tmp = project(TWO, &[]);
    let dir = tmp.path();
    let (code, _, err) = exec(dir, NOW, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    let admin = crate::serve::token(dir, "admin", "root", &[]);
    let served = Served::start(dir, NOW, &[]);
    let client = reqwest::blocking::Client::new();
    let deploy = |env: &str, body: Value| {
        let r = client
            .post(format!("{}/api/v1/envs/{env}/deploy", served.url))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .expect("deploy");
        (r.status().as_u16(), r.json::<Value>().unwrap_or_default())
    };
    let toml = TWO.replace("echo b >", "echo b3 >");
    for (body, says) in [
        (serde_json::json!({}), "either `files` or `working_copy"),
        (serde_json::json!({ "files": { "x.sql": "SELECT 1" } }), "no weir.toml"),
        (
            serde_json::json!({ "files": { "weir.toml": toml, "../escape.sql": "SELECT 1" } }),
            "leaves the project",
        ),
        (
            serde_json::json!({ "files": { "weir.toml": toml }, "working_copy": true }),
            "either `files` or `working_copy",
        ),
    ] {
        let (code, answer) = deploy("candidate", body);
        assert_eq!(code, 400, "{answer}");
        assert!(
            answer["error"]["message"].as_str().is_some_and(|m| m.contains(says)),
            "{answer}"
        );
    }
    let (code, answer) = deploy(
        "candidate",
        serde_json::json!({ "working_copy": true, "message": "wc" }),
    );
    assert_eq!(code, 200, "{answer}");
    assert_eq!(
        (answer["env"].as_str(), answer["seq"].as_u64()),
        (Some("candidate"), Some(1))
    );
    let (code, answer) = deploy("candidate", serde_json::json!({ "files": { "weir.toml": toml } }));
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["seq"], 2, "{answer}");
    let envs = json(dir, NOW, &["envs"]);
    let candidate: Vec<&Value> = envs
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["env"] == "candidate")
        .collect();
    assert_eq!(candidate.len(), 2, "the refused bodies deployed nothing: {envs}");
    assert_eq!(candidate[0]["message"], "wc");
}
