//! Joins the library and the recommender: what the daemon and `moodbox recommend` call.

use crate::config::Config;
use crate::emotion::Emotion;
use crate::music::library::{Candidate, Library, LibraryError};
use crate::music::recommend::{self, Params, Rng, Scored};
use std::collections::HashSet;

/// A chosen track and how it scored.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    pub track: Candidate,
    pub scored: Scored,
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
    ) -> Result<Vec<Scored>, LibraryError> {
        let target =
            recommend::strategy_target(cfg.recommend.strategy, emotion, cfg.target(emotion), songs);
        let recent: HashSet<i64> = lib
            .recent_tracks(cfg.recommend.no_repeat)?
            .into_iter()
            .collect();
        let feedback = lib.feedback(emotion)?;
        Ok(recommend::rank(
            &self.candidates,
            target,
            &feedback,
            &recent,
            &params(cfg),
            keep,
        ))
    }

    pub fn pick(
        &mut self,
        lib: &Library,
        cfg: &Config,
        emotion: Emotion,
        songs: u32,
    ) -> Result<Option<Pick>, LibraryError> {
        let ranked = self.ranking(lib, cfg, emotion, songs, cfg.recommend.top_k)?;
        Ok(
            recommend::sample(&ranked, &params(cfg), &mut self.rng).map(|rank| Pick {
                track: self.candidates[ranked[rank].index].clone(),
                scored: ranked[rank].clone(),
                rank,
            }),
        )
    }

    pub fn candidate(&self, index: usize) -> &Candidate {
        &self.candidates[index]
    }
}

fn params(cfg: &Config) -> Params {
    Params {
        top_k: cfg.recommend.top_k,
        temperature: cfg.recommend.temperature,
        feedback_weight: cfg.recommend.feedback_weight,
    }
}
