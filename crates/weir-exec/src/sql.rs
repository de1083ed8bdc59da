//! The SQL executor: DataFusion over the task's inputs, one table per input
//! (a window is one table), written as zstd Parquet or JSON lines.

mod measure;
#[cfg(feature = "spark")]
mod spark;

use crate::jsonl::{declared_schema, read_files};
use crate::profile::UniqueVerdict;
use crate::write::write_stream;
use crate::{ExecError, ExecOutput, Executor, ResolvedInput, TaskContext};
use async_trait::async_trait;
use datafusion::datasource::MemTable;
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionContext};
use measure::{AbortOnDrop, Measuring, cell_text, counters, first_rows, metrics, register_output};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;
use weir_core::check::{DataCheck, Rule};
use weir_core::model::{Format, Job};
use weir_core::sqlcheck::{SqlParams, substitute};
use weir_lake::Location;

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

/// The input's instances as local directories, fetching those on object
/// storage into `scratch` (for readers that need files: JSON lines, command
/// jobs). Local instances are read where they are.
pub(crate) async fn local_dirs(input: &ResolvedInput, scratch: &Path) -> Result<Vec<PathBuf>, ExecError> {
    let mut dirs = Vec::with_capacity(input.instances.len());
    for (i, inst) in input.instances.iter().enumerate() {
        let into = scratch.join(&input.table).join(i.to_string());
        let dir = inst.location.local_dir(&into).await.map_err(|e| {
            ExecError::job(format!(
                "cannot fetch input `{}` ({}) from {}: {e}",
                input.table,
                input.dataset,
                inst.location.display()
            ))
        })?;
        dirs.push(dir);
    }
    Ok(dirs)
}

/// Makes every object store the input's instances live on readable by `ctx`.
fn register_stores(ctx: &SessionContext, input: &ResolvedInput) -> Result<(), ExecError> {
    for inst in &input.instances {
        if let Location::Object(o) = &inst.location {
            let url = datafusion::execution::object_store::ObjectStoreUrl::parse(&o.store_url)
                .map_err(|e| ExecError::job(format!("bad store URL {}: {e}", o.store_url)))?;
            if ctx.runtime_env().object_store(&url).is_err() {
                ctx.register_object_store(url.as_ref(), o.store.clone());
            }
        }
    }
    Ok(())
}

/// Where DataFusion lists an instance: its directory, or its URL (`/`-ended).
fn listing_paths(input: &ResolvedInput) -> Vec<String> {
    input
        .instances
        .iter()
        .map(|i| match &i.location {
            Location::Dir(d) => format!("{}/", d.display()),
            Location::Object(o) => format!("{}/", o.url),
        })
        .collect()
}

pub(crate) async fn register(ctx: &SessionContext, input: &ResolvedInput) -> Result<(i64, Option<i64>), ExecError> {
    let known_rows = input.instances.iter().map(|i| i.rows).sum::<Option<i64>>();
    let fail = |e: datafusion::error::DataFusionError| {
        ExecError::job(format!("cannot read input `{}` ({}): {e}", input.table, input.dataset))
    };
    register_stores(ctx, input)?;
    let remote = input
        .instances
        .iter()
        .any(|i| matches!(i.location, Location::Object(_)));
    match input.format {
        Format::Parquet => {
            let df = ctx
                .read_parquet(listing_paths(input), ParquetReadOptions::default())
                .await
                .map_err(fail)?;
            ctx.register_table(input.table.as_str(), df.into_view()).map_err(fail)?;
            Ok((known_rows.unwrap_or(0), None))
        }
        Format::Csv => {
            let paths = if remote {
                listing_paths(input)
            } else {
                let dirs: Vec<PathBuf> = input.instances.iter().filter_map(|i| dir_of(&i.location)).collect();
                files_with_ext(&dirs, &["csv"])?
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect()
            };
            let df = ctx
                .read_csv(paths, CsvReadOptions::new().file_extension(".csv"))
                .await
                .map_err(fail)?;
            ctx.register_table(input.table.as_str(), df.into_view()).map_err(fail)?;
            Ok((known_rows.unwrap_or(0), None))
        }
        Format::Jsonl => {
            // Fetched copies live only while they are read into memory.
            let scratch = tempfile::tempdir().map_err(|e| ExecError::job(format!("no scratch directory: {e}")))?;
            let dirs = local_dirs(input, scratch.path()).await?;
            let files = files_with_ext(&dirs, &["jsonl", "json", "ndjson"])?;
            let schema = input.schema.as_deref().map(declared_schema);
            let read = tokio::task::spawn_blocking(move || read_files(&files, schema))
                .await
                .map_err(|e| ExecError::job(format!("reader crashed: {e}")))??;
            drop(scratch);
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

fn dir_of(l: &Location) -> Option<PathBuf> {
    match l {
        Location::Dir(d) => Some(d.clone()),
        Location::Object(_) => None,
    }
}

/// Outputs up to this size stay in memory for the queries that read `output`
/// (declared counters, data checks, metrics); larger ones are read back.
const KEEP_OUTPUT_BYTES: usize = 256 << 20;

/// Inputs under this many rows in all are measured in one partition.
const SMALL_INPUT_ROWS: i64 = 1_000_000;

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
    let Job::Sql { text, engine, .. } = &ctx.dataset.job else {
        return Err(ExecError::job("not a SQL job"));
    };
    if *engine == weir_core::model::Engine::Spark {
        #[cfg(feature = "spark")]
        return spark::run_spark(ctx, cancel).await;
        #[cfg(not(feature = "spark"))]
        return Err(ExecError::job(
            "this dataset runs on Spark (engine = \"spark\"), and this weir was built without Spark Connect: build it with `cargo build --features spark` (needs protoc)",
        ));
    }
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
