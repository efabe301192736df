//! Exactly-once dialing across a crash, with the real binary: contacts imported and a campaign
//! created and started with the CLI, `callpilot serve` dialing through the local carrier, killed
//! with SIGKILL mid-campaign and started again. Every contact must be dialed exactly once: none
//! twice (the lease and the call SID are committed before and after each dial), none lost (the
//! call whose final callback died with the server is looked up with the carrier).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sim::outbound::{FarEnd, LogKind, OutboundCarrier, OutboundConfig};
use speech::{Stt, Tts};

const AUTH_TOKEN: &str = "crash-test-auth-token-0123456789abcdef";
const ACCOUNT_SID: &str = "AC00000000000000000000000000000042";

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn models_dir() -> PathBuf {
    std::env::var_os("CALLPILOT_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("models"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn cli(db_url: &str, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_callpilot"))
        .current_dir(workspace_root())
        .args(args)
        .env("CALLPILOT_DATABASE_URL", db_url)
        .output()
        .expect("run callpilot");
    assert!(
        out.status.success(),
        "callpilot {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(port: u16, db_url: &str, api_base: &str) -> Serve {
    let child = Command::new(env!("CARGO_BIN_EXE_callpilot"))
        .current_dir(workspace_root())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--llm",
            "none",
        ])
        .args(["--agent", "agents/sales.toml"])
        .arg("--models-dir")
        .arg(models_dir())
        .env("CALLPILOT_DATABASE_URL", db_url)
        .env("CALLPILOT_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        .env("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
        .env("CALLPILOT_TWILIO_FROM", "+14155550199")
        .env("CALLPILOT_TWILIO_API_URL", api_base)
        .env("CALLPILOT_DIAL_RECONCILE_S", "3")
        .env("RUST_LOG", "info,whisper_rs=warn")
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start callpilot serve");
    Serve(child)
}

fn creates(carrier: &OutboundCarrier) -> Vec<String> {
    carrier
        .log()
        .iter()
        .filter(|e| e.kind == LogKind::Create && e.http_status == Some(201))
        .filter_map(|e| e.param("To").map(str::to_owned))
        .collect()
}

async fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_campaign_and_restarted_dials_every_contact_exactly_once() {
    let tmp = std::env::temp_dir().join(format!("callpilot-crash-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let db_url = format!("sqlite://{}/crash.db", tmp.display());
    let csv = workspace_root().join("crates/dialer/tests/data/crm_contacts.csv");

    // `contacts import --json` prints exactly the documented report.
    let out = cli(&db_url, &["contacts", "import", path(&csv), "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<_> = report.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["duplicates", "imported", "rejected"]);
    assert_eq!(report["imported"].as_array().unwrap().len(), 7);
    assert_eq!(report["duplicates"][0]["line"], 7);
    assert_eq!(report["duplicates"][0]["of_line"], 2);
    assert_eq!(report["rejected"][0]["line"], 8);
    assert_eq!(report["rejected"][1]["line"], 9);
    assert!(report["rejected"][1]["reason"]
        .as_str()
        .unwrap()
        .contains("Lukewarm"));

    let out = cli(
        &db_url,
        &[
            "campaign",
            "create",
            "--name",
            "crash test",
            "--agent",
            "agents/sales.toml",
            "--contacts",
            path(&csv),
            "--max-concurrent",
            "1",
            "--calls-per-second",
            "1",
            "--max-attempts",
            "1",
            "--every-day",
            "--window",
            "00:00-23:59",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let id: String = text
        .split("campaign ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no campaign id in {text}"))
        .to_owned();

    // Nobody answers: each call rings for 2 s, so the campaign takes a while.
    let dir = speech::models::ModelDir::new(models_dir());
    let (stt, tts): (Arc<dyn Stt>, Arc<dyn Tts>) = speech::local::load_local(&dir, 1).unwrap();
    let mut cfg = OutboundConfig::new(ACCOUNT_SID, AUTH_TOKEN, tts, stt);
    cfg.default = FarEnd::NoAnswer;
    cfg.max_ring = Duration::from_secs(2);
    let carrier = OutboundCarrier::start(cfg).await.unwrap();

    let port = free_port();
    let first = serve(port, &db_url, &carrier.api_base());
    cli(&db_url, &["campaign", "start", &id, "--detach"]);
    wait_until("three dials", Duration::from_secs(120), || {
        creates(&carrier).len() >= 3
    })
    .await;
    // SIGKILL: no cleanup, leases and a ringing call left behind.
    drop(first);
    let at_kill = creates(&carrier).len();

    let _second = serve(port, &db_url, &carrier.api_base());
    let store = store::Store::connect(&db_url).await.unwrap();
    let id_num: i64 = id.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let c = store.campaign(id_num).await.unwrap().unwrap();
        if c.state == store::CampaignState::Done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "campaign not finished after the restart: {:?}",
            store.campaign_progress(id_num).await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let dialed = creates(&carrier);
    println!("killed after {at_kill} dials; all dials: {dialed:?}");
    let mut unique = dialed.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        dialed.len(),
        "a number was dialed twice: {dialed:?}"
    );
    assert_eq!(dialed.len(), 7, "every contact dialed: {dialed:?}");
    assert!(at_kill < 7, "the kill came after the campaign ended");

    let out = cli(&db_url, &["campaign", "report", &id, "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["results"]["no_answer"], 7, "{report}");
    for row in report["contacts"].as_array().unwrap() {
        assert_eq!(row["attempts"], 1, "{row}");
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}
