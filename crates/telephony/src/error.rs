//! Error types of the `telephony` crate, one enum per wire format.

use thiserror::Error;

/// Why a Twilio request failed signature verification.
///
/// Every variant maps to HTTP 403 (or WebSocket close 1008); the distinction exists for logs,
/// so an operator can tell a misconfigured public URL (`Mismatch`) from a forged body
/// (`BodyHashMismatch`) or a missing shared key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    /// The request carried no `X-Twilio-Signature` header.
    #[error("missing X-Twilio-Signature header")]
    MissingSignature,
    /// No URL/port variant produced the signature in the header.
    #[error("X-Twilio-Signature does not match the request URL and parameters")]
    Mismatch,
    /// The signature matched, but the SHA-256 of the raw body differs from `bodySHA256`.
    #[error("body SHA-256 does not match the bodySHA256 query parameter")]
    BodyHashMismatch,
    /// `X-Twilio-Webhooks-Signature-Settings` names an algorithm we do not implement.
    #[error("unsupported signature algorithm `{0}`")]
    UnsupportedAlgorithm(String),
    /// `X-Twilio-Webhooks-Signature-Settings` names a shared key we do not hold.
    #[error("unknown webhook shared key `{0}`")]
    UnknownSharedKey(String),
    /// `X-Twilio-Webhooks-Signature-Settings` could not be understood.
    #[error("malformed X-Twilio-Webhooks-Signature-Settings header: {0}")]
    MalformedSettings(String),
}

/// Why a Media Streams text frame could not be turned into a [`crate::StreamEvent`].
#[derive(Debug, Error)]
pub enum MediaStreamError {
    /// The frame is not a JSON object.
    #[error("media stream frame is not valid JSON: {0}")]
    InvalidJson(#[source] serde_json::Error),
    /// The JSON object has no string `event` field.
    #[error("media stream frame has no `event` field")]
    MissingEvent,
    /// The `event` is not one we know. Twilio may add events: callers log and skip these.
    #[error("unknown media stream event `{0}`")]
    UnknownEvent(String),
    /// A known event whose fields do not have the documented shape.
    #[error("malformed `{event}` message: {source}")]
    Malformed {
        /// The `event` value of the message.
        event: String,
        /// What serde found wrong.
        #[source]
        source: serde_json::Error,
    },
    /// A `media` payload that is not valid base64.
    #[error("media payload is not valid base64: {0}")]
    InvalidPayload(#[source] base64::DecodeError),
}

/// Why a webhook form could not be read into a typed struct.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WebhookError {
    /// A parameter Twilio always sends is absent or empty.
    #[error("webhook is missing required parameter `{0}`")]
    MissingField(&'static str),
    /// A parameter is present but its value has the wrong shape.
    #[error("webhook parameter `{field}` has invalid value `{value}`: expected {expected}")]
    InvalidField {
        /// Twilio's parameter name, e.g. `CallStatus`.
        field: &'static str,
        /// The value received.
        value: String,
        /// What a valid value looks like.
        expected: &'static str,
    },
}

/// A `CallStatus` string outside Twilio's documented set.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown call status `{0}`")]
pub struct UnknownCallStatus(pub String);
