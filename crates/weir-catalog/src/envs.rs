//! What the catalog records about environments: deployments, aliases and
//! their moves, the trash, and acceptances of blocked instances.

use crate::InstanceKey;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One deployment of an environment: a snapshot of the definitions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Deployment {
    pub env: String,
    /// 1, 2, … per environment.
    pub seq: u32,
    pub deployed_at_ms: i64,
    pub message: Option<String>,
    /// Build only partitions inside this window before now (e.g. `3d`).
    pub window: Option<String>,
    /// The definitions: project-relative path → content (`weir.toml`, SQL, scripts).
    pub files: BTreeMap<String, String>,
    /// Dataset → version number deployed.
    pub versions: BTreeMap<String, u32>,
}

/// Where an environment's consumers read a dataset: the serving pointer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alias {
    pub env: String,
    pub dataset: String,
    pub version: u32,
    /// A pinned alias does not advance by itself.
    pub pinned: bool,
    pub updated_at_ms: i64,
}

/// One move of an alias, kept forever.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AliasMove {
    pub env: String,
    pub dataset: String,
    pub seq: u32,
    pub from_version: Option<u32>,
    pub to_version: u32,
    pub pinned: bool,
    pub kind: MoveKind,
    pub reason: Option<String>,
    pub at_ms: i64,
}

/// Why an alias moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum MoveKind {
    /// The deployed version became complete over its serve window.
    Advance,
    /// Moved back to an earlier version (and pinned there).
    Revert,
    /// Pinned by hand.
    Pin,
    /// Unpinned by hand, or by a deployment that changes the dataset.
    Unpin,
}

impl MoveKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MoveKind::Advance => "advance",
            MoveKind::Revert => "revert",
            MoveKind::Pin => "pin",
            MoveKind::Unpin => "unpin",
        }
    }

    /// Reads a stored kind; `None` for one this weir does not know.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "advance" | "promote" => MoveKind::Advance,
            "revert" => MoveKind::Revert,
            "pin" => MoveKind::Pin,
            "unpin" => MoveKind::Unpin,
            _ => return None,
        })
    }
}

impl std::fmt::Display for MoveKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An invalidated instance, kept until `weir gc` deletes its files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TrashRecord {
    pub key: InstanceKey,
    pub partition_key: String,
    pub run_id: String,
    /// Where the instance lived before it was moved to the trash.
    pub location: String,
    pub trash_id: String,
    pub reason: Option<String>,
    pub trashed_at_ms: i64,
}

/// A recorded override of a blocked instance's checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Acceptance {
    pub key: InstanceKey,
    /// The run whose instance was accepted.
    pub run_id: String,
    pub reason: String,
    /// Who accepted it (the OS user).
    pub by: String,
    /// The failing checks that were overridden.
    pub checks: Vec<String>,
    pub at_ms: i64,
}

/// One change of a selector's split in one environment, kept forever (like
/// an alias's moves). The latest is the split in force; with none, the
/// declared split is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SplitChange {
    pub env: String,
    pub selector: String,
    /// 1, 2, … per environment and selector.
    pub seq: u32,
    /// Variant → percent, summing to 100.
    pub split: BTreeMap<String, u32>,
    /// `set` (by hand), `auto` (auto-promotion) or `reset` (back to the declared split).
    pub kind: String,
    pub reason: Option<String>,
    /// Who made it (an OS user, a token's name, or `auto`).
    pub by: String,
    pub at_ms: i64,
}
