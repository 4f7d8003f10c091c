//! A sorted run: one immutable file of index entries in key order, written once per
//! flush (or rebuild) and read a block at a time.
//!
//! ```text
//! offset   field
//! 0        header (HEADER_LEN_BYTES), rewritten last, once the footer is known:
//!            magic "SHOALIDX" (8) | format version u16 | reserved u16 = 0 |
//!            block count u32 | footer offset u64 | footer length u32 |
//!            footer crc32c u32 | entry count u64 | header crc32c u32 (of the 40 bytes
//!            before it) | zero to 64
//! 64       blocks, back to back, each ~BLOCK_TARGET_BYTES:
//!            format version u16 | entry count u32 (>= 1) | entries (entry.rs) |
//!            crc32c u32 of the version, count and entries
//! footer   per block: offset u64 | length u32 | entry count u32 |
//!            first key length u16 | first key
//! ```
//!
//! Invariants a reader checks (any breach is `Corrupt`, never a panic): blocks are
//! contiguous from offset 64 to the footer, their first keys strictly increase, each
//! block's first entry is its footer key, keys increase across the whole file, and the
//! counts add up. The file is written under `.shoal/tmp/` and renamed into place after
//! `sync`, so a run found at its name is whole. Blocks need not be aligned: a read
//! takes the 4 KiB pages around a block.

use shoal_io::{AlignedBuf, BLOCK_SIZE_BYTES, Drive};

use super::entry::{ENTRY_LEN_MAX_BYTES, Entry, decode_entries, encode_entry};
use super::{IndexError, IndexResult};
use crate::member::keypath::KEY_LEN_MAX_BYTES;
use crate::member::verbs::walk::KeySummary;
use crate::record::codec::{DecodeError, Reader};

pub const RUN_MAGIC: &[u8; 8] = b"SHOALIDX";
pub const RUN_FORMAT_VERSION: u16 = 1;
pub const HEADER_LEN_BYTES: usize = 64;
const HEADER_CHECKED_BYTES: usize = 40;
/// A block is closed once its entries pass this.
pub const BLOCK_TARGET_BYTES: usize = 24 << 10;
/// Largest block a reader accepts: the target plus one entry of the largest size.
pub const BLOCK_LEN_MAX_BYTES: usize = BLOCK_TARGET_BYTES + ENTRY_LEN_MAX_BYTES + 16;
/// Largest footer a reader accepts (about 2.5 million blocks of short keys, or 60 GiB
/// of entries): it is held in memory while the run is open.
pub const FOOTER_LEN_MAX_BYTES: usize = 64 << 20;
/// Bytes written to the drive at a time while a run streams out.
const WRITE_CHUNK_BYTES: usize = 64 << 10;

pub fn crc32c(bytes: &[u8]) -> u32 {
    let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, bytes);
    u32::try_from(crc).expect("a CRC-32 fits in 32 bits")
}

/// Where one block lies and the key it starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockHandle {
    pub first_key: String,
    pub offset: u64,
    pub len_bytes: u32,
    pub entries_count: u32,
}

/// What the header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunHeader {
    pub blocks_count: u32,
    pub footer_offset: u64,
    pub footer_len_bytes: u32,
    pub footer_crc: u32,
    pub entries_count: u64,
}

impl RunHeader {
    fn encode(&self) -> [u8; HEADER_LEN_BYTES] {
        let mut out = Vec::with_capacity(HEADER_LEN_BYTES);
        out.extend_from_slice(RUN_MAGIC);
        out.extend_from_slice(&RUN_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&self.blocks_count.to_le_bytes());
        out.extend_from_slice(&self.footer_offset.to_le_bytes());
        out.extend_from_slice(&self.footer_len_bytes.to_le_bytes());
        out.extend_from_slice(&self.footer_crc.to_le_bytes());
        out.extend_from_slice(&self.entries_count.to_le_bytes());
        assert_eq!(out.len(), HEADER_CHECKED_BYTES);
        out.extend_from_slice(&crc32c(&out).to_le_bytes());
        out.resize(HEADER_LEN_BYTES, 0);
        out.try_into().expect("header length")
    }

    pub fn decode(bytes: &[u8]) -> Result<RunHeader, DecodeError> {
        let header = bytes
            .get(..HEADER_LEN_BYTES)
            .ok_or(DecodeError::Truncated)?;
        let mut reader = Reader::new(header);
        if reader.array::<8>()? != *RUN_MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let version = reader.u16()?;
        if version != RUN_FORMAT_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        if reader.u16()? != 0 {
            return Err(DecodeError::Invalid("reserved header field"));
        }
        let parsed = RunHeader {
            blocks_count: reader.u32()?,
            footer_offset: reader.u64()?,
            footer_len_bytes: reader.u32()?,
            footer_crc: reader.u32()?,
            entries_count: reader.u64()?,
        };
        if reader.u32()? != crc32c(&header[..HEADER_CHECKED_BYTES]) {
            return Err(DecodeError::ChecksumMismatch);
        }
        if header[HEADER_CHECKED_BYTES + 4..].iter().any(|&b| b != 0) {
            return Err(DecodeError::Invalid("header padding not zero"));
        }
        if parsed.footer_len_bytes as usize > FOOTER_LEN_MAX_BYTES
            || parsed.footer_offset < HEADER_LEN_BYTES as u64
        {
            return Err(DecodeError::Invalid("footer out of bounds"));
        }
        Ok(parsed)
    }
}

/// The block index of a run, checked against its header.
pub fn decode_footer(bytes: &[u8], header: &RunHeader) -> Result<Vec<BlockHandle>, DecodeError> {
    if bytes.len() != header.footer_len_bytes as usize {
        return Err(DecodeError::Truncated);
    }
    if crc32c(bytes) != header.footer_crc {
        return Err(DecodeError::ChecksumMismatch);
    }
    let mut reader = Reader::new(bytes);
    // Each handle takes at least 18 bytes: a count past that is a lie, not a reason to
    // reserve memory.
    let blocks_count = header.blocks_count as usize;
    if blocks_count > bytes.len() / 18 {
        return Err(DecodeError::Invalid("block count over the footer's room"));
    }
    let mut blocks: Vec<BlockHandle> = Vec::with_capacity(blocks_count);
    let mut expected_offset = HEADER_LEN_BYTES as u64;
    let mut entries_total = 0u64;
    for _ in 0..blocks_count {
        let handle = BlockHandle {
            offset: reader.u64()?,
            len_bytes: reader.u32()?,
            entries_count: reader.u32()?,
            first_key: {
                let len = usize::from(reader.u16()?);
                if len > KEY_LEN_MAX_BYTES {
                    return Err(DecodeError::Invalid("first key over its bound"));
                }
                std::str::from_utf8(reader.raw(len)?)
                    .map_err(|_| DecodeError::Invalid("first key not UTF-8"))?
                    .to_owned()
            },
        };
        let ordered = blocks.last().is_none_or(|b| b.first_key < handle.first_key);
        if handle.offset != expected_offset
            || handle.len_bytes as usize > BLOCK_LEN_MAX_BYTES
            || handle.entries_count == 0
            || !ordered
        {
            return Err(DecodeError::Invalid("block index out of order or bounds"));
        }
        expected_offset += u64::from(handle.len_bytes);
        entries_total += u64::from(handle.entries_count);
        blocks.push(handle);
    }
    reader.finish()?;
    if expected_offset != header.footer_offset || entries_total != header.entries_count {
        return Err(DecodeError::Invalid("blocks do not add up to the header"));
    }
    Ok(blocks)
}

/// The entries of one block, checked against its handle.
pub fn decode_block(bytes: &[u8], handle: &BlockHandle) -> Result<Vec<Entry>, DecodeError> {
    if bytes.len() != handle.len_bytes as usize || bytes.len() < 10 {
        return Err(DecodeError::Truncated);
    }
    let (checked, stored) = bytes.split_at(bytes.len() - 4);
    if crc32c(checked) != u32::from_le_bytes(stored.try_into().expect("4 bytes")) {
        return Err(DecodeError::ChecksumMismatch);
    }
    let mut reader = Reader::new(checked);
    let version = reader.u16()?;
    if version != RUN_FORMAT_VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let count = reader.u32()?;
    if count != handle.entries_count {
        return Err(DecodeError::Invalid("block count differs from its index"));
    }
    let entries = decode_entries(&mut reader, count as usize)?;
    reader.finish()?;
    if entries.first().map(|(key, _)| key) != Some(&handle.first_key) {
        return Err(DecodeError::Invalid(
            "block starts at another key than its index",
        ));
    }
    Ok(entries)
}

/// Decodes a whole run held in memory (tests and the fuzzer; the drive reads a block
/// at a time): header, footer, then every block, keys increasing across blocks.
pub fn decode_run(bytes: &[u8]) -> Result<Vec<Entry>, DecodeError> {
    let header = RunHeader::decode(bytes)?;
    let footer_start = usize::try_from(header.footer_offset).map_err(|_| DecodeError::Truncated)?;
    let footer_end = footer_start
        .checked_add(header.footer_len_bytes as usize)
        .ok_or(DecodeError::Truncated)?;
    let footer = bytes
        .get(footer_start..footer_end)
        .ok_or(DecodeError::Truncated)?;
    if footer_end != bytes.len() {
        return Err(DecodeError::Invalid("bytes after the footer"));
    }
    let mut entries: Vec<Entry> = Vec::new();
    for handle in decode_footer(footer, &header)? {
        let start = handle.offset as usize;
        let block = &bytes[start..start + handle.len_bytes as usize];
        let decoded = decode_block(block, &handle)?;
        if entries.last().map(|(k, _)| k) >= decoded.first().map(|(k, _)| k) {
            return Err(DecodeError::Invalid("keys out of order across blocks"));
        }
        entries.extend(decoded);
    }
    Ok(entries)
}

/// Streams entries in key order into a new run under `.shoal/tmp/`, then renames it to
/// its place. Memory: one write chunk, one block and the growing footer.
pub struct RunWriter<'d, D: Drive> {
    drive: &'d D,
    file: Option<D::File>,
    tmp_path: String,
    /// Bytes not yet written, starting at the aligned file offset `pending_offset`.
    pending: Vec<u8>,
    pending_offset: u64,
    /// The first page as written, kept so the header can be patched in at the end.
    first_page: Option<Vec<u8>>,
    block: Vec<u8>,
    block_first_key: String,
    block_entries: u32,
    last_key: Option<String>,
    blocks: Vec<BlockHandle>,
    entries_count: u64,
}

impl<'d, D: Drive> RunWriter<'d, D> {
    pub async fn create(drive: &'d D, tmp_path: String) -> IndexResult<Self> {
        let file = drive.create(&tmp_path, 0).await?;
        Ok(Self {
            drive,
            file: Some(file),
            tmp_path,
            pending: vec![0; HEADER_LEN_BYTES],
            pending_offset: 0,
            first_page: None,
            block: Vec::new(),
            block_first_key: String::new(),
            block_entries: 0,
            last_key: None,
            blocks: Vec::new(),
            entries_count: 0,
        })
    }

    /// Appends the next entry; keys must strictly increase.
    pub async fn push(&mut self, key: &str, entry: Option<&KeySummary>) -> IndexResult<()> {
        assert!(
            self.last_key.as_deref().is_none_or(|last| last < key),
            "run entries out of key order"
        );
        if self.block_entries == 0 {
            self.block
                .extend_from_slice(&RUN_FORMAT_VERSION.to_le_bytes());
            self.block.extend_from_slice(&0u32.to_le_bytes());
            self.block_first_key = key.to_owned();
            encode_entry(&mut self.block, "", key, entry);
        } else {
            let previous = self.last_key.as_deref().unwrap_or("");
            encode_entry(&mut self.block, previous, key, entry);
        }
        self.block_entries += 1;
        self.entries_count += 1;
        self.last_key = Some(key.to_owned());
        if self.block.len() >= BLOCK_TARGET_BYTES {
            self.close_block();
            self.write_full_chunks().await?;
        }
        Ok(())
    }

    fn close_block(&mut self) {
        if self.block_entries == 0 {
            return;
        }
        self.block[2..6].copy_from_slice(&self.block_entries.to_le_bytes());
        let crc = crc32c(&self.block);
        self.block.extend_from_slice(&crc.to_le_bytes());
        let offset = self.pending_offset + self.pending.len() as u64;
        self.blocks.push(BlockHandle {
            first_key: std::mem::take(&mut self.block_first_key),
            offset,
            len_bytes: u32::try_from(self.block.len()).expect("block under 4 GiB"),
            entries_count: self.block_entries,
        });
        self.pending.append(&mut self.block);
        self.block_entries = 0;
    }

    /// Writes whole pages of what is pending once there is a chunk of them.
    async fn write_full_chunks(&mut self) -> IndexResult<()> {
        if self.pending.len() < WRITE_CHUNK_BYTES {
            return Ok(());
        }
        let whole = self.pending.len() / BLOCK_SIZE_BYTES * BLOCK_SIZE_BYTES;
        self.write_pending(whole).await
    }

    /// Writes the first `len` pending bytes (a multiple of the page, or all of them
    /// padded) at `pending_offset`.
    async fn write_pending(&mut self, len: usize) -> IndexResult<()> {
        let mut buf = AlignedBuf::with_capacity(len.max(1));
        buf.extend_from_slice(&self.pending[..len]);
        buf.pad_to_block();
        if self.pending_offset == 0 && self.first_page.is_none() {
            self.first_page = Some(buf.as_slice()[..BLOCK_SIZE_BYTES].to_vec());
        }
        let file = self.file.as_ref().expect("run file open until finish");
        let (result, _) = self.drive.write_at(file, buf, self.pending_offset).await;
        result?;
        self.pending.drain(..len);
        self.pending_offset += len as u64;
        Ok(())
    }

    /// Writes the footer and header, syncs, and renames the run to `path`. An empty run
    /// is still a valid file (no blocks).
    pub async fn finish(mut self, path: &str) -> IndexResult<()> {
        self.close_block();
        let footer_offset = self.pending_offset + self.pending.len() as u64;
        let footer = encode_footer(&self.blocks);
        if footer.len() > FOOTER_LEN_MAX_BYTES {
            return Err(IndexError::TooLarge);
        }
        self.pending.extend_from_slice(&footer);
        let header = RunHeader {
            blocks_count: u32::try_from(self.blocks.len()).map_err(|_| IndexError::TooLarge)?,
            footer_offset,
            footer_len_bytes: u32::try_from(footer.len()).expect("footer bounded above"),
            footer_crc: crc32c(&footer),
            entries_count: self.entries_count,
        }
        .encode();
        let end = footer_offset + footer.len() as u64;
        let header_pending = self.pending_offset == 0;
        if header_pending {
            self.pending[..HEADER_LEN_BYTES].copy_from_slice(&header);
        }
        let tail = self.pending.len();
        self.write_pending(tail).await?;
        if header_pending {
            // The header went out with the tail: no page to patch.
            self.first_page = None;
        }
        let file = self.file.take().expect("run file open until finish");
        let written = self.finish_file(&file, &header, end).await;
        let closed = self.drive.close(file).await;
        written?;
        closed?;
        Ok(self.drive.rename(&self.tmp_path, path).await?)
    }

    async fn finish_file(
        &mut self,
        file: &D::File,
        header: &[u8; HEADER_LEN_BYTES],
        end: u64,
    ) -> IndexResult<()> {
        if let Some(mut page) = self.first_page.take() {
            page[..HEADER_LEN_BYTES].copy_from_slice(header);
            let mut buf = AlignedBuf::with_capacity(BLOCK_SIZE_BYTES);
            buf.extend_from_slice(&page);
            let (result, _) = self.drive.write_at(file, buf, 0).await;
            result?;
        }
        self.drive.set_len(file, end).await?;
        Ok(self.drive.sync(file).await?)
    }
}

fn encode_footer(blocks: &[BlockHandle]) -> Vec<u8> {
    let mut out = Vec::new();
    for block in blocks {
        out.extend_from_slice(&block.offset.to_le_bytes());
        out.extend_from_slice(&block.len_bytes.to_le_bytes());
        out.extend_from_slice(&block.entries_count.to_le_bytes());
        let len = u16::try_from(block.first_key.len()).expect("keys are at most 1 KiB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(block.first_key.as_bytes());
    }
    out
}

/// An open run: the file and its block index (in memory while the run is a layer).
pub struct Run<D: Drive> {
    file: D::File,
    pub seq: u64,
    pub path: String,
    pub blocks: Vec<BlockHandle>,
}

impl<D: Drive> Run<D> {
    pub async fn open(drive: &D, path: String, seq: u64) -> IndexResult<Run<D>> {
        let file = drive.open(&path).await?;
        let first = read_range(drive, &file, 0, HEADER_LEN_BYTES).await?;
        let header = RunHeader::decode(&first)?;
        let footer = read_range(
            drive,
            &file,
            header.footer_offset,
            header.footer_len_bytes as usize,
        )
        .await?;
        let blocks = decode_footer(&footer, &header)?;
        Ok(Run {
            file,
            seq,
            path,
            blocks,
        })
    }

    /// The block that would hold the first key after `after` (may hold none of them).
    pub fn block_after(&self, after: &str) -> usize {
        // The last block whose first key is <= after holds the keys just after it.
        self.blocks
            .partition_point(|b| b.first_key.as_str() <= after)
            .saturating_sub(1)
    }

    pub async fn read_block(&self, drive: &D, index: usize) -> IndexResult<Vec<Entry>> {
        let handle = &self.blocks[index];
        let bytes = read_range(drive, &self.file, handle.offset, handle.len_bytes as usize).await?;
        Ok(decode_block(&bytes, handle)?)
    }
}

/// Reads `len` bytes at any `offset` through the pages around them.
async fn read_range<D: Drive>(
    drive: &D,
    file: &D::File,
    offset: u64,
    len: usize,
) -> IndexResult<Vec<u8>> {
    let page = BLOCK_SIZE_BYTES as u64;
    let start = offset / page * page;
    let skip = usize::try_from(offset - start).expect("under a page");
    let buf = AlignedBuf::with_capacity(skip + len.max(1));
    let (result, buf) = drive.read_at(file, buf, start).await;
    result?;
    buf.as_slice()
        .get(skip..skip + len)
        .map(<[u8]>::to_vec)
        .ok_or(IndexError::Corrupt(DecodeError::Truncated))
}
