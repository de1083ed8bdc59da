//! The NATS JetStream source of a stream: a durable pull consumer whose
//! messages are acknowledged to the broker only once they are durable in
//! the stream's log. A kill before the acknowledgement means redelivery
//! (after `ACK_WAIT`), and the stream's `id` de-duplication drops the copy:
//! nothing is lost, nothing is sealed twice.
//!
//! The leader consumes; a follower does not. If no JetStream stream
//! captures the subject, one is made (`weir_<stream>`, file storage).

use crate::Shared;
use async_nats::jetstream::{self, consumer::AckPolicy, consumer::pull};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// How long the broker waits for an acknowledgement before redelivering.
pub const ACK_WAIT: Duration = Duration::from_secs(10);
/// Messages taken per fetch (one log append).
const BATCH: usize = 1000;

/// Consumes `subject` at `url` into stream `name` while this server leads;
/// returns when it stops leading or the connection fails (the caller starts
/// it again).
pub async fn consume(shared: Arc<Shared>, name: String, url: String, subject: String) -> Result<(), String> {
    let streams = &shared.streams;
    let (url, shown) = weir_exec::secret::resolve(&url).map_err(|e| e.to_string())?;
    let client = async_nats::connect(url.as_str())
        .await
        .map_err(|e| format!("cannot connect to NATS at {shown}: {e}"))?;
    let js = jetstream::new(client);
    let stream_name = match js.stream_by_subject(subject.as_str()).await {
        Ok(n) => n,
        Err(_) => {
            let config = jetstream::stream::Config {
                name: format!("weir_{name}"),
                subjects: vec![subject.clone()],
                storage: jetstream::stream::StorageType::File,
                ..Default::default()
            };
            js.get_or_create_stream(config)
                .await
                .map_err(|e| format!("cannot make a JetStream stream for `{subject}` at {shown}: {e}"))?
                .cached_info()
                .config
                .name
                .clone()
        }
    };
    let js_stream = js
        .get_stream(&stream_name)
        .await
        .map_err(|e| format!("JetStream stream `{stream_name}`: {e}"))?;
    let durable = format!("weir_{name}");
    let consumer: jetstream::consumer::Consumer<pull::Config> = js_stream
        .get_or_create_consumer(
            &durable,
            pull::Config {
                durable_name: Some(durable.clone()),
                filter_subject: subject.clone(),
                ack_policy: AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                max_ack_pending: 100_000,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("JetStream consumer `{durable}`: {e}"))?;
    tracing::info!(stream = %name, nats = %shown, subject = %subject, "consuming from NATS JetStream");
    while streams.is_active() {
        let mut batch = consumer
            .fetch()
            .max_messages(BATCH)
            .expires(Duration::from_millis(500))
            .messages()
            .await
            .map_err(|e| format!("fetching from `{subject}`: {e}"))?;
        let mut messages = Vec::new();
        while let Some(m) = batch.next().await {
            messages.push(m.map_err(|e| format!("fetching from `{subject}`: {e}"))?);
        }
        tracing::debug!(stream = %name, messages = messages.len(), "fetched from NATS");
        if messages.is_empty() {
            continue;
        }
        // A payload that is not UTF-8 is not an event: it is quarantined.
        let events: Vec<String> = messages
            .iter()
            .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
            .collect();
        let s = streams.get(&name).await.map_err(|e| e.to_string())?;
        // Durable first; on an error nothing is acknowledged, and the
        // broker delivers the messages again.
        let report = s.ingest(&events, streams.now_ms()).await.map_err(|e| e.to_string())?;
        shared.metrics.ingested(&name, &report);
        for m in messages {
            m.ack().await.map_err(|e| format!("acknowledging to NATS: {e}"))?;
        }
    }
    Ok(())
}
