//! Analysing the library: every track that is new, changed, or asked to be redone, one at a
//! time, each stored in its own committed transaction — so a run that is stopped (Ctrl-C,
//! the daemon shutting down, a power cut) resumes where it was and loses nothing.
//!
//! A file that cannot be analysed is reported by path and skipped; it is remembered as
//! failed (not retried until it changes) but not marked broken: whether a track plays is
//! for the player to find out.

use super::{analyze, AnalysisError};
use crate::music::library::{Library, LibraryError};
use crate::music::scan;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct AnalyzeReport {
    /// Tracks that needed analysis when the run began.
    pub pending: usize,
    /// Tracks analysed and stored.
    pub analysed: usize,
    /// Tracks whose valence/energy came from this analysis (the others keep imported or
    /// tagged features).
    pub features_changed: usize,
    /// Files that could not be analysed, and why.
    pub problems: Vec<(PathBuf, String)>,
    /// The stop flag ended the run before every pending track was done.
    pub stopped: bool,
}

impl AnalyzeReport {
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} of {} tracks analysed, {} took valence/energy from the analysis, {} unreadable",
            self.analysed,
            self.pending,
            self.features_changed,
            self.problems.len()
        );
        if self.stopped {
            let left = self.pending - self.analysed - self.problems.len();
            s.push_str(&format!(
                "; stopped with {left} to go (run again to continue)"
            ));
        }
        s
    }
}

/// Analyses every track that needs it (`Library::tracks_needing_analysis`), calling
/// `progress(done, total, path)` after each, and stops between tracks once `stop` is set.
/// Only database errors end the run early with an error.
pub fn run_pending(
    lib: &Library,
    progress: &mut dyn FnMut(usize, usize, &Path),
    stop: &AtomicBool,
) -> Result<AnalyzeReport, LibraryError> {
    let pending = lib.tracks_needing_analysis()?;
    let mut report = AnalyzeReport {
        pending: pending.len(),
        ..Default::default()
    };
    for (done, (id, path, mtime)) in pending.iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            report.stopped = true;
            break;
        }
        match analyze(path) {
            Ok(a) => {
                // Tracks indexed before ReplayGain tags were read get them now.
                if let Ok(rg) = scan::read_replaygain(path) {
                    lib.set_replaygain(*id, rg)?;
                }
                if lib.store_analysis(*id, *mtime, &a)? {
                    report.features_changed += 1;
                }
                report.analysed += 1;
                log::debug!(
                    "{}: {:.1} LUFS, {:.1} dBTP, {:.0} BPM, {}, valence {:.2}, energy {:.2}",
                    path.display(),
                    a.loudness.integrated_lufs,
                    a.loudness.true_peak_dbtp,
                    a.rhythm.tempo_bpm,
                    a.key,
                    a.valence,
                    a.energy
                );
            }
            Err(e) => {
                let message = without_path(&e, path);
                log::warn!("{}: not analysed: {message}", path.display());
                // A file that cannot be opened may be on its way (or gone): try it again
                // next time. One that opens but does not decode waits until it changes.
                if !matches!(e, AnalysisError::Open { .. }) {
                    lib.store_analysis_failure(*id, *mtime, &message)?;
                }
                report.problems.push((path.clone(), message));
            }
        }
        progress(done + 1, pending.len(), path);
    }
    if report.analysed + report.problems.len() > 0 {
        log::info!("analysis: {}", report.summary());
    }
    Ok(report)
}

/// The error's message without the leading "PATH: " its `Display` starts with.
fn without_path(e: &AnalysisError, path: &Path) -> String {
    let text = e.to_string();
    text.strip_prefix(&format!("{}: ", path.display()))
        .map_or_else(|| text.clone(), str::to_string)
}
