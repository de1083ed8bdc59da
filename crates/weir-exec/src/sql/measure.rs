//! Measuring what a SQL job wrote: declared counters (merged into shared
//! scans, or counted without planning by [`Counting`]), metrics, and the
//! session those queries share with the job's inputs.

use super::register;
use crate::counting::Counting;
use crate::{ExecError, ResolvedInput, TaskContext};
use arrow::array::Array;
use datafusion::prelude::SessionContext;
use weir_core::sqlcheck::merge_counters;

/// The session that declared counters, data checks and metrics run in: the
/// job's input tables (shared, not read again), with `partitions` target
/// partitions. On small inputs that is one: a measuring query over a few
/// thousand rows spends more on splitting them across cores and merging the
/// parts than on the rows, and it runs beside the job, whose cores it takes.
async fn measurement_session(
    job: &SessionContext,
    tables: &[String],
    partitions: usize,
) -> Result<SessionContext, ExecError> {
    let session = crate::engine::session(partitions);
    for name in tables {
        let fail = |e: datafusion::error::DataFusionError| {
            ExecError::job(format!("cannot share input `{name}` with the counters: {e}"))
        };
        let table = job.table_provider(name.as_str()).await.map_err(fail)?;
        session.register_table(name.as_str(), table).map_err(fail)?;
    }
    Ok(session)
}

/// The measuring session, made the first time a query needs it: counters
/// that [`Counting`] takes need none.
pub(super) struct Measuring {
    pub(super) job: SessionContext,
    pub(super) tables: Vec<String>,
    pub(super) partitions: usize,
    pub(super) made: tokio::sync::OnceCell<SessionContext>,
}

impl Measuring {
    pub(super) async fn session(&self) -> Result<&SessionContext, ExecError> {
        self.made
            .get_or_try_init(|| measurement_session(&self.job, &self.tables, self.partitions))
            .await
    }
}

/// Registers what was just written as table `output`, for declared counters.
pub(super) async fn register_output(session: &SessionContext, ctx: &TaskContext) -> Result<(), ExecError> {
    let input = ResolvedInput {
        table: "output".into(),
        dataset: ctx.dataset.name.clone(),
        format: ctx.dataset.format,
        schema: None,
        instances: vec![crate::InputInstance {
            location: weir_lake::Location::Dir(ctx.output_dir.clone()),
            partition_key: ctx.partition_key.clone(),
            rows: None,
        }],
    };
    register(session, &input).await.map(|_| ())
}

/// Runs a query and returns its first non-empty batch.
pub(super) async fn first_rows(
    session: &SessionContext,
    sql: &str,
) -> Result<Option<arrow::array::RecordBatch>, String> {
    let batches = session
        .sql(sql)
        .await
        .map_err(|e| e.to_string())?
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(batches.into_iter().find(|b| b.num_rows() > 0))
}

/// The first row's value in column `i`, as text (`None` for null).
pub(super) fn cell_text(b: &arrow::array::RecordBatch, i: usize) -> Option<String> {
    let col = b.column(i);
    if col.is_null(0) {
        return None;
    }
    arrow::util::display::ArrayFormatter::try_new(col.as_ref(), &Default::default())
        .ok()
        .map(|f| f.value(0).to_string())
}

/// A metrics dataset's measurements: the numeric columns of its output's
/// first row. NULL, NaN and ±infinity are kept as NaN, which stands for null.
pub(super) async fn metrics(session: &SessionContext) -> Result<std::collections::BTreeMap<String, f64>, String> {
    let mut out = std::collections::BTreeMap::new();
    let Some(b) = first_rows(session, "SELECT * FROM output LIMIT 1").await? else {
        return Ok(out);
    };
    let schema = b.schema();
    for (i, f) in schema.fields().iter().enumerate() {
        if !f.data_type().is_numeric() {
            continue;
        }
        if b.column(i).is_null(0) {
            // Null is recorded as null (NaN in memory), like NaN and ±infinity.
            out.insert(f.name().clone(), f64::NAN);
            continue;
        }
        let col = arrow::compute::cast(b.column(i), &arrow::datatypes::DataType::Float64).map_err(|e| e.to_string())?;
        if let Some(v) = col.as_any().downcast_ref::<arrow::array::Float64Array>() {
            out.insert(f.name().clone(), v.value(0));
        }
    }
    Ok(out)
}

/// Aborts a spawned task when dropped (the job was cancelled or failed).
pub(super) struct AbortOnDrop<T>(pub(super) tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Declared counters `(name, query)`: those over the same table merged into
/// one scan (see [`merge_counters`]), the groups run together, each counted
/// without planning where it has the form [`Counting`] takes and as SQL
/// otherwise. A merged group that fails is retried query by query, so an
/// error names its counter.
pub(super) async fn counters(
    tables: &SessionContext,
    measuring: &Measuring,
    queries: Vec<(String, String)>,
) -> Result<Vec<(String, i64)>, ExecError> {
    let one = |name: String, sql: String| async move {
        let session = measuring.session().await?;
        ints(session, &sql, 1)
            .await
            .map(|v| (name.clone(), v.first().copied().unwrap_or(0)))
            .map_err(|e| ExecError::job(format!("counter `{name}` failed: {e}")))
    };
    let groups = merge_counters(&queries);
    let results = futures::future::try_join_all(groups.into_iter().map(|(sql, names)| {
        let queries = &queries;
        async move {
            if let Some(c) = Counting::compile(tables, &sql).await
                && let Ok(values) = c.run(tables).await
                && values.len() == names.len()
            {
                return Ok(names.into_iter().zip(values).collect());
            }
            if names.len() == 1 {
                let name = names.into_iter().next().unwrap_or_default();
                return one(name, sql).await.map(|r| vec![r]);
            }
            match ints(measuring.session().await?, &sql, names.len()).await {
                Ok(values) => Ok(names.into_iter().zip(values).collect()),
                Err(_) => {
                    let alone = queries.iter().filter(|(n, _)| names.contains(n)).cloned();
                    futures::future::try_join_all(alone.map(|(n, q)| one(n, q))).await
                }
            }
        }
    }))
    .await?;
    Ok(results.into_iter().flatten().collect())
}

/// Runs a query whose first row holds `n` integers (nulls and no row count as 0).
async fn ints(session: &SessionContext, sql: &str, n: usize) -> Result<Vec<i64>, String> {
    let Some(b) = first_rows(session, sql).await? else {
        return Ok(vec![0; n]);
    };
    if b.num_columns() != n {
        return Err(format!(
            "a counter query must return one column, not {}",
            b.num_columns()
        ));
    }
    (0..n)
        .map(|i| {
            let col =
                arrow::compute::cast(b.column(i), &arrow::datatypes::DataType::Int64).map_err(|e| e.to_string())?;
            let v = col
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .ok_or("not an integer")?;
            Ok(if v.is_null(0) { 0 } else { v.value(0) })
        })
        .collect()
}
