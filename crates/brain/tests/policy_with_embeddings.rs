//! The dialogue policy with the real sentence-embedding model and the example agents: the
//! knowledge base answers questions, and call-ending intents need real certainty.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use brain::embedding::{Embedder, MiniLmEmbedder};
use brain::model_install::install_embedding_model;
use brain::{Brain, BrainResources, CallerInput, Decision, DialogueState, ReplyAction};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn embedder() -> Arc<dyn Embedder> {
    static E: OnceLock<Arc<MiniLmEmbedder>> = OnceLock::new();
    E.get_or_init(|| {
        let models = std::env::var_os("CALLPILOT_MODELS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("models"));
        let dir = install_embedding_model(&models)
            .expect("embedding model (run `callpilot models install`)");
        Arc::new(MiniLmEmbedder::load(&dir).expect("load embedding model"))
    })
    .clone()
}

fn brain(agent: &str) -> Brain {
    let agent = brain::load(&workspace().join("agents").join(agent)).expect("example agent loads");
    let resources = BrainResources {
        embedder: Some(embedder()),
        ..BrainResources::default()
    };
    Brain::with_resources(Arc::new(agent), resources).expect("brain")
}

fn reply(b: &Brain, state: &mut DialogueState, text: &str) -> brain::Reply {
    match b.decide(state, &CallerInput::Speech(text.into())) {
        Decision::Reply(r) => r,
        Decision::AskLlm { .. } => panic!("no LLM is configured, yet the brain asked one"),
    }
}

#[test]
fn support_agent_answers_faq_questions_from_its_knowledge_base() {
    let b = brain("support.toml");
    assert!(
        b.knowledge().is_some(),
        "support agent has a knowledge base"
    );
    let cases = [
        ("how do I cancel my subscription", "cancel"),
        ("what are your opening hours", "monday to friday"),
        ("how do I add another staff member", "twenty staff"),
        ("does it sync with google calendar", "google calendar"),
        ("how can I export my bookings", "export"),
    ];
    for (question, expected) in cases {
        let mut state = DialogueState::default();
        let r = reply(&b, &mut state, question);
        assert_eq!(
            r.intent.as_deref(),
            Some("knowledge"),
            "{question:?} -> {r:?}"
        );
        assert!(
            r.text.to_lowercase().contains(expected),
            "{question:?} -> {:?}",
            r.text
        );
        assert!(!r.do_not_call);
    }
}

#[test]
fn billing_problems_are_transferred_before_the_knowledge_base_is_asked() {
    let b = brain("support.toml");
    let mut state = DialogueState::default();
    let r = reply(&b, &mut state, "I was charged twice this month");
    assert_eq!(r.intent.as_deref(), Some("billing_problem"), "{r:?}");
    assert_eq!(r.action, ReplyAction::Handoff);
}

#[test]
fn cancelling_a_subscription_is_not_a_do_not_call_request() {
    let b = brain("support.toml");
    let mut state = DialogueState::default();
    let r = reply(&b, &mut state, "how do I cancel my subscription");
    assert!(!r.do_not_call, "{r:?}");
    assert_eq!(r.action, ReplyAction::None);
}

#[test]
fn do_not_call_requests_are_recognised_and_end_the_call() {
    let b = brain("sales.toml");
    for text in [
        "please stop calling me",
        "take me off your list",
        "don't ever call this number again",
    ] {
        let mut state = DialogueState::default();
        let r = reply(&b, &mut state, text);
        assert!(r.do_not_call, "{text:?} -> {r:?}");
        assert_eq!(r.action, ReplyAction::EndCall);
        assert_eq!(r.outcome.as_deref(), Some("do_not_call"));
    }
}

#[test]
fn sales_intents_record_their_outcomes() {
    let b = brain("sales.toml");
    let mut state = DialogueState::default();
    let r = reply(&b, &mut state, "sure, let's book the demo for thursday");
    assert_eq!(r.outcome.as_deref(), Some("demo_booked"), "{r:?}");
    let r = reply(&b, &mut state, "I'm driving right now, call me later");
    assert_eq!(r.outcome.as_deref(), Some("call_back"), "{r:?}");
    assert_eq!(r.action, ReplyAction::EndCall);
}
