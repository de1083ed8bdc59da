//! Sticky assignment of units (users, sessions) to a selector's variants.
//!
//! Weighted rendezvous hashing: each variant scores a unit by
//! `-ln(u) / weight`, where `u` in (0, 1) comes from SHA-256 of
//! `(salt, unit, variant)`, and the lowest score wins. So:
//! - a unit's variant depends only on the salt, the unit and the split;
//! - each variant gets its weight's share of units;
//! - when the split changes, units move only *to* variants whose share grew
//!   and *from* those whose share shrank, never between two unchanged ones:
//!   as few move as the new split demands, in expectation.

use crate::model::AutoPromote;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// A uniform number in (0, 1) for this unit and variant.
fn uniform(salt: &str, unit: &str, variant: &str) -> f64 {
    let mut h = Sha256::new();
    for part in [salt, unit, variant] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    // 53 bits, offset by a half so that neither 0 nor 1 occurs.
    ((u64::from_le_bytes(first) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// The variant `unit` is assigned to under `split` (variant, weight), or
/// `None` when every weight is 0.
pub fn assign<'a>(salt: &str, unit: &str, split: &'a [(String, u32)]) -> Option<&'a str> {
    split
        .iter()
        .filter(|(_, w)| *w > 0)
        .map(|(v, w)| (-uniform(salt, unit, v).ln() / f64::from(*w), v.as_str()))
        .min_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)))
        .map(|(_, v)| v)
}

/// `split` checked against a selector's variants: a share for every
/// variant and for nothing else, summing to 100. Returns it sorted by
/// variant, or what is wrong (naming the variants).
pub fn check_split<'v>(
    variants: impl IntoIterator<Item = &'v str>,
    split: &[(String, u32)],
) -> Result<Vec<(String, u32)>, String> {
    let variants: Vec<&str> = variants.into_iter().collect();
    let mut out: Vec<(String, u32)> = Vec::new();
    for (v, w) in split {
        if !variants.contains(&v.as_str()) {
            return Err(format!(
                "`{v}` is not a variant (the variants are: {})",
                variants.join(", ")
            ));
        }
        if out.iter().any(|(o, _)| o == v) {
            return Err(format!("`{v}` has two shares"));
        }
        if *w > 100 {
            return Err(format!("the share of `{v}` must be a percent from 0 to 100"));
        }
        out.push((v.clone(), *w));
    }
    let missing: Vec<&str> = variants
        .iter()
        .copied()
        .filter(|v| !out.iter().any(|(o, _)| o == v))
        .collect();
    if !missing.is_empty() {
        return Err(format!("split has no share for {}", missing.join(", ")));
    }
    let sum: u32 = out.iter().map(|(_, w)| w).sum();
    if sum != 100 {
        return Err(format!("the split sums to {sum}, not 100"));
    }
    out.sort();
    Ok(out)
}

/// The split after `winner` is promoted to `to` percent: the rest is shared
/// evenly among the others (what does not divide goes to the first by name).
pub fn promoted(split: &[(String, u32)], winner: &str, to: u32) -> Vec<(String, u32)> {
    let to = to.min(100);
    let others = split.iter().filter(|(v, _)| v != winner).count() as u32;
    let each = (100 - to).checked_div(others).unwrap_or(0);
    let mut extra = (100 - to).checked_rem(others).unwrap_or(0);
    let mut out: Vec<(String, u32)> = split
        .iter()
        .map(|(v, _)| {
            if v == winner {
                (v.clone(), to)
            } else {
                let w = each + u32::from(extra > 0);
                extra = extra.saturating_sub(1);
                (v.clone(), w)
            }
        })
        .collect();
    out.sort();
    out
}

/// One variant's figures on one day of the auto-promotion dataset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figure {
    /// The metric (e.g. plays per session).
    pub value: f64,
    /// How many units the day measured for the variant.
    pub units: u64,
}

/// What auto-promotion decided.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Move the split: `winner` beat every other variant by `min_lift` on
    /// each of `days` (partitions, oldest first); `lifts` is the smallest
    /// lift of each day.
    Promote {
        winner: String,
        split: Vec<(String, u32)>,
        days: Vec<i64>,
        lifts: Vec<f64>,
    },
    /// Leave the split; why.
    Hold(String),
}

/// Auto-promotion over the latest `auto.days` daily partitions of its
/// dataset (`days`: partition → variant → figure; only the days that count,
/// i.e. after the split last changed). They must be consecutive, each must
/// measure every variant with at least `min_units` units, and one variant
/// must beat every other by at least `min_lift` (relative: `(w - o) / o`) on
/// all of them. A variant that already has `to` percent or more is not
/// promoted again.
pub fn decide(auto: &AutoPromote, split: &[(String, u32)], days: &BTreeMap<i64, BTreeMap<String, Figure>>) -> Verdict {
    let need = auto.days as usize;
    let recent: Vec<(&i64, &BTreeMap<String, Figure>)> = days.iter().rev().take(need).collect();
    if recent.len() < need {
        return Verdict::Hold(format!(
            "{} of the {need} days needed since the split last changed",
            recent.len()
        ));
    }
    if recent.windows(2).any(|w| *w[0].0 != *w[1].0 + 1) {
        return Verdict::Hold(format!("the latest {need} days are not consecutive"));
    }
    let mut winner: Option<&str> = None;
    let mut lifts = Vec::new();
    for (p, figures) in recent.iter().rev() {
        for (v, _) in split {
            match figures.get(v) {
                None => return Verdict::Hold(format!("partition {p} has no figures for `{v}`")),
                Some(f) if f.units < auto.min_units => {
                    return Verdict::Hold(format!(
                        "partition {p}: `{v}` has {} units, under min_units = {}",
                        f.units, auto.min_units
                    ));
                }
                Some(f) if !f.value.is_finite() => {
                    return Verdict::Hold(format!("partition {p}: `{v}`'s {} is not a number", auto.metric));
                }
                Some(_) => {}
            }
        }
        let best = split
            .iter()
            .filter_map(|(v, _)| figures.get(v).map(|f| (v.as_str(), f.value)))
            .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(a.0)));
        let Some((best, value)) = best else {
            return Verdict::Hold("no variants".into());
        };
        if winner.is_some_and(|w| w != best) {
            return Verdict::Hold(format!("no variant led on every one of the latest {need} days"));
        }
        winner = Some(best);
        let lift = split
            .iter()
            .filter(|(v, _)| v != best)
            .filter_map(|(v, _)| figures.get(v))
            .map(|o| lift(value, o.value))
            .fold(f64::INFINITY, f64::min);
        if lift < auto.min_lift {
            return Verdict::Hold(format!(
                "partition {p}: `{best}` leads by {:.2}%, under min_lift = {:.2}%",
                lift * 100.0,
                auto.min_lift * 100.0
            ));
        }
        lifts.push(lift);
    }
    let Some(winner) = winner else {
        return Verdict::Hold("no days".into());
    };
    if split.iter().any(|(v, w)| v == winner && *w >= auto.to) {
        return Verdict::Hold(format!("`{winner}` already has {}% or more", auto.to));
    }
    Verdict::Promote {
        winner: winner.to_string(),
        split: promoted(split, winner, auto.to),
        days: recent.iter().rev().map(|(p, _)| **p).collect(),
        lifts,
    }
}

/// The relative lift of `w` over `o`: infinite over a zero, none when both are zero.
fn lift(w: f64, o: f64) -> f64 {
    if o > 0.0 {
        (w - o) / o
    } else if w > o {
        f64::INFINITY
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &[(&str, u32)]) -> Vec<(String, u32)> {
        s.iter().map(|(v, w)| (v.to_string(), *w)).collect()
    }

    fn shares(sp: &[(String, u32)], n: usize) -> Vec<(String, f64)> {
        sp.iter()
            .map(|(v, _)| {
                let k = (0..n)
                    .filter(|i| assign("reco", &format!("u{i}"), sp) == Some(v.as_str()))
                    .count();
                (v.clone(), k as f64 / n as f64)
            })
            .collect()
    }

    #[test]
    fn assignment_is_sticky_and_follows_the_weights() {
        let even = split(&[("popularity", 50), ("cooc", 50)]);
        assert_eq!(assign("reco", "u123", &even), assign("reco", "u123", &even));
        for (sp, expected) in [
            (even.clone(), [0.5, 0.5]),
            (split(&[("popularity", 90), ("cooc", 10)]), [0.9, 0.1]),
        ] {
            for ((v, got), want) in shares(&sp, 20_000).into_iter().zip(expected) {
                assert!((got - want).abs() < 0.015, "{v}: {got} vs {want}");
            }
        }
        // Another salt is another assignment.
        let moved = (0..2000)
            .filter(|i| {
                let u = format!("u{i}");
                assign("reco", &u, &even) != assign("other", &u, &even)
            })
            .count();
        assert!((800..1200).contains(&moved), "{moved}");
    }

    #[test]
    fn a_split_change_moves_as_few_units_as_it_must() {
        let before = split(&[("popularity", 50), ("cooc", 50)]);
        let after = split(&[("popularity", 90), ("cooc", 10)]);
        let n = 20_000;
        let mut moved = 0;
        for i in 0..n {
            let u = format!("u{i}");
            let (a, b) = (assign("reco", &u, &before), assign("reco", &u, &after));
            if a != b {
                moved += 1;
                assert_eq!(
                    (a, b),
                    (Some("cooc"), Some("popularity")),
                    "units only move to the variant that grew"
                );
            }
        }
        let f = moved as f64 / n as f64;
        assert!((f - 0.4).abs() < 0.015, "40% must move, {f} did");
        // Three variants: growing one never swaps units between the others.
        let three = split(&[("a", 1), ("b", 1), ("c", 1)]);
        let grown = split(&[("a", 1), ("b", 1), ("c", 3)]);
        for i in 0..n {
            let u = format!("u{i}");
            let (x, y) = (assign("s", &u, &three), assign("s", &u, &grown));
            assert!(x == y || y == Some("c"), "{u}: {x:?} → {y:?}");
        }
    }

    #[test]
    fn zero_weights_are_never_chosen() {
        let sp = split(&[("a", 0), ("b", 5)]);
        assert!((0..500).all(|i| assign("s", &format!("u{i}"), &sp) == Some("b")));
        assert_eq!(assign("s", "u", &split(&[("a", 0)])), None);
        assert_eq!(assign("s", "u", &[]), None);
    }

    #[test]
    fn splits_are_checked_against_the_variants() {
        let vs = ["cooc", "popularity"];
        assert_eq!(
            check_split(vs, &split(&[("popularity", 90), ("cooc", 10)])),
            Ok(split(&[("cooc", 10), ("popularity", 90)]))
        );
        for (sp, says) in [
            (split(&[("popularity", 90)]), "no share for cooc"),
            (split(&[("popularity", 90), ("cooc", 20)]), "sums to 110"),
            (split(&[("popular", 90), ("cooc", 10)]), "`popular` is not a variant"),
            (split(&[("cooc", 50), ("cooc", 50)]), "two shares"),
        ] {
            let e = check_split(vs, &sp).expect_err(says);
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn a_promotion_shares_the_rest_evenly() {
        let three = split(&[("a", 34), ("b", 33), ("c", 33)]);
        assert_eq!(promoted(&three, "b", 90), split(&[("a", 5), ("b", 90), ("c", 5)]));
        assert_eq!(promoted(&three, "a", 91), split(&[("a", 91), ("b", 5), ("c", 4)]));
        let two = split(&[("cooc", 50), ("popularity", 50)]);
        assert_eq!(promoted(&two, "cooc", 90), split(&[("cooc", 90), ("popularity", 10)]));
    }

    fn auto(days: u32) -> AutoPromote {
        AutoPromote {
            dataset: "engagement".into(),
            metric: "plays_per_session".into(),
            min_lift: 0.02,
            days,
            min_units: 100,
            to: 90,
        }
    }

    fn day(figs: &[(&str, f64, u64)]) -> BTreeMap<String, Figure> {
        figs.iter()
            .map(|(v, value, units)| {
                (
                    v.to_string(),
                    Figure {
                        value: *value,
                        units: *units,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn a_variant_that_leads_every_day_by_the_lift_is_promoted() {
        let sp = split(&[("cooc", 50), ("popularity", 50)]);
        let good = |p: i64| (p, day(&[("cooc", 3.3, 500), ("popularity", 3.0, 480)]));
        let days: BTreeMap<_, _> = [good(10), good(11), good(12)].into();
        match decide(&auto(3), &sp, &days) {
            Verdict::Promote {
                winner,
                split: s,
                days,
                lifts,
            } => {
                assert_eq!(winner, "cooc");
                assert_eq!(s, split(&[("cooc", 90), ("popularity", 10)]));
                assert_eq!(days, vec![10, 11, 12]);
                assert!(lifts.iter().all(|l| (l - 0.1).abs() < 1e-9), "{lifts:?}");
            }
            v => panic!("{v:?}"),
        }
        // Already promoted: nothing more to do.
        let after = split(&[("cooc", 90), ("popularity", 10)]);
        assert!(matches!(decide(&auto(3), &after, &days), Verdict::Hold(r) if r.contains("already")));
        // Only the latest days count: an old loss does not matter.
        let mut longer = days.clone();
        longer.insert(9, day(&[("cooc", 1.0, 500), ("popularity", 3.0, 480)]));
        assert!(matches!(decide(&auto(3), &sp, &longer), Verdict::Promote { .. }));
    }

    #[test]
    fn promotion_holds_without_enough_evidence() {
        let sp = split(&[("cooc", 50), ("popularity", 50)]);
        let fig = |c: f64, units: u64| day(&[("cooc", c, units), ("popularity", 3.0, 480)]);
        for (days, says) in [
            (vec![(10, fig(3.3, 500)), (11, fig(3.3, 500))], "2 of the 3 days"),
            (
                vec![(10, fig(3.3, 500)), (11, fig(3.3, 500)), (13, fig(3.3, 500))],
                "not consecutive",
            ),
            (
                vec![(10, fig(3.3, 500)), (11, fig(3.3, 50)), (12, fig(3.3, 500))],
                "under min_units",
            ),
            (
                vec![(10, fig(3.3, 500)), (11, fig(3.03, 500)), (12, fig(3.3, 500))],
                "under min_lift",
            ),
            (
                vec![(10, fig(3.3, 500)), (11, fig(2.0, 500)), (12, fig(3.3, 500))],
                "no variant led",
            ),
            (
                vec![
                    (10, fig(3.3, 500)),
                    (11, day(&[("cooc", 3.3, 500)])),
                    (12, fig(3.3, 500)),
                ],
                "no figures for `popularity`",
            ),
        ] {
            let days: BTreeMap<_, _> = days.into_iter().collect();
            match decide(&auto(3), &sp, &days) {
                Verdict::Hold(r) => assert!(r.contains(says), "{r}"),
                v => panic!("{says}: {v:?}"),
            }
        }
    }
}
