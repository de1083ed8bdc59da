//! Committing finished runs on the SQLite side: runs, counters, metrics,
//! checks, instances and lineage of a batch in one transaction, fenced by the
//! build claims, and the claims released.

use super::SqlCatalog;
use super::claims::claim_holder;
use crate::{CatalogError, Outcome, Result};

impl SqlCatalog {
    pub(super) async fn commit_impl(&self, batch: &[Outcome], owed: &[(String, String)], at_ms: i64) -> Result<()> {
        if batch.is_empty() && owed.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_rederivable().await?;
        for o in batch {
            let r = &o.run;
            sqlx::query(
                "INSERT INTO runs (run_id, dataset, version, partition, state, started_at_ms, ended_at_ms, error, log)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&r.run_id)
            .bind(&r.key.dataset)
            .bind(i64::from(r.key.version))
            .bind(r.key.partition)
            .bind(r.state.as_str())
            .bind(r.started_at_ms)
            .bind(r.ended_at_ms)
            .bind(&r.error)
            .bind(&r.log)
            .execute(&mut *tx)
            .await?;
            for (name, value) in &r.counters {
                sqlx::query("INSERT INTO counters (run_id, name, value) VALUES ($1, $2, $3)")
                    .bind(&r.run_id)
                    .bind(name)
                    .bind(value)
                    .execute(&mut *tx)
                    .await?;
            }
            for (name, value) in &r.metrics {
                // NaN and ±infinity are recorded as null (and read back as
                // NaN). The null is made in SQL: sqlx's Any driver binds a
                // null f64 as a float4, which PostgreSQL then refuses a
                // float8 for in the same cached statement.
                sqlx::query(
                    "INSERT INTO metrics (run_id, name, value) VALUES ($1, $2, CASE WHEN $4 = 1 THEN $3 ELSE NULL END)",
                )
                .bind(&r.run_id)
                .bind(name)
                .bind(if value.is_finite() { *value } else { 0.0 })
                .bind(i64::from(value.is_finite()))
                .execute(&mut *tx)
                .await?;
            }
            for (seq, c) in r.checks.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO checks (run_id, seq, name, severity, status, detail) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&r.run_id)
                .bind(seq as i64)
                .bind(&c.name)
                .bind(c.severity.as_str())
                .bind(c.status.as_str())
                .bind(&c.detail)
                .execute(&mut *tx)
                .await?;
            }
            if let Some(i) = &o.instance {
                let k = &i.key;
                // The fence: a run whose claim another run took over never commits.
                if let Some(holder) = claim_holder(&mut *tx, k, r.ended_at_ms).await?
                    && holder != r.run_id
                {
                    tx.rollback().await?;
                    return Err(CatalogError::LostClaim {
                        key: k.to_string(),
                        run_id: r.run_id.clone(),
                        holder,
                    });
                }
                let ins = sqlx::query(
                    "INSERT INTO instances (dataset, version, partition, partition_key, run_id, location, rows, bytes, files, committed_at_ms, blocked)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
                )
                .bind(&k.dataset)
                .bind(i64::from(k.version))
                .bind(k.partition)
                .bind(&i.partition_key)
                .bind(&i.run_id)
                .bind(&i.location)
                .bind(i.rows)
                .bind(i.bytes)
                .bind(i.files)
                .bind(i.committed_at_ms)
                .bind(i64::from(i.blocked))
                .execute(&mut *tx)
                .await?;
                if ins.rows_affected() != 1 {
                    tx.rollback().await?;
                    return Err(CatalogError::InstanceExists(k.to_string()));
                }
                for inp in &i.inputs {
                    sqlx::query(
                        "INSERT INTO lineage (dataset, version, partition, in_dataset, in_version, in_partition)
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                    )
                    .bind(&k.dataset)
                    .bind(i64::from(k.version))
                    .bind(k.partition)
                    .bind(&inp.dataset)
                    .bind(i64::from(inp.version))
                    .bind(inp.partition)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            sqlx::query("DELETE FROM claims WHERE run_id = $1")
                .bind(&r.run_id)
                .execute(&mut *tx)
                .await?;
        }
        // Alerts decided from these runs are owed in the same transaction:
        // none is lost to a crash between the commit and its record.
        for (id, event) in owed {
            sqlx::query("INSERT INTO alerts (id, at_ms, event) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
                .bind(id)
                .bind(at_ms)
                .bind(event)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
