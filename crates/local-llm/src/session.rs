//! One llama.cpp context and the tokens its KV cache holds: prompt evaluation with prefix reuse,
//! sampling, and streaming of the reply. Lives on the backend's worker thread only.
//!
//! Why prefix reuse matters: on 2 CPU cores evaluating a ~380-token system prompt costs
//! 1.5–1.8 s, while a phone turn only adds a few caller tokens. The context keeps the KV cache of
//! everything it evaluated (`cached`); each request's prompt tokens are compared with it, the
//! cache is cut after the longest common prefix (`llama_memory_seq_rm`), and only the new
//! suffix is evaluated. The system prompt and earlier turns are then never evaluated twice.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use brain::llm::{ChatRequest, LlmError, LlmEvent, Usage};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend as LlamaCppBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::{LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::mpsc::UnboundedSender;

use crate::prompt::chat_messages;
use crate::text::{StopScanner, Utf8Pieces};
use crate::{LlamaConfig, LocalLlmError, TurnStats};

/// Sends stream items to whoever called `stream_chat`.
pub(crate) type EventSender = UnboundedSender<Result<LlmEvent, LlmError>>;

/// Repetition penalty window (tokens) when `repeat_penalty` is on.
const PENALTY_LAST_N: i32 = 64;

/// How a request ended.
#[derive(Debug)]
pub(crate) struct Finished {
    /// "stop" (end-of-turn token or stop string), "length" (max_tokens or context full) or
    /// "cancelled" (the stream was dropped).
    pub(crate) finish_reason: &'static str,
    pub(crate) usage: Usage,
    pub(crate) stats: TurnStats,
}

/// A context over a loaded model, with the tokens currently in its KV cache (sequence 0).
pub(crate) struct Session<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    template: LlamaChatTemplate,
    config: LlamaConfig,
    /// Exactly the tokens whose keys/values sit in the cache, at positions 0..len.
    cached: Vec<LlamaToken>,
    batch_size: usize,
}

impl<'m> Session<'m> {
    /// Creates the inference context and picks the model's chat template.
    pub(crate) fn new(
        backend: &LlamaCppBackend,
        model: &'m LlamaModel,
        config: LlamaConfig,
    ) -> Result<Self, String> {
        let threads = i32::try_from(config.threads.max(1)).unwrap_or(i32::MAX);
        // Prompt chunks: large enough for a system prompt in one or two passes, small enough
        // that the compute buffer stays modest on a phone-agent host.
        let batch_size = config.context.clamp(1, 512);
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(config.context.max(16)))
            .with_n_batch(batch_size)
            .with_n_ubatch(batch_size)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let ctx = model
            .new_context(backend, params)
            .map_err(|e| format!("cannot create a context: {e}"))?;
        // The template baked into the GGUF is the one the model was tuned on; a model without
        // one (a base model) gets ChatML, llama.cpp's own fallback, so it still answers.
        let template = match model.chat_template(None) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("GGUF has no chat template ({e}); using ChatML");
                LlamaChatTemplate::new("chatml").map_err(|e| e.to_string())?
            }
        };
        Ok(Session {
            model,
            ctx,
            template,
            config,
            cached: Vec::new(),
            batch_size: batch_size as usize,
        })
    }

    /// Answers one request, streaming its text into `events`. The caller sends `Done` (after
    /// recording the stats, so that whoever sees `Done` also sees this turn's stats); errors are
    /// returned, not sent.
    pub(crate) fn run(
        &mut self,
        request: &ChatRequest,
        events: &EventSender,
    ) -> Result<Finished, LocalLlmError> {
        let started = Instant::now();
        if !request.tools.is_empty() {
            tracing::debug!(
                tools = request.tools.len(),
                "local model ignores tools: it answers in text only"
            );
        }
        let prompt = self.prompt_tokens(request)?;
        if prompt.is_empty() {
            return Err(LocalLlmError::Prompt(
                "the chat template rendered nothing".into(),
            ));
        }
        let n_ctx = self.ctx.n_ctx();
        if prompt.len() >= n_ctx as usize {
            return Err(LocalLlmError::PromptTooLong {
                prompt_tokens: prompt.len(),
                context: n_ctx,
            });
        }
        let reused = self.reuse_prefix(&prompt);
        let mut last_logits = self.evaluate(&prompt[reused..])?;
        let prompt_eval = started.elapsed();

        let max_tokens = request.max_tokens.unwrap_or(self.config.max_tokens);
        let temperature = request.temperature.unwrap_or(self.config.temperature);
        let mut sampler = self.sampler(temperature);
        let vocab = self.model.vocab();
        let mut pieces = Utf8Pieces::default();
        let mut stops = StopScanner::new(&self.config.stop);
        let mut first_token = None;
        let mut completion_tokens = 0u32;
        let mut batch = LlamaBatch::new(1, 1);
        let mut hit_stop_string = false;
        let mut finish_reason = loop {
            if events.is_closed() {
                // The caller dropped the stream (e.g. barge-in): stop spending CPU.
                break "cancelled";
            }
            if completion_tokens >= max_tokens {
                break "length";
            }
            let token = sampler.sample(&self.ctx, last_logits);
            first_token.get_or_insert_with(|| started.elapsed());
            if vocab.is_eog(token) {
                break "stop";
            }
            completion_tokens += 1;
            let text = pieces.push(&vocab.token_to_piece(token, false, None));
            let scanned = stops.push(&text);
            if !scanned.text.is_empty()
                && events.send(Ok(LlmEvent::TextDelta(scanned.text))).is_err()
            {
                break "cancelled";
            }
            if scanned.stopped {
                hit_stop_string = true;
                break "stop";
            }
            if completion_tokens >= max_tokens {
                break "length";
            }
            if self.cached.len() >= n_ctx as usize {
                break "length"; // no KV slot left for this token
            }
            batch.clear();
            let pos = i32::try_from(self.cached.len()).unwrap_or(i32::MAX);
            batch
                .add(token, pos, &[0], true)
                .map_err(|e| LocalLlmError::Decode(e.to_string()))?;
            if let Err(e) = self.ctx.decode(&mut batch) {
                self.forget_cache();
                return Err(LocalLlmError::Decode(e.to_string()));
            }
            self.cached.push(token);
            last_logits = 0;
        };
        // Text held for a possible stop string or an unfinished character was real reply text,
        // unless a stop string ended the reply (then everything after it is dropped).
        if !hit_stop_string {
            let tail = stops.push(&pieces.finish());
            let mut rest = tail.text;
            if tail.stopped {
                finish_reason = "stop";
            } else {
                rest.push_str(&stops.finish());
            }
            if !rest.is_empty() {
                let _ = events.send(Ok(LlmEvent::TextDelta(rest)));
            }
        }
        let usage = Usage {
            prompt_tokens: u32::try_from(prompt.len()).unwrap_or(u32::MAX),
            completion_tokens,
        };
        let total = started.elapsed();
        Ok(Finished {
            finish_reason,
            usage,
            stats: TurnStats {
                prompt_tokens: usage.prompt_tokens,
                reused_tokens: u32::try_from(reused).unwrap_or(u32::MAX),
                completion_tokens,
                prompt_eval,
                first_token: first_token.unwrap_or(total),
                total,
            },
        })
    }

    /// Renders the conversation with the chat template (ending with the assistant's opening
    /// tag) and tokenizes it, control tokens included.
    fn prompt_tokens(&self, request: &ChatRequest) -> Result<Vec<LlamaToken>, LocalLlmError> {
        let chat = chat_messages(&request.messages)?;
        let text = self
            .model
            .apply_chat_template(&self.template, &chat, true)
            .map_err(|e| LocalLlmError::Prompt(format!("chat template: {e}")))?;
        let vocab = self.model.vocab();
        let mut tokens = vocab.tokenize(text.as_bytes(), false, true);
        // Templates that spell out BOS themselves (llama 3) must not get a second one.
        if vocab.should_add_bos() && tokens.first() != Some(&vocab.bos()) {
            tokens.insert(0, vocab.bos());
        }
        Ok(tokens)
    }

    /// Keeps the cached prefix shared with `prompt`, drops the rest of the cache, and returns
    /// how many prompt tokens need no evaluation.
    fn reuse_prefix(&mut self, prompt: &[LlamaToken]) -> usize {
        let mut keep = common_prefix_len(&self.cached, prompt);
        // The last prompt token is always evaluated again: its logits pick the first reply token.
        if keep == prompt.len() {
            keep = keep.saturating_sub(1);
        }
        if keep < self.cached.len() {
            let p0 = u32::try_from(keep).unwrap_or(u32::MAX);
            if self.ctx.kv_cache_seq_rm(0, Some(p0), None).is_err() {
                // Some memory kinds (recurrent models) cannot drop a tail: start over.
                self.forget_cache();
                return 0;
            }
            self.cached.truncate(keep);
        }
        keep
    }

    /// Evaluates `tokens` after the cached ones in chunks; returns the batch index whose
    /// logits the sampler reads (the last token of the last chunk).
    fn evaluate(&mut self, tokens: &[LlamaToken]) -> Result<i32, LocalLlmError> {
        let mut batch = LlamaBatch::new(self.batch_size, 1);
        let mut last = 0;
        for chunk in tokens.chunks(self.batch_size) {
            batch.clear();
            for (i, &token) in chunk.iter().enumerate() {
                let pos = i32::try_from(self.cached.len() + i).unwrap_or(i32::MAX);
                batch
                    .add(token, pos, &[0], i + 1 == chunk.len())
                    .map_err(|e| LocalLlmError::Decode(e.to_string()))?;
            }
            if let Err(e) = self.ctx.decode(&mut batch) {
                self.forget_cache();
                return Err(LocalLlmError::Decode(e.to_string()));
            }
            self.cached.extend_from_slice(chunk);
            last = batch.n_tokens() - 1;
        }
        Ok(last)
    }

    /// Empties the KV cache after a failure left it in an unknown state.
    fn forget_cache(&mut self) {
        self.ctx.clear_kv_cache();
        self.cached.clear();
    }

    /// Greedy at temperature 0 (deterministic, best for short factual answers), else the usual
    /// top-k/top-p/temperature chain. A mild repetition penalty first: tiny models loop.
    fn sampler(&self, temperature: f32) -> LlamaSampler {
        let mut chain = Vec::new();
        if self.config.repeat_penalty != 1.0 {
            chain.push(LlamaSampler::penalties(
                self.model.n_vocab(),
                PENALTY_LAST_N,
                self.config.repeat_penalty,
                0.0,
                0.0,
            ));
        }
        if temperature <= 0.0 {
            chain.push(LlamaSampler::greedy());
        } else {
            chain.push(LlamaSampler::top_k(40));
            chain.push(LlamaSampler::top_p(0.95, 1));
            chain.push(LlamaSampler::temp(temperature));
            chain.push(LlamaSampler::dist(random_seed()));
        }
        LlamaSampler::chain_simple(chain)
    }
}

/// How many leading tokens two sequences share.
pub(crate) fn common_prefix_len(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// A different seed per request so sampled answers vary, as they would from a server.
fn random_seed() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .subsec_nanos();
    nanos ^ std::process::id()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(ids: &[i32]) -> Vec<LlamaToken> {
        ids.iter().map(|&i| LlamaToken(i)).collect()
    }

    #[test]
    fn common_prefix_stops_at_first_difference() {
        assert_eq!(
            common_prefix_len(&toks(&[1, 2, 3, 4]), &toks(&[1, 2, 9])),
            2
        );
        assert_eq!(common_prefix_len(&toks(&[1, 2]), &toks(&[1, 2, 3])), 2);
        assert_eq!(common_prefix_len(&toks(&[]), &toks(&[1])), 0);
    }
}
