//! The tokio driver of one simulated call: webhook, TwiML, the Media Stream in real time, the
//! status callback and the transcription of what the caller heard.
//!
//! All decisions live in [`Session`] (sans-IO); this file only moves bytes and keeps the clock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use speech::pool::SpeechPool;
use speech::{Stt, Tts};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

use crate::error::SimError;
use crate::ids::new_sid;
use crate::report::{self, CallFacts, EndReason, SimReport, StatusCallback};
use crate::script::{CallerScript, Step};
use crate::session::{Clip, Session, FRAME};
use crate::signature::{sign, SIGNATURE_HEADER};
use crate::twiml::{self, StreamVerb, Verb};
use crate::urls::{Endpoints, Target};
use crate::webhook::{self, CallParams};
use crate::wire::{StreamIds, FRAME_BYTES};

/// Most TwiML documents one call may fetch (guards against `<Redirect>` loops).
const MAX_DOCUMENTS: usize = 10;
/// How long the WebSocket handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// After sending `stop`, how long to wait for the server's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Where and how to place the call.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The server's real address: `http://host[:port]` (loopback HTTP, no TLS).
    pub server: String,
    /// The base URL the server believes Twilio uses (signatures are computed over it);
    /// defaults to `server`.
    pub public_url: Option<String>,
    /// Auth token to sign requests with; unsigned when `None`.
    pub auth_token: Option<String>,
    /// Account SID to present; a random `AC...` when `None`.
    pub account_sid: Option<String>,
    /// Voice webhook path configured on the number.
    pub voice_path: String,
    /// Status callback path; no callback when `None`.
    pub status_path: Option<String>,
    /// Hard bound on the whole call (answer to hang-up).
    pub call_timeout: Duration,
    /// After the script's last step, how long the caller stays on the line for the server to
    /// close the stream before hanging up itself.
    pub hangup_grace: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            server: "http://127.0.0.1:8080".into(),
            public_url: None,
            auth_token: None,
            account_sid: None,
            voice_path: "/twilio/voice".into(),
            status_path: Some("/twilio/status".into()),
            call_timeout: Duration::from_secs(120),
            hangup_grace: Duration::from_secs(5),
        }
    }
}

/// How a stream ended.
enum StreamEnd {
    CallerHungUp,
    /// Ended from outside: REST `Status=completed`.
    RestHangup,
    ServerClosed,
    Timeout,
}

/// Places one call with the scripted caller and reports what the caller experienced.
///
/// Errors are reserved for calls that could not happen (bad config, TTS failure, webhook or
/// handshake refused, unusable first TwiML); everything the server does wrong once the stream
/// runs is recorded in the report instead.
pub async fn run_call(
    cfg: &SimConfig,
    script: &CallerScript,
    tts: Arc<dyn Tts>,
    stt: Arc<dyn Stt>,
) -> Result<SimReport, SimError> {
    let endpoints = Endpoints::new(&cfg.server, cfg.public_url.as_deref())?;
    let pool = SpeechPool::new(stt, tts, 1, 1);
    let clips = synthesize_lines(&pool, script).await?;
    let http = http_client(&cfg.server)?;
    let call = CallParams {
        call_sid: new_sid("CA"),
        account_sid: cfg.account_sid.clone().unwrap_or_else(|| new_sid("AC")),
        from: script.from.clone(),
        to: script.to.clone(),
        direction: "inbound".into(),
        extra: Vec::new(),
    };
    let token = cfg.auth_token.as_deref();

    // The call is answered when Twilio requests the voice URL: all report times count from here.
    let t0 = Instant::now();
    let mut session = Session::new(script, clips, cfg.hangup_grace);
    let leg = Leg {
        endpoints: &endpoints,
        first: endpoints.webhook(&cfg.voice_path),
        first_method: "POST",
        first_status: "ringing",
        call: &call,
        token,
        hangup: None,
        stream_required: true,
    };
    let ended_by = converse(cfg, leg, &mut session, &http, t0).await?;

    let duration = t0.elapsed();
    let rec = session.finish(duration);
    let status_callback = match &cfg.status_path {
        Some(path) => {
            Some(post_status(&http, &endpoints.webhook(path), &call, duration, token).await)
        }
        None => None,
    };
    let facts = CallFacts {
        call_sid: call.call_sid,
        account_sid: call.account_sid,
        from: call.from,
        to: call.to,
        duration,
        ended_by,
        status_callback,
    };
    Ok(transcribe_report(&pool, facts, rec).await)
}

/// The HTTP client the carrier sends webhooks with.
pub(crate) fn http_client(server: &str) -> Result<reqwest::Client, SimError> {
    // reqwest is built without a default TLS provider (see the workspace Cargo.toml); a client
    // cannot be built until one is installed, even for plain http. Idempotent.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(webhook::WEBHOOK_TIMEOUT)
        .build()
        .map_err(|source| SimError::Http {
            url: server.to_string(),
            source,
        })
}

/// One answered call leg, from the first TwiML request on.
pub(crate) struct Leg<'a> {
    pub endpoints: &'a Endpoints,
    /// The voice URL requested when the call is answered.
    pub first: Target,
    pub first_method: &'a str,
    /// `CallStatus` of the first request (`ringing` inbound, `in-progress` outbound-api).
    pub first_status: &'a str,
    pub call: &'a CallParams,
    pub token: Option<&'a str>,
    /// Turns `true` when the call is ended from outside (REST `Status=completed`).
    pub hangup: Option<watch::Receiver<bool>>,
    /// Refuse a first document without `<Connect><Stream>` (inbound: the caller came to talk to
    /// the agent). An outbound call may be answered with plain `<Say>`/`<Hangup>` for a machine.
    pub stream_required: bool,
}

/// Runs the TwiML of an answered call: first document, streams in real time, redirects and
/// actions, until someone hangs up. `t0` is the answer time the session's clock counts from.
pub(crate) async fn converse(
    cfg: &SimConfig,
    mut leg: Leg<'_>,
    session: &mut Session,
    http: &reqwest::Client,
    t0: Instant,
) -> Result<EndReason, SimError> {
    let endpoints = leg.endpoints;
    let call = leg.call;
    let token = leg.token;
    let deadline = t0 + cfg.call_timeout;
    let mut doc = leg.first.clone();
    let answer = webhook::fetch_twiml(
        http,
        &doc,
        leg.first_method,
        &call.voice(leg.first_status),
        token,
    )
    .await?;
    if !webhook::is_xml(answer.content_type.as_deref()) {
        session.protocol_error(
            t0.elapsed(),
            format!(
                "TwiML served as {:?}; Twilio expects text/xml or application/xml",
                answer.content_type
            ),
        );
    }
    let mut verbs = twiml::parse(&answer.body).map_err(|reason| SimError::Twiml {
        url: doc.signed.clone(),
        reason,
    })?;
    if leg.stream_required && !verbs.iter().any(|v| matches!(v, Verb::Stream(_))) {
        return Err(SimError::Twiml {
            url: doc.signed.clone(),
            reason: format!(
                "no <Connect><Stream> in the answer to the call: {}",
                answer.body.trim()
            ),
        });
    }

    let mut documents = 1;
    let mut first_stream = true;
    let ended_by = 'call: loop {
        let mut next: Option<(Target, String)> = None;
        for verb in std::mem::take(&mut verbs) {
            let now = t0.elapsed();
            match verb {
                Verb::Stream(stream) => {
                    let target = endpoints.resolve_ws(&stream.url, &doc.signed);
                    check_stream_url(session, now, &target.signed);
                    let ids = StreamIds {
                        account_sid: call.account_sid.clone(),
                        call_sid: call.call_sid.clone(),
                        stream_sid: new_sid("MZ"),
                    };
                    let run = run_stream(
                        session,
                        &stream,
                        &target,
                        ids,
                        token,
                        (t0, deadline),
                        leg.hangup.as_mut(),
                    );
                    match run.await {
                        Ok(StreamEnd::CallerHungUp) => break 'call EndReason::CallerHungUp,
                        Ok(StreamEnd::RestHangup) => break 'call EndReason::RestHangup,
                        Ok(StreamEnd::Timeout) => break 'call EndReason::Timeout,
                        Ok(StreamEnd::ServerClosed) => {}
                        // The first stream is the call: if it cannot connect, nothing was simulated.
                        Err(e) if first_stream => return Err(e),
                        Err(e) => {
                            session.protocol_error(t0.elapsed(), e.to_string());
                            break 'call EndReason::TwimlError;
                        }
                    }
                    first_stream = false;
                    if let Some(action) = &stream.action {
                        next = Some((
                            endpoints.resolve_http(action, &doc.signed),
                            stream.method.clone(),
                        ));
                        break;
                    }
                }
                Verb::Say { text } => session.note_twiml(now, format!("<Say> {text:?}")),
                Verb::Play { url, digits } => session.note_twiml(
                    now,
                    match digits {
                        Some(d) => format!("<Play digits={d:?}>"),
                        None => format!("<Play> {url}"),
                    },
                ),
                Verb::Pause { seconds } => {
                    let until = Instant::now()
                        + Duration::from_secs_f64(seconds.min(cfg.call_timeout.as_secs_f64()));
                    tokio::select! {
                        _ = tokio::time::sleep_until(until.min(deadline)) => {}
                        _ = hung_up(leg.hangup.as_mut()) => break 'call EndReason::RestHangup,
                    }
                    if until >= deadline {
                        break 'call EndReason::Timeout;
                    }
                }
                Verb::Hangup => break 'call EndReason::TwimlHangup,
                Verb::Redirect { url, method } => {
                    next = Some((endpoints.resolve_http(&url, &doc.signed), method));
                    break;
                }
            }
        }
        let Some((target, method)) = next else {
            break EndReason::TwimlEnded;
        };
        documents += 1;
        if documents > MAX_DOCUMENTS {
            session.protocol_error(
                t0.elapsed(),
                format!("more than {MAX_DOCUMENTS} TwiML documents: redirect loop?"),
            );
            break EndReason::TwimlError;
        }
        match fetch_next(http, &target, &method, call, token).await {
            Ok(v) => {
                verbs = v;
                doc = target;
            }
            Err(e) => {
                session.protocol_error(t0.elapsed(), e.to_string());
                break EndReason::TwimlError;
            }
        }
    };

    Ok(ended_by)
}

/// Transcribes what the caller heard and assembles the report.
pub(crate) async fn transcribe_report(
    pool: &SpeechPool,
    facts: CallFacts,
    rec: crate::session::Recording,
) -> SimReport {
    let utts = report::utterances(&rec.heard);
    let mut transcripts = Vec::with_capacity(utts.len());
    for u in &utts {
        transcripts.push(
            match pool
                .transcribe(u.pcm(&rec.heard), audio::SAMPLE_RATE_8K)
                .await
            {
                Ok(text) => text.trim().to_string(),
                Err(e) => format!("[stt failed: {e}]"),
            },
        );
    }
    report::build(facts, rec, &utts, transcripts)
}

/// Resolves when `hangup` turns true; never when there is none (or its sender is gone).
pub(crate) async fn hung_up(hangup: Option<&mut watch::Receiver<bool>>) {
    match hangup {
        Some(rx) => {
            if rx.wait_for(|v| *v).await.is_err() {
                std::future::pending::<()>().await
            }
        }
        None => std::future::pending::<()>().await,
    }
}

/// Synthesizes every caller line before dialing, so that speaking never waits on TTS.
pub(crate) async fn synthesize_lines(
    pool: &SpeechPool,
    script: &CallerScript,
) -> Result<HashMap<String, Clip>, SimError> {
    let mut clips = HashMap::new();
    for step in &script.steps {
        let text = match step {
            Step::Say(t) => t,
            Step::Interrupt(i) => &i.say,
            _ => continue,
        };
        if clips.contains_key(text) {
            continue;
        }
        clips.insert(text.clone(), synthesize_clip(pool, text).await?);
    }
    Ok(clips)
}

/// One line of speech as 20 ms mu-law frames at 8 kHz.
pub(crate) async fn synthesize_clip(pool: &SpeechPool, text: &str) -> Result<Clip, SimError> {
    let tts_err = |source| SimError::Tts {
        text: text.to_string(),
        source,
    };
    let speech = pool.synthesize(text.to_string()).await.map_err(tts_err)?;
    let pcm = audio::resample_i16(&speech.samples, speech.sample_rate, audio::SAMPLE_RATE_8K);
    if pcm.is_empty() {
        return Err(tts_err(speech::SpeechError::InvalidInput(
            "the TTS returned no audio".into(),
        )));
    }
    Ok(clip_of_pcm(&pcm))
}

/// 8 kHz PCM as 20 ms mu-law frames (the last one padded with silence).
pub(crate) fn clip_of_pcm(pcm: &[i16]) -> Clip {
    let frames: Vec<[u8; FRAME_BYTES]> = audio::frame::split_frames(pcm)
        .iter()
        .map(|f| {
            let mut out = [0u8; FRAME_BYTES];
            out.copy_from_slice(&f.to_mulaw());
            out
        })
        .collect();
    Arc::new(frames)
}

pub(crate) fn is_loopback_ws(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("ws://") else {
        return false;
    };
    let host = rest.split('/').next().unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    host == "localhost" || host == "[::1]" || host.starts_with("127.")
}

/// Notes stream URLs Twilio would refuse (spec 3.1, 4: `wss://` only, no query).
fn check_stream_url(session: &mut Session, now: Duration, url: &str) {
    if !url.starts_with("wss://") {
        let msg = format!("<Stream url={url:?}>: Twilio only connects to wss:// (error 31922)");
        // A local server without TLS is the normal demo setup: note it, but it is not a fault
        // of the server's protocol. Anywhere else it is what real Twilio would refuse.
        if is_loopback_ws(url) {
            session.warn(now, format!("{msg}; accepted for a loopback server"));
        } else {
            session.protocol_error(now, msg);
        }
    }
    if url.contains('?') {
        session.protocol_error(
            now,
            format!("<Stream url={url:?}> has a query string; Twilio rejects it, use <Parameter>"),
        );
    }
}

/// Connects the Media Stream and runs it in real time until someone ends it.
async fn run_stream(
    session: &mut Session,
    stream: &StreamVerb,
    target: &Target,
    ids: StreamIds,
    token: Option<&str>,
    (t0, deadline): (Instant, Instant),
    mut hangup: Option<&mut watch::Receiver<bool>>,
) -> Result<StreamEnd, SimError> {
    let handshake_err = |reason: String| SimError::Handshake {
        url: target.transport.clone(),
        reason,
    };
    let mut request = target
        .transport
        .as_str()
        .into_client_request()
        .map_err(|e| handshake_err(e.to_string()))?;
    if let Some(token) = token {
        // Signed like a GET over the URL from the TwiML, with no parameters (spec 2.4).
        let sig = HeaderValue::from_str(&sign(token, &target.signed, &[]))
            .map_err(|e| handshake_err(e.to_string()))?;
        request.headers_mut().insert(SIGNATURE_HEADER, sig);
    }
    let (ws, _) =
        tokio::time::timeout(HANDSHAKE_TIMEOUT, tokio_tungstenite::connect_async(request))
            .await
            .map_err(|_| handshake_err(format!("no answer within {HANDSHAKE_TIMEOUT:?}")))?
            .map_err(|e| handshake_err(e.to_string()))?;
    let (mut sink, mut incoming) = ws.split();

    let mut send_failed = false;
    for m in session.begin_stream(ids, &stream.parameters) {
        send_failed |= sink.feed(Message::text(m)).await.is_err();
    }
    send_failed |= sink.flush().await.is_err();

    let mut ticker = tokio::time::interval(FRAME);
    // Catch up after a stall like a jitter buffer would: the cadence averages 50 messages/s.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
    loop {
        if send_failed {
            session.on_server_closed(t0.elapsed());
            return Ok(StreamEnd::ServerClosed);
        }
        tokio::select! {
            _ = hung_up(hangup.as_deref_mut()) => {
                let now = t0.elapsed();
                if let Some(stop) = session.hang_up_now(now, "the call was ended through the REST API") {
                    let _ = sink.send(Message::text(stop)).await;
                }
                close(&mut sink, &mut incoming).await;
                return Ok(StreamEnd::RestHangup);
            }
            _ = tokio::time::sleep_until(deadline) => {
                let now = t0.elapsed();
                session.warn(now, "the call timeout was reached; the caller hangs up".into());
                if let Some(stop) = session.hang_up_now(now, "the call timed out") {
                    let _ = sink.send(Message::text(stop)).await;
                }
                close(&mut sink, &mut incoming).await;
                return Ok(StreamEnd::Timeout);
            }
            _ = ticker.tick() => {
                let out = session.on_tick(t0.elapsed());
                for m in out.messages {
                    send_failed |= sink.feed(Message::text(m)).await.is_err();
                }
                send_failed |= sink.flush().await.is_err();
                if out.hang_up {
                    close(&mut sink, &mut incoming).await;
                    return Ok(StreamEnd::CallerHungUp);
                }
            }
            msg = incoming.next() => {
                let now = t0.elapsed();
                match msg {
                    Some(Ok(Message::Text(text))) => {
                        for m in session.on_server_text(text.as_str(), now) {
                            send_failed |= sink.feed(Message::text(m)).await.is_err();
                        }
                        send_failed |= sink.flush().await.is_err();
                    }
                    Some(Ok(Message::Binary(_))) => session.on_server_binary(now),
                    // tungstenite answers pings itself.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                    Some(Ok(Message::Close(_))) | None => {
                        session.on_server_closed(now);
                        let _ = sink.close().await;
                        return Ok(StreamEnd::ServerClosed);
                    }
                    Some(Err(e)) => {
                        session.protocol_error(now, format!("WebSocket error: {e}"));
                        session.on_server_closed(now);
                        return Ok(StreamEnd::ServerClosed);
                    }
                }
            }
        }
    }
}

/// Closes our side and waits briefly for the server's close frame (a clean closing handshake).
async fn close<S, R>(sink: &mut S, incoming: &mut R)
where
    S: futures_util::Sink<Message> + Unpin,
    R: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let _ = sink.send(Message::Close(None)).await;
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(Ok(m)) = incoming.next().await {
            if m.is_close() {
                break;
            }
        }
    })
    .await;
}

/// Fetches the TwiML that continues the call after a stream or a `<Redirect>`.
async fn fetch_next(
    http: &reqwest::Client,
    target: &Target,
    method: &str,
    call: &CallParams,
    token: Option<&str>,
) -> Result<Vec<Verb>, SimError> {
    let answer =
        webhook::fetch_twiml(http, target, method, &call.voice("in-progress"), token).await?;
    twiml::parse(&answer.body).map_err(|reason| SimError::Twiml {
        url: target.signed.clone(),
        reason,
    })
}

/// Posts the `completed` status callback; its outcome goes into the report.
pub(crate) async fn post_status(
    http: &reqwest::Client,
    target: &Target,
    call: &CallParams,
    duration: Duration,
    token: Option<&str>,
) -> StatusCallback {
    let params = call.completed(duration, 0, chrono::Utc::now());
    match webhook::request(http, target, "POST", &params, token).await {
        Ok(answer) => StatusCallback {
            http_status: Some(answer.status),
            error: None,
        },
        Err(e) => StatusCallback {
            http_status: None,
            error: Some(e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback_ws;

    #[test]
    fn plain_ws_is_tolerated_only_for_loopback_servers() {
        assert!(is_loopback_ws("ws://127.0.0.1:8080/twilio/media"));
        assert!(is_loopback_ws("ws://localhost/twilio/media"));
        assert!(is_loopback_ws("ws://[::1]:8080/twilio/media"));
        assert!(!is_loopback_ws("ws://agent.example.com/twilio/media"));
        assert!(!is_loopback_ws("wss://127.0.0.1/twilio/media"));
    }
}
