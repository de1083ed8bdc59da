//! The reference figure of `weir bench ingest`: the same load published to
//! NATS JetStream's file store on this machine, each message acknowledged
//! by the broker (stored in its file store), from a throwaway
//! `nats-server -js` on loopback.

use super::ingest::{Figures, Load, drive};
use anyhow::{Context, Result};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `nats-server -js` on a free loopback port, stopped when dropped.
pub struct NatsServer {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NatsServer {
    /// Starts one and waits (with a deadline) until it takes connections.
    pub fn start() -> Result<NatsServer> {
        let dir = tempfile::tempdir().context("tempdir")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("nats-server is not installed (apt-get install nats-server)")?;
        let server = NatsServer {
            child,
            url: format!("nats://127.0.0.1:{port}"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            anyhow::ensure!(Instant::now() < deadline, "nats-server did not start");
            std::thread::yield_now();
        }
        Ok(server)
    }
}

pub async fn nats(load: Load) -> Result<Figures> {
    let server = NatsServer::start()?;
    let client = async_nats::connect(server.url.as_str()).await?;
    let js = async_nats::jetstream::new(client);
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: "bench".into(),
        subjects: vec!["plays".into()],
        storage: async_nats::jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await?;
    let (mut lat, events, errors, seconds) = drive(load, move |c, seq| {
        let js = js.clone();
        let events: Vec<bytes::Bytes> = super::ingest::body(c, seq, load.batch, load.event_bytes)
            .lines()
            .map(|l| bytes::Bytes::from(l.to_string()))
            .collect();
        async move {
            // A request's events published at once, then every broker
            // acknowledgement awaited: the same durability as one POST.
            let mut acks = Vec::with_capacity(events.len());
            for e in events {
                match js.publish("plays", e).await {
                    Ok(a) => acks.push(a),
                    Err(_) => return false,
                }
            }
            for a in acks {
                if a.await.is_err() {
                    return false;
                }
            }
            true
        }
    })
    .await;
    drop(server);
    let mut f = super::ingest::figures_of(
        "NATS JetStream publish (file store, acknowledged)",
        &mut lat,
        events,
        errors,
        seconds,
    );
    f.syncs = None;
    Ok(f)
}
