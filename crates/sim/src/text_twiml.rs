//! Reading TwiML in the text modes (spec 3.1): `<Connect><ConversationRelay>`, `<Gather>` and
//! the verbs around them (`<Say>`, `<Play>`, `<Pause>`, `<Dial>`, `<Redirect>`, `<Hangup>`).
//!
//! Kept apart from `twiml.rs`, which reads the Media Streams subset and refuses these verbs on
//! purpose: a Media Streams call answered with `<Gather>` is a server bug there, but the normal
//! case here.

use std::time::Duration;

use crate::twiml::{parse_tree, Element};

/// `<Gather timeout>` default (spec 3.1).
const DEFAULT_GATHER_TIMEOUT: Duration = Duration::from_secs(5);

/// One verb of a text-mode TwiML document, in document order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TextVerb {
    /// Twilio speaks the text with its own TTS.
    Say(String),
    /// Audio, or DTMF digits (`digits`), played to the caller.
    Play {
        url: String,
        digits: Option<String>,
    },
    /// Silence, in seconds.
    Pause(f64),
    Hangup,
    /// Decline the call (only meaningful as the first verb).
    Reject,
    Redirect {
        url: String,
        method: String,
    },
    /// Connect the caller to another party (the party, as written, for the transcript).
    Dial {
        to: String,
        has_action: bool,
    },
    Gather(GatherVerb),
    Relay(RelayVerb),
}

/// `<Gather>` and what it plays while listening.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GatherVerb {
    /// `action`; Twilio falls back to the document URL when it is missing.
    pub action: Option<String>,
    pub method: String,
    pub speech: bool,
    pub dtmf: bool,
    /// Silence before Twilio gives up waiting for input.
    pub timeout: Duration,
    pub num_digits: Option<usize>,
    /// `finishOnKey` (default `#`, empty disables): ends input and is not reported.
    pub finish_on_key: Option<char>,
    pub action_on_empty_result: bool,
    /// `bargeIn` (default true): caller input stops the nested `<Say>`/`<Play>`.
    pub barge_in: bool,
    /// Nested `<Say>`, `<Play>` and `<Pause>`, played while listening.
    pub prompts: Vec<TextVerb>,
}

/// `<Connect [action] [method]><ConversationRelay ...>`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RelayVerb {
    pub url: String,
    pub welcome_greeting: Option<String>,
    /// `language` (default `en-US`): the `lang` of each `prompt`.
    pub language: String,
    /// `dtmfDetection`: Twilio only forwards key presses when it is `true`.
    pub dtmf_detection: bool,
    /// `interruptible`: whether caller speech cuts the agent's speech off.
    pub speech_interrupts: bool,
    /// `welcomeGreetingInterruptible`, likewise for the greeting.
    pub greeting_interruptible: bool,
    /// `debug`/`events` include `speaker-events`: Twilio sends `info agentSpeaking`.
    pub speaker_events: bool,
    /// `<Parameter>` children, sent as `setup.customParameters`.
    pub parameters: Vec<(String, String)>,
    pub action: Option<String>,
    pub method: String,
}

/// Parses a text-mode TwiML document. The error says what is wrong in one sentence.
pub(crate) fn parse(xml: &str) -> Result<Vec<TextVerb>, String> {
    let root = parse_tree(xml)?;
    if root.name != "Response" {
        return Err(format!(
            "the root element is <{}>, expected <Response>",
            root.name
        ));
    }
    root.children.iter().map(verb).collect()
}

fn method(el: &Element) -> String {
    el.attr("method").unwrap_or("POST").to_uppercase()
}

fn non_empty(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn verb(el: &Element) -> Result<TextVerb, String> {
    match el.name.as_str() {
        "Say" => Ok(TextVerb::Say(el.all_text().trim().to_string())),
        "Play" => Ok(TextVerb::Play {
            url: el.text.trim().to_string(),
            digits: el.attr("digits").map(str::to_string),
        }),
        "Pause" => {
            let seconds = match el.attr("length") {
                None => 1.0,
                Some(v) => v
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| format!("<Pause length=\"{v}\"> is not a number of seconds"))?,
            };
            Ok(TextVerb::Pause(seconds))
        }
        "Hangup" => Ok(TextVerb::Hangup),
        "Reject" => Ok(TextVerb::Reject),
        "Redirect" => {
            let url = el.text.trim().to_string();
            if url.is_empty() {
                return Err("<Redirect> has no URL".into());
            }
            Ok(TextVerb::Redirect {
                url,
                method: method(el),
            })
        }
        "Dial" => {
            let to = match el.children.first() {
                Some(party) => format!("<{}> {}", party.name, party.all_text().trim()),
                None => el.text.trim().to_string(),
            };
            if to.trim().is_empty() {
                return Err("<Dial> names nobody to call".into());
            }
            Ok(TextVerb::Dial {
                to,
                has_action: el.attr("action").is_some(),
            })
        }
        "Gather" => gather(el),
        "Connect" => connect(el),
        name => Err(format!(
            "<{name}> is not a verb the sim plays in ConversationRelay or Gather mode"
        )),
    }
}

fn gather(el: &Element) -> Result<TextVerb, String> {
    let input = el.attr("input").unwrap_or("dtmf");
    let mut speech = false;
    let mut dtmf = false;
    for word in input.split_whitespace() {
        match word {
            "speech" => speech = true,
            "dtmf" => dtmf = true,
            other => {
                return Err(format!(
                    "<Gather input=\"{input}\">: unknown input {other:?}"
                ))
            }
        }
    }
    let timeout = match el.attr("timeout") {
        None => DEFAULT_GATHER_TIMEOUT,
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| format!("<Gather timeout=\"{v}\"> is not a whole number of seconds"))?,
    };
    let num_digits = match el.attr("numDigits") {
        None => None,
        Some(v) => Some(
            v.trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("<Gather numDigits=\"{v}\"> is not a positive number"))?,
        ),
    };
    let mut prompts = Vec::new();
    for child in &el.children {
        match child.name.as_str() {
            "Say" | "Play" | "Pause" => prompts.push(verb(child)?),
            other => {
                return Err(format!(
                    "<Gather> may only nest <Say>, <Play> and <Pause>, found <{other}>"
                ))
            }
        }
    }
    Ok(TextVerb::Gather(GatherVerb {
        action: non_empty(el.attr("action")),
        method: method(el),
        speech,
        dtmf,
        timeout,
        num_digits,
        finish_on_key: match el.attr("finishOnKey") {
            None => Some('#'),
            Some(k) => k.chars().next(),
        },
        action_on_empty_result: el.attr("actionOnEmptyResult") == Some("true"),
        barge_in: el.attr("bargeIn") != Some("false"),
        prompts,
    }))
}

/// `interruptible`-style attributes: `none|dtmf|speech|any` or a boolean (spec 3.1).
fn speech_can_interrupt(value: Option<&str>) -> bool {
    !matches!(value, Some("none" | "dtmf" | "false"))
}

fn connect(el: &Element) -> Result<TextVerb, String> {
    let [child] = el.children.as_slice() else {
        return Err(format!(
            "<Connect> must hold exactly one noun, found {}",
            el.children.len()
        ));
    };
    if child.name == "Stream" {
        return Err("<Connect><Stream> is a Media Streams call: run the sim in stream mode".into());
    }
    if child.name != "ConversationRelay" {
        return Err(format!(
            "<Connect><{}> is not supported by the sim",
            child.name
        ));
    }
    let url = non_empty(child.attr("url")).ok_or("<ConversationRelay> has no url attribute")?;
    let mut parameters = Vec::new();
    for p in &child.children {
        match p.name.as_str() {
            "Parameter" => {
                let name = p.attr("name").ok_or("<Parameter> has no name attribute")?;
                parameters.push((name.to_string(), p.attr("value").unwrap_or("").to_string()));
            }
            // Extra languages only matter when the agent switches language.
            "Language" => {}
            other => {
                return Err(format!(
                "<ConversationRelay> may only contain <Language> and <Parameter>, found <{other}>"
            ))
            }
        }
    }
    let events = format!(
        "{} {}",
        child.attr("debug").unwrap_or(""),
        child.attr("events").unwrap_or("")
    );
    Ok(TextVerb::Relay(RelayVerb {
        url,
        welcome_greeting: non_empty(child.attr("welcomeGreeting")),
        language: child.attr("language").unwrap_or("en-US").to_string(),
        dtmf_detection: child.attr("dtmfDetection") == Some("true"),
        speech_interrupts: speech_can_interrupt(child.attr("interruptible")),
        greeting_interruptible: speech_can_interrupt(child.attr("welcomeGreetingInterruptible")),
        speaker_events: events.split_whitespace().any(|e| e == "speaker-events"),
        parameters,
        action: non_empty(el.attr("action")),
        method: method(el),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_conversation_relay_with_parameters_and_events() {
        let verbs = parse(
            r#"<?xml version="1.0" encoding="UTF-8"?><Response>
            <Connect action="https://a.test/twilio/stream-ended">
              <ConversationRelay url="wss://a.test/twilio/relay/ws" welcomeGreeting="Hi there."
                 language="en-GB" dtmfDetection="true" interruptible="any" debug="speaker-events">
                <Language code="es-MX" voice="x"/>
                <Parameter name="agent" value="greeter"/>
              </ConversationRelay>
            </Connect><Hangup/></Response>"#,
        )
        .unwrap();
        let TextVerb::Relay(r) = &verbs[0] else {
            panic!("{verbs:?}")
        };
        assert_eq!(r.url, "wss://a.test/twilio/relay/ws");
        assert_eq!(r.welcome_greeting.as_deref(), Some("Hi there."));
        assert_eq!(r.language, "en-GB");
        assert!(r.dtmf_detection && r.speaker_events && r.speech_interrupts);
        assert_eq!(r.parameters, vec![("agent".into(), "greeter".into())]);
        assert_eq!(
            r.action.as_deref(),
            Some("https://a.test/twilio/stream-ended")
        );
        assert_eq!(verbs[1], TextVerb::Hangup);
    }

    #[test]
    fn reads_gather_with_defaults_and_nested_say() {
        let verbs = parse(
            r#"<Response><Gather input="speech dtmf" action="/next" actionOnEmptyResult="true"
                numDigits="1"><Say voice="Polly.Joanna">Hello <emphasis>you</emphasis></Say></Gather>
                <Dial><Number>+14155550100</Number></Dial></Response>"#,
        )
        .unwrap();
        let TextVerb::Gather(g) = &verbs[0] else {
            panic!("{verbs:?}")
        };
        assert!(g.speech && g.dtmf && g.action_on_empty_result && g.barge_in);
        assert_eq!(g.timeout, Duration::from_secs(5));
        assert_eq!(g.finish_on_key, Some('#'));
        assert_eq!(g.num_digits, Some(1));
        assert_eq!(g.prompts, vec![TextVerb::Say("Hello you".into())]);
        assert_eq!(
            verbs[1],
            TextVerb::Dial {
                to: "<Number> +14155550100".into(),
                has_action: false
            }
        );
    }

    #[test]
    fn refuses_streams_and_unknown_nesting_by_name() {
        let e =
            parse("<Response><Connect><Stream url=\"wss://x\"/></Connect></Response>").unwrap_err();
        assert!(e.contains("stream mode"), "{e}");
        let e = parse("<Response><Gather><Dial>1</Dial></Gather></Response>").unwrap_err();
        assert!(e.contains("may only nest"), "{e}");
        assert!(parse("<Response><Say>")
            .unwrap_err()
            .contains("never closed"));
    }
}
