//! Picks the next song for an emotion: centred cosine similarity on (valence, energy),
//! plus listener feedback on the song itself, plus the listener's learned taste for similar
//! songs and artists (`taste`), minus recent repeats, sampled among the top k.
//!
//! Why centred: raw [0,1] vectors all point into one quadrant, so (0.1, 0.1) and (0.9, 0.9)
//! have cosine 1. Mapping both axes to [-1, 1] first puts "neutral" at the origin and makes
//! the angle mean "which way from neutral" (the circumplex model, Russell 1980).
//!
//! Two deliberate special cases:
//! - A target near the origin (neutral) has no meaningful direction; within `CENTRE_RADIUS`
//!   the score blends from cosine toward proximity (1 - distance / max distance), so neutral
//!   prefers tracks near the middle instead of a random direction.
//! - A track without features scores as a track at the origin would for the target
//!   (similarity 0 against a directional target), so an unanalysed library still plays,
//!   but any track known to fit ranks above it and any known to clash below it.

use crate::config::{Strategy, Target};
use crate::emotion::Emotion;
use crate::music::library::{Candidate, Features, Feedback};
use crate::music::taste::Taste;
use std::collections::HashMap;
use std::hash::BuildHasher;

/// Below this length (in centred units) a target's direction is not trusted.
pub const CENTRE_RADIUS: f32 = 0.5;

/// How far along the uplift path each song goes (songs until fully uplifted).
pub const UPLIFT_SONGS: f32 = 4.0;

/// Where `uplift` leads a negative mood: calm, then gently positive.
pub const UPLIFT_GOAL: Target = Target {
    valence: 0.75,
    energy: 0.5,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub top_k: usize,
    pub temperature: f32,
    pub feedback_weight: f32,
    pub taste_weight: f32,
}

/// One ranked candidate with every term of its score, for `recommend --explain`.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub index: usize,
    pub score: f32,
    pub similarity: f32,
    pub feedback: f32,
    /// `taste_weight × tanh(z / 2)` for the taste model's logit z...
    pub taste: f32,
    /// ...of which this much comes from the artist (the rest from the song's features).
    pub taste_artist: f32,
}

impl Scored {
    /// Every term of the score, e.g. `similarity +0.810 + feedback +0.000 + taste +0.120
    /// (features +0.090, artist +0.030)`.
    pub fn terms(&self) -> String {
        format!(
            "similarity {:+.3} + feedback {:+.3} + taste {:+.3} (features {:+.3}, artist {:+.3})",
            self.similarity,
            self.feedback,
            self.taste,
            self.taste - self.taste_artist,
            self.taste_artist
        )
    }
}

/// The features and feedback behind a score, in words (computed only for shown picks).
pub fn explain(c: &Candidate, fb: Option<&Feedback>) -> String {
    match (&c.features, fb) {
        (None, _) => "no features (scored as neutral)".to_string(),
        (Some(f), None) => format!("v={:.2} e={:.2}", f.valence, f.energy),
        (Some(f), Some(fb)) => format!(
            "v={:.2} e={:.2}; {} likes, {} not-for-mood, {} skips, {} finished",
            f.valence, f.energy, fb.likes, fb.not_for_mood, fb.skips, fb.finished
        ),
    }
}

fn centred(v: f32, e: f32) -> (f32, f32) {
    (2.0 * v - 1.0, 2.0 * e - 1.0)
}

/// Similarity of a track to a target in [-1, 1] (see the module docs).
pub fn similarity(target: Target, f: Option<&Features>) -> f32 {
    Similarity::to(target).of(f)
}

/// The target's half of the similarity, computed once per ranking instead of per track.
#[derive(Debug, Clone, Copy)]
struct Similarity {
    tx: f32,
    ty: f32,
    tn: f32,
    /// Weight of the cosine against proximity (1 unless the target is near neutral).
    cosine_weight: f32,
}

impl Similarity {
    fn to(target: Target) -> Similarity {
        let (tx, ty) = centred(target.valence, target.energy);
        let tn = (tx * tx + ty * ty).sqrt();
        Similarity {
            tx,
            ty,
            tn,
            cosine_weight: (tn / CENTRE_RADIUS).min(1.0),
        }
    }

    fn of(&self, f: Option<&Features>) -> f32 {
        let (x, y) = f.map_or((0.0, 0.0), |f| centred(f.valence, f.energy));
        let n = (x * x + y * y).sqrt();
        let cosine = if self.tn > 1e-6 && n > 1e-6 {
            (self.tx * x + self.ty * y) / (self.tn * n)
        } else {
            0.0
        };
        // Max distance between two points of [-1,1]^2 is 2√2; map proximity to [-1, 1].
        let (dx, dy) = (self.tx - x, self.ty - y);
        let proximity = 1.0 - (dx * dx + dy * dy).sqrt() / std::f32::consts::SQRT_2;
        self.cosine_weight * cosine + (1.0 - self.cosine_weight) * proximity
    }
}

/// The feedback term in [-weight, weight]: likes count most; "not for this mood" and
/// skips push down; songs played to the end nudge up.
pub fn feedback_term(fb: Option<&Feedback>, weight: f32) -> f32 {
    let Some(fb) = fb else { return 0.0 };
    let raw = fb.likes as f32 - 1.5 * fb.not_for_mood as f32 - 0.5 * fb.skips as f32
        + 0.1 * fb.finished as f32;
    weight * tanh_half(raw)
}

/// The taste term in [-weight, weight] from the model's (features, artist) logits, and the
/// artist's share of it (split in proportion to the logits).
pub fn taste_term((features, artist): (f32, f32), weight: f32) -> (f32, f32) {
    let z = features + artist;
    if weight == 0.0 || z == 0.0 {
        return (0.0, 0.0);
    }
    let term = weight * tanh_half(z);
    (term, term * artist / z)
}

/// Each candidate's feedback term at weight 1, from per-track counts.
pub fn feedback_terms<S: BuildHasher>(
    candidates: &[Candidate],
    feedback: &HashMap<i64, Feedback, S>,
) -> Vec<f32> {
    candidates
        .iter()
        .map(|c| feedback_term(feedback.get(&c.id), 1.0))
        .collect()
}

/// tanh(x / 2), as 2·sigmoid(x) - 1: one `exp` instead of libm's slower `tanh`, which
/// mattered at 100 000 tracks a pick.
fn tanh_half(x: f32) -> f32 {
    1.0 - 2.0 / (x.exp() + 1.0)
}

/// The target for an emotion under a strategy, `songs` songs after the mood was accepted.
/// Uplift follows the iso principle of music therapy: meet the mood, then move it.
pub fn strategy_target(strategy: Strategy, emotion: Emotion, mood: Target, songs: u32) -> Target {
    let negative = matches!(
        emotion,
        Emotion::Sad | Emotion::Angry | Emotion::Fear | Emotion::Disgust
    );
    if strategy == Strategy::Match || !negative {
        return mood;
    }
    let t = (songs as f32 / UPLIFT_SONGS).min(1.0);
    Target {
        valence: mood.valence + (UPLIFT_GOAL.valence - mood.valence) * t,
        energy: mood.energy + (UPLIFT_GOAL.energy - mood.energy) * t,
    }
}

/// How much worse a fresh song may fit than a recently played one before the no-repeat
/// window gives way (similarity units, range [-1, 1]).
pub const REPEAT_TOLERANCE: f32 = 0.5;

/// Scores the candidates and returns the best `keep`, best first, leaving out tracks among
/// `recent` (track ids, newest first). When that would leave only songs that fit far worse
/// (a small library, or few songs for this mood), the window shrinks to its newest half
/// until a fitting song is free: a repeat beats the wrong mood.
///
/// `feedback` holds each candidate's `feedback_term` at weight 1 (empty: no feedback yet);
/// `feedback_terms` makes it from per-track counts.
pub fn rank(
    candidates: &[Candidate],
    target: Target,
    feedback: &[f32],
    taste: Taste,
    recent: &[i64],
    p: &Params,
    keep: usize,
) -> Vec<Scored> {
    let sim = Similarity::to(target);
    let recent = RecentSet::new(recent);
    // One pass keeps only (score, index): a pick at 100 000 tracks spends its time here.
    let mut scores: Vec<(f32, u32)> = Vec::with_capacity(candidates.len());
    let mut best_free = f32::NEG_INFINITY;
    let mut best_recent = vec![f32::NEG_INFINITY; recent.ids.len()];
    for (index, c) in candidates.iter().enumerate() {
        let similarity = sim.of(c.features.as_ref());
        match recent.position(c.id) {
            Some(at) => best_recent[at] = similarity,
            None => best_free = best_free.max(similarity),
        }
        let fb = feedback.get(index).map_or(0.0, |f| f * p.feedback_weight);
        let (taste, _) = taste_term(taste.logits(index, c.features.as_ref()), p.taste_weight);
        scores.push((similarity + fb + taste, index as u32));
    }
    // The best fit with the newest `window` plays excluded.
    let best_fit = |window: usize| {
        best_recent[window..]
            .iter()
            .fold(best_free, |best, &s| best.max(s))
    };
    let overall = best_fit(0);
    let mut window = recent.ids.len();
    while window > 0 && best_fit(window) < overall - REPEAT_TOLERANCE {
        window /= 2;
    }
    let excluded = |&(_, index): &(f32, u32)| {
        recent
            .position(candidates[index as usize].id)
            .is_some_and(|at| at < window)
    };
    let order = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    // Partial selection: only the top k (plus the excluded ones among them) get sorted.
    let shortlist = keep.saturating_add(window);
    if shortlist < scores.len() {
        scores.select_nth_unstable_by(shortlist, order);
        scores.truncate(shortlist);
    }
    scores.retain(|s| !excluded(s));
    scores.sort_unstable_by(order);
    scores.truncate(keep);
    scores
        .into_iter()
        .map(|(_, index)| {
            let c = &candidates[index as usize];
            let index = index as usize;
            let similarity = sim.of(c.features.as_ref());
            let feedback = feedback.get(index).map_or(0.0, |f| f * p.feedback_weight);
            let (taste, taste_artist) =
                taste_term(taste.logits(index, c.features.as_ref()), p.taste_weight);
            Scored {
                index,
                score: similarity + feedback + taste,
                similarity,
                feedback,
                taste,
                taste_artist,
            }
        })
        .collect()
}

/// The no-repeat window as a set: a 1024-bit filter on the id rules out almost every
/// candidate with one load, the short list is scanned only on a hit.
struct RecentSet<'a> {
    ids: &'a [i64],
    filter: [u64; 16],
}

impl<'a> RecentSet<'a> {
    fn new(ids: &'a [i64]) -> RecentSet<'a> {
        let mut filter = [0u64; 16];
        for &id in ids {
            let h = Self::hash(id);
            filter[h / 64] |= 1 << (h % 64);
        }
        RecentSet { ids, filter }
    }

    fn hash(id: i64) -> usize {
        ((id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as usize
    }

    /// Where `id` first appears (0 = the newest play).
    fn position(&self, id: i64) -> Option<usize> {
        let h = Self::hash(id);
        if self.filter[h / 64] & (1 << (h % 64)) == 0 {
            return None;
        }
        self.ids.iter().position(|&r| r == id)
    }
}

/// Chooses among the first `top_k` of a ranking: softmax over score / temperature
/// (temperature 0 = always the best). Returns an index into `ranked`.
pub fn sample(ranked: &[Scored], p: &Params, rng: &mut Rng) -> Option<usize> {
    let k = p.top_k.max(1).min(ranked.len());
    if k == 0 {
        return None;
    }
    if p.temperature <= 0.0 || k == 1 {
        return Some(0);
    }
    let best = ranked[0].score;
    let weights: Vec<f32> = ranked[..k]
        .iter()
        .map(|s| ((s.score - best) / p.temperature).exp())
        .collect();
    let mut x = rng.next_f32() * weights.iter().sum::<f32>();
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return Some(i);
        }
        x -= w;
    }
    Some(k - 1)
}

/// SplitMix64: tiny, seedable, and the same on every platform (picks are reproducible).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::music::library::{Signal, TasteEvent};
    use crate::music::taste::{Artists, Model};
    use std::time::Duration;

    fn track(id: i64, v: f32, e: f32) -> Candidate {
        Candidate {
            id,
            path: format!("/m/{id}.flac").into(),
            title: None,
            artist: None,
            features: Some(Features {
                valence: v,
                energy: e,
                ..Default::default()
            }),
        }
    }

    fn params() -> Params {
        Params {
            top_k: 1,
            temperature: 0.0,
            feedback_weight: 0.5,
            taste_weight: 0.4,
        }
    }

    fn best(c: &[Candidate], t: Target, fb: &HashMap<i64, Feedback>, recent: &[i64]) -> i64 {
        let fb = feedback_terms(c, fb);
        c[rank(c, t, &fb, Taste::none(), recent, &params(), usize::MAX)[0].index].id
    }

    #[test]
    fn centred_cosine_separates_what_raw_cosine_cannot() {
        // Raw cosine of (0.1,0.1) and (0.9,0.9) against a happy target (0.85, 0.7) is nearly
        // equal (same direction from 0), so raw cosine would pick either; centred cosine
        // must pick the bright one and put the dark one last.
        let happy = Target {
            valence: 0.85,
            energy: 0.7,
        };
        let raw = |v: f32, e: f32| {
            (happy.valence * v + happy.energy * e)
                / (happy.valence.hypot(happy.energy) * v.hypot(e))
        };
        assert!((raw(0.1, 0.1) - raw(0.9, 0.9)).abs() < 1e-6);
        let lib = vec![track(1, 0.1, 0.1), track(2, 0.9, 0.9), track(3, 0.5, 0.5)];
        let r = rank(&lib, happy, &[], Taste::none(), &[], &params(), usize::MAX);
        let order: Vec<i64> = r.iter().map(|s| lib[s.index].id).collect();
        assert_eq!(order, vec![2, 3, 1]);
        assert!(r[0].similarity > 0.9 && r[2].similarity < -0.9);
        let sad = Target {
            valence: 0.15,
            energy: 0.25,
        };
        assert_eq!(best(&lib, sad, &HashMap::new(), &[]), 1);
    }

    #[test]
    fn neutral_prefers_tracks_near_the_middle_and_unanalysed_tracks_rank_between() {
        let neutral = Target {
            valence: 0.55,
            energy: 0.45,
        };
        let lib = vec![
            track(1, 0.95, 0.05),
            track(2, 0.52, 0.47),
            track(3, 0.05, 0.95),
        ];
        assert_eq!(best(&lib, neutral, &HashMap::new(), &[]), 2);
        let happy = Target {
            valence: 0.85,
            energy: 0.7,
        };
        let mut unknown = track(4, 0.0, 0.0);
        unknown.features = None;
        let lib = vec![track(1, 0.1, 0.1), unknown, track(3, 0.9, 0.8)];
        let r = rank(&lib, happy, &[], Taste::none(), &[], &params(), usize::MAX);
        assert_eq!(
            r.iter().map(|s| lib[s.index].id).collect::<Vec<_>>(),
            vec![3, 4, 1]
        );
        assert!(explain(&lib[r[1].index], None).contains("no features"));
    }

    #[test]
    fn no_repeat_window_is_honoured_until_nothing_else_is_left() {
        let happy = Target {
            valence: 0.85,
            energy: 0.7,
        };
        let lib = vec![track(1, 0.9, 0.8), track(2, 0.8, 0.7), track(3, 0.2, 0.2)];
        // Track 2 fits happy best; played last, track 1 takes its place.
        assert_eq!(best(&lib, happy, &HashMap::new(), &[2]), 1);
        // With both happy songs recent, the dark one is no substitute: the window gives way.
        assert_eq!(best(&lib, happy, &HashMap::new(), &[2, 1]), 1);
        // All three played: the window shrinks to the newest, so the older two come back.
        assert_eq!(best(&lib, happy, &HashMap::new(), &[2, 1, 3]), 1);
        assert_eq!(best(&lib, happy, &HashMap::new(), &[3, 1, 2]), 2);
    }

    #[test]
    fn likes_raise_and_skips_lower_a_track() {
        let happy = Target {
            valence: 0.85,
            energy: 0.7,
        };
        let lib = vec![track(1, 0.9, 0.75), track(2, 0.8, 0.75)];
        assert_eq!(best(&lib, happy, &HashMap::new(), &[]), 1);
        let liked: HashMap<i64, Feedback> = [(
            2,
            Feedback {
                likes: 2,
                ..Default::default()
            },
        )]
        .into();
        assert_eq!(best(&lib, happy, &liked, &[]), 2);
        let skipped: HashMap<i64, Feedback> = [(
            1,
            Feedback {
                skips: 3,
                ..Default::default()
            },
        )]
        .into();
        assert_eq!(best(&lib, happy, &skipped, &[]), 2);
    }

    fn by(artist: &str, mut c: Candidate) -> Candidate {
        c.artist = Some(artist.into());
        c
    }

    /// Ranks `lib` (ids, best first) with a taste fitted to `heard`: (index in `lib`, signal).
    fn taste_order(lib: &[Candidate], t: Target, heard: &[(usize, Signal)]) -> Vec<Scored> {
        let (artists, artist_of) = Artists::of(lib);
        let events: Vec<TasteEvent> = heard
            .iter()
            .map(|&(i, signal)| TasteEvent {
                track_id: lib[i].id,
                artist: artist_of[i],
                features: lib[i].features,
                signal,
            })
            .collect();
        let model = Model::fit(&events, artists.len());
        let taste = Taste {
            model: &model,
            artist_of: &artist_of,
        };
        rank(lib, t, &[], taste, &[], &params(), usize::MAX)
    }

    #[test]
    fn a_like_raises_similar_songs_and_the_same_artist() {
        let up = Target {
            valence: 0.5,
            energy: 0.85,
        };
        // Dark and bright, equally energetic: tied for this target (the dark one wins the tie).
        let dark = by("a", track(1, 0.2, 0.85));
        let bright = by("b", track(2, 0.8, 0.85));
        let liked = by("c", track(3, 0.85, 0.8));
        let lib = vec![dark, bright, liked];
        let ids = |r: &[Scored]| r.iter().map(|s| lib[s.index].id).collect::<Vec<_>>();
        let before = taste_order(&lib, up, &[]);
        assert!(before.iter().all(|s| s.taste == 0.0));
        assert_eq!(ids(&before)[..2], [1, 2]);
        let after = taste_order(&lib, up, &[(2, Signal::Like)]);
        let pos = |id| ids(&after).iter().position(|&i| i == id).unwrap();
        assert!(pos(2) < pos(1), "{after:?}");
        assert!(after[pos(2)].taste > after[pos(1)].taste);

        // Two identical songs; a like for another song by the second one's artist, far away
        // on the plane, lifts it above the first.
        let first = by("x", track(1, 0.8, 0.8));
        let second = by("y", track(2, 0.8, 0.8));
        let elsewhere = by("y", track(3, 0.3, 0.3));
        let lib = vec![first, second, elsewhere];
        let r = taste_order(&lib, up, &[(2, Signal::Like)]);
        let (i1, i2) = (
            r.iter().position(|s| s.index == 0).unwrap(),
            r.iter().position(|s| s.index == 1).unwrap(),
        );
        assert!(i2 < i1, "{r:?}");
        assert!(r[i2].taste_artist > 0.0 && r[i1].taste_artist == 0.0);
        assert!(r[i2].terms().contains("artist +"), "{}", r[i2].terms());
    }

    #[test]
    fn an_early_skip_lowers_similar_songs_more_than_a_late_one() {
        let happy = Target {
            valence: 0.85,
            energy: 0.7,
        };
        let skipped = by("a", track(1, 0.9, 0.8));
        let similar = by("b", track(2, 0.85, 0.75));
        let lib = vec![skipped, similar];
        let taste_of_similar = |secs| {
            let listened = Duration::from_secs(secs);
            let r = taste_order(&lib, happy, &[(0, Signal::Skipped { listened })]);
            r.iter().find(|s| s.index == 1).unwrap().taste
        };
        let (early, late) = (taste_of_similar(5), taste_of_similar(90));
        assert!(early < late && late < 0.0, "early {early}, late {late}");
    }

    #[test]
    fn uplift_moves_a_sad_target_toward_the_goal_and_leaves_happy_alone() {
        let sad = Target {
            valence: 0.15,
            energy: 0.25,
        };
        let t0 = strategy_target(Strategy::Uplift, Emotion::Sad, sad, 0);
        let t2 = strategy_target(Strategy::Uplift, Emotion::Sad, sad, 2);
        let t9 = strategy_target(Strategy::Uplift, Emotion::Sad, sad, 9);
        assert_eq!(t0, sad);
        assert!(t2.valence > sad.valence && t2.valence < UPLIFT_GOAL.valence);
        assert_eq!(t9, UPLIFT_GOAL);
        assert_eq!(strategy_target(Strategy::Match, Emotion::Sad, sad, 9), sad);
        let happy = Target {
            valence: 0.85,
            energy: 0.7,
        };
        assert_eq!(
            strategy_target(Strategy::Uplift, Emotion::Happy, happy, 9),
            happy
        );
    }

    #[test]
    fn sampling_is_deterministic_under_a_seed_and_stays_in_the_top_k() {
        let lib: Vec<Candidate> = (0..50)
            .map(|i| track(i, i as f32 / 50.0, i as f32 / 50.0))
            .collect();
        let happy = Target {
            valence: 0.85,
            energy: 0.7,
        };
        let p = Params {
            top_k: 5,
            temperature: 0.5,
            feedback_weight: 0.0,
            taste_weight: 0.0,
        };
        let r = rank(&lib, happy, &[], Taste::none(), &[], &p, 5);
        let picks = |seed| {
            let mut rng = Rng::new(seed);
            (0..200)
                .map(|_| sample(&r, &p, &mut rng).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(picks(7), picks(7));
        assert_ne!(picks(7), picks(8));
        let seen: std::collections::HashSet<usize> = picks(7).into_iter().collect();
        assert!(seen.iter().all(|&i| i < 5) && seen.len() > 1);
    }
}
