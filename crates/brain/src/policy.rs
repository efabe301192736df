//! The dialogue policy: what the agent says next, given what the caller said and what has been
//! said so far. Deterministic and IO-free, so every rule is testable as a plain function call.

use std::sync::Arc;

use crate::agent::{AgentConfig, IntentAction, IntentDef};
use crate::intent::IntentMatcher;

/// Consecutive misunderstandings after which the agent offers a person instead of asking the
/// caller to rephrase yet again.
const FALLBACKS_BEFORE_HANDOFF_OFFER: u32 = 2;

/// Conversational moves every agent understands, whatever its configuration. Matched with the
/// same fuzzy machinery as configured intents.
const BUILTIN_REPEAT: &str = "repeat";
const BUILTIN_YES: &str = "yes";
const BUILTIN_NO: &str = "no";
const BUILTINS: &[(&str, &[&str])] = &[
    (
        BUILTIN_REPEAT,
        &[
            "repeat that",
            "can you repeat that",
            "could you say that again",
            "say that again",
            "say it again",
            "come again",
            "pardon",
            "sorry what did you say",
            "what did you say",
            "i didn't catch that",
            "one more time please",
        ],
    ),
    (
        BUILTIN_YES,
        &[
            "yes",
            "yeah",
            "yep",
            "yes please",
            "sure",
            "okay",
            "ok",
            "please do",
            "go ahead",
            "that would be great",
            "absolutely",
            "of course",
            "sounds good",
        ],
    ),
    (
        BUILTIN_NO,
        &[
            "no",
            "nope",
            "nah",
            "no thanks",
            "no thank you",
            "not now",
            "not really",
            "i'm fine",
            "don't",
        ],
    ),
];

/// What the caller did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerInput {
    /// A final transcript of the caller's speech.
    Speech(String),
    /// A keypad press: `0`–`9`, `*`, `#`, `A`–`D`.
    Dtmf(char),
}

/// What happens once the reply has been spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplyAction {
    /// Keep listening.
    #[default]
    None,
    /// Hang up.
    EndCall,
    /// Transfer the caller to a person.
    Handoff,
}

/// The agent's answer to one caller input.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// What to say.
    pub text: String,
    /// The configured intent that was recognised, if any (built-in moves such as "repeat that"
    /// or keypad presses report `None`).
    pub intent: Option<String>,
    /// How sure the matcher was (0.0–1.0); for a fallback, the best score it saw.
    pub confidence: f32,
    pub action: ReplyAction,
}

/// Per-call memory of the policy. Start each call with `DialogueState::default()`.
#[derive(Debug, Clone, Default)]
pub struct DialogueState {
    last_reply: Option<String>,
    consecutive_fallbacks: u32,
    turns: u32,
    handoff_offered: bool,
}

impl DialogueState {
    /// The last thing the agent said through [`Brain::respond`].
    pub fn last_reply(&self) -> Option<&str> {
        self.last_reply.as_deref()
    }

    /// Misunderstandings in a row since the last understood input.
    pub fn consecutive_fallbacks(&self) -> u32 {
        self.consecutive_fallbacks
    }

    /// Caller inputs answered so far.
    pub fn turns(&self) -> u32 {
        self.turns
    }

    /// Whether the last reply offered a person and awaits a yes or no.
    pub fn handoff_offered(&self) -> bool {
        self.handoff_offered
    }
}

/// A rule-based brain for one agent definition. Shared by all calls to that agent; per-call
/// state lives in [`DialogueState`].
#[derive(Debug, Clone)]
pub struct Brain {
    agent: Arc<AgentConfig>,
    matcher: IntentMatcher,
    builtins: IntentMatcher,
}

impl Brain {
    /// Builds the matchers for `agent` (validated at load).
    pub fn new(agent: Arc<AgentConfig>) -> Brain {
        let builtin_examples: Vec<(&str, Vec<String>)> = BUILTINS
            .iter()
            .map(|(name, ex)| (*name, ex.iter().map(|e| e.to_string()).collect()))
            .collect();
        let builtins = IntentMatcher::new(
            builtin_examples
                .iter()
                .map(|(name, ex)| (*name, ex.as_slice())),
            &[],
        );
        Brain {
            matcher: IntentMatcher::from_config(&agent),
            builtins,
            agent,
        }
    }

    /// The agent definition.
    pub fn agent(&self) -> &AgentConfig {
        &self.agent
    }

    /// The intent matcher (for tools that want to inspect classification).
    pub fn matcher(&self) -> &IntentMatcher {
        &self.matcher
    }

    /// The agent's opening line.
    pub fn greeting(&self) -> String {
        self.agent.greeting.render(&self.agent, None)
    }

    /// Decides the reply to `input` and updates `state`.
    pub fn respond(&self, state: &mut DialogueState, input: &CallerInput) -> Reply {
        state.turns += 1;
        let reply = match input {
            CallerInput::Speech(text) => self.respond_to_speech(state, text),
            CallerInput::Dtmf(digit) => self.respond_to_dtmf(state, *digit),
        };
        tracing::debug!(
            intent = reply.intent.as_deref().unwrap_or("-"),
            confidence = reply.confidence,
            action = ?reply.action,
            "brain reply"
        );
        state.last_reply = Some(reply.text.clone());
        reply
    }

    fn respond_to_speech(&self, state: &mut DialogueState, text: &str) -> Reply {
        // An offer is answered (or ignored) by the very next input; it never lingers.
        let offered = std::mem::take(&mut state.handoff_offered);
        let heard = self.matcher.classify(text);
        let builtin = self.builtins.classify(text);
        let configured_score = heard.intent.as_ref().map_or(0.0, |m| m.confidence);

        if let Some(b) = builtin.intent.filter(|b| b.confidence >= configured_score) {
            match b.intent.as_str() {
                BUILTIN_REPEAT => {
                    // Repeating the offer keeps it open.
                    state.handoff_offered = offered;
                    let text = state.last_reply.clone().unwrap_or_else(|| self.greeting());
                    return self.reply(text, None, b.confidence, ReplyAction::None);
                }
                BUILTIN_YES if offered => {
                    state.consecutive_fallbacks = 0;
                    let text = self.agent.handoff.render(&self.agent, None);
                    return self.reply(text, None, b.confidence, ReplyAction::Handoff);
                }
                BUILTIN_NO if offered => {
                    state.consecutive_fallbacks = 0;
                    let text = self.agent.offer_declined.render(&self.agent, None);
                    return self.reply(text, None, b.confidence, ReplyAction::None);
                }
                // A bare yes/no with nothing pending: let the configured intents decide.
                _ => {}
            }
        }

        let Some(m) = heard.intent else {
            state.consecutive_fallbacks += 1;
            let template = if state.consecutive_fallbacks >= FALLBACKS_BEFORE_HANDOFF_OFFER {
                state.handoff_offered = true;
                &self.agent.handoff_offer
            } else {
                &self.agent.fallback
            };
            let text = template.render(&self.agent, None);
            return self.reply(text, None, heard.top_score, ReplyAction::None);
        };
        state.consecutive_fallbacks = 0;
        let Some(intent) = self.agent.intent(&m.intent) else {
            // The matcher is built from this very agent, so its names always resolve; answer
            // with the fallback rather than panic should that ever break.
            let text = self.agent.fallback.render(&self.agent, None);
            return self.reply(text, None, m.confidence, ReplyAction::None);
        };
        let action = match intent.action {
            IntentAction::None => ReplyAction::None,
            IntentAction::EndCall => ReplyAction::EndCall,
            IntentAction::Handoff => ReplyAction::Handoff,
        };
        let text = self.render_intent(intent, heard.product);
        self.reply(text, Some(m.intent), m.confidence, action)
    }

    fn respond_to_dtmf(&self, state: &mut DialogueState, digit: char) -> Reply {
        state.handoff_offered = false;
        if digit == '0' {
            // The universal "operator" key.
            state.consecutive_fallbacks = 0;
            let text = self.agent.handoff.render(&self.agent, None);
            return self.reply(text, None, 1.0, ReplyAction::Handoff);
        }
        let text = format!("You pressed {}.", spoken_key(digit));
        self.reply(text, None, 1.0, ReplyAction::None)
    }

    /// The text of a matched intent. A reply about "a product" names the one the caller
    /// mentioned; if none was, it uses `reply_without_product`, or else covers every product.
    fn render_intent(&self, intent: &IntentDef, product: Option<usize>) -> String {
        let agent = &self.agent;
        let reply = match (&intent.reply, intent.action) {
            (Some(r), _) => r,
            (None, IntentAction::EndCall) => &agent.closing,
            (None, IntentAction::Handoff) => &agent.handoff,
            // Rejected at load; say the fallback rather than nothing.
            (None, IntentAction::None) => &agent.fallback,
        };
        if !reply.needs_product() {
            return reply.render(agent, None);
        }
        if let Some(p) = product.and_then(|i| agent.products.get(i)) {
            return reply.render(agent, Some(p));
        }
        if let Some(general) = &intent.reply_without_product {
            return general.render(agent, None);
        }
        agent
            .products
            .iter()
            .map(|p| reply.render(agent, Some(p)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn reply(
        &self,
        text: String,
        intent: Option<String>,
        confidence: f32,
        action: ReplyAction,
    ) -> Reply {
        Reply {
            text,
            intent,
            confidence,
            action,
        }
    }
}

/// How a keypad key is said aloud.
fn spoken_key(key: char) -> String {
    const DIGITS: [&str; 10] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    match key {
        '0'..='9' => DIGITS[key as usize - '0' as usize].to_owned(),
        '*' => "star".to_owned(),
        '#' => "pound".to_owned(),
        other => other.to_string(),
    }
}
