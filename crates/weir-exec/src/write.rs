//! Output writers: zstd Parquet or JSON lines, streamed batch by batch.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::StreamExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
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
) -> Result<Written, String> {
    let (to_profiler, batches) = std::sync::mpsc::channel::<RecordBatch>();
    let profiling = profiler.map(|mut p| {
        tokio::task::spawn_blocking(move || {
            for b in batches {
                p.update(&b)?;
            }
            Ok::<_, String>(p)
        })
    });
    let schema = stream.schema();
    let (path, mut sink) = match format {
        Format::Jsonl => {
            let p = dir.join("part-00000.jsonl");
            let f = File::create(&p).map_err(|e| e.to_string())?;
            (p, Sink::Json(arrow::json::LineDelimitedWriter::new(BufWriter::new(f))))
        }
        _ => {
            let p = dir.join("part-00000.parquet");
            let f = File::create(&p).map_err(|e| e.to_string())?;
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .build();
            (
                p,
                Sink::Parquet(Box::new(
                    ArrowWriter::try_new(f, schema.clone(), Some(props)).map_err(|e| e.to_string())?,
                )),
            )
        }
    };
    let mut rows = 0i64;
    let mut kept = (keep_bytes > 0).then(Vec::new);
    let mut kept_bytes = 0usize;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| e.to_string())?;
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
    sink.finish()?;
    drop(to_profiler);
    let profiler = match profiling {
        Some(h) => Some(h.await.map_err(|e| format!("the profiler crashed: {e}"))??),
        None => None,
    };
    let bytes = std::fs::metadata(&path).map_err(|e| e.to_string())?.len() as i64;
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
    fn write(&mut self, b: &RecordBatch) -> Result<(), String> {
        match self {
            Sink::Parquet(w) => w.write(b).map_err(|e| e.to_string()),
            Sink::Json(w) => w.write(b).map_err(|e| e.to_string()),
        }
    }

    fn finish(self) -> Result<(), String> {
        match self {
            Sink::Parquet(w) => w.close().map(|_| ()).map_err(|e| e.to_string()),
            Sink::Json(mut w) => w.finish().map_err(|e| e.to_string()),
        }
    }
}
