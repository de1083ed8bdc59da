//! Reading the log: segment files, their records, and readers beside the
//! writer (sealing).

use super::{HEADER, MAX_RECORD, Position, WalError, io};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

pub(super) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.wal"))
}

/// A whole segment's sidecar: a summary its readers may keep beside it
/// (written by them, deleted with the segment).
pub fn sidecar_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.idx"))
}

/// The segments in `dir`, oldest first.
pub(super) fn segments(dir: &Path) -> Result<Vec<u64>, WalError> {
    let mut seqs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".wal")) else {
            continue;
        };
        if let Ok(seq) = stem.parse::<u64>() {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

/// What one segment holds.
pub(super) struct Segment {
    /// The whole records' payloads, in order.
    pub(super) records: Vec<Vec<u8>>,
    /// The offset after the last whole record.
    pub(super) end: u64,
    /// Why reading stopped before the end of the file, if it did.
    pub(super) stop: Option<String>,
}

pub(super) fn read_segment(path: &Path) -> Result<Segment, WalError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io(path))?;
    let mut out = Vec::new();
    let mut at = 0usize;
    let stop = loop {
        if at == bytes.len() {
            break None;
        }
        let Some(head) = bytes.get(at..at + HEADER) else {
            break Some("a short record header".to_string());
        };
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if len > MAX_RECORD {
            break Some(format!("a record length of {len}"));
        }
        let Some(payload) = bytes.get(at + HEADER..at + HEADER + len) else {
            break Some("a short record".to_string());
        };
        if crc32fast::hash(payload) != crc {
            break Some("a checksum mismatch".to_string());
        }
        out.push(payload.to_vec());
        at += HEADER + len;
    };
    Ok(Segment {
        records: out,
        end: at as u64,
        stop,
    })
}

/// Every whole record in the log at `dir`, oldest first, each with the
/// position after it; for readers beside the writer (sealing). The newest
/// segment may end in a write in progress: reading stops before it. A
/// segment released while this reads is skipped: what it held is sealed.
pub fn read_dir(dir: &Path) -> Result<Vec<(Position, Vec<u8>)>, WalError> {
    read_dir_where(dir, |_| true)
}

/// Like [`read_dir`], reading only the segments `wanted` takes (by
/// sequence number).
pub fn read_dir_where(dir: &Path, mut wanted: impl FnMut(u64) -> bool) -> Result<Vec<(Position, Vec<u8>)>, WalError> {
    let mut out = Vec::new();
    let seqs = segments(dir)?;
    let last = seqs.last().copied();
    for seq in seqs {
        if !wanted(seq) {
            continue;
        }
        let path = segment_path(dir, seq);
        let segment = match read_segment(&path) {
            Ok(s) => s,
            Err(WalError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if let Some(why) = segment.stop
            && Some(seq) != last
        {
            return Err(WalError::Corrupt {
                path,
                offset: segment.end,
                why,
            });
        }
        let mut offset = 0u64;
        for r in segment.records {
            offset += (HEADER + r.len()) as u64;
            out.push((Position { segment: seq, offset }, r));
        }
    }
    Ok(out)
}
