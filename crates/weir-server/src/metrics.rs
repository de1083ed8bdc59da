//! `/metrics` in the Prometheus text format: what each environment's
//! scheduler is doing.

use crate::Shared;
use axum::extract::State;
use axum::response::IntoResponse;
use std::fmt::Write;
use std::sync::Arc;

pub async fn render(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let mut out = String::new();
    let envs: Vec<_> = shared.envs.values().map(|h| (h.env.clone(), h.state())).collect();
    let _ = writeln!(
        out,
        "# HELP weir_tasks_running Tasks running now.\n# TYPE weir_tasks_running gauge"
    );
    for (env, s) in &envs {
        let _ = writeln!(out, "weir_tasks_running{{env=\"{}\"}} {}", escape(env), s.running);
    }
    let _ = writeln!(
        out,
        "# HELP weir_runs_finished_total Runs finished since the server started, by outcome.\n# TYPE weir_runs_finished_total counter"
    );
    for (env, s) in &envs {
        for (state, n) in [
            ("succeeded", s.succeeded),
            ("failed", s.failed),
            ("cancelled", s.cancelled),
        ] {
            let _ = writeln!(
                out,
                "weir_runs_finished_total{{env=\"{}\",state=\"{state}\"}} {n}",
                escape(env)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP weir_deployment The deployment each environment's scheduler serves.\n# TYPE weir_deployment gauge"
    );
    for (env, s) in &envs {
        if let Some(d) = s.deployment {
            let _ = writeln!(out, "weir_deployment{{env=\"{}\"}} {d}", escape(env));
        }
    }
    let _ = writeln!(
        out,
        "# HELP weir_late_partitions Partitions past their SLA deadline and not complete.\n# TYPE weir_late_partitions gauge"
    );
    for (env, s) in &envs {
        for (dataset, n) in &s.late {
            let _ = writeln!(
                out,
                "weir_late_partitions{{env=\"{}\",dataset=\"{}\"}} {n}",
                escape(env),
                escape(dataset)
            );
        }
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}

/// A label value, escaped as the text format requires.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
