//! Twilio Programmable Voice for callpilot: wire formats (no IO) and the REST client.
//!
//! - [`signature`]: `X-Twilio-Signature` validation (form, GET, JSON `bodySHA256`, SharedKey
//!   HMAC-SHA256, WebSocket handshakes) and the public-URL reconstruction it depends on.
//! - [`twiml`]: a TwiML builder (`<Response>` documents with proper escaping).
//! - [`media_stream`]: Media Streams WebSocket messages in both directions.
//! - [`webhook`]: typed voice webhook and call status callback forms, [`CallStatus`] ordering.
//! - [`rest`]: the REST client for calls (create with AMD and status callbacks, update, hang up,
//!   fetch), paced to the account's calls per second, with retries; [`e164`] number checks.
//!
//! The protocol reference is `specs/twilio.md`; the tests replay the official library's
//! vectors from `tests/vectors/`.

pub mod conversation_relay;
pub mod e164;
pub mod error;
pub mod media_stream;
pub mod rest;
mod rest_call;
mod rest_error;
mod rest_pacing;
pub mod signature;
pub mod twiml;
pub mod webhook;

pub use error::{MediaStreamError, SignatureError, UnknownCallStatus, WebhookError};
pub use media_stream::{
    clear_message, mark_message, media_message, parse_inbound, parse_outbound, OutboundMessage,
    StreamEvent,
};
pub use signature::{
    compute_signature, public_url, public_ws_url, validate, verify_request, Algorithm,
    NoSharedKeys, SharedKeys, SignatureCheck,
};
pub use twiml::Response;
pub use webhook::{CallStatus, Direction, StatusCallback, VoiceWebhook};
