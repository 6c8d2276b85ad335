//! A folder of PNG/JPEG images played as a camera: demos, tests and benches.

use crate::camera::{image, CameraError, FrameSource, GrayFrame};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The images of one folder (or one image file), sorted by file name, one per
/// `next_frame`, paced at `fps` unless `paced(false)`. Files that are not `.png`, `.jpg`
/// or `.jpeg` are skipped; a file that does not decode is a `BadFrame` naming it, and the
/// next call moves on. At the end it starts over when looping, else it is `Unavailable`.
pub struct DirSource {
    dir: PathBuf,
    files: Vec<PathBuf>,
    next: usize,
    looping: bool,
    interval: Option<Duration>,
    due: Option<Instant>,
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
}

impl DirSource {
    pub fn open(dir: impl AsRef<Path>, fps: u32, looping: bool) -> Result<DirSource, CameraError> {
        let dir = dir.as_ref().to_path_buf();
        let unavailable = |message: String| CameraError::Unavailable {
            device: dir.display().to_string(),
            message,
        };
        let mut files = if dir.is_file() {
            vec![dir.clone()]
        } else {
            std::fs::read_dir(&dir)
                .map_err(|e| unavailable(format!("cannot read the image folder: {e}")))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| is_image(p) && p.is_file())
                .collect()
        };
        files.sort();
        if files.is_empty() {
            return Err(unavailable("no .png or .jpg images".into()));
        }
        Ok(DirSource {
            dir,
            files,
            next: 0,
            looping,
            interval: (fps > 0).then(|| Duration::from_secs(1) / fps),
            due: None,
        })
    }

    /// `false` reads as fast as the caller asks (tests, benches).
    pub fn paced(mut self, paced: bool) -> DirSource {
        if !paced {
            self.interval = None;
        }
        self
    }

    /// The images it plays, in order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    fn wait_turn(&mut self) {
        let Some(interval) = self.interval else {
            return;
        };
        let now = Instant::now();
        match self.due {
            Some(due) if due > now => std::thread::sleep(due - now),
            _ => {}
        }
        // Late callers do not get a burst of catch-up frames.
        self.due = Some(self.due.map_or(now, |d| d.max(now)) + interval);
    }
}

impl FrameSource for DirSource {
    fn next_frame(&mut self) -> Result<GrayFrame, CameraError> {
        if self.next == self.files.len() {
            if !self.looping {
                return Err(CameraError::Unavailable {
                    device: self.dir.display().to_string(),
                    message: format!("end of the {} images", self.files.len()),
                });
            }
            self.next = 0;
        }
        self.wait_turn();
        let path = &self.files[self.next];
        self.next += 1;
        image::load_gray(path).map_err(|message| CameraError::BadFrame {
            device: self.dir.display().to_string(),
            message,
        })
    }

    fn describe(&self) -> String {
        let pace = match self.interval {
            Some(i) => format!("{:.1} fps", 1.0 / i.as_secs_f32()),
            None => "unpaced".into(),
        };
        format!(
            "image folder {} ({} images, {pace}{})",
            self.dir.display(),
            self.files.len(),
            if self.looping { ", looping" } else { "" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_png(value: u8) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, 2, 2);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[value; 4]).unwrap();
        w.finish().unwrap();
        out
    }

    #[test]
    fn plays_images_in_name_order_and_loops() {
        let dir = tempfile::tempdir().unwrap();
        for (name, v) in [("b.png", 2), ("a.PNG", 1), ("c.png", 3)] {
            std::fs::write(dir.path().join(name), tiny_png(v)).unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), "not an image").unwrap();
        std::fs::create_dir(dir.path().join("sub.png")).unwrap();
        let mut src = DirSource::open(dir.path(), 1000, true)
            .unwrap()
            .paced(false);
        assert_eq!(src.files().len(), 3);
        let values: Vec<u8> = (0..7).map(|_| src.next_frame().unwrap().data[0]).collect();
        assert_eq!(values, [1, 2, 3, 1, 2, 3, 1]);
        assert!(src.describe().contains("3 images"), "{}", src.describe());
    }

    #[test]
    fn ends_when_not_looping_and_paces_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("one.png"), tiny_png(9)).unwrap();
        let mut src = DirSource::open(dir.path().join("one.png"), 200, false).unwrap();
        let start = Instant::now();
        assert_eq!(src.next_frame().unwrap().data, [9; 4]);
        assert!(matches!(
            src.next_frame(),
            Err(CameraError::Unavailable { .. })
        ));
        let mut looped = DirSource::open(dir.path(), 200, true).unwrap();
        for _ in 0..3 {
            looped.next_frame().unwrap();
        }
        // Three frames at 200 fps take at least two intervals.
        assert!(start.elapsed() >= Duration::from_millis(10));
    }

    #[test]
    fn empty_or_missing_folder_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("readme.txt"), "x").unwrap();
        let err = DirSource::open(dir.path(), 10, true).err().unwrap();
        assert!(matches!(err, CameraError::Unavailable { .. }), "{err}");
        let err = DirSource::open(dir.path().join("gone"), 10, true)
            .err()
            .unwrap();
        assert!(err.to_string().contains("gone"), "{err}");
    }
}
