//! Campaigns: their contacts, leases and dial attempts.
//!
//! Exactly-once dialing rests on two rules. A worker may dial only an attempt that
//! [`Store::lease_next`] created for it, and `lease_next` turns a contact from `pending` into
//! `leased` inside one write transaction, so two workers (or two processes on one file) never get
//! the same contact. And an attempt that has a `call_sid` reached the carrier: it is never given
//! back to `pending` by lease recovery, only by its result ([`Store::complete_attempt`]).
//!
//! Times are unix epoch milliseconds and are passed in (`now`) so the dialer can run on a manual
//! clock. The SQL is shared by both databases except for locking: SQLite serialises writers with
//! `BEGIN IMMEDIATE` (one write lock up front), while PostgreSQL picks the next contact with
//! `SELECT … FOR UPDATE SKIP LOCKED`, so workers in several processes lease different contacts
//! at the same time instead of queueing behind one another.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::error::StoreError;
use crate::store::{now_ms, Backend, Store};

/// Lifecycle of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    Draft,
    Running,
    Paused,
    Done,
}

impl CampaignState {
    /// The name stored in `campaigns.state`.
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignState::Draft => "draft",
            CampaignState::Running => "running",
            CampaignState::Paused => "paused",
            CampaignState::Done => "done",
        }
    }

    fn parse(s: &str) -> Option<CampaignState> {
        [Self::Draft, Self::Running, Self::Paused, Self::Done]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

/// A stored campaign.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CampaignRecord {
    pub id: i64,
    pub name: String,
    pub agent: Option<String>,
    pub state: CampaignState,
    /// The dialer's settings, as JSON.
    pub settings: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Which contacts of a tier are dialed first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactOrder {
    /// Contacts created earliest first (the order of the imported file).
    #[default]
    OldestFirst,
    NewestFirst,
}

/// One contact handed to one worker to dial, with everything it needs to do so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub attempt_id: i64,
    pub campaign_id: i64,
    pub contact_id: i64,
    /// 1 for the first dial of this contact in this campaign.
    pub attempt_no: i64,
    /// E.164.
    pub phone: String,
    pub timezone: Option<String>,
    /// 0 = Hot, 1 = Warm, 2 = Cold.
    pub tier: i64,
    pub lease_expires_at: i64,
}

/// What happens to a contact once an attempt has its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactNext {
    /// Dial again, not before this time (ms).
    RetryAt(i64),
    /// Finished with success (answered, voicemail handled).
    Done,
    /// Finished without success (attempts exhausted, invalid number …).
    Failed,
}

/// A dial attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptRecord {
    pub id: i64,
    pub campaign_id: i64,
    pub contact_id: i64,
    pub attempt_no: i64,
    pub call_sid: Option<String>,
    /// leased | dialing | done | abandoned
    pub state: String,
    pub result: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What [`Store::recover_expired_leases`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RecoveredLeases {
    /// Leases that never reached the carrier, back to pending (no attempt counted).
    pub returned: u64,
    /// Expired leases whose call was placed: left dialing until their result arrives.
    pub still_dialing: u64,
}

fn campaign_from_row(row: &AnyRow) -> Result<CampaignRecord, StoreError> {
    let op = StoreError::query;
    let state: String = row.try_get("state").map_err(op("campaign row"))?;
    let settings: String = row.try_get("settings").map_err(op("campaign row"))?;
    Ok(CampaignRecord {
        id: row.try_get("id").map_err(op("campaign row"))?,
        name: row.try_get("name").map_err(op("campaign row"))?,
        agent: row.try_get("agent").map_err(op("campaign row"))?,
        // The CHECK constraint keeps other values out; Draft is only a fallback for hand edits.
        state: CampaignState::parse(&state).unwrap_or(CampaignState::Draft),
        settings: serde_json::from_str(&settings).unwrap_or(serde_json::Value::Null),
        created_at: row.try_get("created_at").map_err(op("campaign row"))?,
        updated_at: row.try_get("updated_at").map_err(op("campaign row"))?,
    })
}

/// Column list read by [`attempt_from_row`]; a macro so it can be spliced into `&'static str` SQL.
macro_rules! attempt_columns {
    () => {
        "id, campaign_id, contact_id, attempt_no, call_sid, state, result, created_at, updated_at"
    };
}

/// An attempt with what its call row needs (number, agent).
macro_rules! attempt_for_attach {
    () => {
        "SELECT a.campaign_id, a.contact_id, a.state, c.phone, k.agent
         FROM call_attempts a
         JOIN contacts c ON c.id = a.contact_id
         JOIN campaigns k ON k.id = a.campaign_id
         WHERE a.id = $1"
    };
}
const ATTEMPT_FOR_ATTACH: &str = attempt_for_attach!();

fn attempt_from_row(row: &AnyRow) -> Result<AttemptRecord, sqlx::Error> {
    Ok(AttemptRecord {
        id: row.try_get("id")?,
        campaign_id: row.try_get("campaign_id")?,
        contact_id: row.try_get("contact_id")?,
        attempt_no: row.try_get("attempt_no")?,
        call_sid: row.try_get("call_sid")?,
        state: row.try_get("state")?,
        result: row.try_get("result")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    /// Creates a campaign in the `draft` state and returns its id.
    pub async fn create_campaign(
        &self,
        name: &str,
        agent: Option<&str>,
        settings: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        let now = now_ms();
        sqlx::query_scalar::<_, i64>(
            "INSERT INTO campaigns (name, agent, state, settings, created_at, updated_at)
             VALUES ($1, $2, 'draft', $3, $4, $5) RETURNING id",
        )
        .bind(name)
        .bind(agent)
        .bind(settings.to_string())
        .bind(now)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::query("create_campaign"))
    }

    /// The campaign with this id.
    pub async fn campaign(&self, id: i64) -> Result<Option<CampaignRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, agent, state, settings, created_at, updated_at
             FROM campaigns WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query("campaign"))?;
        row.as_ref().map(campaign_from_row).transpose()
    }

    /// All campaigns, newest first.
    pub async fn list_campaigns(&self) -> Result<Vec<CampaignRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, agent, state, settings, created_at, updated_at
             FROM campaigns ORDER BY created_at DESC, id DESC",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("list_campaigns"))?;
        rows.iter().map(campaign_from_row).collect()
    }

    /// Sets a campaign's state; returns whether the campaign exists.
    pub async fn set_campaign_state(
        &self,
        id: i64,
        state: CampaignState,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE campaigns SET state = $1, updated_at = $2 WHERE id = $3")
            .bind(state.as_str())
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("set_campaign_state"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Puts contacts into a campaign, ranked by their lead status (Hot, Warm, then Cold or
    /// none). Contacts already in it and unknown ids are left out; returns how many were added.
    pub async fn add_campaign_contacts(
        &self,
        campaign_id: i64,
        contact_ids: &[i64],
    ) -> Result<u64, StoreError> {
        let op = "add_campaign_contacts";
        let now = now_ms();
        let mut tx = self.begin_write().await.map_err(StoreError::query(op))?;
        let mut added = 0;
        for id in contact_ids {
            let done = sqlx::query(
                "INSERT INTO campaign_contacts (campaign_id, contact_id, tier, state, updated_at)
                 SELECT $1, id,
                        CASE lower(status) WHEN 'hot' THEN 0 WHEN 'warm' THEN 1 ELSE 2 END,
                        'pending', $2
                 FROM contacts WHERE id = $3
                 ON CONFLICT (campaign_id, contact_id) DO NOTHING",
            )
            .bind(campaign_id)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query(op))?;
            added += done.rows_affected();
        }
        tx.commit().await.map_err(StoreError::query(op))?;
        Ok(added)
    }

    /// Hands the next due contact of a campaign to `owner` until `now + lease_for_ms`, creating
    /// its attempt. Contacts on the do-not-call list met on the way are marked skipped with
    /// result "do_not_call". `None` when no contact is due.
    pub async fn lease_next(
        &self,
        campaign_id: i64,
        owner: &str,
        now: i64,
        lease_for_ms: i64,
        order: ContactOrder,
    ) -> Result<Option<Lease>, StoreError> {
        let op = "lease_next";
        // SQLite: the write lock is taken before the read, so no other worker can pick the same
        // row between our SELECT and UPDATE. PostgreSQL: the SELECT locks the row it returns and
        // skips rows other workers hold, so they never wait for or get the same contact.
        let mut tx = self.begin_write().await.map_err(StoreError::query(op))?;
        let select = match (self.backend(), order) {
            (Backend::Sqlite, ContactOrder::OldestFirst) => NEXT_DUE_OLDEST,
            (Backend::Sqlite, ContactOrder::NewestFirst) => NEXT_DUE_NEWEST,
            (Backend::Postgres, ContactOrder::OldestFirst) => NEXT_DUE_OLDEST_PG,
            (Backend::Postgres, ContactOrder::NewestFirst) => NEXT_DUE_NEWEST_PG,
        };
        let lease = loop {
            let Some(row) = sqlx::query(select)
                .bind(campaign_id)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::query(op))?
            else {
                break None;
            };
            let get = |c: &str| -> Result<i64, StoreError> {
                row.try_get(c).map_err(StoreError::query(op))
            };
            let contact_id = get("contact_id")?;
            if get("on_dnc")? != 0 {
                skip_contact(&mut tx, campaign_id, contact_id, "do_not_call", now).await?;
                continue;
            }
            let attempt_no = get("attempts")? + 1;
            let expires = now + lease_for_ms;
            let attempt_id = sqlx::query_scalar::<_, i64>(
                "INSERT INTO call_attempts
                     (campaign_id, contact_id, attempt_no, state, created_at, updated_at)
                 VALUES ($1, $2, $3, 'leased', $4, $5) RETURNING id",
            )
            .bind(campaign_id)
            .bind(contact_id)
            .bind(attempt_no)
            .bind(now)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::query(op))?;
            sqlx::query(
                "UPDATE campaign_contacts
                 SET state = 'leased', attempts = $1, lease_owner = $2, lease_expires_at = $3,
                     attempt_id = $4, updated_at = $5
                 WHERE campaign_id = $6 AND contact_id = $7 AND state = 'pending'",
            )
            .bind(attempt_no)
            .bind(owner)
            .bind(expires)
            .bind(attempt_id)
            .bind(now)
            .bind(campaign_id)
            .bind(contact_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query(op))?;
            break Some(Lease {
                attempt_id,
                campaign_id,
                contact_id,
                attempt_no,
                phone: row.try_get("phone").map_err(StoreError::query(op))?,
                timezone: row.try_get("timezone").map_err(StoreError::query(op))?,
                tier: get("tier")?,
                lease_expires_at: expires,
            });
        };
        tx.commit().await.map_err(StoreError::query(op))?;
        Ok(lease)
    }

    /// Gives a leased, undialed attempt back: the contact returns to pending, due at
    /// `next_attempt_at`, with `reason` as its last result, and no attempt is counted. Used when
    /// the contact is outside its calling window. Returns false if the lease was no longer held
    /// (already dialed, completed or recovered).
    pub async fn release_lease(
        &self,
        attempt_id: i64,
        next_attempt_at: i64,
        reason: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let op = "release_lease";
        let mut tx = self.begin_write().await.map_err(StoreError::query(op))?;
        let released = abandon_attempt(&mut tx, attempt_id, next_attempt_at, reason, now).await?;
        tx.commit().await.map_err(StoreError::query(op))?;
        Ok(released)
    }

    /// Records the carrier's call SID on an attempt: from now on it is never re-dialed. Also
    /// links the call row (created if its first webhook has not arrived yet) to the campaign,
    /// attempt and contact. Returns false if the attempt no longer held its lease (it had
    /// expired and was recovered); the SID is recorded all the same so its result is matched.
    pub async fn attach_call_sid(
        &self,
        attempt_id: i64,
        call_sid: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let op = "attach_call_sid";
        let mut tx = self.begin_write().await.map_err(StoreError::query(op))?;
        // PostgreSQL: lock the attempt so lease recovery cannot abandon it between this read and
        // the update below (SQLite already holds the write lock).
        let select = match self.backend() {
            Backend::Sqlite => ATTEMPT_FOR_ATTACH,
            Backend::Postgres => concat!(attempt_for_attach!(), " FOR UPDATE OF a"),
        };
        let row = sqlx::query(select)
            .bind(attempt_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::query(op))?;
        let Some(row) = row else {
            return Ok(false);
        };
        let get = |c: &str| -> Result<Option<String>, StoreError> {
            row.try_get(c).map_err(StoreError::query(op))
        };
        let campaign_id: i64 = row.try_get("campaign_id").map_err(StoreError::query(op))?;
        let contact_id: i64 = row.try_get("contact_id").map_err(StoreError::query(op))?;
        let held = get("state")?.as_deref() == Some("leased");
        let new_state = if held { "dialing" } else { "abandoned" };
        sqlx::query(
            "UPDATE call_attempts SET call_sid = $1, state = $2, updated_at = $3
             WHERE id = $4 AND state IN ('leased', 'abandoned')",
        )
        .bind(call_sid)
        .bind(new_state)
        .bind(now)
        .bind(attempt_id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query(op))?;
        if held {
            sqlx::query(
                "UPDATE campaign_contacts SET state = 'dialing', updated_at = $1
                 WHERE campaign_id = $2 AND contact_id = $3 AND attempt_id = $4",
            )
            .bind(now)
            .bind(campaign_id)
            .bind(contact_id)
            .bind(attempt_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query(op))?;
        }
        sqlx::query(
            "INSERT INTO calls (call_sid, direction, to_number, agent, contact_id, campaign_id,
                                attempt_id, created_at)
             VALUES ($1, 'outbound-api', $2, $3, $4, $5, $6, $7)
             ON CONFLICT (call_sid) DO UPDATE SET
                 campaign_id = excluded.campaign_id,
                 attempt_id  = excluded.attempt_id,
                 contact_id  = COALESCE(calls.contact_id, excluded.contact_id),
                 direction   = COALESCE(calls.direction, excluded.direction),
                 to_number   = COALESCE(calls.to_number, excluded.to_number),
                 agent       = COALESCE(calls.agent, excluded.agent)",
        )
        .bind(call_sid)
        .bind(get("phone")?)
        .bind(get("agent")?)
        .bind(contact_id)
        .bind(campaign_id)
        .bind(attempt_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query(op))?;
        tx.commit().await.map_err(StoreError::query(op))?;
        Ok(held)
    }

    /// Records an attempt's result and moves its contact on (`next`). Idempotent: a result for
    /// an attempt already completed (a retried status callback) changes nothing and returns
    /// false.
    pub async fn complete_attempt(
        &self,
        attempt_id: i64,
        result: &str,
        next: ContactNext,
        now: i64,
    ) -> Result<bool, StoreError> {
        let op = "complete_attempt";
        let mut tx = self.begin_write().await.map_err(StoreError::query(op))?;
        let done = sqlx::query(
            "UPDATE call_attempts SET state = 'done', result = $1, updated_at = $2
             WHERE id = $3 AND state IN ('leased', 'dialing')",
        )
        .bind(result)
        .bind(now)
        .bind(attempt_id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query(op))?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let (state, next_at) = match next {
            ContactNext::RetryAt(at) => ("pending", Some(at)),
            ContactNext::Done => ("done", None),
            ContactNext::Failed => ("failed", None),
        };
        sqlx::query(
            "UPDATE campaign_contacts
             SET state = $1, next_attempt_at = COALESCE($2, next_attempt_at), last_result = $3,
                 lease_owner = NULL, lease_expires_at = NULL, attempt_id = NULL, updated_at = $4
             WHERE attempt_id = $5",
        )
        .bind(state)
        .bind(next_at)
        .bind(result)
        .bind(now)
        .bind(attempt_id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query(op))?;
        tx.commit().await.map_err(StoreError::query(op))?;
        Ok(true)
    }

    /// Returns expired leases of a campaign that never reached the carrier to pending, without
    /// counting an attempt (they were never dialed). Expired leases with a call SID stay
    /// `dialing` until their result arrives: that call happened and must not be placed again.
    pub async fn recover_expired_leases(
        &self,
        campaign_id: i64,
        now: i64,
    ) -> Result<RecoveredLeases, StoreError> {
        let op = "recover_expired_leases";
        let mut tx = self.begin_write().await.map_err(StoreError::query(op))?;
        let expired: Vec<(i64, String)> = sqlx::query_as(
            "SELECT cc.attempt_id, cc.state FROM campaign_contacts cc
             WHERE cc.campaign_id = $1 AND cc.state IN ('leased', 'dialing')
               AND cc.lease_expires_at <= $2 AND cc.attempt_id IS NOT NULL",
        )
        .bind(campaign_id)
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::query(op))?;
        let mut recovered = RecoveredLeases::default();
        for (attempt_id, state) in expired {
            if state == "dialing" {
                recovered.still_dialing += 1;
            } else if abandon_attempt(&mut tx, attempt_id, now, "lease_expired", now).await? {
                recovered.returned += 1;
            }
        }
        tx.commit().await.map_err(StoreError::query(op))?;
        Ok(recovered)
    }

    /// The attempt that placed the call with this SID.
    pub async fn attempt_by_call_sid(
        &self,
        call_sid: &str,
    ) -> Result<Option<AttemptRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            attempt_columns!(),
            " FROM call_attempts WHERE call_sid = $1"
        ))
        .bind(call_sid)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query("attempt_by_call_sid"))?;
        row.as_ref()
            .map(attempt_from_row)
            .transpose()
            .map_err(StoreError::query("attempt row"))
    }

    /// The attempt with this id.
    pub async fn attempt(&self, attempt_id: i64) -> Result<Option<AttemptRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            attempt_columns!(),
            " FROM call_attempts WHERE id = $1"
        ))
        .bind(attempt_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query("attempt"))?;
        row.as_ref()
            .map(attempt_from_row)
            .transpose()
            .map_err(StoreError::query("attempt row"))
    }

    /// Every attempt of a campaign, oldest first.
    pub async fn campaign_attempts(
        &self,
        campaign_id: i64,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            attempt_columns!(),
            " FROM call_attempts WHERE campaign_id = $1 ORDER BY id"
        ))
        .bind(campaign_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("campaign_attempts"))?;
        rows.iter()
            .map(attempt_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("attempt row"))
    }

    /// How many attempts of a campaign are leased or dialing (its calls in flight).
    pub async fn active_attempts(&self, campaign_id: i64) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM call_attempts
             WHERE campaign_id = $1 AND state IN ('leased', 'dialing')",
        )
        .bind(campaign_id)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::query("active_attempts"))
    }
}

/// The next due pending contact; `on_dnc` tells whether its number is on the do-not-call list.
macro_rules! next_due {
    ($dir:literal) => {
        concat!(
            "SELECT cc.contact_id, cc.attempts, cc.tier, c.phone, c.timezone,
                    CASE WHEN d.phone IS NULL THEN 0 ELSE 1 END AS on_dnc
             FROM campaign_contacts cc
             JOIN contacts c ON c.id = cc.contact_id
             LEFT JOIN do_not_call d ON d.phone = c.phone
             WHERE cc.campaign_id = $1 AND cc.state = 'pending' AND cc.next_attempt_at <= $2
             ORDER BY cc.tier, c.created_at ",
            $dir,
            ", c.id ",
            $dir,
            " LIMIT 1"
        )
    };
}
const NEXT_DUE_OLDEST: &str = next_due!("ASC");
const NEXT_DUE_NEWEST: &str = next_due!("DESC");
// `OF cc`: lock only the campaign row (the contact and do-not-call rows are only read, and the
// do-not-call side of the outer join cannot be locked).
const NEXT_DUE_OLDEST_PG: &str = concat!(next_due!("ASC"), " FOR UPDATE OF cc SKIP LOCKED");
const NEXT_DUE_NEWEST_PG: &str = concat!(next_due!("DESC"), " FOR UPDATE OF cc SKIP LOCKED");

async fn skip_contact(
    conn: &mut AnyConnection,
    campaign_id: i64,
    contact_id: i64,
    reason: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE campaign_contacts SET state = 'skipped', last_result = $1, updated_at = $2
         WHERE campaign_id = $3 AND contact_id = $4",
    )
    .bind(reason)
    .bind(now)
    .bind(campaign_id)
    .bind(contact_id)
    .execute(conn)
    .await
    .map_err(StoreError::query("skip_contact"))?;
    Ok(())
}

/// Marks a still-leased (never dialed) attempt abandoned and puts its contact back to pending,
/// un-counting the attempt. False if the attempt was not leased any more.
async fn abandon_attempt(
    conn: &mut AnyConnection,
    attempt_id: i64,
    next_attempt_at: i64,
    reason: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let op = "abandon_attempt";
    let done = sqlx::query(
        "UPDATE call_attempts SET state = 'abandoned', result = $1, updated_at = $2
         WHERE id = $3 AND state = 'leased'",
    )
    .bind(reason)
    .bind(now)
    .bind(attempt_id)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::query(op))?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE campaign_contacts
         SET state = 'pending', attempts = attempts - 1, next_attempt_at = $1, last_result = $2,
             lease_owner = NULL, lease_expires_at = NULL, attempt_id = NULL, updated_at = $3
         WHERE attempt_id = $4",
    )
    .bind(next_attempt_at)
    .bind(reason)
    .bind(now)
    .bind(attempt_id)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::query(op))?;
    Ok(true)
}
