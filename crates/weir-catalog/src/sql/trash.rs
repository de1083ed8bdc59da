//! Invalidation on the SQLite side: instances moved to the trash table (with
//! their lineage dropped) in one transaction, and the trash read and purged.

use super::{SqlCatalog, key_of};
use crate::{InstanceKey, Result, TrashRecord};
use sqlx::Row;

impl SqlCatalog {
    pub(super) async fn invalidate_impl(
        &self,
        instances: &[InstanceKey],
        trash_id: &str,
        reason: Option<&str>,
        now_ms: i64,
    ) -> Result<Vec<TrashRecord>> {
        let mut tx = self.write().await?;
        let mut out = Vec::new();
        for k in instances {
            let Some(r) = sqlx::query("SELECT partition_key, run_id, location FROM instances WHERE dataset = $1 AND version = $2 AND partition = $3")
                .bind(&k.dataset)
                .bind(i64::from(k.version))
                .bind(k.partition)
                .fetch_optional(&mut *tx)
                .await?
            else {
                continue;
            };
            let rec = TrashRecord {
                key: k.clone(),
                partition_key: r.try_get(0)?,
                run_id: r.try_get(1)?,
                location: r.try_get(2)?,
                trash_id: trash_id.to_string(),
                reason: reason.map(str::to_string),
                trashed_at_ms: now_ms,
            };
            for sql in [
                "DELETE FROM instances WHERE dataset = $1 AND version = $2 AND partition = $3",
                "DELETE FROM lineage WHERE dataset = $1 AND version = $2 AND partition = $3",
            ] {
                sqlx::query(sql)
                    .bind(&k.dataset)
                    .bind(i64::from(k.version))
                    .bind(k.partition)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO trash (dataset, version, partition, partition_key, run_id, location, trash_id, reason, trashed_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&k.dataset)
            .bind(i64::from(k.version))
            .bind(k.partition)
            .bind(&rec.partition_key)
            .bind(&rec.run_id)
            .bind(&rec.location)
            .bind(trash_id)
            .bind(reason)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            out.push(rec);
        }
        tx.commit().await?;
        Ok(out)
    }

    pub(super) async fn is_trashed_impl(&self, run_id: &str) -> Result<bool> {
        Ok(sqlx::query("SELECT 1 FROM trash WHERE run_id = $1")
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    pub(super) async fn trash_impl(&self) -> Result<Vec<TrashRecord>> {
        let rows = sqlx::query(
            "SELECT dataset, version, partition, partition_key, run_id, location, trash_id, reason, trashed_at_ms FROM trash
             ORDER BY trashed_at_ms, trash_id, dataset, version, partition",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TrashRecord {
                    key: key_of(r, "")?,
                    partition_key: r.try_get(3)?,
                    run_id: r.try_get(4)?,
                    location: r.try_get(5)?,
                    trash_id: r.try_get(6)?,
                    reason: r.try_get(7)?,
                    trashed_at_ms: r.try_get(8)?,
                })
            })
            .collect()
    }

    pub(super) async fn forget_trashed_impl(&self, trash_id: &str, keys: &[InstanceKey]) -> Result<()> {
        let mut tx = self.write().await?;
        for k in keys {
            sqlx::query("DELETE FROM trash WHERE trash_id = $1 AND dataset = $2 AND version = $3 AND partition = $4")
                .bind(trash_id)
                .bind(&k.dataset)
                .bind(i64::from(k.version))
                .bind(k.partition)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn purge_trash_impl(&self, trash_id: &str) -> Result<()> {
        // A write: the trigger announces it in the change feed, in order.
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM trash WHERE trash_id = $1")
            .bind(trash_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
