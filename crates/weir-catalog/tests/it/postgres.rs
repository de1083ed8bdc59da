//! The contract suite on the PostgreSQL catalog, against a real server:
//! `./scripts/test` starts a throwaway cluster and sets `WEIR_TEST_PG_URL`.
//! Each test gets a database of its own, dropped when it ends. Plus what
//! only a server shows: two processes migrating at once.

use weir_catalog::{Catalog, Dialect, SqlCatalog};

/// The server's URL, or a failure that says how to get one.
fn server() -> String {
    std::env::var("WEIR_TEST_PG_URL").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| {
        panic!(
            "these tests need a PostgreSQL server: run them with ./scripts/test, which starts a throwaway cluster (or set WEIR_TEST_PG_URL)"
        )
    })
}

/// A plain connection to the server's maintenance database.
async fn admin(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .expect("connect to the test server")
}

/// `url` with its database replaced by `db`.
fn with_db(url: &str, db: &str) -> String {
    let base = url.rsplit_once('/').map_or(url, |(b, _)| b);
    format!("{base}/{db}")
}

/// A fresh, empty database on the test server, dropped with it.
pub struct FreshPg {
    cat: SqlCatalog,
    pub url: String,
    db: String,
}

impl FreshPg {
    pub async fn new() -> FreshPg {
        let admin_url = server();
        let db = format!("weir_c_{}", uuid_like());
        let admin = admin(&admin_url).await;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
            .execute(&admin)
            .await
            .expect("create the test database");
        let url = with_db(&admin_url, &db);
        let cat = SqlCatalog::open(&url).await.expect("open");
        assert_eq!(cat.dialect(), Dialect::Postgres);
        FreshPg { cat, url, db }
    }
}

impl Drop for FreshPg {
    fn drop(&mut self) {
        // Dropped from a thread of its own: Drop cannot await, and the
        // test's runtime may be shutting down.
        let (url, db) = (server(), self.db.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    let admin = admin(&url).await;
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
                    )))
                    .execute(&admin)
                    .await;
                });
            }
        })
        .join();
    }
}

/// A unique enough suffix for database names (time and a counter).
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}_{}_{}",
        std::process::id(),
        t % 1_000_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl std::ops::Deref for FreshPg {
    type Target = dyn Catalog;
    fn deref(&self) -> &(dyn Catalog + 'static) {
        &self.cat
    }
}

mod contract {
    crate::contract_suite!(super::FreshPg::new());
}

#[tokio::test]
async fn two_processes_migrating_at_once_leave_one_schema() {
    let fresh = FreshPg::new().await;
    // Ten more handles opening (and migrating) the same database at once.
    let opens = (0..10).map(|_| SqlCatalog::open(&fresh.url));
    for r in futures::future::join_all(opens).await {
        r.expect("a concurrent open");
    }
    let versions = fresh.register_version("a", "f1", "{}", 1).await.expect("register");
    assert_eq!(versions, 1, "one schema, usable");
}
