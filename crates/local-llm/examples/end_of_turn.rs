//! Evaluates [`EndOfTurnModel`] on labelled caller utterances: for each threshold, how many
//! finished utterances are judged finished (the agent answers promptly) and how many fragments
//! are judged finished (the agent cuts the caller off: the dangerous error), plus the time per
//! judgement. Both probabilities of a [`local_llm::Judgement`] are evaluated: `end_of_turn`
//! (what `probability` returns) and `end_of_message` (P(`<|im_end|>`) alone).
//!
//! `cargo run --release -p local-llm --example end_of_turn [-- THREADS] [--verbose]`
//! (model from `$CALLPILOT_MODELS_DIR`, else `./models`; `make models` installs it).
//!
//! Two sets: the labelled set from the task, and a held-out set written before any result was
//! seen. Three transcript forms are compared: `stt` (what `probability` does: lowercase, final
//! punctuation dropped), `punctuated` (lowercase, punctuation as written: in these sets only the
//! finished utterances carry any, so this shows how much punctuation alone gives away) and
//! `period-on-all` (lowercase, every text ending in "." the way Whisper punctuates a chunk).

use std::path::PathBuf;
use std::time::Instant;

use local_llm::{model_path, normalize_transcript, EndOfTurnModel, Judgement};

const COMPLETE: &[&str] = &[
    "How much is the premium plan?",
    "What are your opening hours?",
    "Can I speak to a person please?",
    "I would like to cancel my subscription.",
    "Do you ship to Canada?",
    "My internet has been down since this morning.",
    "Is there a discount for students?",
    "I never received my invoice for March.",
    "Where is your nearest office?",
    "How do I reset my password?",
    "Thanks, that is all I needed.",
    "yes",
    "no",
    "yeah",
    "okay",
    "sure",
    "correct",
    "no thanks",
    "yes please",
    "I would like to change my address.",
    "Can you tell me when the store opens?",
    "I tried to log in but it failed.",
    "Last week I ordered two phones.",
    "Could you check my last payment?",
    "What I really want is a refund.",
    "I think I need the premium plan.",
    "my number is four one five five five zero one two three four",
];

const INCOMPLETE: &[&str] = &[
    "I would like to",
    "So what I need is",
    "My account number is",
    "Can you tell me",
    "I was wondering",
    "The problem is",
    "I think I need",
    "Last week I ordered",
    "Could you check",
    "I am calling about",
    "What I really want",
    "Well",
    "Um, my name is",
    "It says here that",
    "I tried to log in",
    "Let me think",
    "I moved to",
    "We have",
    "The thing is",
    "Before I decide",
    "my number is",
    "my number is four one five",
    "my number is two one two seven",
];

/// Held out: written before the model's scores on any set were seen.
const HELD_OUT_COMPLETE: &[&str] = &[
    "I'd like to book an appointment for Tuesday.",
    "Can you send me a copy of my bill?",
    "My package arrived damaged.",
    "How long does delivery take?",
    "Please transfer me to billing.",
    "That's right.",
    "No, that's wrong.",
    "I want to upgrade my plan.",
    "Is the store open on Sundays?",
    "My email is john at example dot com.",
    "The router keeps disconnecting.",
    "Can I pay by credit card?",
    "I need to update my payment details.",
    "Goodbye.",
    "Why was I charged twice this month?",
];

/// Held out: written before the model's scores on any set were seen.
const HELD_OUT_INCOMPLETE: &[&str] = &[
    "I'd like to book an appointment for",
    "Can you send me",
    "My package arrived and",
    "How long does",
    "Please transfer me to",
    "So basically",
    "No, what I meant was",
    "I want to upgrade my",
    "Is the store open on",
    "My email is john at",
    "The router keeps",
    "Can I pay by",
    "I need to update my",
    "And also the",
    "Why was I charged twice for the",
];

/// How a written text is turned into what the model sees.
#[derive(Clone, Copy)]
enum Form {
    Stt,
    Punctuated,
    PeriodOnAll,
}

impl Form {
    const ALL: [Form; 3] = [Form::Stt, Form::Punctuated, Form::PeriodOnAll];

    fn name(self) -> &'static str {
        match self {
            Form::Stt => "stt (lowercase, final punctuation dropped; what `probability` does)",
            Form::Punctuated => "punctuated (lowercase, punctuation as written)",
            Form::PeriodOnAll => "period-on-all (lowercase, every text ends in \".\")",
        }
    }

    fn apply(self, text: &str) -> String {
        match self {
            Form::Stt => normalize_transcript(text),
            Form::Punctuated => text.to_lowercase(),
            Form::PeriodOnAll => format!("{}.", normalize_transcript(text)),
        }
    }
}

/// Which probability of a judgement is thresholded.
#[derive(Clone, Copy)]
enum Quantity {
    EndOfTurn,
    EndOfMessage,
}

impl Quantity {
    const ALL: [Quantity; 2] = [Quantity::EndOfTurn, Quantity::EndOfMessage];

    fn name(self) -> &'static str {
        match self {
            Quantity::EndOfTurn => "end_of_turn",
            Quantity::EndOfMessage => "end_of_message",
        }
    }

    fn of(self, j: &Judgement) -> f32 {
        match self {
            Quantity::EndOfTurn => j.end_of_turn,
            Quantity::EndOfMessage => j.end_of_message,
        }
    }
}

/// Judgements of one labelled set.
struct Scored {
    name: &'static str,
    complete: Vec<(&'static str, Judgement)>,
    incomplete: Vec<(&'static str, Judgement)>,
}

fn score(
    model: &mut EndOfTurnModel,
    form: Form,
    texts: &[&'static str],
    millis: &mut Vec<f64>,
) -> Vec<(&'static str, Judgement)> {
    texts
        .iter()
        .map(|&text| {
            let input = form.apply(text);
            let started = Instant::now();
            let judgement = model.judge_verbatim(&input).expect("judgement");
            millis.push(started.elapsed().as_secs_f64() * 1e3);
            (text, judgement)
        })
        .collect()
}

fn values(scores: &[(&str, Judgement)], q: Quantity) -> Vec<f32> {
    scores.iter().map(|(_, j)| q.of(j)).collect()
}

fn at_or_above(values: &[f32], threshold: f32) -> String {
    let n = values.iter().filter(|&&p| p >= threshold).count();
    format!("{n}/{}", values.len())
}

/// Probability that a random finished utterance scores above a random fragment (ties count
/// half): threshold-free separation, 1.0 = perfect, 0.5 = chance.
fn auc(complete: &[f32], incomplete: &[f32]) -> f64 {
    let mut wins = 0.0;
    for c in complete {
        for i in incomplete {
            wins += match c.partial_cmp(i) {
                Some(std::cmp::Ordering::Greater) => 1.0,
                Some(std::cmp::Ordering::Equal) => 0.5,
                _ => 0.0,
            };
        }
    }
    wins / (complete.len() * incomplete.len()) as f64
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

fn max_of(values: &[f32]) -> f32 {
    values.iter().copied().fold(0.0, f32::max)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let verbose = args.iter().any(|a| a == "--verbose");
    let threads = args.iter().find_map(|a| a.parse::<u32>().ok()).unwrap_or(2);
    let models = std::env::var_os("CALLPILOT_MODELS_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("./models"), PathBuf::from);
    let Some(gguf) = model_path(&models) else {
        eprintln!(
            "no model under {}: run `make models` (or set CALLPILOT_MODELS_DIR)",
            models.display()
        );
        std::process::exit(2);
    };
    let mut model = EndOfTurnModel::load(&gguf, threads).expect("load model");
    println!(
        "model {} | threads {threads} | load {:.0} ms | system prefix {} tokens (cached)",
        gguf.display(),
        model.load_time().as_secs_f64() * 1e3,
        model.prefix_tokens()
    );
    // Warm-up: the first decode allocates compute buffers; not a judgement a call would see.
    model.probability("hello").expect("warm-up");

    let thresholds: Vec<f32> = (1..=19).map(|i| i as f32 * 0.05).collect();
    for form in Form::ALL {
        let mut millis = Vec::new();
        let sets = [
            Scored {
                name: "labelled",
                complete: score(&mut model, form, COMPLETE, &mut millis),
                incomplete: score(&mut model, form, INCOMPLETE, &mut millis),
            },
            Scored {
                name: "held-out",
                complete: score(&mut model, form, HELD_OUT_COMPLETE, &mut millis),
                incomplete: score(&mut model, form, HELD_OUT_INCOMPLETE, &mut millis),
            },
        ];
        millis.sort_by(f64::total_cmp);
        println!("\n== {} ==", form.name());
        println!(
            "ms per judgement over {} judgements: median {:.1}, p95 {:.1}, max {:.1}",
            millis.len(),
            percentile(&millis, 0.5),
            percentile(&millis, 0.95),
            millis[millis.len() - 1]
        );
        for q in Quantity::ALL {
            for set in &sets {
                let (c, i) = (values(&set.complete, q), values(&set.incomplete, q));
                println!(
                    "{:<14} {:<8} AUC {:.3} | highest P: complete {:.2e}, incomplete {:.2e}",
                    q.name(),
                    set.name,
                    auc(&c, &i),
                    max_of(&c),
                    max_of(&i),
                );
            }
        }
        // The full tables for the form `probability` uses; the others are summarised above.
        if !matches!(form, Form::Stt) {
            continue;
        }
        for q in Quantity::ALL {
            println!(
                "{}: threshold | labelled complete judged complete | incomplete judged complete \
                 | held-out complete | held-out incomplete",
                q.name()
            );
            let [l, h] = &sets;
            let columns = [
                values(&l.complete, q),
                values(&l.incomplete, q),
                values(&h.complete, q),
                values(&h.incomplete, q),
            ];
            for &t in &thresholds {
                let cells: Vec<String> = columns
                    .iter()
                    .map(|v| format!("{:>5}", at_or_above(v, t)))
                    .collect();
                println!("  {t:.2} | {}", cells.join(" | "));
            }
        }
        if verbose {
            for set in &sets {
                for (label, scores) in
                    [("complete", &set.complete), ("incomplete", &set.incomplete)]
                {
                    let mut sorted = scores.clone();
                    sorted.sort_by(|a, b| a.1.end_of_turn.total_cmp(&b.1.end_of_turn));
                    for (text, j) in sorted {
                        println!(
                            "  {} {label:<10} end_of_turn {:.3} end_of_message {:.1e}  {:?}",
                            set.name,
                            j.end_of_turn,
                            j.end_of_message,
                            form.apply(text)
                        );
                    }
                }
            }
        }
    }
}
