//! weir's domain core: time partitions, the definitions model and its
//! validation, the dataset graph, version fingerprints and the planner.
//!
//! This crate is pure: no tokio, no file or network I/O, no clock. Everything
//! here is a function of its arguments, so it can be tested exhaustively and
//! benchmarked in isolation. A CI check (`.ci/check-core-pure`) keeps it so.

pub mod check;
pub mod dag;
pub mod diag;
pub mod fingerprint;
pub mod keys;
pub mod load;
pub mod mapping;
pub mod model;
pub mod model_card;
pub mod partition;
pub mod partset;
pub mod planner;
pub mod selector;
pub mod service;
pub mod span;
pub mod sqlcheck;

pub use diag::{Diagnostic, Diagnostics};
pub use model::{Dataset, Format, Input, Job, Project};
pub use partition::Granularity;
pub use partset::PartSet;
pub use span::Span;
