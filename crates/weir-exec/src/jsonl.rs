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

/// Reads every line of `files`. With `schema`, lines that do not fit it are
/// malformed, and lines are decoded every [`CHUNK`], so the parsed values of
/// no more than one chunk are held at once; without, the schema is inferred
/// from all the well-formed lines.
pub fn read_files(files: &[impl AsRef<Path>], schema: Option<SchemaRef>) -> std::io::Result<JsonlRead> {
    let mut values = Vec::new();
    let mut malformed = 0i64;
    let mut batches = Vec::new();
    let decoded = |schema: &SchemaRef, values: &mut Vec<Value>, batches: &mut Vec<RecordBatch>| {
        let (more, bad) = decode(schema, values)?;
        values.clear();
        batches.extend(more);
        Ok::<i64, std::io::Error>(bad)
    };
    for f in files {
        let reader = BufReader::new(std::fs::File::open(f.as_ref())?);
        for line in reader.split(b'\n') {
            let line = line?;
            let text = line.strip_suffix(b"\r").unwrap_or(&line);
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Value>(text) {
                Ok(v @ Value::Object(_)) => values.push(v),
                _ => malformed += 1,
            }
            if let Some(s) = &schema
                && values.len() == CHUNK
            {
                malformed += decoded(s, &mut values, &mut batches)?;
            }
        }
    }
    let schema = match schema {
        Some(s) => s,
        None => {
            let inferred = infer_json_schema_from_iterator(values.iter().map(Ok::<_, arrow::error::ArrowError>))
                .map_err(std::io::Error::other)?;
            Arc::new(inferred)
        }
    };
    malformed += decoded(&schema, &mut values, &mut batches)?;
    let rows = batches.iter().map(|b| b.num_rows() as i64).sum();
    Ok(JsonlRead {
        schema,
        batches,
        rows,
        malformed,
    })
}

const CHUNK: usize = 8192;

/// Decodes values in chunks; a chunk that fails is retried line by line so
/// only the lines that do not fit are dropped.
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

/// Counts well-formed (JSON object) and malformed lines of one file, cheaply.
pub fn count_lines(path: &Path) -> std::io::Result<(i64, i64)> {
    let reader = BufReader::new(std::fs::File::open(path)?);
    let (mut good, mut bad) = (0i64, 0i64);
    for line in reader.split(b'\n') {
        let line = line?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<serde::de::IgnoredAny>(&line) {
            Ok(_) if line.trim_ascii_start().starts_with(b"{") => good += 1,
            _ => bad += 1,
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
