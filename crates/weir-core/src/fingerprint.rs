//! Version fingerprints: a hash of a job's canonical spec and of its inputs'
//! fingerprints, so any upstream change gives every downstream dataset a new
//! version, and nothing else does.
//!
//! In the fingerprint: job kind and code (SQL in canonical form, command and
//! env, ingest path/format/schema), declared `version`, partition scheme,
//! output format, and the input mappings. Not in it: start, end, delay, lake,
//! timeout, description, counters — they change what is built, where, or what
//! is measured, not what an instance contains.

use crate::model::{Dataset, Engine, Job, Project};
use crate::sqlcheck;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The canonical spec of one dataset, given its inputs' fingerprints.
pub fn canonical_spec(ds: &Dataset, fps: &BTreeMap<String, String>) -> Value {
    let job = match &ds.job {
        // The engine counts only when it is not the default, so existing
        // versions keep their fingerprints.
        Job::Sql {
            text,
            engine: Engine::DataFusion,
            ..
        } => json!({ "kind": "sql", "sql": sqlcheck::canonical(text) }),
        Job::Sql { text, engine, .. } => {
            json!({ "kind": "sql", "sql": sqlcheck::canonical(text), "engine": engine.as_str() })
        }
        Job::Command { argv, env, files } => {
            let hashes: BTreeMap<&String, String> = files
                .iter()
                .map(|(p, body)| (p, hex::encode(Sha256::digest(body.as_bytes()))))
                .collect();
            json!({ "kind": "command", "argv": argv, "env": env, "files": hashes })
        }
        Job::Export { from, table, keep, .. } => {
            json!({ "kind": "export", "from": from, "table": table, "keep": keep })
        }
        Job::Ingest { path, format, schema } => json!({
            "kind": "ingest", "path": path, "format": format,
            "schema": schema.as_ref().map(|s| s.iter().map(|(c, t)| json!([c, t])).collect::<Vec<_>>()),
        }),
        // What decides what a sealed partition holds: which events are
        // quarantined, where late ones go, which copies are dropped. Not the
        // broker's address (it may move) nor when seals happen (`idle`).
        Job::Stream(s) => json!({
            "kind": "stream",
            "source": match &s.source {
                crate::model::StreamSource::Http => json!("http"),
                crate::model::StreamSource::Nats { subject, .. } => json!({ "nats": subject }),
            },
            "schema": s.schema.as_ref().map(|c| c.iter().map(|(c, t)| json!([c, t])).collect::<Vec<_>>()),
            "event_time": s.event_time, "id": s.id,
            "lateness": s.lateness.to_string(), "dedup": s.dedup.to_string(), "max_future": s.max_future.to_string(),
            "quarantine_of": s.quarantine_of,
        }),
    };
    let inputs: Vec<Value> = ds
        .inputs
        .iter()
        .map(|i| {
            json!({
                "table": i.table, "dataset": i.dataset,
                "window": i.window.map(|w| w.to_string()), "offset": i.offset.to_string(),
                "fingerprint": fps.get(&i.dataset),
            })
        })
        .collect();
    let mut spec = json!({
        "job": job,
        "version": ds.declared_version,
        "partition": ds.granularity.to_string(),
        "format": ds.format,
        "inputs": inputs,
    });
    // Only a model says so, so data datasets keep their fingerprints.
    if ds.kind == crate::model::Kind::Model {
        spec["kind"] = json!("model");
    }
    spec
}

/// Every dataset's fingerprint (hex SHA-256), computed in topological order.
pub fn fingerprints(project: &Project) -> BTreeMap<String, String> {
    let mut fps = BTreeMap::new();
    for name in &project.topo_order {
        if let Some(ds) = project.datasets.get(name) {
            let spec = canonical_spec(ds, &fps);
            let digest = Sha256::digest(spec.to_string().as_bytes());
            fps.insert(name.clone(), hex::encode(digest));
        }
    }
    fps
}

/// A project's versions as an edit sees them: each dataset's fingerprint, and
/// its own part (the fingerprint with its inputs' left out), which tells an
/// edit of the dataset from an edit upstream of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub full: BTreeMap<String, String>,
    pub own: BTreeMap<String, String>,
}

impl Snapshot {
    pub fn of(project: &Project) -> Self {
        let none = BTreeMap::new();
        let own = project
            .datasets
            .iter()
            .map(|(name, ds)| {
                let spec = canonical_spec(ds, &none);
                (name.clone(), hex::encode(Sha256::digest(spec.to_string().as_bytes())))
            })
            .collect();
        Self {
            full: fingerprints(project),
            own,
        }
    }

    /// What changed from `before` to `self`, by dataset name.
    pub fn changes_since(&self, before: &Snapshot) -> Vec<Change> {
        let mut out = Vec::new();
        for (name, fp) in &self.full {
            let cause = match before.full.get(name) {
                None => ChangeCause::Added,
                Some(old) if old == fp => continue,
                Some(_) if before.own.get(name) != self.own.get(name) => ChangeCause::Definition,
                Some(_) => ChangeCause::Upstream,
            };
            out.push(Change {
                dataset: name.clone(),
                cause,
            });
        }
        for name in before.full.keys().filter(|n| !self.full.contains_key(*n)) {
            out.push(Change {
                dataset: name.clone(),
                cause: ChangeCause::Removed,
            });
        }
        out.sort_by(|a, b| (a.cause, &a.dataset).cmp(&(b.cause, &b.dataset)));
        out
    }
}

/// One dataset whose version an edit changed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    pub dataset: String,
    pub cause: ChangeCause,
}

/// Why a dataset's version changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeCause {
    /// Its own definition, SQL or script changed.
    Definition,
    /// Only something upstream of it did.
    Upstream,
    /// It is new.
    Added,
    /// It is gone from the definitions.
    Removed,
}

impl ChangeCause {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Definition => "its definition changed",
            Self::Upstream => "upstream changed",
            Self::Added => "new",
            Self::Removed => "removed",
        }
    }
}

/// The short form shown to people: the first 12 hex digits.
pub fn short(fp: &str) -> &str {
    &fp[..fp.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_names_what_it_changed_and_why() {
        let base = "[project]\nname = \"p\"\nstart = 2026-01-01\n\
                    [datasets.a]\npartition = \"day\"\nsql = \"SELECT 1 AS x\"\n\
                    [datasets.b]\npartition = \"day\"\ninputs = [\"a\"]\nsql = \"SELECT x FROM a\"\n\
                    [datasets.c]\npartition = \"day\"\nsql = \"SELECT 3 AS z\"\n";
        let load = |t: &str| crate::load::load_project(t, &|_: &str| Err("none".to_string())).expect("loads");
        let before = Snapshot::of(&load(base));
        assert!(before.changes_since(&before).is_empty());
        let edited = base
            .replace("SELECT 1 AS x", "SELECT 2 AS x")
            .replace("[datasets.c]", "[datasets.d]");
        let after = Snapshot::of(&load(&edited));
        let got: Vec<(String, ChangeCause)> = after
            .changes_since(&before)
            .into_iter()
            .map(|c| (c.dataset, c.cause))
            .collect();
        assert_eq!(
            got,
            [
                ("a".to_string(), ChangeCause::Definition),
                ("b".to_string(), ChangeCause::Upstream),
                ("d".to_string(), ChangeCause::Added),
                ("c".to_string(), ChangeCause::Removed),
            ]
        );
    }
}
