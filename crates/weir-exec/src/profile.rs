//! The profile of an output, taken while it is written: row count and, per
//! column, nulls, min, max and an approximate distinct count. It rides on the
//! batches the writer already holds, so it costs no second read: DataFusion's
//! min/max accumulators, and its `approx_distinct` (HyperLogLog) accumulator
//! fed with vectorised 64-bit hashes of each column, so every type is counted
//! the same way.

use arrow::array::{Array, ArrayRef, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::common::hash_utils::{RandomState, create_hashes};
use datafusion::functions_aggregate::approx_distinct::ApproxDistinct;
use datafusion::functions_aggregate::min_max::{MaxAccumulator, MinAccumulator};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column as ColumnExpr;
use std::sync::Arc;

struct Column {
    name: String,
    nulls: i64,
    min: Option<MinAccumulator>,
    max: Option<MaxAccumulator>,
    distinct: Option<Box<dyn Accumulator>>,
}

/// An `approx_distinct` accumulator over `UInt64` (the column hashes).
fn distinct_accumulator() -> Option<Box<dyn Accumulator>> {
    use arrow::datatypes::{Field, Schema};
    let field = Arc::new(Field::new("h", DataType::UInt64, true));
    let schema = Schema::new(vec![field.as_ref().clone()]);
    let exprs: Vec<Arc<dyn PhysicalExpr>> = vec![Arc::new(ColumnExpr::new("h", 0))];
    let args = AccumulatorArgs {
        return_field: Arc::new(Field::new("d", DataType::UInt64, false)),
        schema: &schema,
        ignore_nulls: false,
        order_bys: &[],
        is_reversed: false,
        name: "approx_distinct",
        is_distinct: false,
        exprs: &exprs,
        expr_fields: std::slice::from_ref(&field),
    };
    ApproxDistinct::new().accumulator(args).ok()
}

/// Accumulates a profile batch by batch.
pub struct Profiler {
    rows: i64,
    /// (index in the schema, its accumulators); nested and binary columns are skipped.
    columns: Vec<(usize, Column)>,
    hashes: Vec<u64>,
    state: RandomState,
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

fn text(v: &ScalarValue) -> Option<String> {
    if v.is_null() {
        return None;
    }
    let arr = v.to_array().ok()?;
    arrow::util::display::ArrayFormatter::try_new(arr.as_ref(), &Default::default())
        .ok()
        .map(|f| f.value(0).to_string())
}

impl Profiler {
    pub fn new(schema: &SchemaRef) -> Self {
        let columns = schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| profiled(f.data_type()))
            .map(|(i, f)| {
                (
                    i,
                    Column {
                        name: f.name().clone(),
                        nulls: 0,
                        min: MinAccumulator::try_new(f.data_type()).ok(),
                        max: MaxAccumulator::try_new(f.data_type()).ok(),
                        distinct: distinct_accumulator(),
                    },
                )
            })
            .collect();
        Profiler {
            rows: 0,
            columns,
            hashes: Vec::new(),
            state: RandomState::with_seed(0),
        }
    }

    pub fn update(&mut self, batch: &RecordBatch) -> Result<(), String> {
        self.rows += batch.num_rows() as i64;
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
            if let Some(d) = &mut c.distinct {
                self.hashes.clear();
                self.hashes.resize(arr.len(), 0);
                create_hashes([arr.as_ref()], &self.state, &mut self.hashes).map_err(|e| e.to_string())?;
                let hashes: ArrayRef = Arc::new(UInt64Array::new(
                    std::mem::take(&mut self.hashes).into(),
                    arr.logical_nulls(),
                ));
                d.update_batch(&[hashes]).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// `{"rows": n, "columns": {col: {"null_fraction", "min", "max", "distinct"}}}`.
    pub fn finish(mut self) -> serde_json::Value {
        let rows = self.rows;
        let mut columns = serde_json::Map::new();
        for (_, c) in &mut self.columns {
            let min = c.min.as_mut().and_then(|m| m.evaluate().ok()).and_then(|v| text(&v));
            let max = c.max.as_mut().and_then(|m| m.evaluate().ok()).and_then(|v| text(&v));
            let null_fraction = if rows == 0 { 0.0 } else { c.nulls as f64 / rows as f64 };
            let distinct = match c.distinct.as_mut().and_then(|d| d.evaluate().ok()) {
                Some(ScalarValue::UInt64(Some(n))) => n,
                _ => 0,
            };
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
        let mut p = Profiler::new(&schema);
        p.update(&batch(vec![3, 1], vec![Some("b"), None], vec![Some(0.5), Some(0.5)]))
            .expect("update");
        p.update(&batch(vec![2, 9], vec![Some("a"), Some("b")], vec![None, Some(-1.0)]))
            .expect("update");
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
    }
}
