//! The daemon's engine end to end on a simulated clock: scripted camera, scripted presses,
//! real library, real mixer, WAV output.

use crate::util;
use moodbox::buttons::Action;
use moodbox::daemon::engine::Engine;
use moodbox::daemon::script::EmotionScript;
use moodbox::daemon::sim::Simulation;
use moodbox::demo::{demo_config, synth_song};
use moodbox::music::library::{FeatureSource, Features, Library};
use moodbox::music::scan;
use moodbox::player::{Mixer, WavOutput, DEFAULT_FORMAT};
use rusqlite::Connection;
use std::time::Duration;

/// Three bright and three dark songs, 4 s each; returns the state folder.
fn library(dir: &std::path::Path) -> moodbox::config::Config {
    let mut cfg = demo_config(dir);
    cfg.debounce.dwell = Duration::from_secs(1);
    cfg.debounce.min_interval = Duration::from_secs(5);
    cfg.recommend.temperature = 0.0;
    let music = cfg.paths.music_dirs[0].clone();
    std::fs::create_dir_all(&music).unwrap();
    let songs = [
        ("bright1", 0.9, 0.8),
        ("bright2", 0.85, 0.7),
        ("bright3", 0.8, 0.75),
        ("dark1", 0.1, 0.2),
        ("dark2", 0.15, 0.25),
        ("dark3", 0.2, 0.15),
    ];
    for (name, v, e) in songs {
        synth_song(&music.join(format!("{name}.wav")), v, e, 4.0).unwrap();
    }
    let mut lib = Library::open(&cfg.paths.database).unwrap();
    scan::scan(&mut lib, std::slice::from_ref(&music), &mut scan::Quiet).unwrap();
    let keys = lib.track_keys().unwrap();
    for (name, v, e) in songs {
        let id = keys
            .iter()
            .find(|k| k.path.ends_with(format!("{name}.wav")))
            .unwrap()
            .id;
        lib.set_features(
            id,
            &Features {
                valence: v,
                energy: e,
                ..Default::default()
            },
            FeatureSource::Import,
        )
        .unwrap();
    }
    cfg
}

fn simulate(
    cfg: &moodbox::config::Config,
    script: &str,
    presses: &[(Duration, Action)],
    secs: u64,
) -> Connection {
    let lib = Library::open(&cfg.paths.database).unwrap();
    let say = Box::new(|t: Duration, s: &str| eprintln!("[{:.1}] {s}", t.as_secs_f64()));
    let mut engine = Engine::new(cfg.clone(), lib, Duration::ZERO, 1, say).unwrap();
    let mut mixer = Mixer::new(DEFAULT_FORMAT.0, DEFAULT_FORMAT.1);
    let mut out = WavOutput::create(cfg.paths.state_dir.join("out.wav"), DEFAULT_FORMAT).unwrap();
    let script = EmotionScript::parse(script, "test").unwrap();
    Simulation {
        script: &script,
        presses,
        length: Duration::from_secs(secs),
        camera_fps: 10,
    }
    .run(&mut engine, &mut mixer, &mut out)
    .unwrap();
    Connection::open(&cfg.paths.database).unwrap()
}

/// (file stem, emotion, outcome) of every play, in order.
fn plays(db: &Connection) -> Vec<(String, String, String)> {
    let mut stmt = db
        .prepare("SELECT t.path, p.emotion, p.outcome FROM plays p JOIN tracks t ON t.id = p.track_id ORDER BY p.id")
        .unwrap();
    stmt.query_map([], |r| {
        let path: String = r.get(0)?;
        let stem = std::path::Path::new(&path)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        Ok((stem, r.get(1)?, r.get(2)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn the_right_songs_play_for_each_mood() {
    let dir = util::tempdir();
    let cfg = library(dir.path());
    // Happy from the start, sad from 20 s; each song is 4 s.
    let db = simulate(&cfg, "0 happy\n20 sad\n", &[], 40);
    let plays = plays(&db);
    assert!(plays.len() >= 8, "{plays:?}");
    for (stem, emotion, _) in &plays {
        match emotion.as_str() {
            "happy" => assert!(stem.starts_with("bright"), "{stem} played for happy"),
            "sad" => assert!(stem.starts_with("dark"), "{stem} played for sad"),
            // Before the first accepted change the box plays for neutral.
            other => assert_eq!(other, "neutral"),
        }
    }
    assert!(plays.iter().any(|p| p.1 == "happy") && plays.iter().any(|p| p.1 == "sad"));
    // The last play was cut by the end of the run.
    assert_eq!(plays.last().unwrap().2, "interrupted");
    let changes: Vec<String> = db
        .prepare("SELECT to_emotion FROM emotion_changes ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(changes, vec!["happy", "sad"]);
}

#[test]
fn a_skip_skips_and_a_like_is_stored_for_the_song_playing() {
    let dir = util::tempdir();
    let cfg = library(dir.path());
    let presses = [
        (Duration::from_millis(6_500), Action::Like),
        (Duration::from_millis(7_000), Action::Skip),
    ];
    let db = simulate(&cfg, "0 happy\n", &presses, 12);
    let plays = plays(&db);
    // Songs are 4 s: the one started at 4 s (after the neutral opener) is playing at 6.5-7 s.
    let skipped: Vec<_> = plays.iter().filter(|p| p.2 == "skipped").collect();
    assert_eq!(skipped.len(), 1, "{plays:?}");
    let listened: i64 = db
        .query_row(
            "SELECT listened_ms FROM plays WHERE outcome = 'skipped'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        (2_900..=3_500).contains(&listened),
        "skipped after {listened} ms"
    );
    let (liked, emotion): (String, String) = db
        .query_row("SELECT t.path, l.emotion FROM likes l JOIN tracks t ON t.id = l.track_id WHERE l.value = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert!(
        liked.ends_with(&format!("{}.wav", skipped[0].0)),
        "liked {liked}, skipped {}",
        skipped[0].0
    );
    assert_eq!(emotion, "happy");
}

#[test]
fn a_corrupt_track_is_passed_over_and_marked() {
    let dir = util::tempdir();
    let cfg = library(dir.path());
    // The best match for neutral and happy alike is made unplayable after the scan.
    let music = &cfg.paths.music_dirs[0];
    for name in ["bright1", "bright2", "bright3"] {
        std::fs::write(
            music.join(format!("{name}.wav")),
            b"RIFF this is not audio at all",
        )
        .unwrap();
    }
    let db = simulate(&cfg, "0 happy\n", &[], 12);
    let broken: i64 = db
        .query_row(
            "SELECT count(*) FROM tracks WHERE broken IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(broken, 3);
    let plays = plays(&db);
    assert!(plays.len() >= 2, "music kept playing: {plays:?}");
    assert!(plays.iter().all(|p| p.0.starts_with("dark")), "{plays:?}");
}

#[test]
fn cut_on_change_fades_the_song_out_for_the_new_mood() {
    let dir = util::tempdir();
    let mut cfg = library(dir.path());
    cfg.recommend.cut_on_change = true;
    // Happy is accepted at 1 s, cutting the neutral opener; sad from 6 s is accepted
    // a little after 7 s, in the middle of the second happy song (5.4-9.4 s).
    let db = simulate(&cfg, "0 happy\n6 sad\n", &[], 10);
    let plays = plays(&db);
    let emotions: Vec<(&str, &str)> = plays.iter().map(|p| (p.1.as_str(), p.2.as_str())).collect();
    assert_eq!(
        emotions,
        vec![
            ("neutral", "interrupted"),
            ("happy", "finished"),
            ("happy", "interrupted"),
            ("sad", "interrupted")
        ],
        "{plays:?}"
    );
    let listened: Vec<i64> = db
        .prepare("SELECT listened_ms FROM plays ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    // Cut songs stop well before their 4 s end: the change plus the 0.4 s fade.
    assert!((1_000..=1_600).contains(&listened[0]), "{listened:?}");
    assert!((1_500..=2_800).contains(&listened[2]), "{listened:?}");
}
