//! The catalog's integration tests: the contract suite, run on every implementation.

mod contract;
mod postgres;
mod sqlite;
