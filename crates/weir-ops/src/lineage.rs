//! OpenLineage: every run's START and its COMPLETE, FAIL or ABORT, as
//! RunEvents (spec 2-0-2) with the exact input and output instances.
//!
//! - namespace of a dataset: its lake's URL (`file:///abs/lake`, `s3://…`);
//!   name: `dataset/vN/partition`;
//! - job: namespace `weir://<project>`, name the dataset; a SQL job carries
//!   the `sql` facet;
//! - facets: `errorMessage` on a failure, `outputStatistics` (rows, bytes,
//!   files) on completion.
//!
//! `[lineage] url` is an HTTP endpoint (Marquez's `/api/v1/lineage`; POSTed
//! with retries), `env:NAME`, or a file that gets one JSON line per event.
//! Sending never holds the pipeline up: events queue for a background task.

use crate::alerts::{post_json, redact};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use weir_core::Project;
use weir_core::model::Job;
use weir_sched::events::{EventInstance, RunEvent};

pub const SCHEMA_URL: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
pub const PRODUCER: &str = concat!("https://example.invalid/weir/tree/", env!("CARGO_PKG_VERSION"));
const QUEUE: usize = 4096;

fn facet(schema: &str) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("_producer".into(), PRODUCER.into());
    m.insert("_schemaURL".into(), schema.into());
    m
}

/// The namespace of each lake: its URL.
fn lake_urls(project: &Project, dir: &Path) -> BTreeMap<String, String> {
    project
        .lakes
        .iter()
        .map(|(name, root)| {
            let url = if root.contains("://") {
                root.clone()
            } else {
                let p = Path::new(root);
                let abs = if p.is_absolute() { p.to_path_buf() } else { dir.join(p) };
                format!("file://{}", abs.display())
            };
            (name.clone(), url)
        })
        .collect()
}

/// One event as an OpenLineage RunEvent.
pub fn to_openlineage(project: &Project, dir: &Path, e: &RunEvent) -> Value {
    let lakes = lake_urls(project, dir);
    let dataset = |i: &EventInstance| {
        json!({
            "namespace": lakes.get(&i.lake).cloned().unwrap_or_else(|| format!("weir://{}", project.name)),
            "name": format!("{}/v{}/{}", i.dataset, i.version, i.partition),
        })
    };
    let mut job_facets = serde_json::Map::new();
    if let Some(Job::Sql { text: sql, .. }) = project.dataset(&e.output.dataset).map(|d| &d.job) {
        let mut f = facet("https://openlineage.io/spec/facets/1-1-0/SQLJobFacet.json#/$defs/SQLJobFacet");
        f.insert("query".into(), sql.clone().into());
        f.insert("dialect".into(), "datafusion".into());
        job_facets.insert("sql".into(), Value::Object(f));
    }
    let mut run_facets = serde_json::Map::new();
    if let Some(err) = &e.error {
        let mut f =
            facet("https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet");
        f.insert("message".into(), err.clone().into());
        f.insert("programmingLanguage".into(), "rust".into());
        run_facets.insert("errorMessage".into(), Value::Object(f));
    }
    let mut output = dataset(&e.output);
    if e.rows.is_some() || e.bytes.is_some() {
        let mut f = facet(
            "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet",
        );
        if let Some(r) = e.rows {
            f.insert("rowCount".into(), r.into());
        }
        if let Some(b) = e.bytes {
            f.insert("size".into(), b.into());
        }
        if let Some(n) = e.files {
            f.insert("fileCount".into(), n.into());
        }
        output["outputFacets"] = json!({ "outputStatistics": Value::Object(f) });
    }
    json!({
        "eventType": e.kind,
        "eventTime": e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": { "runId": e.run_id, "facets": Value::Object(run_facets) },
        "job": {
            "namespace": format!("weir://{}", project.name),
            "name": e.output.dataset,
            "facets": Value::Object(job_facets),
        },
        "inputs": e.inputs.iter().map(dataset).collect::<Vec<_>>(),
        "outputs": [output],
    })
}

enum Target {
    Http { url: String, client: reqwest::Client },
    File(PathBuf),
}

/// A running lineage sender.
pub struct LineageSink {
    tx: mpsc::Sender<String>,
    worker: JoinHandle<()>,
    project: Project,
    dir: PathBuf,
}

impl LineageSink {
    /// Starts a sender for `[lineage] url`, if set.
    pub fn start(project: &Project, dir: &Path) -> Option<LineageSink> {
        let url = project.lineage.clone()?;
        let url = match url.strip_prefix("env:") {
            Some(var) => match std::env::var(var) {
                Ok(u) if !u.trim().is_empty() => u,
                _ => {
                    eprintln!("warning: [lineage] url reads ${var}, which is not set; lineage events are off");
                    return None;
                }
            },
            None => url,
        };
        let target = if url.starts_with("http://") || url.starts_with("https://") {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .ok()?;
            Target::Http { url, client }
        } else {
            let path = url.strip_prefix("file://").unwrap_or(&url);
            let p = Path::new(path);
            Target::File(if p.is_absolute() { p.to_path_buf() } else { dir.join(p) })
        };
        let (tx, mut rx) = mpsc::channel::<String>(QUEUE);
        let worker = tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                match &target {
                    Target::Http { url, client } => {
                        if let Err(e) = post_json(client, url, &line).await {
                            tracing::warn!("a lineage event to {} was not delivered ({e})", redact(url));
                        }
                    }
                    Target::File(path) => {
                        let written = std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(path)
                            .and_then(|mut f| writeln!(f, "{line}"));
                        if let Err(e) = written {
                            tracing::warn!("cannot append a lineage event to {}: {e}", path.display());
                        }
                    }
                }
            }
        });
        Some(LineageSink {
            tx,
            worker,
            project: project.clone(),
            dir: dir.to_path_buf(),
        })
    }

    /// Queues an event; never waits.
    pub fn send(&self, e: &RunEvent) {
        let line = to_openlineage(&self.project, &self.dir, e).to_string();
        if self.tx.try_send(line).is_err() {
            tracing::warn!("the lineage queue is full; an event was dropped");
        }
    }

    /// Waits up to `grace` for queued events to go out.
    pub async fn finish(self, grace: Duration) {
        drop(self.tx);
        let _ = tokio::time::timeout(grace, self.worker).await;
    }
}
