//! The project format as data: every table of `weir.toml` and every key the
//! loader accepts, with its type, default and one-line meaning.
//!
//! This is the one list of keys. The loader refuses any key that is not here
//! (`load::Cx::check_keys`), `weir schema` turns it into a JSON Schema for
//! editors ([`json_schema`]), and a test holds `docs/reference.md` to it in
//! both directions, type and default included.

use serde_json::{Map, Value, json};

/// What a key's value may be.
#[derive(Debug)]
pub enum Ty {
    /// Any string.
    Str,
    /// One of these strings.
    Enum(&'static [&'static str]),
    /// A string matching a pattern (a regular expression, anchored), described in words.
    Pattern(&'static str, &'static str),
    /// An integer in `min..=max`.
    Int(Option<i64>, Option<i64>),
    /// A number (integer or float) ≥ the minimum.
    Number(f64),
    /// The literal `false`.
    False,
    /// A date or instant: `"2026-01-01"`, `"2026-01-01T06:00:00Z"`, or a TOML date.
    Date,
    /// A duration: `"28d"`, `"2h"`, `"15m"`, `"-1d"`, `"3mo"`.
    Duration,
    /// A table with these keys.
    Table(&'static Table),
    /// A table whose keys the user names, each holding this.
    Map(&'static Ty, NameRule),
    /// An array of this.
    List(&'static Ty),
    /// Any one of these.
    Either(&'static [Ty]),
}

/// The names allowed as a [`Ty::Map`]'s keys.
#[derive(Clone, Copy, Debug)]
pub enum NameRule {
    /// Any key.
    Any,
    /// `[a-z][a-z0-9_]*`, at most 64 characters: datasets, lakes, input tables.
    Ident,
    /// Counter names: lowercase letters, digits, `_` and `.`.
    Counter,
}

/// One key of a table.
#[derive(Debug)]
pub struct Key {
    pub name: &'static str,
    pub ty: Ty,
    /// Must be given.
    pub required: bool,
    /// What applies when the key is absent, in words (`None`: nothing).
    pub default: Option<&'static str>,
    /// One line: what it does.
    pub doc: &'static str,
}

/// A table of the format: its heading in the reference and its keys.
#[derive(Debug)]
pub struct Table {
    /// Its name among the schema's definitions.
    pub id: &'static str,
    /// As the reference heads it: `[project]`, `[datasets.NAME]`, `ingest`.
    pub title: &'static str,
    pub doc: &'static str,
    pub keys: &'static [Key],
}

impl Table {
    /// The key names, in order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + Clone + '_ {
        self.keys.iter().map(|k| k.name)
    }

    pub fn key(&self, name: &str) -> Option<&'static Key> {
        self.keys.iter().find(|k| k.name == name)
    }
}

const fn key(name: &'static str, ty: Ty, default: Option<&'static str>, doc: &'static str) -> Key {
    Key {
        name,
        ty,
        required: false,
        default,
        doc,
    }
}

const fn required(name: &'static str, ty: Ty, doc: &'static str) -> Key {
    Key {
        name,
        ty,
        required: true,
        default: None,
        doc,
    }
}

const PARTITION: Ty = Ty::Pattern(
    "^(hour|hourly|1h|day|daily|1d|month|monthly|none|snapshot|[0-9]+m)$",
    "`15m` (minutes dividing a day), `hour`, `day`, `month` or `none`",
);
const FORMATS: Ty = Ty::Enum(&["parquet", "jsonl", "ndjson", "json", "csv", "files"]);
const COLUMN_TYPES: Ty = Ty::Enum(&[
    "string",
    "utf8",
    "int64",
    "int",
    "bigint",
    "float64",
    "double",
    "float",
    "bool",
    "boolean",
    "timestamp",
]);
const SIZE: Ty = Ty::Pattern(
    "^\\s*[0-9]+\\s*(B|KiB|MiB|GiB|KB|MB|GB)?\\s*$",
    "a size: `8MiB`, `512KiB`, `1MB` or bytes",
);

/// The top level of `weir.toml`.
pub static ROOT: Table = Table {
    id: "root",
    title: "Top level",
    doc: "The tables of weir.toml.",
    keys: &[
        required(
            "project",
            Ty::Table(&PROJECT),
            "The project's name and first partition.",
        ),
        key(
            "lakes",
            Ty::Map(&Ty::Str, NameRule::Ident),
            Some("default = \"lake\""),
            "Named roots where sealed data lives: a directory, or s3://, gs://, az:// (env:NAME reads it from the environment).",
        ),
        key(
            "catalog",
            Ty::Table(&CATALOG),
            None,
            "Where the catalog of runs, instances and aliases lives.",
        ),
        key(
            "datasets",
            Ty::Map(&Ty::Table(&DATASET), NameRule::Ident),
            None,
            "The datasets, each [datasets.NAME] with exactly one job.",
        ),
        key(
            "alerts",
            Ty::Table(&ALERTS),
            None,
            "A webhook told about blocked, failed, late and promoted things.",
        ),
        key(
            "pools",
            Ty::Map(&Ty::Int(Some(1), None), NameRule::Any),
            None,
            "Named limits on concurrent tasks: heavy = 1.",
        ),
        key(
            "selectors",
            Ty::Map(&Ty::Table(&SELECTOR), NameRule::Any),
            None,
            "Model selectors, each [selectors.NAME]: variants, a split, and how units are assigned.",
        ),
        key(
            "retention",
            Ty::Table(&RETENTION),
            None,
            "How long the service keeps runs and versions.",
        ),
        key("lineage", Ty::Table(&LINEAGE), None, "Where OpenLineage events go."),
    ],
};

pub static PROJECT: Table = Table {
    id: "project",
    title: "[project]",
    doc: "The project.",
    keys: &[
        required("name", Ty::Str, "The project's name."),
        key(
            "start",
            Ty::Date,
            None,
            "The first partition of every partitioned dataset that sets no start of its own.",
        ),
        key("description", Ty::Str, None, "What the project is for."),
        key(
            "durability",
            Ty::Enum(&["durable", "fast"]),
            Some("durable"),
            "durable fsyncs sealed files before they are committed; fast skips it (scratch projects).",
        ),
    ],
};

pub static CATALOG: Table = Table {
    id: "catalog",
    title: "[catalog]",
    doc: "The catalog.",
    keys: &[key(
        "url",
        Ty::Pattern(
            "^(sqlite:|postgres://|postgresql://|env:)",
            "sqlite://PATH, postgres://…, or env:NAME",
        ),
        Some("sqlite://.weir/catalog.db"),
        "The catalog database: SQLite (embedded) or PostgreSQL; env:NAME reads the URL from the environment.",
    )],
};

pub static ALERTS: Table = Table {
    id: "alerts",
    title: "[alerts]",
    doc: "Alerts.",
    keys: &[
        required(
            "webhook",
            Ty::Pattern("^(https?://|env:.)", "an http(s) URL, or env:NAME"),
            "Where alerts are POSTed (Slack-compatible JSON); env:NAME keeps the secret out of the file.",
        ),
        key(
            "on",
            Ty::List(&Ty::Enum(crate::model::Alerts::KINDS)),
            Some("every kind"),
            "Which kinds to send: block, warn, failure, late, selector.",
        ),
    ],
};

pub static RETENTION: Table = Table {
    id: "retention",
    title: "[retention]",
    doc: "Retention.",
    keys: &[
        key(
            "runs",
            Ty::Duration,
            None,
            "Runs and logs older than this are pruned (the latest run of each instance stays).",
        ),
        key(
            "versions",
            Ty::Int(Some(1), None),
            None,
            "weir gc keeps this many newest versions of each dataset, plus what is served or deployed.",
        ),
    ],
};

pub static LINEAGE: Table = Table {
    id: "lineage",
    title: "[lineage]",
    doc: "Lineage.",
    keys: &[required(
        "url",
        Ty::Str,
        "An OpenLineage HTTP endpoint, env:NAME, or a JSON-lines file in the project.",
    )],
};

pub static DATASET: Table = Table {
    id: "dataset",
    title: "[datasets.NAME]",
    doc: "A dataset.",
    keys: &[
        key("partition", PARTITION, Some("none"), "How time is cut into partitions."),
        key("start", Ty::Date, Some("[project] start"), "The first partition."),
        key(
            "end",
            Ty::Date,
            None,
            "The partition after the last one (none: open-ended).",
        ),
        key(
            "delay",
            Ty::Duration,
            Some("0"),
            "How long after a partition ends before it is due.",
        ),
        key(
            "inputs",
            Ty::Either(&[
                Ty::List(&Ty::Str),
                Ty::Map(&Ty::Either(&[Ty::Str, Ty::Table(&INPUT)]), NameRule::Ident),
            ]),
            None,
            "The datasets it reads: a list of names, or table = dataset / table = { dataset, window, offset }.",
        ),
        key(
            "sql",
            Ty::Str,
            None,
            "Job: a SQL query, or a .sql file in the project, over the inputs.",
        ),
        key(
            "engine",
            Ty::Enum(&["datafusion", "spark"]),
            Some("datafusion"),
            "Where a SQL job runs: in-process DataFusion, or Spark.",
        ),
        key(
            "kind",
            Ty::Enum(&["data", "model"]),
            Some("data"),
            "model: a command job writing artifact files and model.json.",
        ),
        key(
            "command",
            Ty::Either(&[Ty::List(&Ty::Str), Ty::Str]),
            None,
            "Job: a program and its arguments (a string runs in sh -c); the scripts it names are fingerprinted.",
        ),
        key(
            "env",
            Ty::Map(&Ty::Str, NameRule::Any),
            None,
            "Environment variables for a command job.",
        ),
        key(
            "ingest",
            Ty::Table(&INGEST),
            None,
            "Job: seal files that land outside weir.",
        ),
        key(
            "stream",
            Ty::Table(&STREAM),
            None,
            "Job: events pushed to weir serve, sealed into partitions.",
        ),
        key(
            "format",
            FORMATS,
            Some("parquet (sql), files (command, ingest)"),
            "The output's file format.",
        ),
        key("lake", Ty::Str, Some("default"), "The [lakes] entry it is sealed in."),
        key(
            "version",
            Ty::Either(&[Ty::Str, Ty::Int(None, None)]),
            None,
            "A label mixed into the version fingerprint: change it to force a new version.",
        ),
        key(
            "missing",
            Ty::Enum(&["wait", "empty"]),
            Some("wait"),
            "An ingest partition whose files have not landed: wait for them, or seal it empty.",
        ),
        key(
            "timeout",
            Ty::Duration,
            None,
            "A run that takes longer is stopped and fails.",
        ),
        key(
            "description",
            Ty::Str,
            None,
            "What the dataset holds (shown in status and the dashboard).",
        ),
        key(
            "counters",
            Ty::Map(&Ty::Either(&[Ty::Str, Ty::Table(&DERIVED)]), NameRule::Counter),
            None,
            "Counters recorded with every run: a SQL query returning one integer, or { expr = \"a - b\" }.",
        ),
        key(
            "serve_window",
            Ty::Either(&[Ty::Int(Some(1), None), Ty::Duration]),
            Some("every partition"),
            "How many newest partitions (or how long) the alias serves to SQL and exports.",
        ),
        key(
            "key",
            Ty::Either(&[Ty::Str, Ty::List(&Ty::Str)]),
            None,
            "The columns that identify a row (weir diff and the dashboard use it).",
        ),
        key(
            "export",
            Ty::Table(&EXPORT),
            None,
            "Job: copy what an alias serves into a database table.",
        ),
        key(
            "retries",
            Ty::Int(Some(0), Some(100)),
            Some("0"),
            "How many times a failed run is retried.",
        ),
        key(
            "retry_delay",
            Ty::Duration,
            Some("30s"),
            "The wait before the first retry (it doubles).",
        ),
        key(
            "checks",
            Ty::List(&Ty::Either(&[Ty::Str, Ty::Table(&CHECK)])),
            None,
            "Checks on each run's counters and output; a failing block check blocks the partition.",
        ),
        key(
            "metrics_of",
            Ty::Str,
            None,
            "A SQL dataset measuring another, partition by partition; its checks gate that dataset.",
        ),
        key(
            "sla",
            Ty::Pattern(
                "^\\s*(\\+?[0-9]+(s|m|min|h|d|w|mo)|[0-9]{1,2}:[0-9]{1,2})\\s*$",
                "a duration after the partition ends (`3h`), or a time of day (`06:00`, daily only)",
            ),
            None,
            "When each partition must be complete, or it is late.",
        ),
        key(
            "schedule",
            Ty::Str,
            None,
            "A cron line (five fields, UTC): the service builds only partitions due at its ticks.",
        ),
        key(
            "pool",
            Ty::Str,
            None,
            "The [pools] entry that limits its concurrent tasks.",
        ),
    ],
};

pub static INPUT: Table = Table {
    id: "input",
    title: "[datasets.NAME.inputs.TABLE]",
    doc: "One input of a dataset, as a table.",
    keys: &[
        required("dataset", Ty::Str, "The dataset read."),
        key(
            "window",
            Ty::Duration,
            Some("the partition itself"),
            "Read this much time ending at the partition's end: window = \"28d\".",
        ),
        key(
            "offset",
            Ty::Duration,
            Some("0"),
            "Shift the window: offset = \"-1d\" reads the day before.",
        ),
    ],
};

pub static INGEST: Table = Table {
    id: "ingest",
    title: "[datasets.NAME.ingest]",
    doc: "An ingest job.",
    keys: &[
        required(
            "path",
            Ty::Str,
            "Where files land, with {date}, {hour}, {minute} or {month}: landing/plays/{date}/{hour}.jsonl.",
        ),
        key("format", FORMATS, Some("files"), "How landed files are read."),
        key(
            "schema",
            Ty::Map(&COLUMN_TYPES, NameRule::Any),
            None,
            "Column types for jsonl: string, int64, float64, bool, timestamp.",
        ),
    ],
};

pub static EXPORT: Table = Table {
    id: "export",
    title: "[datasets.NAME.export]",
    doc: "An export job.",
    keys: &[
        required("from", Ty::Str, "The dataset whose alias is exported."),
        required(
            "to",
            Ty::Pattern(
                "^(sqlite:|postgres://|postgresql://|env:.)",
                "sqlite://PATH, postgres://… or env:NAME",
            ),
            "The database: sqlite://PATH, postgres://…, or env:NAME.",
        ),
        required("table", Ty::Str, "The table (a view over the newest generation)."),
        key(
            "keep",
            Ty::Int(Some(1), None),
            Some("3"),
            "How many table generations stay.",
        ),
    ],
};

pub static STREAM: Table = Table {
    id: "stream",
    title: "[datasets.NAME.stream]",
    doc: "A nearline stream.",
    keys: &[
        key(
            "source",
            Ty::Pattern("^(http|nats://.*|env:.*)$", "http, nats://HOST:PORT or env:NAME"),
            Some("http"),
            "http: events are POSTed to /ingest/NAME; nats://…: read from a NATS subject.",
        ),
        key("subject", Ty::Str, None, "The NATS subject (NATS streams only)."),
        key(
            "format",
            Ty::Enum(&["jsonl"]),
            Some("jsonl"),
            "Events are JSON objects.",
        ),
        key(
            "schema",
            Ty::Map(&COLUMN_TYPES, NameRule::Any),
            None,
            "Typed columns extracted from each event.",
        ),
        key(
            "event_time",
            Ty::Str,
            Some("arrival time"),
            "The field holding each event's time.",
        ),
        key(
            "id",
            Ty::Str,
            None,
            "The field holding each event's id, for deduplication.",
        ),
        key(
            "lateness",
            Ty::Duration,
            Some("5m"),
            "How long a partition stays open after it ends.",
        ),
        key("dedup", Ty::Duration, Some("1h"), "How long an id is remembered."),
        key(
            "idle",
            Ty::Duration,
            Some("1m"),
            "Seal an open partition after this long without events.",
        ),
        key(
            "max_future",
            Ty::Duration,
            Some("5m"),
            "Events further ahead of the clock are refused.",
        ),
        key("max_body", SIZE, Some("8MiB"), "The largest request body accepted."),
    ],
};

pub static CHECK: Table = Table {
    id: "check",
    title: "A check as a table",
    doc: "A check, as a table.",
    keys: &[
        required("check", Ty::Str, "The rule, in the check language."),
        key(
            "severity",
            Ty::Enum(&["block", "warn"]),
            Some("block"),
            "block: a failure blocks the partition; warn: recorded and alerted only.",
        ),
        key(
            "name",
            Ty::Str,
            Some("the rule"),
            "What the dashboard and alerts call it.",
        ),
    ],
};

pub static DERIVED: Table = Table {
    id: "derived_counter",
    title: "[datasets.NAME.counters.NAME]",
    doc: "A counter computed from the others.",
    keys: &[required(
        "expr",
        Ty::Str,
        "Arithmetic over what the run recorded: \"valid - rows_out\".",
    )],
};

pub static SELECTOR: Table = Table {
    id: "selector",
    title: "[selectors.NAME]",
    doc: "A model selector.",
    keys: &[
        required(
            "variants",
            Ty::Map(&Ty::Str, NameRule::Any),
            "Each variant's model dataset: popularity = \"reco_popularity\".",
        ),
        required(
            "split",
            Ty::Map(&Ty::Int(Some(0), Some(100)), NameRule::Any),
            "Each variant's percent of units, summing to 100.",
        ),
        required("unit", Ty::Str, "What is assigned to a variant: user_id."),
        key(
            "salt",
            Ty::Str,
            Some("the selector's name"),
            "Mixed into the hash that assigns units.",
        ),
        key(
            "log",
            Ty::Either(&[Ty::Str, Ty::False]),
            Some("NAME_assignments"),
            "The HTTP stream each assignment is logged into, or false.",
        ),
        key(
            "auto",
            Ty::Table(&AUTO),
            None,
            "Auto-promotion: when a variant wins, the split moves to it.",
        ),
    ],
};

pub static AUTO: Table = Table {
    id: "auto_promotion",
    title: "[selectors.NAME.auto]",
    doc: "Auto-promotion.",
    keys: &[
        required(
            "dataset",
            Ty::Str,
            "A daily dataset with a variant column and the metric.",
        ),
        required("metric", Ty::Str, "The column compared between variants."),
        required(
            "min_lift",
            Ty::Number(0.0),
            "The lift over the others needed each day (0.02 is 2%).",
        ),
        required("days", Ty::Int(Some(1), None), "Consecutive winning days needed."),
        key(
            "min_units",
            Ty::Int(Some(0), None),
            Some("0"),
            "Units each variant must have each day.",
        ),
        required(
            "to",
            Ty::Int(Some(1), Some(100)),
            "The winner's percent after promotion.",
        ),
    ],
};

/// Every table, in the reference's order.
pub fn tables() -> [&'static Table; 15] {
    [
        &ROOT, &PROJECT, &CATALOG, &DATASET, &INPUT, &INGEST, &EXPORT, &STREAM, &CHECK, &DERIVED, &ALERTS, &RETENTION,
        &LINEAGE, &SELECTOR, &AUTO,
    ]
}

impl Ty {
    /// In words, as the reference's Type column gives it.
    pub fn describe(&self) -> String {
        match self {
            Ty::Str => "string".into(),
            Ty::Enum(vs) => vs.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(" \\| "),
            Ty::Pattern(_, words) => (*words).to_string(),
            Ty::Int(Some(lo), Some(hi)) => format!("integer {lo}–{hi}"),
            Ty::Int(Some(lo), None) => format!("integer ≥ {lo}"),
            Ty::Int(..) => "integer".into(),
            Ty::Number(min) => format!("number ≥ {min}"),
            Ty::False => "false".into(),
            Ty::Date => "date".into(),
            Ty::Duration => "duration".into(),
            Ty::Table(t) => format!("table ({})", t.title),
            Ty::Map(inner, _) => format!("table of {}", inner.describe()),
            Ty::List(inner) => format!("list of {}", inner.describe()),
            Ty::Either(tys) => tys.iter().map(Ty::describe).collect::<Vec<_>>().join(" or "),
        }
    }

    fn schema(&self, defs: &mut Map<String, Value>) -> Value {
        match self {
            Ty::Str => json!({"type": "string"}),
            Ty::Enum(vs) => json!({"type": "string", "enum": vs}),
            Ty::Pattern(p, words) => json!({"type": "string", "pattern": p, "description": words}),
            Ty::Int(lo, hi) => {
                let mut m = Map::new();
                m.insert("type".into(), json!("integer"));
                if let Some(lo) = lo {
                    m.insert("minimum".into(), json!(lo));
                }
                if let Some(hi) = hi {
                    m.insert("maximum".into(), json!(hi));
                }
                Value::Object(m)
            }
            Ty::Number(min) => json!({"type": "number", "minimum": min}),
            Ty::False => json!({"const": false}),
            Ty::Date => json!({"$ref": "#/definitions/date"}),
            Ty::Duration => json!({"$ref": "#/definitions/duration"}),
            Ty::Table(t) => {
                let id = t.id.to_string();
                if !defs.contains_key(&id) {
                    // Reserve the name first: tables may be reached twice.
                    defs.insert(id.clone(), Value::Null);
                    let s = t.schema(defs);
                    defs.insert(id.clone(), s);
                }
                json!({"$ref": format!("#/definitions/{id}")})
            }
            Ty::Map(inner, names) => {
                let mut m = Map::new();
                m.insert("type".into(), json!("object"));
                m.insert("additionalProperties".into(), inner.schema(defs));
                match names {
                    NameRule::Any => {}
                    NameRule::Ident => {
                        m.insert("propertyNames".into(), json!({"pattern": "^[a-z][a-z0-9_]{0,63}$"}));
                    }
                    NameRule::Counter => {
                        m.insert("propertyNames".into(), json!({"pattern": "^[a-z0-9_.]+$"}));
                    }
                }
                Value::Object(m)
            }
            Ty::List(inner) => json!({"type": "array", "items": inner.schema(defs)}),
            Ty::Either(tys) => json!({"anyOf": tys.iter().map(|t| t.schema(defs)).collect::<Vec<_>>()}),
        }
    }
}

impl Table {
    fn schema(&self, defs: &mut Map<String, Value>) -> Value {
        let mut props = Map::new();
        for k in self.keys {
            let mut s = k.ty.schema(defs);
            if let Value::Object(m) = &mut s {
                let mut doc = k.doc.to_string();
                if let Some(d) = k.default {
                    doc.push_str(&format!(" Default: {d}."));
                }
                // A `$ref` beside other keywords is ignored by draft-07
                // validators, so a reference is wrapped.
                if m.contains_key("$ref") {
                    s = json!({"allOf": [s], "description": doc});
                } else {
                    m.insert("description".into(), json!(doc));
                }
            }
            props.insert(k.name.to_string(), s);
        }
        let required: Vec<&str> = self.keys.iter().filter(|k| k.required).map(|k| k.name).collect();
        let mut m = Map::new();
        m.insert("type".into(), json!("object"));
        m.insert("description".into(), json!(self.doc));
        m.insert("properties".into(), Value::Object(props));
        if !required.is_empty() {
            m.insert("required".into(), json!(required));
        }
        m.insert("additionalProperties".into(), json!(false));
        Value::Object(m)
    }
}

/// The JSON Schema (draft-07, which TOML language servers such as taplo read)
/// of `weir.toml`. TOML dates are strings to a validator.
pub fn json_schema() -> Value {
    let mut defs = Map::new();
    defs.insert(
        "date".into(),
        json!({
            "type": "string",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}",
            "description": "A date or instant: \"2026-01-01\" or \"2026-01-01T06:00:00Z\" (UTC)."
        }),
    );
    defs.insert(
        "duration".into(),
        json!({
            "type": "string",
            "pattern": "^\\s*[+-]?[0-9]+(s|m|min|h|d|w|mo)\\s*$",
            "description": "A duration: a whole number and a unit, s, m, h, d, w or mo (\"28d\", \"-1d\", \"15m\")."
        }),
    );
    let Value::Object(mut root) = ROOT.schema(&mut defs) else {
        return Value::Null;
    };
    root.insert("$schema".into(), json!("http://json-schema.org/draft-07/schema#"));
    root.insert("title".into(), json!("weir.toml"));
    root.insert(
        "description".into(),
        json!("A weir project's definitions (docs/reference.md). Print it with `weir schema`."),
    );
    root.insert("definitions".into(), Value::Object(defs));
    Value::Object(root)
}

/// Where `weir init` puts the schema in a project; the template's first
/// line, `#:schema ./weir.schema.json`, points editors at it.
pub const SCHEMA_FILE: &str = "weir.schema.json";

/// [`json_schema`] as the file `weir schema` prints and the repository ships
/// (`schema/weir.schema.json`).
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&json_schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// A TOML document as JSON, the way a TOML language server hands it to a
/// JSON Schema validator: dates and times become strings.
pub fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => json!(s),
        toml::Value::Integer(i) => json!(i),
        toml::Value::Float(f) => json!(f),
        toml::Value::Boolean(b) => json!(b),
        toml::Value::Datetime(d) => json!(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(t.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every project a test of this crate loads is also checked against the
    /// schema (`load_project` calls this in test builds), so the schema can
    /// never refuse what the loader accepts.
    pub(crate) fn assert_schema_accepts(text: &str) {
        let schema = json_schema();
        let validator = match jsonschema::validator_for(&schema) {
            Ok(v) => v,
            Err(e) => panic!("the schema does not compile: {e}"),
        };
        let doc: toml::Value = match toml::from_str(text) {
            Ok(d) => d,
            Err(e) => panic!("the loader accepted TOML that toml does not parse: {e}"),
        };
        let errors: Vec<String> = validator
            .iter_errors(&toml_to_json(&doc))
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "the loader accepts this project but the schema refuses it:\n{}\n---\n{text}",
            errors.join("\n")
        );
    }

    fn schema_errors(text: &str) -> Vec<String> {
        let schema = json_schema();
        let Ok(validator) = jsonschema::validator_for(&schema) else {
            panic!("the schema does not compile");
        };
        let doc: toml::Value = toml::from_str(text).expect("toml");
        validator
            .iter_errors(&toml_to_json(&doc))
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect()
    }

    #[test]
    fn the_schema_refuses_what_the_loader_refuses() {
        let base =
            "[project]\nname = \"p\"\nstart = 2026-01-01\n[datasets.a]\npartition = \"day\"\nsql = \"SELECT 1\"\n";
        assert_eq!(schema_errors(base), Vec::<String>::new());
        for (extra, at) in [
            ("partiton = \"day\"", "/datasets/a"),
            ("retries = 500", "/datasets/a/retries"),
            ("engine = \"duckdb\"", "/datasets/a/engine"),
            ("delay = \"2 hours\"", "/datasets/a/delay"),
            (
                "inputs = { raw = { dataset = \"b\", windw = \"2d\" } }",
                "/datasets/a/inputs",
            ),
            (
                "checks = [{ check = \"rows_out > 0\", severity = \"fatal\" }]",
                "/datasets/a/checks/0",
            ),
        ] {
            let errs = schema_errors(&format!("{base}{extra}\n"));
            assert!(errs.iter().any(|e| e.ends_with(at)), "{extra}: {errs:?}");
        }
        let errs = schema_errors("[project]\nname = \"p\"\n[datasets.Bad]\nsql = \"SELECT 1\"\n");
        assert!(!errs.is_empty(), "a dataset name that is not an identifier");
        let errs = schema_errors("[projct]\nname = \"p\"\n");
        assert_eq!(errs.len(), 2, "no [project], and an unknown table: {errs:?}");
    }

    #[test]
    fn every_table_is_reachable_from_the_root_and_titled_once() {
        let schema = json_schema();
        let defs = schema["definitions"].as_object().map(|m| m.len()).unwrap_or(0);
        // Every table but the root is a definition, plus date and duration.
        assert_eq!(defs, tables().len() - 1 + 2, "{schema:#}");
        let mut titles: Vec<&str> = tables().iter().map(|t| t.title).collect();
        titles.sort_unstable();
        titles.dedup();
        assert_eq!(titles.len(), tables().len());
    }

    #[test]
    fn key_names_are_unique_within_a_table() {
        for t in tables() {
            let mut names: Vec<&str> = t.names().collect();
            names.sort_unstable();
            let n = names.len();
            names.dedup();
            assert_eq!(names.len(), n, "a key is listed twice in {}", t.title);
        }
    }
}
