//! `moodbox scan` on generated files of every format, broken files, and re-scans.

use crate::util::{
    self,
    audio::{self, Tags, Tone},
};
use moodbox::emotion::Emotion;
use moodbox::music::library::{FeatureSource, Library};
use moodbox::music::scan::{scan, Quiet};
use std::path::{Path, PathBuf};

const TAGGED: Tags<'static> = Tags {
    title: Some("Sunny"),
    artist: Some("The Fixtures"),
    album: Some("Tests"),
    track: Some(3),
    valence: Some(0.8),
    energy: Some(0.6),
};

/// good.wav, good.flac (tagged), good.mp3 (tagged), good.ogg, a truncated mp3, a text file
/// named .flac and a non-audio file.
fn music_folder(dir: &Path) -> PathBuf {
    let music = dir.join("music");
    std::fs::create_dir_all(music.join("sub")).unwrap();
    let tone = Tone::new(440.0, 3.0);
    audio::write_wav(&music.join("good.wav"), &tone);
    audio::write_flac(&music.join("sub/good.flac"), &tone, &TAGGED);
    audio::write_mp3(
        &music.join("good.mp3"),
        &tone,
        &Tags {
            title: Some("Moon"),
            artist: Some("Bot"),
            ..TAGGED
        },
    );
    audio::write_ogg(&music.join("good.ogg"), &tone, &Tags::default());
    let cut = audio::write_mp3(
        &music.join("cut.mp3"),
        &Tone::new(440.0, 6.0),
        &Tags::default(),
    );
    audio::truncate_file(&cut, 0.5);
    std::fs::write(
        music.join("fake.flac"),
        "this is a text file, not a FLAC stream\n",
    )
    .unwrap();
    std::fs::write(music.join("cover.txt"), "liner notes").unwrap();
    music
}

fn by_name(lib: &Library, name: &str) -> i64 {
    lib.known_files()
        .unwrap()
        .iter()
        .find(|(p, _)| p.ends_with(name))
        .map(|(_, k)| k.id)
        .unwrap()
}

#[test]
fn scan_indexes_good_files_and_reports_broken_ones_by_path() {
    let dir = util::tempdir();
    let music = music_folder(dir.path());
    let mut lib = Library::open(&dir.path().join("lib.db")).unwrap();
    let r = scan(&mut lib, std::slice::from_ref(&music), &mut Quiet).unwrap();
    assert_eq!((r.added, r.ignored), (4, 1), "{r:?}");
    let problems: Vec<String> = r
        .problems
        .iter()
        .map(|(p, why)| format!("{} {why}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems.iter().any(|p| p.starts_with("cut.mp3 truncated")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.starts_with("fake.flac ")),
        "{problems:?}"
    );

    let counts = lib.counts().unwrap();
    let formats: Vec<(&str, u64)> = counts
        .per_format
        .iter()
        .map(|(f, n)| (f.as_str(), *n))
        .collect();
    assert_eq!(
        formats,
        vec![("flac", 1), ("mp3", 1), ("vorbis", 1), ("wav", 1)]
    );
    // Tags and properties.
    let flac = lib
        .candidates()
        .unwrap()
        .into_iter()
        .find(|c| c.path.ends_with("sub/good.flac"))
        .unwrap();
    assert_eq!(
        (flac.title.as_deref(), flac.artist.as_deref()),
        (Some("Sunny"), Some("The Fixtures"))
    );
    // VALENCE/ENERGY tags become features, marked as coming from tags.
    let (f, source) = lib.features(flac.id).unwrap().unwrap();
    assert_eq!(
        (f.valence, f.energy, source),
        (0.8, 0.6, FeatureSource::Tag)
    );
    let mp3 = by_name(&lib, "good.mp3");
    assert!(
        lib.features(mp3).unwrap().is_some(),
        "ID3 TXXX:VALENCE/ENERGY read"
    );
    assert!(lib.features(by_name(&lib, "good.ogg")).unwrap().is_none());
    assert_eq!(counts.with_features, 2);
    let db = rusqlite::Connection::open(dir.path().join("lib.db")).unwrap();
    let (ms, rate, track): (i64, i64, i64) = db
        .query_row(
            "SELECT duration_ms, sample_rate, track_no FROM tracks WHERE path LIKE '%good.flac'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert!((2_900..=3_100).contains(&ms), "{ms} ms");
    assert_eq!((rate, track), (22_050, 3));
}

#[test]
fn rescan_is_incremental_and_keeps_history_across_renames_and_deletes() {
    let dir = util::tempdir();
    let music = music_folder(dir.path());
    let mut lib = Library::open(&dir.path().join("lib.db")).unwrap();
    scan(&mut lib, std::slice::from_ref(&music), &mut Quiet).unwrap();
    let again = scan(&mut lib, std::slice::from_ref(&music), &mut Quiet).unwrap();
    assert_eq!(
        (again.added, again.updated, again.unchanged, again.gone),
        (0, 0, 4, 0),
        "{again:?}"
    );

    let flac = by_name(&lib, "good.flac");
    let ogg = by_name(&lib, "good.ogg");
    lib.record_like(flac, Emotion::Happy, 1).unwrap();
    let play = lib.start_play(ogg, Emotion::Sad).unwrap();
    lib.finish_play(
        play,
        moodbox::music::library::Outcome::Finished,
        std::time::Duration::from_secs(3),
    )
    .unwrap();

    std::fs::rename(music.join("sub/good.flac"), music.join("renamed.flac")).unwrap();
    std::fs::remove_file(music.join("good.ogg")).unwrap();
    let r = scan(&mut lib, std::slice::from_ref(&music), &mut Quiet).unwrap();
    assert_eq!(
        (r.added, r.moved, r.gone, r.unchanged),
        (0, 1, 1, 2),
        "{r:?}"
    );
    // The renamed file is the same track: its like follows it.
    assert_eq!(by_name(&lib, "renamed.flac"), flac);
    assert_eq!(lib.feedback(Emotion::Happy).unwrap()[&flac].likes, 1);
    // The deleted one is gone, not deleted: its play survives and it is no longer picked.
    let counts = lib.counts().unwrap();
    assert_eq!((counts.tracks, counts.gone), (3, 1));
    assert_eq!(lib.feedback(Emotion::Sad).unwrap()[&ogg].finished, 1);
    assert!(lib.candidates().unwrap().iter().all(|c| c.id != ogg));

    // It comes back when the file does.
    audio::write_ogg(
        &music.join("good.ogg"),
        &Tone::new(440.0, 3.0),
        &Tags::default(),
    );
    let r = scan(&mut lib, std::slice::from_ref(&music), &mut Quiet).unwrap();
    assert_eq!(r.gone, 0);
    assert_eq!(lib.counts().unwrap().gone, 0);
}

#[test]
fn a_missing_folder_is_reported_not_fatal() {
    let dir = util::tempdir();
    let mut lib = Library::open(&dir.path().join("lib.db")).unwrap();
    let r = scan(&mut lib, &[dir.path().join("nope")], &mut Quiet).unwrap();
    assert_eq!(r.problems.len(), 1);
    assert!(r.problems[0].1.contains("cannot read folder"));
}
