//! The tables of a dataset: `[datasets.NAME]` and what it holds (inputs,
//! ingest, exports, a stream, checks and derived counters).

use super::{COLUMN_TYPES, FORMATS, NameRule, PARTITION, SIZE, Table, Ty, key, required};

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
