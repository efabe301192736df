//! Read-side queries for the dashboard and the REST API: filtered, cursor-paginated call and
//! contact lists, per-day statistics, and what the live view polls (active calls, new turns).
//!
//! Split from `store.rs`, which holds the write path. Every query is static SQL with `$n`
//! placeholders: optional filters are written `($n IS NULL OR …)` so one statement serves
//! every combination on both SQLite and PostgreSQL (the `Any` driver sends typed NULLs).

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::contacts::ContactRecord;
use crate::error::StoreError;
use crate::records::{CallRecord, Speaker, TurnRecord, TurnTimings};
use crate::store::Store;

/// The most rows one page may hold, whatever the caller asks for.
pub const MAX_PAGE: i64 = 200;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Column list matching [`CallRecord`] (a macro so it can be spliced into `&'static str` SQL).
macro_rules! call_cols {
    () => {
        "id, call_sid, account_sid, stream_sid, direction, from_number, to_number, status, \
         status_rank, agent, created_at, answered_at, ended_at, contact_id, outcome, outcome_detail"
    };
}

/// Columns read by [`turn_from_row`], prefixed with the `t.` alias of `turns`.
macro_rules! turn_cols {
    () => {
        "t.id AS turn_id, t.idx, t.speaker, t.text, t.interrupted, t.at_ms, \
         t.end_of_speech_to_transcript_ms, t.transcript_to_reply_ms, t.reply_to_first_audio_ms, \
         t.end_of_speech_to_first_audio_ms, t.intent, t.sentiment_label, t.sentiment_score"
    };
}

/// Which calls to list. Every `None` filter matches everything.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    /// `inbound`, `outbound` (also matches Twilio's `outbound-api` / `outbound-dial`), `web` …
    pub direction: Option<String>,
    /// The call's current status (`completed`, `in-progress`, `no-answer` …).
    pub status: Option<String>,
    /// The agent's key.
    pub agent: Option<String>,
    pub campaign_id: Option<i64>,
    /// Created at or after (epoch ms).
    pub from_ms: Option<i64>,
    /// Created before (epoch ms).
    pub to_ms: Option<i64>,
    /// Text said in any turn (case-insensitive substring).
    pub q: Option<String>,
    /// Page size, clamped to 1..=[`MAX_PAGE`].
    pub limit: i64,
    /// Cursor: only rows older than this id (the previous page's `next_cursor`).
    pub before_id: Option<i64>,
}

/// One page of a newest-first list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `before_id` for the next page; `None` on the last page.
    pub next_cursor: Option<i64>,
}

/// Calls of one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayStats {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Start of the day, epoch ms.
    pub day_start_ms: i64,
    pub calls: i64,
    /// Calls `completed` or `in-progress` in which the caller said at least one turn.
    pub answered: i64,
    /// Median over the day's turns of end of speech → first agent audio, when any was measured.
    pub median_voice_to_voice_ms: Option<i64>,
}

/// A turn of a call, with the ids a poller needs to ask for what came after it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveTurn {
    /// Row id of the turn: grows with every turn stored, across all calls.
    pub turn_id: i64,
    pub call_sid: String,
    pub turn: TurnRecord,
}

/// Clamps a requested page size.
fn page_size(limit: i64) -> i64 {
    limit.clamp(1, MAX_PAGE)
}

/// `%text%` for LIKE, lower-cased, with LIKE's own wildcards escaped (`ESCAPE '\'`).
fn like_pattern(q: Option<&str>) -> Option<String> {
    let q = q.map(str::trim).filter(|q| !q.is_empty())?;
    let mut p = String::with_capacity(q.len() + 2);
    p.push('%');
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    Some(p)
}

/// Splits one extra row off a `limit + 1` fetch into the next cursor.
fn paginate<T>(mut rows: Vec<T>, limit: i64, id: impl Fn(&T) -> i64) -> Page<T> {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more { rows.last().map(&id) } else { None };
    Page {
        data: rows,
        next_cursor,
    }
}

impl Store {
    /// Calls matching `f`, newest first (by row id, which follows creation order), one page at
    /// a time: pass the returned `next_cursor` as `before_id` to get the next page.
    pub async fn list_calls_filtered(
        &self,
        f: &CallFilter,
    ) -> Result<Page<CallRecord>, StoreError> {
        let limit = page_size(f.limit);
        let rows: Vec<CallRecord> = sqlx::query_as(concat!(
            "SELECT ",
            call_cols!(),
            " FROM calls
             WHERE id < $1
               AND ($2 IS NULL OR direction = $2 OR direction LIKE ($2 || '-%'))
               AND ($3 IS NULL OR status = $3)
               AND ($4 IS NULL OR agent = $4)
               AND ($5 IS NULL OR campaign_id = $5)
               AND ($6 IS NULL OR created_at >= $6)
               AND ($7 IS NULL OR created_at < $7)
               AND ($8 IS NULL OR EXISTS (SELECT 1 FROM turns t WHERE t.call_id = calls.id
                                          AND LOWER(t.text) LIKE $8 ESCAPE '\\'))
             ORDER BY id DESC LIMIT $9"
        ))
        .bind(f.before_id.unwrap_or(i64::MAX))
        .bind(f.direction.as_deref().filter(|s| !s.is_empty()))
        .bind(f.status.as_deref().filter(|s| !s.is_empty()))
        .bind(f.agent.as_deref().filter(|s| !s.is_empty()))
        .bind(f.campaign_id)
        .bind(f.from_ms)
        .bind(f.to_ms)
        .bind(like_pattern(f.q.as_deref()))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("list_calls_filtered"))?;
        Ok(paginate(rows, limit, |c| c.id))
    }

    /// Calls per UTC day for the `days` days up to and including the day of `now_ms`, oldest
    /// first, with days without calls included (as zeros) so charts have no gaps.
    pub async fn daily_call_stats(
        &self,
        days: i64,
        now_ms: i64,
    ) -> Result<Vec<DayStats>, StoreError> {
        let op = "daily_call_stats";
        let days = days.clamp(1, 366);
        let end = now_ms.div_euclid(DAY_MS) * DAY_MS + DAY_MS;
        let start = end - days * DAY_MS;
        let mut out: Vec<DayStats> = (0..days)
            .map(|i| {
                let day_start_ms = start + i * DAY_MS;
                DayStats {
                    day: day_label(day_start_ms),
                    day_start_ms,
                    calls: 0,
                    answered: 0,
                    median_voice_to_voice_ms: None,
                }
            })
            .collect();

        let counts: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT (created_at - $1) / $3 AS d, COUNT(*),
                    SUM(CASE WHEN status IN ('completed', 'in-progress')
                              AND EXISTS (SELECT 1 FROM turns t
                                          WHERE t.call_id = calls.id AND t.speaker = 'caller')
                             THEN 1 ELSE 0 END)
             FROM calls WHERE created_at >= $1 AND created_at < $2
             GROUP BY d",
        )
        .bind(start)
        .bind(end)
        .bind(DAY_MS)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query(op))?;
        for (d, calls, answered) in counts {
            if let Some(s) = out.get_mut(d as usize) {
                s.calls = calls;
                s.answered = answered;
            }
        }

        // Medians are not portable SQL: fetch the day's measurements and sort them here.
        let samples: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT (c.created_at - $1) / $3, t.end_of_speech_to_first_audio_ms
             FROM turns t JOIN calls c ON c.id = t.call_id
             WHERE c.created_at >= $1 AND c.created_at < $2
               AND t.end_of_speech_to_first_audio_ms IS NOT NULL",
        )
        .bind(start)
        .bind(end)
        .bind(DAY_MS)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query(op))?;
        let mut per_day: Vec<Vec<i64>> = vec![Vec::new(); out.len()];
        for (d, ms) in samples {
            if let Some(v) = per_day.get_mut(d as usize) {
                v.push(ms);
            }
        }
        for (s, v) in out.iter_mut().zip(per_day) {
            s.median_voice_to_voice_ms = median(v);
        }
        Ok(out)
    }

    /// Contacts, newest first, one page at a time; `q` matches name, phone, company or email
    /// (case-insensitive substring).
    pub async fn list_contacts(
        &self,
        limit: i64,
        before_id: Option<i64>,
        q: Option<&str>,
    ) -> Result<Page<ContactRecord>, StoreError> {
        let op = "list_contacts";
        let limit = page_size(limit);
        let rows = sqlx::query(
            "SELECT id, phone, first_name, last_name, company, email, status, timezone, fields,
                    created_at, updated_at
             FROM contacts
             WHERE id < $1
               AND ($2 IS NULL
                    OR LOWER(phone) LIKE $2 ESCAPE '\\'
                    OR LOWER(COALESCE(first_name, '') || ' ' || COALESCE(last_name, ''))
                       LIKE $2 ESCAPE '\\'
                    OR LOWER(COALESCE(company, '')) LIKE $2 ESCAPE '\\'
                    OR LOWER(COALESCE(email, '')) LIKE $2 ESCAPE '\\')
             ORDER BY id DESC LIMIT $3",
        )
        .bind(before_id.unwrap_or(i64::MAX))
        .bind(like_pattern(q))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query(op))?;
        let contacts = rows
            .iter()
            .map(contact_from_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::query(op))?;
        Ok(paginate(contacts, limit, |c| c.id))
    }

    /// Calls not yet over (no `ended_at`) created at or after `since_ms`, newest first. The
    /// bound keeps a call whose end was never reported (a crashed process) from staying "live"
    /// forever.
    pub async fn active_calls_since(&self, since_ms: i64) -> Result<Vec<CallRecord>, StoreError> {
        sqlx::query_as(concat!(
            "SELECT ",
            call_cols!(),
            " FROM calls WHERE ended_at IS NULL AND created_at >= $1
             ORDER BY id DESC LIMIT $2"
        ))
        .bind(since_ms)
        .bind(MAX_PAGE)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("active_calls_since"))
    }

    /// Turns stored after the turn with row id `after_turn_id` on calls that are not over and
    /// were created at or after `since_ms`, in the order stored. Pollers pass the largest
    /// `turn_id` they have seen (0 at first).
    pub async fn live_turns_after(
        &self,
        after_turn_id: i64,
        since_ms: i64,
    ) -> Result<Vec<LiveTurn>, StoreError> {
        let op = "live_turns_after";
        let rows = sqlx::query(concat!(
            "SELECT c.call_sid, ",
            turn_cols!(),
            " FROM turns t JOIN calls c ON c.id = t.call_id
             WHERE t.id > $1 AND c.ended_at IS NULL AND c.created_at >= $2
             ORDER BY t.id LIMIT $3"
        ))
        .bind(after_turn_id)
        .bind(since_ms)
        .bind(MAX_PAGE * 5)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query(op))?;
        rows.iter()
            .map(|r| {
                Ok(LiveTurn {
                    turn_id: r.try_get("turn_id")?,
                    call_sid: r.try_get("call_sid")?,
                    turn: turn_from_row(r)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::query(op))
    }

    /// The largest turn row id stored so far (0 when there is none): where a new live poller
    /// starts, so it sends only what is said from then on.
    pub async fn last_turn_id(&self) -> Result<i64, StoreError> {
        let id: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM turns")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::query("last_turn_id"))?;
        Ok(id.unwrap_or(0))
    }
}

/// The middle value (mean of the two middle ones for an even count).
fn median(mut v: Vec<i64>) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    })
}

fn day_label(day_start_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(day_start_ms)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn turn_from_row(row: &AnyRow) -> Result<TurnRecord, sqlx::Error> {
    let speaker: String = row.try_get("speaker")?;
    Ok(TurnRecord {
        idx: row.try_get("idx")?,
        speaker: Speaker::from_db(&speaker).ok_or_else(|| sqlx::Error::ColumnDecode {
            index: "speaker".into(),
            source: format!("unknown speaker {speaker:?}").into(),
        })?,
        text: row.try_get("text")?,
        interrupted: row.try_get::<i64, _>("interrupted")? != 0,
        at_ms: row.try_get("at_ms")?,
        timings: TurnTimings {
            end_of_speech_to_transcript_ms: row.try_get("end_of_speech_to_transcript_ms")?,
            transcript_to_reply_ms: row.try_get("transcript_to_reply_ms")?,
            reply_to_first_audio_ms: row.try_get("reply_to_first_audio_ms")?,
            end_of_speech_to_first_audio_ms: row.try_get("end_of_speech_to_first_audio_ms")?,
        },
        intent: row.try_get("intent")?,
        sentiment_label: row.try_get("sentiment_label")?,
        sentiment_score: row.try_get("sentiment_score")?,
    })
}

fn contact_from_row(row: &AnyRow) -> Result<ContactRecord, sqlx::Error> {
    let fields: String = row.try_get("fields")?;
    Ok(ContactRecord {
        id: row.try_get("id")?,
        phone: row.try_get("phone")?,
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        company: row.try_get("company")?,
        email: row.try_get("email")?,
        status: row.try_get("status")?,
        timezone: row.try_get("timezone")?,
        // A hand-edited row with broken JSON still lists; its extra fields are just empty.
        fields: serde_json::from_str(&fields).unwrap_or_default(),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_pattern_escapes_wildcards_and_lowercases() {
        assert_eq!(like_pattern(Some("50%_Off")).unwrap(), "%50\\%\\_off%");
        assert_eq!(like_pattern(Some("  ")), None);
        assert_eq!(like_pattern(None), None);
    }

    #[test]
    fn median_of_even_count_is_mean_of_middle_pair() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![900, 100, 500]), Some(500));
        assert_eq!(median(vec![400, 100, 600, 200]), Some(300));
    }
}
