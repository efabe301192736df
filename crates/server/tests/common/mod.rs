//! Shared harness of the server's integration tests: a real server (router, in-memory store,
//! the demo agent, the real local speech models) on a loopback port, and helpers that talk to it
//! the way Twilio does (signed form webhooks, signed websocket handshakes).

#![allow(dead_code)] // each test binary uses its own subset of these helpers

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use server::{AgentRegistry, AppState, ServerConfig};
use speech::local::LocalSpeech;
use speech::pool::SpeechPool;
use store::{CallDetail, Store};
use tokio::task::JoinHandle;

/// The Twilio auth token the test server is configured with.
pub const AUTH_TOKEN: &str = "server-tests-auth-token-0123456789abcdef";
/// The bearer token of the test server's `/api/v1`.
pub const API_TOKEN: &str = "server-tests-api-token";
/// The public base URL Twilio "reaches": signatures are computed over it, not over loopback.
pub const PUBLIC_URL: &str = "https://agent.example.test";
/// The Media Streams URL Twilio connects to (and signs) for [`PUBLIC_URL`].
pub const PUBLIC_MEDIA_URL: &str = "wss://agent.example.test/twilio/media";

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn models_dir() -> PathBuf {
    std::env::var_os("CALLPILOT_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("models"))
}

/// The local models, loaded once per test binary: loading Whisper and Piper takes seconds.
/// Tests also use them to play the caller (Piper) and to hear the agent (Whisper).
pub fn local_speech() -> LocalSpeech {
    static SPEECH: OnceLock<LocalSpeech> = OnceLock::new();
    SPEECH
        .get_or_init(|| {
            let dir = speech::models::ModelDir::new(models_dir());
            speech::local::load_local(&dir, 2).unwrap_or_else(|e| {
                panic!(
                    "local speech models in {} (run `make test` or `callpilot models install`): {e}",
                    dir.path().display()
                )
            })
        })
        .clone()
}

/// A server listening on `127.0.0.1:<random port>`; stopped when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The same store the server writes to (in memory, private to this server).
    pub store: Store,
    http: reqwest::Client,
    task: JoinHandle<()>,
    /// A private agents folder written by [`TestServer::start_with_agent`], removed on drop.
    agent_dir: Option<PathBuf>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(dir) = &self.agent_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl TestServer {
    /// Starts a server with signature checks on, [`PUBLIC_URL`] as its public URL and the demo
    /// agent (plus any sibling agents) loaded.
    pub async fn start() -> TestServer {
        Self::start_serving(&workspace_root().join("agents/demo.toml"), None).await
    }

    /// Starts a server whose only (and default) agent is `agent_toml`, written as
    /// `<name>.toml` into a fresh folder of its own: the agent is called `name` in the
    /// voice webhook's stream parameters.
    pub async fn start_with_agent(name: &str, agent_toml: &str) -> TestServer {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("callpilot-server-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the test agents folder");
        let file = dir.join(format!("{name}.toml"));
        std::fs::write(&file, agent_toml).expect("write the test agent");
        Self::start_serving(&file, Some(dir)).await
    }

    async fn start_serving(agent_file: &std::path::Path, agent_dir: Option<PathBuf>) -> TestServer {
        let (stt, tts) = tokio::task::spawn_blocking(local_speech)
            .await
            .expect("model loading panicked");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local addr");
        let store = Store::connect("sqlite::memory:")
            .await
            .expect("in-memory store");
        let agents = AgentRegistry::load(agent_file, &brain::BrainResources::default())
            .expect("test agent loads");
        let config = ServerConfig {
            listen: addr.to_string(),
            public_url: Some(PUBLIC_URL.to_string()),
            twilio_auth_token: Some(AUTH_TOKEN.to_string()),
        };
        let state = AppState::new(
            config,
            store.clone(),
            agents,
            SpeechPool::new(stt, tts, 1, 1),
        )
        .with_api_token(API_TOKEN);
        let task = tokio::spawn(async move {
            axum::serve(listener, server::router(state))
                .await
                .expect("server runs");
        });
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client");
        TestServer {
            addr,
            store,
            http,
            task,
            agent_dir,
        }
    }

    /// `ws://127.0.0.1:<port>/twilio/media`: where the test actually connects.
    pub fn media_ws_url(&self) -> String {
        format!("ws://{}/twilio/media", self.addr)
    }

    /// POSTs a form to `path_and_query` on loopback with the given `X-Twilio-Signature`
    /// (none when `None`), as Twilio posts webhooks.
    pub async fn post_form(
        &self,
        path_and_query: &str,
        params: &[(String, String)],
        signature: Option<&str>,
    ) -> reqwest::Response {
        let body = serde_urlencoded::to_string(params).expect("form encodes");
        let mut req = self
            .http
            .post(format!("http://{}{path_and_query}", self.addr))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(sig) = signature {
            req = req.header("X-Twilio-Signature", sig);
        }
        req.send().await.expect("request reaches the server")
    }

    /// An `/api/v1` request with `token` as bearer (none when `None`); returns status and JSON.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .http
            .request(method, format!("http://{}/api/v1{path}", self.addr));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req.send().await.expect("api answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// POSTs a form signed over the public URL of `path_and_query`, as Twilio would.
    pub async fn post_signed(
        &self,
        path_and_query: &str,
        params: &[(String, String)],
    ) -> reqwest::Response {
        let sig = sign_public(path_and_query, params);
        self.post_form(path_and_query, params, Some(&sig)).await
    }

    /// Polls the store until `done` holds for the call's record (writes from a live call are
    /// asynchronous), or panics after `within` showing the last record seen.
    pub async fn wait_for_call(
        &self,
        call_sid: &str,
        within: Duration,
        done: impl Fn(&CallDetail) -> bool,
    ) -> CallDetail {
        let deadline = Instant::now() + within;
        loop {
            let detail = self.store.get_call(call_sid).await.expect("store readable");
            match detail {
                Some(d) if done(&d) => return d,
                other if Instant::now() >= deadline => {
                    panic!(
                        "call {call_sid} not as expected within {within:?}; last seen: {other:#?}"
                    )
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

/// The `X-Twilio-Signature` Twilio sends for a form POST to `PUBLIC_URL + path_and_query`.
pub fn sign_public(path_and_query: &str, params: &[(String, String)]) -> String {
    telephony::signature::compute_signature(
        AUTH_TOKEN,
        &format!("{PUBLIC_URL}{path_and_query}"),
        params,
    )
}

/// Owned form pairs from string literals.
pub fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// --- TwiML ---------------------------------------------------------------------------------

/// One element of a TwiML document: name, attributes, direct text.
#[derive(Debug)]
pub struct El {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
}

impl El {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Every element of `xml` in document order (a flat view is enough for these documents).
pub fn elements(xml: &str) -> Vec<El> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out: Vec<El> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let element = |e: &quick_xml::events::BytesStart<'_>| El {
        name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
        attrs: e
            .attributes()
            .map(|a| {
                let a = a.expect("well-formed attribute");
                (
                    String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                    a.unescape_value().expect("attribute text").into_owned(),
                )
            })
            .collect(),
        text: String::new(),
    };
    loop {
        match reader.read_event().expect("well-formed TwiML") {
            Event::Start(e) => {
                open.push(out.len());
                out.push(element(&e));
            }
            Event::Empty(e) => out.push(element(&e)),
            Event::Text(t) => {
                if let Some(&i) = open.last() {
                    out[i].text.push_str(&t.unescape().expect("text"));
                }
            }
            Event::End(_) => {
                open.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

pub fn names(els: &[El]) -> Vec<&str> {
    els.iter().map(|e| e.name.as_str()).collect()
}
