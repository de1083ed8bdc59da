//! The validated domain model of a project: what `weir.toml` means once every
//! name resolves, every duration parses and the DAG is acyclic.
//!
//! Built only by [`crate::load`]; every other crate consumes it read-only.

use crate::check::{Check, Severity};
use crate::partition::Granularity;
use crate::span::Span;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// A whole project.
#[derive(Clone, Debug)]
pub struct Project {
    pub name: String,
    pub start: Option<DateTime<Utc>>,
    /// Lake name → root (a path relative to the project, or a URL).
    pub lakes: BTreeMap<String, String>,
    pub catalog_url: String,
    pub datasets: BTreeMap<String, Dataset>,
    /// Dataset names with every input before its consumers.
    pub topo_order: Vec<String>,
    /// Where to send alerts, if anywhere.
    pub alerts: Option<Alerts>,
    /// `[project] durability`: whether seals fsync before commit.
    pub durability: Durability,
    /// `[pools]`: pool name → how many of its tasks may run at once.
    pub pools: BTreeMap<String, usize>,
    /// `[retention]`: how long history is kept.
    pub retention: crate::service::Retention,
    /// `[lineage] url`: where OpenLineage events go (HTTP, `env:NAME`, or a file).
    pub lineage: Option<String>,
    /// `[selectors.NAME]`: run-time choice between model variants.
    pub selectors: BTreeMap<String, Selector>,
}

/// A selector: units (users, sessions) are assigned to model variants by
/// a sticky hash of `salt` and the unit id, in the shares of `split`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Selector {
    pub name: String,
    /// Variant name → its model dataset.
    pub variants: BTreeMap<String, String>,
    /// Variant name → percent, summing to 100.
    pub split: Vec<(String, u32)>,
    /// What is assigned (e.g. `user_id`).
    pub unit: String,
    pub salt: String,
    /// The HTTP stream each assignment is logged into (`NAME_assignments`
    /// unless named; `log = false`: none).
    pub log: Option<String>,
    pub auto: Option<AutoPromote>,
}

/// When one variant beats every other by `min_lift` on `metric` of
/// `dataset` for `days` consecutive daily partitions (each with at least
/// `min_units` units per variant), the split moves `to` percent to it.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AutoPromote {
    pub dataset: String,
    pub metric: String,
    pub min_lift: f64,
    pub days: u32,
    pub min_units: u64,
    pub to: u32,
}

/// `durability = "durable"` (the default: data, seal and directories are
/// fsynced before the catalog commit, so a power loss never leaves a committed
/// instance empty) or `"fast"` (no fsync: for scratch projects).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    #[default]
    Durable,
    Fast,
}

/// `[alerts]`: a webhook that hears about failing checks and failed runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alerts {
    /// The URL, or `env:NAME` to read it from the environment (keeps secrets out of the file).
    pub webhook: String,
    /// What to send: `block`, `warn`, `failure` and `late` (all by default).
    pub on: Vec<String>,
}

impl Alerts {
    pub const KINDS: &[&str] = &["block", "warn", "failure", "late", "selector"];

    pub fn wants(&self, kind: &str) -> bool {
        self.on.iter().any(|k| k == kind)
    }
}

impl Project {
    pub fn dataset(&self, name: &str) -> Option<&Dataset> {
        self.datasets.get(name)
    }

    /// Partition `idx` of `dataset` as a key (`date=2026-03-14`), if these
    /// definitions have the dataset.
    pub fn partition_key(&self, dataset: &str, idx: i64) -> Option<String> {
        self.dataset(dataset).map(|d| d.granularity.format_key(idx))
    }

    /// Whether `name` is a stream or reads one, directly or further up:
    /// such datasets have a pipeline delay (event time to availability).
    pub fn fed_by_stream(&self, name: &str) -> bool {
        let mut seen = std::collections::BTreeSet::new();
        let mut todo = vec![name];
        while let Some(n) = todo.pop() {
            if !seen.insert(n) {
                continue;
            }
            let Some(d) = self.dataset(n) else { continue };
            if matches!(d.job, Job::Stream(_)) {
                return true;
            }
            todo.extend(d.inputs.iter().map(|i| i.dataset.as_str()));
        }
        false
    }

    /// Metrics datasets of `name` with blocking checks: `name`'s instance is
    /// consumable only once theirs exist and pass.
    pub fn gates<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Dataset> + 'a {
        self.datasets
            .values()
            .filter(move |d| d.metrics_of.as_deref() == Some(name) && d.has_blocking_checks())
    }

    /// Datasets that read `name` directly.
    pub fn consumers<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Dataset> + 'a {
        self.datasets
            .values()
            .filter(move |d| d.inputs.iter().any(|i| i.dataset == name))
    }
}

/// One dataset and the job that produces it.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub name: String,
    pub granularity: Granularity,
    /// First partition's instant (the partition containing it is the first).
    pub start: DateTime<Utc>,
    /// Last instant covered (exclusive), if the dataset ends.
    pub end: Option<DateTime<Utc>>,
    /// How long after a partition's end it becomes due.
    pub delay: Span,
    pub inputs: Vec<Input>,
    pub job: Job,
    pub format: Format,
    pub lake: String,
    /// A user-declared version string; changing it forces a new version.
    pub declared_version: Option<String>,
    /// What to do with an ingest partition whose files never landed.
    pub missing: MissingPolicy,
    pub timeout: Option<Span>,
    /// Further attempts after a failure, within one `weir run`.
    pub retries: u32,
    /// The wait before the first retry; it doubles with each attempt (with jitter).
    pub retry_delay: Span,
    pub description: Option<String>,
    /// Columns that identify a row (for data diffs); empty if undeclared.
    pub key: Vec<String>,
    /// How much must be complete before an alias advances to a new version.
    pub serve_window: ServeWindow,
    /// SQL datasets: counter name → query over the inputs and `output` returning one integer.
    /// Counters measure; they are not part of the fingerprint.
    pub counters: BTreeMap<String, String>,
    /// Derived counters, on any job: name → arithmetic over the counters the
    /// run recorded (`{ expr = "valid - rows_out" }`), computed after it.
    /// Like declared counters, not part of the fingerprint.
    pub derived: BTreeMap<String, crate::check::Expr>,
    /// Rules that decide whether an instance may be consumed. Like counters,
    /// they measure and are not part of the fingerprint.
    pub checks: Vec<Check>,
    /// A metrics dataset measures another, partition by partition; its
    /// blocking checks gate that dataset's consumers.
    pub metrics_of: Option<String>,
    /// When each partition must be complete (`weir serve` alerts when late).
    pub sla: Option<crate::service::Sla>,
    /// A cron line: partitions become due only at its ticks.
    pub schedule: Option<crate::service::Schedule>,
    /// The `[pools]` entry that limits how many of its tasks run at once.
    pub pool: Option<String>,
    /// Data, or a model: a command job whose output holds its artifacts and
    /// a `model.json` card, whose metrics go into the manifest.
    pub kind: Kind,
}

/// What a dataset's instances are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    Data,
    Model,
}

impl Dataset {
    /// Whether any check blocks on failure.
    pub fn has_blocking_checks(&self) -> bool {
        self.checks.iter().any(|c| c.severity == Severity::Block)
    }
}

/// One input of a job: which dataset, under which table name, over which slots.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Input {
    /// The table (SQL) or environment (`WEIR_INPUT_<NAME>`) name.
    pub table: String,
    pub dataset: String,
    /// Read the slots in `[end - window, end)` of the (shifted) partition.
    pub window: Option<Span>,
    /// Shift the slot by this much (`-1d` reads yesterday).
    pub offset: Span,
}

/// How a dataset is produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Job {
    /// SQL over the inputs. `text` has the SQL; `file` where it came from;
    /// `engine` what runs it (DataFusion in-process, or Spark).
    Sql {
        text: String,
        file: Option<String>,
        engine: Engine,
    },
    /// Any program; context arrives in `WEIR_*` variables.
    Command {
        argv: Vec<String>,
        env: BTreeMap<String, String>,
        /// Project files named in `argv` (e.g. `scripts/train.py`): path → content.
        files: BTreeMap<String, String>,
    },
    /// Egress: the newest partition of the version `from`'s alias serves is
    /// copied into a SQL database as an immutable table, and a view `table`
    /// is switched to it. Keeps `keep` table generations.
    Export {
        from: String,
        to: String,
        table: String,
        keep: u32,
    },
    /// Files that land outside weir, sealed into the lake unchanged.
    Ingest {
        path: String,
        format: Format,
        schema: Option<Vec<(String, ColumnType)>>,
    },
    /// Nearline events, pushed over HTTP or read from a broker, made durable
    /// and sealed into partitions by the stream machinery, not the run loop.
    Stream(Box<StreamSpec>),
}

/// Where a stream's events come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamSource {
    /// `POST /ingest/<stream>` on `weir serve`.
    Http,
    /// A NATS JetStream subject, through a durable consumer.
    Nats { url: String, subject: String },
}

/// A stream's definition: `stream = { source, subject, format, schema,
/// event_time, id, lateness, dedup, idle, max_future, max_body }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamSpec {
    pub source: StreamSource,
    /// The events' fields and types, checked on arrival (jsonl only).
    pub schema: Option<Vec<(String, ColumnType)>>,
    /// The field holding the event time; without it, processing time.
    pub event_time: Option<String>,
    /// The field holding the event's id, for de-duplication.
    pub id: Option<String>,
    /// How far behind the newest event time the watermark runs (default 5m).
    pub lateness: Span,
    /// How long sealed ids are remembered against duplicates (default 1h).
    pub dedup: Span,
    /// With no event for this long, the watermark follows processing time
    /// (default 1m), so quiet partitions seal empty.
    pub idle: Span,
    /// Events further in the future than this are quarantined (default 5m).
    pub max_future: Span,
    /// The largest request body the collector takes, in bytes (default 8 MiB).
    pub max_body: u64,
    /// Set on `<stream>__quarantine`, the dataset the loader adds beside
    /// each stream for its malformed events: the stream it belongs to.
    pub quarantine_of: Option<String>,
}

impl StreamSpec {
    /// The name of the quarantine dataset of stream `name`.
    pub fn quarantine_name(name: &str) -> String {
        format!("{name}__quarantine")
    }
}

impl Job {
    pub fn kind(&self) -> &'static str {
        match self {
            Job::Sql { .. } => "sql",
            Job::Command { .. } => "command",
            Job::Ingest { .. } => "ingest",
            Job::Export { .. } => "export",
            Job::Stream(_) => "stream",
        }
    }
}

/// What runs a SQL job.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// DataFusion, in this process.
    #[default]
    DataFusion,
    /// Spark SQL on a Spark cluster, through Spark Connect (`SPARK_REMOTE`).
    Spark,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::DataFusion => "datafusion",
            Engine::Spark => "spark",
        }
    }
}

/// Storage format of an instance's files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Parquet,
    Jsonl,
    Csv,
    /// Opaque files (models, reports): whatever a command writes.
    Files,
}

impl Format {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "parquet" => Some(Self::Parquet),
            "jsonl" | "ndjson" | "json" => Some(Self::Jsonl),
            "csv" => Some(Self::Csv),
            "files" => Some(Self::Files),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Parquet => "parquet",
            Self::Jsonl => "jsonl",
            Self::Csv => "csv",
            Self::Files => "files",
        }
    }
}

/// Declared column types for ingested JSON lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    String,
    Int64,
    Float64,
    Bool,
    Timestamp,
}

impl ColumnType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "string" | "utf8" => Some(Self::String),
            "int64" | "int" | "bigint" => Some(Self::Int64),
            "float64" | "double" | "float" => Some(Self::Float64),
            "bool" | "boolean" => Some(Self::Bool),
            "timestamp" => Some(Self::Timestamp),
            _ => None,
        }
    }
}

/// What happens to an ingest partition whose files have not landed when it is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MissingPolicy {
    /// Keep waiting (the default): a missing file is an incident to look at.
    Wait,
    /// Seal an empty instance: a quiet hour is not an outage.
    Empty,
}

/// The span of recent partitions that must be complete before consumers are
/// switched to a new version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServeWindow {
    /// The last N due partitions (the default is 7).
    Partitions(u32),
    /// The partitions that start within this span before now.
    Span(Span),
}

impl Default for ServeWindow {
    fn default() -> Self {
        ServeWindow::Partitions(7)
    }
}
