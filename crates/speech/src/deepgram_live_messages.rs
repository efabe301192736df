//! Sans-IO wire messages of Deepgram's live transcription websocket (`/v1/listen`): the query
//! options of the upgrade URL, the JSON the server sends, and the control messages we send.
//! Shapes follow `shared/specs/deepgram.md` section 2.

use serde::Deserialize;

use crate::SpeechError;

/// Provider name used in [`SpeechError`]s.
pub(crate) const PROVIDER: &str = "deepgram";

/// Options of a live stream, sent as the query string of the upgrade URL.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveOptions {
    /// Model, e.g. `nova-3`, `nova-2-phonecall`.
    pub model: String,
    /// Language code, e.g. `en`, `en-US`, `multi`.
    pub language: String,
    /// Raw audio encoding: `mulaw` for Twilio, `linear16` for PCM16.
    pub encoding: String,
    /// Sample rate of the raw audio in Hz.
    pub sample_rate: u32,
    /// Interleaved channels in the audio.
    pub channels: u16,
    /// Ask for interim (`is_final: false`) results; required for `utterance_end_ms`.
    pub interim_results: bool,
    /// Silence (ms) that ends a segment with `speech_final: true`; `None` disables endpointing.
    pub endpointing_ms: Option<u32>,
    /// Gap (ms) after the last final word that triggers `UtteranceEnd`; `None` omits it.
    pub utterance_end_ms: Option<u32>,
    /// Ask for `SpeechStarted` events (the barge-in trigger).
    pub vad_events: bool,
    /// Format numbers, dates and currency.
    pub smart_format: bool,
    /// Add punctuation and capitalization.
    pub punctuate: bool,
}

impl Default for LiveOptions {
    /// The settings for Twilio Media Streams audio (mu-law 8 kHz mono) from the spec's example.
    fn default() -> Self {
        Self {
            model: "nova-3".to_string(),
            language: "en".to_string(),
            encoding: "mulaw".to_string(),
            sample_rate: 8000,
            channels: 1,
            interim_results: true,
            endpointing_ms: Some(300),
            utterance_end_ms: Some(1000),
            vad_events: true,
            smart_format: true,
            punctuate: true,
        }
    }
}

impl LiveOptions {
    /// The query string (without `?`), e.g. `model=nova-3&language=en&encoding=mulaw&...`.
    pub fn query(&self) -> String {
        let mut pairs: Vec<(&str, String)> = vec![
            ("model", self.model.clone()),
            ("language", self.language.clone()),
            ("encoding", self.encoding.clone()),
            ("sample_rate", self.sample_rate.to_string()),
            ("channels", self.channels.to_string()),
            ("interim_results", self.interim_results.to_string()),
            (
                "endpointing",
                // Omitting `endpointing` would give Deepgram's 10 ms default, so "off" must be
                // spelled out.
                self.endpointing_ms
                    .map_or_else(|| "false".to_string(), |ms| ms.to_string()),
            ),
        ];
        if let Some(ms) = self.utterance_end_ms {
            pairs.push(("utterance_end_ms", ms.to_string()));
        }
        pairs.push(("vad_events", self.vad_events.to_string()));
        pairs.push(("smart_format", self.smart_format.to_string()));
        pairs.push(("punctuate", self.punctuate.to_string()));
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (model and language names are
/// user configuration and must not break the URL).
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One message from the live transcription server.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    /// A `Results` message: the transcript of a span of audio (`text` may be empty for silence).
    Transcript {
        /// `channel.alternatives[0].transcript`.
        text: String,
        /// `false` = interim guess that will be replaced; `true` = settled span.
        is_final: bool,
        /// Endpointing saw a pause after this span: a candidate end of the caller's turn.
        speech_final: bool,
        /// This final was produced by our `Finalize`.
        from_finalize: bool,
        /// Audio time (s from stream start) where the span begins.
        start: f64,
        /// Length of the span in seconds.
        duration: f64,
    },
    /// No final word for `utterance_end_ms`: the end of an utterance, robust to noise.
    UtteranceEnd {
        /// Audio time (s) where the last finalized word ended.
        last_word_end: f64,
    },
    /// Voice activity began (fires on noise too).
    SpeechStarted {
        /// Audio time (s) of the start of speech.
        timestamp: f64,
    },
    /// Stream summary, sent when the stream closes (after `CloseStream`).
    Metadata {
        /// Deepgram's id for this stream.
        request_id: String,
    },
    /// A message type we do not use; the spec says to ignore unknown types.
    Unknown,
}

#[derive(Deserialize)]
struct RawResults {
    #[serde(default)]
    is_final: bool,
    #[serde(default)]
    speech_final: bool,
    #[serde(default)]
    from_finalize: bool,
    #[serde(default)]
    start: f64,
    #[serde(default)]
    duration: f64,
    channel: RawChannel,
}

#[derive(Deserialize)]
struct RawChannel {
    #[serde(default)]
    alternatives: Vec<RawAlternative>,
}

#[derive(Deserialize)]
struct RawAlternative {
    #[serde(default)]
    transcript: String,
}

#[derive(Deserialize)]
struct RawUtteranceEnd {
    last_word_end: f64,
}

#[derive(Deserialize)]
struct RawSpeechStarted {
    timestamp: f64,
}

#[derive(Deserialize)]
struct RawMetadata {
    #[serde(default)]
    request_id: String,
}

/// Parses one text frame from the server. Unknown `type`s give [`LiveEvent::Unknown`]; malformed
/// JSON or a known type with missing fields is [`SpeechError::BadResponse`]; an `Error` message
/// is [`SpeechError::StreamFailed`].
pub fn parse_server_message(text: &str) -> Result<LiveEvent, SpeechError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(format!("{e}")))?;
    let kind = value
        .get("type")
        .and_then(|t| t.as_str())
        .ok_or_else(|| bad("message without a \"type\"".to_string()))?
        .to_string();
    let decode = |what: &str, e: serde_json::Error| bad(format!("{what}: {e}"));
    match kind.as_str() {
        "Results" => {
            let raw: RawResults =
                serde_json::from_value(value).map_err(|e| decode("Results", e))?;
            let text = raw
                .channel
                .alternatives
                .into_iter()
                .next()
                .map(|a| a.transcript)
                .unwrap_or_default();
            Ok(LiveEvent::Transcript {
                text,
                is_final: raw.is_final,
                speech_final: raw.speech_final,
                from_finalize: raw.from_finalize,
                start: raw.start,
                duration: raw.duration,
            })
        }
        "UtteranceEnd" => {
            let raw: RawUtteranceEnd =
                serde_json::from_value(value).map_err(|e| decode("UtteranceEnd", e))?;
            Ok(LiveEvent::UtteranceEnd {
                last_word_end: raw.last_word_end,
            })
        }
        "SpeechStarted" => {
            let raw: RawSpeechStarted =
                serde_json::from_value(value).map_err(|e| decode("SpeechStarted", e))?;
            Ok(LiveEvent::SpeechStarted {
                timestamp: raw.timestamp,
            })
        }
        "Metadata" => {
            let raw: RawMetadata =
                serde_json::from_value(value).map_err(|e| decode("Metadata", e))?;
            Ok(LiveEvent::Metadata {
                request_id: raw.request_id,
            })
        }
        "Error" => {
            // Field names of this message are not documented consistently; show what we got.
            let message = ["description", "message", "err_msg", "reason"]
                .iter()
                .find_map(|k| value.get(*k).and_then(|v| v.as_str()))
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            Err(SpeechError::StreamFailed {
                provider: PROVIDER,
                message,
            })
        }
        _ => Ok(LiveEvent::Unknown),
    }
}

fn bad(message: String) -> SpeechError {
    SpeechError::BadResponse {
        provider: PROVIDER,
        message,
    }
}

/// A control message from client to server, sent as a text frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlMessage {
    /// Keeps the socket open while no audio is sent (send every 3–5 s).
    KeepAlive,
    /// Process buffered audio now and return it as a final with `from_finalize: true`.
    Finalize,
    /// Flush, send the remaining results and `Metadata`, then close.
    CloseStream,
}

impl ControlMessage {
    /// The exact JSON text of the message.
    pub fn as_json(self) -> &'static str {
        match self {
            ControlMessage::KeepAlive => r#"{"type":"KeepAlive"}"#,
            ControlMessage::Finalize => r#"{"type":"Finalize"}"#,
            ControlMessage::CloseStream => r#"{"type":"CloseStream"}"#,
        }
    }

    /// Parses a control message (the server side of the protocol; used by test doubles).
    /// Returns `None` for anything else.
    pub fn parse(text: &str) -> Option<ControlMessage> {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        match value.get("type")?.as_str()? {
            "KeepAlive" => Some(ControlMessage::KeepAlive),
            "Finalize" => Some(ControlMessage::Finalize),
            "CloseStream" => Some(ControlMessage::CloseStream),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_options_build_the_twilio_query_from_the_spec() {
        assert_eq!(
            LiveOptions::default().query(),
            "model=nova-3&language=en&encoding=mulaw&sample_rate=8000&channels=1\
             &interim_results=true&endpointing=300&utterance_end_ms=1000&vad_events=true\
             &smart_format=true&punctuate=true"
        );
    }

    #[test]
    fn disabled_endpointing_is_spelled_false_and_missing_utterance_end_is_omitted() {
        let options = LiveOptions {
            endpointing_ms: None,
            utterance_end_ms: None,
            language: "en US".to_string(),
            ..LiveOptions::default()
        };
        let query = options.query();
        assert!(query.contains("endpointing=false"));
        assert!(!query.contains("utterance_end_ms"));
        assert!(query.contains("language=en%20US"));
    }

    #[test]
    fn results_message_from_the_spec_parses_into_a_final_transcript() {
        let text = r#"{"type":"Results","channel_index":[0,1],"duration":1.04,"start":3.12,
 "is_final":true,"speech_final":true,"from_finalize":false,
 "channel":{"alternatives":[{"transcript":"I want to reschedule","confidence":0.98,
   "words":[{"word":"i","start":3.2,"end":3.3,"confidence":0.99,"punctuated_word":"I"}]}]},
 "metadata":{"request_id":"abc","model_info":{"name":"n","version":"v","arch":"a"},
             "model_uuid":"u"}}"#;
        assert_eq!(
            parse_server_message(text).unwrap(),
            LiveEvent::Transcript {
                text: "I want to reschedule".to_string(),
                is_final: true,
                speech_final: true,
                from_finalize: false,
                start: 3.12,
                duration: 1.04,
            }
        );
    }

    #[test]
    fn vad_utterance_end_and_metadata_messages_parse() {
        assert_eq!(
            parse_server_message(r#"{"type":"SpeechStarted","channel":[0],"timestamp":9.54}"#)
                .unwrap(),
            LiveEvent::SpeechStarted { timestamp: 9.54 }
        );
        assert_eq!(
            parse_server_message(
                r#"{"type":"UtteranceEnd","channel":[0,1],"last_word_end":2.395}"#
            )
            .unwrap(),
            LiveEvent::UtteranceEnd {
                last_word_end: 2.395
            }
        );
        let metadata = r#"{"type":"Metadata","transaction_key":"deprecated","request_id":"8c8e",
            "sha256":"e3b0","created":"2024-08-29T22:37:55.202Z","duration":0.0,"channels":0,
            "models":["m"],"model_info":{"m":{"name":"n","version":"v","arch":"a"}}}"#;
        assert_eq!(
            parse_server_message(metadata).unwrap(),
            LiveEvent::Metadata {
                request_id: "8c8e".to_string()
            }
        );
    }

    #[test]
    fn unknown_types_are_ignored_but_malformed_messages_are_errors() {
        assert_eq!(
            parse_server_message(r#"{"type":"Warning","x":1}"#).unwrap(),
            LiveEvent::Unknown
        );
        assert!(matches!(
            parse_server_message("not json"),
            Err(SpeechError::BadResponse { .. })
        ));
        assert!(matches!(
            parse_server_message(r#"{"type":"UtteranceEnd"}"#),
            Err(SpeechError::BadResponse { .. })
        ));
        assert!(matches!(
            parse_server_message(r#"{"type":"Error","description":"bad audio"}"#),
            Err(SpeechError::StreamFailed { message, .. }) if message == "bad audio"
        ));
    }

    #[test]
    fn control_messages_are_the_exact_documented_json_and_round_trip() {
        assert_eq!(
            ControlMessage::KeepAlive.as_json(),
            r#"{"type":"KeepAlive"}"#
        );
        assert_eq!(ControlMessage::Finalize.as_json(), r#"{"type":"Finalize"}"#);
        assert_eq!(
            ControlMessage::CloseStream.as_json(),
            r#"{"type":"CloseStream"}"#
        );
        for m in [
            ControlMessage::KeepAlive,
            ControlMessage::Finalize,
            ControlMessage::CloseStream,
        ] {
            assert_eq!(ControlMessage::parse(m.as_json()), Some(m));
        }
        assert_eq!(
            ControlMessage::parse(r#"{"type":"Finalize","channel":0}"#),
            Some(ControlMessage::Finalize)
        );
        assert_eq!(ControlMessage::parse(r#"{"type":"Speak"}"#), None);
    }
}
