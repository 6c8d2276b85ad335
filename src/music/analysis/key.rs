//! Key and mode: the chroma profile correlated with the Krumhansl–Kessler major and minor
//! key profiles (Krumhansl & Kessler 1982; Krumhansl 1990) in all 12 rotations — the
//! Krumhansl–Schmuckler key-finding algorithm.

use std::fmt;

/// Probe-tone ratings of each scale degree in a major and a minor context, tonic first.
const MAJOR: [f32; 12] = [
    6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88,
];
const MINOR: [f32; 12] = [
    6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17,
];
const NAMES: [&str; 12] = [
    "C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Major,
    Minor,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Key {
    /// Pitch class of the tonic, C = 0 … B = 11.
    pub tonic: u8,
    pub mode: Mode,
    /// Correlation (-1…1) of the chroma with the best key's profile: how tonal the track is.
    pub strength: f32,
    /// Best major correlation minus best minor correlation: > 0 leans major, < 0 minor.
    /// A continuous mode estimate, as MIRtoolbox's `mirmode` (Eerola et al. 2009).
    pub mode_clarity: f32,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            Mode::Major => "major",
            Mode::Minor => "minor",
        };
        write!(f, "{} {mode}", NAMES[usize::from(self.tonic % 12)])
    }
}

/// The key whose profile best matches `chroma` (C = 0 … B = 11, any scale).
pub fn estimate(chroma: &[f32; 12]) -> Key {
    let best = |profile: &[f32; 12]| {
        (0..12u8)
            .map(|tonic| {
                let rotated: [f32; 12] =
                    std::array::from_fn(|pc| profile[(pc + 12 - usize::from(tonic)) % 12]);
                (tonic, pearson(chroma, &rotated))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("12 rotations")
    };
    let (major, minor) = (best(&MAJOR), best(&MINOR));
    let ((tonic, strength), mode) = if major.1 >= minor.1 {
        (major, Mode::Major)
    } else {
        (minor, Mode::Minor)
    };
    Key {
        tonic,
        mode,
        strength,
        mode_clarity: major.1 - minor.1,
    }
}

/// Pearson correlation; 0 when either side is constant.
fn pearson(a: &[f32; 12], b: &[f32; 12]) -> f32 {
    let (ma, mb) = (a.iter().sum::<f32>() / 12.0, b.iter().sum::<f32>() / 12.0);
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        ab += (x - ma) * (y - mb);
        aa += (x - ma) * (x - ma);
        bb += (y - mb) * (y - mb);
    }
    if aa <= 0.0 || bb <= 0.0 {
        0.0
    } else {
        ab / (aa * bb).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chroma vector with `weight` on each listed pitch class.
    fn chroma(notes: &[(usize, f32)]) -> [f32; 12] {
        let mut c = [0.0; 12];
        for &(pc, w) in notes {
            c[pc] += w;
        }
        c
    }

    #[test]
    fn a_profile_finds_itself_in_every_rotation() {
        for tonic in 0..12 {
            for (profile, mode) in [(MAJOR, Mode::Major), (MINOR, Mode::Minor)] {
                let c = std::array::from_fn(|pc| profile[(pc + 12 - tonic) % 12]);
                let key = estimate(&c);
                assert_eq!((key.tonic as usize, key.mode), (tonic, mode));
                assert!((key.strength - 1.0).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn c_major_scale_with_strong_triad_is_c_major() {
        // The C major scale, tonic triad (C E G) weighted up.
        let c = chroma(&[
            (0, 3.0),
            (2, 1.0),
            (4, 2.0),
            (5, 1.0),
            (7, 2.5),
            (9, 1.0),
            (11, 1.0),
        ]);
        let key = estimate(&c);
        assert_eq!((key.tonic, key.mode), (0, Mode::Major), "{key:?}");
        assert!(key.mode_clarity > 0.0);
        assert_eq!(key.to_string(), "C major");
    }

    #[test]
    fn the_same_notes_centred_on_a_are_a_minor() {
        // The A natural minor scale (same notes as C major), tonic triad (A C E) weighted up.
        let c = chroma(&[
            (9, 3.0),
            (11, 1.0),
            (0, 2.0),
            (2, 1.0),
            (4, 2.5),
            (5, 1.0),
            (7, 1.0),
        ]);
        let key = estimate(&c);
        assert_eq!((key.tonic, key.mode), (9, Mode::Minor), "{key:?}");
        assert!(key.mode_clarity < 0.0);
        assert_eq!(key.to_string(), "A minor");
    }

    #[test]
    fn silence_has_no_strength() {
        assert_eq!(estimate(&[0.0; 12]).strength, 0.0);
    }
}
