//! One language-model turn: stream the answer as speakable text, run the tools the model
//! calls, feed their results back for another round, and report what the call should do.
//!
//! Runs as its own task (the caller spawns it) and talks through a channel, so the call's audio
//! loop never waits on the model.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;

use crate::contact::Contact;
use crate::llm::http_tool::{HttpMethod, HttpTool};
use crate::llm::{ChatMessage, ChatRequest, LlmEvent, Role, ToolCall};
use crate::policy::Brain;

/// Rounds of tool calls answered within one caller turn before the agent stops asking the model.
pub const MAX_TOOL_ROUNDS: usize = 3;

/// Said (once) when the model fails before saying anything; the request is then retried.
const HOLD_ON: &str = "Sorry, one moment please.";
/// Said when the model stops mid-answer.
const CUT_OFF: &str = " Sorry, I lost my train of thought. Could you ask me that again?";
/// Said when the retry fails too: never dead air.
const GIVE_UP: &str = "I'm sorry, I'm having trouble answering that right now. Could you ask me \
again, or would you like me to connect you with a person?";

/// What the call should do because of a tool the model called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolEffect {
    EndCall,
    Handoff {
        reason: String,
    },
    Transfer {
        department: String,
        number: String,
    },
    SendDtmf(String),
    Outcome {
        outcome: String,
        follow_up: Option<String>,
    },
}

/// What a turn reports, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnEvent {
    /// Speakable reply text (markdown removed), streamed as it comes.
    Text(String),
    /// A tool with an effect on the call was called.
    Effect(ToolEffect),
    /// The turn is over. `messages` are to be appended to the dialogue history.
    Done {
        messages: Vec<ChatMessage>,
        failed: bool,
    },
}

/// Runs one turn of `brain`'s language model on `request`, sending events to `tx`.
pub async fn run_llm_turn(
    brain: Arc<Brain>,
    mut request: ChatRequest,
    contact: Option<Contact>,
    tx: UnboundedSender<TurnEvent>,
) {
    let send = |e: TurnEvent| {
        let _ = tx.send(e);
    };
    let Some(llm) = brain.llm().cloned() else {
        send(TurnEvent::Text(
            brain.agent().fallback.render(brain.agent(), None),
        ));
        send(TurnEvent::Done {
            messages: Vec::new(),
            failed: true,
        });
        return;
    };
    let mut produced: Vec<ChatMessage> = Vec::new();
    let mut spoke = false;
    let mut retried = false;
    let mut failed = false;
    let mut round = 0;
    while round < MAX_TOOL_ROUNDS {
        // Messages of earlier rounds stay in `produced` (they belong in the history); only this
        // round's are appended to the next request.
        let round_start = produced.len();
        let mut text = String::new();
        let mut calls: Vec<ToolCall> = Vec::new();
        let mut filter = SpokenFilter::default();
        let mut error = None;
        let mut stream = llm.stream_chat(request.clone());
        while let Some(item) = stream.next().await {
            match item {
                Ok(LlmEvent::TextDelta(d)) => {
                    text.push_str(&d);
                    let clean = filter.push(&d);
                    if !clean.trim().is_empty() {
                        spoke = true;
                        send(TurnEvent::Text(clean));
                    }
                }
                Ok(LlmEvent::ToolCall(c)) => calls.push(c),
                Ok(LlmEvent::Done { .. }) => break,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = error {
            tracing::warn!(error = %e, llm = llm.name(), "language model failed");
            if !spoke && !retried {
                retried = true;
                send(TurnEvent::Text(HOLD_ON.into()));
                continue;
            }
            if !spoke || text.is_empty() {
                send(TurnEvent::Text(GIVE_UP.into()));
            } else {
                // Half an answer then silence would leave the caller waiting.
                send(TurnEvent::Text(CUT_OFF.into()));
            }
            failed = true;
            break;
        }
        produced.push(ChatMessage {
            role: Role::Assistant,
            content: (!text.is_empty()).then(|| text.clone()),
            tool_calls: calls.clone(),
            tool_call_id: None,
        });
        if calls.is_empty() {
            if !spoke {
                // An empty answer would be dead air.
                send(TurnEvent::Text(
                    brain.agent().fallback.render(brain.agent(), None),
                ));
            }
            break;
        }
        let mut ask_again = false;
        let mut terminal_line = None;
        for call in &calls {
            let done = execute_tool(&brain, call, contact.as_ref()).await;
            if let Some(effect) = done.effect {
                if terminal_line.is_none() {
                    terminal_line = terminal_phrase(&brain, &effect);
                }
                send(TurnEvent::Effect(effect));
            }
            produced.push(ChatMessage::tool_result(
                call.id.clone(),
                done.result.to_string(),
            ));
            ask_again |= done.informational;
        }
        if !ask_again {
            if !spoke {
                let line = terminal_line
                    .unwrap_or_else(|| brain.agent().offer_declined.render(brain.agent(), None));
                send(TurnEvent::Text(line));
            }
            break;
        }
        // Another round with the tool results, so the model can use them in its answer.
        request
            .messages
            .extend(produced[round_start..].iter().cloned());
        round += 1;
    }
    if round == MAX_TOOL_ROUNDS {
        // Every round ended in tools that needed another round: the answer never came (a
        // "let me check" said along the way is no answer). Never dead air.
        send(TurnEvent::Text(GIVE_UP.into()));
        failed = true;
    }
    send(TurnEvent::Done {
        messages: produced,
        failed,
    });
}

/// The line for a terminal tool when the model called it without saying anything.
fn terminal_phrase(brain: &Brain, effect: &ToolEffect) -> Option<String> {
    let a = brain.agent();
    match effect {
        ToolEffect::EndCall => Some(a.closing.render(a, None)),
        ToolEffect::Handoff { .. } => Some(a.handoff.render(a, None)),
        ToolEffect::Transfer { department, .. } => {
            Some(format!("Let me transfer you to {department}."))
        }
        _ => None,
    }
}

struct ToolDone {
    /// JSON the model reads.
    result: Value,
    effect: Option<ToolEffect>,
    /// The model needs this result to answer (ask it again).
    informational: bool,
}

async fn execute_tool(brain: &Brain, call: &ToolCall, contact: Option<&Contact>) -> ToolDone {
    let args: Value = serde_json::from_str(&call.arguments).unwrap_or_else(|_| json!({}));
    let arg = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_owned);
    let ok = |effect: Option<ToolEffect>| ToolDone {
        result: json!({"ok": true}),
        effect,
        informational: false,
    };
    let error = |msg: String| ToolDone {
        result: json!({"error": msg}),
        effect: None,
        informational: true,
    };
    tracing::info!(tool = %call.name, arguments = %call.arguments, "tool call");
    match call.name.as_str() {
        "end_call" => ok(Some(ToolEffect::EndCall)),
        "hand_off_to_human" => ok(Some(ToolEffect::Handoff {
            reason: arg("reason").unwrap_or_default(),
        })),
        "transfer_call" => {
            let wanted = arg("department").unwrap_or_default();
            match brain.agent().department(&wanted) {
                Some(d) => ok(Some(ToolEffect::Transfer {
                    department: d.name.clone(),
                    number: d.number.clone(),
                })),
                None => {
                    let known: Vec<&str> = brain
                        .agent()
                        .departments
                        .iter()
                        .map(|d| d.name.as_str())
                        .collect();
                    error(format!(
                        "unknown department {wanted:?}; known: {}",
                        known.join(", ")
                    ))
                }
            }
        }
        "send_dtmf" => {
            let digits = arg("digits").unwrap_or_default();
            if digits.is_empty()
                || !digits
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '*' || c == '#' || c == 'w')
            {
                error(format!("digits must be 0-9, * or # (got {digits:?})"))
            } else {
                ok(Some(ToolEffect::SendDtmf(digits)))
            }
        }
        "lookup_contact" => ToolDone {
            result: match contact {
                Some(c) => json!({"found": true, "contact": c}),
                None => json!({"found": false}),
            },
            effect: None,
            informational: true,
        },
        "record_outcome" => match arg("outcome") {
            Some(outcome) if !outcome.trim().is_empty() => ok(Some(ToolEffect::Outcome {
                outcome,
                follow_up: arg("follow_up").filter(|f| !f.trim().is_empty()),
            })),
            _ => error("outcome is required".into()),
        },
        name => match brain.agent().tools.iter().find(|t| t.name == name) {
            Some(def) => {
                let mut tool = HttpTool::new(
                    def.name.clone(),
                    def.description.clone(),
                    serde_json::to_value(&def.parameters).unwrap_or_default(),
                    def.url.clone(),
                );
                tool.method = match def.method.to_uppercase().as_str() {
                    "GET" => HttpMethod::Get,
                    "PUT" => HttpMethod::Put,
                    "PATCH" => HttpMethod::Patch,
                    _ => HttpMethod::Post,
                };
                tool.timeout = Duration::from_millis(def.timeout_ms.unwrap_or(5000));
                let result = match tool.call(&call.arguments).await {
                    Ok(body) => serde_json::from_str(&body).unwrap_or(Value::String(body)),
                    Err(e) => json!({"error": e.to_string()}),
                };
                ToolDone {
                    result,
                    effect: None,
                    informational: true,
                }
            }
            None => error(format!("no tool named {name:?}")),
        },
    }
}

/// Removes what a voice must not read aloud (markdown markers, bullets, line breaks) from
/// streamed text, keeping just enough state to handle markers split across chunks.
#[derive(Default)]
struct SpokenFilter {
    at_line_start: bool,
}

impl SpokenFilter {
    fn push(&mut self, chunk: &str) -> String {
        let mut out = String::with_capacity(chunk.len());
        for c in chunk.chars() {
            match c {
                // Markers neither print nor end a line's indentation.
                '*' | '`' | '#' | '_' => continue,
                '\n' | '\r' => {
                    if !out.ends_with(' ') {
                        out.push(' ');
                    }
                    self.at_line_start = true;
                    continue;
                }
                '-' if self.at_line_start => {}
                c if c.is_whitespace() && self.at_line_start => {}
                c => out.push(c),
            }
            if !c.is_whitespace() && c != '-' {
                self.at_line_start = false;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::SpokenFilter;

    #[test]
    fn markdown_and_bullets_are_not_spoken() {
        let mut f = SpokenFilter::default();
        let mut out = String::new();
        for chunk in [
            "**Premium** costs",
            " $49.\n- Basic",
            " is `cheap`.\n# Done",
        ] {
            out.push_str(&f.push(chunk));
        }
        assert_eq!(out, "Premium costs $49. Basic is cheap. Done");
    }
}
