//! `moodbox simulate`: does the box learn what a listener likes?
//!
//! A simulated listener with hidden tastes listens to a generated library through the real
//! SQLite library and picker. For each mood they prefer a region of the valence–energy plane
//! that is deliberately *off* the config's target for that mood, and they have a few
//! favourite artists. Each song they like, skip early or late, reject as "not for this mood",
//! or let play, at random with probabilities set by how well it suits them (seeded, so a
//! run is reproducible). The same listener, library and moods meet the personalised
//! recommender and the plain cosine picker (`feedback_weight` = `taste_weight` = 0).

use crate::config::{Config, Target};
use crate::emotion::Emotion;
use crate::music::library::{FeatureSource, Features, Library, Outcome, TrackMeta};
use crate::music::picker::Picker;
use crate::music::recommend::Rng;
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const TRACKS: usize = 3000;
pub const ARTISTS: usize = 150;
/// Like-rates are compared over the songs after this many.
pub const WARM_UP: usize = 50;
/// Rates are reported per block of this many songs.
pub const BLOCK: usize = 10;
/// The moods the listener goes through (a few, so each comes back within a session).
const MOODS: [Emotion; 4] = [
    Emotion::Happy,
    Emotion::Sad,
    Emotion::Neutral,
    Emotion::Angry,
];
/// How far the listener's preferred spot lies from the config's target (on [0, 1] axes).
const OFFSET: f32 = 0.3;
/// How wide that spot is (standard deviation of the appeal bump).
const WIDTH: f32 = 0.15;
const FAVOURITES: usize = 10;
/// Extra appeal of a favourite artist's song.
const FAVOURITE_APPEAL: f32 = 0.5;
const SONG: Duration = Duration::from_secs(200);

/// One seed's run: (seed, personalised reactions, plain reactions).
pub type SeedRun = (u64, Vec<Reaction>, Vec<Reaction>);

#[derive(Debug, Clone)]
pub struct Options {
    pub songs: usize,
    pub seeds: u64,
    pub first_seed: u64,
    pub plot: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            songs: 100,
            seeds: 20,
            first_seed: 1,
            plot: None,
        }
    }
}

/// What the listener did with one song.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    Liked,
    LetPlay,
    SkippedEarly,
    SkippedLate,
    NotForMood,
}

impl Reaction {
    pub fn is_skip(self) -> bool {
        matches!(
            self,
            Reaction::SkippedEarly | Reaction::SkippedLate | Reaction::NotForMood
        )
    }
}

/// The hidden tastes: a preferred spot per mood (in `MOODS` order) and favourite artists.
struct Listener {
    spots: Vec<Target>,
    favourites: Vec<usize>,
}

impl Listener {
    fn new(cfg: &Config, rng: &mut Rng) -> Listener {
        let spots = MOODS
            .iter()
            .map(|&m| {
                let t = cfg.target(m);
                let angle = rng.next_f32() * std::f32::consts::TAU;
                Target {
                    valence: (t.valence + OFFSET * angle.cos()).clamp(0.1, 0.9),
                    energy: (t.energy + OFFSET * angle.sin()).clamp(0.1, 0.9),
                }
            })
            .collect();
        let favourites = (0..FAVOURITES)
            .map(|_| (rng.next_u64() % ARTISTS as u64) as usize)
            .collect();
        Listener { spots, favourites }
    }

    /// How much a song suits the listener in a mood, in [0, 1].
    fn appeal(&self, mood: usize, f: &Features, artist: usize) -> f32 {
        let s = self.spots[mood];
        let d2 = (f.valence - s.valence).powi(2) + (f.energy - s.energy).powi(2);
        let fav = if self.favourites.contains(&artist) {
            FAVOURITE_APPEAL
        } else {
            0.0
        };
        ((-d2 / (2.0 * WIDTH * WIDTH)).exp() + fav).min(1.0)
    }

    /// A noisy reaction: even a perfect song is liked only sometimes, a poor one rarely.
    fn react(&self, appeal: f32, rng: &mut Rng) -> Reaction {
        let like = 0.05 + 0.55 * appeal;
        let skip = 0.1 + 0.6 * (1.0 - appeal);
        let r = rng.next_f32();
        if r < like {
            Reaction::Liked
        } else if r < like + skip {
            match rng.next_f32() {
                x if x < 0.1 * (1.0 - appeal) => Reaction::NotForMood,
                x if x < 0.75 => Reaction::SkippedEarly,
                _ => Reaction::SkippedLate,
            }
        } else {
            Reaction::LetPlay
        }
    }
}

fn normal(rng: &mut Rng) -> f32 {
    let (u, v) = (rng.next_f32().max(1e-7), rng.next_f32());
    (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
}

/// A library of `TRACKS` songs by `ARTISTS` artists, each artist with a style of their own
/// (songs scattered around a spot of the plane). Returns each track's artist by track id.
fn generate_library(lib: &mut Library, rng: &mut Rng) -> Result<Vec<usize>> {
    let styles: Vec<(f32, f32)> = (0..ARTISTS)
        .map(|_| (rng.next_f32(), rng.next_f32()))
        .collect();
    let mut artist_of = vec![usize::MAX; TRACKS + 1];
    lib.in_transaction(|lib| {
        for i in 0..TRACKS {
            let a = (rng.next_u64() % ARTISTS as u64) as usize;
            let id = lib.upsert_track(&TrackMeta {
                path: format!("/sim/artist{a:03}/song{i:04}.flac").into(),
                title: Some(format!("Song {i}")),
                artist: Some(format!("Artist {a}")),
                album: None,
                track_no: None,
                duration: SONG,
                format: "flac".into(),
                sample_rate: Some(44_100),
                size: 1,
                mtime: 1,
                fingerprint: i as i64,
            })?;
            let spread = |c: f32, rng: &mut Rng| (c + 0.2 * normal(rng)).clamp(0.0, 1.0);
            let f = Features {
                valence: spread(styles[a].0, rng),
                energy: spread(styles[a].1, rng),
                ..Default::default()
            };
            lib.set_features(id, &f, FeatureSource::Import)?;
            artist_of[id as usize] = a;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(artist_of)
}

/// `cfg` without learning: the plain cosine picker.
pub fn plain(cfg: &Config) -> Config {
    let mut cfg = cfg.clone();
    cfg.recommend.feedback_weight = 0.0;
    cfg.recommend.taste_weight = 0.0;
    cfg
}

/// One listening session of `songs` songs under `cfg`; the mood changes every 8-12 songs.
pub fn session(cfg: &Config, seed: u64, songs: usize) -> Result<Vec<Reaction>> {
    let dir = tempfile::tempdir().context("creating a temporary folder")?;
    let mut lib = Library::open(&dir.path().join("simulate.db"))?;
    // Separate streams, so the two pickers meet the same library, listener and moods.
    let mut rng = Rng::new(seed ^ 0x5EED_0001);
    let artist_of = generate_library(&mut lib, &mut rng)?;
    let listener = Listener::new(cfg, &mut rng);
    let mut world = World {
        listener,
        artist_of,
        rng,
    };
    let mut picker = Picker::new(&lib, seed)?;
    // One transaction: a simulated play needs no fsync.
    lib.in_transaction(|lib| listen(cfg, lib, &mut picker, &mut world, seed, songs))
}

/// The listener, each track's artist (by track id), and the stream that changes the moods.
struct World {
    listener: Listener,
    artist_of: Vec<usize>,
    rng: Rng,
}

fn listen(
    cfg: &Config,
    lib: &Library,
    picker: &mut Picker,
    world: &mut World,
    seed: u64,
    songs: usize,
) -> Result<Vec<Reaction>> {
    let (mut mood, mut left, mut in_mood) = (0, 0, 0u32);
    let mut out = Vec::with_capacity(songs);
    for n in 0..songs {
        if left == 0 {
            mood = (mood + 1 + (world.rng.next_u64() % 3) as usize) % MOODS.len();
            left = 8 + world.rng.next_u64() % 5;
            in_mood = 0;
        }
        left -= 1;
        let emotion = MOODS[mood];
        let pick = picker
            .pick(lib, cfg, emotion, in_mood)?
            .context("the simulated library is empty")?;
        in_mood += 1;
        let f = pick.track.features.unwrap_or_default();
        let appeal = world
            .listener
            .appeal(mood, &f, world.artist_of[pick.track.id as usize]);
        let mut rng = Rng::new(seed.wrapping_mul(1_000_003).wrapping_add(n as u64));
        let reaction = world.listener.react(appeal, &mut rng);
        let secs =
            |lo: u64, hi: u64, rng: &mut Rng| Duration::from_secs(lo + rng.next_u64() % (hi - lo));
        let play = lib.start_play(pick.track.id, emotion)?;
        let (outcome, listened) = match reaction {
            Reaction::Liked | Reaction::LetPlay => (Outcome::Finished, SONG),
            Reaction::SkippedEarly | Reaction::NotForMood => {
                (Outcome::Skipped, secs(3, 15, &mut rng))
            }
            Reaction::SkippedLate => (Outcome::Skipped, secs(40, 150, &mut rng)),
        };
        match reaction {
            Reaction::Liked => lib.record_like(pick.track.id, emotion, 1)?,
            Reaction::NotForMood => lib.record_like(pick.track.id, emotion, -1)?,
            _ => {}
        }
        lib.finish_play(play, outcome, listened)?;
        out.push(reaction);
    }
    Ok(out)
}

#[derive(Debug, Clone)]
pub struct Report {
    pub seeds: Vec<SeedRun>,
}

/// The share of `reactions[from..]` for which `what` holds.
pub fn rate(reactions: &[Reaction], from: usize, what: fn(Reaction) -> bool) -> f64 {
    let tail = &reactions[from.min(reactions.len())..];
    tail.iter().filter(|&&r| what(r)).count() as f64 / tail.len().max(1) as f64
}

fn liked(r: Reaction) -> bool {
    r == Reaction::Liked
}

impl Report {
    fn songs(&self) -> usize {
        self.seeds.first().map_or(0, |s| s.1.len())
    }

    /// Where the "after warm-up" comparison starts.
    pub fn warm_up(&self) -> usize {
        WARM_UP.min(self.songs() / 2)
    }

    /// Mean over seeds of the like-rate after the warm-up: (personalised, plain).
    pub fn like_rates_after_warm_up(&self) -> (f64, f64) {
        let n = self.seeds.len().max(1) as f64;
        let from = self.warm_up();
        let sum = |pick: fn(&SeedRun) -> &[Reaction]| {
            self.seeds
                .iter()
                .map(|s| rate(pick(s), from, liked))
                .sum::<f64>()
                / n
        };
        (sum(|s| &s.1), sum(|s| &s.2))
    }

    /// Per block of `BLOCK` songs, mean over seeds: (personalised like, skip, plain like, skip).
    pub fn blocks(&self) -> Vec<[f64; 4]> {
        let n = self.seeds.len().max(1) as f64;
        (0..self.songs().div_ceil(BLOCK))
            .map(|b| {
                let mut row = [0.0; 4];
                for (_, pers, plain) in &self.seeds {
                    for (i, r) in [pers, plain].into_iter().enumerate() {
                        let block = &r[b * BLOCK..((b + 1) * BLOCK).min(r.len())];
                        row[2 * i] += rate(block, 0, liked) / n;
                        row[2 * i + 1] += rate(block, 0, Reaction::is_skip) / n;
                    }
                }
                row
            })
            .collect()
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "like- and skip-rates per {BLOCK} songs, mean of {} seed(s)\n\
             songs      personalised    plain (cosine only)\n           like   skip     like   skip",
            self.seeds.len()
        );
        for (b, r) in self.blocks().iter().enumerate() {
            let range = format!("{}-{}", b * BLOCK + 1, ((b + 1) * BLOCK).min(self.songs()));
            let _ = writeln!(
                s,
                "{range:<9}  {:.2}   {:.2}     {:.2}   {:.2}",
                r[0], r[1], r[2], r[3]
            );
        }
        let from = self.warm_up();
        for (seed, pers, plain) in &self.seeds {
            let _ = writeln!(
                s,
                "seed {seed}: like-rate after song {from}: personalised {:.2}, plain {:.2}",
                rate(pers, from, liked),
                rate(plain, from, liked)
            );
        }
        let (p, q) = self.like_rates_after_warm_up();
        let _ = writeln!(
            s,
            "mean like-rate after song {from}: personalised {p:.3}, plain {q:.3} ({:.2}x)",
            p / q.max(1e-9)
        );
        s
    }

    /// Both like-rate curves (per block, mean over seeds) as a PNG line chart: personalised
    /// blue, plain orange; y from 0 to 1 with grid lines every 0.1.
    pub fn plot(&self, path: &Path) -> Result<()> {
        let (w, h, m) = (640usize, 400usize, 40usize);
        let mut img = vec![255u8; w * h * 3];
        let mut dot = |x: usize, y: usize, c: [u8; 3]| {
            if x < w && y < h {
                img[(y * w + x) * 3..][..3].copy_from_slice(&c);
            }
        };
        let to_y = |v: f64| (h - m) as f64 - v.clamp(0.0, 1.0) * (h - 2 * m) as f64;
        for g in 0..=10 {
            let y = to_y(g as f64 / 10.0) as usize;
            for x in m..w - m {
                dot(x, y, if g == 0 { [0; 3] } else { [225; 3] });
            }
        }
        for y in m..=h - m {
            dot(m, y, [0; 3]);
        }
        let blocks = self.blocks();
        let to_x =
            |i: usize| m as f64 + (i as f64 + 0.5) / blocks.len() as f64 * (w - 2 * m) as f64;
        for (col, colour) in [(0, [31, 119, 180]), (2, [255, 127, 14])] {
            let pts: Vec<(f64, f64)> = blocks
                .iter()
                .enumerate()
                .map(|(i, r)| (to_x(i), to_y(r[col])))
                .collect();
            for seg in pts.windows(2) {
                let ((x0, y0), (x1, y1)) = (seg[0], seg[1]);
                let steps = (x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize + 1;
                for k in 0..=steps {
                    let t = k as f64 / steps as f64;
                    let (x, y) = (x0 + t * (x1 - x0), y0 + t * (y1 - y0));
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                        dot(x as usize + dx, y as usize + dy, colour);
                    }
                }
            }
            for &(x, y) in &pts {
                for d in 0..25 {
                    dot(x as usize + d % 5 - 2, y as usize + d / 5 - 2, colour);
                }
            }
        }
        let file =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header()?;
        writer.write_image_data(&img)?;
        writer.finish()?;
        Ok(())
    }
}

/// Runs the recommender as `cfg` sets it up and the plain one on `seeds` seeds, and writes
/// the plot if asked.
pub fn run(cfg: &Config, opts: &Options) -> Result<Report> {
    let seeds = (opts.first_seed..opts.first_seed + opts.seeds)
        .map(|seed| {
            Ok((
                seed,
                session(cfg, seed, opts.songs)?,
                session(&plain(cfg), seed, opts.songs)?,
            ))
        })
        .collect::<Result<_>>()?;
    let report = Report { seeds };
    if let Some(path) = &opts.plot {
        report.plot(path)?;
    }
    Ok(report)
}
