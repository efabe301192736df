//! The local carrier's outbound side: a Twilio-compatible REST API ([`crate::rest_api`]) that
//! accepts `Calls.json` creates and plays each callee according to a per-number [`FarEnd`] plan,
//! sending the status callbacks, AMD results and voice webhooks Twilio would (spec 1.2–1.4, 6).
//!
//! ```no_run
//! # async fn demo(tts: std::sync::Arc<dyn speech::Tts>, stt: std::sync::Arc<dyn speech::Stt>) -> Result<(), sim::SimError> {
//! use sim::outbound::{FarEnd, OutboundCarrier, OutboundConfig};
//! let mut cfg = OutboundConfig::new("AC0123456789abcdef0123456789abcdef", "token", tts, stt);
//! cfg.plans.insert("+14155550100".into(), FarEnd::Busy);
//! let carrier = OutboundCarrier::start(cfg).await?;
//! // point the agent's REST client at carrier.api_base(), place calls, then:
//! for entry in carrier.log() { println!("{entry:?}"); }
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use speech::pool::SpeechPool;
use speech::{Stt, Tts};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use crate::error::SimError;
use crate::report::SimReport;
use crate::script::CallerScript;
use crate::urls::{split_url, Endpoints, Target};

/// How the far end of an outbound call behaves.
#[derive(Debug, Clone)]
pub enum FarEnd {
    /// A person picks up and follows the script (its `from`/`to` are ignored: the call's are used).
    Answer(CallerScript),
    /// The line is busy (SIP 486).
    Busy,
    /// It rings until the request's `Timeout` (capped by [`OutboundConfig::max_ring`]).
    NoAnswer,
    /// The call cannot be placed (e.g. a number that does not exist).
    Failed,
    /// An answering machine: plays `greeting_text` (synthesized), then a 1 kHz beep of 0.5 s if
    /// `beep`, then records what the agent says.
    Voicemail { greeting_text: String, beep: bool },
}

/// The carrier's account and far-end behaviour.
#[derive(Clone)]
pub struct OutboundConfig {
    /// `AC…` the REST API accepts (Basic-auth user and path segment).
    pub account_sid: String,
    /// Basic-auth password; also signs every webhook and callback.
    pub auth_token: String,
    /// Far-end plan per called number (`To`).
    pub plans: HashMap<String, FarEnd>,
    /// Plan for numbers not in `plans`.
    pub default: FarEnd,
    /// Renders callers' lines and voicemail greetings.
    pub tts: Arc<dyn Tts>,
    /// Transcribes what the far end heard.
    pub stt: Arc<dyn Stt>,
    /// Where webhooks and callbacks are actually sent (`http://127.0.0.1:8080`), keeping the
    /// path and the signature over the URL as given; `None`: to the URLs themselves (http only).
    pub server: Option<String>,
    /// How long a phone that answers rings first.
    pub ring: Duration,
    /// Longest ring of an unanswered call, whatever its `Timeout` asks.
    pub max_ring: Duration,
    /// Hard bound on an answered call.
    pub call_timeout: Duration,
    /// After a script's last step, how long the callee waits for the agent to hang up.
    pub hangup_grace: Duration,
    /// Longest voicemail message recorded.
    pub voicemail_max: Duration,
}

impl OutboundConfig {
    /// Defaults: unknown numbers do not answer; phones ring 1 s; 60 s at most unanswered;
    /// answered calls last 2 min at most; voicemail records up to 60 s.
    pub fn new(
        account_sid: impl Into<String>,
        auth_token: impl Into<String>,
        tts: Arc<dyn Tts>,
        stt: Arc<dyn Stt>,
    ) -> Self {
        OutboundConfig {
            account_sid: account_sid.into(),
            auth_token: auth_token.into(),
            plans: HashMap::new(),
            default: FarEnd::NoAnswer,
            tts,
            stt,
            server: None,
            ring: Duration::from_secs(1),
            max_ring: Duration::from_secs(60),
            call_timeout: Duration::from_secs(120),
            hangup_grace: Duration::from_secs(5),
            voicemail_max: Duration::from_secs(60),
        }
    }
}

/// What a log entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    /// A `Calls.json` create request received (and how it was answered).
    Create,
    /// A call update request received.
    Update,
    /// A call status callback sent.
    StatusCallback,
    /// An asynchronous AMD result sent to `AsyncAmdStatusCallback`.
    AmdCallback,
}

/// One REST request received or one callback sent.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    /// Milliseconds since the carrier started.
    pub at_ms: u64,
    pub kind: LogKind,
    /// The call concerned, when known.
    pub call_sid: Option<String>,
    /// Request path (REST) or the callback URL as signed.
    pub url: String,
    /// Form parameters, in order (repeated keys kept).
    pub params: Vec<(String, String)>,
    /// HTTP status answered (REST) or received (callbacks).
    pub http_status: Option<u16>,
    /// Why a callback got no answer, or the REST error message.
    pub error: Option<String>,
}

impl LogEntry {
    /// The first value of a parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How an outbound call ended, once it has.
#[derive(Debug, Clone, Serialize)]
pub struct OutboundCall {
    pub sid: String,
    pub to: String,
    pub from: String,
    /// Final `CallStatus`: `completed`, `busy`, `no-answer`, `failed`, `canceled`.
    pub status: String,
    /// AMD result, if AMD was requested and the call was answered.
    pub answered_by: Option<String>,
    /// Seconds from answer to hang-up (0 if never answered).
    pub duration_s: u64,
    /// What the far end experienced, for answered calls.
    pub report: Option<SimReport>,
    /// For voicemail: what the agent said after the beep (or the greeting), transcribed.
    pub voicemail_message: Option<String>,
    /// Why an answered call could not be carried out (webhook refused, TTS failed…).
    pub error: Option<String>,
}

/// A call's live state, as the REST API shows it.
pub(crate) struct CallEntry {
    pub req: CreateRequest,
    pub status: &'static str,
    pub answered_by: Option<String>,
    pub created: chrono::DateTime<chrono::Utc>,
    pub updated: chrono::DateTime<chrono::Utc>,
    pub start_time: Option<chrono::DateTime<chrono::Utc>>,
    pub end_time: Option<chrono::DateTime<chrono::Utc>>,
    pub duration: Option<u64>,
    /// Set to `true` to end the call (REST update).
    pub hangup: watch::Sender<bool>,
    pub outcome: Option<OutboundCall>,
}

/// A validated `Calls.json` create request.
#[derive(Debug, Clone)]
pub(crate) struct CreateRequest {
    pub to: String,
    pub from: String,
    pub url: String,
    pub method: String,
    pub status_callback: Option<String>,
    pub status_callback_method: String,
    /// Subscribed events; Twilio sends only `completed` when none are given.
    pub events: Vec<String>,
    pub machine_detection: Option<String>,
    pub async_amd: bool,
    pub async_amd_status_callback: Option<String>,
    pub async_amd_status_callback_method: String,
    /// Ring seconds.
    pub timeout: u64,
}

/// State shared by the REST API and the call drivers.
pub(crate) struct Carrier {
    pub cfg: OutboundConfig,
    pub pool: SpeechPool,
    pub http: reqwest::Client,
    pub started: Instant,
    calls: Mutex<HashMap<String, CallEntry>>,
    log: Mutex<Vec<LogEntry>>,
    /// Woken whenever a call finishes.
    finished: Notify,
}

impl Carrier {
    /// The calls table. A poisoned lock means a driver panicked mid-update; the table itself is
    /// still consistent enough to report from.
    pub fn calls(&self) -> MutexGuard<'_, HashMap<String, CallEntry>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends to the log.
    pub fn record(
        &self,
        kind: LogKind,
        call_sid: Option<&str>,
        url: &str,
        params: Vec<(String, String)>,
        outcome: Result<u16, String>,
    ) {
        let (http_status, error) = match outcome {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e)),
        };
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(LogEntry {
                at_ms: self.started.elapsed().as_millis() as u64,
                kind,
                call_sid: call_sid.map(str::to_string),
                url: url.to_string(),
                params,
                http_status,
                error,
            });
    }

    /// The plan for a called number.
    pub fn plan(&self, to: &str) -> FarEnd {
        self.cfg
            .plans
            .get(to)
            .cloned()
            .unwrap_or_else(|| self.cfg.default.clone())
    }

    /// Where a webhook or callback URL is actually sent; see [`OutboundConfig::server`].
    pub fn endpoints_for(&self, url: &str) -> Result<Endpoints, SimError> {
        let server = match &self.cfg.server {
            Some(s) => s.clone(),
            None => match split_url(url) {
                Some(("http", authority, _)) => format!("http://{authority}"),
                _ => {
                    return Err(SimError::Config(format!(
                        "cannot deliver to {url:?}: the carrier speaks plain http; set \
                         OutboundConfig::server to the agent's local address"
                    )))
                }
            },
        };
        Endpoints::new(&server, None)
    }

    /// Signed URL and transport URL of an absolute webhook URL.
    pub fn target(&self, url: &str) -> Result<Target, SimError> {
        Ok(self.endpoints_for(url)?.resolve_http(url, url))
    }

    /// Marks a call finished and wakes waiters.
    pub fn finish(&self, outcome: OutboundCall) {
        if let Some(entry) = self.calls().get_mut(&outcome.sid) {
            entry.outcome = Some(outcome);
        }
        self.finished.notify_waiters();
    }
}

/// The running outbound carrier: its REST API listens on 127.0.0.1 until dropped.
pub struct OutboundCarrier {
    carrier: Arc<Carrier>,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for OutboundCarrier {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl OutboundCarrier {
    /// Binds the REST API on an ephemeral loopback port and starts serving.
    pub async fn start(cfg: OutboundConfig) -> Result<Self, SimError> {
        let http = crate::call::http_client("outbound carrier")?;
        // Calls run concurrently; speech models are the scarce resource, so bound them.
        let pool = SpeechPool::new(cfg.stt.clone(), cfg.tts.clone(), 2, 2);
        let carrier = Arc::new(Carrier {
            cfg,
            pool,
            http,
            started: Instant::now(),
            calls: Mutex::default(),
            log: Mutex::default(),
            finished: Notify::new(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| SimError::Config(format!("cannot bind the REST API: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| SimError::Config(format!("cannot bind the REST API: {e}")))?;
        let app = crate::rest_api::router(carrier.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "outbound carrier REST API stopped");
            }
        });
        Ok(OutboundCarrier {
            carrier,
            addr,
            server,
        })
    }

    /// The API base to give a Twilio client: `http://127.0.0.1:PORT/2010-04-01`.
    pub fn api_base(&self) -> String {
        format!("http://{}/2010-04-01", self.addr)
    }

    /// Every create/update received and every callback sent, in order.
    pub fn log(&self) -> Vec<LogEntry> {
        self.carrier
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// SIDs of all calls created, oldest first.
    pub fn call_sids(&self) -> Vec<String> {
        let calls = self.carrier.calls();
        let mut sids: Vec<(&String, _)> = calls.iter().map(|(s, e)| (s, e.created)).collect();
        sids.sort_by_key(|(_, created)| *created);
        sids.into_iter().map(|(s, _)| s.clone()).collect()
    }

    /// The outcome of a call, once it has ended (and its audio has been transcribed).
    pub fn outcome(&self, sid: &str) -> Option<OutboundCall> {
        self.carrier.calls().get(sid)?.outcome.clone()
    }

    /// The far end's report of an answered call, once it has ended.
    pub fn report(&self, sid: &str) -> Option<SimReport> {
        self.outcome(sid)?.report
    }

    /// Waits until the call has ended, at most `timeout`.
    pub async fn wait_for(&self, sid: &str, timeout: Duration) -> Option<OutboundCall> {
        let deadline = Instant::now() + timeout;
        loop {
            let woken = self.carrier.finished.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if let Some(done) = self.outcome(sid) {
                return Some(done);
            }
            if tokio::time::timeout_at(deadline, woken).await.is_err() {
                return self.outcome(sid);
            }
        }
    }
}
