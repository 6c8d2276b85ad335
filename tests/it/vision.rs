//! Faces in whole frames: SeetaFace on the Yale frames (exactly one face each) and the VOC
//! photos (recall and false positives), tracking against full searches, `eval-frames`,
//! `detect --annotate`, `camera-test`, the camera thread over a fake camera, and the daemon
//! on a folder of Yale frames (happy, then sad).
//!
//! Frames come from ../shared/data/faces (skipped with a message when absent); the emotion
//! model from `MOODBOX_MODEL_DIR` (e.g. a stand-in export) or models/ (skipped when absent).

use crate::util;
use moodbox::camera::image::load_gray;
use moodbox::camera::{CameraError, FrameSource, GrayFrame};
use moodbox::daemon::debounce::Observation;
use moodbox::daemon::EmotionSource;
use moodbox::emotion::model::EmotionModel;
use moodbox::vision::cli::{self, labelled_frames};
use moodbox::vision::crop::crop_face;
use moodbox::vision::detect::FaceDetector;
use moodbox::vision::follow::{Template, MIN_CORRELATION};
use moodbox::vision::pipeline::{CameraEmotions, FacePipeline, PipelineSettings};
use moodbox::vision::track::largest;
use moodbox::vision::FaceBox;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

fn data(sub: &str) -> Option<PathBuf> {
    let p = util::repo().join("../shared/data/faces").join(sub);
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipping: {} is absent", p.display());
        None
    }
}

fn model() -> Option<PathBuf> {
    util::model_file("emotion-int8.onnx")
}

fn yale_frames(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    v.sort();
    v
}

#[test]
fn detector_finds_exactly_one_face_in_every_yale_frame() {
    let Some(dir) = data("yale") else { return };
    let frames = yale_frames(&dir);
    assert_eq!(frames.len(), 164);
    let mut d = FaceDetector::new(40);
    let start = Instant::now();
    let wrong: Vec<String> = frames
        .iter()
        .filter_map(|p| {
            let faces = d.detect(&load_gray(p).unwrap());
            (faces.len() != 1).then(|| format!("{}: {faces:?}", p.display()))
        })
        .collect();
    eprintln!(
        "Yale: {}/{} frames with exactly one face, {:.1} ms/frame",
        frames.len() - wrong.len(),
        frames.len(),
        start.elapsed().as_secs_f64() * 1000.0 / frames.len() as f64
    );
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// `<image file='x.jpg' ...> <box top='..' left='..' width='..' height='..'/> ...`
fn voc_boxes(xml: &str) -> Vec<(String, Vec<FaceBox>)> {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!(" {name}='"))? + name.len() + 3;
        Some(tag[start..].split('\'').next()?.to_string())
    };
    let num = |tag: &str, name: &str| attr(tag, name).unwrap().parse::<i32>().unwrap();
    let mut out = vec![];
    for image in xml.split("<image ").skip(1) {
        let file = attr(&format!(" {image}"), "file").unwrap();
        let body = image.split("</image>").next().unwrap();
        let boxes = body
            .split("<box ")
            .skip(1)
            .map(|b| {
                let b = format!(" {}", b.split("/>").next().unwrap());
                FaceBox {
                    x: num(&b, "left"),
                    y: num(&b, "top"),
                    width: num(&b, "width") as u32,
                    height: num(&b, "height") as u32,
                    score: 0.0,
                }
            })
            .collect();
        out.push((file, boxes));
    }
    out
}

#[test]
fn voc_recall_at_iou_half_is_at_least_93_percent() {
    let Some(dir) = data("voc") else { return };
    let mut images = vec![];
    for xml in ["training.xml", "testing.xml"] {
        images.extend(voc_boxes(&std::fs::read_to_string(dir.join(xml)).unwrap()));
    }
    // The labelled faces go down to 37 px: look for 30 px ones (the frame is enlarged).
    let mut d = FaceDetector::new(30);
    let (mut truth, mut hits, mut false_pos) = (0, 0, 0);
    for (file, boxes) in &images {
        let found = d.detect(&load_gray(&dir.join(file)).unwrap());
        let mut used = vec![false; found.len()];
        for b in boxes {
            let best = (0..found.len())
                .filter(|&i| !used[i])
                .max_by(|&i, &j| b.iou(&found[i]).total_cmp(&b.iou(&found[j])));
            if let Some(i) = best.filter(|&i| b.iou(&found[i]) >= 0.5) {
                used[i] = true;
                hits += 1;
            }
        }
        let fp = used.iter().filter(|u| !**u).count();
        eprintln!(
            "VOC {file}: {} faces labelled, {} found, {} false positives",
            boxes.len(),
            found.len(),
            fp
        );
        truth += boxes.len();
        false_pos += fp;
    }
    let recall = hits as f64 / truth as f64;
    eprintln!(
        "VOC: recall {hits}/{truth} = {recall:.3} at IoU >= 0.5; {false_pos} false positives in {} \
         images ({:.2} per image)",
        images.len(),
        false_pos as f64 / images.len() as f64
    );
    assert!(recall >= 0.93, "recall {recall:.3}");
}

#[test]
fn tracking_follows_the_same_face_a_full_search_finds() {
    let Some(dir) = data("yale") else { return };
    let paths = yale_frames(&dir);
    let settings = PipelineSettings {
        full_search_every: 100,
        ..PipelineSettings::default()
    };
    let mut tracked = FacePipeline::new(settings, None);
    let mut full = FaceDetector::new(40);
    let (mut tracked_frames, mut ious) = (0, vec![]);
    // Each subject's eleven frames in a row, as if they sat in front of the camera.
    for subject in 1..=15 {
        tracked.reset();
        let prefix = format!("subject{subject:02}.");
        for p in paths
            .iter()
            .filter(|p| p.to_str().unwrap().contains(&prefix))
        {
            let f = load_gray(p).unwrap();
            let r = tracked.process(&f);
            tracked_frames += usize::from(!r.full_search);
            let t = r.face.expect("tracked face");
            let want = largest(&full.detect(&f)).unwrap();
            // Same face (the usual IoU >= 0.5); the boxes differ by the detector's jitter
            // between scales.
            assert!(
                t.iou(&want) >= 0.5,
                "{}: tracked {t:?}, full search {want:?}",
                p.display()
            );
            ious.push(t.iou(&want));
        }
    }
    let mean = ious.iter().sum::<f64>() / ious.len() as f64;
    eprintln!(
        "tracking: {tracked_frames}/{} frames followed or searched around the last face; \
         IoU with a full search: mean {mean:.3}, min {:.3}",
        ious.len(),
        ious.iter().copied().fold(1.0, f64::min)
    );
    assert_eq!(
        tracked_frames,
        164 - 15,
        "every frame but a subject's first is followed or searched around the face"
    );
    assert!(mean >= 0.8, "mean IoU {mean:.3}");
}

#[test]
fn eval_frames_counts_the_60_labelled_yale_frames() {
    let (Some(dir), Some(model)) = (data("yale"), model()) else {
        return;
    };
    let mut out = vec![];
    let r = cli::eval_frames(
        &dir,
        &model,
        false,
        PipelineSettings::default(),
        false,
        &mut out,
    )
    .unwrap();
    assert_eq!((r.frames, r.skipped), (60, 104));
    assert_eq!(r.metrics.total, 60);
    assert_eq!(r.frames_with_face, 60);
    assert_eq!(
        r.metrics.confusion.total() + r.no_face.iter().sum::<u64>(),
        60
    );
    for (e, n) in [
        ("happy", 15),
        ("sad", 15),
        ("surprise", 15),
        ("neutral", 15),
    ] {
        let c = r.metrics.per_class.iter().find(|c| c.emotion.name() == e);
        assert_eq!(c.unwrap().support, n, "{e}");
    }
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("60 labelled (104 unlabelled skipped)"),
        "{text}"
    );
    assert!(text.contains("no face"), "{text}");
    let mut json = vec![];
    cli::eval_frames(
        &dir,
        &model,
        false,
        PipelineSettings::default(),
        true,
        &mut json,
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["frames"], 60);
    assert_eq!(v["no_face"].as_array().unwrap().len(), 7);
    assert_eq!(v["results"].as_array().unwrap().len(), 60);
    assert_eq!(v["confusion"]["counts"].as_array().unwrap().len(), 7);
    eprintln!(
        "eval-frames (Yale, {}): accuracy {:.3}",
        model.display(),
        r.metrics.accuracy
    );
}

#[test]
fn detect_prints_faces_and_writes_indexed_annotations() {
    let Some(dir) = data("yale") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let images = [
        dir.join("subject01.happy.png"),
        dir.join("subject02.sad.png"),
    ];
    let model = model().map(|p| EmotionModel::load(&p, false).unwrap());
    let with_model = model.is_some();
    let mut out = vec![];
    let target = tmp.path().join("out.png");
    let n = cli::detect(
        &images,
        Some(&target),
        model,
        PipelineSettings::default(),
        &mut out,
    )
    .unwrap();
    assert_eq!(n, 2);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.matches("320x243, 1 face\n").count(), 2, "{text}");
    if with_model {
        assert!(text.contains("neutral 0."), "{text}");
    }
    for i in [1, 2] {
        let img = load_gray(&tmp.path().join(format!("out-{i}.png"))).unwrap();
        assert_eq!((img.width, img.height), (320, 243));
    }
    let e = cli::detect(
        &[tmp.path().join("missing.png")],
        None,
        None,
        PipelineSettings::default(),
        &mut vec![],
    )
    .unwrap_err();
    assert!(e.to_string().contains("missing.png"), "{e}");
}

/// Frames from a list, one per `interval`, then "no frame" errors.
struct FakeCamera {
    frames: VecDeque<GrayFrame>,
    interval: Duration,
}

impl FrameSource for FakeCamera {
    fn next_frame(&mut self) -> Result<GrayFrame, CameraError> {
        std::thread::sleep(self.interval);
        self.frames.pop_front().ok_or(CameraError::Timeout {
            device: "fake".into(),
            timeout: self.interval,
        })
    }

    fn describe(&self) -> String {
        "fake camera, 320x243 GREY".into()
    }
}

fn blank() -> GrayFrame {
    GrayFrame::new(320, 243, vec![128; 320 * 243]).unwrap()
}

/// Runs `CameraEmotions` on `frames` until `want` observations or `limit`.
fn observe(frames: Vec<GrayFrame>, interval: Duration, want: usize) -> Vec<Observation> {
    let model = EmotionModel::load(&model().unwrap(), false).unwrap();
    let cam = FakeCamera {
        frames: frames.into(),
        interval,
    };
    let source = CameraEmotions::new(Box::new(cam), PipelineSettings::default(), model, 100.0);
    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let stop = stop.clone();
        std::thread::spawn(move || Box::new(source).run(tx, stop))
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = vec![];
    while got.len() < want && Instant::now() < deadline {
        if let Ok(o) = rx.recv_timeout(Duration::from_millis(100)) {
            got.push(o);
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    got.extend(rx.try_iter());
    stop.store(true, Ordering::Relaxed);
    thread.join().unwrap();
    got
}

#[test]
fn camera_thread_sends_face_for_faces_and_no_face_for_a_blank_frame() {
    let (Some(dir), Some(_)) = (data("yale"), model()) else {
        return;
    };
    let yale = |n: &str| load_gray(&dir.join(n)).unwrap();
    let frames = vec![
        yale("subject01.happy.png"),
        yale("subject01.normal.png"),
        blank(),
        yale("subject05.sad.png"),
    ];
    // One frame per 400 ms: slower than the pipeline, so none is dropped.
    let got = observe(frames, Duration::from_millis(400), 4);
    let kinds: Vec<&str> = got
        .iter()
        .map(|o| match o {
            Observation::Face(_) => "face",
            Observation::NoFace => "no face",
        })
        .collect();
    assert_eq!(kinds, ["face", "face", "no face", "face"]);
}

#[test]
fn camera_thread_drops_stale_frames_instead_of_queueing_them() {
    if model().is_none() {
        return;
    }
    // 40 frames as fast as the fake camera can: most are replaced before they are read.
    let got = observe(vec![blank(); 40], Duration::ZERO, 40);
    assert!(
        !got.is_empty() && got.len() < 40,
        "{} observations",
        got.len()
    );
    assert!(got.iter().all(|o| *o == Observation::NoFace));
}

#[test]
fn camera_test_reports_format_rate_and_faces() {
    let Some(dir) = data("yale") else { return };
    let frames: Vec<GrayFrame> = yale_frames(&dir)[..6]
        .iter()
        .map(|p| load_gray(p).unwrap())
        .collect();
    let mut cam = FakeCamera {
        frames: frames.into(),
        interval: Duration::from_millis(100),
    };
    let mut pipeline = FacePipeline::new(PipelineSettings::default(), None);
    let mut out = vec![];
    let s = cli::camera_test(&mut cam, &mut pipeline, 1.5, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with("camera: fake camera, 320x243 GREY\n"),
        "{text}"
    );
    assert!(text.contains(" fps  faces/frame"), "{text}");
    assert_eq!((s.frames, s.frames_with_face), (6, 6), "{text}");
    assert!(s.errors >= 1, "{text}");
    // No frame at all is an error.
    let mut dead = FakeCamera {
        frames: VecDeque::new(),
        interval: Duration::from_millis(50),
    };
    let e = cli::camera_test(&mut dead, &mut pipeline, 0.3, &mut vec![]).unwrap_err();
    assert!(e.to_string().contains("fake"), "{e}");
}

/// The crop-scale sweep behind `crop::DEFAULT_CROP_SCALE`: end-to-end accuracy on the 60
/// labelled Yale frames for each scale, with the mean probability given to the true label
/// (a smoother figure than 60 right-or-wrong answers). Re-run when the model changes:
///     MOODBOX_MODEL_DIR=DIR cargo test --test it crop_scale_sweep -- --ignored --nocapture
#[test]
#[ignore]
fn crop_scale_sweep() {
    let (Some(dir), Some(model)) = (data("yale"), model()) else {
        return;
    };
    let (frames, _) = labelled_frames(&dir).unwrap();
    let mut d = FaceDetector::new(40);
    let faces: Vec<(GrayFrame, FaceBox)> = frames
        .iter()
        .map(|(p, _)| {
            let f = load_gray(p).unwrap();
            let b = largest(&d.detect(&f)).unwrap();
            (f, b)
        })
        .collect();
    for flip in [false, true] {
        let m = EmotionModel::load(&model, flip).unwrap();
        for scale in [0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.8, 2.0] {
            let (mut right, mut p_true) = (0, 0.0);
            for ((frame, b), (_, label)) in faces.iter().zip(&frames) {
                let p = m.classify(&crop_face(frame, b, scale)).unwrap();
                right += usize::from(p.top().0 == *label);
                p_true += p.get(*label) as f64 / frames.len() as f64;
            }
            eprintln!(
                "flip_tta {flip:5}  crop_scale {scale:.1}: accuracy {:.3} ({right}/{})  \
                 mean p(true label) {p_true:.3}",
                right as f64 / frames.len() as f64,
                frames.len()
            );
        }
    }
}

/// The daemon on a `dir` camera: Yale happy frames, then sad ones, and music for each.
/// The sad frames are those the shipped model reads as sad on their own (3 of 15 today:
/// the others read neutral, see `eval-frames`); the test is about the daemon following
/// the faces it sees, through the debouncer, to the song it picks.
#[test]
fn the_daemon_on_a_camera_folder_accepts_happy_then_sad_and_picks_music_for_each() {
    use crate::daemon::Daemon;
    use moodbox::control::Status;
    use moodbox::emotion::Emotion;
    let (Some(yale), Some(model_path)) = (data("yale"), model()) else {
        return;
    };
    let model = EmotionModel::load(&model_path, false).unwrap();
    let mut pipeline = FacePipeline::new(PipelineSettings::default(), Some(model));
    let read_as = |pipeline: &mut FacePipeline, p: &Path| {
        let r = pipeline.process_still(&load_gray(p).unwrap());
        r.probabilities.map(|p| p.top().0)
    };
    let frames = yale_frames(&yale);
    let of = |kind: &'static str| {
        frames
            .iter()
            .filter(move |p| p.to_str().unwrap().contains(kind))
    };
    let happy: Vec<&PathBuf> = of(".happy.").collect();
    let sad: Vec<&PathBuf> = of(".sad.")
        .filter(|p| read_as(&mut pipeline, p) == Some(Emotion::Sad))
        .collect();
    assert!(
        !sad.is_empty(),
        "the model reads none of the Yale sad frames as sad"
    );

    // The folder plays in name order at 10 fps: ~4.5 s of happy faces, then ~12 s of sad
    // ones, each sad face held for 3 s as a listener holds an expression. (A new face every
    // frame is a sequence no camera sees: the tracker follows each new face in the last
    // one's box until its next full search, and the model reads such crops less surely.)
    let dir = util::tempdir();
    let camera = dir.path().join("camera");
    std::fs::create_dir_all(&camera).unwrap();
    for i in 0..45 {
        let to = camera.join(format!("a{i:03}.png"));
        std::os::unix::fs::symlink(happy[i % happy.len()], to).unwrap();
    }
    for i in 0..120 {
        let to = camera.join(format!("b{i:03}.png"));
        std::os::unix::fs::symlink(sad[i / 30 % sad.len()], to).unwrap();
    }
    let music = dir.path().join("music");
    std::fs::create_dir_all(&music).unwrap();
    for (name, valence, energy) in [
        ("bright1", 0.9, 0.8),
        ("bright2", 0.85, 0.75),
        ("blue1", 0.1, 0.2),
        ("blue2", 0.15, 0.15),
    ] {
        moodbox::demo::synth_song(&music.join(format!("{name}.wav")), valence, energy, 60.0)
            .unwrap();
    }
    let db = dir.path().join("library.db");
    let scan = util::moodbox(&[
        "--database",
        db.to_str().unwrap(),
        "scan",
        "--analyze",
        music.to_str().unwrap(),
    ]);
    assert!(scan.status.success(), "{}", util::text(&scan));
    let config = format!(
        "[camera]\nsource = \"dir\"\ndevice = {camera:?}\nfps = 10\nanalysis_fps = 10.0\n\
         [model]\npath = {model_path:?}\n[debounce]\nalpha = 0.5\ndwell_secs = 1.0\n\
         min_interval_secs = 3.0\n[recommend]\ncut_on_change = true\n"
    );
    let mut daemon = Daemon::start_with_camera(dir, &config);
    let playing = |s: &Status, prefix: &str| s.track.as_deref().is_some_and(|t| t.contains(prefix));
    daemon.wait_for(|s| s.emotion == Some(Emotion::Happy) && playing(s, "bright"));
    daemon.wait_for(|s| s.emotion == Some(Emotion::Sad) && playing(s, "blue"));
    daemon.signal(libc::SIGTERM);
    assert!(daemon.wait_exit().success());
}

/// Template following on consecutive Yale frames (a new expression or light each frame, a
/// harder sequence than a camera's): every match it accepts sits on the face a full search
/// finds, the same box moved to the frame's corner (background) is never accepted, and at
/// least 40% of the frame changes are followed. (At 0.75, one followed box would sit off
/// the face, IoU 0.33, and one background patch would match; at 0.8, 74 of 163 changes are
/// followed, all with IoU >= 0.74.)
#[test]
fn following_accepts_only_matches_on_the_face() {
    let Some(dir) = data("yale") else { return };
    let mut detector = FaceDetector::new(40);
    let frames: Vec<(GrayFrame, FaceBox)> = yale_frames(&dir)
        .iter()
        .map(|p| {
            let f = load_gray(p).unwrap();
            let face = largest(&detector.detect(&f)).unwrap();
            (f, face)
        })
        .collect();
    let mut followed = 0;
    for pair in frames.windows(2) {
        let ((before, last), (now, truth)) = (&pair[0], &pair[1]);
        let template = Template::capture(before, last).unwrap();
        if let Some((face, c)) = template.locate(now, last) {
            assert!(c >= MIN_CORRELATION);
            assert!(
                face.iou(truth) >= 0.7,
                "followed to {face:?}, the face is at {truth:?}"
            );
            followed += 1;
        }
        let corner = FaceBox {
            x: 0,
            y: 0,
            ..*last
        };
        assert!(template.locate(now, &corner).is_none());
    }
    eprintln!(
        "following: {followed}/{} frame changes followed",
        frames.len() - 1
    );
    assert!(
        followed * 10 >= (frames.len() - 1) * 4,
        "{followed} followed"
    );
}
