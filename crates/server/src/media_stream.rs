//! `WS /twilio/media`: the Media Streams websocket endpoint.

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};

use crate::signature_check::check_handshake;
use crate::AppState;

/// Buffers for one call's websocket. Media Streams, ConversationRelay and browser messages
/// are under 1 KiB each, so tungstenite's 128 KiB read and write buffers would be nearly all
/// waste, and they were the largest part of a call's memory (docs/benchmarks.md).
const WS_BUFFER: usize = 8 * 1024;

/// `ws` with buffers sized for call traffic.
pub(crate) fn sized(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.read_buffer_size(WS_BUFFER).write_buffer_size(WS_BUFFER)
}

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
    crate::media_stream::sized(ws).on_upgrade(move |socket| crate::call_driver::run(socket, state))
}
