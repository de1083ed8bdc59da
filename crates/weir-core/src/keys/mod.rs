//! The project format as data: every table of `weir.toml` and every key the
//! loader accepts, with its type, default and one-line meaning.
//!
//! This is the one list of keys. The loader refuses any key that is not here
//! (`load::Cx::check_keys`), `weir schema` turns it into a JSON Schema for
//! editors ([`json_schema`]), and a test holds `docs/reference.md` to it in
//! both directions, type and default included.

mod dataset;
pub mod schema;

pub use dataset::{CHECK, DATASET, DERIVED, EXPORT, INGEST, INPUT, STREAM};
pub use schema::{SCHEMA_FILE, json_schema, schema_text, toml_to_json};

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
}
