//! The run loop and the workspace it runs in: plan → claim → execute → seal →
//! commit, repeated until nothing is runnable. Also the read-only reports
//! (`plan`, `status`) built from the same snapshot.
//!
//! Never depends on DataFusion: executors arrive through [`exec_api`].

pub mod alert;
pub mod checks;
pub mod doctor;
pub mod env;
pub mod events;
pub mod exec_api;
pub mod landing;
pub mod livelog;
pub mod pools;
pub mod rebuild;
mod runloop;
pub mod sla;
mod status;
pub mod streams;
mod task;
pub use task::{build_uncommitted, context_for};
mod workspace;

pub use runloop::{ExecutorFor, Progress, RunControl, RunOptions, RunSummary, owner_address, run};
pub use status::{DatasetStatus, HeldInstance, pipeline_delay, status};
pub use task::{TaskReport, TaskState};
pub use workspace::{SchedError, Workspace};
