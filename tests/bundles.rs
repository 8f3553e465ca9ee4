//! Branch bundles, as a user shipping a branch between databases relies on them:
//! export/import round trips of every value type, primitive, space and version of the
//! history (through a durable database, its replay and its snapshot), and the hostile
//! files of issue 5: truncated anywhere, flipped bits, lengths claiming gigabytes,
//! deep nesting, duplicate records, a future format version, an invalid branch name.
//! Each gives a clear `Validation` or `Io` error, imports nothing, and never panics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use stratadb::bundle::BundleMetadata;
use stratadb::durability::state_codec::{self, ChainKind, StateRecord};
use stratadb::model::AsOf;
use stratadb::{ErrorKind, Object, OpenOptions, Packed, Session, Value};
use wal_format::BundleHeader;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let root = std::env::temp_dir().join(format!(
            "stratadb-bundles-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        TempDir(root)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn every_value() -> Value {
    let mut object = Object::new();
    object.insert("z".into(), Value::Null);
    object.insert("bool".into(), Value::Bool(true));
    object.insert("int".into(), Value::Int(i64::MIN));
    object.insert("nan".into(), Value::Float(f64::NAN));
    object.insert("inf".into(), Value::Float(f64::NEG_INFINITY));
    object.insert("str".into(), Value::String("héllo\u{1F600}".into()));
    object.insert("bytes".into(), Value::Bytes(vec![0, 1, 255]));
    object.insert("list".into(), Value::Array(vec![Value::Int(1), Value::Array(vec![])]));
    Value::Object(object)
}

/// A branch `work` with every primitive, two spaces and some history.
fn populate(db: &Session) {
    db.create_branch("work").unwrap();
    db.set_branch("work").unwrap();
    db.kv_put("k", Value::Int(1)).unwrap();
    db.kv_put("k", every_value()).unwrap();
    db.kv_put("gone", Value::Int(1)).unwrap();
    db.kv_delete("gone").unwrap();
    db.state_set("cell", Value::Int(5)).unwrap();
    db.json_set("doc", "$.a.b", Value::Bytes(vec![9])).unwrap();
    db.event_append("tick", every_value()).unwrap();
    db.event_append("tock", Value::Int(2)).unwrap();
    db.vector_create_collection("vecs", 3, "dot_product").unwrap();
    db.vector_upsert("vecs", "v", vec![1.0, 2.0, 3.0], Some(Value::String("m".into()))).unwrap();
    db.vector_upsert("vecs", "v", vec![3.0, 2.0, 1.0], None).unwrap();
    db.vector_upsert("vecs", "w", vec![0.5, 0.5, 0.5], None).unwrap();
    db.vector_delete("vecs", "w").unwrap();
    db.set_space("second").unwrap();
    db.kv_put("k2", Value::String("x".into())).unwrap();
    db.set_space("default").unwrap();
}

/// Everything about the current branch a user can read, with full history.
fn describe(db: &Session) -> String {
    let mut out = String::new();
    for space in db.list_spaces().unwrap() {
        db.set_space(&space).unwrap();
        out += &format!("space {space}\n");
        for key in db.kv_list(None).unwrap() {
            out += &format!("kv {key} {:?}\n", history(db.kv_history(&key).unwrap()));
        }
        out += &format!("kv gone {:?}\n", db.kv_history("gone").unwrap().map(|h| h.len()));
        for cell in db.state_list(None).unwrap() {
            out += &format!("cell {cell} {:?}\n", history(db.state_history(&cell).unwrap()));
        }
        for key in db.json_list(usize::MAX, None, None).unwrap().keys {
            out += &format!("doc {key} {:?}\n", history(db.json_history(&key).unwrap()));
        }
        for sequence in 0..db.event_len().unwrap() {
            let event = db.event_get(sequence).unwrap().unwrap();
            out += &format!("event {} {} {} {} {:?}\n", event.sequence, event.version, event.timestamp, event.event_type, event.payload);
        }
        for stats in db.vector_list_collections().unwrap() {
            out += &format!("collection {} {} {:?} {}\n", stats.name, stats.dimension, stats.metric, stats.count);
            for key in ["v", "w"] {
                let record = db.vector_get(&stats.name, key).unwrap();
                out += &format!("vector {key} {:?}\n", record.map(|r| (r.embedding.to_vec(), r.metadata, r.version, r.timestamp)));
            }
            let hits = db.vector_search(&stats.name, &[1.0, 0.0, 0.0], 5).unwrap();
            out += &format!("search {:?}\n", hits.iter().map(|h| (h.key.clone(), h.score)).collect::<Vec<_>>());
        }
    }
    db.set_space("default").unwrap();
    out
}

fn history(nodes: Option<Vec<stratadb::model::Versioned<Packed>>>) -> Option<Vec<(u64, u64, Option<Value>)>> {
    nodes.map(|nodes| nodes.iter().map(|n| (n.version(), n.timestamp(), n.value().map(Packed::to_value))).collect())
}

#[test]
fn a_bundle_moves_a_branch_between_two_database_directories_exactly() {
    let dir = TempDir::new("move");
    let bundle = dir.path("work.bundle");
    let source = Session::open(&dir.path("a"), OpenOptions::default()).unwrap();
    populate(&source);
    let expected = describe(&source);
    let exported = source.branch_export("work", &bundle).unwrap();
    assert_eq!(exported.branch, "work");
    assert_eq!(exported.bundle_size, std::fs::metadata(&bundle).unwrap().len());
    let validated = source.branch_validate_bundle(&bundle).unwrap();
    assert!(validated.checksums_valid, "{:?}", validated.problems);
    assert_eq!(validated.entry_count, exported.entry_count);
    assert_eq!(validated.branch, "work");

    let target_dir = dir.path("b");
    let target = Session::open(&target_dir, OpenOptions::default()).unwrap();
    target.kv_put("unrelated", Value::Int(1)).unwrap();
    let imported = target.branch_import(&bundle, None).unwrap();
    assert_eq!((imported.branch.as_str(), imported.transactions_applied), ("work", 1));
    // A second import of the same branch is refused and changes nothing.
    let before = target.engine().snapshot().last_version;
    assert_eq!(target.branch_import(&bundle, None).unwrap_err().kind(), ErrorKind::Conflict);
    assert_eq!(target.engine().snapshot().last_version, before);
    target.set_branch("work").unwrap();
    assert_eq!(describe(&target), expected);
    // The imported branch takes new writes, with versions after everything it holds.
    let next = target.kv_put("after", Value::Int(1)).unwrap();
    assert!(next > source.engine().snapshot().last_version);
    let expected_after = describe(&target);
    assert_ne!(expected_after, expected);
    target.close().unwrap();

    // Replay of the import commit, then the snapshot after compaction, rebuild it.
    for _ in 0..2 {
        let target = Session::open(&target_dir, OpenOptions::default()).unwrap();
        target.set_branch("work").unwrap();
        assert_eq!(describe(&target), expected_after);
        target.set_branch("default").unwrap();
        target.compact().unwrap();
        target.close().unwrap();
    }
}

#[test]
fn import_under_another_name_and_time_travel_on_the_imported_history() {
    let dir = TempDir::new("rename");
    let bundle = dir.path("default.bundle");
    let source = Session::in_memory();
    let first = source.kv_put("k", Value::Int(1)).unwrap();
    source.kv_put("k", Value::Int(2)).unwrap();
    source.branch_export("default", &bundle).unwrap();
    let target = Session::in_memory();
    assert_eq!(target.branch_import(&bundle, None).unwrap_err().kind(), ErrorKind::Conflict);
    target.branch_import(&bundle, Some("copy")).unwrap();
    target.set_branch("copy").unwrap();
    let past = target.at(AsOf::Version(first)).unwrap();
    assert_eq!(past.kv_get("k").unwrap().unwrap().value().map(Packed::to_value), Some(Value::Int(1)));
    assert_eq!(target.branch_import(&bundle, Some("bad name!")).unwrap_err().kind(), ErrorKind::Validation);
}

#[test]
fn export_replaces_a_file_creates_directories_and_refuses_unknown_branches() {
    let dir = TempDir::new("export");
    let db = Session::in_memory();
    db.kv_put("k", Value::Int(1)).unwrap();
    let nested = dir.path("deep/er/out.bundle");
    db.branch_export("default", &nested).unwrap();
    std::fs::write(&nested, b"old content").unwrap();
    db.branch_export("default", &nested).unwrap();
    assert!(db.branch_validate_bundle(&nested).unwrap().checksums_valid);
    assert!(!dir.path("deep/er/out.bundle.tmp").exists());
    assert_eq!(db.branch_export("nope", &dir.path("x")).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(db.branch_export("default", &dir.0).unwrap_err().kind(), ErrorKind::Io);
}

// ----- hostile bundles --------------------------------------------------------------

/// A valid bundle of a small branch, as bytes.
fn valid_bundle(dir: &TempDir) -> Vec<u8> {
    let db = Session::in_memory();
    db.create_branch("b").unwrap();
    db.set_branch("b").unwrap();
    for i in 0..50 {
        db.kv_put(&format!("key{i}"), Value::String("v".repeat(i))).unwrap();
    }
    db.event_append("e", Value::Int(1)).unwrap();
    let path = dir.path("valid.bundle");
    db.branch_export("b", &path).unwrap();
    std::fs::read(&path).unwrap()
}

/// Imports `bytes` as a bundle into a fresh database; returns the error kind (or
/// `None` if it imported), and checks that a failed import left nothing behind.
fn import_outcome(dir: &TempDir, bytes: &[u8]) -> Option<ErrorKind> {
    let path = dir.path("hostile.bundle");
    std::fs::write(&path, bytes).unwrap();
    let db = Session::in_memory();
    let branches = db.list_branches().unwrap();
    let version = db.engine().snapshot().last_version;
    let outcome = db.branch_import(&path, Some("imported")).err().map(|e| e.kind());
    let validated = db.branch_validate_bundle(&path);
    if outcome.is_some() {
        assert_eq!(db.list_branches().unwrap(), branches);
        assert_eq!(db.engine().snapshot().last_version, version);
        // Validation agrees: either not a bundle at all, or checksums_valid false.
        match validated {
            Ok(report) => assert!(!report.checksums_valid),
            Err(error) => assert!(matches!(error.kind(), ErrorKind::Validation | ErrorKind::Io)),
        }
    }
    outcome
}

#[test]
fn a_bundle_truncated_at_any_offset_is_refused() {
    let dir = TempDir::new("truncate");
    let bytes = valid_bundle(&dir);
    assert_eq!(import_outcome(&dir, &bytes), None);
    for length in 0..bytes.len() {
        let kind = import_outcome(&dir, &bytes[..length]);
        assert!(matches!(kind, Some(ErrorKind::Validation | ErrorKind::Io)), "truncated at {length}: {kind:?}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(import_outcome(&dir, &longer).is_some());
}

#[test]
fn a_bundle_with_any_bit_flipped_is_refused() {
    let dir = TempDir::new("flip");
    let bytes = valid_bundle(&dir);
    for index in 0..bytes.len() {
        for bit in [0u8, 3, 7] {
            let mut damaged = bytes.clone();
            damaged[index] ^= 1 << bit;
            let kind = import_outcome(&dir, &damaged);
            assert!(matches!(kind, Some(ErrorKind::Validation | ErrorKind::Io)), "byte {index} bit {bit}: {kind:?}");
        }
    }
}

/// A well-formed bundle (valid checksums) holding `records`, so that the engine's own
/// checks, not the checksums, are what must refuse it.
fn crafted(branch_name: &str, newest_version: u64, records: &[StateRecord]) -> Vec<u8> {
    let metadata = BundleMetadata { writer: "test".into(), exported_at: 1, newest_version };
    let header = BundleHeader { salt: 7, branch_name: branch_name.into(), metadata: postcard::to_allocvec(&metadata).unwrap() };
    let mut out = Vec::new();
    let mut encoder = header.begin_encode(&mut out).unwrap();
    for record in records {
        encoder.push_record(&state_codec::encode(record).unwrap(), &mut out).unwrap();
    }
    encoder.finish(&mut out);
    out
}

fn branch_record(name: &str) -> StateRecord {
    StateRecord::Branch {
        name: name.into(),
        created_version: 1,
        created_at: 1,
        updated_version: 1,
        updated_at: 1,
        parent: None,
        merge_bases: vec![],
        spaces_version: 1,
    }
}

fn space_record(name: &str) -> StateRecord {
    StateRecord::SpaceAt { name: name.into(), created_version: 1, created_at: 1, updated_version: 1 }
}

fn chain(key: &str, versions: Vec<(u64, u64, Option<Value>)>) -> StateRecord {
    let versions = versions.into_iter().map(|(v, t, value)| (v, t, value.as_ref().map(Packed::from_value))).collect();
    StateRecord::Chain { kind: ChainKind::Kv, key: key.into(), versions }
}

#[test]
fn well_formed_bundles_breaking_the_engine_rules_are_refused() {
    let dir = TempDir::new("rules");
    let ok = crafted("b", 5, &[branch_record("b"), space_record("default"), chain("k", vec![(2, 2, Some(Value::Int(1)))])]);
    assert_eq!(import_outcome(&dir, &ok), None, "the crafted baseline imports");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("duplicate key", crafted("b", 5, &[branch_record("b"), space_record("default"), chain("k", vec![(2, 2, None)]), chain("k", vec![(3, 3, None)])])),
        ("duplicate space", crafted("b", 5, &[branch_record("b"), space_record("default"), space_record("default")])),
        ("two branch records", crafted("b", 5, &[branch_record("b"), space_record("default"), branch_record("c"), space_record("default")])),
        ("no branch record", crafted("b", 5, &[space_record("default")])),
        ("no default space", crafted("b", 5, &[branch_record("b"), space_record("other")])),
        ("invalid branch name in header", crafted("bad name!", 5, &[branch_record("b"), space_record("default")])),
        ("invalid space name", crafted("b", 5, &[branch_record("b"), space_record("default"), space_record("bad/space")])),
        ("empty key", crafted("b", 5, &[branch_record("b"), space_record("default"), chain("", vec![(2, 2, None)])])),
        ("versions out of order", crafted("b", 5, &[branch_record("b"), space_record("default"), chain("k", vec![(3, 3, None), (2, 2, None)])])),
        ("empty history", crafted("b", 5, &[branch_record("b"), space_record("default"), chain("k", vec![])])),
        ("version past the declared newest", crafted("b", 5, &[branch_record("b"), space_record("default"), chain("k", vec![(9, 9, None)])])),
        ("newest version near overflow", crafted("b", u64::MAX - 1, &[branch_record("b"), space_record("default")])),
        ("a database record", crafted("b", 5, &[StateRecord::Database { last_version: 1, last_timestamp: 1 }, branch_record("b")])),
        ("zero-dimension collection", crafted("b", 5, &[branch_record("b"), space_record("default"), StateRecord::CollectionAt { name: "c".into(), dimension: 0, metric: stratadb::vector_index::Metric::Cosine, created_version: 1, created_at: 1, updated_version: 1 }])),
        ("vector of the wrong length", crafted("b", 5, &[branch_record("b"), space_record("default"), StateRecord::CollectionAt { name: "c".into(), dimension: 2, metric: stratadb::vector_index::Metric::Cosine, created_version: 1, created_at: 1, updated_version: 1 }, StateRecord::VectorChain { key: "v".into(), versions: vec![(2, 2, Some((vec![1.0], None)))] }])),
        ("NaN in a vector", crafted("b", 5, &[branch_record("b"), space_record("default"), StateRecord::CollectionAt { name: "c".into(), dimension: 1, metric: stratadb::vector_index::Metric::Cosine, created_version: 1, created_at: 1, updated_version: 1 }, StateRecord::VectorChain { key: "v".into(), versions: vec![(2, 2, Some((vec![f32::NAN], None)))] }])),
    ];
    for (name, bytes) in cases {
        let kind = import_outcome(&dir, &bytes);
        assert_eq!(kind, Some(ErrorKind::Validation), "{name}");
    }
}

/// A bundle whose one record is `payload` verbatim (not necessarily a valid record).
fn crafted_raw(payload: &[u8]) -> Vec<u8> {
    let metadata = BundleMetadata { writer: "test".into(), exported_at: 1, newest_version: 5 };
    let header = BundleHeader { salt: 7, branch_name: "b".into(), metadata: postcard::to_allocvec(&metadata).unwrap() };
    let mut out = Vec::new();
    let mut encoder = header.begin_encode(&mut out).unwrap();
    encoder.push_record(&state_codec::encode(&branch_record("b")).unwrap(), &mut out).unwrap();
    encoder.push_record(&state_codec::encode(&space_record("default")).unwrap(), &mut out).unwrap();
    encoder.push_record(payload, &mut out).unwrap();
    encoder.finish(&mut out);
    out
}

#[test]
fn deep_nesting_and_lengths_claiming_gigabytes_are_refused_without_crashing() {
    let dir = TempDir::new("deep");
    // A KV chain record whose value is an array nested a million levels deep.
    let mut deep = state_codec::encode(&chain("k", vec![(2, 2, Some(Value::Null))])).unwrap();
    deep.truncate(deep.len() - 1); // drop the Null tag
    deep.extend([6u8, 1].repeat(1_000_000));
    deep.push(0);
    assert_eq!(import_outcome(&dir, &crafted_raw(&deep)), Some(ErrorKind::Validation));
    // A string whose length field claims about 2^63 bytes, and a history claiming
    // 2^60 versions, inside a record of a few bytes.
    let mut huge_string = state_codec::encode(&chain("k", vec![(2, 2, Some(Value::String(String::new())))])).unwrap();
    huge_string.truncate(huge_string.len() - 1);
    huge_string.extend([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    assert_eq!(import_outcome(&dir, &crafted_raw(&huge_string)), Some(ErrorKind::Validation));
    let mut many = state_codec::encode(&chain("k", vec![])).unwrap();
    many.truncate(many.len() - 1);
    many.extend([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
    assert_eq!(import_outcome(&dir, &crafted_raw(&many)), Some(ErrorKind::Validation));
    // A value nested just within the limit still imports.
    let mut nested = Value::Int(1);
    for _ in 0..stratadb::limits::VALUE_DEPTH_MAX {
        nested = Value::Array(vec![nested]);
    }
    let fine = state_codec::encode(&chain("k", vec![(2, 2, Some(nested))])).unwrap();
    assert_eq!(import_outcome(&dir, &crafted_raw(&fine)), None);
}

#[test]
fn a_future_format_version_and_non_bundles_are_refused_by_name() {
    let dir = TempDir::new("future");
    let mut bytes = valid_bundle(&dir);
    // The format version sits right after the 8 magic bytes.
    bytes[8] = 2;
    let path = dir.path("future.bundle");
    std::fs::write(&path, &bytes).unwrap();
    let db = Session::in_memory();
    let error = db.branch_import(&path, None).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Validation);
    assert!(error.message().contains("version"), "{}", error.message());
    let error = db.branch_validate_bundle(&path).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Validation);
    // A snapshot file is not a bundle either.
    let durable_dir = dir.path("db");
    let durable = Session::open(&durable_dir, OpenOptions::default()).unwrap();
    durable.kv_put("k", Value::Int(1)).unwrap();
    durable.compact().unwrap();
    let snapshot = std::fs::read_dir(durable_dir.join("snapshots")).unwrap().next().unwrap().unwrap().path();
    assert_eq!(db.branch_import(&snapshot, None).unwrap_err().kind(), ErrorKind::Validation);
    assert_eq!(db.branch_import(Path::new("/nonexistent/x.bundle"), None).unwrap_err().kind(), ErrorKind::Io);
    assert_eq!(db.branch_import(&dir.0, None).unwrap_err().kind(), ErrorKind::Io);
}

/// Every input of the bundle reader's fuzz corpus (`fuzz/corpus/bundle_import/`, valid
/// bundles the fuzzer mutates, plus anything it found) goes through the fuzz driver,
/// and so do truncations and bit flips of each: no panic, only `Validation` errors.
#[test]
fn the_bundle_import_fuzz_corpus_replays_without_a_finding() {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/bundle_import");
    let mut inputs = 0;
    for entry in std::fs::read_dir(&folder).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        stratadb::bundle::fuzz_import(&bytes);
        for cut in (0..bytes.len()).step_by(7) {
            stratadb::bundle::fuzz_import(&bytes[..cut]);
        }
        inputs += 1;
    }
    assert!(inputs >= 3, "the corpus holds {inputs} inputs");
}
