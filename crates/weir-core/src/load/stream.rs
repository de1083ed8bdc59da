//! `stream = { … }`: a nearline dataset's definition (docs/streams.md).

use super::*;
use crate::model::{StreamSource, StreamSpec};

impl Cx {
    /// `stream = { source = "http" | "nats://…", subject, format = "jsonl",
    /// schema, event_time, id, lateness, dedup, idle, max_future, max_body }`.
    pub(super) fn stream(&mut self, v: &Val<'_>, g: Granularity) -> Option<Job> {
        let t = self.table(v, "stream")?;
        self.check_keys(t, &keys::STREAM, "stream");
        if !matches!(g, Granularity::Minutes(_) | Granularity::Hour | Granularity::Day) {
            self.err(
                &v.span(),
                format!("a stream is partitioned by minutes, hour or day, not `{g}`"),
                Some("e.g. partition = \"15m\", \"5m\" or \"hour\"".into()),
            );
        }
        let source = match get(t, "source") {
            None => "http".to_string(),
            Some(sv) => self.string(sv, "stream source")?,
        };
        let subject = match get(t, "subject") {
            Some(sv) => Some(self.string(sv, "stream subject")?),
            None => None,
        };
        let span_of = |key: &str| get(t, key).map_or(v.span(), |x| x.span());
        let source = if source == "http" {
            if subject.is_some() {
                self.err(
                    &span_of("subject"),
                    "an http stream has no `subject`: events arrive at POST /ingest/<stream>",
                    None,
                );
            }
            StreamSource::Http
        } else if source.starts_with("nats://") || source.starts_with("env:") {
            let Some(subject) = subject else {
                self.err(
                    &v.span(),
                    "a NATS stream needs a `subject`",
                    Some("e.g. stream = { source = \"nats://127.0.0.1:4222\", subject = \"plays\" }".into()),
                );
                return None;
            };
            StreamSource::Nats { url: source, subject }
        } else {
            self.err(
                &span_of("source"),
                format!("unknown stream source `{source}`"),
                Some("use \"http\" (POST /ingest/<stream>) or \"nats://HOST:PORT\"".into()),
            );
            return None;
        };
        if let Some(fv) = get(t, "format") {
            let f = self.string(fv, "stream format")?;
            if f != "jsonl" {
                self.err(&fv.span(), format!("a stream's format is jsonl, not `{f}`"), None);
            }
        }
        let schema = match get(t, "schema") {
            Some(sv) => Some(self.schema(sv)?),
            None => None,
        };
        let field = |cx: &mut Self, key: &str| -> Option<String> {
            let fv = get(t, key)?;
            cx.string(fv, key)
        };
        let event_time = field(self, "event_time");
        let id = field(self, "id");
        let span = |cx: &mut Self, key: &str, default: &str| {
            cx.non_negative(get(t, key), key)
                .unwrap_or_else(|| Span::parse(default).unwrap_or(Span::ZERO))
        };
        let lateness = span(self, "lateness", "5m");
        let dedup = span(self, "dedup", "1h");
        let idle = span(self, "idle", "1m");
        let max_future = span(self, "max_future", "5m");
        let max_body = match get(t, "max_body") {
            None => 8 << 20,
            Some(bv) => {
                let s = self.string(bv, "max_body")?;
                match parse_bytes(&s) {
                    Some(n) if n > 0 => n,
                    _ => {
                        self.err(
                            &bv.span(),
                            format!("max_body `{s}` is not a size"),
                            Some("e.g. max_body = \"8MiB\"".into()),
                        );
                        8 << 20
                    }
                }
            }
        };
        Some(Job::Stream(Box::new(StreamSpec {
            source,
            schema,
            event_time,
            id,
            lateness,
            dedup,
            idle,
            max_future,
            max_body,
            quarantine_of: None,
        })))
    }
}

/// A size such as `8MiB`, `512KiB`, `1GiB`, `1MB` or `4096` (bytes).
fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..digits].parse().ok()?;
    let mult: u64 = match s[digits..].trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// The quarantine dataset the loader adds beside a stream: its malformed
/// events, partitioned like it, with no checks of its own.
pub(super) fn quarantine_of(ds: &Dataset) -> Option<Dataset> {
    let Job::Stream(spec) = &ds.job else {
        return None;
    };
    let name = crate::model::StreamSpec::quarantine_name(&ds.name);
    let mut spec = spec.clone();
    spec.quarantine_of = Some(ds.name.clone());
    Some(Dataset {
        name,
        job: Job::Stream(spec),
        description: Some(format!("the malformed events of stream `{}`, with the reason", ds.name)),
        key: Vec::new(),
        counters: BTreeMap::new(),
        derived: BTreeMap::new(),
        checks: Vec::new(),
        sla: None,
        declared_version: ds.declared_version.clone(),
        ..ds.clone()
    })
}

#[cfg(test)]
mod size_tests {
    #[test]
    fn sizes_parse_in_both_units() {
        assert_eq!(super::parse_bytes("8MiB"), Some(8 << 20));
        assert_eq!(super::parse_bytes("1MB"), Some(1_000_000));
        assert_eq!(super::parse_bytes("4096"), Some(4096));
        assert_eq!(super::parse_bytes("8 MiB"), Some(8 << 20));
        assert_eq!(super::parse_bytes("lots"), None);
        assert_eq!(super::parse_bytes("8XB"), None);
    }
}
