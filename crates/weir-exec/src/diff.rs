//! Data diffs between two instances (`weir diff`): rows only in A, rows only
//! in B and changed rows by the dataset's declared key, computed by DataFusion
//! over the columns both sides have.

use crate::sql::register;
use crate::{ExecError, ResolvedInput};
use arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;
use serde::Serialize;

/// How many sample rows of each kind a diff keeps.
pub const SAMPLES: usize = 5;

/// The data diff of one partition.
#[derive(Clone, Debug, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DataDiff {
    pub only_in_a: i64,
    pub only_in_b: i64,
    /// Rows whose key is on both sides with other values (0 without a key).
    pub changed: i64,
    pub columns_compared: Vec<String>,
    pub key: Vec<String>,
    pub sample_only_in_a: Vec<serde_json::Value>,
    pub sample_only_in_b: Vec<serde_json::Value>,
    pub sample_changed: Vec<serde_json::Value>,
}

fn quote(c: &str) -> String {
    format!("\"{}\"", c.replace('"', "\"\""))
}

async fn rows(session: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, ExecError> {
    let df = session
        .sql(sql)
        .await
        .map_err(|e| ExecError::job(format!("diff query failed: {e}")))?;
    df.collect()
        .await
        .map_err(|e| ExecError::job(format!("diff query failed: {e}")))
}

async fn count(session: &SessionContext, sql: &str) -> Result<i64, ExecError> {
    let b = rows(session, &format!("SELECT count(*) AS n FROM ({sql}) AS q")).await?;
    let col = b.first().map(|b| b.column(0).clone());
    let n = col
        .as_ref()
        .and_then(|c| c.as_any().downcast_ref::<arrow::array::Int64Array>())
        .map_or(0, |a| if a.is_empty() { 0 } else { a.value(0) });
    Ok(n)
}

async fn sample(session: &SessionContext, sql: &str) -> Result<Vec<serde_json::Value>, ExecError> {
    let b = rows(session, &format!("{sql} LIMIT {SAMPLES}")).await?;
    let text = crate::query::render(&b, crate::query::Render::Json)?;
    Ok(serde_json::from_str(&text).unwrap_or_default())
}

/// Diffs instance `a` against instance `b` (each a one-table input).
pub async fn diff(a: &ResolvedInput, b: &ResolvedInput, key: &[String]) -> Result<DataDiff, ExecError> {
    let session = crate::engine::session(2);
    let mut a = a.clone();
    let mut b = b.clone();
    a.table = "diff_a".into();
    b.table = "diff_b".into();
    register(&session, &a).await?;
    register(&session, &b).await?;
    let sa = session
        .table_provider("diff_a")
        .await
        .map_err(|e| ExecError::job(e.to_string()))?
        .schema();
    let sb = session
        .table_provider("diff_b")
        .await
        .map_err(|e| ExecError::job(e.to_string()))?
        .schema();
    let common: Vec<String> = sa
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| sb.field_with_name(n).is_ok())
        .collect();
    let key: Vec<String> = key.iter().filter(|k| common.contains(k)).cloned().collect();
    let cols = common.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
    let mut out = DataDiff {
        columns_compared: common.clone(),
        key: key.clone(),
        ..Default::default()
    };
    if common.is_empty() {
        return Ok(out);
    }
    if key.is_empty() {
        // No key: compare as multisets of rows.
        let only_a = format!("SELECT {cols} FROM diff_a EXCEPT ALL SELECT {cols} FROM diff_b");
        let only_b = format!("SELECT {cols} FROM diff_b EXCEPT ALL SELECT {cols} FROM diff_a");
        out.only_in_a = count(&session, &only_a).await?;
        out.only_in_b = count(&session, &only_b).await?;
        out.sample_only_in_a = sample(&session, &only_a).await?;
        out.sample_only_in_b = sample(&session, &only_b).await?;
        return Ok(out);
    }
    let on = key
        .iter()
        .map(|k| format!("x.{q} = y.{q}", q = quote(k)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let x_cols = common
        .iter()
        .map(|c| format!("x.{}", quote(c)))
        .collect::<Vec<_>>()
        .join(", ");
    let only = |x: &str, y: &str| format!("SELECT {x_cols} FROM {x} AS x LEFT ANTI JOIN {y} AS y ON {on}");
    let values: Vec<&String> = common.iter().filter(|c| !key.contains(c)).collect();
    let differs = if values.is_empty() {
        "false".to_string()
    } else {
        values
            .iter()
            .map(|c| format!("(x.{q} IS DISTINCT FROM y.{q})", q = quote(c)))
            .collect::<Vec<_>>()
            .join(" OR ")
    };
    let pairs = common
        .iter()
        .map(|c| {
            if key.contains(c) {
                format!("x.{q} AS {q}", q = quote(c))
            } else {
                format!(
                    "x.{q} AS {a}, y.{q} AS {b}",
                    q = quote(c),
                    a = quote(&format!("a.{c}")),
                    b = quote(&format!("b.{c}"))
                )
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let changed = format!("SELECT {pairs} FROM diff_a AS x JOIN diff_b AS y ON {on} WHERE {differs}");
    out.only_in_a = count(&session, &only("diff_a", "diff_b")).await?;
    out.only_in_b = count(&session, &only("diff_b", "diff_a")).await?;
    out.changed = count(&session, &changed).await?;
    out.sample_only_in_a = sample(&session, &only("diff_a", "diff_b")).await?;
    out.sample_only_in_b = sample(&session, &only("diff_b", "diff_a")).await?;
    out.sample_changed = sample(&session, &changed).await?;
    Ok(out)
}
