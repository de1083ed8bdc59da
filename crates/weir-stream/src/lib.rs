//! Nearline streams (issue 18). Events are acknowledged only once they are
//! durable in the write-ahead log ([`wal`]); sealing them into time
//! partitions is ordinary lake machinery, built on top.

pub mod events;
pub mod record;
pub mod seal;
pub mod sealed;
pub mod stream;
pub mod wal;

pub use events::{BodyError, Classifier, Rules, Verdict, split_body};
pub use record::{Counts, Record};

/// Where the write-ahead log of stream `name` lives in a project.
pub fn log_dir(project_dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    project_dir.join(".weir").join("streams").join(name)
}
pub use stream::{Ingested, Stream, StreamError, StreamStats, read_partition};
pub use wal::{Position, Wal, WalError, WalOptions};
