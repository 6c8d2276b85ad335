//! USB webcams through V4L2: mmap streaming, GREY, YUYV or MJPEG, converted to gray.

use crate::camera::{convert, CameraError, FrameSource, GrayFrame};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;
use v4l::buffer::{Flags, Type};
use v4l::format::FourCC;
use v4l::frameinterval::FrameIntervalEnum;
use v4l::framesize::FrameSizeEnum;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::capture::Parameters;
use v4l::video::Capture;
use v4l::{Device, Format, Fraction};

/// The formats we read, best first: GREY is already gray, YUYV's luma is every other
/// byte, MJPEG needs a decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    Grey,
    Yuyv,
    Mjpeg,
}

impl PixelFormat {
    pub const PREFERENCE: [PixelFormat; 3] =
        [PixelFormat::Grey, PixelFormat::Yuyv, PixelFormat::Mjpeg];

    pub fn fourcc(self) -> FourCC {
        FourCC::new(match self {
            PixelFormat::Grey => b"GREY",
            PixelFormat::Yuyv => b"YUYV",
            PixelFormat::Mjpeg => b"MJPG",
        })
    }

    pub fn from_fourcc(fourcc: FourCC) -> Option<PixelFormat> {
        Self::PREFERENCE.into_iter().find(|p| p.fourcc() == fourcc)
    }

    /// One frame's bytes (already cut to `bytesused`) to gray.
    pub fn to_gray(
        self,
        data: &[u8],
        width: usize,
        height: usize,
        stride: usize,
    ) -> Result<GrayFrame, String> {
        match self {
            PixelFormat::Grey => convert::grey_to_gray(data, width, height, stride),
            PixelFormat::Yuyv => convert::yuyv_to_gray(data, width, height, stride),
            PixelFormat::Mjpeg => convert::mjpeg_to_gray(data),
        }
    }
}

/// Where a configured device name points: a path as is, `N` as `/dev/videoN`, a name
/// under /dev (`video0`) when that exists, else a name under `/dev/v4l/by-id/`.
pub fn device_path(name: &str) -> PathBuf {
    if name.contains('/') {
        PathBuf::from(name)
    } else if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        PathBuf::from(format!("/dev/video{name}"))
    } else if Path::new("/dev").join(name).exists() {
        Path::new("/dev").join(name)
    } else {
        Path::new("/dev/v4l/by-id").join(name)
    }
}

/// The supported size closest to the wanted one (stepwise ranges are clamped and rounded
/// to their step); ties go to the larger size.
pub fn closest_size(sizes: &[FrameSizeEnum], want: (u32, u32)) -> Option<(u32, u32)> {
    let snap = |v: u32, lo: u32, hi: u32, step: u32| {
        let v = v.clamp(lo, hi.max(lo));
        let step = step.max(1);
        (lo + (v - lo + step / 2) / step * step).min(hi.max(lo))
    };
    let dist = |(w, h): (u32, u32)| (w.abs_diff(want.0) + h.abs_diff(want.1), u32::MAX - w);
    sizes
        .iter()
        .map(|s| match s {
            FrameSizeEnum::Discrete(d) => (d.width, d.height),
            FrameSizeEnum::Stepwise(s) => (
                snap(want.0, s.min_width, s.max_width, s.step_width),
                snap(want.1, s.min_height, s.max_height, s.step_height),
            ),
        })
        .min_by_key(|&s| dist(s))
}

/// The frame interval to ask for: the discrete one whose rate is closest to `fps`, or
/// `1/fps` itself for a stepwise range (the driver clamps it).
pub fn closest_interval(intervals: &[FrameIntervalEnum], fps: u32) -> Fraction {
    let rate = |f: &Fraction| f.denominator as f64 / f.numerator.max(1) as f64;
    intervals
        .iter()
        .filter_map(|i| match i {
            FrameIntervalEnum::Discrete(f) => Some(*f),
            FrameIntervalEnum::Stepwise(_) => None,
        })
        .min_by(|a, b| {
            (rate(a) - fps as f64)
                .abs()
                .total_cmp(&(rate(b) - fps as f64).abs())
        })
        .unwrap_or(Fraction::new(1, fps.max(1)))
}

/// A V4L2 capture device streaming through mmap buffers.
pub struct V4l2Source {
    name: String,
    path: PathBuf,
    card: String,
    format: PixelFormat,
    width: usize,
    height: usize,
    stride: usize,
    interval: Fraction,
    timeout: Duration,
    /// `None` once streaming failed: the source is spent and must be reopened.
    stream: Option<Stream<'static>>,
    _device: Device,
}

impl V4l2Source {
    /// Opens `device` (see [`device_path`]) and negotiates the best format, the size
    /// closest to `width`x`height` and the rate closest to `fps`. Streaming starts on the
    /// first `next_frame`. Every failure is `Unavailable` naming the device.
    pub fn open(
        device: &str,
        width: u32,
        height: u32,
        fps: u32,
    ) -> Result<V4l2Source, CameraError> {
        // v4l panics on values it does not know (a driver's odd colorspace); a camera must
        // not take the daemon down, so a panic is one more reason it is unavailable.
        catch_unwind(AssertUnwindSafe(|| {
            Self::open_inner(device, width, height, fps)
        }))
        .unwrap_or_else(|_| {
            Err(unavailable(
                device,
                "the v4l library panicked while opening",
            ))
        })
    }

    fn open_inner(
        name: &str,
        width: u32,
        height: u32,
        fps: u32,
    ) -> Result<V4l2Source, CameraError> {
        let path = device_path(name);
        let fail =
            |what: &str, e: io::Error| io_error(name, &format!("{what} {}", path.display()), e);
        let dev = Device::with_path(&path).map_err(|e| fail("cannot open", e))?;
        let caps = dev.query_caps().map_err(|e| fail("cannot query", e))?;
        let wanted = v4l::capability::Flags::VIDEO_CAPTURE | v4l::capability::Flags::STREAMING;
        if !caps.capabilities.contains(wanted) {
            return Err(unavailable(name, &format!(
                "{} ({}) is not a streaming capture device (a webcam's second node carries metadata; try its first one)",
                path.display(),
                caps.card
            )));
        }
        let offered = dev
            .enum_formats()
            .map_err(|e| fail("cannot list the formats of", e))?;
        let format = PixelFormat::PREFERENCE
            .into_iter()
            .find(|p| offered.iter().any(|d| d.fourcc == p.fourcc()))
            .ok_or_else(|| {
                let has: Vec<String> = offered.iter().map(|d| d.fourcc.to_string()).collect();
                unavailable(name, &format!(
                    "{} offers none of GREY, YUYV, MJPG (it has {}); for a Pi CSI camera use source = \"rpicam\"",
                    path.display(),
                    has.join(", ")
                ))
            })?;
        let sizes: Vec<FrameSizeEnum> = dev
            .enum_framesizes(format.fourcc())
            .map(|v| v.into_iter().map(|s| s.size).collect())
            .unwrap_or_default();
        let (w, h) = closest_size(&sizes, (width, height)).unwrap_or((width, height));
        let got = dev
            .set_format(&Format::new(w, h, format.fourcc()))
            .map_err(|e| fail("cannot set the format of", e))?;
        let format = PixelFormat::from_fourcc(got.fourcc).ok_or_else(|| {
            unavailable(
                name,
                &format!("the driver switched to format {}", got.fourcc),
            )
        })?;
        let intervals: Vec<FrameIntervalEnum> = dev
            .enum_frameintervals(got.fourcc, got.width, got.height)
            .map(|v| v.into_iter().map(|i| i.interval).collect())
            .unwrap_or_default();
        let wanted_interval = closest_interval(&intervals, fps);
        let interval = match dev.set_params(&Parameters::new(wanted_interval)) {
            Ok(p) if p.interval.numerator > 0 && p.interval.denominator > 0 => p.interval,
            Ok(_) => wanted_interval,
            Err(e) => {
                log::debug!("{name}: cannot set the frame rate: {e}");
                wanted_interval
            }
        };
        let mut stream = Stream::with_buffers(&dev, Type::VideoCapture, 4)
            .map_err(|e| fail("cannot map buffers of", e))?;
        let frame_time =
            Duration::from_secs(interval.numerator as u64) / interval.denominator.max(1);
        let timeout = (frame_time * 3).max(Duration::from_secs(3));
        stream.set_timeout(timeout);
        Ok(V4l2Source {
            name: name.to_string(),
            path,
            card: caps.card,
            format,
            width: got.width as usize,
            height: got.height as usize,
            stride: got.stride as usize,
            interval,
            timeout,
            stream: Some(stream),
            _device: dev,
        })
    }

    pub fn format(&self) -> PixelFormat {
        self.format
    }

    /// Negotiated size (width, height).
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// Negotiated frames per second.
    pub fn fps(&self) -> f64 {
        self.interval.denominator as f64 / self.interval.numerator.max(1) as f64
    }

    /// Stops streaming and unmaps the buffers. v4l panics when STREAMOFF fails with
    /// anything but ENODEV (an unplug can give others); keep that panic in here.
    fn stop(&mut self) {
        if let Some(stream) = self.stream.take() {
            if catch_unwind(AssertUnwindSafe(move || drop(stream))).is_err() {
                log::warn!("{}: error while stopping the stream", self.name);
            }
        }
    }
}

impl FrameSource for V4l2Source {
    fn next_frame(&mut self) -> Result<GrayFrame, CameraError> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(unavailable(
                &self.name,
                "stream stopped after an error; reopen the device",
            ));
        };
        enum Failure {
            Frame(String),
            Io(io::Error),
        }
        let (format, w, h, stride) = (self.format, self.width, self.height, self.stride);
        let result = catch_unwind(AssertUnwindSafe(|| {
            let (buf, meta) = CaptureStream::next(stream).map_err(Failure::Io)?;
            if meta.flags.contains(Flags::ERROR) {
                return Err(Failure::Frame(
                    "the driver flagged the frame as corrupt".into(),
                ));
            }
            // MJPEG frames fill only part of their buffer.
            let used = match meta.bytesused as usize {
                0 => buf.len(),
                n => n.min(buf.len()),
            };
            format
                .to_gray(&buf[..used], w, h, stride)
                .map_err(Failure::Frame)
        }));
        let err = match result {
            Ok(Ok(frame)) => return Ok(frame),
            Ok(Err(Failure::Frame(message))) => {
                return Err(CameraError::BadFrame {
                    device: self.name.clone(),
                    message,
                })
            }
            Ok(Err(Failure::Io(e)))
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                CameraError::Timeout {
                    device: self.name.clone(),
                    timeout: self.timeout,
                }
            }
            Ok(Err(Failure::Io(e))) => io_error(&self.name, "capture failed", e),
            Err(_) => unavailable(&self.name, "the v4l library panicked while capturing"),
        };
        // A v4l stream cannot resume after a failed dequeue: stop it; the caller reopens.
        self.stop();
        Err(err)
    }

    fn describe(&self) -> String {
        format!(
            "v4l2 {} ({}, {}): {} {}x{} at {:.1} fps",
            self.name,
            self.path.display(),
            self.card,
            self.format.fourcc(),
            self.width,
            self.height,
            self.fps()
        )
    }
}

impl Drop for V4l2Source {
    fn drop(&mut self) {
        self.stop();
    }
}

fn unavailable(device: &str, message: &str) -> CameraError {
    CameraError::Unavailable {
        device: device.to_string(),
        message: message.to_string(),
    }
}

/// An I/O error means the device is gone or unusable; the hint names the usual fix.
fn io_error(device: &str, what: &str, e: io::Error) -> CameraError {
    let hint = match e.raw_os_error() {
        _ if e.kind() == io::ErrorKind::PermissionDenied => " (is the user in group video?)",
        Some(16) => " (another program is using the camera)",
        Some(2 | 6 | 19) => " (unplugged?)",
        _ => "",
    };
    unavailable(device, &format!("{what}: {e}{hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use v4l::frameinterval::Stepwise as IntervalStep;
    use v4l::framesize::{Discrete, Stepwise};

    #[test]
    fn device_names_resolve() {
        assert_eq!(device_path("/dev/video2"), Path::new("/dev/video2"));
        assert_eq!(device_path("1"), Path::new("/dev/video1"));
        assert_eq!(
            device_path("usb-Logitech_C270-video-index0"),
            Path::new("/dev/v4l/by-id/usb-Logitech_C270-video-index0")
        );
        assert_eq!(
            device_path("/dev/v4l/by-id/usb-X-video-index0"),
            Path::new("/dev/v4l/by-id/usb-X-video-index0")
        );
    }

    #[test]
    fn picks_the_closest_size() {
        let d = |width, height| FrameSizeEnum::Discrete(Discrete { width, height });
        let sizes = [d(640, 480), d(160, 120), d(352, 288), d(1280, 720)];
        assert_eq!(closest_size(&sizes, (320, 240)), Some((352, 288)));
        assert_eq!(closest_size(&sizes, (2000, 2000)), Some((1280, 720)));
        assert_eq!(closest_size(&[], (320, 240)), None);
        let step = FrameSizeEnum::Stepwise(Stepwise {
            min_width: 48,
            max_width: 1920,
            step_width: 16,
            min_height: 32,
            max_height: 1080,
            step_height: 8,
        });
        assert_eq!(closest_size(&[step], (322, 243)), Some((320, 240)));
    }

    #[test]
    fn picks_the_closest_rate() {
        let f = |n, d| FrameIntervalEnum::Discrete(Fraction::new(n, d));
        let r = closest_interval(&[f(1, 30), f(1, 15), f(1, 5)], 10);
        assert_eq!((r.numerator, r.denominator), (1, 15));
        let step = FrameIntervalEnum::Stepwise(IntervalStep {
            min: Fraction::new(1, 60),
            max: Fraction::new(1, 1),
            step: Fraction::new(1, 60),
        });
        let r = closest_interval(&[step], 10);
        assert_eq!((r.numerator, r.denominator), (1, 10));
    }

    #[test]
    fn fourcc_round_trip() {
        for p in PixelFormat::PREFERENCE {
            assert_eq!(PixelFormat::from_fourcc(p.fourcc()), Some(p));
        }
        assert_eq!(PixelFormat::from_fourcc(FourCC::new(b"pRAA")), None);
    }

    #[test]
    fn missing_device_is_unavailable_and_named() {
        for name in ["/dev/video-moodbox-missing", "usb-Nobody_Cam-video-index0"] {
            match V4l2Source::open(name, 320, 240, 10) {
                Err(e @ CameraError::Unavailable { .. }) => {
                    assert!(e.to_string().contains(name), "{e}")
                }
                Err(e) => panic!("{e}"),
                Ok(s) => panic!("opened {}", s.describe()),
            }
        }
    }

    #[test]
    fn a_file_that_is_not_a_camera_is_unavailable() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let name = file.path().to_str().unwrap();
        let err = V4l2Source::open(name, 320, 240, 10).err().unwrap();
        assert!(matches!(err, CameraError::Unavailable { .. }), "{err}");
    }
}
