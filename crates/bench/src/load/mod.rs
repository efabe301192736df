//! The load generator: the real server (`server::router`) in this process, its cloud speech
//! engines (Deepgram live STT and Aura TTS) replaced by the loopback fakes of crate `fakes`
//! with cheap deterministic "models" ([`crate::fake_speech`]) and fixed configured delays, and
//! N concurrent simulated Twilio callers ([`caller`]) per level.
//!
//! Three tokio runtimes with named threads (`srv-`, `fake-`, `load-`) keep the server's CPU
//! time apart from the fakes' and the callers' ([`crate::proc_stats`]).

pub mod caller;
pub mod metrics;
pub mod report;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::fake_speech::{LengthStt, ToneTts};
use crate::proc_stats::{cpu_by_owner, machine_load, rss_bytes};
use crate::stats::{summarize, Summary};
use caller::{CallOutcome, CallerPlan};

/// Most concurrent calls one level may place.
pub const MAX_CALLS: usize = 1000;
/// Longest level.
pub const MAX_DURATION: Duration = Duration::from_secs(600);
const DEEPGRAM_KEY: &str = "bench-deepgram-key";

/// What to run.
#[derive(Debug, Clone, Serialize)]
pub struct LoadConfig {
    /// Concurrent calls per level, run in this order.
    pub calls: Vec<usize>,
    /// How long each caller keeps talking.
    pub duration_s: u64,
    /// The fake Deepgram listen's wait before each final transcript.
    pub stt_delay_ms: u64,
    /// The fake Aura's wait before each sentence's first audio.
    pub tts_delay_ms: u64,
    /// Deepgram endpointing: caller silence before `speech_final` (the fake honours it).
    pub endpointing_ms: u32,
    /// The agent answering (TOML file).
    pub agent: PathBuf,
    /// Caller utterance lengths, cycled.
    pub utterances_ms: Vec<u64>,
    /// Stop after a level where more than this share of calls failed.
    pub max_failed_share: f64,
}

/// Why the load run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0} concurrent calls asked; at most {MAX_CALLS}")]
    TooManyCalls(usize),
    #[error("duration must be 1..={} s", MAX_DURATION.as_secs())]
    Duration,
    #[error("runtime: {0}")]
    Runtime(#[from] std::io::Error),
    #[error("agent {0}: {1}")]
    Agent(String, String),
    #[error("store: {0}")]
    Store(String),
    #[error("speech providers: {0}")]
    Providers(String),
}

/// The figures of one level.
#[derive(Debug, Clone, Serialize)]
pub struct LevelResult {
    pub calls: usize,
    pub failed_calls: usize,
    pub answered_turns: usize,
    pub unanswered_turns: usize,
    /// End of caller speech → first agent audio frame.
    pub voice_to_voice_ms: Option<Summary>,
    /// The same minus the fakes' configured waits (endpointing + STT + TTS delays).
    pub overhead_ms: Option<Summary>,
    /// Server CPU seconds per minute of call.
    pub server_cpu_s_per_call_minute: f64,
    /// CPU seconds of the simulated callers and of the fakes over the level.
    pub load_generator_cpu_s: f64,
    pub fakes_cpu_s: f64,
    pub rss_before_mib: f64,
    pub rss_peak_mib: f64,
    /// (peak − before) / calls.
    pub rss_growth_per_call_kib: f64,
    pub outbound: metrics::FrameTiming,
    /// Worst lateness of a caller frame (high = the load generator itself was saturated).
    pub max_caller_send_lag_ms: f64,
    pub wall_s: f64,
    pub machine_at_start: String,
    /// First errors seen, for diagnosis.
    pub sample_errors: Vec<String>,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub config: LoadConfig,
    pub fake_delays_ms: u64,
    pub levels: Vec<LevelResult>,
    /// Why the run stopped before its last level, if it did.
    pub stopped_early: Option<String>,
}

fn runtime(prefix: &str, workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(format!("{prefix}rt"))
        // Keep blocking threads alive: a thread that exits takes its CPU time out of /proc.
        .thread_keep_alive(Duration::from_secs(3600))
        .enable_all()
        .build()
}

struct Harness {
    addr: std::net::SocketAddr,
    state: server::AppState,
    _listen: fakes::FakeListenHandle,
    _speak: fakes::FakeDeepgramSpeak,
}

fn start(
    cfg: &LoadConfig,
    srv_rt: &tokio::runtime::Runtime,
    fake_rt: &tokio::runtime::Runtime,
) -> Result<Harness, LoadError> {
    let stt: Arc<dyn speech::Stt> = Arc::new(LengthStt);
    let tts: Arc<dyn speech::Tts> = Arc::new(ToneTts::default());
    let (listen, speak) = fake_rt.block_on(async {
        let mut lc = fakes::FakeListenConfig::new(DEEPGRAM_KEY, stt.clone());
        lc.reply_delay = Duration::from_millis(cfg.stt_delay_ms);
        let mut sc = fakes::FakeDeepgramSpeakConfig::new(DEEPGRAM_KEY, tts.clone());
        sc.reply_delay = Duration::from_millis(cfg.tts_delay_ms);
        let listen = fakes::FakeDeepgramListen::start(lc).await;
        let speak = fakes::FakeDeepgramSpeak::start(sc).await;
        (listen, speak)
    });
    let listen = listen.map_err(|e| LoadError::Providers(e.to_string()))?;
    let speak = speak?;
    let agents = server::AgentRegistry::load(&cfg.agent, &brain::BrainResources::default())
        .map_err(|e| LoadError::Agent(cfg.agent.display().to_string(), e.to_string()))?;
    let listen_url = listen.ws_url();
    let speak_url = speak.base_url();
    let endpointing = cfg.endpointing_ms;
    let (addr, state) = srv_rt.block_on(async move {
        let store = store::Store::connect("sqlite::memory:")
            .await
            .map_err(|e| LoadError::Store(e.to_string()))?;
        // The cheap engines stand in as the "local" models too: a fallback is then as cheap as
        // the fakes and no model is loaded (memory per call excludes models).
        let pool = speech::pool::SpeechPool::new(stt, tts, 1, 1);
        let mut providers = server::SpeechProviders::local(&pool);
        let dg = |base_url: String| speech::DeepgramConfig {
            base_url,
            api_key: DEEPGRAM_KEY.to_owned(),
            connect_timeout: Duration::from_secs(5),
        };
        providers.set_deepgram_live(server::DeepgramStreaming {
            config: dg(listen_url),
            options: speech::LiveOptions {
                endpointing_ms: Some(endpointing),
                ..speech::LiveOptions::default()
            },
        });
        providers.set_deepgram_speak(dg(speak_url.clone()), speech::SpeakOptions::default());
        let aura = speech::DeepgramTts::new(dg(speak_url))
            .map_err(|e| LoadError::Providers(e.to_string()))?;
        providers.add_tts("deepgram", Arc::new(aura));
        providers
            .set_default_stt("deepgram")
            .map_err(|e| LoadError::Providers(e.to_string()))?;
        providers
            .set_default_tts("deepgram")
            .map_err(|e| LoadError::Providers(e.to_string()))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let config = server::ServerConfig {
            listen: addr.to_string(),
            public_url: None,
            twilio_auth_token: None,
        };
        let state =
            server::AppState::new(config, store, agents, pool).with_speech_providers(providers);
        let app = server::router(state.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("bench server stopped: {e}");
            }
        });
        Ok::<_, LoadError>((addr, state))
    })?;
    Ok(Harness {
        addr,
        state,
        _listen: listen,
        _speak: speak,
    })
}

/// Runs every level in order; `progress` gets one line per event worth telling.
pub fn run(cfg: &LoadConfig, mut progress: impl FnMut(&str)) -> Result<LoadReport, LoadError> {
    if let Some(&n) = cfg.calls.iter().find(|&&n| n == 0 || n > MAX_CALLS) {
        return Err(LoadError::TooManyCalls(n));
    }
    if cfg.duration_s == 0 || cfg.duration_s > MAX_DURATION.as_secs() {
        return Err(LoadError::Duration);
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let srv_rt = runtime("srv-", 2)?;
    let fake_rt = runtime("fake-", 1)?;
    let load_rt = runtime("load-", 1)?;
    let h = start(cfg, &srv_rt, &fake_rt)?;
    progress(&format!("server on {} with fake Deepgram STT/TTS", h.addr));
    let fake_delays_ms = cfg.endpointing_ms as u64 + cfg.stt_delay_ms + cfg.tts_delay_ms;
    let mut levels = Vec::new();
    let mut stopped_early = None;
    for &n in &cfg.calls {
        let machine = machine_load();
        progress(&format!("{n} calls for {} s; {machine}", cfg.duration_s));
        let level = run_level(cfg, &h, &load_rt, n, fake_delays_ms, machine);
        progress(&report::level_line(&level));
        let failed_share = level.failed_calls as f64 / n as f64;
        levels.push(level);
        if failed_share > cfg.max_failed_share {
            stopped_early = Some(format!(
                "{:.0} % of {n} calls failed (limit {:.0} %)",
                failed_share * 100.0,
                cfg.max_failed_share * 100.0
            ));
            break;
        }
        // Let the previous level's calls close before the next baseline is taken.
        let deadline = Instant::now() + Duration::from_secs(20);
        while h.state.active_calls() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(LoadReport {
        config: cfg.clone(),
        fake_delays_ms,
        levels,
        stopped_early,
    })
}

fn run_level(
    cfg: &LoadConfig,
    h: &Harness,
    load_rt: &tokio::runtime::Runtime,
    n: usize,
    fake_delays_ms: u64,
    machine_at_start: String,
) -> LevelResult {
    let rss_before = rss_bytes();
    let cpu_before = cpu_by_owner();
    let started = Instant::now();
    let plan = CallerPlan {
        server: format!("http://{}", h.addr),
        duration: Duration::from_secs(cfg.duration_s),
        utterances_ms: cfg.utterances_ms.clone(),
        agent_quiet: Duration::from_millis(500),
        answer_timeout: Duration::from_secs(6),
        seed: 8,
    };
    let limit = plan.duration + Duration::from_secs(60);
    let (outcomes, rss_peak) = load_rt.block_on(async {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        // Calls arrive over (up to) two seconds, as real traffic does, not in one instant.
        let spread_ms = 2000 / n as u64;
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let (http, plan) = (http.clone(), plan.clone());
            tasks.spawn(async move {
                tokio::time::sleep(Duration::from_millis(i as u64 * spread_ms)).await;
                caller::run_call(&http, &plan, i as u64 + 1).await
            });
        }
        let mut peak = rss_bytes();
        let mut outcomes: Vec<CallOutcome> = Vec::new();
        let mut sample = tokio::time::interval(Duration::from_millis(500));
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            tokio::select! {
                done = tasks.join_next() => match done {
                    Some(Ok(o)) => outcomes.push(o),
                    Some(Err(e)) => outcomes.push(CallOutcome { error: Some(e.to_string()), ..CallOutcome::default() }),
                    None => break,
                },
                _ = sample.tick() => peak = peak.max(rss_bytes()),
                _ = tokio::time::sleep_until(deadline) => {
                    tasks.abort_all();
                    let missing = n - outcomes.len();
                    outcomes.extend((0..missing).map(|_| CallOutcome { error: Some("level time limit".into()), ..CallOutcome::default() }));
                    break;
                }
            }
        }
        (outcomes, peak)
    });
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_by_owner().since(&cpu_before);
    let (v2v, unanswered) = metrics::latencies(&outcomes);
    let overhead: Vec<f64> = v2v.iter().map(|l| l - fake_delays_ms as f64).collect();
    let call_minutes: f64 = outcomes.iter().map(|o| o.duration_s).sum::<f64>() / 60.0;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    LevelResult {
        calls: n,
        failed_calls: outcomes.iter().filter(|o| metrics::failed(o)).count(),
        answered_turns: v2v.len(),
        unanswered_turns: unanswered,
        voice_to_voice_ms: summarize(&v2v),
        overhead_ms: summarize(&overhead),
        server_cpu_s_per_call_minute: if call_minutes > 0.0 {
            cpu.server_s / call_minutes
        } else {
            0.0
        },
        load_generator_cpu_s: cpu.load_s,
        fakes_cpu_s: cpu.fakes_s,
        rss_before_mib: mib(rss_before),
        rss_peak_mib: mib(rss_peak),
        rss_growth_per_call_kib: rss_peak.saturating_sub(rss_before) as f64 / 1024.0 / n as f64,
        outbound: metrics::outbound_timing(&outcomes),
        max_caller_send_lag_ms: outcomes
            .iter()
            .map(|o| o.max_send_lag_ms)
            .fold(0.0, f64::max),
        wall_s: wall,
        machine_at_start,
        sample_errors: outcomes
            .iter()
            .filter_map(|o| o.error.clone())
            .take(3)
            .collect(),
    }
}
