//! The caller script (`caller.yaml`): who calls whom, and what the synthetic caller does, step by
//! step.
//!
//! ```yaml
//! from: "+14155550100"
//! to: "+14155550199"
//! steps:
//!   - listen                                   # agent speaks, then stays quiet >= 1 s
//!   - listen: { timeout_s: 10, quiet_ms: 1500 } # same, with explicit bounds
//!   - say: "How much is the premium plan?"
//!   - interrupt: { after_ms: 2500, say: "Sorry, how much is basic?" }
//!   - dtmf: "1#"
//!   - pause: 1.0                               # seconds of caller silence
//!   - hangup
//! ```
//!
//! Steps are parsed by a hand-written visitor rather than a derived enum so that the bare forms
//! (`- listen`) and the keyed forms (`- listen: {...}`) both work, and so that every mistake is
//! reported by serde_yaml together with its line and column.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::error::ScriptError;

/// How long a `listen` waits for the agent by default.
pub const DEFAULT_LISTEN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the agent must stay quiet to end a `listen` by default.
pub const DEFAULT_QUIET: Duration = Duration::from_millis(1000);
/// Longest accepted `pause`, `timeout_s` and `after_ms`: a script is a conversation, not a soak test.
const MAX_WAIT: Duration = Duration::from_secs(600);

const STEP_NAMES: &[&str] = &["listen", "say", "interrupt", "dtmf", "pause", "hangup"];

/// A synthetic caller: the numbers of the call and the steps the caller performs in order.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerScript {
    /// Caller ID (`From`), usually E.164.
    pub from: String,
    /// Called number (`To`).
    pub to: String,
    /// Free text for humans; not used by the sim.
    #[serde(default)]
    pub description: Option<String>,
    /// What the caller does, in order.
    pub steps: Vec<Step>,
}

/// One thing the caller does.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Wait until the agent has spoken and then stayed quiet.
    Listen(Listen),
    /// Speak a line (synthesized with the sim's TTS).
    Say(String),
    /// Wait until the agent's audio starts, then speak into it.
    Interrupt(Interrupt),
    /// Press keys: one `dtmf` event per digit (`0-9`, `*`, `#`).
    Dtmf(String),
    /// Stay silent for a while.
    Pause(Duration),
    /// Hang up: send `stop` and close the stream (if it is still open).
    Hangup,
}

/// Bounds of a `listen` step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Listen {
    /// Give up (with a warning in the report) if the agent has not spoken and gone quiet by then.
    pub timeout: Duration,
    /// Quiet time after the agent's speech that ends the step.
    pub quiet: Duration,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            timeout: DEFAULT_LISTEN_TIMEOUT,
            quiet: DEFAULT_QUIET,
        }
    }
}

/// An `interrupt` step: speak `after` into the agent's next audio.
#[derive(Debug, Clone, PartialEq)]
pub struct Interrupt {
    /// Delay between the first agent audio heard and the start of the caller's speech.
    pub after: Duration,
    /// What the caller says.
    pub say: String,
    /// How long to wait for agent audio before speaking anyway (noted in the report).
    pub timeout: Duration,
}

impl CallerScript {
    /// Parses and validates a script.
    pub fn from_yaml(text: &str) -> Result<Self, ScriptError> {
        let script: CallerScript =
            serde_yaml::from_str(text).map_err(|e| ScriptError::Invalid(e.to_string()))?;
        script.validate()?;
        Ok(script)
    }

    /// Reads, parses and validates a script file.
    pub fn load(path: &Path) -> Result<Self, ScriptError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScriptError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_yaml(&text).map_err(|e| match e {
            ScriptError::Invalid(m) => ScriptError::Invalid(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Checks that need the whole document (per-step checks happen while parsing, with positions).
    fn validate(&self) -> Result<(), ScriptError> {
        if self.from.trim().is_empty() || self.to.trim().is_empty() {
            return Err(ScriptError::Invalid(
                "`from` and `to` must not be empty".into(),
            ));
        }
        if self.steps.is_empty() {
            return Err(ScriptError::Invalid(
                "`steps` is empty: a caller must do something".into(),
            ));
        }
        if let Some(i) = self.steps.iter().position(|s| *s == Step::Hangup) {
            if i + 1 < self.steps.len() {
                return Err(ScriptError::Invalid(format!(
                    "step {} is `hangup` but {} step(s) follow it and could never run",
                    i + 1,
                    self.steps.len() - i - 1
                )));
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StepVisitor)
    }
}

struct StepVisitor;

impl<'de> Visitor<'de> for StepVisitor {
    type Value = Step;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a step: `listen`, `hangup`, or a one-key map such as `say: \"Hello\"`")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Step, E> {
        match v {
            "listen" => Ok(Step::Listen(Listen::default())),
            "hangup" => Ok(Step::Hangup),
            "say" | "interrupt" | "dtmf" | "pause" => Err(E::custom(format!(
                "step `{v}` needs a value, e.g. `{v}: ...`"
            ))),
            other => Err(E::unknown_variant(other, STEP_NAMES)),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Step, A::Error> {
        let Some(name) = map.next_key::<String>()? else {
            return Err(de::Error::custom(
                "empty step: expected one of listen, say, interrupt, dtmf, pause, hangup",
            ));
        };
        let step = match name.as_str() {
            "listen" => {
                let opts: Option<ListenYaml> = map.next_value()?;
                Step::Listen(
                    opts.map(ListenYaml::into_listen)
                        .transpose()
                        .map_err(de::Error::custom)?
                        .unwrap_or_default(),
                )
            }
            "say" => Step::Say(map.next_value::<Line>()?.0),
            "interrupt" => {
                let i: InterruptYaml = map.next_value()?;
                Step::Interrupt(i.into_interrupt().map_err(de::Error::custom)?)
            }
            "dtmf" => Step::Dtmf(map.next_value::<Digits>()?.0),
            "pause" => {
                let secs: f64 = map.next_value()?;
                Step::Pause(seconds("pause", secs).map_err(de::Error::custom)?)
            }
            "hangup" => {
                let _: de::IgnoredAny = map.next_value()?;
                Step::Hangup
            }
            other => return Err(de::Error::unknown_variant(other, STEP_NAMES)),
        };
        if let Some(extra) = map.next_key::<String>()? {
            return Err(de::Error::custom(format!(
                "a step has exactly one key, found `{name}` and `{extra}` (start a new `- ` item per step)"
            )));
        }
        Ok(step)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListenYaml {
    timeout_s: Option<f64>,
    quiet_ms: Option<u64>,
}

impl ListenYaml {
    fn into_listen(self) -> Result<Listen, String> {
        let d = Listen::default();
        Ok(Listen {
            timeout: self
                .timeout_s
                .map(|s| seconds("listen.timeout_s", s))
                .transpose()?
                .unwrap_or(d.timeout),
            quiet: self
                .quiet_ms
                .map(|ms| millis("listen.quiet_ms", ms))
                .transpose()?
                .unwrap_or(d.quiet),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InterruptYaml {
    after_ms: u64,
    say: Line,
    timeout_s: Option<f64>,
}

impl InterruptYaml {
    fn into_interrupt(self) -> Result<Interrupt, String> {
        Ok(Interrupt {
            after: millis("interrupt.after_ms", self.after_ms)?,
            say: self.say.0,
            timeout: self
                .timeout_s
                .map(|s| seconds("interrupt.timeout_s", s))
                .transpose()?
                .unwrap_or(DEFAULT_LISTEN_TIMEOUT),
        })
    }
}

/// A non-empty line of caller speech.
struct Line(String);

impl<'de> Deserialize<'de> for Line {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim().is_empty() {
            return Err(de::Error::custom("the caller's line is empty"));
        }
        Ok(Line(s))
    }
}

/// DTMF digits; YAML may give `1` as a number, which is accepted.
struct Digits(String);

impl<'de> Deserialize<'de> for Digits {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(u64),
        }
        let s = match Raw::deserialize(d)? {
            Raw::Text(s) => s,
            Raw::Number(n) => n.to_string(),
        };
        if s.is_empty() {
            return Err(de::Error::custom("dtmf needs at least one digit"));
        }
        if let Some(bad) = s
            .chars()
            .find(|c| !(c.is_ascii_digit() || *c == '*' || *c == '#'))
        {
            return Err(de::Error::custom(format!(
                "dtmf digit {bad:?} is not one of 0-9, *, #"
            )));
        }
        Ok(Digits(s))
    }
}

fn seconds(what: &str, secs: f64) -> Result<Duration, String> {
    if !(secs.is_finite() && secs > 0.0 && secs <= MAX_WAIT.as_secs_f64()) {
        return Err(format!(
            "{what} must be a number of seconds in (0, {}], got {secs}",
            MAX_WAIT.as_secs()
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn millis(what: &str, ms: u64) -> Result<Duration, String> {
    let d = Duration::from_millis(ms);
    if d > MAX_WAIT {
        return Err(format!(
            "{what} must be at most {} ms, got {ms}",
            MAX_WAIT.as_millis()
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(steps: &str) -> Result<CallerScript, ScriptError> {
        CallerScript::from_yaml(&format!(
            "from: \"+14155550100\"\nto: \"+14155550199\"\nsteps:\n{steps}"
        ))
    }

    fn err(steps: &str) -> String {
        parse(steps).unwrap_err().to_string()
    }

    #[test]
    fn parses_every_step_form() {
        let s = parse(
            "  - listen\n  - listen: { timeout_s: 5, quiet_ms: 300 }\n  - say: \"Hi there\"\n  - interrupt: { after_ms: 2500, say: \"Sorry?\" }\n  - dtmf: 1\n  - dtmf: \"*9#\"\n  - pause: 1.5\n  - hangup\n",
        )
        .unwrap();
        assert_eq!(
            s.steps,
            vec![
                Step::Listen(Listen::default()),
                Step::Listen(Listen {
                    timeout: Duration::from_secs(5),
                    quiet: Duration::from_millis(300)
                }),
                Step::Say("Hi there".into()),
                Step::Interrupt(Interrupt {
                    after: Duration::from_millis(2500),
                    say: "Sorry?".into(),
                    timeout: DEFAULT_LISTEN_TIMEOUT
                }),
                Step::Dtmf("1".into()),
                Step::Dtmf("*9#".into()),
                Step::Pause(Duration::from_millis(1500)),
                Step::Hangup,
            ]
        );
    }

    #[test]
    fn unknown_step_is_named_with_its_line() {
        let e = err("  - listen\n  - sing: \"la\"\n");
        assert!(e.contains("unknown variant `sing`"), "{e}");
        assert!(e.contains("line 5"), "{e}");
    }

    #[test]
    fn bare_step_that_needs_a_value_is_rejected() {
        let e = err("  - say\n");
        assert!(e.contains("step `say` needs a value"), "{e}");
        assert!(e.contains("line 4"), "{e}");
    }

    #[test]
    fn invalid_dtmf_and_pause_are_rejected_with_position() {
        let e = err("  - dtmf: \"12x\"\n");
        assert!(e.contains("'x'") && e.contains("line 4"), "{e}");
        let e = err("  - pause: -1\n");
        assert!(e.contains("pause must be a number of seconds"), "{e}");
    }

    #[test]
    fn two_keys_in_one_step_are_rejected() {
        let e = err("  - say: \"a\"\n    listen: null\n");
        assert!(e.contains("exactly one key"), "{e}");
    }

    #[test]
    fn unknown_option_and_top_level_field_are_rejected() {
        assert!(err("  - listen: { quiet: 3 }\n").contains("unknown field `quiet`"));
        let e = CallerScript::from_yaml("from: a\nto: b\nsteps: [listen]\nvoice: x\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `voice`"), "{e}");
    }

    #[test]
    fn steps_after_hangup_and_empty_scripts_are_rejected() {
        assert!(err("  - hangup\n  - listen\n").contains("could never run"));
        assert!(err("  []\n").contains("`steps` is empty"));
    }

    #[test]
    fn example_scripts_in_repository_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/callers");
        for name in ["demo.yaml", "quick.yaml"] {
            let s = CallerScript::load(&dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                s.steps.iter().any(|s| matches!(s, Step::Say(_))),
                "{name} says something"
            );
        }
    }
}
