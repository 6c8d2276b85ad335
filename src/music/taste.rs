//! Learns the listener's taste for one mood, so that a like teaches the box about *similar*
//! songs and the same artist, not only about the song that was liked.
//!
//! A weighted, regularised logistic regression of "went well" (a like, a song played to
//! the end) against "did not" (a skip, "not for this mood"):
//!
//! ```text
//! logit = map(valence, energy) + artist bias
//! ```
//!
//! The map is a 5×5 grid of knots over the valence–energy plane, read between knots by
//! bilinear interpolation. Its prior pulls every knot toward 0 (even odds: "don't know")
//! and neighbouring knots toward each other, so a like lifts the songs around it (within
//! about a quarter of each axis), a run of early skips sinks its neighbourhood, and parts
//! of the plane the listener never heard stay neutral, so the box tries them before going
//! back to what was skipped. (A quadratic in (valence, energy) was tried first: it moves
//! the whole plane with each event, and learned more slowly in `moodbox simulate`.)
//!
//! Each artist's bias has its own, stronger pull toward 0 (a Gaussian prior on a logit,
//! much like a Beta prior on a like-rate), so one like nudges an artist and a habit moves
//! it. The model is refitted from the mood's history before each pick (a few thousand
//! events, a few Newton steps: about a millisecond), so it is always consistent with the
//! database, and there is nothing to store or migrate. Scoring a track is four lookups.

use crate::music::library::{Candidate, Features, Signal, TasteEvent};
use std::collections::HashMap;
use std::time::Duration;

/// Skips before this count as "not this one" (weight 1.0); later ones as "enough" (0.4).
pub const EARLY_SKIP: Duration = Duration::from_secs(20);
/// Knots per axis of the taste map: at 0, 1/4, 1/2, 3/4 and 1 on both axes.
pub const GRID: usize = 5;
const KNOTS: usize = GRID * GRID;
/// Pulls each knot toward 0 ("don't know"), in units of event weight.
pub const LAMBDA_KNOT: f64 = 0.3;
/// Pulls neighbouring knots together, so a like also lifts the songs around it.
pub const LAMBDA_SMOOTH: f64 = 0.3;
/// Pulls each artist's bias toward 0: one like (weight 1) moves it by about 0.2.
pub const LAMBDA_ARTIST: f64 = 2.0;
/// At most this many rounds of (a Newton step on the map, a Newton step on each artist bias)...
const ROUNDS: usize = 6;
/// ...stopping early once no logit moves by more than this.
const CONVERGED: f64 = 1e-4;
/// The artist id of a track without an artist.
pub const NO_ARTIST: u32 = u32::MAX;

/// The label (1 = went well) and weight of an event.
pub fn label(signal: Signal) -> (f64, f64) {
    match signal {
        Signal::Like => (1.0, 1.0),
        Signal::Finished => (1.0, 0.3),
        Signal::Skipped { listened } if listened < EARLY_SKIP => (0.0, 1.0),
        Signal::Skipped { .. } => (0.0, 0.4),
        Signal::NotForMood => (0.0, 1.5),
    }
}

/// The four knots around a track and their bilinear weights (summing to 1), or `None`
/// for a track without features (the map says nothing about it).
pub fn knots(f: Option<&Features>) -> Option<[(usize, f32); 4]> {
    let f = f?;
    let s = (GRID - 1) as f32;
    let (x, y) = (f.valence.clamp(0.0, 1.0) * s, f.energy.clamp(0.0, 1.0) * s);
    let (i, j) = ((x as usize).min(GRID - 2), (y as usize).min(GRID - 2));
    let (fx, fy) = (x - i as f32, y - j as f32);
    let k = j * GRID + i;
    Some([
        (k, (1.0 - fx) * (1.0 - fy)),
        (k + 1, fx * (1.0 - fy)),
        (k + GRID, (1.0 - fx) * fy),
        (k + GRID + 1, fx * fy),
    ])
}

/// Artist names interned to dense ids, so scoring a track is an index, not a hash.
#[derive(Debug, Clone, Default)]
pub struct Artists(HashMap<String, u32>);

impl Artists {
    /// Interns the candidates' artists; returns the table and each candidate's id.
    pub fn of(candidates: &[Candidate]) -> (Artists, Vec<u32>) {
        let mut ids = HashMap::new();
        let of = candidates
            .iter()
            .map(|c| match &c.artist {
                Some(a) => {
                    let next = ids.len() as u32;
                    *ids.entry(key(a)).or_insert(next)
                }
                None => NO_ARTIST,
            })
            .collect();
        (Artists(ids), of)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The id of an artist in the library, if any.
    pub fn get(&self, artist: Option<&str>) -> u32 {
        artist
            .and_then(|a| self.0.get(&key(a)).copied())
            .unwrap_or(NO_ARTIST)
    }
}

fn key(artist: &str) -> String {
    artist.trim().to_lowercase()
}

/// A fitted taste: a logit per knot of the map and each artist's bias (by `Artists` id).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model {
    pub map: Vec<f32>,
    pub artist: Vec<f32>,
}

static NONE: Model = Model {
    map: Vec::new(),
    artist: Vec::new(),
};

/// The prior's precision matrix over the knots: `LAMBDA_KNOT` on each, plus
/// `LAMBDA_SMOOTH · (m_a - m_b)²` for each pair of neighbouring knots.
fn prior() -> [[f64; KNOTS]; KNOTS] {
    let mut q = [[0.0; KNOTS]; KNOTS];
    for a in 0..KNOTS {
        q[a][a] += LAMBDA_KNOT;
        let right = (a % GRID + 1 < GRID).then_some(a + 1);
        let up = (a + GRID < KNOTS).then_some(a + GRID);
        for b in [right, up].into_iter().flatten() {
            q[a][a] += LAMBDA_SMOOTH;
            q[b][b] += LAMBDA_SMOOTH;
            q[a][b] -= LAMBDA_SMOOTH;
            q[b][a] -= LAMBDA_SMOOTH;
        }
    }
    q
}

impl Model {
    /// Fits the model to a mood's events (`artists`: how many artist ids there are); with no
    /// events every logit is 0.
    pub fn fit(events: &[TasteEvent], artists: usize) -> Model {
        struct Example {
            /// The four knots around the song (all weight 0 without features).
            knots: [(usize, f64); 4],
            artist: usize,
            y: f64,
            weight: f64,
        }
        let examples: Vec<Example> = events
            .iter()
            .map(|ev| {
                let (y, weight) = label(ev.signal);
                let k = knots(ev.features.as_ref()).unwrap_or([(0, 0.0); 4]);
                Example {
                    knots: k.map(|(k, w)| (k, w as f64)),
                    artist: match ev.artist {
                        NO_ARTIST => usize::MAX,
                        a => a as usize,
                    },
                    y,
                    weight,
                }
            })
            .collect();
        if examples.is_empty() {
            return Model::default();
        }
        let prior = prior();
        let mut map = [0.0f64; KNOTS];
        let mut bias = vec![0.0f64; artists];
        let logit = |map: &[f64; KNOTS], bias: &[f64], ex: &Example| -> f64 {
            ex.knots.iter().map(|&(k, x)| map[k] * x).sum::<f64>()
                + bias.get(ex.artist).copied().unwrap_or(0.0)
        };
        for _ in 0..ROUNDS {
            // Newton step on the map, artist biases held.
            let mut hess = prior;
            let mut grad: [f64; KNOTS] =
                std::array::from_fn(|a| -(0..KNOTS).map(|b| prior[a][b] * map[b]).sum::<f64>());
            for ex in &examples {
                let p = sigmoid(logit(&map, &bias, ex));
                let (r, h) = (ex.weight * (ex.y - p), ex.weight * p * (1.0 - p));
                for &(a, xa) in &ex.knots {
                    grad[a] += r * xa;
                    for &(b, xb) in &ex.knots {
                        hess[a][b] += h * xa * xb;
                    }
                }
            }
            let mut largest_step = 0.0f64;
            for (m, d) in map.iter_mut().zip(solve_spd(hess, grad)) {
                *m += d;
                largest_step = largest_step.max(d.abs());
            }
            // Newton step on each artist bias (independent: one artist per event).
            let mut grad: Vec<f64> = bias.iter().map(|b| -LAMBDA_ARTIST * b).collect();
            let mut hess = vec![LAMBDA_ARTIST; bias.len()];
            for ex in examples.iter().filter(|ex| ex.artist < bias.len()) {
                let p = sigmoid(logit(&map, &bias, ex));
                grad[ex.artist] += ex.weight * (ex.y - p);
                hess[ex.artist] += ex.weight * p * (1.0 - p);
            }
            for ((b, g), h) in bias.iter_mut().zip(grad).zip(hess) {
                *b += g / h;
                largest_step = largest_step.max((g / h).abs());
            }
            if largest_step < CONVERGED {
                break;
            }
        }
        Model {
            map: map.iter().map(|&m| m as f32).collect(),
            artist: bias.into_iter().map(|b| b as f32).collect(),
        }
    }

    /// The part of the logit that comes from where a track sits on the plane.
    pub fn features_logit(&self, f: Option<&Features>) -> f32 {
        match (knots(f), self.map.is_empty()) {
            (Some(k), false) => k.iter().map(|&(k, w)| self.map[k] * w).sum(),
            _ => 0.0,
        }
    }

    /// The part of the logit that comes from who made it.
    pub fn artist_logit(&self, artist: u32) -> f32 {
        self.artist.get(artist as usize).copied().unwrap_or(0.0)
    }
}

/// A fitted model and each candidate's artist id: what `recommend::rank` scores taste with.
#[derive(Debug, Clone, Copy)]
pub struct Taste<'a> {
    pub model: &'a Model,
    /// Artist id per candidate index; empty leaves the artist out.
    pub artist_of: &'a [u32],
}

impl Taste<'_> {
    /// No taste learned: every logit is 0.
    pub fn none() -> Taste<'static> {
        Taste {
            model: &NONE,
            artist_of: &[],
        }
    }

    /// (features, artist) parts of candidate `index`'s logit.
    pub fn logits(&self, index: usize, f: Option<&Features>) -> (f32, f32) {
        let artist = self.artist_of.get(index).copied().unwrap_or(NO_ARTIST);
        (
            self.model.features_logit(f),
            self.model.artist_logit(artist),
        )
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Solves `h · x = g` for a symmetric positive definite `h` given by its lower triangle
/// (Cholesky; the L2 penalty keeps `h` positive definite).
fn solve_spd<const M: usize>(h: [[f64; M]; M], g: [f64; M]) -> [f64; M] {
    let mut l = [[0.0; M]; M];
    for i in 0..M {
        for j in 0..=i {
            let s = h[i][j] - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>();
            l[i][j] = if i == j {
                s.max(1e-12).sqrt()
            } else {
                s / l[j][j]
            };
        }
    }
    let mut y = [0.0; M];
    for i in 0..M {
        y[i] = (g[i] - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
    }
    let mut x = [0.0; M];
    for i in (0..M).rev() {
        x[i] = (y[i] - (i + 1..M).map(|k| l[k][i] * x[k]).sum::<f64>()) / l[i][i];
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: i64, artist: u32, v: f32, e: f32, signal: Signal) -> TasteEvent {
        TasteEvent {
            track_id: id,
            artist,
            features: Some(Features {
                valence: v,
                energy: e,
                ..Default::default()
            }),
            signal,
        }
    }

    fn artists(names: &[&str]) -> Artists {
        let c: Vec<Candidate> = names
            .iter()
            .map(|a| Candidate {
                id: 0,
                path: "/x".into(),
                title: None,
                artist: Some(a.to_string()),
                features: None,
            })
            .collect();
        Artists::of(&c).0
    }

    #[test]
    fn solves_a_small_spd_system() {
        let h = [[4.0, 0.0, 0.0], [2.0, 3.0, 0.0], [0.0, 1.0, 2.0]];
        let x = solve_spd(h, [8.0, 13.0, 7.0]);
        // Full matrix [[4,2,0],[2,3,1],[0,1,2]] times x.
        let back = [
            4.0 * x[0] + 2.0 * x[1],
            2.0 * x[0] + 3.0 * x[1] + x[2],
            x[1] + 2.0 * x[2],
        ];
        for (b, g) in back.iter().zip([8.0, 13.0, 7.0]) {
            assert!((b - g).abs() < 1e-9, "{back:?}");
        }
    }

    #[test]
    fn no_data_means_no_taste() {
        let m = Model::fit(&[], 1);
        assert_eq!(m, Model::default());
        let f = Features {
            valence: 0.9,
            energy: 0.1,
            ..Default::default()
        };
        assert_eq!(Taste::none().logits(3, Some(&f)), (0.0, 0.0));
    }

    #[test]
    fn artists_are_interned_case_insensitively() {
        let a = artists(&["Nina", "Bach", " nina "]);
        assert_eq!(a.len(), 2);
        assert_eq!(a.get(Some("NINA")), 0);
        assert_eq!(a.get(Some("Bach")), 1);
        assert_eq!(a.get(Some("Unknown")), NO_ARTIST);
        assert_eq!(a.get(None), NO_ARTIST);
    }

    #[test]
    fn knots_interpolate_bilinearly() {
        let at = |v, e| {
            knots(Some(&Features {
                valence: v,
                energy: e,
                ..Default::default()
            }))
            .unwrap()
        };
        assert_eq!(at(0.0, 0.0)[0], (0, 1.0));
        assert_eq!(at(1.0, 1.0)[3], (KNOTS - 1, 1.0));
        let mid = at(0.375, 0.5);
        assert!((mid.iter().map(|k| k.1).sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(mid.map(|k| k.0), [11, 12, 16, 17]);
        assert_eq!(knots(None), None);
    }

    #[test]
    fn a_like_lifts_its_neighbourhood_and_leaves_the_far_side_unknown() {
        let m = Model::fit(&[event(1, 0, 0.9, 0.8, Signal::Like)], 1);
        let z = |v, e| {
            m.features_logit(Some(&Features {
                valence: v,
                energy: e,
                ..Default::default()
            }))
        };
        assert!(z(0.9, 0.8) > z(0.7, 0.7) && z(0.7, 0.7) > z(0.5, 0.5));
        assert!(z(0.8, 0.85) > 0.1 && z(0.1, 0.2).abs() < 0.01, "{m:?}");
        assert!(m.artist_logit(0) > 0.1 && m.features_logit(None) == 0.0);
    }
}
