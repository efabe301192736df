//! `GET /dashboard/calls/{sid}`: one call — its facts, outcome, recording, the transcript with
//! each turn's timings, and a timeline of status changes and events (tools, transfers,
//! fallbacks). The recording plays from `GET /api/v1/calls/{sid}/recording` (`recording.rs`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::Value;
use store::{CallDetail, TurnRecord};

use super::{
    esc, fmt_duration, fmt_time, layout, status_pill, url_encode, Nav, PageError, PageResult,
};
use crate::api_v1::{call_json, has_recording};
use crate::auth::{Auth, Role};
use crate::AppState;

async fn load(state: &AppState, sid: &str) -> Result<CallDetail, PageError> {
    state
        .store
        .get_call(sid)
        .await
        .map_err(PageError::store)?
        .ok_or_else(|| PageError::status(StatusCode::NOT_FOUND, &format!("No call {sid}.")))
}

fn ms(label: &str, v: Option<i64>) -> Option<String> {
    v.map(|v| format!("{label} {v} ms"))
}

/// One transcript line with its timings underneath.
fn turn_html(t: &TurnRecord) -> String {
    let speaker = t.speaker.as_str();
    let who = if speaker == "agent" {
        "Agent"
    } else {
        "Caller"
    };
    let interrupted = if t.interrupted { " interrupted" } else { "" };
    let timings: Vec<String> = [
        ms("speech→text", t.timings.end_of_speech_to_transcript_ms),
        ms("text→reply", t.timings.transcript_to_reply_ms),
        ms("reply→audio", t.timings.reply_to_first_audio_ms),
        ms("voice-to-voice", t.timings.end_of_speech_to_first_audio_ms),
    ]
    .into_iter()
    .flatten()
    .chain(t.intent.as_ref().map(|i| format!("intent {}", esc(i))))
    .chain(t.sentiment_label.as_ref().map(|l| {
        format!(
            "sentiment {} ({:+.2})",
            esc(l),
            t.sentiment_score.unwrap_or_default()
        )
    }))
    .collect();
    format!(
        "<div class=\"line {speaker}{interrupted}\"><span class=\"muted\">+{:.1}s</span> \
         <span class=\"who\">{who}</span><span class=\"text\">{}</span>\
         <div class=\"timings\">{}</div></div>",
        t.at_ms as f64 / 1000.0,
        esc(&t.text),
        timings.join(" · ")
    )
}

/// How a timeline entry is highlighted.
fn event_class(kind: &str) -> &'static str {
    if kind == "tool" || kind.starts_with("llm") {
        "tool"
    } else if kind.contains("transfer") || kind.contains("handoff") {
        "transfer"
    } else if kind.contains("fallback") {
        "fallback"
    } else if kind.contains("fail") || kind.contains("error") || kind.contains("timeout") {
        "failure"
    } else {
        "event"
    }
}

fn timeline(d: &CallDetail) -> String {
    let mut items: Vec<(i64, String)> = d
        .status_history
        .iter()
        .map(|s| {
            (
                s.received_at,
                format!(
                    "<li class=\"status\"><span class=\"muted\">{}</span> <span class=\"kind\">status → {}</span></li>",
                    fmt_time(s.received_at),
                    esc(&s.status)
                ),
            )
        })
        .collect();
    items.extend(d.events.iter().map(|e| {
        let data = match &e.data {
            Value::Object(m) if m.is_empty() => String::new(),
            v => format!(" <code>{}</code>", esc(&v.to_string())),
        };
        (
            e.at,
            format!(
                "<li class=\"{}\"><span class=\"muted\">{}</span> <span class=\"kind\">{}</span>{data}</li>",
                event_class(&e.kind),
                fmt_time(e.at),
                esc(&e.kind)
            ),
        )
    }));
    // Stable: a status and an event of the same millisecond keep status first.
    items.sort_by_key(|(at, _)| *at);
    if items.is_empty() {
        return "<p class=\"muted\">No events.</p>".into();
    }
    let list: String = items.into_iter().map(|(_, li)| li).collect();
    format!("<ul class=\"timeline\">{list}</ul>")
}

/// `GET /dashboard/calls/{sid}`.
pub(crate) async fn page(
    State(state): State<AppState>,
    auth: Auth,
    Path(sid): Path<String>,
) -> PageResult {
    auth.require(Role::Viewer)?;
    let d = load(&state, &sid).await?;
    let c = &d.call;
    let j = call_json(c);
    let row = |k: &str, v: String| format!("<tr><th>{k}</th><td>{v}</td></tr>");
    let opt = |v: &Option<String>| esc(v.as_deref().unwrap_or("—"));
    let facts = [
        row("Call SID", esc(&c.call_sid)),
        row("Direction", opt(&c.direction)),
        row("From", opt(&c.from_number)),
        row("To", opt(&c.to_number)),
        row("Agent", opt(&c.agent)),
        row("Status", status_pill(c.status.as_deref())),
        row("Started (UTC)", fmt_time(c.created_at)),
        row(
            "Answered",
            c.answered_at.map(fmt_time).unwrap_or_else(|| "—".into()),
        ),
        row(
            "Ended",
            c.ended_at.map(fmt_time).unwrap_or_else(|| "—".into()),
        ),
        row(
            "Duration",
            j["duration_ms"]
                .as_i64()
                .map(fmt_duration)
                .unwrap_or_else(|| "—".into()),
        ),
    ]
    .concat();
    let outcome = match (&c.outcome, &j["outcome_detail"]) {
        (None, Value::Null) => "<p class=\"muted\">No outcome recorded.</p>".to_owned(),
        (o, detail) => {
            let detail = if detail.is_null() {
                String::new()
            } else {
                format!(
                    "<pre>{}</pre>",
                    esc(&serde_json::to_string_pretty(detail).unwrap_or_default())
                )
            };
            format!("<p><b>{}</b></p>{detail}", opt(o))
        }
    };
    let recording = if has_recording(&d) {
        format!(
            "<audio controls preload=\"none\" src=\"/api/v1/calls/{}/recording\"></audio>",
            url_encode(&sid)
        )
    } else {
        "<p class=\"muted\">No recording for this call.</p>".to_owned()
    };
    let transcript: String = if d.turns.is_empty() {
        "<p class=\"muted\">Nothing was said.</p>".into()
    } else {
        d.turns.iter().map(turn_html).collect()
    };
    let body = format!(
        "<p><a href=\"/dashboard/calls\">← Calls</a></p><h1>Call {sid_text}</h1>\
         <div class=\"grid\"><div><table>{facts}</table></div>\
           <div><div class=\"card\"><h2 style=\"margin-top:0\">Outcome</h2>{outcome}</div>\
                <div class=\"card\"><h2 style=\"margin-top:0\">Recording</h2>{recording}</div></div></div>\
         <div class=\"grid\"><div class=\"card\"><h2 style=\"margin-top:0\">Transcript</h2>{transcript}</div>\
           <div class=\"card\"><h2 style=\"margin-top:0\">Timeline</h2>{timeline}</div></div>\
         <p class=\"muted\">As JSON: <a href=\"/api/v1/calls/{sid_url}\">/api/v1/calls/{sid_text}</a></p>",
        sid_text = esc(&sid),
        sid_url = url_encode(&sid),
        timeline = timeline(&d),
    );
    Ok(layout(&auth, &format!("Call {sid}"), Nav::Calls, &body, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_highlights_tools_transfers_and_fallbacks() {
        assert_eq!(event_class("tool"), "tool");
        assert_eq!(event_class("transfer"), "transfer");
        assert_eq!(event_class("tts_fallback"), "fallback");
        assert_eq!(event_class("stt_failed"), "failure");
        assert_eq!(event_class("barge_in"), "event");
    }
}
