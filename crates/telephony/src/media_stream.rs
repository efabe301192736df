//! Media Streams WebSocket messages (spec section 4).
//!
//! Both directions are modelled, because callpilot plays both roles: the server receives
//! [`StreamEvent`]s from Twilio and sends [`OutboundMessage`]s, while the local carrier (`sim`)
//! sends `StreamEvent`s in Twilio's exact shapes and parses what the server sends back.
//!
//! Parsing is lenient where Twilio is inconsistent: `sequenceNumber`, `chunk`, `timestamp`,
//! `sampleRate` and `channels` are accepted as JSON strings or numbers, and unknown fields are
//! ignored. Serialization writes Twilio's shapes: counters as strings, format numbers as numbers.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::MediaStreamError;

/// Inbound event names we understand; anything else is [`MediaStreamError::UnknownEvent`].
const INBOUND_EVENTS: [&str; 6] = ["connected", "start", "media", "dtmf", "mark", "stop"];
/// Outbound event names (us -> Twilio).
const OUTBOUND_EVENTS: [&str; 3] = ["media", "mark", "clear"];

/// A message Twilio sends on a Media Stream, tagged by its `event` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "event",
    rename_all = "lowercase",
    rename_all_fields = "camelCase"
)]
pub enum StreamEvent {
    /// First message, once per socket.
    Connected {
        /// `Call`.
        #[serde(default)]
        protocol: String,
        /// `1.0.0`.
        #[serde(default)]
        version: String,
    },
    /// Stream metadata, once, right after `connected`.
    Start {
        /// Per-stream message counter (`"1"` for `start`).
        #[serde(default, with = "opt_counter", skip_serializing_if = "Option::is_none")]
        sequence_number: Option<u64>,
        /// `MZ...`, required on everything we send back.
        stream_sid: String,
        /// The metadata.
        start: StreamStart,
    },
    /// 20 ms of audio.
    Media {
        /// Per-stream message counter.
        #[serde(default, with = "opt_counter", skip_serializing_if = "Option::is_none")]
        sequence_number: Option<u64>,
        /// `MZ...`.
        stream_sid: String,
        /// The audio chunk.
        media: MediaChunk,
    },
    /// A DTMF key press (bidirectional streams only).
    Dtmf {
        /// Per-stream message counter.
        #[serde(default, with = "opt_counter", skip_serializing_if = "Option::is_none")]
        sequence_number: Option<u64>,
        /// `MZ...`.
        stream_sid: String,
        /// The key.
        dtmf: DtmfDigit,
    },
    /// Echo of a mark we sent: everything queued before it has been played (or cleared).
    Mark {
        /// Per-stream message counter.
        #[serde(default, with = "opt_counter", skip_serializing_if = "Option::is_none")]
        sequence_number: Option<u64>,
        /// `MZ...`.
        stream_sid: String,
        /// The mark's name as we sent it.
        mark: MarkName,
    },
    /// The stream ended; Twilio closes the socket next.
    Stop {
        /// Per-stream message counter.
        #[serde(default, with = "opt_counter", skip_serializing_if = "Option::is_none")]
        sequence_number: Option<u64>,
        /// `MZ...`.
        stream_sid: String,
        /// Which call ended.
        stop: StreamStop,
    },
}

/// `start` metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamStart {
    /// `AC...`.
    pub account_sid: String,
    /// `MZ...` (same as the top-level `streamSid`).
    pub stream_sid: String,
    /// `CA...`.
    pub call_sid: String,
    /// `["inbound"]`, `["outbound"]` or both.
    #[serde(default)]
    pub tracks: Vec<String>,
    /// `<Parameter>`s from the TwiML; empty when none.
    #[serde(default)]
    pub custom_parameters: BTreeMap<String, String>,
    /// Audio format; µ-law 8 kHz mono when absent (the only format Twilio documents).
    #[serde(default)]
    pub media_format: MediaFormat,
}

/// `start.mediaFormat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaFormat {
    /// `audio/x-mulaw`.
    pub encoding: String,
    /// Samples per second (8000).
    #[serde(with = "number")]
    pub sample_rate: u32,
    /// Channel count (1).
    #[serde(with = "number")]
    pub channels: u32,
}

impl Default for MediaFormat {
    fn default() -> Self {
        Self {
            encoding: "audio/x-mulaw".to_owned(),
            sample_rate: 8000,
            channels: 1,
        }
    }
}

/// Which side of the call an audio chunk carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaTrack {
    /// The caller's audio.
    #[serde(alias = "inbound_track")]
    Inbound,
    /// Audio Twilio plays to the caller (unidirectional `both_tracks` streams only).
    #[serde(alias = "outbound_track")]
    Outbound,
}

/// `media` body of an inbound message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaChunk {
    /// Which side of the call.
    pub track: MediaTrack,
    /// Per-track counter starting at 1.
    #[serde(with = "counter")]
    pub chunk: u64,
    /// Milliseconds since the stream started; use it, not arrival time, for alignment.
    #[serde(with = "counter")]
    pub timestamp: u64,
    /// Base64 µ-law audio.
    pub payload: String,
}

impl MediaChunk {
    /// The raw µ-law bytes of `payload`.
    pub fn decode_payload(&self) -> Result<Vec<u8>, MediaStreamError> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.payload)
            .map_err(MediaStreamError::InvalidPayload)
    }
}

/// `dtmf` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DtmfDigit {
    /// `inbound_track`.
    #[serde(default)]
    pub track: String,
    /// `0`-`9`, `*`, `#`.
    pub digit: String,
}

/// `mark` body, in both directions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkName {
    /// The label we chose.
    pub name: String,
}

/// `stop` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamStop {
    /// `AC...`.
    pub account_sid: String,
    /// `CA...`.
    pub call_sid: String,
}

impl StreamEvent {
    /// The wire `event` name.
    pub fn event_name(&self) -> &'static str {
        match self {
            Self::Connected { .. } => "connected",
            Self::Start { .. } => "start",
            Self::Media { .. } => "media",
            Self::Dtmf { .. } => "dtmf",
            Self::Mark { .. } => "mark",
            Self::Stop { .. } => "stop",
        }
    }

    /// The stream this message belongs to (`connected` has none).
    pub fn stream_sid(&self) -> Option<&str> {
        match self {
            Self::Connected { .. } => None,
            Self::Start { stream_sid, .. }
            | Self::Media { stream_sid, .. }
            | Self::Dtmf { stream_sid, .. }
            | Self::Mark { stream_sid, .. }
            | Self::Stop { stream_sid, .. } => Some(stream_sid),
        }
    }

    /// The message's `sequenceNumber`, if it carried one.
    pub fn sequence_number(&self) -> Option<u64> {
        match self {
            Self::Connected { .. } => None,
            Self::Start {
                sequence_number, ..
            }
            | Self::Media {
                sequence_number, ..
            }
            | Self::Dtmf {
                sequence_number, ..
            }
            | Self::Mark {
                sequence_number, ..
            }
            | Self::Stop {
                sequence_number, ..
            } => *sequence_number,
        }
    }

    /// The message exactly as Twilio sends it (counters as JSON strings).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("stream events contain only strings and integers")
    }
}

/// Parses one text frame from Twilio.
///
/// An unknown `event` yields [`MediaStreamError::UnknownEvent`] so callers can log and skip it
/// (Twilio may add events) while still treating malformed known events as errors.
pub fn parse_inbound(text: &str) -> Result<StreamEvent, MediaStreamError> {
    let (event, value) = split_event(text, &INBOUND_EVENTS)?;
    StreamEvent::deserialize(value).map_err(|source| MediaStreamError::Malformed { event, source })
}

/// A message we send to Twilio on a bidirectional stream (spec 4.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "event",
    rename_all = "lowercase",
    rename_all_fields = "camelCase"
)]
pub enum OutboundMessage {
    /// Queue audio for playback.
    Media {
        /// Must match `start.streamSid`.
        stream_sid: String,
        /// The audio.
        media: OutboundMedia,
    },
    /// A label in the playback queue; Twilio echoes it when playback reaches it.
    Mark {
        /// Must match `start.streamSid`.
        stream_sid: String,
        /// The label.
        mark: MarkName,
    },
    /// Drop all buffered audio now (barge-in); pending marks are echoed back.
    Clear {
        /// Must match `start.streamSid`.
        stream_sid: String,
    },
}

/// `media` body of an outbound message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundMedia {
    /// Base64 of raw µ-law 8 kHz mono bytes (no WAV header: it would be heard as a click).
    pub payload: String,
}

impl OutboundMessage {
    /// The message in Twilio's shape.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("outbound messages contain only strings")
    }
}

/// Parses a message our server sent (used by the local carrier playing Twilio).
pub fn parse_outbound(text: &str) -> Result<OutboundMessage, MediaStreamError> {
    let (event, value) = split_event(text, &OUTBOUND_EVENTS)?;
    OutboundMessage::deserialize(value)
        .map_err(|source| MediaStreamError::Malformed { event, source })
}

/// `{"event":"media","streamSid":..,"media":{"payload":..}}`.
pub fn media_message(stream_sid: &str, payload_b64: &str) -> String {
    OutboundMessage::Media {
        stream_sid: stream_sid.to_owned(),
        media: OutboundMedia {
            payload: payload_b64.to_owned(),
        },
    }
    .to_json()
}

/// `{"event":"mark","streamSid":..,"mark":{"name":..}}`.
pub fn mark_message(stream_sid: &str, name: &str) -> String {
    OutboundMessage::Mark {
        stream_sid: stream_sid.to_owned(),
        mark: MarkName {
            name: name.to_owned(),
        },
    }
    .to_json()
}

/// `{"event":"clear","streamSid":..}`.
pub fn clear_message(stream_sid: &str) -> String {
    OutboundMessage::Clear {
        stream_sid: stream_sid.to_owned(),
    }
    .to_json()
}

/// Base64 (standard alphabet, padded) of raw µ-law bytes, for a `payload`.
pub fn encode_payload(mulaw: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(mulaw)
}

/// Reads the frame as JSON and checks its `event` against `known` before typed parsing, so an
/// unknown event is distinguishable from a malformed known one.
fn split_event(
    text: &str,
    known: &[&str],
) -> Result<(String, serde_json::Value), MediaStreamError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(MediaStreamError::InvalidJson)?;
    let event = value
        .get("event")
        .and_then(serde_json::Value::as_str)
        .ok_or(MediaStreamError::MissingEvent)?
        .to_owned();
    if !known.contains(&event.as_str()) {
        return Err(MediaStreamError::UnknownEvent(event));
    }
    Ok((event, value))
}

/// Visitor accepting a non-negative integer as a JSON number or a decimal string.
struct LenientUint;

impl serde::de::Visitor<'_> for LenientUint {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a non-negative integer or a string holding one")
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u64, E> {
        v.trim()
            .parse()
            .map_err(|_| E::invalid_value(serde::de::Unexpected::Str(v), &self))
    }
}

/// Counters: lenient in, JSON string out (Twilio's shape).
mod counter {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        d.deserialize_any(super::LenientUint)
    }
}

/// Optional counters (`sequenceNumber`).
mod opt_counter {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super::counter")] u64);
        Ok(Option::<Wrapped>::deserialize(d)?.map(|Wrapped(v)| v))
    }
}

/// Format numbers: lenient in, JSON number out (Twilio's shape).
mod number {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(*value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let wide = d.deserialize_any(super::LenientUint)?;
        u32::try_from(wide).map_err(|_| {
            serde::de::Error::invalid_value(
                serde::de::Unexpected::Unsigned(wide),
                &"an integer below 2^32",
            )
        })
    }
}
