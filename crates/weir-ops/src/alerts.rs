//! Alert delivery: a webhook that gets one JSON message (`{"text": …}`, which
//! Slack's incoming webhooks accept) per failing check or failed run.
//!
//! Delivery never holds the pipeline up: `send` only queues, a background
//! task posts with retries, and `finish` waits a bounded time for what is
//! still queued when the run ends. The URL usually holds a secret (Slack puts
//! it in the path), so only its scheme and host are ever printed.

use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use weir_core::model::Alerts;
use weir_sched::alert::AlertEvent;

/// Attempts per message, with 0.5 s, 1 s, 2 s … between them.
const ATTEMPTS: u32 = 4;
const QUEUE: usize = 256;

/// `https://hooks.slack.com/…`: scheme and host only.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            let host = host.rsplit('@').next().unwrap_or(host);
            format!("{scheme}://{host}/…")
        }
        None => "(webhook)".into(),
    }
}

/// POSTs a JSON body, retrying with 0.5 s, 1 s, 2 s … between attempts.
/// The error never carries the URL (it may hold a secret).
pub(crate) async fn post_json(client: &reqwest::Client, url: &str, body: &str) -> Result<(), String> {
    let mut wait = Duration::from_millis(500);
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        let sent = client
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => return Ok(()),
            // Never print reqwest's error: it carries the URL.
            Ok(r) => last = format!("HTTP {}", r.status()),
            Err(e) if e.is_timeout() => last = "timed out".into(),
            Err(e) if e.is_connect() => last = "could not connect".into(),
            Err(_) => last = "request failed".into(),
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
    Err(last)
}

/// A running webhook sender.
pub struct Webhook {
    /// (the alert's id, its body) for the worker.
    tx: mpsc::Sender<(String, String)>,
    worker: JoinHandle<Report>,
    target: String,
    project: String,
    alerts: Alerts,
    /// For `deliver`, which waits for its answer. Never printed.
    url: String,
    client: reqwest::Client,
}

/// How `deliver` went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The webhook took it.
    Sent,
    /// `[alerts] on` does not want this kind.
    NotWanted,
    /// Not delivered after the retries (why, without the URL).
    Failed(String),
}

/// What the sender managed.
#[derive(Debug, Default, Clone, Copy)]
pub struct Report {
    pub delivered: usize,
    pub failed: usize,
}

impl Webhook {
    /// Starts a sender for the project's `[alerts]`, if any. An `env:NAME`
    /// webhook whose variable is unset is reported and skipped.
    ///
    /// With `catalog`, each alert the worker delivers is recorded as sent
    /// in the catalog's outbox (`Catalog::alert_sent`).
    pub fn start(
        project: &weir_core::Project,
        catalog: Option<std::sync::Arc<dyn weir_catalog::Catalog>>,
    ) -> Option<Webhook> {
        let alerts = project.alerts.clone()?;
        let url = match alerts.webhook.strip_prefix("env:") {
            Some(var) => match std::env::var(var) {
                Ok(u) if !u.trim().is_empty() => u,
                _ => {
                    eprintln!("warning: [alerts] webhook reads ${var}, which is not set; alerts are off for this run");
                    return None;
                }
            },
            None => alerts.webhook.clone(),
        };
        let target = redact(&url);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .ok()?;
        let (tx, mut rx) = mpsc::channel::<(String, String)>(QUEUE);
        let shown = target.clone();
        let (worker_client, worker_url) = (client.clone(), url.clone());
        let worker = tokio::spawn(async move {
            let (client, url) = (worker_client, worker_url);
            let mut report = Report::default();
            while let Some((id, body)) = rx.recv().await {
                match post_json(&client, &url, &body).await {
                    Ok(()) => {
                        report.delivered += 1;
                        if let Some(c) = &catalog
                            && let Err(e) = c.alert_sent(&id, chrono::Utc::now().timestamp_millis()).await
                        {
                            eprintln!("warning: alert {id} was delivered but cannot be recorded as sent: {e}");
                        }
                    }
                    Err(last) => {
                        report.failed += 1;
                        eprintln!("warning: alert to {shown} not delivered after {ATTEMPTS} attempts ({last})");
                    }
                }
            }
            report
        });
        Some(Webhook {
            tx,
            worker,
            target,
            project: project.name.clone(),
            alerts,
            url,
            client,
        })
    }

    /// The message for `event`, if `[alerts] on` wants its kind.
    fn body(&self, event: &AlertEvent) -> Option<String> {
        let kind = match event {
            AlertEvent::CheckFailed { blocked: true, .. } => "block",
            AlertEvent::CheckFailed { .. } => "warn",
            AlertEvent::RunFailed { .. } => "failure",
            AlertEvent::SlaMissed { .. } | AlertEvent::SlaRecovered { .. } => "late",
            AlertEvent::SplitPromoted { .. } => "selector",
        };
        self.alerts.wants(kind).then(|| {
            serde_json::json!({ "text": event.text(&self.project), "id": event.id(), "kind": kind }).to_string()
        })
    }

    /// Posts an alert now and waits for the answer (with the retries), for
    /// alerts recorded as delivered only once they are.
    pub async fn deliver(&self, event: &AlertEvent) -> Delivery {
        let Some(body) = self.body(event) else {
            return Delivery::NotWanted;
        };
        match post_json(&self.client, &self.url, &body).await {
            Ok(()) => Delivery::Sent,
            Err(why) => Delivery::Failed(why),
        }
    }

    /// Queues an alert if `[alerts] on` wants it; never waits.
    pub fn send(&self, event: &AlertEvent) {
        let Some(body) = self.body(event) else {
            return;
        };
        if self.tx.try_send((event.id(), body)).is_err() {
            eprintln!("warning: alert queue full; an alert to {} was dropped", self.target);
        }
    }

    /// Waits up to `grace` for queued alerts to go out.
    pub async fn finish(self, grace: Duration) -> Option<Report> {
        drop(self.tx);
        tokio::time::timeout(grace, self.worker).await.ok()?.ok()
    }
}

/// Sends the SLA alerts `env` still owes (the leader's work), oldest first,
/// recording each once delivered; stops at the first that cannot be, to try
/// again on the next pass. Without a webhook nothing is owed: each is
/// recorded as done. Returns the alerts delivered.
pub async fn deliver_sla_alerts(
    catalog: &dyn weir_catalog::Catalog,
    env: &str,
    webhook: Option<&Webhook>,
    now_ms: i64,
) -> crate::Result<Vec<AlertEvent>> {
    let mut sent = Vec::new();
    for (miss, recovery) in catalog.sla_alerts_due(env).await? {
        let event = weir_sched::sla::alert_of(&miss, recovery);
        if let Some(w) = webhook {
            match w.deliver(&event).await {
                Delivery::Sent => sent.push(event),
                Delivery::NotWanted => {}
                Delivery::Failed(why) => {
                    eprintln!(
                        "warning: an SLA alert to {} was not delivered ({why}); it is sent again on the next check",
                        w.target
                    );
                    break;
                }
            }
        }
        catalog
            .sla_alerted(env, &miss.dataset, miss.partition, recovery, now_ms)
            .await?;
    }
    Ok(sent)
}

/// Sends the run alerts owed since before `before_ms` (the leader's work:
/// what a process that died, or could not deliver, left owing), oldest first,
/// recording each once delivered; stops at the first that cannot be, to try
/// again later. Without a webhook nothing is owed: each is recorded as done.
pub async fn deliver_owed_alerts(
    catalog: &dyn weir_catalog::Catalog,
    webhook: Option<&Webhook>,
    before_ms: i64,
    now_ms: i64,
) -> crate::Result<Vec<AlertEvent>> {
    let mut sent = Vec::new();
    for (id, json) in catalog.alerts_owed(before_ms).await? {
        let event: Option<AlertEvent> = serde_json::from_str(&json).ok();
        if let (Some(w), Some(event)) = (webhook, event) {
            match w.deliver(&event).await {
                Delivery::Sent => sent.push(event),
                Delivery::NotWanted => {}
                Delivery::Failed(why) => {
                    eprintln!(
                        "warning: an alert to {} was not delivered ({why}); it is sent again later",
                        w.target
                    );
                    break;
                }
            }
        }
        catalog.alert_sent(&id, now_ms).await?;
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_only_scheme_and_host() {
        assert_eq!(
            redact("https://hooks.slack.com/services/T000/B000/XXXXSECRET"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(redact("http://user:pw@127.0.0.1:9/x?token=s"), "http://127.0.0.1:9/…");
        assert_eq!(redact("garbage"), "(webhook)");
    }
}
