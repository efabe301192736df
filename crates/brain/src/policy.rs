//! The dialogue policy: what the agent says next, given what the caller said and what has been
//! said so far. Deciding is IO-free and instant; only the language-model path (returned as
//! [`Decision::AskLlm`]) is asynchronous, and runs in [`crate::llm_turn`].
//!
//! The order: built-in conversational moves (repeat, yes/no to an offer) → a recognised intent
//! with a fixed reply (instant) → the LLM when one is configured → the knowledge base's best
//! passage → the fallback, escalating to a handoff offer when the caller keeps being
//! misunderstood or sounds frustrated.

use std::sync::Arc;

use crate::agent::{AgentConfig, IntentAction, IntentDef};
use crate::builtin_intents::{self, builtin_intent};
use crate::contact::Contact;
use crate::embedding::Embedder;
use crate::error::BrainError;
use crate::intent::IntentMatcher;
use crate::knowledge::KnowledgeBase;
use crate::llm::{ChatMessage, ChatRequest, LlmBackend, Role};
use crate::semantic_intent::IntentRecognizer;
use crate::sentiment::{is_frustrated, Sentiment, SentimentAnalyzer};

/// Consecutive misunderstandings after which the agent offers a person instead of asking the
/// caller to rephrase yet again.
const FALLBACKS_BEFORE_HANDOFF_OFFER: u32 = 2;

/// Intents that end the call and may put the caller on the do-not-call list need more certainty
/// than the recogniser's general threshold: "how do I cancel my subscription" scored 0.51 for
/// do-not-call, while real requests ("stop calling me", "take me off your list") score 0.89–1.0.
const CALL_ENDING_MIN_CONFIDENCE: f32 = 0.7;

/// Said instead of a handoff when the agent has nobody to hand off to (no `handoff_number`,
/// no departments).
const NO_ONE_AVAILABLE: &str = "I'm sorry, there's no one available to take your call right now, \
but I'm happy to keep helping you here.";

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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ReplyAction {
    /// Keep listening.
    #[default]
    None,
    /// Hang up.
    EndCall,
    /// Transfer the caller to a person.
    Handoff,
    /// Transfer the caller to a department's number.
    Transfer { department: String, number: String },
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
    /// The call's outcome to record, when this reply settles it.
    pub outcome: Option<String>,
    /// The caller asked never to be called again: the number goes on the do-not-call list.
    pub do_not_call: bool,
    /// Sentiment of the caller's words (speech only).
    pub sentiment: Option<Sentiment>,
}

/// What to do with a caller input.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Say this now.
    Reply(Reply),
    /// Ask the language model (stream its answer with [`crate::llm_turn::run_llm_turn`]).
    AskLlm {
        request: ChatRequest,
        sentiment: Option<Sentiment>,
    },
}

/// What a brain may use besides its agent definition.
#[derive(Clone, Default)]
pub struct BrainResources {
    /// Sentence embeddings: semantic intents, knowledge base, sentiment.
    pub embedder: Option<Arc<dyn Embedder>>,
    /// A language model for questions no intent answers.
    pub llm: Option<Arc<dyn LlmBackend>>,
    /// Where knowledge-base embeddings are cached between restarts.
    pub knowledge_cache: Option<std::path::PathBuf>,
}

/// Per-call memory of the policy. Start each call with `DialogueState::default()` (or
/// [`DialogueState::for_contact`] when the caller is in the CRM).
#[derive(Debug, Clone, Default)]
pub struct DialogueState {
    last_reply: Option<String>,
    consecutive_fallbacks: u32,
    turns: u32,
    handoff_offered: bool,
    contact: Option<Contact>,
    /// The conversation so far, as the language model sees it (user and assistant turns).
    history: Vec<ChatMessage>,
    sentiments: Vec<Sentiment>,
    frustration_offered: bool,
}

impl DialogueState {
    /// A state for a call with a known CRM contact.
    pub fn for_contact(contact: Option<Contact>) -> DialogueState {
        DialogueState {
            contact,
            ..DialogueState::default()
        }
    }

    /// The CRM contact of this call.
    pub fn contact(&self) -> Option<&Contact> {
        self.contact.as_ref()
    }

    /// The conversation as the language model sees it.
    pub fn history(&self) -> &[ChatMessage] {
        &self.history
    }

    /// Appends messages produced by a language-model turn (its text, tool calls and results).
    pub fn extend_history(&mut self, messages: impl IntoIterator<Item = ChatMessage>) {
        self.history.extend(messages);
        if let Some(text) = self
            .history
            .iter()
            .rev()
            .find(|m| {
                m.role == Role::Assistant && m.content.as_deref().is_some_and(|c| !c.is_empty())
            })
            .and_then(|m| m.content.clone())
        {
            self.last_reply = Some(text);
        }
    }

    /// The caller interrupted the agent: only `heard` of its last reply reached them, so only
    /// that stays in the history (and is what "repeat that" repeats).
    pub fn agent_was_interrupted(&mut self, heard: &str) {
        if let Some(m) = self
            .history
            .iter_mut()
            .rev()
            .find(|m| m.role == Role::Assistant && m.content.is_some())
        {
            m.content = Some(heard.to_owned());
        }
        self.last_reply = Some(heard.to_owned());
    }

    /// A language-model turn was cut off before it finished: what the caller heard of it is
    /// the agent's reply in the history (the turn's own messages never arrived).
    pub fn llm_turn_interrupted(&mut self, heard: &str) {
        if !heard.trim().is_empty() {
            self.history.push(ChatMessage::assistant(heard.to_owned()));
            self.last_reply = Some(heard.to_owned());
        }
    }

    /// Sentiment of each caller turn so far.
    pub fn sentiments(&self) -> &[Sentiment] {
        &self.sentiments
    }

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
pub struct Brain {
    agent: Arc<AgentConfig>,
    matcher: IntentMatcher,
    builtins: IntentMatcher,
    recognizer: IntentRecognizer,
    knowledge: Option<KnowledgeBase>,
    sentiment: SentimentAnalyzer,
    llm: Option<Arc<dyn LlmBackend>>,
}

impl std::fmt::Debug for Brain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Brain")
            .field("agent", &self.agent.name)
            .field("semantic", &self.recognizer.is_semantic())
            .field("knowledge", &self.knowledge)
            .field("llm", &self.llm.as_ref().map(|l| l.name().to_owned()))
            .finish()
    }
}

impl Brain {
    /// A brain with the lexical matcher only: no embeddings, no knowledge base, no LLM.
    pub fn new(agent: Arc<AgentConfig>) -> Brain {
        Self::with_resources(agent, BrainResources::default())
            .expect("a brain without models cannot fail to build")
    }

    /// A brain using whatever `resources` offer. Knowledge files need an embedder; without one
    /// they are skipped with a warning (the agent still works from its intents).
    pub fn with_resources(
        agent: Arc<AgentConfig>,
        resources: BrainResources,
    ) -> Result<Brain, BrainError> {
        let recognizer = IntentRecognizer::for_agent(&agent, resources.embedder.clone())?;
        let files = agent.knowledge_files();
        let knowledge = match (&resources.embedder, files.is_empty()) {
            (_, true) => None,
            (Some(e), false) => Some(KnowledgeBase::load(
                &files,
                e.clone(),
                resources.knowledge_cache.as_deref(),
            )?),
            (None, false) => {
                tracing::warn!(agent = %agent.name, "knowledge files ignored: no embedding model (run `callpilot models install`)");
                None
            }
        };
        let sentiment = SentimentAnalyzer::new(resources.embedder.clone())?;
        let mut brain = Self::lexical_parts(agent);
        brain.recognizer = recognizer;
        brain.knowledge = knowledge;
        brain.sentiment = sentiment;
        brain.llm = resources.llm;
        Ok(brain)
    }

    fn lexical_parts(agent: Arc<AgentConfig>) -> Brain {
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
            recognizer: IntentRecognizer::for_agent(&agent, None)
                .expect("lexical recognizer cannot fail"),
            knowledge: None,
            sentiment: SentimentAnalyzer::new(None).expect("lexicon sentiment cannot fail"),
            llm: None,
            agent,
        }
    }

    /// The language model, when configured and enabled for this agent.
    pub fn llm(&self) -> Option<&Arc<dyn LlmBackend>> {
        self.llm.as_ref().filter(|_| self.agent.llm.enabled)
    }

    /// The knowledge base, when the agent has one.
    pub fn knowledge(&self) -> Option<&KnowledgeBase> {
        self.knowledge.as_ref()
    }

    /// The intent recogniser (embeddings + lexical).
    pub fn recognizer(&self) -> &IntentRecognizer {
        &self.recognizer
    }

    /// Sentiment of a caller's words.
    pub fn sentiment_of(&self, text: &str) -> Sentiment {
        self.sentiment.analyze(text)
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
        self.greeting_for(None)
    }

    /// The opening line personalised with the CRM contact, followed by the disclosure line.
    pub fn greeting_for(&self, contact: Option<&Contact>) -> String {
        let mut g = self.agent.greeting.render_with(&self.agent, None, contact);
        if let Some(d) = &self.agent.disclosure {
            g.push(' ');
            g.push_str(&d.render_with(&self.agent, None, contact));
        }
        g
    }

    /// The message left on an answering machine, personalised; `None` when the agent has none.
    pub fn voicemail_for(&self, contact: Option<&Contact>) -> Option<String> {
        self.agent
            .voicemail
            .as_ref()
            .map(|t| t.render_with(&self.agent, None, contact))
    }

    /// Decides the reply to `input` without a language model (the LLM path falls through to
    /// the knowledge base and the fallback) and updates `state`.
    pub fn respond(&self, state: &mut DialogueState, input: &CallerInput) -> Reply {
        match self.decide_inner(state, input, false) {
            Decision::Reply(r) => r,
            // Unreachable with `allow_llm = false`; answer with the fallback if it ever is.
            Decision::AskLlm { .. } => self.reply(
                self.agent.fallback.render(&self.agent, None),
                None,
                0.0,
                ReplyAction::None,
            ),
        }
    }

    /// Decides what to do with `input`: an instant reply, or a language-model turn.
    pub fn decide(&self, state: &mut DialogueState, input: &CallerInput) -> Decision {
        self.decide_inner(state, input, true)
    }

    fn decide_inner(
        &self,
        state: &mut DialogueState,
        input: &CallerInput,
        allow_llm: bool,
    ) -> Decision {
        state.turns += 1;
        let mut sentiment = None;
        if let CallerInput::Speech(text) = input {
            let s = self.sentiment.analyze(text);
            state.sentiments.push(s);
            sentiment = Some(s);
            state.history.push(ChatMessage::user(text.clone()));
        }
        let reply = match input {
            CallerInput::Speech(text) => match self.respond_to_speech(state, text, allow_llm) {
                Some(r) => r,
                None => {
                    let request = self.llm_request(state, text);
                    tracing::debug!("brain: asking the language model");
                    return Decision::AskLlm { request, sentiment };
                }
            },
            CallerInput::Dtmf(digit) => self.respond_to_dtmf(state, *digit),
        };
        let mut reply = reply;
        reply.sentiment = sentiment;
        state
            .history
            .push(ChatMessage::assistant(reply.text.clone()));
        tracing::debug!(
            intent = reply.intent.as_deref().unwrap_or("-"),
            confidence = reply.confidence,
            action = ?reply.action,
            "brain reply"
        );
        state.last_reply = Some(reply.text.clone());
        Decision::Reply(reply)
    }

    /// The request for a language-model turn: system prompt + history + tools.
    fn llm_request(&self, state: &DialogueState, question: &str) -> ChatRequest {
        let system = crate::prompt::system_prompt(
            &self.agent,
            state.contact.as_ref(),
            self.knowledge.as_ref(),
            Some(question),
        );
        let mut messages = vec![ChatMessage::system(system)];
        messages.extend(state.history.iter().cloned());
        let mut tools = crate::prompt::builtin_tools(&self.agent);
        tools.extend(self.agent.tools.iter().map(|t| crate::llm::ToolSpec {
            name: t.name.clone(),
            description: t.description.clone(),
            parameters: serde_json::to_value(&t.parameters).unwrap_or_default(),
        }));
        ChatRequest {
            messages,
            tools,
            temperature: Some(self.agent.llm.temperature.unwrap_or(0.3)),
            max_tokens: Some(self.agent.llm.max_tokens.unwrap_or(150)),
        }
    }

    /// The reply to speech, or `None` when the language model should answer.
    fn respond_to_speech(
        &self,
        state: &mut DialogueState,
        text: &str,
        allow_llm: bool,
    ) -> Option<Reply> {
        // An offer is answered (or ignored) by the very next input; it never lingers.
        let offered = std::mem::take(&mut state.handoff_offered);
        let heard = self.recognizer.recognize(text);
        let moves = self.builtins.classify(text);
        let intent_score = if heard.intent.is_some() {
            heard.confidence
        } else {
            0.0
        };

        if let Some(b) = moves.intent.filter(|b| b.confidence >= intent_score) {
            match b.intent.as_str() {
                BUILTIN_REPEAT => {
                    // Repeating the offer keeps it open.
                    state.handoff_offered = offered;
                    let text = state
                        .last_reply
                        .clone()
                        .unwrap_or_else(|| self.greeting_for(state.contact.as_ref()));
                    return Some(self.reply(text, None, b.confidence, ReplyAction::None));
                }
                BUILTIN_YES if offered => {
                    state.consecutive_fallbacks = 0;
                    return Some(self.handoff_reply(state, None, b.confidence, None));
                }
                BUILTIN_NO if offered => {
                    state.consecutive_fallbacks = 0;
                    let text = self.agent.offer_declined.render(&self.agent, None);
                    return Some(self.reply(text, None, b.confidence, ReplyAction::None));
                }
                // A bare yes/no with nothing pending: let the intents decide.
                _ => {}
            }
        }

        let mut name = heard.intent.clone();
        let call_ending = name.as_deref().is_some_and(|n| {
            [
                builtin_intents::DO_NOT_CALL,
                builtin_intents::NOT_INTERESTED,
            ]
            .contains(&n)
        });
        if call_ending && heard.confidence < CALL_ENDING_MIN_CONFIDENCE {
            tracing::debug!(intent = ?name, confidence = heard.confidence, "call-ending intent too uncertain; ignored");
            name = None;
        }
        let escalation = name.as_deref().is_some_and(|n| {
            [
                builtin_intents::GOODBYE,
                builtin_intents::SPEAK_TO_HUMAN,
                builtin_intents::DO_NOT_CALL,
                builtin_intents::NOT_INTERESTED,
            ]
            .contains(&n)
        });
        // A frustrated caller is offered a person once, instead of more of the same.
        if !escalation
            && self.can_hand_off()
            && !state.frustration_offered
            && is_frustrated(&state.sentiments)
        {
            state.frustration_offered = true;
            state.handoff_offered = true;
            let text = self.agent.handoff_offer.render(&self.agent, None);
            let mut r = self.reply(text, None, heard.confidence, ReplyAction::None);
            r.outcome = Some("escalation_offered".into());
            return Some(r);
        }

        if let Some(name) = name {
            state.consecutive_fallbacks = 0;
            if let Some(intent) = self.agent.intent(&name) {
                let text = self.render_intent(intent, heard.product, state.contact.as_ref());
                let mut r = match intent.action {
                    IntentAction::None => self.reply(
                        text,
                        Some(name.clone()),
                        heard.confidence,
                        ReplyAction::None,
                    ),
                    IntentAction::EndCall => self.reply(
                        text,
                        Some(name.clone()),
                        heard.confidence,
                        ReplyAction::EndCall,
                    ),
                    IntentAction::Handoff => {
                        self.handoff_reply(state, Some(name.clone()), heard.confidence, Some(text))
                    }
                };
                r.outcome = intent.outcome.clone();
                // An agent may word its own do-not-call reply, but the request is honoured
                // whatever the wording: do-not-call lists are a legal obligation.
                if name == builtin_intents::DO_NOT_CALL {
                    r.do_not_call = true;
                    r.outcome.get_or_insert_with(|| "do_not_call".into());
                }
                return Some(r);
            }
            if let Some(r) = self.builtin_reply(state, &name, heard.confidence) {
                return Some(r);
            }
        }

        if allow_llm && self.llm().is_some() {
            return None;
        }
        if let Some(answer) = self
            .knowledge
            .as_ref()
            .and_then(|kb| kb.answer_extractive(text))
        {
            state.consecutive_fallbacks = 0;
            return Some(self.reply(
                answer,
                Some("knowledge".into()),
                heard.confidence,
                ReplyAction::None,
            ));
        }

        state.consecutive_fallbacks += 1;
        let template = if state.consecutive_fallbacks >= FALLBACKS_BEFORE_HANDOFF_OFFER
            && self.can_hand_off()
        {
            state.handoff_offered = true;
            &self.agent.handoff_offer
        } else {
            &self.agent.fallback
        };
        let text = template.render(&self.agent, None);
        Some(self.reply(text, None, heard.confidence, ReplyAction::None))
    }

    /// Replies of the built-in intents the agent did not redefine.
    fn builtin_reply(
        &self,
        state: &mut DialogueState,
        name: &str,
        confidence: f32,
    ) -> Option<Reply> {
        let b = builtin_intent(name)?;
        let agent = &self.agent;
        let render_default = || {
            b.default_reply
                .and_then(|src| crate::template::Template::parse(src).ok())
                .map(|t| t.render_with(agent, None, state.contact.as_ref()))
        };
        let reply = match name {
            builtin_intents::REPEAT => {
                let text = state
                    .last_reply
                    .clone()
                    .unwrap_or_else(|| self.greeting_for(state.contact.as_ref()));
                self.reply(text, Some(name.into()), confidence, ReplyAction::None)
            }
            builtin_intents::GOODBYE => {
                let text = agent
                    .closing
                    .render_with(agent, None, state.contact.as_ref());
                self.reply(text, Some(name.into()), confidence, ReplyAction::EndCall)
            }
            builtin_intents::SPEAK_TO_HUMAN => {
                self.handoff_reply(state, Some(name.into()), confidence, None)
            }
            builtin_intents::DO_NOT_CALL => {
                let mut r = self.reply(
                    render_default()?,
                    Some(name.into()),
                    confidence,
                    ReplyAction::EndCall,
                );
                r.do_not_call = true;
                r.outcome = Some("do_not_call".into());
                r
            }
            _ => {
                let action = match b.action {
                    IntentAction::None => ReplyAction::None,
                    IntentAction::EndCall => ReplyAction::EndCall,
                    IntentAction::Handoff => ReplyAction::Handoff,
                };
                let mut r = self.reply(render_default()?, Some(name.into()), confidence, action);
                if name == builtin_intents::NOT_INTERESTED {
                    r.outcome = Some("not_interested".into());
                }
                r
            }
        };
        Some(reply)
    }

    /// Hands the caller to a person, or says plainly that nobody can take the call: promising
    /// a person and then hanging up would be worse than no offer at all.
    fn handoff_reply(
        &self,
        state: &DialogueState,
        intent: Option<String>,
        confidence: f32,
        text: Option<String>,
    ) -> Reply {
        if self.agent.handoff_target().is_some() {
            let text = text.unwrap_or_else(|| {
                self.agent
                    .handoff
                    .render_with(&self.agent, None, state.contact.as_ref())
            });
            self.reply(text, intent, confidence, ReplyAction::Handoff)
        } else {
            self.reply(
                NO_ONE_AVAILABLE.to_owned(),
                intent,
                confidence,
                ReplyAction::None,
            )
        }
    }

    /// Whether offering a person makes sense (someone can take the call).
    fn can_hand_off(&self) -> bool {
        self.agent.handoff_target().is_some()
    }

    fn respond_to_dtmf(&self, state: &mut DialogueState, digit: char) -> Reply {
        state.handoff_offered = false;
        if digit == '0' {
            // The universal "operator" key.
            state.consecutive_fallbacks = 0;
            return self.handoff_reply(state, None, 1.0, None);
        }
        let text = format!("You pressed {}.", spoken_key(digit));
        self.reply(text, None, 1.0, ReplyAction::None)
    }

    /// The text of a matched intent. A reply about "a product" names the one the caller
    /// mentioned; if none was, it uses `reply_without_product`, or else covers every product.
    fn render_intent(
        &self,
        intent: &IntentDef,
        product: Option<usize>,
        contact: Option<&Contact>,
    ) -> String {
        let agent = &self.agent;
        let reply = match (&intent.reply, intent.action) {
            (Some(r), _) => r,
            (None, IntentAction::EndCall) => &agent.closing,
            (None, IntentAction::Handoff) => &agent.handoff,
            // Rejected at load; say the fallback rather than nothing.
            (None, IntentAction::None) => &agent.fallback,
        };
        if !reply.needs_product() {
            return reply.render_with(agent, None, contact);
        }
        if let Some(p) = product.and_then(|i| agent.products.get(i)) {
            return reply.render_with(agent, Some(p), contact);
        }
        if let Some(general) = &intent.reply_without_product {
            return general.render_with(agent, None, contact);
        }
        agent
            .products
            .iter()
            .map(|p| reply.render_with(agent, Some(p), contact))
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
            outcome: None,
            do_not_call: false,
            sentiment: None,
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
