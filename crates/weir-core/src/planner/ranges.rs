//! What the planner wants to exist: each selected dataset's due range, and
//! what its targets read upstream.

use super::Selection;
use crate::mapping::{due_range, needed_range};
use crate::model::{Job, Project};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// The desired partition range of every dataset in the selection: targets get
/// their due range (clipped to `from`/`until`), and their upstream gets what
/// the targets read.
pub fn desired_ranges<'a>(project: &'a Project, now: DateTime<Utc>, sel: &Selection) -> HashMap<&'a str, (i64, i64)> {
    let mut ranges: HashMap<&str, (i64, i64)> = HashMap::new();
    let all = sel.datasets.is_empty();
    for name in project.topo_order.iter().rev() {
        let Some(ds) = project.datasets.get(name) else {
            continue;
        };
        if matches!(ds.job, Job::Export { .. }) {
            continue; // exports follow aliases; they have no partitions to build
        }
        let (dlo, dhi) = due_range(ds, now);
        let mut acc: Option<(i64, i64)> = None;
        if all || sel.datasets.iter().any(|s| s == name) {
            let g = ds.granularity;
            let lo = sel.from.map_or(dlo, |f| dlo.max(g.index_of(f)));
            let hi = sel.until.map_or(dhi, |u| dhi.min(g.index_at_or_after(u)));
            if g == crate::partition::Granularity::Snapshot {
                acc = Some((dlo, dhi));
            } else if lo < hi {
                acc = Some((lo, hi));
            }
        }
        for consumer in project.consumers(name) {
            let Some(&(clo, chi)) = ranges.get(consumer.name.as_str()) else {
                continue;
            };
            for input in consumer.inputs.iter().filter(|i| &i.dataset == name) {
                let (a, b) = needed_range(consumer, input, ds, clo, chi);
                let (a, b) = (a.max(dlo), b.min(dhi));
                if a < b {
                    acc = Some(acc.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
                }
            }
        }
        // A gating metrics dataset is needed wherever what it measures is read.
        if let Some(of) = ds.metrics_of.as_deref().filter(|_| ds.has_blocking_checks())
            && let Some(measured) = project.datasets.get(of)
        {
            for consumer in project.consumers(of).filter(|c| c.metrics_of.as_deref() != Some(of)) {
                let Some(&(clo, chi)) = ranges.get(consumer.name.as_str()) else {
                    continue;
                };
                for input in consumer.inputs.iter().filter(|i| i.dataset == of) {
                    let (a, b) = needed_range(consumer, input, measured, clo, chi);
                    let (a, b) = (a.max(dlo), b.min(dhi));
                    if a < b {
                        acc = Some(acc.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
                    }
                }
            }
        }
        if let Some(r) = acc {
            ranges.insert(name.as_str(), r);
        }
    }
    ranges
}
