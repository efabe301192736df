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
}
