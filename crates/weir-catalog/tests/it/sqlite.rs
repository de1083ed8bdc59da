//! The contract suite on the SQLite catalog (a real file, WAL mode), plus
//! SQLite-specific behaviour: migrations are idempotent and two handles on one
//! file see one truth.

use weir_catalog::{Catalog, SqlCatalog};

struct Fresh {
    cat: SqlCatalog,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Fresh {
    type Target = SqlCatalog;
    fn deref(&self) -> &SqlCatalog {
        &self.cat
    }
}

async fn fresh() -> Fresh {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("catalog.db").display());
    Fresh {
        cat: SqlCatalog::open(&url).await.expect("open"),
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
    let a = SqlCatalog::open(&url).await.expect("open");
    a.register_version("x", "f", "{}", 1).await.expect("register");
    let b = SqlCatalog::open(&url).await.expect("reopen");
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

#[tokio::test]
async fn processes_opening_a_new_file_at_once_all_succeed_in_wal_mode() {
    // Switching a new file to WAL needs a lock that SQLite's busy timeout does
    // not wait for; before opening retried it, one of two `weir run`s started
    // together often failed with "database is locked". File locks only
    // conflict between processes, so each handle is this test run again as a
    // child process that opens the catalog and exits.
    const CHILD: &str = "WEIR_TEST_OPEN_CATALOG";
    if let Ok(url) = std::env::var(CHILD) {
        SqlCatalog::open(&url).await.expect("open in a child process");
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    for round in 0..8 {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("c.db").display());
        let children: Vec<_> = (0..4)
            .map(|_| {
                std::process::Command::new(&exe)
                    .args([
                        "--exact",
                        "sqlite::processes_opening_a_new_file_at_once_all_succeed_in_wal_mode",
                        "--nocapture",
                    ])
                    .env(CHILD, &url)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        for (i, c) in children.into_iter().enumerate() {
            let out = c.wait_with_output().expect("wait");
            assert!(
                out.status.success(),
                "round {round}, process {i}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let conn = sqlx::sqlite::SqliteConnectOptions::new().filename(dir.path().join("c.db"));
        let mut conn = sqlx::ConnectOptions::connect(&conn).await.expect("connect");
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut conn)
            .await
            .expect("pragma");
        assert_eq!(mode, "wal");
    }
}
