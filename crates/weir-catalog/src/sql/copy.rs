//! `weir catalog migrate`: a whole catalog copied into another (SQLite to
//! PostgreSQL, or back), in one write transaction on the target, verified by
//! counting every table's rows on both sides before it commits.
//!
//! Rows are inserted with `ON CONFLICT DO NOTHING`, so a second copy adds
//! nothing and a copy that stopped half-way (it cannot: one transaction) would
//! simply be done again. Claims are not copied: they belong to processes of
//! the old catalog. The change feed is copied as it is, numbers included,
//! after the rows whose triggers would have added to it.

use super::{Dialect, SqlCatalog};
use crate::{CatalogError, Result};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Clone, Copy)]
enum Kind {
    Int,
    Real,
    Text,
}

use Kind::{Int, Real, Text};

/// Every table a copy carries, with its columns, in an order that suits the
/// triggers (the change feed last).
const TABLES: &[(&str, &[(&str, Kind)])] = &[
    (
        "versions",
        &[
            ("dataset", Text),
            ("number", Int),
            ("fingerprint", Text),
            ("spec", Text),
            ("created_at_ms", Int),
        ],
    ),
    (
        "instances",
        &[
            ("dataset", Text),
            ("version", Int),
            ("partition", Int),
            ("partition_key", Text),
            ("run_id", Text),
            ("location", Text),
            ("rows", Int),
            ("bytes", Int),
            ("files", Int),
            ("committed_at_ms", Int),
            ("blocked", Int),
        ],
    ),
    (
        "lineage",
        &[
            ("dataset", Text),
            ("version", Int),
            ("partition", Int),
            ("in_dataset", Text),
            ("in_version", Int),
            ("in_partition", Int),
        ],
    ),
    (
        "runs",
        &[
            ("run_id", Text),
            ("dataset", Text),
            ("version", Int),
            ("partition", Int),
            ("state", Text),
            ("started_at_ms", Int),
            ("ended_at_ms", Int),
            ("error", Text),
            ("log", Text),
        ],
    ),
    ("counters", &[("run_id", Text), ("name", Text), ("value", Int)]),
    ("metrics", &[("run_id", Text), ("name", Text), ("value", Real)]),
    (
        "checks",
        &[
            ("run_id", Text),
            ("seq", Int),
            ("name", Text),
            ("severity", Text),
            ("status", Text),
            ("detail", Text),
        ],
    ),
    (
        "deployments",
        &[
            ("env", Text),
            ("seq", Int),
            ("deployed_at_ms", Int),
            ("message", Text),
            ("window_span", Text),
            ("files", Text),
            ("versions", Text),
        ],
    ),
    (
        "aliases",
        &[
            ("env", Text),
            ("dataset", Text),
            ("version", Int),
            ("pinned", Int),
            ("updated_at_ms", Int),
        ],
    ),
    (
        "selector_splits",
        &[
            ("env", Text),
            ("selector", Text),
            ("seq", Int),
            ("split", Text),
            ("kind", Text),
            ("reason", Text),
            ("by_actor", Text),
            ("at_ms", Int),
        ],
    ),
    (
        "alias_moves",
        &[
            ("env", Text),
            ("dataset", Text),
            ("seq", Int),
            ("from_version", Int),
            ("to_version", Int),
            ("pinned", Int),
            ("kind", Text),
            ("reason", Text),
            ("at_ms", Int),
        ],
    ),
    (
        "trash",
        &[
            ("dataset", Text),
            ("version", Int),
            ("partition", Int),
            ("partition_key", Text),
            ("run_id", Text),
            ("location", Text),
            ("trash_id", Text),
            ("reason", Text),
            ("trashed_at_ms", Int),
        ],
    ),
    (
        "acceptances",
        &[
            ("rowid", Int),
            ("dataset", Text),
            ("version", Int),
            ("partition", Int),
            ("run_id", Text),
            ("reason", Text),
            ("accepted_by", Text),
            ("checks", Text),
            ("at_ms", Int),
        ],
    ),
    (
        "tokens",
        &[
            ("hash", Text),
            ("name", Text),
            ("role", Text),
            ("streams", Text),
            ("created_at_ms", Int),
            ("created_by", Text),
            ("expires_at_ms", Int),
            ("revoked_at_ms", Int),
        ],
    ),
    (
        "audit",
        &[
            ("seq", Int),
            ("at_ms", Int),
            ("actor", Text),
            ("via", Text),
            ("action", Text),
            ("args", Text),
            ("outcome", Text),
        ],
    ),
    (
        "paused",
        &[
            ("env", Text),
            ("dataset", Text),
            ("by_whom", Text),
            ("reason", Text),
            ("at_ms", Int),
        ],
    ),
    ("cancels", &[("run_id", Text), ("by_whom", Text), ("at_ms", Int)]),
    (
        "sla_misses",
        &[
            ("env", Text),
            ("dataset", Text),
            ("partition", Int),
            ("partition_key", Text),
            ("version", Int),
            ("deadline_ms", Int),
            ("missed_at_ms", Int),
            ("recovered_at_ms", Int),
            ("alerted_ms", Int),
            ("recovery_alerted_ms", Int),
        ],
    ),
    (
        "alerts",
        &[("id", Text), ("at_ms", Int), ("event", Text), ("sent_ms", Int)],
    ),
    (
        "changes",
        &[
            ("seq", Int),
            ("at_ms", Int),
            ("kind", Text),
            ("env", Text),
            ("dataset", Text),
            ("detail", Text),
        ],
    ),
];

/// The identity columns PostgreSQL must continue after the copied numbers.
const SEQUENCES: &[(&str, &str)] = &[("audit", "seq"), ("changes", "seq"), ("acceptances", "rowid")];

/// Rows per `INSERT` (well under SQLite's limit on bound parameters).
const ROWS_PER_INSERT: usize = 200;

/// One table of a copy.
#[derive(Clone, Debug, Serialize)]
pub struct TableCopy {
    pub table: String,
    /// Rows in the source.
    pub source: u64,
    /// Rows the copy added to the target (0 when it was copied before).
    pub added: u64,
    /// Rows in the target after the copy.
    pub target: u64,
}

/// What `copy_into` did, table by table.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CopyReport {
    pub tables: Vec<TableCopy>,
}

enum Value {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
}

impl Value {
    fn is_null(&self) -> bool {
        matches!(self, Value::Int(None) | Value::Real(None) | Value::Text(None))
    }
}

fn read(row: &AnyRow, cols: &[(&str, Kind)]) -> Result<Vec<Value>> {
    cols.iter()
        .enumerate()
        .map(|(i, (_, kind))| {
            Ok(match kind {
                Int => Value::Int(row.try_get(i)?),
                Real => Value::Real(row.try_get(i)?),
                Text => Value::Text(row.try_get(i)?),
            })
        })
        .collect()
}

impl SqlCatalog {
    /// Copies every row of this catalog into `target` (claims aside), then
    /// checks that each table holds as many rows on both sides.
    pub async fn copy_into(&self, target: &SqlCatalog) -> Result<CopyReport> {
        let mut tx = target.write().await?;
        let mut report = CopyReport::default();
        let feed_before: i64 = sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM changes")
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        for (table, cols) in TABLES {
            let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {} FROM {table}", names.join(", "))))
                .fetch_all(&self.pool)
                .await?;
            if *table == "changes" {
                // What the triggers added while the rows above went in makes
                // way for the source's feed, numbers and all.
                sqlx::query("DELETE FROM changes WHERE seq > $1")
                    .bind(feed_before)
                    .execute(&mut *tx)
                    .await?;
            }
            let mut added = 0;
            for chunk in rows.chunks(ROWS_PER_INSERT) {
                let values: Vec<Vec<Value>> = chunk.iter().map(|r| read(r, cols)).collect::<Result<_>>()?;
                // Nulls are written as NULL, not bound: the Any driver would
                // bind them with a type of its own choosing.
                let mut n = 0;
                let tuples: Vec<String> = values
                    .iter()
                    .map(|v| {
                        let ps: Vec<String> = v
                            .iter()
                            .map(|x| {
                                if x.is_null() {
                                    "NULL".to_string()
                                } else {
                                    n += 1;
                                    format!("${n}")
                                }
                            })
                            .collect();
                        format!("({})", ps.join(", "))
                    })
                    .collect();
                let sql = format!(
                    "INSERT INTO {table} ({}) VALUES {} ON CONFLICT DO NOTHING",
                    names.join(", "),
                    tuples.join(", ")
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for v in values.into_iter().flatten() {
                    q = match v {
                        Value::Int(Some(x)) => q.bind(x),
                        Value::Real(Some(x)) => q.bind(x),
                        Value::Text(Some(x)) => q.bind(x),
                        Value::Int(None) | Value::Real(None) | Value::Text(None) => q,
                    };
                }
                added += q.execute(&mut *tx).await?.rows_affected();
            }
            report.tables.push(TableCopy {
                table: (*table).to_string(),
                source: rows.len() as u64,
                added,
                target: 0,
            });
        }
        if target.dialect == Dialect::Postgres {
            for (table, col) in SEQUENCES {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', '{col}'), GREATEST((SELECT MAX({col}) FROM {table}), 1))"
                )))
                .execute(&mut *tx)
                .await?;
            }
        }
        // Verified inside the transaction: a target that is not a copy of
        // this catalog (it was used on its own) is left as it was.
        for t in &mut report.tables {
            let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {}", t.table)))
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
            t.target = u64::try_from(n).unwrap_or(0);
            if t.target != t.source {
                return Err(CatalogError::Copy(format!(
                    "table {} has {} rows here and would have {} in the target, which is not a copy of this catalog (was it used on its own?); nothing was copied",
                    t.table, t.source, t.target
                )));
            }
        }
        tx.commit().await?;
        Ok(report)
    }
}
