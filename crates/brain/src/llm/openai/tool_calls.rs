//! Assembles streamed tool-call fragments into whole calls (spec §1.2 accumulator rules, with the
//! fallbacks of §2 for servers that omit `index` or leave `id` empty).

use super::wire::ToolCallDelta;
use crate::llm::{LlmError, ToolCall};

#[derive(Debug, Default)]
struct Partial {
    /// The `index` the server keyed this call with, if it sent one.
    index: Option<u32>,
    id: String,
    name: String,
    arguments: String,
}

/// Collects the fragments of one completion's tool calls.
#[derive(Debug, Default)]
pub(super) struct ToolCallAccumulator {
    calls: Vec<Partial>,
    /// Calls handed out so far in this completion, so synthesized ids stay unique even when the
    /// accumulator is drained more than once.
    emitted: usize,
}

impl ToolCallAccumulator {
    /// Adds one fragment.
    pub fn push(&mut self, delta: ToolCallDelta) {
        let id = delta.id.filter(|id| !id.is_empty());
        let function = delta.function.unwrap_or_default();
        let name = function.name.clone().filter(|name| !name.is_empty());
        let arguments = function.arguments_text();

        let slot = match delta.index {
            Some(index) => match self.calls.iter().position(|c| c.index == Some(index)) {
                Some(slot) => slot,
                None => self.open(Some(index)),
            },
            // No index (Gemini, older Ollama): a fragment naming a different call starts a new
            // one; a bare arguments fragment continues the latest call.
            None => match self.calls.last() {
                Some(last) if !starts_new_call(last, id.as_deref(), name.as_deref()) => {
                    self.calls.len() - 1
                }
                _ => self.open(None),
            },
        };
        let call = &mut self.calls[slot];
        if let Some(id) = id {
            if call.id.is_empty() {
                call.id = id;
            }
        }
        if let Some(name) = name {
            // Only the first fragment names the function; servers that repeat it must not
            // produce "reschedulereschedule".
            if call.name.is_empty() {
                call.name = name;
            }
        }
        if let Some(arguments) = arguments {
            call.arguments.push_str(&arguments);
        }
    }

    fn open(&mut self, index: Option<u32>) -> usize {
        self.calls.push(Partial {
            index,
            ..Partial::default()
        });
        self.calls.len() - 1
    }

    /// Takes the calls gathered so far, ordered by `index`, with empty ids replaced by
    /// `call_<n>` (the brain echoes that id in the tool result message, so it only has to be
    /// unique within the turn) and empty arguments by `{}` (servers omit them for functions
    /// without parameters). The arguments are passed on as the model wrote them: validating
    /// them is the tool's job, so a bad call can be answered with an error the model reads.
    pub fn drain(&mut self) -> Result<Vec<ToolCall>, LlmError> {
        let mut calls = std::mem::take(&mut self.calls);
        // Stable: calls without index keep their arrival order.
        calls.sort_by_key(|call| call.index.unwrap_or(u32::MAX));
        let mut out = Vec::with_capacity(calls.len());
        for call in calls {
            self.emitted += 1;
            if call.name.is_empty() {
                return Err(LlmError::Protocol(format!(
                    "tool call #{} has no function name",
                    self.emitted
                )));
            }
            let id = if call.id.is_empty() {
                format!("call_{}", self.emitted)
            } else {
                call.id
            };
            let arguments = if call.arguments.trim().is_empty() {
                "{}".to_owned()
            } else {
                call.arguments
            };
            out.push(ToolCall {
                id,
                name: call.name,
                arguments,
            });
        }
        Ok(out)
    }
}

fn starts_new_call(current: &Partial, id: Option<&str>, name: Option<&str>) -> bool {
    let differs = |new: Option<&str>, old: &str| new.is_some_and(|new| new != old);
    differs(id, &current.id) || differs(name, &current.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::openai::wire::FunctionDelta;
    use serde_json::json;

    fn fragment(
        index: Option<u32>,
        id: Option<&str>,
        name: Option<&str>,
        args: &str,
    ) -> ToolCallDelta {
        ToolCallDelta {
            index,
            id: id.map(str::to_owned),
            function: Some(FunctionDelta {
                name: name.map(str::to_owned),
                arguments: Some(json!(args)),
            }),
        }
    }

    #[test]
    fn fragments_without_index_split_on_new_id_or_name() {
        let mut acc = ToolCallAccumulator::default();
        acc.push(fragment(None, Some("a"), Some("lookup"), "{\"q\":"));
        acc.push(fragment(None, None, None, "1}"));
        acc.push(fragment(None, Some("b"), Some("lookup"), "{\"q\":2}"));
        acc.push(fragment(None, None, Some("hangup"), ""));
        let calls = acc.drain().unwrap();
        let got: Vec<_> = calls
            .iter()
            .map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a", "lookup", "{\"q\":1}"),
                ("b", "lookup", "{\"q\":2}"),
                ("call_3", "hangup", "{}"),
            ]
        );
    }

    #[test]
    fn empty_ids_are_synthesized_and_object_arguments_serialized() {
        let mut acc = ToolCallAccumulator::default();
        acc.push(ToolCallDelta {
            index: Some(0),
            id: Some(String::new()),
            function: Some(FunctionDelta {
                name: Some("book".into()),
                arguments: Some(json!({"day": "friday"})),
            }),
        });
        let calls = acc.drain().unwrap();
        assert_eq!(calls[0].id, "call_1");
        assert_eq!(calls[0].arguments, r#"{"day":"friday"}"#);
    }

    #[test]
    fn nameless_call_is_a_protocol_error() {
        let mut acc = ToolCallAccumulator::default();
        acc.push(fragment(Some(0), Some("x"), None, "{}"));
        assert!(matches!(acc.drain(), Err(LlmError::Protocol(_))));
    }
}
