//! Contacts, the do-not-call list, and call outcomes.

use serde::Serialize;
use sqlx::Row;

use crate::error::StoreError;
use crate::store::{now_ms, Store};

/// A contact to create or update (matched by phone number).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NewContact {
    /// E.164 phone number.
    pub phone: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub email: Option<String>,
    pub status: Option<String>,
    pub timezone: Option<String>,
    /// Other CRM columns.
    pub fields: std::collections::BTreeMap<String, String>,
}

/// A stored contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactRecord {
    pub id: i64,
    pub phone: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub email: Option<String>,
    pub status: Option<String>,
    pub timezone: Option<String>,
    pub fields: std::collections::BTreeMap<String, String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A do-not-call entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DoNotCallEntry {
    pub phone: String,
    pub reason: Option<String>,
    pub source: String,
    pub call_sid: Option<String>,
    pub created_at: i64,
}

/// Column list read by [`contact_from_row`]; a macro so it can be spliced into `&'static str` SQL.
macro_rules! contact_columns {
    () => {
        "id, phone, first_name, last_name, company, email, status, timezone, fields, created_at, updated_at"
    };
}

fn contact_from_row(row: &sqlx::any::AnyRow) -> Result<ContactRecord, StoreError> {
    let fields: String = row
        .try_get("fields")
        .map_err(StoreError::query("contact row"))?;
    Ok(ContactRecord {
        id: row
            .try_get("id")
            .map_err(StoreError::query("contact row"))?,
        phone: row
            .try_get("phone")
            .map_err(StoreError::query("contact row"))?,
        first_name: row
            .try_get("first_name")
            .map_err(StoreError::query("contact row"))?,
        last_name: row
            .try_get("last_name")
            .map_err(StoreError::query("contact row"))?,
        company: row
            .try_get("company")
            .map_err(StoreError::query("contact row"))?,
        email: row
            .try_get("email")
            .map_err(StoreError::query("contact row"))?,
        status: row
            .try_get("status")
            .map_err(StoreError::query("contact row"))?,
        timezone: row
            .try_get("timezone")
            .map_err(StoreError::query("contact row"))?,
        // A hand-edited row with broken JSON still loads; the extra fields are just empty.
        fields: serde_json::from_str(&fields).unwrap_or_default(),
        created_at: row
            .try_get("created_at")
            .map_err(StoreError::query("contact row"))?,
        updated_at: row
            .try_get("updated_at")
            .map_err(StoreError::query("contact row"))?,
    })
}

impl Store {
    /// Creates a contact, or updates the one with the same phone number (known values are
    /// replaced by new non-empty ones). Returns its id.
    pub async fn upsert_contact(&self, c: &NewContact) -> Result<i64, StoreError> {
        let now = now_ms();
        let fields = serde_json::to_string(&c.fields).unwrap_or_else(|_| "{}".into());
        sqlx::query_scalar::<_, i64>(
            "INSERT INTO contacts (phone, first_name, last_name, company, email, status, timezone, fields, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (phone) DO UPDATE SET
                 first_name = COALESCE(excluded.first_name, contacts.first_name),
                 last_name  = COALESCE(excluded.last_name,  contacts.last_name),
                 company    = COALESCE(excluded.company,    contacts.company),
                 email      = COALESCE(excluded.email,      contacts.email),
                 status     = COALESCE(excluded.status,     contacts.status),
                 timezone   = COALESCE(excluded.timezone,   contacts.timezone),
                 fields     = CASE WHEN excluded.fields = '{}' THEN contacts.fields ELSE excluded.fields END,
                 updated_at = excluded.updated_at
             RETURNING id",
        )
        .bind(&c.phone)
        .bind(&c.first_name)
        .bind(&c.last_name)
        .bind(&c.company)
        .bind(&c.email)
        .bind(&c.status)
        .bind(&c.timezone)
        .bind(fields)
        .bind(now)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::query("upsert_contact"))
    }

    /// The contact with this phone number.
    pub async fn contact_by_phone(&self, phone: &str) -> Result<Option<ContactRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            contact_columns!(),
            " FROM contacts WHERE phone = $1"
        ))
        .bind(phone)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query("contact_by_phone"))?;
        row.as_ref().map(contact_from_row).transpose()
    }

    /// The contact with this id.
    pub async fn contact(&self, id: i64) -> Result<Option<ContactRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            contact_columns!(),
            " FROM contacts WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query("contact"))?;
        row.as_ref().map(contact_from_row).transpose()
    }

    /// Adds a number to the do-not-call list (idempotent: the first entry's reason is kept).
    pub async fn add_do_not_call(
        &self,
        phone: &str,
        reason: Option<&str>,
        source: &str,
        call_sid: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO do_not_call (phone, reason, source, call_sid, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (phone) DO NOTHING",
        )
        .bind(phone)
        .bind(reason)
        .bind(source)
        .bind(call_sid)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("add_do_not_call"))?;
        Ok(())
    }

    /// Whether a number must never be dialed.
    pub async fn is_do_not_call(&self, phone: &str) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM do_not_call WHERE phone = $1")
            .bind(phone)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::query("is_do_not_call"))?;
        Ok(n > 0)
    }

    /// The whole do-not-call list, newest first.
    pub async fn do_not_call_list(&self) -> Result<Vec<DoNotCallEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT phone, reason, source, call_sid, created_at FROM do_not_call ORDER BY created_at DESC",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("do_not_call_list"))?;
        rows.iter()
            .map(|r| {
                Ok(DoNotCallEntry {
                    phone: r.try_get("phone").map_err(StoreError::query("dnc row"))?,
                    reason: r.try_get("reason").map_err(StoreError::query("dnc row"))?,
                    source: r.try_get("source").map_err(StoreError::query("dnc row"))?,
                    call_sid: r
                        .try_get("call_sid")
                        .map_err(StoreError::query("dnc row"))?,
                    created_at: r
                        .try_get("created_at")
                        .map_err(StoreError::query("dnc row"))?,
                })
            })
            .collect()
    }

    /// Links a call to its contact.
    pub async fn set_call_contact(
        &self,
        call_sid: &str,
        contact_id: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE calls SET contact_id = $1 WHERE call_sid = $2")
            .bind(contact_id)
            .bind(call_sid)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("set_call_contact"))?;
        Ok(())
    }

    /// Records what the call achieved (the last recorded outcome wins).
    pub async fn set_call_outcome(
        &self,
        call_sid: &str,
        outcome: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE calls SET outcome = $1, outcome_detail = $2 WHERE call_sid = $3")
            .bind(outcome)
            .bind(detail.to_string())
            .bind(call_sid)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("set_call_outcome"))?;
        Ok(())
    }
}
