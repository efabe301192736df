//! The sim plays a caller in ConversationRelay and Gather mode against a tiny in-test agent on
//! loopback: the same caller script as a Media Streams call, the same report, Twilio's wire
//! shapes and signatures checked on the server side.

mod text_agent;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sim::{run_call_in_mode, CallMode, CallerScript, EndReason, Entry, SimConfig, SimReport};
use text_agent::*;

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";

fn config(server: &str) -> SimConfig {
    SimConfig {
        server: server.to_string(),
        public_url: Some(PUBLIC.to_string()),
        auth_token: Some(TOKEN.to_string()),
        account_sid: Some(ACCOUNT.to_string()),
        call_timeout: Duration::from_secs(30),
        hangup_grace: Duration::from_millis(500),
        ..SimConfig::default()
    }
}

fn script(steps: &str) -> CallerScript {
    CallerScript::from_yaml(&format!(
        "from: \"+14155550100\"\nto: \"+14155550199\"\nsteps:\n{steps}"
    ))
    .unwrap()
}

async fn place(server: &str, mode: CallMode, script: &CallerScript) -> SimReport {
    let speech = Arc::new(NoSpeech);
    run_call_in_mode(&config(server), mode, script, speech.clone(), speech)
        .await
        .expect("the call takes place")
}

/// (speaker, text, flag): agent flag = cut off, caller flag = interrupt step.
fn transcript(report: &SimReport) -> Vec<(&'static str, String, bool)> {
    report
        .conversation
        .iter()
        .filter_map(|e| match e {
            Entry::Agent {
                text, cut_by_clear, ..
            } => Some(("agent", text.clone(), *cut_by_clear)),
            Entry::Caller {
                text, interrupt, ..
            } => Some(("caller", text.clone(), *interrupt)),
            Entry::Dtmf { digit, .. } => Some(("dtmf", digit.to_string(), false)),
            _ => None,
        })
        .collect()
}

fn line(who: &'static str, text: &str, flag: bool) -> (&'static str, String, bool) {
    (who, text.to_string(), flag)
}

const RELAY_SCRIPT: &str = "  - listen: { quiet_ms: 300 }
  - say: \"How much is the premium plan?\"
  - listen: { quiet_ms: 300 }
  - say: \"Tell me about your plans.\"
  - interrupt: { after_ms: 1000, say: \"Sorry, how much is basic?\" }
  - listen: { quiet_ms: 300 }
  - say: \"Goodbye.\"
  - listen: { quiet_ms: 300 }
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_call_plays_script_and_reports_greeting_interrupt_and_goodbye() {
    let (server, observed) = start(Behaviour::Conversation).await;
    let report = place(&server, CallMode::Relay, &script(RELAY_SCRIPT)).await;

    assert_eq!(
        transcript(&report),
        vec![
            line("agent", GREETING, false),
            line("caller", Q_PREMIUM, false),
            line("agent", PREMIUM, false),
            line("caller", Q_PLANS, false),
            line("agent", LONG, true),
            line("caller", Q_BASIC, true),
            line("agent", BASIC, false),
            line("caller", Q_BYE, false),
            line("agent", BYE, false),
        ],
        "{}",
        report.render()
    );
    assert_eq!(
        report.ended_by,
        EndReason::TwimlHangup,
        "{}",
        report.render()
    );
    assert!(report.protocol_errors.is_empty(), "{}", report.render());
    assert!(report.server_closed_stream);
    assert_eq!(report.stream_sids.len(), 1);
    assert!(report.stream_sids[0].starts_with("VX"));
    // Latency: prompt -> first token, at least the agent's thinking time.
    assert_eq!(report.turns.len(), 4);
    for t in &report.turns {
        let l = t.latency_ms.unwrap_or_else(|| panic!("no latency: {t:?}"));
        assert!(l >= THINK.as_millis() as u64 && l < 2000, "{t:?}");
    }
    assert_eq!(
        report.status_callback.as_ref().unwrap().http_status,
        Some(200)
    );

    let obs = observed.lock().unwrap();
    assert_eq!(obs.handshake_signature_ok, Some(true));
    let messages: Vec<&Value> = obs.relay_in.iter().map(|(_, v)| v).collect();
    let setup = messages[0];
    assert_eq!(setup["type"], "setup");
    assert_eq!(setup["callSid"], report.call_sid.as_str());
    assert_eq!(setup["sessionId"], report.stream_sids[0].as_str());
    assert_eq!(setup["customParameters"]["agent"], "ava");
    let prompts: Vec<&Value> = messages
        .iter()
        .copied()
        .filter(|m| m["type"] == "prompt")
        .collect();
    assert_eq!(prompts.len(), 4);
    assert!(prompts
        .iter()
        .all(|p| p["last"] == true && p["lang"] == "en-US"));
    // The caller heard 1 s of the long answer at 15 characters a second, whole words only.
    let interrupt = messages
        .iter()
        .find(|m| m["type"] == "interrupt")
        .expect("an interrupt");
    assert_eq!(interrupt["utteranceUntilInterrupt"], "We have three");
    let ms = interrupt["durationUntilInterruptMs"].as_u64().unwrap();
    assert!((1000..1500).contains(&ms), "{interrupt}");
    // The interrupt comes right before the interrupting prompt.
    let i = messages
        .iter()
        .position(|m| m["type"] == "interrupt")
        .unwrap();
    assert_eq!(messages[i + 2]["voicePrompt"], Q_BASIC, "{messages:?}");
    // Speaker events pair up: one on/off per talk cycle (greeting + 4 replies).
    let speaking: Vec<&str> = messages
        .iter()
        .filter(|m| m["type"] == "info" && m["name"] == "agentSpeaking")
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(speaking, ["on", "off"].repeat(5));

    // The Connect action: signed, with the session and its handoff data.
    let done = obs
        .webhooks
        .iter()
        .find(|r| r.path == "/relay-done")
        .expect("the Connect action was requested");
    assert!(done.signature_ok);
    assert_eq!(done.param("SessionStatus"), Some("ended"));
    assert_eq!(done.param("CallStatus"), Some("in-progress"));
    assert_eq!(
        done.param("SessionId"),
        Some(report.stream_sids[0].as_str())
    );
    assert_eq!(done.param("HandoffData"), Some(HANDOFF));
    let status = obs.webhooks.last().unwrap();
    assert_eq!(status.path, "/twilio/status");
    assert_eq!(status.param("CallStatus"), Some("completed"));
    assert!(obs.webhooks.iter().all(|r| r.signature_ok));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_dtmf_and_caller_hangup_end_the_session_as_completed() {
    let (server, observed) = start(Behaviour::Conversation).await;
    let s = script("  - dtmf: \"1\"\n  - listen: { quiet_ms: 200 }\n  - hangup\n");
    let report = place(&server, CallMode::Relay, &s).await;
    assert_eq!(report.ended_by, EndReason::CallerHungUp);
    let t = transcript(&report);
    assert!(t.contains(&line("dtmf", "1", false)), "{t:?}");
    assert!(t.contains(&line("agent", PRESSED, false)), "{t:?}");
    let obs = observed.lock().unwrap();
    assert!(obs
        .relay_in
        .iter()
        .any(|(_, m)| m["type"] == "dtmf" && m["digit"] == "1"));
    let done = obs
        .webhooks
        .iter()
        .find(|r| r.path == "/relay-done")
        .unwrap();
    assert_eq!(done.param("SessionStatus"), Some("completed"));
    assert_eq!(done.param("CallStatus"), Some("completed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_protocol_deviations_are_reported() {
    let (server, _) = start(Behaviour::Misbehaving).await;
    let report = place(
        &server,
        CallMode::Relay,
        &script("  - listen: { quiet_ms: 200 }\n"),
    )
    .await;
    let errors: Vec<&str> = report
        .protocol_errors
        .iter()
        .map(|i| i.message.as_str())
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("`text` without a string `token`")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("unknown message type `bogus`")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("a `text` message after `end`")),
        "{errors:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gather_call_plays_script_and_reports_greeting_interrupt_and_goodbye() {
    let (server, observed) = start(Behaviour::Conversation).await;
    let s = script(
        "  - listen
  - say: \"How much is the premium plan?\"
  - listen
  - say: \"Tell me about your plans.\"
  - interrupt: { after_ms: 500, say: \"Sorry, how much is basic?\" }
  - listen
  - dtmf: \"1\"
  - listen
  - say: \"Goodbye.\"
  - listen
",
    );
    let report = place(&server, CallMode::Gather, &s).await;
    assert_eq!(
        transcript(&report),
        vec![
            line("agent", GREETING, false),
            line("caller", Q_PREMIUM, false),
            line("agent", PREMIUM, false),
            line("caller", Q_PLANS, false),
            line("agent", LONG, true),
            line("caller", Q_BASIC, true),
            line("agent", BASIC, false),
            line("dtmf", "1", false),
            line("agent", PRESSED, false),
            line("caller", Q_BYE, false),
            line("agent", BYE, false),
        ],
        "{}",
        report.render()
    );
    assert_eq!(report.ended_by, EndReason::TwimlHangup);
    assert!(report.protocol_errors.is_empty(), "{}", report.render());
    assert_eq!(report.turns.len(), 4);
    for t in &report.turns {
        let l = t.latency_ms.unwrap_or_else(|| panic!("no latency: {t:?}"));
        assert!(l >= THINK.as_millis() as u64 && l < 2000, "{t:?}");
    }
    let obs = observed.lock().unwrap();
    let posts: Vec<&Received> = obs
        .webhooks
        .iter()
        .filter(|r| r.path == "/gather/next")
        .collect();
    assert_eq!(posts.len(), 5);
    assert!(
        obs.webhooks.iter().all(|r| r.signature_ok),
        "{:?}",
        obs.webhooks
    );
    assert_eq!(posts[0].param("SpeechResult"), Some(Q_PREMIUM));
    assert!(posts[0].param("Confidence").is_some());
    assert_eq!(posts[0].param("CallSid"), Some(report.call_sid.as_str()));
    assert_eq!(posts[3].param("Digits"), Some("1"));
    assert_eq!(posts[3].param("SpeechResult"), None);
    assert_eq!(
        obs.webhooks.last().unwrap().param("CallStatus"),
        Some("completed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gather_without_action_and_non_xml_answer_are_protocol_errors() {
    let (server, _) = start(Behaviour::Misbehaving).await;
    let report = place(&server, CallMode::Gather, &script("  - say: \"Hello\"\n")).await;
    assert_eq!(report.ended_by, EndReason::TwimlError);
    let errors: Vec<&str> = report
        .protocol_errors
        .iter()
        .map(|i| i.message.as_str())
        .collect();
    assert!(
        errors.iter().any(|e| e.contains("<Gather> has no action")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("text/plain")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("text outside the root element")),
        "{errors:?}"
    );
}
