//! Twilio's REST API for calls (spec 6): create, update, hang up, fetch.
//!
//! Requests are form-encoded exactly as the official library sends them (PascalCase names,
//! `true`/`false`, list parameters as repeated keys), authenticated with HTTP Basic, and answered
//! with JSON resources or Twilio's JSON error body ([`TwilioError`]).
//!
//! Two policies live here because every caller would otherwise get them wrong:
//! - **Pacing**: call creation is spaced to the account's calls-per-second across all tasks
//!   sharing a [`TwilioRest`] (Twilio would only queue the excess, spec 6.6).
//! - **Retries** with exponential backoff and jitter, honouring `Retry-After`: 429 always (the
//!   request was not processed), 5xx for idempotent requests (fetch, update), and only 503 for
//!   creates, because a blind retry after another 5xx can place a duplicate call.
//!
//! ```no_run
//! # async fn demo() -> Result<(), telephony::rest::RestError> {
//! use telephony::rest::{CallEvent, CreateCall, TwilioRest, TwilioRestConfig};
//! let rest = TwilioRest::new(TwilioRestConfig::new("AC…", "auth token"))?;
//! let call = rest
//!     .create_call(&CreateCall {
//!         status_callback: Some("https://agent.example.com/twilio/status".into()),
//!         status_callback_events: CallEvent::ALL.to_vec(),
//!         ..CreateCall::new("+14155550100", "+14155550199", "https://agent.example.com/twilio/voice")
//!     })
//!     .await?;
//! rest.hangup(&call.sid).await?;
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

pub use crate::rest_call::{
    CallEvent, CallResource, CreateCall, MachineDetection, UpdateCall, UpdateStatus,
};
pub use crate::rest_error::{RestError, TwilioError};
use crate::rest_pacing::Pacer;

/// Twilio's API base.
pub const DEFAULT_API_BASE: &str = "https://api.twilio.com/2010-04-01";
/// Environment variable that overrides [`DEFAULT_API_BASE`] (e.g. the local carrier's URL).
pub const API_BASE_ENV: &str = "CALLPILOT_TWILIO_API_URL";
/// Longest backoff between two attempts, whatever `Retry-After` says.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How to reach and use the REST API.
#[derive(Debug, Clone)]
pub struct TwilioRestConfig {
    /// `https://api.twilio.com/2010-04-01` or a compatible server (no trailing slash needed).
    pub api_base: String,
    /// `AC…`: goes in the path and is the Basic-auth user.
    pub account_sid: String,
    /// The account's auth token (Basic-auth password).
    pub auth_token: String,
    /// Call creations per second across every user of the client (the account's CPS).
    pub calls_per_second: f64,
    /// Retries after the first attempt for retryable failures.
    pub max_retries: u32,
    /// First backoff; doubled per retry (with ±25 % jitter), capped at 30 s.
    pub retry_base: Duration,
    /// Whole-request timeout.
    pub timeout: Duration,
}

impl TwilioRestConfig {
    /// Defaults: Twilio's API base (or `$CALLPILOT_TWILIO_API_URL`), 1 CPS, 3 retries from
    /// 500 ms, 15 s timeout.
    pub fn new(account_sid: impl Into<String>, auth_token: impl Into<String>) -> Self {
        TwilioRestConfig {
            api_base: std::env::var(API_BASE_ENV)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_API_BASE.to_string()),
            account_sid: account_sid.into(),
            auth_token: auth_token.into(),
            calls_per_second: 1.0,
            max_retries: 3,
            retry_base: Duration::from_millis(500),
            timeout: Duration::from_secs(15),
        }
    }
}

/// Which failures a request may be retried after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Idempotence {
    /// Creates: a duplicate would place a second call.
    Create,
    /// Fetches and updates: repeating them is harmless.
    Idempotent,
}

/// The REST client. Cheap to clone; clones share the connection pool and the CPS pacing.
#[derive(Debug, Clone)]
pub struct TwilioRest {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    cfg: TwilioRestConfig,
    /// `{api_base}/Accounts/{AC}`.
    account_url: String,
    pacer: Pacer,
}

impl TwilioRest {
    /// Builds the client (https through rustls/ring with the bundled webpki roots).
    pub fn new(cfg: TwilioRestConfig) -> Result<Self, RestError> {
        let pacer = Pacer::new(cfg.calls_per_second).ok_or_else(|| {
            RestError::Invalid(format!(
                "calls_per_second must be positive, got {}",
                cfg.calls_per_second
            ))
        })?;
        if cfg.account_sid.trim().is_empty() || cfg.auth_token.is_empty() {
            return Err(RestError::Invalid(
                "account SID and auth token are required".into(),
            ));
        }
        let http = http_client(cfg.timeout)?;
        let account_url = format!(
            "{}/Accounts/{}",
            cfg.api_base.trim_end_matches('/'),
            cfg.account_sid
        );
        Ok(TwilioRest {
            inner: Arc::new(Inner {
                http,
                cfg,
                account_url,
                pacer,
            }),
        })
    }

    /// Places an outbound call (`201`, status `queued`), paced to the configured CPS.
    pub async fn create_call(&self, call: &CreateCall) -> Result<CallResource, RestError> {
        call.validate()?;
        let url = format!("{}/Calls.json", self.inner.account_url);
        self.call_request(&url, Some(&call.to_form()), Idempotence::Create)
            .await
    }

    /// Redirects or ends a live call.
    pub async fn update_call(
        &self,
        sid: &str,
        update: &UpdateCall,
    ) -> Result<CallResource, RestError> {
        let form = update.to_form();
        if form.is_empty() {
            return Err(RestError::Invalid("an update needs a field to set".into()));
        }
        let url = self.call_url(sid)?;
        self.call_request(&url, Some(&form), Idempotence::Idempotent)
            .await
    }

    /// Hangs up an answered call (`Status=completed`).
    pub async fn hangup(&self, sid: &str) -> Result<CallResource, RestError> {
        let update = UpdateCall {
            status: Some(UpdateStatus::Completed),
            ..UpdateCall::default()
        };
        self.update_call(sid, &update).await
    }

    /// Reads a call's current state.
    pub async fn fetch_call(&self, sid: &str) -> Result<CallResource, RestError> {
        let url = self.call_url(sid)?;
        self.call_request(&url, None, Idempotence::Idempotent).await
    }

    fn call_url(&self, sid: &str) -> Result<String, RestError> {
        // The sid goes into the path: refuse anything that could change the path.
        if sid.is_empty() || !sid.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(RestError::Invalid(format!("{sid:?} is not a call SID")));
        }
        Ok(format!("{}/Calls/{sid}.json", self.inner.account_url))
    }

    /// Sends (POST with `form`, GET without) with pacing for creates and retries, and parses
    /// the call resource.
    async fn call_request(
        &self,
        url: &str,
        form: Option<&[(&'static str, String)]>,
        kind: Idempotence,
    ) -> Result<CallResource, RestError> {
        let cfg = &self.inner.cfg;
        let method = if form.is_some() { "POST" } else { "GET" };
        let body = form.map(|f| serde_urlencoded::to_string(f).unwrap_or_default());
        let mut attempt = 0;
        loop {
            if kind == Idempotence::Create {
                self.inner.pacer.wait().await;
            }
            let mut req = match &body {
                Some(b) => self
                    .inner
                    .http
                    .post(url)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(b.clone()),
                None => self.inner.http.get(url),
            }
            .basic_auth(&cfg.account_sid, Some(&cfg.auth_token))
            .header("Accept", "application/json");
            req = req.header(
                "User-Agent",
                concat!("callpilot/", env!("CARGO_PKG_VERSION")),
            );
            let outcome = match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let text = resp.text().await.map_err(|e| transport(method, url, &e))?;
                    if (200..300).contains(&status) {
                        return CallResource::from_json(&text).map_err(|reason| {
                            RestError::Decode {
                                url: url.to_string(),
                                reason,
                            }
                        });
                    }
                    let retryable = matches!(
                        (status, kind),
                        (429 | 503, _) | (500..=599, Idempotence::Idempotent)
                    );
                    Attempt {
                        error: TwilioError::from_response(status, &text).into(),
                        retryable,
                        retry_after,
                    }
                }
                Err(e) => {
                    let error = transport(method, url, &e);
                    let not_sent = matches!(error, RestError::Transport { not_sent: true, .. });
                    Attempt {
                        error,
                        retryable: not_sent || kind == Idempotence::Idempotent,
                        retry_after: None,
                    }
                }
            };
            if !outcome.retryable || attempt >= cfg.max_retries {
                return Err(outcome.error);
            }
            let wait = backoff(cfg.retry_base, attempt, outcome.retry_after);
            tracing::warn!(%method, %url, error = %outcome.error, ?wait, "Twilio REST request failed; retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

/// One failed attempt and whether to try again.
struct Attempt {
    error: RestError,
    retryable: bool,
    retry_after: Option<Duration>,
}

/// `base * 2^attempt` with ±25 % jitter (so that many clients don't retry in lockstep), at least
/// `Retry-After`, at most [`MAX_BACKOFF`].
fn backoff(base: Duration, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(16));
    let jitter = rand::rng().random_range(0.75..=1.25);
    let wait = exp.mul_f64(jitter).max(retry_after.unwrap_or_default());
    wait.min(MAX_BACKOFF)
}

fn transport(method: &'static str, url: &str, e: &reqwest::Error) -> RestError {
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !reason.contains(&text) {
            reason.push_str(": ");
            reason.push_str(&text);
        }
        source = cause.source();
    }
    RestError::Transport {
        method,
        url: url.to_string(),
        reason,
        not_sent: e.is_connect(),
    }
}

/// An HTTP client trusting the bundled Mozilla roots through rustls with the `ring` provider:
/// no aws-lc C build, no dependence on the host's CA store.
fn http_client(timeout: Duration) -> Result<reqwest::Client, RestError> {
    // Idempotent; other clients in the process (and plain-http tests) rely on a default provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RestError::Invalid(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .build()
        .map_err(|e| RestError::Invalid(format!("HTTP client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_honours_retry_after_and_caps() {
        let base = Duration::from_millis(400);
        let b0 = backoff(base, 0, None);
        assert!(b0 >= Duration::from_millis(300) && b0 <= Duration::from_millis(500));
        let b2 = backoff(base, 2, None);
        assert!(b2 >= Duration::from_millis(1200) && b2 <= Duration::from_millis(2000));
        assert_eq!(
            backoff(base, 0, Some(Duration::from_secs(5))),
            Duration::from_secs(5)
        );
        assert_eq!(backoff(base, 12, None), MAX_BACKOFF);
    }
}
