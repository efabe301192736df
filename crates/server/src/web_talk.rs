//! The browser "Talk" button: `GET /web/talk` serves a page that streams the microphone as
//! 16 kHz PCM over `WS /web/talk/ws` into the same conversation engine and brain as a phone call,
//! plays the agent's audio back, shows both sides' words as they are said, and stops playback
//! when the user talks over the agent. The call is stored like a phone call (direction `web`).

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;

use crate::auth::Auth;
use crate::call_driver::{self, Driver, Transport};
use crate::call_record::{CallRecorder, StoreOp};
use crate::AppState;

const PAGE: &str = include_str!("web/talk.html");
const SCRIPT: &str = include_str!("web/talk.js");
const WORKLET: &str = include_str!("web/talk-worklet.js");

/// `GET /web/talk`: the page, with the configured agents to choose from.
pub(crate) async fn page(State(state): State<AppState>, _auth: Auth) -> Html<String> {
    let default = state.agents.default_name().to_owned();
    let options: String = state
        .agents
        .names()
        .iter()
        .map(|key| {
            let name = state
                .agents
                .get(Some(key))
                .map(|a| a.config.name.clone())
                .unwrap_or_else(|_| key.clone());
            let selected = if *key == default { " selected" } else { "" };
            format!(
                "<option value=\"{}\"{selected}>{} ({})</option>",
                escape(key),
                escape(&name),
                escape(key)
            )
        })
        .collect();
    Html(PAGE.replace("{{AGENT_OPTIONS}}", &options))
}

pub(crate) async fn script(_auth: Auth) -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

pub(crate) async fn worklet(_auth: Auth) -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        WORKLET,
    )
        .into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[derive(Deserialize)]
pub(crate) struct TalkQuery {
    agent: Option<String>,
}

/// `WS /web/talk/ws?agent=<key>`: one browser call.
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    _auth: Auth,
    headers: axum::http::HeaderMap,
    Query(q): Query<TalkQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    // Browsers send cookies with cross-site websocket handshakes: only our own pages may open one.
    if let (Some(origin), Some(host)) = (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        let origin_host = origin.split("://").nth(1).unwrap_or(origin);
        if origin_host != host {
            tracing::warn!(%origin, %host, "talk socket from another site refused");
            return axum::http::StatusCode::FORBIDDEN.into_response();
        }
    }
    let agent = match state
        .agents
        .get(q.agent.as_deref())
        .or_else(|_| state.agents.get(None))
    {
        Ok(a) => a,
        Err(e) => return (axum::http::StatusCode::NOT_FOUND, e.to_string()).into_response(),
    };
    crate::media_stream::sized(ws).on_upgrade(move |socket| async move {
        let _active = state.call_guard();
        let call_sid = format!("WB{:032x}", rand::random::<u128>());
        if let Err(e) = state
            .store
            .upsert_call(&store::NewCall {
                call_sid: call_sid.clone(),
                account_sid: None,
                direction: Some("web".into()),
                from_number: Some("browser".into()),
                to_number: None,
                agent: Some(agent.config.name.clone()),
            })
            .await
        {
            tracing::error!(error = %e, "could not record the browser call");
        }
        let recorder = CallRecorder::spawn(state.store.clone(), call_sid.clone());
        recorder.send(StoreOp::StreamStarted {
            stream_sid: call_sid.clone(),
            account_sid: "web".into(),
            agent: agent.config.name.clone(),
        });
        tracing::info!(%call_sid, agent = %agent.config.name, "browser call");
        let (tx, rx) = socket.split();
        let driver = Driver::new(
            state.clone(),
            agent,
            recorder,
            Transport::Browser(browser::BrowserAudio::default()),
            call_sid.clone(),
            None,
            false,
        );
        call_driver::drive(driver, (tx, rx), call_sid).await;
    })
}

/// The Talk page's wire format: binary PCM16 little-endian both ways (16 kHz from the page,
/// 8 kHz to it: the phone-quality voice the engine produces), JSON text frames for control.
pub(crate) mod browser {
    use audio::{Frame, FRAME_SAMPLES_8K};
    use conversation::{Speaker, TurnRecord};
    use serde::Deserialize;

    /// Turns the page's 16 kHz stream into 20 ms frames at 8 kHz.
    #[derive(Default)]
    pub(crate) struct BrowserAudio {
        /// 8 kHz samples waiting to fill a frame.
        pending: Vec<i16>,
        /// A 16 kHz sample waiting for its pair.
        odd: Option<i16>,
        /// A byte waiting for its pair (messages may split a sample).
        half: Option<u8>,
    }

    impl BrowserAudio {
        /// Consumes one binary message; returns the whole frames now available.
        pub(crate) fn push(&mut self, bytes: &[u8]) -> Vec<Frame> {
            let mut bytes = bytes.iter().copied();
            let mut samples16k = Vec::with_capacity(bytes.len() / 2 + 1);
            if let Some(lo) = self.half.take() {
                match bytes.next() {
                    Some(hi) => samples16k.push(i16::from_le_bytes([lo, hi])),
                    None => self.half = Some(lo),
                }
            }
            loop {
                match (bytes.next(), bytes.next()) {
                    (Some(lo), Some(hi)) => samples16k.push(i16::from_le_bytes([lo, hi])),
                    (Some(lo), None) => {
                        self.half = Some(lo);
                        break;
                    }
                    _ => break,
                }
            }
            // 16 kHz → 8 kHz: the mean of each pair is a gentle low-pass before dropping every
            // other sample, continuous across messages (no per-chunk edge effects).
            for s in samples16k {
                match self.odd.take() {
                    Some(first) => self
                        .pending
                        .push(((i32::from(first) + i32::from(s)) / 2) as i16),
                    None => self.odd = Some(s),
                }
            }
            let whole = self.pending.len() / FRAME_SAMPLES_8K * FRAME_SAMPLES_8K;
            let frames = self.pending[..whole]
                .chunks(FRAME_SAMPLES_8K)
                .map(Frame::from_slice)
                .collect();
            self.pending.drain(..whole);
            frames
        }
    }

    /// One frame of agent audio for the page.
    pub(crate) fn encode_frame(frame: &Frame) -> Vec<u8> {
        frame
            .samples()
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect()
    }

    /// Echo this mark once the audio sent before it has been played.
    pub(crate) fn mark_message(name: &str) -> String {
        serde_json::json!({"type": "mark", "name": name}).to_string()
    }

    /// Stop playback now and echo every pending mark (the user barged in).
    pub(crate) fn clear_message() -> String {
        serde_json::json!({"type": "clear"}).to_string()
    }

    /// A finished turn, for the live transcript.
    pub(crate) fn transcript_message(t: &TurnRecord) -> String {
        serde_json::json!({
            "type": "transcript",
            "speaker": match t.speaker { Speaker::Caller => "caller", Speaker::Agent => "agent" },
            "text": t.text,
            "interrupted": t.interrupted,
        })
        .to_string()
    }

    /// What the page sends besides audio.
    #[derive(Debug, PartialEq)]
    pub(crate) enum Control {
        Mark(String),
        Dtmf(char),
        Hangup,
    }

    #[derive(Deserialize)]
    struct Raw {
        #[serde(rename = "type")]
        kind: String,
        name: Option<String>,
        digit: Option<String>,
    }

    pub(crate) fn parse_control(text: &str) -> Option<Control> {
        let raw: Raw = serde_json::from_str(text).ok()?;
        match raw.kind.as_str() {
            "mark" => raw.name.map(Control::Mark),
            "dtmf" => raw.digit?.chars().next().map(Control::Dtmf),
            "hangup" => Some(Control::Hangup),
            _ => None,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn sixteen_khz_chunks_of_any_size_become_whole_8k_frames() {
            let mut a = BrowserAudio::default();
            // 30 ms at 16 kHz, in odd-sized messages that split samples and pairs.
            let samples: Vec<i16> = (0..480).map(|i| (i * 10) as i16).collect();
            let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
            let mut frames = Vec::new();
            for chunk in bytes.chunks(77) {
                frames.extend(a.push(chunk));
            }
            assert_eq!(
                frames.len(),
                1,
                "30 ms gives one 20 ms frame, 10 ms stay pending"
            );
            // Each 8 kHz sample is the mean of a 16 kHz pair.
            assert_eq!(frames[0].samples()[0], 5);
            assert_eq!(frames[0].samples()[159], ((318 * 10 + 319 * 10) / 2) as i16);
            let more: Vec<u8> = (480..640)
                .flat_map(|i| ((i * 10) as i16).to_le_bytes())
                .collect();
            assert_eq!(a.push(&more).len(), 1);
        }

        #[test]
        fn controls_parse_and_garbage_is_ignored() {
            assert_eq!(
                parse_control(r#"{"type":"mark","name":"t1-0"}"#),
                Some(Control::Mark("t1-0".into()))
            );
            assert_eq!(
                parse_control(r#"{"type":"dtmf","digit":"5"}"#),
                Some(Control::Dtmf('5'))
            );
            assert_eq!(parse_control(r#"{"type":"hangup"}"#), Some(Control::Hangup));
            assert_eq!(parse_control("nope"), None);
        }
    }
}
