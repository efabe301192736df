//! Checks `X-Twilio-Signature` on webhooks and websocket handshakes.
//!
//! The URL Twilio signed is rebuilt from the configured public URL (so checks hold behind a
//! proxy or tunnel that rewrites scheme and host), falling back to the `Host` header.

use axum::http::{HeaderMap, StatusCode, Uri};

use crate::AppState;

/// The base URL (`scheme://host[:port]`) Twilio uses to reach us.
pub(crate) fn public_base(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(p) = &state.config.public_url {
        return p.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// The websocket form of the public base: https→wss, http→ws.
pub(crate) fn public_ws_base(state: &AppState, headers: &HeaderMap) -> String {
    let base = public_base(state, headers);
    if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base
    }
}

fn path_and_query(uri: &Uri) -> &str {
    uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
}

/// Verifies a form-encoded webhook. Ok when no auth token is configured.
pub(crate) fn check_webhook(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    params: &[(String, String)],
) -> Result<(), StatusCode> {
    let Some(token) = &state.config.twilio_auth_token else {
        return Ok(());
    };
    let url = format!("{}{}", public_base(state, headers), path_and_query(uri));
    verify(token, &url, params, headers)
}

/// Verifies a websocket upgrade request (signed like a GET: the `wss://` URL, no params).
pub(crate) fn check_handshake(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<(), StatusCode> {
    let Some(token) = &state.config.twilio_auth_token else {
        return Ok(());
    };
    let url = format!("{}{}", public_ws_base(state, headers), path_and_query(uri));
    verify(token, &url, &[], headers)
}

fn verify(
    token: &str,
    url: &str,
    params: &[(String, String)],
    headers: &HeaderMap,
) -> Result<(), StatusCode> {
    let Some(sig) = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
    else {
        tracing::warn!(%url, "rejected request: missing X-Twilio-Signature (TWILIO_AUTH_TOKEN is set)");
        return Err(StatusCode::FORBIDDEN);
    };
    if telephony::signature::validate(token, url, params, sig) {
        Ok(())
    } else {
        tracing::warn!(
            %url,
            "rejected request: X-Twilio-Signature does not match (check CALLPILOT_PUBLIC_URL and TWILIO_AUTH_TOKEN)"
        );
        Err(StatusCode::FORBIDDEN)
    }
}
