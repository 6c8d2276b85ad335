//! `moodbox simulate`: the personalised recommender against the plain cosine picker, on a
//! simulated listener, through the real library and picker.

use crate::util;
use moodbox::config::Config;
use moodbox::simulate::{self, rate, Options, Reaction};

const SEED: u64 = 1;

fn liked(r: Reaction) -> bool {
    r == Reaction::Liked
}

#[test]
fn the_personalised_picker_learns_and_runs_are_reproducible() {
    let cfg = Config::default();
    let personalised = simulate::session(&cfg, SEED, 100).unwrap();
    let plain = simulate::session(&simulate::plain(&cfg), SEED, 100).unwrap();
    let (p, q) = (rate(&personalised, 50, liked), rate(&plain, 50, liked));
    assert!(
        p > q,
        "like-rate over songs 51-100: personalised {p}, plain {q}"
    );
    assert_eq!(simulate::session(&cfg, SEED, 100).unwrap(), personalised);
}

#[test]
fn the_report_is_deterministic_and_the_plot_is_a_png() {
    let dir = util::tempdir();
    let png = dir.path().join("curves.png");
    let opts = Options {
        songs: 30,
        seeds: 2,
        first_seed: 7,
        plot: Some(png.clone()),
    };
    let cfg = Config::default();
    let a = simulate::run(&cfg, &opts).unwrap().render();
    let b = simulate::run(&cfg, &Options { plot: None, ..opts })
        .unwrap()
        .render();
    assert_eq!(a, b);
    assert!(
        a.contains("21-30") && a.contains("mean like-rate after song 15"),
        "{a}"
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let info = decoder.read_info().unwrap();
    assert_eq!((info.info().width, info.info().height), (640, 400));
}
