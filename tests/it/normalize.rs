//! Storing analysis, `moodbox analyze` / `scan --analyze`, and loudness normalisation at
//! playback: ReplayGain tags, measured R128 gain, the clipping guard, the mixer's gain.

use crate::util::{
    self,
    audio::{self, Tags, Tone},
};
use moodbox::config::Normalize;
use moodbox::daemon::engine::Engine;
use moodbox::daemon::script::EmotionScript;
use moodbox::daemon::sim::Simulation;
use moodbox::demo::demo_config;
use moodbox::music::analysis::run_pending;
use moodbox::music::library::{FeatureSource, Library, PEAK_CEILING_DBTP};
use moodbox::music::scan::{scan, Quiet};
use moodbox::player::{Mixer, WavOutput, DEFAULT_FORMAT};
use std::f32::consts::TAU;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Writes mono f32 samples at 44.1 kHz as a 16-bit WAV.
fn write_samples(path: &Path, samples: impl Iterator<Item = f32>) -> PathBuf {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for s in samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
            .unwrap();
    }
    w.finalize().unwrap();
    path.to_path_buf()
}

/// A 1 kHz sine at `amplitude` for `secs`, plus (when `clicks`) a loud 3 kHz click every
/// 1.5 s: quiet on average, with peaks that leave little room for gain.
fn quiet_track(path: &Path, amplitude: f32, clicks: bool, secs: f32) -> PathBuf {
    let rate = 44_100.0;
    write_samples(
        path,
        (0..(secs * rate) as usize).map(move |i| {
            let t = i as f32 / rate;
            let since = t % 1.5;
            let click = if clicks {
                0.7 * (TAU * 3000.0 * since).sin() * (-since / 0.004).exp()
            } else {
                0.0
            };
            amplitude * (TAU * 1000.0 * t).sin() + click
        }),
    )
}

fn id_of(lib: &Library, name: &str) -> i64 {
    lib.known_files()
        .unwrap()
        .iter()
        .find(|(p, _)| p.ends_with(name))
        .map(|(_, k)| k.id)
        .unwrap_or_else(|| panic!("{name} not in the library"))
}

fn no_progress() -> impl FnMut(usize, usize, &Path) {
    |_, _, _| {}
}

/// Four tones of different pitch and length in `dir/music`, scanned into `dir/lib.db`.
fn scanned_library(dir: &Path) -> (Library, PathBuf) {
    let music = dir.join("music");
    std::fs::create_dir_all(&music).unwrap();
    for (i, freq) in [220.0, 330.0, 440.0, 550.0].into_iter().enumerate() {
        audio::write_wav(
            &music.join(format!("t{i}.wav")),
            &Tone::new(freq, 2.0 + i as f32 * 0.5),
        );
    }
    let mut lib = Library::open(&dir.join("lib.db")).unwrap();
    let r = scan(&mut lib, std::slice::from_ref(&music), &mut Quiet).unwrap();
    assert_eq!(r.added, 4, "{r:?}");
    (lib, music)
}

#[test]
fn an_interrupted_analysis_resumes_without_redoing_finished_tracks() {
    let dir = util::tempdir();
    let (lib, _) = scanned_library(dir.path());
    let stop = AtomicBool::new(false);
    let mut first = Vec::new();
    let report = run_pending(
        &lib,
        &mut |done, total, path: &Path| {
            first.push((done, total, path.to_path_buf()));
            stop.store(true, Ordering::Relaxed); // Ctrl-C during the first track
        },
        &stop,
    )
    .unwrap();
    assert!(report.stopped, "{report:?}");
    assert_eq!((report.pending, report.analysed), (4, 1), "{report:?}");
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].0, first[0].1), (1, 4));
    let done_first = id_of(&lib, &first[0].2.file_name().unwrap().to_string_lossy());
    let stored = lib.stored_analysis(done_first).unwrap().unwrap();
    assert!(
        stored.analysed_at.is_some() && stored.lufs.is_some(),
        "{stored:?}"
    );
    assert_eq!(lib.tracks_needing_analysis().unwrap().len(), 3);

    // A new run (a new process: a fresh connection) picks up the other three only.
    drop(lib);
    let lib = Library::open(&dir.path().join("lib.db")).unwrap();
    stop.store(false, Ordering::Relaxed);
    let mut second = Vec::new();
    let report = run_pending(
        &lib,
        &mut |_, _, path: &Path| second.push(path.to_path_buf()),
        &stop,
    )
    .unwrap();
    assert!(!report.stopped);
    assert_eq!((report.pending, report.analysed), (3, 3), "{report:?}");
    assert!(!second.contains(&first[0].2), "{second:?}");
    assert_eq!(
        lib.stored_analysis(done_first).unwrap().unwrap(),
        stored,
        "the first track was analysed again"
    );
    assert!(lib.tracks_needing_analysis().unwrap().is_empty());
    assert_eq!(lib.counts().unwrap().analysed, 4);
    // Incremental: nothing left to do.
    let report = run_pending(&lib, &mut no_progress(), &stop).unwrap();
    assert_eq!((report.pending, report.analysed), (0, 0));
}

#[test]
fn analysis_fills_missing_features_but_keeps_imported_and_tagged_ones() {
    let dir = util::tempdir();
    let music = dir.path().join("music");
    std::fs::create_dir_all(&music).unwrap();
    let tone = Tone::new(440.0, 3.0);
    audio::write_wav(&music.join("plain.wav"), &tone);
    audio::write_wav(&music.join("imported.wav"), &tone);
    audio::write_flac(
        &music.join("tagged.flac"),
        &tone,
        &Tags {
            valence: Some(0.8),
            energy: Some(0.6),
            ..Tags::default()
        },
    );
    let mut lib = Library::open(&dir.path().join("lib.db")).unwrap();
    scan(&mut lib, std::slice::from_ref(&music), &mut Quiet).unwrap();
    let csv = dir.path().join("features.csv");
    std::fs::write(&csv, "path,valence,energy\nmusic/imported.wav,0.1,0.9\n").unwrap();
    let imported = moodbox::music::import::import_features(&mut lib, &csv).unwrap();
    assert_eq!(imported.matched, 1, "{imported:?}");

    let report = run_pending(&lib, &mut no_progress(), &AtomicBool::new(false)).unwrap();
    assert_eq!(
        (report.analysed, report.features_changed),
        (3, 1),
        "{report:?}"
    );
    let features = |name| lib.features(id_of(&lib, name)).unwrap().unwrap();
    let (f, source) = features("plain.wav");
    assert_eq!(source, FeatureSource::Analysis);
    assert!((0.0..=1.0).contains(&f.valence) && (0.0..=1.0).contains(&f.energy));
    let (f, source) = features("imported.wav");
    assert_eq!(
        (f.valence, f.energy, source),
        (0.1, 0.9, FeatureSource::Import)
    );
    let (f, source) = features("tagged.flac");
    assert_eq!(
        (f.valence, f.energy, source),
        (0.8, 0.6, FeatureSource::Tag)
    );
    // All three were measured all the same: their loudness drives playback gain.
    for name in ["plain.wav", "imported.wav", "tagged.flac"] {
        let a = lib.stored_analysis(id_of(&lib, name)).unwrap().unwrap();
        assert!(
            a.lufs.is_some() && a.gain_db.is_some() && a.key.is_some(),
            "{a:?}"
        );
    }
}

#[test]
fn an_undecodable_file_is_reported_by_path_and_skipped_but_not_marked_broken() {
    let dir = util::tempdir();
    let (mut lib, music) = scanned_library(dir.path());
    // Under a second: it plays, but there is too little to measure.
    let short = audio::write_wav(&music.join("short.wav"), &Tone::new(440.0, 0.5));
    // Damaged after the scan (same size and mtime, so the scan cannot tell).
    let damaged = music.join("t2.wav");
    let mtime = std::fs::metadata(&damaged).unwrap().modified().unwrap();
    let len = std::fs::metadata(&damaged).unwrap().len() as usize;
    std::fs::write(&damaged, vec![0x5a; len]).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&damaged)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    scan(&mut lib, std::slice::from_ref(&music), &mut Quiet).unwrap();

    let report = run_pending(&lib, &mut no_progress(), &AtomicBool::new(false)).unwrap();
    assert_eq!((report.pending, report.analysed), (5, 3), "{report:?}");
    let mut problems: Vec<&PathBuf> = report.problems.iter().map(|(p, _)| p).collect();
    problems.sort();
    assert_eq!(problems, vec![&short, &damaged], "{report:?}");
    assert!(report
        .problems
        .iter()
        .all(|(p, why)| !why.contains(&*p.to_string_lossy())));
    // Skipped, still playable (only the player marks tracks broken), not retried until
    // the file changes.
    let candidates: Vec<i64> = lib.candidates().unwrap().iter().map(|c| c.id).collect();
    for p in [&short, &damaged] {
        let id = id_of(&lib, &p.file_name().unwrap().to_string_lossy());
        assert!(candidates.contains(&id));
        assert!(lib.stored_analysis(id).unwrap().unwrap().error.is_some());
        assert_eq!(lib.track_gain(id).unwrap(), None);
    }
    assert_eq!(lib.counts().unwrap().broken, 0);
    let again = run_pending(&lib, &mut no_progress(), &AtomicBool::new(false)).unwrap();
    assert_eq!(again.pending, 0, "{again:?}");
}

#[test]
fn a_quiet_track_is_raised_but_its_peaks_are_guarded() {
    let dir = util::tempdir();
    let music = dir.path().join("music");
    std::fs::create_dir_all(&music).unwrap();
    quiet_track(&music.join("quiet.wav"), 0.044, false, 6.0);
    quiet_track(&music.join("clicky.wav"), 0.03, true, 6.0);
    let mut lib = Library::open(&dir.path().join("lib.db")).unwrap();
    scan(&mut lib, std::slice::from_ref(&music), &mut Quiet).unwrap();
    run_pending(&lib, &mut no_progress(), &AtomicBool::new(false)).unwrap();

    // A quiet, even track: the whole R128 gain to -18 LUFS.
    let quiet = id_of(&lib, "quiet.wav");
    let a = lib.stored_analysis(quiet).unwrap().unwrap();
    let (lufs, gain) = (a.lufs.unwrap(), a.gain_db.unwrap());
    assert!((lufs + 30.0).abs() < 1.0, "{a:?}");
    assert!((gain - (-18.0 - lufs)).abs() < 0.01, "{a:?}");
    assert_eq!(lib.track_gain(quiet).unwrap(), Some(gain));

    // Just as quiet, but with peaks near full scale: raised only until they reach -1 dBTP.
    let clicky = id_of(&lib, "clicky.wav");
    let a = lib.stored_analysis(clicky).unwrap().unwrap();
    let (lufs, gain, peak) = (
        a.lufs.unwrap(),
        a.gain_db.unwrap(),
        a.true_peak_dbtp.unwrap(),
    );
    assert!((lufs + 30.0).abs() < 2.5 && gain > 9.0, "{a:?}");
    let guarded = lib.track_gain(clicky).unwrap().unwrap();
    assert!(guarded > 0.0 && guarded < gain, "{guarded} of {gain}");
    assert!((guarded - (PEAK_CEILING_DBTP - peak)).abs() < 1e-4, "{a:?}");
}

#[test]
fn a_replaygain_tag_wins_over_the_measured_gain() {
    let dir = util::tempdir();
    let music = dir.path().join("music");
    std::fs::create_dir_all(&music).unwrap();
    let tone = Tone::new(440.0, 3.0);
    audio::write_flac_with(
        &music.join("tagged.flac"),
        &tone,
        &Tags::default(),
        &[("REPLAYGAIN_TRACK_GAIN", "-3.00 dB")],
    );
    audio::write_flac(&music.join("untagged.flac"), &tone, &Tags::default());
    let mut lib = Library::open(&dir.path().join("lib.db")).unwrap();
    scan(&mut lib, std::slice::from_ref(&music), &mut Quiet).unwrap();
    let (tagged, untagged) = (id_of(&lib, "tagged.flac"), id_of(&lib, "untagged.flac"));
    // Known from the scan alone, before any analysis.
    assert_eq!(lib.track_gain(tagged).unwrap(), Some(-3.0));
    assert_eq!(lib.track_gain(untagged).unwrap(), None);
    run_pending(&lib, &mut no_progress(), &AtomicBool::new(false)).unwrap();
    let measured = lib
        .stored_analysis(tagged)
        .unwrap()
        .unwrap()
        .gain_db
        .unwrap();
    assert!((measured + 3.0).abs() > 1.0, "measured {measured}");
    assert_eq!(lib.track_gain(tagged).unwrap(), Some(-3.0));
    assert_eq!(lib.track_gain(untagged).unwrap(), Some(measured));
}

#[test]
fn the_mixer_applies_the_gain() {
    let dir = util::tempdir();
    let dc = write_samples(
        &dir.path().join("dc.wav"),
        std::iter::repeat_n(0.25, 44_100),
    );
    let mut m = Mixer::new(DEFAULT_FORMAT.0, DEFAULT_FORMAT.1);
    m.play(1, &dc, 6.0).unwrap();
    let mut block = vec![0.0; 1764];
    for _ in 0..5 {
        m.fill(&mut block);
    }
    let level = block[block.len() - 1];
    assert!((level - 0.5).abs() < 0.01, "{level}");
}

/// Peak of the music the engine played from `cfg`'s library for 2 s (volume 1).
fn played_peak(cfg: &moodbox::config::Config) -> f32 {
    let lib = Library::open(&cfg.paths.database).unwrap();
    let mut engine = Engine::new(cfg.clone(), lib, Duration::ZERO, 1, Box::new(|_, _| {})).unwrap();
    let mut mixer = Mixer::new(DEFAULT_FORMAT.0, DEFAULT_FORMAT.1);
    let wav = cfg.paths.state_dir.join("out.wav");
    let mut out = WavOutput::create(&wav, DEFAULT_FORMAT).unwrap();
    let script = EmotionScript::parse("0 neutral\n", "test").unwrap();
    Simulation {
        script: &script,
        presses: &[],
        length: Duration::from_secs(2),
        camera_fps: 5,
    }
    .run(&mut engine, &mut mixer, &mut out)
    .unwrap();
    drop(out);
    let mut r = hound::WavReader::open(&wav).unwrap();
    let samples: Vec<f32> = match r.spec().sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().map(Result::unwrap).collect(),
        hound::SampleFormat::Int => r
            .samples::<i32>()
            .map(|s| s.unwrap() as f32 / 32768.0)
            .collect(),
    };
    samples.iter().fold(0.0, |m, s| m.max(s.abs()))
}

#[test]
fn the_engine_plays_each_track_at_its_normalised_gain_unless_off() {
    let dir = util::tempdir();
    let mut cfg = demo_config(dir.path());
    cfg.audio.volume = 1.0;
    cfg.audio.button_tones = false;
    let music = cfg.paths.music_dirs[0].clone();
    std::fs::create_dir_all(&music).unwrap();
    quiet_track(&music.join("quiet.wav"), 0.05, false, 4.0);
    let mut lib = Library::open(&cfg.paths.database).unwrap();
    scan(&mut lib, std::slice::from_ref(&music), &mut Quiet).unwrap();
    run_pending(&lib, &mut no_progress(), &AtomicBool::new(false)).unwrap();
    let gain = lib.track_gain(id_of(&lib, "quiet.wav")).unwrap().unwrap();
    assert!(gain > 6.0, "{gain}");
    drop(lib);

    assert_eq!(cfg.audio.normalize, Normalize::Track, "the default");
    let normalised = played_peak(&cfg);
    let expected = 0.05 * 10f32.powf(gain / 20.0);
    assert!(
        (normalised - expected).abs() < 0.01,
        "{normalised} vs {expected}"
    );
    cfg.audio.normalize = Normalize::Off;
    let off = played_peak(&cfg);
    assert!((off - 0.05).abs() < 0.005, "{off}");
}

#[test]
fn scan_analyze_and_analyze_from_the_command_line() {
    let dir = util::tempdir();
    let (lib, music) = scanned_library(dir.path());
    let imported = id_of(&lib, "t0.wav");
    drop(lib);
    let db = dir.path().join("lib.db");
    let db = db.to_str().unwrap();
    let csv = dir.path().join("features.csv");
    std::fs::write(&csv, "path,valence,energy\nmusic/t0.wav,0.1,0.9\n").unwrap();
    let out = util::moodbox(&["--database", db, "import-features", csv.to_str().unwrap()]);
    assert!(out.status.success(), "{}", util::text(&out));
    std::fs::write(music.join("junk.wav"), "RIFF, but not really").unwrap();

    let out = util::moodbox(&[
        "--database",
        db,
        "scan",
        "--analyze",
        music.to_str().unwrap(),
    ]);
    // The junk file fails the scan (exit 65, named), the four tones are analysed.
    assert_eq!(out.status.code(), Some(65), "{}", util::text(&out));
    assert!(
        util::text(&out).contains("junk.wav"),
        "{}",
        util::text(&out)
    );
    assert!(
        util::text(&out).contains("4 of 4 tracks analysed"),
        "{}",
        util::text(&out)
    );
    let lib = Library::open(Path::new(db)).unwrap();
    for (id, f) in lib.candidates().unwrap().iter().map(|c| (c.id, c.features)) {
        let source = lib.features(id).unwrap().unwrap().1;
        if id == imported {
            let f = f.unwrap();
            assert_eq!(
                (f.valence, f.energy, source),
                (0.1, 0.9, FeatureSource::Import)
            );
        } else {
            assert_eq!(source, FeatureSource::Analysis);
        }
    }
    drop(lib);

    let out = util::moodbox(&["--database", db, "analyze"]);
    assert!(out.status.success(), "{}", util::text(&out));
    assert!(
        util::text(&out).contains("0 of 0 tracks analysed"),
        "{}",
        util::text(&out)
    );
    let out = util::moodbox(&["--database", db, "analyze", "--force"]);
    assert!(out.status.success(), "{}", util::text(&out));
    assert!(
        util::text(&out).contains("4 of 4 tracks analysed"),
        "{}",
        util::text(&out)
    );
    let out = util::moodbox(&["--database", db, "library"]);
    assert!(
        util::text(&out).contains("analysed      4"),
        "{}",
        util::text(&out)
    );
}

/// The nice value of the daemon's thread called `name`, from /proc.
fn thread_nice(pid: u32, name: &str) -> Option<i64> {
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            // Fields after the parenthesised name; nice is field 19 of stat.
            let rest = &stat[stat.rfind(')')? + 2..];
            return rest.split(' ').nth(16)?.parse().ok();
        }
    }
    None
}

#[test]
fn the_running_box_analyses_new_music_by_itself_at_low_priority() {
    let dir = util::tempdir();
    let music = dir.path().join("music");
    std::fs::create_dir_all(&music).unwrap();
    for name in ["one", "two"] {
        moodbox::demo::synth_song(&music.join(format!("{name}.wav")), 0.8, 0.7, 5.0).unwrap();
    }
    std::fs::write(dir.path().join("emotions.txt"), "0 happy\n").unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "log_level = \"debug\"\n[gpio]\nenabled = false\n[paths]\nstate_dir = {:?}\nmusic_dirs = [{music:?}]\nrescan_minutes = 0.005\n",
            dir.path()
        ),
    )
    .unwrap();
    let log = dir.path().join("daemon.log");
    let mut child = crate::util::command()
        .arg("--config")
        .arg(&config)
        .args(["run", "--output", "null", "--emotions"])
        .arg(dir.path().join("emotions.txt"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut nice = None;
    let analysed = loop {
        nice = nice.or_else(|| thread_nice(child.id(), "rescan"));
        let n = Library::open(&dir.path().join("library.db"))
            .and_then(|lib| lib.counts())
            .map_or(0, |c| c.analysed);
        if n == 2 || std::time::Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    nice = nice.or_else(|| thread_nice(child.id(), "rescan"));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(analysed, 2, "{log}");
    assert!(status.success(), "{log}");
    assert_eq!(nice, Some(19), "{log}");
    let lib = Library::open(&dir.path().join("library.db")).unwrap();
    for c in lib.candidates().unwrap() {
        assert_eq!(
            lib.features(c.id).unwrap().unwrap().1,
            FeatureSource::Analysis
        );
    }
}
