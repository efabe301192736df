//! The demo agent (agents/demo.toml) end to end: it loads, the matcher understands varied and
//! ASR-mangled phrasings, and the policy says the right thing.

use std::path::PathBuf;
use std::sync::Arc;

use brain::{AgentConfig, Brain, CallerInput, DialogueState, ReplyAction};

fn demo_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../agents/demo.toml")
}

fn demo() -> AgentConfig {
    brain::load(&demo_path()).expect("demo agent loads")
}

fn demo_brain() -> Brain {
    Brain::new(Arc::new(demo()))
}

fn say(brain: &Brain, state: &mut DialogueState, text: &str) -> brain::Reply {
    brain.respond(state, &CallerInput::Speech(text.into()))
}

#[test]
fn demo_agent_loads_with_products_and_intents() {
    let agent = demo();
    assert_eq!(agent.name, "Ava");
    assert_eq!(agent.language, "en-US");
    let products: Vec<_> = agent.products.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(products, ["Basic", "Premium", "Enterprise"]);
    let intents: Vec<_> = agent.intents.iter().map(|i| i.name.as_str()).collect();
    for name in [
        "greeting",
        "product_inquiry",
        "price_inquiry",
        "speak_to_human",
        "goodbye",
    ] {
        assert!(intents.contains(&name), "missing intent {name}");
    }
    for intent in &agent.intents {
        let n = intent.examples.len();
        assert!((6..=10).contains(&n), "{} has {n} examples", intent.name);
    }
}

/// (what the caller said, expected intent, expected product)
const PHRASINGS: &[(&str, Option<&str>, Option<&str>)] = &[
    // prices, with and without a product, including ASR-style variants
    (
        "how much is the premium plan",
        Some("price_inquiry"),
        Some("Premium"),
    ),
    (
        "how much does premium cost",
        Some("price_inquiry"),
        Some("Premium"),
    ),
    (
        "what's the price of the premium",
        Some("price_inquiry"),
        Some("Premium"),
    ),
    ("premium plan price", Some("price_inquiry"), Some("Premium")),
    (
        "How much is the preemium plan?",
        Some("price_inquiry"),
        Some("Premium"),
    ),
    (
        "what's the cost of the pro plan",
        Some("price_inquiry"),
        Some("Premium"),
    ),
    (
        "what does the basic plan cost per month",
        Some("price_inquiry"),
        Some("Basic"),
    ),
    (
        "i'd like to know the pricing for basic",
        Some("price_inquiry"),
        Some("Basic"),
    ),
    (
        "how much for enterprise",
        Some("price_inquiry"),
        Some("Enterprise"),
    ),
    (
        "what's the enterprize pricing",
        Some("price_inquiry"),
        Some("Enterprise"),
    ),
    (
        "hi um how much is premium",
        Some("price_inquiry"),
        Some("Premium"),
    ),
    ("How much is it?", Some("price_inquiry"), None),
    ("what are your prices", Some("price_inquiry"), None),
    (
        "so how much do you guys charge",
        Some("price_inquiry"),
        None,
    ),
    // plans
    ("tell me about your plans", Some("product_inquiry"), None),
    (
        "um so what kind of plans do you guys have",
        Some("product_inquiry"),
        None,
    ),
    ("what do you offer", Some("product_inquiry"), None),
    (
        "so what are the differences between your plans",
        Some("product_inquiry"),
        None,
    ),
    (
        "what's included in the business plan",
        Some("product_inquiry"),
        Some("Enterprise"),
    ),
    (
        "tell me about the starter plan",
        Some("product_inquiry"),
        Some("Basic"),
    ),
    // people
    ("i want to talk to a person", Some("speak_to_human"), None),
    (
        "can I speak to a real person please",
        Some("speak_to_human"),
        None,
    ),
    ("get me a human", Some("speak_to_human"), None),
    ("representative", Some("speak_to_human"), None),
    (
        "transfer me to someone in sales",
        Some("speak_to_human"),
        None,
    ),
    (
        "I'd like to talk to customer service",
        Some("speak_to_human"),
        None,
    ),
    // goodbyes
    ("bye bye", Some("goodbye"), None),
    ("thanks goodbye", Some("goodbye"), None),
    ("Good bye.", Some("goodbye"), None),
    ("ok thanks bye", Some("goodbye"), None),
    ("that's all for today thank you", Some("goodbye"), None),
    ("have a good day", Some("goodbye"), None),
    ("talk to you later bye", Some("goodbye"), None),
    // greetings
    ("Hello?", Some("greeting"), None),
    ("hey there", Some("greeting"), None),
    ("good morning ava", Some("greeting"), None),
    // nothing the agent knows about
    ("the weather is nice today", None, None),
    ("my cat likes tuna", None, None),
    ("uh", None, None),
    ("what time is it", None, None),
    ("can you hear me", None, None),
    ("I have a question about my bill", None, None),
    ("I'm calling about my order", None, None),
    ("do you have a dog", None, None),
];

#[test]
fn varied_phrasings_map_to_the_right_intent_and_product() {
    let agent = demo();
    let matcher = brain::IntentMatcher::from_config(&agent);
    let mut failures = Vec::new();
    for &(text, intent, product) in PHRASINGS {
        let c = matcher.classify(text);
        let got_intent = c.intent.as_ref().map(|m| m.intent.as_str());
        let got_product = c.product.map(|i| agent.products[i].name.as_str());
        if got_intent != intent || got_product != product {
            failures.push(format!(
                "{text:?}: expected {intent:?}/{product:?}, got {got_intent:?}/{got_product:?} \
                 (top score {:.2})",
                c.top_score
            ));
        }
    }
    assert!(PHRASINGS.len() >= 30);
    assert!(
        failures.is_empty(),
        "misclassified:\n{}",
        failures.join("\n")
    );
}

#[test]
fn greeting_names_agent_and_company() {
    let g = demo_brain().greeting();
    assert!(g.contains("Ava") && g.contains("Brightline"), "{g}");
}

#[test]
fn price_of_a_named_product_says_only_that_price() {
    let brain = demo_brain();
    let r = say(
        &brain,
        &mut DialogueState::default(),
        "how much does premium cost",
    );
    assert_eq!(r.intent.as_deref(), Some("price_inquiry"));
    assert!(r.text.contains("forty-nine dollars a month"), "{}", r.text);
    assert!(!r.text.contains("nineteen"), "{}", r.text);
    assert_eq!(r.action, ReplyAction::None);
}

#[test]
fn price_without_a_product_lists_every_price() {
    let brain = demo_brain();
    let r = say(&brain, &mut DialogueState::default(), "how much is it");
    for price in [
        "nineteen dollars",
        "forty-nine dollars",
        "one hundred ninety-nine dollars",
    ] {
        assert!(r.text.contains(price), "{price} missing from {}", r.text);
    }
}

#[test]
fn plan_overview_is_long_enough_to_interrupt() {
    let brain = demo_brain();
    let r = say(
        &brain,
        &mut DialogueState::default(),
        "tell me about your plans",
    );
    assert_eq!(r.intent.as_deref(), Some("product_inquiry"));
    let sentences = r.text.matches(['.', '?', '!']).count();
    assert!(
        (4..=6).contains(&sentences),
        "{sentences} sentences: {}",
        r.text
    );
    assert!(
        r.text.contains("Basic, Premium and Enterprise"),
        "{}",
        r.text
    );
}

#[test]
fn asking_about_one_plan_describes_it() {
    let brain = demo_brain();
    let r = say(
        &brain,
        &mut DialogueState::default(),
        "what's included in the enterprise plan",
    );
    assert!(
        r.text.starts_with("Enterprise is one hundred ninety-nine"),
        "{}",
        r.text
    );
    assert!(r.text.contains("single sign-on"), "{}", r.text);
}

#[test]
fn goodbye_says_closing_line_and_ends_call() {
    let brain = demo_brain();
    let r = say(&brain, &mut DialogueState::default(), "thanks goodbye");
    assert_eq!(r.text, "Thanks for calling Brightline. Goodbye!");
    assert_eq!(r.action, ReplyAction::EndCall);
    assert_eq!(r.intent.as_deref(), Some("goodbye"));
}

#[test]
fn asking_for_a_person_hands_off() {
    let brain = demo_brain();
    let r = say(
        &brain,
        &mut DialogueState::default(),
        "i want to talk to a person",
    );
    assert_eq!(r.action, ReplyAction::Handoff);
    assert!(r.text.contains("connecting you"), "{}", r.text);
}

#[test]
fn two_misunderstandings_offer_a_person_and_yes_hands_off() {
    let brain = demo_brain();
    let mut state = DialogueState::default();
    let first = say(&brain, &mut state, "the weather is nice today");
    assert_eq!(
        first.text,
        brain.agent().fallback.render(brain.agent(), None)
    );
    assert_eq!(first.intent, None);
    assert_eq!(state.consecutive_fallbacks(), 1);

    let second = say(&brain, &mut state, "my cat likes tuna");
    assert!(
        second.text.contains("connect you with a person"),
        "{}",
        second.text
    );
    assert!(state.handoff_offered());
    assert_eq!(second.action, ReplyAction::None);

    let yes = say(&brain, &mut state, "yes please");
    assert_eq!(yes.action, ReplyAction::Handoff);
    assert!(!state.handoff_offered());
}

#[test]
fn declining_the_offer_resets_the_fallback_count() {
    let brain = demo_brain();
    let mut state = DialogueState::default();
    say(&brain, &mut state, "blah blah");
    say(&brain, &mut state, "purple elephants");
    let no = say(&brain, &mut state, "no thanks");
    assert_eq!(no.action, ReplyAction::None);
    assert_eq!(no.text, "No problem. What else can I help you with?");
    assert_eq!(state.consecutive_fallbacks(), 0);
    // The next miss is an ordinary fallback again, not another offer.
    let miss = say(&brain, &mut state, "purple elephants");
    assert_eq!(
        miss.text,
        brain.agent().fallback.render(brain.agent(), None)
    );
}

#[test]
fn understood_request_after_an_offer_is_answered_normally() {
    let brain = demo_brain();
    let mut state = DialogueState::default();
    say(&brain, &mut state, "blah blah");
    say(&brain, &mut state, "purple elephants");
    let r = say(&brain, &mut state, "how much is basic");
    assert!(r.text.contains("nineteen dollars"), "{}", r.text);
    assert!(!state.handoff_offered());
    assert_eq!(state.consecutive_fallbacks(), 0);
}

#[test]
fn bare_yes_without_an_offer_does_not_hand_off() {
    let brain = demo_brain();
    let r = say(&brain, &mut DialogueState::default(), "yes");
    assert_eq!(r.action, ReplyAction::None);
}

#[test]
fn repeat_request_repeats_the_last_reply() {
    let brain = demo_brain();
    let mut state = DialogueState::default();
    let first = say(&brain, &mut state, "how much is enterprise");
    let again = say(&brain, &mut state, "sorry, can you repeat that?");
    assert_eq!(again.text, first.text);
    assert_eq!(again.action, ReplyAction::None);
    // With nothing said yet, "repeat" repeats the greeting.
    let fresh = say(&brain, &mut DialogueState::default(), "say that again");
    assert_eq!(fresh.text, brain.greeting());
}

#[test]
fn keypad_zero_hands_off_and_other_keys_are_acknowledged() {
    let brain = demo_brain();
    let mut state = DialogueState::default();
    let five = brain.respond(&mut state, &CallerInput::Dtmf('5'));
    assert_eq!(five.text, "You pressed five.");
    assert_eq!(five.action, ReplyAction::None);
    let zero = brain.respond(&mut state, &CallerInput::Dtmf('0'));
    assert_eq!(zero.action, ReplyAction::Handoff);
    assert_eq!(state.turns(), 2);
    assert_eq!(state.last_reply(), Some(zero.text.as_str()));
}
