//! The stream executor: seals one closed partition of a stream (or of its
//! `__quarantine` dataset) from the stream's write-ahead log into staging.
//! It only reads the log, so it is safe beside the collector that writes
//! it, and sealing a partition twice gives the same file.

use crate::{ExecError, ExecOutput, Executor, TaskContext};
use async_trait::async_trait;
use tokio::sync::watch;
use weir_core::model::Job;
use weir_stream::{Counts, StreamError};

/// Seals a stream's closed partition.
#[derive(Debug, Clone, Copy)]
pub struct StreamExecutor;

#[async_trait]
impl Executor for StreamExecutor {
    async fn execute(&self, ctx: &TaskContext, _cancel: watch::Receiver<bool>) -> Result<ExecOutput, ExecError> {
        let Job::Stream(spec) = &ctx.dataset.job else {
            return Err(ExecError::job("not a stream"));
        };
        let quarantine = spec.quarantine_of.is_some();
        let stream = spec.quarantine_of.clone().unwrap_or_else(|| ctx.dataset.name.clone());
        let dir = weir_stream::log_dir(&ctx.project_dir, &stream);
        let p = ctx.partition;
        let out_dir = ctx.output_dir.clone();
        let work = move || -> Result<ExecOutput, ExecError> {
            let records = match weir_stream::read_partition(&dir, p) {
                Ok(r) => r,
                Err(StreamError::NotClosed { .. }) => {
                    return Err(ExecError::NotLanded {
                        pattern: format!("the watermark of stream `{stream}` to pass this partition"),
                    });
                }
                Err(e) => return Err(ExecError::job(e.to_string())),
            };
            let (file, schema) = if quarantine {
                (
                    weir_stream::seal::quarantine_file(p, &records),
                    weir_stream::seal::quarantine_schema(),
                )
            } else {
                (
                    weir_stream::seal::events_file(p, &records),
                    weir_stream::seal::events_schema(),
                )
            };
            let (bytes, rows) = file.map_err(|e| ExecError::job(format!("writing the sealed file: {e}")))?;
            std::fs::write(out_dir.join("part-00000.parquet"), bytes)?;
            let mut out = ExecOutput {
                rows: Some(rows as i64),
                schema: Some(format!(
                    "{:?}",
                    schema
                        .fields()
                        .iter()
                        .map(|f| format!("{}: {}", f.name(), f.data_type()))
                        .collect::<Vec<_>>()
                )),
                ..Default::default()
            };
            let c = Counts::of(p, &records);
            if quarantine {
                out.counters.insert("malformed".into(), c.malformed);
            } else {
                for (k, v) in [
                    ("received", c.received),
                    ("malformed", c.malformed),
                    ("late", c.late),
                    ("duplicate", c.duplicate),
                    ("written", c.written),
                ] {
                    out.counters.insert(k.into(), v);
                }
            }
            out.log = format!("sealed {rows} event(s) from the log of stream `{stream}`");
            Ok(out)
        };
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ExecError::job(format!("the seal stopped: {e}")))?
    }
}
