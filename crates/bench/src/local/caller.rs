//! The caller of the local-stack benchmark: a Twilio Media Streams client that waits for the
//! greeting, then asks spoken questions one at a time, each after the previous answer has
//! finished playing, in real-time 20 ms frames.
//!
//! It follows [`crate::load::caller`] (voice webhook, `connected`/`start`/`media`/`mark`/`stop`,
//! a Twilio-like playback buffer echoing marks when played and honouring `clear`), but speaks
//! synthesized questions instead of tone bursts and keeps per-question instants instead of
//! load statistics.

use std::time::{Duration, Instant};

use audio::Frame;
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::Message;

/// One spoken question: 20 ms frames trimmed to the audible part, so the last frame is the
/// caller's last voiced one.
#[derive(Debug, Clone)]
pub struct Question {
    pub text: String,
    pub frames: Vec<Frame>,
}

/// How the caller behaves.
#[derive(Debug, Clone)]
pub struct CallerPlan {
    /// `http://127.0.0.1:PORT` of the server.
    pub server: String,
    /// `CallSid` to present.
    pub call_sid: String,
    /// The agent's answer counts as finished when its playback has been idle this long.
    pub agent_quiet: Duration,
    /// Move on when the agent has not started answering within this time.
    pub answer_timeout: Duration,
    /// Move on when a started answer has not finished within `answer_timeout` + this.
    pub max_answer: Duration,
    /// Hang up at this instant whatever happens.
    pub deadline: Instant,
}

/// One question as the caller lived it.
#[derive(Debug, Clone)]
pub struct Asked {
    pub text: String,
    pub speech_start: Instant,
    /// The moment the last voiced frame was sent.
    pub end_of_speech: Instant,
    /// First agent media frame after `end_of_speech`.
    pub first_agent_frame: Option<Instant>,
    /// Agent audio received for this question after the end of speech, in ms.
    pub answer_audio_ms: u64,
    /// Agent audio that arrived while the caller was still asking (a reply to a fragment).
    pub talked_over_ms: u64,
    /// When the caller moved on.
    pub done: Instant,
    /// The caller moved on because the answer timed out.
    pub timed_out: bool,
}

/// What the call measured.
#[derive(Debug, Clone, Default)]
pub struct CallOutcome {
    pub greeting_first_frame: Option<Instant>,
    pub greeting_audio_ms: u64,
    pub asked: Vec<Asked>,
    /// Worst lateness of a caller frame against its 20 ms slot (the caller itself starved).
    pub max_send_lag_ms: f64,
    pub closed_by_server: bool,
    pub error: Option<String>,
}

pub use crate::load::caller::stream_from_twiml;

enum Phase {
    /// Waiting for the greeting to be played.
    Greeting { since: Instant },
    /// Sending question `q`, next frame `pos`.
    Speaking { q: usize, pos: usize },
    /// Question `q` asked; waiting for its answer to finish.
    Waiting { q: usize, since: Instant },
}

/// Places the call and asks every question in turn; never fails, errors land in the outcome.
pub async fn run_call(
    http: &reqwest::Client,
    plan: &CallerPlan,
    questions: &[Question],
) -> CallOutcome {
    let mut out = CallOutcome::default();
    if let Err(e) = call(http, plan, questions, &mut out).await {
        out.error = Some(e);
    }
    out
}

async fn call(
    http: &reqwest::Client,
    plan: &CallerPlan,
    questions: &[Question],
    out: &mut CallOutcome,
) -> Result<(), String> {
    let form = serde_urlencoded::to_string([
        ("CallSid", plan.call_sid.as_str()),
        ("AccountSid", "AC00000000000000000000000000000bec"),
        ("From", "+14155550100"),
        ("To", "+14155550199"),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("ApiVersion", "2010-04-01"),
    ])
    .map_err(|e| e.to_string())?;
    let resp = http
        .post(format!("{}/twilio/voice", plan.server))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .map_err(|e| format!("voice webhook: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("voice webhook: HTTP {}", resp.status()));
    }
    let twiml = resp
        .text()
        .await
        .map_err(|e| format!("voice webhook: {e}"))?;
    let (path, params) =
        stream_from_twiml(&twiml).ok_or_else(|| format!("no <Stream> in {twiml}"))?;
    let ws_url = format!("{}{path}", plan.server.replacen("http", "ws", 1));
    let (ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
        .await
        .map_err(|e| format!("media stream: {e}"))?;
    let (mut tx, mut rx) = ws.split();
    let stream_sid = format!("MZ{}", &plan.call_sid[2..]);
    let custom: serde_json::Map<String, Value> = params
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    for m in [
        json!({"event":"connected","protocol":"Call","version":"1.0.0"}),
        json!({"event":"start","sequenceNumber":"1","streamSid":stream_sid,
               "start":{"accountSid":"AC00000000000000000000000000000bec","streamSid":stream_sid,
                        "callSid":plan.call_sid,"tracks":["inbound"],"customParameters":custom,
                        "mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}),
    ] {
        tx.send(Message::text(m.to_string()))
            .await
            .map_err(|e| format!("media stream: {e}"))?;
    }

    let t0 = Instant::now();
    let mut seq: u64 = 1;
    let mut chunk: u64 = 0;
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    // Twilio keeps the audio clock: frames that fall behind are sent late, back to back.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut phase = Phase::Greeting { since: t0 };
    // Playback buffer: when the queued agent audio ends, and marks waiting to be "played".
    let mut play_end = t0;
    let mut marks: Vec<(Instant, String)> = Vec::new();
    let mut heard = false;
    let silence = Frame::SILENCE.to_mulaw();
    // How long to wait: for the first audio, or, once it came, for the answer to finish.
    let limit = |heard: bool| {
        if heard {
            plan.answer_timeout + plan.max_answer
        } else {
            plan.answer_timeout
        }
    };

    'call: loop {
        tokio::select! {
            tick = ticker.tick() => {
                let now = Instant::now();
                let lag = now.duration_since(tick.into_std()).as_secs_f64() * 1000.0;
                out.max_send_lag_ms = out.max_send_lag_ms.max(lag);
                if now >= plan.deadline {
                    return Err("the benchmark's time limit was reached during the call".into());
                }
                let (due, later): (Vec<_>, Vec<_>) = marks.drain(..).partition(|(at, _)| *at <= now);
                marks = later;
                for (_, name) in due {
                    seq += 1;
                    let m = json!({"event":"mark","sequenceNumber":seq.to_string(),
                                   "streamSid":stream_sid,"mark":{"name":name}});
                    if tx.send(Message::text(m.to_string())).await.is_err() {
                        out.closed_by_server = true;
                        break 'call;
                    }
                }
                let quiet = play_end + plan.agent_quiet <= now;
                // Decide what this tick sends; a finished wait starts the next question now.
                let next_q = match phase {
                    Phase::Greeting { since } => {
                        if heard && quiet {
                            Some(0)
                        } else if now.duration_since(since) >= limit(heard) {
                            return Err("the greeting did not start or finish in time".into());
                        } else {
                            None
                        }
                    }
                    Phase::Waiting { q, since } => {
                        let timed_out = now.duration_since(since) >= limit(heard);
                        if (heard && quiet) || timed_out {
                            if let Some(a) = out.asked.last_mut() {
                                a.done = now;
                                a.timed_out = !(heard && quiet);
                            }
                            Some(q + 1)
                        } else {
                            None
                        }
                    }
                    Phase::Speaking { .. } => None,
                };
                if let Some(q) = next_q {
                    if q >= questions.len() {
                        break 'call;
                    }
                    phase = Phase::Speaking { q, pos: 0 };
                }
                let payload = match &mut phase {
                    Phase::Speaking { q, pos } => {
                        let question = &questions[*q];
                        let bytes = question.frames.get(*pos).map_or_else(|| silence.clone(), Frame::to_mulaw);
                        if *pos == 0 {
                            out.asked.push(Asked {
                                text: question.text.clone(),
                                speech_start: now,
                                end_of_speech: now,
                                first_agent_frame: None,
                                answer_audio_ms: 0,
                                talked_over_ms: 0,
                                done: now,
                                timed_out: false,
                            });
                        }
                        *pos += 1;
                        if *pos >= question.frames.len() {
                            // The last voiced frame leaves now: the caller's speech has ended.
                            if let Some(a) = out.asked.last_mut() {
                                a.end_of_speech = now;
                            }
                            heard = false;
                            phase = Phase::Waiting { q: *q, since: now };
                        }
                        bytes
                    }
                    _ => silence.clone(),
                };
                seq += 1;
                chunk += 1;
                let m = json!({"event":"media","sequenceNumber":seq.to_string(),"streamSid":stream_sid,
                               "media":{"track":"inbound","chunk":chunk.to_string(),
                                        "timestamp":(chunk * 20).to_string(),
                                        "payload":base64::engine::general_purpose::STANDARD.encode(&payload)}});
                if tx.send(Message::text(m.to_string())).await.is_err() {
                    out.closed_by_server = true;
                    break 'call;
                }
            }
            msg = rx.next() => {
                let now = Instant::now();
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None => { out.closed_by_server = true; break 'call; }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(format!("media stream: {e}")),
                };
                let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                match v["event"].as_str() {
                    Some("media") => {
                        let bytes = v["media"]["payload"]
                            .as_str()
                            .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
                            .map_or(0, |b| b.len());
                        let ms = (bytes as u64 * 1000 / audio::SAMPLE_RATE_8K as u64).max(1);
                        play_end = play_end.max(now) + Duration::from_millis(ms);
                        match phase {
                            Phase::Greeting { .. } => {
                                heard = true;
                                out.greeting_first_frame.get_or_insert(now);
                                out.greeting_audio_ms += ms;
                            }
                            Phase::Waiting { .. } => {
                                heard = true;
                                if let Some(a) = out.asked.last_mut() {
                                    a.first_agent_frame.get_or_insert(now);
                                    a.answer_audio_ms += ms;
                                }
                            }
                            Phase::Speaking { .. } => {
                                if let Some(a) = out.asked.last_mut() {
                                    a.talked_over_ms += ms;
                                }
                            }
                        }
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
    if !out.closed_by_server {
        seq += 1;
        let stop = json!({"event":"stop","sequenceNumber":seq.to_string(),"streamSid":stream_sid,
                          "stop":{"accountSid":"AC00000000000000000000000000000bec","callSid":plan.call_sid}});
        let _ = tx.send(Message::text(stop.to_string())).await;
        let _ = tx.close().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_path_and_parameters_are_read_from_twiml() {
        let xml = r#"<Response><Connect><Stream url="ws://127.0.0.1:9/twilio/media"><Parameter name="agent" value="demo"/></Stream></Connect></Response>"#;
        let (path, params) = stream_from_twiml(xml).unwrap();
        assert_eq!(path, "/twilio/media");
        assert_eq!(params, vec![("agent".to_owned(), "demo".to_owned())]);
        assert!(stream_from_twiml("<Response><Say>hi</Say></Response>").is_none());
    }
}
