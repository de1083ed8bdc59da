//! One module per group of verbs.

pub mod inspect;
pub mod run;
