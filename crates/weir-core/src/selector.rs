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

use sha2::{Digest, Sha256};

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
}
