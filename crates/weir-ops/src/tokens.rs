//! API tokens: minted here (256 random bits, shown once), stored as their
//! SHA-256 only, verified cheaply and in constant time.
//!
//! [`Role`] is the one definition of the roles; which route needs which role
//! is the server's role table.

use crate::{Result, UserError};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use subtle::ConstantTimeEq;
use weir_catalog::{Catalog, TokenRecord};

/// What a token may do. `Viewer < Operator < Admin`, each a superset of the
/// one before; `Ingest` stands apart (it may only post events to its streams).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Ingest,
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Admin, Role::Ingest];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether a holder of `self` may do what needs `needed`: the ladder
    /// viewer < operator < admin; `ingest` only for ingest.
    pub fn allows(self, needed: Role) -> bool {
        match (self, needed) {
            (Role::Ingest, Role::Ingest) => true,
            (Role::Ingest, _) | (_, Role::Ingest) => self >= Role::Operator && needed == Role::Ingest,
            _ => self >= needed,
        }
    }
}

/// The hex SHA-256 of a token: what the catalog stores.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A freshly minted token: the secret (shown once) and what was stored.
#[derive(Debug, Serialize)]
pub struct Minted {
    pub token: String,
    pub record: TokenRecord,
}

/// What `weir token create` asks for.
#[derive(Debug)]
pub struct CreateArgs<'a> {
    pub name: &'a str,
    pub role: &'a str,
    pub expires: Option<&'a str>,
    pub streams: &'a [String],
    pub by: &'a str,
}

/// Mints a token: 256 bits from the OS's random source, `weir_` + hex.
pub async fn create(catalog: &dyn Catalog, a: &CreateArgs<'_>, now_ms: i64) -> Result<Minted> {
    let role = Role::parse(a.role).ok_or_else(|| {
        UserError::new(
            format!("unknown role `{}`", a.role),
            "roles: viewer, operator, admin, ingest",
        )
    })?;
    if a.name.is_empty() || !a.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(UserError::new(
            format!("`{}` is not a token name", a.name),
            "use letters, digits, `-`, `_` and `.`",
        )
        .into());
    }
    if role != Role::Ingest && !a.streams.is_empty() {
        return Err(UserError::new(
            "--stream applies to ingest tokens only",
            "drop --stream, or use --role ingest",
        )
        .into());
    }
    let expires_at_ms = match a.expires {
        None => None,
        Some(s) => {
            let span = weir_core::Span::parse(s)
                .ok()
                .filter(|sp| matches!(sp, weir_core::Span::Seconds(x) if *x > 0))
                .ok_or_else(|| UserError::new(format!("--expires `{s}` is not a duration"), "e.g. 30d, 12h"))?;
            let weir_core::Span::Seconds(secs) = span else {
                unreachable!("filtered to seconds above")
            };
            Some(now_ms + secs * 1000)
        }
    };
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| crate::OpsError::Io(std::io::Error::other(format!("no random source: {e}"))))?;
    let token = format!("weir_{}", hex::encode(bytes));
    let record = TokenRecord {
        name: a.name.to_string(),
        role: role.as_str().to_string(),
        hash: hash(&token),
        streams: a.streams.to_vec(),
        created_at_ms: now_ms,
        created_by: a.by.to_string(),
        expires_at_ms,
        revoked_at_ms: None,
    };
    catalog.create_token(&record, now_ms).await.map_err(|e| match e {
        weir_catalog::CatalogError::TokenExists(n) => UserError::new(
            format!("a token named `{n}` is active"),
            format!("`weir token revoke {n}` first, or pick another name"),
        )
        .into(),
        e => crate::OpsError::Catalog(e),
    })?;
    Ok(Minted { token, record })
}

/// Verified tokens by hash, so a request costs one SHA-256 and a map lookup.
/// Misses go to the catalog (and are not cached, so a token created by
/// another process works at once); [`TokenCache::clear`] on a revocation.
#[derive(Clone, Default)]
pub struct TokenCache {
    known: Arc<RwLock<HashMap<String, TokenRecord>>>,
}

impl TokenCache {
    /// The active token `presented` names, if any.
    pub async fn verify(&self, catalog: &dyn Catalog, presented: &str, now_ms: i64) -> Result<Option<TokenRecord>> {
        let h = hash(presented);
        let cached = self.known.read().ok().and_then(|m| m.get(&h).cloned());
        let record = match cached {
            Some(r) => Some(r),
            None => {
                let r = catalog.token(&h).await?;
                if let (Some(r), Ok(mut m)) = (&r, self.known.write()) {
                    m.insert(h.clone(), r.clone());
                }
                r
            }
        };
        Ok(record.filter(|r| bool::from(r.hash.as_bytes().ct_eq(h.as_bytes())) && r.active(now_ms)))
    }

    /// Forgets every cached token (a token was revoked somewhere).
    pub fn clear(&self) {
        if let Ok(mut m) = self.known.write() {
            m.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_form_a_ladder_and_ingest_stands_apart() {
        use Role::*;
        assert!(Admin.allows(Operator) && Admin.allows(Viewer) && Operator.allows(Viewer));
        assert!(!Viewer.allows(Operator) && !Operator.allows(Admin));
        assert!(!Ingest.allows(Viewer), "ingest reads nothing");
        assert!(Ingest.allows(Ingest) && Operator.allows(Ingest) && Admin.allows(Ingest));
        assert!(!Viewer.allows(Ingest));
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }

    #[tokio::test]
    async fn minted_tokens_verify_until_revoked_or_expired() {
        let dir = tempfile::tempdir().expect("tmp");
        let cat = weir_catalog::SqlCatalog::open(&format!("sqlite://{}", dir.path().join("c.db").display()))
            .await
            .expect("catalog");
        let args = CreateArgs {
            name: "ci",
            role: "operator",
            expires: Some("1h"),
            streams: &[],
            by: "user:t",
        };
        let m = create(&cat, &args, 1_000).await.expect("mint");
        assert!(m.token.starts_with("weir_") && m.token.len() == 5 + 64);
        assert_ne!(m.record.hash, m.token, "only the hash is stored");
        let cache = TokenCache::default();
        let ok = cache.verify(&cat, &m.token, 2_000).await.expect("verify");
        assert_eq!(ok.map(|r| r.role), Some("operator".to_string()));
        assert!(cache.verify(&cat, "weir_00", 2_000).await.expect("verify").is_none());
        assert!(
            cache
                .verify(&cat, &m.token, 1_000 + 3_600_000)
                .await
                .expect("verify")
                .is_none(),
            "expired"
        );
        assert!(create(&cat, &args, 1_500).await.is_err(), "name taken");
        cat.revoke_token("ci", 3_000).await.expect("revoke");
        cache.clear();
        assert!(
            cache.verify(&cat, &m.token, 3_001).await.expect("verify").is_none(),
            "revoked"
        );
        let bad = CreateArgs { role: "root", ..args };
        assert!(create(&cat, &bad, 1).await.is_err());
    }
}
