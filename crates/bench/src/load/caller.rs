//! A lean simulated Twilio caller for load tests: the voice webhook, then a Media Streams
//! websocket carrying real 20 ms mu-law frames in real time (spec sections 1.2 and 4), with a
//! Twilio-like playback buffer (marks echoed when played, `clear` honoured). Unlike `sim` it
//! keeps no recording to transcribe, so hundreds of them fit in one process; what it keeps is
//! the arrival instant of every agent frame and the end of every caller utterance.

use std::time::{Duration, Instant};

use audio::Frame;
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::Message;

use crate::signal::{voiced_tone, Noise};

/// Why a call could not be run to its end.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("voice webhook: {0}")]
    Webhook(String),
    #[error("media stream: {0}")]
    Stream(String),
}

/// How one simulated caller behaves.
#[derive(Debug, Clone)]
pub struct CallerPlan {
    /// `http://127.0.0.1:PORT` of the server.
    pub server: String,
    /// Keep talking this long, then hang up at the next quiet moment.
    pub duration: Duration,
    /// Lengths of the caller's utterances, cycled.
    pub utterances_ms: Vec<u64>,
    /// The agent counts as done when its playback has been idle this long.
    pub agent_quiet: Duration,
    /// Speak anyway when the agent has not answered within this time.
    pub answer_timeout: Duration,
    /// Seed of the line noise under the caller's audio.
    pub seed: u64,
}

/// What one call measured. Times are milliseconds since the stream started.
#[derive(Debug, Clone, Default)]
pub struct CallOutcome {
    /// `(end of caller speech, first agent frame after it)`; `None` when unanswered.
    pub turns: Vec<(f64, Option<f64>)>,
    /// Arrival of every agent media frame.
    pub agent_frames: Vec<f64>,
    /// Worst lateness of a caller frame against its 20 ms slot (load generator saturation).
    pub max_send_lag_ms: f64,
    /// The server closed the stream before the caller hung up.
    pub closed_by_server: bool,
    /// Wall time of the stream.
    pub duration_s: f64,
    /// Why the call failed, if it did.
    pub error: Option<String>,
}

fn sid(prefix: &str, n: u64) -> String {
    format!("{prefix}{n:032x}")
}

/// The `<Stream url>` path and the `<Parameter>`s of a TwiML answer (a minimal scan: the
/// server's own TwiML is checked in depth by `sim`'s tests; here only these values are needed).
pub fn stream_from_twiml(xml: &str) -> Option<(String, Vec<(String, String)>)> {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let key = format!("{name}=\"");
        let i = tag.find(&key)? + key.len();
        Some(tag[i..i + tag[i..].find('"')?].replace("&amp;", "&"))
    };
    let s = xml.find("<Stream")?;
    let tag_end = s + xml[s..].find('>')?;
    let url = attr(&xml[s..tag_end], "url")?;
    let path = url
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_owned()))?;
    let mut params = Vec::new();
    let mut rest = &xml[tag_end..];
    while let Some(p) = rest.find("<Parameter") {
        let end = p + rest[p..].find('>')?;
        let tag = &rest[p..end];
        if let (Some(n), Some(v)) = (attr(tag, "name"), attr(tag, "value")) {
            params.push((n, v));
        }
        rest = &rest[end..];
    }
    Some((path, params))
}

/// Places one call with id `n` and plays `plan` until its duration is over.
pub async fn run_call(http: &reqwest::Client, plan: &CallerPlan, n: u64) -> CallOutcome {
    match call(http, plan, n).await {
        Ok(o) => o,
        Err((e, mut o)) => {
            o.error = Some(e.to_string());
            o
        }
    }
}

type Failed = (CallError, CallOutcome);

async fn call(http: &reqwest::Client, plan: &CallerPlan, n: u64) -> Result<CallOutcome, Failed> {
    let mut out = CallOutcome::default();
    let call_sid = sid("CA", n);
    let form = serde_urlencoded::to_string([
        ("CallSid", call_sid.as_str()),
        ("AccountSid", "AC00000000000000000000000000000bec"),
        ("From", "+14155550100"),
        ("To", "+14155550199"),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("ApiVersion", "2010-04-01"),
    ])
    .unwrap_or_default();
    let resp = http
        .post(format!("{}/twilio/voice", plan.server))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .map_err(|e| (CallError::Webhook(e.to_string()), out.clone()))?;
    if !resp.status().is_success() {
        let s = resp.status();
        return Err((CallError::Webhook(format!("HTTP {s}")), out));
    }
    let twiml = resp
        .text()
        .await
        .map_err(|e| (CallError::Webhook(e.to_string()), out.clone()))?;
    let Some((path, params)) = stream_from_twiml(&twiml) else {
        return Err((CallError::Webhook(format!("no <Stream> in {twiml}")), out));
    };
    let ws_url = format!("{}{path}", plan.server.replacen("http", "ws", 1));
    // Small buffers like Twilio's side of a call: the callers share the process being measured.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024);
    let (ws, _) = tokio_tungstenite::connect_async_with_config(ws_url.as_str(), Some(config), true)
        .await
        .map_err(|e| (CallError::Stream(e.to_string()), out.clone()))?;
    let (mut tx, mut rx) = ws.split();
    let stream_sid = sid("MZ", n);
    let custom: serde_json::Map<String, Value> = params
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let hello = [
        json!({"event":"connected","protocol":"Call","version":"1.0.0"}),
        json!({"event":"start","sequenceNumber":"1","streamSid":stream_sid,
               "start":{"accountSid":"AC00000000000000000000000000000bec","streamSid":stream_sid,
                        "callSid":call_sid,"tracks":["inbound"],"customParameters":custom,
                        "mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}),
    ];
    for m in hello {
        tx.send(Message::text(m.to_string()))
            .await
            .map_err(|e| (CallError::Stream(e.to_string()), out.clone()))?;
    }

    let t0 = Instant::now();
    let ms = |t: Instant| t.duration_since(t0).as_secs_f64() * 1000.0;
    let mut seq: u64 = 1;
    let mut chunk: u64 = 0;
    let mut noise = Noise::new(plan.seed.wrapping_add(n));
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    // Twilio keeps the audio clock: frames that fall behind are sent late, back to back.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut speaking: Vec<Frame> = Vec::new();
    let mut next_utterance = 0usize;
    // Playback buffer: when the queued agent audio ends, and marks waiting to be "played".
    let mut play_end = t0;
    let mut marks: Vec<(Instant, String)> = Vec::new();
    let mut heard_agent_since_turn = false;
    let mut waiting_since = t0;
    let hard_stop = plan.duration + Duration::from_secs(15);

    loop {
        tokio::select! {
            tick = ticker.tick() => {
                let now = Instant::now();
                out.max_send_lag_ms = out.max_send_lag_ms.max(ms(now) - ms(tick.into_std()));
                // Echo marks whose audio has been played.
                let (due, later): (Vec<_>, Vec<_>) = marks.drain(..).partition(|(at, _)| *at <= now);
                marks = later;
                for (_, name) in due {
                    seq += 1;
                    let m = json!({"event":"mark","sequenceNumber":seq.to_string(),
                                   "streamSid":stream_sid,"mark":{"name":name}});
                    if tx.send(Message::text(m.to_string())).await.is_err() {
                        out.closed_by_server = true;
                        break;
                    }
                }
                let elapsed = now.duration_since(t0);
                if speaking.is_empty() {
                    let quiet = play_end + plan.agent_quiet <= now;
                    let answered = heard_agent_since_turn && quiet;
                    let gave_up = now.duration_since(waiting_since) >= plan.answer_timeout && quiet;
                    if (answered || gave_up) && elapsed >= plan.duration || elapsed >= hard_stop {
                        break;
                    }
                    if answered || gave_up {
                        let len = plan.utterances_ms[next_utterance % plan.utterances_ms.len()];
                        next_utterance += 1;
                        speaking = audio::frame::split_frames(&voiced_tone(len, 8000, 6000.0));
                        speaking.reverse();
                    }
                }
                let mut frame = speaking.pop().unwrap_or(Frame::SILENCE);
                noise.add_to(&mut frame.0, 20.0);
                if speaking.is_empty() && frame.rms() > 1000.0 {
                    // The last voiced frame. Twilio sends a frame once its 20 ms have been
                    // captured, so the caller's speech ends as this frame leaves.
                    out.turns.push((ms(now), None));
                    heard_agent_since_turn = false;
                    waiting_since = now;
                }
                seq += 1;
                chunk += 1;
                let payload = base64::engine::general_purpose::STANDARD.encode(frame.to_mulaw());
                let m = json!({"event":"media","sequenceNumber":seq.to_string(),"streamSid":stream_sid,
                               "media":{"track":"inbound","chunk":chunk.to_string(),
                                        "timestamp":(chunk * 20).to_string(),"payload":payload}});
                if tx.send(Message::text(m.to_string())).await.is_err() {
                    out.closed_by_server = true;
                    break;
                }
            }
            msg = rx.next() => {
                let now = Instant::now();
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None => { out.closed_by_server = true; break; }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => {
                        out.duration_s = now.duration_since(t0).as_secs_f64();
                        return Err((CallError::Stream(e.to_string()), out));
                    }
                };
                let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                match v["event"].as_str() {
                    Some("media") => {
                        let at = ms(now);
                        out.agent_frames.push(at);
                        heard_agent_since_turn = true;
                        if let Some(turn) = out.turns.last_mut() {
                            if turn.1.is_none() && speaking.is_empty() && at >= turn.0 {
                                turn.1 = Some(at);
                            }
                        }
                        play_end = play_end.max(now) + Duration::from_millis(20);
                    }
                    Some("mark") => {
                        if let Some(name) = v["mark"]["name"].as_str() {
                            marks.push((play_end.max(now), name.to_owned()));
                        }
                    }
                    Some("clear") => {
                        play_end = now;
                        for m in &mut marks { m.0 = now; }
                    }
                    _ => {}
                }
            }
        }
    }
    out.duration_s = t0.elapsed().as_secs_f64();
    if !out.closed_by_server {
        seq += 1;
        let stop = json!({"event":"stop","sequenceNumber":seq.to_string(),"streamSid":stream_sid,
                          "stop":{"accountSid":"AC00000000000000000000000000000bec","callSid":call_sid}});
        let _ = tx.send(Message::text(stop.to_string())).await;
        let _ = tx.close().await;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_path_and_parameters_are_read_from_twiml() {
        let xml = r#"<?xml version="1.0"?><Response><Connect action="https://h/twilio/stream-ended"><Stream url="wss://agent.example/twilio/media?x=1&amp;y=2"><Parameter name="agent" value="demo"/></Stream></Connect><Hangup/></Response>"#;
        let (path, params) = stream_from_twiml(xml).unwrap();
        assert_eq!(path, "/twilio/media?x=1&y=2");
        assert_eq!(params, vec![("agent".to_owned(), "demo".to_owned())]);
        assert!(stream_from_twiml("<Response><Say>hi</Say></Response>").is_none());
    }
}
