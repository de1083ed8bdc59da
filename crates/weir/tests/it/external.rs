//! External readers (pyarrow and DuckDB) read weir's Parquet with Hive
//! partitioning and agree with `weir show` row counts.

use crate::support::*;

#[test]
fn pyarrow_and_duckdb_read_the_lake_and_agree_with_weir() {
    let python = std::env::var("WEIR_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = std::process::Command::new(&python)
        .args(["-c", "import pyarrow, duckdb"])
        .output();
    assert!(
        probe.as_ref().is_ok_and(|o| o.status.success()),
        "this test needs pyarrow and duckdb: run the tests with ./scripts/test, which installs them (or set WEIR_TEST_PYTHON to a Python that has them)"
    );
    let (_tmp, dir) = demo_project();
    let version = dir.join("lake/plays/v1");
    let script = r#"
import sys, json, pyarrow.dataset as ds, duckdb
path = sys.argv[1]
t = ds.dataset(path, format="parquet", partitioning="hive").to_table()
by_date = {}
for d in t.column("date").to_pylist():
    by_date[str(d)] = by_date.get(str(d), 0) + 1
rows = duckdb.sql(f"SELECT CAST(date AS VARCHAR) AS d, count(*) AS n FROM read_parquet('{path}/**/*.parquet', hive_partitioning = true) GROUP BY d ORDER BY d").fetchall()
print(json.dumps({"pyarrow": by_date, "duckdb": {d: n for d, n in rows}, "columns": t.column_names}))
"#;
    let out = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&version)
        .output()
        .expect("python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    for day in ["2026-01-01", "2026-01-02", "2026-01-03"] {
        let rows = json(&dir, NOW, &["show", "plays", "--partition", day])["rows"]
            .as_i64()
            .expect("rows");
        assert!(rows > 10_000, "a day has plays");
        assert_eq!(got["pyarrow"][day].as_i64(), Some(rows), "pyarrow on {day}: {got}");
        assert_eq!(got["duckdb"][day].as_i64(), Some(rows), "duckdb on {day}: {got}");
    }
    assert!(
        got["columns"]
            .as_array()
            .is_some_and(|c| c.iter().any(|x| x == "user_id"))
    );
}
