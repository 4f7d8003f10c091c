//! CopyObject inside the store: the source is read stripe by stripe (verified, rebuilt
//! if needed) and streamed into an ordinary put of the destination, so a copy of any
//! size holds about one stripe in memory and commits like any put. Copying an object
//! onto itself is safe: the new version is staged in full before the old one's data
//! is removed at commit.

use shoal_io::{Clock, Drive, Env};

use crate::error::{Error, Result};
use crate::object::get::{ByteRange, ObjectReader};
use crate::object::put::{BodySource, PutOptions};
use crate::object::store::Store;
use crate::record::checksum::Checksum;
use crate::record::meta::{ObjectInfo, PartInfo};

/// Whether the destination keeps the source's content headers and user metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataDirective {
    Copy,
    /// Replace with these (lowercase names, as `PutOptions::headers`).
    Replace(Vec<(String, String)>),
}

/// Whether the destination keeps the source's tags (`x-amz-tagging-directive`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaggingDirective {
    Copy,
    /// Replace with these (from `x-amz-tagging`).
    Replace(Vec<(String, String)>),
}

/// An object's bytes as a body source.
struct ReaderSource<'a, D: Drive, C: Clock, E: Env> {
    reader: ObjectReader<'a, D, C, E>,
    piece: Vec<u8>,
    offset: usize,
}

impl<D: Drive, C: Clock, E: Env> BodySource for ReaderSource<'_, D, C, E> {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.offset == self.piece.len() {
            match self.reader.next().await {
                Ok(Some(piece)) => {
                    self.piece.clear();
                    self.piece.extend_from_slice(piece);
                    self.offset = 0;
                }
                Ok(None) => return Ok(0),
                Err(e) => return Err(std::io::Error::other(e.to_string())),
            }
        }
        let n = buf.len().min(self.piece.len() - self.offset);
        buf[..n].copy_from_slice(&self.piece[self.offset..self.offset + n]);
        self.offset += n;
        Ok(n)
    }

    fn trailer_checksum(&self) -> Option<Checksum> {
        None
    }
}

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// Copies `source` to `bucket/key`; `source_check` may refuse the source version
    /// (copy-source conditions). Returns the new version.
    pub async fn copy_object(
        &self,
        source: (&str, &str),
        (bucket, key): (&str, &str),
        (directive, tagging): (MetadataDirective, TaggingDirective),
        source_check: impl FnOnce(&ObjectInfo) -> Result<()>,
        mut options: PutOptions,
    ) -> Result<ObjectInfo> {
        let reader = self.get_object(source.0, source.1, None).await?;
        let info = reader.info().clone();
        source_check(&info)?;
        if source == (bucket, key)
            && directive == MetadataDirective::Copy
            && tagging == TaggingDirective::Copy
        {
            return Err(Error::InvalidCopy(
                "This copy request is illegal because it is trying to copy an object to itself \
                 without changing the object's metadata, storage class, website redirect \
                 location or encryption attributes.",
            ));
        }
        options.size_bytes = Some(info.size_bytes);
        options.headers = match directive {
            MetadataDirective::Copy => info.headers.clone(),
            MetadataDirective::Replace(headers) => headers,
        };
        options.tags = match tagging {
            TaggingDirective::Copy => info.tags.clone(),
            TaggingDirective::Replace(tags) => tags,
        };
        if options.checksum_algorithm.is_none() {
            options.checksum_algorithm = info.checksum.as_ref().map(|c| c.algorithm);
        }
        let mut body = ReaderSource {
            reader,
            piece: Vec::new(),
            offset: 0,
        };
        self.put_object(bucket, key, &options, &mut body).await
    }

    /// UploadPartCopy: streams `source` (or `range` of it) into part `part_number` of
    /// an upload; `source_check` may refuse the source version.
    pub async fn upload_part_copy(
        &self,
        source: (&str, &str),
        range: Option<ByteRange>,
        source_check: impl FnOnce(&ObjectInfo) -> Result<()>,
        upload: (&str, &str, &str),
        part_number: u32,
    ) -> Result<PartInfo> {
        let reader = self.get_object(source.0, source.1, range).await?;
        // S3 refuses a copy range that runs past the source, where a GET would clamp.
        if let Some(ByteRange::FromTo { last, .. }) = range
            && last >= reader.info().size_bytes
        {
            return Err(Error::InvalidRange);
        }
        source_check(reader.info())?;
        let (start, end) = reader.range();
        let options = PutOptions {
            size_bytes: Some(end - start),
            ..PutOptions::default()
        };
        let mut body = ReaderSource {
            reader,
            piece: Vec::new(),
            offset: 0,
        };
        self.upload_part(upload, part_number, &options, &mut body)
            .await
    }
}
