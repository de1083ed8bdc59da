//! Two `weir serve` processes on one PostgreSQL catalog: they share the
//! work, build nothing twice, and one leads (SLA checks and alerts); when the
//! leader is killed, the other finishes everything and takes the lead
//! within a lease.

use crate::postgres::{PgDb, example_on_env_catalog, on_pg};
use crate::serve::Served;
use crate::support::*;
use serde_json::Value;
use std::path::Path;

fn get(url: &str) -> Value {
    reqwest::blocking::Client::new()
        .get(url)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .and_then(|r| r.json())
        .unwrap_or(Value::Null)
}

fn leads(s: &Served) -> bool {
    get(&format!("{}/healthz", s.url))["leader"] == true
}

/// Runs this server finished, all environments.
fn succeeded(s: &Served) -> u64 {
    get(&format!("{}/api/v1/project", s.url))["envs"]
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["scheduler"]["succeeded"].as_u64()).sum())
        .unwrap_or(0)
}

fn all_built(dir: &Path, db: &PgDb, now: &str, days: u64) -> bool {
    let (code, out, _) = on_pg(dir, db, now, &["status", "--json"]);
    let rows: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    code == 0
        && rows.as_array().is_some_and(|r| {
            r.iter().all(|r| {
                let want = if r["dataset"] == "raw_plays" { days * 24 } else { days };
                r["complete"] == want
            })
        })
}

/// Instances with more than one successful run (there must be none).
fn built_twice(db: &PgDb) -> String {
    db.query(
        "SELECT string_agg(dataset || '/' || version || '/' || partition, ', ') FROM
           (SELECT dataset, version, partition FROM runs WHERE state = 'succeeded'
            GROUP BY dataset, version, partition HAVING count(*) > 1) t",
    )
}

#[test]
fn two_servers_share_the_example_and_build_nothing_twice() {
    let db = PgDb::new("ha");
    let tmp = example_on_env_catalog();
    let dir = tmp.path();
    let now = "2026-01-05T00:30:00Z";
    let (code, _, err) = on_pg(dir, &db, now, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    // Paused until both servers are up, so neither has it all to itself.
    let (code, _, err) = on_pg(dir, &db, now, &["pause", "--env", "prod"]);
    assert_eq!(code, 0, "{err}");
    let env = [("WEIR_CATALOG", db.url.as_str())];
    let args = ["--parallel", "1", "--public-read"];
    let a = Served::start_with(dir, now, &args, &env, "a.log");
    let b = Served::start_with(dir, now, &args, &env, "b.log");
    let (code, _, err) = on_pg(dir, &db, now, &["resume", "--env", "prod"]);
    assert_eq!(code, 0, "{err}");
    poll(120, "the example built by the two", || {
        all_built(dir, &db, now, 2).then_some(())
    });
    assert_eq!(built_twice(&db), "", "no instance has two successful runs");
    assert_eq!(
        db.query("SELECT count(*) FROM runs WHERE state <> 'succeeded'"),
        "0",
        "no run was wasted on an instance the other built (a refused commit is a failed run)"
    );
    let (sa, sb) = (succeeded(&a), succeeded(&b));
    assert!(sa > 0 && sb > 0, "both servers did work: {sa} and {sb}");
    let leaders = poll(30, "one leader", || {
        let n = [leads(&a), leads(&b)].iter().filter(|l| **l).count();
        (n == 1).then_some(n)
    });
    assert_eq!(leaders, 1);
    assert_eq!(
        db.query("SELECT count(*) FROM claims"),
        "0",
        "no claim outlives the work"
    );
}

const CHAIN: &str = r#"
[project]
name = "k"
start = "2026-01-04"
[catalog]
url = "env:WEIR_CATALOG"
[datasets.h]
partition = "hour"
command = ["sh", "-c", "sleep 0.05; echo x > \"$WEIR_OUTPUT/x\""]
[datasets.d]
partition = "day"
inputs = ["h"]
command = ["sh", "-c", "echo y > \"$WEIR_OUTPUT/y\""]
"#;

/// `kill -9` of the leader mid-run, trial after trial: the survivor finishes
/// everything, takes the lead within about one lease, `weir doctor` is
/// clean, and no instance has two successful runs.
#[test]
fn killing_the_leader_mid_run_loses_nothing_and_the_other_takes_the_lead() {
    let trials: usize = std::env::var("WEIR_HA_TRIALS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(20);
    let now = "2026-01-05T00:30:00Z";
    for trial in 0..trials {
        let db = PgDb::new("kill");
        let tmp = project(CHAIN, &[]);
        let dir = tmp.path();
        let (code, _, err) = on_pg(dir, &db, now, &["deploy"]);
        assert_eq!(code, 0, "{err}");
        let env = [("WEIR_CATALOG", db.url.as_str())];
        let args = ["--parallel", "1", "--public-read"];
        let a = Served::start_with(dir, now, &args, &env, "a.log");
        let b = Served::start_with(dir, now, &args, &env, "b.log");
        // Mid-run: a leader, and some of the 24 hours built (a different
        // number each trial).
        let built = 2 + trial % 10;
        poll(60, "a leader, mid-run", || {
            let n: usize = db.query("SELECT count(*) FROM instances").parse().ok()?;
            (n >= built && (leads(&a) || leads(&b))).then_some(())
        });
        let (mut leader, survivor) = if leads(&a) { (a, b) } else { (b, a) };
        leader.child.kill().expect("kill -9 the leader");
        let _ = leader.child.wait();
        let killed = std::time::Instant::now();
        poll(30, "the survivor to take the lead", || leads(&survivor).then_some(()));
        let took = killed.elapsed();
        assert!(
            took < std::time::Duration::from_secs(6),
            "trial {trial}: the lead moved in {took:?}; the lease is 2 s"
        );
        poll(60, "the survivor to finish everything", || {
            let (code, out, _) = on_pg(dir, &db, now, &["status", "--json"]);
            let rows: Value = serde_json::from_str(&out).ok()?;
            (code == 0
                && rows.as_array()?.iter().all(|r| {
                    let want = if r["dataset"] == "h" { 24 } else { 1 };
                    r["complete"] == want
                }))
            .then_some(())
        });
        assert_eq!(built_twice(&db), "", "trial {trial}: an instance built twice");
        drop(survivor);
        let (code, out, err) = on_pg(dir, &db, now, &["doctor"]);
        assert_eq!(code, 0, "trial {trial}: doctor:\n{out}{err}");
    }
}

/// A PostgreSQL cluster of the test's own, to stop and start.
struct Cluster {
    dir: String,
    url: String,
}

fn scripts() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts")
}

fn pg_bin() -> std::path::PathBuf {
    let mut versions: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (the CI installs it)")
        .filter_map(|e| {
            let e = e.ok()?;
            Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin")))
        })
        .collect();
    versions.sort();
    versions.pop().expect("a PostgreSQL version").1
}

impl Cluster {
    fn start() -> Cluster {
        let out = std::process::Command::new(scripts().join("pg-start"))
            .output()
            .expect("scripts/pg-start");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let (dir, url) = text.split_once(' ').expect("DIR URL");
        Cluster {
            dir: dir.to_string(),
            url: url.to_string(),
        }
    }

    fn pg_ctl(&self, args: &[&str]) {
        let out = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(pg_bin().join("pg_ctl"))
            .args(["-D", &format!("{}/data", self.dir), "-w"])
            .args(args)
            .output()
            .expect("pg_ctl");
        assert!(
            out.status.success(),
            "pg_ctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn stop(&self) {
        self.pg_ctl(&["-m", "fast", "stop"]);
    }

    fn start_again(&self) {
        let port = self
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.split('/').next())
            .expect("port");
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off",
            self.dir
        );
        self.pg_ctl(&["-l", &format!("{}/server.log", self.dir), "-o", &opts, "start"]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::process::Command::new(scripts().join("pg-stop"))
            .arg(&self.dir)
            .output();
    }
}

/// PostgreSQL stops for 10 s mid-run and starts again: both servers go on by
/// themselves, finish everything, and nothing committed before is lost.
#[test]
fn both_servers_recover_from_a_database_outage() {
    let cluster = Cluster::start();
    let db = PgDb::existing(&cluster.url);
    let now = "2026-01-05T00:30:00Z";
    let tmp = project(
        &CHAIN
            .replace("start = \"2026-01-04\"", "start = \"2026-01-03\"")
            .replace("sleep 0.05", "sleep 0.2"),
        &[],
    );
    let dir = tmp.path();
    let (code, _, err) = on_pg(dir, &db, now, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    let env = [("WEIR_CATALOG", db.url.as_str())];
    // A slow safety net, so only the recovery itself can bring them back.
    let args = ["--parallel", "1", "--public-read", "--rescan", "600s"];
    let mut a = Served::start_with(dir, now, &args, &env, "a.log");
    let mut b = Served::start_with(dir, now, &args, &env, "b.log");
    poll(60, "a few hours built", || {
        let n: usize = db.query("SELECT count(*) FROM instances").parse().ok()?;
        (n >= 5).then_some(())
    });
    let before =
        db.query("SELECT string_agg(dataset || '/' || partition, ',' ORDER BY dataset, partition) FROM instances");
    cluster.stop();
    // The outage itself is what is under test.
    std::thread::sleep(std::time::Duration::from_secs(10));
    cluster.start_again();
    poll(60, "everything built after the outage", || {
        let (code, out, _) = on_pg(dir, &db, now, &["status", "--json"]);
        let rows: Value = serde_json::from_str(&out).ok()?;
        (code == 0
            && rows.as_array()?.iter().all(|r| {
                let want = if r["dataset"] == "h" { 48 } else { 2 };
                r["complete"] == want
            }))
        .then_some(())
    });
    for s in [&mut a, &mut b] {
        assert!(s.child.try_wait().expect("wait").is_none(), "a server exited");
    }
    poll(30, "both servers healthy, no error left", || {
        [&a, &b]
            .iter()
            .all(|s| {
                let p = get(&format!("{}/api/v1/project", s.url));
                p["envs"][0]["scheduler"]["error"].is_null() && p["envs"][0]["served"] == true
            })
            .then_some(())
    });
    let after =
        db.query("SELECT string_agg(dataset || '/' || partition, ',' ORDER BY dataset, partition) FROM instances");
    for inst in before.split(',') {
        assert!(
            after.split(',').any(|x| x == inst),
            "{inst} was committed before the outage and is gone"
        );
    }
    assert_eq!(built_twice(&db), "", "nothing built twice");
    drop((a, b));
    let (code, out, err) = on_pg(dir, &db, now, &["doctor"]);
    assert_eq!(code, 0, "doctor:\n{out}{err}");
}

/// A running run's log, asked of the server that does not run it: forwarded
/// to the one that does (its address is in the claim), streamed to the end,
/// over HTTPS with a private CA.
#[test]
fn any_server_streams_the_log_of_a_run_another_server_runs() {
    const GATED: &str = r#"
[project]
name = "g"
start = "2026-01-01"
[catalog]
url = "env:WEIR_CATALOG"
[datasets.a]
partition = "day"
command = ["sh", "-c", "echo first; while [ ! -f release ]; do sleep 0.05; done; echo second >&2; echo x > \"$WEIR_OUTPUT/x\""]
"#;
    let db = PgDb::new("logs");
    let tmp = project(GATED, &[]);
    let dir = tmp.path();
    let (code, _, err) = on_pg(dir, &db, NOW, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    // Over HTTPS with a private CA: the servers trust it through the
    // standard SSL_CERT_FILE, as any client of theirs would.
    let (cert, key) = crate::serve_tls::make_certificate(dir);
    let ca = dir.join("ca.pem");
    let env = [
        ("WEIR_CATALOG", db.url.as_str()),
        ("SSL_CERT_FILE", ca.to_str().expect("utf8")),
    ];
    let tls = [cert.to_str().expect("utf8"), key.to_str().expect("utf8")];
    let args = [
        "--parallel",
        "1",
        "--public-read",
        "--tls-cert",
        tls[0],
        "--tls-key",
        tls[1],
    ];
    let a = Served::start_with(dir, NOW, &args, &env, "a.log");
    let b = Served::start_with(dir, NOW, &args, &env, "b.log");
    assert!(b.url.starts_with("https://"), "{}", b.url);
    let pem = std::fs::read(&ca).expect("the CA");
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("client");
    let (run_id, owner) = poll(60, "a run on server a", || {
        let page: serde_json::Value = client
            .get(format!("{}/api/v1/runs?state=running", b.url))
            .send()
            .ok()?
            .json()
            .ok()?;
        page["running"].as_array()?.iter().find_map(|c| {
            let owner = c["owner"].as_str()?;
            owner
                .ends_with(&format!("@{}", a.url))
                .then(|| (c["run_id"].as_str().map(str::to_string), owner.to_string()))
        })
    });
    let run_id = run_id.expect("a run id");
    assert!(owner.contains('@'), "the claim names its server: {owner}");
    let mut stream = client
        .get(format!("{}/api/v1/runs/{run_id}/log?follow=true", b.url))
        .send()
        .expect("follow through the other server");
    assert_eq!(stream.status().as_u16(), 200);
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("first") {
        use std::io::Read;
        let n = stream.read(&mut buf).expect("read");
        assert!(n > 0, "the stream ended early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    std::fs::write(dir.join("release"), "").expect("release the jobs");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stream, &mut rest).expect("to the end");
    assert_eq!(format!("{}{rest}", String::from_utf8_lossy(&seen)), "first\nsecond\n");
}

/// The leader is killed while it delivers an SLA alert: the next leader
/// finds the alert still owed and sends it (at least once; the id lets a
/// receiver drop a copy).
#[test]
fn an_alert_the_dead_leader_was_sending_is_sent_by_the_next() {
    let late = crate::serve::LATE.replace("[alerts]", "[catalog]\nurl = \"env:WEIR_CATALOG\"\n[alerts]");
    let db = PgDb::new("alert");
    let tmp = project_with(&late, &landed("2026-01-05", 0..10));
    let dir = tmp.path();
    let t0 = "2026-01-05T11:40:00Z";
    let (code, _, err) = on_pg(dir, &db, "2026-01-05T10:20:00Z", &["deploy"]);
    assert_eq!(code, 0, "{err}");
    let (hook, bodies, seen) = crate::quality::receiver_whose(crate::quality::First::Hangs);
    let env = [("WEIR_CATALOG", db.url.as_str()), ("TEST_WEBHOOK", hook.as_str())];
    let mut a = Served::start_with(dir, t0, &["--public-read"], &env, "a.log");
    poll(60, "the leader to be delivering the miss", || {
        (*seen.lock().expect("lock") >= 1).then_some(())
    });
    assert_eq!(
        db.query("SELECT count(*) FROM sla_misses WHERE alerted_ms IS NULL"),
        "1",
        "owed, not yet sent"
    );
    let b = Served::start_with(dir, t0, &["--public-read"], &env, "b.log");
    a.child.kill().expect("kill -9 the leader");
    let _ = a.child.wait();
    poll(60, "the next leader to send the owed alert", || {
        bodies
            .lock()
            .expect("lock")
            .iter()
            .any(|body| {
                serde_json::from_str::<Value>(body)
                    .is_ok_and(|v| v["id"] == "sla-missed:prod/raw/v1/hour=2026-01-05T10")
            })
            .then_some(())
    });
    assert!(leads(&b));
    poll(30, "the alert recorded as sent", || {
        (db.query("SELECT count(*) FROM sla_misses WHERE alerted_ms IS NULL") == "0").then_some(())
    });
}

/// A server is killed while it delivers a run's failure alert: the alert
/// stays owed in the catalog, and the leader sends it in its place.
#[test]
fn a_run_alert_a_dead_server_owed_is_sent_by_the_leader() {
    const FAILING: &str = r#"
[project]
name = "f"
start = "2026-01-03"
[catalog]
url = "env:WEIR_CATALOG"
[alerts]
webhook = "env:TEST_WEBHOOK"
[datasets.f]
partition = "day"
command = ["sh", "-c", "echo broken >&2; exit 3"]
"#;
    let db = PgDb::new("owed");
    let tmp = project(FAILING, &[]);
    let dir = tmp.path();
    let (code, _, err) = on_pg(dir, &db, NOW, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    let (hook, bodies, seen) = crate::quality::receiver_whose(crate::quality::First::Hangs);
    let env = [
        ("WEIR_CATALOG", db.url.as_str()),
        ("TEST_WEBHOOK", hook.as_str()),
        ("WEIR_ALERT_GRACE_SECS", "1"),
    ];
    let args = ["--public-read", "--parallel", "1", "--rescan", "2s"];
    let mut a = Served::start_with(dir, NOW, &args, &env, "a.log");
    poll(60, "the server to be delivering a failure alert", || {
        (*seen.lock().expect("lock") >= 1).then_some(())
    });
    let first = db.query("SELECT run_id FROM runs WHERE state = 'failed' ORDER BY ended_at_ms, run_id LIMIT 1");
    assert!(!first.is_empty(), "the failure was committed");
    a.child.kill().expect("kill -9 the server");
    let _ = a.child.wait();
    let owed = db.query(&format!(
        "SELECT count(*) FROM alerts WHERE id = 'failed:{first}' AND sent_ms IS NULL"
    ));
    assert_eq!(owed, "1", "owed, not sent");
    let _b = Served::start_with(dir, NOW, &args, &env, "b.log");
    poll(60, "the leader to send the dead server's alert", || {
        bodies
            .lock()
            .expect("lock")
            .iter()
            .any(|body| serde_json::from_str::<Value>(body).is_ok_and(|v| v["id"] == format!("failed:{first}")))
            .then_some(())
    });
    poll(30, "the alert recorded as sent", || {
        (db.query(&format!(
            "SELECT count(*) FROM alerts WHERE id = 'failed:{first}' AND sent_ms IS NOT NULL"
        )) == "1")
            .then_some(())
    });
}
