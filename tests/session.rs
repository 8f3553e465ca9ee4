//! Behaviour of every `Session` method group, as a user of the SDK relies on it.
//!
//! Each test builds a private in-memory database, so tests are independent and need no
//! files. A second handle on the same engine (`Session::attach`) plays the part of
//! another connection or thread. Nothing here sleeps or depends on timing: concurrency
//! is staged by interleaving calls on two handles.

#![allow(clippy::unwrap_used)]

use stratadb::branch_ops::DiffEntry;
use stratadb::model::Versioned;
use stratadb::{ErrorKind, Object, Packed, Session, Value};

// ----- helpers ------------------------------------------------------------------

fn int(i: i64) -> Value {
    Value::Int(i)
}

fn text(s: &str) -> Value {
    Value::String(s.to_owned())
}

fn object(members: &[(&str, Value)]) -> Value {
    Value::Object(members.iter().map(|(name, value)| ((*name).to_owned(), value.clone())).collect::<Object>())
}

/// The error kind of a result that must be an error.
fn kind_of<T: std::fmt::Debug>(result: stratadb::Result<T>) -> ErrorKind {
    match result {
        Ok(value) => panic!("expected an error, got Ok({value:?})"),
        Err(error) => error.kind(),
    }
}

fn value(versioned: Option<Versioned<Packed>>) -> Option<Value> {
    versioned.and_then(|node| node.value().map(Packed::to_value))
}

fn last_version(session: &Session) -> u64 {
    session.info().unwrap().last_version
}

fn names(list: Vec<stratadb::model::Name>) -> Vec<String> {
    list.into_iter().map(|name| name.to_string()).collect()
}

fn keys(session: &Session) -> Vec<String> {
    names(session.kv_list(None).unwrap())
}

/// `(value, version)` of every history entry, newest first.
fn history(entries: Option<Vec<Versioned<Packed>>>) -> Vec<(Option<Value>, u64)> {
    entries.expect("history exists").iter().map(|node| (node.value().map(Packed::to_value), node.version())).collect()
}

fn entry(space: &str, primitive: &str, key: &str) -> (String, String, String) {
    (space.to_owned(), primitive.to_owned(), key.to_owned())
}

fn entries(list: &[DiffEntry]) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = list.iter().map(|e| (e.space.clone(), e.primitive.to_owned(), e.key.clone())).collect();
    out.sort();
    out
}

fn second_handle(session: &Session) -> Session {
    Session::attach(session.engine().clone())
}

// ----- versions -----------------------------------------------------------------

#[test]
fn versions_start_at_one_and_rise_by_one_per_commit_across_primitives() {
    let db = Session::in_memory();
    assert_eq!(last_version(&db), 0);
    assert_eq!(db.kv_put("k", int(1)).unwrap(), 1);
    assert_eq!(db.state_set("c", int(1)).unwrap(), 2);
    assert_eq!(db.event_append("e", int(1)).unwrap(), 0, "event_append returns the sequence, not the version");
    assert_eq!(last_version(&db), 3);
    assert_eq!(db.json_set("d", "$", object(&[])).unwrap(), 4);
    assert_eq!(db.vector_create_collection("v", 2, "cosine").unwrap(), 5);
    assert_eq!(db.vector_upsert("v", "x", vec![1.0, 0.0], None).unwrap(), 6);
    assert_eq!(db.create_branch("b").unwrap(), 7);
    assert_eq!(last_version(&db), 7);
}

#[test]
fn versions_are_one_counter_shared_by_every_branch_and_space() {
    let db = Session::in_memory();
    db.kv_put("k", int(1)).unwrap();
    db.create_branch("b").unwrap();
    db.set_branch("b").unwrap();
    assert_eq!(db.kv_put("k", int(2)).unwrap(), 3);
    db.set_space("s").unwrap();
    assert_eq!(last_version(&db), 4, "creating a space is a commit");
    assert_eq!(db.kv_put("k", int(3)).unwrap(), 5);
    db.set_branch("default").unwrap();
    assert_eq!(db.kv_put("k", int(4)).unwrap(), 6);
}

#[test]
fn versions_are_not_consumed_by_writes_that_change_nothing() {
    let db = Session::in_memory();
    db.state_set("c", int(1)).unwrap();
    db.json_set("d", "$", object(&[("a", int(1))])).unwrap();
    let before = last_version(&db);
    assert!(!db.kv_delete("missing").unwrap());
    assert!(!db.state_delete("missing").unwrap());
    assert_eq!(db.state_cas("c", int(2), Some(999)).unwrap(), None);
    assert_eq!(db.state_init("c", int(5)).unwrap(), 1);
    assert_eq!(db.json_delete("missing", "$").unwrap(), 0);
    assert_eq!(db.json_delete("d", "$.zzz").unwrap(), 0);
    db.set_space("default").unwrap();
    assert_eq!(last_version(&db), before);
    assert_eq!(db.kv_put("k", int(1)).unwrap(), before + 1, "the next commit takes the next number, no gaps");
}

#[test]
fn versions_stamp_each_record_with_its_commit_and_timestamps_never_decrease() {
    let db = Session::in_memory();
    let mut previous_timestamp = 0;
    for i in 0..5 {
        let version = db.kv_put("k", int(i)).unwrap();
        let head = db.kv_get("k").unwrap().unwrap();
        assert_eq!(head.version(), version);
        assert!(head.timestamp() >= previous_timestamp);
        assert!(head.timestamp() > 1_600_000_000_000_000, "timestamps are microseconds since the epoch");
        previous_timestamp = head.timestamp();
    }
}

#[test]
fn versions_a_transaction_is_one_version_whatever_it_contains() {
    let db = Session::in_memory();
    db.kv_put("before", int(0)).unwrap();
    db.vector_create_collection("v", 2, "cosine").unwrap();
    let before = last_version(&db);
    db.begin(false).unwrap();
    db.kv_put("a", int(1)).unwrap();
    db.state_set("c", int(2)).unwrap();
    db.event_append("e", int(3)).unwrap();
    db.json_set("d", "$", object(&[("x", int(4))])).unwrap();
    db.vector_upsert("v", "x", vec![1.0, 0.0], None).unwrap();
    let version = db.commit().unwrap();
    assert_eq!(version, before + 1);
    assert_eq!(last_version(&db), version);
    assert_eq!(db.kv_get("a").unwrap().unwrap().version(), version);
    assert_eq!(db.state_get("c").unwrap().unwrap().version(), version);
    assert_eq!(db.event_get(0).unwrap().unwrap().version, version);
    assert_eq!(db.json_get_versioned("d").unwrap().unwrap().version(), version);
    assert_eq!(db.vector_get("v", "x").unwrap().unwrap().version, version);
}

// ----- snapshots ----------------------------------------------------------------

/// Every byte of a state, as a snapshot file would hold it.
fn state_bytes(state: &stratadb::model::DbState) -> Vec<u8> {
    let mut bytes = Vec::new();
    stratadb::durability::state_codec::write_state(state, &mut |record| {
        bytes.extend(stratadb::durability::state_codec::encode(record)?);
        Ok(())
    })
    .unwrap();
    bytes
}

/// Writes of every kind a commit can change in place (and some it cannot), round `round`.
fn write_round(db: &Session, round: i64) {
    for i in 0..40 {
        db.kv_put(&format!("k{i:02}"), int(round * 100 + i)).unwrap();
    }
    db.kv_delete("k07").unwrap();
    db.state_set("cell", int(round)).unwrap();
    db.json_set("doc", "$.a.b", int(round)).unwrap();
    db.event_append("tick", int(round)).unwrap();
    db.space_create(&format!("space{round}")).unwrap();
    db.vector_upsert("vecs", "v", vec![round as f32, 1.0], None).unwrap();
}

#[test]
fn a_snapshot_never_changes_while_later_commits_change_the_state() {
    // Commits change the newest state in place when no snapshot shares it; one that a
    // reader holds must keep every byte it had, and the next snapshot must see them all.
    let db = Session::in_memory();
    db.vector_create_collection("vecs", 2, "cosine").unwrap();
    write_round(&db, 0);
    let held = db.engine().snapshot();
    let before = state_bytes(&held);
    for round in 1..4 {
        write_round(&db, round);
    }
    assert_eq!(state_bytes(&held), before, "a held snapshot changed");
    let newest = db.engine().snapshot();
    assert_eq!(newest.last_version, last_version(&db));
    assert_ne!(state_bytes(&newest), before);
    // Versions committed after the snapshot are in the newest state, not in the held one.
    assert_eq!(value(db.kv_get("k00").unwrap()), Some(int(300)));
    assert_eq!(db.event_len().unwrap(), 4);
    let held_again = db.engine().snapshot();
    write_round(&db, 4);
    assert_eq!(state_bytes(&held_again), state_bytes(&newest), "a second held snapshot changed");
}

// ----- KV -------------------------------------------------------------------------

#[test]
fn kv_put_then_get_returns_the_value_with_its_version() {
    let db = Session::in_memory();
    let version = db.kv_put("greeting", text("hello")).unwrap();
    let head = db.kv_get("greeting").unwrap().unwrap();
    assert_eq!(head.value().map(Packed::to_value), Some(text("hello")));
    assert_eq!(head.version(), version);
}

#[test]
fn kv_get_of_a_missing_key_is_none() {
    let db = Session::in_memory();
    assert!(db.kv_get("nothing").unwrap().is_none());
    assert!(db.kv_history("nothing").unwrap().is_none(), "a key that never existed has no history");
}

#[test]
fn kv_put_overwrites_the_value() {
    let db = Session::in_memory();
    db.kv_put("k", int(1)).unwrap();
    db.kv_put("k", int(2)).unwrap();
    assert_eq!(value(db.kv_get("k").unwrap()), Some(int(2)));
    assert_eq!(keys(&db), vec!["k"]);
}

#[test]
fn kv_values_of_every_type_round_trip() {
    let db = Session::in_memory();
    let values = vec![
        Value::Null,
        Value::Bool(true),
        int(i64::MIN),
        int(i64::MAX),
        Value::Float(1.5),
        Value::Float(f64::NAN),
        Value::Float(f64::NEG_INFINITY),
        text("héllo ✓"),
        Value::Bytes(vec![0, 255, 1]),
        Value::Array(vec![int(1), text("two"), Value::Null]),
        object(&[("z", int(1)), ("a", object(&[("nested", Value::Bool(false))]))]),
    ];
    for (i, v) in values.iter().enumerate() {
        db.kv_put(&format!("k{i}"), v.clone()).unwrap();
    }
    for (i, v) in values.iter().enumerate() {
        assert_eq!(value(db.kv_get(&format!("k{i}")).unwrap()).as_ref(), Some(v), "value {i}");
    }
    // Object member order is kept as written.
    let Some(Value::Object(members)) = value(db.kv_get(&format!("k{}", values.len() - 1)).unwrap()) else {
        panic!("expected an object")
    };
    assert_eq!(members.keys().collect::<Vec<_>>(), vec!["z", "a"]);
}

#[test]
fn kv_delete_returns_whether_the_key_existed_and_hides_it() {
    let db = Session::in_memory();
    assert!(!db.kv_delete("k").unwrap());
    db.kv_put("k", int(1)).unwrap();
    assert!(db.kv_delete("k").unwrap());
    assert!(db.kv_get("k").unwrap().is_none());
    assert!(keys(&db).is_empty());
    assert!(!db.kv_delete("k").unwrap(), "a second delete finds nothing");
    db.kv_put("k", int(2)).unwrap();
    assert_eq!(value(db.kv_get("k").unwrap()), Some(int(2)), "a deleted key can be written again");
}

#[test]
fn kv_list_is_sorted_and_filters_by_prefix() {
    let db = Session::in_memory();
    for key in ["user:2", "user:10", "admin", "user:1", "userx", "a"] {
        db.kv_put(key, int(0)).unwrap();
    }
    db.kv_delete("user:10").unwrap();
    assert_eq!(keys(&db), vec!["a", "admin", "user:1", "user:2", "userx"]);
    assert_eq!(names(db.kv_list(Some("user:")).unwrap()), vec!["user:1", "user:2"]);
    assert_eq!(names(db.kv_list(Some("user")).unwrap()), vec!["user:1", "user:2", "userx"]);
    assert!(db.kv_list(Some("zzz")).unwrap().is_empty());
}

#[test]
fn kv_list_paginated_cursors_cover_every_key_exactly_once() {
    let db = Session::in_memory();
    let all: Vec<String> = (0..13).map(|i| format!("p:{i:02}")).collect();
    for key in &all {
        db.kv_put(key, int(0)).unwrap();
    }
    db.kv_put("other", int(0)).unwrap();
    db.kv_put("p:05x", int(0)).unwrap();
    db.kv_delete("p:05x").unwrap();
    for limit in 1..=all.len() + 1 {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = db.kv_list_paginated(Some("p:"), Some(limit), cursor.as_deref()).unwrap();
            assert!(page.keys.len() <= limit);
            seen.extend(names(page.keys));
            pages += 1;
            assert!(pages <= all.len() + 1, "pagination does not terminate");
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, all, "limit {limit}");
        assert_eq!(pages, all.len().div_ceil(limit), "a cursor is present only when more keys follow (limit {limit})");
    }
    let everything = db.kv_list_paginated(None, None, None).unwrap();
    assert_eq!(everything.keys.len(), all.len() + 1);
    assert!(everything.cursor.is_none());
}

#[test]
fn kv_history_is_newest_first_with_deletes_as_none() {
    let db = Session::in_memory();
    let v1 = db.kv_put("k", int(1)).unwrap();
    let v2 = db.kv_put("k", int(2)).unwrap();
    db.kv_delete("k").unwrap();
    let v3 = last_version(&db);
    let v4 = db.kv_put("k", int(3)).unwrap();
    assert_eq!(
        history(db.kv_history("k").unwrap()),
        vec![(Some(int(3)), v4), (None, v3), (Some(int(2)), v2), (Some(int(1)), v1)]
    );
    // History survives a delete: a deleted key still has one.
    db.kv_put("gone", int(1)).unwrap();
    db.kv_delete("gone").unwrap();
    assert_eq!(db.kv_history("gone").unwrap().unwrap().len(), 2);
}

#[test]
fn kv_rejects_empty_and_nul_keys_as_validation_errors() {
    let db = Session::in_memory();
    assert_eq!(kind_of(db.kv_put("", int(1))), ErrorKind::Validation);
    assert_eq!(kind_of(db.kv_put("a\0b", int(1))), ErrorKind::Validation);
    assert_eq!(kind_of(db.kv_get("")), ErrorKind::Validation);
    assert_eq!(last_version(&db), 0, "a refused write commits nothing");
}

// ----- state cells ------------------------------------------------------------------

#[test]
fn state_set_and_get_round_trip_with_versions() {
    let db = Session::in_memory();
    assert!(db.state_get("c").unwrap().is_none());
    let v1 = db.state_set("c", text("idle")).unwrap();
    let v2 = db.state_set("c", text("busy")).unwrap();
    let head = db.state_get("c").unwrap().unwrap();
    assert_eq!(head.value().map(Packed::to_value), Some(text("busy")));
    assert_eq!(head.version(), v2);
    assert_eq!(history(db.state_history("c").unwrap()), vec![(Some(text("busy")), v2), (Some(text("idle")), v1)]);
    assert_eq!(names(db.state_list(None).unwrap()), vec!["c"]);
}

#[test]
fn state_init_creates_only_if_absent_and_returns_the_current_version_either_way() {
    let db = Session::in_memory();
    let created = db.state_init("c", int(1)).unwrap();
    assert_eq!(value(db.state_get("c").unwrap()), Some(int(1)));
    assert_eq!(db.state_init("c", int(2)).unwrap(), created, "init of an existing cell returns its version");
    assert_eq!(value(db.state_get("c").unwrap()), Some(int(1)), "init never overwrites");
    let updated = db.state_set("c", int(3)).unwrap();
    assert_eq!(db.state_init("c", int(4)).unwrap(), updated);
    assert_eq!(value(db.state_get("c").unwrap()), Some(int(3)));
}

#[test]
fn state_cas_with_expected_none_succeeds_only_if_the_cell_is_absent() {
    let db = Session::in_memory();
    let version = db.state_cas("lock", text("me"), None).unwrap().expect("absent cell: cas with None succeeds");
    assert_eq!(db.state_get("lock").unwrap().unwrap().version(), version);
    assert_eq!(db.state_cas("lock", text("you"), None).unwrap(), None, "present cell: cas with None fails");
    assert_eq!(value(db.state_get("lock").unwrap()), Some(text("me")));
    assert!(db.state_delete("lock").unwrap());
    assert!(db.state_cas("lock", text("you"), None).unwrap().is_some(), "deleted cell counts as absent");
    assert_eq!(value(db.state_get("lock").unwrap()), Some(text("you")));
}

#[test]
fn state_cas_with_the_current_version_succeeds_and_a_stale_one_returns_none() {
    let db = Session::in_memory();
    let v1 = db.state_set("counter", int(0)).unwrap();
    let v2 = db.state_cas("counter", int(1), Some(v1)).unwrap().expect("current version matches");
    assert!(v2 > v1);
    let before = last_version(&db);
    assert_eq!(db.state_cas("counter", int(99), Some(v1)).unwrap(), None, "stale version is a mismatch, not an error");
    assert_eq!(db.state_cas("counter", int(99), Some(v2 + 100)).unwrap(), None);
    assert_eq!(last_version(&db), before, "a failed cas commits nothing");
    let head = db.state_get("counter").unwrap().unwrap();
    assert_eq!((head.value().map(Packed::to_value), head.version()), (Some(int(1)), v2));
}

#[test]
fn state_cas_with_an_expected_version_on_a_missing_cell_returns_none() {
    let db = Session::in_memory();
    assert_eq!(db.state_cas("c", int(1), Some(1)).unwrap(), None);
    assert!(db.state_get("c").unwrap().is_none());
}

#[test]
fn state_delete_returns_whether_the_cell_existed_and_keeps_history() {
    let db = Session::in_memory();
    assert!(!db.state_delete("c").unwrap());
    let v1 = db.state_set("c", int(1)).unwrap();
    assert!(db.state_delete("c").unwrap());
    assert!(db.state_get("c").unwrap().is_none());
    assert!(db.state_list(None).unwrap().is_empty());
    assert_eq!(history(db.state_history("c").unwrap()), vec![(None, v1 + 1), (Some(int(1)), v1)]);
}

// ----- events -----------------------------------------------------------------------

#[test]
fn events_sequence_is_dense_from_zero_per_branch_and_space() {
    let db = Session::in_memory();
    assert_eq!(db.event_len().unwrap(), 0);
    for expected in 0..4 {
        assert_eq!(db.event_append("tick", int(expected as i64)).unwrap(), expected);
    }
    db.set_space("other").unwrap();
    assert_eq!(db.event_append("tick", int(0)).unwrap(), 0, "each space has its own sequence");
    db.set_space("default").unwrap();
    db.fork_branch("fork").unwrap();
    db.create_branch("fresh").unwrap();
    db.set_branch("fork").unwrap();
    assert_eq!(db.event_append("tick", int(4)).unwrap(), 4, "a fork continues the source's sequence");
    db.set_branch("fresh").unwrap();
    assert_eq!(db.event_append("tick", int(0)).unwrap(), 0, "a new branch starts at 0");
    db.set_branch("default").unwrap();
    assert_eq!(db.event_append("tick", int(4)).unwrap(), 4, "the fork's appends do not touch the source");
    assert_eq!(db.event_len().unwrap(), 5);
}

#[test]
fn events_get_returns_type_payload_sequence_and_version() {
    let db = Session::in_memory();
    db.kv_put("k", int(0)).unwrap();
    let payload = object(&[("tool", text("search")), ("args", Value::Array(vec![int(1)]))]);
    db.event_append("tool_call", payload.clone()).unwrap();
    let event = db.event_get(0).unwrap().unwrap();
    assert_eq!(event.sequence, 0);
    assert_eq!(&*event.event_type, "tool_call");
    assert_eq!(event.payload.to_value(), payload);
    assert_eq!(event.version, 2, "the event's commit version");
    assert!(db.event_get(1).unwrap().is_none());
    assert!(db.event_get(u64::MAX).unwrap().is_none());
}

#[test]
fn events_list_by_type_in_sequence_order() {
    let db = Session::in_memory();
    for (i, event_type) in ["a", "b", "a", "c", "a"].iter().enumerate() {
        db.event_append(event_type, int(i as i64)).unwrap();
    }
    let listed: Vec<(u64, Value)> =
        db.event_list("a").unwrap().iter().map(|e| (e.sequence, e.payload.to_value())).collect();
    assert_eq!(listed, vec![(0, int(0)), (2, int(2)), (4, int(4))]);
    assert!(db.event_list("zzz").unwrap().is_empty());
    assert_eq!(db.event_list("b").unwrap().len(), 1);
}

#[test]
fn events_list_paginated_with_after_and_limit_walks_each_event_once() {
    let db = Session::in_memory();
    for i in 0..20 {
        db.event_append(if i % 3 == 0 { "x" } else { "y" }, int(i)).unwrap();
    }
    let all: Vec<u64> = db.event_list("y").unwrap().iter().map(|e| e.sequence).collect();
    assert_eq!(all.len(), 13);
    for limit in 1..=4 {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = db.event_list_paginated("y", Some(limit), after).unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= limit);
            after = Some(page.last().unwrap().sequence);
            seen.extend(page.iter().map(|e| e.sequence));
        }
        assert_eq!(seen, all, "limit {limit}");
    }
    // `after` is exclusive and need not name an event of this type.
    let after_3: Vec<u64> = db.event_list_paginated("y", None, Some(3)).unwrap().iter().map(|e| e.sequence).collect();
    assert_eq!(after_3, all.iter().copied().filter(|&s| s > 3).collect::<Vec<_>>());
    assert!(db.event_list_paginated("y", None, Some(19)).unwrap().is_empty());
}

#[test]
fn events_accept_any_payload() {
    let db = Session::in_memory();
    for payload in [Value::Null, Value::Bytes(vec![1, 2]), Value::Float(f64::NAN), Value::Array(vec![])] {
        let sequence = db.event_append("any", payload.clone()).unwrap();
        assert_eq!(db.event_get(sequence).unwrap().unwrap().payload.to_value(), payload);
    }
}

// ----- JSON documents -----------------------------------------------------------------

#[test]
fn json_set_root_then_get_whole_document_and_paths() {
    let db = Session::in_memory();
    let document =
        object(&[("name", text("ada")), ("tags", Value::Array(vec![text("x"), text("y")])), ("a b", int(1))]);
    let version = db.json_set("doc", "$", document.clone()).unwrap();
    assert_eq!(db.json_get("doc", "$").unwrap().map(|p| p.to_value()), Some(document));
    assert_eq!(db.json_get("doc", "$.name").unwrap().map(|p| p.to_value()), Some(text("ada")));
    assert_eq!(db.json_get("doc", "$.tags[1]").unwrap().map(|p| p.to_value()), Some(text("y")));
    assert_eq!(db.json_get("doc", "$.tags[-1]").unwrap().map(|p| p.to_value()), Some(text("y")));
    assert_eq!(db.json_get("doc", "$['a b']").unwrap().map(|p| p.to_value()), Some(int(1)));
    assert_eq!(db.json_get_versioned("doc").unwrap().unwrap().version(), version);
}

#[test]
fn json_set_a_path_creates_missing_intermediate_objects_and_keeps_siblings() {
    let db = Session::in_memory();
    db.json_set("doc", "$.a.b.c", int(1)).unwrap();
    assert_eq!(db.json_get("doc", "$").unwrap().map(|p| p.to_value()), Some(object(&[("a", object(&[("b", object(&[("c", int(1))]))]))])));
    db.json_set("doc", "$.a.x", int(2)).unwrap();
    assert_eq!(db.json_get("doc", "$.a.b.c").unwrap().map(|p| p.to_value()), Some(int(1)));
    assert_eq!(db.json_get("doc", "$.a.x").unwrap().map(|p| p.to_value()), Some(int(2)));
    db.json_set("doc", "$", int(7)).unwrap();
    assert_eq!(db.json_get("doc", "$").unwrap().map(|p| p.to_value()), Some(int(7)), "setting $ replaces the document");
}

#[test]
fn json_set_array_elements_by_index() {
    let db = Session::in_memory();
    db.json_set("doc", "$", object(&[("items", Value::Array(vec![int(0), int(1)]))])).unwrap();
    db.json_set("doc", "$.items[1]", int(10)).unwrap();
    db.json_set("doc", "$.items[-2]", int(-10)).unwrap();
    assert_eq!(db.json_get("doc", "$.items").unwrap().map(|p| p.to_value()), Some(Value::Array(vec![int(-10), int(10)])));
    assert_eq!(kind_of(db.json_set("doc", "$.items[5]", int(0))), ErrorKind::Constraint);
    assert_eq!(kind_of(db.json_set("doc", "$.items.x", int(0))), ErrorKind::Constraint);
}

#[test]
fn json_get_of_a_missing_document_or_path_is_none() {
    let db = Session::in_memory();
    assert_eq!(db.json_get("nothing", "$").unwrap().map(|p| p.to_value()), None);
    assert_eq!(db.json_get("nothing", "$.a").unwrap().map(|p| p.to_value()), None);
    db.json_set("doc", "$", object(&[("a", Value::Array(vec![int(1)]))])).unwrap();
    assert_eq!(db.json_get("doc", "$.b").unwrap().map(|p| p.to_value()), None);
    assert_eq!(db.json_get("doc", "$.a[3]").unwrap().map(|p| p.to_value()), None);
    assert_eq!(db.json_get("doc", "$.a.b").unwrap().map(|p| p.to_value()), None);
    assert!(db.json_get_versioned("nothing").unwrap().is_none());
    assert!(db.json_history("nothing").unwrap().is_none());
}

#[test]
fn json_delete_of_a_path_removes_that_member_and_returns_the_version() {
    let db = Session::in_memory();
    db.json_set("doc", "$", object(&[("a", int(1)), ("b", int(2)), ("c", int(3))])).unwrap();
    let version = db.json_delete("doc", "$.b").unwrap();
    assert_eq!(version, last_version(&db));
    assert!(version > 0);
    let Some(Value::Object(members)) = db.json_get("doc", "$").unwrap().map(|p| p.to_value()) else { panic!("document is an object") };
    assert_eq!(members.keys().collect::<Vec<_>>(), vec!["a", "c"], "other members keep their order");
}

#[test]
fn json_delete_returns_zero_when_nothing_is_removed() {
    let db = Session::in_memory();
    assert_eq!(db.json_delete("nothing", "$").unwrap(), 0);
    assert_eq!(db.json_delete("nothing", "$.a").unwrap(), 0);
    db.json_set("doc", "$", object(&[("a", int(1))])).unwrap();
    let before = last_version(&db);
    assert_eq!(db.json_delete("doc", "$.missing").unwrap(), 0);
    assert_eq!(db.json_delete("doc", "$.a.deeper").unwrap(), 0);
    assert_eq!(last_version(&db), before, "nothing removed, nothing committed");
    assert_eq!(db.json_get("doc", "$").unwrap().map(|p| p.to_value()), Some(object(&[("a", int(1))])));
}

#[test]
fn json_delete_of_root_deletes_the_document_and_history_records_it() {
    let db = Session::in_memory();
    let v1 = db.json_set("doc", "$", object(&[("a", int(1))])).unwrap();
    let v2 = db.json_delete("doc", "$").unwrap();
    assert!(v2 > v1);
    assert_eq!(db.json_get("doc", "$").unwrap().map(|p| p.to_value()), None);
    assert!(db.json_list(10, None, None).unwrap().keys.is_empty());
    assert_eq!(history(db.json_history("doc").unwrap()), vec![(None, v2), (Some(object(&[("a", int(1))])), v1)]);
    assert_eq!(db.json_delete("doc", "$").unwrap(), 0, "already deleted");
}

#[test]
fn json_empty_path_means_the_whole_document() {
    let db = Session::in_memory();
    let document = object(&[("a", int(1))]);
    let v1 = db.json_set("doc", "", document.clone()).unwrap();
    assert_eq!(db.json_get("doc", "$").unwrap().map(|p| p.to_value()), Some(document.clone()));
    assert_eq!(db.json_get("doc", "").unwrap().map(|p| p.to_value()), Some(document.clone()));
    let v2 = db.json_set("doc", "", int(2)).unwrap();
    assert_eq!(db.json_get("doc", "").unwrap().map(|p| p.to_value()), Some(int(2)), "setting the empty path replaces the document");
    let v3 = db.json_delete("doc", "").unwrap();
    assert!(v3 > v2);
    assert_eq!(db.json_get("doc", "$").unwrap().map(|p| p.to_value()), None, "deleting the empty path deletes the document");
    assert_eq!(history(db.json_history("doc").unwrap()), vec![(None, v3), (Some(int(2)), v2), (Some(document), v1)]);
    assert_eq!(db.json_delete("doc", "").unwrap(), 0, "already deleted");
}

#[test]
fn json_malformed_path_is_a_validation_error_quoting_the_path() {
    let db = Session::in_memory();
    let error = db.json_set("doc", "$.a[", int(1)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Validation);
    assert!(error.message().contains("$.a["), "{}", error.message());
    assert_eq!(kind_of(db.json_get("doc", "$..a")), ErrorKind::Validation);
    assert_eq!(last_version(&db), 0);
}

#[test]
fn json_list_pages_through_live_documents() {
    let db = Session::in_memory();
    for key in ["d1", "d2", "d3", "e1"] {
        db.json_set(key, "$", int(0)).unwrap();
    }
    db.json_delete("d2", "$").unwrap();
    let first = db.json_list(1, Some("d"), None).unwrap();
    assert_eq!(names(first.keys), vec!["d1"]);
    let second = db.json_list(1, Some("d"), first.cursor.as_deref()).unwrap();
    assert_eq!(names(second.keys), vec!["d3"]);
    assert!(second.cursor.is_none());
}

// ----- vectors ------------------------------------------------------------------------

#[test]
fn vectors_upsert_then_get_returns_embedding_metadata_and_version() {
    let db = Session::in_memory();
    db.vector_create_collection("docs", 3, "cosine").unwrap();
    let metadata = object(&[("source", text("wiki"))]);
    let version = db.vector_upsert("docs", "a", vec![0.5, -1.0, 2.0], Some(metadata.clone())).unwrap();
    let record = db.vector_get("docs", "a").unwrap().unwrap();
    assert_eq!(record.key, "a");
    assert_eq!(&*record.embedding, &[0.5, -1.0, 2.0]);
    assert_eq!(record.metadata, Some(metadata));
    assert_eq!(record.version, version);
    assert!(db.vector_get("docs", "missing").unwrap().is_none());
    // Upsert replaces.
    db.vector_upsert("docs", "a", vec![1.0, 1.0, 1.0], None).unwrap();
    let record = db.vector_get("docs", "a").unwrap().unwrap();
    assert_eq!(&*record.embedding, &[1.0, 1.0, 1.0]);
    assert_eq!(record.metadata, None);
}

#[test]
fn vectors_search_returns_best_first_for_each_metric() {
    let db = Session::in_memory();
    for metric in ["cosine", "euclidean", "dot_product"] {
        db.vector_create_collection(metric, 2, metric).unwrap();
        db.vector_upsert(metric, "east", vec![1.0, 0.0], None).unwrap();
        db.vector_upsert(metric, "north", vec![0.0, 1.0], None).unwrap();
        db.vector_upsert(metric, "northeast", vec![2.0, 2.0], None).unwrap();
    }
    let keys_of = |hits: Vec<stratadb::vector_index::SearchHit>| hits.into_iter().map(|h| h.key).collect::<Vec<_>>();
    let cosine = db.vector_search("cosine", &[1.0, 0.1], 3).unwrap();
    assert_eq!(keys_of(cosine.clone()), vec!["east", "northeast", "north"]);
    assert!((cosine[0].score - 1.0 / (1.01f32).sqrt()).abs() < 1e-5);
    let euclidean = db.vector_search("euclidean", &[0.0, 1.0], 2).unwrap();
    assert_eq!(keys_of(euclidean.clone()), vec!["north", "east"]);
    assert!((euclidean[0].score - 1.0).abs() < 1e-6, "1 / (1 + 0)");
    assert!((euclidean[1].score - 1.0 / (1.0 + 2f32.sqrt())).abs() < 1e-5);
    let dot = db.vector_search("dot_product", &[1.0, 0.0], 3).unwrap();
    assert_eq!(keys_of(dot.clone()), vec!["northeast", "east", "north"]);
    assert!((dot[0].score - 2.0).abs() < 1e-6);
    assert_eq!(db.vector_search("cosine", &[1.0, 0.0], 1).unwrap().len(), 1, "k limits the results");
}

#[test]
fn vectors_dimension_mismatch_is_a_constraint_error_naming_both_dimensions() {
    let db = Session::in_memory();
    db.vector_create_collection("docs", 3, "cosine").unwrap();
    let before = last_version(&db);
    let error = db.vector_upsert("docs", "a", vec![1.0, 2.0], None).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Constraint);
    assert!(error.message().contains('3') && error.message().contains('2'), "{}", error.message());
    assert_eq!(kind_of(db.vector_search("docs", &[1.0], 1)), ErrorKind::Constraint);
    assert_eq!(last_version(&db), before);
    assert!(db.vector_get("docs", "a").unwrap().is_none());
}

#[test]
fn vectors_non_finite_values_are_validation_errors() {
    let db = Session::in_memory();
    db.vector_create_collection("docs", 2, "cosine").unwrap();
    assert_eq!(kind_of(db.vector_upsert("docs", "a", vec![f32::NAN, 0.0], None)), ErrorKind::Validation);
    assert_eq!(kind_of(db.vector_upsert("docs", "a", vec![0.0, f32::INFINITY], None)), ErrorKind::Validation);
    assert!(db.vector_get("docs", "a").unwrap().is_none());
}

#[test]
fn vectors_unknown_collection_is_not_found() {
    let db = Session::in_memory();
    assert_eq!(kind_of(db.vector_upsert("nope", "a", vec![1.0], None)), ErrorKind::NotFound);
    assert_eq!(kind_of(db.vector_get("nope", "a")), ErrorKind::NotFound);
    assert_eq!(kind_of(db.vector_search("nope", &[1.0], 1)), ErrorKind::NotFound);
    assert_eq!(kind_of(db.vector_delete("nope", "a")), ErrorKind::NotFound);
    assert_eq!(kind_of(db.vector_collection_stats("nope")), ErrorKind::NotFound);
    assert_eq!(kind_of(db.vector_batch_upsert("nope", vec![("a".into(), vec![1.0], None)])), ErrorKind::NotFound);
    assert!(!db.vector_delete_collection("nope").unwrap());
    assert_eq!(last_version(&db), 0);
}

#[test]
fn vectors_create_collection_rules() {
    let db = Session::in_memory();
    db.vector_create_collection("docs", 4, "euclidean").unwrap();
    assert_eq!(kind_of(db.vector_create_collection("docs", 4, "euclidean")), ErrorKind::Conflict);
    assert_eq!(kind_of(db.vector_create_collection("other", 4, "manhattan")), ErrorKind::Validation);
    assert_eq!(kind_of(db.vector_create_collection("zero", 0, "cosine")), ErrorKind::Validation);
    let stats = db.vector_collection_stats("docs").unwrap();
    assert_eq!((stats.name.as_str(), stats.dimension, stats.metric.as_str(), stats.count), ("docs", 4, "euclidean", 0));
    let listed: Vec<String> = db.vector_list_collections().unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(listed, vec!["docs"]);
}

#[test]
fn vectors_delete_removes_from_get_search_and_stats_and_returns_whether_it_existed() {
    let db = Session::in_memory();
    db.vector_create_collection("docs", 2, "cosine").unwrap();
    db.vector_upsert("docs", "a", vec![1.0, 0.0], None).unwrap();
    db.vector_upsert("docs", "b", vec![0.0, 1.0], None).unwrap();
    assert_eq!(db.vector_collection_stats("docs").unwrap().count, 2);
    assert!(db.vector_delete("docs", "a").unwrap());
    assert!(!db.vector_delete("docs", "a").unwrap());
    assert!(!db.vector_delete("docs", "never").unwrap());
    assert!(db.vector_get("docs", "a").unwrap().is_none());
    let hits: Vec<String> = db.vector_search("docs", &[1.0, 0.0], 10).unwrap().into_iter().map(|h| h.key).collect();
    assert_eq!(hits, vec!["b"]);
    assert_eq!(db.vector_collection_stats("docs").unwrap().count, 1);
}

#[test]
fn vectors_batch_upsert_is_one_commit() {
    let db = Session::in_memory();
    db.vector_create_collection("docs", 2, "cosine").unwrap();
    let before = last_version(&db);
    let items = (0..5).map(|i| (format!("k{i}"), vec![i as f32, 1.0], None)).collect();
    let versions = db.vector_batch_upsert("docs", items).unwrap();
    assert_eq!(versions, vec![before + 1; 5]);
    assert_eq!(last_version(&db), before + 1);
    assert_eq!(db.vector_collection_stats("docs").unwrap().count, 5);
    assert_eq!(db.vector_get("docs", "k3").unwrap().unwrap().version, before + 1);
}

#[test]
fn vectors_batch_upsert_with_one_bad_item_writes_nothing() {
    let db = Session::in_memory();
    db.vector_create_collection("docs", 2, "cosine").unwrap();
    let before = last_version(&db);
    let items = vec![("good".to_owned(), vec![1.0, 0.0], None), ("bad".to_owned(), vec![1.0], None)];
    assert_eq!(kind_of(db.vector_batch_upsert("docs", items)), ErrorKind::Constraint);
    assert_eq!(last_version(&db), before);
    assert!(db.vector_get("docs", "good").unwrap().is_none());
}

#[test]
fn vectors_batch_upsert_with_a_repeated_key_keeps_the_last_item_in_one_version() {
    let db = Session::in_memory();
    db.vector_create_collection("docs", 2, "cosine").unwrap();
    let items = vec![("k".to_owned(), vec![1.0, 0.0], None), ("k".to_owned(), vec![0.0, 1.0], None)];
    let versions = db.vector_batch_upsert("docs", items).unwrap();
    let record = db.vector_get("docs", "k").unwrap().unwrap();
    assert_eq!(&*record.embedding, &[0.0, 1.0]);
    assert_eq!(record.version, versions[0]);
    assert_eq!(db.vector_collection_stats("docs").unwrap().count, 1);
}

#[test]
fn vectors_delete_collection_removes_it_and_its_vectors() {
    let db = Session::in_memory();
    db.vector_create_collection("docs", 2, "cosine").unwrap();
    db.vector_upsert("docs", "a", vec![1.0, 0.0], None).unwrap();
    assert!(db.vector_delete_collection("docs").unwrap());
    assert!(db.vector_list_collections().unwrap().is_empty());
    assert_eq!(kind_of(db.vector_get("docs", "a")), ErrorKind::NotFound);
    db.vector_create_collection("docs", 3, "cosine").unwrap();
    assert!(db.vector_get("docs", "a").unwrap().is_none(), "a re-created collection starts empty");
}

// ----- spaces -------------------------------------------------------------------------

#[test]
fn spaces_set_space_creates_on_first_use_and_switches() {
    let db = Session::in_memory();
    assert_eq!(db.current_space().unwrap(), "default");
    assert_eq!(db.list_spaces().unwrap(), vec!["default"]);
    assert!(!db.space_exists("notes").unwrap());
    db.set_space("notes").unwrap();
    assert_eq!(db.current_space().unwrap(), "notes");
    assert!(db.space_exists("notes").unwrap());
    assert_eq!(db.list_spaces().unwrap(), vec!["default", "notes"]);
    let before = last_version(&db);
    db.set_space("default").unwrap();
    db.set_space("notes").unwrap();
    assert_eq!(last_version(&db), before, "switching to an existing space commits nothing");
    db.space_create("other").unwrap();
    assert_eq!(db.current_space().unwrap(), "notes", "space_create does not switch");
    assert_eq!(db.list_spaces().unwrap(), vec!["default", "notes", "other"]);
}

#[test]
fn spaces_isolate_every_primitive() {
    let db = Session::in_memory();
    db.kv_put("k", int(1)).unwrap();
    db.state_set("c", int(1)).unwrap();
    db.event_append("e", int(1)).unwrap();
    db.json_set("d", "$", int(1)).unwrap();
    db.vector_create_collection("v", 2, "cosine").unwrap();
    db.set_space("other").unwrap();
    assert!(db.kv_get("k").unwrap().is_none());
    assert!(db.state_get("c").unwrap().is_none());
    assert_eq!(db.event_len().unwrap(), 0);
    assert!(db.json_get("d", "$").unwrap().map(|p| p.to_value()).is_none());
    assert!(db.vector_list_collections().unwrap().is_empty());
    db.kv_put("k", int(2)).unwrap();
    db.set_space("default").unwrap();
    assert_eq!(value(db.kv_get("k").unwrap()), Some(int(1)));
}

#[test]
fn spaces_delete_of_a_non_empty_space_is_a_constraint_error_and_keeps_the_data() {
    let db = Session::in_memory();
    db.set_space("notes").unwrap();
    db.kv_put("k", int(1)).unwrap();
    db.set_space("default").unwrap();
    assert_eq!(kind_of(db.delete_space("notes")), ErrorKind::Constraint);
    assert!(db.space_exists("notes").unwrap());
    db.set_space("notes").unwrap();
    assert_eq!(value(db.kv_get("k").unwrap()), Some(int(1)));
}

#[test]
fn spaces_delete_of_a_space_holding_only_an_event_or_a_collection_is_refused() {
    let db = Session::in_memory();
    db.set_space("events").unwrap();
    db.event_append("e", int(1)).unwrap();
    db.set_space("vectors").unwrap();
    db.vector_create_collection("v", 2, "cosine").unwrap();
    db.set_space("default").unwrap();
    assert_eq!(kind_of(db.delete_space("events")), ErrorKind::Constraint);
    assert_eq!(kind_of(db.delete_space("vectors")), ErrorKind::Constraint);
}

#[test]
fn spaces_delete_of_an_empty_space_succeeds() {
    let db = Session::in_memory();
    db.set_space("tmp").unwrap();
    db.kv_put("k", int(1)).unwrap();
    db.kv_delete("k").unwrap();
    db.set_space("default").unwrap();
    db.delete_space("tmp").unwrap();
    assert_eq!(db.list_spaces().unwrap(), vec!["default"]);
}

#[test]
fn spaces_delete_force_removes_the_space_with_its_data() {
    let db = Session::in_memory();
    db.set_space("notes").unwrap();
    db.kv_put("k", int(1)).unwrap();
    db.event_append("e", int(1)).unwrap();
    db.set_space("default").unwrap();
    db.delete_space_force("notes").unwrap();
    assert!(!db.space_exists("notes").unwrap());
    db.set_space("notes").unwrap();
    assert!(db.kv_get("k").unwrap().is_none(), "a re-created space starts empty");
    assert!(db.kv_history("k").unwrap().is_none());
    assert_eq!(db.event_len().unwrap(), 0);
}

#[test]
fn spaces_deleting_the_current_space_returns_the_handle_to_default() {
    let db = Session::in_memory();
    db.set_space("notes").unwrap();
    db.kv_put("k", int(1)).unwrap();
    db.delete_space_force("notes").unwrap();
    assert_eq!(db.current_space().unwrap(), "default");
}

#[test]
fn spaces_default_cannot_be_deleted() {
    let db = Session::in_memory();
    assert_eq!(kind_of(db.delete_space("default")), ErrorKind::Constraint);
    assert_eq!(kind_of(db.delete_space_force("default")), ErrorKind::Constraint);
    assert_eq!(db.list_spaces().unwrap(), vec!["default"]);
}

#[test]
fn spaces_invalid_names_are_validation_errors() {
    let db = Session::in_memory();
    assert_eq!(kind_of(db.set_space("a/b")), ErrorKind::Validation);
    assert_eq!(kind_of(db.set_space("")), ErrorKind::Validation);
    assert_eq!(db.current_space().unwrap(), "default");
}

// ----- branches -----------------------------------------------------------------------

#[test]
fn branches_default_exists_and_is_current() {
    let db = Session::in_memory();
    assert_eq!(db.current_branch().unwrap(), "default");
    assert_eq!(db.list_branches().unwrap(), vec!["default"]);
    assert!(db.branch_exists("default").unwrap());
    assert!(!db.branch_exists("other").unwrap());
}

#[test]
fn branches_create_makes_an_empty_branch_without_switching() {
    let db = Session::in_memory();
    db.kv_put("k", int(1)).unwrap();
    db.create_branch("empty").unwrap();
    assert_eq!(db.current_branch().unwrap(), "default");
    assert_eq!(db.list_branches().unwrap(), vec!["default", "empty"]);
    db.set_branch("empty").unwrap();
    assert!(db.kv_list(None).unwrap().is_empty());
    assert_eq!(db.list_spaces().unwrap(), vec!["default"]);
    assert_eq!(kind_of(db.create_branch("empty")), ErrorKind::Conflict);
    assert_eq!(kind_of(db.create_branch("default")), ErrorKind::Conflict);
}

#[test]
fn branches_fork_copies_every_primitive_in_every_space_with_history() {
    let db = Session::in_memory();
    db.kv_put("k", int(1)).unwrap();
    db.kv_put("k", int(2)).unwrap();
    db.kv_put("gone", int(0)).unwrap();
    db.kv_delete("gone").unwrap();
    db.state_set("c", text("s")).unwrap();
    db.event_append("e", int(1)).unwrap();
    db.json_set("d", "$", object(&[("a", int(1))])).unwrap();
    db.vector_create_collection("v", 2, "cosine").unwrap();
    db.vector_upsert("v", "x", vec![1.0, 0.0], Some(text("m"))).unwrap();
    db.set_space("notes").unwrap();
    db.kv_put("n", int(9)).unwrap();
    db.set_space("default").unwrap();
    let kv_history = history(db.kv_history("k").unwrap());
    let gone_history = history(db.kv_history("gone").unwrap());

    let report = db.fork_branch("copy").unwrap();
    assert_eq!((report.source.as_str(), report.destination.as_str()), ("default", "copy"));
    assert_eq!(report.keys_copied, 6, "k, c, e, d, v/x and notes/n: every live record");
    assert_eq!(db.current_branch().unwrap(), "default", "fork does not switch");

    db.set_branch("copy").unwrap();
    assert_eq!(history(db.kv_history("k").unwrap()), kv_history);
    assert_eq!(history(db.kv_history("gone").unwrap()), gone_history);
    assert!(db.kv_get("gone").unwrap().is_none());
    assert_eq!(value(db.state_get("c").unwrap()), Some(text("s")));
    assert_eq!(db.event_get(0).unwrap().unwrap().payload.to_value(), int(1));
    assert_eq!(db.json_get("d", "$.a").unwrap().map(|p| p.to_value()), Some(int(1)));
    let record = db.vector_get("v", "x").unwrap().unwrap();
    assert_eq!((&*record.embedding, record.metadata), (&[1.0f32, 0.0][..], Some(text("m"))));
    assert_eq!(db.vector_search("v", &[1.0, 0.0], 5).unwrap().len(), 1);
    assert_eq!(db.list_spaces().unwrap(), vec!["default", "notes"]);
    db.set_space("notes").unwrap();
    assert_eq!(value(db.kv_get("n").unwrap()), Some(int(9)));
}

#[test]
fn branches_fork_is_isolated_from_its_source_afterwards() {
    let db = Session::in_memory();
    db.kv_put("shared", int(0)).unwrap();
    db.vector_create_collection("v", 2, "cosine").unwrap();
    db.fork_branch("fork").unwrap();
    db.kv_put("shared", int(1)).unwrap();
    db.kv_put("only-source", int(1)).unwrap();
    db.vector_upsert("v", "s", vec![1.0, 0.0], None).unwrap();
    db.set_branch("fork").unwrap();
    assert_eq!(value(db.kv_get("shared").unwrap()), Some(int(0)));
    assert!(db.kv_get("only-source").unwrap().is_none());
    assert!(db.vector_get("v", "s").unwrap().is_none());
    assert!(db.vector_search("v", &[1.0, 0.0], 5).unwrap().is_empty());
    db.kv_put("shared", int(2)).unwrap();
    db.event_append("e", int(0)).unwrap();
    db.set_branch("default").unwrap();
    assert_eq!(value(db.kv_get("shared").unwrap()), Some(int(1)));
    assert_eq!(db.event_len().unwrap(), 0);
    assert_eq!(kind_of(db.fork_branch("fork")), ErrorKind::Conflict);
}

#[test]
fn branches_set_branch_of_an_unknown_branch_is_not_found_and_stays_put() {
    let db = Session::in_memory();
    db.set_space("s").unwrap();
    assert_eq!(kind_of(db.set_branch("nope")), ErrorKind::NotFound);
    assert_eq!(db.current_branch().unwrap(), "default");
    assert_eq!(db.current_space().unwrap(), "s");
}

#[test]
fn branches_set_branch_resets_the_current_space_to_default() {
    let db = Session::in_memory();
    db.set_space("notes").unwrap();
    db.fork_branch("b").unwrap();
    db.set_branch("b").unwrap();
    assert_eq!(db.current_space().unwrap(), "default", "even though 'notes' exists on 'b'");
    db.set_space("notes").unwrap();
    db.set_branch("default").unwrap();
    assert_eq!(db.current_space().unwrap(), "default");
}

#[test]
fn branches_delete_rules() {
    let db = Session::in_memory();
    assert_eq!(kind_of(db.delete_branch("default")), ErrorKind::Constraint);
    assert_eq!(kind_of(db.delete_branch("nope")), ErrorKind::NotFound);
    db.create_branch("b").unwrap();
    db.set_branch("b").unwrap();
    assert_eq!(kind_of(db.delete_branch("b")), ErrorKind::Constraint, "the current branch cannot be deleted");
    db.set_branch("default").unwrap();
    db.delete_branch("b").unwrap();
    assert_eq!(db.list_branches().unwrap(), vec!["default"]);
    assert!(!db.branch_exists("b").unwrap());
    assert_eq!(kind_of(db.set_branch("b")), ErrorKind::NotFound);
}

#[test]
fn branches_a_branch_re_created_after_delete_starts_empty() {
    let db = Session::in_memory();
    db.fork_branch("b").unwrap();
    db.set_branch("b").unwrap();
    db.kv_put("k", int(1)).unwrap();
    db.set_branch("default").unwrap();
    db.delete_branch("b").unwrap();
    db.create_branch("b").unwrap();
    db.set_branch("b").unwrap();
    assert!(db.kv_get("k").unwrap().is_none());
    assert!(db.kv_history("k").unwrap().is_none());
}

#[test]
fn branches_a_handle_whose_branch_was_deleted_by_another_handle_gets_not_found() {
    let db = Session::in_memory();
    let other = second_handle(&db);
    db.create_branch("b").unwrap();
    other.set_branch("b").unwrap();
    db.delete_branch("b").unwrap();
    assert_eq!(kind_of(other.kv_put("k", int(1))), ErrorKind::NotFound);
    assert_eq!(kind_of(other.kv_get("k")), ErrorKind::NotFound);
    other.set_branch("default").unwrap();
    other.kv_put("k", int(1)).unwrap();
}

#[test]
fn branches_get_describes_the_branch() {
    let db = Session::in_memory();
    assert!(db.branch_get("nope").unwrap().is_none());
    db.kv_put("k", int(1)).unwrap();
    let created = db.create_branch("plain").unwrap();
    let plain = db.branch_get("plain").unwrap().unwrap();
    assert_eq!(plain.name, "plain");
    assert_eq!(plain.created_version, created);
    assert_eq!(plain.parent, None);
    db.fork_branch("child").unwrap();
    let fork_version = last_version(&db);
    let child = db.branch_get("child").unwrap().unwrap();
    assert_eq!(child.parent.as_deref(), Some("default"));
    assert_eq!(child.created_version, fork_version);
    db.set_branch("child").unwrap();
    let write = db.kv_put("k", int(2)).unwrap();
    let child = db.branch_get("child").unwrap().unwrap();
    assert_eq!(child.updated_version, write);
    assert!(child.updated_at >= child.created_at);
    assert_eq!(
        db.branch_get("default").unwrap().unwrap().updated_version,
        1,
        "a write on one branch does not touch another"
    );
}

#[test]
fn branches_invalid_names_are_validation_errors() {
    let db = Session::in_memory();
    assert_eq!(kind_of(db.create_branch("a b")), ErrorKind::Validation);
    assert_eq!(kind_of(db.fork_branch("")), ErrorKind::Validation);
    assert_eq!(kind_of(db.set_branch("x/y")), ErrorKind::Validation);
    assert_eq!(db.list_branches().unwrap(), vec!["default"]);
}

// ----- diff ---------------------------------------------------------------------------

#[test]
fn diff_reports_added_removed_and_modified_seen_from_a_to_b() {
    let db = Session::in_memory();
    db.kv_put("same", int(0)).unwrap();
    db.kv_put("changed", int(0)).unwrap();
    db.kv_put("dropped", int(0)).unwrap();
    db.state_set("cell", int(0)).unwrap();
    db.json_set("doc", "$", object(&[("a", int(0))])).unwrap();
    db.vector_create_collection("v", 2, "cosine").unwrap();
    db.vector_upsert("v", "x", vec![1.0, 0.0], None).unwrap();
    db.event_append("e", int(0)).unwrap();
    db.fork_branch("b").unwrap();
    db.set_branch("b").unwrap();
    db.kv_put("changed", int(1)).unwrap();
    db.kv_delete("dropped").unwrap();
    db.kv_put("new", int(1)).unwrap();
    db.state_set("cell", int(1)).unwrap();
    db.json_set("doc", "$.a", int(1)).unwrap();
    db.vector_upsert("v", "y", vec![0.0, 1.0], None).unwrap();
    db.event_append("e", int(1)).unwrap();
    db.set_space("notes").unwrap();
    db.kv_put("n", int(1)).unwrap();

    let diff = db.diff_branches("default", "b").unwrap();
    assert_eq!((diff.branch_a.as_str(), diff.branch_b.as_str()), ("default", "b"));
    assert_eq!(
        entries(&diff.added),
        vec![
            entry("default", "event", "1"),
            entry("default", "kv", "new"),
            entry("default", "vector", "v/y"),
            entry("notes", "kv", "n")
        ]
    );
    assert_eq!(entries(&diff.removed), vec![entry("default", "kv", "dropped")]);
    assert_eq!(
        entries(&diff.modified),
        vec![entry("default", "json", "doc"), entry("default", "kv", "changed"), entry("default", "state", "cell")]
    );

    let reverse = db.diff_branches("b", "default").unwrap();
    assert_eq!(entries(&reverse.added), entries(&diff.removed));
    assert_eq!(entries(&reverse.removed), entries(&diff.added));
    assert_eq!(entries(&reverse.modified), entries(&diff.modified));
}

#[test]
fn diff_of_a_fresh_fork_is_empty_and_of_an_unknown_branch_is_not_found() {
    let db = Session::in_memory();
    db.kv_put("k", int(1)).unwrap();
    db.event_append("e", Value::Float(f64::NAN)).unwrap();
    db.fork_branch("b").unwrap();
    let diff = db.diff_branches("default", "b").unwrap();
    assert!(diff.added.is_empty() && diff.removed.is_empty() && diff.modified.is_empty(), "{diff:?}");
    assert_eq!(kind_of(db.diff_branches("default", "nope")), ErrorKind::NotFound);
    assert_eq!(kind_of(db.diff_branches("nope", "default")), ErrorKind::NotFound);
}

#[test]
fn diff_ignores_writes_that_leave_the_same_value() {
    let db = Session::in_memory();
    db.kv_put("k", int(1)).unwrap();
    db.fork_branch("b").unwrap();
    db.set_branch("b").unwrap();
    db.kv_put("k", int(1)).unwrap();
    let diff = db.diff_branches("default", "b").unwrap();
    assert!(diff.modified.is_empty(), "{diff:?}");
}

// ----- merge --------------------------------------------------------------------------

/// A database with `k` = 0 on default, forked to `feature`; the handle is on `default`.
fn forked() -> Session {
    let db = Session::in_memory();
    db.kv_put("k", int(0)).unwrap();
    db.kv_put("other", int(0)).unwrap();
    db.fork_branch("feature").unwrap();
    db
}

fn on_branch<T>(db: &Session, branch: &str, work: impl FnOnce() -> T) -> T {
    let back = db.current_branch().unwrap();
    db.set_branch(branch).unwrap();
    let out = work();
    db.set_branch(&back).unwrap();
    out
}

#[test]
fn merge_applies_changes_made_only_in_the_source() {
    let db = forked();
    on_branch(&db, "feature", || {
        db.kv_put("k", int(1)).unwrap();
        db.kv_put("new", int(1)).unwrap();
        db.state_set("cell", int(1)).unwrap();
        db.json_set("doc", "$", object(&[("a", int(1))])).unwrap();
        db.vector_create_collection("v", 2, "cosine").unwrap();
        db.vector_upsert("v", "x", vec![1.0, 0.0], None).unwrap();
        db.set_space("notes").unwrap();
        db.kv_put("n", int(1)).unwrap();
    });
    let report = db.merge_branches("feature", "last_writer_wins").unwrap();
    assert!(report.conflicts.is_empty(), "{report:?}");
    assert_eq!(value(db.kv_get("k").unwrap()), Some(int(1)));
    assert_eq!(value(db.kv_get("new").unwrap()), Some(int(1)));
    assert_eq!(value(db.kv_get("other").unwrap()), Some(int(0)));
    assert_eq!(value(db.state_get("cell").unwrap()), Some(int(1)));
    assert_eq!(db.json_get("doc", "$.a").unwrap().map(|p| p.to_value()), Some(int(1)));
    assert_eq!(&*db.vector_get("v", "x").unwrap().unwrap().embedding, &[1.0, 0.0]);
    assert_eq!(db.vector_search("v", &[1.0, 0.0], 3).unwrap().len(), 1);
    db.set_space("notes").unwrap();
    assert_eq!(value(db.kv_get("n").unwrap()), Some(int(1)));
    assert_eq!(report.spaces_merged, 2);
}

#[test]
fn merge_keeps_changes_made_only_in_the_target() {
    let db = forked();
    db.kv_put("k", int(5)).unwrap();
    on_branch(&db, "feature", || db.kv_put("unrelated", int(1)).unwrap());
    let report = db.merge_branches("feature", "strict").unwrap();
    assert!(report.conflicts.is_empty());
    assert_eq!(value(db.kv_get("k").unwrap()), Some(int(5)), "unchanged in the source: the target's value stays");
    assert_eq!(value(db.kv_get("unrelated").unwrap()), Some(int(1)));
}

#[test]
fn merge_reports_a_key_changed_on_both_sides_as_a_conflict() {
    let db = forked();
    db.state_set("cell", int(0)).unwrap();
    on_branch(&db, "feature", || {
        db.kv_put("k", int(1)).unwrap();
        db.kv_put("other", int(7)).unwrap();
    });
    db.kv_put("k", int(2)).unwrap();
    db.kv_put("other", int(7)).unwrap();
    let report = db.merge_branches("feature", "last_writer_wins").unwrap();
    assert_eq!(
        entries(&report.conflicts),
        vec![entry("default", "kv", "k")],
        "the same new value on both sides is no conflict"
    );
}

#[test]
fn merge_last_writer_wins_takes_the_source_when_its_commit_is_later() {
    let db = forked();
    db.kv_put("k", int(1)).unwrap();
    on_branch(&db, "feature", || db.kv_put("k", int(2)).unwrap());
    let report = db.merge_branches("feature", "last_writer_wins").unwrap();
    assert_eq!(entries(&report.conflicts), vec![entry("default", "kv", "k")], "the conflict is still reported");
    assert_eq!(value(db.kv_get("k").unwrap()), Some(int(2)));
}

#[test]
fn merge_last_writer_wins_keeps_the_target_when_its_commit_is_later() {
    let db = forked();
    on_branch(&db, "feature", || db.kv_put("k", int(2)).unwrap());
    db.kv_put("k", int(1)).unwrap();
    let report = db.merge_branches("feature", "last_writer_wins").unwrap();
    assert_eq!(entries(&report.conflicts), vec![entry("default", "kv", "k")]);
    assert_eq!(value(db.kv_get("k").unwrap()), Some(int(1)));
}

#[test]
fn merge_strict_fails_on_a_conflict_and_applies_nothing() {
    let db = forked();
    db.kv_put("k", int(1)).unwrap();
    on_branch(&db, "feature", || {
        db.kv_put("k", int(2)).unwrap();
        db.kv_put("clean", int(3)).unwrap();
        db.event_append("e", int(3)).unwrap();
    });
    let before = last_version(&db);
    let error = db.merge_branches("feature", "strict").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Conflict);
    assert!(error.message().contains("default:kv:k"), "the error lists the conflicts: {}", error.message());
    assert_eq!(last_version(&db), before);
    assert_eq!(value(db.kv_get("k").unwrap()), Some(int(1)));
    assert!(db.kv_get("clean").unwrap().is_none(), "not even the clean change is applied");
    assert_eq!(db.event_len().unwrap(), 0);
    // Resolving the conflict by hand lets the strict merge through.
    db.kv_put("k", int(2)).unwrap();
    let report = db.merge_branches("feature", "strict").unwrap();
    assert!(report.conflicts.is_empty());
    assert_eq!(value(db.kv_get("clean").unwrap()), Some(int(3)));
}

#[test]
fn merge_propagates_deletes() {
    let db = forked();
    db.state_set("cell", int(0)).unwrap();
    db.json_set("doc", "$", int(0)).unwrap();
    db.vector_create_collection("v", 2, "cosine").unwrap();
    db.vector_upsert("v", "x", vec![1.0, 0.0], None).unwrap();
    db.delete_branch("feature").unwrap();
    db.fork_branch("feature").unwrap();
    on_branch(&db, "feature", || {
        assert!(db.kv_delete("k").unwrap());
        assert!(db.state_delete("cell").unwrap());
        assert!(db.json_delete("doc", "$").unwrap() > 0);
        assert!(db.vector_delete("v", "x").unwrap());
    });
    let report = db.merge_branches("feature", "strict").unwrap();
    assert!(report.conflicts.is_empty());
    assert!(db.kv_get("k").unwrap().is_none());
    assert!(db.state_get("cell").unwrap().is_none());
    assert!(db.json_get("doc", "$").unwrap().map(|p| p.to_value()).is_none());
    assert!(db.vector_get("v", "x").unwrap().is_none());
    assert!(db.vector_search("v", &[1.0, 0.0], 3).unwrap().is_empty());
    assert_eq!(keys(&db), vec!["other"]);
}

#[test]
fn merge_of_a_delete_against_a_target_change_is_a_conflict() {
    let db = forked();
    on_branch(&db, "feature", || db.kv_delete("k").unwrap());
    db.kv_put("k", int(1)).unwrap();
    let error = db.merge_branches("feature", "strict").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Conflict);
    assert_eq!(value(db.kv_get("k").unwrap()), Some(int(1)));
}

#[test]
fn merge_is_one_version() {
    let db = forked();
    on_branch(&db, "feature", || {
        for i in 0..5 {
            db.kv_put(&format!("k{i}"), int(i)).unwrap();
            db.event_append("e", int(i)).unwrap();
        }
    });
    let before = last_version(&db);
    let report = db.merge_branches("feature", "last_writer_wins").unwrap();
    assert_eq!(report.keys_applied, 10);
    assert_eq!(last_version(&db), before + 1);
    assert_eq!(db.kv_get("k3").unwrap().unwrap().version(), before + 1);
    assert_eq!(db.event_get(4).unwrap().unwrap().version, before + 1);
}

#[test]
fn merge_appends_source_events_after_the_targets_own() {
    let db = forked();
    db.event_append("e", text("target")).unwrap();
    on_branch(&db, "feature", || {
        db.event_append("e", text("source-1")).unwrap();
        db.event_append("e", text("source-2")).unwrap();
    });
    let report = db.merge_branches("feature", "strict").unwrap();
    assert!(report.conflicts.is_empty(), "events never conflict");
    let payloads: Vec<Value> = db.event_list("e").unwrap().iter().map(|e| e.payload.to_value()).collect();
    assert_eq!(payloads, vec![text("target"), text("source-1"), text("source-2")]);
    let sequences: Vec<u64> = db.event_list("e").unwrap().iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, vec![0, 1, 2], "sequences stay dense");
}

#[test]
fn merge_twice_in_a_row_applies_nothing_the_second_time() {
    let db = forked();
    on_branch(&db, "feature", || {
        db.kv_put("k", int(1)).unwrap();
        db.event_append("e", int(1)).unwrap();
    });
    db.merge_branches("feature", "strict").unwrap();
    let again = db.merge_branches("feature", "strict").unwrap();
    assert_eq!(again.keys_applied, 0);
    assert!(again.conflicts.is_empty());
    assert_eq!(db.event_len().unwrap(), 1);
}

#[test]
fn merge_back_and_forth_never_duplicates_events() {
    let db = Session::in_memory();
    db.event_append("e", text("base")).unwrap();
    db.fork_branch("feature").unwrap();
    on_branch(&db, "feature", || db.event_append("e", text("from-feature")).unwrap());
    db.event_append("e", text("from-default")).unwrap();

    db.merge_branches("feature", "strict").unwrap();
    on_branch(&db, "feature", || db.merge_branches("default", "strict").unwrap());
    db.merge_branches("feature", "strict").unwrap();
    on_branch(&db, "feature", || db.merge_branches("default", "strict").unwrap());

    let payloads =
        |db: &Session| -> Vec<Value> { db.event_list("e").unwrap().iter().map(|e| e.payload.to_value()).collect() };
    let mut on_default = payloads(&db);
    let mut on_feature = on_branch(&db, "feature", || payloads(&db));
    assert_eq!(on_default.len(), 3, "default: {on_default:?}");
    assert_eq!(on_feature.len(), 3, "feature: {on_feature:?}");
    let sort = |v: &mut Vec<Value>| v.sort_by_key(|p| format!("{p:?}"));
    sort(&mut on_default);
    sort(&mut on_feature);
    assert_eq!(on_default, on_feature);
}

#[test]
fn merge_back_after_a_merge_does_not_report_the_sources_own_change_as_a_conflict() {
    // Only `feature` ever writes `k`. `default` takes it in, then `feature` changes it
    // again and syncs with `default`: nothing changed on `default` that `feature` has
    // not already got, so there is nothing to conflict with.
    let db = forked();
    on_branch(&db, "feature", || db.kv_put("k", int(1)).unwrap());
    db.merge_branches("feature", "strict").unwrap();
    db.kv_put("unrelated", int(1)).unwrap();
    on_branch(&db, "feature", || {
        db.kv_put("k", int(2)).unwrap();
        let report = db.merge_branches("default", "strict").unwrap();
        assert!(report.conflicts.is_empty(), "{report:?}");
        assert_eq!(value(db.kv_get("k").unwrap()), Some(int(2)));
        assert_eq!(value(db.kv_get("unrelated").unwrap()), Some(int(1)));
    });
}

#[test]
fn merge_between_sibling_branches_is_three_way_against_their_common_fork_point() {
    // Two experiments forked from default; "a" changes k, "b" adds its own key. Merging
    // "b" into "a" should bring b's key and leave k alone: b never changed k.
    let db = forked();
    db.fork_branch("a").unwrap();
    db.fork_branch("b").unwrap();
    on_branch(&db, "b", || db.kv_put("from-b", int(1)).unwrap());
    db.set_branch("a").unwrap();
    db.kv_put("k", int(1)).unwrap();
    let report = db.merge_branches("b", "strict").unwrap();
    assert!(report.conflicts.is_empty(), "{report:?}");
    assert_eq!(value(db.kv_get("k").unwrap()), Some(int(1)));
    assert_eq!(value(db.kv_get("from-b").unwrap()), Some(int(1)));
}

#[test]
fn merge_back_after_a_merged_delete_does_not_report_it_as_a_conflict() {
    // The delete analog of the test above: `feature` deletes `k`, `default` takes the
    // delete in, then `feature` writes `k` again and syncs with `default`. The delete
    // `default` holds came from `feature`; `default` never changed `k` itself.
    let db = forked();
    on_branch(&db, "feature", || assert!(db.kv_delete("k").unwrap()));
    db.merge_branches("feature", "strict").unwrap();
    db.kv_put("unrelated", int(1)).unwrap();
    on_branch(&db, "feature", || {
        db.kv_put("k", int(2)).unwrap();
        let report = db.merge_branches("default", "strict").unwrap();
        assert!(report.conflicts.is_empty(), "{report:?}");
        assert_eq!(value(db.kv_get("k").unwrap()), Some(int(2)));
        assert_eq!(value(db.kv_get("unrelated").unwrap()), Some(int(1)));
    });
}

#[test]
fn merge_of_a_fork_of_a_forked_branch_is_three_way_against_that_fork() {
    // `experiment` is itself a fork; it forks `attempt`, then drops a collection and a
    // space. `attempt` never touches either: merging it back must not bring them back,
    // and, as `attempt` has changed nothing since the fork, must not even commit.
    let db = Session::in_memory();
    db.fork_branch("experiment").unwrap();
    db.set_branch("experiment").unwrap();
    db.vector_create_collection("v", 2, "cosine").unwrap();
    db.vector_upsert("v", "x", vec![1.0, 0.0], None).unwrap();
    db.set_space("scratch").unwrap();
    db.kv_put("k", int(1)).unwrap();
    db.set_space("default").unwrap();
    db.fork_branch("attempt").unwrap();
    assert!(db.vector_delete_collection("v").unwrap());
    db.delete_space_force("scratch").unwrap();
    let before = last_version(&db);
    let report = db.merge_branches("attempt", "strict").unwrap();
    assert_eq!(report.keys_applied, 0, "{report:?}");
    assert!(db.vector_list_collections().unwrap().is_empty(), "the deleted collection came back");
    assert!(!db.space_exists("scratch").unwrap(), "the deleted space came back");
    assert_eq!(last_version(&db), before, "nothing to merge, no commit");
}

#[test]
fn merge_copies_spaces_and_collections_new_in_the_source() {
    let db = forked();
    on_branch(&db, "feature", || {
        db.set_space("fresh").unwrap();
        db.vector_create_collection("v", 3, "euclidean").unwrap();
    });
    db.merge_branches("feature", "strict").unwrap();
    assert!(db.space_exists("fresh").unwrap());
    db.set_space("fresh").unwrap();
    let stats = db.vector_collection_stats("v").unwrap();
    assert_eq!((stats.dimension, stats.metric.as_str()), (3, "euclidean"));
}

#[test]
fn merge_of_a_deleted_key_the_source_never_changed_keeps_the_delete() {
    let db = forked();
    db.kv_delete("k").unwrap();
    on_branch(&db, "feature", || db.kv_put("unrelated", int(1)).unwrap());
    db.merge_branches("feature", "strict").unwrap();
    assert!(db.kv_get("k").unwrap().is_none(), "the source's old value does not come back");
}

#[test]
fn merge_argument_errors() {
    let db = forked();
    assert_eq!(kind_of(db.merge_branches("default", "strict")), ErrorKind::Constraint, "into itself");
    assert_eq!(kind_of(db.merge_branches("nope", "strict")), ErrorKind::NotFound);
    assert_eq!(kind_of(db.merge_branches("feature", "ours")), ErrorKind::Validation);
}

// ----- transactions -------------------------------------------------------------------

#[test]
fn transaction_reads_its_own_writes() {
    let db = Session::in_memory();
    db.kv_put("k", int(0)).unwrap();
    db.vector_create_collection("v", 2, "cosine").unwrap();
    db.begin(false).unwrap();
    assert!(db.txn_is_active().unwrap());
    db.kv_put("k", int(1)).unwrap();
    db.state_set("c", int(1)).unwrap();
    db.event_append("e", int(1)).unwrap();
    db.json_set("d", "$.a", int(1)).unwrap();
    db.vector_upsert("v", "x", vec![1.0, 0.0], None).unwrap();
    db.set_space("s").unwrap();
    db.kv_put("in-s", int(1)).unwrap();
    db.set_space("default").unwrap();
    assert_eq!(value(db.kv_get("k").unwrap()), Some(int(1)));
    assert_eq!(value(db.state_get("c").unwrap()), Some(int(1)));
    assert_eq!(db.event_len().unwrap(), 1);
    assert_eq!(db.json_get("d", "$.a").unwrap().map(|p| p.to_value()), Some(int(1)));
    assert!(db.vector_get("v", "x").unwrap().is_some());
    assert_eq!(db.vector_search("v", &[1.0, 0.0], 1).unwrap().len(), 1);
    assert_eq!(db.list_spaces().unwrap(), vec!["default", "s"]);
    assert!(db.kv_delete("k").unwrap());
    assert!(db.kv_get("k").unwrap().is_none());
    db.commit().unwrap();
    assert!(!db.txn_is_active().unwrap());
}

#[test]
fn transaction_writes_are_invisible_to_another_handle_until_commit() {
    let db = Session::in_memory();
    let other = second_handle(&db);
    db.begin(false).unwrap();
    db.kv_put("k", int(1)).unwrap();
    db.event_append("e", int(1)).unwrap();
    db.set_space("s").unwrap();
    assert!(other.kv_get("k").unwrap().is_none());
    assert_eq!(other.event_len().unwrap(), 0);
    assert_eq!(other.list_spaces().unwrap(), vec!["default"]);
    assert_eq!(last_version(&other), 0);
    db.commit().unwrap();
    assert_eq!(value(other.kv_get("k").unwrap()), Some(int(1)));
    assert_eq!(other.event_len().unwrap(), 1);
    assert_eq!(other.list_spaces().unwrap(), vec!["default", "s"]);
}

#[test]
fn transaction_reads_a_snapshot_taken_at_begin() {
    let db = Session::in_memory();
    let other = second_handle(&db);
    db.kv_put("k", int(0)).unwrap();
    db.begin(false).unwrap();
    other.kv_put("k", int(1)).unwrap();
    other.kv_put("new", int(1)).unwrap();
    assert_eq!(value(db.kv_get("k").unwrap()), Some(int(0)));
    assert!(db.kv_get("new").unwrap().is_none());
    assert_eq!(keys(&db), vec!["k"]);
    db.rollback().unwrap();
    assert_eq!(value(db.kv_get("k").unwrap()), Some(int(1)));
}

#[test]
fn transaction_commit_is_one_version_and_makes_every_write_visible() {
    let db = Session::in_memory();
    let other = second_handle(&db);
    db.begin(false).unwrap();
    for i in 0..4 {
        db.kv_put(&format!("k{i}"), int(i)).unwrap();
    }
    let version = db.commit().unwrap();
    assert_eq!(version, 1);
    for i in 0..4 {
        let head = other.kv_get(&format!("k{i}")).unwrap().unwrap();
        assert_eq!((head.value().map(Packed::to_value), head.version()), (Some(int(i)), 1));
    }
}

#[test]
fn transaction_rollback_discards_every_write() {
    let db = Session::in_memory();
    db.kv_put("k", int(0)).unwrap();
    db.vector_create_collection("v", 2, "cosine").unwrap();
    let before = last_version(&db);
    db.begin(false).unwrap();
    db.kv_put("k", int(1)).unwrap();
    db.kv_put("new", int(1)).unwrap();
    db.state_set("c", int(1)).unwrap();
    db.event_append("e", int(1)).unwrap();
    db.json_set("d", "$", int(1)).unwrap();
    db.vector_upsert("v", "x", vec![1.0, 0.0], None).unwrap();
    db.space_create("s").unwrap();
    db.rollback().unwrap();
    assert!(!db.txn_is_active().unwrap());
    assert_eq!(last_version(&db), before);
    assert_eq!(value(db.kv_get("k").unwrap()), Some(int(0)));
    assert_eq!(history(db.kv_history("k").unwrap()).len(), 1);
    assert!(db.kv_get("new").unwrap().is_none());
    assert!(db.state_get("c").unwrap().is_none());
    assert_eq!(db.event_len().unwrap(), 0);
    assert!(db.json_get("d", "$").unwrap().map(|p| p.to_value()).is_none());
    assert!(db.vector_get("v", "x").unwrap().is_none());
    assert_eq!(db.list_spaces().unwrap(), vec!["default"]);
}

#[test]
fn transaction_conflicts_when_another_handle_commits_a_key_it_read() {
    let db = Session::in_memory();
    let other = second_handle(&db);
    db.kv_put("balance", int(100)).unwrap();
    db.begin(false).unwrap();
    let Some(Value::Int(balance)) = value(db.kv_get("balance").unwrap()) else { panic!() };
    db.kv_put("audit", int(balance)).unwrap();
    other.kv_put("balance", int(50)).unwrap();
    let before = last_version(&db);
    let error = db.commit().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Conflict);
    assert!(error.message().contains("balance"), "the error names the record: {}", error.message());
    assert!(!db.txn_is_active().unwrap(), "a failed commit ends the transaction");
    assert_eq!(last_version(&db), before, "nothing applied");
    assert!(db.kv_get("audit").unwrap().is_none());
}

#[test]
fn transaction_conflicts_when_another_handle_commits_a_key_it_wrote() {
    let db = Session::in_memory();
    let other = second_handle(&db);
    db.begin(false).unwrap();
    db.kv_put("k", int(1)).unwrap();
    db.state_set("c", int(1)).unwrap();
    other.kv_put("k", int(2)).unwrap();
    assert_eq!(kind_of(db.commit()), ErrorKind::Conflict);
    assert_eq!(value(db.kv_get("k").unwrap()), Some(int(2)));
    assert!(db.state_get("c").unwrap().is_none(), "nothing of the transaction is applied");
}

#[test]
fn transaction_conflicts_on_each_primitive_it_touched() {
    type Step = fn(&Session);
    let cases: Vec<(&str, Step, Step)> = vec![
        (
            "state cell read",
            |s| {
                s.state_get("c").unwrap();
            },
            |o| {
                o.state_set("c", int(1)).unwrap();
            },
        ),
        (
            "failed cas",
            |s| assert!(s.state_cas("c", int(1), Some(999)).unwrap().is_none()),
            |o| {
                o.state_set("c", int(1)).unwrap();
            },
        ),
        (
            "event log",
            |s| {
                s.event_append("e", int(1)).unwrap();
            },
            |o| {
                o.event_append("e", int(2)).unwrap();
            },
        ),
        (
            "document",
            |s| {
                s.json_set("d", "$.a", int(1)).unwrap();
            },
            |o| {
                o.json_set("d", "$", int(2)).unwrap();
            },
        ),
        (
            "vector",
            |s| {
                s.vector_get("v", "x").unwrap();
            },
            |o| {
                o.vector_upsert("v", "x", vec![1.0, 0.0], None).unwrap();
            },
        ),
        ("space", |s| s.set_space("s").unwrap(), |o| o.space_create("s").unwrap()),
    ];
    for (name, in_transaction, concurrently) in cases {
        let db = Session::in_memory();
        let other = second_handle(&db);
        db.vector_create_collection("v", 2, "cosine").unwrap();
        db.begin(false).unwrap();
        in_transaction(&db);
        db.kv_put("marker", int(1)).unwrap();
        concurrently(&other);
        assert_eq!(kind_of(db.commit()), ErrorKind::Conflict, "{name}");
        assert!(other.kv_get("marker").unwrap().is_none(), "{name}");
    }
}

#[test]
fn transaction_writes_that_change_nothing_count_as_reads_for_the_conflict_check() {
    type Step = fn(&Session);
    let cases: Vec<(&str, Step, Step)> = vec![
        (
            "kv_delete of a missing key",
            |s| assert!(!s.kv_delete("k").unwrap()),
            |o| {
                o.kv_put("k", int(1)).unwrap();
            },
        ),
        (
            "state_init of an existing cell",
            |s| assert_eq!(s.state_init("c", int(5)).unwrap(), 1),
            |o| {
                o.state_set("c", int(2)).unwrap();
            },
        ),
        (
            "state_cas mismatch",
            |s| assert!(s.state_cas("c", int(5), None).unwrap().is_none()),
            |o| {
                o.state_delete("c").unwrap();
            },
        ),
        (
            "json_delete of nothing",
            |s| assert_eq!(s.json_delete("d", "$.zzz").unwrap(), 0),
            |o| {
                o.json_set("d", "$.zzz", int(1)).unwrap();
            },
        ),
    ];
    for (name, in_transaction, concurrently) in cases {
        let db = Session::in_memory();
        let other = second_handle(&db);
        db.state_set("c", int(1)).unwrap();
        db.json_set("d", "$", object(&[])).unwrap();
        db.begin(false).unwrap();
        in_transaction(&db);
        db.kv_put("marker", int(1)).unwrap();
        concurrently(&other);
        assert_eq!(kind_of(db.commit()), ErrorKind::Conflict, "{name}");
        assert!(other.kv_get("marker").unwrap().is_none(), "{name}");
    }
}

#[test]
fn transaction_conflicts_when_another_handle_adds_a_key_to_a_listing_it_read() {
    let db = Session::in_memory();
    let other = second_handle(&db);
    db.kv_put("task:1", text("todo")).unwrap();
    db.begin(false).unwrap();
    let open_tasks = db.kv_list(Some("task:")).unwrap().len() as i64;
    db.kv_put("task-count", int(open_tasks)).unwrap();
    other.kv_put("task:2", text("todo")).unwrap();
    // The count the transaction wrote is stale: the listing it read has changed.
    assert_eq!(kind_of(db.commit()), ErrorKind::Conflict);
    assert!(db.kv_get("task-count").unwrap().is_none());
}

#[test]
fn transaction_conflicts_when_another_handle_changes_a_collection_it_searched() {
    let db = Session::in_memory();
    let other = second_handle(&db);
    db.vector_create_collection("v", 2, "cosine").unwrap();
    db.vector_upsert("v", "far", vec![0.0, 1.0], None).unwrap();
    db.begin(false).unwrap();
    let best = db.vector_search("v", &[1.0, 0.0], 1).unwrap()[0].key.clone();
    db.kv_put("best", text(&best)).unwrap();
    other.vector_upsert("v", "near", vec![1.0, 0.0], None).unwrap();
    assert_eq!(kind_of(db.commit()), ErrorKind::Conflict, "the search result the transaction used is stale");
    assert!(db.kv_get("best").unwrap().is_none());
}

#[test]
fn transaction_without_writes_still_conflicts_when_a_key_it_read_was_committed_by_another_handle() {
    let db = Session::in_memory();
    let other = second_handle(&db);
    db.kv_put("k", int(0)).unwrap();
    db.begin(false).unwrap();
    assert_eq!(value(db.kv_get("k").unwrap()), Some(int(0)));
    other.kv_put("k", int(1)).unwrap();
    assert_eq!(
        kind_of(db.commit()),
        ErrorKind::Conflict,
        "the spec: commit raises if anything the transaction read was committed since begin"
    );
}

#[test]
fn transaction_delete_space_conflicts_when_another_handle_writes_into_that_space() {
    let db = Session::in_memory();
    let other = second_handle(&db);
    db.space_create("scratch").unwrap();
    db.begin(false).unwrap();
    db.delete_space("scratch").unwrap(); // empty in the transaction's snapshot
    other.set_space("scratch").unwrap();
    other.kv_put("k", int(1)).unwrap();
    // Committing would delete a space that is no longer empty, and the other handle's
    // committed write with it.
    assert_eq!(kind_of(db.commit()), ErrorKind::Conflict);
    assert_eq!(value(other.kv_get("k").unwrap()), Some(int(1)));
}

#[test]
fn transaction_delete_collection_conflicts_when_another_handle_upserts_into_it() {
    let db = Session::in_memory();
    let other = second_handle(&db);
    db.vector_create_collection("v", 2, "cosine").unwrap();
    db.begin(false).unwrap();
    assert!(db.vector_delete_collection("v").unwrap());
    other.vector_upsert("v", "x", vec![1.0, 0.0], None).unwrap();
    assert_eq!(kind_of(db.commit()), ErrorKind::Conflict, "the delete would drop a vector the transaction never saw");
    assert!(other.vector_get("v", "x").unwrap().is_some());
}

/// A case of the tests below: its name, what the transaction does, what another handle
/// then does.
type ReadCase = (&'static str, fn(&Session), fn(&Session));

/// Runs each case on a fresh database prepared by `setup`: inside a transaction the
/// case's first step reads something (and the transaction writes a marker), another
/// handle changes what was read, and the commit must conflict and apply nothing. Returns
/// the names of the cases where it did not.
fn cases_that_commit_despite_a_changed_read(setup: fn(&Session), cases: Vec<ReadCase>) -> Vec<&'static str> {
    let mut committed = Vec::new();
    for (name, in_transaction, concurrently) in cases {
        let db = Session::in_memory();
        let other = second_handle(&db);
        setup(&db);
        db.begin(false).unwrap();
        in_transaction(&db);
        db.kv_put("marker", int(1)).unwrap();
        concurrently(&other);
        let result = db.commit();
        if result.is_ok() || other.kv_get("marker").unwrap().is_some() {
            committed.push(name);
        } else {
            assert_eq!(kind_of(result), ErrorKind::Conflict, "{name}");
        }
    }
    committed
}

#[test]
fn transaction_reads_of_missing_records_count_for_the_conflict_check() {
    // Like `kv_delete` of a missing key (above): finding nothing is a read of the
    // record's absence.
    type Step = fn(&Session);
    let cases: Vec<ReadCase> = vec![
        (
            "state_delete of a missing cell",
            |s| assert!(!s.state_delete("c").unwrap()),
            |o| {
                o.state_set("c", int(1)).unwrap();
            },
        ),
        (
            "vector_delete of a missing vector",
            |s| assert!(!s.vector_delete("v", "x").unwrap()),
            |o| {
                o.vector_upsert("v", "x", vec![1.0, 0.0], None).unwrap();
            },
        ),
        (
            "vector_delete_collection of a missing collection",
            |s| assert!(!s.vector_delete_collection("w").unwrap()),
            |o| {
                o.vector_create_collection("w", 2, "cosine").unwrap();
            },
        ),
        (
            "delete_space of a missing space",
            |s| s.delete_space("scratch").unwrap(),
            |o| {
                o.set_space("scratch").unwrap();
                o.kv_put("k", int(1)).unwrap();
            },
        ),
        (
            "vector_get in a missing collection",
            |s| assert_eq!(kind_of(s.vector_get("w", "x")), ErrorKind::NotFound),
            |o| {
                o.vector_create_collection("w", 2, "cosine").unwrap();
            },
        ),
    ];
    let setup: Step = |db| {
        db.vector_create_collection("v", 2, "cosine").unwrap();
    };
    let committed = cases_that_commit_despite_a_changed_read(setup, cases);
    assert!(committed.is_empty(), "committed although what they found missing was created since begin: {committed:?}");
}

#[test]
fn transaction_writes_that_fail_on_what_they_read_count_as_reads() {
    // A write that fails told the transaction something about the state (the collection
    // is missing, the document is not an object, the space is not empty).
    type Step = fn(&Session);
    let cases: Vec<ReadCase> = vec![
        (
            "vector_upsert into a missing collection",
            |s| assert_eq!(kind_of(s.vector_upsert("w", "x", vec![1.0, 0.0], None)), ErrorKind::NotFound),
            |o| {
                o.vector_create_collection("w", 2, "cosine").unwrap();
            },
        ),
        (
            "vector_delete in a missing collection",
            |s| assert_eq!(kind_of(s.vector_delete("w", "x")), ErrorKind::NotFound),
            |o| {
                o.vector_create_collection("w", 2, "cosine").unwrap();
            },
        ),
        (
            "vector_create_collection of an existing collection",
            |s| assert_eq!(kind_of(s.vector_create_collection("v", 2, "cosine")), ErrorKind::Conflict),
            |o| {
                o.vector_delete_collection("v").unwrap();
            },
        ),
        (
            "json_set below a document that is not an object",
            |s| assert_eq!(kind_of(s.json_set("d", "$.a", int(1))), ErrorKind::Constraint),
            |o| {
                o.json_set("d", "$", object(&[])).unwrap();
            },
        ),
        (
            "delete_space of a space that is not empty",
            |s| assert_eq!(kind_of(s.delete_space("full")), ErrorKind::Constraint),
            |o| {
                o.set_space("full").unwrap();
                o.kv_delete("k").unwrap();
            },
        ),
    ];
    let setup: Step = |db| {
        db.vector_create_collection("v", 2, "cosine").unwrap();
        db.json_set("d", "$", int(0)).unwrap();
        db.set_space("full").unwrap();
        db.kv_put("k", int(1)).unwrap();
        db.set_space("default").unwrap();
    };
    let committed = cases_that_commit_despite_a_changed_read(setup, cases);
    assert!(committed.is_empty(), "committed although what made them fail changed since begin: {committed:?}");
}

#[test]
fn transaction_reads_of_spaces_count_for_the_conflict_check() {
    type Step = fn(&Session);
    let cases: Vec<ReadCase> = vec![
        (
            "list_spaces",
            |s| assert_eq!(s.list_spaces().unwrap(), vec!["default", "kept"]),
            |o| o.space_create("new").unwrap(),
        ),
        ("space_exists", |s| assert!(!s.space_exists("new").unwrap()), |o| o.space_create("new").unwrap()),
        (
            "set_space of an existing space",
            |s| {
                s.set_space("kept").unwrap();
                s.set_space("default").unwrap();
            },
            |o| o.delete_space("kept").unwrap(),
        ),
    ];
    let setup: Step = |db| db.space_create("kept").unwrap();
    let committed = cases_that_commit_despite_a_changed_read(setup, cases);
    assert!(committed.is_empty(), "committed although the spaces they saw changed since begin: {committed:?}");
}

#[test]
fn transaction_commits_when_another_handle_writes_records_it_never_touched() {
    let db = Session::in_memory();
    let other = second_handle(&db);
    db.kv_put("mine", int(0)).unwrap();
    db.begin(false).unwrap();
    db.kv_get("mine").unwrap();
    db.kv_put("mine", int(1)).unwrap();
    other.kv_put("theirs", int(1)).unwrap();
    other.set_space("elsewhere").unwrap();
    other.kv_put("mine", int(9)).unwrap();
    other.create_branch("b").unwrap();
    let version = db.commit().unwrap();
    assert_eq!(version, last_version(&db));
    assert_eq!(value(db.kv_get("mine").unwrap()), Some(int(1)));
    assert_eq!(value(db.kv_get("theirs").unwrap()), Some(int(1)));
}

#[test]
fn transaction_writing_a_key_twice_commits_one_version_holding_the_last_value() {
    let db = Session::in_memory();
    db.kv_put("k", int(0)).unwrap();
    db.begin(false).unwrap();
    db.kv_put("k", int(1)).unwrap();
    db.kv_put("k", int(2)).unwrap();
    let version = db.commit().unwrap();
    assert_eq!(value(db.kv_get("k").unwrap()), Some(int(2)));
    let versions: Vec<u64> = history(db.kv_history("k").unwrap()).into_iter().map(|(_, v)| v).collect();
    assert_eq!(versions, vec![version, 1], "one history entry per version, newest first");
}

#[test]
fn transaction_put_then_delete_of_a_key_commits_the_delete() {
    let db = Session::in_memory();
    db.begin(false).unwrap();
    db.state_set("c", int(1)).unwrap();
    assert!(db.state_delete("c").unwrap());
    db.commit().unwrap();
    assert!(db.state_get("c").unwrap().is_none());
}

#[test]
fn transaction_begin_twice_is_a_state_error_and_keeps_the_first() {
    let db = Session::in_memory();
    db.begin(false).unwrap();
    db.kv_put("k", int(1)).unwrap();
    assert_eq!(kind_of(db.begin(false)), ErrorKind::State);
    assert_eq!(value(db.kv_get("k").unwrap()), Some(int(1)), "the first transaction goes on");
    db.commit().unwrap();
    assert_eq!(value(db.kv_get("k").unwrap()), Some(int(1)));
}

#[test]
fn transaction_commit_or_rollback_without_begin_is_a_state_error() {
    let db = Session::in_memory();
    assert_eq!(kind_of(db.commit()), ErrorKind::State);
    assert_eq!(kind_of(db.rollback()), ErrorKind::State);
    db.begin(false).unwrap();
    db.commit().unwrap();
    assert_eq!(kind_of(db.commit()), ErrorKind::State);
}

#[test]
fn transaction_read_only_refuses_writes_with_access_denied() {
    let db = Session::in_memory();
    db.kv_put("k", int(0)).unwrap();
    db.vector_create_collection("v", 2, "cosine").unwrap();
    db.begin(true).unwrap();
    assert!(db.txn_info().unwrap().unwrap().read_only);
    assert_eq!(value(db.kv_get("k").unwrap()), Some(int(0)), "reads are fine");
    assert_eq!(kind_of(db.kv_put("k", int(1))), ErrorKind::AccessDenied);
    assert_eq!(kind_of(db.state_set("c", int(1))), ErrorKind::AccessDenied);
    assert_eq!(kind_of(db.event_append("e", int(1))), ErrorKind::AccessDenied);
    assert_eq!(kind_of(db.json_set("d", "$", int(1))), ErrorKind::AccessDenied);
    assert_eq!(kind_of(db.vector_upsert("v", "x", vec![1.0, 0.0], None)), ErrorKind::AccessDenied);
    assert_eq!(kind_of(db.kv_delete("k")), ErrorKind::AccessDenied);
    db.commit().unwrap();
    assert_eq!(value(db.kv_get("k").unwrap()), Some(int(0)));
}

#[test]
fn transaction_branch_operations_inside_are_state_errors() {
    let db = Session::in_memory();
    db.create_branch("b").unwrap();
    db.begin(false).unwrap();
    assert_eq!(kind_of(db.set_branch("b")), ErrorKind::State);
    assert_eq!(kind_of(db.create_branch("c")), ErrorKind::State);
    assert_eq!(kind_of(db.fork_branch("c")), ErrorKind::State);
    assert_eq!(kind_of(db.delete_branch("b")), ErrorKind::State);
    assert_eq!(kind_of(db.merge_branches("b", "strict")), ErrorKind::State);
    assert_eq!(db.current_branch().unwrap(), "default");
    db.rollback().unwrap();
    assert_eq!(db.list_branches().unwrap(), vec!["b", "default"]);
}

#[test]
fn transaction_info_reports_the_open_transaction() {
    let db = Session::in_memory();
    assert!(db.txn_info().unwrap().is_none());
    db.begin(false).unwrap();
    let first = db.txn_info().unwrap().unwrap();
    assert!(!first.read_only);
    assert!(first.started_at > 0);
    db.rollback().unwrap();
    db.begin(false).unwrap();
    assert_ne!(db.txn_info().unwrap().unwrap().id, first.id, "each transaction has its own id");
}

#[test]
fn transaction_of_each_handle_is_separate() {
    let db = Session::in_memory();
    let other = second_handle(&db);
    db.begin(false).unwrap();
    assert!(!other.txn_is_active().unwrap());
    other.begin(false).unwrap();
    db.kv_put("a", int(1)).unwrap();
    other.kv_put("b", int(2)).unwrap();
    db.commit().unwrap();
    other.commit().unwrap();
    assert_eq!(keys(&db), vec!["a", "b"]);
}

#[test]
fn transaction_event_sequences_stay_dense_after_commit() {
    let db = Session::in_memory();
    db.event_append("e", int(0)).unwrap();
    db.begin(false).unwrap();
    assert_eq!(db.event_append("e", int(1)).unwrap(), 1);
    assert_eq!(db.event_append("e", int(2)).unwrap(), 2);
    db.commit().unwrap();
    let sequences: Vec<u64> = db.event_list("e").unwrap().iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, vec![0, 1, 2]);
}

// ----- handle lifetime ---------------------------------------------------------------

#[test]
fn session_closed_handle_raises_state_error_on_every_call() {
    let db = Session::in_memory();
    let other = second_handle(&db);
    db.kv_put("k", int(1)).unwrap();
    db.close().unwrap();
    assert!(db.is_closed());
    assert_eq!(kind_of(db.kv_get("k")), ErrorKind::State);
    assert_eq!(kind_of(db.kv_put("k", int(2))), ErrorKind::State);
    assert_eq!(kind_of(db.kv_list(None)), ErrorKind::State);
    assert_eq!(kind_of(db.state_get("c")), ErrorKind::State);
    assert_eq!(kind_of(db.event_len()), ErrorKind::State);
    assert_eq!(kind_of(db.json_get("d", "$")), ErrorKind::State);
    assert_eq!(kind_of(db.vector_list_collections()), ErrorKind::State);
    assert_eq!(kind_of(db.list_branches()), ErrorKind::State);
    assert_eq!(kind_of(db.create_branch("b")), ErrorKind::State);
    assert_eq!(kind_of(db.set_space("s")), ErrorKind::State);
    assert_eq!(kind_of(db.begin(false)), ErrorKind::State);
    assert_eq!(kind_of(db.ping()), ErrorKind::State);
    assert_eq!(kind_of(db.info()), ErrorKind::State);
    db.close().unwrap();
    // The other handle is unaffected.
    assert_eq!(value(other.kv_get("k").unwrap()), Some(int(1)));
}

#[test]
fn session_close_rolls_back_an_open_transaction() {
    let db = Session::in_memory();
    let other = second_handle(&db);
    db.begin(false).unwrap();
    db.kv_put("k", int(1)).unwrap();
    db.close().unwrap();
    assert!(other.kv_get("k").unwrap().is_none());
    assert_eq!(last_version(&other), 0);
}

#[test]
fn session_handles_have_their_own_branch_and_space_but_share_data() {
    let db = Session::in_memory();
    let other = second_handle(&db);
    db.create_branch("b").unwrap();
    db.set_branch("b").unwrap();
    db.set_space("s").unwrap();
    assert_eq!(other.current_branch().unwrap(), "default");
    assert_eq!(other.current_space().unwrap(), "default");
    db.kv_put("k", int(1)).unwrap();
    other.set_branch("b").unwrap();
    other.set_space("s").unwrap();
    assert_eq!(value(other.kv_get("k").unwrap()), Some(int(1)), "a write is visible to another handle at once");
}

#[test]
fn session_ping_and_info_describe_the_database() {
    let db = Session::in_memory();
    assert!(!db.ping().unwrap().is_empty());
    db.kv_put("a", int(1)).unwrap();
    db.state_set("b", int(1)).unwrap();
    db.create_branch("x").unwrap();
    let info = db.info().unwrap();
    assert_eq!(info.branch_count, 2);
    assert_eq!(info.total_keys, 2);
    assert_eq!(info.last_version, 3);
    assert!(!info.read_only);
}

