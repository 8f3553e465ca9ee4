"""One writer process per directory: the exclusive lock, what a second process sees,
when the lock is released, and read-only opens that work beside a writer and never
write anything.

The second process is a real child Python (disk_support.ChildPython), driven one
request at a time over its pipes.
"""

import os

import pytest

from disk_support import ChildPython, directory_picture
from stratadb import AccessDeniedError, IoError, NotFoundError, StrataError, Strata


def open_in_child(child, directory, **options):
    arguments = "".join(f", {name}={value!r}" for name, value in options.items())
    return child.run(f"db = Strata.open({str(directory)!r}{arguments})")


def open_ok_in_child(child, directory, **options):
    answer = open_in_child(child, directory, **options)
    assert "error" not in answer, answer


def assert_locked_out(answer, holder_pid):
    assert answer.get("error") == "IoError", answer
    assert answer["is_oserror"] and answer["is_strata_error"], answer
    message = answer["message"]
    assert "lock" in message.lower(), message
    assert str(holder_pid) in message, f"the message does not name the holder's pid {holder_pid}: {message}"


# --- a second writer is refused -----------------------------------------------------


def test_a_second_process_opening_for_writing_gets_io_error_naming_the_lock_and_our_pid(tmp_path):
    directory = tmp_path / "db"
    with Strata.open(directory) as db:
        db.kv_put("k", "parent")
        with ChildPython() as child:
            assert_locked_out(open_in_child(child, directory), os.getpid())
            # Asking for another durability, or through a relative path, changes nothing.
            assert_locked_out(open_in_child(child, directory, durability="none"), os.getpid())
            child.value(f"os.chdir({str(tmp_path)!r})")
            assert_locked_out(child.run("db = Strata.open('db')"), os.getpid())
        # The refused opens did not disturb the holder.
        assert db.kv_put("k", "still writing") == 2


def test_we_are_refused_with_io_error_naming_the_child_that_holds_the_lock(tmp_path):
    directory = tmp_path / "db"
    with ChildPython() as child:
        open_ok_in_child(child, directory)
        child.value("result = db.kv_put('k', 'child')")
        with pytest.raises(IoError) as caught:
            Strata.open(directory)
        message = str(caught.value)
        assert isinstance(caught.value, OSError)
        assert "lock" in message.lower()
        assert str(child.pid) in message, message
        assert (directory / "LOCK").read_text().strip() == str(child.pid)


def test_after_the_holder_closes_the_other_process_can_open(tmp_path):
    directory = tmp_path / "db"
    db = Strata.open(directory)
    db.kv_put("from", "parent")
    with ChildPython() as child:
        assert_locked_out(open_in_child(child, directory), os.getpid())
        db.close()
        open_ok_in_child(child, directory)
        assert child.value("result = db.kv_get('from')") == "parent"
        assert child.value("result = db.kv_put('from', 'child')") == 2
        # Now the child holds it (it is still running): we are refused ...
        with pytest.raises(IoError) as caught:
            Strata.open(directory)
        assert str(child.pid) in str(caught.value)
        # ... until it closes, without exiting.
        child.value("db.close()")
        with Strata.open(directory) as db:
            assert db.kv_get("from") == "child"
            assert db.kv_put("from", "parent again") == 3


def test_leaving_a_with_block_releases_the_lock(tmp_path):
    directory = tmp_path / "db"
    with Strata.open(directory) as db:
        db.kv_put("k", 1)
    with ChildPython() as child:
        open_ok_in_child(child, directory)
        assert child.value("result = db.kv_get('k')") == 1


def test_the_lock_is_held_until_the_last_handle_in_the_process_closes(tmp_path):
    directory = tmp_path / "db"
    first = Strata.open(directory)
    second = Strata.open(directory)
    with ChildPython() as child:
        first.close()
        assert_locked_out(open_in_child(child, directory), os.getpid())
        second.kv_put("k", "written after the first close")
        second.close()
        open_ok_in_child(child, directory)
        assert child.value("result = db.kv_get('k')") == "written after the first close"


def test_a_killed_holder_releases_the_lock(tmp_path):
    directory = tmp_path / "db"
    with ChildPython() as child:
        open_ok_in_child(child, directory)
        version = child.value("result = db.kv_put('k', 'before the kill')")
        assert (directory / "LOCK").read_text().strip() == str(child.pid)
        child.kill()
    with Strata.open(directory) as db:
        assert (directory / "LOCK").read_text().strip() == str(os.getpid())
        assert db.kv_get("k") == "before the kill"
        assert db.kv_put("k", "after") == version + 1


def test_two_processes_take_turns_and_each_sees_the_others_writes(tmp_path):
    directory = tmp_path / "db"
    with ChildPython() as child:
        versions = []
        for turn in range(4):
            with Strata.open(directory) as db:
                versions.append(db.kv_put("turn", f"parent {turn}"))
            open_ok_in_child(child, directory)
            versions.append(child.value(f"result = db.kv_put('turn', 'child {turn}')"))
            child.value("db.close()")
        with Strata.open(directory) as db:
            history = db.kv_history("turn")
    assert versions == list(range(1, 9))
    assert [entry["value"] for entry in history][:2] == ["child 3", "parent 3"]
    assert len(history) == 8


# --- read-only opens ------------------------------------------------------------------

READ_ONLY_WRITES = [
    "db.kv_put('k', 1)",
    "db.kv_delete('k')",
    "db.state_set('c', 1)",
    "db.state_init('new', 1)",
    "db.state_cas('c', 2, 1)",
    "db.event_append('t', 1)",
    "db.json_set('d', '$.a', 1)",
    "db.vector_create_collection('w', 2)",
    "db.vector_upsert('v', 'x', [1.0, 0.0])",
    "db.create_branch('b')",
    "db.fork_branch('f')",
    "db.compact()",
]


def test_read_only_in_a_second_process_works_while_we_hold_the_write_lock(tmp_path):
    directory = tmp_path / "db"
    with Strata.open(directory) as db:
        db.kv_put("k", {"by": "parent"})
        db.state_set("c", 1)
        db.event_append("t", "e0")
        db.vector_create_collection("v", 2)
        db.vector_upsert("v", "a", [1.0, 0.0])
        with ChildPython() as child:
            open_ok_in_child(child, directory, read_only=True)
            assert child.value("result = db.kv_get('k')") == {"by": "parent"}
            assert child.value("result = db.event_get(0)['value']") == "e0"
            assert child.value("result = db.vector_get('v', 'a')['embedding'].tolist()") == [1.0, 0.0]
            assert child.value("result = db.info()['read_only']") is True
            for write in READ_ONLY_WRITES:
                answer = child.run(write)
                assert answer.get("error") == "AccessDeniedError", (write, answer)
                assert answer["is_permission_error"], (write, answer)
            child.value("db.close()")
        # The writer goes on as before.
        assert db.kv_put("k", "after the reader") == 6
    with Strata.open(directory) as db:
        assert db.kv_get("k") == "after the reader"
        assert db.event_len() == 1


def test_a_read_only_open_in_another_process_writes_nothing_while_we_hold_the_lock(tmp_path):
    directory = tmp_path / "db"
    with Strata.open(directory) as db:
        db.kv_put("k", 1)
        db.flush()
        before = directory_picture(directory)
        with ChildPython() as child:
            open_ok_in_child(child, directory, read_only=True)
            assert child.value("result = db.kv_get('k')") == 1
            for write in READ_ONLY_WRITES:
                child.run(write)
            child.value("db.flush(); db.close()")
        assert directory_picture(directory) == before


def test_a_read_only_open_of_a_closed_directory_writes_nothing(tmp_path):
    directory = tmp_path / "db"
    with Strata.open(directory) as db:
        db.kv_put("k", 1)
        db.compact()
        db.kv_put("k", 2)
        db.event_append("t", 3)
    (directory / "LOCK").unlink()
    before = directory_picture(directory)
    with ChildPython() as child:
        open_ok_in_child(child, directory, read_only=True)
        assert child.value("result = db.kv_get('k')") == 2
        assert child.value("result = [e['value'] for e in db.kv_history('k')]") == [2, 1]
        for write in READ_ONLY_WRITES:
            child.run(write)
        child.value("db.flush(); db.close()")
    assert directory_picture(directory) == before
    assert not (directory / "LOCK").exists()


def test_a_read_only_open_without_strata_toml_does_not_create_one(tmp_path):
    directory = tmp_path / "db"
    with Strata.open(directory) as db:
        db.kv_put("k", 1)
    (directory / "strata.toml").unlink()
    before = directory_picture(directory)
    with Strata.open(directory, read_only=True) as db:
        assert db.kv_get("k") == 1
        assert db.info()["durability"] == "standard"
    assert directory_picture(directory) == before


def test_read_only_does_not_block_a_writer_from_opening(tmp_path):
    directory = tmp_path / "db"
    with Strata.open(directory) as db:
        db.kv_put("k", 1)
    with ChildPython() as child:
        open_ok_in_child(child, directory, read_only=True)
        with Strata.open(directory) as db:
            assert db.kv_put("k", 2) == 2
        assert child.value("result = db.kv_get('k')") in (1, 2)
        child.value("db.close()")


def test_read_only_of_a_missing_directory_raises_and_creates_nothing(tmp_path):
    directory = tmp_path / "missing" / "db"
    with pytest.raises(StrataError) as caught:
        Strata.open(directory, read_only=True)
    assert isinstance(caught.value, NotFoundError)
    assert "db" in str(caught.value)
    assert not (tmp_path / "missing").exists()


def test_read_only_opens_while_another_process_keeps_writing_see_a_prefix(tmp_path):
    directory = tmp_path / "db"
    with ChildPython() as child:
        open_ok_in_child(child, directory)
        written = 0
        last_version = 0
        for _ in range(8):
            for _ in range(25):
                version = child.value(f"result = db.kv_put('k{written:04d}', {written})")
                assert version == last_version + 1
                last_version = version
                written += 1
            child.value("db.begin(); [db.kv_put(f'txn{n}', len(db.kv_list('k'))) for n in range(3)]")
            last_version = child.value("result = db.commit()")
            with Strata.open(directory, read_only=True) as reader:
                keys = reader.kv_list("k")
                assert keys == [f"k{n:04d}" for n in range(written)]
                assert [reader.kv_get(key) for key in keys] == list(range(written))
                assert {reader.kv_get(f"txn{n}") for n in range(3)} == {written}
                with pytest.raises(AccessDeniedError):
                    reader.kv_put("k", 1)


def test_a_handle_dropped_without_close_releases_the_lock_and_keeps_its_writes(tmp_path):
    directory = tmp_path / "db"
    db = Strata.open(directory)
    db.kv_put("k", "dropped, never closed")
    with ChildPython() as child:
        assert_locked_out(open_in_child(child, directory), os.getpid())
        del db  # the last reference: CPython frees the handle right here
        open_ok_in_child(child, directory)
        assert child.value("result = db.kv_get('k')") == "dropped, never closed"


# Every call that writes, on an existing database holding "k", cell "c", document "d",
# collection "v" (dimension 2, key "x"), branch "b" and space "s" (with a key in it).
WRITE_CALLS = [
    ("kv_put", ("k", 2)),
    ("kv_delete", ("k",)),
    ("kv_delete", ("missing",)),
    ("state_set", ("c", 2)),
    ("state_init", ("new-cell", 1)),
    ("state_cas", ("c", 2, None)),
    ("state_delete", ("c",)),
    ("event_append", ("t", 1)),
    ("json_set", ("d", "$.a", 2)),
    ("json_delete", ("d", "$")),
    ("vector_create_collection", ("w", 2)),
    ("vector_delete_collection", ("v",)),
    ("vector_upsert", ("v", "y", [0.0, 1.0])),
    ("vector_batch_upsert", ("v", [{"key": "y", "vector": [0.0, 1.0]}])),
    ("vector_delete", ("v", "x")),
    ("create_branch", ("new-branch",)),
    ("fork_branch", ("new-fork",)),
    ("delete_branch", ("b",)),
    ("merge_branches", ("b",)),
    ("space_create", ("new-space",)),
    ("delete_space", ("s",)),
    ("delete_space_force", ("s",)),
    ("compact", ()),
]


def make_database(directory):
    with Strata.open(directory) as db:
        db.kv_put("k", 1)
        db.state_set("c", 1)
        db.json_set("d", "$", {"a": 1})
        db.vector_create_collection("v", 2)
        db.vector_upsert("v", "x", [1.0, 0.0])
        db.fork_branch("b")
        db.set_branch("b")
        db.kv_put("on-b", 1)
        db.set_branch("default")
        db.set_space("s")
        db.kv_put("in-s", 1)


@pytest.mark.parametrize("kind", ["read-only-database", "read-only-handle-beside-a-writer"])
@pytest.mark.parametrize(("method", "args"), WRITE_CALLS, ids=[f"{name}{args}" for name, args in WRITE_CALLS])
def test_every_write_on_a_read_only_open_raises_access_denied_and_changes_no_file(tmp_path, kind, method, args):
    directory = tmp_path / "db"
    make_database(directory)
    writer = Strata.open(directory) if kind == "read-only-handle-beside-a-writer" else None
    try:
        before = directory_picture(directory)
        with Strata.open(directory, read_only=True) as reader:
            last_version = reader.info()["last_version"]
            with pytest.raises(AccessDeniedError):
                getattr(reader, method)(*args)
            assert reader.info()["last_version"] == last_version
        assert directory_picture(directory) == before, f"{method} on a read-only open changed files"
    finally:
        if writer is not None:
            writer.close()
