//! Persistence for callpilot: calls, their Twilio status history, conversation turns (with
//! latency timings) and free-form call events, in SQLite or PostgreSQL via `sqlx`.
//!
//! The schema lives in `migrations/` (SQLite) and `migrations_pg/` (the same tables in
//! PostgreSQL types); both are embedded in the binary; [`Store::connect`] applies
//! it. All writes are idempotent or append-only so that Twilio's retried and out-of-order
//! callbacks are safe to feed in as they come. Timestamps are unix epoch milliseconds.

mod accounts;
mod call_outcomes;
mod call_queries;
mod campaign_views;
mod campaigns;
mod contacts;
mod error;
mod pg_admin;
mod records;
mod store;

pub use accounts::{ApiKeyRecord, AuditEntry, SessionRecord, UserRecord};
pub use call_outcomes::EndedCall;
pub use call_queries::{CallFilter, DayStats, LiveTurn, Page, MAX_PAGE};
pub use campaign_views::{CampaignProgress, CampaignReportRow};
pub use campaigns::{
    AttemptRecord, CampaignRecord, CampaignState, ContactNext, ContactOrder, Lease, RecoveredLeases,
};
pub use contacts::{ContactRecord, DoNotCallEntry, NewContact};
pub use error::StoreError;
pub use pg_admin::create_postgres_database;
pub use records::{
    CallDetail, CallEventRecord, CallRecord, NewCall, NewTurn, Speaker, StatusEventRecord,
    StatusOutcome, StatusUpdate, TurnRecord, TurnTimings,
};
pub use store::{Backend, Store};
