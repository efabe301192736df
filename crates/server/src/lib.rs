//! callpilot's server: axum routes for Twilio's webhooks and Media Streams websocket, and the thin
//! tokio driver that connects each call's sans-IO [`conversation::Conversation`] to the socket,
//! the speech pool, the brain and the store.

mod agents;
mod api_docs;
mod api_v1;
mod auth;
mod auth_pages;
mod brain_session;
mod call_driver;
mod call_record;
mod call_speech;
mod campaigns;
mod config;
mod dashboard;
mod error;
mod gather;
mod live_transcription;
mod media_stream;
mod openapi;
mod outbound_api;
mod recording;
mod relay;
pub mod routes;
mod signature_check;
mod speak_stream;
mod state;
mod twilio_webhooks;
mod web_talk;

use std::net::SocketAddr;

use axum::Router;

pub use agents::AgentRegistry;
pub use auth::{create_api_key, hash_password, Role};
pub use call_speech::{DeepgramStreaming, ProviderError, SpeechProviders};
pub use campaigns::DialingConfig;
pub use config::ServerConfig;
pub use error::ServerError;
pub use state::AppState;

/// The brain's view of a stored CRM contact.
pub fn contact_from_record(c: store::ContactRecord) -> brain::Contact {
    brain::Contact {
        phone: c.phone,
        first_name: c.first_name,
        last_name: c.last_name,
        company: c.company,
        status: c.status,
        fields: c.fields,
    }
}

/// Dials the campaigns set to running, from this process, until it exits.
pub fn start_campaigns(state: &AppState, dialing: DialingConfig) {
    campaigns::spawn_supervisor(state.clone(), dialing);
}

/// Builds the router with every route of the server (see [`routes::table`]).
pub fn router(state: AppState) -> Router {
    routes::build(state)
}

pub(crate) async fn health(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "status": "ok",
        "agents": state.agents.names(),
        "stt": state.speech_providers.defaults().0,
        "tts": state.speech_providers.defaults().1,
        "active_calls": state.active_calls(),
    }))
}

/// Binds `config.listen` and serves until ctrl-c / SIGTERM.
pub async fn serve(state: AppState) -> Result<(), ServerError> {
    let listen = state.config.listen.clone();
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| ServerError::Bind(listen.clone(), e))?;
    let addr: SocketAddr = listener
        .local_addr()
        .map_err(|e| ServerError::Bind(listen.clone(), e))?;
    tracing::info!(%addr, public_url = ?state.config.public_url, "callpilot listening");
    // The first thing a newcomer wants: a call without a phone.
    tracing::info!(
        "try a call: target/release/callpilot simulate --server http://{addr} --script scripts/callers/demo.yaml"
    );
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(ServerError::Serve)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
