//! Secrets in URL-valued settings (export targets, the catalog, webhooks):
//! `env:NAME` reads the value from the environment, so it stays out of
//! `weir.toml` and deployment snapshots; messages show URLs redacted and
//! driver errors scrubbed. Nothing here logs or prints.

use crate::ExecError;

/// The URL without credentials, for messages: no user info, and the values
/// of secret-looking query parameters (`password`, `token`, …) masked.
pub fn redact(url: &str) -> String {
    // User info first, up to the last `@`: a password may hold `?` or `/`
    // (invalid unencoded, but seen), and cutting too much only hides more.
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest.rsplit('@').next().unwrap_or(rest)),
        None => (None, url),
    };
    let (head, query) = match rest.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (rest, None),
    };
    let mut out = match scheme {
        Some(scheme) => format!("{scheme}://{head}"),
        None => head.to_string(),
    };
    if let Some(q) = query {
        let params: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if is_secret_key(k) => format!("{k}=***"),
                _ => kv.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// `message` without `url` or any password inside it.
pub(crate) fn scrub(message: &str, url: &str) -> String {
    let mut out = message.replace(url, "<url>");
    let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    if let Some((userinfo, _)) = after_scheme.rsplit_once('@')
        && let Some((_, password)) = userinfo.split_once(':')
        && !password.is_empty()
    {
        out = out.replace(password, "***");
    }
    for kv in url.split_once('?').map_or("", |(_, q)| q).split('&') {
        if let Some((k, v)) = kv.split_once('=')
            && is_secret_key(k)
            && !v.is_empty()
        {
            out = out.replace(v, "***");
        }
    }
    out
}

fn is_secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    ["pass", "pwd", "secret", "token", "key", "auth", "credential"]
        .iter()
        .any(|s| k.contains(s))
}

/// An export target as declared: a URL, or `env:NAME` to read it from the
/// environment (so the secret stays out of `weir.toml` and deployment
/// snapshots). Returns the URL and how messages may show it.
pub fn resolve(spec: &str) -> Result<(String, String), ExecError> {
    match spec.strip_prefix("env:") {
        Some(var) => match std::env::var(var) {
            Ok(url) if !url.trim().is_empty() => Ok((url, spec.to_string())),
            _ => Err(ExecError::job(format!(
                "export target {spec}: ${var} is not set; export it before running weir"
            ))),
        },
        None => Ok((spec.to_string(), redact(spec))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials_in_messages() {
        assert_eq!(
            redact("postgres://weir:s3cret@db:5432/serving"),
            "postgres://db:5432/serving"
        );
        assert_eq!(redact("sqlite://serving.db"), "sqlite://serving.db");
        assert_eq!(
            redact("postgres://db/serving?user=u&password=s3cret&sslmode=require"),
            "postgres://db/serving?user=u&password=***&sslmode=require"
        );
        for raw in ["postgres://u:p?ss@db/serving", "postgres://u:p/ss@db/serving"] {
            let shown = redact(raw);
            assert!(
                !shown.contains("ss@") && !shown.contains("p?") && !shown.contains(":p"),
                "{shown}"
            );
            assert!(shown.ends_with("db/serving"), "{shown}");
        }
    }
}
