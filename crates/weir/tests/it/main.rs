//! End-to-end tests: the real `weir` binary on temporary projects, with real
//! files, a real SQLite catalog, DataFusion and Python command jobs.

mod api;
mod api_catalog;
mod api_schema;
mod api_sql;
mod browser;
mod cli_errors;
mod cli_shell;
mod commands;
mod dashboard;
mod demo;
mod dev;
mod doctor;
mod envs;
mod external;
mod ha;
mod kill;
mod lineage;
mod models;
mod nearline;
mod nearline_kill;
mod object_faults;
mod object_lake;
mod postgres;
mod project_schema;
mod python_job;
mod quality;
mod repair;
mod runs_api;
mod sealing;
mod selectors;
mod serve;
mod serve_tls;
mod serving;
#[cfg(feature = "spark")]
mod spark_connect;
mod spark_submit;
mod support;
