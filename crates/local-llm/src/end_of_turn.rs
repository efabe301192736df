//! [`EndOfTurnModel`]: does the caller's transcript so far read like a finished utterance?
//!
//! The LiveKit turn-detector idea with the model we already ship: render the transcript as the
//! user message of a ChatML conversation *without* its closing tag and read the model's
//! next-token distribution. A finished utterance ("how much is the premium plan") makes ending
//! likely; a fragment ("i would like to") makes another word likely. A voice agent can then
//! answer after a short silence when the probability is high and wait longer when it is low.
//!
//! What counts as "ending": LiveKit's detector is fine-tuned so that `<|im_end|>` follows a
//! finished, unpunctuated transcript. SmolLM2-Instruct is not: after "how much is the premium
//! plan" it puts almost no mass on `<|im_end|>` (below 6e-4 for every finished utterance of the
//! labelled set) because it expects the `?` first. So [`EndOfTurnModel::probability`] is
//! P(next token is `<|im_end|>` or sentence-final punctuation), [`Judgement::end_of_turn`];
//! the plain P(`<|im_end|>`) is kept as [`Judgement::end_of_message`]. See README.md for both
//! evaluated on labelled utterances.
//!
//! Cost: the system prompt's KV cache is evaluated once at load and kept; each judgement drops
//! the previous transcript's tokens from the cache and evaluates only the new transcript's
//! tokens, reading the logits of the last one.
//!
//! Like [`crate::LlamaBackend`], the model and its context live on a dedicated worker thread:
//! the context borrows the model (`LlamaContext<'model>`), so owning both in one `Send` value
//! would need a self-referential struct and `unsafe`; a thread and two channels cost microseconds
//! against a judgement's milliseconds.

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend as LlamaCppBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crate::backend::process_backend;
use crate::LocalLlmError;

/// The fixed system message. Short, because every token of it is evaluated once per load and
/// attended to on every judgement; it frames the text as a caller on a phone line so that the
/// model reads fragments as speech that may continue.
pub const END_OF_TURN_SYSTEM_PROMPT: &str =
    "You are a phone agent. The caller's words are transcribed as they speak.";

/// The ChatML end-of-message token.
const END_OF_MESSAGE: &str = "<|im_end|>";

/// Characters that end a sentence when a token starts with one of them.
const SENTENCE_END: &[char] = &['.', '?', '!'];

/// Only the transcript's last tokens are judged: the end of an utterance decides whether it is
/// finished, and a bounded input keeps a judgement's cost bounded on a long monologue (LiveKit's
/// detector keeps 128 tokens too).
pub const MAX_TRANSCRIPT_TOKENS: usize = 128;

/// Context window: the system prefix (~25 tokens) plus [`MAX_TRANSCRIPT_TOKENS`], with room.
const CONTEXT_TOKENS: u32 = 256;

/// Characters a transcript's end may carry that are dropped before judging. Sentence and clause
/// punctuation (and the dashes and ellipses STTs write for a cut-off word) state the answer
/// outright when present, and a streaming STT's interim text has none, so judging the words alone
/// matches what the detector sees mid-call. Apostrophes are kept: they belong to words.
const TRAILING_PUNCTUATION: &[char] = &[
    '.', '?', '!', ',', ';', ':', '…', '-', '–', '—', '"', '“', '”', '«', '»', '¿', '¡', '。',
    '？', '！', '、', '，',
];

/// The transcript as a streaming STT gives it: lowercase, whitespace collapsed to single spaces,
/// and no punctuation at the end. Punctuation inside the text (the comma in "um, my name is") is
/// kept: it says nothing about whether the caller has finished.
pub fn normalize_transcript(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed
        .to_lowercase()
        .trim_end_matches(|c: char| TRAILING_PUNCTUATION.contains(&c) || c.is_whitespace())
        .to_owned()
}

/// One judgement of a transcript: probabilities of the model's next token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement {
    /// P(next token is `<|im_end|>` or sentence-final punctuation: `.`, `?`, `!`, alone or
    /// followed by whitespace, quotes or brackets; not `...`, not `.com`). What
    /// [`EndOfTurnModel::probability`] returns.
    pub end_of_turn: f32,
    /// P(next token is `<|im_end|>`) alone: LiveKit's quantity, tiny on unpunctuated text for a
    /// model not fine-tuned for it (see the module documentation).
    pub end_of_message: f32,
}

/// A small chat model judging whether a caller's turn is over; see the module documentation.
///
/// `Send` (it can move into a blocking task or a worker of its own) but not `Sync`: judgements
/// run one at a time, which `&mut self` states.
pub struct EndOfTurnModel {
    texts: mpsc::Sender<String>,
    answers: mpsc::Receiver<Result<Judgement, LocalLlmError>>,
    prefix_tokens: usize,
    load_time: Duration,
}

impl std::fmt::Debug for EndOfTurnModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndOfTurnModel")
            .field("prefix_tokens", &self.prefix_tokens)
            .finish_non_exhaustive()
    }
}

impl EndOfTurnModel {
    /// Loads `gguf` (a ChatML model such as SmolLM2-Instruct) on a new worker thread using
    /// `threads` CPU threads, and evaluates the system prefix once.
    pub fn load(gguf: &Path, threads: u32) -> Result<Self, LocalLlmError> {
        let started = Instant::now();
        let backend = process_backend()?;
        let load_error = |message: String| LocalLlmError::Load {
            path: gguf.to_path_buf(),
            message,
        };
        if !gguf.is_file() {
            return Err(load_error("no such file".into()));
        }
        let path = gguf.to_path_buf();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (texts, text_rx) = mpsc::channel::<String>();
        let (answer_tx, answers) = mpsc::channel();
        thread::Builder::new()
            .name("end-of-turn".into())
            .spawn(move || worker(backend, &path, threads, ready_tx, text_rx, answer_tx))?;
        let prefix_tokens = ready_rx
            .recv()
            .map_err(|_| load_error("the worker thread died while loading".into()))?
            .map_err(load_error)?;
        Ok(EndOfTurnModel {
            texts,
            answers,
            prefix_tokens,
            load_time: started.elapsed(),
        })
    }

    /// The probability that the caller's words so far are a finished utterance
    /// ([`Judgement::end_of_turn`]), after [`normalize_transcript`].
    pub fn probability(&mut self, transcript: &str) -> Result<f32, LocalLlmError> {
        Ok(self.judge(transcript)?.end_of_turn)
    }

    /// Both probabilities for `transcript`, after [`normalize_transcript`].
    pub fn judge(&mut self, transcript: &str) -> Result<Judgement, LocalLlmError> {
        self.judge_verbatim(&normalize_transcript(transcript))
    }

    /// The judgement of `text` exactly as given (case and punctuation kept), for callers whose
    /// transcripts are normalised already and for comparing normalisations.
    pub fn judge_verbatim(&mut self, text: &str) -> Result<Judgement, LocalLlmError> {
        if text.trim().is_empty() {
            return Err(LocalLlmError::Prompt("the transcript is empty".into()));
        }
        self.texts
            .send(text.to_owned())
            .map_err(|_| LocalLlmError::WorkerStopped)?;
        self.answers
            .recv()
            .map_err(|_| LocalLlmError::WorkerStopped)?
    }

    /// Tokens of the cached system prefix (evaluated once, at load).
    pub fn prefix_tokens(&self) -> usize {
        self.prefix_tokens
    }

    /// How long [`EndOfTurnModel::load`] took (model file, context, system prefix).
    pub fn load_time(&self) -> Duration {
        self.load_time
    }
}

/// The worker thread: owns the model and its context and answers until the model is dropped.
fn worker(
    backend: &'static LlamaCppBackend,
    path: &Path,
    threads: u32,
    ready: mpsc::Sender<Result<usize, String>>,
    texts: mpsc::Receiver<String>,
    answers: mpsc::Sender<Result<Judgement, LocalLlmError>>,
) {
    let model = match LlamaModel::load_from_file(backend, path, &LlamaModelParams::default()) {
        Ok(model) => model,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    let mut judge = match Judge::new(backend, &model, threads) {
        Ok(judge) => judge,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(judge.prefix_len));
    // Ends when the EndOfTurnModel (the only sender) is dropped.
    for text in texts {
        if answers.send(judge.judge(&text)).is_err() {
            return;
        }
    }
}

/// A context whose KV cache holds the system prefix at positions `0..prefix_len`.
struct Judge<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    prefix_len: usize,
    end_token: LlamaToken,
    /// Token ids that start with sentence-final punctuation (see [`Judgement::end_of_turn`]).
    sentence_end_tokens: Vec<usize>,
    batch: LlamaBatch<'static>,
}

impl<'m> Judge<'m> {
    fn new(backend: &LlamaCppBackend, model: &'m LlamaModel, threads: u32) -> Result<Self, String> {
        let vocab = model.vocab();
        let end = vocab.tokenize(END_OF_MESSAGE.as_bytes(), false, true);
        let &[end_token] = end.as_slice() else {
            return Err(format!(
                "{END_OF_MESSAGE} is not a single token in this model's vocabulary: not a ChatML model"
            ));
        };
        let prefix_text = format!(
            "<|im_start|>system\n{END_OF_TURN_SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n"
        );
        let mut prefix = vocab.tokenize(prefix_text.as_bytes(), false, true);
        if vocab.should_add_bos() && prefix.first() != Some(&vocab.bos()) {
            prefix.insert(0, vocab.bos());
        }
        let threads = i32::try_from(threads.max(1)).unwrap_or(i32::MAX);
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(CONTEXT_TOKENS))
            .with_n_batch(CONTEXT_TOKENS)
            .with_n_ubatch(CONTEXT_TOKENS)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let ctx = model
            .new_context(backend, params)
            .map_err(|e| format!("cannot create a context: {e}"))?;
        if prefix.len() + MAX_TRANSCRIPT_TOKENS > CONTEXT_TOKENS as usize {
            return Err(format!(
                "system prefix of {} tokens leaves no room for a transcript",
                prefix.len()
            ));
        }
        let sentence_end_tokens = (0..vocab.n_tokens())
            .filter(|&id| {
                let piece = vocab.token_to_piece(LlamaToken(id), false, None);
                ends_sentence(&String::from_utf8_lossy(&piece))
            })
            .filter_map(|id| usize::try_from(id).ok())
            .collect();
        let mut judge = Judge {
            model,
            ctx,
            prefix_len: 0,
            end_token,
            sentence_end_tokens,
            batch: LlamaBatch::new(CONTEXT_TOKENS as usize, 1),
        };
        judge
            .decode_at(&prefix, 0)
            .map_err(|e| format!("system prefix: {e}"))?;
        judge.prefix_len = prefix.len();
        Ok(judge)
    }

    /// Evaluates `tokens` at positions `start..`, logits for the last one only.
    fn decode_at(&mut self, tokens: &[LlamaToken], start: usize) -> Result<(), LocalLlmError> {
        self.batch.clear();
        for (i, &token) in tokens.iter().enumerate() {
            let pos = i32::try_from(start + i).unwrap_or(i32::MAX);
            self.batch
                .add(token, pos, &[0], i + 1 == tokens.len())
                .map_err(|e| LocalLlmError::Decode(e.to_string()))?;
        }
        self.ctx
            .decode(&mut self.batch)
            .map_err(|e| LocalLlmError::Decode(e.to_string()))
    }

    fn judge(&mut self, text: &str) -> Result<Judgement, LocalLlmError> {
        // parse_special = false: a transcript spelling "<|im_end|>" stays text and cannot close
        // the message itself.
        let mut tokens = self.model.vocab().tokenize(text.as_bytes(), false, false);
        if tokens.is_empty() {
            return Err(LocalLlmError::Prompt("the transcript is empty".into()));
        }
        if tokens.len() > MAX_TRANSCRIPT_TOKENS {
            tokens.drain(..tokens.len() - MAX_TRANSCRIPT_TOKENS);
        }
        // Drop the previous transcript; the system prefix before it stays cached. Also clears
        // whatever a failed decode may have left behind.
        let p0 = u32::try_from(self.prefix_len).unwrap_or(u32::MAX);
        self.ctx
            .kv_cache_seq_rm(0, Some(p0), None)
            .map_err(|e| LocalLlmError::Decode(format!("cannot drop the last transcript: {e}")))?;
        self.decode_at(&tokens, self.prefix_len)?;
        let last = self.batch.n_tokens() - 1;
        let logits = self.ctx.get_logits_ith(last);
        let end = usize::try_from(self.end_token.0).unwrap_or(usize::MAX);
        let probability = |ids: &[usize]| softmax_mass(logits, ids);
        let end_of_message = probability(&[end])
            .ok_or_else(|| LocalLlmError::Decode("end token outside the logits".into()))?;
        let punctuation = probability(&self.sentence_end_tokens).unwrap_or(0.0);
        Ok(Judgement {
            end_of_message,
            end_of_turn: (end_of_message + punctuation).min(1.0),
        })
    }
}

/// Whether a token's text starts a new sentence boundary: `.`, `?` or `!` first, then nothing
/// but more `?`/`!`, whitespace, quotes or closing brackets. Ellipses (trailing off) and `.com`
/// style pieces are not sentence ends.
fn ends_sentence(piece: &str) -> bool {
    let mut chars = piece.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    SENTENCE_END.contains(&first)
        && !piece.starts_with("..")
        && chars.all(|c| {
            matches!(c, '?' | '!' | '"' | '\'' | ')' | ']' | '”' | '’') || c.is_whitespace()
        })
}

/// The softmax probability mass of the tokens `ids` (all within `logits`), computed stably;
/// `None` when an id is out of range.
fn softmax_mass(logits: &[f32], ids: &[usize]) -> Option<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
    let mut mass = 0.0f64;
    for &id in ids {
        mass += f64::from(*logits.get(id)? - max).exp();
    }
    Some((mass / sum) as f32)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn normalisation_lowercases_and_drops_final_punctuation() {
        assert_eq!(
            normalize_transcript("How much is the Premium plan?"),
            "how much is the premium plan"
        );
        assert_eq!(
            normalize_transcript("I was wondering..."),
            "i was wondering"
        );
        assert_eq!(normalize_transcript("I was-"), "i was");
        assert_eq!(normalize_transcript("  Yes!  "), "yes");
        assert_eq!(normalize_transcript("He said \"stop.\""), "he said \"stop");
        assert_eq!(normalize_transcript("Wait… "), "wait");
    }

    #[test]
    fn normalisation_keeps_inner_punctuation_apostrophes_and_numbers() {
        assert_eq!(normalize_transcript("Um, my name is"), "um, my name is");
        assert_eq!(
            normalize_transcript("That's   all,\nthanks."),
            "that's all, thanks"
        );
        assert_eq!(
            normalize_transcript("It costs 5 dollars"),
            "it costs 5 dollars"
        );
        assert_eq!(normalize_transcript("?!."), "");
        assert_eq!(normalize_transcript(""), "");
    }

    #[test]
    fn softmax_mass_matches_the_definition() {
        let logits = [1.0f32, 2.0, 3.0];
        let z: f32 = logits.iter().map(|l| l.exp()).sum();
        for (i, &l) in logits.iter().enumerate() {
            let p = softmax_mass(&logits, &[i]).unwrap();
            assert!((p - l.exp() / z).abs() < 1e-6);
        }
        let both = softmax_mass(&logits, &[0, 2]).unwrap();
        assert!((both - (1f32.exp() + 3f32.exp()) / z).abs() < 1e-6);
        assert!((softmax_mass(&logits, &[0, 1, 2]).unwrap() - 1.0).abs() < 1e-6);
        // Large logits would overflow a naive exp.
        assert!((softmax_mass(&[1000.0, 1000.0], &[1]).unwrap() - 0.5).abs() < 1e-6);
        assert_eq!(softmax_mass(&logits, &[3]), None);
    }

    #[test]
    fn sentence_end_tokens_are_final_punctuation_only() {
        for piece in [".", "?", "!", "?!", ".\n", "?\n\n", ".\"", "!)", ". "] {
            assert!(ends_sentence(piece), "{piece:?}");
        }
        for piece in ["", ",", "...", "..", ".com", ".5", "?a", " .", "a.", ":"] {
            assert!(!ends_sentence(piece), "{piece:?}");
        }
    }

    #[test]
    fn end_of_turn_model_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<EndOfTurnModel>();
    }

    fn installed_model() -> Option<PathBuf> {
        let dir = match std::env::var_os("CALLPILOT_MODELS_DIR") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"),
        };
        let found = crate::model_path(&dir);
        if found.is_none() {
            eprintln!(
                "skipped: no model under {} (run `make models` or set CALLPILOT_MODELS_DIR)",
                dir.display()
            );
        }
        found
    }

    #[test]
    fn finished_question_scores_above_a_fragment_and_the_cache_is_reused_correctly() {
        let Some(gguf) = installed_model() else {
            return;
        };
        let mut model = EndOfTurnModel::load(&gguf, 2).expect("load");
        let complete = model.judge("How much is the premium plan?").expect("judge");
        let fragment = model.judge("I would like to").expect("judge");
        assert!(
            complete.end_of_turn > fragment.end_of_turn,
            "complete {complete:?}, fragment {fragment:?}"
        );
        assert!(
            complete.end_of_message > fragment.end_of_message,
            "complete {complete:?}, fragment {fragment:?}"
        );
        for j in [complete, fragment] {
            assert!((0.0..=1.0).contains(&j.end_of_turn), "{j:?}");
            assert!(j.end_of_message <= j.end_of_turn, "{j:?}");
        }
        // A longer transcript in between must be dropped from the cache completely: judging the
        // first text again gives the same answer.
        model
            .probability("my number is four one five five five zero one two three four")
            .expect("judge");
        let again = model.judge("How much is the premium plan?").expect("judge");
        assert!(
            (again.end_of_turn - complete.end_of_turn).abs() < 1e-4
                && (again.end_of_message / complete.end_of_message - 1.0).abs() < 1e-2,
            "{again:?} vs {complete:?}"
        );
        assert!(matches!(
            model.probability(" ?! "),
            Err(LocalLlmError::Prompt(_))
        ));
    }
}
