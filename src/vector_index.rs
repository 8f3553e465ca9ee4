//! The vector collection index: embeddings with metadata, and exact top-k search.
//!
//! Invariants:
//! - Persistent: a [`VectorIndex`] is a value. `Clone` is O(1) (every part is an `Arc`
//!   or an `imbl` container) and a mutation of one copy never shows in another. A
//!   mutation copies only what it touches: one chunk (about [`CHUNK_BYTES_TARGET`]
//!   bytes) plus O(log n) nodes of the key map and chunk list. A batch of upserts on one
//!   copy copies each touched chunk at most once, since after the first copy the chunk
//!   is no longer shared.
//! - Storage: rows live in chunks of `rows_per_chunk` slots. Slot `s` is row
//!   `s % rows_per_chunk` of chunk `s / rows_per_chunk`; every chunk but the last is
//!   full, and a chunk's vectors are one contiguous `Vec<f32>` of `rows * dimension`
//!   floats, so the search streams through memory. Each row keeps its key, metadata and
//!   inverse Euclidean norm (computed at upsert whatever the collection's metric, so
//!   that a search may override the metric with cosine).
//! - A slot is live exactly when its row has a key; the key map sends each key to its
//!   live slot and the free list holds every other slot, so that a removed slot is the
//!   next one reused. `len` counts the live slots.
//! - Search is exact and deterministic: hits are ordered by score, best first, then by
//!   key ascending; a NaN score (only possible from overflowing inputs) ranks below
//!   every other. The result never depends on the thread count, since a row's score
//!   does not depend on how the scan is split (see `kernels`). Large collections are
//!   scanned by all threads of the rayon pool, each keeping its own bounded top-k heap;
//!   nothing ever sorts more than k hits.
//!
//! Scores: cosine similarity (0.0 when either vector is zero; clamped to [-1, 1]
//! against rounding), the dot product, or `1 / (1 + L2 distance)` for euclidean. Higher
//! is better for all three.

mod kernels;

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::limits::VECTOR_DIMENSION_MAX;
use crate::value::{Object, Value};

/// The size a chunk's vector block aims at: big enough that the scan streams, small
/// enough that copying one on write (an upsert into a shared index) is cheap.
pub const CHUNK_BYTES_TARGET: usize = 64 * 1024;
/// Most rows in one chunk, so that tiny dimensions do not make per-row key and metadata
/// arrays (copied with the chunk) large.
const CHUNK_ROWS_MAX: usize = 256;
/// Below this many stored floats (8 MiB) a search runs on the calling thread alone.
/// Waking the pool costs tens of microseconds, and measured on two cores the split
/// only pays off clearly above this size (about 5,500 rows of 384 dimensions); below
/// it, keeping to one thread leaves the other core to concurrent searches.
const PARALLEL_FLOATS_MIN: usize = 1 << 21;
/// Work items per thread in a parallel search, so a busy core does not hold back the
/// whole search.
const PARALLEL_PARTS_PER_THREAD: usize = 4;

/// How similarity is measured. Higher scores are better for every metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Metric {
    /// Cosine similarity in [-1, 1]; a zero vector scores 0.0 against everything.
    Cosine,
    /// `1 / (1 + L2 distance)`, in (0, 1].
    Euclidean,
    /// The plain dot product.
    DotProduct,
}

impl Metric {
    /// Parses a metric name: exactly `"cosine"`, `"euclidean"` or `"dot_product"` (also
    /// `"dotproduct"`, which the published package accepts). Anything else is refused,
    /// as the published package refuses it, so a typo never picks a metric by accident.
    pub fn parse(name: &str) -> Result<Metric> {
        match name {
            "cosine" => Ok(Metric::Cosine),
            "euclidean" => Ok(Metric::Euclidean),
            "dot_product" | "dotproduct" => Ok(Metric::DotProduct),
            _ => Err(Error::validation(format!(
                "unknown metric '{name}': expected one of 'cosine', 'euclidean', 'dot_product'"
            ))),
        }
    }

    /// The canonical name, as `parse` accepts it and stats report it.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Cosine => "cosine",
            Metric::Euclidean => "euclidean",
            Metric::DotProduct => "dot_product",
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name of the similarity kernel this machine runs: `"avx2+fma"` or `"portable"`.
pub fn search_kernel() -> &'static str {
    kernels::kernel_name()
}

/// Checks a collection dimension: between 1 and [`VECTOR_DIMENSION_MAX`].
pub fn check_dimension(dimension: usize) -> Result<()> {
    if dimension == 0 || dimension > VECTOR_DIMENSION_MAX {
        return Err(Error::validation(format!(
            "vector dimension must be between 1 and {VECTOR_DIMENSION_MAX}, got {dimension}"
        )));
    }
    Ok(())
}

/// Validates a raw embedding for a collection: its length must equal the collection's
/// dimension (else a constraint error) and every element must be finite (else a
/// validation error naming the first bad index).
/// Checks the arguments of a search that need no collection: the collection's name,
/// `k` against [`SEARCH_K_MAX`](crate::limits::SEARCH_K_MAX), and the metric override
/// (parsed).
pub fn check_search(collection: &str, k: usize, metric: Option<&str>) -> Result<Option<Metric>> {
    crate::keys::check_name("collection", collection)?;
    let limit = crate::limits::SEARCH_K_MAX;
    if k > limit {
        return Err(Error::validation(format!("k = {k} is larger than the limit of {limit}")));
    }
    metric.map(Metric::parse).transpose()
}

pub fn check_embedding(collection: &str, dimension: usize, embedding: &[f32]) -> Result<()> {
    if embedding.len() != dimension {
        return Err(Error::constraint(format!(
            "collection '{collection}' has dimension {dimension}, got {}",
            embedding.len()
        )));
    }
    if let Some((index, value)) = embedding.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(Error::validation(format!(
            "embedding for collection '{collection}' has a non-finite value ({value}) at \
             index {index}: every element must be a finite number"
        )));
    }
    Ok(())
}

/// One search result.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchHit {
    pub key: String,
    pub score: f32,
    pub metadata: Option<Value>,
}

/// A block of rows. Cloned (copy on write) only when a shared chunk is mutated.
#[derive(Clone)]
struct Chunk {
    /// `keys.len() * dimension` floats, row after row.
    vectors: Vec<f32>,
    /// One over the Euclidean norm of each row, or 0.0 for a zero vector or a free
    /// slot (so a zero vector scores 0.0 under cosine). In f64 so that a vector scores
    /// exactly 1.0 against itself.
    inverse_norms: Vec<f64>,
    /// The key of each row; `None` marks a free slot.
    keys: Vec<Option<Arc<str>>>,
    /// The metadata of each row, behind an `Arc` so copying the chunk stays cheap.
    metadata: Vec<Option<Arc<Value>>>,
}

impl Chunk {
    fn with_capacity(rows: usize, dimension: usize) -> Chunk {
        Chunk {
            vectors: Vec::with_capacity(rows * dimension),
            inverse_norms: Vec::with_capacity(rows),
            keys: Vec::with_capacity(rows),
            metadata: Vec::with_capacity(rows),
        }
    }

    fn rows(&self) -> usize {
        self.keys.len()
    }
}

/// A persistent index of embeddings for one collection. See the module documentation
/// for its invariants.
#[derive(Clone)]
pub struct VectorIndex {
    dimension: usize,
    metric: Metric,
    rows_per_chunk: usize,
    chunks: imbl::Vector<Arc<Chunk>>,
    /// Key to live slot. Ordered, so `keys()` and `iter()` list keys in ascending order.
    slots: imbl::OrdMap<Arc<str>, usize>,
    /// Free slots, reused last-freed first.
    free: imbl::Vector<usize>,
    /// Slots in all chunks, live or free.
    slot_count: usize,
    /// Live slots.
    len: usize,
    /// Bytes held per live row beyond its slot: key, map entry, metadata.
    row_extra_bytes: usize,
}

impl fmt::Debug for VectorIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VectorIndex")
            .field("dimension", &self.dimension)
            .field("metric", &self.metric)
            .field("len", &self.len)
            .field("chunks", &self.chunks.len())
            .finish()
    }
}

impl VectorIndex {
    /// An empty index. `dimension` is expected to have passed [`check_dimension`].
    pub fn new(dimension: usize, metric: Metric) -> VectorIndex {
        debug_assert!(dimension > 0, "a vector index needs a positive dimension");
        let row_bytes = dimension.max(1) * std::mem::size_of::<f32>();
        let mut rows_per_chunk = (CHUNK_BYTES_TARGET / row_bytes).clamp(1, CHUNK_ROWS_MAX);
        // Whole groups of four rows keep the four-row kernel busy.
        if rows_per_chunk >= 4 {
            rows_per_chunk -= rows_per_chunk % 4;
        }
        VectorIndex {
            dimension,
            metric,
            rows_per_chunk,
            chunks: imbl::Vector::new(),
            slots: imbl::OrdMap::new(),
            free: imbl::Vector::new(),
            slot_count: 0,
            len: 0,
            row_extra_bytes: 0,
        }
    }

    pub fn dimension(&self) -> usize {
        self.dimension
    }

    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The number of stored embeddings.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Inserts or replaces the embedding and metadata stored under `key`.
    ///
    /// The caller has validated the embedding with [`check_embedding`]; this is checked
    /// in debug builds only. (In release builds a wrong-length embedding is cut or
    /// zero-padded to the dimension rather than corrupting neighbouring rows.)
    pub fn upsert(&mut self, key: &str, embedding: &[f32], metadata: Option<Value>) {
        debug_assert_eq!(
            embedding.len(),
            self.dimension,
            "embedding length for key '{key}'"
        );
        debug_assert!(
            embedding.iter().all(|x| x.is_finite()),
            "non-finite embedding for '{key}'"
        );
        let metadata = metadata.map(Arc::new);
        let metadata_bytes = metadata_size(metadata.as_deref());
        if let Some(&slot) = self.slots.get(key) {
            let dimension = self.dimension;
            let Some((chunk, row)) = self.chunk_mut(slot) else {
                return;
            };
            let old_metadata_bytes = metadata_size(chunk.metadata[row].as_deref());
            write_row(chunk, row, dimension, embedding);
            chunk.metadata[row] = metadata;
            self.row_extra_bytes = self.row_extra_bytes - old_metadata_bytes + metadata_bytes;
            return;
        }
        let key: Arc<str> = Arc::from(key);
        let slot = self.allocate_slot();
        let dimension = self.dimension;
        let Some((chunk, row)) = self.chunk_mut(slot) else {
            return;
        };
        write_row(chunk, row, dimension, embedding);
        chunk.keys[row] = Some(Arc::clone(&key));
        chunk.metadata[row] = metadata;
        self.row_extra_bytes += key_size(&key) + metadata_bytes;
        self.slots.insert(key, slot);
        self.len += 1;
    }

    /// Removes `key`. Returns whether it was present. Its slot is reused by the next
    /// insert of a new key.
    pub fn remove(&mut self, key: &str) -> bool {
        let Some(slot) = self.slots.remove(key) else {
            return false;
        };
        self.len -= 1;
        if self.len == 0 {
            // Release every chunk rather than keep a block of free slots.
            *self = VectorIndex::new(self.dimension, self.metric);
            return true;
        }
        let dimension = self.dimension;
        let Some((chunk, row)) = self.chunk_mut(slot) else {
            return true;
        };
        let freed = metadata_size(chunk.metadata[row].as_deref())
            + chunk.keys[row].as_deref().map_or(0, key_size);
        chunk.keys[row] = None;
        chunk.metadata[row] = None;
        chunk.inverse_norms[row] = 0.0;
        chunk.vectors[row * dimension..(row + 1) * dimension].fill(0.0);
        self.row_extra_bytes -= freed;
        self.free.push_back(slot);
        true
    }

    /// The embedding and metadata stored under `key`.
    pub fn get(&self, key: &str) -> Option<(&[f32], Option<&Value>)> {
        let slot = *self.slots.get(key)?;
        self.row(slot)
    }

    /// Whether `key` is stored.
    pub fn contains_key(&self, key: &str) -> bool {
        self.slots.contains_key(key)
    }

    /// Every key, in ascending byte order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.slots.keys().map(|key| &**key)
    }

    /// Every (key, embedding, metadata), in ascending key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[f32], Option<&Value>)> {
        self.slots.iter().filter_map(move |(key, &slot)| {
            let (embedding, metadata) = self.row(slot)?;
            Some((&**key, embedding, metadata))
        })
    }

    /// An estimate of the heap memory held: every slot's vector, norm and row arrays,
    /// plus each live row's key, key-map entry and metadata. Memory shared with clones
    /// is counted in full by each.
    pub fn memory_bytes(&self) -> usize {
        let slot_bytes = self.dimension * std::mem::size_of::<f32>()
            + std::mem::size_of::<f64>()
            + std::mem::size_of::<Option<Arc<str>>>()
            + std::mem::size_of::<Option<Arc<Value>>>();
        let chunk_bytes = std::mem::size_of::<Chunk>() + 2 * std::mem::size_of::<usize>();
        self.slot_count * slot_bytes
            + self.chunks.len() * chunk_bytes
            + self.free.len() * std::mem::size_of::<usize>()
            + self.row_extra_bytes
    }

    /// Exact top-`k` search with the index's own metric. See
    /// [`VectorIndex::search_with_metric`].
    pub fn search(&self, query: &[f32], k: usize, filter: Option<&Filter>) -> Vec<SearchHit> {
        self.search_with_metric(query, k, filter, self.metric)
    }

    /// Exact top-`k` search with any metric: the best `min(k, matches)` rows whose
    /// metadata passes `filter`, best first, ties broken by key ascending. `k == 0`
    /// returns nothing. The query must have the index's dimension (checked by the
    /// caller; a query of another length finds nothing).
    pub fn search_with_metric(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<&Filter>,
        metric: Metric,
    ) -> Vec<SearchHit> {
        let parallel = self.slot_count * self.dimension >= PARALLEL_FLOATS_MIN;
        self.search_inner(query, k, metric, filter, parallel)
    }

    fn search_inner(
        &self,
        query: &[f32],
        k: usize,
        metric: Metric,
        filter: Option<&Filter>,
        parallel: bool,
    ) -> Vec<SearchHit> {
        debug_assert_eq!(query.len(), self.dimension, "query length");
        if k == 0 || self.len == 0 || query.len() != self.dimension {
            return Vec::new();
        }
        let k = k.min(self.len);
        let scorer = Scorer::new(query, metric);
        let chunks: Vec<&Chunk> = self.chunks.iter().map(|chunk| &**chunk).collect();
        let pool = if parallel && chunks.len() > 1 {
            search_pool()
        } else {
            None
        };
        let top = match pool {
            Some(pool) => {
                let parts =
                    (pool.current_num_threads() * PARALLEL_PARTS_PER_THREAD).min(chunks.len());
                let part_len = chunks.len().div_ceil(parts);
                pool.install(|| {
                    chunks
                        .par_chunks(part_len)
                        .map(|part| scan(part, &scorer, k, self.rows_per_chunk, filter))
                        .reduce_with(TopK::merge)
                        .unwrap_or_else(|| TopK::new(k))
                })
            }
            None => scan(&chunks, &scorer, k, self.rows_per_chunk, filter),
        };
        top.into_sorted()
            .into_iter()
            .map(|candidate| SearchHit {
                key: candidate.key.to_string(),
                score: candidate.score,
                metadata: candidate.metadata.map(|metadata| (**metadata).clone()),
            })
            .collect()
    }

    /// The embedding and metadata of a live slot.
    fn row(&self, slot: usize) -> Option<(&[f32], Option<&Value>)> {
        let chunk = self.chunks.get(slot / self.rows_per_chunk)?;
        let row = slot % self.rows_per_chunk;
        let embedding = chunk
            .vectors
            .get(row * self.dimension..(row + 1) * self.dimension)?;
        Some((embedding, chunk.metadata.get(row)?.as_deref()))
    }

    /// The chunk holding `slot`, made unique (copied if shared), and the slot's row.
    /// `None` only if the invariants are broken (every slot lies in a chunk).
    fn chunk_mut(&mut self, slot: usize) -> Option<(&mut Chunk, usize)> {
        let chunk = self.chunks.get_mut(slot / self.rows_per_chunk);
        debug_assert!(chunk.is_some(), "slot {slot} has no chunk");
        Some((Arc::make_mut(chunk?), slot % self.rows_per_chunk))
    }

    /// A slot for a new key: the last freed one, else a new one at the end.
    fn allocate_slot(&mut self) -> usize {
        if let Some(slot) = self.free.pop_back() {
            return slot;
        }
        let slot = self.slot_count;
        // Every chunk is full: start a new one.
        if slot == self.chunks.len() * self.rows_per_chunk {
            self.chunks.push_back(Arc::new(Chunk::with_capacity(
                self.rows_per_chunk,
                self.dimension,
            )));
        }
        let dimension = self.dimension;
        let rows_per_chunk = self.rows_per_chunk;
        let last = self.chunks.len() - 1;
        if let Some(chunk) = self.chunks.get_mut(last) {
            let chunk = Arc::make_mut(chunk);
            // A chunk copied on write has no spare capacity: give it room for all its
            // rows at once rather than growing it step by step.
            let free_rows = rows_per_chunk.saturating_sub(chunk.rows());
            if chunk.keys.capacity() == chunk.keys.len() {
                chunk.vectors.reserve_exact(free_rows * dimension);
                chunk.inverse_norms.reserve_exact(free_rows);
                chunk.keys.reserve_exact(free_rows);
                chunk.metadata.reserve_exact(free_rows);
            }
            chunk.vectors.resize(chunk.vectors.len() + dimension, 0.0);
            chunk.inverse_norms.push(0.0);
            chunk.keys.push(None);
            chunk.metadata.push(None);
        }
        self.slot_count += 1;
        slot
    }
}

/// The threads that scan large collections, with the process that started them.
struct SearchPool {
    pool: rayon::ThreadPool,
    process_id: u32,
}

/// The search thread pool: one per process, started on first use with a thread per
/// core. `None` (search on the calling thread) where it cannot be used: on a machine
/// with one core, if the threads cannot be started, and in a process forked after the
/// pool started (as Python's `multiprocessing` does), whose copy of the pool has no
/// threads behind it and would wait forever.
fn search_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<SearchPool>> = OnceLock::new();
    let started = POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if threads < 2 {
            return None;
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|index| format!("stratadb-search-{index}"))
            .build()
            .ok()?;
        Some(SearchPool {
            pool,
            process_id: std::process::id(),
        })
    });
    started
        .as_ref()
        .filter(|started| started.process_id == std::process::id())
        .map(|started| &started.pool)
}

/// Writes an embedding and its norm into `row` of `chunk`.
fn write_row(chunk: &mut Chunk, row: usize, dimension: usize, embedding: &[f32]) {
    let target = &mut chunk.vectors[row * dimension..(row + 1) * dimension];
    let copied = embedding.len().min(dimension);
    target[..copied].copy_from_slice(&embedding[..copied]);
    target[copied..].fill(0.0);
    chunk.inverse_norms[row] = inverse_norm(target);
}

/// One over the Euclidean norm, or 0.0 for a zero vector. The squared norm comes from
/// the kernel that scores rows, so for a vector `v` it equals the raw score of `v`
/// against itself bit for bit, and cosine gives exactly 1.0: the f64 arithmetic after
/// that errs far below f32 precision.
fn inverse_norm(vector: &[f32]) -> f64 {
    let squared = kernels::dot(vector, vector) as f64;
    if squared > 0.0 {
        1.0 / squared.sqrt()
    } else {
        0.0
    }
}

/// Bytes held by a live row's key: the string, its `Arc` header and its map entry.
fn key_size(key: &str) -> usize {
    key.len() + 2 * std::mem::size_of::<usize>() + std::mem::size_of::<(Arc<str>, usize)>()
}

fn metadata_size(metadata: Option<&Value>) -> usize {
    metadata.map_or(0, |value| {
        2 * std::mem::size_of::<usize>() + value.approximate_size()
    })
}

/// A query prepared for one metric.
struct Scorer<'q> {
    query: &'q [f32],
    metric: Metric,
    /// One over the query's norm, 0.0 for a zero query (cosine only).
    query_inverse_norm: f64,
}

impl<'q> Scorer<'q> {
    fn new(query: &'q [f32], metric: Metric) -> Scorer<'q> {
        let query_inverse_norm = match metric {
            Metric::Cosine => inverse_norm(query),
            Metric::Euclidean | Metric::DotProduct => 0.0,
        };
        Scorer {
            query,
            metric,
            query_inverse_norm,
        }
    }

    /// Writes the score of each row of `chunk` (free slots included) into `out`.
    /// `next` is the chunk scored after this one, which the kernel prefetches.
    fn score_chunk(&self, chunk: &Chunk, out: &mut [f32], next: Option<&Chunk>) {
        let next = next.map_or(&[][..], |chunk| &chunk.vectors[..]);
        // The kernel leaves raw results (dot products or squared distances); the loops
        // below, simple enough to vectorize, turn them into scores. Adding 0.0 turns
        // -0.0 into +0.0, so that the two zeros tie and fall back to key order.
        match self.metric {
            Metric::Cosine => {
                kernels::dot_rows(self.query, &chunk.vectors, out, next);
                let query_inverse_norm = self.query_inverse_norm;
                for (score, &row_inverse_norm) in out.iter_mut().zip(&chunk.inverse_norms) {
                    let cosine = *score as f64 * row_inverse_norm * query_inverse_norm;
                    *score = (cosine as f32).clamp(-1.0, 1.0) + 0.0;
                }
            }
            Metric::DotProduct => {
                kernels::dot_rows(self.query, &chunk.vectors, out, next);
                for score in out.iter_mut() {
                    *score += 0.0;
                }
            }
            Metric::Euclidean => {
                kernels::l2_squared_rows(self.query, &chunk.vectors, out, next);
                for score in out.iter_mut() {
                    *score = 1.0 / (1.0 + score.max(0.0).sqrt());
                }
            }
        }
    }
}

/// Scans `chunks` and keeps the best `k` rows that pass `filter`.
fn scan<'a>(
    chunks: &[&'a Chunk],
    scorer: &Scorer<'_>,
    k: usize,
    rows_per_chunk: usize,
    filter: Option<&Filter>,
) -> TopK<'a> {
    let mut top = TopK::new(k);
    let mut scores = vec![0.0f32; rows_per_chunk];
    for (position, chunk) in chunks.iter().enumerate() {
        // Each chunk's header and row arrays are separate allocations that the
        // hardware prefetcher cannot foresee: ask for the next chunk's row arrays and
        // the header after it while this chunk is scored.
        let next = chunks.get(position + 1).copied();
        if let Some(next) = next {
            kernels::prefetch(&next.keys);
            kernels::prefetch(&next.inverse_norms);
        }
        if let Some(after_next) = chunks.get(position + 2) {
            kernels::prefetch(std::slice::from_ref(*after_next));
        }
        let rows = chunk.rows().min(scores.len());
        let scores = &mut scores[..rows];
        scorer.score_chunk(chunk, scores, next);
        for (row, &score) in scores.iter().enumerate() {
            // Most rows fall below the current k-th best: reject them on the score
            // alone. (A NaN score fails this test and is ranked by `admits`.)
            if score < top.threshold {
                continue;
            }
            let Some(key) = &chunk.keys[row] else {
                continue;
            };
            if !top.admits(score, key) {
                continue;
            }
            let metadata = chunk.metadata[row].as_ref();
            if let Some(filter) = filter {
                if !filter.matches(metadata.map(|m| &**m)) {
                    continue;
                }
            }
            top.push(Candidate {
                score,
                key,
                metadata,
            });
        }
    }
    top
}

/// A row that may make the top k.
struct Candidate<'a> {
    score: f32,
    key: &'a Arc<str>,
    metadata: Option<&'a Arc<Value>>,
}

/// Orders candidates worst first: lower score, then (on equal scores) greater key. A
/// NaN score ranks below everything.
fn rank_worse(score: f32, key: &str, other_score: f32, other_key: &str) -> Ordering {
    let ordered = |s: f32| if s.is_nan() { f32::NEG_INFINITY } else { s };
    ordered(other_score)
        .total_cmp(&ordered(score))
        .then_with(|| key.cmp(other_key))
}

impl PartialEq for Candidate<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate<'_> {}
impl PartialOrd for Candidate<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate<'_> {
    /// Greater means worse, so the max-heap keeps the worst kept candidate on top.
    fn cmp(&self, other: &Self) -> Ordering {
        rank_worse(self.score, self.key, other.score, other.key)
    }
}

/// A bounded heap of the best `k` candidates seen so far.
struct TopK<'a> {
    k: usize,
    heap: BinaryHeap<Candidate<'a>>,
    /// A score below this cannot be kept: the worst kept score once `k` are kept
    /// (NaN counted as -inf), else -inf.
    threshold: f32,
}

impl<'a> TopK<'a> {
    fn new(k: usize) -> TopK<'a> {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k.min(4096) + 1),
            threshold: f32::NEG_INFINITY,
        }
    }

    /// Whether a candidate with this score and key would be kept.
    #[inline]
    fn admits(&self, score: f32, key: &str) -> bool {
        if self.heap.len() < self.k {
            return true;
        }
        match self.heap.peek() {
            Some(worst) => rank_worse(score, key, worst.score, worst.key) == Ordering::Less,
            None => false,
        }
    }

    fn push(&mut self, candidate: Candidate<'a>) {
        if self.heap.len() < self.k {
            self.heap.push(candidate);
        } else if let Some(mut worst) = self.heap.peek_mut() {
            if candidate < *worst {
                // Dropping the `PeekMut` restores the heap order.
                *worst = candidate;
            }
        }
        if self.heap.len() >= self.k {
            if let Some(worst) = self.heap.peek() {
                self.threshold = if worst.score.is_nan() {
                    f32::NEG_INFINITY
                } else {
                    worst.score
                };
            }
        }
    }

    fn merge(mut self, other: TopK<'a>) -> TopK<'a> {
        for candidate in other.heap {
            if self.admits(candidate.score, candidate.key) {
                self.push(candidate);
            }
        }
        self
    }

    /// The kept candidates, best first.
    fn into_sorted(self) -> Vec<Candidate<'a>> {
        self.heap.into_sorted_vec()
    }
}

/// A comparison operator of a metadata filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FilterOp {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    /// The filter value is a list; the field equals one of its members.
    In,
    /// The field is a string containing the value (a string), or a list with a member
    /// equal to the value.
    Contains,
}

const FILTER_OPS: &str = "eq, ne, gt, gte, lt, lte, in, contains";

impl FilterOp {
    /// Parses an op name (exact, lower case).
    pub fn parse(op: &str) -> Result<FilterOp> {
        Ok(match op {
            "eq" => FilterOp::Eq,
            "ne" => FilterOp::Ne,
            "gt" => FilterOp::Gt,
            "gte" => FilterOp::Gte,
            "lt" => FilterOp::Lt,
            "lte" => FilterOp::Lte,
            "in" => FilterOp::In,
            "contains" => FilterOp::Contains,
            _ => {
                return Err(Error::validation(format!(
                    "unknown filter op '{op}': expected one of {FILTER_OPS}"
                )))
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FilterOp::Eq => "eq",
            FilterOp::Ne => "ne",
            FilterOp::Gt => "gt",
            FilterOp::Gte => "gte",
            FilterOp::Lt => "lt",
            FilterOp::Lte => "lte",
            FilterOp::In => "in",
            FilterOp::Contains => "contains",
        }
    }
}

/// One condition: `metadata[field] <op> value`.
#[derive(Clone, Debug, PartialEq)]
struct Condition {
    field: String,
    /// `field` split at dots, for nested lookups.
    path: Vec<String>,
    op: FilterOp,
    value: Value,
}

/// A metadata filter: a conjunction of conditions on metadata fields.
///
/// `field` names a top-level member of the metadata dict; if no member has that exact
/// name and it contains dots, it is read as a path into nested dicts (`"a.b"`). Numbers
/// compare across int and float (`1 == 1.0`); `gt`/`gte`/`lt`/`lte` compare numbers with
/// numbers, strings with strings and bools with bools, and fail otherwise. A missing
/// field fails every op except `ne`. Metadata that is absent or not a dict fails every
/// condition; a filter with no conditions matches everything.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    conditions: Vec<Condition>,
}

impl Filter {
    /// Builds a filter from `(field, op, value)` triples. Fails with a validation error
    /// on an unknown op, an empty field, an `in` whose value is not a list, or an
    /// ordering op whose value is not a number, string or bool.
    pub fn new(conditions: Vec<(String, String, Value)>) -> Result<Filter> {
        let conditions = conditions
            .into_iter()
            .map(|(field, op, value)| {
                let op = FilterOp::parse(&op).map_err(|error| {
                    Error::validation(format!(
                        "{} (in the condition on field '{field}')",
                        error.message()
                    ))
                })?;
                if field.is_empty() {
                    return Err(Error::validation(
                        "a filter condition needs a non-empty field name",
                    ));
                }
                match (op, &value) {
                    (FilterOp::In, Value::Array(_)) => {}
                    (FilterOp::In, other) => {
                        return Err(Error::validation(format!(
                            "filter op 'in' on field '{field}' needs a list value, got {}",
                            other.type_name()
                        )))
                    }
                    (
                        FilterOp::Gt | FilterOp::Gte | FilterOp::Lt | FilterOp::Lte,
                        Value::Int(_) | Value::Float(_) | Value::String(_) | Value::Bool(_),
                    ) => {}
                    (FilterOp::Gt | FilterOp::Gte | FilterOp::Lt | FilterOp::Lte, other) => {
                        return Err(Error::validation(format!(
                            "filter op '{}' on field '{field}' needs a number, string or bool \
                             value, got {}",
                            op.as_str(),
                            other.type_name()
                        )))
                    }
                    _ => {}
                }
                let path = field.split('.').map(str::to_owned).collect();
                Ok(Condition {
                    field,
                    path,
                    op,
                    value,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Filter { conditions })
    }

    /// Whether `metadata` passes every condition.
    pub fn matches(&self, metadata: Option<&Value>) -> bool {
        match metadata {
            Some(Value::Object(object)) => self.conditions.iter().all(|c| c.matches(object)),
            _ => self.conditions.is_empty(),
        }
    }
}

impl Condition {
    fn lookup<'v>(&self, object: &'v Object) -> Option<&'v Value> {
        if let Some(value) = object.get(&self.field) {
            return Some(value);
        }
        if self.path.len() < 2 {
            return None;
        }
        let mut current = object.get(&self.path[0])?;
        for segment in &self.path[1..] {
            current = match current {
                Value::Object(members) => members.get(segment)?,
                _ => return None,
            };
        }
        Some(current)
    }

    fn matches(&self, object: &Object) -> bool {
        let Some(field) = self.lookup(object) else {
            return self.op == FilterOp::Ne;
        };
        let ordering = || field.compare(&self.value);
        match self.op {
            FilterOp::Eq => field.loosely_equals(&self.value),
            FilterOp::Ne => !field.loosely_equals(&self.value),
            FilterOp::Gt => ordering() == Some(Ordering::Greater),
            FilterOp::Gte => matches!(ordering(), Some(Ordering::Greater | Ordering::Equal)),
            FilterOp::Lt => ordering() == Some(Ordering::Less),
            FilterOp::Lte => matches!(ordering(), Some(Ordering::Less | Ordering::Equal)),
            FilterOp::In => match &self.value {
                Value::Array(members) => members.iter().any(|member| field.loosely_equals(member)),
                _ => false,
            },
            FilterOp::Contains => match (field, &self.value) {
                (Value::String(text), Value::String(needle)) => text.contains(needle.as_str()),
                (Value::Array(members), needle) => members.iter().any(|m| m.loosely_equals(needle)),
                _ => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// A small deterministic generator (SplitMix64), so tests need no extra crate.
    struct Rng(u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn unit(&mut self) -> f32 {
            (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        }
        fn vector(&mut self, dimension: usize) -> Vec<f32> {
            (0..dimension).map(|_| self.unit()).collect()
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n as u64) as usize
        }
    }

    fn object(members: &[(&str, Value)]) -> Value {
        Value::Object(
            members
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    /// The reference: every score in f64, a full sort by (score desc, key asc).
    fn naive_scores(
        rows: &std::collections::BTreeMap<String, Vec<f32>>,
        query: &[f32],
        metric: Metric,
    ) -> Vec<(String, f64)> {
        let mut scored: Vec<(String, f64)> = rows
            .iter()
            .map(|(key, row)| {
                let dot: f64 = row
                    .iter()
                    .zip(query)
                    .map(|(a, b)| *a as f64 * *b as f64)
                    .sum();
                let score = match metric {
                    Metric::DotProduct => dot,
                    Metric::Cosine => {
                        let rn = row.iter().map(|a| (*a as f64).powi(2)).sum::<f64>().sqrt();
                        let qn = query
                            .iter()
                            .map(|a| (*a as f64).powi(2))
                            .sum::<f64>()
                            .sqrt();
                        if rn == 0.0 || qn == 0.0 {
                            0.0
                        } else {
                            dot / (rn * qn)
                        }
                    }
                    Metric::Euclidean => {
                        let d2: f64 = row
                            .iter()
                            .zip(query)
                            .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
                            .sum();
                        1.0 / (1.0 + d2.sqrt())
                    }
                };
                (key.clone(), score)
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        scored
    }

    /// Checks `hits` against the reference: same length, each score within 1e-4 of the
    /// reference score at that rank and of the reference score of its own key, keys
    /// distinct, best first. Together: the same keys up to ties.
    fn assert_matches_reference(hits: &[SearchHit], reference: &[(String, f64)], k: usize) {
        let expected = k.min(reference.len());
        assert_eq!(hits.len(), expected, "number of hits");
        let by_key: std::collections::HashMap<&str, f64> =
            reference.iter().map(|(k, s)| (k.as_str(), *s)).collect();
        let mut seen = std::collections::HashSet::new();
        for (rank, hit) in hits.iter().enumerate() {
            assert!(seen.insert(hit.key.clone()), "duplicate key {}", hit.key);
            let at_rank = reference[rank].1;
            assert!(
                (hit.score as f64 - at_rank).abs() < 1e-4,
                "rank {rank}: score {} vs reference {at_rank}",
                hit.score
            );
            let own = by_key[&*hit.key];
            assert!(
                (hit.score as f64 - own).abs() < 1e-4,
                "key {}: {} vs {own}",
                hit.key,
                hit.score
            );
            if rank > 0 {
                let previous = &hits[rank - 1];
                assert!(
                    previous.score > hit.score
                        || (previous.score == hit.score && previous.key < hit.key),
                    "hits out of order at rank {rank}"
                );
            }
        }
    }

    fn build(
        rng: &mut Rng,
        dimension: usize,
        metric: Metric,
        count: usize,
    ) -> (VectorIndex, std::collections::BTreeMap<String, Vec<f32>>) {
        let mut index = VectorIndex::new(dimension, metric);
        let mut rows = std::collections::BTreeMap::new();
        for i in 0..count {
            let key = format!("key-{i:05}");
            let vector = rng.vector(dimension);
            index.upsert(&key, &vector, Some(object(&[("i", Value::Int(i as i64))])));
            rows.insert(key, vector);
        }
        (index, rows)
    }

    #[test]
    fn vector_index_search_matches_naive_reference_for_all_metrics() {
        let mut rng = Rng(1);
        for metric in [Metric::Cosine, Metric::Euclidean, Metric::DotProduct] {
            for dimension in [1usize, 3, 17, 64, 385] {
                let (mut index, mut rows) = build(&mut rng, dimension, metric, 300);
                // Some churn: removals and replacements, so free slots are present.
                for i in (0..300).step_by(7) {
                    let key = format!("key-{i:05}");
                    assert!(index.remove(&key));
                    rows.remove(&key);
                }
                for i in (0..300).step_by(11) {
                    let key = format!("key-{i:05}");
                    let vector = rng.vector(dimension);
                    index.upsert(&key, &vector, None);
                    rows.insert(key, vector);
                }
                assert_eq!(index.len(), rows.len());
                for k in [1usize, 2, 10, 57, 1000] {
                    let query = rng.vector(dimension);
                    let reference = naive_scores(&rows, &query, metric);
                    for parallel in [false, true] {
                        let hits = index.search_inner(&query, k, metric, None, parallel);
                        assert_matches_reference(&hits, &reference, k);
                    }
                }
            }
        }
    }

    #[test]
    fn vector_index_portable_kernels_match_naive_reference() {
        // This machine may have AVX2; force the fallback on this thread (the sequential
        // scan runs on the calling thread) so it is tested everywhere.
        kernels::FORCE_PORTABLE.with(|force| force.set(true));
        let mut rng = Rng(11);
        for metric in [Metric::Cosine, Metric::Euclidean, Metric::DotProduct] {
            for dimension in [1usize, 3, 17, 385] {
                let (index, rows) = build(&mut rng, dimension, metric, 150);
                let query = rng.vector(dimension);
                let reference = naive_scores(&rows, &query, metric);
                let hits = index.search_inner(&query, 12, metric, None, false);
                assert_matches_reference(&hits, &reference, 12);
            }
        }
        assert_eq!(search_kernel(), "portable");
        kernels::FORCE_PORTABLE.with(|force| force.set(false));
    }

    #[test]
    fn vector_index_search_with_metric_overrides_the_metric() {
        let mut rng = Rng(2);
        let (index, rows) = build(&mut rng, 24, Metric::DotProduct, 100);
        let query = rng.vector(24);
        for metric in [Metric::Cosine, Metric::Euclidean, Metric::DotProduct] {
            let hits = index.search_with_metric(&query, 5, None, metric);
            assert_matches_reference(&hits, &naive_scores(&rows, &query, metric), 5);
        }
    }

    #[test]
    fn vector_index_parallel_and_sequential_scans_agree_exactly() {
        let mut rng = Rng(3);
        let (index, _) = build(&mut rng, 100, Metric::Cosine, 3000);
        for k in [1usize, 10, 500] {
            let query = rng.vector(100);
            let sequential = index.search_inner(&query, k, Metric::Cosine, None, false);
            let parallel = index.search_inner(&query, k, Metric::Cosine, None, true);
            assert_eq!(sequential, parallel);
            assert_eq!(index.search(&query, k, None), parallel);
        }
    }

    #[test]
    fn vector_index_k_zero_is_empty_and_k_beyond_len_returns_all() {
        let mut rng = Rng(4);
        let (index, _) = build(&mut rng, 8, Metric::Cosine, 20);
        let query = rng.vector(8);
        assert!(index.search(&query, 0, None).is_empty());
        assert_eq!(index.search(&query, 1000, None).len(), 20);
        assert!(VectorIndex::new(8, Metric::Cosine)
            .search(&query, 10, None)
            .is_empty());
    }

    #[test]
    fn vector_index_ties_are_broken_by_key_ascending() {
        let mut index = VectorIndex::new(3, Metric::Cosine);
        // Equal vectors in slots of every position within a group of four rows.
        for key in ["e", "c", "a", "d", "b", "f", "g"] {
            index.upsert(key, &[1.0, 2.0, 3.0], None);
        }
        index.upsert("z", &[3.0, 2.0, 1.0], None);
        let hits = index.search(&[1.0, 2.0, 3.0], 5, None);
        let keys: Vec<&str> = hits.iter().map(|h| &*h.key).collect();
        assert_eq!(keys, ["a", "b", "c", "d", "e"]);
        assert!(hits.iter().all(|h| h.score == 1.0), "{hits:?}");
    }

    #[test]
    fn vector_index_zero_vectors_score_zero_under_cosine() {
        let mut index = VectorIndex::new(4, Metric::Cosine);
        index.upsert("zero", &[0.0; 4], None);
        index.upsert("unit", &[1.0, 0.0, 0.0, 0.0], None);
        index.upsert("opposite", &[-1.0, 0.0, 0.0, 0.0], None);
        let hits = index.search(&[2.0, 0.0, 0.0, 0.0], 3, None);
        let got: Vec<(&str, f32)> = hits.iter().map(|h| (&*h.key, h.score)).collect();
        assert_eq!(got, [("unit", 1.0), ("zero", 0.0), ("opposite", -1.0)]);
        // A zero query scores everything 0.0, ordered by key.
        let hits = index.search(&[0.0; 4], 3, None);
        let got: Vec<(&str, f32)> = hits.iter().map(|h| (&*h.key, h.score)).collect();
        assert_eq!(got, [("opposite", 0.0), ("unit", 0.0), ("zero", 0.0)]);
        assert!(hits.iter().all(|h| h.score.is_sign_positive()));
    }

    #[test]
    fn vector_index_euclidean_scores_an_exact_match_as_one() {
        let mut rng = Rng(5);
        let (index, rows) = build(&mut rng, 385, Metric::Euclidean, 50);
        let query = &rows["key-00017"];
        let hits = index.search(query, 1, None);
        assert_eq!(&*hits[0].key, "key-00017");
        assert_eq!(hits[0].score, 1.0);
    }

    #[test]
    fn vector_index_get_returns_what_was_stored_and_upsert_replaces() {
        let mut index = VectorIndex::new(3, Metric::Euclidean);
        assert!(index.get("a").is_none());
        index.upsert("a", &[1.0, 2.0, 3.0], Some(object(&[("x", Value::Int(1))])));
        let (embedding, metadata) = index.get("a").expect("stored");
        assert_eq!(embedding, [1.0, 2.0, 3.0]);
        assert_eq!(metadata, Some(&object(&[("x", Value::Int(1))])));
        index.upsert("a", &[4.0, 5.0, 6.0], None);
        assert_eq!(index.get("a"), Some((&[4.0f32, 5.0, 6.0][..], None)));
        assert_eq!(index.len(), 1);
        assert!(index.contains_key("a"));
        assert_eq!(index.dimension(), 3);
        assert_eq!(index.metric(), Metric::Euclidean);
    }

    #[test]
    fn vector_index_keys_and_iter_are_sorted() {
        let mut index = VectorIndex::new(1, Metric::DotProduct);
        for key in ["m", "b", "z", "a"] {
            index.upsert(key, &[key.len() as f32], None);
        }
        assert_eq!(index.keys().collect::<Vec<_>>(), ["a", "b", "m", "z"]);
        let listed: Vec<&str> = index.iter().map(|(key, _, _)| key).collect();
        assert_eq!(listed, ["a", "b", "m", "z"]);
    }

    #[test]
    fn vector_index_clone_is_isolated_from_mutations() {
        let mut rng = Rng(6);
        let (original, rows) = build(&mut rng, 17, Metric::Cosine, 500);
        let query = rng.vector(17);
        let before = original.search(&query, 20, None);
        let bytes_before = original.memory_bytes();

        let mut copy = original.clone();
        copy.upsert("key-00003", &rng.vector(17), None);
        copy.upsert("brand-new", &rng.vector(17), None);
        assert!(copy.remove("key-00100"));
        assert!(copy.remove("key-00499"));

        assert_eq!(original.len(), 500);
        assert_eq!(original.search(&query, 20, None), before);
        assert_eq!(original.memory_bytes(), bytes_before);
        assert!(original.get("brand-new").is_none());
        assert_eq!(
            original.get("key-00003").map(|(v, _)| v),
            Some(&rows["key-00003"][..])
        );
        assert!(original.get("key-00003").and_then(|(_, m)| m).is_some());
        assert!(original.get("key-00100").is_some());
        for (key, vector) in &rows {
            assert_eq!(
                original.get(key).map(|(v, _)| v),
                Some(&vector[..]),
                "{key}"
            );
        }
        assert_eq!(copy.len(), 499);
        assert!(copy.get("key-00100").is_none());
        assert!(copy.get("brand-new").is_some());
        // The original still mutates independently of the copy.
        let mut original = original;
        original.upsert("only-in-original", &rng.vector(17), None);
        assert!(copy.get("only-in-original").is_none());
    }

    #[test]
    fn vector_index_mutating_a_clone_copies_only_the_touched_chunks_once() {
        let mut rng = Rng(7);
        let (original, _) = build(&mut rng, 384, Metric::Cosine, 1000);
        let rows_per_chunk = original.rows_per_chunk;
        assert!(rows_per_chunk >= 8 && rows_per_chunk * 384 * 4 <= CHUNK_BYTES_TARGET);
        let mut copy = original.clone();
        let shared = |a: &VectorIndex, b: &VectorIndex| {
            a.chunks
                .iter()
                .zip(b.chunks.iter())
                .filter(|(x, y)| Arc::ptr_eq(x, y))
                .count()
        };
        assert_eq!(shared(&original, &copy), original.chunks.len());

        // Three upserts into chunk 0, one into chunk 2.
        copy.upsert("key-00000", &rng.vector(384), None);
        let first_copy = Arc::as_ptr(&copy.chunks[0]);
        copy.upsert("key-00001", &rng.vector(384), None);
        copy.upsert("key-00002", &rng.vector(384), None);
        assert_eq!(
            Arc::as_ptr(&copy.chunks[0]),
            first_copy,
            "chunk copied twice"
        );
        copy.upsert(
            &format!("key-{:05}", 2 * rows_per_chunk),
            &rng.vector(384),
            None,
        );
        assert_eq!(shared(&original, &copy), original.chunks.len() - 2);
        assert!(!Arc::ptr_eq(&original.chunks[0], &copy.chunks[0]));
        assert!(!Arc::ptr_eq(&original.chunks[2], &copy.chunks[2]));
        assert!(Arc::ptr_eq(&original.chunks[1], &copy.chunks[1]));
    }

    #[test]
    fn vector_index_removed_slots_are_reused() {
        let mut rng = Rng(8);
        let (mut index, _) = build(&mut rng, 5, Metric::DotProduct, 10);
        assert!(index.remove("key-00002"));
        assert!(index.remove("key-00007"));
        assert!(!index.remove("key-00007"));
        assert!(!index.remove("missing"));
        assert_eq!(index.len(), 8);
        assert!(index.get("key-00002").is_none());
        let hits = index.search(&rng.vector(5), 100, None);
        assert_eq!(hits.len(), 8);
        assert!(hits
            .iter()
            .all(|h| &*h.key != "key-00002" && &*h.key != "key-00007"));

        index.upsert("new-1", &[1.0; 5], None);
        index.upsert("new-2", &[2.0; 5], None);
        assert_eq!(index.slot_count, 10, "new keys reuse the freed slots");
        assert!(index.free.is_empty());
        index.upsert("new-3", &[3.0; 5], None);
        assert_eq!(index.slot_count, 11);
        assert_eq!(index.len(), 11);
        assert_eq!(index.get("new-2").map(|(v, _)| v), Some(&[2.0f32; 5][..]));

        // Removing everything releases the storage.
        let keys: Vec<String> = index.keys().map(str::to_owned).collect();
        for key in keys {
            assert!(index.remove(&key));
        }
        assert!(index.is_empty());
        assert_eq!(index.slot_count, 0);
        assert!(index.chunks.is_empty());
    }

    #[test]
    fn vector_index_random_operations_match_a_model() {
        let mut rng = Rng(9);
        let dimension = 6;
        let mut index = VectorIndex::new(dimension, Metric::Euclidean);
        let mut model = std::collections::BTreeMap::new();
        let mut snapshots = Vec::new();
        for step in 0..3000 {
            let key = format!("k{}", rng.below(150));
            if rng.below(3) == 0 {
                assert_eq!(index.remove(&key), model.remove(&key).is_some());
            } else {
                let vector = rng.vector(dimension);
                index.upsert(&key, &vector, None);
                model.insert(key, vector);
            }
            if step % 500 == 0 {
                snapshots.push((index.clone(), model.clone()));
            }
        }
        for (index, model) in snapshots.iter().chain(std::iter::once(&(index, model))) {
            assert_eq!(index.len(), model.len());
            assert_eq!(
                index.keys().collect::<Vec<_>>(),
                model.keys().map(String::as_str).collect::<Vec<_>>()
            );
            for (key, vector) in model {
                assert_eq!(index.get(key).map(|(v, _)| v), Some(&vector[..]));
            }
            assert_eq!(index.slot_count, index.len + index.free.len());
            let query = vec![0.1; dimension];
            let hits = index.search(&query, 7, None);
            assert_matches_reference(&hits, &naive_scores(model, &query, Metric::Euclidean), 7);
        }
    }

    #[test]
    fn vector_index_memory_grows_with_content() {
        let mut index = VectorIndex::new(384, Metric::Cosine);
        assert_eq!(index.memory_bytes(), 0);
        index.upsert(
            "a",
            &[0.5; 384],
            Some(object(&[("text", Value::from("x".repeat(1000)))])),
        );
        let one = index.memory_bytes();
        assert!(one >= 384 * 4 + 1000, "{one}");
        index.upsert("a", &[0.5; 384], None);
        assert!(index.memory_bytes() < one - 900);
        assert!(index.remove("a"));
        assert_eq!(index.memory_bytes(), 0);
    }

    fn filter(conditions: &[(&str, &str, Value)]) -> Result<Filter> {
        Filter::new(
            conditions
                .iter()
                .map(|(field, op, value)| (field.to_string(), op.to_string(), value.clone()))
                .collect(),
        )
    }

    fn passes(conditions: &[(&str, &str, Value)], metadata: &Value) -> bool {
        filter(conditions)
            .expect("valid filter")
            .matches(Some(metadata))
    }

    #[test]
    fn vector_index_filter_comparison_ops_compare_numbers_across_int_and_float() {
        let m = object(&[
            ("n", Value::Int(5)),
            ("x", Value::Float(2.5)),
            ("s", Value::from("beta")),
        ]);
        assert!(passes(&[("n", "eq", Value::Float(5.0))], &m));
        assert!(passes(&[("x", "eq", Value::Float(2.5))], &m));
        assert!(!passes(&[("n", "eq", Value::Int(6))], &m));
        assert!(passes(&[("n", "ne", Value::Int(6))], &m));
        assert!(!passes(&[("n", "ne", Value::Float(5.0))], &m));
        assert!(passes(&[("n", "gt", Value::Float(4.5))], &m));
        assert!(!passes(&[("n", "gt", Value::Int(5))], &m));
        assert!(passes(&[("n", "gte", Value::Int(5))], &m));
        assert!(passes(&[("x", "lt", Value::Int(3))], &m));
        assert!(!passes(&[("x", "lt", Value::Float(2.5))], &m));
        assert!(passes(&[("x", "lte", Value::Float(2.5))], &m));
        assert!(passes(&[("s", "gt", Value::from("alpha"))], &m));
        // Incomparable types fail rather than error.
        assert!(!passes(&[("s", "gt", Value::Int(1))], &m));
        assert!(!passes(&[("n", "lt", Value::from("z"))], &m));
        // All conditions must hold.
        assert!(passes(
            &[("n", "gte", Value::Int(1)), ("n", "lte", Value::Int(9))],
            &m
        ));
        assert!(!passes(
            &[("n", "gte", Value::Int(1)), ("n", "lte", Value::Int(4))],
            &m
        ));
    }

    #[test]
    fn vector_index_filter_in_and_contains() {
        let m = object(&[
            ("tag", Value::from("news")),
            ("n", Value::Int(2)),
            (
                "tags",
                Value::Array(vec![Value::from("a"), Value::from("b"), Value::Int(3)]),
            ),
            ("title", Value::from("Hello world")),
        ]);
        let list = |items: &[Value]| Value::Array(items.to_vec());
        assert!(passes(
            &[("tag", "in", list(&["blog".into(), "news".into()]))],
            &m
        ));
        assert!(!passes(&[("tag", "in", list(&["blog".into()]))], &m));
        assert!(passes(&[("n", "in", list(&[Value::Float(2.0)]))], &m));
        assert!(!passes(&[("n", "in", list(&[]))], &m));
        assert!(passes(&[("title", "contains", "world".into())], &m));
        assert!(!passes(&[("title", "contains", "World".into())], &m));
        assert!(passes(&[("tags", "contains", "b".into())], &m));
        assert!(passes(&[("tags", "contains", Value::Float(3.0))], &m));
        assert!(!passes(&[("tags", "contains", "c".into())], &m));
        assert!(!passes(&[("n", "contains", Value::Int(2))], &m));
    }

    #[test]
    fn vector_index_filter_missing_fields_fail_every_op_but_ne() {
        let m = object(&[("present", Value::Int(1))]);
        for op in ["eq", "gt", "gte", "lt", "lte", "contains"] {
            assert!(!passes(&[("absent", op, Value::Int(1))], &m), "{op}");
        }
        assert!(!passes(
            &[("absent", "in", Value::Array(vec![Value::Int(1)]))],
            &m
        ));
        assert!(passes(&[("absent", "ne", Value::Int(1))], &m));
        // Non-dict or absent metadata fails every condition, `ne` included.
        let f = filter(&[("absent", "ne", Value::Int(1))]).expect("valid");
        assert!(!f.matches(None));
        assert!(!f.matches(Some(&Value::Int(3))));
        assert!(!f.matches(Some(&Value::Array(vec![]))));
        // No conditions: everything passes.
        let empty = Filter::new(Vec::new()).expect("valid");
        assert!(empty.matches(None));
        assert!(empty.matches(Some(&m)));
    }

    #[test]
    fn vector_index_filter_reads_dotted_paths_into_nested_dicts() {
        let m = object(&[
            (
                "author",
                object(&[("name", Value::from("ada")), ("age", Value::Int(36))]),
            ),
            ("a.b", Value::Int(7)),
        ]);
        assert!(passes(&[("author.name", "eq", "ada".into())], &m));
        assert!(passes(&[("author.age", "gt", Value::Float(30.0))], &m));
        assert!(!passes(&[("author.missing", "eq", Value::Null)], &m));
        assert!(!passes(&[("author.name.deeper", "eq", "ada".into())], &m));
        // A member whose name contains a dot wins over the nested reading.
        assert!(passes(&[("a.b", "eq", Value::Int(7))], &m));
    }

    #[test]
    fn vector_index_filter_rejects_bad_conditions() {
        let error = filter(&[("x", "like", Value::Int(1))]).expect_err("unknown op");
        assert_eq!(error.kind(), ErrorKind::Validation);
        assert!(error.message().contains("'like'"), "{}", error.message());
        assert!(error
            .message()
            .contains("eq, ne, gt, gte, lt, lte, in, contains"));
        let error = filter(&[("x", "in", Value::Int(1))]).expect_err("in needs a list");
        assert_eq!(error.kind(), ErrorKind::Validation);
        assert!(error.message().contains("list"), "{}", error.message());
        let error = filter(&[("x", "gt", Value::Null)]).expect_err("gt needs an ordered value");
        assert_eq!(error.kind(), ErrorKind::Validation);
        let error = filter(&[("", "eq", Value::Null)]).expect_err("empty field");
        assert_eq!(error.kind(), ErrorKind::Validation);
    }

    #[test]
    fn vector_index_filtered_search_returns_best_matching_rows() {
        let mut rng = Rng(10);
        let (index, rows) = build(&mut rng, 16, Metric::Cosine, 2000);
        let f = filter(&[("i", "lt", Value::Int(500)), ("i", "ne", Value::Int(3))]).expect("valid");
        let query = rng.vector(16);
        let allowed: std::collections::BTreeMap<String, Vec<f32>> = rows
            .iter()
            .enumerate()
            .filter(|(i, _)| *i < 500 && *i != 3)
            .map(|(_, (k, v))| (k.clone(), v.clone()))
            .collect();
        let reference = naive_scores(&allowed, &query, Metric::Cosine);
        for parallel in [false, true] {
            let hits = index.search_inner(&query, 25, Metric::Cosine, Some(&f), parallel);
            assert_matches_reference(&hits, &reference, 25);
            for hit in &hits {
                let Some(Value::Object(m)) = &hit.metadata else {
                    panic!("metadata missing")
                };
                assert!(matches!(m.get("i"), Some(Value::Int(i)) if *i < 500 && *i != 3));
            }
        }
        let none = filter(&[("i", "gt", Value::Int(1_000_000))]).expect("valid");
        assert!(index.search(&query, 10, Some(&none)).is_empty());
    }

    #[test]
    fn vector_index_check_embedding_reports_dimension_and_non_finite_values() {
        assert!(check_embedding("docs", 3, &[1.0, 2.0, 3.0]).is_ok());
        let error = check_embedding("docs", 384, &[1.0, 2.0]).expect_err("wrong length");
        assert_eq!(error.kind(), ErrorKind::Constraint);
        assert_eq!(
            error.message(),
            "collection 'docs' has dimension 384, got 2"
        );
        let error = check_embedding("docs", 3, &[1.0, f32::NAN, f32::INFINITY]).expect_err("NaN");
        assert_eq!(error.kind(), ErrorKind::Validation);
        assert!(error.message().contains("index 1"), "{}", error.message());
        assert!(error.message().contains("NaN"), "{}", error.message());
        let error = check_embedding("docs", 2, &[0.0, f32::NEG_INFINITY]).expect_err("inf");
        assert!(error.message().contains("index 1"), "{}", error.message());
        assert!(check_dimension(0).is_err());
        assert!(check_dimension(VECTOR_DIMENSION_MAX + 1).is_err());
        assert!(check_dimension(384).is_ok());
    }

    #[test]
    fn vector_index_metric_parse_accepts_exactly_the_published_names() {
        for (name, metric) in [
            ("cosine", Metric::Cosine),
            ("euclidean", Metric::Euclidean),
            ("dot_product", Metric::DotProduct),
            ("dotproduct", Metric::DotProduct),
        ] {
            assert_eq!(Metric::parse(name).expect(name), metric);
        }
        for refused in ["COSINE", "Cosine", "l2", "dot", ""] {
            assert_eq!(Metric::parse(refused).expect_err(refused).kind(), ErrorKind::Validation);
        }
        for metric in [Metric::Cosine, Metric::Euclidean, Metric::DotProduct] {
            assert_eq!(Metric::parse(metric.as_str()).expect("round trip"), metric);
        }
        let error = Metric::parse("manhattan").expect_err("unknown");
        assert_eq!(error.kind(), ErrorKind::Validation);
        assert!(error.message().contains("'manhattan'"));
        assert!(error.message().contains("dot_product"));
    }
}
