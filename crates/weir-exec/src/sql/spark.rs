//! SQL jobs on Spark, through Spark Connect (`engine = "spark"`; the `spark`
//! cargo feature).
//!
//! Who does what:
//! - weir resolves the inputs to locations and names them as temporary
//!   views of a Spark session of the run's own (`parquet.\`file:///…\``, or
//!   `s3a://…` on object storage);
//! - Spark runs the job's Spark SQL and writes the rows as zstd Parquet
//!   straight into the run's staging directory (`INSERT OVERWRITE DIRECTORY`);
//! - weir drops what Spark adds beside the data (`_SUCCESS`, `*.crc`,
//!   `_temporary`), then measures the output with DataFusion as for any SQL
//!   job (rows, schema, declared counters, data checks, metrics) and seals
//!   and commits it.
//!
//! Cancellation and timeouts interrupt the Spark operation (`Interrupt`):
//! dropping the stream would leave it running on the cluster.

use super::measure::{Measuring, cell_text, counters, first_rows, metrics, register_output};
use super::{cancelled, register, sleep_opt};
use crate::{ExecError, ExecOutput, ResolvedInput, TaskContext};
use spark_connect_core::{ChannelBuilder, SparkConnectClient};
use spark_connect_proto as pb;
use std::path::Path;
use tokio::sync::watch;
use weir_core::check::Rule;
use weir_core::model::{Format, Job};
use weir_core::sqlcheck::{SqlParams, substitute};
use weir_lake::Location;

/// Where the Spark Connect server is: `SPARK_REMOTE` (`sc://host:port`), as
/// for PySpark.
fn remote() -> Result<String, ExecError> {
    std::env::var("SPARK_REMOTE")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| {
            ExecError::job(
                "this dataset runs on Spark, and SPARK_REMOTE is not set: set it to the Spark Connect server (e.g. sc://spark-host:15002)",
            )
        })
}

/// Spark's URL for an instance: `file:///…` on this machine; `s3a://…` for
/// S3 (Hadoop's connector), other object stores as they are.
fn spark_url(l: &Location) -> String {
    match l {
        Location::Dir(d) => format!("file://{}", d.display()),
        Location::Object(o) => match o.url.strip_prefix("s3://") {
            Some(rest) => format!("s3a://{rest}"),
            None => o.url.clone(),
        },
    }
}

/// A SQL string literal / backquoted identifier.
fn quoted(s: &str, q: char) -> String {
    let doubled: String = s
        .chars()
        .flat_map(|c| if c == q { vec![c, c] } else { vec![c] })
        .collect();
    format!("{q}{doubled}{q}")
}

/// The statement naming one input as a temporary view: its instances'
/// files, in partition order.
fn view(input: &ResolvedInput) -> Result<String, ExecError> {
    let reader = match input.format {
        Format::Parquet => "parquet",
        Format::Jsonl => "json",
        Format::Csv => "csv",
        Format::Files => {
            return Err(ExecError::job(format!(
                "input `{}` ({}) holds opaque files, which SQL cannot read",
                input.table, input.dataset
            )));
        }
    };
    if input.instances.is_empty() {
        return Err(ExecError::job(format!(
            "input `{}` has no instance to read",
            input.table
        )));
    }
    let parts: Vec<String> = input
        .instances
        .iter()
        .map(|i| format!("SELECT * FROM {reader}.{}", quoted(&spark_url(&i.location), '`')))
        .collect();
    Ok(format!(
        "CREATE OR REPLACE TEMPORARY VIEW {} AS {}",
        quoted(&input.table, '`'),
        parts.join(" UNION ALL ")
    ))
}

/// The Spark SQL statements of one task, in order.
pub(crate) fn statements(ctx: &TaskContext, sql: &str) -> Result<Vec<String>, ExecError> {
    let mut out = vec![
        "SET spark.sql.session.timeZone = UTC".to_string(),
        "SET spark.sql.parquet.outputTimestampType = TIMESTAMP_MICROS".to_string(),
    ];
    for input in &ctx.inputs {
        out.push(view(input)?);
    }
    out.push(format!(
        "INSERT OVERWRITE DIRECTORY {} USING parquet OPTIONS (compression 'zstd') {}",
        quoted(&format!("file://{}", ctx.output_dir.display()), '\''),
        sql.trim().trim_end_matches(';')
    ));
    Ok(out)
}

/// Runs one SQL command in `client`'s session, to its end. `op` is its
/// operation id (for an interrupt); the run id is its tag.
async fn command(client: &SparkConnectClient, sql: &str, op: &str, tag: &str) -> Result<(), ExecError> {
    let relation = pb::Relation {
        rel_type: Some(pb::relation::RelType::Sql(pb::Sql {
            query: sql.to_string(),
            ..Default::default()
        })),
        ..Default::default()
    };
    let request = pb::ExecutePlanRequest {
        session_id: client.session_id().to_string(),
        user_context: Some(pb::UserContext {
            user_id: client.user_id().unwrap_or("weir").to_string(),
            ..Default::default()
        }),
        operation_id: Some(op.to_string()),
        plan: Some(pb::Plan {
            op_type: Some(pb::plan::OpType::Command(pb::Command {
                command_type: Some(pb::command::CommandType::SqlCommand(pb::SqlCommand {
                    input: Some(relation),
                    ..Default::default()
                })),
            })),
        }),
        client_type: Some("weir".into()),
        tags: vec![tag.to_string()],
        ..Default::default()
    };
    let mut stream = client
        .execute_plan(request)
        .await
        .map_err(|e| ExecError::job(format!("Spark refused `{}`: {e}", first_line(sql))))?;
    while let Some(_response) = stream
        .message()
        .await
        .map_err(|e| ExecError::job(format!("Spark failed: {}", e.message())))?
    {}
    Ok(())
}

fn first_line(sql: &str) -> &str {
    let line = sql.lines().next().unwrap_or(sql);
    &line[..line.len().min(120)]
}

/// Removes what Spark writes beside the data: its `_SUCCESS` (weir's seal
/// is its own), checksums, and any `_temporary`/`_started_*` leftovers.
fn tidy(dir: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('_') || name.starts_with('.') || name.ends_with(".crc") {
            if e.file_type()?.is_dir() {
                std::fs::remove_dir_all(e.path())?;
            } else {
                std::fs::remove_file(e.path())?;
            }
        }
    }
    Ok(())
}

pub(crate) async fn run_spark(ctx: &TaskContext, cancel: watch::Receiver<bool>) -> Result<ExecOutput, ExecError> {
    let Job::Sql { text, .. } = &ctx.dataset.job else {
        return Err(ExecError::job("not a SQL job"));
    };
    let params = SqlParams {
        partition_start: ctx.partition_start.to_rfc3339(),
        partition_end: ctx.partition_end.to_rfc3339(),
        partition: ctx.partition_key.clone(),
    };
    let sql = substitute(text, &params);
    let statements = statements(ctx, &sql)?;
    let builder = ChannelBuilder::parse(&remote()?)
        .map_err(|e| ExecError::job(format!("SPARK_REMOTE is not a Spark Connect URL: {e}")))?;
    let client = SparkConnectClient::connect(&builder)
        .await
        .map_err(|e| ExecError::job(format!("cannot reach Spark Connect: {e}")))?;
    let op = std::sync::Mutex::new(String::new());
    let work = async {
        for s in &statements {
            let id = uuid::Uuid::new_v4().to_string();
            if let Ok(mut o) = op.lock() {
                o.clone_from(&id);
            }
            command(&client, s, &id, &ctx.run_id).await?;
        }
        Ok::<(), ExecError>(())
    };
    let outcome = tokio::select! {
        r = work => r,
        _ = cancelled(cancel) => Err(ExecError::Cancelled(String::new())),
        _ = sleep_opt(ctx.timeout) => Err(ExecError::Timeout(ctx.timeout.unwrap_or_default(), String::new())),
    };
    if outcome.is_err() {
        // Stop the cluster's work too; then the session's views go.
        let id = op.lock().map(|o| o.clone()).unwrap_or_default();
        if !id.is_empty() {
            let _ = client.interrupt_operation(&id).await;
        }
    }
    let _ = client.release_session().await;
    outcome?;
    tidy(&ctx.output_dir).map_err(|e| ExecError::job(format!("cannot tidy Spark's output: {e}")))?;
    measure(ctx, &params).await
}

/// Rows, schema, declared counters, data checks and metrics of what Spark
/// wrote, measured by DataFusion.
async fn measure(ctx: &TaskContext, params: &SqlParams) -> Result<ExecOutput, ExecError> {
    let session = crate::engine::session(2);
    let mut out = ExecOutput::default();
    for input in &ctx.inputs {
        let (rows, malformed) = register(&session, input).await?;
        out.counters.insert(format!("rows_in.{}", input.table), rows);
        if let Some(m) = malformed {
            out.counters.insert(format!("malformed.{}", input.table), m);
        }
    }
    register_output(&session, ctx).await?;
    let rows = match first_rows(&session, "SELECT count(*) FROM output").await {
        Ok(Some(b)) => cell_text(&b, 0).and_then(|t| t.parse::<i64>().ok()).unwrap_or(0),
        Ok(None) => 0,
        Err(e) => return Err(ExecError::job(format!("cannot read Spark's output: {e}"))),
    };
    let schema = session
        .table("output")
        .await
        .map_err(|e| ExecError::job(format!("cannot read Spark's output: {e}")))?
        .schema()
        .fields()
        .iter()
        .map(|f| format!("{}: {}", f.name(), f.data_type()))
        .collect::<Vec<_>>();
    out.rows = Some(rows);
    out.schema = Some(format!("{schema:?}"));
    out.counters.insert("rows_out".into(), rows);
    let bytes: u64 = std::fs::read_dir(&ctx.output_dir)
        .map(|rd| rd.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0);
    out.counters.insert("bytes_out".into(), bytes as i64);
    let made = Measuring {
        job: session.clone(),
        tables: Vec::new(),
        partitions: 1,
        made: tokio::sync::OnceCell::new_with(Some(session.clone())),
    };
    let declared: Vec<(String, String)> = ctx
        .dataset
        .counters
        .iter()
        .map(|(n, q)| (n.clone(), substitute(q, params)))
        .collect();
    out.counters.extend(counters(&session, &made, declared).await?);
    for c in &ctx.dataset.checks {
        let Rule::Data(dc) = &c.rule else { continue };
        let value = match first_rows(&session, &substitute(&dc.sql(), params)).await {
            Ok(Some(b)) if b.num_columns() > 0 => Ok(cell_text(&b, 0)),
            Ok(_) => Ok(None),
            Err(e) => Err(e),
        };
        out.check_values.insert(c.name.clone(), value);
    }
    if ctx.dataset.metrics_of.is_some() {
        out.metrics = metrics(&session)
            .await
            .map_err(|e| ExecError::job(format!("reading the metrics failed: {e}")))?;
    }
    out.log = format!("ran on Spark ({} statements)", 2 + ctx.inputs.len() + 1);
    Ok(out)
}
