//! The contract suite on the SQLite catalog (a real file, WAL mode), plus
//! SQLite-specific behaviour: migrations are idempotent and two handles on one
//! file see one truth.

use weir_catalog::{Catalog, SqliteCatalog};

struct Fresh {
    cat: SqliteCatalog,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Fresh {
    type Target = SqliteCatalog;
    fn deref(&self) -> &SqliteCatalog {
        &self.cat
    }
}

async fn fresh() -> Fresh {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("catalog.db").display());
    Fresh {
        cat: SqliteCatalog::open(&url).await.expect("open"),
        _dir: dir,
    }
}

mod contract {
    use super::*;
    crate::contract_suite!(async { fresh().await.into_dyn() });
}

impl Fresh {
    fn into_dyn(self) -> FreshDyn {
        FreshDyn(self)
    }
}

/// Keeps the temp dir alive while the suite uses the catalog as `&dyn Catalog`.
struct FreshDyn(Fresh);

impl std::ops::Deref for FreshDyn {
    type Target = dyn Catalog;
    fn deref(&self) -> &(dyn Catalog + 'static) {
        &self.0.cat
    }
}

#[tokio::test]
async fn reopening_keeps_data_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    let a = SqliteCatalog::open(&url).await.expect("open");
    a.register_version("x", "f", "{}", 1).await.expect("register");
    let b = SqliteCatalog::open(&url).await.expect("reopen");
    assert_eq!(b.version_number("x", "f").await.expect("lookup"), Some(1));
    assert!(
        b.claim(&crate::contract::key("x", 1, 1), "r", "w", 0, 10_000)
            .await
            .expect("claim")
    );
    assert!(
        !a.claim(&crate::contract::key("x", 1, 1), "r2", "w2", 1, 10_000)
            .await
            .expect("claim"),
        "both handles share claims"
    );
}

#[tokio::test]
async fn bad_urls_are_user_errors() {
    let err = weir_catalog::open("mysql://u:secret@h/db")
        .await
        .err()
        .expect("unsupported");
    assert!(!err.to_string().contains("secret"), "{err}");
}
