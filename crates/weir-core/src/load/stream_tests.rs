//! Loading `stream = { … }`: defaults, located mistakes, versions.

use super::load_project;
use crate::diag::Diagnostic;

fn files(_: &str) -> Result<String, String> {
    Err("no such file".into())
}

fn errors(text: &str) -> Vec<Diagnostic> {
    match load_project(text, &files) {
        Ok(_) => panic!("expected errors"),
        Err(d) => d.0,
    }
}

const STREAMS: &str = r#"[project]
name = "n"
start = "2026-01-01"

[datasets.plays_raw]
partition = "15m"
stream = { source = "http", format = "jsonl", event_time = "ts", id = "event_id", lateness = "2m", max_body = "1MiB" }

[datasets.clicks_raw]
partition = "5m"
stream = { source = "nats://127.0.0.1:4222", subject = "clicks" }

[datasets.plays_daily]
partition = "day"
inputs = ["plays_raw"]
sql = "SELECT * FROM plays_raw"
"#;

#[test]
fn streams_load_with_their_defaults() {
    use crate::model::{Job, StreamSource};
    let p = load_project(STREAMS, &files).expect("loads");
    let Job::Stream(s) = &p.datasets["plays_raw"].job else {
        panic!("a stream")
    };
    assert_eq!(s.source, StreamSource::Http);
    assert_eq!(
        (s.event_time.as_deref(), s.id.as_deref()),
        (Some("ts"), Some("event_id"))
    );
    assert_eq!(s.lateness.to_string(), "2m");
    assert_eq!(s.max_body, 1 << 20);
    let Job::Stream(c) = &p.datasets["clicks_raw"].job else {
        panic!("a stream")
    };
    assert_eq!(
        c.source,
        StreamSource::Nats {
            url: "nats://127.0.0.1:4222".into(),
            subject: "clicks".into()
        }
    );
    assert_eq!(
        (
            c.lateness.to_string(),
            c.dedup.to_string(),
            c.idle.to_string(),
            c.max_future.to_string()
        ),
        ("5m".into(), "1h".into(), "1m".into(), "5m".into()),
        "the defaults"
    );
    assert_eq!(c.max_body, 8 << 20);
    assert_eq!(p.datasets["plays_daily"].inputs[0].dataset, "plays_raw");
}

#[test]
fn a_streams_mistakes_are_located_with_what_to_do() {
    let bad = |stream: &str, partition: &str| {
        let text = format!(
            "[project]\nname = \"n\"\nstart = \"2026-01-01\"\n[datasets.s]\npartition = \"{partition}\"\nstream = {stream}\n"
        );
        let e = errors(&text);
        assert!(e.iter().all(|d| d.line == 6), "{e:?}");
        e.iter()
            .map(|d| format!("{} | {}", d.message, d.hint.clone().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let m = bad("{ source = \"kafka://x\" }", "hour");
    assert!(
        m.contains("unknown stream source `kafka://x`") && m.contains("nats://HOST:PORT"),
        "{m}"
    );
    let m = bad("{ source = \"nats://x:4222\" }", "hour");
    assert!(m.contains("a NATS stream needs a `subject`"), "{m}");
    let m = bad("{ subject = \"plays\" }", "hour");
    assert!(m.contains("an http stream has no `subject`"), "{m}");
    let m = bad("{ source = \"http\" }", "month");
    assert!(
        m.contains("a stream is partitioned by minutes, hour or day, not `month`"),
        "{m}"
    );
    let m = bad("{ format = \"csv\" }", "hour");
    assert!(m.contains("a stream's format is jsonl, not `csv`"), "{m}");
    let m = bad("{ max_body = \"huge\" }", "hour");
    assert!(m.contains("max_body `huge` is not a size") && m.contains("8MiB"), "{m}");
    let m = bad("{ lateness = \"soon\" }", "hour");
    assert!(m.contains("lateness"), "{m}");
    let m = bad("{ watermark = \"5m\" }", "hour");
    assert!(m.contains("unknown key `watermark`"), "{m}");
}

#[test]
fn a_stream_takes_no_inputs_and_changes_version_with_what_it_seals() {
    let text = STREAMS.replace(
        "stream = { source = \"nats://127.0.0.1:4222\", subject = \"clicks\" }",
        "inputs = [\"plays_raw\"]\nstream = { source = \"nats://127.0.0.1:4222\", subject = \"clicks\" }",
    );
    let e = errors(&text);
    assert!(
        e.iter()
            .any(|d| d.message.contains("stream `clicks_raw` cannot have inputs")),
        "{e:?}"
    );
    let fp =
        |text: &str| crate::fingerprint::fingerprints(&load_project(text, &files).expect("loads"))["plays_raw"].clone();
    let base = fp(STREAMS);
    assert_eq!(
        fp(&STREAMS.replace("max_body = \"1MiB\"", "max_body = \"2MiB\"")),
        base,
        "not what is sealed"
    );
    assert_ne!(
        fp(&STREAMS.replace("lateness = \"2m\"", "lateness = \"3m\"")),
        base,
        "where late events go"
    );
    assert_ne!(
        fp(&STREAMS.replace("id = \"event_id\"", "id = \"uuid\"")),
        base,
        "which copies are dropped"
    );
}

#[test]
fn each_stream_gets_a_quarantine_dataset_beside_it() {
    use crate::model::Job;
    let p = load_project(STREAMS, &files).expect("loads");
    let q = &p.datasets["plays_raw__quarantine"];
    let Job::Stream(s) = &q.job else { panic!("a stream") };
    assert_eq!(s.quarantine_of.as_deref(), Some("plays_raw"));
    assert_eq!(q.granularity, p.datasets["plays_raw"].granularity);
    assert!(q.checks.is_empty());
    assert!(p.fed_by_stream("plays_daily") && !p.fed_by_stream("nope"));
    // Its own version: not the stream's.
    let fp = crate::fingerprint::fingerprints(&p);
    assert_ne!(fp["plays_raw"], fp["plays_raw__quarantine"]);
    // A dataset of that name declared by hand collides.
    let text = format!("{STREAMS}\n[datasets.plays_raw__quarantine]\npartition = \"day\"\ncommand = [\"true\"]\n");
    let e = errors(&text);
    assert!(
        e.iter().any(|d| d
            .message
            .contains("keeps its malformed events in `plays_raw__quarantine`")),
        "{e:?}"
    );
}
