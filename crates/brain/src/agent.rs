//! Agent definitions: who the agent is, what it sells and which caller intents it answers, as
//! written by hand in a TOML file (see `agents/demo.toml` for the documented format).

use std::collections::HashSet;
use std::path::Path;

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
}

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
    /// Silence after the caller's speech that ends their turn.
    pub end_of_turn_silence_ms: Option<u32>,
    /// Caller speech needed to interrupt the agent (shorter is treated as noise).
    pub barge_in_min_speech_ms: Option<u32>,
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

/// Reads and validates the agent file at `path`.
pub fn load(path: &Path) -> Result<AgentConfig, BrainError> {
    let text = std::fs::read_to_string(path).map_err(|source| BrainError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    AgentConfig::from_toml_str(&text, &path.display().to_string())
}

impl AgentConfig {
    /// Parses and validates an agent definition; `origin` names it in errors (a file path).
    pub fn from_toml_str(s: &str, origin: &str) -> Result<AgentConfig, BrainError> {
        let config: AgentConfig =
            toml::from_str(s).map_err(|e| BrainError::from_toml(origin, s, &e))?;
        config.validate(origin)?;
        Ok(config)
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
                v if v != Var::AgentName && self.products.is_empty() => Some(format!(
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
