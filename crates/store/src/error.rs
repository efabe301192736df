//! The one error type of the store: every failure says which operation failed and why.

use std::path::PathBuf;

/// Anything that can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL names a database this build does not support (only `sqlite:`).
    #[error("unsupported database url {url:?}: expected sqlite://PATH or sqlite::memory:")]
    UnsupportedUrl { url: String },
    /// The database URL could not be understood.
    #[error("invalid database url {url:?}: {source}")]
    InvalidUrl {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    /// The folder that should hold the database file could not be created.
    #[error("cannot create database directory {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Opening the database failed (missing file without create, permissions, corrupt file …).
    #[error("cannot open database {url:?}: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    /// Applying the embedded schema migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed; `op` names the store operation that ran it.
    #[error("database error in {op}: {source}")]
    Query {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// A stored event's JSON payload could not be (de)serialized.
    #[error("event data of call {call_sid} is not valid JSON: {source}")]
    EventData {
        call_sid: String,
        #[source]
        source: serde_json::Error,
    },
}

impl StoreError {
    /// Adapter for `map_err` that tags a sqlx error with the operation it came from.
    pub(crate) fn query(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Query { op, source }
    }
}
