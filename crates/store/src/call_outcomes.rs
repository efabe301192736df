//! Small per-call facts the outbound side needs: the answering-machine verdict, and when a
//! campaign contact is next due.

use crate::error::StoreError;
use crate::store::{now_ms, Store};

impl Store {
    /// Records Twilio's `AnsweredBy` for a call (creating the call's row if it is not known yet).
    pub async fn set_answered_by(
        &self,
        call_sid: &str,
        answered_by: &str,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO calls (call_sid, answered_by, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (call_sid) DO UPDATE SET answered_by = excluded.answered_by",
        )
        .bind(call_sid)
        .bind(answered_by)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("set_answered_by"))?;
        Ok(())
    }

    /// The answering-machine verdict recorded for a call, if any.
    pub async fn answered_by(&self, call_sid: &str) -> Result<Option<String>, StoreError> {
        let v: Option<Option<String>> =
            sqlx::query_scalar("SELECT answered_by FROM calls WHERE call_sid = $1")
                .bind(call_sid)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::query("answered_by"))?;
        Ok(v.flatten())
    }

    /// Makes a campaign contact due no earlier than `at_ms` (a scheduled call).
    pub async fn schedule_campaign_contact(
        &self,
        campaign_id: i64,
        contact_id: i64,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE campaign_contacts SET next_attempt_at = $1, updated_at = $2
             WHERE campaign_id = $3 AND contact_id = $4",
        )
        .bind(at_ms)
        .bind(now_ms())
        .bind(campaign_id)
        .bind(contact_id)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("schedule_campaign_contact"))?;
        Ok(())
    }
}
