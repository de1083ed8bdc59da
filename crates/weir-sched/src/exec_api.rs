//! The executor contract, shared by the run loop (which calls executors) and
//! `weir-exec` (which implements them), so the scheduler builds without DataFusion.
//!
//! An executor writes only inside `TaskContext::output_dir`; it never touches
//! the catalog or sealed data; on error or cancellation whatever it wrote is
//! discarded by the caller; and it is deterministic given the same inputs and code.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;
use weir_core::model::{Dataset, Format};

pub use crate::livelog::LiveLog;

/// One input instance a task reads.
#[derive(Clone, Debug)]
pub struct InputInstance {
    /// A directory on this machine, or a prefix on object storage.
    pub location: weir_lake::Location,
    pub partition_key: String,
    pub rows: Option<i64>,
}

/// One input of a task: its table name, format and instances (in partition order).
#[derive(Clone, Debug)]
pub struct ResolvedInput {
    pub table: String,
    pub dataset: String,
    pub format: Format,
    /// Declared schema, for jsonl ingests.
    pub schema: Option<Vec<(String, weir_core::model::ColumnType)>>,
    pub instances: Vec<InputInstance>,
}

/// Everything an executor needs to build one instance.
#[derive(Clone, Debug)]
pub struct TaskContext {
    pub dataset: Dataset,
    pub version: u32,
    pub run_id: String,
    pub partition: i64,
    pub partition_key: String,
    pub partition_start: DateTime<Utc>,
    pub partition_end: DateTime<Utc>,
    pub inputs: Vec<ResolvedInput>,
    /// An empty directory; everything written here becomes the instance.
    pub output_dir: PathBuf,
    /// For a command job on a lake on object storage: where it may write
    /// output objects itself (`WEIR_OUTPUT_URL`), sealed with `output_dir`'s.
    pub output_url: Option<String>,
    pub project_dir: PathBuf,
    pub timeout: Option<Duration>,
    /// Ingest: seal an empty instance (the files never landed, `missing = "empty"`).
    pub seal_empty: bool,
    /// Where the job's output goes as it is written, for followers.
    pub log: LiveLog,
}

/// What a successful execution reports.
#[derive(Clone, Debug, Default)]
pub struct ExecOutput {
    pub rows: Option<i64>,
    pub schema: Option<String>,
    pub counters: BTreeMap<String, i64>,
    pub log: String,
    /// A cheap profile of tabular output: per column nulls, min, max, distinct.
    pub profile: Option<serde_json::Value>,
    /// Metrics datasets: the numeric columns of the output's first row.
    pub metrics: BTreeMap<String, f64>,
    /// Data checks (by check name): the first value their query returned, as
    /// text (`None` for null or no row), or why the query failed.
    pub check_values: BTreeMap<String, Result<Option<String>, String>>,
}

/// Why an execution did not produce an instance.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The job itself failed: bad SQL at run time, a non-zero exit, bad output.
    #[error("{message}")]
    Job { message: String, log: String },
    /// Ingest: the landing files are not there yet. Not a failure.
    #[error("waiting for landing files matching {pattern}")]
    NotLanded { pattern: String },
    #[error("timed out after {0:?}")]
    Timeout(Duration, String),
    #[error("cancelled")]
    Cancelled(String),
    /// The environment failed (disk, permissions).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl ExecError {
    pub fn job(message: impl Into<String>) -> Self {
        ExecError::Job {
            message: message.into(),
            log: String::new(),
        }
    }

    /// The captured log, if the job produced one.
    pub fn log(&self) -> &str {
        match self {
            ExecError::Job { log, .. } | ExecError::Timeout(_, log) | ExecError::Cancelled(log) => log,
            _ => "",
        }
    }
}

/// Builds one instance of a dataset.
#[async_trait]
pub trait Executor: Send + Sync {
    /// Runs the task. `cancel` turns true when the run must stop now.
    async fn execute(&self, ctx: &TaskContext, cancel: watch::Receiver<bool>) -> Result<ExecOutput, ExecError>;
}

/// Keeps the last `max` bytes of a log, on a char boundary.
pub fn log_tail(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = s.len() - max;
        while !s.is_char_boundary(cut) {
            cut += 1;
        }
        s = format!("[… {cut} bytes cut …]\n{}", &s[cut..]);
    }
    s
}
