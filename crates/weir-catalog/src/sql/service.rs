//! The service layer in the catalog: tokens, the audit log, pauses,
//! cancel requests and the change feed (filled by triggers, see the sixth
//! migration).

use super::SqlCatalog;
use crate::{AuditEntry, CatalogError, Change, Pause, Result, SlaMiss, TokenRecord};
use sqlx::Row;
use sqlx::any::AnyRow;

fn token_of(r: &AnyRow) -> Result<TokenRecord> {
    Ok(TokenRecord {
        hash: r.try_get(0)?,
        name: r.try_get(1)?,
        role: r.try_get(2)?,
        streams: serde_json::from_str(&r.try_get::<String, _>(3)?).unwrap_or_default(),
        created_at_ms: r.try_get(4)?,
        created_by: r.try_get(5)?,
        expires_at_ms: r.try_get(6)?,
        revoked_at_ms: r.try_get(7)?,
    })
}

impl SqlCatalog {
    pub(super) async fn create_token_impl(&self, t: &TokenRecord, now_ms: i64) -> Result<()> {
        let mut tx = self.write().await?;
        let active: i64 = sqlx::query(
            "SELECT count(*) FROM tokens WHERE name = $1 AND revoked_at_ms IS NULL
             AND (expires_at_ms IS NULL OR expires_at_ms > $2)",
        )
        .bind(&t.name)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        if active > 0 {
            return Err(CatalogError::TokenExists(t.name.clone()));
        }
        sqlx::query(
            "INSERT INTO tokens (hash, name, role, streams, created_at_ms, created_by, expires_at_ms, revoked_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&t.hash)
        .bind(&t.name)
        .bind(&t.role)
        .bind(serde_json::to_string(&t.streams).unwrap_or_else(|_| "[]".into()))
        .bind(t.created_at_ms)
        .bind(&t.created_by)
        .bind(t.expires_at_ms)
        .bind(t.revoked_at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn tokens_impl(&self) -> Result<Vec<TokenRecord>> {
        let rows = sqlx::query(
            "SELECT hash, name, role, streams, created_at_ms, created_by, expires_at_ms, revoked_at_ms FROM tokens
             ORDER BY created_at_ms, name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token_of).collect()
    }

    pub(super) async fn token_impl(&self, hash: &str) -> Result<Option<TokenRecord>> {
        let row = sqlx::query(
            "SELECT hash, name, role, streams, created_at_ms, created_by, expires_at_ms, revoked_at_ms FROM tokens WHERE hash = $1",
        )
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(token_of).transpose()
    }

    pub(super) async fn revoke_token_impl(&self, name: &str, now_ms: i64) -> Result<usize> {
        let mut tx = self.write().await?;
        let n = sqlx::query("UPDATE tokens SET revoked_at_ms = $2 WHERE name = $1 AND revoked_at_ms IS NULL")
            .bind(name)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        // Revocation is a change every server must notice at once.
        sqlx::query("INSERT INTO changes (at_ms, kind, detail) VALUES ($1, 'token', $2)")
            .bind(now_ms)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    pub(super) async fn record_audit_impl(&self, e: &AuditEntry) -> Result<i64> {
        let mut tx = self.write().await?;
        let seq: i64 = sqlx::query(
            "INSERT INTO audit (at_ms, actor, via, action, args, outcome) VALUES ($1, $2, $3, $4, $5, $6)
             RETURNING seq",
        )
        .bind(e.at_ms)
        .bind(&e.actor)
        .bind(&e.via)
        .bind(&e.action)
        .bind(&e.args)
        .bind(&e.outcome)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        tx.commit().await?;
        Ok(seq)
    }

    pub(super) async fn audit_impl(&self, before: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT seq, at_ms, actor, via, action, args, outcome FROM audit
             WHERE ($1 IS NULL OR seq < $1) ORDER BY seq DESC LIMIT $2",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    seq: r.try_get(0)?,
                    at_ms: r.try_get(1)?,
                    actor: r.try_get(2)?,
                    via: r.try_get(3)?,
                    action: r.try_get(4)?,
                    args: r.try_get(5)?,
                    outcome: r.try_get(6)?,
                })
            })
            .collect()
    }

    pub(super) async fn pause_impl(&self, p: &Pause) -> Result<bool> {
        let mut tx = self.write().await?;
        let n = sqlx::query(
            "INSERT INTO paused (env, dataset, by_whom, reason, at_ms) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (env, dataset) DO NOTHING",
        )
        .bind(&p.env)
        .bind(p.dataset.as_deref().unwrap_or(""))
        .bind(&p.by)
        .bind(&p.reason)
        .bind(p.at_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    pub(super) async fn resume_impl(&self, env: &str, dataset: Option<&str>) -> Result<bool> {
        let mut tx = self.write().await?;
        let n = sqlx::query("DELETE FROM paused WHERE env = $1 AND dataset = $2")
            .bind(env)
            .bind(dataset.unwrap_or(""))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    pub(super) async fn paused_impl(&self, env: Option<&str>) -> Result<Vec<Pause>> {
        let rows = sqlx::query(
            "SELECT env, dataset, by_whom, reason, at_ms FROM paused WHERE ($1 IS NULL OR env = $1)
             ORDER BY env, dataset",
        )
        .bind(env)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let ds: String = r.try_get(1)?;
                Ok(Pause {
                    env: r.try_get(0)?,
                    dataset: (!ds.is_empty()).then_some(ds),
                    by: r.try_get(2)?,
                    reason: r.try_get(3)?,
                    at_ms: r.try_get(4)?,
                })
            })
            .collect()
    }

    pub(super) async fn request_cancel_impl(&self, run_id: &str, by: &str, now_ms: i64) -> Result<bool> {
        let mut tx = self.write().await?;
        let n = sqlx::query(
            "INSERT INTO cancels (run_id, by_whom, at_ms) VALUES ($1, $2, $3) ON CONFLICT (run_id) DO NOTHING",
        )
        .bind(run_id)
        .bind(by)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    pub(super) async fn last_change_impl(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM changes")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }

    pub(super) async fn changes_impl(&self, after: i64, limit: u32) -> Result<Vec<Change>> {
        let rows = sqlx::query(
            "SELECT seq, at_ms, kind, env, dataset, detail FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Change {
                    seq: r.try_get(0)?,
                    at_ms: r.try_get(1)?,
                    kind: r.try_get(2)?,
                    env: r.try_get(3)?,
                    dataset: r.try_get(4)?,
                    detail: r
                        .try_get::<Option<String>, _>(5)
                        .or_else(|_| r.try_get::<Option<i64>, _>(5).map(|v| v.map(|v| v.to_string())))?,
                })
            })
            .collect()
    }

    pub(super) async fn record_sla_miss_impl(&self, m: &SlaMiss) -> Result<bool> {
        let mut tx = self.write().await?;
        let n = sqlx::query(
            "INSERT INTO sla_misses (env, dataset, partition, partition_key, version, deadline_ms, missed_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (env, dataset, partition) DO NOTHING",
        )
        .bind(&m.env)
        .bind(&m.dataset)
        .bind(m.partition)
        .bind(&m.partition_key)
        .bind(i64::from(m.version))
        .bind(m.deadline_ms)
        .bind(m.missed_at_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    pub(super) async fn recover_sla_miss_impl(
        &self,
        env: &str,
        dataset: &str,
        partition: i64,
        now_ms: i64,
    ) -> Result<bool> {
        let mut tx = self.write().await?;
        let n = sqlx::query(
            "UPDATE sla_misses SET recovered_at_ms = $4
             WHERE env = $1 AND dataset = $2 AND partition = $3 AND recovered_at_ms IS NULL",
        )
        .bind(env)
        .bind(dataset)
        .bind(partition)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    pub(super) async fn open_sla_misses_impl(&self, env: &str) -> Result<Vec<SlaMiss>> {
        let rows = sqlx::query(
            "SELECT env, dataset, partition, partition_key, version, deadline_ms, missed_at_ms, recovered_at_ms
             FROM sla_misses WHERE env = $1 AND recovered_at_ms IS NULL ORDER BY dataset, partition",
        )
        .bind(env)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(sla_miss_of).collect()
    }

    pub(super) async fn sla_alerts_due_impl(&self, env: &str) -> Result<Vec<(SlaMiss, bool)>> {
        let rows = sqlx::query(
            "SELECT env, dataset, partition, partition_key, version, deadline_ms, missed_at_ms, recovered_at_ms,
                    CASE WHEN alerted_ms IS NULL THEN 0 ELSE 1 END
             FROM sla_misses
             WHERE env = $1 AND (alerted_ms IS NULL OR (recovered_at_ms IS NOT NULL AND recovery_alerted_ms IS NULL))
             ORDER BY missed_at_ms, dataset, partition",
        )
        .bind(env)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            let m = sla_miss_of(r)?;
            let miss_alerted = r.try_get::<i64, _>(8)? == 1;
            if !miss_alerted {
                out.push((m.clone(), false));
            }
            if m.recovered_at_ms.is_some() {
                out.push((m, true));
            }
        }
        Ok(out)
    }

    pub(super) async fn alerts_owed_impl(&self, before_ms: i64) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT id, event FROM alerts WHERE sent_ms IS NULL AND at_ms < $1 ORDER BY at_ms, id LIMIT 1000",
        )
        .bind(before_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }

    pub(super) async fn alert_sent_impl(&self, id: &str, now_ms: i64) -> Result<bool> {
        let n = sqlx::query("UPDATE alerts SET sent_ms = $2 WHERE id = $1 AND sent_ms IS NULL")
            .bind(id)
            .bind(now_ms)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    pub(super) async fn sla_alerted_impl(
        &self,
        env: &str,
        dataset: &str,
        partition: i64,
        recovery: bool,
        now_ms: i64,
    ) -> Result<bool> {
        let sql = if recovery {
            "UPDATE sla_misses SET recovery_alerted_ms = $4
             WHERE env = $1 AND dataset = $2 AND partition = $3 AND recovery_alerted_ms IS NULL"
        } else {
            "UPDATE sla_misses SET alerted_ms = $4
             WHERE env = $1 AND dataset = $2 AND partition = $3 AND alerted_ms IS NULL"
        };
        let mut tx = self.write().await?;
        let n = sqlx::query(sql)
            .bind(env)
            .bind(dataset)
            .bind(partition)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    pub(super) async fn prune_changes_impl(&self, before_ms: i64) -> Result<usize> {
        // The feed keeps its newest entry, so `last_change` never goes back.
        let n = sqlx::query("DELETE FROM changes WHERE at_ms < $1 AND seq < (SELECT MAX(seq) FROM changes)")
            .bind(before_ms)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(super) async fn prune_runs_impl(&self, before_ms: i64) -> Result<usize> {
        let mut tx = self.write().await?;
        let n = sqlx::query(
            "DELETE FROM runs WHERE ended_at_ms < $1
               AND run_id NOT IN (SELECT run_id FROM instances)
               AND run_id NOT IN (SELECT run_id FROM trash)
               AND run_id NOT IN (SELECT run_id FROM acceptances)
               AND EXISTS (SELECT 1 FROM runs l
                           WHERE l.dataset = runs.dataset AND l.version = runs.version
                             AND l.partition = runs.partition
                             AND (l.ended_at_ms > runs.ended_at_ms
                                  OR (l.ended_at_ms = runs.ended_at_ms AND l.run_id > runs.run_id)))",
        )
        .bind(before_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n > 0 {
            for orphans in [
                "DELETE FROM counters WHERE run_id NOT IN (SELECT run_id FROM runs)",
                "DELETE FROM metrics WHERE run_id NOT IN (SELECT run_id FROM runs)",
                "DELETE FROM checks WHERE run_id NOT IN (SELECT run_id FROM runs)",
            ] {
                sqlx::query(orphans).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(usize::try_from(n).unwrap_or(0))
    }
}

fn sla_miss_of(r: &AnyRow) -> Result<SlaMiss> {
    Ok(SlaMiss {
        env: r.try_get(0)?,
        dataset: r.try_get(1)?,
        partition: r.try_get(2)?,
        partition_key: r.try_get(3)?,
        version: u32::try_from(r.try_get::<i64, _>(4)?).unwrap_or(0),
        deadline_ms: r.try_get(5)?,
        missed_at_ms: r.try_get(6)?,
        recovered_at_ms: r.try_get(7)?,
    })
}
