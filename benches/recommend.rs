//! Pick speed at 100 000 tracks: the pure ranking, and a whole pick through SQLite
//! (recent plays + feedback queries + ranking + sampling), with the cached taste and
//! after a write that makes the picker refit it. Target: ≤ 5 ms per pick.
//!
//!     cargo bench --bench recommend

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use moodbox::config::Config;
use moodbox::emotion::Emotion;
use moodbox::music::library::{
    Candidate, FeatureSource, Features, Feedback, IdMap, Library, Outcome, Signal, TasteEvent,
    TrackMeta,
};
use moodbox::music::picker::Picker;
use moodbox::music::recommend::{feedback_terms, rank, sample, Params, Rng};
use moodbox::music::taste::{Artists, Model, Taste};
use std::hint::black_box;
use std::time::Duration;

const TRACKS: usize = 100_000;

fn features(rng: &mut Rng) -> Features {
    Features {
        valence: rng.next_f32(),
        energy: rng.next_f32(),
        ..Default::default()
    }
}

fn pure(c: &mut Criterion) {
    let mut rng = Rng::new(7);
    let candidates: Vec<Candidate> = (0..TRACKS as i64)
        .map(|id| Candidate {
            id,
            path: format!("/m/{id}.flac").into(),
            title: None,
            artist: Some(format!("Artist {}", id % 997)),
            features: Some(features(&mut rng)),
        })
        .collect();
    let feedback: IdMap<Feedback> = (0..5000)
        .map(|i| {
            (
                i * 19,
                Feedback {
                    likes: 1,
                    skips: 2,
                    ..Default::default()
                },
            )
        })
        .collect();
    let feedback = feedback_terms(&candidates, &feedback);
    let recent: Vec<i64> = (0..20).collect();
    // A year of listening for the taste model: 5 000 plays, a third skipped, 500 likes.
    let (artists, artist_of) = Artists::of(&candidates);
    let events: Vec<TasteEvent> = (0..5_500usize)
        .map(|i| {
            let c = &candidates[(i * 31) % TRACKS];
            TasteEvent {
                track_id: c.id,
                artist: artist_of[(i * 31) % TRACKS],
                features: c.features,
                signal: match i {
                    5_000.. => Signal::Like,
                    _ if i % 3 == 0 => Signal::Skipped {
                        listened: Duration::from_secs(10),
                    },
                    _ => Signal::Finished,
                },
            }
        })
        .collect();
    let model = Model::fit(&events, artists.len());
    let taste = Taste {
        model: &model,
        artist_of: &artist_of,
    };
    let cfg = Config::default();
    let p = Params {
        top_k: cfg.recommend.top_k,
        temperature: cfg.recommend.temperature,
        feedback_weight: cfg.recommend.feedback_weight,
        taste_weight: cfg.recommend.taste_weight,
    };
    let target = cfg.target(Emotion::Happy);
    c.bench_function("fit taste to 5.5k events", |b| {
        b.iter(|| Model::fit(black_box(&events), artists.len()))
    });
    for (name, taste) in [
        ("rank+sample 100k tracks, no taste", Taste::none()),
        ("rank+sample 100k tracks", taste),
    ] {
        c.bench_function(name, |b| {
            b.iter(|| {
                let ranked = rank(
                    black_box(&candidates),
                    target,
                    &feedback,
                    taste,
                    &recent,
                    &p,
                    p.top_k,
                );
                sample(&ranked, &p, &mut rng)
            })
        });
    }
}

fn through_sqlite(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut lib = Library::open(&dir.path().join("bench.db")).unwrap();
    let mut rng = Rng::new(11);
    lib.in_transaction(|lib| {
        for i in 0..TRACKS {
            let meta = TrackMeta {
                path: format!("/music/artist{}/song{i}.flac", i % 997).into(),
                title: Some(format!("Song {i}")),
                artist: Some(format!("Artist {}", i % 997)),
                album: None,
                track_no: None,
                duration: Duration::from_secs(200),
                format: "flac".into(),
                sample_rate: Some(44_100),
                size: 1,
                mtime: 1,
                fingerprint: i as i64,
            };
            let id = lib.upsert_track(&meta)?;
            lib.set_features(id, &features(&mut rng), FeatureSource::Import)?;
        }
        // A year of listening: 5 000 plays, 500 likes.
        for i in 0..5_000i64 {
            let play = lib.start_play(1 + (i * 31) % TRACKS as i64, Emotion::Happy)?;
            lib.finish_play(
                play,
                if i % 3 == 0 {
                    Outcome::Skipped
                } else {
                    Outcome::Finished
                },
                Duration::from_secs(60),
            )?;
            if i % 10 == 0 {
                lib.record_like(1 + (i * 31) % TRACKS as i64, Emotion::Happy, 1)?;
            }
        }
        Ok::<_, moodbox::music::library::LibraryError>(())
    })
    .unwrap();
    let cfg = Config::default();
    let mut picker = Picker::new(&lib, 3).unwrap();
    c.bench_function("pick through SQLite, 100k tracks, 5k plays", |b| {
        b.iter(|| picker.pick(&lib, &cfg, Emotion::Happy, 0).unwrap())
    });
    // After any write (here an emotion change, not timed; a finished play would grow the
    // history with each iteration) the pick reloads the history and refits the taste.
    c.bench_function(
        "pick after a write (history reloaded, taste refitted), 100k tracks",
        |b| {
            b.iter_batched(
                || {
                    lib.record_emotion_change(None, Emotion::Happy, 1.0)
                        .unwrap()
                },
                |()| picker.pick(&lib, &cfg, Emotion::Happy, 0).unwrap(),
                BatchSize::PerIteration,
            )
        },
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = pure, through_sqlite
}
criterion_main!(benches);
