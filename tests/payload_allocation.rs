//! Decoding a commit payload never allocates more than its bytes justify: a list length
//! claiming billions of mutations in a short record is an error before any large
//! allocation (wal-format/tests/allocation.rs checks the same of the framing).
//!
//! This test binary installs a counting global allocator that records the largest
//! single allocation; a `GlobalAlloc` implementation cannot be written without
//! `unsafe`, which stays confined to this file.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use stratadb::commit::{Commit, CommitBody, Mutation, Mutations};
use stratadb::Packed;

struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `Counting` upholds exactly the contract `System` does; the only addition is an
// atomic update of a counter, which cannot allocate or unwind.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was returned by `System` through this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: as for `dealloc`; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// postcard's variable-length integer.
fn varint(mut n: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    while n >= 0x80 {
        bytes.push((n as u8) | 0x80);
        n >>= 7;
    }
    bytes.push(n as u8);
    bytes
}

/// The encoding of a commit whose mutation list claims `count` entries, followed by
/// `items` and then `filler` bytes (`Write` and `Merge` bodies end with the list, so the
/// claim is the last length field).
fn claiming(merge: bool, count: u64, items: &[Mutation], filler: usize) -> Vec<u8> {
    let empty = Mutations::new();
    let body = if merge {
        CommitBody::Merge { source: "a".into(), target: "b".into(), mutations: empty }
    } else {
        CommitBody::Write { branch: "main".into(), mutations: empty }
    };
    let mut bytes = postcard::to_allocvec(&Commit { version: 7, timestamp: 1, body }).unwrap();
    assert_eq!(bytes.pop(), Some(0), "an empty list encodes as a zero length, last");
    bytes.extend(varint(count));
    for item in items {
        bytes.extend(postcard::to_allocvec(item).unwrap());
    }
    // 0xFF is no mutation's tag, so decoding stops at the first filler byte.
    bytes.resize(bytes.len() + filler, 0xFF);
    bytes
}

// One test function only, so no other test thread allocates while we measure.
#[test]
fn a_commit_claiming_huge_mutation_lists_is_refused_without_allocating_for_them() {
    let put = Mutation::KvPut { space: "default".into(), key: "k".into(), value: Packed::from_value(&1i64.into()) };
    // Sanity: an honest record decodes (with the same helper), so the refusals below
    // are about the claim, not the crafting.
    let honest = claiming(false, 2, &[put.clone(), put.clone()], 0);
    let decoded: Commit = postcard::from_bytes(&honest).unwrap();
    let CommitBody::Write { mutations, .. } = decoded.body else { panic!("a write body") };
    assert_eq!(mutations.len(), 2);

    // Claims beyond the record's length, and a claim the record's length could cover
    // (100,000 mutations in 200,000 bytes: the bytes are junk, found only by decoding).
    let claims = [(1u64 << 20, 0), (u64::from(u32::MAX), 0), (u64::MAX >> 1, 0), (100_000, 200_000)];
    for merge in [false, true] {
        for (count, filler) in claims {
            let bytes = claiming(merge, count, std::slice::from_ref(&put), filler);
            LARGEST.store(0, Ordering::SeqCst);
            let result = postcard::from_bytes::<Commit>(&bytes);
            let largest = LARGEST.load(Ordering::SeqCst);
            assert!(result.is_err(), "a {} record claiming {count} mutations with one present decoded", bytes.len());
            assert!(
                largest <= 64 * std::mem::size_of::<Mutation>(),
                "decoding a {}-byte record claiming {count} mutations allocated {largest} bytes at once",
                bytes.len()
            );
        }
    }
}
