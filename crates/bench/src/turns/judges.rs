//! The completion judges the turn-taking sweep compares: the engine's built-in lexical rules,
//! the small chat model's end-of-turn probability (`local_llm::EndOfTurnModel`, SmolLM2-135M),
//! and both together (lexically complete *and* probable enough).

use std::path::Path;
use std::sync::{Arc, Mutex};

use conversation::{Completion, LexicalCompletion, TurnCompletion};
use local_llm::EndOfTurnModel;

/// Which judge a sweep uses.
#[derive(Clone)]
pub enum Judge {
    /// `conversation::LexicalCompletion`.
    Lexical,
    /// Complete when the model's probability reaches the threshold.
    Model(SharedModel, f32),
    /// Complete when the lexical rules say so and the model's probability reaches the threshold.
    Both(SharedModel, f32),
}

/// One model shared by every replayed call (loading it per call would dominate the sweep).
pub type SharedModel = Arc<Mutex<EndOfTurnModel>>;

/// Loads the model from `gguf` on one thread (the setting used next to the speech engines).
pub fn load_model(gguf: &Path) -> Result<SharedModel, local_llm::LocalLlmError> {
    Ok(Arc::new(Mutex::new(EndOfTurnModel::load(gguf, 1)?)))
}

impl Judge {
    /// Short name for tables.
    pub fn name(&self) -> String {
        match self {
            Judge::Lexical => "lexical".into(),
            Judge::Model(_, t) => format!("model ≥ {t}"),
            Judge::Both(_, t) => format!("lexical + model ≥ {t}"),
        }
    }

    /// A judge for one call.
    pub fn for_call(&self) -> Box<dyn TurnCompletion> {
        match self {
            Judge::Lexical => Box::new(LexicalCompletion),
            Judge::Model(m, t) => Box::new(ModelCompletion {
                model: m.clone(),
                threshold: *t,
                lexical_first: false,
            }),
            Judge::Both(m, t) => Box::new(ModelCompletion {
                model: m.clone(),
                threshold: *t,
                lexical_first: true,
            }),
        }
    }
}

struct ModelCompletion {
    model: SharedModel,
    threshold: f32,
    lexical_first: bool,
}

impl TurnCompletion for ModelCompletion {
    fn judge(&mut self, transcript: &str) -> Completion {
        if self.lexical_first && LexicalCompletion.judge(transcript) == Completion::Incomplete {
            return Completion::Incomplete;
        }
        let p = self
            .model
            .lock()
            .map_err(|_| ())
            .and_then(|mut m| m.probability(transcript).map_err(|_| ()));
        match p {
            Ok(p) if p >= self.threshold => Completion::Complete,
            Ok(_) => Completion::Incomplete,
            // A failed judgement falls back to the rules rather than guessing.
            Err(()) => LexicalCompletion.judge(transcript),
        }
    }
}
