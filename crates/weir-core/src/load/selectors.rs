//! `[selectors.NAME]`: run-time choice between model variants (issue 20).
//!
//! ```toml
//! [selectors.reco]
//! variants = { popularity = "reco_popularity", cooc = "reco_cooccurrence" }
//! split    = { popularity = 50, cooc = 50 }     # percent, summing to 100
//! unit     = "user_id"
//! salt     = "reco"                              # default: the selector's name
//! log      = "reco_assignments"                  # default: NAME_assignments; false: none
//! [selectors.reco.auto]
//! dataset = "engagement_by_variant"
//! metric = "plays_per_session"
//! min_lift = 0.02
//! days = 3
//! min_units = 1000
//! to = 90
//! ```

use super::*;
use crate::model::{AutoPromote, Kind, Selector};

impl Cx {
    /// Every `[selectors.NAME]`, checked against the datasets: each variant
    /// names a model dataset, and the split covers exactly the variants.
    pub(super) fn selectors(
        &mut self,
        root: &DeTable<'_>,
        datasets: &BTreeMap<String, Dataset>,
    ) -> BTreeMap<String, Selector> {
        let mut out = BTreeMap::new();
        let Some(v) = get(root, "selectors") else {
            return out;
        };
        let Some(t) = self.table(v, "[selectors]") else {
            return out;
        };
        for (k, sv) in t {
            let name = k.get_ref().to_string();
            if let Some(s) = self.selector(&name, sv, datasets) {
                out.insert(name, s);
            }
        }
        out
    }

    fn selector(&mut self, name: &str, v: &Val<'_>, datasets: &BTreeMap<String, Dataset>) -> Option<Selector> {
        let ctx = format!("[selectors.{name}]");
        let t = self.table(v, &ctx)?;
        self.check_keys(t, &keys::SELECTOR, &ctx);
        let Some(vv) = get(t, "variants") else {
            self.err(
                &v.span(),
                format!("{ctx} has no `variants`"),
                Some("e.g. variants = { popularity = \"reco_popularity\", cooc = \"reco_cooccurrence\" }".into()),
            );
            return None;
        };
        let vt = self.table(vv, "variants")?;
        let mut variants = BTreeMap::new();
        let models: Vec<&str> = datasets
            .values()
            .filter(|d| d.kind == Kind::Model)
            .map(|d| d.name.as_str())
            .collect();
        for (vk, dv) in vt {
            let ds = self.string(dv, "a variant's dataset")?;
            match datasets.get(&ds) {
                Some(d) if d.kind == Kind::Model => {
                    variants.insert(vk.get_ref().to_string(), ds);
                }
                found => {
                    let what = if found.is_some() {
                        format!("`{ds}` is not a model dataset")
                    } else {
                        format!("there is no dataset `{ds}`")
                    };
                    let hint = match crate::diag::did_you_mean(&ds, models.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "a variant is a dataset with kind = \"model\"".to_string(),
                    };
                    self.err(
                        &dv.span(),
                        format!("variant `{}` of {ctx}: {what}", vk.get_ref()),
                        Some(hint),
                    );
                    return None;
                }
            }
        }
        if variants.is_empty() {
            self.err(&vv.span(), format!("{ctx} has no variants"), None);
            return None;
        }
        let Some(spv) = get(t, "split") else {
            let even = 100 / variants.len();
            let e: Vec<String> = variants.keys().map(|k| format!("{k} = {even}")).collect();
            self.err(
                &v.span(),
                format!("{ctx} has no `split`"),
                Some(format!("e.g. split = {{ {} }} (percent, summing to 100)", e.join(", "))),
            );
            return None;
        };
        let split = self.split(&ctx, spv, &variants)?;
        let unit = match get(t, "unit") {
            Some(u) => self.string(u, "unit")?,
            None => {
                self.err(
                    &v.span(),
                    format!("{ctx} has no `unit`: what is assigned to a variant"),
                    Some("e.g. unit = \"user_id\"".into()),
                );
                return None;
            }
        };
        let salt = match get(t, "salt") {
            Some(s) => self.string(s, "salt")?,
            None => name.to_string(),
        };
        let log = self.assignment_log(name, &ctx, v, get(t, "log"), datasets)?;
        let auto = match get(t, "auto") {
            Some(av) => Some(self.auto(&ctx, av, datasets, &variants)?),
            None => None,
        };
        Some(Selector {
            name: name.to_string(),
            variants,
            split,
            unit,
            salt,
            log,
            auto,
        })
    }

    /// `log`: the HTTP stream the selections are logged into (`NAME_assignments`
    /// unless named), or `false` for none. `Some(None)` is "no log".
    fn assignment_log(
        &mut self,
        name: &str,
        ctx: &str,
        v: &Val<'_>,
        lv: Option<&Val<'_>>,
        datasets: &BTreeMap<String, Dataset>,
    ) -> Option<Option<String>> {
        let (stream, span) = match lv {
            Some(lv) => match lv.get_ref() {
                DeValue::Boolean(false) => return Some(None),
                DeValue::String(s) => (s.to_string(), lv.span()),
                _ => {
                    self.err(
                        &lv.span(),
                        format!("{ctx}: log is the stream the assignments go into, or false"),
                        Some(format!("e.g. log = \"{name}_assignments\"")),
                    );
                    return None;
                }
            },
            None => (format!("{name}_assignments"), v.span()),
        };
        let http_stream = datasets.get(&stream).is_some_and(|d| {
            matches!(&d.job, Job::Stream(s) if s.quarantine_of.is_none() && s.source == crate::model::StreamSource::Http)
        });
        if !http_stream {
            let what = if datasets.contains_key(&stream) {
                format!("`{stream}` is not an HTTP stream")
            } else {
                format!("there is no stream `{stream}`")
            };
            self.err(
                &span,
                format!("{ctx} logs each assignment into a stream, and {what}"),
                Some(format!(
                    "declare [datasets.{stream}] with partition = \"hour\" and stream = {{ event_time = \"time\", id = \"id\" }}, or set log = false"
                )),
            );
            return None;
        }
        Some(Some(stream))
    }

    /// `split = { variant = percent, … }`: every variant, summing to 100.
    fn split(&mut self, ctx: &str, v: &Val<'_>, variants: &BTreeMap<String, String>) -> Option<Vec<(String, u32)>> {
        let t = self.table(v, "split")?;
        let mut split = Vec::new();
        for (k, wv) in t {
            let key = k.get_ref().to_string();
            if !variants.contains_key(&key) {
                let hint = match crate::diag::did_you_mean(&key, variants.keys().map(String::as_str)) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "the variants are: {}",
                        variants.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                };
                self.err(
                    &wv.span(),
                    format!("{ctx}: split names `{key}`, which is not a variant"),
                    Some(hint),
                );
                return None;
            }
            let w = match wv.get_ref() {
                DeValue::Integer(i) => i.as_str().parse::<u32>().ok().filter(|w| *w <= 100),
                _ => None,
            };
            let Some(w) = w else {
                self.err(
                    &wv.span(),
                    format!("{ctx}: the share of `{key}` must be a percent from 0 to 100"),
                    None,
                );
                return None;
            };
            split.push((key, w));
        }
        match crate::selector::check_split(variants.keys().map(String::as_str), &split) {
            Ok(sorted) => Some(sorted),
            Err(e) => {
                let hint = e
                    .contains("no share")
                    .then(|| "give every variant a share (0 turns one off)".to_string());
                self.err(&v.span(), format!("{ctx}: {e}"), hint);
                None
            }
        }
    }

    /// `[selectors.NAME.auto]`: when a variant wins, the split moves to it.
    fn auto(
        &mut self,
        ctx: &str,
        v: &Val<'_>,
        datasets: &BTreeMap<String, Dataset>,
        variants: &BTreeMap<String, String>,
    ) -> Option<AutoPromote> {
        let ctx = format!("{}.auto]", ctx.trim_end_matches(']'));
        let t = self.table(v, &ctx)?;
        self.check_keys(t, &keys::AUTO, &ctx);
        let need = |me: &mut Self, key: &str, example: &str| -> Option<()> {
            if get(t, key).is_none() {
                me.err(
                    &v.span(),
                    format!("{ctx} has no `{key}`"),
                    Some(format!("e.g. {key} = {example}")),
                );
                return None;
            }
            Some(())
        };
        need(self, "dataset", "\"engagement_by_variant\"")?;
        need(self, "metric", "\"plays_per_session\"")?;
        need(self, "min_lift", "0.02")?;
        need(self, "days", "3")?;
        need(self, "to", "90")?;
        let dv = get(t, "dataset")?;
        let dataset = self.string(dv, "the auto-promotion dataset")?;
        match datasets.get(&dataset) {
            None => {
                self.err(&dv.span(), format!("{ctx}: there is no dataset `{dataset}`"), None);
                return None;
            }
            Some(d) if d.granularity != Granularity::Day => {
                self.err(
                    &dv.span(),
                    format!(
                        "{ctx}: `{dataset}` is partitioned by {}; auto-promotion reads daily partitions",
                        d.granularity
                    ),
                    Some("point it at a dataset with partition = \"day\"".into()),
                );
                return None;
            }
            Some(_) => {}
        }
        let metric = self.string(get(t, "metric")?, "the auto-promotion metric")?;
        let number = |v: &Val<'_>| match v.get_ref() {
            DeValue::Integer(i) => i.as_str().parse::<f64>().ok(),
            DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
            _ => None,
        };
        let lv = get(t, "min_lift")?;
        let Some(min_lift) = number(lv).filter(|l| l.is_finite() && *l >= 0.0) else {
            self.err(
                &lv.span(),
                format!("{ctx}: min_lift must be a number ≥ 0 (0.02 is 2%)"),
                None,
            );
            return None;
        };
        let int = |v: &Val<'_>| match v.get_ref() {
            DeValue::Integer(i) => i.as_str().parse::<u64>().ok(),
            _ => None,
        };
        let dv = get(t, "days")?;
        let Some(days) = int(dv).filter(|d| *d >= 1).and_then(|d| u32::try_from(d).ok()) else {
            self.err(&dv.span(), format!("{ctx}: days must be a whole number ≥ 1"), None);
            return None;
        };
        let min_units = match get(t, "min_units") {
            None => 0,
            Some(mv) => match int(mv) {
                Some(n) => n,
                None => {
                    self.err(&mv.span(), format!("{ctx}: min_units must be a whole number"), None);
                    return None;
                }
            },
        };
        let tv = get(t, "to")?;
        let Some(to) = int(tv)
            .filter(|p| (1..=100).contains(p))
            .and_then(|p| u32::try_from(p).ok())
        else {
            self.err(
                &tv.span(),
                format!("{ctx}: to must be the winner's percent, 1 to 100"),
                None,
            );
            return None;
        };
        if variants.len() < 2 {
            self.err(
                &v.span(),
                format!("{ctx}: auto-promotion needs two variants or more"),
                None,
            );
            return None;
        }
        Some(AutoPromote {
            dataset,
            metric,
            min_lift,
            days,
            min_units,
            to,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::load::load_project;

    const BASE: &str = r#"
[project]
name = "m"
start = "2026-01-01"

[datasets.reco_popularity]
partition = "day"
kind = "model"
command = ["true"]

[datasets.reco_cooccurrence]
partition = "day"
kind = "model"
command = ["true"]

[datasets.engagement]
partition = "day"
command = ["true"]

[datasets.reco_assignments]
partition = "hour"
stream = { event_time = "time", id = "id" }
"#;

    fn load(selectors: &str) -> Result<crate::Project, String> {
        let text = format!("{BASE}\n{selectors}");
        load_project(&text, &|_| Err("no file".into())).map_err(|d| d.to_string())
    }

    #[test]
    fn a_selector_loads_with_its_defaults() {
        let p = load(
            r#"
[selectors.reco]
variants = { popularity = "reco_popularity", cooc = "reco_cooccurrence" }
split = { popularity = 50, cooc = 50 }
unit = "user_id"
[selectors.reco.auto]
dataset = "engagement"
metric = "plays_per_session"
min_lift = 0.02
days = 3
min_units = 1000
to = 90
"#,
        )
        .expect("valid");
        let s = &p.selectors["reco"];
        assert_eq!(s.salt, "reco", "the salt defaults to the selector's name");
        assert_eq!(
            s.log.as_deref(),
            Some("reco_assignments"),
            "and the log to NAME_assignments"
        );
        assert_eq!(s.variants["cooc"], "reco_cooccurrence");
        assert_eq!(s.split, vec![("cooc".to_string(), 50), ("popularity".to_string(), 50)]);
        let auto = s.auto.as_ref().expect("auto");
        assert_eq!((auto.days, auto.min_units, auto.to), (3, 1000, 90));
        assert!((auto.min_lift - 0.02).abs() < 1e-12);
    }

    #[test]
    fn bad_selectors_are_located_errors() {
        let variants = r#"variants = { popularity = "reco_popularity", cooc = "reco_cooccurrence" }"#;
        for (body, says) in [
            (
                "variants = { a = \"reco_popularty\" }\nsplit = { a = 100 }\nunit = \"u\"".to_string(),
                "there is no dataset `reco_popularty`",
            ),
            (
                "variants = { a = \"engagement\" }\nsplit = { a = 100 }\nunit = \"u\"".to_string(),
                "`engagement` is not a model dataset",
            ),
            (
                format!("{variants}\nsplit = {{ popularity = 50, cooc = 40 }}\nunit = \"u\""),
                "the split sums to 90, not 100",
            ),
            (
                format!("{variants}\nsplit = {{ popularity = 100 }}\nunit = \"u\""),
                "split has no share for cooc",
            ),
            (
                format!("{variants}\nsplit = {{ popularity = 50, coc = 50 }}\nunit = \"u\""),
                "did you mean `cooc`?",
            ),
            (
                format!("{variants}\nsplit = {{ popularity = 50, cooc = 50 }}"),
                "has no `unit`",
            ),
            (
                format!("{variants}\nsplit = {{ popularity = 50, cooc = 50 }}\nunit = \"u\"\nsalts = \"x\""),
                "salts",
            ),
            (
                format!(
                    "{variants}\nsplit = {{ popularity = 50, cooc = 50 }}\nunit = \"u\"\n[selectors.reco.auto]\ndataset = \"engagement\"\nmetric = \"m\"\nmin_lift = 0.02\ndays = 0\nto = 90"
                ),
                "days must be a whole number ≥ 1",
            ),
            (
                format!("{variants}\nsplit = {{ popularity = 50, cooc = 50 }}\nunit = \"u\"\nlog = \"plays\""),
                "there is no stream `plays`",
            ),
            (
                format!("{variants}\nsplit = {{ popularity = 50, cooc = 50 }}\nunit = \"u\"\nlog = \"engagement\""),
                "`engagement` is not an HTTP stream",
            ),
            (
                format!(
                    "{variants}\nsplit = {{ popularity = 50, cooc = 50 }}\nunit = \"u\"\n[selectors.reco.auto]\ndataset = \"reco_assignments\"\nmetric = \"m\"\nmin_lift = 0.02\ndays = 3\nto = 90"
                ),
                "auto-promotion reads daily partitions",
            ),
        ] {
            let err = load(&format!("[selectors.reco]\n{body}\n")).expect_err(&body);
            assert!(err.contains(says), "{body}\n→ {err}");
            let line: usize = err
                .split("weir.toml:")
                .nth(1)
                .and_then(|r| r.split(':').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            assert!(line > BASE.lines().count(), "located in the [selectors] table: {err}");
        }
    }

    #[test]
    fn a_selector_without_its_stream_says_how_to_declare_it() {
        let text = BASE.replace("[datasets.reco_assignments]", "[datasets.other_stream]");
        let sel = "[selectors.reco]\nvariants = { a = \"reco_popularity\" }\nsplit = { a = 100 }\nunit = \"u\"\n";
        let err = load_project(&format!("{text}\n{sel}"), &|_| Err("no file".into()))
            .map(|_| ())
            .expect_err("no stream");
        let err = err.to_string();
        assert!(err.contains("there is no stream `reco_assignments`"), "{err}");
        assert!(err.contains("or set log = false"), "{err}");
        let off = format!("{text}\n{sel}log = false\n");
        let p = load_project(&off, &|_| Err("no file".into())).expect("log = false");
        assert_eq!(p.selectors["reco"].log, None);
    }
}
