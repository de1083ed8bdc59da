//! Environments in the catalog: deployments (append-only snapshots),
//! aliases and their move history.

use super::SqlCatalog;
use crate::{Alias, AliasMove, CatalogError, Deployment, MoveKind, Result, SplitChange};
use sqlx::Row;
use sqlx::any::AnyRow;

impl SqlCatalog {
    pub(super) async fn deploy_impl(&self, d: &Deployment) -> Result<Deployment> {
        let mut tx = self.write().await?;
        let seq: i64 = sqlx::query("SELECT COALESCE(MAX(seq), 0) + 1 FROM deployments WHERE env = $1")
            .bind(&d.env)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        sqlx::query(
            "INSERT INTO deployments (env, seq, deployed_at_ms, message, window_span, files, versions)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&d.env)
        .bind(seq)
        .bind(d.deployed_at_ms)
        .bind(&d.message)
        .bind(&d.window)
        .bind(serde_json::to_string(&d.files).unwrap_or_default())
        .bind(serde_json::to_string(&d.versions).unwrap_or_default())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Deployment {
            seq: u32::try_from(seq).unwrap_or(0),
            ..d.clone()
        })
    }

    pub(super) async fn deployments_impl(&self, env: Option<&str>) -> Result<Vec<Deployment>> {
        let rows = sqlx::query(
            "SELECT env, seq, deployed_at_ms, message, window_span, files, versions FROM deployments
             WHERE ($1 IS NULL OR env = $1) ORDER BY deployed_at_ms, env, seq",
        )
        .bind(env)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Deployment {
                    env: r.try_get(0)?,
                    seq: u32::try_from(r.try_get::<i64, _>(1)?).unwrap_or(0),
                    deployed_at_ms: r.try_get(2)?,
                    message: r.try_get(3)?,
                    window: r.try_get(4)?,
                    files: serde_json::from_str(&r.try_get::<String, _>(5)?).unwrap_or_default(),
                    versions: serde_json::from_str(&r.try_get::<String, _>(6)?).unwrap_or_default(),
                })
            })
            .collect()
    }

    pub(super) async fn alias_impl(&self, env: &str, dataset: &str) -> Result<Option<Alias>> {
        let row = sqlx::query(
            "SELECT env, dataset, version, pinned, updated_at_ms FROM aliases WHERE env = $1 AND dataset = $2",
        )
        .bind(env)
        .bind(dataset)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(alias_of).transpose()
    }

    pub(super) async fn aliases_impl(&self, env: &str) -> Result<Vec<Alias>> {
        let rows = sqlx::query(
            "SELECT env, dataset, version, pinned, updated_at_ms FROM aliases WHERE env = $1 ORDER BY dataset",
        )
        .bind(env)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(alias_of).collect()
    }

    pub(super) async fn move_alias_impl(&self, mv: &AliasMove) -> Result<Alias> {
        let mut tx = self.write().await?;
        let current: Option<(i64, i64)> =
            sqlx::query("SELECT version, pinned FROM aliases WHERE env = $1 AND dataset = $2")
                .bind(&mv.env)
                .bind(&mv.dataset)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| Ok::<_, sqlx::Error>((r.try_get(0)?, r.try_get(1)?)))
                .transpose()?;
        let from = current.map(|(v, _)| v);
        // Compare and swap: the alias must still be where the move starts, and
        // an advance never moves a pinned alias.
        let stale = from.map(|v| u32::try_from(v).unwrap_or(0)) != mv.from_version;
        let pinned = current.is_some_and(|(_, p)| p != 0) && mv.kind == MoveKind::Advance;
        if stale || pinned {
            tx.rollback().await?;
            return Err(CatalogError::AliasMoved {
                env: mv.env.clone(),
                dataset: mv.dataset.clone(),
                expected: mv.from_version,
                found: from.map(|v| u32::try_from(v).unwrap_or(0)),
            });
        }
        let seq: i64 = sqlx::query("SELECT COALESCE(MAX(seq), 0) + 1 FROM alias_moves WHERE env = $1 AND dataset = $2")
            .bind(&mv.env)
            .bind(&mv.dataset)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        sqlx::query(
            "INSERT INTO aliases (env, dataset, version, pinned, updated_at_ms) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (env, dataset) DO UPDATE SET version = excluded.version, pinned = excluded.pinned, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(&mv.env)
        .bind(&mv.dataset)
        .bind(i64::from(mv.to_version))
        .bind(i64::from(mv.pinned))
        .bind(mv.at_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO alias_moves (env, dataset, seq, from_version, to_version, pinned, kind, reason, at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&mv.env)
        .bind(&mv.dataset)
        .bind(seq)
        .bind(from)
        .bind(i64::from(mv.to_version))
        .bind(i64::from(mv.pinned))
        .bind(mv.kind.as_str())
        .bind(&mv.reason)
        .bind(mv.at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Alias {
            env: mv.env.clone(),
            dataset: mv.dataset.clone(),
            version: mv.to_version,
            pinned: mv.pinned,
            updated_at_ms: mv.at_ms,
        })
    }

    pub(super) async fn alias_history_impl(&self, env: &str, dataset: &str) -> Result<Vec<AliasMove>> {
        let rows = sqlx::query(
            "SELECT env, dataset, seq, from_version, to_version, pinned, kind, reason, at_ms FROM alias_moves
             WHERE env = $1 AND dataset = $2 ORDER BY seq",
        )
        .bind(env)
        .bind(dataset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AliasMove {
                    env: r.try_get(0)?,
                    dataset: r.try_get(1)?,
                    seq: u32::try_from(r.try_get::<i64, _>(2)?).unwrap_or(0),
                    from_version: r.try_get::<Option<i64>, _>(3)?.map(|v| u32::try_from(v).unwrap_or(0)),
                    to_version: u32::try_from(r.try_get::<i64, _>(4)?).unwrap_or(0),
                    pinned: r.try_get::<i64, _>(5)? != 0,
                    kind: {
                        let k: String = r.try_get(6)?;
                        // A kind written by a newer weir reads as a pin: it never counts as a revert.
                        MoveKind::parse(&k).unwrap_or(MoveKind::Pin)
                    },
                    reason: r.try_get(7)?,
                    at_ms: r.try_get(8)?,
                })
            })
            .collect()
    }
}

impl SqlCatalog {
    pub(super) async fn set_split_impl(
        &self,
        c: &SplitChange,
        after: Option<u32>,
        owed: &[(String, String)],
    ) -> Result<SplitChange> {
        let mut tx = self.write().await?;
        let last: i64 =
            sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM selector_splits WHERE env = $1 AND selector = $2")
                .bind(&c.env)
                .bind(&c.selector)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
        let found = u32::try_from(last).unwrap_or(0);
        if let Some(expected) = after
            && expected != found
        {
            tx.rollback().await?;
            return Err(CatalogError::SplitMoved {
                env: c.env.clone(),
                selector: c.selector.clone(),
                expected,
                found,
            });
        }
        sqlx::query(
            "INSERT INTO selector_splits (env, selector, seq, split, kind, reason, by_actor, at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&c.env)
        .bind(&c.selector)
        .bind(last + 1)
        .bind(serde_json::to_string(&c.split).unwrap_or_default())
        .bind(&c.kind)
        .bind(&c.reason)
        .bind(&c.by)
        .bind(c.at_ms)
        .execute(&mut *tx)
        .await?;
        // An automatic change's alert is owed with it: none is lost to a
        // crash between the change and its delivery.
        for (id, event) in owed {
            sqlx::query("INSERT INTO alerts (id, at_ms, event) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
                .bind(id)
                .bind(c.at_ms)
                .bind(event)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(SplitChange {
            seq: found + 1,
            ..c.clone()
        })
    }

    /// The latest change of each selector of `env`, or one selector's every change.
    pub(super) async fn splits_impl(&self, env: &str, selector: Option<&str>) -> Result<Vec<SplitChange>> {
        let sql = if selector.is_some() {
            "SELECT env, selector, seq, split, kind, reason, by_actor, at_ms FROM selector_splits
             WHERE env = $1 AND selector = $2 ORDER BY seq"
        } else {
            "SELECT s.env, s.selector, s.seq, s.split, s.kind, s.reason, s.by_actor, s.at_ms FROM selector_splits s
             WHERE s.env = $1 AND s.seq = (SELECT MAX(seq) FROM selector_splits l
                                           WHERE l.env = s.env AND l.selector = s.selector)
             ORDER BY s.selector"
        };
        let mut q = sqlx::query(sql).bind(env);
        if let Some(s) = selector {
            q = q.bind(s);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(SplitChange {
                    env: r.try_get(0)?,
                    selector: r.try_get(1)?,
                    seq: u32::try_from(r.try_get::<i64, _>(2)?).unwrap_or(0),
                    split: serde_json::from_str(&r.try_get::<String, _>(3)?).unwrap_or_default(),
                    kind: r.try_get(4)?,
                    reason: r.try_get(5)?,
                    by: r.try_get(6)?,
                    at_ms: r.try_get(7)?,
                })
            })
            .collect()
    }
}

fn alias_of(r: &AnyRow) -> Result<Alias> {
    Ok(Alias {
        env: r.try_get(0)?,
        dataset: r.try_get(1)?,
        version: u32::try_from(r.try_get::<i64, _>(2)?).unwrap_or(0),
        pinned: r.try_get::<i64, _>(3)? != 0,
        updated_at_ms: r.try_get(4)?,
    })
}
