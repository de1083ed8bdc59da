//! The profile of an output, taken while it is written: row count and, per
//! column, nulls, min, max and an approximate distinct count. It rides on the
//! batches the writer already holds, so it costs no second read: DataFusion's
//! min/max accumulators, and its `approx_distinct` (HyperLogLog) accumulator,
//! fed the column itself where it takes that type and vectorised 64-bit
//! hashes of the column where it does not (floats, for one).

use crate::EngineError;
use arrow::array::{Array, ArrayRef, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::common::hash_utils::{RandomState, create_hashes};
use datafusion::functions_aggregate::approx_distinct::ApproxDistinct;
use datafusion::functions_aggregate::min_max::{MaxAccumulator, MinAccumulator};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column as ColumnExpr;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::file::metadata::{ParquetMetaData, RowGroupMetaData};
use parquet::schema::types::SchemaDescriptor;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

struct Column {
    name: String,
    nulls: i64,
    min: Option<MinAccumulator>,
    max: Option<MaxAccumulator>,
    distinct: Option<Box<dyn Accumulator>>,
    /// The distinct accumulator takes the column's hashes, not its values.
    hashed: bool,
    /// Min and max as text, when they come from the Parquet file's statistics
    /// instead of the accumulators (or the accumulators were settled).
    bounds: Option<(Option<String>, Option<String>)>,
    /// The distinct estimate, once settled.
    distinct_count: Option<u64>,
}

/// An `approx_distinct` accumulator over values of `data_type`.
fn distinct_accumulator(data_type: &DataType) -> Option<Box<dyn Accumulator>> {
    one_column_accumulator(&ApproxDistinct::new(), data_type, DataType::UInt64, false)
}

/// DataFusion's `udaf` accumulator over one column of `data_type` (as
/// `udaf(DISTINCT v)` when `distinct`), fed that column's arrays.
pub(crate) fn one_column_accumulator(
    udaf: &dyn AggregateUDFImpl,
    data_type: &DataType,
    returns: DataType,
    distinct: bool,
) -> Option<Box<dyn Accumulator>> {
    use arrow::datatypes::Field;
    let field = Arc::new(Field::new("v", data_type.clone(), true));
    let schema = Schema::new(vec![field.as_ref().clone()]);
    let exprs: Vec<Arc<dyn PhysicalExpr>> = vec![Arc::new(ColumnExpr::new("v", 0))];
    let args = AccumulatorArgs {
        return_field: Arc::new(Field::new(udaf.name(), returns, false)),
        schema: &schema,
        ignore_nulls: false,
        order_bys: &[],
        is_reversed: false,
        name: udaf.name(),
        is_distinct: distinct,
        exprs: &exprs,
        expr_fields: std::slice::from_ref(&field),
    };
    udaf.accumulator(args).ok()
}

/// Hashes a `u64` that is already a hash: to itself.
#[derive(Default)]
pub(crate) struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type HashSet64 = HashSet<u64, BuildHasherDefault<Prehashed>>;

/// Sets of key hashes are sized up front for at most this many rows (about
/// 1 MiB): enough for a day of the demo's plays without a rehash, and not a
/// large allocation when a big input yields a small output.
pub(crate) const PRESIZE_ROWS: usize = 1 << 16;

/// A `unique(cols)` data check, decided on the way: if every key's hash is
/// new, no two rows share a key. A repeated hash may be a collision, so then
/// (only then) the exact query decides.
struct Unique {
    name: String,
    /// The key's columns, or why the key cannot be checked (kept as the verdict's text).
    cols: Result<Vec<usize>, String>,
    seen: HashSet64,
    repeated: bool,
}

/// Accumulates a profile batch by batch.
pub struct Profiler {
    rows: i64,
    /// (index in the schema, its accumulators); nested and binary columns are skipped.
    columns: Vec<(usize, Column)>,
    uniques: Vec<Unique>,
    hashes: Vec<u64>,
    state: RandomState,
}

/// What the profiler knows about a `unique` check.
#[derive(Debug, PartialEq, Eq)]
pub enum UniqueVerdict {
    /// No key repeats.
    Unique,
    /// A key hash repeated: ask the exact query.
    Unsure,
    /// The check names columns the output does not have.
    Invalid(String),
}

fn profiled(t: &DataType) -> bool {
    !matches!(
        t,
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(_, _)
            | DataType::Struct(_)
            | DataType::Map(_, _)
            | DataType::Union(_, _)
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_)
    )
}

fn missing_column(schema: &SchemaRef, col: &str) -> String {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    format!("the output has no column `{col}` (columns: {})", names.join(", "))
}

fn text(v: &ScalarValue) -> Option<String> {
    if v.is_null() {
        return None;
    }
    let arr = v.to_array().ok()?;
    arrow::util::display::ArrayFormatter::try_new(arr.as_ref(), &Default::default())
        .ok()
        .map(|f| f.value(0).to_string())
}

/// A column's min and max over the row groups' statistics, or `None` when
/// some row group holding values has no exact statistics for it.
fn column_bounds(
    name: &str,
    schema: &Schema,
    descr: &SchemaDescriptor,
    groups: &[RowGroupMetaData],
) -> Option<(Option<String>, Option<String>)> {
    let conv = StatisticsConverter::try_new(name, schema, descr).ok()?;
    let mins = conv.row_group_mins(groups).ok()?;
    let maxes = conv.row_group_maxes(groups).ok()?;
    let min_exact = conv.row_group_is_min_value_exact(groups).ok()?;
    let max_exact = conv.row_group_is_max_value_exact(groups).ok()?;
    let nulls = conv.row_group_null_counts(groups).ok()?;
    let exact = |a: &arrow::array::BooleanArray, i: usize| a.is_valid(i) && a.value(i);
    for (i, g) in groups.iter().enumerate() {
        let all_null = nulls.is_valid(i) && nulls.value(i) == u64::try_from(g.num_rows()).ok()?;
        let known = mins.is_valid(i) && maxes.is_valid(i) && exact(&min_exact, i) && exact(&max_exact, i);
        if !all_null && !known {
            return None;
        }
    }
    let data_type = mins.data_type();
    let mut min = MinAccumulator::try_new(data_type).ok()?;
    let mut max = MaxAccumulator::try_new(data_type).ok()?;
    min.update_batch(&[mins]).ok()?;
    max.update_batch(&[maxes]).ok()?;
    Some((
        min.evaluate().ok().and_then(|v| text(&v)),
        max.evaluate().ok().and_then(|v| text(&v)),
    ))
}

impl Profiler {
    /// A profiler for `schema` that also watches the `unique` checks `(name, columns)`.
    pub fn new(schema: &SchemaRef, uniques: &[(String, Vec<String>)]) -> Self {
        let uniques = uniques
            .iter()
            .map(|(name, cols)| Unique {
                name: name.clone(),
                cols: cols
                    .iter()
                    .map(|c| schema.index_of(c).map_err(|_| missing_column(schema, c)))
                    .collect(),
                seen: HashSet64::default(),
                repeated: false,
            })
            .collect();
        let columns = schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| profiled(f.data_type()))
            .map(|(i, f)| {
                let native = distinct_accumulator(f.data_type());
                let hashed = native.is_none();
                (
                    i,
                    Column {
                        name: f.name().clone(),
                        nulls: 0,
                        min: MinAccumulator::try_new(f.data_type()).ok(),
                        max: MaxAccumulator::try_new(f.data_type()).ok(),
                        distinct: native.or_else(|| distinct_accumulator(&DataType::UInt64)),
                        hashed,
                        bounds: None,
                        distinct_count: None,
                    },
                )
            })
            .collect();
        Profiler {
            rows: 0,
            columns,
            uniques,
            hashes: Vec::new(),
            state: RandomState::with_seed(0),
        }
    }

    /// Sizes the `unique` checks' sets for about `rows` rows up front (at
    /// most [`PRESIZE_ROWS`]), so they are not rehashed as they grow.
    pub fn expecting(mut self, rows: usize) -> Self {
        for u in &mut self.uniques {
            u.seen.reserve(rows.min(PRESIZE_ROWS));
        }
        self
    }

    /// Leaves min and max to [`Profiler::bounds_from_parquet`]: the Parquet
    /// writer computes them for its statistics anyway, so the profile need
    /// not compare every value a second time.
    pub fn without_bounds(mut self) -> Self {
        for (_, c) in &mut self.columns {
            c.min = None;
            c.max = None;
            c.bounds = Some((None, None));
        }
        self
    }

    /// Min and max of each column from the row-group statistics of the
    /// Parquet file just written (with untruncated statistics, so exact). A
    /// row group without exact statistics for a column that holds values
    /// leaves that column's min and max unknown rather than wrong.
    pub fn bounds_from_parquet(&mut self, meta: &ParquetMetaData, schema: &Schema) {
        let descr = meta.file_metadata().schema_descr();
        let groups = meta.row_groups();
        for (_, c) in &mut self.columns {
            let Some(bounds) = &mut c.bounds else { continue };
            *bounds = column_bounds(&c.name, schema, descr, groups).unwrap_or((None, None));
        }
    }

    pub fn update(&mut self, batch: &RecordBatch) -> Result<(), EngineError> {
        self.rows += batch.num_rows() as i64;
        for u in &mut self.uniques {
            let Ok(cols) = &u.cols else { continue };
            if u.repeated {
                continue;
            }
            self.hashes.clear();
            self.hashes.resize(batch.num_rows(), 0);
            create_hashes(
                cols.iter().map(|i| batch.column(*i).as_ref()),
                &self.state,
                &mut self.hashes,
            )
            .map_err(EngineError::from)?;
            u.seen.reserve(self.hashes.len());
            u.repeated = !self.hashes.iter().all(|h| u.seen.insert(*h));
            if u.repeated {
                u.seen = HashSet64::default();
            }
        }
        for (i, c) in &mut self.columns {
            let arr: &ArrayRef = batch.column(*i);
            c.nulls += arr.logical_null_count() as i64;
            let values = std::slice::from_ref(arr);
            if let Some(m) = &mut c.min
                && m.update_batch(values).is_err()
            {
                c.min = None;
            }
            if let Some(m) = &mut c.max
                && m.update_batch(values).is_err()
            {
                c.max = None;
            }
            if let Some(d) = &mut c.distinct
                && !c.hashed
            {
                d.update_batch(values).map_err(EngineError::from)?;
            } else if let Some(d) = &mut c.distinct {
                self.hashes.clear();
                self.hashes.resize(arr.len(), 0);
                create_hashes([arr.as_ref()], &self.state, &mut self.hashes).map_err(EngineError::from)?;
                let hashes: ArrayRef = Arc::new(UInt64Array::new(
                    std::mem::take(&mut self.hashes).into(),
                    arr.logical_nulls(),
                ));
                d.update_batch(&[hashes]).map_err(EngineError::from)?;
            }
        }
        Ok(())
    }

    /// Turns the accumulators into their results and lets go of them and of
    /// the key hashes. Called on the profiler's thread after the last batch,
    /// so this work is done while the writer closes its file rather than
    /// after; no batch may follow. [`Profiler::finish`] settles what is not
    /// settled yet.
    pub fn settle(&mut self) {
        for (_, c) in &mut self.columns {
            if let Some(mut d) = c.distinct.take() {
                c.distinct_count = match d.evaluate() {
                    Ok(ScalarValue::UInt64(Some(n))) => Some(n),
                    _ => Some(0),
                };
            }
            if c.bounds.is_none() {
                let min = c.min.take().and_then(|mut m| m.evaluate().ok()).and_then(|v| text(&v));
                let max = c.max.take().and_then(|mut m| m.evaluate().ok()).and_then(|v| text(&v));
                c.bounds = Some((min, max));
            }
        }
        for u in &mut self.uniques {
            u.seen = HashSet64::default();
        }
    }

    pub fn unique(&self, name: &str) -> UniqueVerdict {
        match self.uniques.iter().find(|u| u.name == name) {
            None => UniqueVerdict::Unsure,
            Some(u) => match &u.cols {
                Err(e) => UniqueVerdict::Invalid(e.clone()),
                Ok(_) if u.repeated => UniqueVerdict::Unsure,
                Ok(_) => UniqueVerdict::Unique,
            },
        }
    }

    /// Null values in `col` so far (exact), or why not known.
    pub fn nulls(&self, col: &str) -> Result<i64, EngineError> {
        self.columns
            .iter()
            .find(|(_, c)| c.name == col)
            .map(|(_, c)| c.nulls)
            .ok_or_else(|| {
                let names: Vec<&str> = self.columns.iter().map(|(_, c)| c.name.as_str()).collect();
                EngineError::NoColumn {
                    column: col.to_string(),
                    columns: names.join(", "),
                }
            })
    }

    /// `{"rows": n, "columns": {col: {"null_fraction", "min", "max", "distinct"}}}`.
    pub fn finish(mut self) -> serde_json::Value {
        self.settle();
        let rows = self.rows;
        let mut columns = serde_json::Map::new();
        for (_, c) in &mut self.columns {
            let (min, max) = c.bounds.take().unwrap_or_default();
            let null_fraction = if rows == 0 { 0.0 } else { c.nulls as f64 / rows as f64 };
            let distinct = c.distinct_count.unwrap_or(0);
            columns.insert(
                c.name.clone(),
                serde_json::json!({ "null_fraction": null_fraction, "min": min, "max": max, "distinct": distinct }),
            );
        }
        serde_json::json!({ "rows": rows, "columns": columns })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    #[test]
    fn profiles_accumulate_over_batches() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("score", DataType::Float64, true),
        ]));
        let batch = |ids: Vec<i64>, names: Vec<Option<&str>>, scores: Vec<Option<f64>>| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(ids)),
                    Arc::new(StringArray::from(names)),
                    Arc::new(Float64Array::from(scores)),
                ],
            )
            .expect("batch")
        };
        let uniques = [
            ("id".to_string(), vec!["id".to_string()]),
            ("name".to_string(), vec!["name".to_string()]),
            ("both".to_string(), vec!["name".to_string(), "score".to_string()]),
            ("bad".to_string(), vec!["nope".to_string()]),
        ];
        let mut p = Profiler::new(&schema, &uniques);
        p.update(&batch(vec![3, 1], vec![Some("b"), None], vec![Some(0.5), Some(0.5)]))
            .expect("update");
        p.update(&batch(vec![2, 9], vec![Some("a"), Some("b")], vec![None, Some(-1.0)]))
            .expect("update");
        assert_eq!(p.unique("id"), UniqueVerdict::Unique);
        assert_eq!(p.unique("name"), UniqueVerdict::Unsure, "`b` repeats across batches");
        assert_eq!(p.unique("both"), UniqueVerdict::Unique);
        assert!(matches!(p.unique("bad"), UniqueVerdict::Invalid(e) if e.contains("no column `nope`")));
        assert_eq!(p.nulls("name").ok(), Some(1));
        assert!(p.nulls("nope").is_err());
        let v = p.finish();
        assert_eq!(v["rows"], 4);
        let c = &v["columns"];
        assert_eq!(
            (c["id"]["min"].as_str(), c["id"]["max"].as_str()),
            (Some("1"), Some("9"))
        );
        assert_eq!(c["id"]["distinct"], 4);
        assert_eq!(c["name"]["null_fraction"], 0.25);
        assert_eq!(
            (c["name"]["min"].as_str(), c["name"]["max"].as_str()),
            (Some("a"), Some("b"))
        );
        assert_eq!(c["name"]["distinct"], 2, "nulls are not a value");
        assert_eq!(c["score"]["distinct"], 2);
        assert_eq!(c["score"]["min"].as_str(), Some("-1.0"));
        // Settled on the profiler's thread, it is the same profile, and the
        // verdicts it had stay.
        let mut settled = Profiler::new(&schema, &uniques);
        settled
            .update(&batch(vec![3, 1], vec![Some("b"), None], vec![Some(0.5), Some(0.5)]))
            .expect("update");
        settled
            .update(&batch(vec![2, 9], vec![Some("a"), Some("b")], vec![None, Some(-1.0)]))
            .expect("update");
        settled.settle();
        assert_eq!(settled.unique("id"), UniqueVerdict::Unique);
        assert_eq!(settled.unique("name"), UniqueVerdict::Unsure);
        assert_eq!(settled.nulls("name").ok(), Some(1));
        assert_eq!(settled.finish(), v);
    }
}
