//! Joins the library and the recommender: what the daemon and `moodbox recommend` call.

use crate::config::Config;
use crate::emotion::Emotion;
use crate::music::library::{Candidate, Library, LibraryError};
use crate::music::recommend::{self, Params, Rng, Scored};

/// A ranked track, how it scored, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    pub track: Candidate,
    pub scored: Scored,
    pub why: String,
    /// Rank among all candidates (0 = best).
    pub rank: usize,
}

/// Caches the candidate list (reloaded after a scan) and owns the sampling RNG.
pub struct Picker {
    candidates: Vec<Candidate>,
    rng: Rng,
}

impl Picker {
    pub fn new(lib: &Library, seed: u64) -> Result<Picker, LibraryError> {
        Ok(Picker {
            candidates: lib.candidates()?,
            rng: Rng::new(seed),
        })
    }

    pub fn reload(&mut self, lib: &Library) -> Result<(), LibraryError> {
        self.candidates = lib.candidates()?;
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
        self.candidates.retain(|c| c.id != track_id);
    }

    /// The best `keep` candidates for `emotion`, `songs` songs after that mood was accepted.
    pub fn ranking(
        &self,
        lib: &Library,
        cfg: &Config,
        emotion: Emotion,
        songs: u32,
        keep: usize,
    ) -> Result<Vec<Pick>, LibraryError> {
        let target =
            recommend::strategy_target(cfg.recommend.strategy, emotion, cfg.target(emotion), songs);
        let recent = lib.recent_tracks(cfg.recommend.no_repeat)?;
        let feedback = lib.feedback(emotion)?;
        let ranked = recommend::rank(
            &self.candidates,
            target,
            &feedback,
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
    }
}
