//! The nearline proof: a load generator posts events with ids and records
//! every id acknowledged with a 200, while the server is killed with
//! SIGKILL at random points (during appends and syncs, seals and commits)
//! and started again, `WEIR_KILL_TRIALS` times (50 by default). In the end
//! every acknowledged id is sealed exactly once, no id twice, no sealed
//! partition was written twice, and `weir doctor` is clean.
//!
//! The server's clock runs 30 times real time and goes on across restarts,
//! so a minute seals every two seconds: kills land in seals and commits as
//! well as in appends. Log segments roll every 16 KiB and are released
//! after a two-minute dedup horizon, so kills land in releases too.

use crate::serve::{Served, token};
use crate::support::*;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RATE: f64 = 30.0;

const PROJECT: &str = r#"
[project]
name = "k"
start = "2026-03-14T00:00:00Z"

[datasets.plays_raw]
partition = "1m"
serve_window = 1
stream = { event_time = "ts", id = "id", lateness = "5s", idle = "5s", dedup = "2m" }
"#;

/// The virtual clock the servers run on, continued across restarts.
struct Virtual {
    t0: DateTime<Utc>,
    real: Instant,
}

impl Virtual {
    fn now(&self) -> DateTime<Utc> {
        let ms = (self.real.elapsed().as_secs_f64() * RATE * 1000.0) as i64;
        self.t0 + chrono::Duration::milliseconds(ms)
    }

    fn text(&self) -> String {
        self.now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }
}

/// A small deterministic-enough generator of kill points (no rand crate).
struct Jitter(u64);

impl Jitter {
    fn next(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + self.0 % (hi - lo)
    }
}

/// Posts a body of events; `None` when the server did not answer.
fn try_post(
    http: &reqwest::blocking::Client,
    url: &str,
    token: &str,
    body: String,
) -> Option<(u16, serde_json::Value)> {
    let r = http
        .post(format!("{url}/ingest/plays_raw"))
        .bearer_auth(token)
        .body(body)
        .send()
        .ok()?;
    let status = r.status().as_u16();
    Some((status, r.json().ok()?))
}

/// The project, deployed, and the virtual clock its servers will run on.
fn deployed(toml: &str) -> (tempfile::TempDir, Arc<Virtual>) {
    let tmp = project(toml, &[]);
    let clock = Arc::new(Virtual {
        t0: "2026-03-14T00:00:30Z".parse().expect("t0"),
        real: Instant::now(),
    });
    let (code, _, err) = exec(tmp.path(), &clock.text(), &["deploy"]);
    assert_eq!(code, 0, "{err}");
    (tmp, clock)
}

fn trials() -> usize {
    std::env::var("WEIR_KILL_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

fn start(dir: &Path, clock: &Virtual, trial: usize) -> Served {
    Served::start_with(
        dir,
        &clock.text(),
        // The NATS proof reads /metrics to see the server consume.
        &["--public-read"],
        &[("WEIR_CLOCK_RATE", "30"), ("WEIR_STREAM_SEGMENT_BYTES", "16384")],
        &format!("serve-{trial}.log"),
    )
}

#[test]
fn acknowledged_events_survive_kill_9_exactly_once() {
    let (tmp, clock) = deployed(PROJECT);
    let dir = tmp.path();
    let producer = token(dir, "ingest", "producer", &["--stream", "plays_raw"]);
    let url = Arc::new(Mutex::new(String::new()));
    let acked = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let posted = Arc::new(Mutex::new(0usize));
    let generators: Vec<_> = (0..3)
        .map(|g| {
            let (url, acked, stop, clock, producer, posted) = (
                url.clone(),
                acked.clone(),
                stop.clone(),
                clock.clone(),
                producer.clone(),
                posted.clone(),
            );
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(20))
                    .build()
                    .expect("client");
                let mut seq = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let target = url.lock().expect("url").clone();
                    if target.is_empty() {
                        std::thread::yield_now();
                        continue;
                    }
                    let ts = clock.text();
                    let ids: Vec<String> = (0..20).map(|i| format!("g{g}-{}", seq + i)).collect();
                    seq += 20;
                    let body = ids
                        .iter()
                        .map(|id| format!(r#"{{"id":"{id}","ts":"{ts}","n":{seq}}}"#))
                        .collect::<Vec<_>>()
                        .join("\n");
                    *posted.lock().expect("posted") += ids.len();
                    // A killed server answers nothing: those ids are not acknowledged.
                    if let Some((200, r)) = try_post(&http, &target, &producer, body) {
                        assert_eq!(r["accepted"], 20, "fresh ids are all accepted: {r}");
                        acked.lock().expect("acked").extend(ids);
                    }
                }
            })
        })
        .collect();

    let mut jitter = Jitter(0x9E37_79B9_7F4A_7C15 ^ clock.real.elapsed().as_nanos() as u64);
    let n = trials();
    for trial in 0..n {
        let mut served = start(dir, &clock, trial);
        *url.lock().expect("url") = served.url.clone();
        // Until it takes events (the killed leader's lease lapses first),
        // then a random while under load.
        let before = acked.lock().expect("acked").len();
        poll(60, "the restarted server to acknowledge events", || {
            (acked.lock().expect("acked").len() > before).then_some(())
        });
        std::thread::sleep(Duration::from_millis(jitter.next(0, 1500)));
        served.child.kill().expect("SIGKILL");
        served.child.wait().expect("reaped");
        url.lock().expect("url").clear();
    }
    stop.store(true, Ordering::SeqCst);
    for g in generators {
        g.join().expect("generator");
    }
    let acked = acked.lock().expect("acked").clone();
    let posted = *posted.lock().expect("posted");
    assert!(
        acked.len() > n * 20,
        "too little acknowledged: {} of {posted}",
        acked.len()
    );

    verify(dir, &clock, &acked, n, &format!("{posted} posted"));
}

/// A last server seals everything that arrived; then every acknowledged id
/// is sealed exactly once, no partition was sealed twice, and doctor is
/// clean.
fn verify(dir: &Path, clock: &Virtual, acked: &BTreeSet<String>, n: usize, what: &str) {
    // A last server seals everything that arrived (newest first; the
    // minutes before come after).
    let served = start(dir, clock, n);
    let sealed_ids = || -> BTreeMap<String, usize> {
        let (code, out, err) = exec(dir, &clock.text(), &["sql", "--csv", "SELECT event_id FROM plays_raw"]);
        assert_eq!(code, 0, "{err}");
        let mut seen = BTreeMap::<String, usize>::new();
        for id in out.lines().skip(1) {
            *seen.entry(id.trim().to_string()).or_default() += 1;
        }
        seen
    };
    let deadline = Instant::now() + Duration::from_secs(180);
    let seen = loop {
        let seen = sealed_ids();
        let missing = acked.iter().filter(|id| !seen.contains_key(id.as_str())).count();
        if missing == 0 || Instant::now() > deadline {
            break seen;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    drop(served);
    let now = clock.text();
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "ids sealed more than once: {twice:?}");
    let lost: Vec<_> = acked.iter().filter(|id| !seen.contains_key(id.as_str())).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged ids lost, e.g. {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
    // No sealed partition was written twice.
    let runs = json(dir, &now, &["runs", "--limit", "100000"]);
    let mut built = BTreeMap::<String, usize>::new();
    for r in runs.as_array().expect("runs") {
        if r["state"] == "succeeded" {
            *built
                .entry(format!("{}/{}", r["key"]["dataset"], r["key"]["partition"]))
                .or_default() += 1;
        }
    }
    assert!(built.values().all(|n| *n == 1), "a partition sealed twice: {built:?}");
    let (code, out, err) = exec(dir, &now, &["doctor"]);
    assert_eq!(code, 0, "doctor is clean:\n{out}{err}");
    eprintln!(
        "{n} kills: {} ids acknowledged ({what}), {} sealed, {} partitions",
        acked.len(),
        seen.len(),
        built.len()
    );
}

/// A `nats-server -js` on a free loopback port, killed when dropped.
struct Nats {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nats_server() -> Nats {
    let dir = tempfile::tempdir().expect("tmp");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let child = std::process::Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nats-server (apt-get install nats-server; .ci/run installs it)");
    poll(10, "nats-server to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
    });
    Nats { child, port, _dir: dir }
}

/// Events the stream took, from the server's `/metrics` (0 before any).
fn taken(url: &str) -> u64 {
    let Ok(text) = reqwest::blocking::get(format!("{url}/metrics")).and_then(|r| r.text()) else {
        return 0;
    };
    text.lines()
        .filter(|l| l.starts_with("weir_stream_events_total{stream=\"plays_raw\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// The same proof with NATS JetStream as the source: a publisher (whose
/// every message the broker acknowledged) runs throughout, weir is killed
/// and restarted; no message is lost or sealed twice.
#[test]
fn nats_messages_survive_kill_9_exactly_once() {
    let nats = nats_server();
    // The broker redelivers what was not acknowledged after 10 s (5 virtual
    // minutes): the dedup horizon must cover that.
    let toml = PROJECT
        .replace(
            "stream = { event_time",
            &format!(
                "stream = {{ source = \"nats://127.0.0.1:{}\", subject = \"plays\", event_time",
                nats.port
            ),
        )
        .replace("dedup = \"2m\"", "dedup = \"30m\"");
    let (tmp, clock) = deployed(&toml);
    let dir = tmp.path();
    let acked = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = {
        let (acked, stop, clock) = (acked.clone(), stop.clone(), clock.clone());
        let url = format!("nats://127.0.0.1:{}", nats.port);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let client = async_nats::connect(url.as_str()).await.expect("connect");
                let js = async_nats::jetstream::new(client);
                js.get_or_create_stream(async_nats::jetstream::stream::Config {
                    name: "plays".into(),
                    subjects: vec!["plays".into()],
                    storage: async_nats::jetstream::stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .expect("stream");
                let mut seq = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let ts = clock.text();
                    let mut pending = Vec::new();
                    for _ in 0..20 {
                        let id = format!("m{seq}");
                        seq += 1;
                        let body = format!(r#"{{"id":"{id}","ts":"{ts}"}}"#);
                        let ack = js.publish("plays", body.into()).await.expect("publish");
                        pending.push((id, ack));
                    }
                    for (id, ack) in pending {
                        if ack.await.is_ok() {
                            acked.lock().expect("acked").insert(id);
                        }
                    }
                    // A steady producer (a pace, not a wait for anything).
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            });
        })
    };
    poll(30, "the publisher to publish", || {
        assert!(!publisher.is_finished(), "the publisher stopped");
        (!acked.lock().expect("acked").is_empty()).then_some(())
    });
    let mut jitter = Jitter(0xD1B5_4A32_D192_ED03 ^ clock.real.elapsed().as_nanos() as u64);
    let n = trials();
    for trial in 0..n {
        let mut served = start(dir, &clock, trial);
        let deadline = Instant::now() + Duration::from_secs(60);
        while taken(&served.url) == 0 {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(dir.join(format!("serve-{trial}.log"))).unwrap_or_default();
                panic!("trial {trial}: the restarted server never consumed:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(jitter.next(0, 1500)));
        served.child.kill().expect("SIGKILL");
        served.child.wait().expect("reaped");
    }
    stop.store(true, Ordering::SeqCst);
    publisher.join().expect("publisher");
    let acked = acked.lock().expect("acked").clone();
    assert!(acked.len() > n * 20, "too little published: {}", acked.len());
    verify(dir, &clock, &acked, n, "by NATS JetStream");
}
