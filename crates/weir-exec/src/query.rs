//! Ad-hoc queries (`weir sql`): DataFusion over the versions consumers read,
//! rendered as a table, JSON or CSV.

use crate::sql::register;
use crate::{ExecError, ResolvedInput};
use arrow::array::RecordBatch;
use datafusion::execution::context::SQLOptions;

/// How to print a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Render {
    Table,
    Json,
    Csv,
}

/// Runs `sql` with every input registered as a table. Read-only: only
/// queries (SELECT, WITH, EXPLAIN, SHOW, DESCRIBE) are planned; DDL
/// (`CREATE EXTERNAL TABLE … LOCATION`), DML, `COPY … TO` and statements like
/// `SET` are refused before anything runs, and URL tables are off, so a query
/// reads only the tables given and writes nothing.
///
/// The query is user input, and DataFusion plans, names and evaluates
/// expressions recursively (not all of it under `recursive_protection`), so it
/// runs on threads with deep stacks: a 60,000-term expression is answered,
/// not a crash. The stacks are reserved address space; only what a query
/// touches is committed.
pub async fn query(inputs: &[ResolvedInput], sql: &str) -> Result<Vec<RecordBatch>, ExecError> {
    let (inputs, sql) = (inputs.to_vec(), sql.to_string());
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("weir-query".into())
        .stack_size(DEEP_STACK)
        .spawn(move || {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            let result = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(cores)
                .thread_stack_size(DEEP_STACK)
                .enable_all()
                .build()
                .map_err(ExecError::Io)
                .and_then(|rt| rt.block_on(run(&inputs, &sql, cores)));
            let _ = tx.send(result);
        })
        .map_err(ExecError::Io)?;
    rx.await
        .map_err(|_| ExecError::job("the query failed: its thread ended without an answer"))?
}

/// The stack of query threads: enough for about 60,000 nested terms.
const DEEP_STACK: usize = 1 << 30;

async fn run(inputs: &[ResolvedInput], sql: &str, cores: usize) -> Result<Vec<RecordBatch>, ExecError> {
    weir_core::sqlcheck::depth_guard(sql).map_err(|e| ExecError::job(e.to_string()))?;
    let session = crate::engine::session(cores);
    for input in inputs {
        register(&session, input).await?;
    }
    let read_only = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let df = session
        .sql_with_options(sql, read_only)
        .await
        .map_err(|e| ExecError::job(e.to_string()))?;
    df.collect().await.map_err(|e| ExecError::job(e.to_string()))
}

/// The batches as an Arrow IPC stream (what `POST /api/v1/sql` answers to
/// `format = "arrow"`: pyarrow and DuckDB read it directly).
pub fn ipc(batches: &[RecordBatch]) -> Result<Vec<u8>, ExecError> {
    let err = |e: arrow::error::ArrowError| ExecError::job(e.to_string());
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    {
        let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut out, &first.schema()).map_err(err)?;
        for b in batches {
            w.write(b).map_err(err)?;
        }
        w.finish().map_err(err)?;
    }
    Ok(out)
}

/// The first `limit` rows of `batches`, and whether any were cut.
pub fn head(batches: Vec<RecordBatch>, limit: usize) -> (Vec<RecordBatch>, bool) {
    let mut left = limit;
    let mut out = Vec::new();
    let mut cut = false;
    for b in batches {
        if left == 0 {
            cut |= b.num_rows() > 0;
            continue;
        }
        if b.num_rows() > left {
            out.push(b.slice(0, left));
            cut = true;
            left = 0;
        } else {
            left -= b.num_rows();
            out.push(b);
        }
    }
    (out, cut)
}

/// Renders batches as text.
pub fn render(batches: &[RecordBatch], how: Render) -> Result<String, ExecError> {
    let err = |e: arrow::error::ArrowError| ExecError::job(e.to_string());
    match how {
        Render::Table => Ok(arrow::util::pretty::pretty_format_batches(batches)
            .map_err(err)?
            .to_string()),
        Render::Json => {
            let mut w = arrow::json::ArrayWriter::new(Vec::new());
            for b in batches {
                w.write(b).map_err(err)?;
            }
            w.finish().map_err(err)?;
            let bytes = w.into_inner();
            Ok(if bytes.is_empty() {
                "[]".to_string()
            } else {
                String::from_utf8_lossy(&bytes).into_owned()
            })
        }
        Render::Csv => {
            let mut out = Vec::new();
            {
                let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(&mut out);
                for b in batches {
                    w.write(b).map_err(err)?;
                }
            }
            Ok(String::from_utf8_lossy(&out).into_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;

    #[tokio::test]
    async fn only_queries_run_and_nothing_is_read_or_written_outside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("x.csv");
        let secret = dir.path().join("secret.csv");
        std::fs::write(&secret, "a\n1\n").expect("write");
        for sql in [
            format!("COPY (SELECT 1) TO '{}'", out.display()),
            format!("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '{}'", secret.display()),
            "CREATE TABLE t AS SELECT 1".to_string(),
            "CREATE VIEW v AS SELECT 1".to_string(),
            "INSERT INTO t VALUES (1)".to_string(),
            "SET datafusion.execution.batch_size = 1".to_string(),
            "DROP TABLE t".to_string(),
            format!("SELECT * FROM '{}'", secret.display()),
        ] {
            let err = query(&[], &sql).await.expect_err(&sql);
            assert!(!err.to_string().is_empty(), "{sql}");
        }
        assert!(!out.exists(), "COPY wrote a file");
        for ok in [
            "SELECT 1 AS one",
            "WITH a AS (SELECT 1 AS x) SELECT x FROM a",
            "EXPLAIN SELECT 1",
        ] {
            query(&[], ok).await.unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    /// DataFusion's `recursive_protection` grows the stack on deep plans, so a
    /// 60,000-term expression is an answer or a clean error, never a crash.
    #[tokio::test]
    async fn a_very_deep_expression_does_not_overflow_the_stack() {
        let sum = |n: usize| format!("SELECT {} AS n", vec!["1"; n].join(" + "));
        let err = query(&[], &sum(60_000)).await.expect_err("refused");
        assert!(err.to_string().contains("nests expressions 60000 deep"), "{err}");
        // Deep but allowed: answered on the deep stack (2 MB overflowed at ~300 in a debug build).
        let batches = query(&[], &sum(800)).await.expect("answered");
        assert_eq!(
            batches[0]
                .column(0)
                .as_primitive::<arrow::datatypes::Int64Type>()
                .value(0),
            800
        );
    }
}
