//! Audio analysis on generated audio with known answers: tempo, mode, loudness, the mood
//! mapping's ordering, every format, and broken files.

use crate::util::{
    self,
    audio::{self, Tags, Tone},
};
use moodbox::music::analysis::{analyze, AnalysisError, Mode};
use std::f32::consts::TAU;
use std::path::{Path, PathBuf};

/// Writes mono f32 samples as a 16-bit WAV.
fn write_samples(path: &Path, rate: u32, samples: &[f32]) -> PathBuf {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for s in samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
    path.to_path_buf()
}

/// A click (a 5 ms decaying 3 kHz burst) every beat at `bpm` over silence, 44.1 kHz.
fn click_track(bpm: f32, secs: f32) -> Vec<f32> {
    let rate = 44_100.0;
    let period = 60.0 / bpm;
    (0..(secs * rate) as usize)
        .map(|i| {
            let t = i as f32 / rate;
            let since = t % period;
            0.8 * (TAU * 3000.0 * since).sin() * (-since / 0.005).exp()
        })
        .collect()
}

/// Each chord (MIDI notes) for one second, with six decaying harmonics and a soft attack
/// on every chord, the progression played three times, at 22 050 Hz.
fn progression(chords: &[[u8; 4]]) -> Vec<f32> {
    let rate = 22_050.0;
    let mut out = Vec::new();
    for chord in chords.iter().cycle().take(3 * chords.len()) {
        for i in 0..rate as usize {
            let t = i as f32 / rate;
            let env = (t * 50.0).min(1.0) * (-t * 1.5).exp();
            let s: f32 = chord
                .iter()
                .map(|&note| {
                    let f = 440.0 * 2f32.powf((f32::from(note) - 69.0) / 12.0);
                    (1..=6)
                        .map(|h| (TAU * f * h as f32 * t).sin() / h as f32)
                        .sum::<f32>()
                })
                .sum();
            out.push(0.1 * env * s);
        }
    }
    out
}

#[test]
fn tempo_of_click_tracks_within_two_percent() {
    let dir = util::tempdir();
    for bpm in [100.0, 128.0] {
        let path = write_samples(
            &dir.path().join(format!("{bpm}.wav")),
            44_100,
            &click_track(bpm, 20.0),
        );
        let a = analyze(&path).unwrap();
        let found = a.rhythm.tempo_bpm;
        assert!(
            (found / bpm - 1.0).abs() < 0.02,
            "{bpm} BPM read as {found}"
        );
        assert!(a.rhythm.pulse_clarity > 0.5, "{:?}", a.rhythm);
        // One click per beat.
        assert!(
            (a.rhythm.onset_rate - bpm / 60.0).abs() < 0.2,
            "{:?}",
            a.rhythm
        );
    }
}

#[test]
fn mode_of_major_and_minor_progressions() {
    let dir = util::tempdir();
    // I–IV–V–I in C major: C E G, F A C, G B D, C E G, each over its root in the bass.
    let major = [
        [48, 60, 64, 67],
        [53, 60, 65, 69],
        [55, 62, 67, 71],
        [48, 60, 64, 67],
    ];
    // i–iv–v–i in A minor: A C E, D F A, E G B, A C E.
    let minor = [
        [45, 57, 60, 64],
        [50, 57, 62, 65],
        [52, 59, 64, 67],
        [45, 57, 60, 64],
    ];
    let a = analyze(&write_samples(
        &dir.path().join("major.wav"),
        22_050,
        &progression(&major),
    ))
    .unwrap();
    let b = analyze(&write_samples(
        &dir.path().join("minor.wav"),
        22_050,
        &progression(&minor),
    ))
    .unwrap();
    assert_eq!((a.key.tonic, a.key.mode), (0, Mode::Major), "{:?}", a.key);
    assert_eq!((b.key.tonic, b.key.mode), (9, Mode::Minor), "{:?}", b.key);
    assert_eq!(
        (a.key.to_string(), b.key.to_string()),
        ("C major".into(), "A minor".into())
    );
    assert!(a.key.mode_clarity > 0.0 && b.key.mode_clarity < 0.0);
    assert!(a.valence > b.valence, "{} vs {}", a.valence, b.valence);
}

#[test]
fn r128_loudness_of_a_minus_20_dbfs_sine() {
    // BS.1770: L = -0.691 + 10·log10(mean square of the K-weighted signal). K-weighting
    // gains +0.691 dB at 1 kHz (the -0.691 is there to cancel it), and a sine of peak A
    // has mean square A²/2; so a full-scale 1 kHz sine reads 10·log10(1/2) = -3.01 LUFS in
    // mono, and one at -20 dBFS peak reads -20 dB lower.
    let peak_dbfs = -20.0f32;
    let expected = peak_dbfs + 10.0 * 0.5f32.log10();
    let tone = Tone {
        freq: 1000.0,
        secs: 5.0,
        amplitude: 10f32.powf(peak_dbfs / 20.0),
        sample_rate: 48_000,
        channels: 1,
    };
    let dir = util::tempdir();
    let a = analyze(&audio::write_wav(&dir.path().join("sine.wav"), &tone)).unwrap();
    let l = a.loudness;
    assert!((expected + 23.01).abs() < 0.01);
    assert!(
        (l.integrated_lufs - expected).abs() < 0.5,
        "{l:?}, expected {expected}"
    );
    assert!((l.track_gain_db - (-18.0 - expected)).abs() < 0.5, "{l:?}");
    assert!((l.sample_peak_dbfs - peak_dbfs).abs() < 0.1, "{l:?}");
    assert!((l.true_peak_dbtp - peak_dbfs).abs() < 0.2, "{l:?}");
    assert!((l.rms_dbfs - expected).abs() < 0.1, "{l:?}");
    assert!(
        l.range_lu < 1.0,
        "a steady tone has no loudness range: {l:?}"
    );
    assert!(
        (a.spectrum.centroid_hz - 1000.0).abs() < 30.0,
        "{:?}",
        a.spectrum
    );
    assert!((a.duration.as_secs_f32() - 5.0).abs() < 0.01);
}

#[test]
fn loud_fast_bright_major_beats_quiet_slow_dark_minor() {
    let dir = util::tempdir();
    let (happy, sad) = (dir.path().join("happy.wav"), dir.path().join("sad.wav"));
    moodbox::demo::synth_song(&happy, 0.9, 0.9, 12.0).unwrap();
    moodbox::demo::synth_song(&sad, 0.1, 0.1, 12.0).unwrap();
    let (h, s) = (analyze(&happy).unwrap(), analyze(&sad).unwrap());
    let show = |a: &moodbox::music::analysis::Analysis| {
        format!(
            "{:.1} LUFS, {:.0} BPM, {:.0} Hz, {}, valence {:.2}, energy {:.2}",
            a.loudness.integrated_lufs,
            a.rhythm.tempo_bpm,
            a.spectrum.centroid_hz,
            a.key,
            a.valence,
            a.energy
        )
    };
    let why = format!("happy: {}\nsad: {}", show(&h), show(&s));
    assert!(h.energy > s.energy, "{why}");
    assert!(h.valence > s.valence, "{why}");
    assert!(
        h.loudness.integrated_lufs > s.loudness.integrated_lufs,
        "{why}"
    );
    assert!(h.spectrum.centroid_hz > s.spectrum.centroid_hz, "{why}");
    assert_eq!(
        (h.key.mode, s.key.mode),
        (Mode::Major, Mode::Minor),
        "{why}"
    );
}

#[test]
fn every_format_analyses() {
    let dir = util::tempdir();
    let tone = Tone {
        channels: 2,
        ..Tone::new(1000.0, 3.0)
    };
    // 1 kHz at peak 0.5 on both channels: -6.02 dB, -3.01 for a sine, +3.01 for two channels
    // (BS.1770 sums the channels' power).
    let expected = 20.0 * 0.5f32.log10();
    let files = [
        audio::write_wav(&dir.path().join("a.wav"), &tone),
        audio::write_flac(&dir.path().join("a.flac"), &tone, &Tags::default()),
        audio::write_mp3(&dir.path().join("a.mp3"), &tone, &Tags::default()),
        audio::write_ogg(&dir.path().join("a.ogg"), &tone, &Tags::default()),
    ];
    for path in files {
        let a = analyze(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (a.sample_rate, a.channels),
            (22_050, 2),
            "{}",
            path.display()
        );
        // MP3 is trimmed to its exact length by the gapless header.
        assert!(
            (a.duration.as_secs_f32() - 3.0).abs() < 0.03,
            "{}: {:?}",
            path.display(),
            a.duration
        );
        let l = a.loudness.integrated_lufs;
        assert!((l - expected).abs() < 0.5, "{}: {l} LUFS", path.display());
        assert!(
            (a.spectrum.centroid_hz - 1000.0).abs() < 40.0,
            "{}: {:?}",
            path.display(),
            a.spectrum
        );
        assert!((0.0..=1.0).contains(&a.valence) && (0.0..=1.0).contains(&a.energy));
    }
}

#[test]
fn broken_files_are_errors_that_name_them() {
    let dir = util::tempdir();
    let mut noise: u32 = 0x9e37_79b9;
    let bytes: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            noise ^= noise << 13;
            noise ^= noise >> 17;
            noise ^= noise << 5;
            noise as u8
        })
        .collect();
    let random = dir.path().join("random.mp3");
    std::fs::write(&random, bytes).unwrap();
    let text = dir.path().join("notes.flac");
    std::fs::write(&text, "not audio at all\n").unwrap();
    let missing = dir.path().join("missing.ogg");
    let short = audio::write_wav(&dir.path().join("short.wav"), &Tone::new(440.0, 0.3));
    for path in [&random, &text, &missing, &short] {
        let e = analyze(path).expect_err(&path.display().to_string());
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    }
    assert!(matches!(analyze(&missing), Err(AnalysisError::Open { .. })));
    assert!(matches!(
        analyze(&short),
        Err(AnalysisError::TooShort { .. })
    ));
}

#[test]
fn a_truncated_file_analyses_what_is_there() {
    let dir = util::tempdir();
    let path = audio::write_flac(
        &dir.path().join("cut.flac"),
        &Tone::new(440.0, 4.0),
        &Tags::default(),
    );
    audio::truncate_file(&path, 0.6);
    // Whatever the decoder makes of the cut, analysis returns; it never panics.
    if let Ok(a) = analyze(&path) {
        assert!(a.duration.as_secs_f32() < 3.0, "{:?}", a.duration);
    }
}
