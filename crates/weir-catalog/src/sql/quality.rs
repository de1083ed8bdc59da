//! The quality side of the catalog: check results, metrics, blocked
//! instances, acceptances and the history that checks read.

use super::{SqlCatalog, ints, key_of};
use crate::{Acceptance, HistoryPoint, InstanceKey, Result};
use sqlx::Row;
use std::collections::BTreeMap;

impl SqlCatalog {
    pub(super) async fn blocked_impl(&self, dataset: &str, version: u32) -> Result<Vec<i64>> {
        ints(
            sqlx::query(
                "SELECT partition FROM instances WHERE dataset = $1 AND version = $2 AND blocked = 1 ORDER BY partition",
            )
            .bind(dataset)
            .bind(i64::from(version))
            .fetch_all(&self.pool)
            .await?,
        )
    }

    pub(super) async fn accept_impl(
        &self,
        key: &InstanceKey,
        reason: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<Option<Acceptance>> {
        let mut tx = self.write().await?;
        let Some(row) = sqlx::query(
            "SELECT run_id FROM instances WHERE dataset = $1 AND version = $2 AND partition = $3 AND blocked = 1",
        )
        .bind(&key.dataset)
        .bind(i64::from(key.version))
        .bind(key.partition)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let run_id: String = row.try_get(0)?;
        let failing: Vec<String> = sqlx::query(
            "SELECT name FROM checks WHERE run_id = $1 AND severity = 'block' AND status IN ('fail', 'error') ORDER BY seq",
        )
        .bind(&run_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<std::result::Result<_, _>>()?;
        sqlx::query("UPDATE instances SET blocked = 0 WHERE dataset = $1 AND version = $2 AND partition = $3")
            .bind(&key.dataset)
            .bind(i64::from(key.version))
            .bind(key.partition)
            .execute(&mut *tx)
            .await?;
        let checks_json = serde_json::to_string(&failing).unwrap_or_else(|_| "[]".into());
        sqlx::query(
            "INSERT INTO acceptances (dataset, version, partition, run_id, reason, accepted_by, checks, at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&key.dataset)
        .bind(i64::from(key.version))
        .bind(key.partition)
        .bind(&run_id)
        .bind(reason)
        .bind(by)
        .bind(&checks_json)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(Acceptance {
            key: key.clone(),
            run_id,
            reason: reason.to_string(),
            by: by.to_string(),
            checks: failing,
            at_ms: now_ms,
        }))
    }

    pub(super) async fn acceptances_impl(&self, dataset: Option<&str>) -> Result<Vec<Acceptance>> {
        sqlx::query(
            "SELECT dataset, version, partition, run_id, reason, accepted_by, checks, at_ms FROM acceptances
             WHERE $1 IS NULL OR dataset = $1 ORDER BY at_ms, rowid",
        )
        .bind(dataset)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(Acceptance {
                key: key_of(r, "")?,
                run_id: r.try_get("run_id")?,
                reason: r.try_get("reason")?,
                by: r.try_get("accepted_by")?,
                checks: serde_json::from_str(&r.try_get::<String, _>("checks")?).unwrap_or_default(),
                at_ms: r.try_get("at_ms")?,
            })
        })
        .collect()
    }

    pub(super) async fn history_impl(
        &self,
        dataset: &str,
        version: u32,
        lo: i64,
        hi: i64,
    ) -> Result<Vec<HistoryPoint>> {
        let rows = sqlx::query(
            "SELECT i.partition, c.name, CAST(c.value AS DOUBLE PRECISION) FROM instances i JOIN counters c ON c.run_id = i.run_id
             WHERE i.dataset = $1 AND i.version = $2 AND i.partition >= $3 AND i.partition < $4 AND i.blocked = 0
             UNION ALL
             SELECT i.partition, m.name, m.value FROM instances i JOIN metrics m ON m.run_id = i.run_id
             WHERE i.dataset = $1 AND i.version = $2 AND i.partition >= $3 AND i.partition < $4 AND i.blocked = 0
             ORDER BY 1",
        )
        .bind(dataset)
        .bind(i64::from(version))
        .bind(lo)
        .bind(hi)
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<HistoryPoint> = Vec::new();
        for r in rows {
            let p: i64 = r.try_get(0)?;
            let name: String = r.try_get(1)?;
            let value = r.try_get::<Option<f64>, _>(2)?.unwrap_or(f64::NAN);
            match out.last_mut() {
                Some(h) if h.partition == p => {
                    h.values.insert(name, value);
                }
                _ => out.push(HistoryPoint {
                    partition: p,
                    values: BTreeMap::from([(name, value)]),
                }),
            }
        }
        Ok(out)
    }
}
