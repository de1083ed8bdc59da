//! One `[datasets.NAME]` table: its partitioning, timing, retries, serving,
//! job (sql, command, export or ingest), counters and checks.

use super::*;
use crate::model::{Engine, Kind};

impl Cx {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn dataset(
        &mut self,
        name: &str,
        t: &DeTable<'_>,
        span: Range<usize>,
        project_start: Option<DateTime<Utc>>,
        lakes: &BTreeMap<String, String>,
        pools: &BTreeMap<String, usize>,
        read: ReadFile<'_>,
        input_refs: &mut Vec<(String, String, Range<usize>)>,
    ) -> Option<Dataset> {
        let before = self.diags.len();
        let place = format!("[datasets.{name}]");
        self.check_keys(t, &keys::DATASET, &place);
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
        let service = self.service_keys(t, granularity, pools);
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
        let kinds: Vec<&str> = ["sql", "command", "ingest", "export", "stream"]
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
                Some("give exactly one of `sql`, `command`, `ingest`, `export` or `stream`".into()),
            );
            return None;
        }
        let mut counters = BTreeMap::new();
        let mut derived = Vec::new();
        let mut sql_tables = None;
        if kinds[0] != "sql"
            && let Some(cv) = get(t, "counters")
        {
            (_, derived) = self.counters(cv, None);
        }
        if kinds[0] != "sql"
            && let Some(ev) = get(t, "engine")
        {
            self.err(
                &ev.span(),
                "`engine` applies to SQL datasets only",
                Some("remove it, or give the dataset `sql = \"…\"`".into()),
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
                    (counters, derived) = self.counters(cv, Some(&tables));
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
                let engine = match get(t, "engine") {
                    None => Engine::DataFusion,
                    Some(ev) => match self.string(ev, "engine")?.as_str() {
                        "datafusion" => Engine::DataFusion,
                        "spark" => Engine::Spark,
                        other => {
                            self.err(
                                &ev.span(),
                                format!("unknown engine `{other}`"),
                                Some(
                                    "use \"datafusion\" (in-process, the default) or \"spark\" (Spark Connect)".into(),
                                ),
                            );
                            return None;
                        }
                    },
                };
                if engine == Engine::Spark && f != Format::Parquet {
                    self.err(
                        &format_v.map_or(span.clone(), |v| v.span()),
                        "a Spark SQL dataset writes parquet",
                        None,
                    );
                }
                (
                    Job::Sql {
                        text: sql,
                        file,
                        engine,
                    },
                    f,
                )
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
                // And the project's own modules a Python script imports.
                pyimports::add_local_imports(&mut files, read);
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
            "stream" => {
                let v = get(t, "stream")?;
                if !inputs.is_empty() {
                    self.err(
                        &span,
                        format!("stream `{name}` cannot have inputs: its events arrive from outside"),
                        None,
                    );
                }
                // Sealed partitions hold the events as they arrived, in Parquet.
                (self.stream(v, granularity)?, Format::Parquet)
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
        let kind = match get(t, "kind") {
            None => Kind::Data,
            Some(kv) => match self.string(kv, "kind")?.as_str() {
                "data" => Kind::Data,
                "model" if matches!(job, Job::Command { .. }) => Kind::Model,
                "model" => {
                    self.err(
                        &kv.span(),
                        "a model dataset is a command job: it writes its artifact files and model.json",
                        Some("e.g. command = [\"python3\", \"scripts/train.py\"]".into()),
                    );
                    return None;
                }
                other => {
                    self.err(
                        &kv.span(),
                        format!("unknown kind `{other}`"),
                        Some("use \"data\" (the default) or \"model\"".into()),
                    );
                    return None;
                }
            },
        };
        if metrics_of.is_some() && sql_tables.is_none() {
            self.err(
                &span,
                format!("metrics dataset `{name}` must be computed by SQL"),
                Some("e.g. sql = \"SELECT count(*) AS plays FROM plays\"".into()),
            );
        }
        let derived = self.derived_names(derived, &inputs, &counters, sql_tables.is_some());
        let recorded: BTreeSet<String> = counters.keys().chain(derived.keys()).cloned().collect();
        let checks = match get(t, "checks") {
            Some(v) => self.checks(v, &inputs, &recorded, sql_tables.as_ref(), metrics_of.is_some()),
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
            derived,
            serve_window,
            key,
            checks,
            metrics_of,
            sla: service.sla,
            schedule: service.schedule,
            pool: service.pool,
            kind,
        })
    }
}
