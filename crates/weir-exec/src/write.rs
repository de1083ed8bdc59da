//! Output writers: zstd Parquet or JSON lines, streamed batch by batch.

use crate::EngineError;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::StreamExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::WriterProperties;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use weir_core::model::Format;

/// Rows and bytes written.
pub struct Written {
    pub rows: i64,
    pub bytes: i64,
    pub schema: SchemaRef,
    /// The batches themselves, if they fit the memory budget asked for.
    pub kept: Option<Vec<RecordBatch>>,
    /// The profiler, back from its thread, having seen every batch.
    pub profiler: Option<crate::profile::Profiler>,
}

/// Writes a stream into `dir/part-00000.<ext>`. An empty result still writes a
/// file, so readers always find the schema. Each batch also feeds `profiler`
/// (on a thread of its own, beside the encoder), and is kept in memory while
/// the kept batches stay under `keep_bytes`.
pub async fn write_stream(
    mut stream: SendableRecordBatchStream,
    dir: &Path,
    format: Format,
    profiler: Option<crate::profile::Profiler>,
    keep_bytes: usize,
) -> Result<Written, EngineError> {
    let (to_profiler, batches) = std::sync::mpsc::channel::<RecordBatch>();
    // Parquet's statistics give min and max (see `Profiler::bounds_from_parquet`).
    let parquet = !matches!(format, Format::Jsonl);
    let profiling = profiler
        .map(|p| if parquet { p.without_bounds() } else { p })
        .map(|mut p| {
            tokio::task::spawn_blocking(move || {
                for b in batches {
                    p.update(&b)?;
                }
                p.settle();
                Ok::<_, EngineError>(p)
            })
        });
    let schema = stream.schema();
    let (path, mut sink) = match format {
        Format::Jsonl => {
            let p = dir.join("part-00000.jsonl");
            let f = File::create(&p).map_err(EngineError::from)?;
            (p, Sink::Json(arrow::json::LineDelimitedWriter::new(BufWriter::new(f))))
        }
        _ => {
            let p = dir.join("part-00000.parquet");
            let f = File::create(&p).map_err(EngineError::from)?;
            // Untruncated row-group statistics: they are the profile's exact min and max.
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .set_statistics_truncate_length(None)
                .build();
            (
                p,
                Sink::Parquet(Box::new(
                    ArrowWriter::try_new(f, schema.clone(), Some(props)).map_err(EngineError::from)?,
                )),
            )
        }
    };
    let mut rows = 0i64;
    let mut kept = (keep_bytes > 0).then(Vec::new);
    let mut kept_bytes = 0usize;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(EngineError::from)?;
        rows += batch.num_rows() as i64;
        sink.write(&batch)?;
        if profiling.is_some() {
            // A clone shares the arrays; a closed channel means the profiler failed (reported below).
            let _ = to_profiler.send(batch.clone());
        }
        if let Some(k) = &mut kept {
            kept_bytes += batch.get_array_memory_size();
            if kept_bytes > keep_bytes {
                kept = None;
            } else {
                k.push(batch);
            }
        }
    }
    // The profiler settles while the writer closes its file.
    drop(to_profiler);
    let meta = sink.finish()?;
    let profiler = match profiling {
        Some(h) => {
            let mut p = h
                .await
                .map_err(|e| EngineError::Unexpected(format!("the profiler crashed: {e}")))??;
            if let Some(meta) = &meta {
                p.bounds_from_parquet(meta, &schema);
            }
            Some(p)
        }
        None => None,
    };
    let bytes = std::fs::metadata(&path).map_err(EngineError::from)?.len() as i64;
    Ok(Written {
        rows,
        bytes,
        schema,
        kept,
        profiler,
    })
}

enum Sink {
    Parquet(Box<ArrowWriter<File>>),
    Json(arrow::json::LineDelimitedWriter<BufWriter<File>>),
}

impl Sink {
    fn write(&mut self, b: &RecordBatch) -> Result<(), EngineError> {
        match self {
            Sink::Parquet(w) => w.write(b).map_err(EngineError::from),
            Sink::Json(w) => w.write(b).map_err(EngineError::from),
        }
    }

    /// Closes the file; a Parquet file's metadata comes back.
    fn finish(self) -> Result<Option<ParquetMetaData>, EngineError> {
        match self {
            Sink::Parquet(w) => w.close().map(Some).map_err(EngineError::from),
            Sink::Json(mut w) => w.finish().map(|()| None).map_err(EngineError::from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profiler;
    use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use std::sync::Arc;

    fn batches() -> (SchemaRef, Vec<RecordBatch>) {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("f", DataType::Float64, true),
            Field::new("b", DataType::Boolean, true),
            Field::new("none", DataType::Utf8, true),
        ]));
        let long = |c: char| c.to_string().repeat(100);
        let batch = |n: Vec<Option<i64>>,
                     s: Vec<Option<String>>,
                     ts: Vec<Option<i64>>,
                     f: Vec<Option<f64>>,
                     b: Vec<Option<bool>>| {
            let rows = n.len();
            let cols: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from(n)),
                Arc::new(StringArray::from(s)),
                Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
                Arc::new(Float64Array::from(f)),
                Arc::new(BooleanArray::from(b)),
                Arc::new(StringArray::from(vec![None::<&str>; rows])),
            ];
            RecordBatch::try_new(schema.clone(), cols).expect("batch")
        };
        let b1 = batch(
            vec![Some(5), None, Some(-3)],
            vec![Some(long('m')), Some(long('z')), None],
            vec![Some(1_700_000_000_000_000), None, Some(1_600_000_000_000_000)],
            vec![Some(0.5), Some(-2.25), None],
            vec![Some(true), None, Some(true)],
        );
        let b2 = batch(
            vec![Some(40)],
            vec![Some(format!("{}a", long('z')))],
            vec![Some(1_800_000_000_000_000)],
            vec![Some(9.0)],
            vec![Some(false)],
        );
        (schema, vec![b1, b2])
    }

    async fn profile(format: Format, schema: &SchemaRef, batches: Vec<RecordBatch>) -> serde_json::Value {
        let dir = tempfile::tempdir().expect("tempdir");
        let stream = RecordBatchStreamAdapter::new(schema.clone(), futures::stream::iter(batches.into_iter().map(Ok)));
        let w = write_stream(
            Box::pin(stream),
            dir.path(),
            format,
            Some(Profiler::new(schema, &[])),
            0,
        )
        .await
        .expect("write");
        w.profiler.expect("profiler").finish()
    }

    #[tokio::test]
    async fn parquet_statistics_give_the_same_min_and_max_as_comparing_every_value() {
        let (schema, batches) = batches();
        let from_stats = profile(Format::Parquet, &schema, batches.clone()).await;
        let compared = profile(Format::Jsonl, &schema, batches).await;
        assert_eq!(from_stats, compared);
        let s = &from_stats["columns"]["s"];
        assert_eq!(s["max"].as_str().map(str::len), Some(101), "not truncated to 64 bytes");
        assert_eq!(from_stats["columns"]["n"]["min"], "-3");
        assert_eq!(from_stats["columns"]["b"]["min"], "false");
        assert!(from_stats["columns"]["none"]["min"].is_null());
        // No rows: no row groups, no bounds, same as the accumulators.
        let empty = profile(Format::Parquet, &schema, vec![]).await;
        assert_eq!(empty, profile(Format::Jsonl, &schema, vec![]).await);
        assert!(empty["columns"]["n"]["max"].is_null());
    }

    #[test]
    fn truncated_or_missing_statistics_leave_bounds_unknown_not_wrong() {
        let (schema, batches) = batches();
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, props: WriterProperties| {
            let f = File::create(dir.path().join(name)).expect("create");
            let mut w = ArrowWriter::try_new(f, schema.clone(), Some(props)).expect("writer");
            for b in &batches {
                w.write(b).expect("write");
            }
            w.close().expect("close")
        };
        let bounds = |meta: &ParquetMetaData| {
            let mut p = Profiler::new(&schema, &[]).without_bounds();
            p.bounds_from_parquet(meta, &schema);
            p.finish()
        };
        // Row groups of two rows: bounds are folded over all of them.
        let meta = write(
            "groups.parquet",
            WriterProperties::builder()
                .set_max_row_group_row_count(Some(2))
                .set_statistics_truncate_length(None)
                .build(),
        );
        assert!(meta.num_row_groups() > 1);
        let v = bounds(&meta);
        assert_eq!(
            (v["columns"]["n"]["min"].as_str(), v["columns"]["n"]["max"].as_str()),
            (Some("-3"), Some("40"))
        );
        // Truncated string statistics are not exact: unknown, while exact columns still have theirs.
        let meta = write(
            "short.parquet",
            WriterProperties::builder()
                .set_statistics_truncate_length(Some(8))
                .build(),
        );
        let v = bounds(&meta);
        assert!(v["columns"]["s"]["min"].is_null() && v["columns"]["s"]["max"].is_null());
        assert_eq!(v["columns"]["n"]["max"], "40");
        // No statistics at all: unknown.
        let none = WriterProperties::builder()
            .set_statistics_enabled(parquet::file::properties::EnabledStatistics::None)
            .build();
        let v = bounds(&write("none.parquet", none));
        assert!(v["columns"]["n"]["min"].is_null() && v["columns"]["ts"]["max"].is_null());
    }
}
