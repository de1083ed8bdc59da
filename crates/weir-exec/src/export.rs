//! Serving exports: copy one instance into a SQL database as an immutable
//! table named by the instance (`top_tracks__v3__2026_03_14__1f2e3d4c`) and
//! switch a view (`top_tracks`) to it in one transaction. A revert of the
//! alias switches the view back to a table that is still there: nothing is
//! recomputed. Each view keeps `keep` generations; a table is dropped only
//! when no view keeps it.
//!
//! Which instance a view serves is not decided here: `weir_ops::serving` does.
//!
//! Export URLs may hold secrets: this module never puts them in errors or logs.

use crate::query::query;
use crate::secret::{resolve, scrub};
use crate::{ExecError, ResolvedInput};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float32Type, Float64Type, Int32Type, Int64Type, UInt32Type, UInt64Type};
use serde::Serialize;
use sqlx::any::{Any, AnyPoolOptions};

type AnyPool = sqlx::Pool<Any>;
use sqlx::{AssertSqlSafe, Row};
use std::path::Path;

/// What one export sync did.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

async fn connect(spec: &str, project_dir: &Path) -> Result<AnyPool, ExecError> {
    sqlx::any::install_default_drivers();
    let (url, shown) = resolve(spec)?;
    let url = url.as_str();
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
            "export target {shown} is not supported: use sqlite://PATH, postgres://… or env:NAME"
        )));
    };
    AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect(&target)
        .await
        .map_err(|e| {
            ExecError::job(format!(
                "cannot reach export target {shown}: {}",
                scrub(&e.to_string(), url)
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
        // Text columns are rendered before any await: Arrow's formatters are
        // not `Send`, and this future must be (the server runs it on its pool).
        let texts: Vec<Option<Vec<String>>> = b
            .columns()
            .iter()
            .map(|c| {
                if matches!(sql_type(c.data_type()), "BIGINT" | "DOUBLE PRECISION" | "BOOLEAN") {
                    return Ok(None);
                }
                let f = arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &Default::default())?;
                Ok(Some((0..b.num_rows()).map(|r| f.value(r).to_string()).collect()))
            })
            .collect::<Result<_, arrow::error::ArrowError>>()
            .map_err(fail)?;
        for row in 0..b.num_rows() {
            let mut q = sqlx::query(AssertSqlSafe(insert.clone()));
            for (c, col) in b.columns().iter().enumerate() {
                let null = col.is_null(row);
                q = match sql_type(col.data_type()) {
                    "BIGINT" => q.bind((!null).then(|| int_at(col.as_ref(), row))),
                    "DOUBLE PRECISION" => q.bind((!null).then(|| float_at(col.as_ref(), row))),
                    "BOOLEAN" => q.bind((!null).then(|| col.as_boolean().value(row))),
                    _ => q.bind((!null).then(|| texts[c].as_ref().map(|t| t[row].clone()).unwrap_or_default())),
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

/// PostgreSQL truncates identifiers beyond 63 bytes, so longer names would collide.
pub const MAX_IDENTIFIER: usize = 63;

/// The table that holds one instance: `<table>__v<N>__<partition>__<hash8>`,
/// where `hash8` is the first 8 hex digits of the instance manifest's sha256,
/// so a rebuilt instance is a new table. A name over [`MAX_IDENTIFIER`] bytes
/// is shortened in its prefix, never in the hash.
pub fn instance_table(table: &str, version: u32, partition: &str, manifest_sha256: &str) -> String {
    let suffix: String = partition
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let hash: String = manifest_sha256.chars().take(8).collect();
    let mut prefix = format!("{table}__v{version}__{suffix}");
    let room = MAX_IDENTIFIER - (2 + hash.len());
    if prefix.len() > room {
        let mut cut = room;
        while !prefix.is_char_boundary(cut) {
            cut -= 1;
        }
        prefix.truncate(cut);
    }
    format!("{prefix}__{hash}")
}

/// What one sync is asked to do: make `view` serve `table`, loading it from
/// `source` if it is not there yet, and keep `keep` generations of `view`.
#[derive(Clone, Debug)]
pub struct ExportRequest<'a> {
    pub url: &'a str,
    pub project_dir: &'a Path,
    pub view: &'a str,
    pub table: &'a str,
    pub keep: u32,
    pub source: &'a ResolvedInput,
}

const GENERATIONS: &str = "CREATE TABLE IF NOT EXISTS weir_export_generations (view TEXT NOT NULL, table_name TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (view, table_name))";

/// Opens the target and makes sure the generations table exists. Tables that
/// an older weir listed in `weir_exports` (one view per table) are carried over.
async fn open_target(url: &str, project_dir: &Path) -> Result<AnyPool, ExecError> {
    let pool = connect(url, project_dir).await?;
    sqlx::query(GENERATIONS).execute(&pool).await.map_err(fail)?;
    // Best effort, once: the old table may not exist. Its rows move over and
    // it is dropped, so what `prune` forgets is never carried over again.
    let carried = sqlx::query(
        "INSERT INTO weir_export_generations (view, table_name, created_at) SELECT view, table_name, created_at FROM weir_exports WHERE NOT EXISTS (SELECT 1 FROM weir_export_generations g WHERE g.view = weir_exports.view AND g.table_name = weir_exports.table_name)",
    )
    .execute(&pool)
    .await;
    if carried.is_ok() {
        let _ = sqlx::query("DROP TABLE weir_exports").execute(&pool).await;
    }
    Ok(pool)
}

/// Makes the view serve the requested table, creating and loading it if
/// needed, in one transaction; then drops generations beyond `keep` that no
/// view keeps.
pub async fn sync(req: &ExportRequest<'_>) -> Result<ExportResult, ExecError> {
    let pool = open_target(req.url, req.project_dir).await?;
    let (view, table) = (req.view, req.table);
    // A table is loaded and listed in one transaction, so a listed table is whole.
    let exists = sqlx::query("SELECT 1 FROM weir_export_generations WHERE table_name = $1")
        .bind(table)
        .fetch_optional(&pool)
        .await
        .map_err(fail)?
        .is_some();
    let batches = if exists {
        Vec::new()
    } else {
        let mut src = req.source.clone();
        src.table = "export_source".into();
        query(std::slice::from_ref(&src), "SELECT * FROM export_source").await?
    };
    let mut tx = pool.begin().await.map_err(fail)?;
    let rows = if exists {
        None
    } else {
        Some(load(&mut tx, table, &batches).await?)
    };
    sqlx::query(AssertSqlSafe(format!("DROP VIEW IF EXISTS {}", quote(view))))
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
    sqlx::query(AssertSqlSafe(format!(
        "CREATE VIEW {} AS SELECT * FROM {}",
        quote(view),
        quote(table)
    )))
    .execute(&mut *tx)
    .await
    .map_err(fail)?;
    sqlx::query("DELETE FROM weir_export_generations WHERE view = $1 AND table_name = $2")
        .bind(view)
        .bind(table)
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
    sqlx::query("INSERT INTO weir_export_generations (view, table_name, created_at) VALUES ($1, $2, $3)")
        .bind(view)
        .bind(table)
        .bind(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
    tx.commit().await.map_err(fail)?;
    let dropped = prune(&pool, view, table, req.keep).await?;
    pool.close().await;
    Ok(ExportResult {
        view: view.to_string(),
        table: table.to_string(),
        created: !exists,
        rows,
        dropped,
    })
}

/// Forgets the generations of `view` beyond the newest `keep` (never the one
/// it serves), and drops each forgotten table that no other view keeps: a
/// candidate's view never drops the table production's revert needs.
async fn prune(pool: &AnyPool, view: &str, serving: &str, keep: u32) -> Result<Vec<String>, ExecError> {
    let all = sqlx::query(
        "SELECT table_name FROM weir_export_generations WHERE view = $1 ORDER BY created_at DESC, table_name DESC",
    )
    .bind(view)
    .fetch_all(pool)
    .await
    .map_err(fail)?;
    let mut dropped = Vec::new();
    for (i, r) in all.iter().enumerate() {
        let name: String = r.try_get(0).map_err(fail)?;
        if i < keep.max(1) as usize || name == serving {
            continue;
        }
        sqlx::query("DELETE FROM weir_export_generations WHERE view = $1 AND table_name = $2")
            .bind(view)
            .bind(&name)
            .execute(pool)
            .await
            .map_err(fail)?;
        let kept_elsewhere = sqlx::query("SELECT 1 FROM weir_export_generations WHERE table_name = $1")
            .bind(&name)
            .fetch_optional(pool)
            .await
            .map_err(fail)?
            .is_some();
        if !kept_elsewhere {
            sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS {}", quote(&name))))
                .execute(pool)
                .await
                .map_err(fail)?;
            dropped.push(name);
        }
    }
    Ok(dropped)
}

/// Drops `view` (its tables stay, for a revert): its source serves nothing
/// that may be read.
pub async fn unserve(url: &str, project_dir: &Path, view: &str) -> Result<(), ExecError> {
    let pool = open_target(url, project_dir).await?;
    sqlx::query(AssertSqlSafe(format!("DROP VIEW IF EXISTS {}", quote(view))))
        .execute(&pool)
        .await
        .map_err(fail)?;
    pool.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_tables_fit_postgresql_and_keep_their_hash() {
        let sha = "1f2e3d4c5b6a79880000";
        assert_eq!(
            instance_table("daily", 3, "2026-03-14", sha),
            "daily__v3__2026_03_14__1f2e3d4c"
        );
        let long = "a_very_long_serving_table_name_that_goes_on_and_on_forever";
        let a = instance_table(long, 12, "2026-03-14T05", sha);
        let b = instance_table(long, 12, "2026-03-14T05", "99999999");
        assert!(a.len() <= MAX_IDENTIFIER && b.len() <= MAX_IDENTIFIER, "{a}");
        assert!(a.ends_with("__1f2e3d4c") && b.ends_with("__99999999"), "{a} {b}");
        assert_ne!(a, b, "two instances never share a table");
        let accented = instance_table(&"é".repeat(40), 1, "all", sha);
        assert!(accented.len() <= MAX_IDENTIFIER && accented.ends_with("__1f2e3d4c"));
    }

    #[tokio::test]
    async fn unreachable_or_unsupported_targets_are_clear_errors_without_secrets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = connect("postgres://weir:s3cret@127.0.0.1:1/db", dir.path())
            .await
            .expect_err("unsupported");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let err = connect("postgres://127.0.0.1:1/db?user=u&password=s3cret", dir.path())
            .await
            .expect_err("unreachable");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let err = connect("env:WEIR_TEST_SURELY_UNSET_VAR", dir.path())
            .await
            .expect_err("unset");
        assert!(
            err.to_string().contains("$WEIR_TEST_SURELY_UNSET_VAR is not set"),
            "{err}"
        );
        let err = connect("sqlite:///nonexistent-dir/deeper/x.db", dir.path())
            .await
            .expect_err("unreachable");
        assert!(err.to_string().contains("cannot reach export target"), "{err}");
    }
}
