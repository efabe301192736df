//! One caller script, three ways Twilio can run a voice agent, one server: Media Streams (our
//! speech engines), ConversationRelay (Twilio's speech, text over a websocket) and Gather (form
//! posts). The local carrier plays the same script in each mode and the caller must get the
//! same answers: greeting, the premium price, the basic price after interrupting a long answer,
//! and goodbye, with the call stored each time.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use server::{AgentRegistry, AppState, ServerConfig};
use speech::pool::SpeechPool;
use speech::{Stt, Tts};

const AUTH_TOKEN: &str = "three-modes-auth-token-0123456789abcdef";
const PUBLIC_URL: &str = "https://agent.example.test";

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn models_dir() -> PathBuf {
    std::env::var_os("CALLPILOT_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("models"))
}

fn norm(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn heard_any(lines: &[String], needles: &[&str]) -> bool {
    lines.iter().any(|l| {
        let squashed = l.replace(' ', "");
        needles
            .iter()
            .any(|n| l.contains(&norm(n)) || squashed.contains(&norm(n).replace(' ', "")))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_caller_script_passes_in_all_three_modes() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = speech::models::ModelDir::new(models_dir());
    let (stt, tts): (Arc<dyn Stt>, Arc<dyn Tts>) =
        speech::local::load_local(&dir, 2).expect("local models (run `callpilot models install`)");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let store = store::Store::connect("sqlite::memory:").await.unwrap();
    let agents = AgentRegistry::load(
        &workspace_root().join("agents/demo.toml"),
        &brain::BrainResources::default(),
    )
    .unwrap();
    let config = ServerConfig {
        listen: addr.to_string(),
        public_url: Some(PUBLIC_URL.into()),
        twilio_auth_token: Some(AUTH_TOKEN.into()),
    };
    let state = AppState::new(
        config,
        store.clone(),
        agents,
        SpeechPool::new(stt.clone(), tts.clone(), 1, 1),
    );
    let server = tokio::spawn(async move {
        axum::serve(listener, server::router(state)).await.unwrap();
    });
    let script = sim::CallerScript::load(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/e2e_call.yaml"),
    )
    .unwrap();

    for mode in [
        sim::CallMode::Relay,
        sim::CallMode::Gather,
        sim::CallMode::MediaStream,
    ] {
        let cfg = sim::SimConfig {
            server: format!("http://{addr}"),
            public_url: Some(PUBLIC_URL.into()),
            auth_token: Some(AUTH_TOKEN.into()),
            ..sim::SimConfig::default()
        };
        let report = sim::run_call_in_mode(&cfg, mode, &script, tts.clone(), stt.clone())
            .await
            .unwrap_or_else(|e| panic!("{mode:?} call: {e}"));
        println!("--- {mode:?}\n{}", report.render());
        assert!(
            report.protocol_errors.is_empty(),
            "{mode:?}: {:?}",
            report.protocol_errors
        );
        let heard: Vec<String> = report
            .conversation
            .iter()
            .filter_map(|e| match e {
                sim::Entry::Agent { text, .. } => Some(norm(text)),
                _ => None,
            })
            .collect();
        assert!(
            heard_any(
                &heard[..1],
                &["brightline", "bright line", "thanks for calling"]
            ),
            "{mode:?} greeting: {heard:?}"
        );
        assert!(
            heard_any(&heard, &["49", "forty nine"]),
            "{mode:?} premium price: {heard:?}"
        );
        assert!(
            heard_any(&heard, &["19", "nineteen"]),
            "{mode:?} basic price after the interruption: {heard:?}"
        );
        assert!(
            heard_any(&heard[heard.len() - 1..], &["goodbye", "good bye", "bye"]),
            "{mode:?} goodbye last: {heard:?}"
        );
        assert_eq!(report.ended_by, sim::EndReason::TwimlHangup, "{mode:?}");

        // Stored like any other call: caller turns, agent turns, an outcome.
        let deadline = Instant::now() + Duration::from_secs(10);
        let detail = loop {
            let d = store.get_call(&report.call_sid).await.unwrap();
            match d {
                Some(d) if d.call.outcome.is_some() => break d,
                other if Instant::now() > deadline => {
                    panic!("{mode:?} call not stored: {other:#?}")
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        let callers = detail
            .turns
            .iter()
            .filter(|t| t.speaker == store::Speaker::Caller)
            .count();
        assert!(callers >= 4, "{mode:?} caller turns: {:#?}", detail.turns);
        assert_eq!(
            detail.call.outcome.as_deref(),
            Some("completed"),
            "{mode:?}"
        );
    }
    server.abort();
}
