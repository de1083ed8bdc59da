//! Ad-hoc queries (`weir sql`): DataFusion over the versions consumers read,
//! rendered as a table, JSON or CSV.

use crate::sql::register;
use crate::{ExecError, ResolvedInput};
use arrow::array::RecordBatch;
use datafusion::prelude::{SessionConfig, SessionContext};

/// How to print a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Render {
    Table,
    Json,
    Csv,
}

/// Runs `sql` with every input registered as a table.
pub async fn query(inputs: &[ResolvedInput], sql: &str) -> Result<Vec<RecordBatch>, ExecError> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let session = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(cores));
    for input in inputs {
        register(&session, input).await?;
    }
    let df = session.sql(sql).await.map_err(|e| ExecError::job(e.to_string()))?;
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
