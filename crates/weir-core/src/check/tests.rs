use super::eval::glob_for_tests as glob;
use super::*;

fn facts(pairs: &[(&str, f64)]) -> Facts {
    Facts {
        values: pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        profile: None,
    }
}

fn rows(n: f64) -> Option<Facts> {
    Some(facts(&[("rows_out", n)]))
}

fn run(text: &str, now: &Facts, history: &[Option<Facts>]) -> CheckResult {
    let e = parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
    evaluate(text, Severity::Block, &e, now, history)
}

fn status(text: &str, now: &Facts, history: &[Option<Facts>]) -> Status {
    run(text, now, history).status
}

#[test]
fn comparisons_at_their_boundaries() {
    let f = facts(&[("rows_out", 10.0)]);
    assert_eq!(status("rows_out > 0", &f, &[]), Status::Pass);
    assert_eq!(status("rows_out > 10", &f, &[]), Status::Fail);
    assert_eq!(status("rows_out >= 10", &f, &[]), Status::Pass);
    assert_eq!(status("rows_out < 10", &f, &[]), Status::Fail);
    assert_eq!(status("rows_out <= 10", &f, &[]), Status::Pass);
    assert_eq!(status("rows_out == 10", &f, &[]), Status::Pass);
    assert_eq!(status("rows_out != 10", &f, &[]), Status::Fail);
    assert_eq!(status("rows_out == 1e1", &f, &[]), Status::Pass);
    assert_eq!(status("-rows_out < 0 and not rows_out > 100", &f, &[]), Status::Pass);
    assert_eq!(status("rows_out > 100 or rows_out < 11", &f, &[]), Status::Pass);
    assert_eq!(status("(rows_out + 2) * 3 - 6 / 2 == 33", &f, &[]), Status::Pass);
    assert_eq!(
        status("rows_out > 1_000", &facts(&[("rows_out", 1001.0)]), &[]),
        Status::Pass
    );
}

#[test]
fn dotted_names_sum_their_children_and_globs_sum_matches() {
    let f = facts(&[
        ("rows_in.raw", 1000.0),
        ("rows_in.users", 50.0),
        ("dropped.no_user", 4.0),
        ("dropped.bad_ts", 5.0),
    ]);
    assert_eq!(status("rows_in == 1050", &f, &[]), Status::Pass);
    assert_eq!(status("counter(\"dropped.*\") == 9", &f, &[]), Status::Pass);
    assert_eq!(
        status("counter(\"dropped.*\") / rows_in.raw < 0.01", &f, &[]),
        Status::Pass
    );
    assert_eq!(
        status("counter(\"dropped.*\") / rows_in.raw < 0.009", &f, &[]),
        Status::Fail
    );
    assert_eq!(status("counter(\"nothing.*\") == 0", &f, &[]), Status::Pass);
    assert_eq!(status("counter(\"dropped.no_?ser\") == 4", &f, &[]), Status::Pass);
    assert!(glob("a*c", "abbbc") && glob("*", "") && !glob("a*c", "abd") && glob("a.*.c", "a.x.y.c"));
}

#[test]
fn an_unrecorded_counter_is_an_error_that_blocks() {
    let r = run("dropped.typo < 5", &facts(&[("rows_out", 1.0)]), &[]);
    assert_eq!(r.status, Status::Error);
    assert!(r.blocks());
    assert!(
        r.detail.contains("was not recorded") && r.detail.contains("rows_out"),
        "{}",
        r.detail
    );
    let warn = CheckResult {
        severity: Severity::Warn,
        ..r
    };
    assert!(!warn.blocks());
}

#[test]
fn division_by_zero_is_unknown_and_skipped() {
    let f = facts(&[("dropped.x", 0.0), ("rows_in.raw", 0.0)]);
    let r = run("counter(\"dropped.*\") / rows_in.raw < 0.01", &f, &[]);
    assert_eq!(r.status, Status::Skipped);
    assert!(r.detail.contains("division by zero"), "{}", r.detail);
    assert!(!r.blocks());
    // A decided side of `or` / `and` still decides.
    assert_eq!(
        status("rows_in.raw == 0 or dropped.x / rows_in.raw < 0.01", &f, &[]),
        Status::Pass
    );
    assert_eq!(
        status("rows_in.raw > 0 and dropped.x / rows_in.raw < 0.01", &f, &[]),
        Status::Fail
    );
}

#[test]
fn median_over_full_partial_and_missing_history() {
    let now = facts(&[("rows_out", 70.0)]);
    let full: Vec<Option<Facts>> = [100.0, 90.0, 110.0, 100.0, 95.0, 105.0, 100.0].map(rows).to_vec();
    // median = 100: 70 >= 70 passes at the boundary, 69 fails.
    assert_eq!(
        status("rows_out >= 0.7 * median(rows_out, 7)", &now, &full),
        Status::Pass
    );
    assert_eq!(
        status(
            "rows_out >= 0.7 * median(rows_out, 7)",
            &facts(&[("rows_out", 69.0)]),
            &full
        ),
        Status::Fail
    );
    // Only partitions that exist count: two of seven → median of two (even: mean of the middle).
    let partial = vec![rows(100.0), None, rows(60.0), None, None, None, None];
    let r = run("rows_out >= median(rows_out, 7)", &now, &partial);
    assert_eq!(r.status, Status::Fail, "{}", r.detail);
    assert!(r.detail.contains("median(rows_out, 7) = 80"), "{}", r.detail);
    // No history at all → skipped, never blocking.
    let r = run("rows_out >= 0.7 * median(rows_out, 7)", &now, &[None, None]);
    assert_eq!(r.status, Status::Skipped);
    assert!(r.detail.contains("no history"), "{}", r.detail);
    assert_eq!(
        status("rows_out >= 0.7 * median(rows_out, 7)", &now, &[]),
        Status::Skipped
    );
    // Only the first n are read.
    let far = vec![None, None, rows(1000.0)];
    assert_eq!(status("rows_out > median(rows_out, 2)", &now, &far), Status::Skipped);
}

#[test]
fn mean_min_max_stddev() {
    let h: Vec<Option<Facts>> = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0].map(rows).to_vec();
    let now = facts(&[("rows_out", 5.0)]);
    assert_eq!(status("mean(rows_out, 8) == 5", &now, &h), Status::Pass);
    assert_eq!(status("min(rows_out, 8) == 2", &now, &h), Status::Pass);
    assert_eq!(status("max(rows_out, 8) == 9", &now, &h), Status::Pass);
    assert_eq!(status("stddev(rows_out, 8) == 2", &now, &h), Status::Pass);
    assert_eq!(status("max(rows_out, 3) == 4", &now, &h), Status::Pass);
    assert_eq!(status("median(rows_out, 3) == 4", &now, &h), Status::Pass);
}

#[test]
fn lag_and_pct_change() {
    let now = facts(&[("rows_out", 150.0)]);
    let h = vec![rows(100.0), rows(300.0)];
    assert_eq!(status("lag(rows_out, 2) == 300", &now, &h), Status::Pass);
    assert_eq!(status("pct_change(rows_out, 1) == 0.5", &now, &h), Status::Pass);
    assert_eq!(status("abs(pct_change(rows_out, 1)) < 0.5", &now, &h), Status::Fail);
    assert_eq!(status("abs(pct_change(rows_out, 2)) < 0.5", &now, &h), Status::Fail);
    assert_eq!(status("abs(pct_change(rows_out, 2)) <= 0.5", &now, &h), Status::Pass);
    // The partition asked for is missing → skipped.
    assert_eq!(
        status("abs(pct_change(rows_out, 1)) < 0.5", &now, &[None, rows(1.0)]),
        Status::Skipped
    );
    assert_eq!(status("abs(pct_change(rows_out, 3)) < 0.5", &now, &h), Status::Skipped);
    // From zero: unchanged zero is 0%, anything else is unknown.
    assert_eq!(
        status(
            "pct_change(rows_out, 1) == 0",
            &facts(&[("rows_out", 0.0)]),
            &[rows(0.0)]
        ),
        Status::Pass
    );
    assert_eq!(
        status("pct_change(rows_out, 1) < 1", &now, &[rows(0.0)]),
        Status::Skipped
    );
    // A counter absent in history is a gap, not an error.
    let odd = vec![Some(facts(&[("other", 1.0)]))];
    assert_eq!(status("pct_change(rows_out, 1) < 1", &now, &odd), Status::Skipped);
}

#[test]
fn profile_functions() {
    let f = Facts {
        values: Default::default(),
        profile: Some(serde_json::json!({
            "rows": 4,
            "columns": {
                "user_id": {"null_fraction": 0.0, "min": "a", "max": "z", "distinct": 3},
                "country": {"null_fraction": 0.25, "min": "DE", "max": "SE", "distinct": 2}
            }
        })),
    };
    assert_eq!(status("null_fraction(user_id) == 0", &f, &[]), Status::Pass);
    assert_eq!(status("null_fraction(country) == 0", &f, &[]), Status::Fail);
    assert_eq!(status("null_fraction(\"country\") <= 0.25", &f, &[]), Status::Pass);
    assert_eq!(status("distinct(user_id) >= 3", &f, &[]), Status::Pass);
    let r = run("null_fraction(nope) == 0", &f, &[]);
    assert_eq!(r.status, Status::Error);
    assert!(
        r.detail.contains("no column `nope`") && r.detail.contains("user_id"),
        "{}",
        r.detail
    );
    // No profile (a command job) → skipped.
    assert_eq!(
        status("null_fraction(user_id) == 0", &Facts::default(), &[]),
        Status::Skipped
    );
}

#[test]
fn the_detail_shows_the_values_read() {
    let r = run(
        "rows_out >= 0.7 * median(rows_out, 3)",
        &facts(&[("rows_out", 10.0)]),
        &[rows(100.0), rows(100.0)],
    );
    assert_eq!(r.status, Status::Fail);
    assert_eq!(r.detail, "rows_out = 10; median(rows_out, 3) = 100");
}

#[test]
fn parse_errors_point_at_the_offending_column() {
    let cases: &[(&str, usize, &str)] = &[
        ("rows_out >", 10, "ends too early"),
        ("rows_out = 0", 9, "`=` is not a comparison"),
        ("rows_out", 0, "must be a comparison"),
        ("rows_out > 0 rows_in > 1", 13, "unexpected text"),
        ("medain(rows_out, 7) > 0", 0, "unknown function `medain`"),
        ("median(rows_out) > 0", 0, "takes a value and a number"),
        ("median(rows_out, 0) > 1", 17, "whole number of partitions"),
        ("median(rows_out, 2.5) > 1", 17, "whole number of partitions"),
        ("median(rows_out, x) > 1", 17, "number of partitions"),
        ("rows_out > 0 && rows_out < 5", 13, "`&&` is not an operator"),
        ("(rows_out > 0", 13, "expected `)`"),
        ("counter(\"a > 0", 8, "unterminated string"),
        ("rows_out + (rows_in > 0) > 1", 9, "needs numbers"),
        ("rows_out > 0 and 5", 13, "joins comparisons"),
        ("1 < rows_out < 5", 13, "do not chain"),
        ("rows_out > 0 $", 13, "unexpected character `$`"),
        ("median(median(rows_out, 2), 3) > 0", 0, "cannot nest"),
        ("unique(x) and rows_out > 0", 0, "data check"),
    ];
    for (text, offset, msg) in cases {
        let e = parse(text).expect_err(text);
        assert!(
            e.message.contains(msg) || e.hint.as_deref().unwrap_or("").contains(msg),
            "{text}: {e:?}"
        );
        assert_eq!(e.offset, *offset, "{text}: {e:?}");
    }
    assert_eq!(
        parse("medain(rows_out, 7) > 0").expect_err("typo").hint.as_deref(),
        Some("did you mean `median`?")
    );
}

#[test]
fn lookback_is_the_deepest_history_read() {
    assert_eq!(parse("rows_out > 0").map(|e| e.lookback()), Ok(0));
    assert_eq!(
        parse("rows_out > median(rows_out, 7) and abs(pct_change(rows_out, 28)) < 1").map(|e| e.lookback()),
        Ok(28)
    );
    let mut names = Vec::new();
    if let Ok(e) = parse("counter(\"x.*\") / rows_in.raw < median(rows_out, 3) and null_fraction(c) == 0") {
        e.names(&mut names);
    }
    assert_eq!(names, vec!["rows_in.raw", "rows_out"]);
}

#[test]
fn data_checks_compile_to_sql_and_judge_their_answer() {
    let u = parse_data("unique(track_id, day)").expect("unique");
    assert_eq!(u, DataCheck::Unique(vec!["track_id".into(), "day".into()]));
    assert_eq!(
        u.sql(),
        "SELECT count(*) FROM (SELECT 1 FROM output GROUP BY \"track_id\", \"day\" HAVING count(*) > 1)"
    );
    assert_eq!(u.judge(Some("0")).0, Status::Pass);
    assert_eq!(u.judge(Some("3")), (Status::Fail, "3 duplicated keys".into()));
    let n = parse_data("not_null(user_id)").expect("not_null");
    assert_eq!(n.sql(), "SELECT count(*) FROM output WHERE \"user_id\" IS NULL");
    assert_eq!(n.judge(Some("2")).0, Status::Fail);
    let q = parse_data("SELECT max(plays) < 1000000 FROM output").expect("select");
    assert_eq!(q.judge(Some("true")).0, Status::Pass);
    assert_eq!(q.judge(Some("false")).0, Status::Fail);
    assert_eq!(q.judge(None).0, Status::Fail);
    assert_eq!(q.judge(Some("banana")).0, Status::Error);
    assert_eq!(parse_data("unique()"), None);
    assert_eq!(parse_data("rows_out > 0"), None);
}

proptest::proptest! {
    /// The parser never panics, whatever it is given.
    #[test]
    fn parse_never_panics(s in "\\PC{0,40}") {
        let _ = parse(&s);
    }

    /// Evaluation never panics on any parsed check over arbitrary values.
    #[test]
    fn evaluate_never_panics(a in proptest::num::f64::ANY, b in proptest::num::f64::ANY) {
        let f = facts(&[("x", a), ("y.z", b)]);
        for t in ["x / y.z > 0", "abs(pct_change(x, 1)) < 0.5", "x >= median(x, 3) or y < 0"] {
            let e = parse(t).map_err(|e| proptest::test_runner::TestCaseError::fail(e.message))?;
            let _ = evaluate(t, Severity::Warn, &e, &f, &[Some(f.clone()), None]);
        }
    }
}

#[test]
fn derived_counter_values() {
    let now = facts(&[
        ("valid", 120.0),
        ("rows_out", 100.0),
        ("dropped.a", 3.0),
        ("dropped.b", 4.0),
    ]);
    let v = |text: &str| super::value(&super::parse_number(text).expect("parses"), &now);
    assert_eq!(v("valid - rows_out"), Ok(Some(20.0)));
    assert_eq!(v("dropped"), Ok(Some(7.0)), "a dotted prefix sums its children");
    assert_eq!(v("counter(\"dropped.*\") * 2"), Ok(Some(14.0)));
    assert_eq!(v("abs(rows_out - valid) / 3"), Ok(Some(20.0 / 3.0)));
    assert_eq!(v("valid / (rows_out - 100)"), Ok(None), "a division by zero is unknown");
    assert!(v("valid - nope").is_err_and(|e| e.contains("`nope` was not recorded")));
    assert!(
        super::parse_number("valid > 1").is_err_and(|e| e.message.contains("not a comparison")),
        "a derived counter is a number"
    );
    assert!(parse("valid - 1").is_err_and(|e| e.message.contains("must be a comparison")));
}

#[test]
fn a_null_value_is_an_error_by_name_by_prefix_and_by_pattern() {
    let f = facts(&[
        ("bad", f64::NAN),
        ("dropped.x", f64::INFINITY),
        ("dropped.y", 1.0),
        ("n", 2.0),
    ]);
    for text in [
        "bad < 1",
        "bad != 1",
        "dropped < 5",
        "counter(\"dropped.*\") < 5",
        "not (bad > 1)",
    ] {
        let r = run(text, &f, &[]);
        assert_eq!(r.status, Status::Error, "{text}: {}", r.detail);
        assert!(r.detail.contains("is null"), "{text}: {}", r.detail);
        assert!(r.blocks(), "{text}");
    }
    assert_eq!(run("n == 2", &f, &[]).status, Status::Pass);
}
