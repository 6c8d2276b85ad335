//! Camera sources without a camera: an image folder, and a stand-in for rpicam-vid.

use moodbox::camera::convert::I420Layout;
use moodbox::camera::{Backoff, CameraError, DirSource, FrameSource, RpicamSource};
use std::path::Path;
use std::time::{Duration, Instant};

fn gray_png(width: u32, height: u32, value: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().unwrap();
    w.write_image_data(&vec![value; (width * height) as usize])
        .unwrap();
    w.finish().unwrap();
    out
}

#[test]
fn dir_source_plays_the_yale_faces() {
    let yale = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/faces/yale");
    if !yale.is_dir() {
        eprintln!("skipped: no Yale faces at {}", yale.display());
        return;
    }
    let mut src = DirSource::open(&yale, 10, false).unwrap().paced(false);
    let mut frames = 0;
    loop {
        match src.next_frame() {
            Ok(f) => {
                assert_eq!((f.width, f.height, f.data.len()), (320, 243, 320 * 243));
                frames += 1;
            }
            Err(CameraError::Unavailable { .. }) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(frames, 164);
}

#[test]
fn dir_source_skips_other_files_and_reports_a_corrupt_image() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("1-good.png"), gray_png(4, 3, 10)).unwrap();
    let mut corrupt = gray_png(4, 3, 20);
    corrupt.truncate(corrupt.len() / 2);
    std::fs::write(dir.path().join("2-corrupt.png"), corrupt).unwrap();
    std::fs::write(dir.path().join("2-notes.txt"), "not an image").unwrap();
    std::fs::write(dir.path().join("3-good.png"), gray_png(4, 3, 30)).unwrap();

    let mut src = DirSource::open(dir.path(), 10, false).unwrap().paced(false);
    assert_eq!(src.next_frame().unwrap().data, [10; 12]);
    match src.next_frame() {
        Err(e @ CameraError::BadFrame { .. }) => {
            assert!(e.to_string().contains("2-corrupt.png"), "{e}")
        }
        other => panic!("expected a bad frame, got {other:?}"),
    }
    assert_eq!(src.next_frame().unwrap().data, [30; 12]);
    assert!(matches!(
        src.next_frame(),
        Err(CameraError::Unavailable { .. })
    ));
}

/// A stand-in for `rpicam-vid`: counts its starts in `starts`, writes three I420 frames
/// of 100x6 pixels with 128-byte rows (Y = 10 x start, row padding 0xEE, chroma 0x80),
/// half a frame more, and exits.
const STAND_IN: &str = r#"
dir=$(dirname "$0")
n=$(cat "$dir/starts" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$dir/starts"
echo "stand-in start $n" >&2
o=$(printf '%03o' $((n * 10)))
f="$dir/frame.$n"
: > "$f"
r=0
while [ $r -lt 6 ]; do
    head -c 100 /dev/zero | tr '\000' "\\$o" >> "$f"
    head -c 28 /dev/zero | tr '\000' '\356' >> "$f"
    r=$((r + 1))
done
head -c 384 /dev/zero | tr '\000' '\200' >> "$f"
cat "$f" "$f" "$f"
head -c 500 "$f"
"#;

#[test]
fn rpicam_source_reads_strided_frames_and_restarts_the_program() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("rpicam-vid.sh");
    std::fs::write(&script, STAND_IN).unwrap();
    let starts = || {
        std::fs::read_to_string(dir.path().join("starts"))
            .map_or(0, |s| s.trim().parse::<u32>().unwrap())
    };
    let layout = I420Layout::rpicam(100, 6);
    assert_eq!(
        (layout.y_stride, layout.frame_len()),
        (128, 128 * 6 + 2 * 64 * 3)
    );

    // Run through sh: an executable written a moment ago can be "text file busy".
    let args = vec![script.to_str().unwrap().to_string()];
    let mut src = RpicamSource::with_command("/bin/sh", args, layout)
        .unwrap()
        .with_backoff(Backoff::new(
            Duration::from_millis(10),
            Duration::from_millis(40),
        ))
        .with_timeout(Duration::from_secs(20));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while seen.last().is_none_or(|&v| v < 30) && Instant::now() < deadline {
        match src.next_frame() {
            Ok(f) => {
                assert_eq!((f.width, f.height), (100, 6));
                let v = f.data[0];
                assert!(
                    f.data.iter().all(|&b| b == v),
                    "padding or chroma leaked in"
                );
                assert!(v > 0 && v % 10 == 0, "{v}");
                if seen.last() != Some(&v) {
                    seen.push(v);
                }
            }
            Err(CameraError::Unavailable { .. }) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => panic!("{e}"),
        }
    }
    // Frames from at least three runs of the program, in order.
    assert!(seen.last().is_some_and(|&v| v >= 30), "saw {seen:?}");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "saw {seen:?}");
    assert!(starts() >= 3);
    assert!(src.describe().contains("100x6"), "{}", src.describe());

    // Dropping the source stops the restarts.
    drop(src);
    let after = starts();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(starts(), after);
}
