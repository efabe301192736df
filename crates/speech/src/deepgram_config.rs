//! Connection settings shared by every Deepgram client (live STT websocket, Aura TTS).

use std::time::Duration;

/// Default Deepgram host for websocket endpoints.
pub const DEEPGRAM_DEFAULT_URL: &str = "wss://api.deepgram.com";
/// Environment variable that overrides [`DeepgramConfig::base_url`] (tests point it at a fake).
pub const DEEPGRAM_URL_ENV: &str = "CALLPILOT_DEEPGRAM_URL";

/// Where Deepgram lives and how to authenticate.
#[derive(Clone)]
pub struct DeepgramConfig {
    /// Websocket base URL without path, e.g. `wss://api.deepgram.com` or `ws://127.0.0.1:PORT`.
    pub base_url: String,
    /// API key sent as `Authorization: Token <key>`.
    pub api_key: String,
    /// Upper bound for TCP + TLS + websocket handshake (or the HTTP request head for REST).
    pub connect_timeout: Duration,
}

impl DeepgramConfig {
    /// Config for `api_key` with the base URL from `CALLPILOT_DEEPGRAM_URL` (default
    /// `wss://api.deepgram.com`) and a 5 s connect timeout.
    pub fn new(api_key: impl Into<String>) -> Self {
        let base_url = std::env::var(DEEPGRAM_URL_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| DEEPGRAM_DEFAULT_URL.to_string());
        Self {
            base_url,
            api_key: api_key.into(),
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// Websocket base without a trailing slash (`https` is mapped to `wss`, `http` to `ws`).
    pub fn ws_base(&self) -> String {
        let base = self.base_url.trim_end_matches('/');
        if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            base.to_string()
        }
    }

    /// REST base without a trailing slash: `wss` is mapped to `https`, `ws` to `http`, so one
    /// setting serves both the websocket and the REST endpoints.
    pub fn rest_base(&self) -> String {
        let base = self.base_url.trim_end_matches('/');
        if let Some(rest) = base.strip_prefix("wss://") {
            format!("https://{rest}")
        } else if let Some(rest) = base.strip_prefix("ws://") {
            format!("http://{rest}")
        } else {
            base.to_string()
        }
    }
}

impl std::fmt::Debug for DeepgramConfig {
    // The key must never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeepgramConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// Websocket settings for the per-call Deepgram sockets: 16 KiB buffers instead of
/// tungstenite's 128 KiB (a call's messages are far smaller, and there is one socket per call).
pub(crate) fn ws_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(16 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(base: &str) -> DeepgramConfig {
        DeepgramConfig {
            base_url: base.to_string(),
            api_key: "k".to_string(),
            connect_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn rest_base_maps_websocket_schemes_to_http() {
        assert_eq!(
            config("wss://api.deepgram.com").rest_base(),
            "https://api.deepgram.com"
        );
        assert_eq!(
            config("ws://127.0.0.1:9/").rest_base(),
            "http://127.0.0.1:9"
        );
        assert_eq!(
            config("http://127.0.0.1:9").rest_base(),
            "http://127.0.0.1:9"
        );
    }

    #[test]
    fn ws_base_maps_http_schemes_to_websocket() {
        assert_eq!(
            config("https://api.deepgram.com/").ws_base(),
            "wss://api.deepgram.com"
        );
        assert_eq!(config("ws://127.0.0.1:9").ws_base(), "ws://127.0.0.1:9");
    }

    #[test]
    fn debug_output_redacts_the_api_key() {
        let text = format!("{:?}", config("wss://x"));
        assert!(!text.contains("\"k\""));
        assert!(text.contains("redacted"));
    }
}
