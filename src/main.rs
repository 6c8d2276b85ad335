//! The `moodbox` command: parses arguments, calls the library, prints errors, picks exit codes.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use moodbox::config::{Config, ConfigError};
use moodbox::emotion::model::EmotionModel;
use moodbox::emotion::Emotion;
use moodbox::music::{import, library::Library, picker::Picker, scan};
use moodbox::progress::Progress;
use moodbox::vision::pipeline::{CameraEmotions, FacePipeline, PipelineSettings};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit codes from sysexits.h, so scripts can tell a bad config from bad data.
mod exit {
    pub const FAILURE: u8 = 1;
    pub const DATA: u8 = 65;
    pub const INTERRUPTED: u8 = 130;
    pub const CONFIG: u8 = 78;
}

#[derive(Parser)]
#[command(
    name = "moodbox",
    version,
    about = "A music box that plays what fits the listener's mood"
)]
struct Cli {
    /// Config file [default: /etc/moodbox/config.toml if it exists, else built-in defaults]
    #[arg(long, short, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Library database [default: paths.database from the config]
    #[arg(long, global = true, value_name = "PATH")]
    database: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Index music folders into the library (incremental; default: paths.music_dirs)
    Scan {
        /// Folders to scan
        dirs: Vec<PathBuf>,
        /// Then analyse new and changed tracks, as `moodbox analyze` does
        #[arg(long)]
        analyze: bool,
    },
    /// Measure new and changed tracks: loudness (for playback gain), tempo, key, valence and
    /// energy (Ctrl-C stops after the current track; a re-run resumes)
    Analyze {
        /// Analyse every track again, not only new and changed ones
        #[arg(long)]
        force: bool,
    },
    /// Set valence/energy per track from a CSV (Spotify-features column names accepted)
    ImportFeatures {
        /// CSV with `valence`, `energy` and `path` or `track_name`/`name` + `artists`/`artist_name`
        csv: PathBuf,
    },
    /// Dry run: print the ranked picks for an emotion with their scores
    Recommend {
        /// angry, disgust, fear, happy, sad, surprise or neutral
        #[arg(long, short)]
        emotion: Emotion,
        /// How many picks to show
        #[arg(short = 'n', default_value_t = 10)]
        count: usize,
        /// Show every term of each score
        #[arg(long)]
        explain: bool,
        /// Songs already played since the mood began (moves the `uplift` strategy along)
        #[arg(long, default_value_t = 0)]
        songs: u32,
    },
    /// Validate a config file and print the effective config
    CheckConfig {
        /// Config file [default: --config, else /etc/moodbox/config.toml]
        path: Option<PathBuf>,
    },
    /// Library counts: tracks, with features, gone, per format
    Library,
    /// Run the box: camera or script, buttons, control socket, player (what systemd starts)
    Run {
        /// Scripted emotions instead of the camera: lines `SECONDS EMOTION` (or `SECONDS none`)
        #[arg(long, value_name = "FILE")]
        emotions: Option<PathBuf>,
        /// Audio output instead of audio.device: a device name, `null`, or `wav:PATH`
        #[arg(long, value_name = "OUTPUT")]
        output: Option<String>,
    },
    /// A minute of the box on generated music, scripted faces and presses; no hardware needed
    Demo {
        /// Simulated seconds to run
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        /// Where the audio goes
        #[arg(long, default_value = "moodbox-demo.wav", value_name = "WAV")]
        out: PathBuf,
        /// Play through the sound card in real time instead (optionally naming the device)
        #[arg(long, value_name = "DEVICE", num_args = 0..=1, default_missing_value = "default")]
        play: Option<String>,
        /// Seed for the song sampling
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Press a button on the running box: skip, like, pause or not-for-mood
    Press { action: moodbox::buttons::Action },
    /// What the running box is doing: track, position, mood and its probabilities
    Status {
        /// Print the raw JSON reply
        #[arg(long)]
        json: bool,
    },
    /// Plays, likes and skips per emotion and the most liked tracks (works while the box is off)
    Stats,
    /// Accuracy, per-class F1 and confusion matrix of the emotion model on labelled faces
    Eval {
        /// FER2013 CSV (`emotion,pixels,Usage`, optionally .gz) or a folder DIR/<emotion>/*.png|jpg
        input: PathBuf,
        /// Which CSV rows to evaluate (the `Usage` column)
        #[arg(long, default_value = moodbox::emotion::eval::DEFAULT_USAGE)]
        usage: String,
        /// Model file [default: model.path from the config if it exists, else models/emotion-int8.onnx]
        #[arg(long, value_name = "PATH")]
        model: Option<PathBuf>,
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
        /// Average each face with its mirror image (flip test-time augmentation)
        #[arg(long)]
        flip_tta: bool,
        /// Evaluate only the first N faces
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Worker threads [default: one per core]
        #[arg(long, value_name = "N")]
        threads: Option<usize>,
    },
    /// Find faces in pictures: boxes, scores and the seven emotion probabilities
    Detect {
        /// PNG or JPEG files
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// Also write the picture with the faces drawn on it (several images: OUT-1.png, OUT-2.png, …)
        #[arg(long, value_name = "OUT.png")]
        annotate: Option<PathBuf>,
        /// Model file [default: model.path from the config if it exists, else models/emotion-int8.onnx]
        #[arg(long, value_name = "PATH")]
        model: Option<PathBuf>,
        /// Smallest face to look for, in pixels [default: camera.min_face]
        #[arg(long, value_name = "PX")]
        min_face: Option<u32>,
    },
    /// End-to-end accuracy on whole frames (detect, crop, classify): DIR/<emotion>/* or Yale names
    EvalFrames {
        /// DIR/<emotion>/*.png|jpg, or files named like subject01.happy.png
        dir: PathBuf,
        /// Print the report as JSON (with every frame's outcome)
        #[arg(long)]
        json: bool,
        /// Model file [default: model.path from the config if it exists, else models/emotion-int8.onnx]
        #[arg(long, value_name = "PATH")]
        model: Option<PathBuf>,
        /// Average each face with its mirror image
        #[arg(long)]
        flip_tta: bool,
        /// Face crop side as a multiple of the detected box [default: camera.crop_scale]
        #[arg(long, value_name = "X")]
        crop_scale: Option<f32>,
    },
    /// The personalised recommender vs the plain cosine picker, on a simulated listener with
    /// hidden tastes over a generated library (like- and skip-rates per 10 songs)
    Simulate {
        /// Songs per session
        #[arg(long, default_value_t = 100)]
        songs: usize,
        /// Sessions (listeners), seeds FIRST.. FIRST+N-1
        #[arg(long, default_value_t = 20)]
        seeds: u64,
        /// First seed
        #[arg(long, default_value_t = 1, value_name = "FIRST")]
        seed: u64,
        /// Draw both like-rate curves to a PNG
        #[arg(long, value_name = "OUT.png")]
        plot: Option<PathBuf>,
    },
    /// Check everything the box needs (config, model, database, camera, sound card, GPIO,
    /// groups, service), one line each with a fix; exits 1 if anything fails
    Doctor,
    /// Open the configured camera: format, frame rate, faces per frame, current top emotion
    CameraTest {
        /// How long to watch
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("moodbox: {e:#}");
            let data_error = e.chain().any(|c| {
                c.downcast_ref::<moodbox::emotion::eval::EvalError>()
                    .is_some_and(|e| e.is_data_error())
                    || c.downcast_ref::<moodbox::vision::VisionError>()
                        .is_some_and(|e| e.is_data_error())
            });
            let code = if e.chain().any(|c| c.is::<ConfigError>()) {
                exit::CONFIG
            } else if data_error {
                exit::DATA
            } else {
                exit::FAILURE
            };
            ExitCode::from(code)
        }
    }
}

fn init_logging(cfg: &Config) {
    let mut b = env_logger::Builder::new();
    b.filter_level(cfg.log_level)
        // tract reports CPU probing at info level: noise for a box's journal.
        .filter_module("tract_linalg", log::LevelFilter::Warn)
        .parse_default_env();
    // journald adds its own timestamps; env_logger leaves colours out when not on a tty.
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        b.format_timestamp(None);
    }
    let _ = b.try_init();
}

/// The camera pipeline as the daemon's emotion source. Without a usable model the box
/// still plays music (on a neutral mood) and the log says why.
fn camera_emotions(cfg: &Config) -> Option<Box<dyn moodbox::daemon::EmotionSource>> {
    match CameraEmotions::from_config(moodbox::camera::open_source(&cfg.camera), cfg) {
        Ok(cam) => Some(Box::new(cam)),
        Err(e) => {
            log::error!("camera pipeline unavailable, the mood stays neutral: {e}");
            None
        }
    }
}

/// `--model`, else the configured model when installed, else the repository's models/.
fn model_path(explicit: Option<PathBuf>, cfg: &Config) -> PathBuf {
    explicit.unwrap_or_else(|| {
        if cfg.model.path.is_file() {
            cfg.model.path.clone()
        } else {
            moodbox::emotion::model::DEFAULT_MODEL.into()
        }
    })
}

fn open_library(cli_db: Option<&Path>, cfg: &Config) -> Result<Library> {
    let path = cli_db.unwrap_or(&cfg.paths.database);
    Ok(Library::open(path)?)
}

/// Analyses the tracks that need it, with a progress bar. Ctrl-C (or SIGTERM) stops after
/// the current track, and everything done so far is kept; a second Ctrl-C ends at once.
fn analyze_library(lib: &Library) -> Result<u8> {
    use std::sync::{atomic::AtomicBool, Arc};
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(
            sig,
            i32::from(exit::INTERRUPTED),
            Arc::clone(&stop),
        )?;
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let mut progress = Progress::new("tracks");
    let report = moodbox::music::analysis::run_pending(
        lib,
        &mut |done, total, _| progress.set(done as u64, total as u64),
        &stop,
    );
    progress.finish();
    let report = report?;
    for (path, why) in &report.problems {
        eprintln!("skipped {}: {why}", path.display());
    }
    println!("{}", report.summary());
    Ok(if report.stopped {
        exit::INTERRUPTED
    } else if report.problems.is_empty() {
        0
    } else {
        exit::DATA
    })
}

fn run(cli: Cli) -> Result<u8> {
    let cfg = match &cli.command {
        Command::CheckConfig { path } => {
            let path = path
                .clone()
                .or(cli.config.clone())
                .unwrap_or_else(|| moodbox::config::SYSTEM_CONFIG.into());
            let cfg = Config::load(&path)?;
            println!("# {}: valid. Effective config:\n", path.display());
            print!("{}", cfg.to_toml());
            return Ok(0);
        }
        Command::Doctor => {
            // Reported as a line of its own: a broken config is one of the things checked.
            let checks = moodbox::doctor::run(cli.config.as_deref());
            print!("{}", moodbox::doctor::render(&checks));
            let failed = checks
                .iter()
                .any(|c| c.status == moodbox::doctor::Status::Fail);
            return Ok(if failed { exit::FAILURE } else { 0 });
        }
        _ => Config::resolve(cli.config.as_deref())?,
    };
    init_logging(&cfg);
    match cli.command {
        Command::CheckConfig { .. } | Command::Doctor => unreachable!("handled above"),
        Command::Scan { dirs, analyze } => {
            let dirs = if dirs.is_empty() {
                cfg.paths.music_dirs.clone()
            } else {
                dirs
            };
            let mut lib = open_library(cli.database.as_deref(), &cfg)?;
            let mut progress = Progress::new("files");
            let report = scan::scan(&mut lib, &dirs, &mut progress)?;
            for (path, why) in &report.problems {
                eprintln!("skipped {}: {why}", path.display());
            }
            println!("{}", report.summary());
            if report.tagged_features > 0 {
                println!(
                    "{} tracks took valence/energy from their tags",
                    report.tagged_features
                );
            }
            let code = if report.problems.is_empty() {
                0
            } else {
                exit::DATA
            };
            if analyze {
                return Ok(analyze_library(&lib)?.max(code));
            }
            Ok(code)
        }
        Command::Analyze { force } => {
            let lib = open_library(cli.database.as_deref(), &cfg)?;
            if force {
                lib.force_reanalysis()?;
            }
            analyze_library(&lib)
        }
        Command::ImportFeatures { csv } => {
            let mut lib = open_library(cli.database.as_deref(), &cfg)?;
            let report = import::import_features(&mut lib, &csv)?;
            for (line, why) in &report.malformed {
                eprintln!("{}:{line}: {why}", csv.display());
            }
            for (line, what) in &report.unmatched {
                eprintln!("{}:{line}: no track matches {what}", csv.display());
            }
            println!(
                "{} rows: {} tracks updated, {} kept (already imported), {} unmatched, {} malformed",
                report.rows,
                report.matched,
                report.kept_existing,
                report.unmatched.len(),
                report.malformed.len()
            );
            Ok(if report.malformed.is_empty() {
                0
            } else {
                exit::DATA
            })
        }
        Command::Recommend {
            emotion,
            count,
            explain,
            songs,
        } => {
            let lib = open_library(cli.database.as_deref(), &cfg)?;
            let mut picker = Picker::new(&lib, 0)?;
            if picker.is_empty() {
                println!("the library is empty: run `moodbox scan DIR` first");
                return Ok(exit::DATA);
            }
            let t = moodbox::music::recommend::strategy_target(
                cfg.recommend.strategy,
                emotion,
                cfg.target(emotion),
                songs,
            );
            println!(
                "{emotion}: target valence {:.2}, energy {:.2} (strategy {}), top {} sampled at temperature {}",
                t.valence,
                t.energy,
                moodbox::config::Named::name(cfg.recommend.strategy),
                cfg.recommend.top_k,
                cfg.recommend.temperature
            );
            let ranked = picker
                .ranking(&lib, &cfg, emotion, songs, count)
                .context("ranking the library")?;
            for s in &ranked {
                print!(
                    "{:>3}. {:+.3}  {}",
                    s.rank + 1,
                    s.scored.score,
                    s.track.label()
                );
                if explain {
                    print!("\n       {}: {}", s.scored.terms(), s.why);
                }
                println!();
            }
            Ok(0)
        }
        Command::Simulate {
            songs,
            seeds,
            seed,
            plot,
        } => {
            let report = moodbox::simulate::run(
                &cfg,
                &moodbox::simulate::Options {
                    songs,
                    seeds,
                    first_seed: seed,
                    plot: plot.clone(),
                },
            )?;
            print!("{}", report.render());
            if let Some(p) = plot {
                println!("plot: {}", p.display());
            }
            Ok(0)
        }
        Command::Run { emotions, output } => {
            let emotions = match emotions {
                Some(path) => Some(Box::new(moodbox::daemon::ScriptedSource {
                    script: moodbox::daemon::script::EmotionScript::load(&path)?,
                    fps: cfg.camera.fps,
                })
                    as Box<dyn moodbox::daemon::EmotionSource>),
                None => camera_emotions(&cfg),
            };
            moodbox::daemon::run(moodbox::daemon::RunOptions {
                config: cfg,
                emotions,
                output,
            })?;
            Ok(0)
        }
        Command::Demo {
            seconds,
            out,
            play,
            seed,
        } => {
            moodbox::demo::run(&moodbox::demo::DemoOptions {
                seconds,
                out,
                play,
                seed,
            })?;
            Ok(0)
        }
        Command::Press { action } => {
            let socket = moodbox::daemon::socket_path(&cfg);
            match moodbox::control::request(&socket, &moodbox::control::Request::Press { action })?
            {
                moodbox::control::Response::Error { message } => {
                    anyhow::bail!("the box refused: {message}")
                }
                _ => Ok(0),
            }
        }
        Command::Status { json } => {
            let socket = moodbox::daemon::socket_path(&cfg);
            match moodbox::control::request(&socket, &moodbox::control::Request::Status)? {
                moodbox::control::Response::Status(s) if json => {
                    println!("{}", serde_json::to_string_pretty(&s)?)
                }
                moodbox::control::Response::Status(s) => print!("{}", s.render()),
                moodbox::control::Response::Error { message } => {
                    anyhow::bail!("the box refused: {message}")
                }
                other => anyhow::bail!("unexpected reply: {other:?}"),
            }
            Ok(0)
        }
        Command::Stats => {
            let lib = open_library(cli.database.as_deref(), &cfg)?;
            println!(
                "{:<9} {:>6} {:>9} {:>6} {:>6}",
                "emotion", "plays", "finished", "skips", "likes"
            );
            for s in lib.emotion_stats()? {
                println!(
                    "{:<9} {:>6} {:>9} {:>6} {:>6}",
                    s.emotion, s.plays, s.finished, s.skips, s.likes
                );
            }
            let top = lib.top_liked(10)?;
            if !top.is_empty() {
                println!("\nmost liked");
                for (label, n) in top {
                    println!("{n:>4}  {label}");
                }
            }
            Ok(0)
        }
        Command::Eval {
            input,
            usage,
            model,
            json,
            flip_tta,
            limit,
            threads,
        } => {
            let model = model_path(model, &cfg);
            let opts = moodbox::emotion::eval::EvalOptions {
                input,
                usage,
                model,
                flip_tta,
                limit,
                threads,
            };
            let mut progress = Progress::new("faces");
            let report = moodbox::emotion::eval::run_eval(&opts, &mut |done, total| {
                progress.set(done as u64, total as u64)
            });
            progress.finish();
            let report = report?;
            if json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.render());
            }
            Ok(0)
        }
        Command::Detect {
            images,
            annotate,
            model,
            min_face,
        } => {
            let explicit = model.is_some();
            let model = match EmotionModel::load(&model_path(model, &cfg), cfg.model.flip_tta) {
                Ok(m) => Some(m),
                Err(e) if explicit => return Err(e.into()),
                Err(e) => {
                    log::warn!("{e}; printing face boxes only");
                    None
                }
            };
            let mut settings = PipelineSettings::from_config(&cfg);
            if let Some(px) = min_face {
                settings.min_face = px;
            }
            moodbox::vision::cli::detect(
                &images,
                annotate.as_deref(),
                model,
                settings,
                &mut std::io::stdout().lock(),
            )?;
            Ok(0)
        }
        Command::EvalFrames {
            dir,
            json,
            model,
            flip_tta,
            crop_scale,
        } => {
            let mut settings = PipelineSettings::from_config(&cfg);
            if let Some(s) = crop_scale {
                settings.crop_scale = s;
            }
            let model = model_path(model, &cfg);
            moodbox::vision::cli::eval_frames(
                &dir,
                &model,
                flip_tta,
                settings,
                json,
                &mut std::io::stdout().lock(),
            )?;
            Ok(0)
        }
        Command::CameraTest { seconds } => {
            let mut source = moodbox::camera::open_source(&cfg.camera);
            let model = EmotionModel::load(&cfg.model.path, cfg.model.flip_tta)
                .map_err(|e| log::warn!("{e}; faces only, no emotions"))
                .ok();
            let mut pipeline = FacePipeline::new(PipelineSettings::from_config(&cfg), model);
            moodbox::vision::cli::camera_test(
                source.as_mut(),
                &mut pipeline,
                seconds,
                &mut std::io::stdout().lock(),
            )?;
            Ok(0)
        }
        Command::Library => {
            let lib = open_library(cli.database.as_deref(), &cfg)?;
            let c = lib.counts()?;
            println!(
                "library {} (schema {})",
                lib.path().display(),
                lib.schema_version()?
            );
            println!("tracks        {}", c.tracks);
            println!("with features {}", c.with_features);
            println!("gone          {}", c.gone);
            println!("broken        {}", c.broken);
            println!("analysed      {}", c.analysed);
            if c.analysis_failed > 0 {
                println!("unanalysable  {}", c.analysis_failed);
            }
            for (format, n) in &c.per_format {
                println!("  {format:<11} {n}");
            }
            Ok(0)
        }
    }
}
