//! Agent definitions: who the agent is, what it sells and which caller intents it answers, as
//! written by hand in a TOML file (see `agents/demo.toml` for the documented format).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::BrainError;
use crate::normalize;
use crate::template::{Template, Var};

/// A complete agent definition. Build it with [`load`] or [`AgentConfig::from_toml_str`], which
/// also check that it makes sense; the fields are public for reading.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The agent's name, as it introduces itself (`{agent.name}`).
    pub name: String,
    /// Free-text description of the agent's role and tone (for LLM-backed brains).
    #[serde(default)]
    pub persona: String,
    /// BCP-47 language tag for speech recognition and synthesis.
    #[serde(default = "default_language")]
    pub language: String,
    /// First words of every call.
    pub greeting: Template,
    /// Said when the agent did not understand.
    pub fallback: Template,
    /// Said when the caller says goodbye; the call then ends.
    pub closing: Template,
    /// Said just before the call is handed to a person.
    pub handoff: Template,
    /// Asked after repeated misunderstandings: would the caller like a person?
    #[serde(default = "default_handoff_offer")]
    pub handoff_offer: Template,
    /// Said when the caller declines that offer.
    #[serde(default = "default_offer_declined")]
    pub offer_declined: Template,
    /// What the agent sells; mentioned products fill `{product.*}` variables.
    #[serde(default)]
    pub products: Vec<Product>,
    /// What callers may want, each with example phrasings and a reply.
    #[serde(default)]
    pub intents: Vec<IntentDef>,
    /// Turn-taking overrides for the conversation engine.
    #[serde(default)]
    pub turn: TurnSettings,
    /// What the call is for (given to the LLM, and shown in reports).
    #[serde(default)]
    pub goal: String,
    /// What counts as success for this call (given to the LLM, used to judge the outcome).
    #[serde(default)]
    pub success: String,
    /// Consent / recording disclosure, said right after the greeting.
    pub disclosure: Option<Template>,
    /// What to leave on an answering machine (outbound calls).
    pub voicemail: Option<Template>,
    /// Knowledge base documents (Markdown or text), relative to the agent file.
    #[serde(default)]
    pub knowledge: Vec<PathBuf>,
    /// Where calls can be transferred ("billing" → "+14155550123").
    #[serde(default)]
    pub departments: Vec<Department>,
    /// Who takes a call handed off to a person (E.164 or `sip:`); without it, a handoff goes
    /// to the first department.
    pub handoff_number: Option<String>,
    /// How a language model is used when one is configured.
    #[serde(default)]
    pub llm: LlmSettings,
    /// User-defined HTTP tools the language model may call.
    #[serde(default)]
    pub tools: Vec<HttpToolDef>,
    /// Speech providers for this agent (override the server-wide `CALLPILOT_STT` / `CALLPILOT_TTS`).
    #[serde(default)]
    pub speech: SpeechSettings,
    /// How Twilio speaks and listens for this agent in ConversationRelay and Gather modes.
    #[serde(default)]
    pub twilio: TwilioVoiceSettings,
    /// Folder of the agent file (relative paths resolve against it). Set by [`load`].
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// A transfer target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Department {
    /// How callers and the agent name it ("billing").
    pub name: String,
    /// E.164 number or `sip:` URI to dial.
    pub number: String,
    /// When to send callers there (for the LLM).
    #[serde(default)]
    pub description: String,
}

/// How the knowledge base reaches the language model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KnowledgeMode {
    /// The whole knowledge base in the prompt when it is small, retrieval otherwise.
    #[default]
    Auto,
    /// Retrieve the best passages for each question (RAG).
    Retrieve,
    /// Put the whole knowledge base into the system prompt (CAG).
    Whole,
}

/// Language-model settings of an agent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmSettings {
    /// Use the configured LLM for questions no intent answers (default true).
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub knowledge_mode: KnowledgeMode,
    /// Sampling temperature (default 0.3: phone answers should be predictable).
    pub temperature: Option<f32>,
    /// Longest reply in tokens (default 150: a phone answer is a few sentences).
    pub max_tokens: Option<u32>,
    /// Extra instructions appended to the system prompt.
    #[serde(default)]
    pub instructions: String,
}

impl Default for LlmSettings {
    fn default() -> Self {
        LlmSettings {
            enabled: true,
            knowledge_mode: KnowledgeMode::Auto,
            temperature: None,
            max_tokens: None,
            instructions: String::new(),
        }
    }
}

fn default_true() -> bool {
    true
}

/// A tool the language model may call: an HTTP endpoint receiving the arguments as JSON.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpToolDef {
    /// `^[a-zA-Z0-9_-]{1,64}$`, not one of the built-in tool names.
    pub name: String,
    pub description: String,
    pub url: String,
    #[serde(default = "default_post")]
    pub method: String,
    /// JSON Schema of the arguments (an object schema), written as a TOML table.
    #[serde(default = "empty_object_schema")]
    pub parameters: toml::Value,
    /// Milliseconds before the call is abandoned (default 5000).
    pub timeout_ms: Option<u64>,
}

fn default_post() -> String {
    "POST".into()
}

fn empty_object_schema() -> toml::Value {
    let mut t = toml::map::Map::new();
    t.insert("type".into(), toml::Value::String("object".into()));
    toml::Value::Table(t)
}

/// Names of the tools every agent has; HTTP tools may not reuse them.
pub const BUILTIN_TOOL_NAMES: &[&str] = &[
    "end_call",
    "transfer_call",
    "hand_off_to_human",
    "send_dtmf",
    "lookup_contact",
    "record_outcome",
];

/// Something the agent sells.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    pub name: String,
    /// The price as it should be spoken, e.g. "forty-nine dollars a month".
    pub price: String,
    #[serde(default)]
    pub description: String,
    /// Other names callers use for it ("pro", "the big one").
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// One thing a caller may want.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentDef {
    /// Unique name, recorded with each turn.
    pub name: String,
    /// Phrasings callers use; the matcher generalises from these.
    pub examples: Vec<String>,
    /// What the agent answers. Optional for `end_call` (defaults to the agent's `closing`) and
    /// `handoff` (defaults to the agent's `handoff`).
    pub reply: Option<Template>,
    /// For a `reply` using `{product.*}`: what to say when the caller named no product.
    /// Without it the reply is said once per product.
    pub reply_without_product: Option<Template>,
    #[serde(default)]
    pub action: IntentAction,
    /// Recorded as the call's outcome when this intent is heard (e.g. "interested").
    pub outcome: Option<String>,
}

/// What happens after an intent's reply is spoken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentAction {
    /// The conversation continues.
    #[default]
    None,
    /// The call ends.
    EndCall,
    /// The call is handed to a person.
    Handoff,
}

/// Optional turn-taking settings, passed through to the conversation engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnSettings {
    /// Silence after the caller's speech that ends their turn for certain.
    pub end_of_turn_silence_ms: Option<u32>,
    /// Preemptive turns: silence after which the answer is already prepared, and played at
    /// once if the caller's words read as finished; `0` turns preemption off.
    pub preemptive_silence_ms: Option<u32>,
    /// Caller speech needed to interrupt the agent (shorter is treated as noise).
    pub barge_in_min_speech_ms: Option<u32>,
}

/// Per-agent speech providers; unset fields use the server's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeechSettings {
    /// `local` | `deepgram` | `openai`.
    pub stt: Option<String>,
    /// `piper` | `espeak` | `deepgram` | `openai`.
    pub tts: Option<String>,
    /// Deepgram Aura voice model, e.g. `aura-2-thalia-en`.
    pub deepgram_voice: Option<String>,
    /// OpenAI voice, e.g. `alloy`.
    pub openai_voice: Option<String>,
}

/// What Twilio uses to speak and listen when it runs the speech (ConversationRelay, Gather).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioVoiceSettings {
    /// `<Say voice>` in Gather mode, e.g. `Polly.Joanna-Neural`.
    pub say_voice: Option<String>,
    /// ConversationRelay `ttsProvider` (`ElevenLabs`, `Google`, `Amazon`).
    pub tts_provider: Option<String>,
    /// ConversationRelay `voice` (provider-specific).
    pub voice: Option<String>,
    /// ConversationRelay `transcriptionProvider` (`Deepgram`, `Google`).
    pub transcription_provider: Option<String>,
    /// ConversationRelay `speechModel`, e.g. `nova-3-general`.
    pub speech_model: Option<String>,
    /// Comma-separated phrases that help recognition (`hints`).
    pub hints: Option<String>,
    /// Extra languages the caller may switch to (ConversationRelay `<Language>` children).
    #[serde(default)]
    pub languages: Vec<TwilioLanguage>,
}

/// One extra ConversationRelay language.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioLanguage {
    /// BCP-47 code, e.g. `es-MX`.
    pub code: String,
    pub tts_provider: Option<String>,
    pub voice: Option<String>,
    pub transcription_provider: Option<String>,
    pub speech_model: Option<String>,
}

fn default_language() -> String {
    "en-US".to_owned()
}

fn default_handoff_offer() -> Template {
    Template::parse("I'm sorry, I'm having trouble understanding. Would you like me to connect you with a person?")
        .expect("built-in template is valid")
}

fn default_offer_declined() -> Template {
    Template::parse("No problem. What else can I help you with?")
        .expect("built-in template is valid")
}

/// E.164 (`+` and 2–15 digits) or a SIP URI.
fn is_dialable(number: &str) -> bool {
    if number.starts_with("sip:") {
        return number.len() > 4;
    }
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Reads and validates the agent file at `path`.
pub fn load(path: &Path) -> Result<AgentConfig, BrainError> {
    let text = std::fs::read_to_string(path).map_err(|source| BrainError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut agent = AgentConfig::from_toml_str(&text, &path.display().to_string())?;
    agent.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    for doc in &agent.knowledge {
        let full = agent.base_dir.join(doc);
        if !full.is_file() {
            return Err(BrainError::invalid(
                &path.display().to_string(),
                format!(
                    "knowledge file {} not found (paths are relative to the agent file)",
                    full.display()
                ),
            ));
        }
    }
    Ok(agent)
}

impl AgentConfig {
    /// Parses and validates an agent definition; `origin` names it in errors (a file path).
    pub fn from_toml_str(s: &str, origin: &str) -> Result<AgentConfig, BrainError> {
        let config: AgentConfig =
            toml::from_str(s).map_err(|e| BrainError::from_toml(origin, s, &e))?;
        config.validate(origin)?;
        Ok(config)
    }

    /// Knowledge base files with their full paths.
    pub fn knowledge_files(&self) -> Vec<PathBuf> {
        self.knowledge
            .iter()
            .map(|p| self.base_dir.join(p))
            .collect()
    }

    /// Where a handoff to a person goes: `handoff_number`, else the first department.
    pub fn handoff_target(&self) -> Option<&str> {
        self.handoff_number
            .as_deref()
            .or_else(|| self.departments.first().map(|d| d.number.as_str()))
    }

    /// The department called `name` (case-insensitive).
    pub fn department(&self, name: &str) -> Option<&Department> {
        let wanted = name.trim().to_lowercase();
        self.departments
            .iter()
            .find(|d| d.name.to_lowercase() == wanted)
    }

    /// The intent called `name`, if any.
    pub fn intent(&self, name: &str) -> Option<&IntentDef> {
        self.intents.iter().find(|i| i.name == name)
    }

    /// Semantic checks that TOML typing cannot express.
    fn validate(&self, origin: &str) -> Result<(), BrainError> {
        let fail = |msg: String| Err(BrainError::invalid(origin, msg));
        if self.name.trim().is_empty() {
            return fail("`name` must not be empty".into());
        }
        if self.intents.is_empty() {
            return fail("no intents defined: add at least one [[intents]] table".into());
        }

        let mut product_names = HashSet::new();
        for (i, p) in self.products.iter().enumerate() {
            if p.name.trim().is_empty() {
                return fail(format!("product #{} has an empty name", i + 1));
            }
            if !product_names.insert(p.name.to_lowercase()) {
                return fail(format!("product {:?} is defined twice", p.name));
            }
            if normalize::tokens(&p.name).is_empty()
                || p.aliases.iter().any(|a| normalize::tokens(a).is_empty())
            {
                return fail(format!(
                    "product {:?}: name and aliases must contain words (letters or digits)",
                    p.name
                ));
            }
        }

        let agent_level = [
            ("greeting", &self.greeting),
            ("fallback", &self.fallback),
            ("closing", &self.closing),
            ("handoff", &self.handoff),
            ("handoff_offer", &self.handoff_offer),
            ("offer_declined", &self.offer_declined),
        ];
        for (field, t) in agent_level {
            self.check_template(origin, &format!("`{field}`"), t, false)?;
        }

        if let Some(t) = &self.disclosure {
            self.check_template(origin, "`disclosure`", t, false)?;
        }
        if let Some(t) = &self.voicemail {
            self.check_template(origin, "`voicemail`", t, false)?;
        }
        let mut dept_names = HashSet::new();
        for d in &self.departments {
            if d.name.trim().is_empty() {
                return fail("a department has an empty `name`".into());
            }
            if !dept_names.insert(d.name.to_lowercase()) {
                return fail(format!("department {:?} is defined twice", d.name));
            }
            if !is_dialable(&d.number) {
                return fail(format!(
                    "department {:?}: number {:?} is not E.164 (+ and 2-15 digits) or a sip: URI",
                    d.name, d.number
                ));
            }
        }
        if let Some(n) = &self.handoff_number {
            if !is_dialable(n) {
                return fail(format!(
                    "handoff_number {n:?} is not E.164 (+ and 2-15 digits) or a sip: URI"
                ));
            }
        }
        let mut tool_names = HashSet::new();
        for t in &self.tools {
            let valid_name = !t.name.is_empty()
                && t.name.len() <= 64
                && t.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid_name {
                return fail(format!(
                    "tool {:?}: names use letters, digits, _ and - (at most 64)",
                    t.name
                ));
            }
            if BUILTIN_TOOL_NAMES.contains(&t.name.as_str()) {
                return fail(format!(
                    "tool {:?} clashes with a built-in tool of the same name",
                    t.name
                ));
            }
            if !tool_names.insert(t.name.as_str()) {
                return fail(format!("tool {:?} is defined twice", t.name));
            }
            if !(t.url.starts_with("http://") || t.url.starts_with("https://")) {
                return fail(format!(
                    "tool {:?}: url must start with http:// or https://",
                    t.name
                ));
            }
            if !matches!(
                t.method.to_uppercase().as_str(),
                "GET" | "POST" | "PUT" | "PATCH"
            ) {
                return fail(format!(
                    "tool {:?}: method {:?} is not GET, POST, PUT or PATCH",
                    t.name, t.method
                ));
            }
            if !t.parameters.is_table() {
                return fail(format!(
                    "tool {:?}: `parameters` must be a JSON Schema object (a TOML table)",
                    t.name
                ));
            }
        }
        if let Some(temp) = self.llm.temperature {
            if !(0.0..=2.0).contains(&temp) {
                return fail(format!("llm.temperature {temp} is outside 0..2"));
            }
        }

        let mut intent_names = HashSet::new();
        for intent in &self.intents {
            let what = format!("intent {:?}", intent.name);
            if intent.name.trim().is_empty() {
                return fail("an intent has an empty `name`".into());
            }
            if !intent_names.insert(intent.name.as_str()) {
                return fail(format!(
                    "{what} is defined twice; intent names must be unique"
                ));
            }
            if intent.examples.is_empty() {
                return fail(format!(
                    "{what} has no examples; give a few caller phrasings"
                ));
            }
            if let Some(bad) = intent
                .examples
                .iter()
                .find(|e| normalize::tokens(e).is_empty())
            {
                return fail(format!("{what}: example {bad:?} contains no words"));
            }
            match (&intent.reply, intent.action) {
                (None, IntentAction::None) => {
                    return fail(format!(
                        "{what} needs a `reply` (only end_call and handoff intents may omit it)"
                    ))
                }
                (Some(reply), _) => {
                    self.check_template(origin, &format!("{what} `reply`"), reply, true)?
                }
                (None, _) => {}
            }
            if let Some(t) = &intent.reply_without_product {
                if !intent.reply.as_ref().is_some_and(Template::needs_product) {
                    return fail(format!(
                        "{what}: `reply_without_product` is never used because `reply` uses no \
                         {{product.*}} variable"
                    ));
                }
                let field = format!("{what} `reply_without_product`");
                self.check_template(origin, &field, t, false)?;
            }
        }
        Ok(())
    }

    /// Checks that every variable of `t` can be filled where the template is used.
    fn check_template(
        &self,
        origin: &str,
        field: &str,
        t: &Template,
        product_in_scope: bool,
    ) -> Result<(), BrainError> {
        for var in t.vars() {
            let problem = match var {
                v if v.needs_product() && !product_in_scope => Some(format!(
                    "{} cannot be used here: no product is being discussed (only an intent's \
                     `reply` may use {{product.*}} variables)",
                    v.spelling()
                )),
                v if v.needs_products() && self.products.is_empty() => Some(format!(
                    "{} is used but no [[products]] are defined",
                    v.spelling()
                )),
                Var::ProductDescription => self
                    .products
                    .iter()
                    .find(|p| p.description.trim().is_empty())
                    .map(|p| {
                        format!(
                            "{{product.description}} is used but product {:?} has no description",
                            p.name
                        )
                    }),
                _ => None,
            };
            if let Some(problem) = problem {
                return Err(BrainError::invalid(origin, format!("{field}: {problem}")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "Max"
greeting = "Hi, I'm {agent.name}."
fallback = "Sorry?"
closing = "Bye."
handoff = "One moment."

[[intents]]
name = "hours"
examples = ["when are you open"]
reply = "Nine to five."
"#;

    fn with(extra: &str) -> String {
        format!("{MINIMAL}{extra}")
    }

    fn invalid_message(src: &str) -> String {
        match AgentConfig::from_toml_str(src, "test.toml") {
            Err(BrainError::Invalid { message, .. }) => message,
            other => panic!("expected a semantic error, got {other:?}"),
        }
    }

    #[test]
    fn minimal_agent_gets_defaults() {
        let a = AgentConfig::from_toml_str(MINIMAL, "test.toml").unwrap();
        assert_eq!(a.language, "en-US");
        assert_eq!(a.turn, TurnSettings::default());
        assert_eq!(a.intents[0].action, IntentAction::None);
        assert_eq!(a.greeting.render(&a, None), "Hi, I'm Max.");
    }

    #[test]
    fn bad_toml_reports_origin_line_and_column() {
        let src = "name = \"Max\"\ngreeting = \"Hi\"\nfallback = = \"oops\"\n";
        let err = AgentConfig::from_toml_str(src, "agents/bad.toml").unwrap_err();
        match &err {
            BrainError::Syntax { origin, line, .. } => {
                assert_eq!(origin, "agents/bad.toml");
                assert_eq!(*line, 3);
            }
            other => panic!("expected a syntax error, got {other:?}"),
        }
        assert!(err.to_string().starts_with("agents/bad.toml:3:"), "{err}");
    }

    #[test]
    fn unknown_key_is_reported_where_it_is() {
        let src = with("colour = \"blue\"\n");
        let err = AgentConfig::from_toml_str(&src, "a.toml").unwrap_err();
        let BrainError::Syntax { line, message, .. } = &err else {
            panic!("expected a located error, got {err:?}");
        };
        assert_eq!(*line, 12);
        assert!(message.contains("colour"), "{message}");
    }

    #[test]
    fn unknown_template_variable_is_rejected_with_its_location() {
        let src = with(
            "[[intents]]\nname = \"x\"\nexamples = [\"x y\"]\nreply = \"It is {product.cost}\"\n",
        );
        let err = AgentConfig::from_toml_str(&src, "a.toml").unwrap_err();
        let BrainError::Syntax { line, message, .. } = &err else {
            panic!("expected a located error, got {err:?}");
        };
        assert_eq!(*line, 15);
        assert!(message.contains("{product.cost}"), "{message}");
    }

    #[test]
    fn file_without_intents_is_rejected() {
        let src = MINIMAL.split("[[intents]]").next().unwrap();
        assert!(invalid_message(src).contains("no intents"));
    }

    #[test]
    fn empty_examples_are_rejected() {
        let src = with("[[intents]]\nname = \"x\"\nexamples = []\nreply = \"r\"\n");
        assert!(invalid_message(&src).contains("no examples"));
        let src = with("[[intents]]\nname = \"x\"\nexamples = [\"?!\"]\nreply = \"r\"\n");
        assert!(invalid_message(&src).contains("contains no words"));
    }

    #[test]
    fn duplicate_intent_names_are_rejected() {
        let src = with("[[intents]]\nname = \"hours\"\nexamples = [\"open\"]\nreply = \"r\"\n");
        assert!(invalid_message(&src).contains("defined twice"));
    }

    #[test]
    fn product_variable_outside_an_intent_reply_is_rejected() {
        let src = MINIMAL.replace("Hi, I'm {agent.name}.", "Ask about {product.name}.");
        let src = format!("{src}[[products]]\nname = \"A\"\nprice = \"one dollar\"\n");
        assert!(invalid_message(&src).contains("no product is being discussed"));
    }

    #[test]
    fn product_variables_without_products_are_rejected() {
        let src = with(
            "[[intents]]\nname = \"p\"\nexamples = [\"price\"]\nreply = \"{product.price}\"\n",
        );
        assert!(invalid_message(&src).contains("no [[products]]"));
    }

    #[test]
    fn reply_without_action_needs_a_reply() {
        let src = with("[[intents]]\nname = \"x\"\nexamples = [\"x\"]\n");
        assert!(invalid_message(&src).contains("needs a `reply`"));
        let src =
            with("[[intents]]\nname = \"bye\"\nexamples = [\"bye\"]\naction = \"end_call\"\n");
        assert!(AgentConfig::from_toml_str(&src, "a.toml").is_ok());
    }

    #[test]
    fn unknown_action_is_a_located_error() {
        let src = with("[[intents]]\nname = \"x\"\nexamples = [\"x\"]\naction = \"explode\"\n");
        let err = AgentConfig::from_toml_str(&src, "a.toml").unwrap_err();
        assert!(
            matches!(err, BrainError::Syntax { line: 15, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = load(Path::new("/nonexistent/agent.toml")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/agent.toml"), "{err}");
    }
}
