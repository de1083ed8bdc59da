//! One module per group of verbs.

pub mod counters;
pub mod diff;
pub mod envs;
pub mod inspect;
pub mod quality;
pub mod repair;
pub mod run;
pub mod serve;
pub mod status;
