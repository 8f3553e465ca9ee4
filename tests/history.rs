//! Time travel, fork at a past point, and retention, as a user relies on them: reads
//! as of a version or a time answer exactly what a read at that moment answered, on
//! every primitive, before and after `compact()` and a reopen; a fork at a past point
//! holds exactly that past and merges like a fork made then; retention keeps what its
//! policy promises, refuses (never misanswers) reads of what it removed, and survives
//! a reopen.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use stratadb::model::AsOf;
use stratadb::retention::Retention;
use stratadb::{ErrorKind, OpenOptions, Packed, Session, Value};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let root = std::env::temp_dir().join(format!(
            "stratadb-history-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&root);
        TempDir(root)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn int(value: i64) -> Value {
    Value::Int(value)
}

fn kv(db: &Session, key: &str, at: AsOf) -> Option<Value> {
    db.at(at).unwrap().kv_get(key).unwrap().and_then(|node| node.value().map(Packed::to_value))
}

/// Everything a past read can see of the current branch and space, in one comparable
/// string: KV, cells, documents, events, vectors, spaces.
fn picture(db: &Session, at: AsOf) -> String {
    let view = db.at(at).unwrap();
    let mut out = String::new();
    let keys = view.kv_list(None, None, None).unwrap().keys;
    for key in &keys {
        out += &format!("kv {key}={:?}\n", view.kv_get(key).unwrap().and_then(|n| n.value().cloned()));
    }
    for cell in view.state_list(None).unwrap() {
        out += &format!("cell {cell}={:?}\n", view.state_get(&cell).unwrap().and_then(|n| n.value().cloned()));
    }
    for key in view.json_list(usize::MAX, None, None).unwrap().keys {
        out += &format!("doc {key}={:?}\n", view.json_get(&key, "$").unwrap().map(|p| p.to_value()));
    }
    let events = view.event_len().unwrap();
    out += &format!("events {events}\n");
    for event in view.event_list("tick", None, None).unwrap() {
        out += &format!("event {} {:?}\n", event.sequence, event.payload);
    }
    if let Ok(Some(vector)) = view.vector_get("vecs", "v") {
        out += &format!("vector {:?}\n", vector.embedding);
    }
    out += &format!("spaces {:?}\n", view.list_spaces().unwrap());
    out
}

/// A history with every primitive changing over ten commits; returns the picture at
/// each version, taken live (as of "now") right after that version was written.
fn build_history(db: &Session) -> Vec<(u64, String)> {
    let mut pictures = Vec::new();
    let mut record = |db: &Session, version: u64| pictures.push((version, picture(db, AsOf::Version(version))));
    let v = db.kv_put("a", int(1)).unwrap();
    record(db, v);
    let v = db.state_set("cell", int(10)).unwrap();
    record(db, v);
    let v = db.json_set("doc", "$.x", int(5)).unwrap();
    record(db, v);
    db.event_append("tick", int(0)).unwrap();
    let v = db.engine().snapshot().last_version;
    record(db, v);
    let v = db.kv_put("a", int(2)).unwrap();
    record(db, v);
    db.vector_create_collection("vecs", 2, "cosine").unwrap();
    let v = db.vector_upsert("vecs", "v", vec![1.0, 0.0], None).unwrap();
    record(db, v);
    db.kv_delete("a").unwrap();
    let v = db.engine().snapshot().last_version;
    record(db, v);
    let v = db.json_set("doc", "$.y", Value::String("z".into())).unwrap();
    record(db, v);
    db.event_append("tick", int(1)).unwrap();
    let v = db.vector_upsert("vecs", "v", vec![0.0, 1.0], None).unwrap();
    record(db, v);
    db.space_create("other").unwrap();
    let v = db.state_set("cell", int(11)).unwrap();
    record(db, v);
    pictures
}

#[test]
fn reads_as_of_every_version_match_what_was_live_then() {
    let db = Session::in_memory();
    let pictures = build_history(&db);
    // A picture taken "as of v" right after v equals the one taken much later.
    for (version, expected) in &pictures {
        assert_eq!(&picture(&db, AsOf::Version(*version)), expected, "as of version {version}");
    }
    // Version 0 is before everything.
    assert_eq!(kv(&db, "a", AsOf::Version(0)), None);
    assert!(picture(&db, AsOf::Version(0)).contains("events 0"));
}

#[test]
fn reads_as_of_survive_compact_and_reopen() {
    let dir = TempDir::new("reopen");
    let pictures = {
        let db = Session::open(&dir.0, OpenOptions::default()).unwrap();
        let pictures = build_history(&db);
        db.close().unwrap();
        pictures
    };
    for compact in [false, true] {
        let db = Session::open(&dir.0, OpenOptions::default()).unwrap();
        for (version, expected) in &pictures {
            assert_eq!(&picture(&db, AsOf::Version(*version)), expected, "as of {version}, compacted: {compact}");
        }
        if !compact {
            db.compact().unwrap();
        }
        db.close().unwrap();
    }
}

#[test]
fn reads_as_of_a_time_answer_as_of_the_newest_commit_by_then() {
    let db = Session::in_memory();
    let first = db.kv_put("k", int(1)).unwrap();
    let second = db.kv_put("k", int(2)).unwrap();
    let state = db.engine().snapshot();
    let chain_time = |version: u64| {
        let history = db.kv_history("k").unwrap().unwrap();
        history.iter().find(|n| n.version() == version).unwrap().timestamp()
    };
    let (t1, t2) = (chain_time(first), chain_time(second));
    assert!(t2 >= t1);
    assert_eq!(kv(&db, "k", AsOf::Time(t1)), Some(int(if t1 == t2 { 2 } else { 1 })));
    assert_eq!(kv(&db, "k", AsOf::Time(t2)), Some(int(2)));
    assert_eq!(kv(&db, "k", AsOf::Time(t1 - 1)), None);
    assert_eq!(kv(&db, "k", AsOf::Time(u64::MAX)), Some(int(2)));
    assert!(state.last_timestamp >= t2);
}

#[test]
fn a_version_not_yet_committed_is_refused() {
    let db = Session::in_memory();
    db.kv_put("k", int(1)).unwrap();
    let error = db.at(AsOf::Version(99)).err().unwrap();
    assert_eq!(error.kind(), ErrorKind::Validation);
    assert!(error.message().contains("99"), "{}", error.message());
}

#[test]
fn a_past_view_keeps_answering_the_same_while_the_database_moves_on() {
    let db = Session::in_memory();
    let v = db.kv_put("k", int(1)).unwrap();
    let view = db.at(AsOf::Version(v)).unwrap();
    db.kv_put("k", int(2)).unwrap();
    db.kv_put("new", int(3)).unwrap();
    assert_eq!(view.kv_get("k").unwrap().unwrap().value().map(Packed::to_value), Some(int(1)));
    assert_eq!(view.kv_list(None, None, None).unwrap().keys.len(), 1);
}

#[test]
fn past_vector_search_ranks_the_vectors_as_they_were() {
    let db = Session::in_memory();
    let created = db.vector_create_collection("c", 2, "euclidean").unwrap();
    let v1 = db.vector_upsert("c", "a", vec![0.0, 0.0], None).unwrap();
    db.vector_upsert("c", "b", vec![5.0, 5.0], None).unwrap();
    db.vector_upsert("c", "a", vec![9.0, 9.0], None).unwrap();
    let past = db.at(AsOf::Version(v1)).unwrap().vector_search("c", &[0.0, 0.0], 5, None, None).unwrap();
    assert_eq!(past.iter().map(|h| h.key.as_str()).collect::<Vec<_>>(), ["a"]);
    let now = db.vector_search("c", &[0.0, 0.0], 5).unwrap();
    assert_eq!(now.iter().map(|h| h.key.as_str()).collect::<Vec<_>>(), ["b", "a"]);
    let empty = db.at(AsOf::Version(created)).unwrap();
    assert!(empty.vector_search("c", &[0.0, 0.0], 5, None, None).unwrap().is_empty());
    let before = db.at(AsOf::Version(created - 1)).unwrap();
    assert_eq!(before.vector_search("c", &[0.0, 0.0], 5, None, None).unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn fork_at_a_past_version_holds_that_past_and_merges_back_the_later_changes() {
    let db = Session::in_memory();
    db.kv_put("keep", int(1)).unwrap();
    db.event_append("tick", int(0)).unwrap();
    let point = db.kv_put("changed", int(1)).unwrap();
    db.kv_put("changed", int(2)).unwrap();
    db.kv_put("later", int(3)).unwrap();
    db.event_append("tick", int(1)).unwrap();
    db.space_create("later-space").unwrap();
    let report = db.fork_branch_at("past", Some(AsOf::Version(point))).unwrap();
    assert_eq!(report.keys_copied, 3, "keep, the first event, changed");
    db.set_branch("past").unwrap();
    assert_eq!(picture(&db, AsOf::Version(db.engine().snapshot().last_version)), {
        db.set_branch("default").unwrap();
        let expected = picture(&db, AsOf::Version(point));
        db.set_branch("past").unwrap();
        expected
    });
    assert_eq!(db.event_len().unwrap(), 1);
    // New events on the fork continue its own dense sequence.
    assert_eq!(db.event_append("tick", int(9)).unwrap(), 1);
    // Merging the source brings exactly the changes made after the point.
    let merged = db.merge_branches("default", "strict").unwrap();
    assert!(merged.conflicts.is_empty());
    assert_eq!(db.kv_get("changed").unwrap().unwrap().value().map(Packed::to_value), Some(int(2)));
    assert_eq!(db.kv_get("later").unwrap().unwrap().value().map(Packed::to_value), Some(int(3)));
    assert_eq!(db.event_len().unwrap(), 3);
    assert!(db.list_spaces().unwrap().contains(&"later-space".to_owned()));
    let info = db.branch_get("past").unwrap().unwrap();
    assert_eq!(info.parent.as_deref(), Some("default"));
}

#[test]
fn fork_at_a_past_point_is_replayed_and_snapshotted_exactly() {
    let dir = TempDir::new("fork-at");
    let expected = {
        let db = Session::open(&dir.0, OpenOptions::default()).unwrap();
        build_history(&db);
        db.fork_branch_at("past", Some(AsOf::Version(5))).unwrap();
        db.set_branch("past").unwrap();
        let now = db.engine().snapshot().last_version;
        let expected = picture(&db, AsOf::Version(now));
        db.close().unwrap();
        expected
    };
    for _ in 0..2 {
        let db = Session::open(&dir.0, OpenOptions::default()).unwrap();
        db.set_branch("past").unwrap();
        let now = db.engine().snapshot().last_version;
        assert_eq!(picture(&db, AsOf::Version(now)), expected);
        db.set_branch("default").unwrap();
        db.compact().unwrap();
        db.close().unwrap();
    }
}

#[test]
fn fork_at_refuses_an_existing_name_and_a_future_version() {
    let db = Session::in_memory();
    db.kv_put("k", int(1)).unwrap();
    db.create_branch("taken").unwrap();
    assert_eq!(db.fork_branch_at("taken", Some(AsOf::Version(1))).unwrap_err().kind(), ErrorKind::Conflict);
    assert_eq!(db.fork_branch_at("x", Some(AsOf::Version(50))).unwrap_err().kind(), ErrorKind::Validation);
    assert!(!db.branch_exists("x").unwrap());
}

#[test]
fn retention_keep_versions_keeps_the_newest_and_refuses_what_it_removed() {
    let db = Session::in_memory();
    db.engine().set_retention(Retention::new(Some(2), None, "test").unwrap());
    let versions: Vec<u64> = (0..5).map(|i| db.kv_put("hot", int(i)).unwrap()).collect();
    let cold = db.kv_put("cold", int(7)).unwrap();
    db.retention_apply().unwrap();
    let history: Vec<u64> = db.kv_history("hot").unwrap().unwrap().iter().map(|n| n.version()).collect();
    assert_eq!(history, vec![versions[4], versions[3]]);
    // The present is untouched.
    assert_eq!(db.kv_get("hot").unwrap().unwrap().value().map(Packed::to_value), Some(int(4)));
    assert_eq!(db.kv_get("cold").unwrap().unwrap().value().map(Packed::to_value), Some(int(7)));
    // At and after the floor the past is exact; before it, reads are refused.
    assert_eq!(kv(&db, "hot", AsOf::Version(versions[3])), Some(int(3)));
    assert_eq!(kv(&db, "cold", AsOf::Version(cold)), Some(int(7)));
    let error = db.at(AsOf::Version(versions[2])).err().unwrap();
    assert_eq!(error.kind(), ErrorKind::NotFound);
    assert!(error.message().contains("retention"), "{}", error.message());
}

#[test]
fn retention_keep_seconds_keeps_the_version_current_at_the_window_start() {
    let db = Session::in_memory();
    db.kv_put("k", int(1)).unwrap();
    db.kv_put("k", int(2)).unwrap();
    db.kv_put("gone", int(1)).unwrap();
    db.kv_delete("gone").unwrap();
    // A window of an hour keeps everything written just now.
    db.engine().set_retention(Retention::new(None, Some(3600), "test").unwrap());
    db.retention_apply().unwrap();
    assert_eq!(db.kv_history("k").unwrap().unwrap().len(), 2);
    assert_eq!(db.kv_history("gone").unwrap().unwrap().len(), 2);
    // A zero-second window keeps only the version current now, and forgets deleted keys.
    db.engine().set_retention(Retention::new(None, Some(0), "test").unwrap());
    std::thread::sleep(std::time::Duration::from_millis(2));
    db.retention_apply().unwrap();
    assert_eq!(db.kv_history("k").unwrap().unwrap().len(), 1);
    assert!(db.kv_history("gone").unwrap().is_none());
    assert_eq!(db.kv_get("k").unwrap().unwrap().value().map(Packed::to_value), Some(int(2)));
}

#[test]
fn retention_never_trims_events_and_keeps_everything_by_default() {
    let db = Session::in_memory();
    for i in 0..4 {
        db.kv_put("k", int(i)).unwrap();
        db.event_append("tick", int(i)).unwrap();
    }
    db.retention_apply().unwrap();
    assert_eq!(db.kv_history("k").unwrap().unwrap().len(), 4);
    db.engine().set_retention(Retention::new(Some(1), Some(0), "test").unwrap());
    db.retention_apply().unwrap();
    assert_eq!(db.kv_history("k").unwrap().unwrap().len(), 1);
    assert_eq!(db.event_len().unwrap(), 4);
    assert_eq!(db.event_list("tick").unwrap().len(), 4);
}

#[test]
fn retention_is_enforced_by_compact_and_the_floor_survives_reopen() {
    let dir = TempDir::new("retention");
    let options = || OpenOptions { retention: Some(Retention::new(Some(1), None, "test").unwrap()), ..OpenOptions::default() };
    let old = {
        let db = Session::open(&dir.0, options()).unwrap();
        let old = db.kv_put("k", int(1)).unwrap();
        db.kv_put("k", int(2)).unwrap();
        db.compact().unwrap();
        assert_eq!(db.kv_history("k").unwrap().unwrap().len(), 1);
        db.close().unwrap();
        old
    };
    let db = Session::open(&dir.0, OpenOptions::default()).unwrap();
    assert_eq!(db.kv_history("k").unwrap().unwrap().len(), 1);
    assert_eq!(db.at(AsOf::Version(old)).err().unwrap().kind(), ErrorKind::NotFound);
    assert_eq!(db.kv_get("k").unwrap().unwrap().value().map(Packed::to_value), Some(int(2)));
}

#[test]
fn retention_policy_comes_from_strata_toml() {
    let dir = TempDir::new("toml");
    std::fs::create_dir_all(&dir.0).unwrap();
    std::fs::write(dir.0.join("strata.toml"), "[retention]\nkeep_versions = 3\n").unwrap();
    let db = Session::open(&dir.0, OpenOptions::default()).unwrap();
    assert_eq!(db.engine().retention(), Retention { keep_versions: Some(3), keep_seconds: None });
    for i in 0..6 {
        db.kv_put("k", int(i)).unwrap();
    }
    db.retention_apply().unwrap();
    assert_eq!(db.kv_history("k").unwrap().unwrap().len(), 3);
}
