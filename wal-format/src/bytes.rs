//! Little-endian field access that cannot panic.
//!
//! Invariant: every read goes through `slice::get`, so a short input yields `None`
//! (mapped by the caller to [`crate::FormatError::Truncated`]) and never an
//! out-of-bounds panic. Every integer on disk is little-endian; no `usize` is ever
//! written.

/// Reads the byte at `at`, if present.
pub(crate) fn u8_at(bytes: &[u8], at: usize) -> Option<u8> {
    bytes.get(at).copied()
}

/// Reads `N` bytes starting at `at` as an array, if present.
pub(crate) fn array_at<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    let end = at.checked_add(N)?;
    bytes.get(at..end)?.try_into().ok()
}

/// Reads a little-endian `u16` at `at`, if present.
pub(crate) fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    array_at::<2>(bytes, at).map(u16::from_le_bytes)
}

/// Reads a little-endian `u32` at `at`, if present.
pub(crate) fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    array_at::<4>(bytes, at).map(u32::from_le_bytes)
}

/// Reads a little-endian `u64` at `at`, if present.
pub(crate) fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    array_at::<8>(bytes, at).map(u64::from_le_bytes)
}

/// Widens an in-memory length or offset to the on-disk `u64`.
///
/// `usize` is at most 64 bits on every target Rust supports, so this is lossless; the
/// function exists so that the one place where the widening happens is named.
pub(crate) fn to_u64(value: usize) -> u64 {
    value as u64
}

/// True when every byte of `bytes` is zero (an empty slice counts as zero).
pub(crate) fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&byte| byte == 0)
}
