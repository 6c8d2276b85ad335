//! Joins the library and the recommender: what the daemon and `moodbox recommend` call.

use crate::config::Config;
use crate::emotion::Emotion;
use crate::music::library::{Candidate, Library, LibraryError};
use crate::music::recommend::{self, Params, Rng, Scored};
use crate::music::taste::{Artists, Model, Taste};

/// A ranked track, how it scored, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    pub track: Candidate,
    pub scored: Scored,
    pub why: String,
    /// Rank among all candidates (0 = best).
    pub rank: usize,
}

/// Caches the candidate list and their artists (reloaded after a scan) and owns the
/// sampling RNG.
pub struct Picker {
    candidates: Vec<Candidate>,
    artists: Artists,
    /// Artist id per candidate, for the taste model.
    artist_of: Vec<u32>,
    rng: Rng,
}

impl Picker {
    pub fn new(lib: &Library, seed: u64) -> Result<Picker, LibraryError> {
        let mut picker = Picker {
            candidates: Vec::new(),
            artists: Artists::default(),
            artist_of: Vec::new(),
            rng: Rng::new(seed),
        };
        picker.reload(lib)?;
        Ok(picker)
    }

    pub fn reload(&mut self, lib: &Library) -> Result<(), LibraryError> {
        self.candidates = lib.candidates()?;
        (self.artists, self.artist_of) = Artists::of(&self.candidates);
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
        }
    }

    /// The listener's taste for `emotion`, fitted to its history now (0 when disabled).
    pub fn taste(
        &self,
        lib: &Library,
        cfg: &Config,
        emotion: Emotion,
    ) -> Result<Model, LibraryError> {
        if cfg.recommend.taste_weight == 0.0 {
            return Ok(Model::default());
        }
        Ok(Model::fit(&lib.taste_events(emotion)?, &self.artists))
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
        let model = self.taste(lib, cfg, emotion)?;
        let taste = Taste {
            model: &model,
            artist_of: &self.artist_of,
        };
        let ranked = recommend::rank(
            &self.candidates,
            target,
            &feedback,
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
