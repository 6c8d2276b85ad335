//! One frame in, faces and emotion probabilities out (`FacePipeline`), and the vision
//! thread that feeds the daemon from a camera (`CameraEmotions`).
//!
//! The camera is read on a thread of its own that keeps only the newest frame: when the
//! pipeline is slower than the camera, stale frames are dropped, never queued, so the
//! emotion always describes the listener now. Camera errors are logged (at most one line per
//! `LOG_EVERY`) and reading goes on: the daemon keeps playing on its current mood meanwhile.

use super::crop::{crop_face, DEFAULT_CROP_SCALE};
use super::detect::{FaceDetector, WINDOW};
use super::follow::Template;
use super::track::{Search, Tracker};
use super::{FaceBox, VisionError};
use crate::camera::{CameraError, FrameSource, GrayFrame};
use crate::config::Config;
use crate::daemon::debounce::Observation;
use crate::daemon::EmotionSource;
use crate::emotion::model::EmotionModel;
use crate::emotion::preprocess::Face;
use crate::emotion::Probabilities;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How the pipeline looks for faces and frames them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PipelineSettings {
    /// Smallest face to find, in pixels of the frame.
    pub min_face: u32,
    /// A full-frame search at least every N frames (1 = every frame, no tracking).
    pub full_search_every: u32,
    /// Side of the face crop as a multiple of the detected box.
    pub crop_scale: f32,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        PipelineSettings {
            min_face: 40,
            full_search_every: 10,
            crop_scale: DEFAULT_CROP_SCALE,
        }
    }
}

impl PipelineSettings {
    pub fn from_config(cfg: &Config) -> PipelineSettings {
        PipelineSettings {
            min_face: cfg.camera.min_face,
            full_search_every: cfg.camera.full_search_every,
            crop_scale: cfg.camera.crop_scale,
        }
    }
}

/// What one frame showed.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameResult {
    /// Faces found by this frame's search (only those near the listener while tracking).
    pub faces: Vec<FaceBox>,
    /// The face followed and classified: the largest at a full search.
    pub face: Option<FaceBox>,
    /// Its 48x48 crop, as the model saw it.
    pub crop: Option<Box<Face>>,
    /// Its emotion; `None` without a face, without a model, or when inference failed.
    pub probabilities: Option<Probabilities>,
    /// Whether the whole frame was searched (else the face was followed or searched around).
    pub full_search: bool,
}

/// Detector + tracker + emotion model, run frame by frame. Not `Send`: build it on the
/// thread that uses it.
pub struct FacePipeline {
    detector: FaceDetector,
    tracker: Tracker,
    /// The followed face as the detector last found it.
    template: Option<Template>,
    model: Option<EmotionModel>,
    settings: PipelineSettings,
    errors: RateLimit,
}

impl FacePipeline {
    /// Without a model, `process` finds and follows faces but reports no probabilities.
    pub fn new(settings: PipelineSettings, model: Option<EmotionModel>) -> FacePipeline {
        FacePipeline {
            detector: FaceDetector::new(settings.min_face),
            tracker: Tracker::new(settings.full_search_every),
            template: None,
            model,
            settings,
            errors: RateLimit::new(LOG_EVERY),
        }
    }

    pub fn settings(&self) -> PipelineSettings {
        self.settings
    }

    pub fn model(&self) -> Option<&EmotionModel> {
        self.model.as_ref()
    }

    pub fn detector(&mut self) -> &mut FaceDetector {
        &mut self.detector
    }

    /// Forgets the followed face: the next frame gets a full search.
    pub fn reset(&mut self) {
        self.tracker.reset();
        self.template = None;
    }

    /// Finds (or follows) the listener's face in `frame` and classifies it.
    pub fn process(&mut self, frame: &GrayFrame) -> FrameResult {
        let (faces, face, full_search) = self.find(frame);
        let crop = face.map(|f| Box::new(crop_face(frame, &f, self.settings.crop_scale)));
        let probabilities = match (&self.model, &crop) {
            (Some(model), Some(crop)) => match model.classify(crop) {
                Ok(p) => Some(p),
                Err(e) => {
                    if let Some(n) = self.errors.allow(Instant::now()) {
                        log::warn!("{e}{}", suppressed(n));
                    }
                    None
                }
            },
            _ => None,
        };
        FrameResult {
            faces,
            face,
            crop,
            probabilities,
            full_search,
        }
    }

    /// A frame unrelated to the previous ones (a photo): always a full search.
    pub fn process_still(&mut self, frame: &GrayFrame) -> FrameResult {
        self.reset();
        self.process(frame)
    }

    fn find(&mut self, frame: &GrayFrame) -> (Vec<FaceBox>, Option<FaceBox>, bool) {
        loop {
            let search = self.tracker.plan(frame.width, frame.height);
            let faces = match search {
                Search::Full => self.detector.detect(frame),
                Search::Around(region) => {
                    let scale = region_scale(&self.detector, self.tracker.face());
                    self.detector.detect_in(frame, region, scale)
                }
                Search::Follow(last) => {
                    let found = self.template.as_ref().and_then(|t| t.locate(frame, &last));
                    found.map(|(face, _)| face).into_iter().collect()
                }
            };
            let face = self.tracker.update(search, &faces);
            if !matches!(search, Search::Follow(_)) {
                self.template = face.and_then(|f| Template::capture(frame, &f));
            }
            // A failed follow is followed by a region search on this frame, and a region
            // search that lost the face by a full one.
            if face.is_some() || search == Search::Full {
                return (faces, face, search == Search::Full);
            }
        }
    }
}

/// Scale for a region search: the followed face at 1.5 windows (so it may shrink to 0.67x
/// or grow to twice its size and still be found), never finer than a full search.
fn region_scale(detector: &FaceDetector, face: Option<FaceBox>) -> f32 {
    let full = detector.frame_scale();
    match face {
        Some(f) => (1.5 * WINDOW as f32 / f.width.max(f.height).max(1) as f32).min(full),
        None => full,
    }
}

// ----------------------------------------------------------------------------- the thread

/// At most one log line per this long for a repeating error.
pub const LOG_EVERY: Duration = Duration::from_secs(30);
/// How many face crops `debug_snapshots` keeps.
pub const SNAPSHOTS_KEPT: usize = 20;

/// The camera as the daemon's emotion source: reads frames on its own thread, keeps the
/// newest, runs the pipeline at most `fps` times a second and sends one observation per
/// processed frame (`Face` or `NoFace`).
pub struct CameraEmotions {
    source: Box<dyn FrameSource>,
    settings: PipelineSettings,
    model: EmotionModel,
    fps: f64,
    snapshots: Option<PathBuf>,
}

impl CameraEmotions {
    pub fn new(
        source: Box<dyn FrameSource>,
        settings: PipelineSettings,
        model: EmotionModel,
        fps: f64,
    ) -> CameraEmotions {
        CameraEmotions {
            source,
            settings,
            model,
            fps,
            snapshots: None,
        }
    }

    /// The daemon's source from its config: the model from `[model]`, the rate and the
    /// pipeline settings from `[camera]`, snapshots in `state_dir/snapshots` when
    /// `camera.debug_snapshots` is set.
    pub fn from_config(
        source: Box<dyn FrameSource>,
        cfg: &Config,
    ) -> Result<CameraEmotions, VisionError> {
        let model = EmotionModel::load(&cfg.model.path, cfg.model.flip_tta)?;
        let mut cam = CameraEmotions::new(
            source,
            PipelineSettings::from_config(cfg),
            model,
            cfg.camera.analysis_fps as f64,
        );
        if cfg.camera.debug_snapshots {
            cam = cam.with_snapshots(cfg.paths.state_dir.join("snapshots"));
        }
        Ok(cam)
    }

    /// Keep the last `SNAPSHOTS_KEPT` face crops as PNG files in `dir` (for debugging the
    /// framing; nothing else of a frame is ever written).
    pub fn with_snapshots(mut self, dir: PathBuf) -> CameraEmotions {
        self.snapshots = Some(dir);
        self
    }
}

impl EmotionSource for CameraEmotions {
    fn run(self: Box<Self>, tx: Sender<Observation>, stop: Arc<AtomicBool>) {
        let CameraEmotions {
            mut source,
            settings,
            model,
            fps,
            snapshots,
        } = *self;
        let latest = Arc::new(Latest::default());
        let quit = Arc::new(AtomicBool::new(false));
        let reader = {
            let (latest, quit, stop) = (latest.clone(), quit.clone(), stop.clone());
            thread::Builder::new()
                .name("camera".into())
                .spawn(move || read_frames(source.as_mut(), &latest, &quit, &stop))
        };
        if let Err(e) = &reader {
            log::error!("cannot start the camera thread: {e}");
            return;
        }
        let mut pipeline = FacePipeline::new(settings, Some(model));
        let mut ring = snapshots.map(|dir| SnapshotRing::new(dir, SNAPSHOTS_KEPT));
        let period = Duration::from_secs_f64(1.0 / fps.clamp(0.01, 1000.0));
        while !stop.load(Ordering::Relaxed) {
            let Some(frame) = latest.take(Duration::from_millis(200)) else {
                continue;
            };
            let started = Instant::now();
            let result = pipeline.process(&frame);
            let obs = match (result.faces.is_empty(), result.probabilities) {
                (_, Some(p)) => Some(Observation::Face(p)),
                (true, None) => Some(Observation::NoFace),
                // A face whose inference failed (already logged): nothing to report.
                (false, None) => None,
            };
            if let (Some(ring), Some(crop), Some(p)) =
                (&mut ring, &result.crop, &result.probabilities)
            {
                ring.save(crop, p);
            }
            if obs.is_some_and(|o| tx.send(o).is_err()) {
                break;
            }
            if let Some(rest) = period.checked_sub(started.elapsed()) {
                thread::sleep(rest);
            }
        }
        quit.store(true, Ordering::Relaxed);
        if let Ok(handle) = reader {
            let _ = handle.join();
        }
    }
}

/// The camera thread: reads frames until told to stop, keeping only the newest.
fn read_frames(
    source: &mut dyn FrameSource,
    latest: &Latest<GrayFrame>,
    quit: &AtomicBool,
    stop: &AtomicBool,
) {
    let mut limit = RateLimit::new(LOG_EVERY);
    let mut described = String::new();
    while !quit.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
        match source.next_frame() {
            Ok(frame) => {
                let now = source.describe();
                if now != described {
                    log::info!("camera: {now}");
                    described = now;
                }
                latest.put(frame);
            }
            Err(e) => {
                if let Some(n) = limit.allow(Instant::now()) {
                    log::warn!("camera: {e}{}", suppressed(n));
                }
                // A bad frame is followed by a good one; a missing camera is not coming
                // back within milliseconds.
                if !matches!(e, CameraError::BadFrame { .. }) {
                    thread::sleep(Duration::from_millis(500));
                }
            }
        }
    }
}

fn suppressed(n: u32) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" ({n} similar messages suppressed)")
    }
}

/// A one-item mailbox: `put` replaces what is there (counting the dropped item), `take`
/// waits for something.
#[derive(Debug)]
pub struct Latest<T> {
    slot: Mutex<(Option<T>, u64)>,
    ready: Condvar,
}

impl<T> Default for Latest<T> {
    fn default() -> Self {
        Latest {
            slot: Mutex::new((None, 0)),
            ready: Condvar::new(),
        }
    }
}

impl<T> Latest<T> {
    pub fn put(&self, item: T) {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if slot.0.replace(item).is_some() {
            slot.1 += 1;
        }
        self.ready.notify_one();
    }

    /// The newest item, waiting up to `timeout` for one.
    pub fn take(&self, timeout: Duration) -> Option<T> {
        let slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        let (mut slot, _) = self
            .ready
            .wait_timeout_while(slot, timeout, |s| s.0.is_none())
            .unwrap_or_else(|e| e.into_inner());
        slot.0.take()
    }

    /// Items replaced before anyone took them.
    pub fn dropped(&self) -> u64 {
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).1
    }
}

/// Lets one event through per `every`, counting the ones held back.
#[derive(Debug, Clone)]
pub struct RateLimit {
    every: Duration,
    last: Option<Instant>,
    held: u32,
}

impl RateLimit {
    pub fn new(every: Duration) -> RateLimit {
        RateLimit {
            every,
            last: None,
            held: 0,
        }
    }

    /// `Some(held back since the last one)` when this event may be logged.
    pub fn allow(&mut self, now: Instant) -> Option<u32> {
        match self.last {
            Some(t) if now.saturating_duration_since(t) < self.every => {
                self.held += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.held))
            }
        }
    }
}

/// The last `capacity` face crops as `face-NN.png` in a folder, overwritten in turn.
#[derive(Debug)]
pub struct SnapshotRing {
    dir: PathBuf,
    capacity: usize,
    next: usize,
    errors: RateLimit,
}

impl SnapshotRing {
    pub fn new(dir: PathBuf, capacity: usize) -> SnapshotRing {
        SnapshotRing {
            dir,
            capacity: capacity.max(1),
            next: 0,
            errors: RateLimit::new(LOG_EVERY),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the crop (with its top emotion in a PNG text chunk); errors are logged.
    pub fn save(&mut self, crop: &Face, p: &Probabilities) {
        let path = self.dir.join(format!("face-{:02}.png", self.next));
        self.next = (self.next + 1) % self.capacity;
        let (e, prob) = p.top();
        let note = format!("{e} {prob:.2}");
        let written = std::fs::create_dir_all(&self.dir)
            .map_err(|e| e.to_string())
            .and_then(|_| super::annotate::write_gray_png(&path, 48, 48, crop, Some(&note)));
        if let Err(e) = written {
            if let Some(n) = self.errors.allow(Instant::now()) {
                log::warn!(
                    "{}: cannot write a snapshot: {e}{}",
                    path.display(),
                    suppressed(n)
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emotion::Emotion;

    #[test]
    fn latest_keeps_only_the_newest_and_counts_the_dropped() {
        let l = Latest::default();
        assert_eq!(l.take(Duration::from_millis(1)), None::<u32>);
        l.put(1);
        l.put(2);
        l.put(3);
        assert_eq!(l.take(Duration::ZERO), Some(3));
        assert_eq!(l.take(Duration::from_millis(1)), None);
        assert_eq!(l.dropped(), 2);
        let l = Arc::new(Latest::default());
        let l2 = l.clone();
        let t = thread::spawn(move || l2.take(Duration::from_secs(5)));
        thread::sleep(Duration::from_millis(20));
        l.put("frame");
        assert_eq!(t.join().unwrap(), Some("frame"));
    }

    #[test]
    fn rate_limit_lets_one_through_per_period_and_counts_the_rest() {
        let mut r = RateLimit::new(Duration::from_secs(30));
        let t0 = Instant::now();
        assert_eq!(r.allow(t0), Some(0));
        assert_eq!(r.allow(t0 + Duration::from_secs(1)), None);
        assert_eq!(r.allow(t0 + Duration::from_secs(29)), None);
        assert_eq!(r.allow(t0 + Duration::from_secs(30)), Some(2));
        assert_eq!(r.allow(t0 + Duration::from_secs(31)), None);
    }

    #[test]
    fn snapshot_ring_overwrites_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let mut ring = SnapshotRing::new(dir.path().join("snapshots"), 3);
        let p = Probabilities::certain(Emotion::Happy);
        for _ in 0..7 {
            ring.save(&[128; 2304], &p);
        }
        let mut names: Vec<String> = std::fs::read_dir(ring.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["face-00.png", "face-01.png", "face-02.png"]);
        let img = crate::camera::image::load_gray(&ring.dir().join("face-00.png")).unwrap();
        assert_eq!((img.width, img.height, img.data[0]), (48, 48, 128));
    }

    #[test]
    fn region_scale_puts_the_face_at_one_and_a_half_windows() {
        let d = FaceDetector::new(40);
        let f = |side| FaceBox {
            x: 0,
            y: 0,
            width: side,
            height: side,
            score: 5.0,
        };
        assert_eq!(region_scale(&d, Some(f(120))), 0.5);
        // Small faces are never searched finer than the full frame.
        assert_eq!(region_scale(&d, Some(f(30))), 1.0);
        assert_eq!(region_scale(&d, None), 1.0);
    }
}
