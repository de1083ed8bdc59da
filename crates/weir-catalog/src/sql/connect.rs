//! Opening a SQL catalog (SQLite or PostgreSQL, through sqlx's `Any`
//! driver) and its write transactions.

use super::{Dialect, SqlCatalog, WRITE_LOCK, migrations::wal};
use crate::{CatalogError, Result};
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, Executor, Transaction};
use std::time::Duration;

/// Connections per catalog: readers run side by side (SQLite's WAL, or a
/// PostgreSQL server), and a server answers many API requests at once
/// (writers still take turns).
const POOL: u32 = 16;

/// How long a connection waits for a busy SQLite file (another writer).
const BUSY_MS: u32 = 30_000;

fn bad_url(url: &str, reason: impl std::fmt::Display) -> CatalogError {
    CatalogError::BadUrl {
        // Never show a password.
        url: url.split('@').next_back().unwrap_or(url).to_string(),
        reason: reason.to_string(),
    }
}

impl SqlCatalog {
    /// Opens (creating if needed) `sqlite://PATH`, `sqlite::memory:` or
    /// `postgres://…` (the database must exist), and migrates it.
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let (dialect, target) = if let Some(rest) = url.strip_prefix("sqlite:") {
            let in_memory = rest.contains(":memory:");
            let target = if in_memory || rest.contains("mode=") {
                url.to_string()
            } else if rest.contains('?') {
                format!("{url}&mode=rwc")
            } else {
                format!("{url}?mode=rwc")
            };
            (Dialect::Sqlite, target)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Dialect::Postgres, url.to_string())
        } else {
            return Err(bad_url(
                url,
                "a catalog is sqlite://PATH or postgres://user@host:port/db",
            ));
        };
        let in_memory = dialect == Dialect::Sqlite && url.contains(":memory:");
        let pool = AnyPoolOptions::new()
            .max_connections(if in_memory { 1 } else { POOL })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    match dialect {
                        Dialect::Sqlite => {
                            conn.execute(sqlx::AssertSqlSafe(format!(
                                "PRAGMA busy_timeout = {BUSY_MS}; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON"
                            )))
                            .await?;
                        }
                        // Statements outside a write transaction (claims,
                        // renewals) need not wait for the WAL flush: a lost
                        // claim only lets another builder try, and the
                        // commit's fencing refuses the loser.
                        Dialect::Postgres => {
                            conn.execute("SET synchronous_commit = off").await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(&target)
            .await
            .map_err(|e| match e {
                sqlx::Error::Configuration(_) => bad_url(url, e),
                other => CatalogError::Db(other),
            })?;
        if dialect == Dialect::Sqlite && !in_memory {
            wal(&pool).await?;
        }
        let cat = Self { pool, dialect };
        cat.migrate().await?;
        Ok(cat)
    }

    /// Which SQL this catalog speaks.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// A write transaction: it waits for the other writers, then holds the
    /// catalog's write lock until it commits or rolls back. On PostgreSQL
    /// its commit waits for the WAL flush (`synchronous_commit = on`): what
    /// people decide (deploys, alias moves, invalidations, tokens) survives
    /// a server crash.
    pub(super) async fn write(&self) -> Result<Transaction<'static, Any>> {
        self.write_as(true).await
    }

    /// A write transaction for what the lake can give back: the outcomes of
    /// runs, whose sealed instances a later run adopts if a crash of the
    /// database server loses their commit. On PostgreSQL its commit does
    /// not wait for the WAL flush, as SQLite's `synchronous = NORMAL` does
    /// not; claims and lease renewals (single statements) never wait.
    pub(super) async fn write_rederivable(&self) -> Result<Transaction<'static, Any>> {
        self.write_as(false).await
    }

    pub(super) async fn write_as(&self, durable: bool) -> Result<Transaction<'static, Any>> {
        match self.dialect {
            Dialect::Sqlite => Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?),
            Dialect::Postgres => {
                let mut tx = self.pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1), set_config('synchronous_commit', $2, true)")
                    .bind(WRITE_LOCK)
                    .bind(if durable { "on" } else { "off" })
                    .execute(&mut *tx)
                    .await?;
                Ok(tx)
            }
        }
    }
}
