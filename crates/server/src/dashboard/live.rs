//! `GET /dashboard/live`: calls in progress with their transcripts, kept current by
//! `GET /dashboard/live/events`, a Server-Sent Events stream that polls the store every 500 ms.
//!
//! Polling the store rather than tapping the call drivers keeps this independent of how a call
//! is carried (Media Streams, ConversationRelay, Gather, the browser) and works across
//! processes sharing one database. Each `turn` event carries the turn's row id as its SSE id,
//! so a reconnecting browser (`Last-Event-ID`) resumes exactly where it stopped.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::json;
use store::CallRecord;

use super::{esc, fmt_time, layout, url_encode, Nav, PageError, PageResult, LIVE_WINDOW_MS};
use crate::api_v1::parse_query;
use crate::auth::{Auth, Role};
use crate::AppState;

const SCRIPT: &str = include_str!("../web/dashboard/live.js");
const POLL: Duration = Duration::from_millis(500);

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// What the page and the stream say about a live call (the stream's `calls` event).
fn call_summary(c: &CallRecord) -> serde_json::Value {
    json!({
        "call_sid": c.call_sid, "agent": c.agent, "direction": c.direction,
        "from": c.from_number, "to": c.to_number, "status": c.status,
        "started": fmt_time(c.created_at),
    })
}

fn line_html(idx: i64, speaker: &str, text: &str, v2v: Option<i64>, interrupted: bool) -> String {
    let who = if speaker == "agent" {
        "Agent"
    } else {
        "Caller"
    };
    let timing = v2v
        .map(|ms| format!("voice-to-voice {ms} ms"))
        .unwrap_or_default();
    let interrupted = if interrupted { " interrupted" } else { "" };
    format!(
        "<div class=\"line {speaker}{interrupted}\" data-idx=\"{idx}\"><span class=\"who\">{who}</span>\
         <span class=\"text\">{}</span><div class=\"timings\">{timing}</div></div>",
        esc(text)
    )
}

/// `GET /dashboard/live`.
pub(crate) async fn page(State(state): State<AppState>, auth: Auth) -> PageResult {
    auth.require(Role::Viewer)?;
    // Taken before reading the transcripts: a turn stored in between is sent again by the
    // stream (the page skips lines it has) rather than lost.
    let after = state.store.last_turn_id().await.map_err(PageError::store)?;
    let active = state
        .store
        .active_calls_since(now_ms() - LIVE_WINDOW_MS)
        .await
        .map_err(PageError::store)?;
    let mut cards = String::new();
    for c in &active {
        let turns = state
            .store
            .get_call(&c.call_sid)
            .await
            .map_err(PageError::store)?
            .map(|d| d.turns)
            .unwrap_or_default();
        let lines: String = turns
            .iter()
            .map(|t| {
                line_html(
                    t.idx,
                    t.speaker.as_str(),
                    &t.text,
                    t.timings.end_of_speech_to_first_audio_ms,
                    t.interrupted,
                )
            })
            .collect();
        let s = call_summary(c);
        cards.push_str(&format!(
            "<div class=\"card live-call\" data-sid=\"{sid}\"><div><b>{from} → {to}</b> \
             <span class=\"muted\">{agent} · {dir} · started {started}</span> \
             <a href=\"/dashboard/calls/{sid_url}\">details</a> <span class=\"state muted\"></span></div>\
             <div class=\"transcript\">{lines}</div></div>",
            sid = esc(&c.call_sid),
            sid_url = url_encode(&c.call_sid),
            from = esc(s["from"].as_str().unwrap_or("?")),
            to = esc(s["to"].as_str().unwrap_or("?")),
            agent = esc(s["agent"].as_str().unwrap_or("")),
            dir = esc(s["direction"].as_str().unwrap_or("")),
            started = s["started"].as_str().unwrap_or(""),
        ));
    }
    let empty_hidden = if active.is_empty() { "" } else { " hidden" };
    let body = format!(
        "<h1>Live calls</h1>\
         <p class=\"muted\" id=\"live-status\" role=\"status\">Connecting…</p>\
         <p class=\"card muted\" id=\"live-empty\"{empty_hidden}>No call in progress. \
            Start one from <a href=\"/web/talk\">Talk</a>.</p>\
         <div id=\"live-calls\" data-after=\"{after}\">{cards}</div>"
    );
    Ok(layout(
        &auth,
        "Live",
        Nav::Live,
        &body,
        "<script src=\"/dashboard/assets/live.js\"></script>",
    ))
}

pub(crate) async fn script(_auth: Auth) -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

#[derive(Deserialize)]
struct EventsQuery {
    after: Option<i64>,
}

/// The stream's memory between polls.
struct Poller {
    state: AppState,
    /// The largest turn row id sent.
    after: i64,
    /// The live calls last announced (`None` before the first announcement).
    calls: Option<Vec<String>>,
    queue: VecDeque<Event>,
    first: bool,
}

impl Poller {
    /// One look at the store: new turns, and the list of live calls when it changed.
    async fn poll(&mut self) {
        let since = now_ms() - LIVE_WINDOW_MS;
        match self.state.store.active_calls_since(since).await {
            Ok(active) => {
                let sids: Vec<String> = active.iter().map(|c| c.call_sid.clone()).collect();
                if self.calls.as_ref() != Some(&sids) {
                    let list: Vec<_> = active.iter().map(call_summary).collect();
                    self.queue.push_back(
                        Event::default()
                            .event("calls")
                            .data(serde_json::Value::from(list).to_string()),
                    );
                    self.calls = Some(sids);
                }
            }
            Err(e) => tracing::warn!(error = %e, "live view: could not list active calls"),
        }
        match self.state.store.live_turns_after(self.after, since).await {
            Ok(turns) => {
                for t in turns {
                    self.after = self.after.max(t.turn_id);
                    let data = json!({
                        "call_sid": t.call_sid, "idx": t.turn.idx,
                        "speaker": t.turn.speaker.as_str(), "text": t.turn.text,
                        "interrupted": t.turn.interrupted,
                        "voice_to_voice_ms": t.turn.timings.end_of_speech_to_first_audio_ms,
                    });
                    self.queue.push_back(
                        Event::default()
                            .event("turn")
                            .id(t.turn_id.to_string())
                            .data(data.to_string()),
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "live view: could not read new turns"),
        }
    }
}

/// `GET /dashboard/live/events?after=<turn id>`: `calls` events (the live calls, whenever that
/// list changes) and `turn` events (each new turn of a live call).
pub(crate) async fn events(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, PageError> {
    auth.require(Role::Viewer)?;
    let q: EventsQuery = parse_query(raw.as_deref())
        .map_err(|e| PageError::status(axum::http::StatusCode::BAD_REQUEST, &e.2))?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let after = match resume.or(q.after) {
        Some(id) => id,
        None => state.store.last_turn_id().await.map_err(PageError::store)?,
    };
    let poller = Poller {
        state,
        after,
        calls: None,
        queue: VecDeque::new(),
        first: true,
    };
    let stream = stream::unfold(poller, |mut p| async move {
        loop {
            if let Some(event) = p.queue.pop_front() {
                return Some((Ok(event), p));
            }
            if !p.first {
                tokio::time::sleep(POLL).await;
            }
            p.first = false;
            p.poll().await;
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
