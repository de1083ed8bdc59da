//! SQL jobs on Spark through Spark Connect (`engine = "spark"`), on a real
//! Spark Connect server on loopback (pyspark's, started by `scripts/test`
//! through `scripts/spark-start`): the demo's `track_daily` and `user_daily`
//! run on Spark and equal DataFusion's results row for row; what Spark writes
//! beside the data never reaches the seal.

use crate::support::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// The Spark Connect URL `scripts/test` started, once it answers.
fn spark_remote() -> String {
    let url = std::env::var("WEIR_TEST_SPARK_REMOTE")
        .expect("this test needs a Spark Connect server: run it with ./scripts/test, which starts one (or set WEIR_TEST_SPARK_REMOTE=sc://host:port)");
    let addr = url
        .trim_start_matches("sc://")
        .split('/')
        .next()
        .unwrap_or("")
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(180);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "Spark Connect at {url} did not answer in 180 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    url
}

fn served(dir: &Path, query: &str) -> Vec<String> {
    let (code, out, err) = exec(dir, NOW, &["sql", "--env", "prod", "--csv", query]);
    assert_eq!(code, 0, "{query}: {err}");
    let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn track_daily_and_user_daily_on_spark_equal_datafusion_row_for_row() {
    let remote = spark_remote();
    let (_tmp, dir) = demo_project();
    let ok = |args: &[&str]| {
        let out = weir(&dir, NOW)
            .env("SPARK_REMOTE", &remote)
            .args(args)
            .output()
            .expect("weir");
        assert!(
            out.status.success(),
            "weir {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    ok(&["deploy"]);
    ok(&["run", "--env", "prod"]);
    let queries = ["SELECT * FROM track_daily", "SELECT * FROM user_daily"];
    let on_datafusion: Vec<Vec<String>> = queries.iter().map(|q| served(&dir, q)).collect();

    // The same SQL on Spark: a new version of each, built and served.
    let toml = std::fs::read_to_string(dir.join("weir.toml")).expect("weir.toml");
    let toml = toml
        .replace(
            "sql       = \"sql/user_daily.sql\"",
            "sql       = \"sql/user_daily.sql\"\nengine    = \"spark\"",
        )
        .replace(
            "sql       = \"sql/track_daily.sql\"",
            "sql       = \"sql/track_daily.sql\"\nengine    = \"spark\"",
        );
    assert_eq!(
        toml.matches("engine    = \"spark\"").count(),
        2,
        "both datasets were edited"
    );
    std::fs::write(dir.join("weir.toml"), toml).expect("write");
    ok(&["deploy"]);
    ok(&["run", "--env", "prod"]);
    let st = status(&dir, NOW);
    assert_eq!(st["track_daily"]["version"], 2, "{}", st["track_daily"]);
    assert_eq!(st["user_daily"]["version"], 2);
    for (q, expected) in queries.iter().zip(&on_datafusion) {
        let on_spark = served(&dir, q);
        assert!(on_spark.len() > 100, "{q} answers rows");
        assert!(&on_spark == expected, "{q}: Spark and DataFusion differ");
    }
    // What Spark wrote beside the data is gone; its counters are weir's.
    let show = json(&dir, NOW, &["show", "track_daily", "--partition", "2026-01-02"]);
    let files: Vec<&str> = show["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(
        !files.is_empty() && files.iter().all(|f| f.ends_with(".parquet")),
        "{files:?}"
    );
    assert!(show["counters"]["rows_out"].as_i64() > Some(0), "{show}");
    assert_eq!(show["rows"], show["counters"]["rows_out"]);
    let doctor = json(&dir, NOW, &["doctor", "--deep"]);
    assert_eq!(doctor["errors"], 0, "{doctor}");
}

#[test]
fn a_spark_job_past_its_timeout_is_interrupted_on_the_cluster() {
    let remote = spark_remote();
    // Far too long for local[2] (10^13 rows), unless interrupted.
    let toml = r#"
[project]
name = "slow"
start = "2026-01-01"

[datasets.slow]
partition = "day"
engine = "spark"
timeout = "5s"
retries = 0
sql = """
SELECT count(*) AS n
FROM (SELECT explode(sequence(1, 100000)) AS x) a
CROSS JOIN (SELECT explode(sequence(1, 100000)) AS y) b
CROSS JOIN (SELECT explode(sequence(1, 1000)) AS z) c
"""

[datasets.quick]
partition = "day"
engine = "spark"
sql = "SELECT 1 AS one"
"#;
    let tmp = project(toml, &[]);
    let now = "2026-01-02T00:30:00Z";
    let t = Instant::now();
    let out = weir(tmp.path(), now)
        .env("SPARK_REMOTE", &remote)
        .args(["run", "slow", "--json"])
        .output()
        .expect("weir");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("timed out"), "{text}");
    assert!(t.elapsed() < Duration::from_secs(90), "the timeout ended the run");
    // The cluster is free again: local[2] runs jobs in order, so the quick
    // one would wait for the slow one had it not been interrupted.
    let mut quick = weir_process(tmp.path(), now)
        .env("SPARK_REMOTE", &remote)
        .args(["run", "quick"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("weir");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = quick.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = quick.kill();
            let _ = quick.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.is_some_and(|s| s.success()),
        "the quick job did not finish in 60 s: the slow one still runs on the cluster ({status:?})"
    );
}
