//! Serving exports: copy the newest partition of the version an alias serves
//! into a SQL database as an immutable table (`top_tracks__v3__2026_03_14`)
//! and switch a view (`top_tracks`) to it in one transaction. A revert of the
//! alias switches the view back to a table that is still there: nothing is
//! recomputed. Old tables are kept for `keep` generations.
//!
//! Export URLs may hold secrets: this module never puts them in errors or logs.

use crate::query::query;
use crate::{ExecError, ResolvedInput};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float32Type, Float64Type, Int32Type, Int64Type, UInt32Type, UInt64Type};
use serde::Serialize;
use sqlx::any::{Any, AnyPoolOptions};

type AnyPool = sqlx::Pool<Any>;
use sqlx::{AssertSqlSafe, Row};
use std::path::Path;

/// What one export sync did.
#[derive(Clone, Debug, Serialize)]
pub struct ExportResult {
    pub view: String,
    pub table: String,
    /// The table was created and loaded now (false: it existed; only the view moved).
    pub created: bool,
    pub rows: Option<i64>,
    pub dropped: Vec<String>,
}

fn fail(e: impl std::fmt::Display) -> ExecError {
    ExecError::job(format!("export failed: {e}"))
}

/// The URL without credentials, for messages.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.rsplit('@').next().unwrap_or(rest)),
        None => url.to_string(),
    }
}

async fn connect(url: &str, project_dir: &Path) -> Result<AnyPool, ExecError> {
    sqlx::any::install_default_drivers();
    let target = if let Some(path) = url.strip_prefix("sqlite://") {
        let path = if Path::new(path).is_absolute() {
            path.into()
        } else {
            project_dir.join(path)
        };
        format!("sqlite://{}?mode=rwc", path.display())
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        url.to_string()
    } else {
        return Err(ExecError::job(format!(
            "export target {} is not supported: use sqlite://PATH or postgres://…",
            redact(url)
        )));
    };
    AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect(&target)
        .await
        .map_err(|e| {
            ExecError::job(format!(
                "cannot reach export target {}: {}",
                redact(url),
                e.to_string().replace(url, "<url>")
            ))
        })
}

/// Column types both SQLite and PostgreSQL understand.
fn sql_type(t: &DataType) -> &'static str {
    match t {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => "BIGINT",
        DataType::Boolean => "BOOLEAN",
        DataType::Float16 | DataType::Float32 | DataType::Float64 => "DOUBLE PRECISION",
        _ => "TEXT",
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Creates `table` and loads `batches` into it, inside `tx`.
async fn load(
    tx: &mut sqlx::Transaction<'static, Any>,
    table: &str,
    batches: &[RecordBatch],
) -> Result<i64, ExecError> {
    let Some(schema) = batches.first().map(|b| b.schema()) else {
        return Err(ExecError::job("export source has no rows and no schema"));
    };
    let cols: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", quote(f.name()), sql_type(f.data_type())))
        .collect();
    sqlx::query(AssertSqlSafe(format!(
        "CREATE TABLE {} ({})",
        quote(table),
        cols.join(", ")
    )))
    .execute(&mut **tx)
    .await
    .map_err(fail)?;
    let marks = (1..=schema.fields().len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let insert = format!("INSERT INTO {} VALUES ({marks})", quote(table));
    let mut n = 0i64;
    for b in batches {
        let formatters: Vec<_> = b
            .columns()
            .iter()
            .map(|c| arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &Default::default()))
            .collect::<Result<_, _>>()
            .map_err(fail)?;
        for row in 0..b.num_rows() {
            let mut q = sqlx::query(AssertSqlSafe(insert.clone()));
            for (c, col) in b.columns().iter().enumerate() {
                let null = col.is_null(row);
                q = match sql_type(col.data_type()) {
                    "BIGINT" => q.bind((!null).then(|| int_at(col.as_ref(), row))),
                    "DOUBLE PRECISION" => q.bind((!null).then(|| float_at(col.as_ref(), row))),
                    "BOOLEAN" => q.bind((!null).then(|| col.as_boolean().value(row))),
                    _ => q.bind((!null).then(|| formatters[c].value(row).to_string())),
                };
            }
            q.execute(&mut **tx).await.map_err(fail)?;
            n += 1;
        }
    }
    Ok(n)
}

fn int_at(col: &dyn Array, row: usize) -> i64 {
    match col.data_type() {
        DataType::Int64 => col.as_primitive::<Int64Type>().value(row),
        DataType::Int32 => i64::from(col.as_primitive::<Int32Type>().value(row)),
        DataType::UInt32 => i64::from(col.as_primitive::<UInt32Type>().value(row)),
        DataType::UInt64 => i64::try_from(col.as_primitive::<UInt64Type>().value(row)).unwrap_or(i64::MAX),
        _ => arrow::compute::cast(&col.slice(row, 1), &DataType::Int64)
            .ok()
            .map_or(0, |a| a.as_primitive::<Int64Type>().value(0)),
    }
}

fn float_at(col: &dyn Array, row: usize) -> f64 {
    match col.data_type() {
        DataType::Float64 => col.as_primitive::<Float64Type>().value(row),
        DataType::Float32 => f64::from(col.as_primitive::<Float32Type>().value(row)),
        _ => arrow::compute::cast(&col.slice(row, 1), &DataType::Float64)
            .ok()
            .map_or(0.0, |a| a.as_primitive::<Float64Type>().value(0)),
    }
}

/// Makes view `view` in `url` serve `source` (one instance of `version`,
/// partition value `partition`), creating its table if needed.
pub async fn sync(
    url: &str,
    project_dir: &Path,
    view: &str,
    keep: u32,
    version: u32,
    partition: &str,
    source: &ResolvedInput,
) -> Result<ExportResult, ExecError> {
    let pool = connect(url, project_dir).await?;
    let suffix: String = partition
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let table = format!("{view}__v{version}__{suffix}");
    sqlx::query("CREATE TABLE IF NOT EXISTS weir_exports (view TEXT NOT NULL, table_name TEXT NOT NULL PRIMARY KEY, created_at TEXT NOT NULL)")
        .execute(&pool)
        .await
        .map_err(fail)?;
    // weir_exports lists the tables weir loaded; a table is loaded and listed in one transaction.
    let exists = sqlx::query("SELECT 1 FROM weir_exports WHERE table_name = $1")
        .bind(&table)
        .fetch_optional(&pool)
        .await
        .map_err(fail)?
        .is_some();
    let batches = if exists {
        Vec::new()
    } else {
        let mut src = source.clone();
        src.table = "export_source".into();
        query(std::slice::from_ref(&src), "SELECT * FROM export_source").await?
    };
    // Load (if new), switch the view and record the generation in one transaction.
    let mut tx = pool.begin().await.map_err(fail)?;
    let rows = if exists {
        None
    } else {
        Some(load(&mut tx, &table, &batches).await?)
    };
    sqlx::query(AssertSqlSafe(format!("DROP VIEW IF EXISTS {}", quote(view))))
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
    sqlx::query(AssertSqlSafe(format!(
        "CREATE VIEW {} AS SELECT * FROM {}",
        quote(view),
        quote(&table)
    )))
    .execute(&mut *tx)
    .await
    .map_err(fail)?;
    if !exists {
        sqlx::query("INSERT INTO weir_exports (view, table_name, created_at) VALUES ($1, $2, $3)")
            .bind(view)
            .bind(&table)
            .bind(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
    }
    tx.commit().await.map_err(fail)?;
    // Keep the newest `keep` generations, and always the one being served.
    let all =
        sqlx::query("SELECT table_name FROM weir_exports WHERE view = $1 ORDER BY created_at DESC, table_name DESC")
            .bind(view)
            .fetch_all(&pool)
            .await
            .map_err(fail)?;
    let mut dropped = Vec::new();
    for (i, r) in all.iter().enumerate() {
        let name: String = r.try_get(0).map_err(fail)?;
        if i < keep as usize || name == table {
            continue;
        }
        sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS {}", quote(&name))))
            .execute(&pool)
            .await
            .map_err(fail)?;
        sqlx::query("DELETE FROM weir_exports WHERE table_name = $1")
            .bind(&name)
            .execute(&pool)
            .await
            .map_err(fail)?;
        dropped.push(name);
    }
    pool.close().await;
    Ok(ExportResult {
        view: view.to_string(),
        table,
        created: !exists,
        rows,
        dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials_in_messages() {
        assert_eq!(
            redact("postgres://weir:s3cret@db:5432/serving"),
            "postgres://db:5432/serving"
        );
        assert_eq!(redact("sqlite://serving.db"), "sqlite://serving.db");
    }

    #[tokio::test]
    async fn unreachable_or_unsupported_targets_are_clear_errors_without_secrets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = connect("postgres://weir:s3cret@127.0.0.1:1/db", dir.path())
            .await
            .expect_err("unsupported");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let err = connect("sqlite:///nonexistent-dir/deeper/x.db", dir.path())
            .await
            .expect_err("unreachable");
        assert!(err.to_string().contains("cannot reach export target"), "{err}");
    }
}
