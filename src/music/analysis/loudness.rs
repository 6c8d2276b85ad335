//! Loudness after ITU-R BS.1770-4 / EBU R128 (integrated loudness, EBU Tech 3342 loudness
//! range), true and sample peak, RMS and crest factor, measured in one pass on the source's
//! own channels and rate.
//!
//! Each channel is K-weighted and its mean square summed per 100 ms segment. The gated
//! 400 ms blocks (75% overlap) of integrated loudness and the 3 s short-term windows of
//! loudness range (one per second, as libebur128) are both averages of consecutive
//! segments, so every sample is touched once: about four times cheaper than the `ebur128`
//! crate, which the tests check this against.

/// The ReplayGain 2.0 reference level: `track_gain_db` brings a track here.
pub const REFERENCE_LUFS: f32 = -18.0;
/// BS.1770's absolute gate: quieter audio (silence) reads as this.
pub const FLOOR_LUFS: f32 = -70.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Loudness {
    /// Integrated (gated) programme loudness, LUFS.
    pub integrated_lufs: f32,
    /// Gain that brings the track to `REFERENCE_LUFS` (ReplayGain 2.0 style), dB.
    pub track_gain_db: f32,
    /// Loudness range (EBU Tech 3342): the spread of short-term loudness, LU.
    pub range_lu: f32,
    /// Highest 4×-oversampled peak over the channels, dBTP.
    pub true_peak_dbtp: f32,
    /// Highest sample over the channels, dBFS.
    pub sample_peak_dbfs: f32,
    /// RMS level over all samples of all channels, dBFS (a full-scale sine reads -3.01).
    pub rms_dbfs: f32,
    /// Sample peak over RMS, dB: low for dense, compressed masters, high for dynamic ones.
    pub crest_db: f32,
}

pub(super) struct Meter {
    channels: usize,
    k_weighting: [Biquad; 2],
    /// Filter state per channel and stage.
    state: Vec<[[f64; 2]; 2]>,
    weights: Vec<f64>,
    segment_frames: usize,
    filled: usize,
    energy: f64,
    /// Channel-weighted K-weighted mean square of each whole 100 ms segment.
    segments: Vec<f64>,
    true_peak: TruePeak,
    sample_peak: f32,
    sum_squares: f64,
    samples: u64,
}

impl Meter {
    pub(super) fn new(rate: u32, channels: u16) -> Self {
        let channels = usize::from(channels.max(1));
        Meter {
            channels,
            k_weighting: Biquad::k_weighting(f64::from(rate)),
            state: vec![[[0.0; 2]; 2]; channels],
            weights: (0..channels).map(|c| weight(c, channels)).collect(),
            segment_frames: (rate as usize / 10).max(1),
            filled: 0,
            energy: 0.0,
            segments: Vec::new(),
            true_peak: TruePeak::new(channels),
            sample_peak: 0.0,
            sum_squares: 0.0,
            samples: 0,
        }
    }

    pub(super) fn push(&mut self, interleaved: &[f32]) {
        for frame in interleaved.chunks_exact(self.channels) {
            for ((&x, state), w) in frame.iter().zip(&mut self.state).zip(&self.weights) {
                let y = self.k_weighting[1].run(
                    self.k_weighting[0].run(x.into(), &mut state[0]),
                    &mut state[1],
                );
                self.energy += w * y * y;
            }
            self.filled += 1;
            if self.filled == self.segment_frames {
                self.segments.push(self.energy / self.segment_frames as f64);
                (self.filled, self.energy) = (0, 0.0);
            }
        }
        for &x in interleaved {
            self.sample_peak = self.sample_peak.max(x.abs());
            self.sum_squares += f64::from(x * x);
        }
        self.samples += interleaved.len() as u64;
        self.true_peak.push(interleaved);
    }

    pub(super) fn finish(&self) -> Loudness {
        let db = |amplitude: f64| (20.0 * amplitude.max(1e-10).log10()) as f32;
        let windows = |len: usize, step: usize| -> Vec<f64> {
            let mean = |w: &[f64]| w.iter().sum::<f64>() / len as f64;
            self.segments.windows(len).step_by(step).map(mean).collect()
        };
        let integrated = gate(windows(4, 1), 10.0);
        let integrated = if integrated.is_empty() {
            FLOOR_LUFS
        } else {
            lufs(integrated.iter().sum::<f64>() / integrated.len() as f64) as f32
        };
        let mut short_term = gate(windows(30, 10), 20.0);
        short_term.sort_by(f64::total_cmp);
        let percentile =
            |p: f64| lufs(short_term[((short_term.len() - 1) as f64 * p).round() as usize]);
        let range = if short_term.is_empty() {
            0.0
        } else {
            percentile(0.95) - percentile(0.10)
        };
        let sample_peak = db(self.sample_peak.into());
        let rms = db((self.sum_squares / self.samples.max(1) as f64).sqrt());
        Loudness {
            integrated_lufs: integrated,
            track_gain_db: REFERENCE_LUFS - integrated,
            range_lu: range as f32,
            true_peak_dbtp: db(self.true_peak.peak.max(self.sample_peak).into()),
            sample_peak_dbfs: sample_peak,
            rms_dbfs: rms,
            crest_db: sample_peak - rms,
        }
    }
}

fn lufs(mean_square: f64) -> f64 {
    -0.691 + 10.0 * mean_square.log10()
}

/// The blocks above the absolute gate (-70 LUFS) and above `relative` LU below their mean.
fn gate(blocks: Vec<f64>, relative: f64) -> Vec<f64> {
    let audible: Vec<f64> = blocks
        .into_iter()
        .filter(|&e| lufs(e) > f64::from(FLOOR_LUFS))
        .collect();
    let threshold = lufs(audible.iter().sum::<f64>() / audible.len().max(1) as f64) - relative;
    audible
        .into_iter()
        .filter(|&e| lufs(e) > threshold)
        .collect()
}

/// BS.1770 channel weights, channels in the usual order (L R C LFE Ls Rs for 5.1).
fn weight(channel: usize, channels: usize) -> f64 {
    match (channels, channel) {
        (6, 3) => 0.0,                   // LFE
        (5, 3 | 4) | (6, 4 | 5) => 1.41, // surrounds
        _ => 1.0,
    }
}

/// A biquad in transposed direct form II.
#[derive(Clone, Copy)]
struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
}

impl Biquad {
    /// BS.1770's pre-filter (a high shelf, +4 dB above about 1.7 kHz) and RLB high-pass
    /// (about 38 Hz), designed for any rate with libebur128's formulas.
    fn k_weighting(rate: f64) -> [Biquad; 2] {
        let (f0, gain_db, q) = (1681.974450955533, 3.999843853973347, 0.7071752369554196);
        let k = (std::f64::consts::PI * f0 / rate).tan();
        let vh = 10f64.powf(gain_db / 20.0);
        let vb = vh.powf(0.4996667741545416);
        let a0 = 1.0 + k / q + k * k;
        let shelf = Biquad {
            b: [
                (vh + vb * k / q + k * k) / a0,
                2.0 * (k * k - vh) / a0,
                (vh - vb * k / q + k * k) / a0,
            ],
            a: [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0],
        };
        let (f0, q) = (38.13547087602444, 0.5003270373238773);
        let k = (std::f64::consts::PI * f0 / rate).tan();
        let a0 = 1.0 + k / q + k * k;
        let high_pass = Biquad {
            b: [1.0, -2.0, 1.0],
            a: [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0],
        };
        [shelf, high_pass]
    }

    fn run(&self, x: f64, s: &mut [f64; 2]) -> f64 {
        let y = self.b[0] * x + s[0];
        s[0] = self.b[1] * x - self.a[0] * y + s[1];
        s[1] = self.b[2] * x - self.a[1] * y;
        y
    }
}

/// Taps of the true-peak interpolator on each side of the gap interpolated into.
const TP_HALF: usize = 6;

/// True peak (BS.1770-4 annex 2): the signal 4× oversampled, here with a Hann-windowed
/// sinc of 12 taps per phase. Gaps between two samples both below half the peak so far are
/// skipped: band-limited audio does not overshoot its samples by 6 dB.
struct TruePeak {
    /// Per channel: samples not yet past the interpolator, `TP_HALF - 1` of them already seen.
    history: Vec<Vec<f32>>,
    /// The 3 phases between two samples (¼, ½, ¾), `2 · TP_HALF` taps each.
    kernels: [[f32; 2 * TP_HALF]; 3],
    peak: f32,
}

impl TruePeak {
    fn new(channels: usize) -> Self {
        let kernels = std::array::from_fn(|p| {
            let frac = (p + 1) as f64 / 4.0;
            let taps: [f64; 2 * TP_HALF] = std::array::from_fn(|j| {
                let d = j as f64 - (TP_HALF - 1) as f64 - frac;
                let x = std::f64::consts::PI * d;
                (x.sin() / x) * (0.5 + 0.5 * (x / TP_HALF as f64).cos())
            });
            let sum: f64 = taps.iter().sum();
            taps.map(|t| (t / sum) as f32)
        });
        TruePeak {
            history: vec![vec![0.0; TP_HALF - 1]; channels],
            kernels,
            peak: 0.0,
        }
    }

    fn push(&mut self, interleaved: &[f32]) {
        let channels = self.history.len();
        for (c, h) in self.history.iter_mut().enumerate() {
            h.extend(interleaved.iter().skip(c).step_by(channels));
            let taps = 2 * TP_HALF;
            for start in 0..h.len().saturating_sub(taps - 1) {
                let window = &h[start..start + taps];
                let gap = window[TP_HALF - 1].abs().max(window[TP_HALF].abs());
                if gap < 0.5 * self.peak {
                    continue;
                }
                for kernel in &self.kernels {
                    let y: f32 = window.iter().zip(kernel).map(|(x, k)| x * k).sum();
                    self.peak = self.peak.max(y.abs().max(gap));
                }
            }
            let done = h.len().saturating_sub(taps - 1);
            h.drain(..done);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::{PI, TAU};

    fn measure(rate: u32, channels: u16, interleaved: &[f32]) -> Loudness {
        let mut m = Meter::new(rate, channels);
        for chunk in interleaved.chunks(1000 * usize::from(channels)) {
            m.push(chunk);
        }
        m.finish()
    }

    #[test]
    fn full_scale_sine_reads_as_bs1770_says() {
        // A 997 Hz full-scale sine: -3.01 LUFS per channel, +3.01 dB for two channels.
        let rate = 48_000;
        let frames: Vec<f32> = (0..rate * 5)
            .flat_map(|i| {
                let s = (TAU * 997.0 * i as f32 / rate as f32).sin();
                [s, s]
            })
            .collect();
        let l = measure(rate, 2, &frames);
        assert!(l.integrated_lufs.abs() < 0.05, "{l:?}");
        assert!((l.track_gain_db - REFERENCE_LUFS).abs() < 0.05, "{l:?}");
        assert!((l.rms_dbfs + 3.01).abs() < 0.02, "{l:?}");
        assert!((l.crest_db - 3.01).abs() < 0.05, "{l:?}");
        assert!(l.true_peak_dbtp.abs() < 0.05, "{l:?}");
        assert!(l.range_lu < 0.1, "{l:?}");
    }

    #[test]
    fn true_peak_finds_the_peak_between_samples() {
        // A quarter-rate sine at 45°: every sample is ±0.707, the wave between them reaches 1.
        let x: Vec<f32> = (0..48_000)
            .map(|n| (PI / 2.0 * (n % 4) as f32 + PI / 4.0).sin())
            .collect();
        let l = measure(48_000, 1, &x);
        assert!((l.sample_peak_dbfs + 3.01).abs() < 0.02, "{l:?}");
        assert!(l.true_peak_dbtp.abs() < 0.2, "{l:?}");
    }

    #[test]
    fn agrees_with_the_ebur128_crate() {
        // Stereo noise in 2 s sections at stepping levels (with silence), to exercise both
        // gates and the loudness range.
        let rate = 44_100;
        let mut noise: u32 = 0x2545_f491;
        let mut next = || {
            noise ^= noise << 13;
            noise ^= noise >> 17;
            noise ^= noise << 5;
            noise as f32 / u32::MAX as f32 - 0.5
        };
        let levels_db = [
            -12.0, -20.0, -80.0, -6.0, -30.0, -15.0, -25.0, -9.0, -40.0, -18.0,
        ];
        let mut frames = Vec::new();
        for db in levels_db {
            let gain = 10f32.powf(db / 20.0);
            for _ in 0..2 * rate {
                frames.push(gain * next());
                frames.push(0.5 * gain * next());
            }
        }
        let ours = measure(rate, 2, &frames);
        let mode = ebur128::Mode::I | ebur128::Mode::LRA | ebur128::Mode::TRUE_PEAK;
        let mut reference = ebur128::EbuR128::new(2, rate, mode).unwrap();
        reference.add_frames_f32(&frames).unwrap();
        let integrated = reference.loudness_global().unwrap() as f32;
        let range = reference.loudness_range().unwrap() as f32;
        let true_peak = (0..2)
            .map(|c| reference.true_peak(c).unwrap())
            .fold(0.0, f64::max);
        let true_peak = 20.0 * true_peak.log10() as f32;
        assert!(
            (ours.integrated_lufs - integrated).abs() < 0.02,
            "{ours:?} vs {integrated}"
        );
        assert!((ours.range_lu - range).abs() < 0.05, "{ours:?} vs {range}");
        assert!(
            (ours.true_peak_dbtp - true_peak).abs() < 0.3,
            "{ours:?} vs {true_peak}"
        );
    }

    #[test]
    fn silence_reads_as_the_floor() {
        let l = measure(22_050, 1, &vec![0.0; 22_050 * 2]);
        assert_eq!((l.integrated_lufs, l.range_lu), (FLOOR_LUFS, 0.0));
    }
}
