//! What happens to each event as it arrives, decided once, at arrival, so
//! that replaying the write-ahead log gives the same partitions:
//!
//! - **Quarantined**: not a JSON object, a field of the wrong type for the
//!   schema, an event time that cannot be read, or one further ahead than
//!   `max_future`. Kept (with the reason) in `<stream>__quarantine`.
//! - **Duplicate**: its id is already in an open partition. Counted, not
//!   kept a second time.
//! - **Accepted** into the partition of its event time; or, **late** (its
//!   event time is behind the watermark, so its partition may be sealed), into
//!   the partition of its arrival time, flagged `late`.
//!
//! **The watermark** is the newest event time seen, no later than the
//! clock, minus `lateness`. With no event for `idle`, it follows the clock
//! (minus `lateness`), so quiet partitions seal too. It never goes back. A
//! partition seals once the watermark passes its end.
//!
//! **Event times** are RFC 3339 strings (or `YYYY-MM-DD HH:MM:SS`, UTC), or
//! numbers: seconds since the epoch, or milliseconds when over 10^11.

use crate::record::Record;
use crate::sealed::{SealedIds, id_hash};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use weir_core::model::{ColumnType, StreamSpec};
use weir_core::partition::Granularity;

/// A stream's rules for arriving events, from its definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    pub granularity: Granularity,
    pub event_time: Option<String>,
    pub id: Option<String>,
    pub schema: Option<Vec<(String, ColumnType)>>,
    pub lateness_ms: i64,
    pub idle_ms: i64,
    pub max_future_ms: i64,
    /// How long sealed ids are remembered against copies.
    pub dedup_ms: i64,
}

fn ms(span: weir_core::Span) -> i64 {
    match span {
        weir_core::Span::Seconds(s) => s.saturating_mul(1000),
        weir_core::Span::Months(m) => i64::from(m).saturating_mul(30 * 86_400_000),
    }
}

impl Rules {
    pub fn of(spec: &StreamSpec, granularity: Granularity) -> Rules {
        Rules {
            granularity,
            event_time: spec.event_time.clone(),
            id: spec.id.clone(),
            schema: spec.schema.clone(),
            lateness_ms: ms(spec.lateness),
            idle_ms: ms(spec.idle),
            max_future_ms: ms(spec.max_future),
            dedup_ms: ms(spec.dedup),
        }
    }
}

/// What becomes of one event.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Accepted {
        partition: i64,
        /// The event time (the arrival time without an `event_time` field).
        event_ms: i64,
        id: Option<String>,
        /// Behind the watermark: in the partition of its arrival instead.
        late: bool,
    },
    /// Its id is already in `partition`, an open one (or, for a copy of a
    /// sealed event, the partition of its arrival, where it is counted).
    Duplicate { id: String, partition: i64 },
    /// Kept in the quarantine's `partition` (of its arrival).
    Quarantined { partition: i64, reason: String },
}

/// A request body that is not events at all.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the body is not UTF-8")]
    NotUtf8,
    #[error("the body starts a JSON array but is not one: {0}")]
    BadArray(String),
}

/// The events of a request body: a JSON array of them, or one per line
/// (blank lines skipped). Each comes back as its own text, so a malformed
/// line can be quarantined as it arrived.
pub fn split_body(body: &[u8]) -> Result<Vec<String>, BodyError> {
    let text = std::str::from_utf8(body).map_err(|_| BodyError::NotUtf8)?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        // An array's items come back re-serialised (compact): the same JSON.
        let items: Vec<Value> = serde_json::from_str(trimmed).map_err(|e| BodyError::BadArray(e.to_string()))?;
        return Ok(items.iter().map(Value::to_string).collect());
    }
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

fn event_ms(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => weir_core::partition::parse_instant(s).map(|t| t.timestamp_millis()),
        Value::Number(n) => {
            let x = n.as_f64()?;
            if !x.is_finite() {
                return None;
            }
            Some(if x.abs() >= 1e11 { x as i64 } else { (x * 1000.0) as i64 })
        }
        _ => None,
    }
}

fn type_ok(v: &Value, t: ColumnType) -> bool {
    match (t, v) {
        (_, Value::Null) => true,
        (ColumnType::String, Value::String(_)) => true,
        (ColumnType::Int64, Value::Number(n)) => n.is_i64() || n.is_u64(),
        (ColumnType::Float64, Value::Number(_)) => true,
        (ColumnType::Bool, Value::Bool(_)) => true,
        (ColumnType::Timestamp, v) => event_ms(v).is_some(),
        _ => false,
    }
}

/// Decides, event by event, where each goes; holds the watermark and the
/// ids of the open partitions.
#[derive(Debug)]
pub struct Classifier {
    rules: Rules,
    /// The newest event time seen (no later than the clock then).
    newest_ms: Option<i64>,
    /// When the last event arrived.
    last_arrival_ms: Option<i64>,
    watermark_ms: i64,
    /// Partitions before this are closed: the watermark passed them, and
    /// nothing more goes into them (a late event goes to its arrival's).
    closed_before: i64,
    /// The ids in each partition not yet sealed (committed), as their
    /// 64-bit hashes (see [`crate::sealed`]: 8 bytes an id, not its text).
    open_ids: HashMap<i64, HashSet<u64>>,
    /// The ids of sealed partitions, for the dedup horizon.
    sealed: SealedIds,
}

impl Classifier {
    pub fn new(rules: Rules) -> Classifier {
        let sealed = SealedIds::new(rules.dedup_ms, crate::sealed::BUDGET);
        Classifier {
            rules,
            newest_ms: None,
            last_arrival_ms: None,
            watermark_ms: i64::MIN,
            closed_before: i64::MIN,
            open_ids: HashMap::new(),
            sealed,
        }
    }

    /// Takes in a record read back from the log (on open, or after a failed
    /// write), as if it had just been decided.
    pub fn replay(&mut self, record: &Record) {
        match record {
            Record::Accepted { p, t, at, id, .. } => {
                if let Some(id) = id {
                    self.open_ids.entry(*p).or_default().insert(id_hash(id));
                }
                let seen = (*t).min(*at);
                self.newest_ms = Some(self.newest_ms.map_or(seen, |n| n.max(seen)));
                self.last_arrival_ms = Some(self.last_arrival_ms.map_or(*at, |l| l.max(*at)));
            }
            Record::Mark { before, w } => {
                self.closed_before = self.closed_before.max(*before);
                self.watermark_ms = self.watermark_ms.max(*w);
            }
            Record::Quarantined { .. } | Record::Duplicate { .. } => {}
        }
    }

    /// Partitions before this are closed.
    pub fn closed_before(&self) -> i64 {
        self.closed_before
    }

    /// Closes the partitions the watermark has passed at `now_ms`: the mark
    /// to write (durably, before any of them is sealed), if that is more
    /// than before.
    pub fn close(&mut self, now_ms: i64) -> Option<Record> {
        let before = self.sealable_before(now_ms);
        if before <= self.closed_before {
            return None;
        }
        self.closed_before = before;
        Some(Record::Mark {
            before,
            w: self.watermark_ms,
        })
    }

    /// The last mark again (for a log whose older segments go).
    pub fn mark(&self) -> Record {
        Record::Mark {
            before: self.closed_before,
            w: self.watermark_ms,
        }
    }

    /// Moves the ids of closed partitions that `committed` says are sealed
    /// into the sealed-id filter, and forgets what is past the horizon.
    pub fn committed(&mut self, committed: impl Fn(i64) -> bool, now_ms: i64) {
        let g = self.rules.granularity;
        let done: Vec<i64> = self
            .open_ids
            .keys()
            .copied()
            .filter(|p| *p < self.closed_before && committed(*p))
            .collect();
        for p in done {
            if let Some(ids) = self.open_ids.remove(&p) {
                let end = g.start_of(p + 1).timestamp_millis();
                self.sealed.add_hashes(p, end, ids);
            }
        }
        self.sealed.expire(now_ms);
    }

    /// The sealed-id filter's size and what it dropped early.
    pub fn sealed_ids(&self) -> &SealedIds {
        &self.sealed
    }

    /// The watermark at `now_ms` (never earlier than before).
    pub fn watermark(&mut self, now_ms: i64) -> i64 {
        let quiet = self
            .last_arrival_ms
            .is_none_or(|t| now_ms.saturating_sub(t) >= self.rules.idle_ms);
        let from_events = self.newest_ms.map(|t| t.min(now_ms));
        let base = match from_events {
            Some(t) if !quiet => t,
            // Quiet (or nothing yet): the clock leads.
            Some(t) => t.max(now_ms),
            None => now_ms,
        };
        self.watermark_ms = self.watermark_ms.max(base.saturating_sub(self.rules.lateness_ms));
        self.watermark_ms
    }

    /// The partitions before this index are sealable at `now_ms`: the
    /// watermark has passed their end.
    pub fn sealable_before(&mut self, now_ms: i64) -> i64 {
        let wm = self.watermark(now_ms);
        let g = self.rules.granularity;
        // The partition holding the watermark has not ended before it; every
        // earlier one has.
        g.index_of(chrono::DateTime::from_timestamp_millis(wm).unwrap_or_default())
    }

    /// Classifies one event (its text as it arrived) at `now_ms`.
    pub fn classify(&mut self, text: &str, now_ms: i64) -> Verdict {
        let g = self.rules.granularity;
        let index = |t: i64| g.index_of(chrono::DateTime::from_timestamp_millis(t).unwrap_or_default());
        // The partition of its arrival; never a closed one, even when the
        // clock went back (a restart on another machine, a stepped clock).
        let arrival = index(now_ms).max(self.closed_before);
        let quarantine = |reason: String| Verdict::Quarantined {
            partition: arrival,
            reason,
        };
        let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(text) else {
            return quarantine("not a JSON object".into());
        };
        if let Some(schema) = &self.rules.schema {
            for (field, ty) in schema {
                if let Some(v) = obj.get(field)
                    && !type_ok(v, *ty)
                {
                    return quarantine(format!("field `{field}` is not a {ty:?}").to_lowercase());
                }
            }
        }
        let event = match &self.rules.event_time {
            None => now_ms,
            Some(field) => match obj.get(field) {
                None | Some(Value::Null) => return quarantine(format!("no event time `{field}`")),
                Some(v) => match event_ms(v) {
                    Some(t) => t,
                    None => return quarantine(format!("event time `{field}` is not a time: {v}")),
                },
            },
        };
        if event > now_ms.saturating_add(self.rules.max_future_ms) {
            return quarantine(format!(
                "event time is {} s in the future, over max_future",
                (event - now_ms) / 1000
            ));
        }
        let id = match &self.rules.id {
            None => None,
            Some(field) => match obj.get(field) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => return quarantine(format!("no id `{field}`")),
            },
        };
        let wm = self.watermark(now_ms);
        // Behind the watermark, or in a partition already closed.
        let late = event < wm || index(event) < self.closed_before;
        let partition = if late { arrival } else { index(event) };
        if let Some(id) = &id {
            // A copy in any partition not yet sealed (a late copy lands in
            // another partition than its first), then in the sealed ones.
            let h = id_hash(id);
            if let Some((&p, _)) = self.open_ids.iter().find(|(_, ids)| ids.contains(&h)) {
                return Verdict::Duplicate {
                    id: id.clone(),
                    partition: p,
                };
            }
            if self.sealed.contains_hash(h) {
                return Verdict::Duplicate {
                    id: id.clone(),
                    partition,
                };
            }
            self.open_ids.entry(partition).or_default().insert(h);
        }
        self.last_arrival_ms = Some(now_ms);
        self.newest_ms = Some(self.newest_ms.map_or(event.min(now_ms), |n| n.max(event.min(now_ms))));
        Verdict::Accepted {
            partition,
            event_ms: event,
            id,
            late,
        }
    }
}

#[cfg(test)]
mod tests;
