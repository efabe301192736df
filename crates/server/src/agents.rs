//! The agents this server can run, by name.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use brain::{AgentConfig, Brain, BrainResources};

use crate::ServerError;

/// A loaded agent: its definition and its brain.
pub struct LoadedAgent {
    pub config: Arc<AgentConfig>,
    pub brain: Arc<Brain>,
}

/// Agents keyed by name (the file stem: `agents/demo.toml` is `demo`), plus the default one.
pub struct AgentRegistry {
    agents: BTreeMap<String, Arc<LoadedAgent>>,
    default: String,
}

impl AgentRegistry {
    /// Loads the default agent file, then every other `*.toml` beside it. A broken default agent
    /// is an error; a broken sibling is logged and skipped so one bad file can't take the line down.
    pub fn load(
        default_agent: &Path,
        resources: &BrainResources,
    ) -> Result<AgentRegistry, ServerError> {
        let mut agents = BTreeMap::new();
        let default = stem(default_agent);
        agents.insert(
            default.clone(),
            Arc::new(load_one(default_agent, resources)?),
        );
        if let Some(dir) = default_agent.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            let entries = std::fs::read_dir(dir)
                .map_err(|e| ServerError::AgentsDir(dir.display().to_string(), e))?;
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().and_then(|e| e.to_str()) != Some("toml")
                    || stem(&path) == default
                {
                    continue;
                }
                match load_one(&path, resources) {
                    Ok(a) => {
                        agents.insert(stem(&path), Arc::new(a));
                    }
                    Err(e) => tracing::warn!(file = %path.display(), error = %e, "skipping agent"),
                }
            }
        }
        Ok(AgentRegistry { agents, default })
    }

    /// The agent named `name`, or the default one when `name` is None.
    pub fn get(&self, name: Option<&str>) -> Result<Arc<LoadedAgent>, ServerError> {
        let key = name.unwrap_or(&self.default);
        self.agents
            .get(key)
            .cloned()
            .ok_or_else(|| ServerError::UnknownAgent(key.to_string()))
    }

    /// The default agent's name.
    pub fn default_name(&self) -> &str {
        &self.default
    }

    /// Names of every loaded agent.
    pub fn names(&self) -> Vec<String> {
        self.agents.keys().cloned().collect()
    }
}

fn load_one(path: &Path, resources: &BrainResources) -> Result<LoadedAgent, ServerError> {
    let config = Arc::new(brain::load(path)?);
    let brain = Arc::new(Brain::with_resources(config.clone(), resources.clone())?);
    tracing::info!(agent = %config.name, file = %path.display(), brain = ?brain, "agent loaded");
    Ok(LoadedAgent { config, brain })
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("agent")
        .to_string()
}
