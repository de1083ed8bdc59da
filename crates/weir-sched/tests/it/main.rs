//! The run loop against a real SQLite catalog and a real local lake, with a
//! small test executor (the real executors are tested end to end in the
//! binary's tests): adoption after a crash between seal and commit, sealed
//! directories of other code, and panicking workers.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use weir_catalog::SqlCatalog;
use weir_core::load::load_project;
use weir_core::planner::{Order, Selection};
use weir_sched::exec_api::{ExecError, ExecOutput, Executor, TaskContext};
use weir_sched::{Progress, RunOptions, RunSummary, Workspace};

/// Project directories of every execution (tests run in parallel, so count per project).
static CALLS: Mutex<Vec<std::path::PathBuf>> = Mutex::new(Vec::new());

fn calls(dir: &Path) -> usize {
    CALLS
        .lock()
        .map(|c| c.iter().filter(|d| d.as_path() == dir).count())
        .unwrap_or(0)
}

/// Writes one file; panics on the partition the definitions' `env` names.
struct TestExec;

#[async_trait]
impl Executor for TestExec {
    async fn execute(
        &self,
        ctx: &TaskContext,
        _cancel: tokio::sync::watch::Receiver<bool>,
    ) -> Result<ExecOutput, ExecError> {
        if let Ok(mut c) = CALLS.lock() {
            c.push(ctx.project_dir.clone());
        }
        if let weir_core::Job::Command { env, .. } = &ctx.dataset.job
            && env.get("PANIC_ON") == Some(&ctx.partition_key)
        {
            panic!("test executor told to panic on {}", ctx.partition_key);
        }
        write_partition(ctx)
    }
}

/// The test executors' output: one file naming the partition, one row.
fn write_partition(ctx: &TaskContext) -> Result<ExecOutput, ExecError> {
    std::fs::write(ctx.output_dir.join("out.txt"), ctx.partition_key.as_bytes())?;
    Ok(ExecOutput {
        rows: Some(1),
        ..Default::default()
    })
}

fn test_exec(_: &weir_core::Job) -> Box<dyn Executor> {
    Box::new(TestExec)
}

struct Quiet;
impl Progress for Quiet {}

const TOML: &str = r#"
[project]
name = "s"
start = "2026-01-01"
[datasets.a]
partition = "day"
command = ["unused"]
env = { PANIC_ON = "PANIC" }
"#;

async fn workspace(dir: &Path, toml: &str, catalog_file: &str) -> Arc<Workspace> {
    let project = load_project(toml, &|_| Err("no files".into())).expect("valid");
    let url = format!("sqlite://{}", dir.join(catalog_file).display());
    let catalog = SqlCatalog::open(&url).await.expect("catalog");
    Arc::new(Workspace::new(dir.to_path_buf(), project, Arc::new(catalog)).expect("workspace"))
}

async fn run(ws: Arc<Workspace>) -> RunSummary {
    let now: DateTime<Utc> = "2026-01-04T00:00:00Z".parse().expect("now");
    let opts = RunOptions {
        selection: Selection::default(),
        parallel: 2,
        order: Order::OldestFirst,
        max_tasks: None,
        now,
        lease: Duration::from_secs(60),
        control: None,
    };
    let (_tx, rx) = tokio::sync::watch::channel(false);
    weir_sched::run(ws, test_exec, opts, &Quiet, rx).await.expect("run")
}

#[tokio::test]
async fn sealed_instances_the_catalog_lost_are_adopted_not_rebuilt_and_other_code_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = run(workspace(dir.path(), TOML, "one.db").await).await;
    assert_eq!((first.succeeded, first.adopted), (3, 0));
    // A new, empty catalog on the same lake: as if every commit had been lost
    // after sealing. Nothing is executed again.
    let before = calls(dir.path());
    let ws = workspace(dir.path(), TOML, "two.db").await;
    let second = run(ws.clone()).await;
    assert_eq!((second.succeeded, second.adopted, second.failed), (3, 3, 0));
    assert_eq!(calls(dir.path()), before, "adoption runs no job");
    let key = ws.key(
        "a",
        1,
        weir_core::Granularity::Day.parse_partition("2026-01-02").expect("p"),
    );
    let inst = ws.catalog.instance(&key).await.expect("get").expect("adopted");
    let run_rec = ws
        .catalog
        .run(&inst.run_id)
        .await
        .expect("get")
        .expect("the adopting run is recorded");
    assert!(run_rec.log.contains("adopted"));
    // Different code numbered v1 by a third fresh catalog finds v1 sealed by other code.
    let changed = TOML.replace("command = [\"unused\"]", "command = [\"changed\"]");
    let third = run(workspace(dir.path(), &changed, "three.db").await).await;
    assert_eq!(third.failed, 3);
    assert!(
        third.failures[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("sealed by other code")),
        "{:?}",
        third.failures[0]
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("lake/a/v1/date=2026-01-01/out.txt")).expect("kept"),
        "date=2026-01-01"
    );
}

#[tokio::test]
async fn a_panicking_worker_fails_its_task_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = TOML.replace("PANIC_ON = \"PANIC\"", "PANIC_ON = \"date=2026-01-02\"");
    let ws = workspace(dir.path(), &toml, "c.db").await;
    let s = run(ws.clone()).await;
    assert_eq!((s.succeeded, s.failed), (2, 1));
    assert!(
        s.failures[0].error.as_deref().is_some_and(|e| e.contains("crashed")),
        "{:?}",
        s.failures
    );
    let failed = ws.catalog.failed("a", 1).await.expect("failed");
    assert_eq!(failed.len(), 1, "the crash is recorded as a failed run");
    assert!(
        ws.catalog
            .claimed("a", 1, Utc::now().timestamp_millis())
            .await
            .expect("claims")
            .is_empty(),
        "no claim leaks"
    );
    assert!(!dir.path().join("lake/a/v1/date=2026-01-02").exists());
}

/// Inputs the test executor saw that the catalog had not committed yet.
static UNCOMMITTED_INPUTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Like `TestExec`, and records every input instance it was handed that
/// has no committed row count (the test executor commits `rows = 1`).
struct InputCheckingExec;

#[async_trait]
impl Executor for InputCheckingExec {
    async fn execute(
        &self,
        ctx: &TaskContext,
        _cancel: tokio::sync::watch::Receiver<bool>,
    ) -> Result<ExecOutput, ExecError> {
        for input in &ctx.inputs {
            for i in input.instances.iter().filter(|i| i.rows != Some(1)) {
                if let Ok(mut u) = UNCOMMITTED_INPUTS.lock() {
                    u.push(format!(
                        "{} read {} {}",
                        ctx.dataset.name, input.dataset, i.partition_key
                    ));
                }
            }
        }
        write_partition(ctx)
    }
}

/// The run loop starts new jobs before it commits the batch that freed their
/// slots; what reads that batch must still wait for its commit.
#[tokio::test]
async fn a_job_never_reads_an_instance_before_its_commit() {
    let toml = r#"
[project]
name = "chain"
start = "2026-01-01"
[datasets.a]
partition = "day"
command = ["unused"]
[datasets.b]
partition = "day"
command = ["unused"]
inputs = { a = "a" }
[datasets.c]
partition = "day"
command = ["unused"]
inputs = { b = "b", w = { dataset = "a", window = "3d" } }
"#;
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = workspace(dir.path(), toml, "catalog.db").await;
    let now: DateTime<Utc> = "2026-01-21T00:00:00Z".parse().expect("now");
    let opts = RunOptions {
        selection: Selection::default(),
        parallel: 3,
        order: Order::OldestFirst,
        max_tasks: None,
        now,
        lease: Duration::from_secs(60),
        control: None,
    };
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let exec = |_: &weir_core::Job| -> Box<dyn Executor> { Box::new(InputCheckingExec) };
    let summary = weir_sched::run(ws, exec, opts, &Quiet, rx).await.expect("run");
    assert_eq!((summary.succeeded, summary.failed), (60, 0), "20 days of a, b and c");
    let seen = UNCOMMITTED_INPUTS.lock().map(|u| u.clone()).unwrap_or_default();
    assert!(seen.is_empty(), "inputs read before their commit: {seen:?}");
}
