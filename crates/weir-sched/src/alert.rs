//! What is worth telling a human right away: a check that failed, or a run
//! that failed for good. The run loop emits these through
//! [`crate::Progress::alert`]; delivering them (a webhook) is the caller's
//! business and must never hold the pipeline up.

use serde::{Deserialize, Serialize};
use weir_core::check::{CheckResult, Severity};

/// One alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlertEvent {
    /// Checks failed on a freshly built instance.
    CheckFailed {
        dataset: String,
        version: u32,
        partition: String,
        run_id: String,
        /// A blocking check failed: consumers do not read the instance.
        blocked: bool,
        /// The failing checks (any severity).
        checks: Vec<CheckResult>,
    },
    /// A run failed and will not be retried in this `weir run`.
    RunFailed {
        dataset: String,
        version: u32,
        partition: String,
        run_id: String,
        error: String,
    },
    /// A partition missed its SLA: it was not complete by its deadline.
    SlaMissed {
        env: String,
        dataset: String,
        version: u32,
        partition: String,
        deadline: chrono::DateTime<chrono::Utc>,
    },
    /// A partition that missed its SLA is complete now.
    SlaRecovered {
        env: String,
        dataset: String,
        version: u32,
        partition: String,
        late_by_s: i64,
    },
    /// Auto-promotion moved a selector's split to the variant that won.
    SplitPromoted {
        env: String,
        selector: String,
        /// The split change's number (the alert's identity).
        seq: u32,
        winner: String,
        from: std::collections::BTreeMap<String, u32>,
        to: std::collections::BTreeMap<String, u32>,
        metric: String,
        /// The winner's smallest lift of each day that counted, oldest first.
        lifts: Vec<f64>,
    },
}

impl AlertEvent {
    /// The event's idempotency key: the same event always has the same id,
    /// so a receiver drops a copy (an alert re-sent after a failover).
    pub fn id(&self) -> String {
        match self {
            AlertEvent::CheckFailed { run_id, .. } => format!("checks:{run_id}"),
            AlertEvent::RunFailed { run_id, .. } => format!("failed:{run_id}"),
            AlertEvent::SlaMissed {
                env,
                dataset,
                version,
                partition,
                ..
            } => format!("sla-missed:{env}/{dataset}/v{version}/{partition}"),
            AlertEvent::SlaRecovered {
                env,
                dataset,
                version,
                partition,
                ..
            } => format!("sla-recovered:{env}/{dataset}/v{version}/{partition}"),
            AlertEvent::SplitPromoted { env, selector, seq, .. } => format!("split:{env}/{selector}/{seq}"),
        }
    }

    /// One message, in Slack's markdown, that reads well as plain text too.
    pub fn text(&self, project: &str) -> String {
        match self {
            AlertEvent::CheckFailed {
                dataset,
                version,
                partition,
                blocked,
                checks,
                ..
            } => {
                let head = if *blocked {
                    format!(
                        ":no_entry: *{project}*: `{dataset}` v{version} {partition} is *blocked*: consumers do not read it"
                    )
                } else {
                    format!(":warning: *{project}*: `{dataset}` v{version} {partition} failed a warning check")
                };
                let mut lines = vec![head];
                for c in checks {
                    let sev = if c.severity == Severity::Block { "block" } else { "warn" };
                    lines.push(format!("• `{}` ({sev}, {}): {}", c.name, c.status.as_str(), c.detail));
                }
                if *blocked {
                    let value = partition.split_once('=').map_or(partition.as_str(), |(_, v)| v);
                    lines.push(format!(
                        "Release it with `weir accept {dataset} --partition {value} --reason \"…\"`, or fix the data and `weir invalidate` it."
                    ));
                }
                lines.join("\n")
            }
            AlertEvent::RunFailed {
                dataset,
                version,
                partition,
                run_id,
                error,
            } => {
                let first = error.lines().next().unwrap_or("");
                format!(
                    ":x: *{project}*: `{dataset}` v{version} {partition} failed: {first}\nSee `weir logs {run_id}`; `weir run` tries it again."
                )
            }
            AlertEvent::SlaMissed {
                env,
                dataset,
                version,
                partition,
                deadline,
            } => format!(
                ":alarm_clock: *{project}* ({env}): `{dataset}` v{version} {partition} is *late*: it was due by {}.\n`weir status --env {env} {dataset}` says what it waits for.",
                deadline.format("%Y-%m-%d %H:%M UTC")
            ),
            AlertEvent::SlaRecovered {
                env,
                dataset,
                version,
                partition,
                late_by_s,
            } => format!(
                ":white_check_mark: *{project}* ({env}): `{dataset}` v{version} {partition} is complete, {} after its deadline.",
                human(*late_by_s)
            ),
            AlertEvent::SplitPromoted {
                env,
                selector,
                winner,
                from,
                to,
                metric,
                lifts,
                ..
            } => {
                let show = |m: &std::collections::BTreeMap<String, u32>| {
                    m.iter().map(|(v, w)| format!("{v}={w}")).collect::<Vec<_>>().join(",")
                };
                let lifts: Vec<String> = lifts.iter().map(|l| format!("{:+.1}%", l * 100.0)).collect();
                format!(
                    ":trophy: *{project}* ({env}): selector `{selector}` moved to `{winner}` by auto-promotion: split {} → {}.\n`{winner}` led on {metric} every day ({}).\nUndo with `weir selector set {selector} --env {env} --split {}`.",
                    show(from),
                    show(to),
                    lifts.join(", "),
                    show(from)
                )
            }
        }
    }
}

fn human(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        _ => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::check::Status;

    #[test]
    fn texts_name_the_instance_the_checks_and_what_to_do() {
        let e = AlertEvent::CheckFailed {
            dataset: "plays".into(),
            version: 2,
            partition: "date=2026-03-14".into(),
            run_id: "r1".into(),
            blocked: true,
            checks: vec![CheckResult {
                name: "drop rate".into(),
                severity: Severity::Block,
                status: Status::Fail,
                detail: "rows_in.raw = 10".into(),
            }],
        };
        let t = e.text("music");
        assert!(t.contains("`plays` v2 date=2026-03-14 is *blocked*"), "{t}");
        assert!(t.contains("`drop rate` (block, fail): rows_in.raw = 10"), "{t}");
        assert!(t.contains("weir accept plays --partition 2026-03-14"), "{t}");
        let f = AlertEvent::RunFailed {
            dataset: "plays".into(),
            version: 1,
            partition: "date=2026-03-14".into(),
            run_id: "r9".into(),
            error: "SQL failed: boom\nmore".into(),
        };
        let t = f.text("music");
        assert!(
            t.contains("failed: SQL failed: boom\n") && t.contains("weir logs r9"),
            "{t}"
        );
    }
}
