//! Build claims: one atomic upsert takes a claim (or an
//! expired one over), leases are renewed per owner, and the claim's run id is
//! the fencing token that `holds` and the commit check.

use super::{SqlCatalog, ints};
use crate::{CatalogError, InstanceKey, Result};
use sqlx::{Any, Row};

impl SqlCatalog {
    pub(super) async fn claim_impl(
        &self,
        key: &InstanceKey,
        run_id: &str,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool> {
        // The claim's values, $1…$7 of either statement.
        let bind = |q: sqlx::query::Query<'static, Any, sqlx::any::AnyArguments>| {
            q.bind(key.dataset.clone())
                .bind(i64::from(key.version))
                .bind(key.partition)
                .bind(run_id.to_string())
                .bind(owner.to_string())
                .bind(now_ms + lease_ms)
                .bind(now_ms)
        };
        match self.dialect {
            // One statement, which SQLite runs under the file's write lock:
            // the instance check and the upsert see the same catalog.
            super::Dialect::Sqlite => {
                let done = bind(sqlx::query(
                    "INSERT INTO claims (dataset, version, partition, run_id, owner, expires_at_ms)
                     SELECT $1, $2, $3, $4, $5, $6
                     WHERE NOT EXISTS (SELECT 1 FROM instances WHERE dataset = $1 AND version = $2 AND partition = $3)
                     ON CONFLICT (dataset, version, partition) DO UPDATE
                       SET run_id = excluded.run_id, owner = excluded.owner, expires_at_ms = excluded.expires_at_ms
                       WHERE claims.expires_at_ms <= $7",
                ))
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }
            // PostgreSQL would read the instance check from the statement's
            // snapshot, and a commit finishing meanwhile (its claim gone, its
            // instance in) would let a second builder through. `weir_claim`
            // (the schema's function) takes the write lock first, then
            // upserts with a snapshot taken after every other writer's commit:
            // one round trip.
            super::Dialect::Postgres => {
                let n: i64 = bind(sqlx::query("SELECT weir_claim($1, $2, $3, $4, $5, $6, $7, $8)"))
                    .bind(super::WRITE_LOCK)
                    .fetch_one(&self.pool)
                    .await?
                    .try_get(0)?;
                Ok(n == 1)
            }
        }
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

impl SqlCatalog {
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
    db: impl sqlx::Executor<'e, Database = Any>,
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

/// The versions of a `states` call as JSON, for `json_each` (one query for all).
fn versions_json(versions: &[(String, u32)]) -> String {
    serde_json::to_string(&versions.iter().map(|(d, v)| (d.as_str(), *v)).collect::<Vec<_>>()).unwrap_or_default()
}

impl SqlCatalog {
    /// `sql` with `{VERSIONS}` replaced by a common table `v(d, n)` of the
    /// versions in parameter `$1` (a JSON list of `[dataset, number]`).
    fn with_versions(&self, sql: &str) -> sqlx::AssertSqlSafe<String> {
        let cte = match self.dialect {
            super::Dialect::Sqlite => {
                "WITH v(d, n) AS (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each($1))"
            }
            super::Dialect::Postgres => {
                "WITH v(d, n) AS (SELECT e->>0, (e->>1)::BIGINT FROM json_array_elements($1::json) AS t(e))"
            }
        };
        sqlx::AssertSqlSafe(sql.replace("{VERSIONS}", cte))
    }

    /// `Catalog::states` in four queries, whatever the number of versions.
    pub(super) async fn states_impl(
        &self,
        versions: &[(String, u32)],
        now_ms: i64,
        with_failed: bool,
    ) -> Result<Vec<crate::VersionState>> {
        use std::collections::HashMap;
        let mut out: Vec<crate::VersionState> = versions
            .iter()
            .map(|(d, v)| crate::VersionState {
                dataset: d.clone(),
                version: *v,
                ..Default::default()
            })
            .collect();
        let at: HashMap<(String, u32), usize> = versions.iter().cloned().enumerate().map(|(i, k)| (k, i)).collect();
        let list = versions_json(versions);
        let slot = |r: &sqlx::any::AnyRow| -> Result<Option<(usize, i64)>> {
            let d: String = r.try_get(0)?;
            let v = u32::try_from(r.try_get::<i64, _>(1)?).unwrap_or(0);
            Ok(at.get(&(d, v)).map(|i| (*i, r.try_get::<i64, _>(2).unwrap_or(0))))
        };
        match self.dialect {
            // SQLite: runs of consecutive partitions (gaps and islands), one
            // version at a time on one connection, so its window reads the
            // primary key in order and sorts nothing: across all versions at
            // once, SQLite sorted every instance (2 s for 1.8 M of them,
            // against 0.8 s this way).
            super::Dialect::Sqlite => {
                let mut conn = self.pool.acquire().await?;
                for (i, (d, v)) in versions.iter().enumerate() {
                    let runs = sqlx::query(
                        "SELECT MIN(partition), MAX(partition) FROM (
                           SELECT partition, partition - ROW_NUMBER() OVER (ORDER BY partition) AS grp
                           FROM instances WHERE dataset = $1 AND version = $2)
                         GROUP BY grp ORDER BY 1",
                    )
                    .bind(d)
                    .bind(i64::from(*v))
                    .fetch_all(&mut *conn)
                    .await?;
                    for r in &runs {
                        let (lo, hi): (i64, i64) = (r.try_get(0)?, r.try_get(1)?);
                        out[i].present.extend(lo..=hi);
                    }
                }
            }
            // PostgreSQL: runs of consecutive partitions (gaps and islands),
            // so a long history is a few rows, not one per instance.
            super::Dialect::Postgres => {
                let rows = sqlx::query(self.with_versions(
                    "{VERSIONS},
                  p AS (SELECT i.dataset, i.version, i.partition,
                               i.partition - ROW_NUMBER() OVER (PARTITION BY i.dataset, i.version ORDER BY i.partition) AS grp
                        FROM instances i JOIN v ON i.dataset = v.d AND i.version = v.n)
             SELECT dataset, version, MIN(partition), MAX(partition) FROM p
             GROUP BY dataset, version, grp ORDER BY dataset, version, MIN(partition)",
                ))
                .bind(&list)
                .fetch_all(&self.pool)
                .await?;
                for r in &rows {
                    if let Some((i, lo)) = slot(r)? {
                        let hi: i64 = r.try_get(3)?;
                        out[i].present.extend(lo..=hi);
                    }
                }
            }
        }
        let rows = sqlx::query(self.with_versions(
            "{VERSIONS}
             SELECT i.dataset, i.version, i.partition FROM instances i
             JOIN v ON i.dataset = v.d AND i.version = v.n WHERE i.blocked = 1 ORDER BY i.partition",
        ))
        .bind(&list)
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            if let Some((i, p)) = slot(r)? {
                out[i].blocked.push(p);
            }
        }
        let rows = sqlx::query(self.with_versions(
            "{VERSIONS}
             SELECT c.dataset, c.version, c.partition FROM claims c
             JOIN v ON c.dataset = v.d AND c.version = v.n WHERE c.expires_at_ms > $2 ORDER BY c.partition",
        ))
        .bind(&list)
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            if let Some((i, p)) = slot(r)? {
                out[i].claimed.push(p);
            }
        }
        if with_failed {
            let rows = sqlx::query(self.with_versions(
                "{VERSIONS}
                 SELECT r.dataset, r.version, r.partition FROM runs r
                 JOIN v ON r.dataset = v.d AND r.version = v.n
                 WHERE r.state = 'failed'
                   AND r.ended_at_ms = (SELECT MAX(ended_at_ms) FROM runs x WHERE x.dataset = r.dataset AND x.version = r.version AND x.partition = r.partition)
                   AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.dataset = r.dataset AND i.version = r.version AND i.partition = r.partition)
                 GROUP BY r.dataset, r.version, r.partition ORDER BY r.partition"),
            )
            .bind(&list)
            .fetch_all(&self.pool)
            .await?;
            for r in &rows {
                if let Some((i, p)) = slot(r)? {
                    out[i].failed.push(p);
                }
            }
        }
        Ok(out)
    }
}

impl SqlCatalog {
    /// One statement: the lease row is taken if free or expired, renewed if
    /// the holder's own, and left alone otherwise.
    pub(super) async fn lead_impl(&self, role: &str, holder: &str, now_ms: i64, lease_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO leases (role, holder, expires_at_ms) VALUES ($1, $2, $3)
             ON CONFLICT (role) DO UPDATE SET holder = excluded.holder, expires_at_ms = excluded.expires_at_ms
               WHERE leases.holder = excluded.holder OR leases.expires_at_ms <= $4",
        )
        .bind(role)
        .bind(holder)
        .bind(now_ms + lease_ms)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn resign_impl(&self, role: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM leases WHERE role = $1 AND holder = $2")
            .bind(role)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn leader_impl(&self, role: &str, now_ms: i64) -> Result<Option<String>> {
        let row = sqlx::query("SELECT holder FROM leases WHERE role = $1 AND expires_at_ms > $2")
            .bind(role)
            .bind(now_ms)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }
}
