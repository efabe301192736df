//! The labelled set of caller turns, synthesized at bench time (espeak-ng through
//! `speech::EspeakTts`): plain questions, sentences with a mid-sentence hesitation of
//! 300–900 ms, short answers, phone numbers read digit by digit with pauses, and a third of
//! them under background noise (fixed seed). Each phrase's own leading and trailing silence is
//! trimmed, so the labels (word ends, pauses) are exact to the sample.

use speech::Tts;

use crate::signal::Noise;

/// Rate of the phone line and of every turn's audio.
pub const RATE: u32 = 8000;
/// Silence before the caller starts.
const LEAD_MS: u64 = 400;
/// Silence after the caller's last word (longer than any endpointing setting).
const TAIL_MS: u64 = 2000;
/// Amplitude of the background noise on noisy turns (≈ 20 dB below the speech).
const NOISE_AMPLITUDE: f32 = 400.0;

/// One piece of a scripted turn.
#[derive(Debug, Clone)]
enum Seg {
    Say(&'static str),
    /// A pause inside the turn: the caller is not done.
    Pause(u64),
}

/// What kind of turn it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Plain,
    Hesitation,
    ShortAnswer,
    Digits,
}

/// One synthesized, labelled caller turn at 8 kHz.
#[derive(Debug, Clone)]
pub struct LabelledTurn {
    pub text: String,
    pub kind: Kind,
    pub noisy: bool,
    pub pcm: Vec<i16>,
    /// Sample where the caller's last word ends.
    pub last_word_end: usize,
    /// Pauses inside the turn, `[start, end)` in samples: a turn ended in one cut the caller off.
    pub hesitations: Vec<(usize, usize)>,
    /// Every word with the sample where it ends (a phrase's duration shared evenly among its
    /// words): what an ideal streaming STT has heard by a given moment.
    pub words: Vec<(usize, String)>,
}

impl LabelledTurn {
    /// The words that ended in `[from, to)` samples, as an ideal STT would transcribe that
    /// stretch of audio.
    pub fn words_between(&self, from: usize, to: usize) -> String {
        self.words
            .iter()
            .filter(|(end, _)| *end > from && *end <= to)
            .map(|(_, w)| w.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn script() -> Vec<(Kind, Vec<Seg>)> {
    use Seg::{Pause as P, Say as S};
    let mut v: Vec<(Kind, Vec<Seg>)> = Vec::new();
    for q in [
        "How much is the premium plan?",
        "What are your opening hours?",
        "Can I speak to a person please?",
        "I would like to cancel my subscription.",
        "Do you ship to Canada?",
        "My internet has been down since this morning.",
        "Is there a discount for students?",
        "What is the difference between basic and premium?",
        "I never received my invoice for March.",
        "Can you call me back tomorrow afternoon?",
        "Where is your nearest office?",
        "I want to upgrade to the enterprise plan.",
        "How do I reset my password?",
        "Thanks, that is all I needed.",
        "Could you repeat the price?",
        "Which payment methods do you accept?",
    ] {
        v.push((Kind::Plain, vec![S(q)]));
    }
    let hes: [(&str, &str); 20] = [
        ("I would like to", "change my address."),
        ("So what I need is", "a new card."),
        ("My account number is", "in the email."),
        ("Can you tell me", "when the store opens?"),
        ("I was wondering", "if you have a family plan."),
        ("The problem is", "that the app keeps crashing."),
        ("I think I need", "the premium plan."),
        ("Last week I ordered", "two phones."),
        ("Could you check", "my last payment?"),
        ("I am calling about", "the letter you sent."),
        ("What I really want", "is a refund."),
        ("Well", "I am not sure yet."),
        ("Um, my name is", "Jordan Smith."),
        ("It says here that", "I owe forty dollars."),
        ("I tried to log in", "but it failed."),
        ("Let me think", "maybe on Friday."),
        ("I moved to", "a new apartment."),
        ("We have", "about twenty employees."),
        ("The thing is", "I travel a lot."),
        ("Before I decide", "how long is the contract?"),
    ];
    for (i, (a, b)) in hes.into_iter().enumerate() {
        // 300..=900 ms, spread evenly over the set.
        let pause = 300 + (i as u64 * 600 / 19) / 20 * 20;
        v.push((Kind::Hesitation, vec![S(a), P(pause), S(b)]));
    }
    for a in [
        "yes",
        "no",
        "yeah",
        "okay",
        "sure",
        "nope",
        "correct",
        "right",
        "yes please",
        "no thanks",
    ] {
        v.push((Kind::ShortAnswer, vec![S(a)]));
    }
    let digits: [&[&'static str]; 15] = [
        &[
            "four", "one", "five", "five", "five", "zero", "one", "zero", "zero",
        ],
        &["two", "one", "two", "seven", "three", "four"],
        &["nine", "eight", "seven", "six"],
        &["one", "two", "three", "four", "five"],
        &["six", "zero", "two", "nine"],
        &["three", "three", "eight", "one", "zero", "seven"],
        &["five", "five", "five", "one", "two", "one", "two"],
        &["eight", "zero", "zero", "four"],
        &["seven", "one", "nine"],
        &["zero", "four", "four", "two", "six"],
        &["one", "zero", "one", "zero"],
        &["two", "eight", "six", "one", "nine", "three"],
        &["four", "four", "seven"],
        &["nine", "zero", "two", "one", "five"],
        &["six", "six", "three", "eight"],
    ];
    for (i, ds) in digits.into_iter().enumerate() {
        let mut segs = vec![S("my number is"), P(500)];
        for (k, d) in ds.iter().enumerate() {
            if k > 0 {
                // People read digits with pauses of a third to two thirds of a second.
                segs.push(P(300 + ((i + k) as u64 * 80) % 420));
            }
            segs.push(S(d));
        }
        v.push((Kind::Digits, segs));
    }
    v
}

/// Start and end sample of the audible part of `pcm` (RMS per 10 ms above a floor).
fn audible_bounds(pcm: &[i16]) -> Option<(usize, usize)> {
    const WIN: usize = 80;
    let loud: Vec<bool> = pcm
        .chunks(WIN)
        .map(|c| {
            let e = c.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / c.len() as f64;
            e.sqrt() > 250.0
        })
        .collect();
    let first = loud.iter().position(|&l| l)?;
    let last = loud.iter().rposition(|&l| l)?;
    Some((first * WIN, ((last + 1) * WIN).min(pcm.len())))
}

/// Synthesizes a phrase at 8 kHz, trimmed to its audible part.
fn phrase(tts: &dyn Tts, text: &str) -> Result<Vec<i16>, speech::SpeechError> {
    let a = tts.synthesize(text)?;
    let pcm = audio::resample_i16(&a.samples, a.sample_rate, RATE);
    Ok(match audible_bounds(&pcm) {
        Some((s, e)) => pcm[s..e].to_vec(),
        None => pcm,
    })
}

/// Builds the whole labelled set with `tts` (every third turn noisy, noise seed `seed`).
pub fn build(tts: &dyn Tts, seed: u64) -> Result<Vec<LabelledTurn>, speech::SpeechError> {
    let samples = |ms: u64| (ms * RATE as u64 / 1000) as usize;
    let mut noise = Noise::new(seed);
    let mut out = Vec::new();
    for (i, (kind, segs)) in script().into_iter().enumerate() {
        let mut pcm = vec![0i16; samples(LEAD_MS)];
        let mut hesitations = Vec::new();
        let mut text = Vec::new();
        let mut words = Vec::new();
        for seg in segs {
            match seg {
                Seg::Say(t) => {
                    let start = pcm.len();
                    pcm.extend(phrase(tts, t)?);
                    let ws: Vec<&str> = t.split_whitespace().collect();
                    let len = pcm.len() - start;
                    for (k, w) in ws.iter().enumerate() {
                        words.push((start + len * (k + 1) / ws.len(), (*w).to_owned()));
                    }
                    text.push(t.to_owned());
                }
                Seg::Pause(ms) => {
                    hesitations.push((pcm.len(), pcm.len() + samples(ms)));
                    pcm.extend(std::iter::repeat_n(0, samples(ms)));
                    text.push(format!("[{ms} ms]"));
                }
            }
        }
        let last_word_end = pcm.len();
        pcm.extend(std::iter::repeat_n(0, samples(TAIL_MS)));
        let noisy = i % 3 == 2;
        if noisy {
            noise.add_to(&mut pcm, NOISE_AMPLITUDE);
        }
        out.push(LabelledTurn {
            text: text.join(" "),
            kind,
            noisy,
            pcm,
            last_word_end,
            hesitations,
            words,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_speech::ToneTts;

    #[test]
    fn set_has_sixty_turns_of_every_kind_with_hesitations_in_range() {
        // A tone voice keeps this test free of espeak; the bench uses espeak-ng.
        let set = build(&ToneTts { ms_per_char: 10 }, 1).unwrap();
        assert!(set.len() >= 60, "{}", set.len());
        for kind in [
            Kind::Plain,
            Kind::Hesitation,
            Kind::ShortAnswer,
            Kind::Digits,
        ] {
            assert!(set.iter().any(|t| t.kind == kind), "{kind:?}");
        }
        for t in set.iter().filter(|t| t.kind == Kind::Hesitation) {
            let (s, e) = t.hesitations[0];
            let ms = (e - s) * 1000 / RATE as usize;
            assert!((300..=900).contains(&ms), "{ms} ms in {}", t.text);
            assert!(e < t.last_word_end);
        }
        assert!(set.iter().filter(|t| t.noisy).count() >= 20);
    }

    #[test]
    fn audible_bounds_trim_silence() {
        let mut pcm = vec![0i16; 800];
        pcm.extend(crate::signal::voiced_tone(100, RATE, 6000.0));
        pcm.extend(vec![0i16; 800]);
        assert_eq!(audible_bounds(&pcm), Some((800, 1600)));
    }
}
