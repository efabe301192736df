//! End-to-end: the sim places real-time calls against a tiny in-test agent server on loopback
//! and both sides' observations are checked against the Twilio protocols.

mod support;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sim::{CallerScript, EndReason, Entry, SimConfig, SimError};
use support::fake_agent::{self, Behaviour, Observed, BASIC, BYE, GREETING, LONG, PREMIUM, THINK};
use support::tone_speech::ToneSpeech;

const TOKEN: &str = "test-auth-token-0123456789abcdef";
const PUBLIC: &str = "https://agent.test";
const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";

const Q_PREMIUM: &str = "How much is the premium plan?";
const Q_PLANS: &str = "Tell me about your plans.";
const Q_BASIC: &str = "Sorry, how much is basic?";
const Q_BYE: &str = "Goodbye.";

fn speech() -> Arc<ToneSpeech> {
    Arc::new(ToneSpeech {
        phrases: vec![
            GREETING, PREMIUM, LONG, BASIC, BYE, Q_PREMIUM, Q_PLANS, Q_BASIC, Q_BYE,
        ],
    })
}

fn config(server: &str, token: Option<&str>) -> SimConfig {
    SimConfig {
        server: server.to_string(),
        public_url: Some(PUBLIC.to_string()),
        auth_token: token.map(str::to_string),
        account_sid: Some(ACCOUNT.to_string()),
        call_timeout: Duration::from_secs(20),
        hangup_grace: Duration::from_millis(500),
        ..SimConfig::default()
    }
}

/// Independent re-computation of Twilio's signature (spec 2.1), not the sim's code.
fn expected_signature(url: &str, params: &[(String, String)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let data: String = std::iter::once(url.to_string())
        .chain(sorted.iter().map(|(k, v)| format!("{k}{v}")))
        .collect();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(TOKEN.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn events(obs: &Observed, name: &str) -> Vec<(std::time::Instant, Value)> {
    obs.inbound
        .iter()
        .filter(|(_, v)| v["event"] == name)
        .cloned()
        .collect()
}

fn agent_texts(report: &sim::SimReport) -> Vec<(String, bool)> {
    report
        .conversation
        .iter()
        .filter_map(|e| match e {
            Entry::Agent {
                text, cut_by_clear, ..
            } => Some((text.clone(), *cut_by_clear)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_call_follows_twilio_protocols_end_to_end() {
    let speech = speech();
    let (server, observed) =
        fake_agent::spawn(Behaviour::Conversation, "<Hangup/>", speech.clone()).await;
    let script = CallerScript::from_yaml(&format!(
        r#"
from: "+14155550100"
to: "+14155550199"
steps:
  - listen: {{ quiet_ms: 300 }}
  - say: "{Q_PREMIUM}"
  - listen: {{ quiet_ms: 300 }}
  - say: "{Q_PLANS}"
  - interrupt: {{ after_ms: 400, say: "{Q_BASIC}" }}
  - listen: {{ quiet_ms: 300 }}
  - say: "{Q_BYE}"
  - listen: {{ quiet_ms: 300 }}
"#
    ))
    .unwrap();
    let report = sim::run_call(
        &config(&server, Some(TOKEN)),
        &script,
        speech.clone(),
        speech.clone(),
    )
    .await
    .unwrap();
    let obs = observed.lock().unwrap();
    println!("{}", report.render());

    // Voice webhook: an inbound ringing call, signed over the public URL.
    let voice = &obs.voice[0];
    assert_eq!(
        voice.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(voice.param("CallStatus"), Some("ringing"));
    assert_eq!(voice.param("Direction"), Some("inbound"));
    assert_eq!(voice.param("From"), Some("+14155550100"));
    assert_eq!(voice.param("To"), Some("+14155550199"));
    assert_eq!(voice.param("AccountSid"), Some(ACCOUNT));
    let call_sid = voice.param("CallSid").unwrap();
    assert!(
        call_sid.len() == 34 && call_sid.starts_with("CA"),
        "{call_sid}"
    );
    assert_eq!(
        voice.signature.as_deref(),
        Some(expected_signature("https://agent.test/twilio/voice", &voice.params).as_str())
    );

    // Handshake signed over the wss URL from the TwiML.
    assert_eq!(
        obs.handshake_signature.as_deref(),
        Some(expected_signature("wss://agent.test/media", &[]).as_str())
    );

    // connected (no sequenceNumber), start #1, then every message numbered consecutively.
    assert_eq!(obs.inbound[0].1["event"], "connected");
    assert!(obs.inbound[0].1.get("sequenceNumber").is_none());
    let start = &obs.inbound[1].1;
    assert_eq!(start["event"], "start");
    assert_eq!(start["start"]["callSid"], call_sid);
    assert_eq!(start["start"]["customParameters"]["tenant"], "acme");
    assert_eq!(start["start"]["tracks"][0], "inbound");
    assert_eq!(start["start"]["mediaFormat"]["sampleRate"], 8000);
    let seqs: Vec<u64> = obs.inbound[1..]
        .iter()
        .map(|(_, v)| v["sequenceNumber"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        seqs.iter().enumerate().all(|(i, s)| *s == i as u64 + 1),
        "sequence numbers have gaps"
    );

    // Media cadence: ~50 messages per second, chunk and timestamp counting like Twilio.
    let media = events(&obs, "media");
    for (i, (_, m)) in media.iter().enumerate() {
        assert_eq!(m["media"]["chunk"], (i + 1).to_string());
        assert_eq!(m["media"]["timestamp"], (i * 20).to_string());
    }
    let span = media.last().unwrap().0 - media[0].0;
    let rate = (media.len() - 1) as f64 / span.as_secs_f64();
    assert!((45.0..=55.0).contains(&rate), "media rate {rate:.1}/s");

    // Marks come back after their audio played: the greeting's after ~its length.
    let sent_at = |name: &str| obs.marks_sent.iter().find(|(_, n)| n == name).unwrap().0;
    let echoed_at = |name: &str| {
        events(&obs, "mark")
            .into_iter()
            .find(|(_, v)| v["mark"]["name"] == name)
            .unwrap_or_else(|| panic!("{name} echoed"))
            .0
    };
    let greeting_play = echoed_at("greeting") - sent_at("greeting");
    let greeting_len = Duration::from_millis(support::tone_speech::tone_ms(GREETING) as u64);
    assert!(
        greeting_play >= greeting_len - Duration::from_millis(40),
        "{greeting_play:?}"
    );
    assert!(
        greeting_play <= greeting_len + Duration::from_millis(200),
        "{greeting_play:?}"
    );

    // Barge-in: the clear flushed the long answer and its pending mark came back at once.
    assert_eq!(obs.clears_sent.len(), 1);
    let long_echo = echoed_at("long") - obs.clears_sent[0];
    assert!(
        long_echo < Duration::from_millis(150),
        "pending mark echoed {long_echo:?} after clear"
    );
    assert_eq!(report.clears, 1);

    // The stream was closed by the agent after its last mark, then <Hangup/> completed the call.
    assert!(obs.closed_by_agent);
    assert!(report.server_closed_stream);
    assert_eq!(report.ended_by, EndReason::TwimlHangup);
    assert_eq!(report.marks_echoed, 5);
    assert!(
        events(&obs, "stop").is_empty(),
        "the caller did not hang up"
    );

    // Status callback: completed, signed, with duration and RFC 2822 timestamp.
    let status = &obs.status[0];
    assert_eq!(status.param("CallStatus"), Some("completed"));
    assert_eq!(status.param("CallSid"), Some(call_sid));
    assert_eq!(status.param("CallbackSource"), Some("call-progress-events"));
    assert_eq!(status.param("SequenceNumber"), Some("0"));
    assert!(
        status
            .param("CallDuration")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 4
    );
    assert!(status.param("Timestamp").unwrap().ends_with("+0000"));
    assert_eq!(
        status.signature.as_deref(),
        Some(expected_signature("https://agent.test/twilio/status", &status.params).as_str())
    );
    assert_eq!(
        report.status_callback.as_ref().unwrap().http_status,
        Some(204)
    );

    // The transcript, as heard: the long answer (third utterance) was cut by the clear.
    let heard = agent_texts(&report);
    assert_eq!(
        heard.iter().map(|(_, cut)| *cut).collect::<Vec<_>>(),
        vec![false, false, true, false, false]
    );
    let whole: Vec<&str> = heard
        .iter()
        .filter(|(_, cut)| !cut)
        .map(|(t, _)| t.as_str())
        .collect();
    assert_eq!(whole, vec![GREETING, PREMIUM, BASIC, BYE]);
    let callers: Vec<&str> = report.turns.iter().map(|t| t.caller.as_str()).collect();
    assert_eq!(callers, vec![Q_PREMIUM, Q_PLANS, Q_BASIC, Q_BYE]);

    // Latency from frame times: agent's end-of-turn wait (200 ms) + think time, within a few ticks.
    let premium_latency = report.turns[0].latency_ms.unwrap();
    let floor = 200 + THINK.as_millis() as u64;
    assert!(
        (floor - 20..=floor + 150).contains(&premium_latency),
        "latency {premium_latency} ms"
    );
    assert!(
        report.turns[2].clear_after_ms.unwrap() < 150,
        "{:?}",
        report.turns[2]
    );
    assert!(
        report.protocol_errors.is_empty(),
        "{:?}",
        report.protocol_errors
    );
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_server_is_reported_not_fatal() {
    let speech = speech();
    let (server, observed) = fake_agent::spawn(Behaviour::Misbehaving, "", speech.clone()).await;
    let script = CallerScript::from_yaml("from: \"+14155550100\"\nto: \"+14155550199\"\nsteps:\n  - listen: { timeout_s: 3 }\n  - say: \"Goodbye.\"\n").unwrap();
    let report = sim::run_call(
        &config(&server, None),
        &script,
        speech.clone(),
        speech.clone(),
    )
    .await
    .unwrap();
    let obs = observed.lock().unwrap();

    assert!(
        obs.voice[0].signature.is_none(),
        "no auth token, no signature"
    );
    assert!(obs.handshake_signature.is_none());
    let errors: Vec<&str> = report
        .protocol_errors
        .iter()
        .map(|i| i.message.as_str())
        .collect();
    assert!(
        errors.iter().any(|e| e.starts_with("not a JSON object")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("MZ00000000000000000000000000000000")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("not a whole number of 160-byte")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("unknown event `play`")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("binary WebSocket frame")),
        "{errors:?}"
    );
    let warnings: Vec<&str> = report.warnings.iter().map(|i| i.message.as_str()).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("audio unplayed and 1 mark(s) pending")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("step 2 (say)")),
        "{warnings:?}"
    );
    assert_eq!(report.ended_by, EndReason::TwimlEnded);
    assert!(report.render().contains("protocol errors:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_hangup_sends_stop_and_completes_the_call() {
    let speech = speech();
    let (server, observed) =
        fake_agent::spawn(Behaviour::Silent, "<Hangup/>", speech.clone()).await;
    let script = CallerScript::from_yaml(
        "from: \"+14155550100\"\nto: \"+14155550199\"\nsteps:\n  - say: \"Goodbye.\"\n  - hangup\n",
    )
    .unwrap();
    let report = sim::run_call(
        &config(&server, Some(TOKEN)),
        &script,
        speech.clone(),
        speech.clone(),
    )
    .await
    .unwrap();
    let obs = observed.lock().unwrap();
    let stop = &events(&obs, "stop")[0].1;
    assert_eq!(
        stop["stop"]["callSid"],
        obs.voice[0].param("CallSid").unwrap()
    );
    assert_eq!(stop["stop"]["accountSid"], ACCOUNT);
    assert_eq!(stop["streamSid"], report.stream_sids[0].as_str());
    assert_eq!(report.ended_by, EndReason::CallerHungUp);
    assert!(!report.server_closed_stream);
    assert_eq!(obs.status[0].param("CallStatus"), Some("completed"));
    // "Goodbye." is 8 characters of tone = 160 ms = 8 frames, then stop.
    assert_eq!(events(&obs, "media").len(), 8);
}

#[tokio::test]
async fn refused_handshake_and_failing_webhook_are_errors() {
    let speech = speech();
    let script = CallerScript::from_yaml("from: \"+1\"\nto: \"+2\"\nsteps: [listen]\n").unwrap();

    let (server, observed) =
        fake_agent::spawn(Behaviour::RefuseHandshake, "", speech.clone()).await;
    let err = sim::run_call(
        &config(&server, Some(TOKEN)),
        &script,
        speech.clone(),
        speech.clone(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SimError::Handshake { .. }), "{err}");
    assert!(err.to_string().contains("403"), "{err}");
    assert!(observed.lock().unwrap().handshake_signature.is_some());

    let (server, _) = fake_agent::spawn(Behaviour::WebhookError, "", speech.clone()).await;
    let err = sim::run_call(
        &config(&server, Some(TOKEN)),
        &script,
        speech.clone(),
        speech.clone(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, SimError::WebhookStatus { status: 500, .. }),
        "{err}"
    );
}
