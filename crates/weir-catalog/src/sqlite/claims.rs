//! Build claims on the SQLite side: one atomic upsert takes a claim (or an
//! expired one over), leases are renewed per owner, and the claim's run id is
//! the fencing token that `holds` and the commit check.

use super::{SqliteCatalog, ints};
use crate::{CatalogError, InstanceKey, Result};
use sqlx::{Row, Sqlite};

impl SqliteCatalog {
    pub(super) async fn claim_impl(
        &self,
        key: &InstanceKey,
        run_id: &str,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO claims (dataset, version, partition, run_id, owner, expires_at_ms)
             SELECT $1, $2, $3, $4, $5, $6
             WHERE NOT EXISTS (SELECT 1 FROM instances WHERE dataset = $1 AND version = $2 AND partition = $3)
             ON CONFLICT (dataset, version, partition) DO UPDATE
               SET run_id = excluded.run_id, owner = excluded.owner, expires_at_ms = excluded.expires_at_ms
               WHERE claims.expires_at_ms <= $7",
        )
        .bind(&key.dataset)
        .bind(i64::from(key.version))
        .bind(key.partition)
        .bind(run_id)
        .bind(owner)
        .bind(now_ms + lease_ms)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn holds_impl(&self, key: &InstanceKey, run_id: &str, now_ms: i64) -> Result<bool> {
        Ok(claim_holder(&self.pool, key, now_ms).await?.is_none_or(|h| h == run_id))
    }

    pub(super) async fn claimed_impl(&self, dataset: &str, version: u32, now_ms: i64) -> Result<Vec<i64>> {
        ints(sqlx::query("SELECT partition FROM claims WHERE dataset = $1 AND version = $2 AND expires_at_ms > $3 ORDER BY partition")
            .bind(dataset)
            .bind(i64::from(version))
            .bind(now_ms)
            .fetch_all(&self.pool)
            .await?)
    }

    pub(super) async fn renew_impl(&self, owner: &str, now_ms: i64, lease_ms: i64) -> Result<()> {
        sqlx::query("UPDATE claims SET expires_at_ms = $1 WHERE owner = $2")
            .bind(now_ms + lease_ms)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn release_impl(&self, owner: &str) -> Result<()> {
        sqlx::query("DELETE FROM claims WHERE owner = $1")
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn unclaim_impl(&self, run_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM claims WHERE run_id = $1")
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn live_runs_impl(&self, now_ms: i64) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT run_id FROM claims WHERE expires_at_ms > $1")
            .bind(now_ms)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map_err(CatalogError::from))
            .collect()
    }
}

impl SqliteCatalog {
    pub(super) async fn running_impl(&self, now_ms: i64) -> Result<Vec<crate::Claim>> {
        let rows = sqlx::query(
            "SELECT dataset, version, partition, run_id, owner, expires_at_ms FROM claims
             WHERE expires_at_ms > $1 ORDER BY dataset, version, partition",
        )
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(crate::Claim {
                    key: super::key_of(r, "")?,
                    run_id: r.try_get(3)?,
                    owner: r.try_get(4)?,
                    expires_at_ms: r.try_get(5)?,
                })
            })
            .collect()
    }
}

/// The run holding a claim on `key` that is unexpired at `now_ms`, if any.
pub(super) async fn claim_holder<'e>(
    db: impl sqlx::Executor<'e, Database = Sqlite>,
    key: &InstanceKey,
    now_ms: i64,
) -> Result<Option<String>> {
    Ok(sqlx::query(
        "SELECT run_id FROM claims WHERE dataset = $1 AND version = $2 AND partition = $3 AND expires_at_ms > $4",
    )
    .bind(&key.dataset)
    .bind(i64::from(key.version))
    .bind(key.partition)
    .bind(now_ms)
    .fetch_optional(db)
    .await?
    .map(|r| r.try_get(0))
    .transpose()?)
}
