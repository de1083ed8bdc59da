//! The ingest executor: files that landed outside weir (on this machine or
//! on object storage) are copied, unchanged, into the staging directory. A partition whose files have not landed is
//! waiting, not failed.

use crate::jsonl::count_lines;
use crate::{ExecError, ExecOutput, Executor, TaskContext};
use async_trait::async_trait;
use tokio::sync::watch;
use weir_core::model::{Format, Job};
use weir_sched::landing::{Landed, landed};

/// Seals landed files into the lake.
#[derive(Debug, Clone, Copy)]
pub struct IngestExecutor;

#[async_trait]
impl Executor for IngestExecutor {
    async fn execute(&self, ctx: &TaskContext, _cancel: watch::Receiver<bool>) -> Result<ExecOutput, ExecError> {
        let Job::Ingest { path, format, .. } = &ctx.dataset.job else {
            return Err(ExecError::job("not an ingest job"));
        };
        let (files, pattern) = landed(&ctx.project_dir, path, ctx.dataset.granularity, ctx.partition).await;
        let files = files.map_err(|e| ExecError::job(format!("cannot list {pattern}: {e}")))?;
        if files.is_empty() && !ctx.seal_empty {
            return Err(ExecError::NotLanded { pattern });
        }
        let mut out = ExecOutput::default();
        let (mut bytes, mut rows, mut malformed) = (0i64, 0i64, 0i64);
        let mut used = std::collections::BTreeSet::new();
        for (i, f) in files.iter().enumerate() {
            let name = f.name();
            let name = if used.insert(name.clone()) {
                name
            } else {
                format!("{i:05}-{name}")
            };
            let dest = ctx.output_dir.join(&name);
            bytes += match f {
                Landed::Local(p) => std::fs::copy(p, &dest)? as i64,
                Landed::Remote(r) => {
                    r.copy_to(&dest)
                        .await
                        .map_err(|e| ExecError::job(format!("cannot fetch {}: {e}", r.url)))? as i64
                }
            };
            match format {
                Format::Jsonl => {
                    let (good, bad) = count_lines(&dest)?;
                    rows += good;
                    malformed += bad;
                }
                Format::Parquet => rows += parquet_rows(&dest)?,
                _ => {}
            }
        }
        out.counters.insert("files_in".into(), files.len() as i64);
        out.counters.insert("bytes_out".into(), bytes);
        if matches!(format, Format::Jsonl | Format::Parquet) {
            out.rows = Some(rows);
            out.counters.insert("rows_out".into(), rows);
        }
        if *format == Format::Jsonl {
            out.counters.insert("malformed".into(), malformed);
        }
        out.log = format!("ingested {} file(s) matching {pattern}", files.len());
        Ok(out)
    }
}

/// The rows of a Parquet file, from its footer (no data is read). A file that
/// is not Parquet fails the ingest with a clear error.
fn parquet_rows(path: &std::path::Path) -> Result<i64, ExecError> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let file = std::fs::File::open(path)?;
    let reader = SerializedFileReader::new(file).map_err(|e| {
        ExecError::job(format!(
            "landed file {} is not valid Parquet: {e}",
            path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
        ))
    })?;
    Ok(reader.metadata().file_metadata().num_rows())
}
