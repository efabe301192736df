//! Creating a PostgreSQL database (for tests and first-time setup: `Store::connect` expects the
//! database to exist).

use sqlx::Connection;

use crate::error::StoreError;

/// Creates database `name` on the server of `admin_url` (a URL whose user may create databases)
/// and returns the new database's URL. `name` must be a plain identifier.
pub async fn create_postgres_database(admin_url: &str, name: &str) -> Result<String, StoreError> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::UnsupportedUrl {
            url: format!("database name {name:?}: letters, digits and _ only"),
        });
    }
    let mut admin = sqlx::postgres::PgConnection::connect(admin_url)
        .await
        .map_err(StoreError::query("connect to the PostgreSQL server"))?;
    // The name was checked above: safe to splice (identifiers cannot be bound).
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .map_err(StoreError::query("create database"))?;
    let _ = admin.close().await;
    let (server, _) = admin_url
        .rsplit_once('/')
        .ok_or_else(|| StoreError::UnsupportedUrl {
            url: "PostgreSQL URL without a database path".into(),
        })?;
    Ok(format!("{server}/{name}"))
}
