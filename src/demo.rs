//! `moodbox demo`: the whole box on a machine with no camera, GPIO or sound card.
//!
//! It writes a small library of synthesised songs (chord pulses whose tempo, loudness,
//! brightness and major/minor mode follow each song's energy and valence), imports their
//! features from a CSV, scans them, and runs the real engine for about a minute of
//! simulated time on a scripted camera (with flicker) and scripted button presses. The audio
//! goes to a WAV file, or to the sound card with `--play`.

use crate::buttons::Action;
use crate::config::Config;
use crate::daemon::engine::Engine;
use crate::daemon::script::EmotionScript;
use crate::daemon::sim::Simulation;
use crate::music::{import, library::Library, scan};
use crate::player::{open_output_with_format, AudioOutput, Mixer, WavOutput, DEFAULT_FORMAT};
use anyhow::{Context, Result};
use std::f32::consts::TAU;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// (title, valence, energy) of the generated songs: two or three per region of the plane.
const SONGS: &[(&str, f32, f32)] = &[
    ("Sunny Bounce", 0.90, 0.80),
    ("Golden Hour Dance", 0.85, 0.65),
    ("Firework Parade", 0.75, 0.95),
    ("Morning Tea", 0.60, 0.40),
    ("Paper Boats", 0.55, 0.50),
    ("Quiet Harbour", 0.65, 0.25),
    ("Rainy Window", 0.15, 0.20),
    ("Letters Unsent", 0.20, 0.30),
    ("Grey December", 0.10, 0.15),
    ("Thunder Road Rage", 0.10, 0.90),
    ("Broken Glass", 0.20, 0.80),
    ("Night Chase", 0.25, 0.70),
];

/// The camera script: neutral, a flickering face, a smile, a sad spell, then nobody.
pub const DEMO_SCRIPT: &str = "\
0    neutral
6    happy      # flicker: the face alternates every 0.1 s below
6.1  sad
6.2  happy
6.3  sad
6.4  happy
6.5  sad
6.6  happy
6.7  sad
6.8  happy
6.9  sad
7    neutral
12   happy      # a real smile, held
36   sad
60   none
";

pub struct DemoOptions {
    pub seconds: f64,
    pub out: PathBuf,
    pub play: Option<String>,
    pub seed: u64,
}

/// Writes a mono 16-bit WAV: chord pulses at the song's tempo, mode from valence.
pub fn synth_song(path: &Path, valence: f32, energy: f32, secs: f32) -> Result<()> {
    let rate = 22050u32;
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)
        .with_context(|| format!("creating {}", path.display()))?;
    let bpm = 60.0 + 100.0 * energy; // arousal follows tempo
    let beat = 60.0 / bpm;
    let root = 196.0 * 2f32.powf((valence * 5.0).round() / 12.0);
    let third = if valence >= 0.5 { 4.0 } else { 3.0 }; // major vs minor
    let freqs = [root, root * 2f32.powf(third / 12.0), root * 1.5];
    let loud = 0.12 + 0.28 * energy;
    let harmonics = 1 + (energy * 4.0) as usize; // brightness
    let mut noise: u32 = 0x1234_5678;
    let n = (secs * rate as f32) as usize;
    for i in 0..n {
        let t = i as f32 / rate as f32;
        let in_beat = t % beat;
        let env = (-in_beat * (3.0 + 6.0 * energy) / beat).exp() * (in_beat * 200.0).min(1.0);
        let mut s = 0.0;
        for f in freqs {
            for h in 1..=harmonics {
                s += (TAU * f * h as f32 * t).sin() / (h * h) as f32;
            }
        }
        noise ^= noise << 13;
        noise ^= noise >> 17;
        noise ^= noise << 5;
        let hat = if energy > 0.6 {
            (noise as f32 / u32::MAX as f32 - 0.5) * 0.3 * (-in_beat * 40.0).exp()
        } else {
            0.0
        };
        let fade = (t * 4.0).min(1.0) * ((secs - t) * 4.0).min(1.0);
        let v = (loud * env * s / 3.0 + hat * energy) * fade;
        w.write_sample((v.clamp(-1.0, 1.0) * 32767.0) as i16)?;
    }
    w.finalize()?;
    Ok(())
}

/// Generates the demo library in `dir` and a features CSV beside it; returns the CSV path.
pub fn write_library(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut csv = String::from("path,valence,energy\n");
    for (i, (title, v, e)) in SONGS.iter().enumerate() {
        let file = format!("{:02} {title}.wav", i + 1);
        synth_song(&dir.join(&file), *v, *e, 8.0 + (i % 3) as f32 * 2.0)?;
        let _ = writeln!(csv, "{file},{v},{e}");
    }
    let path = dir.join("features.csv");
    std::fs::write(&path, csv).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The config the demo runs: defaults with a quicker debounce, so a minute shows a few changes.
pub fn demo_config(state: &Path) -> Config {
    let mut cfg = Config::default();
    cfg.debounce.dwell = Duration::from_secs(2);
    cfg.debounce.min_interval = Duration::from_secs(8);
    cfg.recommend.no_repeat = 6;
    cfg.paths.state_dir = state.to_path_buf();
    cfg.paths.database = state.join("library.db");
    cfg.paths.music_dirs = vec![state.join("music")];
    cfg
}

pub fn run(opts: &DemoOptions) -> Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("moodbox-demo-")
        .tempdir()
        .context("creating a temporary folder")?;
    let cfg = demo_config(tmp.path());
    let music = &cfg.paths.music_dirs[0];
    println!("moodbox demo: no camera, buttons or sound card needed.");
    println!(
        "1. writing {} synthesised songs to {}",
        SONGS.len(),
        music.display()
    );
    let csv = write_library(music)?;
    let mut lib = Library::open(&cfg.paths.database)?;
    let scanned = scan::scan(&mut lib, std::slice::from_ref(music), &mut scan::Quiet)?;
    println!("2. scan: {}", scanned.summary());
    let imported = import::import_features(&mut lib, &csv)?;
    println!(
        "3. import-features: {} of {} rows matched",
        imported.matched, imported.rows
    );

    let script = EmotionScript::parse(DEMO_SCRIPT, "demo script")?;
    let presses = [
        (Duration::from_secs(18), Action::Like),
        (Duration::from_secs(25), Action::Skip),
        (Duration::from_secs(42), Action::Like),
        (Duration::from_secs(50), Action::NotForMood),
    ];
    println!(
        "4. running the daemon's engine for {:.0} s of simulated time (debounce: dwell {:.0} s, at least {:.0} s between changes)\n",
        opts.seconds,
        cfg.debounce.dwell.as_secs_f64(),
        cfg.debounce.min_interval.as_secs_f64()
    );
    let say = Box::new(|t: Duration, text: &str| {
        let s = t.as_secs_f64();
        println!("  [{:02}:{:04.1}] {text}", (s / 60.0) as u32, s % 60.0);
    });
    let mut engine = Engine::new(cfg, lib, Duration::ZERO, opts.seed, say)?;
    let mut mixer = Mixer::new(DEFAULT_FORMAT.0, DEFAULT_FORMAT.1);
    let mut out: Box<dyn AudioOutput> = match &opts.play {
        Some(device) => open_output_with_format(device, DEFAULT_FORMAT)?,
        None => Box::new(WavOutput::create(&opts.out, DEFAULT_FORMAT)?),
    };
    let sim = Simulation {
        script: &script,
        presses: &presses,
        length: Duration::from_secs_f64(opts.seconds),
        camera_fps: 10,
    };
    sim.run(&mut engine, &mut mixer, out.as_mut())?;
    drop(out);

    println!("\nsummary");
    println!(
        "  {:<9} {:>5} {:>9} {:>6} {:>6}",
        "emotion", "plays", "finished", "skips", "likes"
    );
    for s in engine.library().emotion_stats()? {
        println!(
            "  {:<9} {:>5} {:>9} {:>6} {:>6}",
            s.emotion, s.plays, s.finished, s.skips, s.likes
        );
    }
    if opts.play.is_none() {
        println!(
            "\naudio written to {} ({:.0} s)",
            opts.out.display(),
            opts.seconds
        );
    }
    Ok(())
}
