//! What changed between the versions of a dataset, read from the canonical
//! specs their fingerprints hashed.

use crate::{Result, UserError};
use serde::{Deserialize, Serialize};
use weir_catalog::Catalog;

/// One version of a dataset, and what changed since the one before.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionRow {
    pub version: u32,
    pub fingerprint: String,
    pub created_at_ms: i64,
    /// Committed instances.
    pub complete: usize,
    /// Readable paths of the spec that differ (`job.sql`, `upstream plays changed`).
    pub changed: Vec<String>,
}

/// Every version of `dataset`, oldest first.
pub async fn versions(catalog: &dyn Catalog, dataset: &str) -> Result<Vec<VersionRow>> {
    let records = catalog.versions(dataset).await?;
    if records.is_empty() {
        return Err(UserError::new(
            format!("`{dataset}` has no versions"),
            "`weir deploy` or `weir run` records the current definitions' versions",
        )
        .into());
    }
    let mut rows = Vec::new();
    let mut prev: Option<serde_json::Value> = None;
    for r in &records {
        let spec: serde_json::Value = serde_json::from_str(&r.spec).unwrap_or_default();
        let changed = prev
            .as_ref()
            .map(|pv| spec_changes(pv, &spec))
            .unwrap_or_else(|| vec!["first version".into()]);
        rows.push(VersionRow {
            version: r.number,
            fingerprint: weir_core::fingerprint::short(&r.fingerprint).to_string(),
            created_at_ms: r.created_at_ms,
            complete: catalog.present(dataset, r.number).await?.len(),
            changed,
        });
        prev = Some(spec);
    }
    Ok(rows)
}

/// What differs between two canonical specs, as readable paths (`job.sql`,
/// `inputs[0].fingerprint` becomes "upstream version of plays").
fn spec_changes(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_into("", a, b, &mut out);
    let upstream: Vec<String> = match (a.get("inputs"), b.get("inputs")) {
        (Some(serde_json::Value::Array(x)), Some(serde_json::Value::Array(y))) => x
            .iter()
            .zip(y)
            .filter(|(i, j)| i.get("fingerprint") != j.get("fingerprint"))
            .filter_map(|(_, j)| {
                j.get("dataset")
                    .and_then(|d| d.as_str())
                    .map(|d| format!("upstream {d} changed"))
            })
            .collect(),
        _ => Vec::new(),
    };
    out.retain(|p| !p.ends_with(".fingerprint"));
    out.extend(upstream);
    out
}

fn diff_into(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                diff_into(
                    &p,
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                diff_into(&format!("{path}[{i}]"), u, v, out);
            }
        }
        _ if a != b => out.push(path.to_string()),
        _ => {}
    }
}
