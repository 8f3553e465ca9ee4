//! Pins the engine's payload encodings (wal-format/FORMAT.md, "Engine payloads"): one
//! value of every `Commit` body, `Mutation`, `StateRecord` and `Value` variant, and the
//! bundle metadata, encoded with postcard and compared with `tests/golden/payloads.txt`
//! (one `name hex` line each). Decoding the committed bytes must give the values back,
//! so a file written by an older build still reads. A change here is a format change:
//! regenerate only deliberately, with `STRATADB_BLESS=1 cargo test --test payload_golden`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;

use serde::de::DeserializeOwned;
use serde::Serialize;
use stratadb::bundle::BundleMetadata;
use stratadb::commit::{Commit, CommitBody, Mutation, Prebuilt};
use stratadb::durability::state_codec::{ChainKind, StateRecord};
use stratadb::model::{AsOf, EventOrigin};
use stratadb::vector_index::Metric;
use stratadb::{Object, Packed, Value};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/payloads.txt");

fn values() -> Vec<(&'static str, Value)> {
    let mut object = Object::new();
    object.insert("b".into(), Value::Int(1));
    object.insert("a".into(), Value::Null);
    vec![
        ("value-null", Value::Null),
        ("value-bool", Value::Bool(true)),
        ("value-int", Value::Int(-300)),
        ("value-float", Value::Float(1.5)),
        ("value-string", Value::String("é".into())),
        ("value-bytes", Value::Bytes(vec![0, 255])),
        ("value-array", Value::Array(vec![Value::Int(1), Value::Bool(false)])),
        ("value-object", Value::Object(object)),
    ]
}

fn mutations() -> Vec<(&'static str, Mutation)> {
    let s = || stratadb::model::Name::from("s");
    vec![
        ("mutation-kv-put", Mutation::KvPut { space: s(), key: "k".into(), value: Packed::from_value(&Value::Int(1)) }),
        ("mutation-kv-delete", Mutation::KvDelete { space: s(), key: "k".into() }),
        ("mutation-cell-put", Mutation::CellPut { space: s(), cell: "c".into(), value: Packed::from_value(&Value::Int(2)) }),
        ("mutation-cell-delete", Mutation::CellDelete { space: s(), cell: "c".into() }),
        ("mutation-event-append", Mutation::EventAppend { space: s(), event_type: "t".into(), payload: Packed::from_value(&Value::Null) }),
        ("mutation-document-put", Mutation::DocumentPut { space: s(), key: "d".into(), document: Packed::from_value(&Value::Int(3)) }),
        ("mutation-document-delete", Mutation::DocumentDelete { space: s(), key: "d".into() }),
        (
            "mutation-collection-create",
            Mutation::CollectionCreate { space: s(), collection: "v".into(), dimension: 3, metric: Metric::DotProduct },
        ),
        ("mutation-collection-delete", Mutation::CollectionDelete { space: s(), collection: "v".into() }),
        (
            "mutation-vector-put",
            Mutation::VectorPut {
                space: s(),
                collection: "v".into(),
                key: "x".into(),
                embedding: vec![1.0, -2.5],
                metadata: Some(Box::new(Value::Bool(true))),
            },
        ),
        ("mutation-vector-delete", Mutation::VectorDelete { space: s(), collection: "v".into(), key: "x".into() }),
        ("mutation-space-create", Mutation::SpaceCreate { space: s() }),
        ("mutation-space-delete", Mutation::SpaceDelete { space: s() }),
        (
            "mutation-event-copy",
            Mutation::EventCopy {
                space: s(),
                event_type: "t".into(),
                payload: Packed::from_value(&Value::Int(4)),
                origin: EventOrigin { version: 9, ordinal: 2 },
            },
        ),
    ]
}

fn commits() -> Vec<(&'static str, Commit)> {
    let commit = |body| Commit { version: 300, timestamp: 1_700_000_000_000_000, body };
    vec![
        (
            "commit-write",
            commit(CommitBody::Write { branch: "main".into(), mutations: vec![Mutation::SpaceCreate { space: "s".into() }].into() }),
        ),
        ("commit-branch-create", commit(CommitBody::BranchCreate { branch: "b".into() })),
        ("commit-branch-fork", commit(CommitBody::BranchFork { source: "a".into(), destination: "b".into() })),
        ("commit-branch-delete", commit(CommitBody::BranchDelete { branch: "b".into() })),
        ("commit-merge", commit(CommitBody::Merge { source: "a".into(), target: "b".into(), mutations: Default::default() })),
        (
            "commit-branch-fork-at-version",
            commit(CommitBody::BranchForkAt { source: "a".into(), destination: "b".into(), at: AsOf::Version(7) }),
        ),
        (
            "commit-branch-fork-at-time",
            commit(CommitBody::BranchForkAt { source: "a".into(), destination: "b".into(), at: AsOf::Time(1_000_000) }),
        ),
        (
            "commit-branch-import",
            commit(CommitBody::BranchImport { branch: "b".into(), bundle: vec![1, 2, 3], prebuilt: Prebuilt::default() }),
        ),
    ]
}

fn records() -> Vec<(&'static str, StateRecord)> {
    vec![
        ("record-database", StateRecord::Database { last_version: 5, last_timestamp: 6 }),
        (
            "record-branch",
            StateRecord::Branch {
                name: "b".into(),
                created_version: 1,
                created_at: 2,
                updated_version: 3,
                updated_at: 4,
                parent: Some(("a".into(), 1)),
                merge_bases: vec![("a".into(), 1)],
                spaces_version: 1,
            },
        ),
        ("record-space", StateRecord::Space { name: "s".into(), created_version: 1, updated_version: 2 }),
        (
            "record-chain",
            StateRecord::Chain { kind: ChainKind::Cell, key: "k".into(), versions: vec![(1, 2, Some(Packed::from_value(&Value::Int(1)))), (3, 4, None)] },
        ),
        (
            "record-event",
            StateRecord::Event {
                version: 2,
                timestamp: 3,
                event_type: "t".into(),
                payload: Packed::from_value(&Value::Null),
                origin: EventOrigin { version: 2, ordinal: 0 },
            },
        ),
        (
            "record-collection",
            StateRecord::Collection { name: "v".into(), dimension: 2, metric: Metric::Euclidean, created_version: 1, updated_version: 1 },
        ),
        ("record-vector-chain", StateRecord::VectorChain { key: "x".into(), versions: vec![(1, 1, Some((vec![0.5, 1.0], None)))] }),
        ("record-space-at", StateRecord::SpaceAt { name: "s".into(), created_version: 1, created_at: 9, updated_version: 2 }),
        (
            "record-collection-at",
            StateRecord::CollectionAt {
                name: "v".into(),
                dimension: 2,
                metric: Metric::Cosine,
                created_version: 1,
                created_at: 9,
                updated_version: 1,
            },
        ),
        ("record-history-floor", StateRecord::HistoryFloor { version: 4, timestamp: 5 }),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// Encodes each item, and checks that the golden bytes decode back to it.
fn encode_all<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    items: Vec<(&'static str, T)>,
    golden: &std::collections::BTreeMap<String, String>,
    out: &mut Vec<(String, String)>,
) {
    for (name, item) in items {
        let encoded = hex(&postcard::to_allocvec(&item).unwrap());
        if let Some(committed) = golden.get(name) {
            let decoded: T = postcard::from_bytes(&unhex(committed)).unwrap();
            assert_eq!(decoded, item, "{name}: the committed bytes decode to something else");
        }
        out.push((name.to_owned(), encoded));
    }
}

#[test]
fn engine_payload_encodings_match_the_golden_file() {
    let text = std::fs::read_to_string(GOLDEN).unwrap_or_default();
    let golden: std::collections::BTreeMap<String, String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split_once(' ').map(|(n, h)| (n.to_owned(), h.to_owned())))
        .collect();
    let mut encoded = Vec::new();
    encode_all(values(), &golden, &mut encoded);
    encode_all(mutations(), &golden, &mut encoded);
    encode_all(commits(), &golden, &mut encoded);
    encode_all(records(), &golden, &mut encoded);
    encode_all(
        vec![("bundle-metadata", BundleMetadata { writer: "0.7.0".into(), exported_at: 10, newest_version: 11 })],
        &golden,
        &mut encoded,
    );
    if std::env::var_os("STRATADB_BLESS").is_some() {
        let mut file = String::from("# postcard encodings of the engine's payloads; see tests/payload_golden.rs\n");
        for (name, hex) in &encoded {
            file += &format!("{name} {hex}\n");
        }
        std::fs::write(GOLDEN, file).unwrap();
        return;
    }
    for (name, hex) in &encoded {
        assert_eq!(golden.get(name), Some(hex), "{name}: the encoding changed (a format change; see the module doc)");
    }
    assert_eq!(golden.len(), encoded.len(), "the golden file has entries no test encodes");
}
