//! The `moodbox` command: parses arguments, calls the library, prints errors, picks exit codes.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use moodbox::config::{Config, ConfigError};
use moodbox::emotion::Emotion;
use moodbox::music::{import, library::Library, picker::Picker, scan};
use moodbox::progress::Progress;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit codes from sysexits.h, so scripts can tell a bad config from bad data.
mod exit {
    pub const FAILURE: u8 = 1;
    pub const DATA: u8 = 65;
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
    b.filter_level(cfg.log_level).parse_default_env();
    // journald adds its own timestamps; env_logger leaves colours out when not on a tty.
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        b.format_timestamp(None);
    }
    let _ = b.try_init();
}

fn open_library(cli_db: Option<&Path>, cfg: &Config) -> Result<Library> {
    let path = cli_db.unwrap_or(&cfg.paths.database);
    Ok(Library::open(path)?)
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
        _ => Config::resolve(cli.config.as_deref())?,
    };
    init_logging(&cfg);
    match cli.command {
        Command::CheckConfig { .. } => unreachable!("handled above"),
        Command::Scan { dirs } => {
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
            Ok(if report.problems.is_empty() {
                0
            } else {
                exit::DATA
            })
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
            let picker = Picker::new(&lib, 0)?;
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
                    print!(
                        "\n       similarity {:+.3} + feedback {:+.3}: {}",
                        s.scored.similarity, s.scored.feedback, s.why
                    );
                }
                println!();
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
                None => None,
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
        } => {
            let model = model.unwrap_or_else(|| {
                if cfg.model.path.is_file() {
                    cfg.model.path.clone()
                } else {
                    moodbox::emotion::model::DEFAULT_MODEL.into()
                }
            });
            let opts = moodbox::emotion::eval::EvalOptions {
                input,
                usage,
                model,
                flip_tta,
                limit,
                threads: None,
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
            for (format, n) in &c.per_format {
                println!("  {format:<11} {n}");
            }
            Ok(0)
        }
    }
}
