//! Runs read back from the catalog with what was recorded with them.

use super::{SqlCatalog, key_of};
use crate::{Result, RunRecord, RunState};
use sqlx::AnyPool;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::{BTreeMap, HashMap};
use weir_core::check::{CheckResult, Severity, Status};

/// Run ids per query: well under SQLite's limit on bound parameters.
const IDS_PER_QUERY: usize = 500;

impl SqlCatalog {
    /// Runs from rows of the `runs` table, with their counters, metrics and
    /// check results: three queries per 500 runs, not three per run.
    pub(super) async fn runs_from_rows(&self, rows: &[AnyRow]) -> Result<Vec<RunRecord>> {
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(RunRecord {
                run_id: row.try_get("run_id")?,
                key: key_of(row, "")?,
                state: RunState::parse(&row.try_get::<String, _>("state")?),
                started_at_ms: row.try_get("started_at_ms")?,
                ended_at_ms: row.try_get("ended_at_ms")?,
                error: row.try_get("error")?,
                log: row.try_get("log")?,
                counters: BTreeMap::new(),
                metrics: BTreeMap::new(),
                checks: Vec::new(),
            });
        }
        let index: HashMap<String, usize> = out.iter().enumerate().map(|(i, r)| (r.run_id.clone(), i)).collect();
        let ids: Vec<String> = out.iter().map(|r| r.run_id.clone()).collect();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let list = (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let counters =
                format!("SELECT run_id, name, value FROM counters WHERE run_id IN ({list}) ORDER BY run_id, name");
            let metrics =
                format!("SELECT run_id, name, value FROM metrics WHERE run_id IN ({list}) ORDER BY run_id, name");
            let checks = format!(
                "SELECT run_id, name, severity, status, detail FROM checks WHERE run_id IN ({list}) ORDER BY run_id, seq"
            );
            // Every row's run is in `index`: it was asked for by its id.
            let run_of = |r: &AnyRow| -> Result<Option<usize>> { Ok(index.get(&r.try_get::<String, _>(0)?).copied()) };
            for r in rows_for(&self.pool, &counters, chunk).await? {
                if let Some(i) = run_of(&r)? {
                    out[i].counters.insert(r.try_get(1)?, r.try_get(2)?);
                }
            }
            for r in rows_for(&self.pool, &metrics, chunk).await? {
                if let Some(i) = run_of(&r)? {
                    out[i]
                        .metrics
                        .insert(r.try_get(1)?, r.try_get::<Option<f64>, _>(2)?.unwrap_or(f64::NAN));
                }
            }
            for r in rows_for(&self.pool, &checks, chunk).await? {
                if let Some(i) = run_of(&r)? {
                    out[i].checks.push(CheckResult {
                        name: r.try_get(1)?,
                        severity: Severity::parse(&r.try_get::<String, _>(2)?).unwrap_or_default(),
                        status: Status::parse(&r.try_get::<String, _>(3)?),
                        detail: r.try_get(4)?,
                    });
                }
            }
        }
        Ok(out)
    }
}

/// The rows of `sql`, its `$1…$n` parameters bound to `ids`. The statement
/// is built here from constant text and one parameter per id; the ids are
/// only bound.
async fn rows_for(pool: &AnyPool, sql: &str, ids: &[String]) -> Result<Vec<AnyRow>> {
    let query = ids
        .iter()
        .fold(sqlx::query(sqlx::AssertSqlSafe(sql.to_string())), |q, id| {
            q.bind(id.clone())
        });
    Ok(query.fetch_all(pool).await?)
}
