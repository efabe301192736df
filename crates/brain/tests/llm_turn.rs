//! The brain with a real language-model client: `Brain::decide` choosing between instant replies
//! and the model, and `run_llm_turn` streaming, calling tools and recovering from failures
//! against a fake OpenAI-compatible server speaking real SSE bytes.

#[path = "support/fake_openai.rs"]
mod fake_openai;

use std::sync::Arc;
use std::time::Duration;

use brain::llm::openai::{OpenAiClient, OpenAiConfig};
use brain::llm::{ChatMessage, ChatRequest, Role, ToolCall};
use brain::llm_turn::{run_llm_turn, ToolEffect, TurnEvent, MAX_TOOL_ROUNDS};
use brain::{
    AgentConfig, Brain, BrainResources, CallerInput, Contact, Decision, DialogueState, ReplyAction,
};
use fake_openai::{chunk, done, finish, text, FakeServer, Part, Reply};
use serde_json::{json, Value};

/// Test agent: a personalised greeting, a product, two departments, one instant intent and one
/// HTTP tool served by `tool_origin`.
fn agent_toml(tool_origin: &str) -> String {
    format!(
        r#"
name = "Ava"
persona = "Ava is the cheerful phone assistant of Brightline."
greeting = "Hi {{contact.first_name|there}}, thanks for calling Brightline."
fallback = "Sorry, I didn't catch that."
closing = "Thanks for calling Brightline. Goodbye!"
handoff = "Connecting you with a colleague now."

[[products]]
name = "Premium"
price = "forty-nine dollars a month"

[[departments]]
name = "billing"
number = "+14155550123"
description = "invoices and refunds"

[[departments]]
name = "support"
number = "+14155550199"

[[intents]]
name = "hours"
examples = ["when are you open", "what are your opening hours", "what time do you open"]
reply = "We're open nine to five, Monday to Friday."

[[tools]]
name = "order_status"
description = "Look up the delivery status of an order"
url = "{tool_origin}/hooks/order-status"
timeout_ms = 2000
[tools.parameters]
type = "object"
required = ["order_id"]
[tools.parameters.properties.order_id]
type = "string"
"#
    )
}

fn agent(tool_origin: &str) -> Arc<AgentConfig> {
    Arc::new(AgentConfig::from_toml_str(&agent_toml(tool_origin), "test-agent.toml").unwrap())
}

fn client_config(server: &FakeServer) -> OpenAiConfig {
    let mut config = OpenAiConfig::new(&server.base_url, "test-model");
    config.timeout_first_token = Duration::from_secs(2);
    config.stall_timeout = Duration::from_millis(300);
    config.retry_base_delay = Duration::from_millis(10);
    config
}

fn brain_with(server: &FakeServer, config: OpenAiConfig) -> Arc<Brain> {
    let llm = OpenAiClient::new(config).expect("valid client config");
    let resources = BrainResources {
        llm: Some(Arc::new(llm)),
        ..BrainResources::default()
    };
    Arc::new(Brain::with_resources(agent(&server.origin), resources).expect("brain builds"))
}

fn maria() -> Contact {
    Contact {
        phone: "+15551230001".into(),
        first_name: Some("Maria".into()),
        last_name: Some("Lopez".into()),
        company: Some("Lopez Bakery".into()),
        status: Some("Hot".into()),
        ..Contact::default()
    }
}

/// The request `decide` builds for `question` (which must not match an intent).
fn llm_request(brain: &Brain, state: &mut DialogueState, question: &str) -> ChatRequest {
    match brain.decide(state, &CallerInput::Speech(question.into())) {
        Decision::AskLlm { request, .. } => request,
        Decision::Reply(r) => panic!("{question:?} should go to the model, got {r:?}"),
    }
}

/// Runs one turn to its end and returns every event it sent.
async fn run_turn(
    brain: Arc<Brain>,
    request: ChatRequest,
    contact: Option<Contact>,
) -> Vec<TurnEvent> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::time::timeout(
        Duration::from_secs(10),
        run_llm_turn(brain, request, contact, tx),
    )
    .await
    .expect("the turn ends within 10 s");
    let mut events = Vec::new();
    while let Some(e) = rx.recv().await {
        events.push(e);
    }
    events
}

/// Everything said during a turn, joined.
fn spoken(events: &[TurnEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            TurnEvent::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

fn effects(events: &[TurnEvent]) -> Vec<ToolEffect> {
    events
        .iter()
        .filter_map(|e| match e {
            TurnEvent::Effect(x) => Some(x.clone()),
            _ => None,
        })
        .collect()
}

/// The final `Done` event (asserting it is last and unique).
fn done_event(events: &[TurnEvent]) -> (&[ChatMessage], bool) {
    let dones = events
        .iter()
        .filter(|e| matches!(e, TurnEvent::Done { .. }))
        .count();
    assert_eq!(dones, 1, "exactly one Done: {events:?}");
    match events.last() {
        Some(TurnEvent::Done { messages, failed }) => (messages, *failed),
        other => panic!("the turn must end with Done, got {other:?}"),
    }
}

/// A streamed answer with these text pieces.
fn answer(pieces: &[&str]) -> Reply {
    let mut events = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    events.extend(pieces.iter().map(|p| text(p)));
    events.push(finish("stop"));
    events.push(done());
    Reply::events(&events)
}

/// A streamed answer that only calls `name` with `arguments`.
fn tool_call(id: &str, name: &str, arguments: &str) -> Reply {
    Reply::events(&[
        chunk(
            json!({"role": "assistant", "content": null, "tool_calls": [{"index": 0,
                "id": id, "type": "function",
                "function": {"name": name, "arguments": arguments}}]}),
            None,
        ),
        finish("tool_calls"),
        done(),
    ])
}

/// The `tool` messages of a recorded chat request, as (tool_call_id, parsed content).
fn tool_messages(request: &fake_openai::Recorded) -> Vec<(String, Value)> {
    request.json()["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| {
            let content = m["content"].as_str().expect("tool content is a string");
            (
                m["tool_call_id"].as_str().unwrap_or_default().to_owned(),
                serde_json::from_str(content).unwrap_or(Value::String(content.into())),
            )
        })
        .collect()
}

// --- Brain::decide -------------------------------------------------------------------------

#[tokio::test]
async fn matched_intent_answers_instantly_even_with_an_llm_configured() {
    let server = FakeServer::start(vec![]).await;
    let brain = brain_with(&server, client_config(&server));
    assert!(brain.llm().is_some());
    let mut state = DialogueState::default();
    match brain.decide(&mut state, &CallerInput::Speech("when are you open".into())) {
        Decision::Reply(r) => {
            assert_eq!(r.intent.as_deref(), Some("hours"));
            assert_eq!(r.text, "We're open nine to five, Monday to Friday.");
            assert_eq!(r.action, ReplyAction::None);
        }
        Decision::AskLlm { .. } => panic!("a matched intent must not wait for the model"),
    }
    assert!(server.requests().is_empty(), "the model was not asked");
}

#[tokio::test]
async fn unmatched_question_asks_the_llm_with_persona_prices_and_contact() {
    let server = FakeServer::start(vec![]).await;
    let brain = brain_with(&server, client_config(&server));
    let mut state = DialogueState::for_contact(Some(maria()));
    let question = "can I pay for a whole year upfront and get a discount";
    let request = llm_request(&brain, &mut state, question);

    let system = &request.messages[0];
    assert_eq!(system.role, Role::System);
    let prompt = system.content.as_deref().unwrap();
    for needle in [
        "You are Ava",
        "cheerful phone assistant of Brightline",
        "Premium: forty-nine dollars a month",
        "billing: invoices and refunds",
        "name: Maria Lopez",
        "company: Lopez Bakery",
    ] {
        assert!(prompt.contains(needle), "missing {needle:?} in {prompt}");
    }
    let last = request.messages.last().unwrap();
    assert_eq!(
        (last.role, last.content.as_deref()),
        (Role::User, Some(question))
    );
    let tools: Vec<&str> = request.tools.iter().map(|t| t.name.as_str()).collect();
    for name in [
        "end_call",
        "transfer_call",
        "lookup_contact",
        "order_status",
    ] {
        assert!(tools.contains(&name), "tool {name} missing from {tools:?}");
    }
    assert!(server.requests().is_empty(), "deciding sends nothing");
}

#[tokio::test]
async fn greeting_is_personalised_with_the_contact_first_name() {
    let server = FakeServer::start(vec![]).await;
    let brain = brain_with(&server, client_config(&server));
    assert_eq!(
        brain.greeting_for(Some(&maria())),
        "Hi Maria, thanks for calling Brightline."
    );
    assert_eq!(
        brain.greeting_for(None),
        "Hi there, thanks for calling Brightline."
    );
    let nameless = Contact {
        phone: "+15550000000".into(),
        ..Contact::default()
    };
    assert_eq!(
        brain.greeting_for(Some(&nameless)),
        "Hi there, thanks for calling Brightline."
    );
}

#[tokio::test]
async fn do_not_call_request_ends_the_call_and_flags_the_number() {
    let server = FakeServer::start(vec![]).await;
    let brain = brain_with(&server, client_config(&server));
    let mut state = DialogueState::for_contact(Some(maria()));
    let decision = brain.decide(
        &mut state,
        &CallerInput::Speech("please don't call me again".into()),
    );
    let Decision::Reply(reply) = decision else {
        panic!("a do-not-call request is answered without the model: {decision:?}");
    };
    assert!(reply.do_not_call, "{reply:?}");
    assert_eq!(reply.action, ReplyAction::EndCall);
    assert_eq!(reply.outcome.as_deref(), Some("do_not_call"));
    assert_eq!(reply.intent.as_deref(), Some("do_not_call"));
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn furious_caller_is_offered_a_person_at_once() {
    let server = FakeServer::start(vec![]).await;
    let brain = brain_with(&server, client_config(&server));
    let mut state = DialogueState::default();
    let offer = brain.agent().handoff_offer.render(brain.agent(), None);
    let complaint = CallerInput::Speech("this is ridiculous, you're useless".into());
    match brain.decide(&mut state, &complaint) {
        Decision::Reply(r) => {
            assert_eq!(r.text, offer);
            assert_eq!(r.outcome.as_deref(), Some("escalation_offered"));
        }
        other => panic!("a furious caller is offered a person, not the model: {other:?}"),
    }
    assert!(state.handoff_offered());
    // Accepting the offer hands the call to a person.
    match brain.decide(&mut state, &CallerInput::Speech("yes please".into())) {
        Decision::Reply(r) => assert_eq!(r.action, ReplyAction::Handoff, "{r:?}"),
        other => panic!("a yes to the offer is answered at once: {other:?}"),
    }
    assert!(
        server.requests().is_empty(),
        "no model needed for any of it"
    );
}

#[tokio::test]
async fn second_annoyed_turn_in_a_row_brings_a_handoff_offer_once() {
    let server = FakeServer::start(vec![]).await;
    let brain = brain_with(&server, client_config(&server));
    let mut state = DialogueState::default();
    let offer = brain.agent().handoff_offer.render(brain.agent(), None);
    let say = |state: &mut DialogueState, text: &str| {
        brain.decide(state, &CallerInput::Speech(text.into()))
    };

    // Mildly negative: the model still gets a chance to help.
    let first = say(&mut state, "your calendar sync is bad");
    assert!(matches!(first, Decision::AskLlm { .. }), "{first:?}");
    match say(&mut state, "and the reminders are bad too") {
        Decision::Reply(r) => {
            assert_eq!(r.text, offer);
            assert_eq!(r.outcome.as_deref(), Some("escalation_offered"));
        }
        other => panic!("two annoyed turns in a row bring the offer: {other:?}"),
    }
    // Declined once, it is not pushed again.
    let declined = say(&mut state, "no thanks");
    assert!(
        matches!(&declined, Decision::Reply(r) if r.action == ReplyAction::None),
        "{declined:?}"
    );
    for text in ["the invoices page is bad as well", "and the export is bad"] {
        let again = say(&mut state, text);
        assert!(matches!(again, Decision::AskLlm { .. }), "{again:?}");
    }
}

// --- run_llm_turn ---------------------------------------------------------------------------

#[tokio::test]
async fn streamed_text_arrives_in_order_and_done_carries_the_assistant_message() {
    let server = FakeServer::start(vec![answer(&[
        "Yes, ",
        "annual billing ",
        "saves two months.",
    ])])
    .await;
    let brain = brain_with(&server, client_config(&server));
    let mut state = DialogueState::default();
    let request = llm_request(&brain, &mut state, "is there a discount for paying yearly");
    let events = run_turn(brain, request, None).await;

    let texts: Vec<&TurnEvent> = events
        .iter()
        .filter(|e| matches!(e, TurnEvent::Text(_)))
        .collect();
    assert_eq!(
        texts,
        [
            &TurnEvent::Text("Yes, ".into()),
            &TurnEvent::Text("annual billing ".into()),
            &TurnEvent::Text("saves two months.".into()),
        ]
    );
    let (messages, failed) = done_event(&events);
    assert!(!failed);
    assert_eq!(
        messages,
        [ChatMessage::assistant(
            "Yes, annual billing saves two months."
        )]
    );
    state.extend_history(messages.to_vec());
    assert_eq!(
        state.last_reply(),
        Some("Yes, annual billing saves two months.")
    );

    let sent = server.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/v1/chat/completions");
    assert_eq!(sent[0].json()["stream"], true);
}

#[tokio::test]
async fn markdown_is_not_spoken() {
    let server = FakeServer::start(vec![answer(&[
        "**Premium** costs",
        " forty-nine dollars.\n- It includes",
        " `reminders`.",
    ])])
    .await;
    let brain = brain_with(&server, client_config(&server));
    let mut state = DialogueState::default();
    let request = llm_request(
        &brain,
        &mut state,
        "tell me everything about premium features",
    );
    let events = run_turn(brain, request, None).await;
    let said = spoken(&events);
    assert_eq!(
        said,
        "Premium costs forty-nine dollars. It includes reminders."
    );
    for marker in ['*', '`', '\n'] {
        assert!(!said.contains(marker), "{marker:?} spoken in {said:?}");
    }
    assert!(!done_event(&events).1);
}

#[tokio::test]
async fn end_call_tool_ends_the_call_after_the_goodbye() {
    let server = FakeServer::start(vec![Reply::events(&[
        text("Thanks for calling, goodbye!"),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_end", "type": "function",
                "function": {"name": "end_call", "arguments": "{\"reason\":\"done\"}"}}]}),
            None,
        ),
        finish("tool_calls"),
        done(),
    ])])
    .await;
    let brain = brain_with(&server, client_config(&server));
    let mut state = DialogueState::default();
    let request = llm_request(
        &brain,
        &mut state,
        "I think my question was answered already",
    );
    let events = run_turn(brain, request, None).await;
    assert_eq!(
        events[0],
        TurnEvent::Text("Thanks for calling, goodbye!".into())
    );
    assert_eq!(effects(&events), [ToolEffect::EndCall]);
    let (messages, failed) = done_event(&events);
    assert!(!failed);
    // The model is not asked again after a terminal tool.
    assert_eq!(server.requests().len(), 1);
    assert_eq!(messages[0].role, Role::Assistant);
    assert_eq!(
        messages[0].tool_calls,
        [ToolCall {
            id: "call_end".into(),
            name: "end_call".into(),
            arguments: "{\"reason\":\"done\"}".into(),
        }]
    );
    assert_eq!(messages[1].role, Role::Tool);
    assert_eq!(messages[1].tool_call_id.as_deref(), Some("call_end"));
}

#[tokio::test]
async fn transfer_to_a_known_department_dials_its_number() {
    let server = FakeServer::start(vec![tool_call(
        "call_t",
        "transfer_call",
        r#"{"department":"billing"}"#,
    )])
    .await;
    let brain = brain_with(&server, client_config(&server));
    let mut state = DialogueState::default();
    let request = llm_request(&brain, &mut state, "I was charged twice on my invoice");
    let events = run_turn(brain, request, None).await;
    assert_eq!(
        effects(&events),
        [ToolEffect::Transfer {
            department: "billing".into(),
            number: "+14155550123".into(),
        }]
    );
    // The model said nothing, so the caller is told what happens rather than hearing silence.
    assert_eq!(spoken(&events), "Let me transfer you to billing.");
    assert!(!done_event(&events).1);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn unknown_department_is_reported_to_the_model_for_a_second_round() {
    let server = FakeServer::start(vec![
        tool_call("call_m", "transfer_call", r#"{"department":"marketing"}"#),
        answer(&["I can connect you with billing or support."]),
    ])
    .await;
    let brain = brain_with(&server, client_config(&server));
    let mut state = DialogueState::default();
    let request = llm_request(
        &brain,
        &mut state,
        "who handles sponsorship proposals for your marketing",
    );
    let events = run_turn(brain, request, None).await;

    assert!(effects(&events).is_empty(), "no transfer: {events:?}");
    assert_eq!(
        spoken(&events),
        "I can connect you with billing or support."
    );
    assert!(!done_event(&events).1);

    let sent = server.requests();
    assert_eq!(sent.len(), 2, "a second round follows the error");
    let results = tool_messages(&sent[1]);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].0, "call_m");
    let error = results[0].1["error"].as_str().expect("an error result");
    assert!(
        error.contains("unknown department") && error.contains("billing, support"),
        "{error}"
    );
    // The assistant's tool call precedes its result, as the API requires.
    let messages = sent[1].json()["messages"].as_array().unwrap().clone();
    let n = messages.len();
    assert_eq!(messages[n - 2]["role"], "assistant");
    assert_eq!(
        messages[n - 2]["tool_calls"][0]["function"]["name"],
        "transfer_call"
    );
}

#[tokio::test]
async fn lookup_contact_result_reaches_the_model() {
    let server = FakeServer::start(vec![
        tool_call("call_c", "lookup_contact", "{}"),
        answer(&["Welcome back, Maria!"]),
    ])
    .await;
    let brain = brain_with(&server, client_config(&server));
    let mut state = DialogueState::for_contact(Some(maria()));
    let request = llm_request(&brain, &mut state, "do you have my details on file");
    let events = run_turn(brain, request, Some(maria())).await;
    assert_eq!(spoken(&events), "Welcome back, Maria!");

    let sent = server.requests();
    assert_eq!(sent.len(), 2);
    let results = tool_messages(&sent[1]);
    assert_eq!(results.len(), 1);
    let (id, result) = &results[0];
    assert_eq!(id, "call_c");
    assert_eq!(result["found"], true);
    assert_eq!(result["contact"]["first_name"], "Maria");
    assert_eq!(result["contact"]["company"], "Lopez Bakery");
    assert_eq!(result["contact"]["phone"], "+15551230001");
}

#[tokio::test]
async fn lookup_without_a_contact_says_not_found() {
    let server = FakeServer::start(vec![
        tool_call("call_c", "lookup_contact", "{}"),
        answer(&["I don't have you on file yet."]),
    ])
    .await;
    let brain = brain_with(&server, client_config(&server));
    let mut state = DialogueState::default();
    let request = llm_request(&brain, &mut state, "do you have my details on file");
    let events = run_turn(brain, request, None).await;
    assert_eq!(spoken(&events), "I don't have you on file yet.");
    let results = tool_messages(&server.requests()[1]);
    assert_eq!(results[0].1, json!({"found": false}));
}

#[tokio::test]
async fn http_tool_round_trips_through_its_endpoint() {
    // One scripted server plays both parts, in request order: the model, the tool endpoint,
    // the model again.
    let server = FakeServer::start(vec![
        tool_call("call_o", "order_status", r#"{"order_id":"A-17"}"#),
        Reply::json(200, json!({"status": "shipped", "eta": "Friday"})),
        answer(&["Your order has shipped and arrives on Friday."]),
    ])
    .await;
    let brain = brain_with(&server, client_config(&server));
    let mut state = DialogueState::default();
    let request = llm_request(&brain, &mut state, "where is my order A seventeen");
    let events = run_turn(brain, request, None).await;
    assert_eq!(
        spoken(&events),
        "Your order has shipped and arrives on Friday."
    );
    assert!(effects(&events).is_empty());
    assert!(!done_event(&events).1);

    let sent = server.requests();
    assert_eq!(sent.len(), 3, "{sent:#?}");
    assert_eq!(sent[1].method, "POST");
    assert_eq!(sent[1].path, "/hooks/order-status");
    assert_eq!(sent[1].json(), json!({"order_id": "A-17"}));
    let results = tool_messages(&sent[2]);
    assert_eq!(
        results,
        [(
            "call_o".to_owned(),
            json!({"status": "shipped", "eta": "Friday"})
        )]
    );
}

#[tokio::test]
async fn stalled_model_says_one_moment_retries_then_apologises() {
    let stalled = || {
        Reply::sse(vec![
            Part::Pause(Duration::from_secs(3)),
            Part::Text(format!("data: {}\n\n", text("too late"))),
        ])
    };
    let server = FakeServer::start(vec![stalled(), stalled()]).await;
    let mut config = client_config(&server);
    config.timeout_first_token = Duration::from_millis(300);
    config.stall_timeout = Duration::from_millis(300);
    let brain = brain_with(&server, config);
    let mut state = DialogueState::default();
    let request = llm_request(
        &brain,
        &mut state,
        "can you explain the enterprise contract",
    );
    let started = std::time::Instant::now();
    let events = run_turn(brain, request, None).await;

    let texts: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            TurnEvent::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(texts.len(), 2, "{events:?}");
    assert!(texts[0].to_lowercase().contains("one moment"), "{texts:?}");
    assert!(
        texts[1].contains("trouble") && texts[1].contains("person"),
        "the apology offers a way out: {texts:?}"
    );
    assert!(!texts.iter().any(|t| t.contains("too late")));
    let (messages, failed) = done_event(&events);
    assert!(failed);
    assert!(
        messages.is_empty(),
        "nothing the model said goes to history"
    );
    assert_eq!(server.requests().len(), 2, "exactly one retry");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "both attempts gave up on the short timeout: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn rate_limited_then_successful_answer_is_spoken_normally() {
    let server = FakeServer::start(vec![
        Reply::json(
            429,
            json!({"error": {"message": "Rate limit reached", "type": "requests",
                             "code": "rate_limit_exceeded"}}),
        )
        .header("retry-after-ms", "20"),
        answer(&["Premium is forty-nine dollars a month."]),
    ])
    .await;
    let brain = brain_with(&server, client_config(&server));
    let mut state = DialogueState::default();
    let request = llm_request(&brain, &mut state, "what would premium cost my bakery");
    let events = run_turn(brain, request, None).await;
    assert_eq!(spoken(&events), "Premium is forty-nine dollars a month.");
    let (messages, failed) = done_event(&events);
    assert!(!failed);
    assert_eq!(
        messages,
        [ChatMessage::assistant(
            "Premium is forty-nine dollars a month."
        )]
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn model_stuck_calling_tools_still_says_something() {
    // The model keeps looking the contact up and never answers: after the last allowed round
    // the caller must still hear a line, not dead air.
    let replies = (0..MAX_TOOL_ROUNDS)
        .map(|i| tool_call(&format!("call_{i}"), "lookup_contact", "{}"))
        .collect();
    let server = FakeServer::start(replies).await;
    let brain = brain_with(&server, client_config(&server));
    let mut state = DialogueState::default();
    let request = llm_request(&brain, &mut state, "do you have my details on file");
    let events = run_turn(brain, request, None).await;
    assert_eq!(server.requests().len(), MAX_TOOL_ROUNDS);
    let said = spoken(&events);
    assert!(
        said.contains("trouble") && said.contains("person"),
        "the caller must hear an apology, not silence: {events:?}"
    );
    assert!(done_event(&events).1, "a turn without an answer failed");
}
