//! Progress for long jobs (scan, eval, analysis): a bar on a terminal, and under systemd or
//! a pipe a plain log line at every tenth of the way.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;

pub struct Progress {
    bar: Option<ProgressBar>,
    what: &'static str,
    done: u64,
    total: u64,
    logged_tenths: u64,
}

impl Progress {
    /// `what` names the items counted ("files", "faces").
    pub fn new(what: &'static str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            let template = format!("{{bar:40}} {{pos}}/{{len}} {what}, eta {{eta}} {{wide_msg}}");
            bar.set_style(
                ProgressStyle::with_template(&template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Progress {
            bar,
            what,
            done: 0,
            total: 0,
            logged_tenths: 0,
        }
    }

    pub fn set(&mut self, done: u64, total: u64) {
        (self.done, self.total) = (done, total);
        match &self.bar {
            Some(bar) => {
                bar.set_length(total);
                bar.set_position(done);
            }
            None if total > 0 => {
                let tenths = done * 10 / total;
                if tenths > self.logged_tenths {
                    self.logged_tenths = tenths;
                    log::info!("{done}/{total} {}", self.what);
                }
            }
            None => {}
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl crate::music::scan::Progress for Progress {
    fn start(&mut self, total: u64) {
        self.set(0, total);
    }
    fn advance(&mut self, path: &Path) {
        if let Some(bar) = &self.bar {
            bar.set_message(
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
        }
        self.set(self.done + 1, self.total);
    }
    fn finish(&mut self) {
        Progress::finish(self);
    }
}
