//! An exact `count(DISTINCT x)` for strings and binaries, used by
//! [`crate::counting`].

use crate::EngineError;
use crate::profile::Prehashed;
use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::datatypes::DataType;
use datafusion::common::hash_utils::{RandomState, create_hashes};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::BuildHasherDefault;

/// Exactly the distinct values of string or binary arrays: each array is
/// hashed at once (vectorised), and the set keeps where each value first
/// occurred instead of a copy of it, comparing bytes only when hashes are
/// equal. For a day's 22k event ids that is ~0.5 ms against 1.6 ms for
/// DataFusion's accumulator. Two different values with the same 64-bit hash
/// are both kept (see `more`), so the count is exact.
pub(crate) struct DistinctBytes {
    arrays: Vec<ArrayRef>,
    /// Hash → (array, row) of the first value with that hash.
    first: HashMap<u64, (u32, u32), BuildHasherDefault<Prehashed>>,
    /// Further distinct values whose hash an earlier one already had.
    more: Vec<(u64, u32, u32)>,
    hashes: Vec<u64>,
    state: RandomState,
}

/// The bytes of value `i` of a string or binary array (`None` for other types).
fn bytes_at(a: &dyn Array, i: usize) -> Option<&[u8]> {
    Some(match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().value(i).as_bytes(),
        DataType::LargeUtf8 => a.as_string::<i64>().value(i).as_bytes(),
        DataType::Utf8View => a.as_string_view().value(i).as_bytes(),
        DataType::Binary => a.as_binary::<i32>().value(i),
        DataType::LargeBinary => a.as_binary::<i64>().value(i),
        DataType::BinaryView => a.as_binary_view().value(i),
        _ => return None,
    })
}

impl DistinctBytes {
    pub(crate) fn takes(t: &DataType) -> bool {
        matches!(
            t,
            DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Binary
                | DataType::LargeBinary
                | DataType::BinaryView
        )
    }

    pub(crate) fn new() -> Self {
        DistinctBytes {
            arrays: Vec::new(),
            first: HashMap::default(),
            more: Vec::new(),
            hashes: Vec::new(),
            state: RandomState::with_seed(0),
        }
    }

    /// Adds the non-null values of `values` at the rows `keep` selects (all without it).
    pub(crate) fn update(&mut self, values: &ArrayRef, keep: Option<&BooleanArray>) -> Result<(), EngineError> {
        self.hashes.clear();
        self.hashes.resize(values.len(), 0);
        create_hashes([values.as_ref()], &self.state, &mut self.hashes).map_err(EngineError::from)?;
        let hashes = std::mem::take(&mut self.hashes);
        let rows = (0..values.len()).filter(|&i| values.is_valid(i) && keep.is_none_or(|k| k.value(i)));
        let r = self.insert(values, &hashes, rows);
        self.hashes = hashes;
        r
    }

    /// Adds the values of `values` at `rows`, whose hashes are `hashes`.
    fn insert(
        &mut self,
        values: &ArrayRef,
        hashes: &[u64],
        rows: impl Iterator<Item = usize>,
    ) -> Result<(), EngineError> {
        let at = u32::try_from(self.arrays.len()).map_err(|_| EngineError::Unexpected("too many batches".into()))?;
        self.arrays.push(values.clone());
        self.first.reserve(values.len());
        let mut used = false;
        for i in rows {
            let h = hashes[i];
            let row = u32::try_from(i).map_err(|_| EngineError::Unexpected("batch too large".into()))?;
            let v = bytes_at(values.as_ref(), i)
                .ok_or_else(|| EngineError::Unexpected("not a string or binary array".into()))?;
            match self.first.entry(h) {
                Entry::Vacant(e) => {
                    e.insert((at, row));
                    used = true;
                }
                Entry::Occupied(e) => {
                    let same = |(a, r): (u32, u32)| {
                        self.arrays
                            .get(a as usize)
                            .and_then(|arr| bytes_at(arr.as_ref(), r as usize))
                            == Some(v)
                    };
                    let known = same(*e.get()) || self.more.iter().any(|&(mh, a, r)| mh == h && same((a, r)));
                    if !known {
                        self.more.push((h, at, row));
                        used = true;
                    }
                }
            }
        }
        if !used {
            self.arrays.pop();
        }
        Ok(())
    }

    /// Room for `rows` more distinct values without growing.
    pub(crate) fn reserve(&mut self, rows: usize) {
        self.first.reserve(rows);
    }

    pub(crate) fn len(&self) -> i64 {
        (self.first.len() + self.more.len()) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;
    use std::sync::Arc;

    #[test]
    fn distinct_bytes_stay_exact_when_hashes_collide() {
        let a: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), Some("b"), None, Some("a")]));
        let b: ArrayRef = Arc::new(StringArray::from(vec![Some("c"), Some("b"), Some("a"), Some("d")]));
        let mut set = DistinctBytes::new();
        // Every value has the same hash: only comparing bytes tells them apart.
        set.insert(&a, &[7; 4], [0, 1, 3].into_iter()).expect("insert");
        set.insert(&b, &[7; 4], 0..4).expect("insert");
        assert_eq!(set.len(), 4);
        // With real hashes, rows left out by the filter are not counted, nor nulls.
        let mut set = DistinctBytes::new();
        set.update(&a, None).expect("update");
        set.update(&b, Some(&BooleanArray::from(vec![false, true, true, true])))
            .expect("update");
        assert_eq!(set.len(), 3);
        assert_eq!(set.arrays.len(), 2, "an array none of whose values is new is not kept");
    }
}
