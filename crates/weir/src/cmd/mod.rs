//! One module per group of verbs.

pub mod counters;
pub mod diff;
pub mod envs;
pub mod inspect;
pub mod quality;
pub mod query;
pub mod repair;
pub mod run;
pub mod status;
