//! The catalog's schema, as the migrations that build it (per dialect), and
//! opening a SQLite file in WAL mode.

use crate::{CatalogError, Result};
use sqlx::AnyPool;
use sqlx::Row;
use std::time::Duration;

/// Schema migrations, applied in order; the index + 1 is the schema version.
/// The fifth lets a metric be null (the job measured NaN or ±infinity).
/// The sixth adds the service layer: tokens, the audit log, pauses, cancel
/// requests, and the change feed that triggers fill from every change
/// another process must notice (so no writer can forget it). The seventh
/// records SLA misses, so each is alerted once (and its recovery once). The
/// eighth holds leases: which `weir serve` leads (SLA checks and alerts). The
/// ninth records when each miss's alerts went out, so a new leader sends
/// what the last one did not (misses from before count as sent). The tenth
/// is the outbox of run alerts (failures, failed checks): owed when decided,
/// marked when delivered, so a dead server's are sent by the leader.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE versions (
    dataset TEXT NOT NULL, number INTEGER NOT NULL, fingerprint TEXT NOT NULL,
    spec TEXT NOT NULL, created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (dataset, number), UNIQUE (dataset, fingerprint));
CREATE TABLE instances (
    dataset TEXT NOT NULL, version INTEGER NOT NULL, partition INTEGER NOT NULL,
    partition_key TEXT NOT NULL, run_id TEXT NOT NULL, location TEXT NOT NULL,
    rows INTEGER, bytes INTEGER NOT NULL, files INTEGER NOT NULL, committed_at_ms INTEGER NOT NULL,
    PRIMARY KEY (dataset, version, partition));
CREATE TABLE lineage (
    dataset TEXT NOT NULL, version INTEGER NOT NULL, partition INTEGER NOT NULL,
    in_dataset TEXT NOT NULL, in_version INTEGER NOT NULL, in_partition INTEGER NOT NULL,
    PRIMARY KEY (dataset, version, partition, in_dataset, in_version, in_partition));
CREATE INDEX lineage_by_input ON lineage (in_dataset, in_version, in_partition);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, dataset TEXT NOT NULL, version INTEGER NOT NULL, partition INTEGER NOT NULL,
    state TEXT NOT NULL, started_at_ms INTEGER NOT NULL, ended_at_ms INTEGER NOT NULL,
    error TEXT, log TEXT NOT NULL);
CREATE INDEX runs_by_instance ON runs (dataset, version, partition, ended_at_ms);
CREATE TABLE counters (
    run_id TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL,
    PRIMARY KEY (run_id, name));
CREATE TABLE claims (
    dataset TEXT NOT NULL, version INTEGER NOT NULL, partition INTEGER NOT NULL,
    run_id TEXT NOT NULL, owner TEXT NOT NULL, expires_at_ms INTEGER NOT NULL,
    PRIMARY KEY (dataset, version, partition));
"#,
    r#"
CREATE TABLE deployments (
    env TEXT NOT NULL, seq INTEGER NOT NULL, deployed_at_ms INTEGER NOT NULL,
    message TEXT, window_span TEXT, files TEXT NOT NULL, versions TEXT NOT NULL,
    PRIMARY KEY (env, seq));
CREATE TABLE aliases (
    env TEXT NOT NULL, dataset TEXT NOT NULL, version INTEGER NOT NULL,
    pinned INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (env, dataset));
CREATE TABLE alias_moves (
    env TEXT NOT NULL, dataset TEXT NOT NULL, seq INTEGER NOT NULL,
    from_version INTEGER, to_version INTEGER NOT NULL, pinned INTEGER NOT NULL,
    kind TEXT NOT NULL, reason TEXT, at_ms INTEGER NOT NULL,
    PRIMARY KEY (env, dataset, seq));
"#,
    r#"
CREATE TABLE trash (
    dataset TEXT NOT NULL, version INTEGER NOT NULL, partition INTEGER NOT NULL,
    partition_key TEXT NOT NULL, run_id TEXT NOT NULL, location TEXT NOT NULL,
    trash_id TEXT NOT NULL, reason TEXT, trashed_at_ms INTEGER NOT NULL,
    PRIMARY KEY (trash_id, dataset, version, partition));
CREATE INDEX trash_by_run ON trash (run_id);
"#,
    r#"
ALTER TABLE instances ADD COLUMN blocked INTEGER NOT NULL DEFAULT 0;
CREATE INDEX instances_blocked ON instances (dataset, version) WHERE blocked = 1;
CREATE TABLE checks (
    run_id TEXT NOT NULL, seq INTEGER NOT NULL, name TEXT NOT NULL, severity TEXT NOT NULL,
    status TEXT NOT NULL, detail TEXT NOT NULL,
    PRIMARY KEY (run_id, seq));
CREATE TABLE metrics (
    run_id TEXT NOT NULL, name TEXT NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (run_id, name));
CREATE TABLE acceptances (
    dataset TEXT NOT NULL, version INTEGER NOT NULL, partition INTEGER NOT NULL,
    run_id TEXT NOT NULL, reason TEXT NOT NULL, accepted_by TEXT NOT NULL,
    checks TEXT NOT NULL, at_ms INTEGER NOT NULL);
CREATE INDEX acceptances_by_dataset ON acceptances (dataset, at_ms);
"#,
    r#"
CREATE TABLE metrics_nullable (
    run_id TEXT NOT NULL, name TEXT NOT NULL, value REAL,
    PRIMARY KEY (run_id, name));
INSERT INTO metrics_nullable (run_id, name, value) SELECT run_id, name, value FROM metrics;
DROP TABLE metrics;
ALTER TABLE metrics_nullable RENAME TO metrics;
"#,
    r#"
CREATE TABLE tokens (
    hash TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, streams TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL, created_by TEXT NOT NULL,
    expires_at_ms INTEGER, revoked_at_ms INTEGER);
CREATE INDEX tokens_by_name ON tokens (name);
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, actor TEXT NOT NULL,
    via TEXT NOT NULL, action TEXT NOT NULL, args TEXT NOT NULL, outcome TEXT NOT NULL);
CREATE TABLE paused (
    env TEXT NOT NULL, dataset TEXT NOT NULL, by_whom TEXT NOT NULL, reason TEXT, at_ms INTEGER NOT NULL,
    PRIMARY KEY (env, dataset));
CREATE TABLE cancels (
    run_id TEXT PRIMARY KEY, by_whom TEXT NOT NULL, at_ms INTEGER NOT NULL);
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, kind TEXT NOT NULL,
    env TEXT, dataset TEXT, detail TEXT);
CREATE TRIGGER changes_deploy AFTER INSERT ON deployments BEGIN
    INSERT INTO changes (at_ms, kind, env, detail) VALUES (NEW.deployed_at_ms, 'deploy', NEW.env, NEW.seq); END;
CREATE TRIGGER changes_alias AFTER INSERT ON alias_moves BEGIN
    INSERT INTO changes (at_ms, kind, env, dataset, detail) VALUES (NEW.at_ms, 'alias', NEW.env, NEW.dataset, NEW.kind); END;
CREATE TRIGGER changes_invalidate AFTER INSERT ON trash BEGIN
    INSERT INTO changes (at_ms, kind, dataset, detail) VALUES (NEW.trashed_at_ms, 'invalidate', NEW.dataset, NEW.partition_key); END;
CREATE TRIGGER changes_trash AFTER DELETE ON trash BEGIN
    INSERT INTO changes (at_ms, kind, dataset, detail) VALUES (CAST(strftime('%s','now') AS INTEGER) * 1000, 'trash', OLD.dataset, OLD.partition_key); END;
CREATE TRIGGER changes_accept AFTER INSERT ON acceptances BEGIN
    INSERT INTO changes (at_ms, kind, dataset, detail) VALUES (NEW.at_ms, 'accept', NEW.dataset, NEW.partition); END;
CREATE TRIGGER changes_pause AFTER INSERT ON paused BEGIN
    INSERT INTO changes (at_ms, kind, env, dataset) VALUES (NEW.at_ms, 'pause', NEW.env, NULLIF(NEW.dataset, '')); END;
CREATE TRIGGER changes_resume AFTER DELETE ON paused BEGIN
    INSERT INTO changes (at_ms, kind, env, dataset) VALUES (CAST(strftime('%s','now') AS INTEGER) * 1000, 'resume', OLD.env, NULLIF(OLD.dataset, '')); END;
CREATE TRIGGER changes_cancel AFTER INSERT ON cancels BEGIN
    INSERT INTO changes (at_ms, kind, detail) VALUES (NEW.at_ms, 'cancel', NEW.run_id); END;
"#,
    r#"
CREATE TABLE sla_misses (
    env TEXT NOT NULL, dataset TEXT NOT NULL, partition INTEGER NOT NULL,
    partition_key TEXT NOT NULL, version INTEGER NOT NULL, deadline_ms INTEGER NOT NULL,
    missed_at_ms INTEGER NOT NULL, recovered_at_ms INTEGER,
    PRIMARY KEY (env, dataset, partition));
CREATE INDEX sla_misses_open ON sla_misses (env) WHERE recovered_at_ms IS NULL;
"#,
    r#"
CREATE TABLE leases (
    role TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at_ms INTEGER NOT NULL);
"#,
    r#"
ALTER TABLE sla_misses ADD COLUMN alerted_ms INTEGER;
ALTER TABLE sla_misses ADD COLUMN recovery_alerted_ms INTEGER;
UPDATE sla_misses SET alerted_ms = missed_at_ms, recovery_alerted_ms = recovered_at_ms;
"#,
    r#"
CREATE TABLE alerts (
    id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL, event TEXT NOT NULL, sent_ms INTEGER);
CREATE INDEX alerts_owed ON alerts (at_ms) WHERE sent_ms IS NULL;
"#,
    // 11: failed runs found without reading every run (the planner's
    // snapshot and the status grid ask for them on each pass).
    r#"
CREATE INDEX runs_failed ON runs (dataset, version, partition) WHERE state = 'failed';
"#,
    // 12: selectors' splits per environment, with their history (issue 20).
    r#"
CREATE TABLE selector_splits (
    env TEXT NOT NULL, selector TEXT NOT NULL, seq INTEGER NOT NULL, split TEXT NOT NULL,
    kind TEXT NOT NULL, reason TEXT, by_actor TEXT NOT NULL, at_ms INTEGER NOT NULL,
    PRIMARY KEY (env, selector, seq));
CREATE TRIGGER changes_selector AFTER INSERT ON selector_splits BEGIN
    INSERT INTO changes (at_ms, kind, env, dataset, detail) VALUES (NEW.at_ms, 'selector', NEW.env, NEW.selector, NEW.kind); END;
"#,
];

/// The PostgreSQL schema: migration 1 holds the same tables as SQLite's
/// first ten, in one (64-bit integers throughout, identity columns for sequences, and the
/// change feed's triggers as PL/pgSQL functions). Later changes append a
/// migration here and one to [`MIGRATIONS`].
pub(super) const PG_MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE versions (
    dataset TEXT NOT NULL, number BIGINT NOT NULL, fingerprint TEXT NOT NULL,
    spec TEXT NOT NULL, created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (dataset, number), UNIQUE (dataset, fingerprint));
CREATE TABLE instances (
    dataset TEXT NOT NULL, version BIGINT NOT NULL, partition BIGINT NOT NULL,
    partition_key TEXT NOT NULL, run_id TEXT NOT NULL, location TEXT NOT NULL,
    rows BIGINT, bytes BIGINT NOT NULL, files BIGINT NOT NULL, committed_at_ms BIGINT NOT NULL,
    blocked BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (dataset, version, partition));
CREATE INDEX instances_blocked ON instances (dataset, version) WHERE blocked = 1;
CREATE INDEX instances_by_run ON instances (run_id);
CREATE TABLE lineage (
    dataset TEXT NOT NULL, version BIGINT NOT NULL, partition BIGINT NOT NULL,
    in_dataset TEXT NOT NULL, in_version BIGINT NOT NULL, in_partition BIGINT NOT NULL,
    PRIMARY KEY (dataset, version, partition, in_dataset, in_version, in_partition));
CREATE INDEX lineage_by_input ON lineage (in_dataset, in_version, in_partition);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, dataset TEXT NOT NULL, version BIGINT NOT NULL, partition BIGINT NOT NULL,
    state TEXT NOT NULL, started_at_ms BIGINT NOT NULL, ended_at_ms BIGINT NOT NULL,
    error TEXT, log TEXT NOT NULL);
CREATE INDEX runs_by_instance ON runs (dataset, version, partition, ended_at_ms);
CREATE INDEX runs_newest ON runs (ended_at_ms, run_id);
CREATE TABLE counters (
    run_id TEXT NOT NULL, name TEXT NOT NULL, value BIGINT NOT NULL,
    PRIMARY KEY (run_id, name));
CREATE TABLE claims (
    dataset TEXT NOT NULL, version BIGINT NOT NULL, partition BIGINT NOT NULL,
    run_id TEXT NOT NULL, owner TEXT NOT NULL, expires_at_ms BIGINT NOT NULL,
    PRIMARY KEY (dataset, version, partition));
CREATE INDEX claims_by_owner ON claims (owner);
CREATE INDEX claims_by_run ON claims (run_id);
CREATE TABLE deployments (
    env TEXT NOT NULL, seq BIGINT NOT NULL, deployed_at_ms BIGINT NOT NULL,
    message TEXT, window_span TEXT, files TEXT NOT NULL, versions TEXT NOT NULL,
    PRIMARY KEY (env, seq));
CREATE TABLE aliases (
    env TEXT NOT NULL, dataset TEXT NOT NULL, version BIGINT NOT NULL,
    pinned BIGINT NOT NULL, updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (env, dataset));
CREATE TABLE alias_moves (
    env TEXT NOT NULL, dataset TEXT NOT NULL, seq BIGINT NOT NULL,
    from_version BIGINT, to_version BIGINT NOT NULL, pinned BIGINT NOT NULL,
    kind TEXT NOT NULL, reason TEXT, at_ms BIGINT NOT NULL,
    PRIMARY KEY (env, dataset, seq));
CREATE TABLE trash (
    dataset TEXT NOT NULL, version BIGINT NOT NULL, partition BIGINT NOT NULL,
    partition_key TEXT NOT NULL, run_id TEXT NOT NULL, location TEXT NOT NULL,
    trash_id TEXT NOT NULL, reason TEXT, trashed_at_ms BIGINT NOT NULL,
    PRIMARY KEY (trash_id, dataset, version, partition));
CREATE INDEX trash_by_run ON trash (run_id);
CREATE TABLE checks (
    run_id TEXT NOT NULL, seq BIGINT NOT NULL, name TEXT NOT NULL, severity TEXT NOT NULL,
    status TEXT NOT NULL, detail TEXT NOT NULL,
    PRIMARY KEY (run_id, seq));
CREATE TABLE metrics (
    run_id TEXT NOT NULL, name TEXT NOT NULL, value DOUBLE PRECISION,
    PRIMARY KEY (run_id, name));
CREATE TABLE acceptances (
    rowid BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    dataset TEXT NOT NULL, version BIGINT NOT NULL, partition BIGINT NOT NULL,
    run_id TEXT NOT NULL, reason TEXT NOT NULL, accepted_by TEXT NOT NULL,
    checks TEXT NOT NULL, at_ms BIGINT NOT NULL);
CREATE INDEX acceptances_by_dataset ON acceptances (dataset, at_ms);
CREATE INDEX acceptances_by_run ON acceptances (run_id);
CREATE TABLE tokens (
    hash TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, streams TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL, created_by TEXT NOT NULL,
    expires_at_ms BIGINT, revoked_at_ms BIGINT);
CREATE INDEX tokens_by_name ON tokens (name);
CREATE TABLE audit (
    seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, at_ms BIGINT NOT NULL, actor TEXT NOT NULL,
    via TEXT NOT NULL, action TEXT NOT NULL, args TEXT NOT NULL, outcome TEXT NOT NULL);
CREATE TABLE paused (
    env TEXT NOT NULL, dataset TEXT NOT NULL, by_whom TEXT NOT NULL, reason TEXT, at_ms BIGINT NOT NULL,
    PRIMARY KEY (env, dataset));
CREATE TABLE cancels (
    run_id TEXT PRIMARY KEY, by_whom TEXT NOT NULL, at_ms BIGINT NOT NULL);
CREATE TABLE changes (
    seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, at_ms BIGINT NOT NULL, kind TEXT NOT NULL,
    env TEXT, dataset TEXT, detail TEXT);
CREATE TABLE sla_misses (
    env TEXT NOT NULL, dataset TEXT NOT NULL, partition BIGINT NOT NULL,
    partition_key TEXT NOT NULL, version BIGINT NOT NULL, deadline_ms BIGINT NOT NULL,
    missed_at_ms BIGINT NOT NULL, recovered_at_ms BIGINT,
    alerted_ms BIGINT, recovery_alerted_ms BIGINT,
    PRIMARY KEY (env, dataset, partition));
CREATE INDEX sla_misses_open ON sla_misses (env) WHERE recovered_at_ms IS NULL;
CREATE FUNCTION weir_now_ms() RETURNS BIGINT LANGUAGE sql AS
    $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT $$;
CREATE FUNCTION weir_changes_deploy() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    INSERT INTO changes (at_ms, kind, env, detail) VALUES (NEW.deployed_at_ms, 'deploy', NEW.env, NEW.seq::TEXT);
    RETURN NULL; END $$;
CREATE TRIGGER changes_deploy AFTER INSERT ON deployments FOR EACH ROW EXECUTE FUNCTION weir_changes_deploy();
CREATE FUNCTION weir_changes_alias() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    INSERT INTO changes (at_ms, kind, env, dataset, detail) VALUES (NEW.at_ms, 'alias', NEW.env, NEW.dataset, NEW.kind);
    RETURN NULL; END $$;
CREATE TRIGGER changes_alias AFTER INSERT ON alias_moves FOR EACH ROW EXECUTE FUNCTION weir_changes_alias();
CREATE FUNCTION weir_changes_invalidate() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    INSERT INTO changes (at_ms, kind, dataset, detail) VALUES (NEW.trashed_at_ms, 'invalidate', NEW.dataset, NEW.partition_key);
    RETURN NULL; END $$;
CREATE TRIGGER changes_invalidate AFTER INSERT ON trash FOR EACH ROW EXECUTE FUNCTION weir_changes_invalidate();
CREATE FUNCTION weir_changes_trash() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    INSERT INTO changes (at_ms, kind, dataset, detail) VALUES (weir_now_ms(), 'trash', OLD.dataset, OLD.partition_key);
    RETURN NULL; END $$;
CREATE TRIGGER changes_trash AFTER DELETE ON trash FOR EACH ROW EXECUTE FUNCTION weir_changes_trash();
CREATE FUNCTION weir_changes_accept() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    INSERT INTO changes (at_ms, kind, dataset, detail) VALUES (NEW.at_ms, 'accept', NEW.dataset, NEW.partition::TEXT);
    RETURN NULL; END $$;
CREATE TRIGGER changes_accept AFTER INSERT ON acceptances FOR EACH ROW EXECUTE FUNCTION weir_changes_accept();
CREATE FUNCTION weir_changes_pause() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    INSERT INTO changes (at_ms, kind, env, dataset) VALUES (NEW.at_ms, 'pause', NEW.env, NULLIF(NEW.dataset, ''));
    RETURN NULL; END $$;
CREATE TRIGGER changes_pause AFTER INSERT ON paused FOR EACH ROW EXECUTE FUNCTION weir_changes_pause();
CREATE FUNCTION weir_changes_resume() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    INSERT INTO changes (at_ms, kind, env, dataset) VALUES (weir_now_ms(), 'resume', OLD.env, NULLIF(OLD.dataset, ''));
    RETURN NULL; END $$;
CREATE TRIGGER changes_resume AFTER DELETE ON paused FOR EACH ROW EXECUTE FUNCTION weir_changes_resume();
CREATE FUNCTION weir_changes_cancel() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    INSERT INTO changes (at_ms, kind, detail) VALUES (NEW.at_ms, 'cancel', NEW.run_id);
    RETURN NULL; END $$;
CREATE TRIGGER changes_cancel AFTER INSERT ON cancels FOR EACH ROW EXECUTE FUNCTION weir_changes_cancel();
CREATE TABLE leases (
    role TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at_ms BIGINT NOT NULL);
CREATE TABLE alerts (
    id TEXT PRIMARY KEY, at_ms BIGINT NOT NULL, event TEXT NOT NULL, sent_ms BIGINT);
CREATE INDEX alerts_owed ON alerts (at_ms) WHERE sent_ms IS NULL;
CREATE FUNCTION weir_claim(_dataset TEXT, _version BIGINT, _partition BIGINT, _run_id TEXT, _owner TEXT,
                           _expires BIGINT, _now BIGINT, _lock BIGINT) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE n BIGINT;
BEGIN
    PERFORM pg_advisory_xact_lock(_lock);
    PERFORM set_config('synchronous_commit', 'off', true);
    INSERT INTO claims (dataset, version, partition, run_id, owner, expires_at_ms)
    SELECT _dataset, _version, _partition, _run_id, _owner, _expires
    WHERE NOT EXISTS (SELECT 1 FROM instances i
                      WHERE i.dataset = _dataset AND i.version = _version AND i.partition = _partition)
    ON CONFLICT (dataset, version, partition) DO UPDATE
      SET run_id = excluded.run_id, owner = excluded.owner, expires_at_ms = excluded.expires_at_ms
      WHERE claims.expires_at_ms <= _now;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
"#,
    // 2 (SQLite's 11): failed runs found without reading every run.
    r#"
CREATE INDEX runs_failed ON runs (dataset, version, partition) WHERE state = 'failed';
"#,
    // 3 (SQLite's 12): selectors' splits per environment, with their history.
    r#"
CREATE TABLE selector_splits (
    env TEXT NOT NULL, selector TEXT NOT NULL, seq BIGINT NOT NULL, split TEXT NOT NULL,
    kind TEXT NOT NULL, reason TEXT, by_actor TEXT NOT NULL, at_ms BIGINT NOT NULL,
    PRIMARY KEY (env, selector, seq));
CREATE FUNCTION weir_changes_selector() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    INSERT INTO changes (at_ms, kind, env, dataset, detail) VALUES (NEW.at_ms, 'selector', NEW.env, NEW.selector, NEW.kind);
    RETURN NULL; END $$;
CREATE TRIGGER changes_selector AFTER INSERT ON selector_splits FOR EACH ROW EXECUTE FUNCTION weir_changes_selector();
"#,
];

impl super::SqlCatalog {
    /// Applies the migrations this catalog lacks, in one transaction.
    pub(super) async fn migrate(&self) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            .execute(&mut *tx)
            .await?;
        let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let migrations = match self.dialect {
            super::Dialect::Sqlite => MIGRATIONS,
            super::Dialect::Postgres => PG_MIGRATIONS,
        };
        let supported = migrations.len() as i64;
        if current > supported {
            return Err(CatalogError::TooNew {
                found: current,
                supported,
            });
        }
        for (i, m) in migrations
            .iter()
            .enumerate()
            .skip(usize::try_from(current).unwrap_or(0))
        {
            sqlx::raw_sql(*m).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
                .bind(i as i64 + 1)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// How long opening a catalog waits for another process to let go of it.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Puts the database in WAL mode. That is a property of the file, set by the
/// first process to open it; switching needs an exclusive lock that SQLite's
/// busy timeout does not wait for, so two processes opening a new catalog at
/// once would see one fail with "database is locked". This retries until the
/// switch is made (by this process or the other) or [`OPEN_TIMEOUT`] passes.
pub(super) async fn wal(pool: &AnyPool) -> Result<()> {
    let deadline = std::time::Instant::now() + OPEN_TIMEOUT;
    let mut pause = Duration::from_millis(5);
    loop {
        match sqlx::query("PRAGMA journal_mode = WAL").fetch_one(pool).await {
            Ok(_) => return Ok(()),
            Err(sqlx::Error::Database(e))
                if e.code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .is_some_and(|c| c & 0xff == 5)
                    && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(e) => return Err(e.into()),
        }
    }
}
