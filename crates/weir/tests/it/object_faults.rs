//! Lakes on object storage under faults: a fault-injecting proxy before
//! moto makes a tenth of requests fail or stall; everything still
//! completes, and nothing is lost or sealed twice.

use crate::object_lake::{BUCKET, Moto, ok, ok_json, sql};
use crate::support::*;
use std::path::Path;

/// A fault-injecting HTTP proxy in front of moto: of every ten requests, one
/// fails (503 `SlowDown`, as S3 throttles) or stalls past the client's
/// deadline before it is forwarded (so a write may still land late).
struct Faulty {
    endpoint: String,
    failed: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stalled: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    _rt: tokio::runtime::Runtime,
}

impl Faulty {
    fn start(upstream: &str, stall: std::time::Duration) -> Faulty {
        use axum::body::Body;
        use axum::http::{Request, Response, StatusCode};
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (failed, stalled, seen) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let client = reqwest::Client::new();
        let upstream = upstream.to_string();
        let (f, s) = (failed.clone(), stalled.clone());
        let handler = move |req: Request<Body>| {
            let (client, upstream, f, s, seen) = (client.clone(), upstream.clone(), f.clone(), s.clone(), seen.clone());
            async move {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
                if n % 10 == 3 {
                    if (n / 10) % 2 == 0 {
                        f.fetch_add(1, Ordering::SeqCst);
                        return Response::builder()
                            .status(StatusCode::SERVICE_UNAVAILABLE)
                            .body(Body::from(
                                "<Error><Code>SlowDown</Code><Message>injected</Message></Error>",
                            ))
                            .expect("response");
                    }
                    s.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(stall).await;
                }
                let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                let mut fwd = client.request(parts.method, format!("{upstream}{path}"));
                for (k, v) in &parts.headers {
                    if k != "host" {
                        fwd = fwd.header(k, v);
                    }
                }
                match fwd.body(body).send().await {
                    Ok(r) => {
                        let mut out = Response::builder().status(r.status());
                        for (k, v) in r.headers() {
                            if k != "transfer-encoding" && k != "content-length" {
                                out = out.header(k, v);
                            }
                        }
                        let bytes = r.bytes().await.unwrap_or_default();
                        out.body(Body::from(bytes)).expect("response")
                    }
                    Err(e) => Response::builder()
                        .status(StatusCode::BAD_GATEWAY)
                        .body(Body::from(e.to_string()))
                        .expect("response"),
                }
            }
        };
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        rt.spawn(async move {
            let app = axum::Router::new().fallback(handler);
            let _ = axum::serve(listener, app).await;
        });
        Faulty {
            endpoint: format!("http://127.0.0.1:{port}"),
            failed,
            stalled,
            _rt: rt,
        }
    }
}

#[test]
fn with_a_tenth_of_requests_failing_or_stalling_everything_completes_and_nothing_is_sealed_twice() {
    use std::sync::atomic::Ordering;
    let moto = Moto::start(BUCKET);
    let proxy = Faulty::start(&moto.endpoint, std::time::Duration::from_millis(1500));
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    let through = |dir: &Path, args: &[&str]| {
        let out = weir(dir, NOW)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("WEIR_S3_ENDPOINT", &proxy.endpoint)
            .env("WEIR_OBJECT_TIMEOUT_MS", "500")
            .args(args)
            .output()
            .expect("run weir");
        let (out, err) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        (out, err)
    };
    let url = format!("s3://{BUCKET}/demo");
    let (out, err) = through(
        tmp.path(),
        &[
            "demo",
            dir.to_str().expect("utf8"),
            "--days",
            "3",
            "--lake",
            &url,
            "--json",
        ],
    );
    let summary: serde_json::Value =
        serde_json::from_str(out.lines().next().unwrap_or("")).unwrap_or(serde_json::Value::Null);
    let st = ok_json(&moto, &dir, &["status"]);
    for row in st.as_array().expect("rows") {
        assert_eq!(row["fraction"], 1.0, "complete despite faults: {row}\n{err}\n{summary}");
    }
    // Invalidation and restore (copies and deletes) through the faults too.
    let (out, err) = through(&dir, &["invalidate", "plays", "--partition", "2026-01-02", "--json"]);
    let inv: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let trash_id = inv["trash_id"].as_str().expect("trash id").to_string();
    let (_, err) = through(&dir, &["restore", &trash_id]);
    let st = ok_json(&moto, &dir, &["status"]);
    assert!(
        st.as_array().expect("rows").iter().all(|r| r["fraction"] == 1.0),
        "{st}\n{err}"
    );
    assert!(
        proxy.failed.load(Ordering::SeqCst) >= 10 && proxy.stalled.load(Ordering::SeqCst) >= 10,
        "faults were injected: {} failed, {} stalled",
        proxy.failed.load(Ordering::SeqCst),
        proxy.stalled.load(Ordering::SeqCst)
    );
    // Sealed once each: every manifest's run is the catalog's, every file is
    // whole, nothing stray (straight to moto, without faults).
    let doctor = ok_json(&moto, &dir, &["doctor", "--deep"]);
    assert_eq!(doctor["errors"], 0, "{doctor}");
    assert_eq!(doctor["findings"].as_array().map(Vec::len), Some(0), "{doctor:#}");
    // The same rows as the local lake's.
    let (_local_tmp, local) = demo_project();
    for args in [&["deploy"][..], &["run", "--env", "prod"]] {
        ok(&moto, &dir, args);
        let (code, _, err) = exec(&local, NOW, args);
        assert_eq!(code, 0, "{err}");
    }
    for q in [
        "SELECT count(*), count(DISTINCT event_id), sum(ms_played) FROM plays",
        "SELECT count(*), sum(plays), sum(sessions) FROM user_daily",
    ] {
        assert_eq!(sql(Some(&moto), &dir, q), sql(None, &local, q), "{q}");
    }
}
