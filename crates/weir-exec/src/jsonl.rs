//! Tolerant JSON-lines reading: malformed lines (not JSON, not an object, or
//! not fitting the declared schema) are skipped and counted, never fatal and
//! never silent.

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::json::ReaderBuilder;
use arrow::json::reader::infer_json_schema_from_iterator;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;
use weir_core::model::ColumnType;

/// What a tolerant read produced.
#[derive(Debug)]
pub struct JsonlRead {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub rows: i64,
    pub malformed: i64,
}

/// The Arrow schema of a declared column list (every column nullable).
pub fn declared_schema(cols: &[(String, ColumnType)]) -> SchemaRef {
    Arc::new(Schema::new(
        cols.iter()
            .map(|(name, t)| {
                let dt = match t {
                    ColumnType::String => DataType::Utf8,
                    ColumnType::Int64 => DataType::Int64,
                    ColumnType::Float64 => DataType::Float64,
                    ColumnType::Bool => DataType::Boolean,
                    ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                };
                Field::new(name, dt, true)
            })
            .collect::<Vec<_>>(),
    ))
}

/// Reads every line of `files`. Lines that are not one JSON object, or do not
/// fit `schema`, are malformed; lines are decoded every [`CHUNK`] straight from
/// their text (see [`read_declared`]). Without `schema`, it is inferred from
/// every well-formed line first (see [`infer`]).
pub fn read_files(files: &[impl AsRef<Path>], schema: Option<SchemaRef>) -> std::io::Result<JsonlRead> {
    let schema = match schema {
        Some(s) => s,
        None => infer(files)?,
    };
    read_declared(files, schema)
}

/// The schema of the JSON objects in `files`, inferred over every line that
/// is one. Lines are parsed one at a time and none is kept, so memory does not
/// grow with the input; the lines are then read again with this schema.
fn infer(files: &[impl AsRef<Path>]) -> std::io::Result<SchemaRef> {
    let mut failed = None;
    let inferred = {
        let failed = &mut failed;
        let lines = files
            .iter()
            .flat_map(|f| -> Box<dyn Iterator<Item = std::io::Result<Vec<u8>>>> {
                match std::fs::File::open(f.as_ref()) {
                    Ok(file) => Box::new(BufReader::new(file).split(b'\n')),
                    Err(e) => Box::new(std::iter::once(Err(e))),
                }
            });
        let objects = lines
            .filter_map(|line| match line {
                Err(e) => Some(Err(e)),
                Ok(line) => match serde_json::from_slice::<Value>(line.trim_ascii()) {
                    Ok(v @ Value::Object(_)) => Some(Ok(v)),
                    _ => None,
                },
            })
            .map_while(|r| match r {
                Ok(v) => Some(Ok::<_, arrow::error::ArrowError>(v)),
                Err(e) => {
                    *failed = Some(e);
                    None
                }
            });
        infer_json_schema_from_iterator(objects)
    };
    if let Some(e) = failed {
        return Err(e);
    }
    inferred.map(Arc::new).map_err(std::io::Error::other)
}

/// Reads `files` with a known `schema`. Each line is first checked to be one JSON
/// object (a syntax check that builds nothing), and the lines that are go to
/// Arrow's JSON decoder as text, [`CHUNK`] at a time: no `serde_json::Value`
/// is built, and no more than one chunk's text is held. A chunk with a line
/// that does not fit the schema is decoded again line by line, so only those
/// lines are dropped.
fn read_declared(files: &[impl AsRef<Path>], schema: SchemaRef) -> std::io::Result<JsonlRead> {
    let mut chunk: Vec<u8> = Vec::new();
    let mut lines = 0usize;
    let mut malformed = 0i64;
    let mut batches = Vec::new();
    let mut line = Vec::new();
    for f in files {
        let mut reader = BufReader::new(std::fs::File::open(f.as_ref())?);
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            let text = line.trim_ascii();
            if text.is_empty() {
                continue;
            }
            if !is_object(text) {
                malformed += 1;
                continue;
            }
            chunk.extend_from_slice(text);
            chunk.push(b'\n');
            lines += 1;
            if lines == CHUNK {
                malformed += decode_text(&schema, &chunk, &mut batches)?;
                chunk.clear();
                lines = 0;
            }
        }
    }
    if lines > 0 {
        malformed += decode_text(&schema, &chunk, &mut batches)?;
    }
    let rows = batches.iter().map(|b| b.num_rows() as i64).sum();
    Ok(JsonlRead {
        schema,
        batches,
        rows,
        malformed,
    })
}

/// One JSON object and nothing after it.
fn is_object(text: &[u8]) -> bool {
    text.starts_with(b"{") && serde_json::from_slice::<serde::de::IgnoredAny>(text).is_ok()
}

fn text_decoder(schema: &SchemaRef) -> std::io::Result<arrow::json::reader::Decoder> {
    // One more than a chunk holds, so a chunk's text is taken in one call.
    ReaderBuilder::new(schema.clone())
        .with_batch_size(CHUNK + 1)
        .with_coerce_primitive(true)
        .build_decoder()
        .map_err(std::io::Error::other)
}

/// Decodes `text` (JSON objects, one per line) into one batch; returns how
/// many lines did not fit the schema and were left out.
fn decode_text(schema: &SchemaRef, text: &[u8], batches: &mut Vec<RecordBatch>) -> std::io::Result<i64> {
    let whole = |text: &[u8]| -> std::io::Result<Option<Option<RecordBatch>>> {
        let mut dec = text_decoder(schema)?;
        let taken = dec.decode(text);
        Ok(match taken {
            Ok(n) if n == text.len() => dec.flush().ok(),
            _ => None,
        })
    };
    if let Some(batch) = whole(text)? {
        batches.extend(batch);
        return Ok(0);
    }
    // Some line does not fit: find which, and decode the others together.
    let mut fitting = Vec::with_capacity(text.len());
    let mut bad = 0i64;
    let mut dec = text_decoder(schema)?;
    for line in text.split_inclusive(|b| *b == b'\n') {
        let fits = dec.decode(line).is_ok_and(|n| n == line.len()) && dec.flush().is_ok();
        if fits {
            fitting.extend_from_slice(line);
        } else {
            bad += 1;
            dec = text_decoder(schema)?;
        }
    }
    match whole(&fitting)? {
        Some(batch) => batches.extend(batch),
        None => {
            return Err(std::io::Error::other(
                "lines that fit the schema one by one did not fit it together",
            ));
        }
    }
    Ok(bad)
}

const CHUNK: usize = 8192;

/// Counts well-formed (JSON object) and malformed lines of one file, cheaply.
pub fn count_lines(path: &Path) -> std::io::Result<(i64, i64)> {
    let reader = BufReader::new(std::fs::File::open(path)?);
    let (mut good, mut bad) = (0i64, 0i64);
    for line in reader.split(b'\n') {
        let line = line?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if is_object(line.trim_ascii()) {
            good += 1;
        } else {
            bad += 1;
        }
    }
    Ok((good, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_and_counts_bad_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("a.jsonl");
        std::fs::write(&f, "{\"a\":1,\"ts\":\"2026-01-01T00:00:00Z\"}\n{\"a\":\ngarbage\n[1,2]\n\n{\"a\":\"x\",\"ts\":\"2026-01-01T00:00:01Z\"}\n{\"ts\":\"nope\"}\n").expect("write");
        let schema = declared_schema(&[("a".into(), ColumnType::Int64), ("ts".into(), ColumnType::Timestamp)]);
        let r = read_files(&[&f], Some(schema)).expect("read");
        assert_eq!(
            (r.rows, r.malformed),
            (1, 5),
            "a string for an int and a bad timestamp do not fit"
        );
        // Inferred: `a` holds both numbers and strings, so it becomes a string column.
        let r = read_files(&[&f], None).expect("read");
        assert_eq!((r.rows, r.malformed), (3, 3));
        assert_eq!(
            r.schema.field_with_name("a").map(|f| f.data_type().clone()).ok(),
            Some(DataType::Utf8)
        );
        assert_eq!(count_lines(&f).expect("count"), (3, 3));
    }

    #[test]
    fn a_line_is_one_object_or_malformed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("a.jsonl");
        // Two objects on a line, an object across two lines, trailing text,
        // a lone `{`, then a good line with CRLF and surrounding spaces.
        std::fs::write(
            &f,
            "{\"a\":1} {\"a\":2}\n{\"a\":\n3}\n{\"a\":4} x\n{\n  {\"a\": 5}  \r\n{\"a\":\"6\",\"b\":[1]}\n",
        )
        .expect("write");
        let schema = declared_schema(&[("a".into(), ColumnType::Int64)]);
        let r = read_files(&[&f], Some(schema)).expect("read");
        assert_eq!((r.rows, r.malformed), (2, 5), "only the lone objects are rows");
        let col = r.batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .expect("int64")
            .values()
            .to_vec();
        assert_eq!(
            col,
            vec![5, 6],
            "a number in a string is coerced; unknown fields are ignored"
        );
        assert_eq!(count_lines(&f).expect("count"), (2, 5));
    }

    /// How lines were decoded before they were decoded from their text: parsed
    /// `serde_json::Value`s in chunks, a chunk that fails retried value by value.
    fn decode(schema: &SchemaRef, values: &[Value]) -> std::io::Result<(Vec<RecordBatch>, i64)> {
        let mut batches = Vec::new();
        let mut bad = 0i64;
        let builder = || {
            ReaderBuilder::new(schema.clone())
                .with_batch_size(CHUNK)
                .with_coerce_primitive(true)
                .build_decoder()
                .map_err(std::io::Error::other)
        };
        for chunk in values.chunks(CHUNK) {
            let mut dec = builder()?;
            let whole = dec.serialize(chunk).and_then(|()| dec.flush());
            match whole {
                Ok(Some(b)) => batches.push(b),
                Ok(None) => {}
                Err(_) => {
                    let mut dec = builder()?;
                    for v in chunk {
                        if dec.serialize(std::slice::from_ref(v)).is_err() {
                            bad += 1;
                            dec = builder()?;
                            continue;
                        }
                        match dec.flush() {
                            Ok(Some(b)) => batches.push(b),
                            Ok(None) => {}
                            Err(_) => {
                                bad += 1;
                                dec = builder()?;
                            }
                        }
                    }
                }
            }
        }
        Ok((batches, bad))
    }

    /// Reading from text gives what parsing every line into a
    /// `serde_json::Value` and decoding those gave (the way lines were read
    /// before), on lines of every kind, across chunk boundaries.
    #[test]
    fn text_decoding_matches_decoding_parsed_values() {
        let kinds = [
            r#"{"id": "e1", "n": 7, "ts": "2026-01-01T00:00:00Z", "f": 0.5, "ok": true}"#,
            r#"{"id": "e2", "n": "8", "ts": "2026-01-01T01:00:00+02:00", "f": 3, "extra": {"x": [1, 2]}}"#,
            r#"{"id": null, "n": -9223372036854775808, "ts": "2026-01-01T00:00:00.123456Z"}"#,
            r#"{"id": "été "q"", "n": 1.0, "f": -1e-300, "ok": false}"#,
            r#"{"id": 12, "n": "not a number"}"#,
            r#"{"ts": "yesterday"}"#,
            r#"{"n": 1e400}"#,
            r#"{"ok": "maybe"}"#,
            r#"{"id": "dup", "id": "twice"}"#,
            "{}",
            "garbage",
            "{",
            "[1, 2]",
            "  ",
            "{\"id\": \"crlf\"}\r",
        ];
        let mut text = String::new();
        let mut x = 42u64;
        for _ in 0..(CHUNK * 2 + 500) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            text.push_str(kinds[(x >> 33) as usize % kinds.len()]);
            text.push('\n');
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("a.jsonl");
        std::fs::write(&f, &text).expect("write");
        let schema = declared_schema(&[
            ("id".into(), ColumnType::String),
            ("n".into(), ColumnType::Int64),
            ("ts".into(), ColumnType::Timestamp),
            ("f".into(), ColumnType::Float64),
            ("ok".into(), ColumnType::Bool),
        ]);
        let mut values = Vec::new();
        let mut not_objects = 0i64;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(line) {
                Ok(v @ Value::Object(_)) => values.push(v),
                _ => not_objects += 1,
            }
        }
        let (expected, bad) = decode(&schema, &values).expect("decode");
        let got = read_files(&[&f], Some(schema.clone())).expect("read");
        assert_eq!(got.malformed, not_objects + bad);
        let concat = |schema: &SchemaRef, b: &[RecordBatch]| arrow::compute::concat_batches(schema, b).expect("concat");
        assert_eq!(concat(&schema, &got.batches), concat(&schema, &expected));
        assert!(got.rows > 0 && got.malformed > 0);

        // Inferred: the same schema, rows and malformed count. (Except for a
        // number beyond f64, which is valid JSON: parsed into a `Value` it was
        // an error and the line dropped; as text it is read like any number.)
        let kept: String = text
            .lines()
            .filter(|l| !l.contains("1e400"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&f, &kept).expect("write");
        let dropped = (text.lines().count() - kept.lines().count()) as i64;
        let inferred: SchemaRef = Arc::new(
            infer_json_schema_from_iterator(values.iter().map(Ok::<_, arrow::error::ArrowError>)).expect("infer"),
        );
        let (expected, bad) = decode(&inferred, &values).expect("decode");
        let got = read_files(&[&f], None).expect("read");
        assert_eq!(got.schema, inferred);
        assert!(dropped > 0);
        assert_eq!(got.malformed, not_objects - dropped + bad);
        assert_eq!(concat(&inferred, &got.batches), concat(&inferred, &expected));
        assert!(got.rows > 0);
    }

    #[test]
    fn declared_schemas_are_decoded_chunk_by_chunk_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = 2 * CHUNK + 3;
        let mut text = String::new();
        for i in 0..n {
            if i == CHUNK {
                text.push_str("{\"a\": \"not a number\"}\n");
            }
            text.push_str(&format!("{{\"a\": {i}}}\n"));
        }
        let (f, g) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
        let (first, second) = text.split_at(text.len() / 3);
        let cut = first.rfind('\n').map_or(0, |i| i + 1);
        std::fs::write(&f, &text[..cut]).expect("write");
        std::fs::write(&g, format!("{}{second}", &first[cut..])).expect("write");
        let schema = declared_schema(&[("a".into(), ColumnType::Int64)]);
        let r = read_files(&[&f, &g], Some(schema)).expect("read");
        assert_eq!((r.rows, r.malformed), (n as i64, 1));
        assert!(
            r.batches.iter().all(|b| b.num_rows() <= CHUNK),
            "chunks stay chunk-sized"
        );
        let values: Vec<i64> = r
            .batches
            .iter()
            .flat_map(|b| {
                let col = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<arrow::array::Int64Array>()
                    .expect("int64");
                col.values().to_vec()
            })
            .collect();
        assert_eq!(values, (0..n as i64).collect::<Vec<_>>(), "every line, in file order");
    }
}
