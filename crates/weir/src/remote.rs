//! The CLI as a client of `weir serve`: `--server URL` (or `WEIR_SERVER`)
//! with `WEIR_TOKEN`. Requests go to `/api/v1`; an API error becomes the same
//! error (message and hint) a local verb would print.

use crate::UserError;
use anyhow::{Context, Result};
use serde::de::DeserializeOwned;

pub struct Remote {
    base: String,
    token: Option<String>,
    client: reqwest::Client,
}

impl Remote {
    pub fn new(url: &str) -> Result<Remote> {
        let base = url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(UserError::new(
                format!("--server `{url}` is not an http(s) URL"),
                "e.g. --server http://127.0.0.1:7878 (or set WEIR_SERVER)",
            )
            .into());
        }
        Ok(Remote {
            base,
            token: std::env::var("WEIR_TOKEN").ok().filter(|t| !t.trim().is_empty()),
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(600))
                .build()
                .context("cannot start an HTTP client")?,
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self.client.request(method, format!("{}/api/v1{path}", self.base));
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        r
    }

    async fn send(&self, r: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let resp = r.send().await.map_err(|e| {
            let what = if e.is_connect() {
                "cannot connect to"
            } else {
                "no answer from"
            };
            anyhow::anyhow!("{what} the weir server at {}", self.base)
        })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        let message = body["error"]["message"]
            .as_str()
            .map_or_else(|| format!("the server answered {status}"), str::to_string);
        let hint = body["error"]["hint"].as_str().unwrap_or("").to_string();
        if status.is_client_error() {
            let hint = match status.as_u16() {
                401 if self.token.is_none() => "set WEIR_TOKEN to a token (`weir token create`)".to_string(),
                _ => hint,
            };
            return Err(UserError::new(message, hint).into());
        }
        Err(anyhow::anyhow!("{message} ({status}); {hint}"))
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let resp = self.send(self.request(reqwest::Method::GET, path)).await?;
        resp.json()
            .await
            .context("the server's answer is not what this weir expects")
    }

    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &serde_json::Value) -> Result<T> {
        let resp = self.send(self.request(reqwest::Method::POST, path).json(body)).await?;
        resp.json()
            .await
            .context("the server's answer is not what this weir expects")
    }
}

impl Remote {
    /// Copies a streamed answer (a followed log) to `out` as it arrives.
    pub async fn stream(&self, path: &str, out: &mut impl std::io::Write) -> Result<()> {
        // A followed run may run for hours: no overall timeout here.
        let req = self
            .request(reqwest::Method::GET, path)
            .timeout(std::time::Duration::from_secs(86_400 * 7));
        let mut resp = self.send(req).await?;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| anyhow::anyhow!("the server's stream broke off: {e}"))?
        {
            out.write_all(&chunk)?;
            out.flush()?;
        }
        Ok(())
    }
}

/// Percent-encodes a query value or path segment.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
