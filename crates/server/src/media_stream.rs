//! `WS /twilio/media`: the Media Streams websocket endpoint.

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};

use crate::signature_check::check_handshake;
use crate::AppState;

/// Checks the handshake's signature, then hands the socket to a call driver.
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(code) = check_handshake(&state, &headers, &uri) {
        return code.into_response();
    }
    ws.on_upgrade(move |socket| crate::call_driver::run(socket, state))
}
