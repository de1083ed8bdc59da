//! One module per group of verbs.

pub mod control;
pub mod counters;
pub mod dev;
pub mod diff;
pub mod envs;
pub mod inspect;
pub mod quality;
pub mod query;
pub mod remote;
pub mod repair;
pub mod run;
pub mod select;
pub mod serve;
pub mod status;
