//! espeak-ng through a minimal FFI: text → IPA phonemes (for Piper) and a robotic fallback voice.
//!
//! libespeak-ng keeps global state and is not thread-safe, so every call goes through one
//! process-wide mutex; the library is initialised once, in synchronous mode (synthesis runs
//! inside `espeak_Synth` on the calling thread and hands samples to a callback).

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_short, c_uint, c_void, CStr, CString};
use std::sync::Mutex;

use crate::{SpeechAudio, SpeechError, Tts};

const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
/// Without this flag espeak-ng calls `exit()` when its data files are missing.
const ESPEAK_INITIALIZE_DONT_EXIT: c_int = 0x8000;
const ESPEAK_CHARS_UTF8: c_int = 1;
const ESPEAK_PHONEMES_IPA: c_int = 0x02;
const POS_CHARACTER: c_int = 1;
const EE_OK: c_int = 0;
const ESPEAK_RATE: c_int = 1;

type SynthCallback = unsafe extern "C" fn(*mut c_short, c_int, *mut c_void) -> c_int;

#[link(name = "espeak-ng")]
extern "C" {
    fn espeak_Initialize(
        output: c_int,
        buflength: c_int,
        path: *const c_char,
        options: c_int,
    ) -> c_int;
    fn espeak_SetVoiceByName(name: *const c_char) -> c_int;
    fn espeak_SetParameter(parameter: c_int, value: c_int, relative: c_int) -> c_int;
    fn espeak_TextToPhonemes(
        textptr: *mut *const c_void,
        textmode: c_int,
        phonememode: c_int,
    ) -> *const c_char;
    fn espeak_SetSynthCallback(callback: SynthCallback);
    fn espeak_Synth(
        text: *const c_void,
        size: usize,
        position: c_uint,
        position_type: c_int,
        end_position: c_uint,
        flags: c_uint,
        unique_identifier: *mut c_uint,
        user_data: *mut c_void,
    ) -> c_int;
}

/// The initialised library: its output sample rate and the voice currently selected.
struct Engine {
    sample_rate: u32,
    voice: String,
}

/// `None` until first use; the mutex serialises every espeak-ng call.
static ENGINE: Mutex<Option<Engine>> = Mutex::new(None);

thread_local! {
    /// Samples delivered by the synth callback, which runs on the thread inside `espeak_Synth`.
    static SYNTH_BUFFER: RefCell<Vec<i16>> = const { RefCell::new(Vec::new()) };
}

unsafe extern "C" fn collect_samples(wav: *mut c_short, n: c_int, _events: *mut c_void) -> c_int {
    if !wav.is_null() && n > 0 {
        // SAFETY: espeak-ng passes `n` valid samples at `wav` for the duration of the call.
        let samples = unsafe { std::slice::from_raw_parts(wav, n as usize) };
        SYNTH_BUFFER.with(|b| b.borrow_mut().extend_from_slice(samples));
    }
    0
}

/// Runs `f` with the library initialised and `voice` selected, holding the global lock.
fn with_engine<T>(
    voice: &str,
    f: impl FnOnce(&Engine) -> Result<T, SpeechError>,
) -> Result<T, SpeechError> {
    let mut guard = ENGINE.lock().unwrap_or_else(|p| p.into_inner());
    if guard.is_none() {
        // SAFETY: plain C calls with valid arguments; the lock serialises them.
        let rate = unsafe {
            espeak_Initialize(
                AUDIO_OUTPUT_SYNCHRONOUS,
                0,
                std::ptr::null(),
                ESPEAK_INITIALIZE_DONT_EXIT,
            )
        };
        if rate <= 0 {
            return Err(SpeechError::ModelMissing(
                "espeak-ng failed to initialise (is espeak-ng-data installed?)".into(),
            ));
        }
        unsafe { espeak_SetSynthCallback(collect_samples) };
        *guard = Some(Engine {
            sample_rate: rate as u32,
            voice: String::new(),
        });
    }
    let engine = guard.as_mut().expect("initialised above");
    if engine.voice != voice {
        let name = CString::new(voice)
            .map_err(|_| SpeechError::InvalidInput("voice name has NUL".into()))?;
        // SAFETY: `name` is a valid C string for the call.
        if unsafe { espeak_SetVoiceByName(name.as_ptr()) } != EE_OK {
            return Err(SpeechError::ModelMissing(format!(
                "espeak-ng has no voice {voice:?}"
            )));
        }
        engine.voice = voice.to_string();
    }
    f(engine)
}

fn c_text(text: &str) -> Result<CString, SpeechError> {
    CString::new(text).map_err(|_| SpeechError::InvalidInput("text contains a NUL byte".into()))
}

/// Phonemizes `text` with espeak-ng voice `voice` into IPA, one string per sentence, with the
/// clause punctuation Piper voices were trained with (`.`, `?`, `!` end a sentence; `,`, `:`,
/// `;` are followed by a space).
pub fn phonemize_sentences(text: &str, voice: &str) -> Result<Vec<String>, SpeechError> {
    let c = c_text(text)?;
    with_engine(voice, |_| {
        let mut sentences = Vec::new();
        let mut current = String::new();
        let base = c.as_ptr();
        let len = c.as_bytes().len();
        let mut ptr: *const c_void = base.cast();
        while !ptr.is_null() {
            let start = ptr as usize - base as usize;
            // SAFETY: `ptr` points into `c` (NUL-terminated); espeak advances it or sets it null.
            let out =
                unsafe { espeak_TextToPhonemes(&mut ptr, ESPEAK_CHARS_UTF8, ESPEAK_PHONEMES_IPA) };
            let end = if ptr.is_null() {
                len
            } else {
                ptr as usize - base as usize
            };
            if !out.is_null() {
                // SAFETY: espeak returns a NUL-terminated string valid until the next call.
                current.push_str(&unsafe { CStr::from_ptr(out) }.to_string_lossy());
            }
            // espeak-ng 1.51 drops the clause's closing punctuation; recover it from the text
            // the call consumed (which, except at the end, includes one look-ahead character
            // of the next clause).
            let clause = &c.as_bytes()[start..end.max(start)];
            match clause_terminator(clause, !ptr.is_null()) {
                Some(p @ ('.' | '?' | '!')) => {
                    current.push(p);
                    sentences.push(std::mem::take(&mut current).trim().to_string());
                }
                Some(p) => {
                    current.push(p);
                    current.push(' ');
                }
                None => {
                    if !current.is_empty() && !current.ends_with(' ') {
                        current.push(' ');
                    }
                }
            }
        }
        let rest = current.trim();
        if !rest.is_empty() {
            sentences.push(rest.to_string());
        }
        sentences.retain(|s| s.chars().any(|c| c.is_alphabetic()));
        Ok(sentences)
    })
}

/// The punctuation that closed a clause: its last non-space character, when it is one that
/// Piper voices know. `lookahead`: the text ends with the next clause's first character.
fn clause_terminator(consumed: &[u8], lookahead: bool) -> Option<char> {
    let mut text = String::from_utf8_lossy(consumed).into_owned();
    if lookahead {
        text.pop();
    }
    let last = text.trim_end().chars().last()?;
    ".,?!;:".contains(last).then_some(last)
}

/// IPA phonemes of `text` (American English), sentences separated by a space.
pub fn phonemize(text: &str) -> Result<String, SpeechError> {
    Ok(phonemize_sentences(text, "en-us")?.join(" "))
}

/// espeak-ng's own formant voice: instant and always available, but robotic — the fallback
/// that keeps a call from going silent when the natural voice fails.
pub struct EspeakTts {
    voice: String,
    name: String,
    words_per_minute: i32,
}

impl EspeakTts {
    /// An espeak-ng voice (e.g. "en-us"); checks that the library and voice load.
    pub fn new(voice: &str) -> Result<Self, SpeechError> {
        with_engine(voice, |_| Ok(()))?;
        Ok(EspeakTts {
            voice: voice.to_string(),
            name: format!("espeak-ng:{voice}"),
            // A little slower than espeak's 175 wpm default: easier to follow on a phone line.
            words_per_minute: 160,
        })
    }
}

impl Tts for EspeakTts {
    fn synthesize(&self, text: &str) -> Result<SpeechAudio, SpeechError> {
        if text.trim().is_empty() {
            return Err(SpeechError::InvalidInput("nothing to say".into()));
        }
        let c = c_text(text)?;
        with_engine(&self.voice, |engine| {
            SYNTH_BUFFER.with(|b| b.borrow_mut().clear());
            // SAFETY: `c` outlives the synchronous call; the lock serialises library access.
            let rc = unsafe {
                espeak_SetParameter(ESPEAK_RATE, self.words_per_minute, 0);
                espeak_Synth(
                    c.as_ptr().cast(),
                    c.as_bytes_with_nul().len(),
                    0,
                    POS_CHARACTER,
                    0,
                    ESPEAK_CHARS_UTF8 as c_uint,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            };
            let samples = SYNTH_BUFFER.with(|b| std::mem::take(&mut *b.borrow_mut()));
            if rc != EE_OK {
                return Err(SpeechError::Inference(format!(
                    "espeak_Synth returned {rc}"
                )));
            }
            Ok(SpeechAudio {
                samples,
                sample_rate: engine.sample_rate,
            })
        })
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clause_terminator_ignores_the_look_ahead_character() {
        assert_eq!(clause_terminator(b"Hello, w", true), Some(','));
        assert_eq!(clause_terminator(b"plan? I", true), Some('?'));
        assert_eq!(clause_terminator(b"Bye!", false), Some('!'));
        assert_eq!(clause_terminator(b"and then", false), None);
        assert_eq!(
            clause_terminator("caf\u{e9}. \u{c9}".as_bytes(), true),
            Some('.')
        );
    }
}
