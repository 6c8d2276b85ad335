//! The seven FER2013 emotions and per-frame probability vectors.

pub mod eval;
pub mod model;
pub mod preprocess;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// FER2013 label order: the model's output index is the discriminant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Emotion {
    Angry = 0,
    Disgust = 1,
    Fear = 2,
    Happy = 3,
    Sad = 4,
    Surprise = 5,
    Neutral = 6,
}

impl Emotion {
    pub const ALL: [Emotion; 7] = [
        Emotion::Angry,
        Emotion::Disgust,
        Emotion::Fear,
        Emotion::Happy,
        Emotion::Sad,
        Emotion::Surprise,
        Emotion::Neutral,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_index(i: usize) -> Option<Emotion> {
        Self::ALL.get(i).copied()
    }

    pub fn name(self) -> &'static str {
        match self {
            Emotion::Angry => "angry",
            Emotion::Disgust => "disgust",
            Emotion::Fear => "fear",
            Emotion::Happy => "happy",
            Emotion::Sad => "sad",
            Emotion::Surprise => "surprise",
            Emotion::Neutral => "neutral",
        }
    }
}

impl fmt::Display for Emotion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown emotion {0:?} (expected one of angry, disgust, fear, happy, sad, surprise, neutral)"
)]
pub struct UnknownEmotion(pub String);

impl FromStr for Emotion {
    type Err = UnknownEmotion;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        // "surprised" is how the Yale frames and many people spell it.
        let lower = if lower == "surprised" {
            "surprise".to_string()
        } else {
            lower
        };
        Self::ALL
            .into_iter()
            .find(|e| e.name() == lower)
            .ok_or_else(|| UnknownEmotion(s.to_string()))
    }
}

/// One probability per emotion, in `Emotion::ALL` order, summing to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Probabilities(pub [f32; 7]);

impl Probabilities {
    /// All the mass on one emotion: what a scripted source reports.
    pub fn certain(e: Emotion) -> Self {
        let mut p = [0.0; 7];
        p[e.index()] = 1.0;
        Probabilities(p)
    }

    pub fn uniform() -> Self {
        Probabilities([1.0 / 7.0; 7])
    }

    /// Softmax of raw logits, numerically stable.
    pub fn from_logits(logits: &[f32; 7]) -> Self {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut p = logits.map(|l| (l - max).exp());
        let sum: f32 = p.iter().sum();
        p.iter_mut().for_each(|v| *v /= sum);
        Probabilities(p)
    }

    pub fn get(&self, e: Emotion) -> f32 {
        self.0[e.index()]
    }

    pub fn top(&self) -> (Emotion, f32) {
        let (i, p) = self
            .0
            .iter()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |best, (i, &p)| {
                if p > best.1 {
                    (i, p)
                } else {
                    best
                }
            });
        (Emotion::ALL[i], p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_yale_spelling() {
        for e in Emotion::ALL {
            assert_eq!(e.name().parse::<Emotion>().unwrap(), e);
            assert_eq!(Emotion::from_index(e.index()), Some(e));
        }
        assert_eq!("Surprised".parse::<Emotion>().unwrap(), Emotion::Surprise);
        assert!("bored".parse::<Emotion>().is_err());
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let p = Probabilities::from_logits(&[1.0, 0.0, 0.0, 5.0, 0.0, 0.0, 2.0]);
        assert!((p.0.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(p.top().0, Emotion::Happy);
        assert!(p.get(Emotion::Neutral) > p.get(Emotion::Angry));
    }
}
