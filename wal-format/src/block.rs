//! Block streams: the compressed, checksummed body shared by snapshots and bundles.
//!
//! After its file header, a snapshot or bundle is a sequence of *chunks*, each a
//! 32-byte chunk header followed by a body: zero or more data blocks (kind 1), then
//! exactly one end chunk (kind 2) that closes the file. A data block's body is LZ4
//! block data, or the raw bytes when LZ4 would not make them smaller; uncompressed,
//! it is a sequence of records, each a little-endian `u32` length and that many bytes.
//!
//! Invariants:
//! - A record never spans blocks, and blocks are never empty.
//! - A chunk header's checksum covers the file's salt and the header (which holds the
//!   chunk's index and its body's checksum), so chunks cannot be reordered, dropped
//!   (the next index or the end totals break), or spliced in from another file.
//! - The end chunk holds the block count, the total uncompressed bytes, the record
//!   count, a CRC over every block header checksum in order, and a CRC over every byte
//!   of the file before the end chunk.
//! - Decoders check the header checksum and every limit before trusting a length, and
//!   the body checksum before decompressing; a block's buffer is allocated only for a
//!   length within [`BLOCK_UNCOMPRESSED_BYTES_MAX`] and within
//!   [`BLOCK_EXPANSION_RATIO_MAX`] times the stored body, after that body verified.
//! - Encoders keep at most one block (plus its compressed copy) in memory.

use crate::bytes::{to_u64, u16_at, u32_at, u64_at, u8_at};
use crate::checksum::crc32;
use crate::error::{FormatError, UnknownTag};
use crate::limits::{
    BLOCK_BYTES_TARGET_DEFAULT, BLOCK_EXPANSION_RATIO_MAX, BLOCK_UNCOMPRESSED_BYTES_MAX,
    RECORD_BYTES_MAX, RECORD_LENGTH_PREFIX_BYTES,
};

/// Size of a chunk header in bytes.
pub const CHUNK_HEADER_BYTES: usize = 1 + 1 + 2 + 4 + 4 + 4 + 8 + 4 + 4;
const _: () = assert!(CHUNK_HEADER_BYTES == 32);

/// Size of the end chunk's body in bytes.
pub const END_BODY_BYTES: usize = 8 + 8 + 8 + 4 + 4;
const _: () = assert!(END_BODY_BYTES == 32);
const END_BODY_BYTES_U32: u32 = END_BODY_BYTES as u32;

const KIND_AT: usize = 0;
const COMPRESSION_AT: usize = 1;
const RESERVED_AT: usize = 2;
const STORED_AT: usize = 4;
const UNCOMPRESSED_AT: usize = 8;
const RECORDS_AT: usize = 12;
const INDEX_AT: usize = 16;
const BODY_CHECKSUM_AT: usize = 24;
const HEADER_CHECKSUM_AT: usize = 28;

/// The kind of a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum ChunkKind {
    /// A data block of records.
    Block = 1,
    /// The end chunk (trailer).
    End = 2,
}

impl TryFrom<u8> for ChunkKind {
    type Error = UnknownTag;

    fn try_from(tag: u8) -> Result<Self, Self::Error> {
        match tag {
            1 => Ok(ChunkKind::Block),
            2 => Ok(ChunkKind::End),
            _ => Err(UnknownTag {
                what: "chunk kind",
                tag,
            }),
        }
    }
}

/// How a chunk body is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Compression {
    /// Raw bytes.
    Stored = 0,
    /// One LZ4 block (no frame format, no size prefix).
    Lz4 = 1,
}

impl TryFrom<u8> for Compression {
    type Error = UnknownTag;

    fn try_from(tag: u8) -> Result<Self, Self::Error> {
        match tag {
            0 => Ok(Compression::Stored),
            1 => Ok(Compression::Lz4),
            _ => Err(UnknownTag {
                what: "compression",
                tag,
            }),
        }
    }
}

/// Names used in error messages, per file kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamNames {
    pub(crate) chunk_header: &'static str,
    pub(crate) chunk_body: &'static str,
    pub(crate) file: &'static str,
}

/// Totals of a block stream, as recorded in (and verified against) its end chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamSummary {
    /// Number of data blocks.
    pub block_count: u64,
    /// Number of records in all blocks.
    pub record_count: u64,
    /// Sum of the blocks' uncompressed lengths (record bytes plus length prefixes).
    pub uncompressed_bytes: u64,
}

/// Encodes the records of a snapshot or bundle into blocks, streaming.
///
/// Created by [`crate::SnapshotHeader::begin_encode`] or
/// [`crate::BundleHeader::begin_encode`], which also emit the file header. Every
/// method appends finished bytes to the caller's `out` buffer; the engine writes them
/// and may clear the buffer between calls. Memory stays bounded by one block.
#[derive(Debug, Clone)]
pub struct BlockStreamEncoder {
    salt: u64,
    block_bytes_target: usize,
    buffer: Vec<u8>,
    block_records: u32,
    digest: crc32fast::Hasher,
    file: crc32fast::Hasher,
    position: u64,
    summary: StreamSummary,
    scratch: Vec<u8>,
}

impl BlockStreamEncoder {
    /// Starts a stream whose file header is `file_header`, appending it to `out`.
    pub(crate) fn new(salt: u64, file_header: &[u8], out: &mut Vec<u8>) -> BlockStreamEncoder {
        let mut file = crc32fast::Hasher::new();
        file.update(file_header);
        out.extend_from_slice(file_header);
        BlockStreamEncoder {
            salt,
            block_bytes_target: BLOCK_BYTES_TARGET_DEFAULT as usize,
            buffer: Vec::new(),
            block_records: 0,
            digest: crc32fast::Hasher::new(),
            file,
            position: to_u64(file_header.len()),
            summary: StreamSummary::default(),
            scratch: Vec::new(),
        }
    }

    /// Sets the uncompressed size at which blocks are closed (default
    /// [`BLOCK_BYTES_TARGET_DEFAULT`]); it must be between 1 and
    /// [`BLOCK_UNCOMPRESSED_BYTES_MAX`]. A record larger than the target gets a block
    /// of its own.
    pub fn with_block_bytes_target(mut self, target: u32) -> Result<Self, FormatError> {
        if target == 0 || target > BLOCK_UNCOMPRESSED_BYTES_MAX {
            return Err(FormatError::InvalidArgument {
                what: "BlockStreamEncoder::with_block_bytes_target",
                detail: format!("target {target} is outside 1..={BLOCK_UNCOMPRESSED_BYTES_MAX}"),
            });
        }
        self.block_bytes_target = target as usize;
        Ok(self)
    }

    /// Bytes handed to `out` so far (the offset the next bytes will have in the file).
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Adds one record. When the current block is full it is compressed and appended
    /// to `out` first. Fails, changing nothing, for a record over [`RECORD_BYTES_MAX`].
    pub fn push_record(&mut self, record: &[u8], out: &mut Vec<u8>) -> Result<(), FormatError> {
        let too_large = FormatError::LimitExceeded {
            what: "record bytes (RECORD_BYTES_MAX)",
            offset: self.position,
            value: to_u64(record.len()),
            max: u64::from(RECORD_BYTES_MAX),
        };
        let length = u32::try_from(record.len()).map_err(|_| too_large.clone())?;
        if length > RECORD_BYTES_MAX {
            return Err(too_large);
        }
        let added = RECORD_LENGTH_PREFIX_BYTES as usize + record.len();
        if !self.buffer.is_empty() && self.buffer.len() + added > self.block_bytes_target {
            self.flush_block(out);
        }
        self.buffer.extend_from_slice(&length.to_le_bytes());
        self.buffer.extend_from_slice(record);
        self.block_records += 1;
        Ok(())
    }

    /// Closes the stream: appends the last block (if any) and the end chunk to `out`,
    /// and returns the totals written.
    pub fn finish(mut self, out: &mut Vec<u8>) -> StreamSummary {
        if !self.buffer.is_empty() {
            self.flush_block(out);
        }
        let mut body = Vec::with_capacity(END_BODY_BYTES);
        body.extend_from_slice(&self.summary.block_count.to_le_bytes());
        body.extend_from_slice(&self.summary.uncompressed_bytes.to_le_bytes());
        body.extend_from_slice(&self.summary.record_count.to_le_bytes());
        body.extend_from_slice(&self.digest.clone().finalize().to_le_bytes());
        body.extend_from_slice(&self.file.clone().finalize().to_le_bytes());
        debug_assert_eq!(body.len(), END_BODY_BYTES);
        let (header, _) = encode_chunk_header(
            self.salt,
            &ChunkFields {
                kind: ChunkKind::End,
                compression: Compression::Stored,
                stored: END_BODY_BYTES_U32,
                uncompressed: END_BODY_BYTES_U32,
                records: 0,
                index: self.summary.block_count,
                body_checksum: crc32(&[&body]),
            },
        );
        out.extend_from_slice(&header);
        out.extend_from_slice(&body);
        self.summary
    }

    /// Compresses the buffered records into one block and appends it to `out`.
    fn flush_block(&mut self, out: &mut Vec<u8>) {
        let uncompressed = self.buffer.len();
        self.scratch.clear();
        self.scratch
            .resize(lz4_flex::block::get_maximum_output_size(uncompressed), 0);
        let compressed = lz4_flex::block::compress_into(&self.buffer, &mut self.scratch)
            .ok()
            .filter(|&length| length < uncompressed);
        let (compression, body) = match compressed {
            Some(length) => (
                Compression::Lz4,
                self.scratch.get(..length).unwrap_or_default(),
            ),
            None => (Compression::Stored, self.buffer.as_slice()),
        };
        // Both lengths are at most BLOCK_UNCOMPRESSED_BYTES_MAX, which fits a u32:
        // push_record bounds every record and the target.
        let stored = u32::try_from(body.len()).unwrap_or(u32::MAX);
        let (header, header_checksum) = encode_chunk_header(
            self.salt,
            &ChunkFields {
                kind: ChunkKind::Block,
                compression,
                stored,
                uncompressed: u32::try_from(uncompressed).unwrap_or(u32::MAX),
                records: self.block_records,
                index: self.summary.block_count,
                body_checksum: crc32(&[body]),
            },
        );
        out.extend_from_slice(&header);
        out.extend_from_slice(body);
        self.file.update(&header);
        self.file.update(body);
        self.digest.update(&header_checksum.to_le_bytes());
        self.position += to_u64(header.len() + body.len());
        self.summary.block_count += 1;
        self.summary.record_count += u64::from(self.block_records);
        self.summary.uncompressed_bytes += to_u64(uncompressed);
        self.buffer.clear();
        self.block_records = 0;
    }
}

/// The fields of a chunk header.
struct ChunkFields {
    kind: ChunkKind,
    compression: Compression,
    stored: u32,
    uncompressed: u32,
    records: u32,
    index: u64,
    body_checksum: u32,
}

/// The 32 bytes of a chunk header, and its header checksum.
fn encode_chunk_header(salt: u64, fields: &ChunkFields) -> (Vec<u8>, u32) {
    let mut header = Vec::with_capacity(CHUNK_HEADER_BYTES);
    header.push(fields.kind as u8);
    header.push(fields.compression as u8);
    header.extend_from_slice(&0u16.to_le_bytes());
    header.extend_from_slice(&fields.stored.to_le_bytes());
    header.extend_from_slice(&fields.uncompressed.to_le_bytes());
    header.extend_from_slice(&fields.records.to_le_bytes());
    header.extend_from_slice(&fields.index.to_le_bytes());
    header.extend_from_slice(&fields.body_checksum.to_le_bytes());
    let checksum = crc32(&[&salt.to_le_bytes(), &header]);
    header.extend_from_slice(&checksum.to_le_bytes());
    debug_assert_eq!(header.len(), CHUNK_HEADER_BYTES);
    (header, checksum)
}

/// A verified chunk header: tells how many body bytes to read next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkHeader {
    offset: u64,
    kind: ChunkKind,
    compression: Compression,
    stored: u32,
    uncompressed: u32,
    records: u32,
    index: u64,
    body_checksum: u32,
    header_checksum: u32,
    raw: [u8; CHUNK_HEADER_BYTES],
}

impl ChunkHeader {
    /// How many body bytes follow this header (at most
    /// [`BLOCK_UNCOMPRESSED_BYTES_MAX`], already checked).
    pub fn body_bytes(&self) -> usize {
        self.stored as usize
    }

    /// True for the end chunk (whose body is [`END_BODY_BYTES`] long).
    pub fn is_end(&self) -> bool {
        self.kind == ChunkKind::End
    }

    /// Offset of the chunk header in the file.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

/// A decoded chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// A data block and its records.
    Block(Block),
    /// The end chunk: the stream is complete and its totals verified.
    End(StreamSummary),
}

/// One decompressed, verified data block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    index: u64,
    record_count: u32,
    data: Vec<u8>,
}

impl Block {
    /// The block's index in its file (0 for the first block).
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Number of records in the block.
    pub fn record_count(&self) -> u32 {
        self.record_count
    }

    /// The records, in order, as slices of the decompressed block.
    pub fn records(&self) -> Records<'_> {
        Records { rest: &self.data }
    }
}

/// Iterator over the record payloads of a verified block.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Records<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        // The block was verified to consist exactly of well-formed records, so `None`
        // from a `get` here only ever means the end.
        let length = u32_at(self.rest, 0)? as usize;
        let start = RECORD_LENGTH_PREFIX_BYTES as usize;
        let record = self.rest.get(start..start.checked_add(length)?)?;
        self.rest = self.rest.get(start + length..).unwrap_or_default();
        Some(record)
    }
}

/// Decodes a block stream, streaming: give it each chunk header, then that chunk's body.
///
/// Created by [`crate::SnapshotHeader::begin_decode`] or
/// [`crate::BundlePrefix::finish`]. After any error, discard the decoder.
#[derive(Debug, Clone)]
pub struct BlockStreamDecoder {
    salt: u64,
    names: StreamNames,
    next_index: u64,
    digest: crc32fast::Hasher,
    file: crc32fast::Hasher,
    position: u64,
    summary: StreamSummary,
    finished: bool,
}

/// The verified content of a chunk body, before the decoder's state advances.
enum VerifiedBody {
    Block(Block),
    End(StreamSummary),
}

impl BlockStreamDecoder {
    /// Starts decoding after a file header whose bytes are `file_header`.
    pub(crate) fn new(salt: u64, names: StreamNames, file_header: &[u8]) -> BlockStreamDecoder {
        let mut file = crc32fast::Hasher::new();
        file.update(file_header);
        BlockStreamDecoder {
            salt,
            names,
            next_index: 0,
            digest: crc32fast::Hasher::new(),
            file,
            position: to_u64(file_header.len()),
            summary: StreamSummary::default(),
            finished: false,
        }
    }

    /// Offset of the next chunk header in the file (after the end chunk: the file's
    /// expected length).
    pub fn position(&self) -> u64 {
        self.position
    }

    /// True once the end chunk has been decoded and verified.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Decodes the chunk header in the first [`CHUNK_HEADER_BYTES`] of `bytes` (later
    /// bytes are ignored). Then read [`ChunkHeader::body_bytes`] bytes and pass them to
    /// [`BlockStreamDecoder::decode_chunk_body`].
    pub fn decode_chunk_header(&self, bytes: &[u8]) -> Result<ChunkHeader, FormatError> {
        if self.finished {
            return Err(self.trailing(bytes.len()));
        }
        let header = self.parse_chunk_header(bytes)?;
        self.check_index(&header)?;
        Ok(header)
    }

    /// Verifies and decodes the body of the chunk `header` from the first
    /// `header.body_bytes()` bytes of `body` (later bytes are ignored), and advances.
    pub fn decode_chunk_body(
        &mut self,
        header: &ChunkHeader,
        body: &[u8],
    ) -> Result<Chunk, FormatError> {
        if self.finished {
            return Err(self.trailing(body.len()));
        }
        if header.offset != self.position || header.index != self.next_index {
            return Err(FormatError::InvalidArgument {
                what: "BlockStreamDecoder::decode_chunk_body",
                detail: format!(
                    "the chunk header from offset {} is not the one expected at offset {}",
                    header.offset, self.position
                ),
            });
        }
        let body = self.body_prefix(header, body)?;
        let verified = self.verify_body(header, body)?;
        self.advance(header, body);
        Ok(match verified {
            VerifiedBody::Block(block) => Chunk::Block(block),
            VerifiedBody::End(summary) => Chunk::End(summary),
        })
    }

    fn trailing(&self, count: usize) -> FormatError {
        FormatError::TrailingBytes {
            what: self.names.file,
            offset: self.position,
            count: to_u64(count),
        }
    }

    /// The first `header.body_bytes()` bytes of `body`, or `Truncated`.
    fn body_prefix<'b>(
        &self,
        header: &ChunkHeader,
        body: &'b [u8],
    ) -> Result<&'b [u8], FormatError> {
        body.get(..header.body_bytes())
            .ok_or(FormatError::Truncated {
                what: self.names.chunk_body,
                offset: header.offset + to_u64(CHUNK_HEADER_BYTES),
                needed: u64::from(header.stored),
                available: to_u64(body.len()),
            })
    }

    /// Checks a chunk header's checksum, tags, reserved bytes and limits (not its index).
    fn parse_chunk_header(&self, bytes: &[u8]) -> Result<ChunkHeader, FormatError> {
        let what = self.names.chunk_header;
        let offset = self.position;
        let truncated = || FormatError::Truncated {
            what,
            offset,
            needed: to_u64(CHUNK_HEADER_BYTES),
            available: to_u64(bytes.len()),
        };
        let raw: [u8; CHUNK_HEADER_BYTES] = bytes
            .get(..CHUNK_HEADER_BYTES)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(truncated)?;
        let stored_checksum = u32_at(&raw, HEADER_CHECKSUM_AT).ok_or_else(truncated)?;
        let computed = crc32(&[
            &self.salt.to_le_bytes(),
            raw.get(..HEADER_CHECKSUM_AT).unwrap_or_default(),
        ]);
        if computed != stored_checksum {
            return Err(FormatError::ChecksumMismatch {
                what,
                offset,
                stored: stored_checksum,
                computed,
            });
        }
        let kind_tag = u8_at(&raw, KIND_AT).ok_or_else(truncated)?;
        let kind = ChunkKind::try_from(kind_tag).map_err(|e| e.at(offset))?;
        let compression_tag = u8_at(&raw, COMPRESSION_AT).ok_or_else(truncated)?;
        let compression = Compression::try_from(compression_tag)
            .map_err(|e| e.at(offset + to_u64(COMPRESSION_AT)))?;
        if u16_at(&raw, RESERVED_AT) != Some(0) {
            return Err(FormatError::ReservedNotZero { what, offset });
        }
        let header = ChunkHeader {
            offset,
            kind,
            compression,
            stored: u32_at(&raw, STORED_AT).ok_or_else(truncated)?,
            uncompressed: u32_at(&raw, UNCOMPRESSED_AT).ok_or_else(truncated)?,
            records: u32_at(&raw, RECORDS_AT).ok_or_else(truncated)?,
            index: u64_at(&raw, INDEX_AT).ok_or_else(truncated)?,
            body_checksum: u32_at(&raw, BODY_CHECKSUM_AT).ok_or_else(truncated)?,
            header_checksum: stored_checksum,
            raw,
        };
        check_chunk_limits(&header, what)?;
        Ok(header)
    }

    fn check_index(&self, header: &ChunkHeader) -> Result<(), FormatError> {
        if header.index != self.next_index {
            return Err(FormatError::Inconsistent {
                what: self.names.chunk_header,
                offset: header.offset,
                detail: format!(
                    "chunk index is {}, but the next chunk must have index {}",
                    header.index, self.next_index
                ),
            });
        }
        Ok(())
    }

    /// Verifies a body against its header and the stream so far, without advancing.
    fn verify_body(&self, header: &ChunkHeader, body: &[u8]) -> Result<VerifiedBody, FormatError> {
        let what = self.names.chunk_body;
        let offset = header.offset + to_u64(CHUNK_HEADER_BYTES);
        let computed = crc32(&[body]);
        if computed != header.body_checksum {
            return Err(FormatError::ChecksumMismatch {
                what,
                offset,
                stored: header.body_checksum,
                computed,
            });
        }
        match header.kind {
            ChunkKind::Block => {
                let data = decompress(header, body, what, offset)?;
                check_records(&data, header.records, what, offset)?;
                Ok(VerifiedBody::Block(Block {
                    index: header.index,
                    record_count: header.records,
                    data,
                }))
            }
            ChunkKind::End => self.verify_end(body, offset).map(VerifiedBody::End),
        }
    }

    fn verify_end(&self, body: &[u8], offset: u64) -> Result<StreamSummary, FormatError> {
        let what = self.names.chunk_body;
        let truncated = || FormatError::Truncated {
            what,
            offset,
            needed: to_u64(END_BODY_BYTES),
            available: to_u64(body.len()),
        };
        let written = StreamSummary {
            block_count: u64_at(body, 0).ok_or_else(truncated)?,
            uncompressed_bytes: u64_at(body, 8).ok_or_else(truncated)?,
            record_count: u64_at(body, 16).ok_or_else(truncated)?,
        };
        let digest = u32_at(body, 24).ok_or_else(truncated)?;
        let file_checksum = u32_at(body, 28).ok_or_else(truncated)?;
        if written != self.summary {
            return Err(FormatError::Inconsistent {
                what,
                offset,
                detail: format!(
                    "the end chunk records {written:?}, but the blocks read add up to {:?}",
                    self.summary
                ),
            });
        }
        let computed = self.digest.clone().finalize();
        if digest != computed {
            return Err(FormatError::ChecksumMismatch {
                what: "digest of block checksums",
                offset,
                stored: digest,
                computed,
            });
        }
        let computed = self.file.clone().finalize();
        if file_checksum != computed {
            return Err(FormatError::ChecksumMismatch {
                what: "checksum of every byte before the end chunk",
                offset,
                stored: file_checksum,
                computed,
            });
        }
        Ok(written)
    }

    /// Advances past a chunk whose header has been parsed, verified or not.
    fn advance(&mut self, header: &ChunkHeader, body: &[u8]) {
        self.next_index = header.index.saturating_add(1);
        self.position += to_u64(CHUNK_HEADER_BYTES + body.len());
        match header.kind {
            ChunkKind::Block => {
                self.file.update(&header.raw);
                self.file.update(body);
                self.digest.update(&header.header_checksum.to_le_bytes());
                self.summary.block_count += 1;
                self.summary.record_count += u64::from(header.records);
                self.summary.uncompressed_bytes += u64::from(header.uncompressed);
            }
            ChunkKind::End => self.finished = true,
        }
    }
}

/// Rules a checksum-valid chunk header must still satisfy before its lengths are used.
fn check_chunk_limits(header: &ChunkHeader, what: &'static str) -> Result<(), FormatError> {
    let offset = header.offset;
    let inconsistent = |detail: String| FormatError::Inconsistent {
        what,
        offset,
        detail,
    };
    match header.kind {
        ChunkKind::Block => {
            if header.uncompressed > BLOCK_UNCOMPRESSED_BYTES_MAX {
                return Err(FormatError::LimitExceeded {
                    what: "uncompressed block bytes (BLOCK_UNCOMPRESSED_BYTES_MAX)",
                    offset,
                    value: u64::from(header.uncompressed),
                    max: u64::from(BLOCK_UNCOMPRESSED_BYTES_MAX),
                });
            }
            if header.records == 0 {
                return Err(inconsistent("a block must hold at least one record".into()));
            }
            let prefixes = u64::from(header.records) * u64::from(RECORD_LENGTH_PREFIX_BYTES);
            if prefixes > u64::from(header.uncompressed) {
                return Err(inconsistent(format!(
                    "{} records cannot fit in {} uncompressed bytes",
                    header.records, header.uncompressed
                )));
            }
            match header.compression {
                Compression::Stored if header.stored != header.uncompressed => {
                    Err(inconsistent(format!(
                        "an uncompressed block stores {} bytes but declares {}",
                        header.stored, header.uncompressed
                    )))
                }
                Compression::Lz4
                    if header.stored >= header.uncompressed
                        || u64::from(header.uncompressed)
                            > u64::from(header.stored) * BLOCK_EXPANSION_RATIO_MAX =>
                {
                    Err(inconsistent(format!(
                        "lz4 cannot turn {} stored bytes into {} (it must shrink the block, \
                         by at most {BLOCK_EXPANSION_RATIO_MAX} times)",
                        header.stored, header.uncompressed
                    )))
                }
                _ => Ok(()),
            }
        }
        ChunkKind::End => {
            if header.compression != Compression::Stored
                || header.stored != END_BODY_BYTES_U32
                || header.uncompressed != END_BODY_BYTES_U32
                || header.records != 0
            {
                return Err(inconsistent(format!(
                    "an end chunk must be stored uncompressed with a {END_BODY_BYTES}-byte \
                     body and no records"
                )));
            }
            Ok(())
        }
    }
}

/// The uncompressed bytes of a verified block body.
fn decompress(
    header: &ChunkHeader,
    body: &[u8],
    what: &'static str,
    offset: u64,
) -> Result<Vec<u8>, FormatError> {
    match header.compression {
        Compression::Stored => Ok(body.to_vec()),
        Compression::Lz4 => {
            // Bounded by check_chunk_limits: at most BLOCK_UNCOMPRESSED_BYTES_MAX and at
            // most BLOCK_EXPANSION_RATIO_MAX times the verified body.
            let mut data = vec![0u8; header.uncompressed as usize];
            match lz4_flex::block::decompress_into(body, &mut data) {
                Ok(length) if length == data.len() => Ok(data),
                Ok(length) => Err(FormatError::Decompress {
                    what,
                    offset,
                    detail: format!(
                        "it yields {length} bytes, but the header declares {}",
                        data.len()
                    ),
                }),
                Err(error) => Err(FormatError::Decompress {
                    what,
                    offset,
                    detail: error.to_string(),
                }),
            }
        }
    }
}

/// Checks that `data` is exactly `expected` well-formed length-prefixed records.
fn check_records(
    data: &[u8],
    expected: u32,
    what: &'static str,
    offset: u64,
) -> Result<(), FormatError> {
    let mut position = 0usize;
    let mut count = 0u32;
    let prefix = RECORD_LENGTH_PREFIX_BYTES as usize;
    while position < data.len() {
        let inconsistent = |detail: String| FormatError::Inconsistent {
            what,
            offset,
            detail,
        };
        let length = u32_at(data, position).ok_or_else(|| {
            inconsistent(format!(
                "a record length prefix at block byte {position} is cut short"
            ))
        })?;
        if length > RECORD_BYTES_MAX {
            return Err(FormatError::LimitExceeded {
                what: "record bytes (RECORD_BYTES_MAX)",
                offset,
                value: u64::from(length),
                max: u64::from(RECORD_BYTES_MAX),
            });
        }
        let end = position + prefix + length as usize;
        if end > data.len() {
            return Err(inconsistent(format!(
                "the record at block byte {position} ({length} bytes) runs past the block's {} bytes",
                data.len()
            )));
        }
        position = end;
        count += 1;
    }
    if count != expected {
        return Err(FormatError::Inconsistent {
            what,
            offset,
            detail: format!("the block holds {count} records, but its header declares {expected}"),
        });
    }
    Ok(())
}

/// The result of checking every checksum of a snapshot or bundle without stopping at
/// the first problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationReport<H> {
    /// The file header, when it decoded.
    pub header: Option<H>,
    /// Data blocks whose body verified (checksum, decompression, record framing).
    pub blocks_verified: u64,
    /// Records in the verified blocks.
    pub records_verified: u64,
    /// True when the end chunk was found and its totals and checksums matched.
    pub end_verified: bool,
    /// Every problem found, in file order. Validation stops early only where a damaged
    /// length makes the rest of the file impossible to locate.
    pub problems: Vec<FormatError>,
}

impl<H> ValidationReport<H> {
    /// True when the file is entirely intact.
    pub fn is_valid(&self) -> bool {
        self.header.is_some() && self.end_verified && self.problems.is_empty()
    }

    /// A report for a file whose header failed.
    pub(crate) fn header_failed(problem: FormatError) -> Self {
        ValidationReport {
            header: None,
            blocks_verified: 0,
            records_verified: 0,
            end_verified: false,
            problems: vec![problem],
        }
    }
}

/// Checks every chunk of `file` after its header, collecting problems instead of
/// stopping at the first one.
pub(crate) fn validate_chunks<H>(
    mut decoder: BlockStreamDecoder,
    file: &[u8],
    header: H,
) -> ValidationReport<H> {
    let mut report = ValidationReport {
        header: Some(header),
        blocks_verified: 0,
        records_verified: 0,
        end_verified: false,
        problems: Vec::new(),
    };
    while !decoder.finished {
        let start = usize::try_from(decoder.position).unwrap_or(usize::MAX);
        let rest = file.get(start..).unwrap_or_default();
        let chunk = match decoder.parse_chunk_header(rest) {
            Ok(chunk) => chunk,
            Err(problem) => {
                // The length fields cannot be trusted: nothing after can be located.
                report.problems.push(problem);
                break;
            }
        };
        if let Err(problem) = decoder.check_index(&chunk) {
            report.problems.push(problem);
        }
        let body_bytes = rest.get(CHUNK_HEADER_BYTES..).unwrap_or_default();
        let body = match decoder.body_prefix(&chunk, body_bytes) {
            Ok(body) => body,
            Err(problem) => {
                report.problems.push(problem);
                break;
            }
        };
        match decoder.verify_body(&chunk, body) {
            Ok(VerifiedBody::Block(block)) => {
                report.blocks_verified += 1;
                report.records_verified += u64::from(block.record_count);
            }
            Ok(VerifiedBody::End(_)) => report.end_verified = true,
            Err(problem) => report.problems.push(problem),
        }
        decoder.advance(&chunk, body);
    }
    if decoder.finished {
        let end = usize::try_from(decoder.position).unwrap_or(usize::MAX);
        if file.len() > end {
            report.problems.push(decoder.trailing(file.len() - end));
        }
    }
    report
}

/// Decodes every chunk of `file` after its header, strictly: the first problem is the
/// error. Returns the blocks and the verified totals.
pub(crate) fn decode_all_chunks(
    mut decoder: BlockStreamDecoder,
    file: &[u8],
) -> Result<(Vec<Block>, StreamSummary), FormatError> {
    let mut blocks = Vec::new();
    loop {
        let start = usize::try_from(decoder.position).unwrap_or(usize::MAX);
        let rest = file.get(start..).unwrap_or_default();
        let header = decoder.decode_chunk_header(rest)?;
        let body = rest.get(CHUNK_HEADER_BYTES..).unwrap_or_default();
        match decoder.decode_chunk_body(&header, body)? {
            Chunk::Block(block) => blocks.push(block),
            Chunk::End(summary) => {
                let end = usize::try_from(decoder.position).unwrap_or(usize::MAX);
                if file.len() > end {
                    return Err(decoder.trailing(file.len() - end));
                }
                return Ok((blocks, summary));
            }
        }
    }
}
