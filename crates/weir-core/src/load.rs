//! Definitions: `weir.toml` text (plus SQL files) → validated [`Project`].
//!
//! The TOML is walked as a spanned tree, so every problem — unknown keys,
//! unknown datasets, cycles, impossible mappings, bad SQL — is reported at its
//! file, line and column with a hint. No I/O here: SQL files are read through
//! the `read` callback that the caller supplies.

use crate::dag;
use crate::diag::{Diagnostic, Diagnostics, Source, did_you_mean};
use crate::keys;
use crate::model::{Alerts, ColumnType, Dataset, Durability, Format, Input, Job, MissingPolicy, Project, ServeWindow};
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
    cx.check_keys(&root, &keys::ROOT, "the top level");
    let project = cx.build(&root, read);
    if cx.diags.is_empty()
        && let Some(p) = project
    {
        #[cfg(test)]
        keys::schema::tests::assert_schema_accepts(toml_text);
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

/// Keys that belong inside another key's table, and where: `schema` next to
/// `ingest` on a dataset belongs in `ingest = { …, schema = {…} }`.
const NESTED_KEYS: &[(&str, &str, &str)] = &[
    (
        "schema",
        "ingest",
        "ingest = { path = \"…\", format = \"jsonl\", schema = { user_id = \"string\" } }",
    ),
    (
        "keep",
        "export",
        "export = { from = \"…\", to = \"…\", table = \"…\", keep = 3 }",
    ),
];

impl Cx {
    fn err(&mut self, span: &Range<usize>, msg: impl Into<String>, hint: Option<String>) {
        let mut d = self.src.at(span.start, msg);
        d.hint = hint;
        self.diags.push(d);
    }

    fn check_keys(&mut self, table: &DeTable<'_>, allowed: &keys::Table, place: &str) {
        for key in table.keys() {
            let k: &str = key.get_ref();
            if allowed.key(k).is_none() {
                let elsewhere = NESTED_KEYS
                    .iter()
                    .find(|(key, parent, _)| *key == k && table.contains_key(*parent));
                let hint = match (elsewhere, did_you_mean(k, allowed.names())) {
                    (Some((_, _, example)), _) => format!("`{k}` belongs inside it: {example}"),
                    (None, Some(s)) => format!("did you mean `{s}`?"),
                    (None, None) => format!("allowed keys here: {}", allowed.names().collect::<Vec<_>>().join(", ")),
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
        let mut durability = Durability::default();
        match get(root, "project") {
            Some(v) => {
                if let Some(t) = self.table(v, "[project]") {
                    self.check_keys(t, &keys::PROJECT, "[project]");
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
                    if let Some(d) = get(t, "durability") {
                        match self.string(d, "durability").as_deref() {
                            Some("durable") => durability = Durability::Durable,
                            Some("fast") => durability = Durability::Fast,
                            Some(other) => self.err(
                                &d.span(),
                                format!("durability `{other}` is not known"),
                                Some(
                                    "use \"durable\" (fsync before commit, the default) or \"fast\" (scratch projects)"
                                        .into(),
                                ),
                            ),
                            None => {}
                        }
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
            self.check_keys(t, &keys::CATALOG, "[catalog]");
            if let Some(uv) = get(t, "url")
                && let Some(u) = self.string(uv, "catalog url")
            {
                let known = ["sqlite:", "postgres://", "postgresql://", "env:"];
                if !known.iter().any(|k| u.starts_with(k)) {
                    self.err(
                        &uv.span(),
                        "unsupported catalog url",
                        Some(
                            "use sqlite://PATH (the default), postgres://user@host:port/db, or env:NAME to read it from the environment"
                                .into(),
                        ),
                    );
                }
                catalog_url = u;
            }
        }
        let pools = self.pools(root);
        let retention = self.retention(root);
        let lineage = self.lineage(root);
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
                if let Some(ds) = self.dataset(&dname, dt, dv.span(), start, &lakes, &pools, read, &mut input_refs) {
                    if let Some(iv) = get(dt, "inputs") {
                        input_spans.insert(dname.clone(), iv.span());
                    }
                    if let Some(q) = stream::quarantine_of(&ds) {
                        if t.iter().any(|(k, _)| k.get_ref() == q.name.as_str()) {
                            self.err(
                                &k.span(),
                                format!(
                                    "stream `{dname}` keeps its malformed events in `{}`, which is declared too",
                                    q.name
                                ),
                                Some(format!("rename [datasets.{}]", q.name)),
                            );
                        }
                        declared.insert(q.name.clone());
                        datasets.insert(q.name.clone(), q);
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
        let selectors = self.selectors(root, &datasets);
        let name = name?;
        Some(Project {
            alerts,
            durability,
            pools,
            retention,
            lineage,
            name,
            start,
            lakes,
            catalog_url,
            datasets,
            topo_order,
            selectors,
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
mod dataset;
mod parts;
mod pyimports;
mod selectors;
mod service;
mod stream;

pub use parts::check_path_template;

#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod tests;
