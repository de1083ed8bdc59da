//! The sealed-id filter: the ids of sealed partitions, remembered for the
//! stream's `dedup` horizon so that a copy arriving after its first was
//! sealed is still caught.
//!
//! **Memory.** An id costs 8 bytes: its 64-bit hash, in a sorted vector per
//! sealed partition (no per-entry overhead). Two different ids share a hash
//! with odds of about n / 2^64 (2·10^-11 for an hour at 100,000 events/s),
//! so in practice no event is ever mistaken for a copy. The filter holds at
//! most [`BUDGET`] ids (128 MiB). When the horizon would take more, the
//! oldest sealed partitions are forgotten early; `dropped_early` counts
//! them, so the shortened horizon shows in `/metrics`. An exact set of a
//! day at 100,000 events/s (8.6 billion ids) could not fit in any budget.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

/// The most ids the filter holds: 16 Mi ids, 128 MiB.
pub const BUDGET: usize = 16 << 20;

/// The 64-bit hash of an id (SipHash with fixed keys: the filter is rebuilt
/// on every start, so the hash only has to agree within one process).
pub fn id_hash(id: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

#[derive(Debug)]
pub struct SealedIds {
    horizon_ms: i64,
    budget: usize,
    /// Per sealed partition: its end (ms) and its ids' hashes, sorted.
    parts: BTreeMap<i64, (i64, Vec<u64>)>,
    held: usize,
    dropped_early: u64,
}

impl SealedIds {
    pub fn new(horizon_ms: i64, budget: usize) -> SealedIds {
        SealedIds {
            horizon_ms,
            budget,
            parts: BTreeMap::new(),
            held: 0,
            dropped_early: 0,
        }
    }

    /// Remembers the ids of sealed partition `p`, which ended at `end_ms`.
    pub fn add<'a>(&mut self, p: i64, end_ms: i64, ids: impl IntoIterator<Item = &'a str>) {
        self.add_hashes(p, end_ms, ids.into_iter().map(id_hash));
    }

    /// The same, with the ids' hashes ([`id_hash`]).
    pub fn add_hashes(&mut self, p: i64, end_ms: i64, hashes: impl IntoIterator<Item = u64>) {
        let mut hashes: Vec<u64> = hashes.into_iter().collect();
        hashes.sort_unstable();
        hashes.dedup();
        let entry = self.parts.entry(p).or_insert((end_ms, Vec::new()));
        self.held -= entry.1.len();
        entry.1.extend(hashes);
        entry.1.sort_unstable();
        entry.1.dedup();
        self.held += entry.1.len();
    }

    pub fn contains(&self, id: &str) -> bool {
        self.contains_hash(id_hash(id))
    }

    /// Whether an id of this hash ([`id_hash`]) is remembered.
    pub fn contains_hash(&self, h: u64) -> bool {
        self.parts.values().any(|(_, v)| v.binary_search(&h).is_ok())
    }

    /// Forgets partitions that ended before the horizon, then the oldest
    /// ones while the filter holds more than its budget.
    pub fn expire(&mut self, now_ms: i64) {
        let cutoff = now_ms.saturating_sub(self.horizon_ms);
        while let Some((&p, &(end, _))) = self.parts.first_key_value() {
            let over = self.held > self.budget;
            if end >= cutoff && !over {
                break;
            }
            if let Some((_, v)) = self.parts.remove(&p) {
                self.held -= v.len();
                if end >= cutoff {
                    self.dropped_early += 1;
                }
            }
        }
    }

    /// How many ids the filter holds (8 bytes each).
    pub fn held(&self) -> usize {
        self.held
    }

    /// How many sealed partitions were forgotten before their horizon, to
    /// keep the budget.
    pub fn dropped_early(&self) -> u64 {
        self.dropped_early
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_ids_answer_for_the_horizon_within_the_budget() {
        let mut s = SealedIds::new(1000, 5);
        s.add(1, 100, ["a", "b"]);
        s.add(2, 200, ["c", "c", "d"]);
        assert!(s.contains("a") && s.contains("c") && s.contains("d"));
        assert!(!s.contains("e"));
        assert_eq!(s.held(), 4);
        // Past the horizon: partition 1 (ended at 100) goes at 1101.
        s.expire(1101);
        assert!(!s.contains("a") && s.contains("c"));
        assert_eq!(s.dropped_early(), 0);
        // Over the budget: the oldest goes early, and is counted.
        s.add(3, 300, ["e", "f", "g", "h"]);
        s.expire(1101);
        assert!(!s.contains("c") && s.contains("h"));
        assert_eq!((s.held(), s.dropped_early()), (4, 1));
    }
}
