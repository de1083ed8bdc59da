//! `[pools]` slots in use, shared by every run loop of one process: `weir
//! serve` runs a loop per environment, and `pool = "heavy"` with `heavy = 1`
//! means one task at a time across all of them. A slot is held by a
//! [`PoolPermit`] from dispatch until the run is committed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The slots of each pool in use.
#[derive(Clone, Debug, Default)]
pub struct PoolSlots(Arc<Mutex<HashMap<String, usize>>>);

impl PoolSlots {
    /// A slot of `pool`, if fewer than `limit` are taken.
    pub fn take(&self, pool: &str, limit: usize) -> Option<PoolPermit> {
        let mut used = self.0.lock().ok()?;
        let n = used.entry(pool.to_string()).or_default();
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(PoolPermit {
            slots: self.clone(),
            pool: pool.to_string(),
        })
    }

    /// How many slots of `pool` are taken.
    pub fn used(&self, pool: &str) -> usize {
        self.0.lock().map(|u| u.get(pool).copied().unwrap_or(0)).unwrap_or(0)
    }
}

/// One slot of a pool, given back when dropped.
#[derive(Debug)]
pub struct PoolPermit {
    slots: PoolSlots,
    pool: String,
}

impl Drop for PoolPermit {
    fn drop(&mut self) {
        if let Ok(mut used) = self.slots.0.lock()
            && let Some(n) = used.get_mut(&self.pool)
        {
            *n = n.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_gives_at_most_its_limit_and_takes_slots_back() {
        let slots = PoolSlots::default();
        let other_loop = slots.clone();
        let a = slots.take("heavy", 2).expect("first");
        let b = other_loop.take("heavy", 2).expect("second, from another loop");
        assert!(slots.take("heavy", 2).is_none(), "the limit counts every loop");
        assert!(slots.take("light", 1).is_some(), "pools are counted apart");
        drop(a);
        assert_eq!(slots.used("heavy"), 1);
        let c = slots.take("heavy", 2).expect("a slot came back");
        drop((b, c));
        assert_eq!(slots.used("heavy"), 0);
    }
}
