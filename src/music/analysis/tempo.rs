//! Tempo and onset rate from the onset-strength envelope.
//!
//! Tempo is the beat period that maximises the envelope's autocorrelation, weighted by a
//! log-normal prior around 120 BPM (Ellis 2007, "Beat tracking by dynamic programming";
//! librosa's `beat.tempo`). Octave errors are handled twice: the prior prefers the tempo
//! range listeners tap in, and each candidate period also collects half of the
//! autocorrelation at twice its length, so the true beat (whose double is also periodic)
//! beats its half (whose double is the beat) and its double (whose double is rarer).

/// Centre and width (octaves) of the tempo prior.
pub const PRIOR_BPM: f32 = 120.0;
const PRIOR_OCTAVES: f32 = 1.0;
/// Tempi considered.
const RANGE_BPM: (f32, f32) = (40.0, 240.0);
/// Onset peak picking (Böck et al. 2012): a peak is the maximum of ±`PEAK_FRAMES`, at least
/// `DELTA` standard deviations above the mean of ±`MEAN_FRAMES`, and above `FLOOR`.
const PEAK_FRAMES: usize = 3;
const MEAN_FRAMES: usize = 10;
const DELTA: f32 = 0.5;
const FLOOR: f32 = 0.02;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Rhythm {
    /// Beats per minute; 0 when no beat could be found (too short, or no onsets).
    pub tempo_bpm: f32,
    /// Normalised autocorrelation at the beat period, 0…1: how clearly the beat stands out.
    pub pulse_clarity: f32,
    /// Detected onsets (note and drum attacks) per second.
    pub onset_rate: f32,
}

pub fn rhythm(onset: &[f32], frame_rate: f32) -> Rhythm {
    let (tempo_bpm, pulse_clarity) = tempo(onset, frame_rate).unwrap_or_default();
    Rhythm {
        tempo_bpm,
        pulse_clarity,
        onset_rate: onset_rate(onset, frame_rate),
    }
}

/// (BPM, pulse clarity) of an onset envelope sampled at `frame_rate`; `None` when the
/// envelope is flat or shorter than two periods of the slowest tempo it could hold.
pub fn tempo(onset: &[f32], frame_rate: f32) -> Option<(f32, f32)> {
    let lag_of = |bpm: f32| 60.0 * frame_rate / bpm;
    let min_lag = lag_of(RANGE_BPM.1).floor().max(1.0) as usize;
    let max_lag = (lag_of(RANGE_BPM.0).ceil() as usize).min(onset.len() / 2);
    if max_lag <= min_lag {
        return None;
    }
    let ac = autocorrelation(onset, (4 * max_lag + 4).min(onset.len() - 1));
    let at = |lag: usize| ac.get(lag).copied().unwrap_or(0.0);
    let prior = |lag: usize| {
        let octaves = (frame_rate * 60.0 / lag as f32 / PRIOR_BPM).log2() / PRIOR_OCTAVES;
        (-0.5 * octaves * octaves).exp()
    };
    // Smoothed over ±1 lag: a period between two frames splits its peak between them.
    let smooth = |lag: usize| 0.25 * at(lag - 1) + 0.5 * at(lag) + 0.25 * at(lag + 1);
    let score = |lag: usize| prior(lag) * (smooth(lag) + 0.5 * smooth(2 * lag));
    let best = (min_lag..=max_lag).max_by(|&a, &b| score(a).total_cmp(&score(b)))?;
    if smooth(best) <= 0.0 {
        return None;
    }
    let period = refine(&ac, best);
    Some((
        60.0 * frame_rate / period,
        ac[period.round() as usize].clamp(0.0, 1.0),
    ))
}

/// Autocorrelation of the mean-removed envelope for lags 0..=`max_lag`, each lag's sum
/// divided by its number of terms, normalised to 1 at lag 0 (all zeros when flat).
fn autocorrelation(x: &[f32], max_lag: usize) -> Vec<f32> {
    let mean = x.iter().sum::<f32>() / x.len().max(1) as f32;
    let centred: Vec<f32> = x.iter().map(|v| v - mean).collect();
    let raw: Vec<f32> = (0..=max_lag)
        .map(|lag| {
            let n = centred.len() - lag;
            let sum: f32 = centred[..n]
                .iter()
                .zip(&centred[lag..])
                .map(|(a, b)| a * b)
                .sum();
            sum / n as f32
        })
        .collect();
    let zero = raw[0];
    if zero <= f32::EPSILON {
        return vec![0.0; raw.len()];
    }
    raw.iter().map(|r| r / zero).collect()
}

/// The period to a fraction of a frame: the autocorrelation peak near the furthest multiple
/// of `lag` it holds (up to 4), located by parabolic interpolation, divided by the multiple.
fn refine(ac: &[f32], lag: usize) -> f32 {
    let k = (1..=4)
        .rev()
        .find(|k| k * (lag + 1) + 1 < ac.len())
        .unwrap_or(1);
    let (lo, hi) = (k * lag - (k - 1), (k * lag + k - 1).min(ac.len() - 2));
    let peak = (lo..=hi)
        .max_by(|&a, &b| ac[a].total_cmp(&ac[b]))
        .unwrap_or(lag);
    let (a, b, c) = (ac[peak - 1], ac[peak], ac[peak + 1]);
    let curvature = a - 2.0 * b + c;
    let offset = if curvature < 0.0 {
        0.5 * (a - c) / curvature
    } else {
        0.0
    };
    (peak as f32 + offset.clamp(-0.5, 0.5)) / k as f32
}

/// Onsets per second: peaks of the envelope that stand out from their surroundings.
pub fn onset_rate(onset: &[f32], frame_rate: f32) -> f32 {
    let n = onset.len();
    if n == 0 {
        return 0.0;
    }
    let mean = onset.iter().sum::<f32>() / n as f32;
    let sd = (onset.iter().map(|o| (o - mean).powi(2)).sum::<f32>() / n as f32).sqrt();
    let around = |t: usize, r: usize| &onset[t.saturating_sub(r)..(t + r + 1).min(n)];
    let peaks = (0..n)
        .filter(|&t| {
            let x = onset[t];
            let before = &onset[t.saturating_sub(PEAK_FRAMES)..t];
            let local = around(t, MEAN_FRAMES);
            let local_mean = local.iter().sum::<f32>() / local.len() as f32;
            x > FLOOR
                && before.iter().all(|&o| o < x)
                && around(t, PEAK_FRAMES).iter().all(|&o| o <= x)
                && x >= local_mean + DELTA * sd
        })
        .count();
    peaks as f32 * frame_rate / n as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    const FPS: f32 = 22_050.0 / 512.0;

    /// An onset envelope with a pulse every `60 / bpm` seconds (plus weaker off-beats if
    /// `eighths`), each pulse spread over the two frames nearest its exact time.
    fn envelope(bpm: f32, secs: f32, eighths: bool) -> Vec<f32> {
        let mut env = vec![0.0; (secs * FPS) as usize];
        let step = if eighths { 0.5 } else { 1.0 };
        let mut beat = 0.0;
        while (beat * 60.0 / bpm * FPS) as usize + 1 < env.len() {
            let pos = beat * 60.0 / bpm * FPS;
            let (i, frac) = (pos.floor() as usize, pos.fract());
            let strength = if beat.fract() == 0.0 { 1.0 } else { 0.5 };
            env[i] += strength * (1.0 - frac);
            env[i + 1] += strength * frac;
            beat += step;
        }
        env
    }

    #[test]
    fn finds_the_tempo_of_a_pulse_train_within_one_percent() {
        for bpm in [70.0, 100.0, 128.0, 150.0, 174.0] {
            let (found, clarity) = tempo(&envelope(bpm, 30.0, false), FPS).unwrap();
            assert!((found / bpm - 1.0).abs() < 0.01, "{bpm}: {found}");
            assert!(clarity > 0.5, "{bpm}: {clarity}");
        }
    }

    #[test]
    fn off_beats_do_not_double_the_tempo() {
        for bpm in [90.0, 120.0] {
            let (found, _) = tempo(&envelope(bpm, 30.0, true), FPS).unwrap();
            assert!((found / bpm - 1.0).abs() < 0.01, "{bpm}: {found}");
        }
    }

    #[test]
    fn no_tempo_without_a_pulse() {
        assert_eq!(tempo(&vec![0.0; 1000], FPS), None);
        assert_eq!(tempo(&[1.0, 0.0, 1.0], FPS), None);
    }

    #[test]
    fn counts_onsets() {
        let rate = onset_rate(&envelope(120.0, 30.0, true), FPS);
        assert!((rate - 4.0).abs() < 0.2, "{rate}");
        assert_eq!(onset_rate(&vec![0.0; 500], FPS), 0.0);
    }
}
