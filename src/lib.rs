//! moodbox: a music box that plays what fits the listener's mood.
//!
//! Modules follow the data flow: camera → vision → emotion → daemon → music → player,
//! with buttons, control and config beside them.

pub mod buttons;
pub mod camera;
pub mod config;
pub mod control;
pub mod daemon;
pub mod demo;
pub mod doctor;
pub mod emotion;
pub mod music;
pub mod player;
pub mod progress;
pub mod simulate;
pub mod vision;
