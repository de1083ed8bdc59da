//! Checks on a freshly built instance, evaluated before it is sealed so the
//! verdict travels in its manifest: expressions over its counters, metrics,
//! profile and the history of earlier partitions (from the catalog), and data
//! checks whose queries the executor ran.

use crate::exec_api::ExecOutput;
use crate::workspace::Workspace;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use weir_core::Dataset;
use weir_core::check::{self, CheckResult, Facts, Rule, Status};

/// The facts of the instance being built: counters and metrics as numbers, and its profile.
pub fn facts_of(
    counters: &BTreeMap<String, i64>,
    metrics: &BTreeMap<String, f64>,
    profile: Option<&serde_json::Value>,
) -> Facts {
    let mut values: BTreeMap<String, f64> = counters.iter().map(|(k, v)| (k.clone(), *v as f64)).collect();
    values.extend(metrics.iter().map(|(k, v)| (k.clone(), *v)));
    Facts {
        values,
        profile: profile.cloned(),
    }
}

/// Adds the derived counters of `ds` to `counters`, each computed from what
/// the run recorded (never from another derived counter) and rounded to an
/// integer. One whose value cannot be known (a division by zero) is left out,
/// so a check that reads it errs; one that reads a counter the run did not
/// record fails the run, naming both.
pub fn derive(ds: &Dataset, counters: &mut BTreeMap<String, i64>) -> Result<(), String> {
    if ds.derived.is_empty() {
        return Ok(());
    }
    let recorded = facts_of(counters, &BTreeMap::new(), None);
    for (name, e) in &ds.derived {
        match check::value(e, &recorded) {
            Ok(Some(v)) if v.is_finite() => {
                counters.insert(name.clone(), v.round() as i64);
            }
            Ok(_) => {}
            Err(why) => return Err(format!("derived counter `{name}` cannot be computed: {why}")),
        }
    }
    Ok(())
}

/// Evaluates every check of `ds` on the instance at `partition` of `version`.
pub async fn evaluate(
    ws: &Workspace,
    ds: &Dataset,
    version: u32,
    partition: i64,
    counters: &BTreeMap<String, i64>,
    out: &ExecOutput,
) -> Vec<CheckResult> {
    if ds.checks.is_empty() {
        return Vec::new();
    }
    let now = facts_of(counters, &out.metrics, out.profile.as_ref());
    let lookback = ds.checks.iter().map(|c| c.lookback()).max().unwrap_or(0);
    let mut history: Vec<Option<Facts>> = Vec::new();
    let mut history_error = None;
    if lookback > 0 {
        let lo = partition - i64::from(lookback);
        match ws.catalog.history(&ds.name, version, lo.max(0), partition).await {
            Ok(points) => {
                let by_partition: HashMap<i64, BTreeMap<String, f64>> =
                    points.into_iter().map(|p| (p.partition, p.values)).collect();
                history = (1..=i64::from(lookback))
                    .map(|k| {
                        by_partition.get(&(partition - k)).map(|v| Facts {
                            values: v.clone(),
                            profile: None,
                        })
                    })
                    .collect();
            }
            Err(e) => history_error = Some(format!("could not read the history: {e}")),
        }
    }
    ds.checks
        .iter()
        .map(|c| match &c.rule {
            Rule::Expr(e) => match &history_error {
                Some(err) if c.lookback() > 0 => CheckResult {
                    name: c.name.clone(),
                    severity: c.severity,
                    status: Status::Error,
                    detail: err.clone(),
                },
                _ => check::evaluate(&c.name, c.severity, e, &now, &history),
            },
            Rule::Data(dc) => {
                let (status, detail) = match out.check_values.get(&c.name) {
                    Some(Ok(v)) => dc.judge(v.as_deref()),
                    Some(Err(e)) => (Status::Error, format!("the check's query failed: {e}")),
                    None => (Status::Skipped, "this job does not run data checks".to_string()),
                };
                CheckResult {
                    name: c.name.clone(),
                    severity: c.severity,
                    status,
                    detail,
                }
            }
        })
        .collect()
}

/// Files under `dir`, recursively (what sealing will record as `files_out`).
pub(crate) fn count_files(dir: &Path) -> i64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => count_files(&e.path()),
            Ok(t) if t.is_file() => 1,
            _ => 0,
        })
        .sum()
}
