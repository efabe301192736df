//! Builds what agents think with: sentence embeddings (when installed) and a language model
//! (when configured), shared by `serve`, `chat` and `nlu`.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use brain::embedding::{Embedder, MiniLmEmbedder};
use brain::llm::openai::{OpenAiClient, OpenAiConfig};
use brain::llm::LlmBackend;
use brain::BrainResources;

use crate::cli::LlmChoice;

/// The embedding model, when installed; its absence degrades to lexical matching, loudly.
pub fn load_embedder(models_dir: &Path) -> Option<Arc<dyn Embedder>> {
    let Some(dir) = brain::model_install::embedding_model_dir(models_dir) else {
        tracing::warn!(
            "sentence-embedding model not installed: intents use the lexical matcher and the \
             knowledge base is off (run `callpilot models install`)"
        );
        return None;
    };
    match MiniLmEmbedder::load(&dir) {
        Ok(e) => Some(Arc::new(e)),
        Err(e) => {
            tracing::warn!(error = %e, "could not load the embedding model; lexical matching only");
            None
        }
    }
}

/// The language model chosen by `--llm` / `CALLPILOT_LLM`.
pub fn load_llm(
    choice: LlmChoice,
    models_dir: &Path,
    threads: usize,
) -> anyhow::Result<Option<Arc<dyn LlmBackend>>> {
    let choice = match choice {
        LlmChoice::Auto => {
            let configured = [
                "CALLPILOT_LLM_BASE_URL",
                "OPENAI_API_KEY",
                "CALLPILOT_LLM_API_KEY",
            ]
            .iter()
            .any(|v| std::env::var(v).is_ok_and(|x| !x.trim().is_empty()));
            if configured {
                LlmChoice::Openai
            } else {
                LlmChoice::None
            }
        }
        other => other,
    };
    match choice {
        LlmChoice::None | LlmChoice::Auto => Ok(None),
        LlmChoice::Openai => {
            let config =
                OpenAiConfig::from_env().context("configuring the OpenAI-compatible LLM")?;
            let client = OpenAiClient::new(config).context("creating the LLM client")?;
            tracing::info!(llm = client.name(), "language model configured");
            Ok(Some(Arc::new(client)))
        }
        LlmChoice::Local => {
            let path = match local_llm::model_path(models_dir) {
                Some(p) => p,
                None => local_llm::install_model(models_dir)
                    .context("installing the local LLM model")?,
            };
            let config = local_llm::LlamaConfig {
                threads: u32::try_from(threads).unwrap_or(2),
                ..local_llm::LlamaConfig::default()
            };
            let backend =
                local_llm::LlamaBackend::load(&path, config).context("loading the local LLM")?;
            tracing::info!(llm = backend.name(), "embedded language model loaded");
            Ok(Some(Arc::new(backend)))
        }
    }
}

/// Embeddings + LLM + the knowledge-base cache folder.
pub fn resources(
    models_dir: &Path,
    llm: LlmChoice,
    threads: usize,
) -> anyhow::Result<BrainResources> {
    Ok(BrainResources {
        embedder: load_embedder(models_dir),
        llm: load_llm(llm, models_dir, threads)?,
        knowledge_cache: Some(models_dir.join("knowledge-cache")),
    })
}
