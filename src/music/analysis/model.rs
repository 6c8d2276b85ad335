//! From measured cues to `energy` and `valence` in [0, 1].
//!
//! No labelled audio is available to fit a model, so this is a literature model, not a
//! trained one: each dimension is a logistic of a weighted sum of standardised cues,
//! `σ(Σ w·clamp((x − centre) / scale, ±3))`. A track at every centre scores 0.5.
//!
//! **Centres and scales** are typical values for commercial pop music, so 0.5 means "an
//! average pop track" and one scale is a clearly noticeable step: loudness -9 ± 4 LUFS
//! (masters since the 2000s sit near -6…-10, older and acoustic ones near -14…-18); tempo
//! 120 ± 25 BPM; spectral centroid 2000 ± 800 Hz; onset rate 4 ± 1.5 per second (eighth
//! notes at 120 BPM). The mode cue (best major minus best minor key correlation) is centred
//! on 0 (ambiguous) with ± 0.15 for a clear lean; that scale is our choice, not a norm.
//! Cues are clamped to ±3 scales so no single extreme (a 200 BPM track, silence) saturates;
//! a track with no detectable beat (tempo 0) thus reads as very slow, as a pulseless drone
//! sounds.
//!
//! **Weights** follow the order of the cues' effects in the literature, in simple steps
//! (1, 0.6, 0.5, 0.25) rather than fitted values:
//!
//! *Energy (arousal, activity).* Loudness is the strongest and most consistent cue of
//! activity in the reviews and in continuous-response studies (Gabrielsson & Lindström
//! 2010; Schubert 2004, where loudness was the best predictor of arousal); tempo is next
//! (Gabrielsson & Lindström 2010; Schubert 2004; Eerola, Friberg & Bresin 2013); bright,
//! sharp timbre — a high spectral centroid — and a dense stream of events (onset rate,
//! spectral flux) raise it too (Schubert 2004; Eerola, Lartillot & Toiviainen 2009, whose
//! energy model leaned on dynamics, event density and flux; Yang & Chen 2012, MER survey:
//! arousal is the well-predicted axis, from intensity, rhythm and timbre features).
//!
//! *Valence.* Mode is the strongest structural cue: major reads as happy, minor as sad
//! (Hevner 1935, 1936; Gabrielsson & Lindström 2010; Eerola et al. 2013, where mode made
//! the largest contribution to valence). Fast tempo is the second (Hevner 1937;
//! Gabrielsson & Lindström 2010; Eerola et al. 2013); bright timbre and high register lean
//! happy, more weakly (Hevner 1937; Gabrielsson & Lindström 2010; Eerola et al. 2013).
//! Valence is the harder axis to predict from audio (Yang & Chen 2012), so its weights sum
//! lower than energy's and it stays nearer 0.5.
//!
//! References: Eerola, Lartillot & Toiviainen (2009), ISMIR; Eerola, Friberg & Bresin
//! (2013), Front. Psychol. 4:487; Gabrielsson & Lindström (2010), in Juslin & Sloboda (eds.),
//! Handbook of Music and Emotion, OUP; Hevner (1935), Am. J. Psychol. 47; Hevner (1936),
//! Am. J. Psychol. 48; Hevner (1937), Am. J. Psychol. 49; Schubert (2004), Music Perception
//! 21(4); Yang & Chen (2012), ACM TIST 3(3).

/// The measured values the model reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cues {
    pub loudness_lufs: f32,
    pub tempo_bpm: f32,
    pub centroid_hz: f32,
    pub onset_rate: f32,
    /// Best major minus best minor key-profile correlation (`Key::mode_clarity`).
    pub mode_clarity: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cue {
    Loudness,
    Tempo,
    Brightness,
    OnsetRate,
    Mode,
}

/// One row of a model: standardise `cue` by `centre` and `scale`, multiply by `weight`.
#[derive(Debug, Clone, Copy)]
pub struct Term {
    pub cue: Cue,
    pub centre: f32,
    pub scale: f32,
    pub weight: f32,
    pub source: &'static str,
}

const fn term(cue: Cue, centre: f32, scale: f32, weight: f32, source: &'static str) -> Term {
    Term {
        cue,
        centre,
        scale,
        weight,
        source,
    }
}

#[rustfmt::skip]
pub const ENERGY: [Term; 4] = [
    //   cue               centre  scale  weight  source
    term(Cue::Loudness,     -9.0,   4.0,  1.0,   "G&L 2010; Schubert 2004; Eerola 2009"),
    term(Cue::Tempo,       120.0,  25.0,  0.6,   "G&L 2010; Schubert 2004; Eerola 2013"),
    term(Cue::Brightness, 2000.0, 800.0,  0.5,   "Schubert 2004; Eerola 2009; Yang & Chen 2012"),
    term(Cue::OnsetRate,     4.0,   1.5,  0.5,   "Eerola 2009; G&L 2010; Yang & Chen 2012"),
];

#[rustfmt::skip]
pub const VALENCE: [Term; 3] = [
    term(Cue::Mode,          0.0,   0.15, 1.0,   "Hevner 1935/1936; G&L 2010; Eerola 2013"),
    term(Cue::Tempo,       120.0,  25.0,  0.5,   "Hevner 1937; G&L 2010; Eerola 2013"),
    term(Cue::Brightness, 2000.0, 800.0,  0.25,  "Hevner 1937; G&L 2010; Eerola 2013"),
];

impl Cues {
    fn get(&self, cue: Cue) -> f32 {
        match cue {
            Cue::Loudness => self.loudness_lufs,
            Cue::Tempo => self.tempo_bpm,
            Cue::Brightness => self.centroid_hz,
            Cue::OnsetRate => self.onset_rate,
            Cue::Mode => self.mode_clarity,
        }
    }
}

/// `σ(Σ weight · clamp((cue − centre) / scale, ±3))`.
pub fn score(terms: &[Term], cues: &Cues) -> f32 {
    let sum: f32 = terms
        .iter()
        .map(|t| t.weight * ((cues.get(t.cue) - t.centre) / t.scale).clamp(-3.0, 3.0))
        .sum();
    1.0 / (1.0 + (-sum).exp())
}

pub fn energy(cues: &Cues) -> f32 {
    score(&ENERGY, cues)
}

pub fn valence(cues: &Cues) -> f32 {
    score(&VALENCE, cues)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POP: Cues = Cues {
        loudness_lufs: -9.0,
        tempo_bpm: 120.0,
        centroid_hz: 2000.0,
        onset_rate: 4.0,
        mode_clarity: 0.0,
    };

    #[test]
    fn the_typical_pop_track_is_the_middle() {
        assert_eq!(energy(&POP), 0.5);
        assert_eq!(valence(&POP), 0.5);
    }

    #[test]
    fn each_cue_moves_its_axis_the_documented_way() {
        let louder = Cues {
            loudness_lufs: -5.0,
            ..POP
        };
        let faster = Cues {
            tempo_bpm: 150.0,
            ..POP
        };
        let brighter = Cues {
            centroid_hz: 3000.0,
            ..POP
        };
        let busier = Cues {
            onset_rate: 6.0,
            ..POP
        };
        let major = Cues {
            mode_clarity: 0.2,
            ..POP
        };
        for c in [louder, faster, brighter, busier] {
            assert!(energy(&c) > 0.5, "{c:?}");
        }
        for c in [faster, brighter, major] {
            assert!(valence(&c) > 0.5, "{c:?}");
        }
        assert_eq!(energy(&major), 0.5, "mode does not drive energy");
        assert_eq!(valence(&louder), 0.5, "loudness does not drive valence");
        // The literature order: loudness moves energy most, mode moves valence most.
        assert!(energy(&louder) > energy(&faster));
        assert!(
            valence(&Cues {
                mode_clarity: 0.15,
                ..POP
            }) > valence(&Cues {
                tempo_bpm: 145.0,
                ..POP
            })
        );
    }

    #[test]
    fn extremes_stay_inside_the_unit_interval() {
        let wild = Cues {
            loudness_lufs: f32::MAX,
            tempo_bpm: 0.0,
            centroid_hz: 1e9,
            onset_rate: -1.0,
            mode_clarity: -2.0,
        };
        for v in [energy(&wild), valence(&wild)] {
            assert!(v > 0.0 && v < 1.0, "{v}");
        }
    }
}
