//! Decoding a commit payload never allocates more than its bytes justify: a list length
//! claiming billions of mutations in a short record is an error before any large
//! allocation (wal-format/tests/allocation.rs checks the same of the framing).
//!
//! This test binary installs a counting global allocator that records the largest
//! single allocation.
#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

// The counting allocator of wal-format's own allocation test: one implementation of
// the only `unsafe` code in the tests.
#[path = "../wal-format/tests/counting_allocator/mod.rs"]
mod counting_allocator;

use counting_allocator::largest_allocation;
use stratadb::commit::{Commit, CommitBody, Mutation, Mutations};
use stratadb::Packed;

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
            let mut result = Ok(());
            let largest = largest_allocation(|| result = postcard::from_bytes::<Commit>(&bytes).map(drop));
            assert!(result.is_err(), "a {} record claiming {count} mutations with one present decoded", bytes.len());
            assert!(
                largest <= 64 * std::mem::size_of::<Mutation>(),
                "decoding a {}-byte record claiming {count} mutations allocated {largest} bytes at once",
                bytes.len()
            );
        }
    }
}
