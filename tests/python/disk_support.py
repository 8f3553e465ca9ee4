"""Helpers shared by the on-disk tests (test_open, test_lock, test_handles,
test_threads_on_disk, test_crash): a picture of a directory's files, and child
Python processes that run StrataDB calls on request.

Nothing here waits on the clock: a child is driven line by line over its pipes, and
the only timeout is a guard that kills a child that hangs, so a deadlock fails the
test instead of hanging the suite.
"""

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

# A guard against a hung child; never a speed check.
HANG_GUARD_SECONDS = 120


def directory_picture(root):
    """Every file under root, by relative path, with its bytes (directories as None)."""
    root = Path(root)
    picture = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        picture[relative] = None if path.is_dir() else path.read_bytes()
    return picture


# The child's side of ChildPython: it reads one JSON-encoded piece of Python source
# per line, runs it with `exec` in one namespace that persists between requests
# (`db = Strata.open(path)` stays open), and answers one JSON line: the value of the
# variable `result` (its repr, and the value itself when JSON can carry it), or the
# exception that was raised (class name, message, and whether it is an OSError /
# PermissionError).
_CHILD_SERVER = r"""
import json, os, sys
import stratadb
from stratadb import *

namespace = {name: getattr(stratadb, name) for name in stratadb.__all__}
namespace.update(os=os, sys=sys, stratadb=stratadb)
print(json.dumps({"pid": os.getpid()}), flush=True)
for line in sys.stdin:
    source = json.loads(line)
    namespace["result"] = None
    try:
        exec(compile(source, "<request>", "exec"), namespace)
    except BaseException as error:
        answer = {
            "error": type(error).__name__,
            "message": str(error),
            "is_oserror": isinstance(error, OSError),
            "is_permission_error": isinstance(error, PermissionError),
            "is_strata_error": isinstance(error, stratadb.StrataError),
        }
    else:
        result = namespace["result"]
        try:
            json.dumps(result)
            answer = {"result": result}
        except (TypeError, ValueError):
            answer = {"repr": repr(result)}
    print(json.dumps(answer), flush=True)
"""


class ChildError(AssertionError):
    """The child process died or answered something unreadable."""


class ChildPython:
    """A child Python process that runs StrataDB calls one request at a time.

    `run(source)` sends Python source, waits for its answer and returns the dict the
    child sent: {"result": ...} or {"error": class name, "message": ...}.
    """

    def __init__(self, cwd=None):
        self.process = subprocess.Popen(
            [sys.executable, "-c", _CHILD_SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
        )
        self._guard = threading.Timer(HANG_GUARD_SECONDS, self.kill)
        self._guard.daemon = True
        self._guard.start()
        hello = self._read_answer()
        self.pid = hello["pid"]
        assert self.pid == self.process.pid

    def _read_answer(self):
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            raise ChildError(
                f"the child exited with {self.process.returncode}: {self.process.stderr.read()}"
            )
        return json.loads(line)

    def run(self, source):
        self.process.stdin.write(json.dumps(source) + "\n")
        self.process.stdin.flush()
        return self._read_answer()

    def value(self, source):
        """Run source and return `result`, failing the test if it raised."""
        answer = self.run(source)
        assert "error" not in answer, f"the child raised {answer['error']}: {answer['message']}"
        return answer.get("result", answer.get("repr"))

    def kill(self):
        """SIGKILL the child (no cleanup of any kind runs in it) and reap it."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def finish(self):
        """Let the child exit normally (end of input) and reap it."""
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=HANG_GUARD_SECONDS)
        self._guard.cancel()
        self.process.stdout.close()
        self.process.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        try:
            self.finish()
        finally:
            self.kill()
            self._guard.cancel()
        return False
