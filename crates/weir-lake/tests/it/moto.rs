//! A real S3-compatible server for tests: moto (`moto_server`, from the
//! test venv `scripts/test` makes), on a free loopback port, with a bucket.
//! Shared by the lake's tests and the binary's (`#[path]`), so there is one.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A `moto_server` on a free port, killed when dropped.
pub struct Moto {
    child: std::process::Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_bin() -> PathBuf {
    if let Ok(p) = std::env::var("WEIR_TEST_MOTO") {
        return PathBuf::from(p);
    }
    let python = std::env::var("WEIR_TEST_PYTHON").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/weir-venv/bin/python")
    });
    PathBuf::from(python).with_file_name("moto_server")
}

/// A raw HTTP request to moto (no client crate needed): the status code.
fn http(port: u16, method: &str, path: &str) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

impl Moto {
    /// Starts one with bucket `bucket`, waiting (with a deadline) until it answers.
    pub fn start(bucket: &str) -> Moto {
        let bin = moto_bin();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let child = std::process::Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}; ./scripts/test installs moto into its venv", bin.display()));
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http(port, "PUT", &format!("/{bucket}")) != Some(200) {
            assert!(Instant::now() < deadline, "moto_server did not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }

    #[allow(dead_code)]
    pub fn lake(&self, bucket: &str, prefix: &str) -> weir_lake::ObjectLake {
        weir_lake::ObjectLake::with_store(
            "default",
            &format!("s3://{bucket}/{prefix}"),
            self.store(bucket),
            prefix,
        )
    }

    #[allow(dead_code)]
    pub fn store(&self, bucket: &str) -> std::sync::Arc<dyn object_store::ObjectStore> {
        let store = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .build()
            .expect("store");
        std::sync::Arc::new(store)
    }
}
