//! Definitions: `weir.toml` text (plus SQL files) → validated [`Project`].
//!
//! The TOML is walked as a spanned tree, so every problem — unknown keys,
//! unknown datasets, cycles, impossible mappings, bad SQL — is reported at its
//! file, line and column with a hint. No I/O here: SQL files are read through
//! the `read` callback that the caller supplies.

use crate::dag;
use crate::diag::{Diagnostic, Diagnostics, Source, did_you_mean};
use crate::model::{Alerts, ColumnType, Dataset, Format, Input, Job, MissingPolicy, Project, ServeWindow};
use crate::partition::{Granularity, parse_instant};
use crate::span::Span;
use crate::sqlcheck;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

type Val<'i> = Spanned<DeValue<'i>>;

/// The name of the definitions file.
pub const PROJECT_FILE: &str = "weir.toml";

const ROOT_KEYS: &[&str] = &["project", "lakes", "catalog", "datasets", "alerts"];
const PROJECT_KEYS: &[&str] = &["name", "start", "description"];
const CATALOG_KEYS: &[&str] = &["url"];
const DATASET_KEYS: &[&str] = &[
    "partition",
    "start",
    "end",
    "delay",
    "inputs",
    "sql",
    "command",
    "env",
    "ingest",
    "format",
    "lake",
    "version",
    "missing",
    "timeout",
    "description",
    "counters",
    "serve_window",
    "key",
    "export",
    "retries",
    "retry_delay",
    "checks",
    "metrics_of",
];
const INPUT_KEYS: &[&str] = &["dataset", "window", "offset"];
const INGEST_KEYS: &[&str] = &["path", "format", "schema"];

/// Reads a file of the project by its project-relative path.
pub type ReadFile<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// Parses and validates a project. `read` loads SQL files named in the definitions.
pub fn load_project(toml_text: &str, read: ReadFile<'_>) -> Result<Project, Diagnostics> {
    let mut cx = Cx {
        src: Source::new(PROJECT_FILE, toml_text),
        diags: Vec::new(),
    };
    let root = match DeTable::parse(toml_text) {
        Ok(t) => t.into_inner(),
        Err(e) => {
            let at = e.span().map_or(0, |s| s.start);
            let msg = e.message().trim().to_string();
            return Err(Diagnostics(vec![cx.src.at(at, format!("invalid TOML: {msg}"))]));
        }
    };
    cx.check_keys(&root, ROOT_KEYS, "the top level");
    let project = cx.build(&root, read);
    if cx.diags.is_empty()
        && let Some(p) = project
    {
        return Ok(p);
    }
    cx.diags
        .sort_by_key(|d| (d.file != PROJECT_FILE, d.file.clone(), d.line, d.col));
    Err(Diagnostics(cx.diags))
}

struct Cx {
    src: Source,
    diags: Vec<Diagnostic>,
}

impl Cx {
    fn err(&mut self, span: &Range<usize>, msg: impl Into<String>, hint: Option<String>) {
        let mut d = self.src.at(span.start, msg);
        d.hint = hint;
        self.diags.push(d);
    }

    fn check_keys(&mut self, table: &DeTable<'_>, allowed: &[&str], place: &str) {
        for key in table.keys() {
            let k: &str = key.get_ref();
            if !allowed.contains(&k) {
                let hint = match did_you_mean(k, allowed.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("allowed keys here: {}", allowed.join(", ")),
                };
                self.err(&key.span(), format!("unknown key `{k}` in {place}"), Some(hint));
            }
        }
    }

    fn table<'a, 'i>(&mut self, v: &'a Val<'i>, what: &str) -> Option<&'a DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            other => {
                self.err(
                    &v.span(),
                    format!("{what} must be a table, not {}", type_name(other)),
                    None,
                );
                None
            }
        }
    }

    fn string(&mut self, v: &Val<'_>, what: &str) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            other => {
                self.err(
                    &v.span(),
                    format!("{what} must be a string, not {}", type_name(other)),
                    None,
                );
                None
            }
        }
    }

    fn instant(&mut self, v: &Val<'_>, what: &str) -> Option<DateTime<Utc>> {
        let text = match v.get_ref() {
            DeValue::String(s) => s.to_string(),
            DeValue::Datetime(d) => d.to_string(),
            other => {
                self.err(
                    &v.span(),
                    format!("{what} must be a date, not {}", type_name(other)),
                    None,
                );
                return None;
            }
        };
        let t = parse_instant(&text);
        if t.is_none() {
            self.err(
                &v.span(),
                format!("{what} `{text}` is not a date"),
                Some("write e.g. \"2026-01-01\" or \"2026-01-01T06:00:00Z\"".into()),
            );
        }
        t
    }

    fn span_value(&mut self, v: &Val<'_>, what: &str) -> Option<Span> {
        let s = self.string(v, what)?;
        match Span::parse(&s) {
            Ok(sp) => Some(sp),
            Err(e) => {
                self.err(&v.span(), format!("{what}: {e}"), None);
                None
            }
        }
    }

    fn non_negative(&mut self, v: Option<&Val<'_>>, what: &str) -> Option<Span> {
        let v = v?;
        let sp = self.span_value(v, what)?;
        if sp.is_negative() {
            self.err(
                &v.span(),
                format!("{what} cannot be negative"),
                Some(format!("e.g. {what} = \"2h\"")),
            );
            return None;
        }
        Some(sp)
    }

    fn build(&mut self, root: &DeTable<'_>, read: ReadFile<'_>) -> Option<Project> {
        let mut name = None;
        let mut start = None;
        match get(root, "project") {
            Some(v) => {
                if let Some(t) = self.table(v, "[project]") {
                    self.check_keys(t, PROJECT_KEYS, "[project]");
                    match get(t, "name") {
                        Some(n) => name = self.string(n, "project name"),
                        None => self.err(
                            &v.span(),
                            "[project] has no `name`",
                            Some("add name = \"my-project\"".into()),
                        ),
                    }
                    if let Some(s) = get(t, "start") {
                        start = self.instant(s, "project start");
                    }
                }
            }
            None => self.err(
                &(0..0),
                "no [project] table",
                Some("start weir.toml with [project] name = \"…\" start = \"2026-01-01\"".into()),
            ),
        }
        let mut lakes = BTreeMap::new();
        if let Some(v) = get(root, "lakes")
            && let Some(t) = self.table(v, "[lakes]")
        {
            for (k, lv) in t {
                if !valid_name(k.get_ref()) {
                    self.err(
                        &k.span(),
                        format!("lake name `{}` is not an identifier", k.get_ref()),
                        Some("use lowercase letters, digits and _".into()),
                    );
                }
                if let Some(root) = self.string(lv, "a lake root") {
                    if root.trim().is_empty() {
                        self.err(&lv.span(), "a lake root cannot be empty", None);
                    }
                    lakes.insert(k.get_ref().to_string(), root);
                }
            }
        }
        lakes.entry("default".to_string()).or_insert_with(|| "lake".to_string());
        let mut catalog_url = "sqlite://.weir/catalog.db".to_string();
        if let Some(v) = get(root, "catalog")
            && let Some(t) = self.table(v, "[catalog]")
        {
            self.check_keys(t, CATALOG_KEYS, "[catalog]");
            if let Some(uv) = get(t, "url")
                && let Some(u) = self.string(uv, "catalog url")
            {
                let known = ["sqlite:", "postgres://", "postgresql://"];
                if !known.iter().any(|k| u.starts_with(k)) {
                    self.err(
                        &uv.span(),
                        "unsupported catalog url",
                        Some("use sqlite://PATH (the default) or postgres://user@host:port/db".into()),
                    );
                }
                catalog_url = u;
            }
        }
        let mut datasets = BTreeMap::new();
        let mut declared = BTreeSet::new();
        let mut input_spans: BTreeMap<String, Range<usize>> = BTreeMap::new();
        let mut input_refs: Vec<(String, String, Range<usize>)> = Vec::new();
        if let Some(v) = get(root, "datasets")
            && let Some(t) = self.table(v, "[datasets]")
        {
            for (k, dv) in t {
                let dname = k.get_ref().to_string();
                declared.insert(dname.clone());
                if !valid_name(&dname) {
                    self.err(
                        &k.span(),
                        format!("dataset name `{dname}` is not an identifier"),
                        Some("use lowercase letters, digits and _, starting with a letter".into()),
                    );
                    continue;
                }
                let Some(dt) = self.table(dv, &format!("dataset `{dname}`")) else {
                    continue;
                };
                if let Some(ds) = self.dataset(&dname, dt, dv.span(), start, &lakes, read, &mut input_refs) {
                    if let Some(iv) = get(dt, "inputs") {
                        input_spans.insert(dname.clone(), iv.span());
                    }
                    datasets.insert(dname, ds);
                }
            }
        }
        // Inputs must name datasets that exist.
        for (consumer, input, span) in &input_refs {
            if !declared.contains(input) {
                let hint = match did_you_mean(input, declared.iter().map(String::as_str)) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "declare [datasets.{input}], or use one of: {}",
                        declared.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                };
                self.err(
                    span,
                    format!("dataset `{consumer}` reads unknown dataset `{input}`"),
                    Some(hint),
                );
            }
        }
        if !self.diags.is_empty() {
            return None;
        }
        self.check_mappings(&datasets, &input_spans);
        self.check_metrics(&datasets, &input_spans);
        let topo_order = match dag::topo_order(&datasets) {
            Ok(order) => order,
            Err(cycle) => {
                let first = cycle.first().cloned().unwrap_or_default();
                let span = input_spans.get(&first).cloned().unwrap_or(0..0);
                self.err(
                    &span,
                    format!("the inputs form a cycle: {}", cycle.join(" → ")),
                    Some(
                        "a dataset cannot depend on itself, directly or through others; remove one of these inputs"
                            .into(),
                    ),
                );
                return None;
            }
        };
        let alerts = get(root, "alerts").and_then(|v| self.alerts(v));
        let name = name?;
        Some(Project {
            alerts,
            name,
            start,
            lakes,
            catalog_url,
            datasets,
            topo_order,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn dataset(
        &mut self,
        name: &str,
        t: &DeTable<'_>,
        span: Range<usize>,
        project_start: Option<DateTime<Utc>>,
        lakes: &BTreeMap<String, String>,
        read: ReadFile<'_>,
        input_refs: &mut Vec<(String, String, Range<usize>)>,
    ) -> Option<Dataset> {
        let before = self.diags.len();
        let place = format!("[datasets.{name}]");
        self.check_keys(t, DATASET_KEYS, &place);
        let granularity = match get(t, "partition") {
            Some(v) => {
                let s = self.string(v, "partition")?;
                match Granularity::parse(&s) {
                    Ok(g) => g,
                    Err(e) => {
                        self.err(&v.span(), e.0, None);
                        return None;
                    }
                }
            }
            None => Granularity::Snapshot,
        };
        let start = match get(t, "start") {
            Some(v) => self.instant(v, "start"),
            None => project_start,
        };
        let start = match (start, granularity) {
            (Some(s), _) => s,
            (None, Granularity::Snapshot) => DateTime::<Utc>::UNIX_EPOCH,
            (None, _) => {
                self.err(
                    &span,
                    format!("dataset `{name}` is partitioned but has no start"),
                    Some("set `start` in [project] or on the dataset".into()),
                );
                return None;
            }
        };
        let end = get(t, "end").and_then(|v| self.instant(v, "end"));
        let delay = self.non_negative(get(t, "delay"), "delay").unwrap_or(Span::ZERO);
        let timeout = self.non_negative(get(t, "timeout"), "timeout");
        let retry_delay = self
            .non_negative(get(t, "retry_delay"), "retry_delay")
            .unwrap_or(Span::Seconds(30));
        let retries = match get(t, "retries") {
            None => 0,
            Some(v) => match v.get_ref() {
                DeValue::Integer(i) => i.as_str().parse::<u32>().ok().filter(|n| *n <= 100).unwrap_or_else(|| {
                    self.err(&v.span(), "retries must be a number from 0 to 100", None);
                    0
                }),
                _ => {
                    self.err(&v.span(), "retries must be a number", Some("e.g. retries = 3".into()));
                    0
                }
            },
        };
        let key = match get(t, "key") {
            None => Vec::new(),
            Some(v) => match v.get_ref() {
                DeValue::String(s) => vec![s.to_string()],
                DeValue::Array(a) => a.iter().filter_map(|x| self.string(x, "a key column")).collect(),
                _ => {
                    self.err(
                        &v.span(),
                        "key must be a column name or a list of them",
                        Some("e.g. key = [\"user_id\", \"track_id\"]".into()),
                    );
                    Vec::new()
                }
            },
        };
        let serve_window = match get(t, "serve_window") {
            None => ServeWindow::default(),
            Some(v) => match v.get_ref() {
                DeValue::Integer(i) => match i.as_str().parse::<u32>() {
                    Ok(n) if n > 0 => ServeWindow::Partitions(n),
                    _ => {
                        self.err(
                            &v.span(),
                            "serve_window must be a positive number of partitions or a duration",
                            Some("e.g. serve_window = 7 or serve_window = \"3d\"".into()),
                        );
                        ServeWindow::default()
                    }
                },
                _ => match self.span_value(v, "serve_window") {
                    Some(sp) if sp.is_positive() => ServeWindow::Span(sp),
                    Some(_) => {
                        self.err(&v.span(), "serve_window must be positive", None);
                        ServeWindow::default()
                    }
                    None => ServeWindow::default(),
                },
            },
        };
        let lake = match get(t, "lake") {
            Some(v) => {
                let l = self.string(v, "lake")?;
                if !lakes.contains_key(&l) {
                    let hint = did_you_mean(&l, lakes.keys().map(String::as_str)).map_or_else(
                        || {
                            format!(
                                "declare it under [lakes], or use one of: {}",
                                lakes.keys().cloned().collect::<Vec<_>>().join(", ")
                            )
                        },
                        |s| format!("did you mean `{s}`?"),
                    );
                    self.err(&v.span(), format!("unknown lake `{l}`"), Some(hint));
                }
                l
            }
            None => "default".to_string(),
        };
        let declared_version = get(t, "version").map(|v| match v.get_ref() {
            DeValue::String(s) => s.to_string(),
            DeValue::Integer(i) => i.as_str().to_string(),
            other => other_to_string(other),
        });
        let missing = match get(t, "missing") {
            Some(v) => match self.string(v, "missing")?.as_str() {
                "wait" => MissingPolicy::Wait,
                "empty" => MissingPolicy::Empty,
                other => {
                    self.err(
                        &v.span(),
                        format!("unknown `missing` policy `{other}`"),
                        Some("use \"wait\" (the default) or \"empty\"".into()),
                    );
                    MissingPolicy::Wait
                }
            },
            None => MissingPolicy::Wait,
        };
        let description = get(t, "description").and_then(|v| self.string(v, "description"));
        let mut inputs = match get(t, "inputs") {
            Some(v) => self.inputs(name, v, input_refs),
            None => Vec::new(),
        };
        // A metrics dataset reads what it measures, partition by partition.
        let metrics_of = match get(t, "metrics_of") {
            Some(v) => {
                let of = self.string(v, "metrics_of")?;
                if !inputs.iter().any(|i| i.dataset == of) {
                    input_refs.push((name.to_string(), of.clone(), v.span()));
                    inputs.push(Input {
                        table: of.clone(),
                        dataset: of.clone(),
                        window: None,
                        offset: Span::ZERO,
                    });
                }
                Some(of)
            }
            None => None,
        };
        let kinds: Vec<&str> = ["sql", "command", "ingest", "export"]
            .into_iter()
            .filter(|k| get(t, k).is_some())
            .collect();
        if kinds.len() != 1 {
            let msg = if kinds.is_empty() {
                format!("dataset `{name}` has no job")
            } else {
                format!("dataset `{name}` has more than one job ({})", kinds.join(", "))
            };
            self.err(
                &span,
                msg,
                Some("give exactly one of `sql`, `command`, `ingest` or `export`".into()),
            );
            return None;
        }
        let mut counters = BTreeMap::new();
        let mut sql_tables = None;
        if kinds[0] != "sql"
            && let Some(cv) = get(t, "counters")
        {
            self.err(
                &cv.span(),
                "declared counters are SQL queries, so only SQL datasets can have them",
                Some("command jobs write counters to the file named by WEIR_COUNTERS".into()),
            );
        }
        let format_v = get(t, "format");
        let format = match format_v {
            Some(v) => {
                let s = self.string(v, "format")?;
                match Format::parse(&s) {
                    Some(f) => Some(f),
                    None => {
                        self.err(
                            &v.span(),
                            format!("unknown format `{s}`"),
                            Some("use parquet, jsonl, csv or files".into()),
                        );
                        return None;
                    }
                }
            }
            None => None,
        };
        let (job, format) = match kinds[0] {
            "sql" => {
                let v = get(t, "sql")?;
                let text = self.string(v, "sql")?;
                let (sql, file, sql_src, base) = if looks_like_file(&text) {
                    if !safe_relative(&text) {
                        self.err(
                            &v.span(),
                            format!("SQL file `{text}` is outside the project"),
                            Some("name a file inside the project, e.g. \"sql/plays.sql\"".into()),
                        );
                        return None;
                    }
                    match read(&text) {
                        Ok(body) => (body.clone(), Some(text.clone()), Source::new(text.clone(), body), None),
                        Err(e) => {
                            self.err(
                                &v.span(),
                                format!("cannot read SQL file `{text}`: {e}"),
                                Some("create the file, or write the SQL inline".into()),
                            );
                            return None;
                        }
                    }
                } else {
                    let (line, col) = self.src.line_col(v.span().start);
                    (text.clone(), None, self.src.clone(), Some((line, col)))
                };
                let tables: BTreeSet<String> = inputs.iter().map(|i: &Input| i.table.clone()).collect();
                if let Err(d) = sqlcheck::check(&sql, &tables, &sql_src, base) {
                    self.diags.push(d);
                }
                if let Some(cv) = get(t, "counters") {
                    counters = self.counters(cv, &tables);
                }
                sql_tables = Some(tables);
                let f = format.unwrap_or(Format::Parquet);
                if !matches!(f, Format::Parquet | Format::Jsonl) {
                    self.err(
                        &format_v.map_or(span.clone(), |v| v.span()),
                        format!("a SQL dataset writes parquet or jsonl, not {}", f.as_str()),
                        None,
                    );
                }
                (Job::Sql { text: sql, file }, f)
            }
            "command" => {
                let v = get(t, "command")?;
                let argv = match v.get_ref() {
                    DeValue::Array(a) if !a.is_empty() => a
                        .iter()
                        .filter_map(|x| self.string(x, "a command argument"))
                        .collect::<Vec<_>>(),
                    DeValue::String(s) if !s.trim().is_empty() => {
                        vec!["sh".to_string(), "-c".to_string(), s.to_string()]
                    }
                    _ => {
                        self.err(
                            &v.span(),
                            "command must be a non-empty array of strings",
                            Some("e.g. command = [\"python3\", \"scripts/train.py\"]".into()),
                        );
                        return None;
                    }
                };
                let mut env = BTreeMap::new();
                if let Some(ev) = get(t, "env")
                    && let Some(et) = self.table(ev, "env")
                {
                    for (k, x) in et {
                        if let Some(s) = self.string(x, "an env value") {
                            env.insert(k.get_ref().to_string(), s);
                        }
                    }
                }
                // Project files named on the command line (scripts) are part of
                // the job's code: their content goes into the fingerprint.
                let mut files = BTreeMap::new();
                for arg in &argv {
                    if safe_relative(arg)
                        && arg.contains(['/', '.'])
                        && let Ok(body) = read(arg)
                    {
                        files.insert(arg.clone(), body);
                    }
                }
                (Job::Command { argv, env, files }, format.unwrap_or(Format::Files))
            }
            "export" => {
                let v = get(t, "export")?;
                if !inputs.is_empty() || granularity != Granularity::Snapshot {
                    self.err(&span, format!("export `{name}` takes no `inputs` or `partition`: it follows the alias of its `from` dataset"), None);
                }
                let job = self.export(v)?;
                if let Job::Export { from, .. } = &job {
                    input_refs.push((name.to_string(), from.clone(), v.span()));
                }
                (job, Format::Files)
            }
            _ => {
                let v = get(t, "ingest")?;
                if !inputs.is_empty() {
                    self.err(&span, format!("ingest dataset `{name}` cannot have inputs"), None);
                }
                (self.ingest(v, granularity)?, format.unwrap_or(Format::Files))
            }
        };
        let format = match &job {
            Job::Ingest { format, .. } => *format,
            _ => format,
        };
        if metrics_of.is_some() && sql_tables.is_none() {
            self.err(
                &span,
                format!("metrics dataset `{name}` must be computed by SQL"),
                Some("e.g. sql = \"SELECT count(*) AS plays FROM plays\"".into()),
            );
        }
        let checks = match get(t, "checks") {
            Some(v) => self.checks(v, &inputs, &counters, sql_tables.as_ref(), metrics_of.is_some()),
            None => Vec::new(),
        };
        (self.diags.len() == before).then(|| Dataset {
            name: name.to_string(),
            granularity,
            start,
            end,
            delay,
            inputs,
            job,
            format,
            lake,
            declared_version,
            missing,
            timeout,
            retries,
            retry_delay,
            description,
            counters,
            serve_window,
            key,
            checks,
            metrics_of,
        })
    }
}

fn get<'a, 'i>(t: &'a DeTable<'i>, key: &str) -> Option<&'a Val<'i>> {
    t.iter().find(|(k, _)| k.get_ref() == key).map(|(_, v)| v)
}

fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn other_to_string(v: &DeValue<'_>) -> String {
    match v {
        DeValue::Boolean(b) => b.to_string(),
        DeValue::Float(f) => f.as_str().to_string(),
        DeValue::Datetime(d) => d.to_string(),
        _ => type_name(v).to_string(),
    }
}

/// Dataset, lake and input names: `[a-z][a-z0-9_]*`, so they are safe in paths and SQL.
pub fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 64
}

fn looks_like_file(sql: &str) -> bool {
    let t = sql.trim();
    !t.contains(char::is_whitespace) && t.to_ascii_lowercase().ends_with(".sql")
}

/// A relative path that stays inside the project.
pub fn safe_relative(p: &str) -> bool {
    let path = std::path::Path::new(p);
    !path.is_absolute()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir))
}

mod checks;
mod parts;

pub use parts::check_path_template;

#[cfg(test)]
mod tests;
