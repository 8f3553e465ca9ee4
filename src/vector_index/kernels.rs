//! Similarity kernels: a query against a block of contiguous rows.
//!
//! This is the one module of the vector index that uses `unsafe`: the AVX2 + FMA
//! kernels are `#[target_feature]` functions that may only be called once the running
//! processor is known to support those features, they read the rows through raw
//! pointers to keep the inner loop free of bounds checks, and they issue prefetch hints
//! (which never fault) a few KiB ahead of the rows being scored: on the measured
//! machine that nearly tripled single-thread throughput. Every other caller sees the
//! safe functions [`dot_rows`] and [`l2_squared_rows`], which choose the kernel at run
//! time and fall back to portable code (which the compiler vectorizes for the baseline
//! target) on processors without AVX2 and FMA, or on other architectures.
//!
//! Invariants:
//! - `rows` holds whole rows of `query.len()` floats; the kernels score
//!   `min(out.len(), rows.len() / dim)` rows and write exactly that many outputs, so no
//!   input can make them read or write out of bounds.
//! - A row's result does not depend on where it sits in `rows` (first of four or a
//!   leftover): the single-row path performs the same floating-point operations in the
//!   same order as the four-row path. Equal vectors therefore get bit-identical scores,
//!   and ties are then broken by key as the search promises.
#![allow(unsafe_code)]

#[cfg(test)]
thread_local! {
    /// Lets a test run the portable kernels on a machine that has AVX2 (this thread only).
    pub(crate) static FORCE_PORTABLE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether to run the AVX2 + FMA kernels.
#[cfg(target_arch = "x86_64")]
#[inline]
fn use_avx2() -> bool {
    #[cfg(test)]
    if FORCE_PORTABLE.with(|force| force.get()) {
        return false;
    }
    avx2::is_available()
}

/// Writes `out[r] = dot(query, row r)` for every whole row in `rows`. `next` is the
/// block the caller will score next (or empty): the kernel prefetches it as it nears
/// the end of `rows`, so memory stays busy across blocks.
pub(crate) fn dot_rows(query: &[f32], rows: &[f32], out: &mut [f32], next: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if use_avx2() {
            // SAFETY: `use_avx2` checked at run time that this processor supports
            // AVX2 and FMA, the only requirement of the `#[target_feature]` function;
            // the kernel itself bounds every access by the slice lengths.
            unsafe { avx2::dot_rows(query, rows, out, next) };
            return;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = next; // Only the AVX2 kernels prefetch.
    portable::dot_rows(query, rows, out);
}

/// Writes `out[r] = |query - row r|²` for every whole row in `rows`. `next` is as for
/// [`dot_rows`].
pub(crate) fn l2_squared_rows(query: &[f32], rows: &[f32], out: &mut [f32], next: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if use_avx2() {
            // SAFETY: as in `dot_rows`: AVX2 and FMA were detected at run time.
            unsafe { avx2::l2_squared_rows(query, rows, out, next) };
            return;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = next; // Only the AVX2 kernels prefetch.
    portable::l2_squared_rows(query, rows, out);
}

/// The dot product of two equally long slices (used for norms).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let len = a.len().min(b.len());
    let mut out = [0.0f32];
    dot_rows(&a[..len], &b[..len], &mut out, &[]);
    out[0]
}

/// Asks the processor to bring the cache lines holding `items` closer, ahead of use.
/// Only a hint: it changes no result and cannot fault.
#[inline]
pub(crate) fn prefetch<T>(items: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let start = items.as_ptr().cast::<i8>();
        let bytes = std::mem::size_of_val(items);
        let mut offset = 0;
        while offset < bytes {
            // SAFETY: a prefetch is a hint that reads no memory architecturally and
            // never faults, and SSE (which provides it) is part of the x86_64 baseline.
            // The address lies inside `items`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(offset)) };
            offset += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = items;
}

/// Whether the AVX2 kernels are in use on this machine (reported by benchmarks).
pub(crate) fn kernel_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if use_avx2() {
            return "avx2+fma";
        }
    }
    "portable"
}

/// The number of whole rows the kernels will score.
fn row_count(dimension: usize, rows: &[f32], out: &[f32]) -> usize {
    match rows.len().checked_div(dimension) {
        Some(whole_rows) => out.len().min(whole_rows),
        None => out.len(),
    }
}

/// Portable kernels: eight independent lanes per row, which the compiler turns into
/// SIMD adds and multiplies without needing to reassociate anything.
mod portable {
    const LANES: usize = 8;

    pub(super) fn dot_rows(query: &[f32], rows: &[f32], out: &mut [f32]) {
        let dimension = query.len();
        let count = super::row_count(dimension, rows, out);
        for (index, slot) in out.iter_mut().take(count).enumerate() {
            let row = &rows[index * dimension..(index + 1) * dimension];
            *slot = dot(query, row);
        }
    }

    pub(super) fn l2_squared_rows(query: &[f32], rows: &[f32], out: &mut [f32]) {
        let dimension = query.len();
        let count = super::row_count(dimension, rows, out);
        for (index, slot) in out.iter_mut().take(count).enumerate() {
            let row = &rows[index * dimension..(index + 1) * dimension];
            *slot = l2_squared(query, row);
        }
    }

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        let mut lanes = [0.0f32; LANES];
        let a_blocks = a.chunks_exact(LANES);
        let b_blocks = b.chunks_exact(LANES);
        let mut tail = 0.0f32;
        for (x, y) in a_blocks.remainder().iter().zip(b_blocks.remainder()) {
            tail += x * y;
        }
        for (x, y) in a_blocks.zip(b_blocks) {
            for lane in 0..LANES {
                lanes[lane] += x[lane] * y[lane];
            }
        }
        lanes.iter().sum::<f32>() + tail
    }

    fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
        let mut lanes = [0.0f32; LANES];
        let a_blocks = a.chunks_exact(LANES);
        let b_blocks = b.chunks_exact(LANES);
        let mut tail = 0.0f32;
        for (x, y) in a_blocks.remainder().iter().zip(b_blocks.remainder()) {
            let d = x - y;
            tail += d * d;
        }
        for (x, y) in a_blocks.zip(b_blocks) {
            for lane in 0..LANES {
                let d = x[lane] - y[lane];
                lanes[lane] += d * d;
            }
        }
        lanes.iter().sum::<f32>() + tail
    }
}

/// AVX2 + FMA kernels. Four rows share each load of the query; each row has two
/// accumulators (sixteen floats per step), so eight independent FMA chains hide the
/// FMA latency while the loop streams the rows from memory.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// How far ahead of the rows being scored the kernel prefetches.
    const PREFETCH_DISTANCE_FLOATS: usize = PREFETCH_DISTANCE_BYTES / 4;
    const PREFETCH_DISTANCE_BYTES: usize = 8 * 1024;

    pub(super) fn is_available() -> bool {
        // The standard library caches the CPUID result; this is an atomic load.
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }

    /// One accumulator step: `acc + x * q`, or `acc + (x - q)²` for squared distance.
    ///
    /// # Safety
    /// The processor must support AVX2 and FMA.
    #[inline(always)]
    unsafe fn step<const SQUARED_DISTANCE: bool>(acc: __m256, x: __m256, q: __m256) -> __m256 {
        // SAFETY: the caller guarantees AVX2 and FMA; the intrinsics touch no memory.
        unsafe {
            if SQUARED_DISTANCE {
                let d = _mm256_sub_ps(x, q);
                _mm256_fmadd_ps(d, d, acc)
            } else {
                _mm256_fmadd_ps(x, q, acc)
            }
        }
    }

    /// The scalar form of [`step`], for the last `dimension % 8` elements.
    #[inline(always)]
    fn scalar<const SQUARED_DISTANCE: bool>(acc: f32, x: f32, q: f32) -> f32 {
        if SQUARED_DISTANCE {
            let d = x - q;
            acc + d * d
        } else {
            acc + x * q
        }
    }

    /// # Safety
    /// The processor must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_rows(query: &[f32], rows: &[f32], out: &mut [f32], next: &[f32]) {
        // SAFETY: this function's own precondition (AVX2 and FMA) is passed on.
        unsafe { rows_kernel::<false>(query, rows, out, next) }
    }

    /// # Safety
    /// The processor must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn l2_squared_rows(
        query: &[f32],
        rows: &[f32],
        out: &mut [f32],
        next: &[f32],
    ) {
        // SAFETY: this function's own precondition (AVX2 and FMA) is passed on.
        unsafe { rows_kernel::<true>(query, rows, out, next) }
    }

    /// Sums each of four vectors horizontally: lane `i` of the result is the sum of
    /// the eight lanes of the `i`-th argument. The addition order is fixed, so a
    /// vector gets the same sum whichever argument it is passed as.
    ///
    /// # Safety
    /// The processor must support AVX2.
    #[inline(always)]
    unsafe fn horizontal_sum4(a: __m256, b: __m256, c: __m256, d: __m256) -> [f32; 4] {
        // SAFETY: the caller guarantees AVX2; the store writes four
        // floats into a local array of four floats.
        unsafe {
            let ab = _mm256_hadd_ps(a, b);
            let cd = _mm256_hadd_ps(c, d);
            let abcd = _mm256_hadd_ps(ab, cd);
            let sum = _mm_add_ps(
                _mm256_castps256_ps128(abcd),
                _mm256_extractf128_ps::<1>(abcd),
            );
            let mut result = [0.0f32; 4];
            _mm_storeu_ps(result.as_mut_ptr(), sum);
            result
        }
    }

    /// # Safety
    /// The processor must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn rows_kernel<const SQUARED_DISTANCE: bool>(
        query: &[f32],
        rows: &[f32],
        out: &mut [f32],
        next: &[f32],
    ) {
        let dimension = query.len();
        let count = super::row_count(dimension, rows, out);
        if dimension == 0 {
            out[..count].fill(0.0);
            return;
        }
        // Elements [0, wide) go sixteen at a time, [wide, body) eight at a time, and
        // [body, dimension) one at a time.
        let wide = dimension - dimension % 16;
        let body = dimension - dimension % 8;
        let q = query.as_ptr();
        let mut row = 0;
        // SAFETY (for the whole block): row `r` occupies rows[r*dimension ..
        // (r+1)*dimension] and `r < count <= rows.len() / dimension`, so every pointer
        // `p_i.add(j)` with `j + 8 <= dimension` reads eight floats inside `rows`, and
        // `q.add(j)` reads eight floats inside `query`. Unaligned loads are used, so
        // alignment does not matter. AVX2 and FMA are enabled by the caller.
        unsafe {
            while row + 4 <= count {
                let p0 = rows.as_ptr().add(row * dimension);
                // Where this group's prefetches go: PREFETCH_DISTANCE_BYTES ahead, in
                // `rows` or, past its end, in `next`. Prefetches never fault, and the
                // address is formed with wrapping arithmetic, so a stray one is harmless.
                let ahead = row * dimension + PREFETCH_DISTANCE_FLOATS;
                let prefetch_base: *const f32 = if ahead < rows.len() {
                    rows.as_ptr().wrapping_add(ahead)
                } else {
                    next.as_ptr().wrapping_add(ahead - rows.len())
                };
                let p1 = p0.add(dimension);
                let p2 = p1.add(dimension);
                let p3 = p2.add(dimension);
                let mut a0 = _mm256_setzero_ps();
                let mut a1 = _mm256_setzero_ps();
                let mut a2 = _mm256_setzero_ps();
                let mut a3 = _mm256_setzero_ps();
                let mut b0 = _mm256_setzero_ps();
                let mut b1 = _mm256_setzero_ps();
                let mut b2 = _mm256_setzero_ps();
                let mut b3 = _mm256_setzero_ps();
                let mut j = 0;
                while j < wide {
                    // Four rows advance 64 bytes each per step: prefetch four lines.
                    let prefetch = prefetch_base.wrapping_add(4 * j) as *const i8;
                    _mm_prefetch::<_MM_HINT_T0>(prefetch);
                    _mm_prefetch::<_MM_HINT_T0>(prefetch.wrapping_add(64));
                    _mm_prefetch::<_MM_HINT_T0>(prefetch.wrapping_add(128));
                    _mm_prefetch::<_MM_HINT_T0>(prefetch.wrapping_add(192));
                    let qa = _mm256_loadu_ps(q.add(j));
                    let qb = _mm256_loadu_ps(q.add(j + 8));
                    a0 = step::<SQUARED_DISTANCE>(a0, _mm256_loadu_ps(p0.add(j)), qa);
                    a1 = step::<SQUARED_DISTANCE>(a1, _mm256_loadu_ps(p1.add(j)), qa);
                    a2 = step::<SQUARED_DISTANCE>(a2, _mm256_loadu_ps(p2.add(j)), qa);
                    a3 = step::<SQUARED_DISTANCE>(a3, _mm256_loadu_ps(p3.add(j)), qa);
                    b0 = step::<SQUARED_DISTANCE>(b0, _mm256_loadu_ps(p0.add(j + 8)), qb);
                    b1 = step::<SQUARED_DISTANCE>(b1, _mm256_loadu_ps(p1.add(j + 8)), qb);
                    b2 = step::<SQUARED_DISTANCE>(b2, _mm256_loadu_ps(p2.add(j + 8)), qb);
                    b3 = step::<SQUARED_DISTANCE>(b3, _mm256_loadu_ps(p3.add(j + 8)), qb);
                    j += 16;
                }
                if j < body {
                    let qa = _mm256_loadu_ps(q.add(j));
                    a0 = step::<SQUARED_DISTANCE>(a0, _mm256_loadu_ps(p0.add(j)), qa);
                    a1 = step::<SQUARED_DISTANCE>(a1, _mm256_loadu_ps(p1.add(j)), qa);
                    a2 = step::<SQUARED_DISTANCE>(a2, _mm256_loadu_ps(p2.add(j)), qa);
                    a3 = step::<SQUARED_DISTANCE>(a3, _mm256_loadu_ps(p3.add(j)), qa);
                }
                let mut sums = horizontal_sum4(
                    _mm256_add_ps(a0, b0),
                    _mm256_add_ps(a1, b1),
                    _mm256_add_ps(a2, b2),
                    _mm256_add_ps(a3, b3),
                );
                for t in body..dimension {
                    let qt = *query.get_unchecked(t);
                    sums[0] = scalar::<SQUARED_DISTANCE>(sums[0], *p0.add(t), qt);
                    sums[1] = scalar::<SQUARED_DISTANCE>(sums[1], *p1.add(t), qt);
                    sums[2] = scalar::<SQUARED_DISTANCE>(sums[2], *p2.add(t), qt);
                    sums[3] = scalar::<SQUARED_DISTANCE>(sums[3], *p3.add(t), qt);
                }
                out[row..row + 4].copy_from_slice(&sums);
                row += 4;
            }
            // Leftover rows: the same operations, in the same order, one row at a time.
            while row < count {
                let p0 = rows.as_ptr().add(row * dimension);
                let mut a0 = _mm256_setzero_ps();
                let mut b0 = _mm256_setzero_ps();
                let mut j = 0;
                while j < wide {
                    a0 = step::<SQUARED_DISTANCE>(
                        a0,
                        _mm256_loadu_ps(p0.add(j)),
                        _mm256_loadu_ps(q.add(j)),
                    );
                    b0 = step::<SQUARED_DISTANCE>(
                        b0,
                        _mm256_loadu_ps(p0.add(j + 8)),
                        _mm256_loadu_ps(q.add(j + 8)),
                    );
                    j += 16;
                }
                if j < body {
                    a0 = step::<SQUARED_DISTANCE>(
                        a0,
                        _mm256_loadu_ps(p0.add(j)),
                        _mm256_loadu_ps(q.add(j)),
                    );
                }
                let total = _mm256_add_ps(a0, b0);
                let mut sum = horizontal_sum4(total, total, total, total)[0];
                for t in body..dimension {
                    sum = scalar::<SQUARED_DISTANCE>(sum, *p0.add(t), *query.get_unchecked(t));
                }
                out[row] = sum;
                row += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(seed: u64, len: usize) -> Vec<f32> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn vector_index_kernels_match_scalar_sums_for_awkward_dimensions() {
        for dimension in [0usize, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 384, 385] {
            for count in [0usize, 1, 3, 4, 5, 9] {
                let query = pseudo_random(dimension as u64, dimension);
                let rows = pseudo_random(1000 + dimension as u64, dimension * count);
                let mut dots = vec![f32::NAN; count];
                let mut l2 = vec![f32::NAN; count];
                dot_rows(&query, &rows, &mut dots, &[]);
                l2_squared_rows(&query, &rows, &mut l2, &[]);
                for r in 0..count {
                    let row = &rows[r * dimension..(r + 1) * dimension];
                    let want_dot: f64 = row
                        .iter()
                        .zip(&query)
                        .map(|(x, q)| *x as f64 * *q as f64)
                        .sum();
                    let want_l2: f64 = row
                        .iter()
                        .zip(&query)
                        .map(|(x, q)| (*x as f64 - *q as f64).powi(2))
                        .sum();
                    assert!(
                        (dots[r] as f64 - want_dot).abs() < 1e-4,
                        "dim {dimension} row {r}"
                    );
                    assert!(
                        (l2[r] as f64 - want_l2).abs() < 1e-4,
                        "dim {dimension} row {r}"
                    );
                }
            }
        }
    }

    #[test]
    fn vector_index_kernels_portable_and_dispatched_agree() {
        for dimension in [1usize, 3, 17, 385] {
            let query = pseudo_random(3, dimension);
            let rows = pseudo_random(4, dimension * 11);
            let mut fast = vec![0.0f32; 11];
            let mut slow = vec![0.0f32; 11];
            dot_rows(&query, &rows, &mut fast, &[]);
            portable::dot_rows(&query, &rows, &mut slow);
            for (a, b) in fast.iter().zip(&slow) {
                assert!((a - b).abs() < 1e-4, "dot, dim {dimension}: {a} vs {b}");
            }
            l2_squared_rows(&query, &rows, &mut fast, &[]);
            portable::l2_squared_rows(&query, &rows, &mut slow);
            for (a, b) in fast.iter().zip(&slow) {
                assert!((a - b).abs() < 1e-4, "l2, dim {dimension}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn vector_index_kernels_give_position_independent_results() {
        // The same row scored as part of a group of four and as a leftover row must
        // produce bit-identical results.
        for dimension in [1usize, 5, 17, 40, 385] {
            let query = pseudo_random(7, dimension);
            let row = pseudo_random(8, dimension);
            let rows: Vec<f32> = (0..5).flat_map(|_| row.iter().copied()).collect();
            let mut out = vec![0.0f32; 5];
            dot_rows(&query, &rows, &mut out, &[]);
            assert!(
                out.iter().all(|v| v.to_bits() == out[0].to_bits()),
                "{out:?}"
            );
            l2_squared_rows(&query, &rows, &mut out, &[]);
            assert!(
                out.iter().all(|v| v.to_bits() == out[0].to_bits()),
                "{out:?}"
            );
        }
    }

    #[test]
    fn vector_index_kernels_ignore_partial_rows_and_short_outputs() {
        let query = [1.0f32, 2.0, 3.0];
        let rows = [1.0f32, 1.0, 1.0, 2.0, 2.0]; // one whole row and a partial one
        let mut out = [-1.0f32; 3];
        dot_rows(&query, &rows, &mut out, &[]);
        assert_eq!(out, [6.0, -1.0, -1.0]);
        let mut short = [0.0f32; 0];
        dot_rows(&query, &rows, &mut short, &[]);
    }
}
