//! Rebuilds every document of `tests/vectors/twilio_twiml.json` with our builder and compares
//! it semantically (element names and order, attribute sets, trimmed text) with the official
//! library's output and with the vector's JSON tree.

use std::collections::BTreeMap;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde::Deserialize;
use telephony::twiml::{
    Conference, Connect, ConversationRelay, Dial, Gather, Hangup, Language, Pause, Play, Redirect,
    Reject, Response, Say, Start, Stop, Stream,
};

const VECTORS: &str = include_str!("vectors/twilio_twiml.json");

#[derive(Deserialize)]
struct VectorFile {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    twiml: String,
    tree: TreeNode,
}

#[derive(Deserialize)]
struct TreeNode {
    tag: String,
    attrs: BTreeMap<String, String>,
    #[serde(default)]
    text: Option<String>,
    children: Vec<TreeNode>,
}

/// The comparison model: what is significant in a TwiML document.
#[derive(Debug, PartialEq, Eq)]
struct Node {
    tag: String,
    attrs: BTreeMap<String, String>,
    text: String,
    children: Vec<Node>,
}

impl From<&TreeNode> for Node {
    fn from(tree: &TreeNode) -> Self {
        Node {
            tag: tree.tag.clone(),
            attrs: tree.attrs.clone(),
            text: tree.text.as_deref().unwrap_or("").trim().to_owned(),
            children: tree.children.iter().map(Node::from).collect(),
        }
    }
}

fn open(start: &BytesStart<'_>) -> Node {
    let attrs = start
        .attributes()
        .map(|attr| {
            let attr = attr.expect("well-formed attribute");
            (
                String::from_utf8(attr.key.as_ref().to_vec()).expect("utf-8 name"),
                attr.unescape_value().expect("valid escapes").into_owned(),
            )
        })
        .collect();
    Node {
        tag: String::from_utf8(start.name().as_ref().to_vec()).expect("utf-8 tag"),
        attrs,
        text: String::new(),
        children: Vec::new(),
    }
}

/// Parses an XML document into the comparison model (text trimmed, declaration ignored).
fn parse(xml: &str) -> Node {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Node> = Vec::new();
    let mut root = None;
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(start) => stack.push(open(&start)),
            Event::Empty(start) => {
                let node = open(&start);
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::End(_) => {
                let mut node = stack.pop().expect("balanced tags");
                node.text = node.text.trim().to_owned();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::Text(text) => {
                if let Some(current) = stack.last_mut() {
                    current
                        .text
                        .push_str(&text.unescape().expect("valid escapes"));
                }
            }
            Event::CData(data) => {
                if let Some(current) = stack.last_mut() {
                    current
                        .text
                        .push_str(std::str::from_utf8(&data).expect("utf-8"));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(stack.is_empty(), "unclosed elements");
    root.expect("a root element")
}

/// Our builder's version of each vector document, keyed by case name.
fn build(name: &str) -> Option<Response> {
    let response = match name {
        "connect_stream_with_parameters" => Response::new().push(
            Connect::new()
                .action("https://agent.example.com/twilio/after-stream")
                .method("POST")
                .stream(
                    Stream::new("wss://agent.example.com/media")
                        .name("agent-stream")
                        .status_callback("https://agent.example.com/twilio/stream-status")
                        .status_callback_method("POST")
                        .parameter("tenant", "acme")
                        .parameter("callerLang", "en-US")
                        .parameter("note", "Tom & Jerry's \"quote\" <x>"),
                ),
        ),
        "gather_speech_nested_say" => Response::new()
            .push(
                Gather::new()
                    .input("speech dtmf")
                    .action("https://agent.example.com/twilio/gather?turn=1")
                    .method("POST")
                    .timeout(5)
                    .speech_timeout("auto")
                    .language("en-US")
                    .hints("appointment, reschedule, cancel, billing")
                    .action_on_empty_result(true)
                    .num_digits(1)
                    .speech_model("phone_call")
                    .profanity_filter(false)
                    .say(
                        Say::new(
                            "Hi! You can say things like reschedule my appointment, \
                             or press 1 for billing.",
                        )
                        .voice("Polly.Joanna-Neural")
                        .language("en-US"),
                    ),
            )
            .push(Say::new("Sorry, I didn't catch that.").voice("Polly.Joanna-Neural"))
            .push(Redirect::new("https://agent.example.com/twilio/voice?retry=1").method("POST")),
        "say_then_hangup" => Response::new()
            .push(
                Say::new("Thanks for calling Smith & Sons. Goodbye!")
                    .voice("Polly.Matthew-Neural")
                    .language("en-US"),
            )
            .push(Pause::new().length(1))
            .push(Hangup::new()),
        _ => return None,
    };
    Some(response)
}

#[test]
fn every_twiml_vector_is_reproduced_by_the_builder() {
    let file: VectorFile = serde_json::from_str(VECTORS).expect("vector file parses");
    assert!(!file.cases.is_empty());
    for case in &file.cases {
        let ours = build(&case.name)
            .unwrap_or_else(|| panic!("no builder for vector `{}`", case.name))
            .to_xml();
        assert!(
            ours.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><Response"#),
            "{ours}"
        );
        let ours = parse(&ours);
        assert_eq!(
            ours,
            parse(&case.twiml),
            "case `{}` vs library XML",
            case.name
        );
        assert_eq!(
            ours,
            Node::from(&case.tree),
            "case `{}` vs JSON tree",
            case.name
        );
    }
}

#[test]
fn spec_conversation_relay_example_has_language_and_parameter_children() {
    let xml = Response::new()
        .push(
            Connect::new()
                .action("https://agent.example.com/twilio/relay-ended")
                .method("POST")
                .conversation_relay(
                    ConversationRelay::new("wss://agent.example.com/relay")
                        .language("en-US")
                        .welcome_greeting("Hi! How can I help?")
                        .tts_provider("ElevenLabs")
                        .voice("UgBBYS2sOqTuMpoF3BR0")
                        .transcription_provider("Deepgram")
                        .speech_model("nova-3-general")
                        .interruptible("any")
                        .dtmf_detection(true)
                        .language_option(
                            Language::new("es-MX")
                                .tts_provider("Google")
                                .voice("es-US-Neural2-A")
                                .transcription_provider("Google")
                                .speech_model("telephony"),
                        )
                        .parameter("customerId", "cust_42"),
                ),
        )
        .to_xml();
    let expected = r#"<Response>
  <Connect action="https://agent.example.com/twilio/relay-ended" method="POST">
    <ConversationRelay url="wss://agent.example.com/relay" language="en-US"
        welcomeGreeting="Hi! How can I help?" ttsProvider="ElevenLabs"
        voice="UgBBYS2sOqTuMpoF3BR0" transcriptionProvider="Deepgram"
        speechModel="nova-3-general" interruptible="any" dtmfDetection="true">
      <Language code="es-MX" ttsProvider="Google" voice="es-US-Neural2-A"
                transcriptionProvider="Google" speechModel="telephony"/>
      <Parameter name="customerId" value="cust_42"/>
    </ConversationRelay>
  </Connect>
</Response>"#;
    assert_eq!(parse(&xml), parse(expected));
}

#[test]
fn spec_warm_transfer_conference_example() {
    let xml = Response::new()
        .push(
            Dial::new()
                .action("/twilio/dial-done")
                .caller_id("+14155550199")
                .conference(
                    Conference::new("transfer-CA123")
                        .start_conference_on_enter(true)
                        .end_conference_on_exit(true)
                        .beep("false")
                        .wait_url("")
                        .status_callback("/twilio/conf-status")
                        .status_callback_event("start end join leave"),
                ),
        )
        .to_xml();
    let expected = r#"<Response><Dial action="/twilio/dial-done" callerId="+14155550199">
  <Conference startConferenceOnEnter="true" endConferenceOnExit="true" beep="false"
      waitUrl="" statusCallback="/twilio/conf-status"
      statusCallbackEvent="start end join leave">transfer-CA123</Conference>
</Dial></Response>"#;
    assert_eq!(parse(&xml), parse(expected));
}

#[test]
fn spec_fork_stream_while_gathering_example() {
    let xml = Response::new()
        .push(
            Start::new().stream(Stream::new("wss://agent.example.com/listen").track("both_tracks")),
        )
        .push(
            Gather::new()
                .input("speech")
                .action("/twilio/gather")
                .say(Say::new("Go ahead.")),
        )
        .to_xml();
    let expected = r#"<Response>
  <Start><Stream url="wss://agent.example.com/listen" track="both_tracks"/></Start>
  <Gather input="speech" action="/twilio/gather"><Say>Go ahead.</Say></Gather>
</Response>"#;
    assert_eq!(parse(&xml), parse(expected));
}

#[test]
fn stop_stream_reject_and_play_digits_render_as_documented() {
    let xml = Response::new()
        .push(Stop::new().stream(Stream::named("fork-1")))
        .push(Play::digits("1w2#"))
        .push(Reject::new().reason("busy"))
        .to_xml();
    let expected = r#"<Response><Stop><Stream name="fork-1"/></Stop><Play digits="1w2#"/><Reject reason="busy"/></Response>"#;
    assert_eq!(parse(&xml), parse(expected));
}
