//! The `moodbox` binary: exit codes and messages a script or a person over SSH relies on.

use crate::util;

#[test]
fn check_config_accepts_the_shipped_file_and_names_file_line_and_key_of_an_error() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/config/config.toml");
    let ok = util::moodbox(&["check-config", shipped]);
    assert!(ok.status.success(), "{}", util::text(&ok));
    assert!(util::text(&ok).contains("[recommend]\nstrategy = \"match\""));

    let dir = util::tempdir();
    let bad = dir.path().join("config.toml");
    std::fs::write(
        &bad,
        "[audio]\nvolume = 0.5\n\n[debounce]\ndwell_secs = -2\n",
    )
    .unwrap();
    let out = util::moodbox(&["check-config", bad.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(78),
        "config errors exit with EX_CONFIG"
    );
    assert!(
        util::text(&out).contains(&format!(
            "{}:5: debounce.dwell_secs: -2 is out of range",
            bad.display()
        )),
        "{}",
        util::text(&out)
    );
}

#[test]
fn scan_library_recommend_and_stats_work_from_the_command_line() {
    let dir = util::tempdir();
    let db = dir.path().join("lib.db");
    let music = dir.path().join("music");
    moodbox::demo::write_library(&music).unwrap();
    let db_arg = db.to_str().unwrap();
    let scan = util::moodbox(&["--database", db_arg, "scan", music.to_str().unwrap()]);
    assert!(scan.status.success(), "{}", util::text(&scan));
    assert!(
        util::text(&scan).contains("12 added"),
        "{}",
        util::text(&scan)
    );
    let import = util::moodbox(&[
        "--database",
        db_arg,
        "import-features",
        music.join("features.csv").to_str().unwrap(),
    ]);
    assert!(
        util::text(&import).contains("12 tracks updated"),
        "{}",
        util::text(&import)
    );

    let lib = util::moodbox(&["--database", db_arg, "library"]);
    assert!(
        util::text(&lib).contains("with features 12"),
        "{}",
        util::text(&lib)
    );

    let rec = util::moodbox(&[
        "--database",
        db_arg,
        "recommend",
        "--emotion",
        "sad",
        "-n",
        "3",
        "--explain",
    ]);
    let out = util::text(&rec);
    assert!(rec.status.success(), "{out}");
    let first = out
        .lines()
        .find(|l| l.trim_start().starts_with("1."))
        .unwrap();
    assert!(
        ["Rainy Window", "Letters Unsent", "Grey December"]
            .iter()
            .any(|t| first.contains(t)),
        "{out}"
    );
    assert!(out.contains("similarity"), "{out}");

    let bad = util::moodbox(&["--database", db_arg, "recommend", "--emotion", "bored"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        util::text(&bad).contains("unknown emotion"),
        "{}",
        util::text(&bad)
    );

    let stats = util::moodbox(&["--database", db_arg, "stats"]);
    assert!(
        stats.status.success() && util::text(&stats).contains("emotion"),
        "{}",
        util::text(&stats)
    );
}

#[test]
fn status_and_press_say_clearly_when_the_box_is_not_running() {
    let dir = util::tempdir();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, format!("[paths]\nstate_dir = {:?}\n", dir.path())).unwrap();
    let out = util::moodbox(&["--config", cfg.to_str().unwrap(), "press", "skip"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        util::text(&out).contains("moodbox is not running"),
        "{}",
        util::text(&out)
    );
}

/// On this machine there is no camera, GPIO or sound card: doctor must say so line by line,
/// with a fix for each, and exit non-zero without crashing. The parts that do exist pass.
#[test]
fn doctor_names_each_missing_part_with_a_fix_and_fails() {
    let Some(model) = util::model_file("emotion-int8.onnx") else {
        return;
    };
    let dir = util::tempdir();
    let db = dir.path().join("library.db");
    let lib = moodbox::music::library::Library::open(&db).unwrap();
    drop(lib);
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[camera]\nsource = \"v4l2\"\ndevice = \"/dev/video-moodbox-test-absent\"\n\n\
             [model]\npath = {model:?}\n\n[audio]\ndevice = \"no-such-card-moodbox\"\n\n\
             [gpio]\nenabled = true\n\n[paths]\ndatabase = {db:?}\n"
        ),
    )
    .unwrap();
    let out = util::moodbox(&["--config", cfg.to_str().unwrap(), "doctor"]);
    let text = util::text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let line = |what: &str| {
        text.lines()
            .find(|l| l.split_whitespace().nth(1) == Some(what))
            .unwrap_or_else(|| panic!("no {what} line in\n{text}"))
            .to_string()
    };
    assert!(line("config").starts_with("ok"), "{text}");
    assert!(line("model").starts_with("ok") && line("model").contains("PublicTest"));
    let schema = format!(
        "schema {}, 0 tracks",
        moodbox::music::library::SCHEMA_VERSION
    );
    assert!(line("database").starts_with("ok") && line("database").contains(&schema));
    // On a Pi that runs the suite, the GPIO check may well pass.
    let gpio = std::path::Path::new("/dev/gpiochip0").exists();
    for part in ["camera", "audio", "gpio"]
        .into_iter()
        .filter(|&p| p != "gpio" || !gpio)
    {
        assert!(line(part).starts_with("FAIL"), "{text}");
    }
    assert!(text.contains("/dev/video-moodbox-test-absent") && text.contains("aplay -L"));
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with("FAIL") || l.starts_with("warn") {
            assert!(
                lines.get(i + 1).is_some_and(|n| n.contains("fix:")),
                "{text}"
            );
        }
    }
    assert!(!text.contains("panicked"));
}
