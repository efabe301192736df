//! Intents every agent understands without writing them: the conversational moves of any phone
//! call (hello, goodbye, a person please, say that again, are you a robot, not interested, stop
//! calling me). They are plain data, so the policy decides what to do with them and an agent
//! may redefine any of them: an agent intent with the same name replaces the built-in one.

use crate::agent::{AgentConfig, IntentAction};

/// The caller says hello.
pub const GREETING: &str = "greeting";
/// The caller ends the conversation.
pub const GOODBYE: &str = "goodbye";
/// The caller asks for a person.
pub const SPEAK_TO_HUMAN: &str = "speak_to_human";
/// The caller did not hear or understand the last reply.
pub const REPEAT: &str = "repeat";
/// The caller asks whether they are talking to a machine.
pub const ARE_YOU_A_ROBOT: &str = "are_you_a_robot";
/// The caller declines (typically an outbound call): no sale, end politely.
pub const NOT_INTERESTED: &str = "not_interested";
/// The caller asks never to be called again: a stronger form of [`NOT_INTERESTED`] that the
/// dialer must record (do-not-call lists are a legal obligation in many countries), so it is a
/// separate intent rather than a flavour of "not interested".
pub const DO_NOT_CALL: &str = "do_not_call";

/// One built-in intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinIntent {
    /// Intent name, as reported by the recognisers.
    pub name: &'static str,
    /// Caller phrasings, written as people speak on the phone.
    pub examples: &'static [&'static str],
    /// What the call should do after the reply.
    pub action: IntentAction,
    /// A sensible reply when the agent defines none (a template source: may use
    /// `{agent.name}`). `None` where the reply is not a fixed text ([`REPEAT`] says the last
    /// reply again; [`GOODBYE`] and [`SPEAK_TO_HUMAN`] use the agent's `closing`/`handoff`).
    pub default_reply: Option<&'static str>,
}

/// Every built-in intent.
pub const BUILTIN_INTENTS: &[BuiltinIntent] = &[
    BuiltinIntent {
        name: GREETING,
        examples: &[
            "hello",
            "hi",
            "hey",
            "hi there",
            "hello there",
            "good morning",
            "good afternoon",
            "good evening",
            "hey how are you",
            "hello how are you doing",
            "hi is this the right number",
            "hello is anybody there",
            "yes hello",
            "hiya",
        ],
        action: IntentAction::None,
        default_reply: Some("Hi there! How can I help you today?"),
    },
    BuiltinIntent {
        name: GOODBYE,
        examples: &[
            "goodbye",
            "bye",
            "bye bye",
            "bye now",
            "thanks bye",
            "thank you goodbye",
            "that's all i needed thanks",
            "that's everything thank you",
            "i'm all set thanks",
            "have a nice day",
            "have a good one",
            "talk to you later",
            "see you later",
            "i have to go now",
            "i'll call back later",
        ],
        action: IntentAction::EndCall,
        default_reply: None,
    },
    BuiltinIntent {
        name: SPEAK_TO_HUMAN,
        examples: &[
            "i want to talk to a person",
            "can i speak to a human",
            "let me talk to someone real",
            "connect me to a representative",
            "transfer me to an agent",
            "i need a real person",
            "operator",
            "representative please",
            "put me through to customer service",
            "can i talk to a manager",
            "i want to speak to your supervisor",
            "get me someone from your team",
            "is there a human i can talk to",
            "i'd rather talk to a person",
        ],
        action: IntentAction::Handoff,
        default_reply: None,
    },
    BuiltinIntent {
        name: REPEAT,
        examples: &[
            "can you repeat that",
            "repeat that please",
            "say that again",
            "could you say that one more time",
            "sorry what did you say",
            "pardon",
            "come again",
            "i didn't catch that",
            "i didn't hear you",
            "what was that",
            "you cut out there",
            "can you go over that again",
            "sorry i missed that",
            "say it again slower please",
        ],
        action: IntentAction::None,
        default_reply: None,
    },
    BuiltinIntent {
        name: ARE_YOU_A_ROBOT,
        examples: &[
            "are you a robot",
            "am i talking to a real person",
            "is this a machine",
            "are you a computer",
            "are you human",
            "is this an automated call",
            "are you an ai",
            "is this a recording",
            "are you a bot",
            "am i speaking with artificial intelligence",
            "are you a real person or a machine",
            "is this a virtual assistant",
            "you sound like a robot",
        ],
        action: IntentAction::None,
        default_reply: Some(
            "I'm {agent.name}, a virtual assistant. I can help with most questions, and I can \
             connect you with a person whenever you like.",
        ),
    },
    BuiltinIntent {
        name: NOT_INTERESTED,
        examples: &[
            "i'm not interested",
            "no thanks i'm not interested",
            "not interested",
            "i don't need that",
            "we already have something like that",
            "i'm happy with what i have",
            "no i don't want it",
            "this isn't for me",
            "not right now thanks",
            "i'm busy i don't have time for this",
            "we're not looking for anything",
            "please don't try to sell me anything",
            "no we're good",
        ],
        action: IntentAction::EndCall,
        default_reply: Some("I understand. Thanks for your time, and have a good day."),
    },
    BuiltinIntent {
        name: DO_NOT_CALL,
        examples: &[
            "do not call me again",
            "take me off your list",
            "remove my number from your list",
            "stop calling me",
            "put me on your do not call list",
            "don't ever call this number again",
            "remove me from your calling list",
            "i want to be taken off your call list",
            "quit calling me",
            "unsubscribe me from these calls",
            "please never call me again",
            "delete my number",
            "how did you get my number stop calling",
        ],
        action: IntentAction::EndCall,
        default_reply: Some(
            "I'm sorry for the trouble. I've removed your number from our list, and we won't \
             call you again. Goodbye.",
        ),
    },
];

/// The built-in intent called `name`, if any.
pub fn builtin_intent(name: &str) -> Option<&'static BuiltinIntent> {
    BUILTIN_INTENTS.iter().find(|b| b.name == name)
}

/// The intents an agent understands: its own (in file order) followed by every built-in
/// intent it does not redefine, as `(name, examples)` for the recognisers.
pub fn intents_with_builtins(agent: &AgentConfig) -> Vec<(String, Vec<String>)> {
    let mut all: Vec<(String, Vec<String>)> = agent
        .intents
        .iter()
        .map(|i| (i.name.clone(), i.examples.clone()))
        .collect();
    for b in BUILTIN_INTENTS {
        if agent.intent(b.name).is_none() {
            all.push((
                b.name.to_owned(),
                b.examples.iter().map(|e| (*e).to_owned()).collect(),
            ));
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Template;

    #[test]
    fn every_builtin_has_ten_to_twenty_distinct_examples() {
        for b in BUILTIN_INTENTS {
            let n = b.examples.len();
            assert!((10..=20).contains(&n), "{} has {n} examples", b.name);
            let unique: std::collections::HashSet<_> = b.examples.iter().collect();
            assert_eq!(unique.len(), n, "{} repeats an example", b.name);
        }
    }

    #[test]
    fn default_replies_are_valid_templates() {
        for b in BUILTIN_INTENTS {
            if let Some(r) = b.default_reply {
                Template::parse(r).unwrap_or_else(|e| panic!("{}: {e}", b.name));
            }
        }
    }

    #[test]
    fn agent_intents_take_precedence_by_name() {
        let agent = AgentConfig::from_toml_str(
            r#"
name = "Max"
greeting = "Hi"
fallback = "Sorry?"
closing = "Bye."
handoff = "One moment."
[[intents]]
name = "goodbye"
examples = ["ciao"]
action = "end_call"
[[intents]]
name = "hours"
examples = ["when are you open"]
reply = "Nine to five."
"#,
            "test.toml",
        )
        .unwrap();
        let all = intents_with_builtins(&agent);
        let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(&names[..2], ["goodbye", "hours"]);
        assert_eq!(names.iter().filter(|n| **n == GOODBYE).count(), 1);
        assert_eq!(all[0].1, ["ciao"]);
        assert!(names.contains(&DO_NOT_CALL) && names.contains(&REPEAT));
        assert_eq!(all.len(), 2 + BUILTIN_INTENTS.len() - 1);
    }
}
