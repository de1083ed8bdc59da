//! The SQLite catalog's schema, as the migrations that build it.

/// Schema migrations, applied in order; the index + 1 is the schema version.
/// The fifth lets a metric be null (the job measured NaN or ±infinity).
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
];
