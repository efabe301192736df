//! Calls through the local carrier with the cloud speech engines selected, against local fakes
//! that speak Deepgram's and OpenAI's real wire protocols (crate `fakes`): the fakes transcribe
//! with Whisper and speak with Piper, so what the caller hears is checked by ear (Whisper again)
//! exactly as with the local engines. Then every provider fault a call can meet: the live STT
//! socket dropped mid-call, the cloud voice failing, the OpenAI endpoints failing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fakes::{
    FakeDeepgramListen, FakeDeepgramSpeak, FakeDeepgramSpeakConfig, FakeListenConfig,
    FakeOpenAiAudio, FakeOpenAiAudioConfig,
};
use server::{AgentRegistry, AppState, DeepgramStreaming, ServerConfig, SpeechProviders};
use speech::pool::SpeechPool;
use speech::{Stt, Tts};

const AUTH_TOKEN: &str = "cloud-e2e-auth-token-0123456789abcdef";
const PUBLIC_URL: &str = "https://agent.example.test";
const DEEPGRAM_KEY: &str = "dg-test-key";
const OPENAI_KEY: &str = "sk-test-key";

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn models_dir() -> PathBuf {
    std::env::var_os("CALLPILOT_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("models"))
}

/// One call at a time: the fakes transcribe with Whisper too, and three calls at once on two
/// cores would measure CPU starvation, not the providers.
static ONE_CALL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The fake Deepgram with Whisper as its ears. Interim results would each cost a Whisper run
/// on this 2-core machine, delaying the finals the test is about, so they are spaced out.
fn listen_config(stt: Arc<dyn Stt>) -> FakeListenConfig {
    let mut cfg = FakeListenConfig::new(DEEPGRAM_KEY, stt);
    cfg.interim_every = Duration::from_secs(30);
    cfg
}

fn local_models() -> (Arc<dyn Stt>, Arc<dyn Tts>) {
    let dir = speech::models::ModelDir::new(models_dir());
    let (stt, tts) =
        speech::local::load_local(&dir, 2).expect("local models (run `callpilot models install`)");
    (stt, tts)
}

/// The real server (router, store, demo agent) on a loopback port with `providers`.
struct Server {
    addr: std::net::SocketAddr,
    store: store::Store,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start_server(
    stt: Arc<dyn Stt>,
    tts: Arc<dyn Tts>,
    configure: impl FnOnce(&mut SpeechProviders),
) -> Server {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let store = store::Store::connect("sqlite::memory:").await.unwrap();
    let agents = AgentRegistry::load(
        &workspace_root().join("agents/demo.toml"),
        &brain::BrainResources::default(),
    )
    .unwrap();
    let pool = SpeechPool::new(stt, tts, 1, 1);
    let mut providers = SpeechProviders::local(&pool);
    configure(&mut providers);
    let config = ServerConfig {
        listen: addr.to_string(),
        public_url: Some(PUBLIC_URL.into()),
        twilio_auth_token: Some(AUTH_TOKEN.into()),
    };
    let state = AppState::new(config, store.clone(), agents, pool).with_speech_providers(providers);
    let task = tokio::spawn(async move {
        axum::serve(listener, server::router(state)).await.unwrap();
    });
    Server { addr, store, task }
}

async fn place_call(
    srv: &Server,
    script: &str,
    stt: Arc<dyn Stt>,
    tts: Arc<dyn Tts>,
) -> sim::SimReport {
    let cfg = sim::SimConfig {
        server: format!("http://{}", srv.addr),
        public_url: Some(PUBLIC_URL.into()),
        auth_token: Some(AUTH_TOKEN.into()),
        ..sim::SimConfig::default()
    };
    let script = sim::CallerScript::load(&workspace_root().join(script)).unwrap();
    let report = sim::run_call(&cfg, &script, tts, stt)
        .await
        .expect("simulated call");
    println!("{}", report.render());
    report
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

fn agent_heard(report: &sim::SimReport) -> Vec<String> {
    report
        .conversation
        .iter()
        .filter_map(|e| match e {
            sim::Entry::Agent { text, .. } => Some(norm(text)),
            _ => None,
        })
        .collect()
}

fn heard_any(lines: &[String], needles: &[&str]) -> bool {
    lines.iter().any(|l| {
        let squashed = l.replace(' ', "");
        needles
            .iter()
            .any(|n| l.contains(&norm(n)) || squashed.contains(&norm(n).replace(' ', "")))
    })
}

/// The quick call (greeting, premium price, goodbye) was heard and stored in full.
async fn assert_quick_call(srv: &Server, report: &sim::SimReport) -> store::CallDetail {
    let heard = agent_heard(report);
    assert!(
        report.protocol_errors.is_empty(),
        "{:?}",
        report.protocol_errors
    );
    assert!(
        heard_any(
            &heard[..1],
            &["brightline", "bright line", "thanks for calling"]
        ),
        "greeting: {heard:?}"
    );
    assert!(
        heard_any(&heard, &["49", "forty nine"]),
        "premium price: {heard:?}"
    );
    // Whisper tiny sometimes drops the short last word ("... Brightline. Goodbye!"): either
    // half of the closing line counts.
    assert!(
        heard_any(
            &heard[heard.len() - 1..],
            &["goodbye", "bye", "thanks for calling"]
        ),
        "goodbye: {heard:?}"
    );
    assert_eq!(report.ended_by, sim::EndReason::TwimlHangup);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let d = srv
            .store
            .get_call(&report.call_sid)
            .await
            .unwrap()
            .expect("call stored");
        if d.call.outcome.is_some() || Instant::now() > deadline {
            let callers = d
                .turns
                .iter()
                .filter(|t| t.speaker == store::Speaker::Caller)
                .count();
            assert!(callers >= 2, "caller turns: {:#?}", d.turns);
            return d;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn event_kinds(d: &store::CallDetail) -> Vec<String> {
    d.events.iter().map(|e| e.kind.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deepgram_live_stt_and_aura_tts_carry_a_whole_call_and_clear_on_barge_in() {
    let _one = ONE_CALL.lock().await;
    let (stt, tts) = local_models();
    let listen = FakeDeepgramListen::start(listen_config(stt.clone()))
        .await
        .unwrap();
    let mut speak_cfg = FakeDeepgramSpeakConfig::new(DEEPGRAM_KEY, tts.clone());
    // Slow enough that the long answer is still being generated when the caller cuts in.
    speak_cfg.reply_delay = Duration::from_millis(1200);
    let speak = FakeDeepgramSpeak::start(speak_cfg).await.unwrap();
    let listen_cfg = speech::DeepgramConfig {
        base_url: listen.ws_url(),
        api_key: DEEPGRAM_KEY.into(),
        connect_timeout: Duration::from_secs(5),
    };
    let speak_cfg = speech::DeepgramConfig {
        base_url: speak.base_url(),
        ..listen_cfg.clone()
    };
    let srv = start_server(stt.clone(), tts.clone(), |p| {
        p.set_deepgram_live(DeepgramStreaming {
            config: listen_cfg,
            // The barge-in line ("Sorry, how much is the basic plan?") pauses ~350 ms at its
            // comma: at 300 ms endpointing, "Sorry." would be a turn of its own. The engine
            // usually joins the two (the caller went on before hearing a reply), but this test
            // is about the providers, not about that race.
            options: speech::LiveOptions {
                endpointing_ms: Some(500),
                ..speech::LiveOptions::default()
            },
        });
        p.set_deepgram_speak(speak_cfg.clone(), speech::SpeakOptions::default());
        p.add_tts(
            "deepgram",
            Arc::new(speech::DeepgramTts::new(speak_cfg).unwrap()),
        );
        p.set_default_stt("deepgram").unwrap();
        p.set_default_tts("deepgram").unwrap();
    })
    .await;
    let report = place_call(
        &srv,
        "crates/callpilot/tests/scripts/e2e_call.yaml",
        stt,
        tts,
    )
    .await;
    let detail = assert_quick_call(&srv, &report).await;
    for t in &detail.turns {
        println!(
            "stored {:?}: {:?} interrupted={}",
            t.speaker, t.text, t.interrupted
        );
    }
    for e in &detail.events {
        println!("event {} {}", e.kind, e.data);
    }
    assert!(
        heard_any(&agent_heard(&report), &["19", "nineteen"]),
        "basic price after the barge-in"
    );

    // Deepgram did the work: one live stream and one speak stream for the call, phone audio as is.
    assert_eq!(listen.connections(), 1);
    let params = listen.last_params().expect("listen params");
    assert_eq!(
        (
            format!("{:?}", params.encoding).as_str(),
            params.sample_rate
        ),
        ("Mulaw", 8000)
    );
    assert_eq!(
        speak.ws_connections(),
        1,
        "one Aura websocket for the whole call"
    );
    assert!(
        speak.flushes() >= 4,
        "sentences spoken by Aura: {}",
        speak.flushes()
    );
    let kinds = event_kinds(&detail);
    assert!(
        kinds.iter().any(|k| k == "tts_cleared"),
        "Clear on barge-in: {kinds:?}"
    );
    assert!(!kinds.iter().any(|k| k == "tts_fallback"), "{kinds:?}");
    // The fake transcribes with Whisper on the same two cores; on a loaded machine one turn may
    // miss the 1.5 s wait and be transcribed locally (an `stt_fallback` event), but Deepgram must
    // have carried the call.
    let callers = detail
        .turns
        .iter()
        .filter(|t| t.speaker == store::Speaker::Caller)
        .count();
    let fallbacks = kinds.iter().filter(|k| *k == "stt_fallback").count();
    assert!(
        fallbacks <= 1 && callers >= 4,
        "{fallbacks} of {callers} turns fell back: {kinds:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_faults_mid_call_never_end_the_call() {
    let _one = ONE_CALL.lock().await;
    let (stt, tts) = local_models();
    let listen = FakeDeepgramListen::start(listen_config(stt.clone()))
        .await
        .unwrap();
    let mut speak_cfg = FakeDeepgramSpeakConfig::new(DEEPGRAM_KEY, tts.clone());
    // The cloud voice is down for the whole call: every sentence needs the local voice.
    speak_cfg.fail_all = true;
    let speak = FakeDeepgramSpeak::start(speak_cfg).await.unwrap();
    // The live socket drops while the caller asks the first question (~1.5 s of audio into
    // the stream: after the greeting's silence, inside the question).
    listen.drop_connections_after(150);
    let listen_cfg = speech::DeepgramConfig {
        base_url: listen.ws_url(),
        api_key: DEEPGRAM_KEY.into(),
        connect_timeout: Duration::from_secs(5),
    };
    let tts_cfg = speech::DeepgramConfig {
        base_url: speak.base_url(),
        ..listen_cfg.clone()
    };
    let srv = start_server(stt.clone(), tts.clone(), |p| {
        p.set_deepgram_live(DeepgramStreaming {
            config: listen_cfg,
            options: speech::LiveOptions::default(),
        });
        p.add_tts(
            "deepgram",
            Arc::new(
                speech::DeepgramTts::new(tts_cfg)
                    .unwrap()
                    .with_timeout(Duration::from_secs(2)),
            ),
        );
        p.set_default_stt("deepgram").unwrap();
        p.set_default_tts("deepgram").unwrap();
    })
    .await;
    let report = place_call(&srv, "scripts/callers/quick.yaml", stt, tts).await;
    let detail = assert_quick_call(&srv, &report).await;
    let kinds = event_kinds(&detail);
    assert!(kinds.iter().any(|k| k == "stt_reconnecting"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "stt_reconnected"), "{kinds:?}");
    assert!(
        listen.connections() >= 2,
        "reconnected: {}",
        listen.connections()
    );
    assert!(kinds.iter().any(|k| k == "tts_fallback"), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_compatible_speech_carries_a_call_and_survives_its_failures() {
    let _one = ONE_CALL.lock().await;
    let (stt, tts) = local_models();
    let openai = FakeOpenAiAudio::start(FakeOpenAiAudioConfig {
        api_key: OPENAI_KEY.into(),
        voice: tts.clone(),
        transcriber: stt.clone(),
    })
    .await
    .unwrap();
    let cfg = speech::OpenAiSpeechConfig {
        base_url: openai.base_url(),
        api_key: OPENAI_KEY.into(),
        timeout: Duration::from_secs(5),
        ..speech::OpenAiSpeechConfig::default()
    };
    let srv = start_server(stt.clone(), tts.clone(), |p| {
        p.add_stt(
            "openai",
            Arc::new(speech::OpenAiStt::new(cfg.clone()).unwrap()),
        );
        p.add_tts("openai", Arc::new(speech::OpenAiTts::new(cfg).unwrap()));
        p.set_default_stt("openai").unwrap();
        p.set_default_tts("openai").unwrap();
    })
    .await;
    // The greeting's sentences are synthesized in parallel, each tried twice: eight 500s make
    // all of them fail, and the local voice speaks the greeting.
    openai.fail_next(8, 500);
    let report = place_call(&srv, "scripts/callers/quick.yaml", stt, tts).await;
    let detail = assert_quick_call(&srv, &report).await;
    assert!(openai.requests("/v1/audio/transcriptions") >= 2);
    assert!(openai.requests("/v1/audio/speech") >= 2);
    let kinds = event_kinds(&detail);
    assert!(kinds.iter().any(|k| k == "tts_fallback"), "{kinds:?}");
}
