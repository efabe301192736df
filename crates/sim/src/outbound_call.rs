//! The driver of one outbound call: dialing, ringing, the far end's plan, status callbacks,
//! answering machine detection, and the answered leg (the same session code as inbound calls).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::call::{self, clip_of_pcm, converse, hung_up, synthesize_clip, synthesize_lines, Leg};
use crate::error::SimError;
use crate::outbound::{Carrier, CreateRequest, FarEnd, LogKind, OutboundCall};
use crate::report::{CallFacts, EndReason, Entry, SimReport, StatusCallback};
use crate::script::{CallerScript, Listen, Step};
use crate::session::{Clip, Session};
use crate::webhook::{self, CallParams};

/// Time from create to the far end ringing (Twilio's `initiated` to `ringing`).
const DIAL: Duration = Duration::from_millis(200);
/// A busy line answers SIP 486 quickly.
const BUSY_AFTER: Duration = Duration::from_millis(500);
/// How long AMD takes to call a live person `human` (a short "Hello?" then silence).
const HUMAN_DETECTION: Duration = Duration::from_millis(1200);
/// `MachineDetectionSpeechThreshold` default: speech longer than this is a machine (spec 1.4).
const SPEECH_THRESHOLD: Duration = Duration::from_millis(2400);
/// `MachineDetectionSpeechEndThreshold` default: the silence that ends a greeting with no beep.
const SPEECH_END: Duration = Duration::from_millis(1200);
/// Silence after the agent's message that makes the voicemail box hang up.
const VOICEMAIL_SILENCE: Duration = Duration::from_secs(3);
/// The beep: 1 kHz for 0.5 s.
const BEEP_HZ: f64 = 1000.0;
const BEEP: Duration = Duration::from_millis(500);
/// The beep's line in the far end's transcript.
const BEEP_LINE: &str = "(beep)";

/// Sends the call status callbacks of one call, numbering them (spec 1.3).
struct Progress<'a> {
    carrier: &'a Carrier,
    req: &'a CreateRequest,
    call: &'a CallParams,
    seq: u32,
}

impl Progress<'_> {
    /// Moves the call to `status` and posts the callback if its event was subscribed.
    /// `extra` carries `CallDuration`, `SipResponseCode`, `AnsweredBy`…
    /// Returns the callback's outcome, `None` when none was due.
    async fn to(
        &mut self,
        status: &'static str,
        extra: Vec<(String, String)>,
    ) -> Option<StatusCallback> {
        {
            let mut calls = self.carrier.calls();
            if let Some(e) = calls.get_mut(&self.call.call_sid) {
                e.status = status;
                e.updated = chrono::Utc::now();
                if status == "in-progress" {
                    e.start_time = Some(e.updated);
                }
            }
        }
        let event = match status {
            "initiated" => "initiated",
            "ringing" => "ringing",
            "in-progress" => "answered",
            _ => "completed",
        };
        let url = self.req.status_callback.as_ref()?;
        if !self.req.events.iter().any(|e| e == event) {
            return None;
        }
        let mut params = self.call.voice(status);
        params.extend(extra);
        params.extend([
            ("CallbackSource".into(), "call-progress-events".into()),
            ("SequenceNumber".into(), self.seq.to_string()),
            ("Timestamp".into(), rfc2822(chrono::Utc::now())),
        ]);
        params.sort_by(|a, b| a.0.cmp(&b.0));
        self.seq += 1;
        let method = self.req.status_callback_method.clone();
        Some(
            post(
                self.carrier,
                LogKind::StatusCallback,
                self.call,
                url,
                &method,
                params,
            )
            .await,
        )
    }
}

/// `Tue, 03 Mar 2026 17:04:05 +0000`.
pub(crate) fn rfc2822(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// Sends one signed callback and logs it.
async fn post(
    carrier: &Carrier,
    kind: LogKind,
    call: &CallParams,
    url: &str,
    method: &str,
    params: Vec<(String, String)>,
) -> StatusCallback {
    let sent = match carrier.target(url) {
        Ok(target) => webhook::request(
            &carrier.http,
            &target,
            method,
            &params,
            Some(&carrier.cfg.auth_token),
        )
        .await
        .map(|a| a.status)
        .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    carrier.record(kind, Some(&call.call_sid), url, params, sent.clone());
    match sent {
        Ok(s) => StatusCallback {
            http_status: Some(s),
            error: None,
        },
        Err(e) => StatusCallback {
            http_status: None,
            error: Some(e),
        },
    }
}

/// What the far end does once it picks up, prepared before dialing so that it never waits on TTS.
enum Pickup {
    Human {
        script: CallerScript,
        clips: HashMap<String, Clip>,
    },
    Machine {
        greeting_text: String,
        greeting: Clip,
        beep: Option<Clip>,
    },
}

/// Runs a call from create to its final callback and records its outcome.
pub(crate) async fn drive(carrier: Arc<Carrier>, sid: String, mut hangup: watch::Receiver<bool>) {
    let Some(req) = carrier.calls().get(&sid).map(|e| e.req.clone()) else {
        return;
    };
    let call = CallParams {
        call_sid: sid.clone(),
        account_sid: carrier.cfg.account_sid.clone(),
        from: req.from.clone(),
        to: req.to.clone(),
        direction: "outbound-api".into(),
        extra: Vec::new(),
    };
    let mut outcome = OutboundCall {
        sid: sid.clone(),
        to: req.to.clone(),
        from: req.from.clone(),
        status: String::new(),
        answered_by: None,
        duration_s: 0,
        report: None,
        voicemail_message: None,
        error: None,
    };
    let plan = carrier.plan(&req.to);
    let mut unplayable = false;
    let pickup = match prepare(&carrier, &plan).await {
        Ok(p) => p,
        Err(e) => {
            // The sim cannot play this far end (TTS failed): Twilio's closest outcome is failed.
            outcome.error = Some(e.to_string());
            unplayable = true;
            None
        }
    };
    let mut progress = Progress {
        carrier: &carrier,
        req: &req,
        call: &call,
        seq: 0,
    };
    progress.to("initiated", Vec::new()).await;
    let ring = match &plan {
        _ if unplayable => None,
        FarEnd::Failed => None,
        FarEnd::Busy => Some(BUSY_AFTER),
        FarEnd::NoAnswer => Some(Duration::from_secs(req.timeout).min(carrier.cfg.max_ring)),
        FarEnd::Answer(_) | FarEnd::Voicemail { .. } => {
            Some(carrier.cfg.ring.min(Duration::from_secs(req.timeout)))
        }
    };
    let end = |status: &'static str, sip: u16| (status, vec![sip_code(sip), duration_param(0)]);
    let (status, extra) = 'placed: {
        let Some(ring) = ring else {
            tokio::time::sleep(DIAL).await;
            break 'placed end("failed", 404);
        };
        tokio::select! {
            _ = tokio::time::sleep(DIAL) => {}
            _ = hung_up(Some(&mut hangup)) => break 'placed end("canceled", 487),
        }
        progress.to("ringing", Vec::new()).await;
        tokio::select! {
            _ = tokio::time::sleep(ring) => {}
            _ = hung_up(Some(&mut hangup)) => break 'placed end("canceled", 487),
        }
        match plan {
            FarEnd::Busy => break 'placed end("busy", 486),
            FarEnd::NoAnswer => break 'placed end("no-answer", 487),
            _ => {}
        }
        let Some(pickup) = pickup else {
            break 'placed end("failed", 500);
        };
        let answered = answer(&carrier, &req, &call, pickup, &mut progress, hangup).await;
        outcome.answered_by = answered.answered_by.clone();
        outcome.duration_s = answered.duration.as_secs_f64().round() as u64;
        outcome.error = answered.error.clone();
        let mut extra = vec![sip_code(200), duration_param(outcome.duration_s)];
        if let Some(by) = &answered.answered_by {
            extra.push(("AnsweredBy".into(), by.clone()));
        }
        // The final callback goes out at hang-up; transcription (slow with real models) after.
        let callback = progress.to("completed", extra).await;
        if let Some(rec) = answered.rec {
            let facts = CallFacts {
                call_sid: call.call_sid.clone(),
                account_sid: call.account_sid.clone(),
                from: call.from.clone(),
                to: call.to.clone(),
                duration: answered.duration,
                ended_by: answered.ended_by,
                status_callback: callback,
            };
            let report = call::transcribe_report(&carrier.pool, facts, rec).await;
            outcome.voicemail_message = answered
                .machine
                .then(|| voicemail_message(&report, answered.greeting_text.as_deref()));
            outcome.report = Some(report);
        }
        outcome.status = "completed".into();
        set_ended(&carrier, &sid, "completed", outcome.duration_s);
        carrier.finish(outcome);
        return;
    };
    progress.to(status, extra).await;
    outcome.status = status.into();
    set_ended(&carrier, &sid, status, 0);
    carrier.finish(outcome);
}

fn sip_code(code: u16) -> (String, String) {
    ("SipResponseCode".into(), code.to_string())
}

fn duration_param(secs: u64) -> (String, String) {
    ("CallDuration".into(), secs.to_string())
}

fn set_ended(carrier: &Carrier, sid: &str, status: &'static str, duration: u64) {
    if let Some(e) = carrier.calls().get_mut(sid) {
        e.status = status;
        e.updated = chrono::Utc::now();
        e.end_time = Some(e.updated);
        e.duration = Some(duration);
    }
}

/// Synthesizes what the far end will say. `None` for plans that never pick up.
async fn prepare(carrier: &Carrier, plan: &FarEnd) -> Result<Option<Pickup>, SimError> {
    Ok(match plan {
        FarEnd::Answer(script) => Some(Pickup::Human {
            clips: synthesize_lines(&carrier.pool, script).await?,
            script: script.clone(),
        }),
        FarEnd::Voicemail {
            greeting_text,
            beep,
        } => Some(Pickup::Machine {
            greeting: synthesize_clip(&carrier.pool, greeting_text).await?,
            greeting_text: greeting_text.clone(),
            beep: beep.then(beep_clip),
        }),
        FarEnd::Busy | FarEnd::NoAnswer | FarEnd::Failed => None,
    })
}

/// 1 kHz for 0.5 s at 8 kHz, at about -12 dBFS.
fn beep_clip() -> Clip {
    let n = (BEEP.as_secs_f64() * audio::SAMPLE_RATE_8K as f64) as usize;
    let pcm: Vec<i16> = (0..n)
        .map(|i| {
            let t = i as f64 / audio::SAMPLE_RATE_8K as f64;
            ((2.0 * std::f64::consts::PI * BEEP_HZ * t).sin() * 8000.0) as i16
        })
        .collect();
    clip_of_pcm(&pcm)
}

/// The answered part of a call.
struct Answered {
    answered_by: Option<String>,
    duration: Duration,
    ended_by: EndReason,
    rec: Option<crate::session::Recording>,
    error: Option<String>,
    machine: bool,
    greeting_text: Option<String>,
}

/// Picks up: AMD, the voice webhook, the far end's session until hang-up.
async fn answer(
    carrier: &Arc<Carrier>,
    req: &CreateRequest,
    call: &CallParams,
    pickup: Pickup,
    progress: &mut Progress<'_>,
    mut hangup: watch::Receiver<bool>,
) -> Answered {
    let answered_at = Instant::now();
    progress.to("in-progress", Vec::new()).await;
    let amd = req.machine_detection.as_deref();
    let machine = matches!(pickup, Pickup::Machine { .. });
    // What AMD concludes and when, and what the callee plays once the agent is connected.
    let (answered_by, detection, clips, steps, greeting_text) = match pickup {
        Pickup::Human { script, clips } => (
            amd.map(|_| "human".to_string()),
            HUMAN_DETECTION,
            clips,
            script.steps,
            None,
        ),
        Pickup::Machine {
            greeting_text,
            greeting,
            beep,
        } => {
            let greeting_len = clip_len(&greeting);
            let beep_len = beep.as_ref().map_or(Duration::ZERO, clip_len);
            let (by, detection) = match amd {
                Some("DetectMessageEnd") if beep.is_some() => {
                    ("machine_end_beep", greeting_len + beep_len)
                }
                Some("DetectMessageEnd") => ("machine_end_silence", greeting_len + SPEECH_END),
                _ => ("machine_start", greeting_len.min(SPEECH_THRESHOLD)),
            };
            // Synchronous AMD listens before the agent is connected: the agent only hears
            // what the machine plays after the detection point.
            let skip = if amd.is_some() && !req.async_amd {
                detection
            } else {
                Duration::ZERO
            };
            let mut clips = HashMap::new();
            let mut steps = Vec::new();
            let rest = skip_frames(&greeting, skip);
            if !rest.is_empty() {
                clips.insert(greeting_text.clone(), rest);
                steps.push(Step::Say(greeting_text.clone()));
            }
            if let Some(beep) = beep {
                if skip < greeting_len + beep_len {
                    clips.insert(
                        BEEP_LINE.to_string(),
                        skip_frames(&beep, skip.saturating_sub(greeting_len)),
                    );
                    steps.push(Step::Say(BEEP_LINE.to_string()));
                }
            }
            steps.push(Step::Listen(Listen {
                timeout: carrier.cfg.voicemail_max,
                quiet: VOICEMAIL_SILENCE,
            }));
            steps.push(Step::Hangup);
            (
                amd.map(|_| by.to_string()),
                detection,
                clips,
                steps,
                Some(greeting_text),
            )
        }
    };
    let amd_params = |by: &str| {
        vec![
            ("AnsweredBy".to_string(), by.to_string()),
            (
                "MachineDetectionDuration".to_string(),
                detection.as_millis().to_string(),
            ),
        ]
    };
    let mut call = call.clone();
    let failed = |e: SimError| Answered {
        answered_by: answered_by.clone(),
        duration: answered_at.elapsed(),
        ended_by: EndReason::TwimlError,
        rec: None,
        error: Some(e.to_string()),
        machine,
        greeting_text: greeting_text.clone(),
    };
    if let Some(by) = &answered_by {
        if req.async_amd {
            // The result arrives on its own while the agent already talks.
            let url = req.async_amd_status_callback.clone();
            let method = req.async_amd_status_callback_method.clone();
            let mut params = vec![
                ("AccountSid".to_string(), call.account_sid.clone()),
                ("CallSid".to_string(), call.call_sid.clone()),
            ];
            params.extend(amd_params(by));
            if let Some(url) = url {
                let (carrier, call) = (carrier.clone(), call.clone());
                let at = answered_at + detection;
                let by = by.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(at).await;
                    set_answered_by(&carrier, &call.call_sid, &by);
                    post(&carrier, LogKind::AmdCallback, &call, &url, &method, params).await;
                });
            }
        } else {
            tokio::select! {
                _ = tokio::time::sleep(detection) => {}
                _ = hung_up(Some(&mut hangup)) => return Answered {
                    answered_by: None,
                    duration: answered_at.elapsed(),
                    ended_by: EndReason::RestHangup,
                    rec: None,
                    error: None,
                    machine,
                    greeting_text,
                },
            }
            set_answered_by(carrier, &call.call_sid, by);
            call.extra = amd_params(by);
        }
    }
    let endpoints = match carrier.endpoints_for(&req.url) {
        Ok(e) => e,
        Err(e) => return failed(e),
    };
    let first = endpoints.resolve_http(&req.url, &req.url);
    let cfg = crate::call::SimConfig {
        server: String::new(),
        public_url: None,
        auth_token: Some(carrier.cfg.auth_token.clone()),
        account_sid: Some(call.account_sid.clone()),
        voice_path: String::new(),
        status_path: None,
        call_timeout: carrier.cfg.call_timeout,
        hangup_grace: carrier.cfg.hangup_grace,
    };
    let script = CallerScript {
        from: call.to.clone(),
        to: call.from.clone(),
        description: None,
        steps,
    };
    let t0 = Instant::now();
    let mut session = Session::new(&script, clips, cfg.hangup_grace);
    let leg = Leg {
        endpoints: &endpoints,
        first,
        first_method: &req.method,
        first_status: "in-progress",
        call: &call,
        token: Some(&carrier.cfg.auth_token),
        hangup: Some(hangup),
        stream_required: false,
    };
    let ended = converse(&cfg, leg, &mut session, &carrier.http, t0).await;
    let rec = session.finish(t0.elapsed());
    let (ended_by, error) = match ended {
        Ok(r) => (r, None),
        Err(e) => (EndReason::TwimlError, Some(e.to_string())),
    };
    Answered {
        answered_by,
        duration: answered_at.elapsed(),
        ended_by,
        rec: Some(rec),
        error,
        machine,
        greeting_text,
    }
}

fn set_answered_by(carrier: &Carrier, sid: &str, by: &str) {
    if let Some(e) = carrier.calls().get_mut(sid) {
        e.answered_by = Some(by.to_string());
        e.updated = chrono::Utc::now();
    }
}

fn clip_len(clip: &Clip) -> Duration {
    crate::session::FRAME * clip.len() as u32
}

/// The clip without its first `skip` of audio.
fn skip_frames(clip: &Clip, skip: Duration) -> Clip {
    let n = (skip.as_millis() / crate::session::FRAME.as_millis()) as usize;
    Arc::new(clip.get(n..).map(<[_]>::to_vec).unwrap_or_default())
}

/// What the agent said after the machine's last line (the beep, or the greeting).
fn voicemail_message(report: &SimReport, greeting: Option<&str>) -> String {
    let after = report
        .conversation
        .iter()
        .filter_map(|e| match e {
            Entry::Caller { end_ms, text, .. }
                if text == BEEP_LINE || Some(text.as_str()) == greeting =>
            {
                Some(*end_ms)
            }
            _ => None,
        })
        .max()
        .unwrap_or(0);
    report
        .conversation
        .iter()
        .filter_map(|e| match e {
            // Ends after the beep: the agent may start a few frames early, as AMD reports the
            // beep from the answer time while the machine's audio starts with the stream.
            Entry::Agent { end_ms, text, .. } if *end_ms > after => Some(text.trim()),
            _ => None,
        })
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
