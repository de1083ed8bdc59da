//! The spark-submit route (docs/spark.md): a command job that runs a Spark
//! SQL query through `spark-submit` with `templates/spark/weir_spark_sql.py`,
//! on a real Spark cluster on loopback: a standalone master and one worker
//! (pyspark from the test venv, Java 17). Its result is sealed like any
//! instance and equals DataFusion's, row for row.

use crate::support::*;
use std::path::PathBuf;

const QUERY: &str = "SELECT track, count(*) AS plays, sum(ms) AS ms FROM plays GROUP BY track ORDER BY track";

/// The venv's Python, `spark-submit` and `SPARK_HOME`.
fn spark() -> (PathBuf, PathBuf, PathBuf) {
    let python = PathBuf::from(std::env::var("WEIR_TEST_PYTHON").unwrap_or_else(|_| {
        format!(
            "{}/.cache/weir-venv/bin/python",
            std::env::var("HOME").unwrap_or_default()
        )
    }));
    let submit = python.with_file_name("spark-submit");
    assert!(
        submit.exists(),
        "{}: ./scripts/test installs pyspark into its venv",
        submit.display()
    );
    let out = std::process::Command::new(&python)
        .args(["-c", "import os, pyspark; print(os.path.dirname(pyspark.__file__))"])
        .output()
        .expect("python");
    let home = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    (python, submit, home)
}

/// A standalone Spark master and one worker on loopback, killed when dropped.
struct Cluster {
    procs: Vec<std::process::Child>,
    master: String,
    _logs: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

/// Starts a master and a worker (`spark-class`, in the foreground) and waits,
/// with a deadline, until the master's status page lists the worker alive.
fn cluster(home: &std::path::Path, python: &std::path::Path) -> Cluster {
    let logs = tempfile::tempdir().expect("tempdir");
    let (port, ui) = (free_port(), free_port());
    let class = home.join("bin/spark-class");
    let spawn = |args: &[&str], log: &str| {
        let out = std::fs::File::create(logs.path().join(log)).expect("log");
        std::process::Command::new(&class)
            .args(args)
            .env("SPARK_HOME", home)
            .env("PYSPARK_PYTHON", python)
            .env("SPARK_LOCAL_IP", "127.0.0.1")
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("spark-class")
    };
    let master = format!("spark://127.0.0.1:{port}");
    let mut procs = vec![spawn(
        &[
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--webui-port",
            &ui.to_string(),
        ],
        "master.log",
    )];
    procs.push(spawn(
        &[
            "org.apache.spark.deploy.worker.Worker",
            &master,
            "--host",
            "127.0.0.1",
            "--cores",
            "2",
            "--memory",
            "1g",
            "--webui-port",
            &free_port().to_string(),
        ],
        "worker.log",
    ));
    let cluster = Cluster {
        procs,
        master,
        _logs: logs,
    };
    let client = reqwest::blocking::Client::new();
    poll(120, "a Spark worker registered with the master", || {
        let state: serde_json::Value = client
            .get(format!("http://127.0.0.1:{ui}/json/"))
            .send()
            .ok()?
            .json()
            .ok()?;
        (state["aliveworkers"].as_u64() >= Some(1)).then_some(())
    });
    cluster
}

#[test]
fn a_spark_submit_job_is_sealed_and_equals_datafusion_row_for_row() {
    let (python, submit, home) = spark();
    let cluster = cluster(&home, &python);
    let toml = format!(
        r#"
[project]
name = "s"
start = "2026-01-01"

[datasets.plays]
partition = "day"
sql = "SELECT * FROM (VALUES ('a', 1), ('b', 2), ('a', 3), ('c', 40)) AS t(track, ms)"

[datasets.track_daily]
partition = "day"
inputs = ["plays"]
format = "parquet"
command = ["{submit}", "--master", "{master}", "--executor-memory", "512m", "--conf", "spark.driver.bindAddress=127.0.0.1",
           "--conf", "spark.driver.host=127.0.0.1", "scripts/weir_spark_sql.py", "sql/track_daily.sql"]
checks = ["rows_out == 3"]

[datasets.track_daily_df]
partition = "day"
inputs = ["plays"]
sql = "{QUERY}"
"#,
        submit = submit.display(),
        master = cluster.master,
    );
    let script = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../templates/spark/weir_spark_sql.py"
    ))
    .expect("the template");
    let tmp = project(
        &toml,
        &[
            ("scripts/weir_spark_sql.py", script.as_str()),
            ("sql/track_daily.sql", QUERY),
        ],
    );
    let dir = tmp.path();
    let now = "2026-01-02T01:00:00Z";
    let run = |args: &[&str]| {
        let out = weir(dir, now)
            .args(args)
            .env("SPARK_HOME", &home)
            .env("PYSPARK_PYTHON", &python)
            .env("SPARK_LOCAL_IP", "127.0.0.1")
            .output()
            .expect("weir");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0), "weir {args:?}:\n{text}");
    };
    run(&["deploy"]);
    run(&["run", "--env", "prod"]);
    // Sealed like any instance: only the data file, no Spark leftovers.
    let shown = json(dir, now, &["show", "track_daily", "--partition", "2026-01-01"]);
    let files: Vec<&str> = shown["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(files.len(), 1, "{shown}");
    assert!(files[0].ends_with(".parquet"), "{files:?}");
    assert_eq!(shown["counters"]["rows_out"], 3, "{shown}");
    // Row for row what DataFusion computes.
    let spark = json(
        dir,
        now,
        &["sql", "SELECT track, plays, ms FROM track_daily ORDER BY track"],
    );
    let df = json(
        dir,
        now,
        &["sql", "SELECT track, plays, ms FROM track_daily_df ORDER BY track"],
    );
    assert_eq!(spark, df);
    assert_eq!(spark.as_array().map(Vec::len), Some(3), "{spark}");
}
