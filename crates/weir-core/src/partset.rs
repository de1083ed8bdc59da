//! A set of partition indices, kept as a bitset over a window of indices.
//!
//! Completeness of one (dataset, version) is one `PartSet`: ten years of hourly
//! partitions take 11 KB, and range queries scan words, not structs.

/// A set of `i64` partition indices. The bitset grows to cover what is inserted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartSet {
    base: i64,
    words: Vec<u64>,
    len: usize,
}

impl PartSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// A set pre-sized for indices in `[lo, hi)`.
    pub fn with_range(lo: i64, hi: i64) -> Self {
        let n = usize::try_from(hi.saturating_sub(lo)).unwrap_or(0);
        Self {
            base: lo,
            words: vec![0; n.div_ceil(64)],
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn slot(&self, idx: i64) -> Option<(usize, u64)> {
        let off = usize::try_from(idx.checked_sub(self.base)?).ok()?;
        let w = off / 64;
        (w < self.words.len()).then_some((w, 1u64 << (off % 64)))
    }

    pub fn contains(&self, idx: i64) -> bool {
        self.slot(idx).is_some_and(|(w, bit)| self.words[w] & bit != 0)
    }

    fn grow_to_cover(&mut self, idx: i64) {
        if self.words.is_empty() {
            self.base = idx - idx.rem_euclid(64);
            self.words.push(0);
            return;
        }
        if idx < self.base {
            let new_base = idx - idx.rem_euclid(64);
            let extra = usize::try_from((self.base - new_base) / 64).unwrap_or(0);
            let mut words = vec![0; extra];
            words.extend_from_slice(&self.words);
            self.words = words;
            self.base = new_base;
        }
        let off = usize::try_from(idx - self.base).unwrap_or(0);
        if off / 64 >= self.words.len() {
            self.words.resize(off / 64 + 1, 0);
        }
    }

    /// Inserts `idx`; returns whether it was new.
    pub fn insert(&mut self, idx: i64) -> bool {
        if self.slot(idx).is_none() {
            self.grow_to_cover(idx);
        }
        match self.slot(idx) {
            Some((w, bit)) if self.words[w] & bit == 0 => {
                self.words[w] |= bit;
                self.len += 1;
                true
            }
            _ => false,
        }
    }

    pub fn remove(&mut self, idx: i64) -> bool {
        match self.slot(idx) {
            Some((w, bit)) if self.words[w] & bit != 0 => {
                self.words[w] &= !bit;
                self.len -= 1;
                true
            }
            _ => false,
        }
    }

    /// Whether every index in `[lo, hi)` is present. An empty range is covered.
    pub fn covers(&self, lo: i64, hi: i64) -> bool {
        self.first_missing(lo, hi).is_none()
    }

    /// The first index in `[lo, hi)` that is absent.
    pub fn first_missing(&self, lo: i64, hi: i64) -> Option<i64> {
        let mut i = lo;
        while i < hi {
            let Some((w, _)) = self.slot(i) else {
                return Some(i);
            };
            let off = (i - self.base) as u64 % 64;
            let word = self.words[w] >> off;
            let inverted = !word;
            let run = if inverted == 0 {
                64 - off
            } else {
                u64::from(inverted.trailing_zeros()).min(64 - off)
            };
            if run < 64 - off {
                let miss = i + run as i64;
                return (miss < hi).then_some(miss);
            }
            i += run as i64;
        }
        None
    }

    /// Number of present indices in `[lo, hi)`.
    pub fn count_in(&self, lo: i64, hi: i64) -> usize {
        (lo..hi).filter(|&i| self.contains(i)).count()
    }

    /// The largest present index below `hi`, if any at or above `lo`.
    pub fn last_in(&self, lo: i64, hi: i64) -> Option<i64> {
        (lo..hi).rev().find(|&i| self.contains(i))
    }

    /// All present indices in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        self.words.iter().enumerate().flat_map(move |(w, &word)| {
            (0..64)
                .filter(move |b| word & (1u64 << b) != 0)
                .map(move |b| self.base + (w * 64 + b) as i64)
        })
    }
}

impl FromIterator<i64> for PartSet {
    fn from_iter<T: IntoIterator<Item = i64>>(iter: T) -> Self {
        let mut s = PartSet::new();
        for i in iter {
            s.insert(i);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        #[test]
        fn behaves_like_a_btreeset(ops in prop::collection::vec((any::<bool>(), -300i64..300), 0..200),
                                   lo in -320i64..320, width in 0i64..200) {
            let mut s = PartSet::new();
            let mut model = BTreeSet::new();
            for (ins, i) in ops {
                if ins { prop_assert_eq!(s.insert(i), model.insert(i)); }
                else { prop_assert_eq!(s.remove(i), model.remove(&i)); }
            }
            prop_assert_eq!(s.len(), model.len());
            let hi = lo + width;
            let expect_missing = (lo..hi).find(|i| !model.contains(i));
            prop_assert_eq!(s.first_missing(lo, hi), expect_missing);
            prop_assert_eq!(s.covers(lo, hi), expect_missing.is_none());
            prop_assert_eq!(s.count_in(lo, hi), model.range(lo..hi.max(lo)).count());
            prop_assert_eq!(s.iter().collect::<Vec<_>>(), model.iter().copied().collect::<Vec<_>>());
        }
    }
}
