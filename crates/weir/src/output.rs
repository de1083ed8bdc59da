//! The one printer: data to stdout (text or `--json`), messages to stderr,
//! colour only on a terminal and never with `NO_COLOR`.

use serde::Serialize;
use std::io::{IsTerminal, Write};

#[derive(Clone, Copy, Debug)]
pub struct Printer {
    pub json: bool,
    pub color: bool,
    pub interactive: bool,
}

impl Printer {
    pub fn new(json: bool) -> Self {
        let tty = std::io::stdout().is_terminal();
        let color = tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Self {
            json,
            color,
            interactive: std::io::stderr().is_terminal() && !json,
        }
    }

    /// Prints `value` as JSON, or `text()` as text.
    pub fn data<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) {
        let mut out = std::io::stdout().lock();
        let s = if self.json {
            serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
        } else {
            text()
        };
        let _ = writeln!(out, "{}", s.trim_end_matches('\n'));
    }

    /// A message for people, on stderr.
    pub fn note(&self, msg: impl AsRef<str>) {
        eprintln!("{}", msg.as_ref());
    }

    pub fn bold(&self, s: &str) -> String {
        self.paint(s, "1")
    }

    pub fn green(&self, s: &str) -> String {
        self.paint(s, "32")
    }

    pub fn red(&self, s: &str) -> String {
        self.paint(s, "31")
    }

    pub fn yellow(&self, s: &str) -> String {
        self.paint(s, "33")
    }

    fn paint(&self, s: &str, code: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// Renders rows as aligned columns; the first row is the header.
pub fn table(rows: &[Vec<String>]) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let mut widths = vec![0; first.len()];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths.get(i).copied().unwrap_or(0)))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `3h 05m`, `2d 04h`, `45s`.
pub fn human_duration(secs: i64) -> String {
    let neg = secs < 0;
    let s = secs.unsigned_abs();
    let text = if s >= 86_400 {
        format!("{}d {:02}h", s / 86_400, (s % 86_400) / 3600)
    } else if s >= 3600 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    };
    if neg { format!("-{text}") } else { text }
}

/// `1.2 MB`.
pub fn human_bytes(b: i64) -> String {
    let b = b as f64;
    for (unit, size) in [("GB", 1e9), ("MB", 1e6), ("kB", 1e3)] {
        if b >= size {
            return format!("{:.1} {unit}", b / size);
        }
    }
    format!("{b} B")
}
