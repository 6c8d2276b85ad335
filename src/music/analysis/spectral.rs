//! The STFT (2048-sample Hann window, hop 512) and what is read from each frame: spectral
//! centroid, 85% roll-off and flux, the onset-strength envelope, and a chroma profile.

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;

pub const WINDOW: usize = 2048;
pub const HOP: usize = 512;
const BINS: usize = WINDOW / 2 + 1;
/// Share of the spectral magnitude below the roll-off frequency.
const ROLLOFF: f32 = 0.85;
/// Frames whose mean square is below this (about -70 dBFS) count as silence.
const SILENCE: f32 = 1e-7;
/// The onset envelope is log-filtered spectral flux (Böck, Krebs & Schedl 2012): the
/// magnitude summed in bands of `BANDS_PER_OCTAVE`, then `ln(1 + COMPRESSION·band)`, a log
/// (dB-like) scale above about -60 dB of a full-scale sine and flat toward zero below it, so
/// noise makes no onsets.
const BANDS_PER_OCTAVE: f32 = 12.0;
const COMPRESSION: f32 = 1000.0;
/// Spectral peaks count toward chroma between these frequencies (Hz) and above this share
/// of the frame's loudest peak.
const CHROMA_BAND: (f32, f32) = (80.0, 5000.0);
const CHROMA_PEAK: f32 = 0.03;

/// Means over the non-silent frames.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Spectrum {
    /// Magnitude-weighted mean frequency, Hz: "brightness".
    pub centroid_hz: f32,
    /// Frequency below which 85% of the magnitude lies, Hz.
    pub rolloff_hz: f32,
    /// Half-wave rectified change between consecutive spectra, each scaled to sum 1:
    /// 0 for a steady tone, up to 1 when every frame is new.
    pub flux: f32,
}

/// What the whole STFT pass yields.
pub(super) struct Frames {
    pub spectrum: Spectrum,
    /// Onset strength per frame (log-filtered spectral flux, mean over bands).
    pub onset: Vec<f32>,
    /// Frames per second of `onset`.
    pub frame_rate: f32,
    /// Pitch-class profile, C = 0 … B = 11, each frame's peak normalised to 1 before summing.
    pub chroma: [f32; 12],
}

pub(super) struct Stft {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    bin_hz: f32,
    /// Samples not yet fully consumed by frames.
    pending: Vec<f32>,
    frame: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    mag: Vec<f32>,
    /// The previous frame's magnitudes scaled to sum 1.
    prev_share: Vec<f32>,
    /// The onset band of each bin, and the band magnitudes of this and the previous frame
    /// (log-compressed).
    band_of: Vec<usize>,
    bands: Vec<f32>,
    prev_bands: Vec<f32>,
    prev_voiced: bool,
    /// Sums over non-silent frames (and over those with a non-silent predecessor, for flux).
    sum_centroid: f64,
    sum_rolloff: f64,
    sum_flux: f64,
    voiced: u32,
    flux_frames: u32,
    onset: Vec<f32>,
    chroma: [f32; 12],
}

impl Stft {
    pub(super) fn new(rate: u32) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(WINDOW);
        let (spectrum, scratch) = (fft.make_output_vec(), fft.make_scratch_vec());
        // Periodic Hann, scaled so a full-scale sine's peak bin reads 1.
        let hann = |i: usize| 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / WINDOW as f32).cos();
        let gain = 2.0 / (0..WINDOW).map(hann).sum::<f32>();
        let band_of: Vec<usize> = (0..BINS)
            .map(|k| (BANDS_PER_OCTAVE * (1.0 + k as f32).log2()) as usize)
            .collect();
        let bands = band_of[BINS - 1] + 1;
        Stft {
            fft,
            window: (0..WINDOW).map(|i| hann(i) * gain).collect(),
            bin_hz: rate as f32 / WINDOW as f32,
            pending: Vec::with_capacity(2 * WINDOW),
            frame: vec![0.0; WINDOW],
            spectrum,
            scratch,
            mag: vec![0.0; BINS],
            prev_share: vec![0.0; BINS],
            band_of,
            bands: vec![0.0; bands],
            prev_bands: vec![0.0; bands],
            prev_voiced: false,
            sum_centroid: 0.0,
            sum_rolloff: 0.0,
            sum_flux: 0.0,
            voiced: 0,
            flux_frames: 0,
            onset: Vec::new(),
            chroma: [0.0; 12],
        }
    }

    pub(super) fn push(&mut self, samples: &[f32]) {
        self.pending.extend_from_slice(samples);
        let mut start = 0;
        while start + WINDOW <= self.pending.len() {
            self.frame(start);
            start += HOP;
        }
        self.pending.drain(..start);
    }

    /// Analyses the frame at `pending[start..start + WINDOW]`.
    fn frame(&mut self, start: usize) {
        let mut power = 0.0;
        for ((f, x), w) in self
            .frame
            .iter_mut()
            .zip(&self.pending[start..])
            .zip(&self.window)
        {
            *f = x * w;
            power += x * x;
        }
        // Both buffers have the planned lengths, the only way this can fail.
        let _ =
            self.fft
                .process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch);
        for (m, c) in self.mag.iter_mut().zip(&self.spectrum) {
            *m = c.norm_sqr().sqrt();
        }
        self.bands.fill(0.0);
        for (&band, m) in self.band_of.iter().zip(&self.mag) {
            self.bands[band] += m;
        }
        let mut onset = 0.0;
        for (band, prev) in self.bands.iter_mut().zip(&mut self.prev_bands) {
            let log = (COMPRESSION * *band).ln_1p();
            onset += (log - *prev).max(0.0);
            *prev = log;
        }
        self.onset.push(onset / self.bands.len() as f32);
        let voiced = power / (WINDOW as f32) >= SILENCE;
        let had_previous = std::mem::replace(&mut self.prev_voiced, voiced);
        if !voiced {
            return;
        }

        let total: f32 = self.mag.iter().sum();
        let centroid = self
            .mag
            .iter()
            .enumerate()
            .map(|(k, m)| k as f32 * m)
            .sum::<f32>()
            / total;
        let mut cumulative = 0.0;
        let rolloff = self
            .mag
            .iter()
            .position(|m| {
                cumulative += m;
                cumulative >= ROLLOFF * total
            })
            .unwrap_or(BINS - 1);
        let mut flux = 0.0;
        for (m, prev) in self.mag.iter().zip(&mut self.prev_share) {
            let share = m / total;
            flux += (share - *prev).max(0.0);
            *prev = share;
        }
        self.sum_centroid += f64::from(centroid * self.bin_hz);
        self.sum_rolloff += f64::from(rolloff as f32 * self.bin_hz);
        self.voiced += 1;
        if had_previous {
            self.sum_flux += f64::from(flux);
            self.flux_frames += 1;
        }
        self.add_chroma();
    }

    /// Adds the frame's spectral peaks to the chroma profile, each at its interpolated pitch.
    fn add_chroma(&mut self) {
        let m = &self.mag;
        let loudest = m.iter().copied().fold(0.0, f32::max);
        let lo = (CHROMA_BAND.0 / self.bin_hz) as usize;
        let hi = ((CHROMA_BAND.1 / self.bin_hz) as usize).min(BINS - 2);
        let mut frame = [0.0f32; 12];
        for k in lo.max(1)..=hi {
            if m[k] <= m[k - 1] || m[k] < m[k + 1] || m[k] < CHROMA_PEAK * loudest {
                continue;
            }
            // Parabolic interpolation on log magnitude: the peak's frequency to a fraction of a bin.
            let (a, b, c) = (
                m[k - 1].max(1e-12).ln(),
                m[k].ln(),
                m[k + 1].max(1e-12).ln(),
            );
            let offset = 0.5 * (a - c) / (a - 2.0 * b + c).min(-1e-12);
            let hz = (k as f32 + offset) * self.bin_hz;
            let midi = 69.0 + 12.0 * (hz / 440.0).log2();
            frame[(midi.round() as i64).rem_euclid(12) as usize] += m[k];
        }
        let top = frame.iter().copied().fold(0.0, f32::max);
        if top > 0.0 {
            for (c, f) in self.chroma.iter_mut().zip(frame) {
                *c += f / top;
            }
        }
    }

    pub(super) fn finish(self) -> Frames {
        let mean = |sum: f64, n: u32| {
            if n == 0 {
                0.0
            } else {
                (sum / f64::from(n)) as f32
            }
        };
        Frames {
            spectrum: Spectrum {
                centroid_hz: mean(self.sum_centroid, self.voiced),
                rolloff_hz: mean(self.sum_rolloff, self.voiced),
                flux: mean(self.sum_flux, self.flux_frames),
            },
            onset: self.onset,
            frame_rate: self.bin_hz * WINDOW as f32 / HOP as f32,
            chroma: self.chroma,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 22_050;

    fn run(samples: &[f32]) -> Frames {
        let mut stft = Stft::new(RATE);
        for chunk in samples.chunks(777) {
            stft.push(chunk);
        }
        stft.finish()
    }

    fn tone(freqs: &[f32], secs: f32) -> Vec<f32> {
        (0..(secs * RATE as f32) as usize)
            .map(|i| {
                let t = i as f32 / RATE as f32;
                freqs
                    .iter()
                    .map(|f| (std::f32::consts::TAU * f * t).sin())
                    .sum::<f32>()
                    / freqs.len() as f32
            })
            .collect()
    }

    #[test]
    fn a_sine_has_its_frequency_as_centroid_and_no_flux() {
        let f = run(&tone(&[1000.0], 2.0));
        let s = f.spectrum;
        assert!((s.centroid_hz - 1000.0).abs() < 30.0, "{s:?}");
        assert!((s.rolloff_hz - 1000.0).abs() < 30.0, "{s:?}");
        assert!(s.flux < 0.01, "{s:?}");
        let expected_frames = (2.0 * RATE as f32 - WINDOW as f32) / HOP as f32 + 1.0;
        assert_eq!(f.onset.len(), expected_frames as usize);
    }

    #[test]
    fn chroma_names_the_notes_played() {
        // A minor triad (A3, C4, E4): pitch classes 9, 0 and 4 dominate.
        let f = run(&tone(&[220.0, 261.63, 329.63], 2.0));
        let mut order: Vec<usize> = (0..12).collect();
        order.sort_by(|&a, &b| f.chroma[b].total_cmp(&f.chroma[a]));
        let mut top = order[..3].to_vec();
        top.sort();
        assert_eq!(top, [0, 4, 9], "{:?}", f.chroma);
    }

    #[test]
    fn silence_has_no_spectrum() {
        let f = run(&vec![0.0; RATE as usize]);
        assert_eq!(f.spectrum, Spectrum::default());
        assert!(f.onset.iter().all(|&o| o == 0.0));
    }
}
