//! Joins the library and the recommender: what the daemon and `moodbox recommend` call.

use crate::config::Config;
use crate::emotion::Emotion;
use crate::music::library::{
    Candidate, Feedback, IdMap, Library, LibraryError, Signal, TasteEvent,
};
use crate::music::recommend::{self, Params, Rng, Scored};
use crate::music::taste::{Artists, Model, Taste, NO_ARTIST};
use std::collections::HashMap;

/// A ranked track, how it scored, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    pub track: Candidate,
    pub scored: Scored,
    pub why: String,
    /// Rank among all candidates (0 = best).
    pub rank: usize,
}

/// Caches the candidate list and their artists (reloaded after a scan), each emotion's
/// feedback and fitted taste (until the library is written to), and owns the sampling RNG.
pub struct Picker {
    candidates: Vec<Candidate>,
    artists: Artists,
    /// Artist id per candidate, for the taste model.
    artist_of: Vec<u32>,
    /// Candidate index per track id.
    index_of: IdMap<usize>,
    history: HashMap<Emotion, History>,
    rng: Rng,
}

/// What one emotion's listening history says, as of a library write stamp.
struct History {
    stamp: (i64, i64),
    taste_on: bool,
    feedback: IdMap<Feedback>,
    /// Each candidate's feedback term at weight 1, for `recommend::rank`.
    feedback_terms: Vec<f32>,
    taste: Model,
}

impl Picker {
    pub fn new(lib: &Library, seed: u64) -> Result<Picker, LibraryError> {
        let mut picker = Picker {
            candidates: Vec::new(),
            artists: Artists::default(),
            artist_of: Vec::new(),
            index_of: IdMap::default(),
            history: HashMap::new(),
            rng: Rng::new(seed),
        };
        picker.reload(lib)?;
        Ok(picker)
    }

    pub fn reload(&mut self, lib: &Library) -> Result<(), LibraryError> {
        self.candidates = lib.candidates()?;
        (self.artists, self.artist_of) = Artists::of(&self.candidates);
        self.index_candidates();
        // Taste models are indexed by artist id, which a reload renumbers.
        self.history.clear();
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.candidates.is_empty()
    }

    pub fn len(&self) -> usize {
        self.candidates.len()
    }

    /// Drops a track that failed to play from the cached list.
    pub fn forget(&mut self, track_id: i64) {
        if let Some(i) = self.candidates.iter().position(|c| c.id == track_id) {
            self.candidates.remove(i);
            self.artist_of.remove(i);
            self.index_candidates();
        }
    }

    fn index_candidates(&mut self) {
        self.index_of = (self.candidates.iter().enumerate())
            .map(|(i, c)| (c.id, i))
            .collect();
    }

    /// Brings `emotion`'s feedback and taste up to date: refitted only when the library
    /// was written to since.
    fn refresh_history(
        &mut self,
        lib: &Library,
        cfg: &Config,
        emotion: Emotion,
    ) -> Result<(), LibraryError> {
        let stamp = lib.write_stamp()?;
        let taste_on = cfg.recommend.taste_weight > 0.0;
        let fresh = self
            .history
            .get(&emotion)
            .is_some_and(|h| h.stamp == stamp && h.taste_on == taste_on);
        if !fresh {
            let history = lib.history(emotion)?;
            let taste = if !taste_on {
                Model::default()
            } else {
                Model::fit(&self.taste_events(&history), self.artists.len())
            };
            let feedback = Feedback::tally(&history);
            // Scattered from the played tracks: far fewer than the candidates.
            let mut feedback_terms = vec![0.0; self.candidates.len()];
            for (id, fb) in &feedback {
                if let Some(&i) = self.index_of.get(id) {
                    feedback_terms[i] = recommend::feedback_term(Some(fb), 1.0);
                }
            }
            self.history.insert(
                emotion,
                History {
                    stamp,
                    taste_on,
                    feedback,
                    feedback_terms,
                    taste,
                },
            );
        }
        Ok(())
    }

    /// The history with each track's artist and features, from the cached candidates (a
    /// track gone from the library keeps its feedback but no longer shapes the taste).
    fn taste_events(&self, history: &[(i64, Signal)]) -> Vec<TasteEvent> {
        history
            .iter()
            .map(|&(track_id, signal)| {
                let index = self.index_of.get(&track_id).copied();
                TasteEvent {
                    track_id,
                    artist: index.map_or(NO_ARTIST, |i| self.artist_of[i]),
                    features: index.and_then(|i| self.candidates[i].features),
                    signal,
                }
            })
            .collect()
    }

    /// The best `keep` candidates for `emotion`, `songs` songs after that mood was accepted.
    pub fn ranking(
        &mut self,
        lib: &Library,
        cfg: &Config,
        emotion: Emotion,
        songs: u32,
        keep: usize,
    ) -> Result<Vec<Pick>, LibraryError> {
        let target =
            recommend::strategy_target(cfg.recommend.strategy, emotion, cfg.target(emotion), songs);
        let recent = lib.recent_tracks(cfg.recommend.no_repeat)?;
        self.refresh_history(lib, cfg, emotion)?;
        let History {
            feedback,
            feedback_terms,
            taste,
            ..
        } = &self.history[&emotion];
        let taste = Taste {
            model: taste,
            artist_of: &self.artist_of,
        };
        let ranked = recommend::rank(
            &self.candidates,
            target,
            feedback_terms,
            taste,
            &recent,
            &params(cfg),
            keep,
        );
        Ok(ranked
            .into_iter()
            .enumerate()
            .map(|(rank, scored)| {
                let track = self.candidates[scored.index].clone();
                let why = recommend::explain(&track, feedback.get(&track.id));
                Pick {
                    track,
                    scored,
                    why,
                    rank,
                }
            })
            .collect())
    }

    pub fn pick(
        &mut self,
        lib: &Library,
        cfg: &Config,
        emotion: Emotion,
        songs: u32,
    ) -> Result<Option<Pick>, LibraryError> {
        let mut ranked = self.ranking(lib, cfg, emotion, songs, cfg.recommend.top_k)?;
        let scores: Vec<Scored> = ranked.iter().map(|p| p.scored.clone()).collect();
        Ok(recommend::sample(&scores, &params(cfg), &mut self.rng).map(|i| ranked.swap_remove(i)))
    }
}

fn params(cfg: &Config) -> Params {
    Params {
        top_k: cfg.recommend.top_k,
        temperature: cfg.recommend.temperature,
        feedback_weight: cfg.recommend.feedback_weight,
        taste_weight: cfg.recommend.taste_weight,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::music::library::{FeatureSource, Features, TrackMeta};
    use std::time::Duration;

    fn add(lib: &Library, name: &str, valence: f32) -> i64 {
        let meta = TrackMeta {
            path: format!("/m/{name}.flac").into(),
            title: Some(name.into()),
            artist: Some(name.into()),
            album: None,
            track_no: None,
            duration: Duration::from_secs(200),
            format: "flac".into(),
            sample_rate: Some(44_100),
            size: 1,
            mtime: 1,
            fingerprint: valence.to_bits() as i64,
        };
        let id = lib.upsert_track(&meta).unwrap();
        let f = Features {
            valence,
            energy: 0.7,
            ..Default::default()
        };
        lib.set_features(id, &f, FeatureSource::Import).unwrap();
        id
    }

    #[test]
    fn cached_history_follows_every_write_to_the_library() {
        let dir = tempfile::tempdir().unwrap();
        let lib = Library::open(&dir.path().join("l.db")).unwrap();
        let cfg = Config::default();
        let (a, b) = (add(&lib, "a", 0.85), add(&lib, "b", 0.8));
        let mut picker = Picker::new(&lib, 1).unwrap();
        let top = |p: &mut Picker| {
            p.ranking(&lib, &cfg, Emotion::Happy, 0, 1).unwrap()[0]
                .track
                .id
        };
        assert_eq!(top(&mut picker), a);
        // Ranked again with nothing written: the cached fit is reused and agrees.
        assert_eq!(top(&mut picker), a);
        for _ in 0..3 {
            lib.record_like(b, Emotion::Happy, 1).unwrap();
        }
        assert_eq!(
            top(&mut picker),
            b,
            "likes written since the last pick count"
        );
        let other = Library::open(&dir.path().join("l.db")).unwrap();
        for _ in 0..6 {
            other.record_like(a, Emotion::Happy, 1).unwrap();
        }
        assert_eq!(top(&mut picker), a, "so do likes from another connection");
    }
}
