//! `POST /api/v1/sql`: `weir sql` over HTTP.

use crate::serve::Served;
use crate::support::*;
use serde_json::Value;

/// `POST /api/v1/sql`: read-only SQL over what prod serves, as JSON or Arrow
/// IPC, cut at the row limit; anything but a query is refused.
#[test]
fn sql_over_http_is_read_only_and_bounded() {
    const Q: &str = r#"
[project]
name = "q"
start = "2026-01-03"
[datasets.raw]
partition = "hour"
ingest = { path = "landing/{date}/{hour}.jsonl", format = "jsonl" }
[datasets.daily]
partition = "day"
inputs = ["raw"]
sql = "SELECT count(*) AS n FROM raw"
serve_window = 1
"#;
    let files = landed("2026-01-03", 0..24);
    let tmp = project_with(Q, &files);
    let dir = tmp.path();
    for args in [vec!["deploy"], vec!["run", "--env", "prod"]] {
        let (code, _, err) = exec(dir, NOW, &args);
        assert_eq!(code, 0, "{err}");
    }
    let served = Served::start(dir, NOW, &["--public-read"]);
    let http = reqwest::blocking::Client::new();
    let post = |body: Value| {
        http.post(format!("{}/api/v1/sql", served.url))
            .json(&body)
            .send()
            .expect("sql")
    };
    let r: Value = post(serde_json::json!({ "query": "SELECT n FROM daily" }))
        .json()
        .expect("json");
    assert_eq!(r["rows"], serde_json::json!([{ "n": 24 }]), "{r}");
    assert_eq!(r["truncated"], false);
    let r: Value = post(serde_json::json!({ "query": "SELECT * FROM raw", "limit": 5 }))
        .json()
        .expect("json");
    assert_eq!(r["rows"].as_array().map(Vec::len), Some(5), "{r}");
    assert_eq!(r["truncated"], true);
    let arrow = post(serde_json::json!({ "query": "SELECT n FROM daily", "format": "arrow" }));
    assert_eq!(
        arrow.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/vnd.apache.arrow.stream")
    );
    let bytes = arrow.bytes().expect("bytes");
    assert_eq!(&bytes[..4], &[0xff, 0xff, 0xff, 0xff], "an Arrow IPC stream");
    // Counter series and the environment diff are reads too.
    let c: Value = http
        .get(format!(
            "{}/api/v1/envs/prod/datasets/daily/counters?name=rows_*",
            served.url
        ))
        .send()
        .expect("counters")
        .json()
        .expect("json");
    assert_eq!(c["points"][0]["partition"], "date=2026-01-03", "{c}");
    assert_eq!(c["points"][0]["counters"]["rows_out"], 1, "{c}");
    assert!(
        c["points"][0]["counters"].get("bytes_out").is_none(),
        "only the names asked: {c}"
    );
    let d = http
        .get(format!("{}/api/v1/diff?a=prod&b=prod&datasets=daily", served.url))
        .send()
        .expect("diff");
    assert_eq!(d.status().as_u16(), 200);
    let d: Value = d.json().expect("json");
    assert_eq!(d[0]["dataset"], "daily", "{d}");
    let refused = post(serde_json::json!({ "query": "CREATE TABLE t AS SELECT 1" }));
    assert_eq!(refused.status().as_u16(), 400);
    let e: Value = refused.json().expect("json");
    assert!(e["error"]["hint"].as_str().is_some_and(|h| h.contains("daily")), "{e}");
}
