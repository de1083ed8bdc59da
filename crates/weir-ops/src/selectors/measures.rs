//! What a selector's measuring dataset (its `auto` dataset) says per
//! variant and day: the numbers auto-promotion decides on and the
//! dashboard charts. One reader for both, through `served`.

use crate::serving::{instance_input, served};
use crate::{Result, UserError};
use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use weir_sched::Workspace;

/// One variant's numbers on one day: column → value (numeric columns only).
pub type Numbers = BTreeMap<String, f64>;

/// The rows of one served partition of `dataset`: variant → its numbers.
/// The dataset must have a `variant` column; every numeric column is read.
pub(crate) async fn day_rows(
    ws: &Workspace,
    dataset: &str,
    version: u32,
    partition: i64,
) -> std::result::Result<BTreeMap<String, Numbers>, String> {
    let ds = ws.dataset(dataset).map_err(|e| e.to_string())?;
    let input = instance_input(ws, ds, version, partition).map_err(|e| e.to_string())?;
    let q = format!("SELECT * FROM \"{}\"", input.table.replace('"', "\"\""));
    let batches = weir_exec::query::query(std::slice::from_ref(&input), &q)
        .await
        .map_err(|e| format!("`{dataset}`: {e}"))?;
    let mut out = BTreeMap::new();
    for b in &batches {
        let schema = b.schema();
        let Some(vi) = schema.index_of("variant").ok() else {
            return Err(format!("`{dataset}` has no `variant` column (one row per variant)"));
        };
        let variants = cast(b.column(vi), &DataType::Utf8).map_err(|e| format!("`{dataset}`: {e}"))?;
        let variants = variants.as_string::<i32>();
        let mut numeric = Vec::new();
        for (i, f) in schema.fields().iter().enumerate() {
            if i != vi && f.data_type().is_numeric() {
                let c = cast(b.column(i), &DataType::Float64).map_err(|e| format!("`{dataset}`: {e}"))?;
                numeric.push((f.name().clone(), c));
            }
        }
        for r in 0..b.num_rows() {
            if variants.is_null(r) {
                continue;
            }
            let numbers: Numbers = numeric
                .iter()
                .map(|(name, c)| {
                    let c = c.as_primitive::<Float64Type>();
                    (name.clone(), if c.is_null(r) { f64::NAN } else { c.value(r) })
                })
                .collect();
            out.insert(variants.value(r).to_string(), numbers);
        }
    }
    Ok(out)
}

/// One day of a selector's measures.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayMeasures {
    /// The partition, e.g. `date=2026-03-14`.
    pub partition: String,
    /// Variant → column → value (NaN is null).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub variants: BTreeMap<String, BTreeMap<String, Option<f64>>>,
}

/// A selector's measuring dataset over its latest served days.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Measures {
    pub env: String,
    pub selector: String,
    /// The dataset measured (the `auto` dataset), and its version served.
    pub dataset: String,
    pub version: Option<u32>,
    /// The metric auto-promotion decides on.
    pub metric: String,
    /// Every numeric column seen, the metric first.
    pub columns: Vec<String>,
    /// Oldest first.
    pub days: Vec<DayMeasures>,
}

/// The latest `days` served days of selector `name`'s measuring dataset.
pub async fn measures(ws: &Workspace, env: &str, name: &str, days: usize) -> Result<Measures> {
    let sel = super::definition(ws, name)?;
    let Some(auto) = &sel.auto else {
        return Err(UserError::new(
            format!("selector `{name}` has no measuring dataset"),
            "declare [selectors.NAME.auto] with the dataset that measures the variants (docs/models.md)",
        )
        .into());
    };
    let ds = crate::dataset(ws, &auto.dataset)?;
    let mut out = Measures {
        env: env.to_string(),
        selector: name.to_string(),
        dataset: auto.dataset.clone(),
        version: None,
        metric: auto.metric.clone(),
        columns: vec![auto.metric.clone()],
        days: Vec::new(),
    };
    let Some(s) = served(ws, env, &auto.dataset).await? else {
        return Ok(out);
    };
    out.version = Some(s.version);
    let start = s.partitions.len().saturating_sub(days);
    for &p in &s.partitions[start..] {
        let rows = day_rows(ws, &auto.dataset, s.version, p).await.map_err(|e| {
            UserError::new(
                e,
                "the measuring dataset has a row per variant, with a `variant` column",
            )
        })?;
        for numbers in rows.values() {
            for c in numbers.keys() {
                if !out.columns.contains(c) {
                    out.columns.push(c.clone());
                }
            }
        }
        out.days.push(DayMeasures {
            partition: ds.granularity.format_key(p),
            variants: rows
                .into_iter()
                .map(|(v, n)| (v, n.into_iter().map(|(k, x)| (k, x.is_finite().then_some(x))).collect()))
                .collect(),
        });
    }
    Ok(out)
}
