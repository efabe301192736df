//! Reading the server's TwiML (spec section 3), the verbs a Media Streams agent uses.
//!
//! The sim is a caller on a Media Streams call, so it plays `<Connect><Stream>` and the simple
//! verbs that typically surround it (`<Say>`, `<Play>`, `<Pause>`, `<Redirect>`, `<Hangup>`).
//! Anything else is refused by name rather than skipped: silently ignoring a `<Gather>` would
//! make a test pass that Twilio would run very differently.

use quick_xml::events::Event;
use quick_xml::Reader;

/// One verb of a TwiML document, in document order.
#[derive(Debug, Clone, PartialEq)]
pub enum Verb {
    /// Text Twilio would speak with its own TTS.
    Say { text: String },
    /// Audio (or DTMF digits) Twilio would play.
    Play { url: String, digits: Option<String> },
    /// Silence, in seconds.
    Pause { seconds: f64 },
    /// End the call.
    Hangup,
    /// Fetch new TwiML from `url` and continue there.
    Redirect { url: String, method: String },
    /// A bidirectional Media Stream; the rest of the document waits until it ends.
    Stream(StreamVerb),
}

/// `<Connect [action] [method]><Stream url name><Parameter .../></Stream></Connect>`.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamVerb {
    /// The `url` attribute as written (normally `wss://...`, never with a query).
    pub url: String,
    /// Optional stream name.
    pub name: Option<String>,
    /// `<Parameter name value>` children, in order (sent as `start.customParameters`).
    pub parameters: Vec<(String, String)>,
    /// `<Connect action>`: requested when the stream ends, its TwiML continues the call.
    pub action: Option<String>,
    /// `<Connect method>`, default `POST`.
    pub method: String,
}

/// Verbs Twilio has that the sim does not play: refused with a clear message.
const UNSUPPORTED: &[&str] = &[
    "Gather", "Dial", "Start", "Stop", "Reject", "Record", "Enqueue", "Leave", "Refer", "Pay",
    "Prompt", "Sms", "Message", "Echo", "Queue",
];

/// Parses a TwiML document into its verbs. The error says what is wrong in one sentence.
pub fn parse(xml: &str) -> Result<Vec<Verb>, String> {
    let root = parse_tree(xml)?;
    if root.name != "Response" {
        return Err(format!(
            "the root element is <{}>, expected <Response>",
            root.name
        ));
    }
    root.children.iter().map(verb).collect()
}

fn verb(el: &Element) -> Result<Verb, String> {
    match el.name.as_str() {
        "Say" => Ok(Verb::Say {
            text: el.all_text().trim().to_string(),
        }),
        "Play" => Ok(Verb::Play {
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
            Ok(Verb::Pause { seconds })
        }
        "Hangup" => Ok(Verb::Hangup),
        "Redirect" => {
            let url = el.text.trim().to_string();
            if url.is_empty() {
                return Err("<Redirect> has no URL".into());
            }
            Ok(Verb::Redirect {
                url,
                method: el.attr("method").unwrap_or("POST").to_uppercase(),
            })
        }
        "Connect" => connect(el),
        name if UNSUPPORTED.contains(&name) => Err(format!(
            "<{name}> is a Twilio verb the sim does not play (it plays <Connect><Stream> calls)"
        )),
        name => Err(format!("<{name}> is not a TwiML verb")),
    }
}

fn connect(el: &Element) -> Result<Verb, String> {
    let [child] = el.children.as_slice() else {
        return Err(format!(
            "<Connect> must hold exactly one noun, found {}",
            el.children.len()
        ));
    };
    match child.name.as_str() {
        "Stream" => {}
        "ConversationRelay" => {
            return Err(
                "<Connect><ConversationRelay> is not supported by the sim (Media Streams only)"
                    .into(),
            )
        }
        other => return Err(format!("<Connect><{other}> is not supported by the sim")),
    }
    let url = child
        .attr("url")
        .ok_or("<Stream> has no url attribute")?
        .trim()
        .to_string();
    if url.is_empty() {
        return Err("<Stream url> is empty".into());
    }
    let mut parameters = Vec::new();
    for p in &child.children {
        if p.name != "Parameter" {
            return Err(format!(
                "<Stream> may only contain <Parameter>, found <{}>",
                p.name
            ));
        }
        let name = p.attr("name").ok_or("<Parameter> has no name attribute")?;
        parameters.push((name.to_string(), p.attr("value").unwrap_or("").to_string()));
    }
    Ok(Verb::Stream(StreamVerb {
        url,
        name: child.attr("name").map(str::to_string),
        parameters,
        action: el
            .attr("action")
            .map(str::to_string)
            .filter(|a| !a.trim().is_empty()),
        method: el.attr("method").unwrap_or("POST").to_uppercase(),
    }))
}

/// A generic XML element; TwiML is small, so a tree is the simplest thing to interpret.
#[derive(Debug, Default)]
pub(crate) struct Element {
    pub(crate) name: String,
    pub(crate) attrs: Vec<(String, String)>,
    pub(crate) children: Vec<Element>,
    /// Direct text content (not that of children).
    pub(crate) text: String,
}

impl Element {
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Text including that of children (`<Say>` may hold SSML such as `<emphasis>`).
    pub(crate) fn all_text(&self) -> String {
        let mut out = self.text.clone();
        for c in &self.children {
            out.push_str(&c.all_text());
        }
        out
    }
}

fn start_element(e: &quick_xml::events::BytesStart) -> Result<Element, String> {
    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| format!("bad attribute in <{name}>: {err}"))?;
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let value = a
            .unescape_value()
            .map_err(|err| format!("bad value of {key} in <{name}>: {err}"))?;
        attrs.push((key, value.into_owned()));
    }
    Ok(Element {
        name,
        attrs,
        ..Element::default()
    })
}

/// Parses any XML document into an element tree (the text modes read verbs this module refuses).
pub(crate) fn parse_tree(xml: &str) -> Result<Element, String> {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader.read_event().map_err(|e| {
            format!(
                "not well-formed XML at byte {}: {e}",
                reader.buffer_position()
            )
        })?;
        let finished = match event {
            Event::Start(e) => {
                stack.push(start_element(&e)?);
                None
            }
            Event::Empty(e) => Some(start_element(&e)?),
            Event::End(_) => stack.pop(),
            Event::Text(t) => {
                let text = t.unescape().map_err(|e| format!("bad text: {e}"))?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err("text outside the root element".into()),
                }
                None
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&t));
                }
                None
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => None,
        };
        if let Some(el) = finished {
            match stack.last_mut() {
                Some(parent) => parent.children.push(el),
                None if root.is_none() => root = Some(el),
                None => return Err("more than one root element".into()),
            }
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!("<{}> is never closed", open.name));
    }
    root.ok_or_else(|| "the document is empty".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_connect_stream_with_parameters_and_following_verbs() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Connect action="https://agent.example.com/twilio/after-stream">
    <Stream url="wss://agent.example.com/media" name="agent-stream">
      <Parameter name="tenant" value="acme &amp; co"/>
      <Parameter name="sessionToken" value="opaque"/>
    </Stream>
  </Connect>
  <Say voice="alice">Goodbye!</Say>
  <Pause length="2"/>
  <Hangup />
</Response>"#;
        let verbs = parse(xml).unwrap();
        assert_eq!(
            verbs,
            vec![
                Verb::Stream(StreamVerb {
                    url: "wss://agent.example.com/media".into(),
                    name: Some("agent-stream".into()),
                    parameters: vec![
                        ("tenant".into(), "acme & co".into()),
                        ("sessionToken".into(), "opaque".into())
                    ],
                    action: Some("https://agent.example.com/twilio/after-stream".into()),
                    method: "POST".into(),
                }),
                Verb::Say {
                    text: "Goodbye!".into()
                },
                Verb::Pause { seconds: 2.0 },
                Verb::Hangup,
            ]
        );
    }

    #[test]
    fn refuses_verbs_the_sim_cannot_play_by_name() {
        let e = parse("<Response><Gather input=\"speech\"><Say>Hi</Say></Gather></Response>")
            .unwrap_err();
        assert!(
            e.contains("<Gather> is a Twilio verb the sim does not play"),
            "{e}"
        );
        let e =
            parse("<Response><Connect><ConversationRelay url=\"wss://x/r\"/></Connect></Response>")
                .unwrap_err();
        assert!(e.contains("ConversationRelay"), "{e}");
        assert!(parse("<Response><Bogus/></Response>")
            .unwrap_err()
            .contains("not a TwiML verb"));
    }

    #[test]
    fn reports_malformed_documents() {
        assert!(parse("<Response><Connect>")
            .unwrap_err()
            .contains("never closed"));
        assert!(parse("<Reply/>")
            .unwrap_err()
            .contains("expected <Response>"));
        assert!(parse("").unwrap_err().contains("empty"));
        assert!(parse("<Response><Connect><Stream/></Connect></Response>")
            .unwrap_err()
            .contains("no url"));
    }
}
