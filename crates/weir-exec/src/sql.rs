//! The SQL executor: DataFusion over the task's inputs, one table per input
//! (a window is one table), written as zstd Parquet or JSON lines.

use crate::counting::Counting;
use crate::jsonl::{declared_schema, read_files};
use crate::profile::UniqueVerdict;
use crate::write::write_stream;
use crate::{ExecError, ExecOutput, Executor, ResolvedInput, TaskContext};
use arrow::array::Array;
use async_trait::async_trait;
use datafusion::datasource::MemTable;
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionContext};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;
use weir_core::check::{DataCheck, Rule};
use weir_core::model::{Format, Job};
use weir_core::sqlcheck::{SqlParams, merge_counters, substitute};

/// Runs `sql` jobs in-process with DataFusion.
#[derive(Debug, Clone, Copy)]
pub struct SqlExecutor;

/// The SQL executor without measurement: no declared counters, profile,
/// metrics or data checks. Only `weir bench checks` uses it, as the baseline
/// that measurement's cost is taken against.
#[derive(Debug, Clone, Copy, Default)]
pub struct BareSqlExecutor;

fn files_with_ext(dirs: &[PathBuf], exts: &[&str]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for d in dirs {
        let mut here: Vec<PathBuf> = std::fs::read_dir(d)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .and_then(|x| x.to_str())
                        .is_some_and(|x| exts.contains(&x))
            })
            .collect();
        here.sort();
        out.extend(here);
    }
    Ok(out)
}

pub(crate) async fn register(ctx: &SessionContext, input: &ResolvedInput) -> Result<(i64, Option<i64>), ExecError> {
    let dirs: Vec<PathBuf> = input.instances.iter().map(|i| i.dir.clone()).collect();
    let known_rows = input.instances.iter().map(|i| i.rows).sum::<Option<i64>>();
    let fail = |e: datafusion::error::DataFusionError| {
        ExecError::job(format!("cannot read input `{}` ({}): {e}", input.table, input.dataset))
    };
    match input.format {
        Format::Parquet => {
            let paths: Vec<String> = dirs.iter().map(|d| format!("{}/", d.display())).collect();
            let df = ctx
                .read_parquet(paths, ParquetReadOptions::default())
                .await
                .map_err(fail)?;
            ctx.register_table(input.table.as_str(), df.into_view()).map_err(fail)?;
            Ok((known_rows.unwrap_or(0), None))
        }
        Format::Csv => {
            let files = files_with_ext(&dirs, &["csv"])?;
            let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
            let df = ctx.read_csv(paths, CsvReadOptions::new()).await.map_err(fail)?;
            ctx.register_table(input.table.as_str(), df.into_view()).map_err(fail)?;
            Ok((known_rows.unwrap_or(0), None))
        }
        Format::Jsonl => {
            let files = files_with_ext(&dirs, &["jsonl", "json", "ndjson"])?;
            let schema = input.schema.as_deref().map(declared_schema);
            let read = tokio::task::spawn_blocking(move || read_files(&files, schema))
                .await
                .map_err(|e| ExecError::job(format!("reader crashed: {e}")))??;
            let table = MemTable::try_new(read.schema, vec![read.batches]).map_err(fail)?;
            ctx.register_table(input.table.as_str(), Arc::new(table))
                .map_err(fail)?;
            Ok((read.rows, Some(read.malformed)))
        }
        Format::Files => Err(ExecError::job(format!(
            "input `{}` ({}) holds opaque files, which SQL cannot read; give that dataset format = \"parquet\" or \"jsonl\"",
            input.table, input.dataset
        ))),
    }
}

/// Outputs up to this size stay in memory for the queries that read `output`
/// (declared counters, data checks, metrics); larger ones are read back.
const KEEP_OUTPUT_BYTES: usize = 256 << 20;

/// Inputs under this many rows in all are measured in one partition.
const SMALL_INPUT_ROWS: i64 = 1_000_000;

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
struct Measuring {
    job: SessionContext,
    tables: Vec<String>,
    partitions: usize,
    made: tokio::sync::OnceCell<SessionContext>,
}

impl Measuring {
    async fn session(&self) -> Result<&SessionContext, ExecError> {
        self.made
            .get_or_try_init(|| measurement_session(&self.job, &self.tables, self.partitions))
            .await
    }
}

/// Registers what was just written as table `output`, for declared counters.
async fn register_output(session: &SessionContext, ctx: &TaskContext) -> Result<(), ExecError> {
    let input = ResolvedInput {
        table: "output".into(),
        dataset: ctx.dataset.name.clone(),
        format: ctx.dataset.format,
        schema: None,
        instances: vec![crate::InputInstance {
            dir: ctx.output_dir.clone(),
            partition_key: ctx.partition_key.clone(),
            rows: None,
        }],
    };
    register(session, &input).await.map(|_| ())
}

/// Runs a query and returns its first non-empty batch.
async fn first_rows(session: &SessionContext, sql: &str) -> Result<Option<arrow::array::RecordBatch>, String> {
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
fn cell_text(b: &arrow::array::RecordBatch, i: usize) -> Option<String> {
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
async fn metrics(session: &SessionContext) -> Result<std::collections::BTreeMap<String, f64>, String> {
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
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

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
async fn counters(
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

#[async_trait]
impl Executor for SqlExecutor {
    async fn execute(&self, ctx: &TaskContext, cancel: watch::Receiver<bool>) -> Result<ExecOutput, ExecError> {
        run_sql(ctx, cancel, true).await
    }
}

#[async_trait]
impl Executor for BareSqlExecutor {
    async fn execute(&self, ctx: &TaskContext, cancel: watch::Receiver<bool>) -> Result<ExecOutput, ExecError> {
        run_sql(ctx, cancel, false).await
    }
}

async fn run_sql(ctx: &TaskContext, cancel: watch::Receiver<bool>, measure: bool) -> Result<ExecOutput, ExecError> {
    let Job::Sql { text, .. } = &ctx.dataset.job else {
        return Err(ExecError::job("not a SQL job"));
    };
    let work = async {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let session = crate::engine::session(cores);
        let mut out = ExecOutput::default();
        let mut input_rows = Some(0i64);
        for input in &ctx.inputs {
            let (rows, malformed) = register(&session, input).await?;
            out.counters.insert(format!("rows_in.{}", input.table), rows);
            let known = match malformed {
                Some(_) => Some(rows),
                None => input.instances.iter().map(|i| i.rows).sum::<Option<i64>>(),
            };
            input_rows = input_rows.zip(known).map(|(a, b)| a + b);
            if let Some(m) = malformed {
                out.counters.insert(format!("malformed.{}", input.table), m);
            }
        }
        // Measuring queries get a session of their own, made only if one runs.
        let partitions = if input_rows.is_some_and(|n| n < SMALL_INPUT_ROWS) {
            1
        } else {
            cores
        };
        let tables: Vec<String> = ctx.inputs.iter().map(|i| i.table.clone()).collect();
        let lazy = Arc::new(Measuring {
            job: session.clone(),
            tables,
            partitions,
            made: tokio::sync::OnceCell::new(),
        });
        let params = SqlParams {
            partition_start: ctx.partition_start.to_rfc3339(),
            partition_end: ctx.partition_end.to_rfc3339(),
            partition: ctx.partition_key.clone(),
        };
        // Declared counters over the inputs alone run beside the job itself.
        let reads_output = |q: &str| q.to_ascii_lowercase().contains("output");
        let early_qs: Vec<(String, String)> = ctx
            .dataset
            .counters
            .iter()
            .filter(|(_, q)| measure && !reads_output(q))
            .map(|(n, q)| (n.clone(), substitute(q, &params)))
            .collect();
        let early = if early_qs.is_empty() {
            None
        } else {
            let (job, m) = (session.clone(), lazy.clone());
            Some(AbortOnDrop(tokio::spawn(
                async move { counters(&job, &m, early_qs).await },
            )))
        };
        let sql = substitute(text, &params);
        let df = session
            .sql(&sql)
            .await
            .map_err(|e| ExecError::job(format!("SQL failed: {e}")))?;
        let stream = df
            .execute_stream()
            .await
            .map_err(|e| ExecError::job(format!("SQL failed: {e}")))?;
        let uniques: Vec<(String, Vec<String>)> = ctx
            .dataset
            .checks
            .iter()
            .filter_map(|c| match &c.rule {
                Rule::Data(DataCheck::Unique(cols)) => Some((c.name.clone(), cols.clone())),
                _ => None,
            })
            .collect();
        // A row in is about a row out in most jobs; a guess, for sizing.
        let expected = input_rows.and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
        let profiler = measure.then(|| crate::profile::Profiler::new(&stream.schema(), &uniques).expecting(expected));
        let keep = if measure { KEEP_OUTPUT_BYTES } else { 0 };
        let mut written = write_stream(stream, &ctx.output_dir, ctx.dataset.format, profiler, keep)
            .await
            .map_err(|e| ExecError::job(format!("SQL failed while writing: {e}")))?;
        out.rows = Some(written.rows);
        out.schema = Some(format!(
            "{:?}",
            written
                .schema
                .fields()
                .iter()
                .map(|f| format!("{}: {}", f.name(), f.data_type()))
                .collect::<Vec<_>>()
        ));
        out.counters.insert("rows_out".into(), written.rows);
        out.counters.insert("bytes_out".into(), written.bytes);
        if !measure {
            return Ok(out);
        }
        let Some(profiler) = written.profiler.take() else {
            return Ok(out);
        };
        // unique() and not_null() are decided from what the profiler saw;
        // only a repeated key hash (maybe a collision) needs the exact query.
        let mut queries: Vec<(String, String)> = Vec::new();
        for c in &ctx.dataset.checks {
            let Rule::Data(dc) = &c.rule else { continue };
            let value = match dc {
                DataCheck::Unique(_) => match profiler.unique(&c.name) {
                    UniqueVerdict::Unique => Ok(Some("0".to_string())),
                    UniqueVerdict::Invalid(e) => Err(e),
                    UniqueVerdict::Unsure => {
                        queries.push((c.name.clone(), substitute(&dc.sql(), &params)));
                        continue;
                    }
                },
                DataCheck::NotNull(cols) => cols
                    .iter()
                    .map(|col| profiler.nulls(col))
                    .sum::<Result<i64, crate::EngineError>>()
                    .map(|n| Some(n.to_string()))
                    .map_err(|e| e.to_string()),
                DataCheck::Query(_) => {
                    queries.push((c.name.clone(), substitute(&dc.sql(), &params)));
                    continue;
                }
            };
            out.check_values.insert(c.name.clone(), value);
        }
        let late: Vec<(String, String)> = ctx
            .dataset
            .counters
            .iter()
            .filter(|(_, q)| reads_output(q))
            .map(|(n, q)| (n.clone(), substitute(q, &params)))
            .collect();
        let measuring = if ctx.dataset.metrics_of.is_some() || !queries.is_empty() || !late.is_empty() {
            let m = lazy.session().await?.clone();
            match written.kept {
                Some(batches) => {
                    let table = MemTable::try_new(written.schema.clone(), vec![batches])
                        .map_err(|e| ExecError::job(format!("registering the output failed: {e}")))?;
                    m.register_table("output", Arc::new(table))
                        .map_err(|e| ExecError::job(format!("registering the output failed: {e}")))?;
                }
                None => register_output(&m, ctx).await?,
            }
            m
        } else {
            session.clone() // nothing below runs a query
        };
        // What reads the output runs together, sharing the cores.
        let metrics_q = async {
            if ctx.dataset.metrics_of.is_none() {
                return Ok(Default::default());
            }
            metrics(&measuring)
                .await
                .map_err(|e| ExecError::job(format!("reading the metrics failed: {e}")))
        };
        let checks_q = futures::future::join_all(queries.into_iter().map(|(name, sql)| {
            let session = &measuring;
            async move {
                let value = match first_rows(session, &sql).await {
                    Ok(Some(b)) if b.num_columns() > 0 => Ok(cell_text(&b, 0)),
                    Ok(_) => Ok(None),
                    Err(e) => Err(e),
                };
                (name, value)
            }
        }));
        let made = Measuring {
            job: session.clone(),
            tables: Vec::new(),
            partitions,
            made: tokio::sync::OnceCell::new_with(Some(measuring.clone())),
        };
        let (metrics, checks, late) = tokio::join!(metrics_q, checks_q, counters(&measuring, &made, late));
        let early = match early {
            Some(mut h) => (&mut h.0)
                .await
                .map_err(|e| ExecError::job(format!("a counter query crashed: {e}")))??,
            None => Vec::new(),
        };
        out.metrics = metrics?;
        for (name, _) in out.metrics.iter().filter(|(_, v)| !v.is_finite()) {
            out.log.push_str(&format!(
                "warning: metric `{name}` is null (NULL, NaN or ±infinity); a check that reads it fails\n"
            ));
        }
        out.check_values.extend(checks);
        out.counters.extend(late?);
        out.counters.extend(early);
        out.profile = Some(profiler.finish());
        Ok(out)
    };
    tokio::select! {
        r = work => r,
        _ = cancelled(cancel) => Err(ExecError::Cancelled(String::new())),
        _ = sleep_opt(ctx.timeout) => Err(ExecError::Timeout(ctx.timeout.unwrap_or_default(), String::new())),
    }
}

/// Resolves when `rx` turns true (or its sender is gone, which never cancels).
pub(crate) async fn cancelled(mut rx: watch::Receiver<bool>) {
    if rx.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

pub(crate) async fn sleep_opt(d: Option<std::time::Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
