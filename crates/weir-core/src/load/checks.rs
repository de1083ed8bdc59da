//! `checks = [...]` and `metrics_of`: parsed, and their names checked against
//! what the dataset records, with errors at the exact column.

use super::*;
use crate::check::{self, Check, Rule, Severity};

/// Counters every SQL run records (`rows_in` and `malformed` sum over inputs).
pub(super) const BUILTIN_COUNTERS: &[&str] = &[
    "rows_out",
    "bytes_out",
    "files_out",
    "duration_ms",
    "rows_in",
    "malformed",
];

impl Cx {
    /// Byte offset where a string value's content starts (after its quotes).
    pub(super) fn content_start(&self, span: &Range<usize>) -> usize {
        let rest = self.src.text.get(span.start..).unwrap_or("");
        span.start
            + if rest.starts_with("\"\"\"") || rest.starts_with("'''") {
                3
            } else {
                1
            }
    }

    pub(super) fn checks(
        &mut self,
        v: &Val<'_>,
        inputs: &[Input],
        counters: &BTreeSet<String>,
        sql_tables: Option<&BTreeSet<String>>,
        is_metrics: bool,
    ) -> Vec<Check> {
        let DeValue::Array(items) = v.get_ref() else {
            self.err(
                &v.span(),
                "checks must be a list",
                Some("e.g. checks = [\"rows_out > 0\", { check = \"abs(pct_change(rows_out, 1)) < 0.5\", severity = \"warn\" }]".into()),
            );
            return Vec::new();
        };
        let mut out: Vec<Check> = Vec::new();
        for item in items {
            let (text_v, severity, name) = match item.get_ref() {
                DeValue::String(_) => (item, Severity::Block, None),
                DeValue::Table(t) => {
                    self.check_keys(t, &keys::CHECK, "a check");
                    let Some(cv) = get(t, "check") else {
                        self.err(
                            &item.span(),
                            "a check table needs `check`",
                            Some("e.g. { check = \"rows_out > 0\", severity = \"warn\" }".into()),
                        );
                        continue;
                    };
                    let severity = match get(t, "severity") {
                        None => Severity::Block,
                        Some(sv) => match self.string(sv, "severity").as_deref().map(Severity::parse) {
                            Some(Some(s)) => s,
                            Some(None) => {
                                self.err(
                                    &sv.span(),
                                    "unknown severity",
                                    Some("use \"block\" (the default) or \"warn\"".into()),
                                );
                                continue;
                            }
                            None => continue,
                        },
                    };
                    let name = get(t, "name").and_then(|n| self.string(n, "a check name"));
                    (cv, severity, name)
                }
                other => {
                    self.err(
                        &item.span(),
                        format!("a check must be a string or a table, not {}", type_name(other)),
                        None,
                    );
                    continue;
                }
            };
            let Some(text) = self.string(text_v, "a check") else {
                continue;
            };
            let span = text_v.span();
            let rule = if let Some(dc) = check::parse_data(&text) {
                let Some(tables) = sql_tables else {
                    self.err(
                        &span,
                        "data checks run SQL over the output, so only SQL datasets can have them",
                        Some("check counters instead, e.g. \"rows_out > 0\"".into()),
                    );
                    continue;
                };
                if let check::DataCheck::Query(q) = &dc {
                    let mut tables = tables.clone();
                    tables.insert("output".into());
                    let (line, col) = self.src.line_col(span.start);
                    if let Err(d) = sqlcheck::check(q, &tables, &self.src.clone(), Some((line, col))) {
                        self.diags.push(d);
                        continue;
                    }
                }
                Rule::Data(dc)
            } else {
                match check::parse(&text) {
                    Ok(e) => {
                        let mut names = Vec::new();
                        e.names(&mut names);
                        if !self.check_names(&names, inputs, counters, sql_tables.is_some() && !is_metrics, &span) {
                            continue;
                        }
                        Rule::Expr(e)
                    }
                    Err(e) => {
                        let at = self.content_start(&span) + e.offset;
                        let mut d = self.src.at(at, format!("check does not parse: {}", e.message));
                        d.hint = e.hint.or(Some("a check is a comparison, e.g. \"rows_out > 0\"".into()));
                        self.diags.push(d);
                        continue;
                    }
                }
            };
            let name = name.unwrap_or_else(|| text.trim().to_string());
            if out.iter().any(|c| c.name == name) {
                self.err(
                    &span,
                    format!("two checks are named `{name}`"),
                    Some("give one a different `name`".into()),
                );
                continue;
            }
            out.push(Check { name, severity, rule });
        }
        out
    }

    /// Every name a check (or a derived counter) reads must be something the
    /// dataset records: a built-in counter or one of `counters`.
    pub(super) fn check_names(
        &mut self,
        names: &[String],
        inputs: &[Input],
        counters: &BTreeSet<String>,
        strict: bool,
        span: &Range<usize>,
    ) -> bool {
        let tables: Vec<&str> = inputs.iter().map(|i| i.table.as_str()).collect();
        for n in names {
            if let Some((head @ ("rows_in" | "malformed"), table)) = n.split_once('.') {
                if !tables.contains(&table) {
                    let hint = match did_you_mean(table, tables.iter().copied()) {
                        Some(s) => format!("did you mean `{head}.{s}`?"),
                        None => format!("the inputs are: {}", tables.join(", ")),
                    };
                    self.err(
                        span,
                        format!("check reads `{n}`, but `{table}` is not an input"),
                        Some(hint),
                    );
                    return false;
                }
                continue;
            }
            if !strict {
                continue; // command jobs and metrics datasets record names we cannot know here
            }
            let declared = counters.iter().any(|c| c == n || c.starts_with(&format!("{n}.")));
            if !BUILTIN_COUNTERS.contains(&n.as_str()) && !declared {
                let known: Vec<&str> = BUILTIN_COUNTERS
                    .iter()
                    .copied()
                    .chain(counters.iter().map(String::as_str))
                    .collect();
                let hint = match did_you_mean(n, known.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("declare it under `counters`, or use one of: {}", known.join(", ")),
                };
                self.err(span, format!("`{n}` is not a counter this dataset records"), Some(hint));
                return false;
            }
        }
        true
    }

    /// A metrics dataset measures a dataset that exists, partition by partition.
    pub(super) fn check_metrics(
        &mut self,
        datasets: &BTreeMap<String, Dataset>,
        spans: &BTreeMap<String, Range<usize>>,
    ) {
        for ds in datasets.values() {
            let Some(of) = &ds.metrics_of else { continue };
            let Some(up) = datasets.get(of) else { continue };
            let span = spans.get(&ds.name).cloned().unwrap_or(0..0);
            if up.granularity != ds.granularity {
                self.err(
                    &span,
                    format!(
                        "metrics dataset `{}` must be partitioned like `{of}` ({}), not {}",
                        ds.name, up.granularity, ds.granularity
                    ),
                    Some(format!("set partition = \"{}\"", up.granularity)),
                );
            }
            if up.metrics_of.is_some() {
                self.err(
                    &span,
                    format!("`{of}` is itself a metrics dataset; measure the dataset it measures"),
                    None,
                );
            }
        }
    }
}

impl Cx {
    /// `[alerts] webhook = "https://…" | "env:NAME"`, `on = ["block", "warn", "failure", "late", "selector"]`.
    pub(super) fn alerts(&mut self, v: &Val<'_>) -> Option<Alerts> {
        let t = self.table(v, "[alerts]")?;
        self.check_keys(t, &keys::ALERTS, "[alerts]");
        let Some(wv) = get(t, "webhook") else {
            self.err(
                &v.span(),
                "[alerts] has no `webhook`",
                Some("e.g. webhook = \"env:SLACK_WEBHOOK_URL\"".into()),
            );
            return None;
        };
        let webhook = self.string(wv, "webhook")?;
        let ok = webhook.starts_with("https://")
            || webhook.starts_with("http://")
            || webhook.strip_prefix("env:").is_some_and(|n| !n.is_empty());
        if !ok {
            self.err(
                &wv.span(),
                "a webhook is an http(s) URL, or env:NAME to read one from the environment",
                Some("keep secrets out of weir.toml: webhook = \"env:SLACK_WEBHOOK_URL\"".into()),
            );
            return None;
        }
        let mut on: Vec<String> = Alerts::KINDS.iter().map(|k| k.to_string()).collect();
        if let Some(ov) = get(t, "on") {
            let DeValue::Array(items) = ov.get_ref() else {
                self.err(
                    &ov.span(),
                    "`on` must be a list",
                    Some("e.g. on = [\"block\", \"failure\"]".into()),
                );
                return None;
            };
            on.clear();
            for item in items {
                let k = self.string(item, "an alert kind")?;
                if !Alerts::KINDS.contains(&k.as_str()) {
                    self.err(
                        &item.span(),
                        format!("unknown alert kind `{k}`"),
                        Some("use block, warn, failure or late".into()),
                    );
                    return None;
                }
                on.push(k);
            }
        }
        Some(Alerts { webhook, on })
    }
}
