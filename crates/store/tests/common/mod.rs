//! Running the same test on SQLite and on PostgreSQL.
//!
//! PostgreSQL tests need `CALLPILOT_TEST_POSTGRES_URL` (a server where the user may create
//! databases; `scripts/with-postgres.sh` starts a throwaway one). Each test gets a fresh
//! database of its own, so tests run in parallel without seeing each other's rows.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;
use store::Store;

/// A fresh in-memory SQLite store.
pub async fn sqlite() -> Store {
    Store::connect("sqlite::memory:")
        .await
        .expect("in-memory store")
}

/// The URL of a new, empty PostgreSQL database, or `None` (with a note) when no server is
/// configured.
pub async fn postgres_url() -> Option<String> {
    let Ok(base) = std::env::var("CALLPILOT_TEST_POSTGRES_URL") else {
        eprintln!("PostgreSQL tests skipped: CALLPILOT_TEST_POSTGRES_URL not set");
        return None;
    };
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let name = format!(
        "cp_test_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = sqlx::postgres::PgConnection::connect(&base)
        .await
        .expect("connect to CALLPILOT_TEST_POSTGRES_URL");
    // The name is made above from digits only: safe to splice.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    let _ = admin.close().await;
    let (server, _) = base.rsplit_once('/').expect("URL with a database path");
    Some(format!("{server}/{name}"))
}

/// A store on a fresh PostgreSQL database, or `None` when no server is configured.
pub async fn postgres() -> Option<Store> {
    let url = postgres_url().await?;
    Some(
        Store::connect(&url)
            .await
            .expect("connect to test database"),
    )
}

/// `on_both!(name)` turns `async fn name(s: Store)` into two tests, `name::sqlite` and
/// `name::postgres`.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::common::sqlite().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(s) = super::common::postgres().await {
                    super::$name(s).await
                }
            }
        }
    )*};
}
