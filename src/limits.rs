//! Every limit the engine enforces, in one place. Exceeding one is a typed error that
//! names the limit; nothing is truncated silently.

/// Longest key (KV key, cell, document key, vector key, event type), in UTF-8 bytes.
pub const KEY_BYTES_MAX: usize = 1024;
/// Longest branch, space or collection name, in UTF-8 bytes.
pub const NAME_BYTES_MAX: usize = 255;
/// Deepest nesting of lists and dicts inside one value.
pub const VALUE_DEPTH_MAX: usize = 128;
/// Largest encoded size of one value (a KV value, a document, a payload).
pub const VALUE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Largest vector dimension.
pub const VECTOR_DIMENSION_MAX: usize = 65_536;
/// Most vectors in one `vector_batch_upsert` call.
pub const VECTOR_BATCH_MAX: usize = 1_000_000;
/// Most results one `vector_search` returns.
pub const SEARCH_K_MAX: usize = 100_000;
/// Longest JSON path expression, in bytes.
pub const JSON_PATH_BYTES_MAX: usize = 4096;
