//! Ad-hoc queries (`weir sql`): DataFusion over the versions consumers read,
//! rendered as a table, JSON or CSV.

use crate::sql::register;
use crate::{ExecError, ResolvedInput};
use arrow::array::RecordBatch;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{SessionConfig, SessionContext};

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
pub async fn query(inputs: &[ResolvedInput], sql: &str) -> Result<Vec<RecordBatch>, ExecError> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let session = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(cores));
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
}
