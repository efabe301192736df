//! Small per-call facts the outbound side needs: the answering-machine verdict, when a campaign
//! contact is next due, and which dialed attempts already have a final status in `calls`.

use serde::Serialize;
use sqlx::Row;

use crate::error::StoreError;
use crate::store::{now_ms, Store};

/// A campaign attempt still waiting for its result although its call has ended: the final
/// status callback was recorded in `calls`, but never reached a dialer (it arrived before the
/// attempt had its call SID, or while no dialer was running).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndedCall {
    pub attempt_id: i64,
    pub contact_id: i64,
    pub attempt_no: i64,
    pub call_sid: String,
    /// The call's final Twilio `CallStatus` (`completed`, `busy`, `no-answer`, `failed`,
    /// `canceled`).
    pub status: String,
    /// Twilio's `AnsweredBy`, when answering-machine detection ran.
    pub answered_by: Option<String>,
}

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

    /// Attempts of a campaign that are still leased or dialing although `calls` already holds a
    /// final status for their call SID, oldest first. The dialer completes them from here, so a
    /// lost or early result never leaves a contact "dialing" forever.
    pub async fn ended_calls_awaiting_result(
        &self,
        campaign_id: i64,
    ) -> Result<Vec<EndedCall>, StoreError> {
        let op = "ended_calls_awaiting_result";
        let rows = sqlx::query(
            "SELECT a.id, a.contact_id, a.attempt_no, a.call_sid, c.status, c.answered_by
             FROM call_attempts a JOIN calls c ON c.call_sid = a.call_sid
             WHERE a.campaign_id = $1 AND a.state IN ('leased', 'dialing')
               AND c.status IN ('completed', 'busy', 'no-answer', 'failed', 'canceled')
             ORDER BY a.id",
        )
        .bind(campaign_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query(op))?;
        rows.iter()
            .map(|r| {
                Ok(EndedCall {
                    attempt_id: r.try_get("id")?,
                    contact_id: r.try_get("contact_id")?,
                    attempt_no: r.try_get("attempt_no")?,
                    call_sid: r.try_get("call_sid")?,
                    status: r.try_get("status")?,
                    answered_by: r.try_get("answered_by")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::query(op))
    }
}
