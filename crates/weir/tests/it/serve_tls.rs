//! `weir serve` over HTTPS, with a throwaway CA made by the openssl command.

use crate::serve::{SMALL, Served, token};
use crate::support::*;
use std::path::Path;

/// `--tls-cert/--tls-key`: the API over HTTPS (rustls), with the same tokens;
/// the session cookie is `Secure`; plain HTTP to the port gets nothing; a
/// missing or half-given certificate is the user's mistake.
#[test]
fn serve_speaks_https_with_a_certificate_and_key() {
    let tmp = project(SMALL, &[]);
    let dir = tmp.path();
    let (code, _, err) = exec(dir, NOW, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    let (cert, key) = make_certificate(dir);
    let viewer = token(dir, "viewer", "v", &[]);
    let paths = [cert.to_str().expect("utf8"), key.to_str().expect("utf8")];
    let served = Served::start(dir, NOW, &["--tls-cert", paths[0], "--tls-key", paths[1]]);
    assert!(served.url.starts_with("https://127.0.0.1:"), "{}", served.url);
    let pem = std::fs::read(dir.join("ca.pem")).expect("the CA");
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client");
    let get = |path: &str, token: Option<&str>| {
        let mut r = client.get(format!("{}{path}", served.url));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().expect("an HTTPS answer").status().as_u16()
    };
    assert_eq!(get("/healthz", None), 200);
    assert_eq!(get("/api/v1/project", None), 401, "tokens still required");
    assert_eq!(get("/api/v1/project", Some(&viewer)), 200);
    let session = client
        .post(format!("{}/api/v1/session", served.url))
        .json(&serde_json::json!({ "token": viewer }))
        .send()
        .expect("session");
    let cookie = session
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(cookie.contains("; Secure") && cookie.contains("HttpOnly"), "{cookie}");
    let plain = served.url.replacen("https://", "http://", 1);
    let answer = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .expect("client")
        .get(format!("{plain}/healthz"))
        .send();
    assert!(answer.is_err(), "plain HTTP gets no answer: {answer:?}");
    assert_eq!(get("/healthz", None), 200, "a failed handshake stops nothing");

    let (code, _, err) = exec(dir, NOW, &["serve", "--tls-cert", "nope.pem", "--tls-key", paths[1]]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nope.pem"), "the error names the file: {err}");
    let (code, _, err) = exec(dir, NOW, &["serve", "--tls-cert", paths[0]]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--tls-key"), "{err}");
    let (code, _, err) = exec(dir, NOW, &["serve", "--tls-cert", paths[1], "--tls-key", paths[1]]);
    assert_eq!(code, 2, "a key is not a certificate: {err}");
}

/// A throwaway CA (`ca.pem`) and a certificate it signed for 127.0.0.1, with
/// its key, made by the openssl command: (certificate, key).
pub(crate) fn make_certificate(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("openssl (the CI installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=weir test CA"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    openssl(&ca);
    let mut csr = vec!["req", "-subj", "/CN=127.0.0.1"];
    csr.extend(ec);
    csr.extend(["-keyout", "key.pem", "-out", "leaf.csr"]);
    openssl(&csr);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extensions");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
        "-out",
        "cert.pem",
    ]);
    (dir.join("cert.pem"), dir.join("key.pem"))
}
