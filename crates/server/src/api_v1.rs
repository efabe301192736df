//! The read side of `/api/v1`: calls (filtered, cursor-paginated), one call with its turns,
//! events and status history, contacts, agents, daily statistics, and the audit log.
//!
//! Access: a signed-in user or an API key with the `viewer` role (the audit log: `admin`).
//! Lists answer `{"data": [...], "next_cursor": <id or null>}`; pass `cursor` back for the next,
//! older page. Errors are `{"error": {"code", "message"}}`. The write side of calls and
//! campaigns lives in `outbound_api.rs`.

use axum::extract::{Path, RawQuery, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use store::{CallFilter, CallRecord};

use crate::auth::{Auth, Role};
use crate::outbound_api::{bad_request, internal, not_found, ApiError};
use crate::routes::{route, Access, RouteSpec};
use crate::AppState;

/// Page size when the request names none.
pub(crate) const DEFAULT_LIMIT: i64 = 50;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

type ApiResult = Result<Response, ApiError>;

/// The read routes.
pub(crate) fn routes() -> Vec<RouteSpec> {
    use Access::User;
    vec![
        route(Method::GET, "/api/v1/calls", User, get(list_calls)),
        route(Method::GET, "/api/v1/calls/{sid}", User, get(get_call)),
        route(
            Method::GET,
            "/api/v1/calls/{sid}/turns",
            User,
            get(call_turns),
        ),
        route(Method::GET, "/api/v1/contacts", User, get(list_contacts)),
        route(Method::GET, "/api/v1/agents", User, get(list_agents)),
        route(Method::GET, "/api/v1/stats/daily", User, get(daily_stats)),
        route(Method::GET, "/api/v1/audit", User, get(audit_log)),
    ]
}

/// Parses a query string into `T`, answering 400 in the API's error shape when it does not fit
/// (axum's own `Query` rejection is plain text).
pub(crate) fn parse_query<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    serde_urlencoded::from_str(raw.unwrap_or_default())
        .map_err(|e| bad_request(format!("query string: {e}")))
}

/// The filters of a call list, as query parameters. Everything is text so that a dashboard
/// form's empty fields (`agent=`) mean "any" instead of failing to parse.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CallQuery {
    pub(crate) direction: Option<String>,
    pub(crate) status: Option<String>,
    pub(crate) agent: Option<String>,
    /// Campaign id.
    pub(crate) campaign: Option<String>,
    /// Created at or after: `YYYY-MM-DD` (UTC), RFC 3339, or epoch milliseconds.
    pub(crate) from: Option<String>,
    /// Created up to: a `YYYY-MM-DD` date includes that whole day; RFC 3339 / epoch ms exclusive.
    pub(crate) to: Option<String>,
    /// Text said in any turn.
    pub(crate) q: Option<String>,
    pub(crate) limit: Option<String>,
    pub(crate) cursor: Option<String>,
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn parse_int(name: &str, s: &Option<String>) -> Result<Option<i64>, String> {
    non_empty(s)
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| format!("{name} must be an integer, not {v:?}"))
        })
        .transpose()
}

/// A point in time from a query parameter; a bare date is its UTC midnight, plus a day when
/// `end_of_day` (so `to=2026-03-10` includes the 10th).
pub(crate) fn parse_time(name: &str, s: &str, end_of_day: bool) -> Result<i64, String> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let midnight = d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis());
        if let Some(ms) = midnight {
            return Ok(if end_of_day { ms + DAY_MS } else { ms });
        }
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            format!("{name} must be a date (YYYY-MM-DD), an RFC 3339 time or epoch ms, not {s:?}")
        })
}

impl CallQuery {
    /// The store filter these parameters ask for, or why they are wrong.
    pub(crate) fn to_filter(&self) -> Result<CallFilter, String> {
        let time = |name, v: &Option<String>, end| {
            non_empty(v).map(|s| parse_time(name, s, end)).transpose()
        };
        Ok(CallFilter {
            direction: non_empty(&self.direction).map(str::to_owned),
            status: non_empty(&self.status).map(str::to_owned),
            agent: non_empty(&self.agent).map(str::to_owned),
            campaign_id: parse_int("campaign", &self.campaign)?,
            from_ms: time("from", &self.from, false)?,
            to_ms: time("to", &self.to, true)?,
            q: non_empty(&self.q).map(str::to_owned),
            limit: parse_int("limit", &self.limit)?.unwrap_or(DEFAULT_LIMIT),
            before_id: parse_int("cursor", &self.cursor)?,
        })
    }
}

/// A call as the API shows it: the stored row, its outcome detail as JSON rather than text,
/// and how long it lasted once over.
pub(crate) fn call_json(c: &CallRecord) -> Value {
    let detail = c
        .outcome_detail
        .as_deref()
        .map(|d| serde_json::from_str(d).unwrap_or_else(|_| Value::String(d.to_owned())));
    let duration_ms = c
        .ended_at
        .map(|end| end - c.answered_at.unwrap_or(c.created_at));
    json!({
        "id": c.id, "call_sid": c.call_sid, "account_sid": c.account_sid,
        "stream_sid": c.stream_sid, "direction": c.direction,
        "from_number": c.from_number, "to_number": c.to_number,
        "status": c.status, "agent": c.agent, "contact_id": c.contact_id,
        "created_at": c.created_at, "answered_at": c.answered_at, "ended_at": c.ended_at,
        "duration_ms": duration_ms, "outcome": c.outcome, "outcome_detail": detail,
    })
}

/// `GET /api/v1/calls`: newest first, filtered.
async fn list_calls(
    State(state): State<AppState>,
    auth: Auth,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    auth.require(Role::Viewer)?;
    let q: CallQuery = parse_query(raw.as_deref())?;
    let filter = q.to_filter().map_err(bad_request)?;
    let page = state
        .store
        .list_calls_filtered(&filter)
        .await
        .map_err(internal)?;
    let data: Vec<Value> = page.data.iter().map(call_json).collect();
    Ok(Json(json!({"data": data, "next_cursor": page.next_cursor})).into_response())
}

/// Whether a recording was saved for the call (`recording.rs` notes it as a `recording` event
/// and serves it at `/api/v1/calls/{sid}/recording`).
pub(crate) fn has_recording(detail: &store::CallDetail) -> bool {
    detail.events.iter().any(|e| e.kind == "recording")
}

async fn load_call(state: &AppState, sid: &str) -> Result<store::CallDetail, ApiError> {
    state
        .store
        .get_call(sid)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("no call {sid}")))
}

/// `GET /api/v1/calls/{sid}`: the call, its turns with timings, events and status history.
async fn get_call(State(state): State<AppState>, auth: Auth, Path(sid): Path<String>) -> ApiResult {
    auth.require(Role::Viewer)?;
    let d = load_call(&state, &sid).await?;
    let recording = has_recording(&d).then(|| format!("/api/v1/calls/{sid}/recording"));
    Ok(Json(json!({
        "call": call_json(&d.call),
        "turns": d.turns,
        "events": d.events,
        "status_history": d.status_history,
        "recording_url": recording,
    }))
    .into_response())
}

/// `GET /api/v1/calls/{sid}/turns`: the transcript, in order, with each turn's timings.
async fn call_turns(
    State(state): State<AppState>,
    auth: Auth,
    Path(sid): Path<String>,
) -> ApiResult {
    auth.require(Role::Viewer)?;
    let d = load_call(&state, &sid).await?;
    Ok(Json(json!({ "data": d.turns })).into_response())
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
    q: Option<String>,
}

/// `GET /api/v1/contacts?q=&limit=&cursor=`: newest first.
async fn list_contacts(
    State(state): State<AppState>,
    auth: Auth,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    auth.require(Role::Viewer)?;
    let q: ListQuery = parse_query(raw.as_deref())?;
    let limit = parse_int("limit", &q.limit).map_err(bad_request)?;
    let cursor = parse_int("cursor", &q.cursor).map_err(bad_request)?;
    let page = state
        .store
        .list_contacts(limit.unwrap_or(DEFAULT_LIMIT), cursor, non_empty(&q.q))
        .await
        .map_err(internal)?;
    Ok(Json(json!({"data": page.data, "next_cursor": page.next_cursor})).into_response())
}

/// `GET /api/v1/agents`: the configured agents.
async fn list_agents(State(state): State<AppState>, auth: Auth) -> ApiResult {
    auth.require(Role::Viewer)?;
    let default = state.agents.default_name();
    let data: Vec<Value> = state
        .agents
        .names()
        .into_iter()
        .filter_map(|key| {
            let a = state.agents.get(Some(&key)).ok()?;
            Some(json!({
                "key": key, "name": a.config.name, "language": a.config.language,
                "greeting": a.config.greeting.to_string(), "default": key == default,
            }))
        })
        .collect();
    Ok(Json(json!({ "data": data })).into_response())
}

#[derive(Deserialize)]
struct DaysQuery {
    days: Option<String>,
}

/// `GET /api/v1/stats/daily?days=14`: calls, answered calls and median voice-to-voice
/// latency per UTC day, oldest first, ending today.
async fn daily_stats(
    State(state): State<AppState>,
    auth: Auth,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    auth.require(Role::Viewer)?;
    let q: DaysQuery = parse_query(raw.as_deref())?;
    let days = parse_int("days", &q.days)
        .map_err(bad_request)?
        .unwrap_or(14);
    if !(1..=366).contains(&days) {
        return Err(bad_request("days must be between 1 and 366"));
    }
    let now = chrono::Utc::now().timestamp_millis();
    let data = state
        .store
        .daily_call_stats(days, now)
        .await
        .map_err(internal)?;
    Ok(Json(json!({ "data": data })).into_response())
}

/// `GET /api/v1/audit?limit=&cursor=`: who changed what, newest first (admins only).
async fn audit_log(
    State(state): State<AppState>,
    auth: Auth,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    auth.require(Role::Admin)?;
    let q: ListQuery = parse_query(raw.as_deref())?;
    let limit = parse_int("limit", &q.limit)
        .map_err(bad_request)?
        .unwrap_or(DEFAULT_LIMIT)
        .clamp(1, store::MAX_PAGE);
    let cursor = parse_int("cursor", &q.cursor).map_err(bad_request)?;
    let mut rows = state
        .store
        .audit_log(limit + 1, cursor)
        .await
        .map_err(internal)?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().map(|e| e.id)
    } else {
        None
    };
    Ok(Json(json!({"data": rows, "next_cursor": next})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_filter_covers_the_whole_day() {
        let from = parse_time("from", "2026-03-10", false).unwrap();
        let to = parse_time("to", "2026-03-10", true).unwrap();
        assert_eq!(to - from, DAY_MS);
        assert_eq!(
            parse_time("from", "2026-03-10T00:00:00Z", false).unwrap(),
            from
        );
        assert_eq!(
            parse_time("from", "1700000000000", false).unwrap(),
            1_700_000_000_000
        );
        assert!(parse_time("from", "yesterday", false).is_err());
    }

    #[test]
    fn empty_form_fields_mean_any() {
        let q: CallQuery =
            parse_query(Some("direction=&agent=demo&campaign=&limit=&to=")).unwrap_or_default();
        let f = q.to_filter().unwrap();
        assert_eq!(f.direction, None);
        assert_eq!(f.agent.as_deref(), Some("demo"));
        assert_eq!(f.campaign_id, None);
        assert_eq!(f.limit, DEFAULT_LIMIT);
        let bad = CallQuery {
            limit: Some("ten".into()),
            ..Default::default()
        };
        assert!(bad.to_filter().unwrap_err().contains("limit"));
    }
}
