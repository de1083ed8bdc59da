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
pub use record::Record;
pub use stream::{Ingested, Stream, StreamError, StreamStats, read_partition};
pub use wal::{Position, Wal, WalError, WalOptions};
