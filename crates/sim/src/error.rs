//! Errors of the local carrier.

/// Why a caller script could not be loaded. The message carries serde_yaml's location
/// (`at line L column C`) when the problem is in the document.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The YAML is malformed or does not match the script schema.
    #[error("invalid caller script: {0}")]
    Invalid(String),
    /// The script file could not be read.
    #[error("cannot read caller script {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Why a simulated call could not be placed or carried out. Problems the *server* causes once
/// the stream runs (malformed messages, late marks...) are not errors: they go into the report.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The configuration is unusable (e.g. a server URL that is not `http://host[:port]`).
    #[error("invalid sim configuration: {0}")]
    Config(String),
    /// The caller's speech could not be synthesized.
    #[error("text-to-speech failed for caller line {text:?}: {source}")]
    Tts {
        text: String,
        #[source]
        source: speech::SpeechError,
    },
    /// An HTTP request to the server failed at the transport level.
    #[error("HTTP request to {url} failed: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server answered a TwiML request with something other than 2xx (Twilio error 11200).
    #[error("{url} answered HTTP {status} (Twilio would log error 11200): {body}")]
    WebhookStatus {
        url: String,
        status: u16,
        body: String,
    },
    /// The TwiML could not be parsed or asks for something the sim cannot do.
    #[error("TwiML from {url}: {reason}")]
    Twiml { url: String, reason: String },
    /// The WebSocket handshake was refused (Twilio error 31920).
    #[error("media stream handshake with {url} failed (Twilio error 31920): {reason}")]
    Handshake { url: String, reason: String },
}
