//! Records of the service layer: API tokens, the audit log, paused datasets,
//! cancel requests and the change feed that wakes `weir serve`.

use serde::{Deserialize, Serialize};

/// An API token as stored: never the token itself, only its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenRecord {
    pub name: String,
    /// `viewer`, `operator`, `admin` or `ingest`.
    pub role: String,
    /// Hex SHA-256 of the token.
    #[serde(skip)]
    pub hash: String,
    /// Streams an `ingest` token may post to.
    pub streams: Vec<String>,
    pub created_at_ms: i64,
    pub created_by: String,
    pub expires_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
}

impl TokenRecord {
    /// Neither revoked nor expired at `now_ms`.
    pub fn active(&self, now_ms: i64) -> bool {
        self.revoked_at_ms.is_none() && self.expires_at_ms.is_none_or(|e| e > now_ms)
    }
}

/// One mutating call, through the API or the CLI, kept forever.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Assigned by the catalog (0 when recording).
    pub seq: i64,
    pub at_ms: i64,
    /// A token's name (`token:ci`) or the OS user (`user:alice`).
    pub actor: String,
    /// `api` or `cli`.
    pub via: String,
    /// The verb: `deploy`, `revert`, `invalidate`, …
    pub action: String,
    /// The arguments, as JSON.
    pub args: String,
    /// `ok`, or the error's message.
    pub outcome: String,
}

/// A paused dataset, or a whole paused environment (`dataset` is `None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pause {
    pub env: String,
    pub dataset: Option<String>,
    pub by: String,
    pub reason: Option<String>,
    pub at_ms: i64,
}

/// One entry of the change feed: something other processes must react to
/// (a deploy, an alias move, an invalidation, a restore, an acceptance, a
/// pause, a resume, a cancel request). The catalog appends these itself, in
/// the same transaction as the change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Change {
    pub seq: i64,
    pub at_ms: i64,
    /// `deploy`, `alias`, `invalidate`, `trash`, `accept`, `pause`, `resume`, `cancel`,
    /// `token`, `selector` (a split change: `dataset` is the selector).
    pub kind: String,
    pub env: Option<String>,
    pub dataset: Option<String>,
    pub detail: Option<String>,
}

/// A build claim that is held now: a run in progress somewhere.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Claim {
    pub key: crate::InstanceKey,
    pub run_id: String,
    /// The process that holds it (`pid:uuid`).
    pub owner: String,
    pub expires_at_ms: i64,
}

/// A partition that missed its SLA in an environment (kept after it
/// recovers, so the miss is alerted once and its recovery once).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaMiss {
    pub env: String,
    pub dataset: String,
    pub partition: i64,
    pub partition_key: String,
    /// The version that was due (the environment's deployed one).
    pub version: u32,
    pub deadline_ms: i64,
    pub missed_at_ms: i64,
    pub recovered_at_ms: Option<i64>,
}
