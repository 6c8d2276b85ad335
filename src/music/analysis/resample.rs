//! A streaming windowed-sinc resampler: good enough for analysis (about 60 dB of
//! anti-aliasing, flat to 90% of the lower Nyquist), cheap, and allocation-free per call.

/// Fractional positions the kernel is tabulated at; the nearest one is used.
const PHASES: usize = 256;
/// Zero crossings of the sinc on each side of the centre.
const ZEROS: f64 = 6.0;
/// Pass band as a fraction of the lower of the two Nyquist frequencies.
const CUTOFF: f64 = 0.9;

pub(super) struct Resampler {
    /// Input samples per output sample.
    step: f64,
    /// Position of the next output sample in `pending`.
    pos: f64,
    /// Input not yet fully used, starting `half - 1` samples before the kernel's centre.
    pending: Vec<f32>,
    taps: usize,
    /// `PHASES + 1` rows of `taps` coefficients, each row summing to 1.
    table: Vec<f32>,
}

impl Resampler {
    pub(super) fn new(from: u32, to: u32) -> Self {
        let step = f64::from(from) / f64::from(to);
        let cutoff = CUTOFF * (1.0 / step).min(1.0); // of the input's Nyquist
        let half = if from == to {
            1 // a single tap at phase 0: a plain copy
        } else {
            (ZEROS / cutoff).ceil() as usize
        };
        let taps = 2 * half;
        let mut table = Vec::with_capacity((PHASES + 1) * taps);
        for p in 0..=PHASES {
            let frac = p as f64 / PHASES as f64;
            let row: Vec<f64> = (0..taps)
                .map(|j| {
                    let d = j as f64 - (half - 1) as f64 - frac; // tap distance from the output
                    let window = 0.5 + 0.5 * (std::f64::consts::PI * d / half as f64).cos();
                    let x = std::f64::consts::PI * cutoff * d;
                    let sinc = if x.abs() < 1e-9 { 1.0 } else { x.sin() / x };
                    if d.abs() < half as f64 {
                        sinc * window
                    } else {
                        0.0
                    }
                })
                .collect();
            let sum: f64 = row.iter().sum();
            table.extend(row.iter().map(|c| (c / sum) as f32));
        }
        Resampler {
            step,
            pos: (half - 1) as f64,
            pending: vec![0.0; half - 1], // silence before the first sample
            taps,
            table,
        }
    }

    /// Appends the output for `input` to `out`.
    pub(super) fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        self.pending.extend_from_slice(input);
        let half = self.taps / 2;
        loop {
            let centre = self.pos.floor();
            let start = centre as usize + 1 - half;
            if start + self.taps > self.pending.len() {
                break;
            }
            let phase = ((self.pos - centre) * PHASES as f64).round() as usize;
            let kernel = &self.table[phase * self.taps..][..self.taps];
            out.push(dot(&self.pending[start..start + self.taps], kernel));
            self.pos += self.step;
        }
        let used = (self.pos.floor() as usize + 1 - half).min(self.pending.len());
        self.pending.drain(..used);
        self.pos -= used as f64;
    }
}

/// A dot product in eight lanes, which the compiler vectorises.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f32, rate: u32, secs: f32) -> Vec<f32> {
        let n = (secs * rate as f32) as usize;
        (0..n)
            .map(|i| (std::f32::consts::TAU * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
    }

    /// Resamples in uneven chunks, as decoded packets arrive.
    fn run(from: u32, to: u32, input: &[f32]) -> Vec<f32> {
        let mut r = Resampler::new(from, to);
        let mut out = Vec::new();
        for chunk in input.chunks(1000 + 152) {
            r.push(chunk, &mut out);
        }
        out
    }

    #[test]
    fn keeps_length_and_pass_band_level() {
        for from in [44_100, 48_000, 22_050, 16_000, 8_000] {
            let input = sine(440.0, from, 2.0);
            let out = run(from, 22_050, &input);
            let expected = 2.0 * 22_050.0;
            assert!(
                (out.len() as f32 - expected).abs() < 40.0,
                "{from}: {}",
                out.len()
            );
            let level = rms(&out[200..out.len() - 200]);
            assert!(
                (level - std::f32::consts::FRAC_1_SQRT_2).abs() < 0.01,
                "{from}: rms {level}"
            );
        }
    }

    #[test]
    fn removes_what_would_alias() {
        // 15 kHz cannot exist at 22 050 Hz: it must go, not fold down to 7 kHz.
        let out = run(44_100, 22_050, &sine(15_000.0, 44_100, 1.0));
        assert!(rms(&out[200..out.len() - 200]) < 0.01);
    }

    #[test]
    fn same_rate_is_a_copy() {
        // Delayed by one sample, which arrives with the next input.
        let input = sine(1000.0, 22_050, 0.1);
        assert_eq!(run(22_050, 22_050, &input), input[..input.len() - 1]);
    }
}
