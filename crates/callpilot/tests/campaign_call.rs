//! A whole outbound campaign with no phone bill: the CRM export from the shared test data is
//! imported, and the real server dials it through the local carrier's Twilio-compatible REST
//! API. The far ends answer (a scripted person), are busy, do not answer, fail, or are answering
//! machines. Asserted: Hot before Warm before Cold, retries up to the limit, a contact outside
//! its calling window waits for it to open, the do-not-call number is never dialed, a voicemail
//! message is left after the beep, and the final report.
//!
//! The dialer reads the time from a clock shifted to Tuesday 2026-11-24 15:00 in New York (it
//! keeps running in real time), so the calling windows are the same whenever the test runs.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use server::{AgentRegistry, AppState, DialingConfig, ServerConfig};
use sim::outbound::{FarEnd, LogKind, OutboundCarrier, OutboundConfig};
use speech::pool::SpeechPool;
use speech::{Stt, Tts};

const AUTH_TOKEN: &str = "campaign-e2e-auth-token-0123456789abcd";
const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const PUBLIC_URL: &str = "https://agent.example.test";
const FROM: &str = "+14155550199";

const AVA: &str = "+14155550101"; // Hot, line 2: answers
const LIAM: &str = "+12125550102"; // Warm, line 3: no answer
const SOFIA: &str = "+13125550103"; // Cold, line 4: fails
const NOAH: &str = "+14155550104"; // Hot, line 5: busy
const EMMA: &str = "+442079460105"; // Warm, line 6 (London): answers once her window opens
const CHLOE: &str = "+33142680109"; // Hot, line 10 (Paris): answering machine
const ETHAN: &str = "+12065550110"; // Warm, line 11: on the do-not-call list

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn models_dir() -> PathBuf {
    std::env::var_os("CALLPILOT_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("models"))
}

/// Real time, shifted by a settable offset.
struct ShiftedClock(Mutex<chrono::Duration>);

impl ShiftedClock {
    fn at(t: DateTime<Utc>) -> Self {
        ShiftedClock(Mutex::new(t - Utc::now()))
    }
    fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap() = t - Utc::now();
    }
}

impl dialer::Clock for ShiftedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + *self.0.lock().unwrap()
    }
}

struct ClockRef(Arc<ShiftedClock>);
impl dialer::Clock for ClockRef {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

fn person() -> sim::CallerScript {
    serde_yaml::from_str(
        r#"
from: "+10000000000"
to: "+10000000000"
steps:
  - listen: { timeout_s: 30 }
  - say: "How much is the premium plan?"
  - listen: { timeout_s: 30 }
  - say: "Thanks, goodbye!"
  - listen: { timeout_s: 20 }
  - hangup
"#,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_on_sqlite_dials_hot_warm_cold_with_retries_windows_dnc_and_voicemail() {
    let tmp = std::env::temp_dir().join(format!("callpilot-campaign-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    run_campaign(&format!("sqlite://{}/campaign.db", tmp.display())).await;
    let _ = std::fs::remove_dir_all(&tmp);
}

/// The same campaign with the store on PostgreSQL (`scripts/with-postgres.sh` provides one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_on_postgres_dials_hot_warm_cold_with_retries_windows_dnc_and_voicemail() {
    let Ok(admin) = std::env::var("CALLPILOT_TEST_POSTGRES_URL") else {
        eprintln!("PostgreSQL campaign test skipped: CALLPILOT_TEST_POSTGRES_URL not set (make test sets it through scripts/with-postgres.sh)");
        return;
    };
    let name = format!("cp_campaign_{}", std::process::id());
    let url = store::create_postgres_database(&admin, &name)
        .await
        .unwrap();
    run_campaign(&url).await;
}

async fn run_campaign(db_url: &str) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = speech::models::ModelDir::new(models_dir());
    let (stt, tts): (Arc<dyn Stt>, Arc<dyn Tts>) =
        speech::local::load_local(&dir, 2).expect("local models (run `callpilot models install`)");
    let store = store::Store::connect(db_url).await.unwrap();
    assert_eq!(
        store.backend(),
        if db_url.starts_with("postgres") {
            store::Backend::Postgres
        } else {
            store::Backend::Sqlite
        }
    );

    // The CRM export: exactly what the shared data's README says a correct import keeps.
    let csv =
        std::fs::read(workspace_root().join("crates/dialer/tests/data/crm_contacts.csv")).unwrap();
    let report = dialer::import_contacts(&store, &csv, &dialer::ImportOptions::default(), false)
        .await
        .unwrap();
    assert_eq!(report.imported.len(), 7);
    assert_eq!(
        report
            .duplicates
            .iter()
            .map(|d| (d.line, d.of_line))
            .collect::<Vec<_>>(),
        [(7, Some(2))]
    );
    assert_eq!(
        report.rejected.iter().map(|r| r.line).collect::<Vec<_>>(),
        [8, 9]
    );
    store
        .add_do_not_call(ETHAN, Some("asked by email"), "import", None)
        .await
        .unwrap();

    // The far ends.
    let mut carrier_cfg = OutboundConfig::new(ACCOUNT_SID, AUTH_TOKEN, tts.clone(), stt.clone());
    let plans: HashMap<String, FarEnd> = [
        (AVA, FarEnd::Answer(person())),
        (LIAM, FarEnd::NoAnswer),
        (SOFIA, FarEnd::Failed),
        (NOAH, FarEnd::Busy),
        (EMMA, FarEnd::Answer(person())),
        (
            CHLOE,
            FarEnd::Voicemail {
                greeting_text: "Hello, you have reached Chloe. Please leave a message.".into(),
                beep: true,
            },
        ),
        (ETHAN, FarEnd::Answer(person())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    carrier_cfg.plans = plans;
    carrier_cfg.max_ring = Duration::from_secs(3);

    // The server: demo agents, dialing through the carrier's REST API.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    carrier_cfg.server = Some(format!("http://{addr}"));
    let carrier = OutboundCarrier::start(carrier_cfg).await.unwrap();
    let agents = AgentRegistry::load(
        &workspace_root().join("agents/sales.toml"),
        &brain::BrainResources::default(),
    )
    .unwrap();
    let state = AppState::new(
        ServerConfig {
            listen: addr.to_string(),
            public_url: Some(PUBLIC_URL.into()),
            twilio_auth_token: Some(AUTH_TOKEN.into()),
        },
        store.clone(),
        agents,
        SpeechPool::new(stt.clone(), tts.clone(), 1, 1),
    );
    // Tuesday 2026-11-24 20:00 UTC: 12:00 in Los Angeles, 15:00 in New York, 20:00 in London
    // and 21:00 in Paris: the default 09:00-20:00 window is open in America, closed in Europe.
    let clock = Arc::new(ShiftedClock::at(
        Utc.with_ymd_and_hms(2026, 11, 24, 20, 0, 0).unwrap(),
    ));
    let mut rest = telephony::rest::TwilioRestConfig::new(ACCOUNT_SID, AUTH_TOKEN);
    rest.api_base = carrier.api_base();
    rest.calls_per_second = 5.0;
    server::start_campaigns(
        &state,
        DialingConfig {
            rest: telephony::rest::TwilioRest::new(rest).unwrap(),
            from: FROM.into(),
            public_url: PUBLIC_URL.into(),
            instance: "test".into(),
            clock: Arc::new(ClockRef(clock.clone())),
            reconcile_after: Duration::from_secs(60),
        },
    );
    let server = tokio::spawn(async move {
        axum::serve(listener, server::router(state)).await.unwrap();
    });

    let settings = dialer::CampaignSettings {
        max_concurrent: 2,
        calls_per_second: 5.0,
        max_attempts: 2,
        retry_delay: dialer::RetryDelays {
            default: Duration::from_secs(2),
            ..Default::default()
        },
        voicemail: dialer::VoicemailAction::LeaveMessage,
        ..Default::default()
    };
    let id = store
        .create_campaign("November leads", Some("sales"), &settings.to_json())
        .await
        .unwrap();
    store
        .add_campaign_contacts(id, &report.contact_ids())
        .await
        .unwrap();
    store
        .set_campaign_state(id, store::CampaignState::Running)
        .await
        .unwrap();

    // First pass: everyone in America, with retries; Europe waits for its window.
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let p = store.campaign_progress(id).await.unwrap();
        let dialed_all_american = [AVA, NOAH, LIAM, SOFIA].iter().all(|n| {
            carrier
                .log()
                .iter()
                .filter(|e| e.kind == LogKind::Create && e.param("To") == Some(*n))
                .count()
                >= if *n == AVA { 1 } else { 2 }
        });
        if dialed_all_american && p.dialing + p.leased == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "first pass did not finish: {p:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let dialed: Vec<String> = creates(&carrier);
    assert!(
        !dialed.iter().any(|n| n == EMMA || n == CHLOE),
        "Europe dialed outside its window: {dialed:?}"
    );
    // Order of first attempts: Hot (Ava, Noah), then Warm (Liam), then Cold (Sofia).
    let firsts = first_attempts(&dialed);
    assert_eq!(
        firsts,
        [AVA, NOAH, LIAM, SOFIA],
        "dialing order: {dialed:?}"
    );

    // The next morning in Europe (09:30 London, 10:30 Paris; 04:30 in New York).
    clock.set(Utc.with_ymd_and_hms(2026, 11, 25, 9, 30, 0).unwrap());
    loop {
        let c = store.campaign(id).await.unwrap().unwrap();
        if c.state == store::CampaignState::Done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "campaign not done: {:?}",
            store.campaign_progress(id).await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let dialed = creates(&carrier);
    println!("dialed in order: {dialed:?}");
    assert_eq!(
        first_attempts(&dialed),
        [AVA, NOAH, LIAM, SOFIA, CHLOE, EMMA]
    );
    assert!(
        !dialed.iter().any(|n| n == ETHAN),
        "do-not-call number dialed"
    );
    // Busy, no-answer and failed were each tried exactly max_attempts (2) times; the others once.
    for (n, times) in [
        (AVA, 1),
        (NOAH, 2),
        (LIAM, 2),
        (SOFIA, 2),
        (CHLOE, 1),
        (EMMA, 1),
    ] {
        assert_eq!(
            dialed.iter().filter(|d| *d == n).count(),
            times,
            "{n} in {dialed:?}"
        );
    }

    // The voicemail message was left after the beep (what the machine recorded, by ear).
    let chloe_sid = carrier
        .log()
        .iter()
        .find(|e| e.kind == LogKind::Create && e.param("To") == Some(CHLOE))
        .and_then(|e| e.call_sid.clone())
        .unwrap();
    let vm = carrier
        .wait_for(&chloe_sid, Duration::from_secs(30))
        .await
        .unwrap();
    let message = vm
        .voicemail_message
        .clone()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        message.contains("brightline") || message.contains("call us back"),
        "voicemail message: {message:?}"
    );

    // The report.
    let p = store.campaign_progress(id).await.unwrap();
    let rows = store.campaign_report(id).await.unwrap();
    println!("results: {:?}", p.results);
    for r in &rows {
        println!("{:?}", r);
    }
    let row = |phone: &str| rows.iter().find(|r| r.phone == phone).unwrap();
    assert_eq!(row(AVA).last_result.as_deref(), Some("answered"));
    assert_eq!(row(EMMA).last_result.as_deref(), Some("answered"));
    assert_eq!(row(CHLOE).last_result.as_deref(), Some("voicemail"));
    assert_eq!(row(NOAH).last_result.as_deref(), Some("busy"));
    assert_eq!(row(NOAH).attempts, 2);
    assert_eq!(row(LIAM).last_result.as_deref(), Some("no_answer"));
    assert_eq!(row(SOFIA).last_result.as_deref(), Some("failed"));
    assert_eq!(row(ETHAN).attempts, 0);
    assert_eq!(row(ETHAN).state, "skipped");
    assert_eq!(row(CHLOE).outcome.as_deref(), Some("voicemail_left"));
    assert_eq!(p.total, 7);
    server.abort();
}

/// Every number the server asked the carrier to dial, in order.
fn creates(carrier: &OutboundCarrier) -> Vec<String> {
    carrier
        .log()
        .iter()
        .filter(|e| e.kind == LogKind::Create)
        .filter_map(|e| e.param("To").map(str::to_owned))
        .collect()
}

/// Each number's first appearance.
fn first_attempts(dialed: &[String]) -> Vec<String> {
    let mut seen = Vec::new();
    for d in dialed {
        if !seen.contains(d) {
            seen.push(d.clone());
        }
    }
    seen
}
