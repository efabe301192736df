//! Policy rules that protect callers, checked with the lexical matcher (no models needed).

use std::sync::Arc;

use brain::{AgentConfig, Brain, CallerInput, DialogueState, ReplyAction};

const BASE: &str = r#"
name = "Max"
greeting = "Hi"
fallback = "Sorry?"
closing = "Bye."
handoff = "Connecting you to a person now."

[[intents]]
name = "hours"
examples = ["when are you open", "opening hours"]
reply = "Nine to five."
"#;

fn brain(extra: &str) -> Brain {
    let agent = AgentConfig::from_toml_str(&format!("{BASE}{extra}"), "test.toml").unwrap();
    Brain::new(Arc::new(agent))
}

#[test]
fn without_anyone_to_hand_off_to_the_agent_never_promises_a_person() {
    let b = brain("");
    let mut state = DialogueState::default();
    let r = b.respond(
        &mut state,
        &CallerInput::Speech("I want to speak to a real person".into()),
    );
    assert_eq!(r.action, ReplyAction::None, "{r:?}");
    assert!(r.text.contains("no one available"), "{r:?}");
    let r = b.respond(&mut state, &CallerInput::Dtmf('0'));
    assert_eq!(r.action, ReplyAction::None, "{r:?}");
    // Misunderstandings are not answered with an offer nobody can keep.
    let mut state = DialogueState::default();
    for _ in 0..3 {
        let r = b.respond(
            &mut state,
            &CallerInput::Speech("blorp fnargle wibble".into()),
        );
        assert_eq!(r.text, "Sorry?", "{r:?}");
    }
}

#[test]
fn with_a_handoff_number_the_caller_is_handed_off() {
    let toml = format!("handoff_number = \"+14155550100\"\n{BASE}");
    let b = Brain::new(Arc::new(
        AgentConfig::from_toml_str(&toml, "test.toml").unwrap(),
    ));
    let mut state = DialogueState::default();
    let r = b.respond(&mut state, &CallerInput::Dtmf('0'));
    assert_eq!(r.action, ReplyAction::Handoff);
    assert_eq!(r.text, "Connecting you to a person now.");
}

#[test]
fn an_agent_defined_do_not_call_intent_still_records_the_request() {
    let b = brain(
        r#"
[[intents]]
name = "do_not_call"
examples = ["stop calling me", "take me off your list", "never call me again"]
reply = "Understood, you won't hear from us again. Goodbye."
action = "end_call"
"#,
    );
    let mut state = DialogueState::default();
    let r = b.respond(
        &mut state,
        &CallerInput::Speech("please stop calling me".into()),
    );
    assert_eq!(r.intent.as_deref(), Some("do_not_call"), "{r:?}");
    assert!(r.do_not_call, "{r:?}");
    assert_eq!(r.outcome.as_deref(), Some("do_not_call"));
    assert_eq!(r.action, ReplyAction::EndCall);
}

#[test]
fn an_interrupted_reply_is_remembered_as_heard() {
    let b = brain("");
    let mut state = DialogueState::default();
    b.respond(&mut state, &CallerInput::Speech("when are you open".into()));
    state.agent_was_interrupted("Nine");
    assert_eq!(state.last_reply(), Some("Nine"));
    state.llm_turn_interrupted("Let me see.");
    assert_eq!(state.last_reply(), Some("Let me see."));
    let last = state.history().last().unwrap();
    assert_eq!(last.content.as_deref(), Some("Let me see."));
}
