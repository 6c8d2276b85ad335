//! The real sound card, through rodio and cpal.
//!
//! The player thread pushes blocks into a small bounded queue; a rodio [`Source`] that
//! the device stream pulls from drains it. `write` blocks while about 100 ms are queued,
//! which paces the player; the source plays silence when the queue runs dry, so a slow
//! player is a gap, never a crash.

use std::collections::VecDeque;
use std::num::NonZero;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rodio::cpal::traits::{DeviceTrait, HostTrait};
use rodio::cpal::{self, ErrorKind};
use rodio::{DeviceSinkBuilder, MixerDeviceSink, Source};

use super::output::AudioOutput;
use super::PlayerError;

/// How much audio `write` lets queue up before it blocks.
const QUEUE: Duration = Duration::from_millis(100);
/// If the device takes nothing for this long it is gone (unplugged, stream dead).
const STALL: Duration = Duration::from_secs(2);
/// On drop, how long to let queued audio (usually a fade-out) drain before closing.
const DRAIN: Duration = Duration::from_millis(300);
/// Frames the source takes from the queue at once: one lock per chunk, not per sample.
const CHUNK_FRAMES: usize = 256;

struct Queue {
    samples: VecDeque<f32>,
    /// The writer is gone: the source ends after the queue drains.
    closed: bool,
    /// The source was dropped: the stream is gone.
    reader_gone: bool,
    /// A fatal error reported by the stream's error callback.
    error: Option<String>,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when the source took samples (room) or something failed.
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A poisoned lock only means a panic elsewhere; the queue itself is still sound.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The rodio source the device stream pulls from.
struct QueueSource {
    shared: Arc<Shared>,
    rate: NonZero<u32>,
    channels: NonZero<u16>,
    local: Vec<f32>,
    pos: usize,
}

impl Iterator for QueueSource {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        if self.pos >= self.local.len() {
            let ch = usize::from(self.channels.get());
            let mut q = self.shared.lock();
            // Whole frames only, so an underrun never swaps left and right.
            let n = q.samples.len().min(CHUNK_FRAMES * ch) / ch * ch;
            self.local.clear();
            if n > 0 {
                self.local.extend(q.samples.drain(..n));
                drop(q);
                self.shared.changed.notify_all();
            } else if q.closed {
                return None;
            } else {
                // Underrun: one frame of silence, then look again.
                self.local.resize(ch, 0.0);
            }
            self.pos = 0;
        }
        let s = self.local[self.pos];
        self.pos += 1;
        Some(s)
    }
}

impl Source for QueueSource {
    fn current_span_len(&self) -> Option<usize> {
        None
    }

    fn channels(&self) -> NonZero<u16> {
        self.channels
    }

    fn sample_rate(&self) -> NonZero<u32> {
        self.rate
    }

    fn total_duration(&self) -> Option<Duration> {
        None
    }
}

impl Drop for QueueSource {
    fn drop(&mut self) {
        self.shared.lock().reader_gone = true;
        self.shared.changed.notify_all();
    }
}

/// A sound card opened by name. Holds the device stream; dropping it closes the card.
pub struct DeviceOutput {
    name: String,
    format: (u32, u16),
    capacity: usize,
    shared: Arc<Shared>,
    sink: Option<MixerDeviceSink>,
}

/// Lists the names (ALSA PCM ids) that `open` accepts, with their descriptions.
pub fn list_devices() -> Result<Vec<(String, String)>, PlayerError> {
    let host = host()?;
    let devices = host.output_devices().map_err(|e| PlayerError::Device {
        device: "(listing devices)".to_string(),
        message: e.to_string(),
    })?;
    Ok(devices.map(|d| (device_id(&d), device_label(&d))).collect())
}

fn device_id(d: &cpal::Device) -> String {
    d.id().map(|id| id.id().to_string()).unwrap_or_default()
}

fn device_label(d: &cpal::Device) -> String {
    d.description()
        .map(|desc| desc.name().to_string())
        .unwrap_or_default()
}

/// The platform's audio host, without cpal's `default_host`, which panics when ALSA
/// cannot be initialised.
fn host() -> Result<cpal::Host, PlayerError> {
    let mut last = "no audio host is compiled in".to_string();
    for id in cpal::available_hosts() {
        match cpal::host_from_id(id) {
            Ok(h) => return Ok(h),
            Err(e) => last = e.to_string(),
        }
    }
    Err(PlayerError::Device {
        device: "audio host".to_string(),
        message: last,
    })
}

/// Finds `wanted`: "default", an exact PCM id or name, an ALSA alias of one
/// (`hw:0,0`), or else a case-insensitive substring of an id or name.
fn find_device(host: &cpal::Host, wanted: &str) -> Result<cpal::Device, PlayerError> {
    if wanted.is_empty() || wanted == "default" {
        if let Some(d) = host.default_output_device() {
            return Ok(d);
        }
    }
    let devices: Vec<cpal::Device> = host
        .output_devices()
        .map_err(|e| PlayerError::Device {
            device: wanted.to_string(),
            message: format!("cannot list output devices: {e}"),
        })?
        .collect();
    if let Some(d) = devices
        .iter()
        .find(|d| device_id(d) == wanted || device_label(d) == wanted)
    {
        return Ok(d.clone());
    }
    if let Some(d) = host.device_by_id(&cpal::DeviceId::new(host.id(), wanted)) {
        return Ok(d);
    }
    let lower = wanted.to_lowercase();
    if let Some(d) = devices.iter().find(|d| {
        device_id(d).to_lowercase().contains(&lower)
            || device_label(d).to_lowercase().contains(&lower)
    }) {
        return Ok(d.clone());
    }
    Err(PlayerError::DeviceNotFound {
        name: wanted.to_string(),
        available: devices.iter().map(device_id).collect(),
    })
}

impl DeviceOutput {
    /// Opens the sound card `name` (see [`find_device`] rules) for blocks in `format` =
    /// (sample rate, channels). If the card cannot take that format, rodio converts.
    pub fn open(name: &str, format: (u32, u16)) -> Result<DeviceOutput, PlayerError> {
        let format = (format.0.max(1), format.1.max(1));
        let rate = NonZero::new(format.0).unwrap_or(NonZero::<u32>::MIN);
        let channels = NonZero::new(format.1).unwrap_or(NonZero::<u16>::MIN);
        let host = host()?;
        let device = find_device(&host, name)?;
        let id = device_id(&device);
        let dev_err = |message: String| PlayerError::Device {
            device: if id.is_empty() {
                name.to_string()
            } else {
                id.clone()
            },
            message,
        };

        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                samples: VecDeque::new(),
                closed: false,
                reader_gone: false,
                error: None,
            }),
            changed: Condvar::new(),
        });
        let on_error = {
            let shared = Arc::clone(&shared);
            let id = id.clone();
            move |e: cpal::Error| match e.kind() {
                // Glitches, not failures: the stream keeps running.
                ErrorKind::Xrun | ErrorKind::RealtimeDenied | ErrorKind::DeviceChanged => {
                    log::debug!("audio device {id}: {e}");
                }
                _ => {
                    shared.lock().error = Some(e.to_string());
                    shared.changed.notify_all();
                }
            }
        };

        // Ask for our own format first so rodio need not resample; fall back to any
        // format the card supports.
        let builder = DeviceSinkBuilder::from_device(device)
            .map_err(|e| dev_err(error_chain(&e)))?
            .with_sample_rate(rate)
            .with_channels(channels)
            .with_error_callback(on_error);
        let mut sink = builder
            .open_sink_or_fallback()
            .map_err(|e| dev_err(error_chain(&e)))?;
        sink.log_on_drop(false);
        let cfg = sink.config();
        log::info!(
            "audio device {id} open: {} Hz, {} channels, {:?}",
            cfg.sample_rate(),
            cfg.channel_count(),
            cfg.sample_format()
        );
        sink.mixer().add(QueueSource {
            shared: Arc::clone(&shared),
            rate,
            channels,
            local: Vec::new(),
            pos: 0,
        });
        let ch = usize::from(format.1);
        let capacity = (QUEUE.as_secs_f64() * f64::from(format.0)) as usize * ch;
        Ok(DeviceOutput {
            name: if id.is_empty() { name.to_string() } else { id },
            format,
            capacity: capacity.max(CHUNK_FRAMES * ch),
            shared,
            sink: Some(sink),
        })
    }

    fn error(&self, message: String) -> PlayerError {
        PlayerError::Device {
            device: self.name.clone(),
            message,
        }
    }
}

/// "outer: inner: innermost", so rodio's vague top-level messages keep cpal's detail.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

impl AudioOutput for DeviceOutput {
    fn format(&self) -> (u32, u16) {
        self.format
    }

    fn write(&mut self, block: &[f32]) -> Result<(), PlayerError> {
        let deadline = Instant::now() + STALL;
        let mut rest = block;
        let mut q = self.shared.lock();
        loop {
            if let Some(e) = q.error.clone() {
                return Err(self.error(e));
            }
            if q.reader_gone {
                return Err(self.error("the audio stream stopped".to_string()));
            }
            let room = self.capacity.saturating_sub(q.samples.len());
            let n = room.min(rest.len());
            q.samples.extend(&rest[..n]);
            rest = &rest[n..];
            if rest.is_empty() {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(self.error(format!(
                    "the device took no audio for {STALL:?}; is it still connected?"
                )));
            }
            q = self
                .shared
                .changed
                .wait_timeout(q, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    fn name(&self) -> String {
        format!("device:{}", self.name)
    }
}

impl Drop for DeviceOutput {
    fn drop(&mut self) {
        // Let the queued tail (usually a fade to silence) play out, so closing the card
        // does not cut mid-wave.
        let deadline = Instant::now() + DRAIN;
        let mut q = self.shared.lock();
        while !q.samples.is_empty() && !q.reader_gone && q.error.is_none() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            q = self
                .shared
                .changed
                .wait_timeout(q, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        q.closed = true;
        drop(q);
        self.sink.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(shared: &Arc<Shared>) -> QueueSource {
        QueueSource {
            shared: Arc::clone(shared),
            rate: NonZero::new(44_100).unwrap(),
            channels: NonZero::new(2).unwrap(),
            local: Vec::new(),
            pos: 0,
        }
    }

    fn shared() -> Arc<Shared> {
        Arc::new(Shared {
            queue: Mutex::new(Queue {
                samples: VecDeque::new(),
                closed: false,
                reader_gone: false,
                error: None,
            }),
            changed: Condvar::new(),
        })
    }

    #[test]
    fn source_plays_silence_on_underrun_then_queued_frames_then_ends_when_closed() {
        let shared = shared();
        let mut src = source(&shared);
        assert_eq!(src.next(), Some(0.0));
        assert_eq!(src.next(), Some(0.0));
        shared.lock().samples.extend([0.1, 0.2, 0.3, 0.4]);
        let got: Vec<f32> = (0..4).map(|_| src.next().unwrap()).collect();
        assert_eq!(got, vec![0.1, 0.2, 0.3, 0.4]);
        shared.lock().closed = true;
        assert_eq!(src.next(), None);
        drop(src);
        assert!(shared.lock().reader_gone);
    }

    #[test]
    fn listing_devices_does_not_panic() {
        // Build machines may have no sound card; either answer is fine, a panic is not.
        let _ = list_devices();
    }
}
