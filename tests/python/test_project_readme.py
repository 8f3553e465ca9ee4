"""The code in this repository's README.md runs as written (twice: a second run finds
the first run's data on disk)."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_the_readme_has_python_examples():
    assert python_blocks(), "README.md lost its Python examples"


def test_every_readme_example_runs_twice_on_the_same_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        for block in python_blocks():
            exec(compile(block, str(README), "exec"), {"__name__": "readme"})
    assert (tmp_path / "agent-memory" / "strata.toml").exists()
