//! The brain of a callpilot agent: agent definitions written in TOML, a fuzzy intent matcher
//! that tolerates speech-recognition errors, and a rule-based dialogue policy that turns what
//! the caller said into what the agent says next (and whether to hang up or hand off).
//!
//! ```no_run
//! use std::sync::Arc;
//! use brain::{Brain, CallerInput, DialogueState};
//!
//! let agent = brain::load(std::path::Path::new("agents/demo.toml"))?;
//! let brain = Brain::new(Arc::new(agent));
//! let mut state = DialogueState::default();
//! println!("{}", brain.greeting());
//! let reply = brain.respond(&mut state, &CallerInput::Speech("how much is premium".into()));
//! println!("{} ({:?})", reply.text, reply.intent);
//! # Ok::<(), brain::BrainError>(())
//! ```

mod agent;
pub mod builtin_intents;
mod contact;
pub mod embedding;
mod error;
mod intent;
pub mod knowledge;
pub mod llm;
pub mod llm_turn;
pub mod model_install;
mod normalize;
mod policy;
pub mod prompt;
pub mod semantic_intent;
pub mod sentiment;
mod template;

pub use agent::{
    load, AgentConfig, Department, HttpToolDef, IntentAction, IntentDef, KnowledgeMode,
    LlmSettings, Product, SpeechSettings, TurnSettings, TwilioLanguage, TwilioVoiceSettings,
    BUILTIN_TOOL_NAMES,
};
pub use contact::Contact;
pub use error::BrainError;
pub use intent::{Classification, IntentMatch, IntentMatcher, DEFAULT_THRESHOLD};
pub use policy::{Brain, BrainResources, CallerInput, Decision, DialogueState, Reply, ReplyAction};
pub use template::{Template, Var};
