//! `/metrics` in the Prometheus text format (0.0.4).
//!
//! A small registry of its own rather than a global recorder: every figure
//! is keyed by environment, and the scheduler's state already lives in
//! memory here. The text format is checked by `promtool check metrics` in a
//! test.

use crate::Shared;
use axum::extract::State;
use axum::response::IntoResponse;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bucket bounds in seconds, from a millisecond to an hour.
const BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

#[derive(Clone, Debug, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += secs;
        self.count += 1;
    }
}

type Labels = Vec<(&'static str, String)>;

/// Reads one gauge of a dataset's figures.
type Figure = fn(&DatasetFigures) -> Option<f64>;

/// One family of a stream's figures: name, kind, help, and how to read it.
type StreamFigure = (
    &'static str,
    &'static str,
    &'static str,
    fn(&weir_stream::StreamStats) -> f64,
);

/// What the server measures, by environment (and dataset).
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    runs: BTreeMap<(String, String, &'static str), u64>,
    run_seconds: BTreeMap<(String, String), Histogram>,
    schedule_latency: BTreeMap<String, Histogram>,
    lake_sync: BTreeMap<String, Histogram>,
    catalog_commit: BTreeMap<String, Histogram>,
    queue: BTreeMap<String, usize>,
    /// Per environment, the last pass's status: dataset → (delay s, blocked, alias version).
    datasets: BTreeMap<String, BTreeMap<String, DatasetFigures>>,
    leader: bool,
    /// Events posted to streams, by stream and fate.
    events: BTreeMap<(String, &'static str), u64>,
}

/// One dataset's figures after a pass.
#[derive(Clone, Debug, Default)]
pub struct DatasetFigures {
    pub delay_seconds: Option<i64>,
    pub pipeline_delay_seconds: Option<f64>,
    pub blocked: usize,
    pub late: usize,
    pub alias_version: Option<u32>,
    pub paused: bool,
}

impl Metrics {
    fn with(&self, f: impl FnOnce(&mut Inner)) {
        if let Ok(mut m) = self.inner.lock() {
            f(&mut m);
        }
    }

    pub fn run_finished(&self, env: &str, dataset: &str, state: &'static str, took: Duration) {
        self.with(|m| {
            *m.runs.entry((env.into(), dataset.into(), state)).or_default() += 1;
            m.run_seconds
                .entry((env.into(), dataset.into()))
                .or_default()
                .observe(took.as_secs_f64());
        });
    }

    /// From the instant a partition became due to the start of its run.
    pub fn scheduled(&self, env: &str, latency: Duration) {
        self.with(|m| {
            m.schedule_latency
                .entry(env.into())
                .or_default()
                .observe(latency.as_secs_f64())
        });
    }

    pub fn committed(&self, env: &str, sync: Duration, commit: Duration) {
        self.with(|m| {
            m.lake_sync.entry(env.into()).or_default().observe(sync.as_secs_f64());
            m.catalog_commit
                .entry(env.into())
                .or_default()
                .observe(commit.as_secs_f64());
        });
    }

    /// A request's events, made durable.
    pub fn ingested(&self, stream: &str, r: &weir_stream::Ingested) {
        self.with(|m| {
            for (fate, n) in [
                ("accepted", r.accepted - r.late),
                ("late", r.late),
                ("duplicate", r.duplicate),
                ("quarantined", r.quarantined),
            ] {
                *m.events.entry((stream.into(), fate)).or_default() += n as u64;
            }
        });
    }

    pub fn leader(&self, leads: bool) {
        self.with(|m| m.leader = leads);
    }

    pub fn queue(&self, env: &str, depth: usize) {
        self.with(|m| {
            m.queue.insert(env.into(), depth);
        });
    }

    pub fn datasets(&self, env: &str, figures: BTreeMap<String, DatasetFigures>) {
        self.with(|m| {
            m.datasets.insert(env.into(), figures);
        });
    }

    /// The exposition text.
    pub fn render(&self, running: &BTreeMap<String, usize>, streams: &[(String, weir_stream::StreamStats)]) -> String {
        let Ok(m) = self.inner.lock() else {
            return String::new();
        };
        let mut out = String::new();
        family(
            &mut out,
            "weir_leader",
            "gauge",
            "1 if this server holds the leader lease (SLA checks and alerts), else 0.",
        );
        sample(&mut out, "weir_leader", &[], if m.leader { 1.0 } else { 0.0 });
        family(&mut out, "weir_tasks_running", "gauge", "Tasks running now.");
        for (env, n) in running {
            sample(&mut out, "weir_tasks_running", &[("env", env.clone())], *n as f64);
        }
        family(
            &mut out,
            "weir_queue_depth",
            "gauge",
            "Instances the scheduler may still build in its current pass.",
        );
        for (env, n) in &m.queue {
            sample(&mut out, "weir_queue_depth", &[("env", env.clone())], *n as f64);
        }
        family(
            &mut out,
            "weir_runs_total",
            "counter",
            "Runs finished since the server started, by outcome.",
        );
        for ((env, ds, state), n) in &m.runs {
            let l = vec![
                ("env", env.clone()),
                ("dataset", ds.clone()),
                ("state", state.to_string()),
            ];
            sample(&mut out, "weir_runs_total", &l, *n as f64);
        }
        family(
            &mut out,
            "weir_run_duration_seconds",
            "histogram",
            "How long runs took.",
        );
        for ((env, ds), h) in &m.run_seconds {
            histogram(
                &mut out,
                "weir_run_duration_seconds",
                vec![("env", env.clone()), ("dataset", ds.clone())],
                h,
            );
        }
        family(
            &mut out,
            "weir_schedule_latency_seconds",
            "histogram",
            "From a partition becoming due (or the server starting, for older ones) to its run starting.",
        );
        for (env, h) in &m.schedule_latency {
            histogram(&mut out, "weir_schedule_latency_seconds", vec![("env", env.clone())], h);
        }
        family(
            &mut out,
            "weir_lake_sync_seconds",
            "histogram",
            "Making a batch of seals durable.",
        );
        for (env, h) in &m.lake_sync {
            histogram(&mut out, "weir_lake_sync_seconds", vec![("env", env.clone())], h);
        }
        family(
            &mut out,
            "weir_catalog_commit_seconds",
            "histogram",
            "Committing a batch of runs to the catalog.",
        );
        for (env, h) in &m.catalog_commit {
            histogram(&mut out, "weir_catalog_commit_seconds", vec![("env", env.clone())], h);
        }
        let per_dataset: [(&str, &str, Figure); 6] = [
            (
                "weir_dataset_delay_seconds",
                "Now minus the end of the newest complete partition.",
                |f| f.delay_seconds.map(|d| d as f64),
            ),
            (
                "weir_pipeline_delay_seconds",
                "For a stream and what reads it: when the newest complete partition was committed, minus its end.",
                |f| f.pipeline_delay_seconds,
            ),
            (
                "weir_late_partitions",
                "Partitions past their SLA deadline and not complete.",
                |f| Some(f.late as f64),
            ),
            (
                "weir_blocked_instances",
                "Instances a failing blocking check holds back.",
                |f| Some(f.blocked as f64),
            ),
            ("weir_alias_version", "The version each alias serves.", |f| {
                f.alias_version.map(f64::from)
            }),
            ("weir_dataset_paused", "1 if the dataset is paused.", |f| {
                Some(f64::from(u8::from(f.paused)))
            }),
        ];
        for (name, help, get) in per_dataset {
            family(&mut out, name, "gauge", help);
            for (env, datasets) in &m.datasets {
                for (ds, f) in datasets {
                    if let Some(v) = get(f) {
                        sample(&mut out, name, &[("env", env.clone()), ("dataset", ds.clone())], v);
                    }
                }
            }
        }
        family(
            &mut out,
            "weir_stream_events_total",
            "counter",
            "Events posted to a stream and made durable, by fate (accepted, late, duplicate, quarantined).",
        );
        for ((stream, fate), n) in &m.events {
            sample(
                &mut out,
                "weir_stream_events_total",
                &[("stream", stream.clone()), ("fate", (*fate).to_string())],
                *n as f64,
            );
        }
        let per_stream: [StreamFigure; 5] = [
            (
                "weir_stream_log_syncs_total",
                "counter",
                "Syncs of the stream's write-ahead log (each one a group commit).",
                |s| s.syncs as f64,
            ),
            (
                "weir_stream_log_appends_total",
                "counter",
                "Appends (requests) written to the stream's log.",
                |s| s.appends as f64,
            ),
            (
                "weir_stream_log_segments",
                "gauge",
                "Segments of the stream's log held (sealed ones go after the dedup horizon).",
                |s| s.segments as f64,
            ),
            (
                "weir_stream_sealed_ids",
                "gauge",
                "Ids in the sealed-id filter (8 bytes each).",
                |s| s.sealed_ids as f64,
            ),
            (
                "weir_stream_sealed_dropped_early_total",
                "counter",
                "Sealed partitions whose ids were forgotten before the dedup horizon, to keep the filter's budget.",
                |s| s.sealed_dropped_early as f64,
            ),
        ];
        for (name, kind, help, get) in per_stream {
            family(&mut out, name, kind, help);
            for (stream, st) in streams {
                sample(&mut out, name, &[("stream", stream.clone())], get(st));
            }
        }
        family(
            &mut out,
            "weir_object_requests_total",
            "counter",
            "Requests to lakes and landing zones on object storage, by kind (get, head, put, list, copy, delete).",
        );
        for (kind, n) in weir_lake::object_requests() {
            sample(
                &mut out,
                "weir_object_requests_total",
                &[("kind", kind.to_string())],
                n as f64,
            );
        }
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn labels(l: &[(&str, String)]) -> String {
    if l.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = l.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    format!("{{{}}}", inner.join(","))
}

fn sample(out: &mut String, name: &str, l: &[(&'static str, String)], v: f64) {
    let _ = writeln!(out, "{name}{} {v}", labels(l));
}

fn histogram(out: &mut String, name: &str, l: Labels, h: &Histogram) {
    for (i, b) in BUCKETS.iter().enumerate() {
        let mut bl = l.clone();
        bl.push(("le", b.to_string()));
        let _ = writeln!(
            out,
            "{name}_bucket{} {}",
            labels(&bl),
            h.counts.get(i).copied().unwrap_or(0)
        );
    }
    let mut inf = l.clone();
    inf.push(("le", "+Inf".into()));
    let _ = writeln!(out, "{name}_bucket{} {}", labels(&inf), h.count);
    let _ = writeln!(out, "{name}_sum{} {}", labels(&l), h.sum);
    let _ = writeln!(out, "{name}_count{} {}", labels(&l), h.count);
}

/// A label value, escaped as the text format requires.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

pub async fn render(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let running: BTreeMap<String, usize> = shared
        .envs
        .values()
        .map(|h| (h.env.clone(), h.state().running))
        .collect();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        {
            let mut text = shared.metrics.render(&running, &shared.streams.stats().await);
            selectors(&mut text, &shared.assignments.counts());
            text
        },
    )
}

/// Selections per variant, and the assignment log's fate of each.
fn selectors(out: &mut String, counts: &BTreeMap<String, crate::select::Counts>) {
    family(
        out,
        "weir_selections_total",
        "counter",
        "Selections answered (GET /api/v1/select), by selector and variant.",
    );
    for (sel, c) in counts {
        for (variant, n) in &c.selected {
            sample(
                out,
                "weir_selections_total",
                &[("selector", sel.clone()), ("variant", variant.clone())],
                *n as f64,
            );
        }
    }
    family(
        out,
        "weir_assignments_logged_total",
        "counter",
        "Assignments made durable in the selector's stream.",
    );
    for (sel, c) in counts {
        sample(
            out,
            "weir_assignments_logged_total",
            &[("selector", sel.clone())],
            c.logged as f64,
        );
    }
    family(
        out,
        "weir_assignments_dropped_total",
        "counter",
        "Assignments not logged, by reason: overload (the queue was full), not_leader, no_stream, refused.",
    );
    for (sel, c) in counts {
        for (reason, n) in &c.dropped {
            sample(
                out,
                "weir_assignments_dropped_total",
                &[("selector", sel.clone()), ("reason", (*reason).to_string())],
                *n as f64,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_labels_escaped() {
        let m = Metrics::default();
        m.run_finished("prod", "a\"b", "succeeded", Duration::from_millis(3));
        m.run_finished("prod", "a\"b", "failed", Duration::from_secs(2));
        let text = m.render(&BTreeMap::new(), &[]);
        assert!(
            text.contains("weir_runs_total{env=\"prod\",dataset=\"a\\\"b\",state=\"failed\"} 1"),
            "{text}"
        );
        assert!(text.contains("weir_run_duration_seconds_bucket{env=\"prod\",dataset=\"a\\\"b\",le=\"0.005\"} 1"));
        assert!(text.contains("weir_run_duration_seconds_bucket{env=\"prod\",dataset=\"a\\\"b\",le=\"2.5\"} 2"));
        assert!(text.contains("weir_run_duration_seconds_bucket{env=\"prod\",dataset=\"a\\\"b\",le=\"+Inf\"} 2"));
        assert!(text.contains("weir_run_duration_seconds_count{env=\"prod\",dataset=\"a\\\"b\"} 2"));
    }
}
