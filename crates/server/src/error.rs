//! Errors of the server crate.

/// Why the server could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
    #[error("server failed: {0}")]
    Serve(std::io::Error),
    #[error("agent: {0}")]
    Agent(#[from] brain::BrainError),
    #[error("no agent named '{0}' is loaded")]
    UnknownAgent(String),
    #[error("agents directory {0}: {1}")]
    AgentsDir(String, std::io::Error),
}
