//! What the language model is told: the system prompt (persona, goal, products, departments,
//! the caller's CRM record, knowledge) and the built-in tools.

use serde_json::json;

use crate::agent::{AgentConfig, KnowledgeMode};
use crate::contact::Contact;
use crate::knowledge::KnowledgeBase;
use crate::llm::ToolSpec;

/// Above this many words the knowledge base is retrieved per question instead of placed whole
/// in the prompt (`knowledge_mode = "auto"`): a long prompt costs first-token latency.
const WHOLE_KB_MAX_WORDS: usize = 1500;
/// Passages retrieved per question.
const RETRIEVED_PASSAGES: usize = 3;

/// Rules every phone agent follows: replies are heard, not read.
const SPOKEN_STYLE: &str = "You are talking on a phone call. Answer in one to three short \
sentences. Never use lists, markdown, emojis or URLs. Say numbers, prices, dates and times the \
way people speak them (\"forty-nine dollars a month\", \"ten thirty in the morning\"). Only state \
facts given in this prompt or returned by tools; if you do not know, say so. Keep to the goal of \
the call.";

/// The system prompt for one turn. `question` selects retrieved passages in retrieval mode.
pub fn system_prompt(
    agent: &AgentConfig,
    contact: Option<&Contact>,
    knowledge: Option<&KnowledgeBase>,
    question: Option<&str>,
) -> String {
    let mut p = format!("You are {}, a voice agent.", agent.name);
    let handoff_rule = if agent.handoff_target().is_some() {
        " When you cannot help, offer to connect the caller with a person (hand_off_to_human)."
    } else {
        " No human colleague is available on this line: never promise to connect the caller with a person."
    };
    if !agent.persona.trim().is_empty() {
        p.push(' ');
        p.push_str(agent.persona.trim());
    }
    p.push_str("\n\n");
    p.push_str(SPOKEN_STYLE);
    p.push_str(handoff_rule);
    if !agent.goal.trim().is_empty() {
        p.push_str(&format!("\n\nGoal of this call: {}", agent.goal.trim()));
    }
    if !agent.success.trim().is_empty() {
        p.push_str(&format!(
            "\nThe call is a success when: {}",
            agent.success.trim()
        ));
    }
    if !agent.products.is_empty() {
        p.push_str("\n\nProducts and prices:");
        for prod in &agent.products {
            p.push_str(&format!("\n- {}: {}", prod.name, prod.price));
            if !prod.description.trim().is_empty() {
                p.push_str(&format!(". {}", prod.description.trim()));
            }
        }
    }
    if !agent.departments.is_empty() {
        p.push_str("\n\nDepartments you can transfer the caller to (use the transfer_call tool):");
        for d in &agent.departments {
            p.push_str(&format!("\n- {}", d.name));
            if !d.description.trim().is_empty() {
                p.push_str(&format!(": {}", d.description.trim()));
            }
        }
    }
    match contact.map(Contact::describe).filter(|d| !d.is_empty()) {
        Some(d) => p.push_str(&format!(
            "\n\nThe caller's CRM record: {d}. Use their first name naturally."
        )),
        None => p.push_str("\n\nThe caller is not in the CRM."),
    }
    if let Some(kb) = knowledge.filter(|kb| !kb.is_empty()) {
        let whole = match agent.llm.knowledge_mode {
            KnowledgeMode::Whole => true,
            KnowledgeMode::Retrieve => false,
            KnowledgeMode::Auto => kb.word_count() <= WHOLE_KB_MAX_WORDS,
        };
        if whole {
            p.push_str("\n\nKnowledge base:\n");
            p.push_str(&kb.full_text());
        } else if let Some(q) = question {
            let passages = kb.retrieve(q, RETRIEVED_PASSAGES);
            if !passages.is_empty() {
                p.push_str("\n\nRelevant knowledge:");
                for passage in passages {
                    p.push_str(&format!("\n- {}", passage.text));
                }
            }
        }
    }
    if !agent.llm.instructions.trim().is_empty() {
        p.push_str("\n\n");
        p.push_str(agent.llm.instructions.trim());
    }
    p
}

/// The tools every agent has (transfer only when departments exist).
pub fn builtin_tools(agent: &AgentConfig) -> Vec<ToolSpec> {
    let mut tools = vec![ToolSpec {
        name: "end_call".into(),
        description: "End the call after your reply, when the conversation is finished or the caller says goodbye.".into(),
        parameters: json!({"type": "object", "properties": {"reason": {"type": "string"}}, "required": []}),
    }];
    if agent.handoff_target().is_some() {
        tools.push(ToolSpec {
            name: "hand_off_to_human".into(),
            description: "Connect the caller with a human colleague, when they ask for a person or you cannot help.".into(),
            parameters: json!({"type": "object", "properties": {"reason": {"type": "string"}}, "required": []}),
        });
    }
    tools.extend([
        ToolSpec {
            name: "send_dtmf".into(),
            description: "Press keypad keys on the call (digits 0-9, * and #), e.g. to navigate a phone menu.".into(),
            parameters: json!({"type": "object", "properties": {"digits": {"type": "string"}}, "required": ["digits"]}),
        },
        ToolSpec {
            name: "lookup_contact".into(),
            description: "Read the caller's CRM record (name, company, lead status and other fields).".into(),
            parameters: json!({"type": "object", "properties": {}, "required": []}),
        },
        ToolSpec {
            name: "record_outcome".into(),
            description: "Record what the call achieved (e.g. interested, demo_booked, not_interested) and any follow-up action.".into(),
            parameters: json!({"type": "object", "properties": {
                "outcome": {"type": "string"},
                "follow_up": {"type": "string"}
            }, "required": ["outcome"]}),
        },
    ]);
    if !agent.departments.is_empty() {
        let names: Vec<&str> = agent.departments.iter().map(|d| d.name.as_str()).collect();
        tools.push(ToolSpec {
            name: "transfer_call".into(),
            description: "Transfer the caller to a department.".into(),
            parameters: json!({"type": "object", "properties": {
                "department": {"type": "string", "enum": names}
            }, "required": ["department"]}),
        });
    }
    tools
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent() -> AgentConfig {
        AgentConfig::from_toml_str(
            r#"
name = "Ava"
persona = "Friendly and brief."
goal = "Help callers pick a plan."
greeting = "Hi"
fallback = "Sorry?"
closing = "Bye"
handoff = "One moment"
[[products]]
name = "Premium"
price = "forty-nine dollars a month"
[[departments]]
name = "billing"
number = "+14155550123"
description = "invoices and refunds"
[[intents]]
name = "x"
examples = ["x"]
reply = "y"
"#,
            "t.toml",
        )
        .unwrap()
    }

    #[test]
    fn system_prompt_carries_persona_goal_prices_departments_and_contact() {
        let a = agent();
        let c = Contact {
            first_name: Some("Ada".into()),
            company: Some("Analytical".into()),
            ..Default::default()
        };
        let p = system_prompt(&a, Some(&c), None, Some("price?"));
        for needle in [
            "You are Ava",
            "Friendly and brief.",
            "Help callers pick a plan.",
            "Premium: forty-nine dollars a month",
            "billing: invoices and refunds",
            "name: Ada",
            "company: Analytical",
            "one to three short sentences",
        ] {
            assert!(p.contains(needle), "missing {needle:?} in {p}");
        }
        assert!(system_prompt(&a, None, None, None).contains("not in the CRM"));
    }

    #[test]
    fn transfer_tool_lists_the_departments() {
        let tools = builtin_tools(&agent());
        let t = tools
            .iter()
            .find(|t| t.name == "transfer_call")
            .expect("transfer tool");
        assert_eq!(
            t.parameters["properties"]["department"]["enum"][0],
            "billing"
        );
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
        for n in crate::agent::BUILTIN_TOOL_NAMES {
            assert!(names.contains(n), "{n} missing");
        }
    }
}
