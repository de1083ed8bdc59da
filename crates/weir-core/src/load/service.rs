//! The service keys: `[pools]`, `[retention]`, and a dataset's `sla`,
//! `schedule` and `pool`.

use super::*;
use crate::service::{Retention, Schedule, Sla};

/// A dataset's service settings.
pub(super) struct ServiceKeys {
    pub sla: Option<Sla>,
    pub schedule: Option<Schedule>,
    pub pool: Option<String>,
}

impl Cx {
    /// `[pools] heavy = 1`: each a positive number of tasks.
    pub(super) fn pools(&mut self, root: &DeTable<'_>) -> BTreeMap<String, usize> {
        let mut pools = BTreeMap::new();
        let Some(v) = get(root, "pools") else {
            return pools;
        };
        let Some(t) = self.table(v, "[pools]") else {
            return pools;
        };
        for (k, pv) in t {
            let n = match pv.get_ref() {
                DeValue::Integer(i) => i.as_str().parse::<usize>().ok().filter(|n| *n > 0),
                _ => None,
            };
            match n {
                Some(n) => {
                    pools.insert(k.get_ref().to_string(), n);
                }
                None => self.err(
                    &pv.span(),
                    format!("pool `{}` must be a positive number of tasks", k.get_ref()),
                    Some(format!("e.g. {} = 1", k.get_ref())),
                ),
            }
        }
        pools
    }

    /// `[lineage] url = "http://…" | "env:NAME" | "lineage.jsonl"`: where
    /// OpenLineage RunEvents go (an HTTP endpoint, or a JSON-lines file).
    pub(super) fn lineage(&mut self, root: &DeTable<'_>) -> Option<String> {
        let v = get(root, "lineage")?;
        let t = self.table(v, "[lineage]")?;
        self.check_keys(t, &keys::LINEAGE, "[lineage]");
        let Some(u) = get(t, "url") else {
            self.err(
                &v.span(),
                "[lineage] has no `url`",
                Some("url = \"http://marquez:5000/api/v1/lineage\" or url = \"lineage.jsonl\"".into()),
            );
            return None;
        };
        let url = self.string(u, "lineage url")?;
        if url.trim().is_empty() {
            self.err(&u.span(), "the lineage url is empty", None);
            return None;
        }
        Some(url)
    }

    /// `[retention] runs = "90d", versions = 3`.
    pub(super) fn retention(&mut self, root: &DeTable<'_>) -> Retention {
        let mut r = Retention::default();
        let Some(v) = get(root, "retention") else {
            return r;
        };
        let Some(t) = self.table(v, "[retention]") else {
            return r;
        };
        self.check_keys(t, &keys::RETENTION, "[retention]");
        if let Some(v) = get(t, "runs") {
            match self.span_value(v, "retention runs") {
                Some(s) if s.is_positive() => r.runs = Some(s),
                Some(_) => self.err(
                    &v.span(),
                    "retention runs must be positive",
                    Some("e.g. runs = \"90d\"".into()),
                ),
                None => {}
            }
        }
        if let Some(v) = get(t, "versions") {
            match v.get_ref() {
                DeValue::Integer(i) if i.as_str().parse::<u32>().is_ok_and(|n| n > 0) => {
                    r.versions = i.as_str().parse().ok();
                }
                _ => self.err(
                    &v.span(),
                    "retention versions must be a positive number",
                    Some("e.g. versions = 3 keeps the newest three versions of each dataset".into()),
                ),
            }
        }
        r
    }

    /// A dataset's `sla`, `schedule` and `pool` (which must name a `[pools]` entry).
    pub(super) fn service_keys(
        &mut self,
        t: &DeTable<'_>,
        g: Granularity,
        pools: &BTreeMap<String, usize>,
    ) -> ServiceKeys {
        let sla = get(t, "sla").and_then(|v| {
            let s = self.string(v, "sla")?;
            if g == Granularity::Snapshot {
                self.err(&v.span(), "an unpartitioned dataset has no partitions to be late", None);
                return None;
            }
            Sla::parse(&s, g)
                .map_err(|e| {
                    self.err(
                        &v.span(),
                        e,
                        Some("e.g. sla = \"3h\", or sla = \"06:00\" for daily partitions".into()),
                    )
                })
                .ok()
        });
        let schedule = get(t, "schedule").and_then(|v| {
            let s = self.string(v, "schedule")?;
            Schedule::parse(&s)
                .map_err(|e| {
                    self.err(
                        &v.span(),
                        e,
                        Some("five fields, UTC: e.g. schedule = \"0 6 * * *\"".into()),
                    )
                })
                .ok()
        });
        let pool = get(t, "pool").and_then(|v| {
            let p = self.string(v, "pool")?;
            if !pools.contains_key(&p) {
                let hint = did_you_mean(&p, pools.keys().map(String::as_str)).map_or_else(
                    || format!("declare it: [pools] {p} = 1"),
                    |s| format!("did you mean `{s}`?"),
                );
                self.err(&v.span(), format!("unknown pool `{p}`"), Some(hint));
            }
            Some(p)
        });
        ServiceKeys { sla, schedule, pool }
    }
}
