//! The kill test: `kill -9` of `weir run` at random moments. After each, the
//! catalog and the lakes agree (`weir doctor` finds no error), and a further
//! `weir run` completes with correct outputs. 30 trials; more with
//! `WEIR_STRESS_TRIALS=N`.

use std::process::Stdio;
use std::time::{Duration, Instant};

const NOW_K: &str = "2026-01-03T00:00:00Z";

const PROJECT: &str = r#"
[project]
name = "k"
start = "2026-01-01"
[datasets.h]
partition = "hour"
command = ["sh", "-c", "echo $WEIR_PARTITION > \"$WEIR_OUTPUT/p.txt\"; echo half > \"$WEIR_OUTPUT/q.txt\""]
[datasets.d]
partition = "day"
inputs = ["h"]
command = ["sh", "-c", "for d in $(echo $WEIR_INPUT_H | tr ':' ' '); do cat \"$d/p.txt\"; done > \"$WEIR_OUTPUT/all.txt\""]
"#;

fn weir_k(dir: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("weir"));
    c.current_dir(dir)
        .env("WEIR_NOW", NOW_K)
        .env("NO_COLOR", "1")
        .env("WEIR_LEASE_SECS", "1");
    c
}

/// A small deterministic generator for kill delays.
fn delays(n: usize) -> Vec<Duration> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Duration::from_millis(20 + x % 600)
        })
        .collect()
}

#[test]
fn kill_9_at_random_moments_never_leaves_a_partial_or_unknown_instance() {
    let trials: usize = std::env::var("WEIR_STRESS_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    kill_trials(
        trials,
        |_| PROJECT.to_string(),
        &[],
        |dir, rel| std::fs::read_to_string(dir.join("lake").join(rel)).expect("d output"),
    );
}

/// The same on a lake on object storage (moto): uploads cut short, a seal's
/// conditional put cut short, and adoption after a crash.
#[test]
fn kill_9_on_an_s3_lake_never_leaves_a_partial_or_unknown_instance() {
    let moto = crate::object_lake::Moto::start("kill");
    let trials: usize = std::env::var("WEIR_STRESS_TRIALS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .map_or(10, |n| n / 3);
    let store = moto.store("kill");
    let env = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("WEIR_S3_ENDPOINT", moto.endpoint.as_str()),
    ];
    kill_trials(
        trials,
        |trial| format!("{PROJECT}[lakes]\ndefault = \"s3://kill/t{trial}\"\n"),
        &env,
        |dir, rel| {
            use object_store::ObjectStoreExt;
            let trial = dir
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("rt");
            let key = object_store::path::Path::from(format!("{trial}/{rel}"));
            let bytes = rt
                .block_on(async { store.get(&key).await?.bytes().await })
                .expect("d output");
            String::from_utf8_lossy(&bytes).into_owned()
        },
    );
}

/// `trials` times: a fresh project (`toml(trial)`, in a directory named
/// `t<trial>`), `weir run` killed at a random moment, then the checks;
/// `read(dir, rel)` reads a sealed file of the lake.
fn kill_trials(
    trials: usize,
    toml: impl Fn(usize) -> String,
    env: &[(&str, &str)],
    read: impl Fn(&std::path::Path, &str) -> String,
) {
    let weir_k = |dir: &std::path::Path| {
        let mut c = weir_k(dir);
        c.envs(env.iter().copied());
        c
    };
    for (trial, delay) in delays(trials).into_iter().enumerate() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = &tmp.path().join(format!("t{trial}"));
        std::fs::create_dir_all(dir).expect("mkdir");
        std::fs::write(dir.join("weir.toml"), toml(trial)).expect("weir.toml");
        let mut child = weir_k(dir)
            .args(["run", "--parallel", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let start = Instant::now();
        while start.elapsed() < delay && child.try_wait().expect("poll").is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        // No invariant is broken, whatever the moment.
        let out = weir_k(dir).args(["doctor", "--json"]).output().expect("doctor");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("doctor json");
        assert_eq!(report["errors"], 0, "trial {trial} (killed after {delay:?}): {report}");
        // A further run completes; then everything agrees and the outputs are right.
        let out = weir_k(dir).args(["run", "--json"]).output().expect("run");
        assert!(
            out.status.success(),
            "trial {trial}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value =
            serde_json::from_slice(&weir_k(dir).args(["doctor", "--json"]).output().expect("doctor").stdout)
                .expect("json");
        let leftovers: Vec<&serde_json::Value> = report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|f| f["kind"] != "dead_staging_area" && f["severity"] != "notice")
            .collect();
        assert!(
            leftovers.is_empty(),
            "trial {trial}: after a full run nothing but sweepable staging remains: {report}"
        );
        let st: std::collections::BTreeMap<String, serde_json::Value> = serde_json::from_slice::<serde_json::Value>(
            &weir_k(dir).args(["status", "--json"]).output().expect("status").stdout,
        )
        .expect("status json")
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| (r["dataset"].as_str().unwrap_or("").to_string(), r.clone()))
        .collect();
        assert_eq!(
            (st["h"]["complete"].as_u64(), st["d"]["complete"].as_u64()),
            (Some(48), Some(2)),
            "trial {trial}"
        );
        for (day, date) in [("2026-01-01", "2026-01-01"), ("2026-01-02", "2026-01-02")] {
            let all = read(dir, &format!("d/v1/date={day}/all.txt"));
            let expect: String = (0..24).map(|h| format!("hour={date}T{h:02}\n")).collect();
            assert_eq!(all, expect, "trial {trial}: d {day} reads exactly its 24 sealed hours");
        }
    }
}
