use super::*;

const GOOD: &str = r#"
[project]
name = "music"
start = "2026-01-01"

[lakes]
sensitive = "lake-red"

[datasets.raw_plays]
partition = "hour"
ingest = { path = "landing/plays/{date}/{hour}.jsonl", format = "jsonl" }
lake = "sensitive"

[datasets.plays]
partition = "day"
inputs = { raw = "raw_plays" }
sql = "sql/plays.sql"

[datasets.top]
partition = "day"
inputs = { plays = { dataset = "plays", window = "28d" } }
sql = "SELECT track_id, count(*) AS n FROM plays GROUP BY track_id"

[datasets.model]
partition = "day"
inputs = ["top"]
command = ["python3", "train.py"]
"#;

fn files(path: &str) -> Result<String, String> {
    match path {
        "train.py" => Ok("print('v1')".into()),
        "sql/plays.sql" => Ok("SELECT *\nFROM raw\nWHERE ts < {{ partition_end }}".into()),
        _ => Err("no such file".into()),
    }
}

fn errors(text: &str) -> Vec<Diagnostic> {
    match load_project(text, &files) {
        Ok(_) => panic!("expected errors"),
        Err(d) => d.0,
    }
}

#[test]
fn loads_the_documented_format() {
    let p = load_project(GOOD, &files).expect("valid");
    assert_eq!(p.topo_order, vec!["raw_plays", "plays", "top", "model"]);
    let layered = load_project(&GOOD.replace("inputs = [\"top\"]", "inputs = [\"plays\"]"), &files).expect("valid");
    assert_eq!(
        layered.topo_order,
        vec!["raw_plays", "plays", "model", "top"],
        "by layer, then by name"
    );
    assert_eq!(p.datasets["raw_plays"].lake, "sensitive");
    assert_eq!(p.datasets["plays"].inputs[0].table, "raw");
    assert_eq!(p.datasets["model"].inputs[0].table, "top");
    assert_eq!(p.datasets["top"].inputs[0].window, Some(Span::Seconds(28 * 86_400)));
    assert_eq!(p.lakes["default"], "lake");
}

#[test]
fn unknown_key_is_located_with_a_suggestion() {
    let text = GOOD.replace(
        "partition = \"day\"\ninputs = { raw",
        "partiton = \"day\"\ninputs = { raw",
    );
    let e = errors(&text);
    let d = &e[0];
    assert_eq!(d.file, "weir.toml");
    assert_eq!((d.line, d.col), (15, 1), "{d}");
    assert!(d.message.contains("partiton"));
    assert_eq!(d.hint.as_deref(), Some("did you mean `partition`?"));
}

#[test]
fn unknown_dataset_is_located() {
    let text = GOOD.replace("inputs = { raw = \"raw_plays\" }", "inputs = { raw = \"raw_plyas\" }");
    let d = &errors(&text)[0];
    assert_eq!((d.line, d.col), (16, 18), "{d}");
    assert!(d.message.contains("unknown dataset `raw_plyas`"));
    assert_eq!(d.hint.as_deref(), Some("did you mean `raw_plays`?"));
}

#[test]
fn cycles_are_named() {
    let text = GOOD.replace(
        "inputs = { raw = \"raw_plays\" }",
        "inputs = { raw = \"raw_plays\", m = \"model\" }",
    );
    let d = &errors(&text)[0];
    assert!(d.message.contains("cycle"), "{d}");
    for name in ["plays", "top", "model"] {
        assert!(d.message.contains(name), "{d}");
    }
}

#[test]
fn sql_errors_point_into_the_sql_file() {
    let bad = |path: &str| -> Result<String, String> {
        match path {
            "sql/plays.sql" => Ok("SELECT *\nFROM raw JOIN nope ON true".into()),
            _ => Err("missing".into()),
        }
    };
    let d = load_project(GOOD, &bad).expect_err("unknown table").0.remove(0);
    assert_eq!((d.file.as_str(), d.line, d.col), ("sql/plays.sql", 2, 15), "{d}");
}

#[test]
fn inline_sql_errors_point_into_weir_toml() {
    let text = GOOD.replace("GROUP BY track_id", "GROUP BY track_id FROM FROM");
    let d = &errors(&text)[0];
    assert_eq!(d.file, "weir.toml");
    assert_eq!((d.line, d.col), (22, 68), "{d}");
}

#[test]
fn impossible_mappings_and_bad_values_are_reported() {
    let text = GOOD.replace(
        "[datasets.top]\npartition = \"day\"",
        "[datasets.top]\npartition = \"none\"",
    );
    assert!(errors(&text)[0].message.contains("impossible mapping"));
    let text = GOOD.replace(
        "path = \"landing/plays/{date}/{hour}.jsonl\"",
        "path = \"landing/plays/{date}.jsonl\"",
    );
    assert!(errors(&text)[0].message.contains("{hour}"));
    let text = GOOD.replace("window = \"28d\"", "window = \"28 days\"");
    assert!(errors(&text)[0].message.contains("window"));
    let text = GOOD.replace("lake = \"sensitive\"", "lake = \"sensitive\"\ndelay = \"-1d\"");
    assert!(errors(&text)[0].message.contains("delay cannot be negative"));
    let text = GOOD.replace(
        "lake = \"sensitive\"",
        "lake = \"sensitive\"\ndelay = \"100000000000000d\"",
    );
    assert!(errors(&text)[0].message.contains("too large"));
    let text = GOOD.replace("partition = \"hour\"", "partition = \"7m\"");
    assert!(errors(&text)[0].message.contains("divide a day"));
    let text = GOOD.replace("sql = \"sql/plays.sql\"", "sql = \"../../etc/passwd.sql\"");
    assert!(errors(&text)[0].message.contains("outside the project"));
    let text = GOOD.replace("lake = \"sensitive\"", "lake = \"sensitiv\"");
    assert_eq!(errors(&text)[0].hint.as_deref(), Some("did you mean `sensitive`?"));
}

#[test]
fn toml_syntax_errors_are_located() {
    let d = &errors("[project]\nname = \"x\n")[0];
    assert_eq!(d.line, 2, "{d}");
    assert!(d.message.starts_with("invalid TOML"));
}

#[test]
fn a_dataset_needs_exactly_one_job() {
    let text = GOOD.replace(
        "command = [\"python3\", \"train.py\"]",
        "command = [\"x\"]\nsql = \"SELECT 1\"",
    );
    assert!(errors(&text)[0].message.contains("more than one job"));
}

#[test]
fn fingerprints_change_downstream_only() {
    let a = load_project(GOOD, &files).expect("valid");
    let b_files = |path: &str| -> Result<String, String> {
        match path {
            "sql/plays.sql" => Ok("SELECT * FROM raw WHERE ts < {{ partition_end }} AND 1 = 1".into()),
            _ => Err("no".into()),
        }
    };
    let b = load_project(GOOD, &b_files).expect("valid");
    let (fa, fb) = (
        crate::fingerprint::fingerprints(&a),
        crate::fingerprint::fingerprints(&b),
    );
    assert_eq!(fa["raw_plays"], fb["raw_plays"]);
    for d in ["plays", "top", "model"] {
        assert_ne!(fa[d], fb[d], "{d} should get a new version");
    }
    // Reformatting SQL and changing non-code settings keep every version.
    let reformatted = |path: &str| -> Result<String, String> {
        match path {
            "sql/plays.sql" => Ok("select *   from raw -- c\n where ts < {{partition_end}}".into()),
            other => files(other),
        }
    };
    let c = load_project(
        &GOOD.replace("start = \"2026-01-01\"", "start = \"2025-06-01\""),
        &reformatted,
    )
    .expect("valid");
    assert_eq!(fa, crate::fingerprint::fingerprints(&c));
}

#[test]
fn declared_counters_are_checked_like_sql() {
    let text = GOOD.replace("sql = \"sql/plays.sql\"", "sql = \"sql/plays.sql\"\ncounters = { \"dropped.no_user\" = \"SELECT count(*) FROM raw WHERE user_id IS NULL\", rows_check = \"SELECT count(*) FROM output\" }");
    let p = load_project(&text, &files).expect("valid");
    assert_eq!(p.datasets["plays"].counters.len(), 2);
    let bad = GOOD.replace(
        "sql = \"sql/plays.sql\"",
        "sql = \"sql/plays.sql\"\ncounters = { x = \"SELECT count(*) FROM nope\" }",
    );
    let d = &errors(&bad)[0];
    assert!(d.message.contains("unknown table `nope`"), "{d}");
    assert_eq!((d.line, d.col), (18, 40), "{d}");
}

#[test]
fn derived_counters_are_arithmetic_over_what_the_run_records() {
    let with = |counters: &str| {
        GOOD.replace(
            "sql = \"sql/plays.sql\"",
            &format!("sql = \"sql/plays.sql\"\ncounters = {{ {counters} }}\nchecks = [\"counter(\\\"dropped.*\\\") < 10\", \"dup < 5\"]"),
        )
    };
    let p = load_project(
        &with("valid = \"SELECT count(*) FROM raw\", dup = { expr = \"valid - rows_out\" }, \"dropped.x\" = { expr = \"rows_in.raw - rows_out\" }"),
        &files,
    )
    .expect("valid");
    let ds = &p.datasets["plays"];
    assert_eq!(ds.counters.keys().collect::<Vec<_>>(), vec!["valid"]);
    assert_eq!(ds.derived.keys().collect::<Vec<_>>(), vec!["dropped.x", "dup"]);
    assert_eq!(
        crate::fingerprint::fingerprints(&p)["plays"],
        crate::fingerprint::fingerprints(&load_project(GOOD, &files).expect("valid"))["plays"],
        "counters measure; they do not make a new version"
    );
    // Command jobs may derive counters from what they write to WEIR_COUNTERS.
    let cmd = GOOD.replace(
        "command = [\"python3\", \"train.py\"]",
        "command = [\"python3\", \"train.py\"]\ncounters = { loss_pct = { expr = \"100 * loss\" } }",
    );
    let p = load_project(&cmd, &files).expect("valid");
    assert!(p.datasets["model"].derived.contains_key("loss_pct"));
    let cases = [
        (
            with("dup = { expr = \"valid - rows_out\" }"),
            "`valid` is not a counter this dataset records",
            (18, 29),
        ),
        (
            with("dup = { expr = \"rows_out - \" }"),
            "derived counter does not parse",
            (18, 41),
        ),
        (with("dup = { expr = \"rows_out > 0\" }"), "not a comparison", (18, 30)),
        (
            with("dup = { expr = \"median(rows_out, 7)\" }"),
            "history belongs in checks",
            (18, 29),
        ),
        (
            with("dup = { expr = \"null_fraction(user_id)\" }"),
            "reads the profile",
            (18, 29),
        ),
        (with("dup = { exp = \"rows_out\" }"), "needs `expr`", (18, 20)),
        (
            with("a = { expr = \"rows_out\" }, b = { expr = \"a + 1\" }"),
            "another derived counter",
            (18, 54),
        ),
        (with("rows_out = \"SELECT 1\""), "recorded by every run", (18, 14)),
        (
            GOOD.replace(
                "command = [\"python3\", \"train.py\"]",
                "command = [\"python3\", \"train.py\"]\ncounters = { n = \"SELECT 1\" }",
            ),
            "only SQL datasets can declare them",
            (28, 18),
        ),
    ];
    for (text, want, at) in cases {
        let d = &errors(&text)[0];
        assert!(d.message.contains(want), "want {want:?}: {d}");
        assert_eq!((d.line, d.col), at, "{d}");
    }
}

#[test]
fn scripts_named_by_a_command_are_part_of_its_version() {
    let a = load_project(GOOD, &files).expect("valid");
    let edited = |path: &str| -> Result<String, String> {
        match path {
            "train.py" => Ok("print('v2')".into()),
            other => files(other),
        }
    };
    let b = load_project(GOOD, &edited).expect("valid");
    let (fa, fb) = (
        crate::fingerprint::fingerprints(&a),
        crate::fingerprint::fingerprints(&b),
    );
    assert_ne!(
        fa["model"], fb["model"],
        "editing train.py makes a new version of model"
    );
    assert_eq!(fa["top"], fb["top"]);
    match &a.datasets["model"].job {
        Job::Command { files, .. } => assert_eq!(files.keys().collect::<Vec<_>>(), vec!["train.py"]),
        other => panic!("{other:?}"),
    }
}

const CHECKED: &str = r#"
[project]
name = "music"
start = "2026-01-01"

[datasets.raw]
partition = "day"
ingest = { path = "landing/{date}.jsonl", format = "jsonl" }

[datasets.plays]
partition = "day"
inputs = ["raw"]
sql = "SELECT * FROM raw"
counters = { "dropped.no_user" = "SELECT count(*) FROM raw WHERE user_id IS NULL" }
checks = [
  "rows_out > 0",
  "counter(\"dropped.*\") / rows_in.raw < 0.01",
  { check = "abs(pct_change(rows_out, 1)) < 0.5", severity = "warn", name = "steady" },
  "unique(play_id)",
  "SELECT count(*) = 0 FROM output WHERE ms < 0",
]

[datasets.plays_quality]
partition = "day"
metrics_of = "plays"
sql = "SELECT count(DISTINCT user_id) AS users FROM plays"
checks = ["users >= 0.5 * median(users, 28)"]

[datasets.top]
partition = "day"
inputs = ["plays"]
sql = "SELECT 1 AS x FROM plays"
"#;

#[test]
fn checks_and_metrics_datasets_load() {
    let p = load_project(CHECKED, &files).expect("valid");
    let plays = p.dataset("plays").expect("plays");
    assert_eq!(plays.checks.len(), 5);
    assert_eq!(plays.checks[2].name, "steady");
    assert_eq!(plays.checks[2].severity, crate::check::Severity::Warn);
    assert!(matches!(plays.checks[3].rule, crate::check::Rule::Data(_)));
    let q = p.dataset("plays_quality").expect("quality");
    assert_eq!(q.metrics_of.as_deref(), Some("plays"));
    assert_eq!(q.inputs[0].dataset, "plays");
    assert_eq!(q.checks[0].lookback(), 28);
    // The gate comes before what consumes the measured dataset.
    let pos = |n: &str| p.topo_order.iter().position(|x| x == n).expect(n);
    assert!(pos("plays_quality") < pos("top"), "{:?}", p.topo_order);
    assert_eq!(
        p.gates("plays").map(|d| d.name.as_str()).collect::<Vec<_>>(),
        ["plays_quality"]
    );
}

#[test]
fn bad_checks_are_located() {
    let bad = |from: &str, to: &str| errors(&CHECKED.replacen(from, to, 1));
    // A parse error points inside the string: line 16 is `  "rows_out > 0",`.
    let e = bad("\"rows_out > 0\"", "\"rows_out >\"");
    assert_eq!((e[0].line, e[0].col), (16, 14), "{e:?}"); // at the closing quote
    assert!(e[0].message.contains("check does not parse"), "{e:?}");
    let e = bad("\"rows_out > 0\"", "\"rows_ot > 0\"");
    assert!(e[0].message.contains("`rows_ot`"), "{e:?}");
    assert_eq!(e[0].hint.as_deref(), Some("did you mean `rows_out`?"));
    let e = bad("rows_in.raw < 0.01", "rows_in.rwa < 0.01");
    assert!(e[0].message.contains("`rwa` is not an input"), "{e:?}");
    let e = bad("severity = \"warn\"", "severity = \"loud\"");
    assert!(e[0].message.contains("unknown severity"), "{e:?}");
    let e = bad("FROM output WHERE ms < 0", "FROM outptu WHERE ms < 0");
    assert!(e[0].message.contains("outptu"), "{e:?}");
    let e = bad("metrics_of = \"plays\"", "metrics_of = \"plasy\"");
    assert!(e[0].message.contains("unknown dataset `plasy`"), "{e:?}");
    let e = bad("partition = \"day\"\nmetrics_of", "partition = \"hour\"\nmetrics_of");
    assert!(e[0].message.contains("must be partitioned like `plays`"), "{e:?}");
    let ok = load_project(
        &CHECKED.replacen("checks = [\"users", "checks = [\"unique(x)\", \"users", 1),
        &files,
    );
    assert!(
        ok.is_ok(),
        "data checks are allowed on SQL metrics datasets: {:?}",
        ok.err()
    );
    // A metrics dataset may not measure what its own consumers produce (a cycle).
    let e = bad(
        "metrics_of = \"plays\"",
        "metrics_of = \"plays\"\ninputs = [\"plays\", \"top\"]",
    );
    assert!(e[0].message.contains("cycle"), "{e:?}");
}

#[test]
fn a_schema_beside_ingest_says_it_belongs_inside() {
    let text = "[project]\nname = \"s\"\nstart = \"2026-01-01\"\n[datasets.raw]\npartition = \"hour\"\ningest = { path = \"landing/{date}/{hour}.jsonl\", format = \"jsonl\" }\nschema = { user_id = \"string\" }\n";
    let e = errors(text);
    let d = &e[0];
    assert_eq!((d.line, d.col), (7, 1), "{d}");
    assert!(d.message.contains("unknown key `schema`"), "{d}");
    assert!(
        d.hint
            .as_deref()
            .is_some_and(|h| h.contains("ingest = {") && h.contains("schema = {")),
        "{d:?}"
    );
}

#[test]
fn service_keys_load_and_their_mistakes_are_located() {
    let text = GOOD.replace(
        "lake = \"sensitive\"",
        "lake = \"sensitive\"\nsla = \"3h\"\nschedule = \"0 6 * * *\"\npool = \"heavy\"",
    ) + "\n[pools]\nheavy = 1\n\n[retention]\nruns = \"90d\"\nversions = 3\n";
    let p = load_project(&text, &files).expect("valid");
    let raw = p
        .datasets
        .values()
        .find(|d| d.pool.is_some())
        .expect("the dataset with a pool");
    assert_eq!(
        raw.sla,
        Some(crate::service::Sla::AfterEnd(Span::parse("3h").expect("span")))
    );
    assert_eq!(raw.schedule.as_ref().map(|s| s.line.as_str()), Some("0 6 * * *"));
    assert_eq!(p.pools["heavy"], 1);
    assert_eq!(p.retention.versions, Some(3));
    assert!(p.retention.runs.is_some());
    let bad = |from: &str, to: &str| {
        let e = errors(&text.replace(from, to));
        assert!(!e.is_empty(), "{to} should be refused");
        e[0].clone()
    };
    let e = bad("pool = \"heavy\"", "pool = \"hevy\"");
    assert!(e.message.contains("unknown pool `hevy`"), "{}", e.message);
    assert_eq!(e.hint.as_deref(), Some("did you mean `heavy`?"));
    assert!(e.line > 1 && e.col > 1, "located");
    assert!(
        bad("sla = \"3h\"", "sla = \"soon\"")
            .message
            .contains("neither a duration")
    );
    assert!(
        bad("sla = \"3h\"", "sla = \"06:00\"")
            .message
            .contains("daily partitions only")
    );
    assert!(
        bad("schedule = \"0 6 * * *\"", "schedule = \"at six\"")
            .message
            .contains("cron")
    );
    let zero = errors(&text.replace("heavy = 1", "heavy = 0"));
    assert!(
        zero.iter().any(|e| e.message.contains("must be a positive number")),
        "{zero:?}"
    );
    assert!(bad("versions = 3", "versions = \"3\"").message.contains("versions"));
    assert!(
        bad("runs = \"90d\"", "runs = \"90d\"\nkeep = 1")
            .message
            .contains("unknown key `keep`")
    );
}
