//! Turning the brain's conversation into the messages llama.cpp's chat template renders.

use brain::llm::{ChatMessage, Role};
use llama_cpp_2::model::LlamaChatMessage;

use crate::LocalLlmError;

/// The role names chat templates expect.
fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

/// Converts the conversation for [`llama_cpp_2::model::LlamaModel::apply_chat_template`].
///
/// Messages without text are dropped: an assistant turn that only called tools carries nothing
/// this backend can render, since it never offers tools to the model (small GGUF models such as
/// SmolLM2-135M cannot call functions reliably, and pretending otherwise would be worse).
pub(crate) fn chat_messages(
    messages: &[ChatMessage],
) -> Result<Vec<LlamaChatMessage>, LocalLlmError> {
    let chat: Vec<LlamaChatMessage> = messages
        .iter()
        .filter_map(|m| m.content.as_ref().map(|text| (m.role, text)))
        .map(|(role, text)| {
            LlamaChatMessage::new(role_name(role).to_string(), text.clone())
                .map_err(|e| LocalLlmError::Prompt(format!("{} message: {e}", role_name(role))))
        })
        .collect::<Result<_, _>>()?;
    if chat.is_empty() {
        return Err(LocalLlmError::Prompt("no message has text".into()));
    }
    Ok(chat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use brain::llm::ToolCall;

    #[test]
    fn messages_keep_their_order_and_role_names() {
        let chat = chat_messages(&[
            ChatMessage::system("prices"),
            ChatMessage::user("how much?"),
            ChatMessage::assistant("$30"),
            ChatMessage::tool_result("call_1", "ok"),
        ])
        .unwrap();
        let expected: Vec<LlamaChatMessage> = [
            ("system", "prices"),
            ("user", "how much?"),
            ("assistant", "$30"),
            ("tool", "ok"),
        ]
        .iter()
        .map(|(r, t)| LlamaChatMessage::new(r.to_string(), t.to_string()).unwrap())
        .collect();
        assert_eq!(chat, expected);
    }

    #[test]
    fn tool_call_only_turns_are_dropped() {
        let tool_turn = ChatMessage {
            role: Role::Assistant,
            content: None,
            tool_calls: vec![ToolCall {
                id: "1".into(),
                name: "lookup".into(),
                arguments: "{}".into(),
            }],
            tool_call_id: None,
        };
        let chat = chat_messages(&[ChatMessage::user("hi"), tool_turn]).unwrap();
        assert_eq!(chat.len(), 1);
    }

    #[test]
    fn empty_or_nul_conversations_are_rejected() {
        assert!(matches!(chat_messages(&[]), Err(LocalLlmError::Prompt(_))));
        assert!(matches!(
            chat_messages(&[ChatMessage::user("a\0b")]),
            Err(LocalLlmError::Prompt(_))
        ));
    }
}
