//! Bad input gets a located error, a hint and exit status 2, and changes nothing.

use crate::support::*;

const OK: &str = r#"[project]
name = "x"
start = "2026-01-01"

[datasets.a]
partition = "day"
sql = "SELECT 1 AS x"

[datasets.b]
partition = "day"
inputs = { a = "a" }
sql = "sql/b.sql"
"#;

fn validate(toml: &str, sql: &str) -> (i32, String) {
    let tmp = project(toml, &[("sql/b.sql", sql)]);
    let (code, _, err) = exec(tmp.path(), NOW, &["validate"]);
    (code, err)
}

#[test]
fn malformed_definitions_give_file_line_column_errors() {
    let (code, err) = validate(OK, "SELECT 1 AS x FROM a");
    assert_eq!(code, 0, "{err}");
    let cases = [
        (
            OK.replace(
                "partition = \"day\"\nsql = \"SELECT 1 AS x\"",
                "partiton = \"day\"\nsql = \"SELECT 1 AS x\"",
            ),
            "SELECT 1 FROM a",
            "weir.toml:6:1: error: unknown key `partiton`",
            "did you mean `partition`?",
        ),
        (
            OK.replace("{ a = \"a\" }", "{ a = \"aa\" }"),
            "SELECT 1 FROM a",
            "weir.toml:11:16: error: dataset `b` reads unknown dataset `aa`",
            "did you mean `a`?",
        ),
        (
            OK.replace("sql = \"SELECT 1 AS x\"", "sql = \"SELECT 1 AS x\"\ninputs = [\"b\"]"),
            "SELECT 1 FROM a",
            "cycle",
            "remove one of these inputs",
        ),
        (
            OK.to_string(),
            "SELECT *\nFROM   a JOIN c ON true",
            "sql/b.sql:2:15: error: SQL reads unknown table `c`",
            "add `c` to the dataset's `inputs`",
        ),
        (
            OK.to_string(),
            "SELECT FROM WHERE (",
            "sql/b.sql:1:",
            "check the syntax",
        ),
        (
            OK.replace("sql/b.sql", "../b.sql"),
            "SELECT 1",
            "outside the project",
            "inside the project",
        ),
        (
            OK.replace("partition = \"day\"\ninputs", "partition = \"weekly\"\ninputs"),
            "SELECT 1",
            "weir.toml:10:13: error: unknown partition scheme",
            "",
        ),
        (
            OK.replace("name = \"x\"", "name = \"x"),
            "SELECT 1",
            "weir.toml:2:10: error: invalid TOML",
            "",
        ),
    ];
    for (toml, sql, expect, hint) in cases {
        let (code, err) = validate(&toml, sql);
        assert_eq!(code, 2, "bad definitions exit with 2:\n{err}");
        assert!(err.contains(expect), "expected `{expect}` in:\n{err}");
        assert!(err.contains(hint), "expected hint `{hint}` in:\n{err}");
    }
}

#[test]
fn bad_definitions_run_nothing_and_damage_nothing() {
    let tmp = project(OK, &[("sql/b.sql", "SELECT 1 AS x FROM a")]);
    let dir = tmp.path();
    let now = "2026-01-03T00:00:00Z";
    assert_eq!(json(dir, now, &["run"])["succeeded"], 4);
    let before = files_under(&dir.join("lake"));
    std::fs::write(dir.join("sql/b.sql"), "SELECT nope FROM missing_table").expect("write");
    let (code, _, err) = exec(dir, now, &["run"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nothing was run"), "{err}");
    assert_eq!(files_under(&dir.join("lake")), before);
}

#[test]
fn unknown_names_and_bad_arguments_are_user_errors_with_hints() {
    let tmp = project(OK, &[("sql/b.sql", "SELECT 1 AS x FROM a")]);
    let dir = tmp.path();
    for (args, expect) in [
        (vec!["run", "bb"], "did you mean `b`?"),
        (vec!["status", "nope"], "unknown dataset `nope`"),
        (vec!["show", "a"], "were never built"),
        (vec!["plan", "--from", "yesterday"], "is not a partition or date"),
        (
            vec!["show", "a", "--partition", "hour=2026-01-01T00"],
            "partitioned by `date`",
        ),
        (vec!["logs", "no-such-run"], "no run `no-such-run`"),
    ] {
        let (code, _, err) = exec(dir, NOW, &args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: expected `{expect}` in:\n{err}");
        assert!(err.contains("hint:"), "{args:?} gives a hint:\n{err}");
    }
    let outside = tempfile::tempdir().expect("tempdir");
    let (code, _, err) = exec(outside.path(), NOW, &["status"]);
    assert_eq!(code, 2);
    assert!(err.contains("no weir.toml"), "{err}");
}

#[test]
fn sql_that_fails_at_run_time_fails_the_run_with_the_engine_message() {
    let tmp = project(
        &OK.replace(
            "sql = \"SELECT 1 AS x\"",
            "command = [\"sh\", \"-c\", \"echo hi > $WEIR_OUTPUT/x.txt\"]\nformat = \"files\"",
        ),
        &[("sql/b.sql", "SELECT 1 AS x FROM a")],
    );
    let dir = tmp.path();
    let (code, out, _) = exec(dir, "2026-01-02T00:00:00Z", &["run", "--json"]);
    assert_eq!(code, 1, "{out}");
    let runs = json(dir, NOW, &["runs", "--failed"]);
    assert!(
        runs[0]["error"].as_str().is_some_and(|e| e.contains("opaque files")),
        "{runs}"
    );
}

#[test]
fn a_query_nested_60000_deep_is_a_located_error_not_a_crash() {
    let deep = format!("SELECT {} AS n", vec!["1"; 60_000].join(" + "));
    let tmp = project(
        "[project]\nname = \"deep\"\nstart = \"2026-01-01\"\n[datasets.d]\npartition = \"day\"\nsql = \"sql/d.sql\"\n",
        &[("sql/d.sql", deep.as_str())],
    );
    let (code, _, err) = exec(tmp.path(), NOW, &["validate"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("sql/d.sql:1:1") && err.contains("nests expressions 60000 deep"),
        "{err}"
    );
    let (code, _, err) = exec(tmp.path(), NOW, &["plan"]);
    assert_eq!(code, 2, "{err}");
}

/// `weir runs DATASET --partition P` lists that partition's runs only; a
/// partition that does not parse is a user error with a hint.
#[test]
fn runs_of_one_partition() {
    let tmp = project(
        "[project]\nname = \"r\"\nstart = \"2026-01-01\"\n[datasets.a]\npartition = \"day\"\ncommand = [\"sh\", \"-c\", \"echo x > $WEIR_OUTPUT/x.txt\"]\n",
        &[],
    );
    let dir = tmp.path();
    let (code, _, err) = exec(dir, NOW, &["run"]);
    assert_eq!(code, 0, "{err}");
    let all = json(dir, NOW, &["runs", "a"]);
    assert!(all.as_array().map(Vec::len) >= Some(3), "{all}");
    let one = json(dir, NOW, &["runs", "a", "--partition", "2026-01-02"]);
    let keys: Vec<&str> = one
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["partition_key"].as_str())
        .collect();
    assert_eq!(keys, ["date=2026-01-02"], "{one}");
    let (code, _, err) = exec(dir, NOW, &["runs", "a", "--partition", "soon"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("hint:"), "{err}");
    let (code, _, err) = exec(dir, NOW, &["runs", "--partition", "2026-01-02"]);
    assert_eq!(code, 2, "clap requires the dataset: {err}");
}
