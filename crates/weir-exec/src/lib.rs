//! Executors: turn one planned task into files in a staging directory, plus
//! counters. `sql` runs DataFusion, `command` runs any program under the
//! `WEIR_*` environment contract, `ingest` seals landed files unchanged.
//!
//! The [`Executor`] contract: an executor writes only inside
//! `TaskContext::output_dir`; it never touches the catalog or sealed data; on
//! error or cancellation whatever it wrote is discarded by the caller; and it
//! is deterministic given the same inputs and code.

mod command;
mod counting;
pub mod diff;
mod distinct;
pub mod engine;
pub mod export;
mod ingest;
pub mod jsonl;
pub mod profile;
pub mod query;
pub mod secret;
mod sql;
mod stream;
mod write;

pub use command::CommandExecutor;
pub use ingest::IngestExecutor;
pub use sql::{BareSqlExecutor, SqlExecutor};
pub use stream::StreamExecutor;
pub use weir_sched::exec_api::*;

/// What the engine underneath a job failed with (DataFusion, arrow, Parquet,
/// I/O), typed until it becomes the job's [`ExecError`].
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A check or counter names a column the output does not have (the user's).
    #[error("the output has no column `{column}` (columns: {columns})")]
    NoColumn { column: String, columns: String },
    /// A value the engine returned that weir cannot use.
    #[error("{0}")]
    Unexpected(String),
}

impl From<EngineError> for ExecError {
    fn from(e: EngineError) -> Self {
        ExecError::job(e.to_string())
    }
}

use weir_core::model::Job;

/// The executor for a dataset's job.
pub fn executor_for(job: &Job) -> Box<dyn Executor> {
    match job {
        Job::Sql { .. } => Box::new(SqlExecutor),
        Job::Command { .. } => Box::new(CommandExecutor),
        Job::Ingest { .. } => Box::new(IngestExecutor),
        Job::Stream(_) => Box::new(StreamExecutor),
        // Never planned: exports are synced when aliases move.
        Job::Export { .. } => Box::new(IngestExecutor),
    }
}
