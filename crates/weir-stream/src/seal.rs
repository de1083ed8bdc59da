//! A sealed partition's files: its accepted events, or its quarantined
//! ones, as Parquet. The raw stream keeps each event as it arrived (`event`,
//! the JSON text) beside what weir read from it; parsing into columns is a
//! downstream, versioned job, so a changed schema can be replayed.
//!
//! Rows are in arrival order (the log's), so sealing the same records twice
//! writes the same rows.

use crate::record::Record;
use arrow::array::{ArrayRef, BooleanArray, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use std::sync::Arc;

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// The columns of a stream's sealed partition.
pub fn events_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Utf8, true),
        Field::new("event_time", ts(), false),
        Field::new("ingest_time", ts(), false),
        Field::new("late", DataType::Boolean, false),
        Field::new("event", DataType::Utf8, false),
    ]))
}

/// The columns of a stream's quarantine partition.
pub fn quarantine_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("ingest_time", ts(), false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("event", DataType::Utf8, false),
    ]))
}

fn parquet(batch: &RecordBatch) -> Result<Vec<u8>, parquet::errors::ParquetError> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_statistics_truncate_length(None)
        .build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props))?;
    w.write(batch)?;
    w.close()?;
    Ok(out)
}

/// The Parquet file of partition `p`'s accepted events, and how many rows.
pub fn events_file<'a>(
    p: i64,
    records: impl IntoIterator<Item = &'a Record>,
) -> Result<(Vec<u8>, usize), parquet::errors::ParquetError> {
    let (mut ids, mut times, mut ats, mut lates, mut events) = (vec![], vec![], vec![], vec![], vec![]);
    for r in records {
        if let Record::Accepted {
            p: rp,
            t,
            at,
            id,
            late,
            e,
        } = r
            && *rp == p
        {
            ids.push(id.as_deref());
            times.push(*t);
            ats.push(*at);
            lates.push(*late);
            events.push(e.as_str());
        }
    }
    let rows = events.len();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids)),
        Arc::new(TimestampMillisecondArray::from(times).with_timezone("UTC")),
        Arc::new(TimestampMillisecondArray::from(ats).with_timezone("UTC")),
        Arc::new(BooleanArray::from(lates)),
        Arc::new(StringArray::from(events)),
    ];
    let batch = RecordBatch::try_new(events_schema(), columns)?;
    Ok((parquet(&batch)?, rows))
}

/// The Parquet file of partition `p`'s quarantined events, and how many rows.
pub fn quarantine_file<'a>(
    p: i64,
    records: impl IntoIterator<Item = &'a Record>,
) -> Result<(Vec<u8>, usize), parquet::errors::ParquetError> {
    let (mut ats, mut whys, mut events) = (vec![], vec![], vec![]);
    for r in records {
        if let Record::Quarantined { p: rp, at, why, e } = r
            && *rp == p
        {
            ats.push(*at);
            whys.push(why.as_str());
            events.push(e.as_str());
        }
    }
    let rows = events.len();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMillisecondArray::from(ats).with_timezone("UTC")),
        Arc::new(StringArray::from(whys)),
        Arc::new(StringArray::from(events)),
    ];
    let batch = RecordBatch::try_new(quarantine_schema(), columns)?;
    Ok((parquet(&batch)?, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn read(bytes: Vec<u8>) -> RecordBatch {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .expect("parquet")
            .build()
            .expect("reader");
        let batches: Vec<RecordBatch> = reader.map(|b| b.expect("batch")).collect();
        arrow::compute::concat_batches(&batches[0].schema(), &batches).expect("concat")
    }

    fn records() -> Vec<Record> {
        vec![
            Record::Accepted {
                p: 7,
                t: 1_000,
                at: 2_000,
                id: Some("a".into()),
                late: false,
                e: r#"{"id":"a"}"#.into(),
            },
            Record::Quarantined {
                p: 7,
                at: 2_100,
                why: "not a JSON object".into(),
                e: "[1]".into(),
            },
            Record::Duplicate {
                p: 7,
                at: 2_200,
                id: "a".into(),
            },
            Record::Accepted {
                p: 8,
                t: 9_000,
                at: 9_500,
                id: None,
                late: false,
                e: "{}".into(),
            },
            Record::Accepted {
                p: 7,
                t: 500,
                at: 3_000,
                id: None,
                late: true,
                e: r#"{"x":1}"#.into(),
            },
        ]
    }

    #[test]
    fn a_partition_holds_its_accepted_events_as_they_arrived_in_order() {
        let rs = records();
        let (bytes, rows) = events_file(7, &rs).expect("file");
        assert_eq!(rows, 2);
        let b = read(bytes);
        assert_eq!(b.schema(), events_schema());
        let text = |i: usize| {
            b.column(i)
                .as_string::<i32>()
                .iter()
                .map(|v| v.map(str::to_string))
                .collect::<Vec<_>>()
        };
        assert_eq!(text(0), vec![Some("a".to_string()), None]);
        assert_eq!(
            text(4),
            vec![Some(r#"{"id":"a"}"#.to_string()), Some(r#"{"x":1}"#.to_string())]
        );
        let late: Vec<Option<bool>> = b.column(3).as_boolean().iter().collect();
        assert_eq!(late, vec![Some(false), Some(true)]);
        // The same records seal the same file.
        assert_eq!(
            events_file(7, &rs).expect("again").0,
            events_file(7, &rs).expect("again").0
        );
    }

    #[test]
    fn quarantine_keeps_the_reason_and_an_empty_partition_is_a_valid_file() {
        let rs = records();
        let (bytes, rows) = quarantine_file(7, &rs).expect("file");
        assert_eq!(rows, 1);
        let b = read(bytes);
        assert_eq!(b.column(1).as_string::<i32>().value(0), "not a JSON object");
        assert_eq!(b.column(2).as_string::<i32>().value(0), "[1]");
        let (bytes, rows) = events_file(99, &rs).expect("empty");
        assert_eq!(rows, 0);
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).expect("parquet");
        assert_eq!(
            reader.schema().fields().len(),
            5,
            "an empty partition still has its columns"
        );
    }
}
