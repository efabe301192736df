//! ConversationRelay websocket messages (spec section 5): Twilio runs speech recognition and
//! synthesis and exchanges JSON text frames with us. Parsing and encoding only, no IO.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Why a ConversationRelay frame could not be understood (the frame is skipped).
#[derive(Debug, thiserror::Error)]
#[error("ConversationRelay message: {0}")]
pub struct RelayError(String);

/// The `setup` message, first on every session.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelaySetup {
    pub session_id: String,
    pub call_sid: String,
    #[serde(default)]
    pub account_sid: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub direction: String,
    #[serde(default)]
    pub call_status: String,
    #[serde(default)]
    pub custom_parameters: BTreeMap<String, String>,
}

/// A message Twilio sends us.
#[derive(Debug, Clone, PartialEq)]
pub enum RelayInbound {
    Setup(RelaySetup),
    /// What the caller said. With `partialPrompts`, `last: false` messages carry the growing
    /// utterance so far (cumulative), and the one with `last: true` the whole of it.
    Prompt {
        text: String,
        lang: Option<String>,
        last: bool,
    },
    /// The caller cut the agent off; `heard` is what was spoken before the cut.
    Interrupt {
        heard: String,
        duration_ms: Option<u64>,
    },
    Dtmf {
        digit: String,
    },
    Error {
        description: String,
    },
    Info {
        name: String,
        value: String,
    },
    /// A `type` this version does not know (ignored by the spec's rules).
    Unknown(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    voice_prompt: Option<String>,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    last: Option<bool>,
    #[serde(default)]
    utterance_until_interrupt: Option<String>,
    #[serde(default)]
    duration_until_interrupt_ms: Option<serde_json::Value>,
    #[serde(default)]
    digit: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    value: Option<serde_json::Value>,
}

/// Parses one text frame from Twilio.
pub fn parse_inbound(text: &str) -> Result<RelayInbound, RelayError> {
    let raw: Raw =
        serde_json::from_str(text).map_err(|e| RelayError(format!("not a relay message: {e}")))?;
    Ok(match raw.kind.as_str() {
        "setup" => RelayInbound::Setup(
            serde_json::from_str(text).map_err(|e| RelayError(format!("bad setup: {e}")))?,
        ),
        "prompt" => RelayInbound::Prompt {
            text: raw.voice_prompt.unwrap_or_default(),
            lang: raw.lang,
            // Without partial prompts every prompt is final; a missing `last` means final.
            last: raw.last.unwrap_or(true),
        },
        "interrupt" => RelayInbound::Interrupt {
            heard: raw.utterance_until_interrupt.unwrap_or_default(),
            // Docs disagree on number vs string (and decimals): accept all three.
            duration_ms: raw.duration_until_interrupt_ms.and_then(|v| match v {
                serde_json::Value::Number(n) => n.as_f64().map(|f| f.max(0.0) as u64),
                serde_json::Value::String(s) => s.trim().parse::<f64>().ok().map(|f| f as u64),
                _ => None,
            }),
        },
        "dtmf" => RelayInbound::Dtmf {
            digit: raw.digit.unwrap_or_default(),
        },
        "error" => RelayInbound::Error {
            description: raw.description.unwrap_or_default(),
        },
        "info" => RelayInbound::Info {
            name: raw.name.unwrap_or_default(),
            value: match raw.value {
                Some(serde_json::Value::String(s)) => s,
                Some(other) => other.to_string(),
                None => String::new(),
            },
        },
        other => RelayInbound::Unknown(other.to_owned()),
    })
}

/// A streamed piece of the agent's reply; `last: true` closes the talk cycle.
pub fn text_message(token: &str, last: bool) -> String {
    serde_json::json!({ "type": "text", "token": token, "last": last }).to_string()
}

/// DTMF digits to play to the far end (`w` = half-second pause).
pub fn send_digits_message(digits: &str) -> String {
    serde_json::json!({ "type": "sendDigits", "digits": digits }).to_string()
}

/// Switches the session's speech language (one configured in the TwiML).
pub fn language_message(tts: Option<&str>, transcription: Option<&str>) -> String {
    let mut m = serde_json::Map::new();
    m.insert("type".into(), "language".into());
    if let Some(t) = tts {
        m.insert("ttsLanguage".into(), t.into());
    }
    if let Some(t) = transcription {
        m.insert("transcriptionLanguage".into(), t.into());
    }
    serde_json::Value::Object(m).to_string()
}

/// Ends the session; Twilio then posts `handoff_data` (a string, verbatim) to the Connect action.
pub fn end_message(handoff_data: Option<&str>) -> String {
    match handoff_data {
        Some(d) => serde_json::json!({ "type": "end", "handoffData": d }).to_string(),
        None => serde_json::json!({ "type": "end" }).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_from_the_spec_parses_with_custom_parameters() {
        let m = parse_inbound(
            r#"{"type":"setup","sessionId":"VX1","accountSid":"AC1","parentCallSid":"",
 "callSid":"CA1","from":"+14155550100","to":"+14155550199","forwardedFrom":"",
 "callType":"PSTN","callerName":"","direction":"inbound","callStatus":"RINGING",
 "customParameters":{"customerId":"cust_42"}}"#,
        )
        .unwrap();
        let RelayInbound::Setup(s) = m else {
            panic!("not a setup: {m:?}")
        };
        assert_eq!(s.call_sid, "CA1");
        assert_eq!(s.custom_parameters["customerId"], "cust_42");
    }

    #[test]
    fn minimal_setup_needs_only_session_and_call() {
        let m = parse_inbound(r#"{"type":"setup","sessionId":"VX1","callSid":"CA1"}"#).unwrap();
        assert!(matches!(m, RelayInbound::Setup(s) if s.from.is_empty()));
    }

    #[test]
    fn interrupt_duration_accepts_number_string_and_decimal() {
        for raw in ["460", "\"460\"", "460.4"] {
            let m = parse_inbound(&format!(
                r#"{{"type":"interrupt","utteranceUntilInterrupt":"Life is","durationUntilInterruptMs":{raw}}}"#
            ))
            .unwrap();
            assert_eq!(
                m,
                RelayInbound::Interrupt {
                    heard: "Life is".into(),
                    duration_ms: Some(460)
                }
            );
        }
    }

    #[test]
    fn prompt_without_last_is_final_and_partial_is_not() {
        let m = parse_inbound(r#"{"type":"prompt","voicePrompt":"hi","lang":"en-US"}"#).unwrap();
        assert!(matches!(m, RelayInbound::Prompt { last: true, .. }));
        let m = parse_inbound(r#"{"type":"prompt","voicePrompt":"hi","last":false}"#).unwrap();
        assert!(matches!(m, RelayInbound::Prompt { last: false, .. }));
    }

    #[test]
    fn unknown_types_and_info_values_are_kept() {
        assert_eq!(
            parse_inbound(r#"{"type":"future"}"#).unwrap(),
            RelayInbound::Unknown("future".into())
        );
        assert_eq!(
            parse_inbound(r#"{"type":"info","name":"agentSpeaking","value":"off","ts":1}"#)
                .unwrap(),
            RelayInbound::Info {
                name: "agentSpeaking".into(),
                value: "off".into()
            }
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_inbound("not json").is_err());
        assert!(parse_inbound(r#"{"no":"type"}"#).is_err());
    }

    #[test]
    fn outbound_messages_have_the_documented_shape() {
        let v: serde_json::Value = serde_json::from_str(&text_message("Hi", false)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type":"text","token":"Hi","last":false})
        );
        let v: serde_json::Value =
            serde_json::from_str(&end_message(Some("{\"reason\":\"transfer\"}"))).unwrap();
        assert_eq!(v["handoffData"], "{\"reason\":\"transfer\"}");
        let v: serde_json::Value = serde_json::from_str(&send_digits_message("12w#")).unwrap();
        assert_eq!(v, serde_json::json!({"type":"sendDigits","digits":"12w#"}));
        let v: serde_json::Value =
            serde_json::from_str(&language_message(Some("es-MX"), None)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type":"language","ttsLanguage":"es-MX"})
        );
    }
}
