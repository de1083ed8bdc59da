//! Object-store requests, counted by kind: every store weir opens by URL is
//! wrapped, so `weir bench lake` and `/metrics` can say how many requests a
//! task costs. Counting is a relaxed atomic add per call.

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, RenameOptions, Result,
};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The kinds of request counted, in the order [`requests`] gives them.
pub const KINDS: [&str; 6] = ["get", "head", "put", "list", "copy", "delete"];

static COUNTS: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];

fn count(kind: usize) {
    COUNTS[kind].fetch_add(1, Ordering::Relaxed);
}

/// Requests made to object stores by this process so far, by kind.
pub fn requests() -> Vec<(&'static str, u64)> {
    KINDS
        .iter()
        .zip(&COUNTS)
        .map(|(k, c)| (*k, c.load(Ordering::Relaxed)))
        .collect()
}

/// A store whose requests are counted.
#[derive(Debug)]
pub(crate) struct Counting(pub Arc<dyn ObjectStore>);

impl std::fmt::Display for Counting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[async_trait]
impl ObjectStore for Counting {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        count(2);
        self.0.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        count(2);
        self.0.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        count(if options.head { 1 } else { 0 });
        self.0.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        count(0);
        self.0.get_ranges(location, ranges).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        count(5);
        self.0.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        count(3);
        self.0.list(prefix)
    }

    fn list_with_offset(&self, prefix: Option<&Path>, offset: &Path) -> BoxStream<'static, Result<ObjectMeta>> {
        count(3);
        self.0.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        count(3);
        self.0.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        count(4);
        self.0.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        count(4);
        self.0.rename_opts(from, to, options).await
    }
}
