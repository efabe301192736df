//! Errors of the speech providers and of the model installer.

/// Why a speech provider or the model installer failed.
#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    /// A model file is missing or unreadable; the message says how to install it.
    #[error("model not available: {0}")]
    ModelMissing(String),
    /// A model file exists but its contents are not what the format promises.
    #[error("invalid model file: {0}")]
    InvalidModel(String),
    /// The model loaded but inference failed.
    #[error("inference failed: {0}")]
    Inference(String),
    /// The input could not be processed (empty text, bad sample rate...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The worker pool is shut down or the task panicked.
    #[error("speech worker failed: {0}")]
    Worker(String),
    /// A model installation step (pip, download, conversion, copy) failed.
    #[error("model installation failed: {0}")]
    Install(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// A cloud speech provider refused the API key (HTTP 401/403 or a refused websocket upgrade).
    #[error("{provider} rejected the API key: {message}")]
    Unauthorized {
        provider: &'static str,
        message: String,
    },
    /// A cloud speech provider is rate limiting us or the account is out of quota (HTTP 429).
    #[error("{provider} rate limit: {message}")]
    RateLimited {
        provider: &'static str,
        message: String,
    },
    /// A cloud speech provider answered with another HTTP error; `message` is its own words.
    #[error("{provider} answered HTTP {status}: {message}")]
    Provider {
        provider: &'static str,
        status: u16,
        message: String,
    },
    /// A cloud speech provider could not be reached or did not answer in time.
    #[error("{provider} unreachable: {message}")]
    Unreachable {
        provider: &'static str,
        message: String,
    },
    /// A cloud speech provider answered something that does not follow its protocol.
    #[error("{provider} sent an unexpected response: {message}")]
    BadResponse {
        provider: &'static str,
        message: String,
    },
    /// A live (websocket) stream was closed by the provider with an error close frame, e.g.
    /// Deepgram's 1011 `NET-0001` (no audio for 10 s) or 1008 `DATA-0000` (undecodable audio).
    #[error("{provider} closed the stream: {code} {reason}")]
    StreamClosed {
        provider: &'static str,
        code: u16,
        reason: String,
    },
    /// A live (websocket) stream failed mid-way: reset without a close frame, write after close.
    #[error("{provider} stream failed: {message}")]
    StreamFailed {
        provider: &'static str,
        message: String,
    },
}
