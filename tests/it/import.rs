//! `import-features` from CSV: matching by path and by normalised artist + title, and errors.

use crate::util::{
    self,
    audio::{self, Tags, Tone},
};
use moodbox::music::import::import_features;
use moodbox::music::library::{FeatureSource, Features, Library};
use moodbox::music::scan::{scan, Quiet};

fn library(dir: &std::path::Path) -> Library {
    let music = dir.join("music");
    std::fs::create_dir_all(&music).unwrap();
    let tone = Tone::new(330.0, 1.5);
    audio::write_flac(
        &music.join("lucky.flac"),
        &tone,
        &Tags {
            title: Some("Get Lucky"),
            artist: Some("Daft Punk"),
            ..Default::default()
        },
    );
    audio::write_ogg(
        &music.join("queen.ogg"),
        &tone,
        &Tags {
            title: Some("Don't Stop Me Now"),
            artist: Some("Queen"),
            ..Default::default()
        },
    );
    audio::write_wav(&music.join("untagged.wav"), &tone);
    let mut lib = Library::open(&dir.join("lib.db")).unwrap();
    scan(&mut lib, &[music], &mut Quiet).unwrap();
    lib
}

fn features(lib: &Library, file: &str) -> Option<(Features, FeatureSource)> {
    let id = lib
        .known_files()
        .unwrap()
        .iter()
        .find(|(p, _)| p.ends_with(file))
        .unwrap()
        .1
        .id;
    lib.features(id).unwrap()
}

#[test]
fn spotify_style_rows_match_by_normalised_artist_and_title_and_paths_match_too() {
    let dir = util::tempdir();
    let mut lib = library(dir.path());
    let csv = dir.path().join("features.csv");
    std::fs::write(
        &csv,
        "track_name,artists,valence,energy,tempo,danceability,acousticness\n\
         GET LUCKY (feat. Pharrell Williams),\"['Daft Punk', 'Pharrell Williams']\",0.86,0.81,116.0,0.79,0.04\n\
         Don’t Stop Me Now - Remastered 2011,['Queen'],0.61,0.87,156.3,0.56,0.05\n\
         Bohemian Rhapsody,['Queen'],0.23,0.40,143.9,0.39,0.29\n",
    )
    .unwrap();
    let r = import_features(&mut lib, &csv).unwrap();
    assert_eq!(r.rows, 3);
    assert_eq!(r.matched, 2, "{r:?}");
    let (f, source) = features(&lib, "lucky.flac").unwrap();
    assert_eq!(
        (f.valence, f.energy, f.tempo, source),
        (0.86, 0.81, Some(116.0), FeatureSource::Import)
    );
    // "Don’t Stop Me Now - Remastered 2011" is the same song; Bohemian Rhapsody is not in the library.
    assert_eq!(features(&lib, "queen.ogg").unwrap().0.valence, 0.61);
    let unmatched: Vec<u64> = r.unmatched.iter().map(|(l, _)| *l).collect();
    assert_eq!(unmatched, vec![4]);
    assert!(r.unmatched[0].1.contains("Bohemian Rhapsody"));

    let by_path = dir.path().join("by_path.csv");
    std::fs::write(
        &by_path,
        "path,valence,energy\nmusic/untagged.wav,0.2,0.3\nmusic/queen.ogg,0.6,0.9\n",
    )
    .unwrap();
    let r = import_features(&mut lib, &by_path).unwrap();
    assert_eq!((r.matched, r.unmatched.len()), (2, 0), "{r:?}");
    assert_eq!(
        features(&lib, "queen.ogg").unwrap().0.valence,
        0.6,
        "a later import replaces an earlier one"
    );
    assert_eq!(features(&lib, "untagged.wav").unwrap().0.valence, 0.2);
}

#[test]
fn malformed_rows_are_reported_by_line_and_good_rows_still_apply() {
    let dir = util::tempdir();
    let mut lib = library(dir.path());
    let csv = dir.path().join("bad.csv");
    std::fs::write(
        &csv,
        "path,valence,energy,danceability\n\
         music/untagged.wav,1.4,0.5,\n\
         music/queen.ogg,high,0.5,\n\
         music/lucky.flac,0.5,,\n\
         music/lucky.flac,0.5,0.5,-0.1\n\
         music/untagged.wav,0.25,0.5,0.3\n",
    )
    .unwrap();
    let r = import_features(&mut lib, &csv).unwrap();
    let lines: Vec<(u64, &str)> = r.malformed.iter().map(|(l, m)| (*l, m.as_str())).collect();
    assert_eq!(
        lines,
        vec![
            (2, "valence: 1.4 is outside [0, 1]"),
            (3, "valence: \"high\" is not a number"),
            (4, "energy: missing"),
            (5, "danceability: -0.1 is outside [0, 1]"),
        ]
    );
    assert_eq!(r.matched, 1);
    assert_eq!(features(&lib, "untagged.wav").unwrap().0.valence, 0.25);
    assert!(
        features(&lib, "lucky.flac").is_none(),
        "no bad row was applied"
    );
}

#[test]
fn a_csv_without_the_needed_columns_is_refused_naming_them() {
    let dir = util::tempdir();
    let mut lib = library(dir.path());
    let csv = dir.path().join("cols.csv");
    std::fs::write(&csv, "title,mood\nx,happy\n").unwrap();
    let e = import_features(&mut lib, &csv).unwrap_err().to_string();
    assert!(e.contains("cols.csv: line 1: no `valence` column"), "{e}");
    std::fs::write(&csv, "valence,energy\n0.1,0.2\n").unwrap();
    let e = import_features(&mut lib, &csv).unwrap_err().to_string();
    assert!(e.contains("need a `path` column"), "{e}");
}
