//! What the run loop needs from the process that runs streams (`weir
//! serve`): which partitions are closed, so sealing them is a task like any
//! other, and telling it which are sealed. A process without it (`weir
//! run`) never seals a stream: its partitions wait as unsealed.

use async_trait::async_trait;
use weir_core::partset::PartSet;

#[async_trait]
pub trait StreamHook: Send + Sync {
    /// Closes what the watermark of stream `stream` has passed, durably:
    /// its partitions before the answer may be sealed. `None` when this
    /// process does not run the stream.
    async fn closed_before(&self, stream: &str) -> Option<i64>;

    /// The stream's sealed partitions: committed for it and for its
    /// quarantine dataset. Their ids go to the sealed-id filter, and the log
    /// space they took can be released.
    async fn sealed(&self, stream: &str, sealed: &PartSet);
}
