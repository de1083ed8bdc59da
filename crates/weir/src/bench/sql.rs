//! `weir bench sql`: the same queries through weir and through the DuckDB
//! CLI, on the same Parquet files, whole processes timed end to end.
//!
//! The suite installs its tools (`duckdb-cli`, `tpchgen-cli` from PyPI) into
//! a venv, as `scripts/test` does, generates its data once (TPC-H at scale
//! factor 1, 10 M listening events, 28 daily partitions), ingests it into a
//! project beside the data, and then, per query, takes the best of
//! `--rounds` wall times of:
//! - `weir sql` over the served datasets;
//! - `duckdb` over views of the same files;
//! - the same query as a `weir run` job (invalidated between rounds).
//!
//! It is a benchmark, not a test: nothing in CI runs it.

use crate::output::{Printer, table};
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// One benchmark query: the tables it reads and its text (the same for
/// both engines).
struct Query {
    name: &'static str,
    tables: &'static [&'static str],
    sql: &'static str,
}

const TPCH: &[&str] = &[
    "lineitem", "orders", "customer", "nation", "region", "supplier", "part", "partsupp",
];

const QUERIES: &[Query] = &[
    Query {
        name: "tpch_q1",
        tables: &["lineitem"],
        sql: "SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty, sum(l_extendedprice) AS sum_base_price, \
              sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price, \
              sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) AS sum_charge, avg(l_quantity) AS avg_qty, \
              avg(l_extendedprice) AS avg_price, avg(l_discount) AS avg_disc, count(*) AS count_order \
              FROM lineitem WHERE l_shipdate <= DATE '1998-09-02' \
              GROUP BY l_returnflag, l_linestatus ORDER BY l_returnflag, l_linestatus",
    },
    Query {
        name: "tpch_q3",
        tables: &["customer", "orders", "lineitem"],
        sql: "SELECT l_orderkey, sum(l_extendedprice * (1 - l_discount)) AS revenue, o_orderdate, o_shippriority \
              FROM customer, orders, lineitem \
              WHERE c_mktsegment = 'BUILDING' AND c_custkey = o_custkey AND l_orderkey = o_orderkey \
              AND o_orderdate < DATE '1995-03-15' AND l_shipdate > DATE '1995-03-15' \
              GROUP BY l_orderkey, o_orderdate, o_shippriority ORDER BY revenue DESC, o_orderdate LIMIT 10",
    },
    Query {
        name: "tpch_q5",
        tables: &["customer", "orders", "lineitem", "supplier", "nation", "region"],
        sql: "SELECT n_name, sum(l_extendedprice * (1 - l_discount)) AS revenue \
              FROM customer, orders, lineitem, supplier, nation, region \
              WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND l_suppkey = s_suppkey \
              AND c_nationkey = s_nationkey AND s_nationkey = n_nationkey AND n_regionkey = r_regionkey \
              AND r_name = 'ASIA' AND o_orderdate >= DATE '1994-01-01' AND o_orderdate < DATE '1995-01-01' \
              GROUP BY n_name ORDER BY revenue DESC",
    },
    Query {
        name: "tpch_q6",
        tables: &["lineitem"],
        sql: "SELECT sum(l_extendedprice * l_discount) AS revenue FROM lineitem \
              WHERE l_shipdate >= DATE '1994-01-01' AND l_shipdate < DATE '1995-01-01' \
              AND l_discount BETWEEN 0.05 AND 0.07 AND l_quantity < 24",
    },
    Query {
        name: "tpch_q9",
        tables: &["part", "supplier", "lineitem", "partsupp", "orders", "nation"],
        sql: "SELECT nation, o_year, sum(amount) AS sum_profit FROM ( \
              SELECT n_name AS nation, extract(year FROM o_orderdate) AS o_year, \
              l_extendedprice * (1 - l_discount) - ps_supplycost * l_quantity AS amount \
              FROM part, supplier, lineitem, partsupp, orders, nation \
              WHERE s_suppkey = l_suppkey AND ps_suppkey = l_suppkey AND ps_partkey = l_partkey \
              AND p_partkey = l_partkey AND o_orderkey = l_orderkey AND s_nationkey = n_nationkey \
              AND p_name LIKE '%green%') AS profit \
              GROUP BY nation, o_year ORDER BY nation, o_year DESC",
    },
    Query {
        name: "tpch_q10",
        tables: &["customer", "orders", "lineitem", "nation"],
        sql: "SELECT c_custkey, c_name, sum(l_extendedprice * (1 - l_discount)) AS revenue, c_acctbal, n_name, \
              c_address, c_phone, c_comment FROM customer, orders, lineitem, nation \
              WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND o_orderdate >= DATE '1993-10-01' \
              AND o_orderdate < DATE '1994-01-01' AND l_returnflag = 'R' AND c_nationkey = n_nationkey \
              GROUP BY c_custkey, c_name, c_acctbal, c_phone, n_name, c_address, c_comment \
              ORDER BY revenue DESC LIMIT 20",
    },
    Query {
        name: "tpch_q13",
        tables: &["customer", "orders"],
        sql: "SELECT c_count, count(*) AS custdist FROM ( \
              SELECT c_custkey, count(o_orderkey) AS c_count FROM customer LEFT OUTER JOIN orders \
              ON c_custkey = o_custkey AND o_comment NOT LIKE '%special%requests%' GROUP BY c_custkey) AS c_orders \
              GROUP BY c_count ORDER BY custdist DESC, c_count DESC",
    },
    Query {
        name: "tpch_q18",
        tables: &["customer", "orders", "lineitem"],
        sql: "SELECT c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice, sum(l_quantity) AS qty \
              FROM customer, orders, lineitem \
              WHERE o_orderkey IN (SELECT l_orderkey FROM lineitem GROUP BY l_orderkey HAVING sum(l_quantity) > 300) \
              AND c_custkey = o_custkey AND o_orderkey = l_orderkey \
              GROUP BY c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice \
              ORDER BY o_totalprice DESC, o_orderdate LIMIT 100",
    },
    Query {
        name: "distinct_per_group",
        tables: &["ev"],
        sql: "SELECT user_id, count(*) AS plays, sum(ms) AS ms, count(DISTINCT track_id) AS tracks \
              FROM ev GROUP BY user_id ORDER BY tracks DESC, user_id LIMIT 10",
    },
    Query {
        name: "window_28d",
        tables: &["daily"],
        sql: "SELECT count(*) AS n, sum(week) AS total, max(week) AS top FROM ( \
              SELECT user_id, day, sum(plays) OVER (PARTITION BY user_id ORDER BY day \
              ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS week FROM daily) AS w",
    },
    Query {
        name: "large_join",
        tables: &["ev", "tracks"],
        sql: "SELECT t.genre, count(*) AS plays, sum(e.ms) AS ms FROM ev e JOIN tracks t \
              ON e.track_id = t.track_id GROUP BY t.genre ORDER BY t.genre",
    },
];

/// Where the data and the project live, and how to reach the tools.
struct Bench {
    weir: PathBuf,
    duckdb: PathBuf,
    data: PathBuf,
    project: PathBuf,
}

#[derive(Serialize)]
struct QueryFigures {
    query: &'static str,
    weir_sql_ms: f64,
    duckdb_ms: f64,
    /// weir sql / DuckDB (goal ≤ 1.3).
    ratio: f64,
    weir_run_ms: Option<f64>,
    /// weir run / weir sql (goal ≤ 1.1).
    run_ratio: Option<f64>,
}

/// The venv holding the suite's tools, created and filled when missing.
fn tools(venv: &Path) -> Result<(PathBuf, PathBuf)> {
    let (duckdb, tpchgen) = (venv.join("bin/duckdb"), venv.join("bin/tpchgen-cli"));
    if !duckdb.is_file() || !tpchgen.is_file() {
        eprintln!("installing duckdb-cli and tpchgen-cli into {}", venv.display());
        run_ok(Command::new("python3").arg("-m").arg("venv").arg(venv))?;
        run_ok(Command::new(venv.join("bin/pip")).args(["install", "-q", "duckdb-cli", "tpchgen-cli"]))?;
    }
    Ok((duckdb, tpchgen))
}

fn run_ok(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Best wall time of `rounds` runs of `make()`, in ms.
fn best_of(rounds: usize, mut make: impl FnMut() -> Command, before: &mut dyn FnMut() -> Result<()>) -> Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..rounds.max(1) {
        before()?;
        let mut cmd = make();
        let t = Instant::now();
        run_ok(cmd.stdout(Stdio::null()))?;
        best = best.min(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(best)
}

impl Bench {
    /// Generates the data once: TPC-H, the events, the tracks and 28 days of
    /// daily plays (deterministic: DuckDB's `hash` of a row number).
    fn generate(&self, tpchgen: &Path) -> Result<()> {
        let tpch = self.data.join("tpch");
        if !tpch.join("partsupp.parquet").is_file() {
            eprintln!("generating TPC-H scale factor 1 in {}", tpch.display());
            std::fs::create_dir_all(&tpch)?;
            run_ok(
                Command::new(tpchgen)
                    .args(["parquet", "-s", "1", "--output-dir"])
                    .arg(&tpch),
            )?;
        }
        let d = self.data.display();
        let mut sql = String::new();
        if !self.data.join("ev/ev.parquet").is_file() {
            std::fs::create_dir_all(self.data.join("ev"))?;
            let _ = write!(
                sql,
                "COPY (SELECT (i % 100000)::BIGINT AS user_id, 'track-' || (hash(i) % 200000)::VARCHAR AS track_id, \
                 (hash(i * 7) % 300000)::BIGINT AS ms FROM range(10000000) t(i)) TO '{d}/ev/ev.parquet' (FORMAT parquet);"
            );
        }
        if !self.data.join("tracks/tracks.parquet").is_file() {
            std::fs::create_dir_all(self.data.join("tracks"))?;
            let _ = write!(
                sql,
                "COPY (SELECT 'track-' || i::VARCHAR AS track_id, 'genre-' || (hash(i) % 40)::VARCHAR AS genre \
                 FROM range(200000) t(i)) TO '{d}/tracks/tracks.parquet' (FORMAT parquet);"
            );
        }
        for day in 1..=28 {
            let file = self.data.join(format!("daily/2026-01-{day:02}.parquet"));
            if !file.is_file() {
                std::fs::create_dir_all(self.data.join("daily"))?;
                let _ = write!(
                    sql,
                    "COPY (SELECT DATE '2026-01-{day:02}' AS day, (i % 100000)::BIGINT AS user_id, \
                     (hash(i + {day} * 1000003) % 50)::BIGINT AS plays FROM range(100000) t(i)) TO '{}' (FORMAT parquet);",
                    file.display()
                );
            }
        }
        if !sql.is_empty() {
            eprintln!("generating events, tracks and daily plays in {}", self.data.display());
            run_ok(Command::new(&self.duckdb).arg("-c").arg(sql))?;
        }
        Ok(())
    }

    /// The project: the data ingested as datasets, and one SQL job per query.
    fn project(&self) -> Result<()> {
        let d = self.data.display();
        let mut toml = String::from("[project]\nname = \"bench-sql\"\nstart = \"2026-01-01\"\n");
        for t in TPCH {
            let _ = writeln!(
                toml,
                "[datasets.{t}]\npartition = \"none\"\ningest = {{ path = \"{d}/tpch/{t}.parquet\", format = \"parquet\" }}"
            );
        }
        for t in ["ev", "tracks"] {
            let _ = writeln!(
                toml,
                "[datasets.{t}]\npartition = \"none\"\ningest = {{ path = \"{d}/{t}/{t}.parquet\", format = \"parquet\" }}"
            );
        }
        let _ = writeln!(
            toml,
            "[datasets.daily]\npartition = \"day\"\nend = \"2026-01-29\"\ningest = {{ path = \"{d}/daily/{{date}}.parquet\", format = \"parquet\" }}"
        );
        for q in QUERIES {
            let windowed = q.tables.contains(&"daily");
            let inputs: Vec<String> = q
                .tables
                .iter()
                .map(|t| {
                    if windowed {
                        format!("{t} = {{ dataset = \"{t}\", window = \"28d\" }}")
                    } else {
                        format!("{t} = \"{t}\"")
                    }
                })
                .collect();
            // The windowed job is the one day whose 28-day window is the data.
            let partition = if windowed {
                "partition = \"day\"\nstart = \"2026-01-28\"\nend = \"2026-01-29\""
            } else {
                "partition = \"none\""
            };
            let _ = writeln!(
                toml,
                "[datasets.job_{}]\n{partition}\ninputs = {{ {} }}\nsql = \"\"\"\n{}\n\"\"\"",
                q.name,
                inputs.join(", "),
                q.sql
            );
        }
        std::fs::create_dir_all(&self.project)?;
        std::fs::write(self.project.join("weir.toml"), toml)?;
        Ok(())
    }

    fn weir(&self) -> Command {
        let mut c = Command::new(&self.weir);
        c.arg("--project").arg(&self.project);
        c
    }

    /// The DuckDB side: a view per table over the same files, then the query.
    fn duckdb(&self, q: &Query) -> Command {
        let d = self.data.display();
        let mut script = String::new();
        for t in q.tables {
            let file = match *t {
                "ev" | "tracks" => format!("{d}/{t}/{t}.parquet"),
                "daily" => format!("{d}/daily/*.parquet"),
                _ => format!("{d}/tpch/{t}.parquet"),
            };
            let _ = write!(script, "CREATE VIEW {t} AS SELECT * FROM read_parquet('{file}');");
        }
        script.push_str(q.sql);
        let mut c = Command::new(&self.duckdb);
        c.arg("-c").arg(script);
        c
    }
}

/// Runs the suite: `only` names queries to run (default: all).
pub fn sql(data: Option<PathBuf>, rounds: usize, only: &[String], jobs: bool, p: Printer) -> Result<()> {
    let cache = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(".cache");
    let venv = std::env::var_os("WEIR_BENCH_VENV").map_or_else(|| cache.join("weir-bench-venv"), PathBuf::from);
    let (duckdb, tpchgen) = tools(&venv)?;
    let data = data.unwrap_or_else(|| cache.join("weir-bench-sql"));
    std::fs::create_dir_all(&data)?;
    let data = data.canonicalize()?;
    let bench = Bench {
        weir: std::env::current_exe().context("cannot find the weir binary")?,
        duckdb,
        project: data.join("project"),
        data,
    };
    bench.generate(&tpchgen)?;
    bench.project()?;
    let unknown: Vec<&String> = only.iter().filter(|o| !QUERIES.iter().any(|q| q.name == *o)).collect();
    if !unknown.is_empty() {
        let names: Vec<&str> = QUERIES.iter().map(|q| q.name).collect();
        bail!("unknown queries {unknown:?}; the suite has {}", names.join(", "));
    }
    // Served by `prod`, as a user's `weir sql` reads it.
    eprintln!("deploying prod and ingesting the data (once)");
    run_ok(bench.weir().args(["deploy", "--env", "prod"]))?;
    run_ok(
        bench
            .weir()
            .args(["run", "--env", "prod"])
            .args(TPCH)
            .args(["ev", "tracks"]),
    )?;
    run_ok(bench.weir().args([
        "run",
        "--env",
        "prod",
        "daily",
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-28",
    ]))?;
    let mut figures = Vec::new();
    for q in QUERIES
        .iter()
        .filter(|q| only.is_empty() || only.iter().any(|o| o == q.name))
    {
        eprintln!("{}", q.name);
        // The same text `weir sql` reads from the served tables.
        let weir_sql = best_of(
            rounds,
            || {
                let mut c = bench.weir();
                c.args(["sql", "--env", "prod", q.sql]);
                c
            },
            &mut || Ok(()),
        )?;
        let duck = best_of(rounds, || bench.duckdb(q), &mut || Ok(()))?;
        let job = format!("job_{}", q.name);
        // The windowed job builds its last day; the others are snapshots.
        let range: &[&str] = if q.tables.contains(&"daily") {
            &["--from", "2026-01-28", "--to", "2026-01-28"]
        } else {
            &[]
        };
        let weir_run = if jobs {
            // Built once untimed, so every timed round starts by invalidating it.
            run_ok(bench.weir().args(["run", "--env", "prod", &job]).args(range))?;
            Some(best_of(
                rounds,
                || {
                    let mut c = bench.weir();
                    c.args(["run", "--env", "prod", &job]).args(range);
                    c
                },
                &mut || run_ok(bench.weir().args(["invalidate", "--env", "prod", &job]).args(range)),
            )?)
        } else {
            None
        };
        figures.push(QueryFigures {
            query: q.name,
            weir_sql_ms: weir_sql,
            duckdb_ms: duck,
            ratio: weir_sql / duck,
            weir_run_ms: weir_run,
            run_ratio: weir_run.map(|r| r / weir_sql),
        });
    }
    p.data(&figures, || {
        let mut rows = vec![
            ["query", "weir sql", "DuckDB", "ratio", "weir run", "run / sql"]
                .map(String::from)
                .to_vec(),
        ];
        for f in &figures {
            rows.push(vec![
                f.query.to_string(),
                format!("{:.0} ms", f.weir_sql_ms),
                format!("{:.0} ms", f.duckdb_ms),
                format!("{:.2}", f.ratio),
                f.weir_run_ms.map_or("-".into(), |r| format!("{r:.0} ms")),
                f.run_ratio.map_or("-".into(), |r| format!("{r:.2}")),
            ]);
        }
        format!(
            "best of {rounds} whole-process wall times per query (data in {})\n{}",
            bench.data.display(),
            table(&rows)
        )
    });
    Ok(())
}
