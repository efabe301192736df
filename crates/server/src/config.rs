//! Server settings (the binary fills them from flags, `CALLPILOT_*` variables and `.env`).

/// Everything the server needs to know at start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on, e.g. `127.0.0.1:8080`.
    pub listen: String,
    /// The public base URL Twilio reaches (e.g. `https://agent.example.com`). Used to build the
    /// Media Streams URL and to check signatures behind proxies and tunnels. When unset, the
    /// request's `Host` header is used (fine for local use, spoofable behind a proxy).
    pub public_url: Option<String>,
    /// Twilio auth token: when set, every webhook and websocket handshake must be signed.
    pub twilio_auth_token: Option<String>,
}
