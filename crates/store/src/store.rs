//! `Store`: the repository for calls, their status history, turns and events, on SQLite or
//! PostgreSQL through sqlx's `Any` driver.
//!
//! The SQL is written once for both: `$1, $2 …` placeholders, `INSERT … ON CONFLICT … RETURNING`,
//! integers as BIGINT and flags as integers (the `Any` driver decodes a SQLite integer as an
//! integer, never as a boolean). The few places that must differ ask [`Store::backend`].

use std::path::Path;
use std::str::FromStr;
use std::sync::Once;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Any, AnyConnection, AnyPool, ConnectOptions, Connection, Row, Transaction};

use crate::error::StoreError;
use crate::records::{
    CallDetail, CallEventRecord, CallRecord, NewCall, NewTurn, Speaker, StatusEventRecord,
    StatusOutcome, StatusUpdate, TurnRecord, TurnTimings,
};

/// Column list matching [`CallRecord`]; a macro so it can be spliced into `&'static str` SQL.
macro_rules! call_columns {
    () => {
        "id, call_sid, account_sid, stream_sid, direction, from_number, to_number, status, \
         status_rank, agent, created_at, answered_at, ended_at, contact_id, outcome, outcome_detail"
    };
}

/// Twilio statuses meaning "the call was answered": they stamp `answered_at`.
const ANSWERED_STATUSES: &[&str] = &["in-progress", "answered"];
/// Twilio statuses meaning "the call is over": they stamp `ended_at`.
const ENDED_STATUSES: &[&str] = &["completed", "busy", "failed", "no-answer", "canceled"];

/// Connections to a PostgreSQL server: several callpilot processes may share it, so keep each
/// one's share modest.
const PG_MAX_CONNECTIONS: u32 = 10;

/// The database behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Handle to the call database. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Opens the database at `url` and brings its schema up to date:
    /// - `sqlite://./data/callpilot.db` (created if missing, WAL so the dashboard's reads never
    ///   block live calls' writes) or `sqlite::memory:`;
    /// - `postgres://user:pass@host:port/db` (the database must exist; several callpilot
    ///   processes may share it).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let (backend, pool) = if url.starts_with("sqlite:") {
            (Backend::Sqlite, connect_sqlite(url).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, connect_postgres(url).await?)
        } else {
            // sqlx would read any other string as a SQLite file name (`mysql:` becoming a file
            // called `mysql:`); insist on a known scheme instead.
            return Err(StoreError::UnsupportedUrl {
                url: url.to_owned(),
            });
        };
        match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("./migrations_pg").run(&pool).await?,
        }
        tracing::debug!(?backend, "store connected and migrated");
        Ok(Store { pool, backend })
    }

    /// Which database this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a transaction that will write. SQLite takes its one write lock up front
    /// (`BEGIN IMMEDIATE`), so a read-then-write cannot be overtaken by another writer and fail
    /// with "database is locked" at its first write; PostgreSQL locks rows as it goes.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Records a call, idempotently by `call_sid`, and returns its row id. On an existing row it
    /// only fills fields that are still empty: a later, poorer source never erases what an
    /// earlier one knew.
    pub async fn upsert_call(&self, c: &NewCall) -> Result<i64, StoreError> {
        let id = sqlx::query_scalar::<_, i64>(
            "INSERT INTO calls (call_sid, account_sid, direction, from_number, to_number, agent, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (call_sid) DO UPDATE SET
                 account_sid = COALESCE(calls.account_sid, excluded.account_sid),
                 direction   = COALESCE(calls.direction,   excluded.direction),
                 from_number = COALESCE(calls.from_number, excluded.from_number),
                 to_number   = COALESCE(calls.to_number,   excluded.to_number),
                 agent       = COALESCE(calls.agent,       excluded.agent)
             RETURNING id",
        )
        .bind(&c.call_sid)
        .bind(&c.account_sid)
        .bind(&c.direction)
        .bind(&c.from_number)
        .bind(&c.to_number)
        .bind(&c.agent)
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::query("upsert_call"))?;
        Ok(id)
    }

    /// Attaches the Media Streams `streamSid` to a call (created if unknown).
    pub async fn set_stream_sid(&self, call_sid: &str, stream_sid: &str) -> Result<(), StoreError> {
        let op = "set_stream_sid";
        let mut tx = self.pool.begin().await.map_err(StoreError::query(op))?;
        let id = ensure_call(&mut tx, call_sid, op).await?;
        sqlx::query("UPDATE calls SET stream_sid = $1 WHERE id = $2")
            .bind(stream_sid)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query(op))?;
        tx.commit().await.map_err(StoreError::query(op))
    }

    /// Records a status observation. Retried callbacks are [`StatusOutcome::Duplicate`] no-ops;
    /// late ones go into the history but leave the current status alone
    /// ([`StatusOutcome::Stale`]). Unknown calls are created: Twilio callbacks can arrive before
    /// anything else about a call.
    ///
    /// `in-progress`/`answered` stamp `answered_at` and final statuses stamp `ended_at` (first
    /// one wins), from the event's own timestamp when it parses, else the time received.
    pub async fn record_status(&self, u: &StatusUpdate) -> Result<StatusOutcome, StoreError> {
        let op = "record_status";
        let received_at = now_ms();
        let mut tx = self.pool.begin().await.map_err(StoreError::query(op))?;
        let id = ensure_call(&mut tx, &u.call_sid, op).await?;

        let inserted = sqlx::query(
            "INSERT INTO call_status_events (call_sid, status, sequence_number, event_timestamp, received_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT DO NOTHING",
        )
        .bind(&u.call_sid)
        .bind(&u.status)
        .bind(u.sequence_number)
        .bind(&u.event_timestamp)
        .bind(received_at)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query(op))?
        .rows_affected();
        if inserted == 0 {
            // Nothing to commit; dropping the transaction rolls back the no-op.
            tracing::debug!(call_sid = %u.call_sid, status = %u.status, "duplicate status callback");
            return Ok(StatusOutcome::Duplicate);
        }

        let applied = sqlx::query(
            "UPDATE calls SET status = $1, status_rank = $2
             WHERE id = $3 AND (status_rank IS NULL OR status_rank < $4)",
        )
        .bind(&u.status)
        .bind(u.rank)
        .bind(id)
        .bind(u.rank)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query(op))?
        .rows_affected()
            > 0;

        let happened_at = u
            .event_timestamp
            .as_deref()
            .and_then(parse_rfc2822_ms)
            .unwrap_or(received_at);
        let stamp = if ANSWERED_STATUSES.contains(&u.status.as_str()) {
            Some("UPDATE calls SET answered_at = COALESCE(answered_at, $1) WHERE id = $2")
        } else if ENDED_STATUSES.contains(&u.status.as_str()) {
            Some("UPDATE calls SET ended_at = COALESCE(ended_at, $1) WHERE id = $2")
        } else {
            None
        };
        if let Some(sql) = stamp {
            sqlx::query(sql)
                .bind(happened_at)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query(op))?;
        }
        tx.commit().await.map_err(StoreError::query(op))?;

        if applied {
            Ok(StatusOutcome::Applied)
        } else {
            tracing::debug!(call_sid = %u.call_sid, status = %u.status, "stale status callback");
            Ok(StatusOutcome::Stale)
        }
    }

    /// Appends a turn to a call's transcript (call created if unknown); its index is the next
    /// free one for that call, assigned inside the insert so concurrent writers cannot collide.
    pub async fn add_turn(&self, call_sid: &str, t: &NewTurn) -> Result<(), StoreError> {
        let op = "add_turn";
        let mut tx = self.pool.begin().await.map_err(StoreError::query(op))?;
        let id = ensure_call(&mut tx, call_sid, op).await?;
        sqlx::query(
            "INSERT INTO turns (call_id, idx, speaker, text, interrupted, at_ms,
                                end_of_speech_to_transcript_ms, transcript_to_reply_ms,
                                reply_to_first_audio_ms, end_of_speech_to_first_audio_ms, intent)
             SELECT $1, COALESCE(MAX(idx) + 1, 0), $2, $3, $4, $5, $6, $7, $8, $9, $10
             FROM turns WHERE call_id = $1",
        )
        .bind(id)
        .bind(t.speaker.as_str())
        .bind(&t.text)
        .bind(i64::from(t.interrupted))
        .bind(t.at_ms)
        .bind(t.timings.end_of_speech_to_transcript_ms)
        .bind(t.timings.transcript_to_reply_ms)
        .bind(t.timings.reply_to_first_audio_ms)
        .bind(t.timings.end_of_speech_to_first_audio_ms)
        .bind(&t.intent)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query(op))?;
        tx.commit().await.map_err(StoreError::query(op))
    }

    /// Records what the brain understood of the caller's latest turn: its intent and sentiment.
    /// (The turn is stored when its transcript arrives, before the brain has run.)
    pub async fn annotate_last_caller_turn(
        &self,
        call_sid: &str,
        intent: Option<&str>,
        sentiment_label: &str,
        sentiment_score: f64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE turns SET intent = COALESCE($1, intent), sentiment_label = $2, sentiment_score = $3
             WHERE id = (SELECT t.id FROM turns t JOIN calls c ON c.id = t.call_id
                         WHERE c.call_sid = $4 AND t.speaker = 'caller' ORDER BY t.idx DESC LIMIT 1)",
        )
        .bind(intent)
        .bind(sentiment_label)
        .bind(sentiment_score)
        .bind(call_sid)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("annotate_last_caller_turn"))?;
        Ok(())
    }

    /// Appends a free-form event (`kind` + JSON `data`) to a call's timeline, stamped now.
    pub async fn add_event(
        &self,
        call_sid: &str,
        kind: &str,
        data: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let op = "add_event";
        // Serializing a `Value` cannot fail (its keys are strings), but stay honest about it.
        let data = serde_json::to_string(data).map_err(|source| StoreError::EventData {
            call_sid: call_sid.to_owned(),
            source,
        })?;
        let mut tx = self.pool.begin().await.map_err(StoreError::query(op))?;
        let id = ensure_call(&mut tx, call_sid, op).await?;
        sqlx::query("INSERT INTO call_events (call_id, at, kind, data) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(now_ms())
            .bind(kind)
            .bind(data)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query(op))?;
        tx.commit().await.map_err(StoreError::query(op))
    }

    /// Marks a call as over from our side (media stream closed, agent hung up): stamps
    /// `ended_at` unless already set, and sets `status` under the same rank rule as
    /// [`Store::record_status`]. Not added to the status history, which holds Twilio's reports.
    pub async fn finish_call(
        &self,
        call_sid: &str,
        status: &str,
        rank: i32,
    ) -> Result<(), StoreError> {
        let op = "finish_call";
        let mut tx = self.pool.begin().await.map_err(StoreError::query(op))?;
        let id = ensure_call(&mut tx, call_sid, op).await?;
        sqlx::query(
            "UPDATE calls SET
                 ended_at    = COALESCE(ended_at, $1),
                 status      = CASE WHEN status_rank IS NULL OR status_rank < $2 THEN $3 ELSE status END,
                 status_rank = CASE WHEN status_rank IS NULL OR status_rank < $2 THEN $2 ELSE status_rank END
             WHERE id = $4",
        )
        .bind(now_ms())
        .bind(rank)
        .bind(status)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query(op))?;
        tx.commit().await.map_err(StoreError::query(op))
    }

    /// Everything about one call, or `None` if it was never recorded.
    pub async fn get_call(&self, call_sid: &str) -> Result<Option<CallDetail>, StoreError> {
        let op = "get_call";
        // One read transaction: a consistent snapshot even while the call is still live.
        let mut tx = self.pool.begin().await.map_err(StoreError::query(op))?;
        let call: Option<CallRecord> = sqlx::query_as(concat!(
            "SELECT ",
            call_columns!(),
            " FROM calls WHERE call_sid = $1"
        ))
        .bind(call_sid)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::query(op))?;
        let Some(call) = call else {
            return Ok(None);
        };

        let turns = sqlx::query(
            "SELECT idx, speaker, text, interrupted, at_ms,
                    end_of_speech_to_transcript_ms, transcript_to_reply_ms,
                    reply_to_first_audio_ms, end_of_speech_to_first_audio_ms, intent,
                    sentiment_label, sentiment_score
             FROM turns WHERE call_id = $1 ORDER BY idx",
        )
        .bind(call.id)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::query(op))?
        .iter()
        .map(turn_from_row)
        .collect::<Result<Vec<_>, _>>()
        .map_err(StoreError::query(op))?;

        let mut events = Vec::new();
        for row in
            sqlx::query("SELECT at, kind, data FROM call_events WHERE call_id = $1 ORDER BY at, id")
                .bind(call.id)
                .fetch_all(&mut *tx)
                .await
                .map_err(StoreError::query(op))?
        {
            let data: String = row.try_get("data").map_err(StoreError::query(op))?;
            events.push(CallEventRecord {
                at: row.try_get("at").map_err(StoreError::query(op))?,
                kind: row.try_get("kind").map_err(StoreError::query(op))?,
                data: serde_json::from_str(&data).map_err(|source| StoreError::EventData {
                    call_sid: call_sid.to_owned(),
                    source,
                })?,
            });
        }

        let status_history: Vec<StatusEventRecord> = sqlx::query_as(
            "SELECT status, sequence_number, event_timestamp, received_at
             FROM call_status_events WHERE call_sid = $1 ORDER BY id",
        )
        .bind(call_sid)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::query(op))?;
        tx.commit().await.map_err(StoreError::query(op))?;

        Ok(Some(CallDetail {
            call,
            turns,
            events,
            status_history,
        }))
    }

    /// The most recent calls, newest first; at most `limit` (negative counts as zero).
    pub async fn list_calls(&self, limit: i64) -> Result<Vec<CallRecord>, StoreError> {
        sqlx::query_as(concat!(
            "SELECT ",
            call_columns!(),
            " FROM calls ORDER BY created_at DESC, id DESC LIMIT $1"
        ))
        .bind(limit.max(0))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("list_calls"))
    }
}

/// Returns the id of the call row for `call_sid`, creating a bare row if there is none.
/// Every write goes through here because Twilio gives no ordering guarantee between the
/// webhook, status callbacks and the media stream: whichever arrives first creates the call.
async fn ensure_call(
    conn: &mut AnyConnection,
    call_sid: &str,
    op: &'static str,
) -> Result<i64, StoreError> {
    // `DO UPDATE` with a no-op assignment (rather than `DO NOTHING`) so RETURNING yields the
    // existing row's id too.
    sqlx::query_scalar::<_, i64>(
        "INSERT INTO calls (call_sid, created_at) VALUES ($1, $2)
         ON CONFLICT (call_sid) DO UPDATE SET call_sid = excluded.call_sid
         RETURNING id",
    )
    .bind(call_sid)
    .bind(now_ms())
    .fetch_one(conn)
    .await
    .map_err(StoreError::query(op))
}

fn turn_from_row(row: &AnyRow) -> Result<TurnRecord, sqlx::Error> {
    let speaker: String = row.try_get("speaker")?;
    Ok(TurnRecord {
        idx: row.try_get("idx")?,
        // The CHECK constraint admits only these two values.
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

async fn connect_sqlite(url: &str) -> Result<AnyPool, StoreError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|source| StoreError::InvalidUrl {
            url: url.to_owned(),
            source,
        })?
        .create_if_missing(true);
    let connect_failed = |source| StoreError::Connect {
        url: url.to_owned(),
        source,
    };
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    if in_memory {
        // An in-memory database lives only as long as a connection to it, and shared-cache
        // connections lock whole tables: keep exactly one connection, forever. (The `Any`
        // driver parses the URL per connection, so a second one would even be a new database.)
        return AnyPoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect(url)
            .await
            .map_err(connect_failed);
    }
    create_parent_dir(options.get_filename())?;
    // The `Any` driver takes a URL, not options: this one says "create if missing". sqlx's own
    // defaults give foreign keys on and a 5 s busy timeout (several tasks write one file).
    let any_url = options.to_url_lossy();
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        .connect(any_url.as_str())
        .await
        .map_err(connect_failed)?;
    // WAL is a property of the file: set once, every later connection uses it.
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&pool)
        .await
        .map_err(connect_failed)?;
    Ok(pool)
}

async fn connect_postgres(url: &str) -> Result<AnyPool, StoreError> {
    let failed = |source| StoreError::Connect {
        url: redact_password(url),
        source,
    };
    // One plain connection first: the pool retries a refused or rejected connection until its
    // acquire timeout (30 s), while a wrong host, port or password should fail at once.
    AnyConnection::connect(url)
        .await
        .map_err(failed)?
        .close()
        .await
        .map_err(failed)?;
    AnyPoolOptions::new()
        .max_connections(PG_MAX_CONNECTIONS)
        .connect(url)
        .await
        .map_err(failed)
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`, for error messages.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

fn create_parent_dir(file: &Path) -> Result<(), StoreError> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })
        }
        _ => Ok(()),
    }
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn parse_rfc2822_ms(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc2822(s)
        .ok()
        .map(|t| t.timestamp_millis())
}
