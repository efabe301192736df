//! Per-frame costs of the hot path, per 20 ms phone frame (`cargo bench -p bench --bench per_frame`):
//! VAD, mu-law, resampling, and the conversation engine's step while listening and while speaking.
//! Every call pays these 50 times a second, so they bound how many calls a core can carry.

use std::hint::black_box;
use std::time::{Duration, Instant};

use audio::{Frame, VadConfig, VoiceDetector};
use bench::signal::{voiced_tone, Noise};
use conversation::{Conversation, Input, Output, TurnConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn speech_frame() -> Frame {
    Frame::from_slice(&voiced_tone(20, 8000, 6000.0))
}

fn noise_frame() -> Frame {
    Frame::from_slice(&Noise::new(1).samples(160, 200.0))
}

fn vad(c: &mut Criterion) {
    let mut g = c.benchmark_group("vad");
    g.throughput(Throughput::Elements(1));
    for (name, frame) in [("speech", speech_frame()), ("noise", noise_frame())] {
        let mut det = VoiceDetector::new(VadConfig::default());
        g.bench_function(format!("earshot_per_frame_{name}"), |b| {
            b.iter(|| det.score(black_box(&frame)))
        });
    }
    g.finish();
}

fn mulaw(c: &mut Criterion) {
    let mut g = c.benchmark_group("mulaw");
    g.throughput(Throughput::Elements(1));
    let frame = speech_frame();
    let bytes = frame.to_mulaw();
    g.bench_function("encode_per_frame", |b| {
        b.iter(|| black_box(&frame).to_mulaw())
    });
    g.bench_function("decode_per_frame", |b| {
        b.iter(|| Frame::from_mulaw(black_box(&bytes)))
    });
    g.finish();
}

fn resampling(c: &mut Criterion) {
    let mut g = c.benchmark_group("resample");
    // A typical sentence from Piper: about 2.5 s at 22.05 kHz.
    let sentence = voiced_tone(2500, 22_050, 6000.0);
    g.throughput(Throughput::Elements(1));
    g.bench_function("22050_to_8000_per_2.5s_sentence", |b| {
        b.iter(|| audio::resample_i16(black_box(&sentence), 22_050, 8000))
    });
    let frame = speech_frame();
    g.bench_function("8000_to_16000_per_frame", |b| {
        b.iter(|| audio::resample_i16(black_box(frame.samples()), 8000, 16_000))
    });
    g.finish();
}

/// Feeds one caller frame 20 ms after the previous one and drains every output, answering
/// marks the way Twilio would (immediately) so playback never stalls.
fn step(conv: &mut Conversation, now: Instant, frame: &Frame) -> usize {
    conv.handle(Input::CallerAudio(frame.clone()), now);
    let mut sent = 0;
    let mut marks = Vec::new();
    while let Some(out) = conv.poll_output() {
        match out {
            Output::SendAudio(f) => {
                black_box(f);
                sent += 1;
            }
            Output::SendMark(m) => marks.push(m),
            other => {
                black_box(other);
            }
        }
    }
    for m in marks {
        conv.handle(Input::PlaybackMark(m), now);
    }
    sent
}

/// An engine that is speaking a long greeting (`seconds` of audio queued), and its clock.
fn speaking_engine(seconds: u64) -> (Conversation, Instant) {
    let t0 = Instant::now();
    let cfg = TurnConfig {
        greeting: Some("Hello and welcome.".into()),
        ..TurnConfig::default()
    };
    let mut conv = Conversation::new(cfg, t0);
    conv.handle(Input::Start, t0);
    let mut synth = None;
    while let Some(out) = conv.poll_output() {
        if let Output::Synthesize { turn, seq, .. } = out {
            synth = Some((turn, seq));
        }
    }
    let (turn, seq) = synth.expect("the greeting is synthesized");
    conv.handle(
        Input::SpeechAudio {
            turn,
            seq,
            pcm8k: voiced_tone(seconds * 1000, 8000, 6000.0),
        },
        t0,
    );
    (conv, t0)
}

fn engine(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine_step");
    g.throughput(Throughput::Elements(1));
    let quiet = noise_frame();
    g.bench_function("idle_listening_per_frame", |b| {
        b.iter_custom(|iters| {
            let t0 = Instant::now();
            let mut conv = Conversation::new(TurnConfig::default(), t0);
            conv.handle(Input::Start, t0);
            while conv.poll_output().is_some() {}
            let mut now = t0;
            let start = Instant::now();
            for _ in 0..iters {
                now += Duration::from_millis(20);
                step(&mut conv, now, &quiet);
            }
            start.elapsed()
        })
    });
    // While the agent speaks: one frame in (caller silence), about one frame out plus a mark per
    // sentence. A fresh engine is built (untimed) whenever its queued audio runs low.
    g.bench_function("agent_speaking_per_frame", |b| {
        b.iter_custom(|iters| {
            const SECONDS: u64 = 60;
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let (mut conv, mut now) = speaking_engine(SECONDS);
                let n = (iters - done).min(SECONDS * 50 - 50);
                let start = Instant::now();
                let mut sent = 0;
                for _ in 0..n {
                    now += Duration::from_millis(20);
                    sent += step(&mut conv, now, &quiet);
                }
                total += start.elapsed();
                assert!(sent as u64 >= n / 2, "the engine kept speaking");
                done += n;
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, vad, mulaw, resampling, engine);
criterion_main!(benches);
