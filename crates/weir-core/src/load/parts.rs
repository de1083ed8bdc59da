//! The parts of a dataset definition: inputs, declared counters, ingest and
//! export specs, and the checks that need the whole graph (impossible mappings).

use super::checks::BUILTIN_COUNTERS;
use super::*;
use crate::check::{self, Expr};

/// A derived counter as written: its name, expression, and the expression's span.
pub(super) type Derived = (String, Expr, Range<usize>);

impl Cx {
    /// `counters = { "dropped.x" = "SELECT count(*) FROM raw WHERE …" }`: each a
    /// query over the inputs and `output` that returns one integer (SQL jobs
    /// only: `sql_inputs` holds their input tables), or a derived counter,
    /// `{ expr = "valid - rows_out" }`, arithmetic over what the run recorded.
    /// Returns the queries and the derived counters with their spans (whose
    /// names the caller checks, knowing the inputs).
    pub(super) fn counters(
        &mut self,
        v: &Val<'_>,
        sql_inputs: Option<&BTreeSet<String>>,
    ) -> (BTreeMap<String, String>, Vec<Derived>) {
        let mut out = BTreeMap::new();
        let mut derived = Vec::new();
        let Some(t) = self.table(v, "counters") else {
            return (out, derived);
        };
        let tables = sql_inputs.map(|inputs| {
            let mut tables = inputs.clone();
            tables.insert("output".to_string());
            tables
        });
        for (k, qv) in t {
            let name = k.get_ref().to_string();
            let ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
            if !ok {
                self.err(
                    &k.span(),
                    format!("counter name `{name}` is not valid"),
                    Some("use lowercase letters, digits, `_` and `.`, e.g. \"dropped.no_user\"".into()),
                );
                continue;
            }
            if BUILTIN_COUNTERS.contains(&name.as_str()) {
                self.err(
                    &k.span(),
                    format!("`{name}` is recorded by every run, so it cannot be declared"),
                    Some("choose another name".into()),
                );
                continue;
            }
            if let DeValue::Table(dt) = qv.get_ref() {
                if let Some((e, span)) = self.derived_counter(dt, &qv.span()) {
                    derived.push((name, e, span));
                }
                continue;
            }
            let Some(tables) = &tables else {
                self.err(
                    &qv.span(),
                    "counter queries are SQL, so only SQL datasets can declare them",
                    Some(
                        "command jobs write counters to the file named by WEIR_COUNTERS; \
                         a derived counter, { expr = \"a - b\" }, works on any job"
                            .into(),
                    ),
                );
                continue;
            };
            let Some(q) = self.string(qv, "a counter query") else {
                continue;
            };
            let (line, col) = self.src.line_col(qv.span().start);
            if let Err(d) = sqlcheck::check(&q, tables, &self.src.clone(), Some((line, col))) {
                self.diags.push(d);
                continue;
            }
            out.insert(name, q);
        }
        (out, derived)
    }

    /// A derived counter reads what the run records (on SQL jobs: built-in or
    /// declared queries), never another derived counter, whose value is not
    /// known yet when it is computed.
    pub(super) fn derived_names(
        &mut self,
        derived: Vec<Derived>,
        inputs: &[Input],
        queries: &BTreeMap<String, String>,
        strict: bool,
    ) -> BTreeMap<String, Expr> {
        let names: BTreeSet<String> = derived.iter().map(|(n, _, _)| n.clone()).collect();
        let recorded: BTreeSet<String> = queries.keys().cloned().collect();
        let mut out = BTreeMap::new();
        for (name, e, span) in derived {
            let mut reads = Vec::new();
            e.names(&mut reads);
            if let Some(other) = reads.iter().find(|r| names.contains(*r)) {
                self.err(
                    &span,
                    format!("derived counter `{name}` reads `{other}`, another derived counter"),
                    Some(format!("write out what `{other}` computes instead")),
                );
                continue;
            }
            if self.check_names(&reads, inputs, &recorded, strict, &span) {
                out.insert(name, e);
            }
        }
        out
    }

    /// `{ expr = "…" }`: a number computed from the run's counters, so no
    /// history and no profile (and, as the parser sees, no comparison).
    fn derived_counter(&mut self, t: &DeTable<'_>, span: &Range<usize>) -> Option<(Expr, Range<usize>)> {
        self.check_keys(t, &keys::DERIVED, "a derived counter");
        let Some(ev) = get(t, "expr") else {
            self.err(
                span,
                "a derived counter needs `expr`",
                Some("e.g. \"dropped.duplicate\" = { expr = \"valid - rows_out\" }".into()),
            );
            return None;
        };
        let text = self.string(ev, "a derived counter's expression")?;
        let espan = ev.span();
        let e = match check::parse_number(&text) {
            Ok(e) => e,
            Err(e) => {
                let at = self.content_start(&espan) + e.offset;
                let mut d = self
                    .src
                    .at(at, format!("derived counter does not parse: {}", e.message));
                d.hint = e.hint.or(Some(
                    "a derived counter is arithmetic, e.g. \"valid - rows_out\"".into(),
                ));
                self.diags.push(d);
                return None;
            }
        };
        let why = if e.lookback() > 0 {
            Some("it reads earlier partitions; history belongs in checks")
        } else if e.reads_profile() {
            Some("it reads the profile, which a counter cannot; compare it in a check")
        } else {
            None
        };
        if let Some(why) = why {
            self.err(
                &espan,
                format!("derived counter `{text}` is not arithmetic over counters: {why}"),
                None,
            );
            return None;
        }
        Some((e, espan))
    }

    pub(super) fn inputs(
        &mut self,
        consumer: &str,
        v: &Val<'_>,
        refs: &mut Vec<(String, String, Range<usize>)>,
    ) -> Vec<Input> {
        let mut out = Vec::new();
        match v.get_ref() {
            DeValue::Array(items) => {
                for item in items.iter() {
                    if let Some(ds) = self.string(item, "an input") {
                        refs.push((consumer.to_string(), ds.clone(), item.span()));
                        out.push(Input {
                            table: ds.clone(),
                            dataset: ds,
                            window: None,
                            offset: Span::ZERO,
                        });
                    }
                }
            }
            DeValue::Table(t) => {
                for (k, iv) in t {
                    let table = k.get_ref().to_string();
                    if !valid_name(&table) {
                        self.err(
                            &k.span(),
                            format!("input name `{table}` is not an identifier"),
                            Some("it becomes a SQL table name: use lowercase letters, digits and _".into()),
                        );
                        continue;
                    }
                    match iv.get_ref() {
                        DeValue::String(ds) => {
                            refs.push((consumer.to_string(), ds.to_string(), iv.span()));
                            out.push(Input {
                                table,
                                dataset: ds.to_string(),
                                window: None,
                                offset: Span::ZERO,
                            });
                        }
                        DeValue::Table(it) => {
                            self.check_keys(it, &keys::INPUT, &format!("input `{table}`"));
                            let Some(dv) = get(it, "dataset") else {
                                self.err(
                                    &iv.span(),
                                    format!("input `{table}` has no `dataset`"),
                                    Some(format!("e.g. {table} = {{ dataset = \"plays\", window = \"7d\" }}")),
                                );
                                continue;
                            };
                            let Some(ds) = self.string(dv, "input dataset") else {
                                continue;
                            };
                            refs.push((consumer.to_string(), ds.clone(), dv.span()));
                            let window = get(it, "window").and_then(|w| {
                                let sp = self.span_value(w, "window")?;
                                if !sp.is_positive() {
                                    self.err(
                                        &w.span(),
                                        "a window must be positive",
                                        Some("e.g. window = \"28d\"".into()),
                                    );
                                }
                                Some(sp)
                            });
                            let offset = get(it, "offset")
                                .and_then(|o| self.span_value(o, "offset"))
                                .unwrap_or(Span::ZERO);
                            out.push(Input {
                                table,
                                dataset: ds,
                                window,
                                offset,
                            });
                        }
                        other => self.err(
                            &iv.span(),
                            format!(
                                "input `{table}` must be a dataset name or a table, not {}",
                                type_name(other)
                            ),
                            None,
                        ),
                    }
                }
            }
            other => self.err(
                &v.span(),
                format!("inputs must be a list or a table, not {}", type_name(other)),
                Some("e.g. inputs = [\"plays\"] or inputs = { raw = \"raw_plays\" }".into()),
            ),
        }
        out
    }

    /// `export = { from = "top_tracks_28d", to = "sqlite://serving.db", table = "top_tracks", keep = 3 }`
    pub(super) fn export(&mut self, v: &Val<'_>) -> Option<Job> {
        let t = self.table(v, "export")?;
        self.check_keys(t, &keys::EXPORT, "export");
        let mut field = |k: &str| match get(t, k) {
            Some(x) => self.string(x, k),
            None => {
                self.err(&v.span(), format!("export has no `{k}`"), Some("e.g. export = { from = \"top_tracks_28d\", to = \"sqlite://serving.db\", table = \"top_tracks\" }".into()));
                None
            }
        };
        let (from, to, table) = (field("from"), field("to"), field("table"));
        let (from, to, table) = (from?, to?, table?);
        if !valid_name(&table) {
            let span = get(t, "table").map_or(v.span(), |x| x.span());
            self.err(
                &span,
                format!("export table `{table}` is not an identifier"),
                Some("use lowercase letters, digits and _".into()),
            );
        }
        let from_env = to.strip_prefix("env:").is_some_and(|n| !n.is_empty());
        if !(from_env || to.starts_with("sqlite:") || to.starts_with("postgres://") || to.starts_with("postgresql://"))
        {
            let span = get(t, "to").map_or(v.span(), |x| x.span());
            self.err(
                &span,
                "an export goes to sqlite://PATH, postgres://… or env:NAME",
                Some("keep a password out of weir.toml: to = \"env:SERVING_URL\"".into()),
            );
        }
        let keep = match get(t, "keep").map(|x| x.get_ref()) {
            None => 3,
            Some(DeValue::Integer(i)) => i.as_str().parse::<u32>().ok().filter(|k| *k > 0).unwrap_or_else(|| {
                self.err(&v.span(), "keep must be a positive number of table generations", None);
                3
            }),
            Some(_) => {
                self.err(&v.span(), "keep must be a number", None);
                3
            }
        };
        Some(Job::Export { from, to, table, keep })
    }

    pub(super) fn ingest(&mut self, v: &Val<'_>, g: Granularity) -> Option<Job> {
        let t = self.table(v, "ingest")?;
        self.check_keys(t, &keys::INGEST, "ingest");
        let Some(pv) = get(t, "path") else {
            self.err(
                &v.span(),
                "ingest has no `path`",
                Some("e.g. ingest = { path = \"landing/plays/{date}/{hour}.jsonl\", format = \"jsonl\" }".into()),
            );
            return None;
        };
        let path = self.string(pv, "ingest path")?;
        if let Err(e) = check_path_template(&path, g) {
            self.err(&pv.span(), e.0, Some(e.1));
            return None;
        }
        let format = match get(t, "format") {
            Some(fv) => {
                let s = self.string(fv, "ingest format")?;
                let Some(f) = Format::parse(&s) else {
                    self.err(
                        &fv.span(),
                        format!("unknown format `{s}`"),
                        Some("use jsonl, csv, parquet or files".into()),
                    );
                    return None;
                };
                f
            }
            None => Format::Files,
        };
        let schema = match get(t, "schema") {
            Some(sv) => {
                if format != Format::Jsonl {
                    self.err(&sv.span(), "a schema applies to jsonl ingests only", None);
                }
                Some(self.schema(sv)?)
            }
            None => None,
        };
        Some(Job::Ingest { path, format, schema })
    }

    /// `schema = { column = "type", … }` of an ingest or a stream.
    pub(super) fn schema(&mut self, sv: &Val<'_>) -> Option<Vec<(String, ColumnType)>> {
        let st = self.table(sv, "schema")?;
        let mut cols = Vec::new();
        for (k, cv) in st {
            let ty = self.string(cv, "a column type")?;
            match ColumnType::parse(&ty) {
                Some(c) => cols.push((k.get_ref().to_string(), c)),
                None => self.err(
                    &cv.span(),
                    format!("unknown column type `{ty}`"),
                    Some("use string, int64, float64, bool or timestamp".into()),
                ),
            }
        }
        Some(cols)
    }

    pub(super) fn check_mappings(
        &mut self,
        datasets: &BTreeMap<String, Dataset>,
        spans: &BTreeMap<String, Range<usize>>,
    ) {
        for ds in datasets.values() {
            for input in &ds.inputs {
                let Some(up) = datasets.get(&input.dataset) else {
                    continue;
                };
                let span = spans.get(&ds.name).cloned().unwrap_or(0..0);
                if ds.granularity == Granularity::Snapshot && up.granularity != Granularity::Snapshot {
                    self.err(&span, format!("impossible mapping: snapshot dataset `{}` cannot read partitioned `{}` (a snapshot has no time slot to map)", ds.name, up.name), Some(format!("give `{}` a partition scheme, or read a snapshot instead", ds.name)));
                }
                if up.granularity == Granularity::Snapshot && (input.window.is_some() || !input.offset.is_zero()) {
                    self.err(
                        &span,
                        format!(
                            "impossible mapping: `{}` is a snapshot, so `window` and `offset` cannot apply to it",
                            up.name
                        ),
                        Some("remove window/offset from this input".into()),
                    );
                }
            }
        }
    }
}

/// Checks an ingest path template against the dataset's partition scheme.
pub fn check_path_template(path: &str, g: Granularity) -> Result<(), (String, String)> {
    let mut rest = path;
    let mut used = BTreeSet::new();
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err((
                format!("unclosed `{{` in ingest path `{path}`"),
                "placeholders are {date}, {hour}, {minute}, {month}".into(),
            ));
        };
        let name = &after[..close];
        if !["date", "hour", "minute", "month"].contains(&name) {
            return Err((
                format!("unknown placeholder `{{{name}}}` in ingest path"),
                "placeholders are {date}, {hour}, {minute}, {month}".into(),
            ));
        }
        used.insert(name.to_string());
        rest = &after[close + 1..];
    }
    let needed: &[&str] = match g {
        Granularity::Minutes(_) => &["date", "hour", "minute"],
        Granularity::Hour => &["date", "hour"],
        Granularity::Day => &["date"],
        Granularity::Month => &["month"],
        Granularity::Snapshot => &[],
    };
    for n in needed {
        let ok = used.contains(*n) || (*n == "month" && used.contains("date"));
        if !ok {
            return Err((
                format!(
                    "impossible mapping: the ingest path does not mention {{{n}}}, so it cannot tell {g} partitions apart"
                ),
                format!("add {{{n}}} to the path, e.g. \"landing/x/{{date}}/{{hour}}.jsonl\" for hourly partitions"),
            ));
        }
    }
    Ok(())
}
