//! Analysis speed: a whole 4-minute 44.1 kHz stereo 16-bit WAV, decode included.
//! Target: ≤ 1 s per track on one core.
//!
//!     cargo bench --bench analysis

use criterion::{criterion_group, criterion_main, Criterion};
use moodbox::music::analysis::analyze;
use std::f32::consts::TAU;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

/// Chord pulses at 120 BPM with off-beat noise hats, the two channels slightly different.
fn write_song(path: &Path, secs: u32) {
    let rate = 44_100;
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let chords = [
        [261.63, 329.63, 392.0],
        [349.23, 440.0, 523.25],
        [392.0, 493.88, 587.33],
    ];
    let mut noise: u32 = 0x1234_5678;
    for i in 0..secs * rate {
        let t = i as f32 / rate as f32;
        let chord = chords[(t / 2.0) as usize % chords.len()];
        let in_beat = t % 0.5;
        let env = (-in_beat * 6.0).exp() * (in_beat * 200.0).min(1.0);
        let tone: f32 = chord
            .iter()
            .map(|f| (TAU * f * t).sin() + 0.3 * (TAU * 2.0 * f * t).sin())
            .sum();
        noise ^= noise << 13;
        noise ^= noise >> 17;
        noise ^= noise << 5;
        let since_off_beat = (t + 0.25) % 0.5;
        let hat = (noise as f32 / u32::MAX as f32 - 0.5) * (-since_off_beat * 60.0).exp();
        let (l, r) = (
            0.15 * env * tone + 0.2 * hat,
            0.13 * env * tone + 0.25 * hat,
        );
        w.write_sample((l.clamp(-1.0, 1.0) * 32767.0) as i16)
            .unwrap();
        w.write_sample((r.clamp(-1.0, 1.0) * 32767.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}

fn four_minutes(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("four-minutes.wav");
    write_song(&path, 240);
    let a = analyze(&path).unwrap();
    // The wall-clock figures below include waiting for a shared CPU; this is the work itself.
    let cpu = (0..3)
        .map(|_| {
            let start = thread_cpu_time();
            analyze(&path).unwrap();
            thread_cpu_time() - start
        })
        .min()
        .unwrap();
    println!(
        "CPU time per 4-minute track (best of 3): {} ms",
        cpu.as_millis()
    );
    println!(
        "{:.0} s: {:.1} LUFS, {:.1} BPM, {}, centroid {:.0} Hz, valence {:.2}, energy {:.2}",
        a.duration.as_secs_f32(),
        a.loudness.integrated_lufs,
        a.rhythm.tempo_bpm,
        a.key,
        a.spectrum.centroid_hz,
        a.valence,
        a.energy
    );
    let mut group = c.benchmark_group("analysis");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("analyze 4-min 44.1 kHz stereo wav", |b| {
        b.iter(|| analyze(black_box(&path)).unwrap())
    });
    group.finish();
}

fn thread_cpu_time() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill in.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

criterion_group!(benches, four_minutes);
criterion_main!(benches);
