//! The `_SUCCESS` manifest: everything needed to trust, read and re-catalog an
//! instance without the catalog (disaster recovery reads these).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The JSON document in `_SUCCESS`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub manifest_version: u32,
    pub dataset: String,
    pub version: u32,
    pub fingerprint: String,
    pub partition: String,
    pub partition_index: i64,
    pub run_id: String,
    pub format: String,
    pub files: Vec<FileEntry>,
    pub rows: Option<i64>,
    /// The Arrow schema, as text, for tabular formats.
    pub schema: Option<String>,
    pub counters: BTreeMap<String, i64>,
    /// Per column: null fraction, min, max and approximate distinct count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<serde_json::Value>,
    /// A metrics dataset's measurements.
    /// NaN stands for null (NaN or ±infinity measured), written as JSON `null`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", with = "nullable")]
    pub metrics: BTreeMap<String, f64>,
    /// The dataset's checks on this instance, as evaluated before sealing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<weir_core::check::CheckResult>,
    pub inputs: Vec<ManifestInput>,
    pub created_at: String,
}

/// One data file of an instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileEntry {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// One input instance, as recorded in lineage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestInput {
    pub dataset: String,
    pub version: u32,
    pub partition: String,
    pub partition_index: i64,
}

impl Manifest {
    /// A manifest read back from `path`'s bytes.
    pub fn parse(bytes: &[u8], path: &str) -> crate::Result<Manifest> {
        serde_json::from_slice(bytes).map_err(|e| crate::LakeError::BadManifest {
            path: path.to_string(),
            reason: e.to_string(),
        })
    }

    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Metrics as JSON: a non-finite number is written as `null` and read back as
/// NaN, so every manifest weir writes parses back.
mod nullable {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(m: &BTreeMap<String, f64>, s: S) -> Result<S::Ok, S::Error> {
        let out: BTreeMap<&String, Option<f64>> = m.iter().map(|(k, v)| (k, v.is_finite().then_some(*v))).collect();
        out.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
        let m = BTreeMap::<String, Option<f64>>::deserialize(d)?;
        Ok(m.into_iter().map(|(k, v)| (k, v.unwrap_or(f64::NAN))).collect())
    }
}
