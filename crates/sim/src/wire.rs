//! Media Streams messages (spec section 4) as Twilio writes them and as a server sends them.
//!
//! Outbound messages are serialized from structs, not `json!`, so the field order is Twilio's
//! (serde_json's map would sort the keys) and numeric-looking counters stay JSON strings.
//! Inbound messages are checked strictly: every deviation becomes a readable [`WireError`] that
//! the report lists, because finding such deviations is what the sim is for.

use base64::Engine as _;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::Value;

/// Bytes of one 20 ms mu-law frame.
pub const FRAME_BYTES: usize = audio::FRAME_SAMPLES_8K;

/// Identity of one stream, needed in every message Twilio sends.
#[derive(Debug, Clone)]
pub struct StreamIds {
    pub account_sid: String,
    pub call_sid: String,
    pub stream_sid: String,
}

/// `{"event":"connected","protocol":"Call","version":"1.0.0"}`.
pub fn connected() -> String {
    #[derive(Serialize)]
    struct Connected {
        event: &'static str,
        protocol: &'static str,
        version: &'static str,
    }
    to_json(&Connected {
        event: "connected",
        protocol: "Call",
        version: "1.0.0",
    })
}

/// The `start` message (always `sequenceNumber` 1 in practice).
pub fn start(seq: u64, ids: &StreamIds, parameters: &[(String, String)]) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Start<'a> {
        event: &'static str,
        sequence_number: String,
        stream_sid: &'a str,
        start: StartMeta<'a>,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct StartMeta<'a> {
        account_sid: &'a str,
        stream_sid: &'a str,
        call_sid: &'a str,
        tracks: [&'static str; 1],
        custom_parameters: OrderedParams<'a>,
        media_format: MediaFormat,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct MediaFormat {
        encoding: &'static str,
        sample_rate: u32,
        channels: u32,
    }
    to_json(&Start {
        event: "start",
        sequence_number: seq.to_string(),
        stream_sid: &ids.stream_sid,
        start: StartMeta {
            account_sid: &ids.account_sid,
            stream_sid: &ids.stream_sid,
            call_sid: &ids.call_sid,
            tracks: ["inbound"],
            custom_parameters: OrderedParams(parameters),
            media_format: MediaFormat {
                encoding: "audio/x-mulaw",
                sample_rate: audio::SAMPLE_RATE_8K,
                channels: 1,
            },
        },
    })
}

/// An inbound-track `media` message carrying one 20 ms mu-law frame.
pub fn media(seq: u64, stream_sid: &str, chunk: u64, timestamp_ms: u64, mulaw: &[u8]) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Media<'a> {
        event: &'static str,
        sequence_number: String,
        stream_sid: &'a str,
        media: Payload,
    }
    #[derive(Serialize)]
    struct Payload {
        track: &'static str,
        chunk: String,
        timestamp: String,
        payload: String,
    }
    to_json(&Media {
        event: "media",
        sequence_number: seq.to_string(),
        stream_sid,
        media: Payload {
            track: "inbound",
            chunk: chunk.to_string(),
            timestamp: timestamp_ms.to_string(),
            payload: base64::engine::general_purpose::STANDARD.encode(mulaw),
        },
    })
}

/// A `dtmf` message for one key press.
pub fn dtmf(seq: u64, stream_sid: &str, digit: char) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Dtmf<'a> {
        event: &'static str,
        sequence_number: String,
        stream_sid: &'a str,
        dtmf: Key,
    }
    #[derive(Serialize)]
    struct Key {
        track: &'static str,
        digit: String,
    }
    to_json(&Dtmf {
        event: "dtmf",
        sequence_number: seq.to_string(),
        stream_sid,
        dtmf: Key {
            track: "inbound_track",
            digit: digit.to_string(),
        },
    })
}

/// The echo of a mark the server placed, sent once playback reached it.
pub fn mark(seq: u64, stream_sid: &str, name: &str) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Mark<'a> {
        event: &'static str,
        sequence_number: String,
        stream_sid: &'a str,
        mark: Name<'a>,
    }
    #[derive(Serialize)]
    struct Name<'a> {
        name: &'a str,
    }
    to_json(&Mark {
        event: "mark",
        sequence_number: seq.to_string(),
        stream_sid,
        mark: Name { name },
    })
}

/// The `stop` message sent when the caller hangs up.
pub fn stop(seq: u64, ids: &StreamIds) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Stop<'a> {
        event: &'static str,
        sequence_number: String,
        stream_sid: &'a str,
        stop: Who<'a>,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Who<'a> {
        account_sid: &'a str,
        call_sid: &'a str,
    }
    to_json(&Stop {
        event: "stop",
        sequence_number: seq.to_string(),
        stream_sid: &ids.stream_sid,
        stop: Who {
            account_sid: &ids.account_sid,
            call_sid: &ids.call_sid,
        },
    })
}

/// `customParameters` in `<Parameter>` order (a JSON object; duplicate names keep the last value
/// as Twilio's map would).
struct OrderedParams<'a>(&'a [(String, String)]);

impl Serialize for OrderedParams<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut kept: Vec<(&str, &str)> = Vec::new();
        for (k, v) in self.0 {
            match kept.iter_mut().find(|(name, _)| name == k) {
                Some(slot) => slot.1 = v,
                None => kept.push((k, v)),
            }
        }
        let mut map = s.serialize_map(Some(kept.len()))?;
        for (k, v) in kept {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

fn to_json<T: Serialize>(v: &T) -> String {
    // These structs hold only strings and integers: serialization cannot fail.
    serde_json::to_string(v).expect("wire message serializes")
}

/// A message the server may send on a bidirectional stream (spec 4.3).
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// Audio to queue for playback, as 160-byte frames (a partial tail is padded with silence).
    Media {
        frames: Vec<[u8; FRAME_BYTES]>,
        partial: bool,
    },
    /// A label to echo when playback reaches it.
    Mark { name: String },
    /// Drop all queued audio.
    Clear,
}

/// Why a server message was not accepted. Displayed verbatim in the report.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WireError {
    #[error("binary WebSocket frame (Twilio expects JSON text frames)")]
    Binary,
    #[error("not a JSON object: {0}")]
    NotJson(String),
    #[error("message has no string `event` field")]
    NoEvent,
    #[error("unknown event `{0}` (Twilio ignores it)")]
    UnknownEvent(String),
    #[error("`{event}` carries streamSid {got:?}, expected {expected:?}")]
    WrongStreamSid {
        event: String,
        got: Option<String>,
        expected: String,
    },
    #[error("`{event}` is missing `{field}`")]
    Missing { event: String, field: &'static str },
    #[error("media payload is not valid base64: {0}")]
    BadBase64(String),
    #[error("media payload is empty")]
    EmptyPayload,
}

/// Parses and checks one text frame from the server.
pub fn parse_server_message(text: &str, stream_sid: &str) -> Result<ServerMessage, WireError> {
    let v: Value = serde_json::from_str(text).map_err(|e| WireError::NotJson(e.to_string()))?;
    let obj = v
        .as_object()
        .ok_or_else(|| WireError::NotJson("top level is not an object".into()))?;
    let event = obj
        .get("event")
        .and_then(Value::as_str)
        .ok_or(WireError::NoEvent)?
        .to_string();
    if !matches!(event.as_str(), "media" | "mark" | "clear") {
        return Err(WireError::UnknownEvent(event));
    }
    let sid = obj.get("streamSid").and_then(Value::as_str);
    if sid != Some(stream_sid) {
        return Err(WireError::WrongStreamSid {
            event,
            got: sid.map(str::to_string),
            expected: stream_sid.to_string(),
        });
    }
    match event.as_str() {
        "media" => {
            let payload = obj
                .get("media")
                .and_then(|m| m.get("payload"))
                .and_then(Value::as_str)
                .ok_or(WireError::Missing {
                    event: event.clone(),
                    field: "media.payload",
                })?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(payload)
                .map_err(|e| WireError::BadBase64(e.to_string()))?;
            if bytes.is_empty() {
                return Err(WireError::EmptyPayload);
            }
            let partial = bytes.len() % FRAME_BYTES != 0;
            let frames = bytes
                .chunks(FRAME_BYTES)
                .map(|c| {
                    // 0xFF is mu-law silence.
                    let mut f = [0xFFu8; FRAME_BYTES];
                    f[..c.len()].copy_from_slice(c);
                    f
                })
                .collect();
            Ok(ServerMessage::Media { frames, partial })
        }
        "mark" => {
            let name = obj
                .get("mark")
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                .ok_or(WireError::Missing {
                    event: event.clone(),
                    field: "mark.name",
                })?;
            Ok(ServerMessage::Mark {
                name: name.to_string(),
            })
        }
        _ => Ok(ServerMessage::Clear),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> StreamIds {
        StreamIds {
            account_sid: "AC1".into(),
            call_sid: "CA1".into(),
            stream_sid: "MZ1".into(),
        }
    }

    #[test]
    fn outbound_messages_have_twilio_shapes_and_field_order() {
        assert_eq!(
            connected(),
            r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#
        );
        let params = vec![
            ("tenant".to_string(), "acme".to_string()),
            ("a".to_string(), "b".to_string()),
        ];
        assert_eq!(
            start(1, &ids(), &params),
            r#"{"event":"start","sequenceNumber":"1","streamSid":"MZ1","start":{"accountSid":"AC1","streamSid":"MZ1","callSid":"CA1","tracks":["inbound"],"customParameters":{"tenant":"acme","a":"b"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"#
        );
        assert!(start(1, &ids(), &[]).contains(r#""customParameters":{}"#));
        let m = media(3, "MZ1", 1, 0, &[0xFF; 160]);
        assert!(m.starts_with(
            r#"{"event":"media","sequenceNumber":"3","streamSid":"MZ1","media":{"track":"inbound","chunk":"1","timestamp":"0","payload":"////"#
        ));
        let payload = serde_json::from_str::<Value>(&m).unwrap()["media"]["payload"]
            .as_str()
            .unwrap()
            .len();
        assert_eq!(payload, 216, "20 ms = 216 base64 chars");
        assert_eq!(
            dtmf(5, "MZ1", '1'),
            r#"{"event":"dtmf","sequenceNumber":"5","streamSid":"MZ1","dtmf":{"track":"inbound_track","digit":"1"}}"#
        );
        assert_eq!(
            mark(4, "MZ1", "utt-7"),
            r#"{"event":"mark","sequenceNumber":"4","streamSid":"MZ1","mark":{"name":"utt-7"}}"#
        );
        assert_eq!(
            stop(6, &ids()),
            r#"{"event":"stop","sequenceNumber":"6","streamSid":"MZ1","stop":{"accountSid":"AC1","callSid":"CA1"}}"#
        );
    }

    #[test]
    fn parses_server_media_mark_and_clear() {
        let payload = base64::engine::general_purpose::STANDARD.encode([0x7Fu8; 320]);
        let msg =
            format!(r#"{{"event":"media","streamSid":"MZ1","media":{{"payload":"{payload}"}}}}"#);
        match parse_server_message(&msg, "MZ1").unwrap() {
            ServerMessage::Media { frames, partial } => {
                assert_eq!(frames.len(), 2);
                assert!(!partial);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_server_message(
                r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"m1"}}"#,
                "MZ1"
            )
            .unwrap(),
            ServerMessage::Mark { name: "m1".into() }
        );
        assert_eq!(
            parse_server_message(r#"{"event":"clear","streamSid":"MZ1"}"#, "MZ1").unwrap(),
            ServerMessage::Clear
        );
    }

    #[test]
    fn partial_frames_are_padded_and_flagged() {
        let payload = base64::engine::general_purpose::STANDARD.encode([0x10u8; 200]);
        let msg =
            format!(r#"{{"event":"media","streamSid":"MZ1","media":{{"payload":"{payload}"}}}}"#);
        let ServerMessage::Media { frames, partial } = parse_server_message(&msg, "MZ1").unwrap()
        else {
            panic!("media expected")
        };
        assert!(partial);
        assert_eq!(frames[1][39], 0x10);
        assert_eq!(frames[1][40], 0xFF);
    }

    #[test]
    fn malformed_server_messages_are_explained() {
        let e = |t: &str| parse_server_message(t, "MZ1").unwrap_err().to_string();
        assert!(e("not json").starts_with("not a JSON object"));
        assert!(e(r#"{"streamSid":"MZ1"}"#).contains("no string `event`"));
        assert!(e(r#"{"event":"play","streamSid":"MZ1"}"#).contains("unknown event `play`"));
        assert!(e(r#"{"event":"clear","streamSid":"MZ2"}"#).contains("expected \"MZ1\""));
        assert!(e(r#"{"event":"clear"}"#).contains("streamSid None"));
        assert!(e(r#"{"event":"mark","streamSid":"MZ1","mark":{}}"#).contains("mark.name"));
        assert!(
            e(r#"{"event":"media","streamSid":"MZ1","media":{"payload":"!!"}}"#).contains("base64")
        );
    }
}
